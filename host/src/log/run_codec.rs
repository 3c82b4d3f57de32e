//! The compact format's encoding of policy runs: about half of a decision
//! record's JSON was its runs, and most of that the field names and the
//! hex of each component's digest.
//!
//! One run: the policy's name; the digest (tag 0 and its 32 bytes when it
//! is `sha256:` and 64 lowercase hex digits, else tag 1 and the text);
//! the verdict (one byte); code and message (0, or 1 and the text); fuel
//! and micros (LEB128); shadow (one byte); then the rare parts (findings,
//! facts, charges): 0 when all are empty, else 1 and their JSON. Texts
//! are a LEB128 length and UTF-8. Every read is bounds-checked: a short or
//! malformed input is an error, never a panic.

use super::record_format::FormatError;
use crate::decision::{Finding, PolicyRun, RunVerdict};
use serde::{Deserialize, Serialize};

const SHA256_PREFIX: &str = "sha256:";

/// The parts of a run that are usually empty.
#[derive(Serialize)]
struct RareRef<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    facts: &'a [crate::history::Fact],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    charges: &'a [crate::ledger::Charge],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rare {
    #[serde(default)]
    findings: Vec<Finding>,
    #[serde(default)]
    facts: Vec<crate::history::Fact>,
    #[serde(default)]
    charges: Vec<crate::ledger::Charge>,
}

/// Append `n` as LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append `bytes`, their length first.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Append `text`, its length first.
pub fn put_text(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

/// Append an optional text: a tag byte, then the text.
pub fn put_option(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_text(out, text);
        }
    }
}

/// The 32 bytes of a `sha256:` digest in lowercase hex, if it is one.
fn digest_bytes(digest: &str) -> Option<[u8; 32]> {
    let hex_text = digest.strip_prefix(SHA256_PREFIX)?;
    if hex_text.len() != 64 || hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

/// Append the runs, count first.
pub fn encode_runs(out: &mut Vec<u8>, runs: &[PolicyRun]) -> Result<(), serde_json::Error> {
    put_varint(out, runs.len() as u64);
    for run in runs {
        put_text(out, &run.policy);
        match digest_bytes(&run.digest) {
            Some(bytes) => {
                out.push(0);
                out.extend_from_slice(&bytes);
            }
            None => {
                out.push(1);
                put_text(out, &run.digest);
            }
        }
        out.push(match run.verdict {
            RunVerdict::Approve => 0,
            RunVerdict::Deny => 1,
            RunVerdict::Escalate => 2,
            RunVerdict::Error => 3,
        });
        put_option(out, run.code.as_deref());
        put_option(out, run.message.as_deref());
        put_varint(out, run.fuel);
        put_varint(out, run.micros);
        out.push(u8::from(run.shadow));
        if run.findings.is_empty() && run.facts.is_empty() && run.charges.is_empty() {
            out.push(0);
        } else {
            out.push(1);
            let json = serde_json::to_vec(&RareRef {
                findings: &run.findings,
                facts: &run.facts,
                charges: &run.charges,
            })?;
            put_varint(out, json.len() as u64);
            out.extend_from_slice(&json);
        }
    }
    Ok(())
}

/// A bounds-checked reader over encoded runs.
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// What is read, for errors.
    context: &'static str,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> FormatError {
        FormatError::Json(format!("{}: {what}", self.context))
    }
}

impl<'a> Reader<'a> {
    /// Read from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::named(bytes, "policy runs")
    }

    /// Read `bytes`, naming them `context` in errors.
    pub fn named(bytes: &'a [u8], context: &'static str) -> Self {
        Reader { bytes, context }
    }

    /// What is left after what was read.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, FormatError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| self.bad("truncated"))?;
        self.bytes = rest;
        Ok(b)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: u64) -> Result<&'a [u8], FormatError> {
        let n = usize::try_from(n).map_err(|_| self.bad("a length is too large"))?;
        if n > self.bytes.len() {
            return Err(self.bad("truncated"));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// A LEB128 number.
    pub fn varint(&mut self) -> Result<u64, FormatError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(self.bad("a number is too long"))
    }

    /// A length-prefixed UTF-8 text.
    pub fn text(&mut self) -> Result<String, FormatError> {
        let len = self.varint()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad("a text is not UTF-8"))
    }

    /// An optional text (a tag byte, then the text).
    pub fn option(&mut self) -> Result<Option<String>, FormatError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.text().map(Some),
            _ => Err(self.bad("an optional text has a bad tag")),
        }
    }

    /// The runs, count first.
    pub fn runs(&mut self) -> Result<Vec<PolicyRun>, FormatError> {
        let count = self.varint()?;
        // Each run takes at least 8 bytes: a count beyond that is a lie.
        if count > self.bytes.len() as u64 / 8 {
            return Err(self.bad("more runs than bytes"));
        }
        let mut runs = Vec::new();
        for _ in 0..count {
            runs.push(self.run()?);
        }
        Ok(runs)
    }

    fn run(&mut self) -> Result<PolicyRun, FormatError> {
        let policy = self.text()?;
        let digest = match self.byte()? {
            0 => format!("{SHA256_PREFIX}{}", hex::encode(self.take(32)?)),
            1 => self.text()?,
            _ => return Err(self.bad("a digest has a bad tag")),
        };
        let verdict = match self.byte()? {
            0 => RunVerdict::Approve,
            1 => RunVerdict::Deny,
            2 => RunVerdict::Escalate,
            3 => RunVerdict::Error,
            _ => return Err(self.bad("a verdict is unknown")),
        };
        let code = self.option()?;
        let message = self.option()?;
        let fuel = self.varint()?;
        let micros = self.varint()?;
        let shadow = match self.byte()? {
            0 => false,
            1 => true,
            _ => return Err(self.bad("shadow is not a boolean")),
        };
        let rare = match self.byte()? {
            0 => Rare {
                findings: Vec::new(),
                facts: Vec::new(),
                charges: Vec::new(),
            },
            1 => {
                let len = self.varint()?;
                serde_json::from_slice(self.take(len)?)?
            }
            _ => return Err(self.bad("the rare parts have a bad tag")),
        };
        Ok(PolicyRun {
            policy,
            digest,
            verdict,
            code,
            message,
            fuel,
            micros,
            shadow,
            findings: rare.findings,
            facts: rare.facts,
            charges: rare.charges,
        })
    }
}
