//! The local store of pulled policy sets: `<data-dir>/oci/<digest-hex>/`,
//! each a policy directory plus its own records in `.gavel-oci/` (the OCI
//! manifest's bytes and the signature that was verified). A set is pulled
//! into a temporary directory and renamed into place whole, so a store
//! directory is complete or absent. `<data-dir>/oci/live` is a symlink to
//! the set a polling node serves.

use super::artifact::{
    ImageManifest, MAX_CONFIG_BYTES, MAX_OCI_MANIFEST_BYTES, PolicyLayout, STORE_RECORDS,
};
use super::digest::Digest;
use super::error::OciError;
use super::reference::OciReference;
use super::registry::Registry;
use super::signature::{
    MAX_PAYLOAD_BYTES, MAX_SIGNATURES, SIGNATURE_ANNOTATION, SIMPLE_SIGNING, SignatureRecord,
    signature_tag,
};
use crate::bounded_read::{BoundedReadError, MAX_MANIFEST_BYTES, read_regular};
use crate::manifest::{MANIFEST_FILE, Manifest};
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The store's directory name in the data directory.
pub const STORE_DIR: &str = "oci";
/// The symlink to the set a polling node serves.
pub const LIVE_LINK: &str = "live";
const MANIFEST_RECORD: &str = "manifest.json";
const SIGNATURE_RECORD: &str = "signature.json";

/// The store in a data directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Store {
            root: data_dir.join(STORE_DIR),
        }
    }

    /// Where the set of `digest` is unpacked.
    pub fn dir(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.hex())
    }

    /// The verified set of `digest`: the local copy if it still verifies
    /// (no registry needed), otherwise pulled from `registry`, verified
    /// and unpacked.
    pub fn obtain(
        &self,
        registry: &Registry,
        reference: &OciReference,
        digest: &Digest,
        keys: &[VerifyingKey],
    ) -> Result<PathBuf, OciError> {
        let dir = self.dir(digest);
        if dir.exists() {
            match verify_local(&dir, digest, keys) {
                Ok(()) => return Ok(dir),
                Err(e) => {
                    eprintln!(
                        "gavel: the local copy of {digest} in {} does not verify ({e}); pulling it again",
                        dir.display()
                    );
                    let aside =
                        self.root
                            .join(format!(".discard-{}-{}", digest.hex(), std::process::id()));
                    std::fs::rename(&dir, &aside).map_err(|e| OciError::io(&dir, e))?;
                    let _ = std::fs::remove_dir_all(&aside);
                }
            }
        }
        self.pull(registry, reference, digest, keys)
    }

    fn pull(
        &self,
        registry: &Registry,
        reference: &OciReference,
        digest: &Digest,
        keys: &[VerifyingKey],
    ) -> Result<PathBuf, OciError> {
        let at = reference.at_digest(digest);
        let (manifest_bytes, _) =
            registry
                .manifest(&at, MAX_OCI_MANIFEST_BYTES)?
                .ok_or_else(|| OciError::NotFound {
                    what: format!("the manifest {at}"),
                })?;
        // The signature first: nothing unsigned is downloaded further.
        let signature = find_signature(registry, reference, digest, keys)?;
        let layout = PolicyLayout::check(ImageManifest::parse(&manifest_bytes)?)?;
        let config = registry.blob(&at, &layout.manifest.config, "the config", MAX_CONFIG_BYTES)?;
        layout.check_config(&config)?;
        let toml = registry.blob(&at, &layout.policies, MANIFEST_FILE, MAX_MANIFEST_BYTES)?;
        std::fs::create_dir_all(&self.root).map_err(|e| OciError::io(&self.root, e))?;
        let tmp = Temp(self.root.join(format!(
            ".pull-{}-{}-{:016x}",
            digest.hex(),
            std::process::id(),
            rand::random::<u64>()
        )));
        let records = tmp.0.join(STORE_RECORDS);
        std::fs::create_dir_all(&records).map_err(|e| OciError::io(&records, e))?;
        let manifest_file = tmp.0.join(MANIFEST_FILE);
        write(&manifest_file, &toml)?;
        let text = String::from_utf8(toml).map_err(|e| OciError::BadArtifact {
            problem: format!("{MANIFEST_FILE} is not UTF-8: {e}"),
        })?;
        let manifest =
            Manifest::parse(&text, &manifest_file).map_err(|e| OciError::BadArtifact {
                problem: e.to_string(),
            })?;
        let caps: BTreeMap<PathBuf, u64> = manifest
            .policies
            .iter()
            .map(|p| (p.component.clone(), p.max_component_bytes))
            .collect();
        for (path, layer) in &layout.components {
            let file = tmp.0.join(path);
            let what = path.display().to_string();
            let cap = caps.get(&file).ok_or_else(|| OciError::BadArtifact {
                problem: format!("layer `{what}` is not a component {MANIFEST_FILE} names"),
            })?;
            let bytes = registry.blob(&at, layer, &what, *cap)?;
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
            }
            write(&file, &bytes)?;
        }
        let held: std::collections::BTreeSet<PathBuf> = layout
            .components
            .iter()
            .map(|(path, _)| tmp.0.join(path))
            .collect();
        for p in &manifest.policies {
            if !held.contains(&p.component) {
                return Err(OciError::BadArtifact {
                    problem: format!(
                        "policy `{}` names the component {}, which no layer holds",
                        p.name,
                        p.component
                            .strip_prefix(&tmp.0)
                            .unwrap_or(&p.component)
                            .display()
                    ),
                });
            }
        }
        write(&records.join(MANIFEST_RECORD), &manifest_bytes)?;
        let record = serde_json::to_vec_pretty(&signature).unwrap_or_default();
        write(&records.join(SIGNATURE_RECORD), &record)?;
        let dir = self.dir(digest);
        if let Err(e) = std::fs::rename(&tmp.0, &dir) {
            // Another pull of the same digest got there first.
            if !dir.exists() {
                return Err(OciError::io(&dir, e));
            }
            verify_local(&dir, digest, keys)?;
        }
        Ok(dir)
    }

    /// Point [`LIVE_LINK`] at the set of `digest` (atomically); the link.
    pub fn point_live(&self, digest: &Digest) -> Result<PathBuf, OciError> {
        let link = self.root.join(LIVE_LINK);
        let tmp = self
            .root
            .join(format!(".{LIVE_LINK}-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(digest.hex(), &tmp).map_err(|e| OciError::io(&tmp, e))?;
        std::fs::rename(&tmp, &link).map_err(|e| OciError::io(&link, e))?;
        Ok(link)
    }
}

/// The first signature attached to `digest` that a trusted key made over
/// a payload naming exactly `digest`.
fn find_signature(
    registry: &Registry,
    reference: &OciReference,
    digest: &Digest,
    keys: &[VerifyingKey],
) -> Result<SignatureRecord, OciError> {
    let tag = signature_tag(digest);
    let at = reference.at_tag(&tag);
    let bad = |why: String| OciError::BadSignature {
        digest: digest.to_string(),
        why,
    };
    let Some((bytes, _)) = registry.manifest(&at, MAX_OCI_MANIFEST_BYTES)? else {
        return Err(OciError::Unsigned {
            digest: digest.to_string(),
            tag,
        });
    };
    let manifest = ImageManifest::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut why = Vec::new();
    for layer in manifest.layers.iter().take(MAX_SIGNATURES) {
        if layer.media_type != SIMPLE_SIGNING {
            why.push(format!(
                "a layer of type `{}` is not a signature",
                layer.media_type
            ));
            continue;
        }
        let Some(signature) = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        else {
            why.push(format!("a layer has no {SIGNATURE_ANNOTATION} annotation"));
            continue;
        };
        let payload = match registry.blob(&at, layer, "a signature payload", MAX_PAYLOAD_BYTES) {
            Ok(p) => p,
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => {
                why.push(e.to_string());
                continue;
            }
        };
        let Ok(payload) = String::from_utf8(payload) else {
            why.push("a payload is not UTF-8".to_owned());
            continue;
        };
        let record = SignatureRecord {
            payload,
            signature: signature.clone(),
        };
        match record.check(digest, keys) {
            Ok(()) => return Ok(record),
            Err(w) => why.push(w),
        }
    }
    if why.is_empty() {
        why.push("the signature manifest holds no signature".to_owned());
    }
    Err(bad(why.join("; ")))
}

/// Check a stored set against its records: the manifest's bytes hash to
/// `digest`, the signature still verifies under `keys` and names
/// `digest`, and every layer's file has the layer's size and digest.
pub fn verify_local(dir: &Path, digest: &Digest, keys: &[VerifyingKey]) -> Result<(), OciError> {
    let records = dir.join(STORE_RECORDS);
    let manifest_file = records.join(MANIFEST_RECORD);
    let manifest_bytes = read_regular(&manifest_file, MAX_OCI_MANIFEST_BYTES)
        .map_err(|e| OciError::io(&manifest_file, e))?;
    let actual = Digest::of(&manifest_bytes);
    if actual != *digest {
        return Err(OciError::DigestMismatch {
            what: format!("the stored manifest {}", manifest_file.display()),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    let signature_file = records.join(SIGNATURE_RECORD);
    let bytes = read_regular(&signature_file, MAX_PAYLOAD_BYTES.saturating_mul(2))
        .map_err(|e| OciError::io(&signature_file, e))?;
    let signature: SignatureRecord =
        serde_json::from_slice(&bytes).map_err(|e| OciError::io(&signature_file, e))?;
    signature
        .check(digest, keys)
        .map_err(|why| OciError::BadSignature {
            digest: digest.to_string(),
            why,
        })?;
    let layout = PolicyLayout::check(ImageManifest::parse(&manifest_bytes)?)?;
    let layers = std::iter::once((PathBuf::from(MANIFEST_FILE), &layout.policies))
        .chain(layout.components.iter().map(|(p, l)| (p.clone(), l)));
    for (path, layer) in layers {
        let file = dir.join(&path);
        let what = file.display().to_string();
        let bytes = match read_regular(&file, layer.size) {
            Ok(b) => b,
            Err(BoundedReadError::TooLarge { .. }) => {
                return Err(OciError::SizeMismatch {
                    what,
                    expected: layer.size,
                    actual: format!("more than {}", layer.size),
                });
            }
            Err(e) => return Err(OciError::io(&file, e)),
        };
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size != layer.size {
            return Err(OciError::SizeMismatch {
                what,
                expected: layer.size,
                actual: size.to_string(),
            });
        }
        let actual = Digest::of(&bytes);
        if actual.as_str() != layer.digest {
            return Err(OciError::DigestMismatch {
                what,
                expected: layer.digest.clone(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(())
}

/// Write a new file of the store, read-only (mode 0444): a verified set
/// is not edited in place.
fn write(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| OciError::io(path, e))
}

/// A temporary directory removed unless renamed away.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::artifact::Artifact;
    use crate::oci::signature::{payload, sign};
    use ed25519_dalek::SigningKey;

    /// A store directory as a pull leaves it, with its digest.
    fn stored(root: &Path, key: &SigningKey) -> (PathBuf, Digest) {
        let source = root.join("source");
        std::fs::create_dir_all(source.join("lib")).unwrap();
        std::fs::write(
            source.join(MANIFEST_FILE),
            "[[policy]]\nname = \"a\"\ncomponent = \"lib/a.wasm\"\npriority = 1\n",
        )
        .unwrap();
        std::fs::write(source.join("lib/a.wasm"), b"\0asm component").unwrap();
        let artifact = Artifact::from_dir(&source, "2026-01-01T00:00:00Z").unwrap();
        let digest = artifact.digest();
        let dir = Store::new(root).dir(&digest);
        for layer in &artifact.layers {
            let file = dir.join(&layer.title);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, &layer.bytes).unwrap();
        }
        let records = dir.join(STORE_RECORDS);
        std::fs::create_dir_all(&records).unwrap();
        std::fs::write(records.join(MANIFEST_RECORD), &artifact.manifest).unwrap();
        let p = payload("127.0.0.1:5000/p", &digest);
        let record = SignatureRecord {
            payload: String::from_utf8(p.clone()).unwrap(),
            signature: sign(key, &p),
        };
        std::fs::write(
            records.join(SIGNATURE_RECORD),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        (dir, digest)
    }

    /// Rows: a change to a verified local copy, and the fragment of the
    /// refusal ("" for none).
    fn append(path: &Path) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.push(b'\n');
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_local_copy_is_served_only_while_it_verifies() {
        type Change = fn(&Path);
        let rows: &[(Change, &str)] = &[
            (|_| {}, ""),
            (|d| append(&d.join("lib/a.wasm")), "size mismatch for"),
            (
                |d| std::fs::write(d.join("lib/a.wasm"), b"\0asm componenT").unwrap(),
                "digest mismatch for",
            ),
            (|d| append(&d.join(MANIFEST_FILE)), "size mismatch for"),
            (
                |d| append(&d.join(STORE_RECORDS).join(MANIFEST_RECORD)),
                "digest mismatch for the stored manifest",
            ),
            (
                |d| std::fs::remove_file(d.join("lib/a.wasm")).unwrap(),
                "lib/a.wasm",
            ),
            (
                |d| {
                    let file = d.join(STORE_RECORDS).join(SIGNATURE_RECORD);
                    let mut r: SignatureRecord =
                        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                    r.signature = sign(&SigningKey::from_bytes(&[9; 32]), r.payload.as_bytes());
                    std::fs::write(&file, serde_json::to_vec(&r).unwrap()).unwrap();
                },
                "does not verify under any trusted key",
            ),
        ];
        let key = SigningKey::from_bytes(&[3; 32]);
        for (i, (change, fragment)) in rows.iter().enumerate() {
            let root = tempfile::tempdir().unwrap();
            let (dir, digest) = stored(root.path(), &key);
            change(&dir);
            match verify_local(&dir, &digest, &[key.verifying_key()]) {
                Ok(()) => assert!(fragment.is_empty(), "row {i}: accepted"),
                Err(e) => {
                    assert!(!fragment.is_empty(), "row {i}: {e}");
                    assert!(e.to_string().contains(fragment), "row {i}: {e}");
                }
            }
        }
        // Untouched, but no longer trusted: refused.
        let root = tempfile::tempdir().unwrap();
        let (dir, digest) = stored(root.path(), &key);
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(verify_local(&dir, &digest, &[other]).is_err());
        // Another digest than the stored manifest's.
        let e = verify_local(&dir, &Digest::of(b"x"), &[key.verifying_key()]).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
    }

    #[test]
    fn the_live_link_points_at_one_set_at_a_time() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        std::fs::create_dir_all(&store.root).unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let link = store.point_live(&a).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), PathBuf::from(a.hex()));
        store.point_live(&b).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), PathBuf::from(b.hex()));
    }
}
