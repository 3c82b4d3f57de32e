//! Escalated calls waiting for a reviewer, by call digest.
//!
//! A call that escalates is remembered under the digest of (agent, action,
//! arguments). A reviewer's approval is spent by exactly one call with
//! that digest: the waiting call, or an identical call made later when the
//! wait timed out first. A call with other arguments has another digest,
//! so an approval can never be spent on it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// An escalation a call is waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The escalation's id.
    pub escalation: String,
    /// The escalated decision's sequence number (for the outcome).
    pub seq: Option<u64>,
    /// The escalated decision's request id.
    pub request_id: String,
}

/// Held calls by digest.
#[derive(Debug, Default)]
pub struct Approvals {
    held: Mutex<HashMap<String, Held>>,
}

/// Most calls held at once; past it the oldest are forgotten (their
/// escalations stay in the log and the queue, and an identical call then
/// escalates again).
pub const MAX_HELD: usize = 10_000;

impl Approvals {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The escalation held for `digest`, if any.
    pub fn get(&self, digest: &str) -> Option<Held> {
        self.lock().get(digest).cloned()
    }

    /// Hold `held` for `digest`.
    pub fn hold(&self, digest: String, held: Held) {
        let mut map = self.lock();
        if map.len() >= MAX_HELD
            && let Some(any) = map.keys().next().cloned()
        {
            map.remove(&any);
        }
        map.insert(digest, held);
    }

    /// Take the hold for `digest` if it is still `escalation`'s: true for
    /// exactly one caller.
    pub fn take(&self, digest: &str, escalation: &str) -> bool {
        let mut map = self.lock();
        match map.get(digest) {
            Some(h) if h.escalation == escalation => {
                map.remove(digest);
                true
            }
            _ => false,
        }
    }

    /// How many calls are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: &str) -> Held {
        Held {
            escalation: id.into(),
            seq: Some(1),
            request_id: "mcp-1".into(),
        }
    }

    #[test]
    fn an_approval_is_taken_once_and_only_by_its_digest() {
        let a = Approvals::default();
        a.hold("d1".into(), held("e1"));
        assert_eq!(a.get("d1"), Some(held("e1")));
        assert!(!a.take("d2", "e1"), "another digest");
        assert!(!a.take("d1", "e2"), "another escalation");
        assert!(a.take("d1", "e1"));
        assert!(!a.take("d1", "e1"), "spent");
        assert!(a.is_empty());
    }

    #[test]
    fn the_map_is_bounded() {
        let a = Approvals::default();
        for i in 0..MAX_HELD + 5 {
            a.hold(format!("d{i}"), held("e"));
        }
        assert_eq!(a.len(), MAX_HELD);
    }
}
