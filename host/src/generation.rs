//! A [`Generation`]: one policy set as it went live, with its number, and
//! the fingerprint of the files it was built from.

use crate::bounded_read::{MAX_MANIFEST_BYTES, read_regular, read_regular_text};
use crate::load_error::LoadError;
use crate::log::{LoggedPolicy, Redactor};
use crate::manifest::{MANIFEST_FILE, Manifest, Mode};
use crate::policy_set::PolicySet;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A policy set that is (or was) live.
#[derive(Debug)]
pub struct Generation {
    /// Its number: strictly increasing across loads and restarts.
    pub number: u64,
    /// The policies.
    pub set: PolicySet,
    /// The redaction of its manifest.
    pub redactor: Redactor,
    /// When it went live, UTC milliseconds.
    pub live_since_ms: i64,
    /// SHA-256 over the manifest and every component it names.
    pub fingerprint: [u8; 32],
}

impl std::ops::Deref for Generation {
    type Target = PolicySet;

    fn deref(&self) -> &PolicySet {
        &self.set
    }
}

impl Generation {
    /// The policies as the decision log records them.
    pub fn logged_policies(&self) -> Vec<LoggedPolicy> {
        self.set
            .policies()
            .iter()
            .map(|p| LoggedPolicy {
                name: p.name().to_owned(),
                digest: p.digest.clone(),
                priority: p.entry.priority,
                mode: match p.entry.mode {
                    Mode::Enforce => "enforce".to_owned(),
                    Mode::Shadow => "shadow".to_owned(),
                },
                version: p.metadata.version.clone(),
            })
            .collect()
    }
}

/// A policy directory's files, each read once: the manifest (parsed from
/// the very bytes that were hashed) and every component it names, with
/// the fingerprint of exactly those bytes. Building a set from a snapshot
/// (rather than reading the files again) means the set that goes live is
/// the one the fingerprint describes, even while the files are rewritten.
#[derive(Debug)]
pub struct Snapshot {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Each policy's component bytes, in the order of
    /// `manifest.policies`.
    pub components: Vec<Vec<u8>>,
    /// SHA-256 over the manifest's bytes and every component's.
    pub fingerprint: [u8; 32],
}

impl Snapshot {
    /// Read `dir/policies.toml` and every component it names (each a
    /// regular file under its cap). Any problem is the same [`LoadError`]
    /// a load would give.
    pub fn read(dir: &Path) -> Result<Self, LoadError> {
        read_snapshot(dir, true)
    }
}

/// SHA-256 over a policy directory's manifest and every component it
/// names: equal fingerprints mean nothing a policy set is built from has
/// changed. `None` when the manifest cannot be read or parsed, or a
/// component cannot be read (a reload then reports the actual problem).
pub fn fingerprint(dir: &Path) -> Option<[u8; 32]> {
    read_snapshot(dir, false).ok().map(|s| s.fingerprint)
}

/// Read the manifest once, parse those bytes, hash them and every
/// component; keep the components' bytes if `keep`.
fn read_snapshot(dir: &Path, keep: bool) -> Result<Snapshot, LoadError> {
    let file = dir.join(MANIFEST_FILE);
    let text = read_regular_text(&file, MAX_MANIFEST_BYTES).map_err(|e| LoadError::Manifest {
        file: file.clone(),
        problem: format!("the manifest {e}"),
    })?;
    let manifest = Manifest::parse(&text, &file)?;
    let mut h = Sha256::new();
    h.update(len_bytes(text.len()));
    h.update(text.as_bytes());
    let mut components = Vec::new();
    for p in &manifest.policies {
        let bytes =
            read_regular(&p.component, p.max_component_bytes).map_err(|e| LoadError::Policy {
                file: file.clone(),
                policy: p.name.clone(),
                problem: format!("component {} {e}", p.component.display()),
            })?;
        h.update(len_bytes(bytes.len()));
        h.update(Sha256::digest(&bytes));
        if keep {
            components.push(bytes);
        }
    }
    Ok(Snapshot {
        manifest,
        components,
        fingerprint: h.finalize().into(),
    })
}

fn len_bytes(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(manifest: &str, component: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), manifest).unwrap();
        std::fs::write(dir.path().join("a.wasm"), component).unwrap();
        dir
    }

    const ONE: &str = "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n";

    #[test]
    fn a_snapshot_holds_the_bytes_it_fingerprints() {
        let dir = dir_with(ONE, b"\0asm component");
        let s = Snapshot::read(dir.path()).unwrap();
        assert_eq!(s.components, vec![b"\0asm component".to_vec()]);
        assert_eq!(Some(s.fingerprint), fingerprint(dir.path()));
        std::fs::write(dir.path().join("a.wasm"), b"\0asm changed").unwrap();
        assert_ne!(Some(s.fingerprint), fingerprint(dir.path()));
    }

    /// Rows: what the directory holds, and the fragment the error names.
    #[test]
    fn unreadable_states_have_no_fingerprint() {
        let rows: &[(&str, &str)] = &[
            ("", "empty (0 bytes)"),
            ("# only a comment\n", "names no policy"),
            ("[[policy]]\nname = \"a\"\ncompo", "line 3"),
        ];
        for (manifest, fragment) in rows {
            let dir = dir_with(manifest, b"\0asm");
            assert_eq!(fingerprint(dir.path()), None, "{manifest:?}");
            let e = Snapshot::read(dir.path()).unwrap_err().to_string();
            assert!(e.contains(fragment), "{manifest:?}: {e}");
        }
        // A component that is a device is refused, not read forever.
        let dir = dir_with(ONE, b"");
        std::fs::remove_file(dir.path().join("a.wasm")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("a.wasm")).unwrap();
        let e = Snapshot::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a.wasm is not a regular file"), "{e}");
        assert_eq!(fingerprint(dir.path()), None);
    }
}
