//! Following a tag: on each poll, resolve the tag; a new digest is
//! pulled, verified (signature by a trusted key, every digest and size)
//! and swapped in through the runtime's reload (checks, generations,
//! rollback). A refused digest is logged and kept as the status's last
//! rejected change, once per digest and reason; the live set stays. An
//! unreachable registry keeps the node serving what it has, with one log
//! line when it goes away and one when it is back.

use super::digest::Digest;
use super::error::OciError;
use super::reference::OciReference;
use super::registry::Registry;
use super::store::Store;
use crate::load_error::LoadError;
use crate::runtime::{ReloadOutcome, Runtime};
use ed25519_dalek::VerifyingKey;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running poller; [`Poller::stop`] ends it.
#[derive(Debug)]
pub struct Poller {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// What the poller last saw (a log line is written when it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The tag is at the live digest.
    Following,
    /// The registry cannot be reached.
    Unreachable,
    /// The registry answered with an error about the tag.
    Failing(String),
    /// This digest was refused for this reason (it is tried again on the
    /// next poll: a signature may be attached later).
    Refused(Digest, String),
    /// The runtime refused this digest's policy set (not tried again).
    Rejected(Digest),
}

struct Follower {
    runtime: Arc<Runtime>,
    registry: Registry,
    reference: OciReference,
    keys: Vec<VerifyingKey>,
    store: Store,
    live: Digest,
    state: State,
}

impl Poller {
    /// Follow `reference`'s tag every `every`, starting from `live` (the
    /// digest the runtime serves now).
    pub fn start(
        runtime: Arc<Runtime>,
        reference: OciReference,
        keys: Vec<VerifyingKey>,
        store: Store,
        live: Digest,
        every: Duration,
    ) -> Result<Self, OciError> {
        let registry = Registry::new(&reference)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let mut follower = Follower {
            runtime,
            registry,
            reference,
            keys,
            store,
            live,
            state: State::Following,
        };
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gavel-oci-poll".to_owned())
            .spawn(move || {
                let (lock, wake) = &*stopping;
                loop {
                    let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = wake
                        .wait_timeout_while(guard, every, |stopped| !*stopped)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                    drop(guard);
                    follower.poll();
                }
            })
            .map_err(|e| OciError::Io {
                path: PathBuf::from("(poll thread)"),
                problem: e.to_string(),
            })?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    /// Stop polling (waits for a poll in progress).
    pub fn stop(mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Follower {
    fn poll(&mut self) {
        let digest = match self.registry.resolve(&self.reference) {
            Ok(d) => d,
            Err(e) if e.is_unreachable() => return self.unreachable(&e),
            Err(e) => {
                let state = State::Failing(e.to_string());
                if self.state != state {
                    eprintln!(
                        "gavel: cannot resolve {}: {e}; still serving {}",
                        self.reference, self.live
                    );
                    self.state = state;
                }
                return;
            }
        };
        if digest == self.live {
            if self.state != State::Following {
                eprintln!(
                    "gavel: the registry {} answers again; {} is still {}",
                    self.reference.registry, self.reference, digest
                );
                self.state = State::Following;
            }
            return;
        }
        if self.state == State::Rejected(digest.clone()) {
            return;
        }
        let obtained = self
            .store
            .obtain(&self.registry, &self.reference, &digest, &self.keys);
        match obtained {
            Ok(_) => {}
            Err(e) if e.is_unreachable() => return self.unreachable(&e),
            Err(e) => return self.refuse(&digest, &e),
        }
        let store = &self.store;
        let reloaded = self.runtime.reload_prepared(|| {
            store
                .point_live(&digest)
                .map(|_| ())
                .map_err(|e| LoadError::Manifest {
                    file: store.dir(&digest),
                    problem: e.to_string(),
                })
        });
        match reloaded {
            Ok(ReloadOutcome::Swapped(n)) => {
                eprintln!(
                    "gavel: {} moved to {digest}; generation {n} is live",
                    self.reference
                );
                self.live = digest;
                self.state = State::Following;
            }
            Ok(ReloadOutcome::Unchanged) => {
                self.live = digest;
                self.state = State::Following;
            }
            Err(e) => {
                // Refused by the runtime (already logged and kept in the
                // status): point back at what is live.
                eprintln!(
                    "gavel: {digest} from {} was refused: {e}; still serving {}",
                    self.reference, self.live
                );
                if let Err(e) = self.store.point_live(&self.live) {
                    tracing::error!("cannot point back at the live set: {e}");
                }
                self.state = State::Rejected(digest);
            }
        }
    }

    fn unreachable(&mut self, e: &OciError) {
        if self.state != State::Unreachable {
            eprintln!(
                "gavel: {e}; still serving generation {} ({})",
                self.runtime.generation(),
                self.live
            );
            self.state = State::Unreachable;
        }
    }

    /// Log and record a refused digest, once per digest and reason.
    fn refuse(&mut self, digest: &Digest, e: &OciError) {
        let state = State::Refused(digest.clone(), e.to_string());
        if self.state == state {
            return;
        }
        eprintln!(
            "gavel: refused {digest} from {}: {e}; still serving {}",
            self.reference, self.live
        );
        let source = PathBuf::from(self.reference.at_digest(digest).to_string());
        // Kept as the status's last rejected change (and logged).
        let _ = self.runtime.reload_prepared(|| {
            Err(LoadError::Manifest {
                file: source,
                problem: e.to_string(),
            })
        });
        self.state = state;
    }
}
