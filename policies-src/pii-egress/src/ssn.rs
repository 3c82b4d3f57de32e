//! US Social Security numbers, `AAA-GG-SSSS`: area not 000, 666 or
//! 900-999, group not 00, serial not 0000.

use crate::bytes::{at, before, digit_run, digits_value, is_digit, is_word};

/// An SSN at the digit word start `p` (digit run `run`).
#[inline(never)]
pub fn at_digits(b: &[u8], p: usize, run: usize) -> bool {
    if run != 3
        || at(b, p + 3) != b'-'
        || digit_run(b, p + 4, 3) != 2
        || at(b, p + 6) != b'-'
        || digit_run(b, p + 7, 5) != 4
    {
        return false;
    }
    let end = p + 11;
    let next = at(b, end);
    if is_word(next) || (matches!(next, b'-' | b'.') && is_digit(at(b, end + 1))) {
        return false;
    }
    if matches!(before(b, p, 1), b'-' | b'.') && is_digit(before(b, p, 2)) {
        return false;
    }
    let area = digits_value(b, p, 3);
    let group = digits_value(b, p + 4, 2);
    let serial = digits_value(b, p + 7, 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}
