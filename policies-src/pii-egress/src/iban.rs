//! IBANs: a country code with its registered length, two check digits and
//! the BBAN, bare or in groups of four separated by single spaces; the
//! ISO 7064 mod-97 check must give 1.

use crate::bytes::{DIGIT, UPPER, at, is, is_digit, is_word};

/// An IBAN at the word start `p` (an uppercase letter).
#[inline(never)]
pub fn at_upper(b: &[u8], p: usize) -> bool {
    let (c0, c1) = (b[p], at(b, p + 1));
    if !c1.is_ascii_uppercase() || !is_digit(at(b, p + 2)) || !is_digit(at(b, p + 3)) {
        return false;
    }
    let Some(len) = country_length(c0, c1) else {
        return false;
    };
    let len = usize::from(len);
    let mut rem = 0u32;
    let mut count = 4;
    let mut q = p + 4;
    let grouped = at(b, q) == b' ';
    while count < len {
        if grouped {
            if at(b, q) != b' ' {
                return false;
            }
            q += 1;
        }
        let take = if grouped {
            (len - count).min(4)
        } else {
            len - count
        };
        for _ in 0..take {
            let c = at(b, q);
            if !is(c, UPPER | DIGIT) {
                return false;
            }
            rem = feed(rem, c);
            q += 1;
        }
        count += take;
    }
    if is_word(at(b, q)) {
        return false;
    }
    for c in [c0, c1, b[p + 2], b[p + 3]] {
        rem = feed(rem, c);
    }
    rem == 1
}

fn feed(rem: u32, c: u8) -> u32 {
    if c.is_ascii_digit() {
        (rem * 10 + u32::from(c - b'0')) % 97
    } else {
        (rem * 100 + u32::from(c - b'A') + 10) % 97
    }
}

/// IBAN lengths from the SWIFT IBAN registry.
fn country_length(c0: u8, c1: u8) -> Option<u8> {
    Some(match &[c0, c1] {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BI" => 27,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DJ" => 27,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FK" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"LY" => 25,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MN" => 20,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NI" => 28,
        b"NL" => 18,
        b"NO" => 15,
        b"OM" => 23,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"RU" => 33,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"SO" => 23,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        b"YE" => 30,
        _ => return None,
    })
}
