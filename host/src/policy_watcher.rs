//! [`PolicyWatcher`]: reload the runtime when its policy directory changes.
//!
//! It watches the directory itself (not the files: after an atomic
//! rename-replace a watch on the old file goes silent), and the
//! directories of components that live elsewhere. Any kind of change
//! counts: written in place, replaced by rename, copied in, deleted.
//! Events are debounced, editor temporary files are ignored, and the
//! reload itself skips content whose fingerprint did not change. Reloads
//! run on the watcher's thread, never on a decision's.

use crate::runtime::{ReloadOutcome, Runtime};
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The directory (in the data directory) where `gavel policies rollback`
/// leaves requests for the running runtime.
pub const CONTROL_DIR: &str = "control";
/// The rollback request file: a generation number, or `previous`.
pub const ROLLBACK_FILE: &str = "rollback";

/// The default debounce: events closer together than this are one change.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// Watches a runtime's policy directory and reloads on change. Dropping it
/// stops watching.
pub struct PolicyWatcher {
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    watched: Vec<PathBuf>,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher")
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

impl PolicyWatcher {
    /// Start watching `runtime`'s policy directory.
    pub fn start(runtime: Arc<Runtime>, debounce: Duration) -> Result<Self, notify::Error> {
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        dirs.insert(runtime.dir().to_path_buf());
        for p in runtime.policies().policies() {
            if let Some(parent) = p.entry.component.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        let control = runtime.data_dir().join(CONTROL_DIR);
        std::fs::create_dir_all(&control)?;
        let target = runtime.clone();
        let control_dir = control.clone();
        let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
            match result {
                Ok(events) => {
                    let paths: Vec<&PathBuf> =
                        events.iter().flat_map(|e| e.event.paths.iter()).collect();
                    if paths.iter().any(|p| p.starts_with(&control_dir)) {
                        serve_rollback(&target, &control_dir.join(ROLLBACK_FILE));
                    }
                    let relevant = paths
                        .iter()
                        .any(|p| !p.starts_with(&control_dir) && !is_editor_temporary(p));
                    if relevant {
                        match target.reload() {
                            Ok(ReloadOutcome::Swapped(n)) => {
                                tracing::info!("policy change: generation {n} is live")
                            }
                            Ok(ReloadOutcome::Unchanged) => {
                                tracing::debug!("policy directory touched, content unchanged")
                            }
                            // Already logged, recorded and kept in the status.
                            Err(_) => {}
                        }
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::error!("watching the policy directory: {e}");
                    }
                }
            }
        })?;
        for dir in &dirs {
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
        debouncer.watch(&control, RecursiveMode::NonRecursive)?;
        Ok(PolicyWatcher {
            debouncer,
            watched: dirs.into_iter().collect(),
        })
    }

    /// Stop watching, and wait until the watcher's thread (and its hold on
    /// the runtime) is gone.
    pub fn stop(self) {
        self.debouncer.stop();
    }

    /// The directories watched.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

/// Carry out (and remove) a rollback request left by `gavel policies
/// rollback`; the outcome shows in the status file.
fn serve_rollback(runtime: &Runtime, file: &Path) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    // Removed first: a request is carried out at most once.
    if let Err(e) = std::fs::remove_file(file) {
        tracing::error!("cannot remove the rollback request {}: {e}", file.display());
        return;
    }
    let target = match text.trim() {
        "" | "previous" => None,
        n => match n.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                tracing::error!("rollback request {n:?} is not a generation number");
                return;
            }
        },
    };
    match runtime.rollback(target) {
        Ok(n) => tracing::info!("rolled back: generation {n} is live"),
        Err(e) => tracing::error!("rollback refused: {e}"),
    }
}

/// Editor and tool temporaries that never make a policy change by
/// themselves: `*.tmp`, `*~`, `*.swp`/`*.swx`, `.#*`, `4913` (vim's probe).
pub fn is_editor_temporary(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".tmp")
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_editor_temporaries_only() {
        for temp in [
            "a.tmp",
            "policies.toml~",
            ".policies.toml.swp",
            ".x.swx",
            ".#policies.toml",
            "4913",
        ] {
            assert!(is_editor_temporary(Path::new(temp)), "{temp}");
        }
        for real in ["policies.toml", "a.wasm", "tmp.wasm", "49130"] {
            assert!(!is_editor_temporary(Path::new(real)), "{real}");
        }
    }
}
