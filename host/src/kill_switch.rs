//! The kill switch: deny everything (or everything one agent asks) without
//! running a policy.
//!
//! The state is an immutable [`KillSwitchState`] behind an `ArcSwap`, so
//! the check on the decision path is one atomic load and, only when some
//! switch is engaged, one map lookup. Each change is a `kill-switch`
//! record, written in the same transaction as the `kill_switch` table that
//! makes it survive a restart.
//!
//! Agent ids follow the name contract ([`crate::identifier`]) and are
//! matched ASCII-case-insensitively: engaging, checking or releasing
//! `Financial-Advisor` is engaging, checking or releasing
//! `financial-advisor`. Engagements are stored under the id's
//! [`identifier_key`]. An id outside the contract is refused, except that
//! a row stored before the contract existed can still be released by its
//! exact text.

use crate::identifier::{IdentifierError, identifier_key, validate_identifier};
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
    /// Per-agent switches, keyed by [`identifier_key`] of the agent id.
    pub agents: BTreeMap<String, Engagement>,
    /// Rows stored under another key than their [`identifier_key`] (before
    /// agent ids were matched case-insensitively): key → the stored key,
    /// so that releasing deletes the row that is really there.
    stored_keys: BTreeMap<String, String>,
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
            None if self.agents.is_empty() => None,
            None => self.agents.get(&identifier_key(agent)).map(|e| (e, false)),
        }
    }

    /// Whether `agent` may be given to [`KillSwitch::set`]: an id that
    /// follows the name contract, or (to release it) an id stored before
    /// the contract existed.
    pub fn check_agent(&self, agent: &str, engaging: bool) -> Result<(), IdentifierError> {
        match validate_identifier(agent) {
            Err(_)
                if !engaging
                    && (self.agents.contains_key(agent)
                        || self.stored_keys.values().any(|k| k == agent)) =>
            {
                Ok(())
            }
            other => other,
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
                    let k = identifier_key(agent);
                    if k != agent {
                        state.stored_keys.insert(k.clone(), agent.to_owned());
                    }
                    // Two old rows for one id modulo case: either stops
                    // the agent.
                    state.agents.insert(k, engagement);
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
    /// recorded. An agent id [`KillSwitchState::check_agent`] refuses is
    /// refused here too, before anything changes.
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
        let key = match agent {
            None => String::new(),
            Some(a) => {
                next.check_agent(a, engaged.is_some()).map_err(|e| {
                    LogError::Encode(format!(
                        "kill switch: agent id `{}` {e}",
                        a.escape_default()
                    ))
                })?;
                identifier_key(a)
            }
        };
        // The row really stored for this agent (an old row may be stored
        // under another case); a new row goes under the key.
        let stored_key = next.stored_keys.remove(&key).unwrap_or_else(|| key.clone());
        let write = StateWrite {
            table: StateTable::KillSwitch,
            key: stored_key.clone(),
            value: match &engaged {
                Some(e) => {
                    Some(serde_json::to_vec(e).map_err(|e| LogError::Encode(e.to_string()))?)
                }
                None => None,
            },
        };
        match (agent, engaged) {
            (None, e) => next.global = e,
            (Some(_), Some(e)) => {
                if stored_key != key {
                    next.stored_keys.insert(key.clone(), stored_key);
                }
                next.agents.insert(key, e);
            }
            (Some(_), None) => {
                next.agents.remove(&key);
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

    fn event(write: &StateWrite) -> LogEvent {
        LogEvent::KillSwitch {
            engaged: write.value.is_some(),
            actor: "t".to_owned(),
            reason: "r".to_owned(),
            agent: Some(write.key.clone()),
        }
    }

    #[test]
    fn agent_ids_match_modulo_ascii_case_and_are_stored_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        let record = |write: StateWrite| {
            assert_eq!(write.key, "financial-advisor");
            log.append_committed(&event(&write), 1, vec![write])
                .map(drop)
        };
        let switch = KillSwitch::load(log.database()).unwrap();
        switch
            .set(Some(engagement("ops")), Some("Financial-Advisor"), record)
            .unwrap();
        // (agent id, stopped)
        let cases = [
            ("financial-advisor", true),
            ("Financial-Advisor", true),
            ("FINANCIAL-ADVISOR", true),
            ("financial-advisor2", false),
            ("customer-support", false),
        ];
        for (agent, stopped) in cases {
            assert_eq!(switch.check(agent).is_some(), stopped, "{agent}");
        }
        assert_eq!(
            KillSwitch::load(log.database())
                .unwrap()
                .state()
                .agents
                .keys()
                .collect::<Vec<_>>(),
            ["financial-advisor"]
        );
        switch.set(None, Some("FINANCIAL-advisor"), record).unwrap();
        assert!(switch.check("financial-advisor").is_none());
        assert!(!KillSwitch::load(log.database()).unwrap().state().any());
    }

    #[test]
    fn an_agent_id_outside_the_contract_is_refused_before_anything_changes() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        let switch = KillSwitch::load(log.database()).unwrap();
        for agent in [
            "financial-advisor\u{200b}",
            "financial-advisor ",
            "",
            "ﬁnancial-advisor",
            "financial\nadvisor",
        ] {
            for engaged in [Some(engagement("ops")), None] {
                let refused = switch
                    .set(engaged, Some(agent), |_| panic!("nothing is recorded"))
                    .unwrap_err()
                    .to_string();
                assert!(
                    refused.contains("kill switch: agent id"),
                    "{agent:?}: {refused}"
                );
                assert!(!refused.contains('\u{200b}'), "{refused}");
            }
            assert!(!switch.state().any(), "{agent:?}");
        }
    }

    #[test]
    fn rows_stored_under_another_case_or_outside_the_contract_stop_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        // Rows as an older version stored them: the id exactly as given.
        for key in ["Financial-Advisor", "old agent"] {
            let write = StateWrite {
                table: StateTable::KillSwitch,
                key: key.to_owned(),
                value: Some(serde_json::to_vec(&engagement("ops")).unwrap()),
            };
            log.append_committed(&event(&write), 1, vec![write])
                .unwrap();
        }
        let record = |write: StateWrite| {
            log.append_committed(&event(&write), 1, vec![write])
                .map(drop)
        };
        let switch = KillSwitch::load(log.database()).unwrap();
        assert!(switch.check("financial-advisor").is_some());
        assert!(switch.check("FINANCIAL-ADVISOR").is_some());
        // Releasing deletes the row really stored, so it stays released.
        switch.set(None, Some("financial-advisor"), record).unwrap();
        assert!(switch.check("Financial-Advisor").is_none());
        let reloaded = KillSwitch::load(log.database()).unwrap();
        assert!(reloaded.check("financial-advisor").is_none());
        // An old id outside the contract can be released by its text, not engaged.
        assert!(
            switch
                .set(Some(engagement("ops")), Some("old agent"), record)
                .is_err()
        );
        switch.set(None, Some("old agent"), record).unwrap();
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
