//! Byte classes and bounds-safe byte access shared by the scanners.

pub const DIGIT: u8 = 1;
pub const UPPER: u8 = 2;
pub const LOWER: u8 = 4;
/// Part of a word: ASCII letters, digits and `_`. A candidate must not be
/// glued to a word byte on either side.
pub const WORD: u8 = 8;
/// May appear in an email's local part.
pub const LOCAL: u8 = 16;
/// A candidate byte: a digit, an uppercase letter, `@`, `+`, `(`, `_`, `-`.
pub const CANDIDATE: u8 = 32;
/// base64url: letters, digits, `-`, `_`.
pub const B64URL: u8 = 64;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_digit() {
            k |= DIGIT | WORD | LOCAL | B64URL;
        }
        if b.is_ascii_uppercase() {
            k |= UPPER | WORD | LOCAL | B64URL;
        }
        if b.is_ascii_lowercase() {
            k |= LOWER | WORD | LOCAL | B64URL;
        }
        if b == b'_' {
            k |= WORD | LOCAL | B64URL;
        }
        if b == b'-' {
            k |= LOCAL | B64URL;
        }
        if b == b'.' || b == b'+' || b == b'%' {
            k |= LOCAL;
        }
        if b.is_ascii_digit()
            || b.is_ascii_uppercase()
            || matches!(b, b'@' | b'+' | b'(' | b'_' | b'-')
        {
            k |= CANDIDATE;
        }
        t[c] = k;
        c += 1;
    }
    t
}

pub static CLASS: [u8; 256] = classes();

#[inline(always)]
pub fn class(c: u8) -> u8 {
    CLASS[c as usize]
}

#[inline(always)]
pub fn is(c: u8, bits: u8) -> bool {
    class(c) & bits != 0
}

#[inline(always)]
pub fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

#[inline(always)]
pub fn is_word(c: u8) -> bool {
    is(c, WORD)
}

/// The byte at `i`, or 0 (a non-word byte) past the end.
#[inline(always)]
pub fn at(b: &[u8], i: usize) -> u8 {
    match b.get(i) {
        Some(&c) => c,
        None => 0,
    }
}

/// The byte `k` places before `i`, or 0 before the start.
#[inline(always)]
pub fn before(b: &[u8], i: usize, k: usize) -> u8 {
    if i >= k { b[i - k] } else { 0 }
}

/// How many digits start at `i`, counting at most `cap`.
#[inline]
pub fn digit_run(b: &[u8], i: usize, cap: usize) -> usize {
    let Some(rest) = b.get(i..) else {
        return 0;
    };
    let rest = &rest[..rest.len().min(cap)];
    rest.iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len())
}

/// The value of the `len` ASCII digits at `i` (callers check they are digits).
#[inline]
pub fn digits_value(b: &[u8], i: usize, len: usize) -> u32 {
    let mut v = 0u32;
    for &c in &b[i..i + len] {
        v = v * 10 + u32::from(c - b'0');
    }
    v
}
