//! IPv4 addresses: four dot-separated parts 0-255 without leading zeros,
//! not part of a longer dotted digit sequence and not a version number
//! (`version 1.2.3.4`, `1.2.3.4-beta`).

use crate::bytes::{LOWER, UPPER, at, before, digit_run, digits_value, is, is_digit, is_word};

/// An IPv4 address at the digit word start `p` (digit run `run`).
#[inline(never)]
pub fn at_digits(b: &[u8], p: usize, run: usize) -> bool {
    if run > 3 || before(b, p, 1) == b'.' {
        return false;
    }
    let mut q = p;
    for part in 0..4 {
        let len = digit_run(b, q, 4);
        if len == 0 || len > 3 || (len > 1 && b[q] == b'0') || digits_value(b, q, len) > 255 {
            return false;
        }
        q += len;
        if part < 3 {
            if at(b, q) != b'.' {
                return false;
            }
            q += 1;
        }
    }
    let next = at(b, q);
    if is_word(next)
        || (next == b'.' && is_digit(at(b, q + 1)))
        || (next == b'-' && is(at(b, q + 1), UPPER | LOWER))
    {
        return false;
    }
    !after_version_word(b, p)
}

/// Whether the word before `p` (across a space, `:` or `=`) names a version.
fn after_version_word(b: &[u8], p: usize) -> bool {
    let mut e = p;
    let mut gap = 0;
    while gap < 3 && e > 0 && matches!(b[e - 1], b' ' | b':' | b'=') {
        e -= 1;
        gap += 1;
    }
    let mut s = e;
    while e - s < 9 && s > 0 && b[s - 1].is_ascii_alphabetic() {
        s -= 1;
    }
    if s > 0 && b[s - 1].is_ascii_alphabetic() {
        return false;
    }
    let word = &b[s..e];
    [
        &b"version"[..],
        b"versions",
        b"ver",
        b"v",
        b"release",
        b"build",
        b"rev",
        b"revision",
        b"firmware",
        b"fw",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w))
}
