//! Compiled components, cached on disk so that a restart does not
//! recompile.
//!
//! An artifact is keyed by the component's SHA-256 and the engine's
//! compatibility hash, written once (temporary file, then rename) into
//! `<data-dir>/artifacts/`, and never changed afterwards. It is read like
//! every other file Gavel reads ([`read_regular`]: a regular file only,
//! never more than [`MAX_ARTIFACT_BYTES`]), so a FIFO or a device put in
//! its place costs a recompile, never a hang or a runaway read. Nothing is
//! ever mapped from the policy directory itself.

use crate::bounded_read::read_regular;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The largest compiled artifact read back from the cache, in bytes; a
/// larger one is compiled again instead.
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// Errors from the artifact cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory could not be created.
    #[error("cannot create the artifact cache {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// wasmtime could not compile the component.
    #[error("{0}")]
    Compile(String),
}

/// Where a component came from: cache hit or fresh compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Loaded from the cache.
    Cached,
    /// Compiled now (and written to the cache).
    Compiled,
}

/// The on-disk cache of compiled components.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_hash: String,
}

impl ArtifactCache {
    /// The cache under `data_dir/artifacts` for `engine`.
    pub fn open(data_dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        let dir = data_dir.join("artifacts");
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    /// The artifact path for a component digest (hex SHA-256).
    pub fn path_for(&self, digest_hex: &str) -> PathBuf {
        self.dir
            .join(format!("{digest_hex}-{}.cwasm", self.engine_hash))
    }

    /// Load the compiled form of `bytes` (whose SHA-256 is `digest_hex`):
    /// from the cache if present and loadable, else compile and store it.
    /// A cache that cannot be written only costs speed, never correctness.
    pub fn load(
        &self,
        engine: &Engine,
        digest_hex: &str,
        bytes: &[u8],
    ) -> Result<(Component, ArtifactSource), CacheError> {
        let path = self.path_for(digest_hex);
        match read_regular(&path, MAX_ARTIFACT_BYTES) {
            Ok(artifact) => match deserialize(engine, &artifact) {
                Ok(component) => return Ok((component, ArtifactSource::Cached)),
                Err(e) => {
                    tracing::warn!("ignoring unusable cached artifact {}: {e}", path.display())
                }
            },
            Err(crate::bounded_read::BoundedReadError::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("ignoring cached artifact {}: it {e}", path.display()),
        }
        let component =
            Component::new(engine, bytes).map_err(|e| CacheError::Compile(format!("{e:#}")))?;
        if let Err(e) = self.store(&component, &path) {
            tracing::warn!("cannot write artifact {}: {e}", path.display());
        }
        Ok((component, ArtifactSource::Compiled))
    }

    fn store(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        // Unique per process and per call: concurrent loaders of the same
        // component never write into each other's temporary file.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact");
        let tmp = self.dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, &bytes)?;
        // Rename is atomic: a reader sees no artifact or a whole one.
        std::fs::rename(&tmp, path)
    }
}

#[expect(
    unsafe_code,
    reason = "deserialize loads native code; sound because artifacts are written by this cache (temp file + rename) from wasmtime's own serialization"
)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is the content of a write-once artifact produced by
    // `ArtifactCache::store` for this engine configuration (the name
    // includes the engine's compatibility hash), read into memory that
    // nothing else changes, and wasmtime checks the header and
    // configuration before using it.
    unsafe { Component::deserialize(engine, artifact) }
}
