//! [`SharedCounters`]: the ledger's counters in Redis, so that a budget or
//! a rate means the same on every node that names the same server.
//!
//! - **One script per decision.** `reserve.lua` checks every charge of a
//!   decision and reserves all of them or none, atomically on the server:
//!   the same integer arithmetic as the in-process ledger (millionths,
//!   exact rolling windows `(now - N, now]`, calendar windows keyed by the
//!   period's start), so 64 callers across two nodes against a budget of
//!   1,000 with charges of 10 get exactly 100 approves.
//! - **Idempotent.** A request id already charged on a counter instance is
//!   not charged again, whichever node sees the retry.
//! - **Fail closed.** Redis unreachable or slow: the decision is refused
//!   with `usage-unavailable`. Decisions that charge nothing never touch
//!   Redis. The link reconnects by itself (see [`link`]).
//! - **Layout.** Per counter instance: a sorted set of request ids by time,
//!   a hash of entries (`units:status:settle_at_ms`) and a meta hash (the
//!   running total and the counter's descriptor); per request, the set of
//!   instances it holds; one sorted set of live instances by expiry. Keys
//!   expire when their window can no longer count them.

pub mod escalations;
pub mod link;
mod meta;
pub mod reservation;
mod stored_entry;
mod void;

use super::charge::{Charge, Window, units};
use super::counter::{Counter, Entry};
use link::RedisLink;
pub use meta::CounterMeta;
use redis::Script;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use stored_entry::{decode, encode};
use void::Void;

/// The key prefix of every key Gavel writes.
pub const KEY_PREFIX: &str = "gavel:v1:";

/// Keys outlive their window by this much, so that nodes whose clocks
/// differ a little still see the same entries.
pub const CLOCK_MARGIN_MS: i64 = 60_000;

/// Most counter instances `gavel usage` lists.
const MAX_LISTED: usize = 10_000;

static RESERVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("reserve.lua")));
static CHANGE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("change.lua")));
static ENTRIES: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("entries.lua")));
/// Why the shared counters could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The `--usage` URL is not one Gavel can use.
    #[error("--usage {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or did not answer in time.
    #[error("the shared counters at {server} are unavailable: {reason}")]
    Unavailable {
        /// The server (no password).
        server: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the shared counters at {server} refused the operation: {reason}")]
    Refused {
        /// The server (no password).
        server: String,
        /// Its answer.
        reason: String,
    },
}

/// One charge of a decision, resolved to its counter instance.
#[derive(Debug)]
pub struct Planned<'a> {
    /// The charge.
    pub charge: &'a Charge,
    /// The instance key.
    pub instance: String,
    /// The window's bounds (calendar) or (MIN, MAX) (rolling).
    pub start_ms: i64,
    /// The window's end.
    pub end_ms: i64,
    /// Whose counter.
    pub subject: String,
}

/// What the reserve script answered, per charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Units on the instance before this charge (earlier charges of the
    /// same decision included).
    pub before: i64,
    /// The request already holds an entry there.
    pub duplicate: bool,
    /// When it would fit, for a charge past its limit.
    pub retry_after_ms: Option<u64>,
}

/// One request's reservation on one instance, as stored.
#[derive(Debug, Clone)]
pub struct Held {
    /// The instance key.
    pub instance: String,
    /// Its descriptor.
    pub meta: CounterMeta,
    /// The entry.
    pub entry: Entry,
}

/// The counters in Redis.
#[derive(Debug)]
pub struct SharedCounters {
    link: Arc<RedisLink>,
    /// Attempts to void once the server answers again.
    voids: Mutex<Vec<Void>>,
}

impl SharedCounters {
    /// Counters at `url` (`redis://HOST[:PORT][/DB]`); nothing connects
    /// until the first decision that charges a counter.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, UsageError> {
        let bad = |reason: &str| UsageError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if url.starts_with("rediss://") {
            return Err(bad(
                "TLS to Redis is not built in; use redis:// on a trusted network, or a local TLS tunnel",
            ));
        }
        if !url.starts_with("redis://") {
            return Err(bad("expected redis://HOST[:PORT][/DB]"));
        }
        let client = redis::Client::open(url).map_err(|e| bad(&e.to_string()))?;
        let info = client.get_connection_info();
        let shown = format!("redis://{}/{}", info.addr(), info.redis_settings().db());
        Ok(SharedCounters {
            link: Arc::new(RedisLink::new(client, shown, timeout)),
            voids: Mutex::new(Vec::new()),
        })
    }

    /// The connections, for the shared history on the same server.
    pub fn link(&self) -> Arc<RedisLink> {
        self.link.clone()
    }

    /// The server, as messages name it (no password).
    pub fn server(&self) -> &str {
        self.link.shown()
    }

    /// Run the reserve script for one decision's charges.
    pub fn reserve(
        &self,
        request_id: &str,
        planned: &[Planned<'_>],
        now_ms: i64,
        hold: bool,
        settle_at_ms: i64,
    ) -> Result<(bool, Vec<Seen>), UsageError> {
        self.void_pending();
        let attempt = hex::encode(rand::random::<[u8; 12]>());
        let mut instances: Vec<&str> = Vec::new();
        let mut inv = RESERVE.prepare_invoke();
        inv.key(request_key(request_id))
            .key(index_key())
            .key(void_key(&attempt));
        let mut args: Vec<String> = vec![
            now_ms.to_string(),
            request_id.to_owned(),
            if hold { "1" } else { "0" }.to_owned(),
            settle_at_ms.to_string(),
            planned.len().to_string(),
            attempt.clone(),
        ];
        for p in planned {
            let k = match instances.iter().position(|i| *i == p.instance) {
                Some(at) => at + 1,
                None => {
                    instances.push(&p.instance);
                    inv.key(instance_key("z:", &p.instance))
                        .key(instance_key("e:", &p.instance))
                        .key(instance_key("m:", &p.instance));
                    instances.len()
                }
            };
            let c = p.charge;
            let (window_ms, expire) = match &c.window {
                Window::Rolling { ms } => {
                    let ms = i64::try_from(*ms).unwrap_or(i64::MAX);
                    (ms, now_ms.saturating_add(ms))
                }
                Window::Calendar { .. } => (0, p.end_ms),
            };
            let mark = c.escalate_above.map_or(-1, |f| {
                (c.limit * f * super::charge::UNITS_PER_ONE).round() as i64
            });
            let meta = CounterMeta::new(c, &p.subject, p.start_ms, p.end_ms);
            args.extend([
                k.to_string(),
                p.instance.clone(),
                units(c.amount).to_string(),
                units(c.limit).to_string(),
                window_ms.to_string(),
                p.end_ms.to_string(),
                mark.to_string(),
                expire.saturating_add(CLOCK_MARGIN_MS).to_string(),
                // Plain structs of strings and numbers always serialize.
                serde_json::to_string(&meta).unwrap_or_default(),
            ]);
        }
        for a in &args {
            inv.arg(a);
        }
        let out: Vec<String> = match self.link.with(|con| inv.invoke(con)) {
            Ok(out) => out,
            Err(e) => {
                if matches!(e, UsageError::Unavailable { .. }) {
                    // The script may have run with its answer lost: void it.
                    self.pend(Void {
                        request_id: request_id.to_owned(),
                        attempt,
                        instances: instances.iter().map(|i| (*i).to_owned()).collect(),
                    });
                }
                return Err(e);
            }
        };
        self.parse_reserve(&out, planned.len())
    }

    fn parse_reserve(&self, out: &[String], n: usize) -> Result<(bool, Vec<Seen>), UsageError> {
        let bad = || UsageError::Refused {
            server: self.server().to_owned(),
            reason: format!("unexpected answer to the reserve script: {out:?}"),
        };
        if out.first().is_some_and(|s| s == "void") {
            return Err(UsageError::Refused {
                server: self.server().to_owned(),
                reason: "this attempt was voided before it ran".to_owned(),
            });
        }
        if out.len() != 1 + 3 * n {
            return Err(bad());
        }
        let num = |s: &String| s.parse::<i64>().map_err(|_| bad());
        let reserved = out.first().is_some_and(|s| s == "1");
        let seen = out
            .get(1..)
            .unwrap_or_default()
            .chunks(3)
            .map(|t| match t {
                [before, dup, retry] => Ok(Seen {
                    before: num(before)?,
                    duplicate: dup == "1",
                    retry_after_ms: u64::try_from(num(retry)?).ok(),
                }),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((reserved, seen))
    }

    /// Set (or with `None`, drop) `request_id`'s entries on `instances`,
    /// keeping totals equal to the sum of entries.
    pub fn change(
        &self,
        request_id: &str,
        changes: &[(String, Option<Entry>)],
    ) -> Result<(), UsageError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut inv = CHANGE.prepare_invoke();
        inv.key(request_key(request_id));
        inv.arg(request_id);
        for (instance, next) in changes {
            inv.key(instance_key("z:", instance))
                .key(instance_key("e:", instance))
                .key(instance_key("m:", instance));
            inv.arg(instance)
                .arg(next.as_ref().map_or_else(String::new, encode));
        }
        self.link.with(|con| inv.invoke::<i64>(con)).map(|_| ())
    }

    /// Every reservation `request_id` holds.
    pub fn held(&self, request_id: &str) -> Result<Vec<Held>, UsageError> {
        let mut inv = ENTRIES.prepare_invoke();
        inv.key(request_key(request_id))
            .arg(request_id)
            .arg(KEY_PREFIX);
        let out: Vec<String> = self.link.with(|con| inv.invoke(con))?;
        let bad = |what: &str| UsageError::Refused {
            server: self.server().to_owned(),
            reason: format!("unreadable stored reservation of `{request_id}`: {what}"),
        };
        out.chunks(4)
            .map(|t| match t {
                [instance, value, time, desc] => {
                    let meta: CounterMeta =
                        serde_json::from_str(desc).map_err(|e| bad(&e.to_string()))?;
                    let time_ms = time.parse::<f64>().map_err(|_| bad(time))? as i64;
                    Ok(Held {
                        instance: instance.clone(),
                        meta,
                        entry: decode(value, time_ms).ok_or_else(|| bad(value))?,
                    })
                }
                _ => Err(bad("a short answer")),
            })
            .collect()
    }

    /// Every live counter instance, rebuilt (for `gavel usage`).
    pub fn counters(&self, now_ms: i64) -> Result<Vec<Counter>, UsageError> {
        let names: Vec<String> = self.link.with(|con| {
            redis::cmd("ZREMRANGEBYSCORE")
                .arg(index_key())
                .arg("-inf")
                .arg(format!("({now_ms}"))
                .exec(con)?;
            redis::cmd("ZRANGE")
                .arg(index_key())
                .arg(0)
                .arg(MAX_LISTED - 1)
                .query(con)
        })?;
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HGET").arg(instance_key("m:", name)).arg("desc");
            pipe.cmd("HGETALL").arg(instance_key("e:", name));
            pipe.cmd("ZRANGE")
                .arg(instance_key("z:", name))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES");
        }
        type Row = (Option<String>, Vec<(String, String)>, Vec<(String, f64)>);
        let rows: Vec<Row> = if names.is_empty() {
            Vec::new()
        } else {
            self.link.with(|con| pipe.query(con))?
        };
        let mut counters = Vec::new();
        for (name, (desc, entries, times)) in names.iter().zip(rows) {
            let Some(meta) = desc.and_then(|d| serde_json::from_str::<CounterMeta>(&d).ok()) else {
                continue;
            };
            let mut counter: Option<Counter> = None;
            for (rid, value) in entries {
                let time_ms = times
                    .iter()
                    .find(|(r, _)| *r == rid)
                    .map_or(0, |(_, t)| *t as i64);
                let Some(entry) = decode(&value, time_ms) else {
                    continue;
                };
                let stored = meta.stored(name, &rid, entry.clone());
                counter
                    .get_or_insert_with(|| Counter::from_stored(&stored))
                    .insert(&rid, entry);
            }
            counters.extend(counter);
        }
        Ok(counters)
    }
}

pub(super) fn index_key() -> String {
    format!("{KEY_PREFIX}instances")
}

pub(super) fn void_key(attempt: &str) -> String {
    format!("{KEY_PREFIX}void:{attempt}")
}

pub(super) fn request_key(request_id: &str) -> String {
    format!("{KEY_PREFIX}r:{request_id}")
}

pub(super) fn instance_key(part: &str, instance: &str) -> String {
    format!("{KEY_PREFIX}{part}{instance}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        // (url, accepted)
        let cases = [
            ("redis://127.0.0.1:6379", true),
            ("redis://127.0.0.1:6379/3", true),
            ("redis://:secret@127.0.0.1:6379/0", true),
            ("rediss://127.0.0.1:6379", false),
            ("http://127.0.0.1:6379", false),
            ("127.0.0.1:6379", false),
            ("redis://127.0.0.1:6379/notadb", false),
        ];
        for (url, ok) in cases {
            let opened = SharedCounters::open(url, Duration::from_millis(100));
            assert_eq!(opened.is_ok(), ok, "{url}: {opened:?}");
            if let Ok(s) = opened {
                assert!(!s.server().contains("secret"), "{}", s.server());
            }
        }
    }
}
