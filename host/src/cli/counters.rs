//! `--usage`: where the counters live, shared by `gavel serve`, `gavel
//! eval` and `gavel mcp-gateway`.

use gavel::UsageStore;
use gavel::service::parse_duration;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct UsageArg {
    /// Keep the counters (budgets, rates, reservations) in Redis, shared
    /// by every node that names the same server: redis://HOST[:PORT][/DB].
    /// Without it they stay in the data directory. Decisions that charge a
    /// counter are refused (usage-unavailable) while Redis is unreachable.
    #[arg(long, env = "GAVEL_USAGE")]
    usage: Option<String>,
    /// With --usage: how long one call to Redis may take before the
    /// decision is refused.
    #[arg(long, default_value = "500ms", value_parser = parse_duration, requires = "usage")]
    usage_timeout: Duration,
}

impl UsageArg {
    /// The store the runtime uses.
    pub fn store(&self) -> UsageStore {
        match &self.usage {
            Some(url) => UsageStore::Redis {
                url: url.clone(),
                timeout: self.usage_timeout,
            },
            None => UsageStore::Local,
        }
    }
}
