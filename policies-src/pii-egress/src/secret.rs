//! Credentials: AWS access key ids, PEM private-key headers, GitHub
//! tokens, Slack tokens and JWTs.

use crate::bytes::{B64URL, DIGIT, UPPER, WORD, at, is, is_word};
use crate::kind::Kind;
use crate::scan::State;

/// Secrets that start with an uppercase letter at the word start `p`:
/// `AKIA…`/`ASIA…` and the `BEGIN` of a PEM header.
#[inline(never)]
pub fn at_upper(b: &[u8], p: usize) -> bool {
    let rest = &b[p..];
    if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        return (4..20).all(|k| is(at(b, p + k), UPPER | DIGIT)) && !is_word(at(b, p + 20));
    }
    if rest.starts_with(b"BEGIN ") && p >= 5 && &b[p - 5..p] == b"-----" {
        // The label: uppercase words, at most 48 bytes.
        let s = p + 6;
        let mut e = s;
        while e - s <= 48 && (is(at(b, e), UPPER | DIGIT) || at(b, e) == b' ') {
            e += 1;
        }
        if e - s > 48 {
            return false;
        }
        return b[s..e].ends_with(b"PRIVATE KEY") && b[e..].starts_with(b"-----");
    }
    false
}

/// Secrets that start with a lowercase letter at the word start `p`:
/// GitHub tokens, Slack tokens, JWTs. Records findings in `st`.
#[inline(never)]
pub fn at_lower(b: &[u8], p: usize, st: &mut State) {
    let found = match b[p] {
        b'g' => github(b, p),
        b'x' => slack(b, p, st),
        b'e' => jwt(b, p, st),
        _ => false,
    };
    if found {
        st.found.insert(Kind::Secret);
    }
}

/// How many bytes of class `bits` start at `i`, counting at most `cap`.
fn run(b: &[u8], i: usize, bits: u8, cap: usize) -> usize {
    let mut n = 0;
    while n < cap && is(at(b, i + n), bits) {
        n += 1;
    }
    n
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36 or more letters and digits, or
/// `github_pat_` + 22 or more letters, digits and `_`.
fn github(b: &[u8], p: usize) -> bool {
    let rest = &b[p..];
    if rest.len() > 4 && rest.starts_with(b"gh") && b"pousr".contains(&rest[2]) && rest[3] == b'_' {
        let mut n = 0;
        while n < 256 && alnum(at(b, p + 4 + n)) {
            n += 1;
        }
        return (36..256).contains(&n) && !is_word(at(b, p + 4 + n));
    }
    if rest.starts_with(b"github_pat_") {
        let n = run(b, p + 11, WORD, 256);
        return (22..256).contains(&n);
    }
    false
}

/// `xoxb-`/`xoxp-`/`xoxa-`/`xoxr-`/`xoxs-`/`xapp-` + 10 or more letters,
/// digits and dashes, with at least one digit.
fn slack(b: &[u8], p: usize, st: &mut State) -> bool {
    if p < st.slack_mark {
        return false;
    }
    let rest = &b[p..];
    let prefixed = rest.len() > 5
        && rest[4] == b'-'
        && ((rest.starts_with(b"xox") && b"bpars".contains(&rest[3])) || rest.starts_with(b"xapp"));
    if !prefixed {
        return false;
    }
    let s = p + 5;
    let mut e = s;
    let mut digit = false;
    loop {
        let c = at(b, e);
        if alnum(c) || c == b'-' {
            digit |= c.is_ascii_digit();
            e += 1;
        } else {
            break;
        }
    }
    // A later start inside this run would judge a suffix of it, and the
    // same end: it cannot do better.
    st.slack_mark = e;
    digit && e - s >= 10 && !is_word(at(b, e))
}

/// Three base64url segments separated by dots, the first two starting
/// `eyJ` (a JSON object).
fn jwt(b: &[u8], p: usize, st: &mut State) -> bool {
    if p < st.jwt_mark || !b[p..].starts_with(b"eyJ") {
        return false;
    }
    let e1 = p + run(b, p, B64URL, usize::MAX);
    st.jwt_mark = e1;
    if e1 - p < 10 || at(b, e1) != b'.' || !b[e1 + 1..].starts_with(b"eyJ") {
        return false;
    }
    let e2 = e1 + 1 + run(b, e1 + 1, B64URL, usize::MAX);
    e2 - e1 > 4 && at(b, e2) == b'.'
}
