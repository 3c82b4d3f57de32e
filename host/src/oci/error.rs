//! Why a policy set could not be published, signed, pulled or served
//! from an OCI registry. Every refusal leaves the live set as it is.

use std::path::PathBuf;

/// A refused OCI operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    /// The reference is malformed.
    #[error("the reference `{reference}` {problem}")]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        problem: String,
    },
    /// A tag without a digest, where a pinned digest is required.
    #[error(
        "`{reference}` names a tag but no digest: serve a pinned digest (`oci://HOST/REPO@sha256:...`), or follow the tag with --poll"
    )]
    NotPinned {
        /// The reference as given.
        reference: String,
    },
    /// The registry could not be reached (connection, timeout).
    #[error("the registry {registry} is unreachable: {why}")]
    Unreachable {
        /// `host[:port]`.
        registry: String,
        /// The transport error.
        why: String,
    },
    /// The registry answered with an error.
    #[error("the registry refused {what}: {why}")]
    Registry {
        /// What was asked for.
        what: String,
        /// Its answer.
        why: String,
    },
    /// Nothing at that reference.
    #[error("{what} is not in the registry")]
    NotFound {
        /// What was asked for.
        what: String,
    },
    /// No signature is attached to the digest.
    #[error(
        "{digest} is not signed: no signature at the tag {tag} (sign it with `gavel sign`); it is not served"
    )]
    Unsigned {
        /// The manifest digest.
        digest: String,
        /// The signature tag looked for.
        tag: String,
    },
    /// Signatures exist, but none is valid under a trusted key for this
    /// digest.
    #[error("{digest} has no valid signature by a trusted key ({why}); it is not served")]
    BadSignature {
        /// The manifest digest.
        digest: String,
        /// Why each signature was refused.
        why: String,
    },
    /// Bytes that do not hash to the digest that names them.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The manifest, a layer, the config.
        what: String,
        /// The descriptor's digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// Bytes of another size than the descriptor says.
    #[error("size mismatch for {what}: the descriptor says {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The manifest, a layer, the config.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes received (or a lower bound, when cut off).
        actual: String,
    },
    /// A blob over its cap.
    #[error("{what} is {size} bytes, over the limit of {cap} bytes")]
    TooLarge {
        /// The manifest, a layer, the config.
        what: String,
        /// Its declared size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The artifact is not a Gavel policy set as `gavel push` writes it.
    #[error("not a Gavel policy set: {problem}")]
    BadArtifact {
        /// What is wrong.
        problem: String,
    },
    /// The policy directory cannot be published (it would not load).
    #[error("the policy set would not load: {0}")]
    Policies(String),
    /// A key file is missing or malformed.
    #[error("key file {}: {problem}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Reading or writing the local store failed.
    #[error("{}: {problem}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        problem: String,
    },
}

impl OciError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        OciError::Io {
            path: path.to_path_buf(),
            problem: e.to_string(),
        }
    }

    /// Whether this is the registry being out of reach (a polling node
    /// keeps serving and retries; not a refusal of the content).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, OciError::Unreachable { .. })
    }
}
