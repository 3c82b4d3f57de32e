//! [`PolicyWatcher`]: reload the runtime when its policy directory changes.
//!
//! It watches the directory itself (not the files: after an atomic
//! rename-replace a watch on the old file goes silent), and the
//! directories of components that live elsewhere. Any kind of change
//! counts: written in place, replaced by rename, copied in, deleted.
//! Events are debounced, editor temporary files are ignored, and the
//! reload itself skips content whose fingerprint did not change. Reloads
//! run on a reload thread of their own, never on a decision's, and never
//! on the thread that serves rollback requests: a reload that hangs (a slow
//! disk, a long compile) cannot hold up `gavel policies rollback`.
//!
//! A write in place (`cat > policies.toml`, `cp`, most editors) truncates
//! the file first and fills it afterwards, so for a moment the directory
//! holds an empty or half-written manifest. After the debounce the watcher
//! therefore waits for the directory to *settle*: it reads the manifest and
//! the components it names again, a short interval apart, until two
//! consecutive reads agree (for a bounded number of reads). A directory
//! that does not settle is left for the change events still to come, and
//! an empty (0-byte) manifest is reported and ignored: the live set stays.

use crate::bounded_read::{BoundedReadError, MAX_MANIFEST_BYTES, read_regular, read_regular_text};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::runtime::{ReloadOutcome, Runtime};
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The directory (in the data directory) where `gavel policies rollback`
/// leaves requests for the running runtime.
pub const CONTROL_DIR: &str = "control";
/// The rollback request file: a generation number, or `previous`.
pub const ROLLBACK_FILE: &str = "rollback";

/// The default debounce: events closer together than this are one change.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// The interval between two reads of the directory while it settles.
pub const SETTLE_INTERVAL: Duration = Duration::from_millis(50);
/// The most reads while waiting for the directory to settle (about one
/// second at [`SETTLE_INTERVAL`]).
pub const SETTLE_READS: usize = 20;

/// The largest rollback request read (a generation number or `previous`).
const MAX_ROLLBACK_REQUEST_BYTES: u64 = 1024;

/// Watches a runtime's policy directory and reloads on change. Dropping it
/// stops watching.
pub struct PolicyWatcher {
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    reloads: ReloadThread,
    watched: Vec<PathBuf>,
}

/// The reload thread: woken by the watcher, it lets the directory settle
/// and reloads; a change that arrives during a reload wakes it once more.
struct ReloadThread {
    signal: Arc<(Mutex<ReloadSignal>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct ReloadSignal {
    wanted: bool,
    stop: bool,
}

impl ReloadThread {
    fn start(runtime: Arc<Runtime>) -> std::io::Result<Self> {
        let signal: Arc<(Mutex<ReloadSignal>, Condvar)> = Arc::default();
        let theirs = signal.clone();
        let thread = std::thread::Builder::new()
            .name("gavel-reload".to_owned())
            .spawn(move || {
                let (lock, wake) = &*theirs;
                loop {
                    {
                        let mut s = lock.lock().unwrap_or_else(PoisonError::into_inner);
                        while !s.wanted && !s.stop {
                            s = wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                        }
                        if s.stop {
                            return;
                        }
                        s.wanted = false;
                    }
                    if settled(&runtime) {
                        reload(&runtime);
                    }
                }
            })?;
        Ok(ReloadThread {
            signal,
            thread: Some(thread),
        })
    }

    fn request(signal: &(Mutex<ReloadSignal>, Condvar)) {
        let (lock, wake) = signal;
        lock.lock().unwrap_or_else(PoisonError::into_inner).wanted = true;
        wake.notify_one();
    }
}

impl Drop for ReloadThread {
    /// Stop the thread and wait for it (and its hold on the runtime) to go;
    /// a reload under way finishes first.
    fn drop(&mut self) {
        {
            let (lock, wake) = &*self.signal;
            lock.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the policy reload thread panicked");
        }
    }
}

fn reload(runtime: &Runtime) {
    match runtime.reload() {
        Ok(ReloadOutcome::Swapped(n)) => tracing::info!("policy change: generation {n} is live"),
        Ok(ReloadOutcome::Unchanged) => {
            tracing::debug!("policy directory touched, content unchanged")
        }
        // Already logged, recorded and kept in the status (a refused
        // change, or one set aside by a rollback made while it loaded).
        Err(_) => {}
    }
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
        let reloads = ReloadThread::start(runtime.clone())?;
        let signal = reloads.signal.clone();
        let mut debouncer =
            new_debouncer(
                debounce,
                None,
                move |result: DebounceEventResult| match result {
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
                            ReloadThread::request(&signal);
                        }
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::error!("watching the policy directory: {e}");
                        }
                    }
                },
            )?;
        for dir in &dirs {
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
        debouncer.watch(&control, RecursiveMode::NonRecursive)?;
        Ok(PolicyWatcher {
            debouncer,
            reloads,
            watched: dirs.into_iter().collect(),
        })
    }

    /// Stop watching, and wait until the watcher's thread (and its hold on
    /// the runtime) is gone.
    pub fn stop(self) {
        self.debouncer.stop();
        drop(self.reloads);
    }

    /// The directories watched.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

/// What one read of a policy directory saw: the manifest's length and
/// digest (or why it could not be read) and, for each component the
/// manifest names, its length, modification time and identity as `stat`
/// gives them (`None` when the manifest does not parse). Two equal reads a
/// short interval apart mean no write was under way. Components are
/// compared by `stat`, not by content: hashing an 18 MB component twice per
/// change would add tens of milliseconds to every reload, and a write in
/// place moves its length or modification time (nanoseconds) anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryState {
    /// The manifest's length in bytes, or why it could not be read.
    pub manifest: Result<usize, String>,
    manifest_digest: [u8; 32],
    components: Option<Vec<Result<FileStamp, String>>>,
}

/// A file as `stat` sees it: enough to tell that it was written or
/// replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified_ns: i128,
    inode: u64,
    device: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self, String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| e.to_string())?;
        Ok(FileStamp {
            len: m.len(),
            modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            inode: m.ino(),
            device: m.dev(),
        })
    }
}

impl DirectoryState {
    /// Read `dir` now.
    pub fn read(dir: &Path) -> Self {
        let file = dir.join(MANIFEST_FILE);
        let (manifest, manifest_digest, components) = match read_regular(&file, MAX_MANIFEST_BYTES)
        {
            Ok(bytes) => {
                let components = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|text| Manifest::parse(text, &file).ok())
                    .map(|m| {
                        m.policies
                            .iter()
                            .map(|p| FileStamp::of(&p.component))
                            .collect()
                    });
                (Ok(bytes.len()), Sha256::digest(&bytes).into(), components)
            }
            Err(e) => (Err(e.to_string()), [0; 32], None),
        };
        DirectoryState {
            manifest,
            manifest_digest,
            components,
        }
    }

    /// The manifest is there and holds 0 bytes: a write in place caught
    /// between truncating and writing.
    pub fn empty_manifest(&self) -> bool {
        self.manifest == Ok(0)
    }
}

/// Read with `read` until two consecutive reads agree, calling `pause`
/// between reads, at most `reads` times; the settled state, or `None`.
pub fn settle<T: PartialEq>(
    mut read: impl FnMut() -> T,
    mut pause: impl FnMut(),
    reads: usize,
) -> Option<T> {
    let mut last = read();
    for _ in 1..reads {
        pause();
        let now = read();
        if now == last {
            return Some(now);
        }
        last = now;
    }
    None
}

/// Whether the runtime's directory has settled into a state worth a
/// reload: it stopped changing, and its manifest is not empty. Logs why
/// not.
fn settled(runtime: &Runtime) -> bool {
    let dir = runtime.dir();
    let state = settle(
        || DirectoryState::read(dir),
        || std::thread::sleep(SETTLE_INTERVAL),
        SETTLE_READS,
    );
    match state {
        None => {
            tracing::warn!(
                "{} is still changing after {SETTLE_READS} reads; waiting for the next change (generation {} stays live)",
                dir.display(),
                runtime.generation()
            );
            false
        }
        Some(state) if state.empty_manifest() => {
            tracing::warn!(
                "{} is empty (0 bytes): ignored as a write in progress; generation {} stays live. \
                 A manifest names at least one [[policy]] (or says `approve_all = true`)",
                dir.join(MANIFEST_FILE).display(),
                runtime.generation()
            );
            false
        }
        Some(_) => true,
    }
}

/// Carry out (and remove) a rollback request left by `gavel policies
/// rollback`; the outcome shows in the status file.
fn serve_rollback(runtime: &Runtime, file: &Path) {
    let text = match read_regular_text(file, MAX_ROLLBACK_REQUEST_BYTES) {
        Ok(text) => text,
        Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!("ignoring the rollback request {}: it {e}", file.display());
            if let Err(e) = std::fs::remove_file(file) {
                tracing::error!("cannot remove the rollback request {}: {e}", file.display());
            }
            return;
        }
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

    /// Rows: the successive reads of a directory, the reads allowed, and
    /// the settled state (`None`: it never settled).
    #[test]
    fn settles_on_two_equal_consecutive_reads() {
        let rows: &[(&[u32], usize, Option<u32>)] = &[
            (&[1, 1], 20, Some(1)),
            (&[0, 1, 1], 20, Some(1)),
            (&[0, 0, 1], 20, Some(0)),
            (&[1, 2, 1, 2, 3, 3], 20, Some(3)),
            (&[1, 2, 3, 4], 4, None),
            (&[1, 2, 2], 2, None),
            (&[7], 1, None),
        ];
        for (reads, allowed, expected) in rows {
            let mut next = reads.iter().copied();
            let mut pauses = 0;
            let got = settle(|| next.next().unwrap_or(u32::MAX), || pauses += 1, *allowed);
            assert_eq!(got, *expected, "{reads:?} with {allowed} reads");
            assert!(pauses < *allowed, "{reads:?}: {pauses} pauses");
        }
    }

    #[test]
    fn an_empty_manifest_is_seen_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let rows: &[(&[u8], bool)] = &[(b"", true), (b"\n", false), (b"# comment\n", false)];
        for (text, empty) in rows {
            std::fs::write(&path, text).unwrap();
            let state = DirectoryState::read(dir.path());
            assert_eq!(state.empty_manifest(), *empty, "{text:?}");
            assert_eq!(state.components, None, "{text:?} names no policy");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(!DirectoryState::read(dir.path()).empty_manifest());
    }

    /// A component written in place between two reads is seen; one left
    /// alone reads the same.
    #[test]
    fn a_component_written_between_reads_changes_the_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n",
        )
        .unwrap();
        let component = dir.path().join("a.wasm");
        std::fs::write(&component, b"\0asm one").unwrap();
        let first = DirectoryState::read(dir.path());
        assert!(matches!(&first.components, Some(c) if c.len() == 1 && c[0].is_ok()));
        assert_eq!(DirectoryState::read(dir.path()), first);
        // Same length, new content: the modification time moves.
        std::thread::sleep(Duration::from_millis(5));
        std::fs::write(&component, b"\0asm two").unwrap();
        assert_ne!(DirectoryState::read(dir.path()), first);
        // Truncated (a write in place under way).
        let before = DirectoryState::read(dir.path());
        std::fs::write(&component, b"").unwrap();
        assert_ne!(DirectoryState::read(dir.path()), before);
        // Missing.
        std::fs::remove_file(&component).unwrap();
        let missing = DirectoryState::read(dir.path());
        assert!(matches!(&missing.components, Some(c) if c[0].is_err()));
    }

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
