//! The scanner: one pass over the bytes with cheap class checks, and the
//! detailed matchers only at candidate positions.
//!
//! The pass skips eight bytes at a time to the next byte in `0x28..=0x5F`
//! (digits, uppercase letters, `@`, `+`, `(`, `-`, `_` and a little other
//! punctuation); lowercase prose costs a few instructions per eight bytes.
//! Candidates are digit or uppercase word starts (not preceded by a
//! letter, digit or `_`), the triggers `@`, `+`, `(`, and the anchors of
//! lowercase-prefixed tokens (`J` of `eyJ`, `_` of `ghp_`, `-` of
//! `xoxb-`), checked back to their word start. Every matcher
//! reads a bounded window around its start, except the token matchers
//! (Slack, JWT) whose runs can be long: they keep a watermark so that the
//! same run is never read twice from a later start inside it. Scanning is
//! therefore linear in the input size.

use crate::bytes::{CANDIDATE, DIGIT, UPPER, WORD, at, before, class, digit_run, is_digit};
use crate::kind::{Kind, KindSet};
use crate::{card, email, iban, ip, phone, secret, ssn};

/// A configured scanner: which kinds to look for, and the email domains
/// that are not PII.
#[derive(Debug, Clone)]
pub struct Scanner {
    enabled: KindSet,
    /// Lowercase, without a leading `@` or trailing `.`.
    allow_email_domains: Vec<String>,
}

/// Per-scan state.
pub(crate) struct State {
    pub found: KindSet,
    /// Slack and JWT starts before these positions are inside a run a
    /// previous start already judged.
    pub slack_mark: usize,
    pub jwt_mark: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(KindSet::ALL, Vec::new())
    }
}

impl Scanner {
    /// A scanner for `enabled` kinds. `allow_email_domains` are matched
    /// case-insensitively, subdomains included.
    pub fn new(enabled: KindSet, allow_email_domains: Vec<String>) -> Self {
        let allow_email_domains = allow_email_domains
            .into_iter()
            .map(|d| {
                d.trim_start_matches('@')
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .collect();
        Scanner {
            enabled,
            allow_email_domains,
        }
    }

    /// The enabled kinds found in `text`.
    pub fn scan(&self, text: &str) -> KindSet {
        let b = text.as_bytes();
        let n = b.len();
        let want = self.enabled;
        let mut st = State {
            found: KindSet::EMPTY,
            slack_mark: 0,
            jwt_mark: 0,
        };
        // Eight bytes at a time: the candidate bytes of each chunk come as
        // a bit mask, judged in register order; `resume` is where the
        // last candidate's judgement ended (the rest of its word).
        let mut i = 0;
        let mut resume = 0;
        while i + 8 <= n {
            let chunk: [u8; 8] = b[i..i + 8].try_into().unwrap_or_default();
            let mut bits = candidate_bits(u64::from_le_bytes(chunk));
            while bits != 0 {
                let k = i + (bits.trailing_zeros() / 8) as usize;
                bits &= bits - 1;
                if k >= resume && class(b[k]) & CANDIDATE != 0 {
                    resume = self.candidate(b, k, &mut st);
                    if st.found.contains_all(want) {
                        return st.found;
                    }
                    // Drop the bits of the bytes it consumed.
                    let used = resume - i;
                    bits = if used >= 8 {
                        0
                    } else {
                        bits & (!0u64 << (8 * used))
                    };
                }
            }
            i += 8;
        }
        i = i.max(resume);
        while i < n {
            if class(b[i]) & CANDIDATE != 0 {
                i = self.candidate(b, i, &mut st);
            } else {
                i += 1;
            }
        }
        st.found
    }

    /// Judge the candidate byte at `k`; returns where to go on.
    #[inline(never)]
    fn candidate(&self, b: &[u8], k: usize, st: &mut State) -> usize {
        let c = b[k];
        let cl = class(c);
        let word_start = k == 0 || class(b[k - 1]) & WORD == 0;
        if cl & DIGIT != 0 {
            if !word_start {
                return k + 1;
            }
            let run = self.numeric(b, k, st);
            return skip_word(b, k + run);
        }
        if cl & UPPER != 0 {
            if word_start {
                // IBANs, AWS key ids and `BEGIN` all start with two
                // uppercase letters; the rest of the word starts nothing.
                if class(at(b, k + 1)) & UPPER != 0 {
                    self.upper(b, k, st);
                }
                return k + 1;
            }
            // `eyJ`: the first segment of a JWT.
            if c == b'J' && k >= 2 && &b[k - 2..k] == b"ey" && starts_word(b, k - 2) {
                self.lower(b, k - 2, st);
            }
            return k + 1;
        }
        match c {
            b'@' if self.wants(st, Kind::Email)
                && email::at_sign(b, k, &self.allow_email_domains) =>
            {
                st.found.insert(Kind::Email);
            }
            b'+' if self.wants(st, Kind::Phone) && phone::at_plus(b, k) => {
                st.found.insert(Kind::Phone);
            }
            b'(' if self.wants(st, Kind::Phone) && phone::at_paren(b, k) => {
                st.found.insert(Kind::Phone);
            }
            // `ghp_`…, `github_pat_`…
            b'_' => {
                if k >= 3 && b[k - 3] == b'g' && starts_word(b, k - 3) {
                    self.lower(b, k - 3, st);
                } else if k >= 6 && b[k - 6] == b'g' && starts_word(b, k - 6) {
                    self.lower(b, k - 6, st);
                }
            }
            // `xoxb-`…, `xapp-`…
            b'-' if k >= 4 && b[k - 4] == b'x' && starts_word(b, k - 4) => {
                self.lower(b, k - 4, st);
            }
            _ => {}
        }
        k + 1
    }

    fn lower(&self, b: &[u8], p: usize, st: &mut State) {
        if self.wants(st, Kind::Secret) {
            secret::at_lower(b, p, st);
        }
    }

    fn wants(&self, st: &State, kind: Kind) -> bool {
        self.enabled.contains(kind) && !st.found.contains(kind)
    }

    /// Judge the digit word start `p`; returns its digit run's length
    /// (capped at 20).
    fn numeric(&self, b: &[u8], p: usize, st: &mut State) -> usize {
        // The run length and the byte after it tell the formats apart;
        // longer runs are only candidates as bare card numbers.
        let run = digit_run(b, p, 20);
        let next = at(b, p + run);
        match run {
            4 if !matches!(next, b' ' | b'-') || !is_digit(at(b, p + 5)) => {}
            13..=19 | 4 if self.wants(st, Kind::CreditCard) && card::at_digits(b, p, run) => {
                st.found.insert(Kind::CreditCard);
            }
            1..=3 => {
                if next == b'.'
                    && before(b, p, 1) != b'.'
                    && self.wants(st, Kind::IpAddress)
                    && ip::at_digits(b, p, run)
                {
                    st.found.insert(Kind::IpAddress);
                }
                let phone_like = (run == 3 || b[p] == b'1') && matches!(next, b'-' | b' ' | b'.');
                if phone_like && self.wants(st, Kind::Phone) && phone::at_digits(b, p, run) {
                    st.found.insert(Kind::Phone);
                }
                if run == 3
                    && next == b'-'
                    && self.wants(st, Kind::Ssn)
                    && ssn::at_digits(b, p, run)
                {
                    st.found.insert(Kind::Ssn);
                }
            }
            _ => {}
        }
        run
    }

    fn upper(&self, b: &[u8], p: usize, st: &mut State) {
        if self.wants(st, Kind::Iban) && iban::at_upper(b, p) {
            st.found.insert(Kind::Iban);
        }
        if self.wants(st, Kind::Secret) && secret::at_upper(b, p) {
            st.found.insert(Kind::Secret);
        }
    }
}

fn starts_word(b: &[u8], p: usize) -> bool {
    p == 0 || class(b[p - 1]) & WORD == 0
}

/// The end of the word at `i`.
fn skip_word(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && class(b[i]) & WORD != 0 {
        i += 1;
    }
    i
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is in `0x28..=0x5F` (ASCII
/// punctuation `(` to `/`, digits, `:` to `@`, uppercase letters, `[` to
/// `_`): every byte a candidate can hinge on. Bytes are judged
/// independently: no carry crosses a byte.
#[inline(always)]
fn candidate_bits(x: u64) -> u64 {
    let low7 = x & (LO * 0x7F);
    (LO * (0x7F + 0x60) - low7) & !x & (low7 + LO * (0x7F - 0x27)) & HI
}

/// The kinds found in `text` by a scanner for every kind, without an
/// email allowlist.
pub fn scan(text: &str) -> KindSet {
    Scanner::default().scan(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs shaped to make a careless scanner rescan: each must finish
    /// quickly and find nothing.
    #[test]
    fn hostile_shapes_are_linear() {
        let mb = 1 << 20;
        let shapes = [
            "a@",
            "1 ",
            "1.",
            "1-",
            "+1 ",
            "eyJ-",
            "xoxb-",
            "(",
            "4111 ",
            "DE89 ",
            "a.",
            "-----BEGIN ",
        ];
        for shape in shapes {
            let text: String = shape.repeat(mb / shape.len());
            let start = std::time::Instant::now();
            let _ = scan(&text);
            let took = start.elapsed();
            assert!(took.as_millis() < 2_000, "{shape:?}: {took:?}");
        }
        let long_local = "a".repeat(mb) + "@gmail.com";
        assert!(scan(&long_local).is_empty());
        let long_domain = "a@".to_owned() + &"b".repeat(mb);
        assert!(scan(&long_domain).is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator over an alphabet rich in the
        // bytes the matchers care about.
        let alphabet = "0123456789 -.()+@_eyJxobAKISBEGNDGP/:,é\u{201c}";
        let chars: Vec<char> = alphabet.chars().collect();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..2_000 {
            let mut s = String::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(chars[(x % chars.len() as u64) as usize]);
            }
            let _ = scan(&s);
        }
    }
}
