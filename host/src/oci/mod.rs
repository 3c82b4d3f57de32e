//! Policy sets in an OCI registry, signed and pinned: `gavel push`
//! publishes a policy directory ([`artifact`]), `gavel sign` attaches an
//! Ed25519 signature in cosign's tag layout ([`signature`]), and
//! `gavel serve --policies oci://...` pulls, verifies and serves it
//! ([`store`], [`source`]), following a tag with `--poll` ([`poll`]).

pub mod artifact;
pub mod base64;
pub mod digest;
pub mod error;
pub mod poll;
pub mod reference;
pub mod registry;
pub mod signature;
pub mod source;
pub mod store;

pub use digest::Digest;
pub use error::OciError;
pub use reference::OciReference;
pub use registry::Registry;
pub use source::PolicySource;
pub use store::Store;
