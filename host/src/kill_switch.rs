//! The kill switch: deny everything (or everything one agent asks) without
//! running a policy.
//!
//! The state is an immutable [`KillSwitchState`] behind an `ArcSwap`, so
//! the check on the decision path is one atomic load and, only when some
//! switch is engaged, one map lookup. Each change is a `kill-switch`
//! record, written in the same transaction as the `kill_switch` table that
//! makes it survive a restart.

use crate::log::{KILL_SWITCH, LogError, StateTable, StateWrite, format_time};
use arc_swap::ArcSwap;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The reason code of a decision the kill switch denied.
pub const KILL_SWITCH_CODE: &str = "kill-switch";

/// Who engaged a switch, why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Since when, UTC milliseconds.
    pub since_ms: i64,
}

impl Engagement {
    fn to_view(&self) -> serde_json::Value {
        serde_json::json!({
            "actor": self.actor,
            "reason": self.reason,
            "since": format_time(self.since_ms).unwrap_or_else(|| self.since_ms.to_string()),
        })
    }
}

/// Every engaged switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillSwitchState {
    /// The fleet-wide switch.
    pub global: Option<Engagement>,
    /// Per-agent switches.
    pub agents: BTreeMap<String, Engagement>,
}

impl KillSwitchState {
    /// Whether any switch is engaged.
    pub fn any(&self) -> bool {
        self.global.is_some() || !self.agents.is_empty()
    }

    /// The switch that stops `agent`, if one does (the fleet-wide one first).
    pub fn stopping(&self, agent: &str) -> Option<(&Engagement, bool)> {
        match &self.global {
            Some(e) => Some((e, true)),
            None => self.agents.get(agent).map(|e| (e, false)),
        }
    }

    /// The JSON the API serves.
    pub fn to_view(&self) -> serde_json::Value {
        let agents: serde_json::Map<String, serde_json::Value> = self
            .agents
            .iter()
            .map(|(a, e)| (a.clone(), e.to_view()))
            .collect();
        serde_json::json!({
            "engaged": self.global.is_some(),
            "global": self.global.as_ref().map(Engagement::to_view),
            "agents": agents,
        })
    }
}

/// The live kill-switch state.
#[derive(Debug)]
pub struct KillSwitch {
    state: ArcSwap<KillSwitchState>,
    /// One change at a time (changes are rare; checks never take this).
    changing: std::sync::Mutex<()>,
}

impl KillSwitch {
    /// Load the persisted state.
    pub fn load(db: &impl ReadableDatabase) -> Result<Self, LogError> {
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        let table = txn.open_table(KILL_SWITCH).map_err(|e| storage(&e))?;
        let mut state = KillSwitchState::default();
        for row in table.iter().map_err(|e| storage(&e))? {
            let (key, value) = row.map_err(|e| storage(&e))?;
            let engagement: Engagement = serde_json::from_slice(value.value())
                .map_err(|e| LogError::Encode(format!("stored kill switch: {e}")))?;
            match key.value() {
                "" => state.global = Some(engagement),
                agent => {
                    state.agents.insert(agent.to_owned(), engagement);
                }
            }
        }
        Ok(KillSwitch {
            state: ArcSwap::from_pointee(state),
            changing: std::sync::Mutex::new(()),
        })
    }

    /// The current state.
    pub fn state(&self) -> Arc<KillSwitchState> {
        self.state.load_full()
    }

    /// The decision-path check: who stopped `agent`, if anyone, and
    /// whether it was the fleet-wide switch.
    pub fn check(&self, agent: &str) -> Option<(Engagement, bool)> {
        let state = self.state.load();
        if !state.any() {
            return None;
        }
        state.stopping(agent).map(|(e, global)| (e.clone(), global))
    }

    /// Engage or release a switch (`agent`: one agent's; `None`: every
    /// agent's). `record` writes the log record with the given state change
    /// in one transaction. Engaging takes effect before the write, so an
    /// emergency stop never waits on the disk (and stays in effect in
    /// memory if the write fails); releasing takes effect only once
    /// recorded.
    pub fn set(
        &self,
        engaged: Option<Engagement>,
        agent: Option<&str>,
        record: impl FnOnce(StateWrite) -> Result<(), LogError>,
    ) -> Result<Arc<KillSwitchState>, LogError> {
        let _one_at_a_time = self
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = KillSwitchState::clone(&self.state.load());
        let write = StateWrite {
            table: StateTable::KillSwitch,
            key: agent.unwrap_or("").to_owned(),
            value: match &engaged {
                Some(e) => {
                    Some(serde_json::to_vec(e).map_err(|e| LogError::Encode(e.to_string()))?)
                }
                None => None,
            },
        };
        match (agent, engaged) {
            (None, e) => next.global = e,
            (Some(a), Some(e)) => {
                next.agents.insert(a.to_owned(), e);
            }
            (Some(a), None) => {
                next.agents.remove(a);
            }
        }
        let next = Arc::new(next);
        let engaging = write.value.is_some();
        if engaging {
            self.state.store(next.clone());
        }
        record(write)?;
        if !engaging {
            self.state.store(next.clone());
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{DecisionLog, LogEvent, LogOptions};

    fn engagement(who: &str) -> Engagement {
        Engagement {
            actor: who.to_owned(),
            reason: "drill".to_owned(),
            since_ms: 1,
        }
    }

    #[test]
    fn engage_release_per_agent_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        let record = |write: StateWrite| {
            let event = LogEvent::KillSwitch {
                engaged: write.value.is_some(),
                actor: "t".to_owned(),
                reason: "r".to_owned(),
                agent: None,
            };
            log.append_committed(&event, 1, vec![write]).map(drop)
        };
        let switch = KillSwitch::load(log.database()).unwrap();
        assert!(switch.check("a").is_none());
        switch
            .set(Some(engagement("ops")), Some("a"), record)
            .unwrap();
        assert_eq!(switch.check("a"), Some((engagement("ops"), false)));
        assert!(switch.check("b").is_none());
        switch.set(Some(engagement("boss")), None, record).unwrap();
        assert_eq!(switch.check("b"), Some((engagement("boss"), true)));
        // The fleet-wide switch answers first.
        assert_eq!(switch.check("a"), Some((engagement("boss"), true)));
        let reloaded = KillSwitch::load(log.database()).unwrap();
        assert_eq!(*reloaded.state(), *switch.state());
        switch.set(None, None, record).unwrap();
        switch.set(None, Some("a"), record).unwrap();
        assert!(!switch.state().any());
        assert!(!KillSwitch::load(log.database()).unwrap().state().any());
    }

    #[test]
    fn engaging_holds_even_if_the_record_fails_and_releasing_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        let switch = KillSwitch::load(log.database()).unwrap();
        let fail = |_| Err(LogError::Unavailable("disk".to_owned()));
        assert!(switch.set(Some(engagement("ops")), None, fail).is_err());
        assert!(
            switch.check("x").is_some(),
            "an emergency stop never waits on the disk"
        );
        assert!(switch.set(None, None, fail).is_err());
        assert!(
            switch.check("x").is_some(),
            "a release that is not recorded does not happen"
        );
    }
}
