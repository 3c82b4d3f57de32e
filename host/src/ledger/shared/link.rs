//! [`RedisLink`]: the connections to the Redis server that holds the shared
//! counters, with timeouts, a small pool, and recovery by itself.
//!
//! Every call is bounded: connecting by [`CONNECT_TIMEOUT`], each read and
//! write by the link's timeout. A connection that fails is dropped, and
//! for [`RETRY_AFTER_FAILURE`] after a failed connect the link refuses at
//! once instead of waiting on a server that is down; after that the next
//! call tries again, so the node recovers by itself when Redis is back.

use super::UsageError;
use redis::{Client, Connection, ConnectionLike, RedisError, RedisResult};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one command (a script run) may take to be written and
/// answered, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// After a failed connect, how long calls are refused at once.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(200);

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 32;

/// Connections to one Redis server.
pub struct RedisLink {
    client: Client,
    /// `redis://host:port/db`, without any password: for messages.
    shown: String,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// Until when calls are refused at once, and the connect error.
    refuse_until: Mutex<Option<(Instant, String)>>,
    down: AtomicBool,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("server", &self.shown)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link to `url` (checked by the caller); nothing connects yet.
    pub fn new(client: Client, shown: String, timeout: Duration) -> Self {
        RedisLink {
            client,
            shown,
            timeout,
            idle: Mutex::new(Vec::new()),
            refuse_until: Mutex::new(None),
            down: AtomicBool::new(false),
        }
    }

    /// The server, as messages name it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Run `call` on a connection. An I/O failure or a timeout drops the
    /// connection and is [`UsageError::Unavailable`]; an error the server
    /// answered keeps it.
    pub fn with<T>(
        &self,
        call: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, UsageError> {
        let mut con = self.take()?;
        match call(&mut con) {
            Ok(value) => {
                self.give_back(con);
                self.up();
                Ok(value)
            }
            Err(e) if answered(&e) && con.is_open() => {
                self.give_back(con);
                Err(UsageError::Refused {
                    server: self.shown.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e) => {
                self.fell(&e);
                Err(self.unavailable(&e))
            }
        }
    }

    fn take(&self) -> Result<Connection, UsageError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(con) = idle {
            return Ok(con);
        }
        {
            let until = self
                .refuse_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((t, why)) = until.as_ref()
                && Instant::now() < *t
            {
                return Err(UsageError::Unavailable {
                    server: self.shown.clone(),
                    reason: format!("the last attempt to connect failed ({why}); retrying shortly"),
                });
            }
        }
        let connected = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .and_then(|con| {
                con.set_read_timeout(Some(self.timeout))?;
                con.set_write_timeout(Some(self.timeout))?;
                Ok(con)
            });
        match connected {
            Ok(con) => Ok(con),
            Err(e) => {
                *self
                    .refuse_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now() + RETRY_AFTER_FAILURE, e.to_string()));
                self.fell(&e);
                Err(self.unavailable(&e))
            }
        }
    }

    fn give_back(&self, con: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if con.is_open() && idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }

    fn unavailable(&self, e: &RedisError) -> UsageError {
        let reason = if e.is_timeout() {
            format!("no answer within {} ms", self.timeout.as_millis())
        } else {
            e.to_string()
        };
        UsageError::Unavailable {
            server: self.shown.clone(),
            reason,
        }
    }

    /// A connection failed: drop the idle ones too (they point at the same
    /// dead server) and say so once.
    fn fell(&self, e: &RedisError) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                server = %self.shown,
                error = %e,
                "shared counters unavailable: decisions that charge a counter are refused (usage-unavailable) until the server answers again"
            );
        }
    }

    fn up(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            tracing::warn!(server = %self.shown, "shared counters available again");
        }
    }
}

/// Whether the server itself answered with this error (a script error, a
/// wrong type), as opposed to the connection failing.
fn answered(e: &RedisError) -> bool {
    !(e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error())
}
