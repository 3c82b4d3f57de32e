//! Phone numbers: the international `+` form (10-15 digits with single
//! separators) and North American numbers with separators, checked
//! against NANP rules (area code and exchange start with 2-9). A bare
//! unseparated digit run is never a phone number.

use crate::bytes::{at, before, digit_run, is_digit, is_word};

/// An international number at the `+` at `i`.
#[inline(never)]
pub fn at_plus(b: &[u8], i: usize) -> bool {
    if before(b, i, 1).is_ascii_alphanumeric() {
        return false;
    }
    let mut q = i + 1;
    let first = at(b, q);
    if !is_digit(first) || first == b'0' {
        return false;
    }
    // The first five digits (enough for the NANP check) and the count.
    let mut d = [0u8; 5];
    let mut n = 0;
    loop {
        while is_digit(at(b, q)) {
            if n == 15 {
                return false;
            }
            if n < 5 {
                d[n] = b[q] - b'0';
            }
            n += 1;
            q += 1;
        }
        let end = q;
        if is_word(at(b, end)) {
            return false;
        }
        // At most one plain separator and one parenthesis between runs.
        let (mut plain, mut paren) = (false, false);
        let mut r = q;
        loop {
            match at(b, r) {
                b' ' | b'-' | b'.' if !plain => plain = true,
                b'(' | b')' if !paren => paren = true,
                _ => break,
            }
            r += 1;
        }
        let more = r > q && is_digit(at(b, r));
        // The number may end here if what follows is not glued to it by a
        // dash or dot: `+1 415 555 2671 123-45-6789`.
        if (!more || at(b, q) == b' ') && count_ok(d, n) {
            return true;
        }
        if !more {
            return false;
        }
        q = r;
    }
}

/// 10-15 digits; country code 1 (the NANP) takes exactly ten more, with
/// area code and exchange starting 2-9.
fn count_ok(d: [u8; 5], n: usize) -> bool {
    (10..=15).contains(&n) && (d[0] != 1 || (n == 11 && d[1] >= 2 && d[4] >= 2))
}

/// A North American number at the `(` at `i`.
#[inline(never)]
pub fn at_paren(b: &[u8], i: usize) -> bool {
    !is_word(before(b, i, 1)) && nanp(b, i, i)
}

/// A North American number at the digit word start `p` (digit run `run`).
#[inline(never)]
pub fn at_digits(b: &[u8], p: usize, run: usize) -> bool {
    if run == 3 {
        return nanp(b, p, p);
    }
    // A leading `1-`, `1 ` or `1.`.
    run == 1 && b[p] == b'1' && matches!(at(b, p + 1), b'-' | b' ' | b'.') && nanp(b, p, p + 2)
}

/// A NANP number whose candidate starts at `start` and whose area code
/// starts at `q`: `(AAA) EEE-LLLL` (space, dash, dot or nothing after the
/// parenthesis) or `AAA-EEE-LLLL` with the same separator twice.
fn nanp(b: &[u8], start: usize, mut q: usize) -> bool {
    let area;
    let sep;
    if at(b, q) == b'(' {
        if digit_run(b, q + 1, 4) != 3 || at(b, q + 4) != b')' {
            return false;
        }
        area = b[q + 1];
        q += 5;
        if matches!(at(b, q), b' ' | b'-') {
            q += 1;
        }
        if digit_run(b, q, 4) != 3 || !matches!(at(b, q + 3), b'-' | b' ' | b'.') {
            return false;
        }
        sep = at(b, q + 3);
    } else {
        if digit_run(b, q, 4) != 3 {
            return false;
        }
        area = b[q];
        sep = at(b, q + 3);
        if !matches!(sep, b'-' | b' ' | b'.') {
            return false;
        }
        q += 4;
        if digit_run(b, q, 4) != 3 || at(b, q + 3) != sep {
            return false;
        }
    }
    let exchange = b[q];
    q += 4;
    if digit_run(b, q, 5) != 4 {
        return false;
    }
    let end = q + 4;
    if area < b'2' || exchange < b'2' {
        return false;
    }
    // Not glued to more digits: `555-234-5678-90`, `12-555-234-5678`.
    let next = at(b, end);
    if is_word(next)
        || (matches!(next, b'-' | b'.') || (next == b' ' && sep == b' '))
            && is_digit(at(b, end + 1))
    {
        return false;
    }
    let prev = before(b, start, 1);
    !((matches!(prev, b'-' | b'.') || (prev == b' ' && sep == b' '))
        && is_digit(before(b, start, 2)))
}

#[cfg(test)]
mod tests {
    fn phone(s: &str) -> bool {
        crate::scan::Scanner::new([crate::kind::Kind::Phone].into_iter().collect(), Vec::new())
            .scan(s)
            .contains(crate::kind::Kind::Phone)
    }

    #[test]
    fn formats() {
        for ok in [
            "(415) 555-2671",
            "(415)555-2671",
            "415-555-2671",
            "415.555.2671",
            "415 555 2671",
            "1-415-555-2671",
            "1 (415) 555-2671",
            "+1 415 555 2671",
            "+1 (415) 555-2671",
            "+44 20 7946 0958",
            "+44 (0)20 7946 0958",
            "+4915112345678",
        ] {
            assert!(phone(ok), "{ok}");
        }
        for bad in [
            "4155552671",
            "415-155-2671",
            "115-555-2671",
            "415-555-2671-99",
            "415-555.2671",
            "+1 115 555 2671",
            "+12345",
            "+1234567890123456",
            "x+44 20 7946 0958",
            "2024-01-15",
        ] {
            assert!(!phone(bad), "{bad}");
        }
    }
}
