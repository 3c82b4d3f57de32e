//! The log's secret keys, kept in the data directory in files with mode
//! 0600: the Ed25519 checkpoint signing key (`log-signing.key`, with its
//! public half in `log-signing.pub`) and the redaction key
//! (`redaction.key`) that keys the hashes replacing redacted values.
//! Each is generated on first start; a key file that others can read is
//! refused.

use super::LogError;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The signing key's file name in the data directory.
pub const SIGNING_KEY_FILE: &str = "log-signing.key";
/// The public key's file name in the data directory.
pub const PUBLIC_KEY_FILE: &str = "log-signing.pub";
/// The redaction key's file name in the data directory.
pub const REDACTION_KEY_FILE: &str = "redaction.key";

/// Load the 32-byte secret in `path`, creating it (mode 0600) if missing.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], LogError> {
    let key_error = |problem: String| LogError::Key {
        path: path.to_path_buf(),
        problem,
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            owner_only(&meta).map_err(key_error)?;
            let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
            let bytes = hex::decode(text.trim()).map_err(|e| key_error(format!("not hex: {e}")))?;
            bytes
                .try_into()
                .map_err(|_| key_error("must hold 32 bytes of hex".to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| key_error(format!("cannot create: {e}")))?;
            writeln!(file, "{}", hex::encode(secret))
                .and_then(|()| file.sync_all())
                .map_err(|e| key_error(format!("cannot write: {e}")))?;
            Ok(secret)
        }
        Err(e) => Err(key_error(e.to_string())),
    }
}

/// `Err` (why) unless only the owner may read or write the file.
pub fn owner_only(meta: &std::fs::Metadata) -> Result<(), String> {
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode is {mode:04o}; a key file must be readable by its owner only (chmod 600)"
        ));
    }
    Ok(())
}

/// The checkpoint signing key of `data_dir`, created on first use, with
/// its public key written beside it.
pub fn signing_key(data_dir: &Path) -> Result<SigningKey, LogError> {
    let key = SigningKey::from_bytes(&load_or_create_secret(&data_dir.join(SIGNING_KEY_FILE))?);
    let public = data_dir.join(PUBLIC_KEY_FILE);
    let text = format!("{}\n", hex::encode(key.verifying_key().as_bytes()));
    if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&public, text).map_err(|e| LogError::Key {
            path: public.clone(),
            problem: format!("cannot write: {e}"),
        })?;
    }
    Ok(key)
}

/// Read a public key file (hex).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, LogError> {
    let key_error = |problem: String| LogError::Key {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .map_err(|e| key_error(format!("not hex: {e}")))?
        .try_into()
        .map_err(|_| key_error("must hold 32 bytes of hex".to_owned()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| key_error(format!("not an Ed25519 public key: {e}")))
}

/// The public key file of a data directory.
pub fn public_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PUBLIC_KEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_mode_0600_and_refuses_loose_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = load_or_create_secret(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create_secret(&path).unwrap(), a);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn signing_key_writes_its_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = signing_key(dir.path()).unwrap();
        let public = read_public_key(&public_key_path(dir.path())).unwrap();
        assert_eq!(public, key.verifying_key());
    }
}
