//! A [`Generation`]: one policy set as it went live, with its number, and
//! the fingerprint of the files it was built from.

use crate::log::{LoggedPolicy, Redactor};
use crate::manifest::{Manifest, Mode};
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

/// SHA-256 over a policy directory's manifest and every component it
/// names: equal fingerprints mean nothing a policy set is built from has
/// changed. `None` when the manifest cannot be read or parsed, or a
/// component is missing (a reload then reports the actual problem).
pub fn fingerprint(dir: &Path) -> Option<[u8; 32]> {
    let manifest = Manifest::load(dir).ok()?;
    let mut h = Sha256::new();
    let text = std::fs::read(&manifest.file).ok()?;
    h.update((text.len() as u64).to_be_bytes());
    h.update(&text);
    for p in &manifest.policies {
        let bytes = std::fs::read(&p.component).ok()?;
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(Sha256::digest(&bytes));
    }
    Some(h.finalize().into())
}
