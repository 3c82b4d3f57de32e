//! How a policy can fail, and the stable code each failure is reported as.
//! Every failure is contained: the host survives it and the decision
//! follows the policy's `on_error`.

use crate::bindings::current as wit;
use crate::manifest::Limits;
use crate::sandbox::MemoryCapExceeded;
use wasmtime::Trap;

/// Longest reason message a policy may return, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest reason code or finding kind, in bytes.
pub const MAX_CODE_BYTES: usize = 64;
/// Most findings one outcome may carry.
pub const MAX_FINDINGS: usize = 256;
/// Longest finding path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// A contained policy failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyFailure {
    /// The policy used all its fuel.
    OutOfFuel {
        /// The fuel it had.
        limit: u64,
    },
    /// The policy passed its wall-clock deadline.
    Timeout {
        /// The deadline, in milliseconds.
        limit_ms: u128,
    },
    /// The policy tried to grow a memory past its cap.
    OutOfMemory {
        /// The cap, in bytes.
        cap_bytes: usize,
    },
    /// The policy trapped (panic, `unreachable`, bad memory access, a
    /// forbidden host call, ...).
    Trap(String),
    /// The policy answered with a malformed verdict.
    InvalidVerdict(String),
    /// A new instance of the policy could not be started.
    Instantiate(String),
}

impl PolicyFailure {
    /// The stable code: `out-of-fuel`, `timeout`, `out-of-memory`, `trap`,
    /// `invalid-verdict` or `instantiate-failed`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyFailure::OutOfFuel { .. } => "out-of-fuel",
            PolicyFailure::Timeout { .. } => "timeout",
            PolicyFailure::OutOfMemory { .. } => "out-of-memory",
            PolicyFailure::Trap(_) => "trap",
            PolicyFailure::InvalidVerdict(_) => "invalid-verdict",
            PolicyFailure::Instantiate(_) => "instantiate-failed",
        }
    }

    /// A message naming the policy and the failure.
    pub fn message(&self, policy: &str) -> String {
        match self {
            PolicyFailure::OutOfFuel { limit } => {
                format!("policy `{policy}` ran out of fuel (limit {limit})")
            }
            PolicyFailure::Timeout { limit_ms } => {
                format!("policy `{policy}` exceeded its deadline of {limit_ms} ms")
            }
            PolicyFailure::OutOfMemory { cap_bytes } => format!(
                "policy `{policy}` exceeded its memory cap of {} MiB",
                cap_bytes >> 20
            ),
            PolicyFailure::Trap(what) => format!("policy `{policy}` trapped: {what}"),
            PolicyFailure::InvalidVerdict(what) => {
                format!("policy `{policy}` returned an invalid verdict: {what}")
            }
            PolicyFailure::Instantiate(what) => {
                format!("policy `{policy}` could not be started: {what}")
            }
        }
    }

    /// Classify an error from calling into a policy.
    pub fn from_call_error(error: &wasmtime::Error, limits: &Limits) -> Self {
        if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
            return PolicyFailure::OutOfMemory {
                cap_bytes: cap.cap_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PolicyFailure::OutOfFuel { limit: limits.fuel },
            Some(Trap::Interrupt) => PolicyFailure::Timeout {
                limit_ms: limits.timeout.as_millis(),
            },
            Some(trap) => PolicyFailure::Trap(trap.to_string()),
            // A host function refused the call (e.g. an attempt to sleep):
            // its own message is the useful part, not wasmtime's context.
            None => PolicyFailure::Trap(first_line(&error.root_cause().to_string())),
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("unknown error");
    line.chars().take(300).collect()
}

/// Check an outcome against the contract: its verdict (below), its charges
/// (at most 16, each as [`crate::ledger::Charge::from_wit`] checks it) and
/// its findings (at most 256; each path starts with `params` and is at
/// most 1 KiB; each has 1..16 kinds of 1..64 characters of a-z, 0-9, `-`,
/// `_`).
pub fn check_outcome(outcome: &wit::Outcome) -> Result<(), PolicyFailure> {
    check_verdict(&outcome.verdict)?;
    if outcome.charges.len() > crate::ledger::MAX_CHARGES_PER_OUTCOME {
        return Err(PolicyFailure::InvalidVerdict(format!(
            "{} charges; the limit is {}",
            outcome.charges.len(),
            crate::ledger::MAX_CHARGES_PER_OUTCOME
        )));
    }
    for charge in &outcome.charges {
        crate::ledger::Charge::from_wit(charge).map_err(PolicyFailure::InvalidVerdict)?;
    }
    if outcome.findings.len() > MAX_FINDINGS {
        return Err(PolicyFailure::InvalidVerdict(format!(
            "{} findings; the limit is {MAX_FINDINGS}",
            outcome.findings.len()
        )));
    }
    for f in &outcome.findings {
        if !f.path.starts_with("params") || f.path.len() > MAX_PATH_BYTES {
            let shown: String = f.path.chars().take(80).collect();
            return Err(PolicyFailure::InvalidVerdict(format!(
                "finding path {shown:?} must start with `params` and be at most {MAX_PATH_BYTES} bytes"
            )));
        }
        let kinds_ok = !f.kinds.is_empty()
            && f.kinds.len() <= 16
            && f.kinds.iter().all(|k| {
                !k.is_empty()
                    && k.len() <= MAX_CODE_BYTES
                    && k.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            });
        if !kinds_ok {
            return Err(PolicyFailure::InvalidVerdict(format!(
                "finding at {} has invalid kinds (1..16 of 1..64 characters of a-z, 0-9, - and _)",
                f.path
            )));
        }
    }
    Ok(())
}

/// Check a verdict's reason against the contract: a code of 1..64
/// lowercase letters, digits and `-`, and a message of at most 4 KiB.
pub fn check_verdict(verdict: &wit::Verdict) -> Result<(), PolicyFailure> {
    let reason = match verdict {
        wit::Verdict::Approve => return Ok(()),
        wit::Verdict::Deny(r) | wit::Verdict::Escalate(r) => r,
    };
    let code_ok = !reason.code.is_empty()
        && reason.code.len() <= MAX_CODE_BYTES
        && reason
            .code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        let shown: String = reason.code.chars().take(MAX_CODE_BYTES + 1).collect();
        return Err(PolicyFailure::InvalidVerdict(format!(
            "reason code {shown:?} is not 1..{MAX_CODE_BYTES} characters of a-z, 0-9 and -"
        )));
    }
    if reason.message.len() > MAX_MESSAGE_BYTES {
        return Err(PolicyFailure::InvalidVerdict(format!(
            "reason message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            reason.message.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(code: &str, message: &str) -> wit::Verdict {
        wit::Verdict::Deny(wit::Reason {
            code: code.to_owned(),
            message: message.to_owned(),
        })
    }

    #[test]
    fn checks_reason_codes() {
        let cases = [
            ("over-limit", true),
            ("a", true),
            ("x1-2", true),
            ("", false),
            ("Over-Limit", false),
            ("over limit", false),
            ("über", false),
        ];
        for (code, ok) in cases {
            assert_eq!(check_verdict(&deny(code, "m")).is_ok(), ok, "{code}");
        }
        assert!(check_verdict(&deny(&"x".repeat(64), "m")).is_ok());
        assert!(check_verdict(&deny(&"x".repeat(65), "m")).is_err());
        assert!(check_verdict(&deny("c", &"m".repeat(MAX_MESSAGE_BYTES))).is_ok());
        assert!(check_verdict(&deny("c", &"m".repeat(MAX_MESSAGE_BYTES + 1))).is_err());
        assert!(check_verdict(&wit::Verdict::Approve).is_ok());
    }
}
