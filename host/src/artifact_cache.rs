//! Compiled components, cached on disk so that a restart does not
//! recompile.
//!
//! An artifact is keyed by the component's SHA-256 and the engine's
//! compatibility hash, written once (temporary file, then rename) into
//! `<data-dir>/artifacts/`, and never changed afterwards. That is what
//! makes memory-mapping it with `Component::deserialize_file` sound: the
//! file never changes while it is loaded. Nothing is ever mapped from the
//! policy directory itself.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

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
        if path.is_file() {
            match deserialize(engine, &path) {
                Ok(component) => return Ok((component, ArtifactSource::Cached)),
                Err(e) => {
                    tracing::warn!("ignoring unusable cached artifact {}: {e}", path.display())
                }
            }
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
    reason = "deserialize_file maps native code; sound because artifacts are written once by this cache (temp file + rename) and never modified"
)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `path` is a write-once artifact produced by `ArtifactCache::store`
    // for this engine configuration (the name includes the engine's
    // compatibility hash), and wasmtime checks the header and configuration
    // before using it.
    unsafe { Component::deserialize_file(engine, path) }
}
