//! Email addresses, found from their `@`: a local part of at most 64
//! bytes before it, a domain of at least two labels after it, ending in
//! an alphabetic top-level domain. Addresses at allowed domains (or their
//! subdomains) do not count; neither do `name@2x.png`-style file names.

use crate::bytes::{LOCAL, at, is};

const ALNUM: u8 = crate::bytes::DIGIT | crate::bytes::UPPER | crate::bytes::LOWER;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// Whether a reportable address has its `@` at `i`. `allow` holds
/// lowercase domains.
#[inline(never)]
pub fn at_sign(b: &[u8], i: usize, allow: &[String]) -> bool {
    if i == 0 || !is(b[i - 1], LOCAL) {
        return false;
    }
    // Domain first, forwards, in one pass: it stops at the next `@` at
    // the latest, and most `@`s fail here.
    let start = i + 1;
    let mut e = start;
    let mut labels = 0;
    let mut label_start = start;
    let mut alpha = true;
    let mut tld_ok = false;
    loop {
        let c = at(b, e);
        if c.is_ascii_alphanumeric() || c == b'-' {
            alpha &= c.is_ascii_alphabetic();
            e += 1;
            if e - start > MAX_DOMAIN {
                return false;
            }
            continue;
        }
        // The end of a label.
        let label = &b[label_start..e];
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
        {
            // An empty label ends the domain only as a trailing dot.
            if label.is_empty() && labels >= 2 {
                e = label_start - 1;
                break;
            }
            return false;
        }
        labels += 1;
        tld_ok = alpha && (2..=24).contains(&label.len());
        if c == b'.' && is(at(b, e + 1), ALNUM) {
            e += 1;
            label_start = e;
            alpha = true;
            continue;
        }
        break;
    }
    if labels < 2 || !tld_ok {
        return false;
    }
    let domain = &b[start..e];
    let tld = &b[label_start..e];
    if FILE_EXTENSIONS.iter().any(|x| tld.eq_ignore_ascii_case(x)) {
        return false;
    }
    // Local part, backwards. `@` is not a local byte, so this never reads
    // past the previous `@`.
    let floor = i.saturating_sub(MAX_LOCAL + 1);
    let mut s = i;
    while s > floor && is(b[s - 1], LOCAL) {
        s -= 1;
    }
    if s == floor && s > 0 && is(b[s - 1], LOCAL) {
        return false;
    }
    while s < i && b[s] == b'.' {
        s += 1;
    }
    let local = &b[s..i];
    if local.is_empty() || local.len() > MAX_LOCAL || local.ends_with(b".") {
        return false;
    }
    if local.windows(2).any(|w| w == b"..") {
        return false;
    }
    !allow.iter().any(|d| {
        let d = d.as_bytes();
        domain.len() >= d.len()
            && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d)
            && (domain.len() == d.len() || domain[domain.len() - d.len() - 1] == b'.')
    })
}

/// Image names such as `logo@2x.png` are not addresses.
const FILE_EXTENSIONS: [&[u8]; 8] = [
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"bmp", b"ico",
];
