//! Signatures over a policy set's manifest digest, in cosign's tag layout:
//! an OCI manifest at the tag `sha256-<hex>.sig` of the same repository,
//! one layer per signature, each layer's blob a "simple signing" JSON
//! payload naming the signed digest, and the Ed25519 signature over the
//! payload's bytes (base64) in the layer annotation
//! `dev.cosignproject.cosign/signature`. The scheme is known out of band
//! (Ed25519, the `--trust-key` files), as cosign's spec allows.
//!
//! Keys use the decision log's key format: a file of 64 hex digits (the
//! 32-byte secret, mode 0600) and its public half, 64 hex digits, in
//! `FILE.pub`.

use super::artifact::{Descriptor, ImageManifest, OCI_MANIFEST};
use super::base64;
use super::digest::Digest;
use super::error::OciError;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The media type of a signature layer (cosign's).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature (cosign's).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of Gavel's payloads.
pub const SIGNATURE_TYPE: &str = "gavel policy signature";
/// The artifact type of a signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.gavel.policies.signature.v1";
/// The empty config of a signature manifest.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Most signatures read from one signature manifest.
pub const MAX_SIGNATURES: usize = 16;
/// The largest payload read.
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 10;

/// The tag holding the signatures of `digest`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// The payload that signs `digest` of the repository `repository`
/// (`host[:port]/repo`).
pub fn payload(repository: &str, digest: &Digest) -> Vec<u8> {
    let value = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest.as_str()},
            "type": SIGNATURE_TYPE,
        },
        "optional": null,
    });
    value.to_string().into_bytes()
}

/// `Ok` if `payload` is Gavel's and names exactly `digest`.
pub fn check_payload(payload: &[u8], digest: &Digest) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let critical = value
        .get("critical")
        .ok_or("the payload has no `critical` object")?;
    let kind = critical.get("type").and_then(|t| t.as_str());
    if kind != Some(SIGNATURE_TYPE) {
        return Err(format!(
            "the payload's type is {kind:?}, not `{SIGNATURE_TYPE}`"
        ));
    }
    let image = critical
        .get("image")
        .ok_or("the payload has no `critical.image`")?;
    // sigstore writes the lowercase key; the spec's prose shows it capitalised.
    let named = image
        .get("docker-manifest-digest")
        .or_else(|| image.get("Docker-manifest-digest"))
        .and_then(|d| d.as_str())
        .ok_or("the payload names no docker-manifest-digest")?;
    if named != digest.as_str() {
        return Err(format!("the payload signs {named}, not {digest}"));
    }
    Ok(())
}

/// The base64 Ed25519 signature of `payload`.
pub fn sign(key: &SigningKey, payload: &[u8]) -> String {
    base64::encode(&key.sign(payload).to_bytes())
}

/// `Ok(index of the key)` if `signature` (base64) over `payload` verifies
/// under one of `keys`.
pub fn verify(keys: &[VerifyingKey], payload: &[u8], signature: &str) -> Result<usize, String> {
    let bytes = base64::decode(signature.trim()).ok_or("the signature is not base64")?;
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| "the signature is not 64 bytes (Ed25519)".to_owned())?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    keys.iter()
        .position(|k| k.verify(payload, &signature).is_ok())
        .ok_or_else(|| "the signature does not verify under any trusted key".to_owned())
}

/// One signature as stored: the payload and its base64 signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    /// The payload's bytes, as text (it is JSON).
    pub payload: String,
    /// The base64 signature over them.
    pub signature: String,
}

impl SignatureRecord {
    /// `Ok` if this signs exactly `digest` under one of `keys`.
    pub fn check(&self, digest: &Digest, keys: &[VerifyingKey]) -> Result<(), String> {
        verify(keys, self.payload.as_bytes(), &self.signature)?;
        check_payload(self.payload.as_bytes(), digest)
    }
}

/// The signature manifest holding `signatures` (payload descriptors with
/// their annotations already set), and the empty config's bytes.
pub fn signature_manifest(subject: &Descriptor, layers: Vec<Descriptor>) -> (Vec<u8>, Vec<u8>) {
    let config = b"{}".to_vec();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_owned()),
        config: Descriptor::of(EMPTY_CONFIG, &config, None),
        layers,
        subject: Some(subject.clone()),
        annotations: None,
    };
    (manifest.to_bytes(), config)
}

/// A signature layer's descriptor: the payload blob with its signature.
pub fn signature_layer(payload: &[u8], signature: &str) -> Descriptor {
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature.to_owned())]);
    Descriptor::of(SIMPLE_SIGNING, payload, Some(annotations))
}

/// Write a new key pair: `path` (the secret, hex, mode 0600; never
/// overwritten) and `path.pub` (the public key, hex).
pub fn generate_key(path: &Path) -> Result<VerifyingKey, OciError> {
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| key_error(path, format!("cannot create: {e}")))?;
    writeln!(file, "{}", hex::encode(secret))
        .and_then(|()| file.sync_all())
        .map_err(|e| key_error(path, format!("cannot write: {e}")))?;
    let public = public_key_path(path);
    std::fs::write(
        &public,
        format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
    )
    .map_err(|e| key_error(&public, format!("cannot write: {e}")))?;
    Ok(key.verifying_key())
}

/// Where the public half of the key in `path` is written.
pub fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Read a signing key file (hex, readable by its owner only).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, OciError> {
    let meta = std::fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
    crate::log::keys::owner_only(&meta).map_err(|e| key_error(path, e))?;
    let text = crate::bounded_read::read_regular_text(path, 4096)
        .map_err(|e| key_error(path, e.to_string()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .map_err(|e| key_error(path, format!("not hex: {e}")))?
        .try_into()
        .map_err(|_| key_error(path, "must hold 32 bytes of hex".to_owned()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Read a public key file (hex), as `--trust-key` names it.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, OciError> {
    crate::log::keys::read_public_key(path).map_err(|e| key_error(path, e.to_string()))
}

fn key_error(path: &Path, problem: String) -> OciError {
    OciError::Key {
        path: path.to_path_buf(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    #[test]
    fn a_signature_checks_only_for_its_digest_and_keys() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let d = digest(1);
        let p = payload("127.0.0.1:5000/p", &d);
        let good = SignatureRecord {
            payload: String::from_utf8(p.clone()).unwrap(),
            signature: sign(&key, &p),
        };
        let trusted = [key.verifying_key()];
        assert_eq!(good.check(&d, &trusted), Ok(()));
        // Rows: a changed record, and the fragment of its refusal.
        let other_payload = payload("127.0.0.1:5000/p", &digest(2));
        let mut corrupted = good.signature.clone().into_bytes();
        corrupted[3] = if corrupted[3] == b'A' { b'B' } else { b'A' };
        let rows = [
            (
                SignatureRecord {
                    signature: sign(&other, &p),
                    ..good.clone()
                },
                "any trusted key",
            ),
            (
                SignatureRecord {
                    signature: String::from_utf8(corrupted).unwrap(),
                    ..good.clone()
                },
                "any trusted key",
            ),
            (
                SignatureRecord {
                    signature: "!!".into(),
                    ..good.clone()
                },
                "not base64",
            ),
            (
                SignatureRecord {
                    payload: String::from_utf8(other_payload.clone()).unwrap(),
                    signature: sign(&key, &other_payload),
                },
                "not sha256:",
            ),
            (
                SignatureRecord {
                    payload: "{\"critical\":{\"type\":\"x\"}}".into(),
                    signature: sign(&key, b"{\"critical\":{\"type\":\"x\"}}"),
                },
                "type",
            ),
        ];
        for (record, fragment) in rows {
            let e = record.check(&d, &trusted).unwrap_err();
            assert!(e.contains(fragment), "{e}");
        }
    }

    #[test]
    fn generated_keys_round_trip_and_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let public = generate_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_signing_key(&path).unwrap().verifying_key(), public);
        assert_eq!(read_public_key(&public_key_path(&path)).unwrap(), public);
        // Never overwritten.
        assert!(generate_key(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_signing_key(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
