//! The breaker: a per-agent kill switch that trips by itself.
//!
//! ```toml
//! [breaker]
//! denials = 10        # this many denials of one agent...
//! within = "5m"       # ...within this window engage that agent's kill switch
//! ```
//!
//! The runtime tells the breaker of every deny it records; when one agent
//! collects `denials` within `within`, the runtime engages that agent's
//! kill switch with actor `breaker` (logged like an operator's). Only an
//! operator releases it. Other agents are never affected: the breaker
//! only ever engages the switch of the agent that tripped it. The counts
//! are in memory (a restart starts them again; an engaged switch
//! persists).

use crate::identifier::identifier_key;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The actor of the breaker's engagements.
pub const BREAKER_ACTOR: &str = "breaker";

/// Most denials one window may count (`denials` above it is refused at load).
pub const MAX_BREAKER_DENIALS: u32 = 100_000;

/// The longest `within`: 31 days.
pub const MAX_BREAKER_WITHIN: Duration = Duration::from_secs(31 * 24 * 3600);

/// Agents tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// The manifest's `[breaker]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Denials that trip it.
    pub denials: u32,
    /// Within this window.
    pub within: Duration,
}

impl BreakerConfig {
    /// Check the values; the error names the key.
    pub fn new(denials: u32, within: &str) -> Result<Self, (&'static str, String)> {
        if !(1..=MAX_BREAKER_DENIALS).contains(&denials) {
            return Err((
                "denials",
                format!("breaker.denials must be 1..={MAX_BREAKER_DENIALS}, not {denials}"),
            ));
        }
        let within = crate::service::parse_duration(within)
            .map_err(|e| ("within", format!("breaker.within: {e}")))?;
        if within < Duration::from_millis(1) || within > MAX_BREAKER_WITHIN {
            return Err((
                "within",
                "breaker.within must be from 1ms to 31 days".to_owned(),
            ));
        }
        Ok(BreakerConfig { denials, within })
    }

    /// `10 denials within 5m0s`.
    pub fn describe(&self) -> String {
        format!("{} denials within {:?}", self.denials, self.within)
    }
}

/// Recent denials per agent.
#[derive(Debug, Default)]
pub struct Breaker {
    seen: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Breaker {
    /// Count a deny of `agent` at `now_ms`; true when it trips the breaker
    /// (the count starts again after a trip).
    pub fn saw_deny(&self, config: &BreakerConfig, agent: &str, now_ms: i64) -> bool {
        let within = i64::try_from(config.within.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(within);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, times| times.back().is_some_and(|t| *t > cutoff));
        }
        let times = seen.entry(identifier_key(agent)).or_default();
        times.push_back(now_ms);
        while times.front().is_some_and(|t| *t <= cutoff) {
            times.pop_front();
        }
        let limit = usize::try_from(config.denials).unwrap_or(usize::MAX);
        if times.len() >= limit {
            times.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_on_the_nth_denial_within_the_window_per_agent() {
        let config = BreakerConfig::new(3, "1s").unwrap();
        let b = Breaker::default();
        // (agent, time, trips)
        let steps = [
            ("a", 0, false),
            ("a", 500, false),
            ("B", 600, false),
            // 0 left the window (1000 - 1000, 1000]
            ("a", 1_000, false),
            ("A", 1_100, true),
            ("a", 1_200, false),
            ("b", 1_300, false),
            ("b", 1_400, true),
        ];
        for (agent, t, trips) in steps {
            assert_eq!(b.saw_deny(&config, agent, t), trips, "{agent} at {t}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        for (denials, within, key) in [
            (0, "5m", "denials"),
            (10, "soon", "within"),
            (10, "32d", "within"),
            (10, "0s", "within"),
        ] {
            assert_eq!(
                BreakerConfig::new(denials, within).unwrap_err().0,
                key,
                "{denials} {within}"
            );
        }
        assert!(BreakerConfig::new(10, "5m").is_ok());
    }
}
