//! Payment card numbers: 13-19 digits, bare or grouped by single spaces or
//! dashes the way cards print them (4-4-4-4[-1..3], 4-6-5, 4-6-4), with a
//! real brand prefix, a length valid for that brand, and a passing Luhn
//! check.

use crate::bytes::{at, before, digit_run, is_digit, is_word};

/// Whether a card number starts at `p`, a word start whose digit run is
/// `run` long (capped at 20).
#[inline(never)]
pub fn at_digits(b: &[u8], p: usize, run: usize) -> bool {
    // `+4915112345678` is a phone number.
    if before(b, p, 1) == b'+' {
        return false;
    }
    if (13..=19).contains(&run) {
        // A bare run: glued letters make it something else.
        return !is_word(at(b, p + run)) && valid(&b[p..p + run]);
    }
    if run != 4 {
        return false;
    }
    let sep = at(b, p + 4);
    if (sep != b' ' && sep != b'-') || !is_digit(at(b, p + 5)) {
        return false;
    }
    // Not the middle of a longer grouped number.
    if before(b, p, 1) == sep && is_digit(before(b, p, 2)) {
        return false;
    }
    // Read the whole grouped number first: a card is never a prefix of a
    // longer grouped number (USPS tracking numbers group by four too).
    // Group lengths go into `lens`, four bits each (groups are at most
    // 16 digits long here, since the first has 4 and the total is at
    // most 19), so no array needs initialising.
    let mut lens: u64 = 4;
    let mut n = 4;
    let mut groups = 1;
    let mut q = p + 4;
    while at(b, q) == sep && is_digit(at(b, q + 1)) {
        let len = digit_run(b, q + 1, 20);
        if n + len > 19 {
            return false;
        }
        lens |= (len as u64) << (4 * groups);
        n += len;
        groups += 1;
        q += 1 + len;
    }
    if is_word(at(b, q)) {
        // Glued to letters: only the groups before the last can count.
        groups -= 1;
    }
    // Candidates: the first k groups, grouped the way cards print:
    // 4-4-4-4[-1..4] (every group but the last is 4 long), 4-6-5, 4-6-4.
    let len_of = |k: usize| ((lens >> (4 * k)) & 0xF) as usize;
    let mut total = 0;
    let mut end = p;
    let mut fours = true;
    for k in 0..groups {
        let last = len_of(k);
        total += last;
        end += last + usize::from(k > 0);
        let complete = if fours {
            (1..=4).contains(&last)
        } else {
            k == 2 && len_of(1) == 6 && (last == 4 || last == 5)
        };
        if complete && total >= 13 && valid_grouped(&b[p..end], total) {
            return true;
        }
        fours &= last == 4;
    }
    false
}

/// [`valid`] for digits grouped by separators: `total` digits in `text`.
fn valid_grouped(text: &[u8], total: usize) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0;
    for &c in text {
        if c.is_ascii_digit() && n < total {
            digits[n] = c;
            n += 1;
        }
    }
    n == total && valid(&digits[..n])
}

/// Whether `digits` (ASCII) is a card number: brand prefix and length, Luhn.
pub fn valid(digits: &[u8]) -> bool {
    brand_ok(digits) && luhn(digits)
}

fn brand_ok(d: &[u8]) -> bool {
    let n = d.len();
    if !(13..=19).contains(&n) {
        return false;
    }
    let v = |k: usize| -> u32 {
        d[..k]
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (p2, p3, p4) = (v(2), v(3), v(4));
    let long = (16..=19).contains(&n);
    let maestro = matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761..=6763);
    match d[0] {
        b'4' => n == 13 || n == 16 || n == 19,
        b'5' => ((51..=55).contains(&p2) && n == 16) || maestro,
        b'2' => (2221..=2720).contains(&p4) && n == 16,
        b'3' => {
            ((p2 == 34 || p2 == 37) && n == 15)
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38) && n >= 14)
                || ((3528..=3589).contains(&p4) && long)
        }
        b'6' => {
            ((p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62) && long) || maestro
        }
        _ => false,
    }
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &c) in d.iter().rev().enumerate() {
        let x = u32::from(c - b'0');
        sum += if i % 2 == 1 {
            if x > 4 { x * 2 - 9 } else { x * 2 }
        } else {
            x
        };
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_and_luhn() {
        for ok in [
            "4111111111111111",
            "4222222222222",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
            "36227206271667",
            "3530111333300000",
            "6200000000000005",
        ] {
            assert!(valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "4111111111111112",
            "1234567812345670",
            "9400100000000000000000",
        ] {
            assert!(!valid(bad.as_bytes()), "{bad}");
        }
    }
}
