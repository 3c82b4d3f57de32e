//! The stored form of a record, in two versions, told apart by the first
//! byte of the body (which the chain hashes, so the version is part of
//! what is signed):
//!
//! - **v1** (`{`): the entry's JSON, `{"seq":…,"time_ms":…,"generation":…,
//!   "event":{…}}`. Every log written before the compact format, and still
//!   read and verified as it is.
//! - **v2** (`0x02`): a fixed header, `0x02 ‖ seq ‖ time_ms ‖ generation`
//!   (8 bytes each, big-endian), then a payload: `d`, the decision's
//!   policy runs in binary (`run_codec`) and the rest of the decision in
//!   JSON, with every reason that repeats a policy run's answer stored as
//!   that run's index; or `e` and any other event's JSON.
//!
//! The host writes v2 only. Both decode to the same [`LogEntry`], so
//! queries, exports, replay and shipping never see the difference.

use super::entry::{DecisionEntry, LogEntry, LogEvent, LoggedRequest, Redaction};
use super::run_codec;
use crate::decision::{PolicyRun, Reason, RunVerdict, Verdict};
use crate::escalation::EscalationTicket;
use crate::ledger::ChargeRecord;
use serde::{Deserialize, Serialize};

/// The first byte of a v2 body.
pub const V2: u8 = 0x02;
/// The first byte of a v1 body (a JSON object).
pub const V1: u8 = b'{';
/// Bytes of the v2 header.
pub const V2_HEADER: usize = 25;
/// The payload tag of a decision.
const DECISION: u8 = b'd';
/// The payload tag of any other event.
const OTHER: u8 = b'e';

/// Why stored bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Empty, or a first byte that names no version.
    #[error("unknown record format (first byte {0:#04x})")]
    UnknownVersion(u8),
    /// Shorter than its header.
    #[error("record body is truncated ({0} bytes)")]
    Truncated(usize),
    /// The payload tag names no kind.
    #[error("unknown payload tag {0:#04x}")]
    UnknownTag(u8),
    /// A reason names a policy run that is missing or gave no such reason.
    #[error("reason {reason} refers to policy run {run}, which gave no reason")]
    BadReason {
        /// The reason's position.
        reason: usize,
        /// The run it names.
        run: usize,
    },
    /// The JSON inside does not decode.
    #[error("{0}")]
    Json(String),
}

impl From<serde_json::Error> for FormatError {
    fn from(e: serde_json::Error) -> Self {
        FormatError::Json(e.to_string())
    }
}

/// A reason as stored: the index of the policy run that gave it, or the
/// reason itself (the runtime's own, or one that differs from its run).
#[derive(Serialize)]
#[serde(untagged)]
enum StoredReasonRef<'a> {
    Run(usize),
    Own(&'a Reason),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredReason {
    Run(usize),
    Own(Reason),
}

/// A decision as stored (the fields of [`DecisionEntry`], reasons compacted).
#[derive(Serialize)]
struct StoredDecisionRef<'a> {
    request: &'a LoggedRequest,
    verdict: Verdict,
    reasons: Vec<StoredReasonRef<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    redactions: &'a [Redaction],
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation: Option<&'a EscalationTicket>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    charges: &'a [ChargeRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredDecision {
    request: LoggedRequest,
    verdict: Verdict,
    reasons: Vec<StoredReason>,
    #[serde(default)]
    redactions: Vec<Redaction>,
    #[serde(default)]
    escalation: Option<EscalationTicket>,
    #[serde(default)]
    charges: Vec<ChargeRecord>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// The reason a policy run gives, if it gives one (deny or escalate, with
/// a code and a message).
fn reason_of(run: &PolicyRun) -> Option<Reason> {
    let verdict = match run.verdict {
        RunVerdict::Deny => Verdict::Deny,
        RunVerdict::Escalate => Verdict::Escalate,
        RunVerdict::Approve | RunVerdict::Error => return None,
    };
    Some(Reason {
        policy: run.policy.clone(),
        verdict,
        code: run.code.clone()?,
        message: run.message.clone()?,
    })
}

/// Whether `run` gives exactly `reason` (checked without allocating).
fn gives(run: &PolicyRun, reason: &Reason) -> bool {
    let verdict = match run.verdict {
        RunVerdict::Deny => Verdict::Deny,
        RunVerdict::Escalate => Verdict::Escalate,
        RunVerdict::Approve | RunVerdict::Error => return false,
    };
    verdict == reason.verdict
        && run.policy == reason.policy
        && run.code.as_deref() == Some(reason.code.as_str())
        && run.message.as_deref() == Some(reason.message.as_str())
}

/// The payload of an event (tag and JSON), made by the caller before the
/// writer assigns its sequence number.
pub fn encode_event(event: &LogEvent) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(1024);
    match event {
        LogEvent::Decision(d) => {
            out.push(DECISION);
            let reasons = d
                .reasons
                .iter()
                .map(
                    |reason| match d.policies.iter().position(|run| gives(run, reason)) {
                        Some(i) => StoredReasonRef::Run(i),
                        None => StoredReasonRef::Own(reason),
                    },
                )
                .collect();
            let stored = StoredDecisionRef {
                request: &d.request,
                verdict: d.verdict,
                reasons,
                redactions: &d.redactions,
                escalation: d.escalation.as_ref(),
                charges: &d.charges,
                retry_after_ms: d.retry_after_ms,
            };
            run_codec::encode_runs(&mut out, &d.policies)?;
            serde_json::to_writer(&mut out, &stored)?;
        }
        other => {
            out.push(OTHER);
            serde_json::to_writer(&mut out, other)?;
        }
    }
    Ok(out)
}

/// Reserve `prefix` bytes, then the v2 body of record `seq` with `payload`
/// (from [`encode_event`]). The writer puts the chain hash in the prefix.
pub fn body_after(
    prefix: usize,
    seq: u64,
    time_ms: i64,
    generation: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix + V2_HEADER + payload.len());
    out.resize(prefix, 0);
    out.push(V2);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&time_ms.to_be_bytes());
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The v2 body of an entry (what the writer stores for it).
pub fn encode(entry: &LogEntry) -> Result<Vec<u8>, serde_json::Error> {
    let payload = encode_event(&entry.event)?;
    Ok(body_after(
        0,
        entry.seq,
        entry.time_ms,
        entry.generation,
        &payload,
    ))
}

/// Decode a stored body of either version.
pub fn decode(body: &[u8]) -> Result<LogEntry, FormatError> {
    match body.first() {
        Some(&V1) => Ok(serde_json::from_slice(body)?),
        Some(&V2) => decode_v2(body),
        Some(&other) => Err(FormatError::UnknownVersion(other)),
        None => Err(FormatError::Truncated(0)),
    }
}

fn decode_v2(body: &[u8]) -> Result<LogEntry, FormatError> {
    let truncated = || FormatError::Truncated(body.len());
    let rest = body.get(1..).ok_or_else(truncated)?;
    let (seq, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
    let (time_ms, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
    let (generation, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
    let (&tag, json) = rest.split_first().ok_or_else(truncated)?;
    let event = match tag {
        DECISION => {
            let mut reader = run_codec::Reader::new(json);
            let runs = reader.runs()?;
            LogEvent::Decision(expand(serde_json::from_slice(reader.rest())?, runs)?)
        }
        OTHER => {
            let event: LogEvent = serde_json::from_slice(json)?;
            if matches!(event, LogEvent::Decision(_)) {
                // A decision has one stored form only.
                return Err(FormatError::UnknownTag(tag));
            }
            event
        }
        other => return Err(FormatError::UnknownTag(other)),
    };
    Ok(LogEntry {
        seq: u64::from_be_bytes(*seq),
        time_ms: i64::from_be_bytes(*time_ms),
        generation: u64::from_be_bytes(*generation),
        event,
    })
}

fn expand(stored: StoredDecision, policies: Vec<PolicyRun>) -> Result<DecisionEntry, FormatError> {
    let reasons = stored
        .reasons
        .into_iter()
        .enumerate()
        .map(|(i, reason)| match reason {
            StoredReason::Own(reason) => Ok(reason),
            StoredReason::Run(run) => policies
                .get(run)
                .and_then(reason_of)
                .ok_or(FormatError::BadReason { reason: i, run }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DecisionEntry {
        request: stored.request,
        verdict: stored.verdict,
        reasons,
        policies,
        redactions: stored.redactions,
        escalation: stored.escalation,
        charges: stored.charges,
        retry_after_ms: stored.retry_after_ms,
    })
}

#[cfg(test)]
#[path = "record_format_tests.rs"]
mod tests;
