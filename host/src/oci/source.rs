//! A policy source in a registry, as `gavel serve --policies oci://...`
//! takes it: a pinned digest (served without the registry once it is
//! verified locally), or a tag followed with `--poll`. At least one
//! trusted key is required; nothing unsigned is served.

use super::digest::Digest;
use super::error::OciError;
use super::poll::Poller;
use super::reference::OciReference;
use super::registry::Registry;
use super::signature::read_public_key;
use super::store::Store;
use crate::runtime::Runtime;
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A registry policy source, checked.
#[derive(Debug, Clone)]
pub struct PolicySource {
    reference: OciReference,
    keys: Vec<VerifyingKey>,
    poll: Option<Duration>,
    store: Store,
}

impl PolicySource {
    /// Check `reference` with its trusted keys (public key files) and the
    /// poll interval: a tag needs `--poll`, `--poll` needs a tag, and at
    /// least one key is needed.
    pub fn new(
        reference: &str,
        trust_keys: &[PathBuf],
        poll: Option<Duration>,
        data_dir: &Path,
    ) -> Result<Self, OciError> {
        let parsed = OciReference::parse(reference)?;
        if parsed.digest.is_none() && poll.is_none() {
            return Err(OciError::NotPinned {
                reference: reference.to_owned(),
            });
        }
        if poll.is_some() && parsed.tag.is_none() {
            return Err(OciError::BadReference {
                reference: reference.to_owned(),
                problem: "names no tag for --poll to follow (give HOST/REPO:TAG, optionally @sha256:... to start from)".to_owned(),
            });
        }
        if trust_keys.is_empty() {
            return Err(OciError::Key {
                path: PathBuf::from("--trust-key"),
                problem: "a policy set from a registry is served only if signed: give --trust-key FILE (a public key, e.g. FILE.pub from `gavel sign --generate-key FILE`)".to_owned(),
            });
        }
        let keys = trust_keys
            .iter()
            .map(|k| read_public_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicySource {
            reference: parsed,
            keys,
            poll,
            store: Store::new(data_dir),
        })
    }

    /// The policy directory to start with, and its digest: the pinned
    /// digest (or the tag's, resolved now), verified locally or pulled and
    /// verified. When polling, the directory is the store's `live` link.
    pub fn open(&self) -> Result<(PathBuf, Digest), OciError> {
        let registry = Registry::new(&self.reference)?;
        let digest = match &self.reference.digest {
            Some(d) => d.clone(),
            None => registry.resolve(&self.reference)?,
        };
        let dir = self
            .store
            .obtain(&registry, &self.reference, &digest, &self.keys)?;
        if self.poll.is_some() {
            return Ok((self.store.point_live(&digest)?, digest));
        }
        Ok((dir, digest))
    }

    /// With `--poll`: follow the tag from `live` on.
    pub fn follow(&self, runtime: Arc<Runtime>, live: Digest) -> Result<Option<Poller>, OciError> {
        let Some(every) = self.poll else {
            return Ok(None);
        };
        Poller::start(
            runtime,
            self.reference.clone(),
            self.keys.clone(),
            self.store.clone(),
            live,
            every,
        )
        .map(Some)
    }
}
