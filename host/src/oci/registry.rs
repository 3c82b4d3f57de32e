//! A blocking client for one registry: push blobs and manifests, resolve
//! a tag, pull a manifest or a blob with its digest AND size checked and a
//! cap on every read (the registry checks neither sizes nor our caps).
//!
//! Registries on this machine (127.0.0.0/8, `localhost`, `::1`) are
//! spoken to over plain HTTP; every other over HTTPS (rustls on ring,
//! the system's roots). Access is anonymous.

use super::artifact::{Descriptor, OCI_MANIFEST};
use super::digest::Digest;
use super::error::OciError;
use super::reference::OciReference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read may stall.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for the registry of one reference.
pub struct Registry {
    client: oci_client::Client,
    runtime: tokio::runtime::Runtime,
    registry: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for `reference`'s registry.
    pub fn new(reference: &OciReference) -> Result<Self, OciError> {
        crate::tls::init();
        let protocol = if reference.is_loopback() {
            ClientProtocol::HttpsExcept(vec![reference.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..ClientConfig::default()
        };
        let client = oci_client::Client::try_from(config).map_err(|e| OciError::Registry {
            what: "a client".to_owned(),
            why: e.to_string(),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::Io {
                path: std::path::PathBuf::from("(async runtime)"),
                problem: e.to_string(),
            })?;
        Ok(Registry {
            client,
            runtime,
            registry: reference.registry.clone(),
        })
    }

    /// The digest the tag of `reference` points at now.
    pub fn resolve(&self, reference: &OciReference) -> Result<Digest, OciError> {
        let what = reference.to_string();
        let digest = self
            .runtime
            .block_on(
                self.client
                    .fetch_manifest_digest(&reference.to_client(), &RegistryAuth::Anonymous),
            )
            .map_err(|e| self.classify(&what, e))?;
        Digest::parse(&digest).map_err(|why| OciError::Registry { what, why })
    }

    /// The manifest at `reference` (its tag, or its digest, which is then
    /// checked), with the digest of its bytes; `None` if there is none.
    pub fn manifest(
        &self,
        reference: &OciReference,
        cap: u64,
    ) -> Result<Option<(Vec<u8>, Digest)>, OciError> {
        let what = format!("the manifest {reference}");
        let pulled = self.runtime.block_on(self.client.pull_manifest_raw(
            &reference.to_client(),
            &RegistryAuth::Anonymous,
            &[OCI_MANIFEST],
        ));
        let bytes = match pulled {
            Ok((bytes, _)) => bytes.to_vec(),
            Err(e) => match self.classify(&what, e) {
                OciError::NotFound { .. } => return Ok(None),
                OciError::DigestMismatch { actual, .. } => {
                    return Err(OciError::DigestMismatch {
                        what,
                        expected: reference
                            .digest
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        actual,
                    });
                }
                other => return Err(other),
            },
        };
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > cap {
            return Err(OciError::TooLarge { what, size, cap });
        }
        let actual = Digest::of(&bytes);
        if let Some(expected) = &reference.digest
            && *expected != actual
        {
            return Err(OciError::DigestMismatch {
                what,
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(Some((bytes, actual)))
    }

    /// The blob `descriptor` names, refused unless it is exactly
    /// `descriptor.size` bytes (at most `cap`) hashing to its digest.
    pub fn blob(
        &self,
        reference: &OciReference,
        descriptor: &Descriptor,
        what: &str,
        cap: u64,
    ) -> Result<Vec<u8>, OciError> {
        let expected = Digest::parse(&descriptor.digest).map_err(|why| OciError::BadArtifact {
            problem: format!("{what}: {why}"),
        })?;
        if descriptor.size > cap {
            return Err(OciError::TooLarge {
                what: what.to_owned(),
                size: descriptor.size,
                cap,
            });
        }
        let layer = oci_client::manifest::OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let mut sink = Capped {
            bytes: Vec::new(),
            limit: descriptor.size,
            over: false,
        };
        let pulled = self.runtime.block_on(self.client.pull_blob(
            &reference.to_client(),
            &layer,
            &mut sink,
        ));
        if sink.over {
            return Err(OciError::SizeMismatch {
                what: what.to_owned(),
                expected: descriptor.size,
                actual: format!("more than {}", descriptor.size),
            });
        }
        // The digest is checked here whatever the client checked.
        if let Err(e) = pulled {
            match self.classify(what, e) {
                OciError::DigestMismatch { .. } => {}
                other => return Err(other),
            }
        }
        let actual_size = u64::try_from(sink.bytes.len()).unwrap_or(u64::MAX);
        if actual_size != descriptor.size {
            return Err(OciError::SizeMismatch {
                what: what.to_owned(),
                expected: descriptor.size,
                actual: actual_size.to_string(),
            });
        }
        let actual = Digest::of(&sink.bytes);
        if actual != expected {
            return Err(OciError::DigestMismatch {
                what: what.to_owned(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(sink.bytes)
    }

    /// Upload `bytes` as a blob (unless the registry has it already).
    pub fn push_blob(&self, reference: &OciReference, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        let what = format!("the blob {digest}");
        let image = reference.to_client();
        let exists = self
            .runtime
            .block_on(self.client.blob_exists(&image, digest.as_str()))
            .map_err(|e| self.classify(&what, e))?;
        if !exists {
            self.runtime
                .block_on(
                    self.client
                        .push_blob(&image, bytes.to_vec(), digest.as_str()),
                )
                .map_err(|e| self.classify(&what, e))?;
        }
        Ok(digest)
    }

    /// Put manifest `bytes` under `reference`'s tag; the digest of the
    /// bytes.
    pub fn push_manifest(
        &self,
        reference: &OciReference,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let what = format!("the manifest for {reference}");
        let content_type = reqwest::header::HeaderValue::from_static(OCI_MANIFEST);
        self.runtime
            .block_on(self.client.push_manifest_raw(
                &reference.to_client(),
                bytes.to_vec(),
                content_type,
            ))
            .map_err(|e| self.classify(&what, e))?;
        Ok(Digest::of(bytes))
    }

    /// Map the client's error: transport failures are "unreachable",
    /// unknown manifests and blobs "not found", digest checks "mismatch".
    fn classify(&self, what: &str, e: OciDistributionError) -> OciError {
        match e {
            OciDistributionError::RequestError(e)
                if e.is_connect() || e.is_timeout() || e.is_request() =>
            {
                OciError::Unreachable {
                    registry: self.registry.clone(),
                    why: error_chain(&e),
                }
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                OciError::NotFound {
                    what: what.to_owned(),
                }
            }
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound {
                what: what.to_owned(),
            },
            OciDistributionError::DigestError(e) => OciError::DigestMismatch {
                what: what.to_owned(),
                expected: String::new(),
                actual: e.to_string(),
            },
            other => OciError::Registry {
                what: what.to_owned(),
                why: other.to_string(),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A writer that keeps at most `limit` bytes and fails past it.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    over: bool,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let total = self.bytes.len().saturating_add(buf.len());
        if u64::try_from(total).unwrap_or(u64::MAX) > self.limit {
            self.over = true;
            return Poll::Ready(Err(std::io::Error::other(
                "more bytes than the descriptor's size",
            )));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
