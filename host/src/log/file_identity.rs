//! Noticing that the log file was deleted or replaced while open.
//!
//! redb keeps writing through its open file descriptor. If the file is
//! unlinked (`rm gavel.redb`) or the path now names another file (a
//! rename over it), commits still succeed, into a file nobody will ever
//! read again: acknowledged decisions would be lost without a trace. The
//! writer checks the file's identity around every commit: the open file
//! must still have a link, and the path must still name the same
//! (device, inode). When it does not, the commit is reported as failed
//! and the writer refuses every later one.

use super::LogError;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The identity of the open log file.
#[derive(Debug)]
pub struct FileIdentity {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// Remember `file` (a handle on the open log) as what `path` names.
    pub fn new(path: &Path, file: File) -> Result<Self, LogError> {
        let meta = file.metadata().map_err(|e| {
            LogError::Storage(format!("cannot stat the log {}: {e}", path.display()))
        })?;
        Ok(FileIdentity {
            path: path.to_path_buf(),
            file,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Ok` while `path` still names the open file and the file still has
    /// a link; otherwise [`LogError::Vanished`] saying what happened.
    pub fn check(&self) -> Result<(), LogError> {
        let gone = |what: String| LogError::Vanished {
            path: self.path.clone(),
            what,
        };
        let open = self
            .file
            .metadata()
            .map_err(|e| gone(format!("cannot be checked: {e}")))?;
        match std::fs::metadata(&self.path) {
            Ok(now) if (now.dev(), now.ino()) != (self.dev, self.ino) => {
                Err(gone("was replaced by another file".to_owned()))
            }
            Ok(_) if open.nlink() == 0 => Err(gone("was deleted".to_owned())),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone(
                if open.nlink() == 0 {
                    "was deleted"
                } else {
                    "was moved away"
                }
                .to_owned(),
            )),
            Err(e) => Err(gone(format!("cannot be checked: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    /// Each row: what happens to the file, and the expected outcome.
    #[test]
    fn deletion_and_replacement_are_noticed() {
        type Act = fn(&Path, &Path);
        let rows: [(&str, Act, Option<&str>); 5] = [
            ("untouched", |_, _| {}, None),
            (
                "rewritten in place",
                |p, _| std::fs::write(p, b"new bytes").unwrap(),
                None,
            ),
            (
                "deleted",
                |p, _| std::fs::remove_file(p).unwrap(),
                Some("was deleted"),
            ),
            (
                "replaced by rename",
                |p, other| std::fs::rename(other, p).unwrap(),
                Some("was replaced by another file"),
            ),
            (
                "moved away",
                |p, other| std::fs::rename(p, other.with_extension("moved")).unwrap(),
                Some("was moved away"),
            ),
        ];
        for (name, act, expected) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("gavel.redb");
            let other = dir.path().join("other.redb");
            std::fs::write(&path, b"log").unwrap();
            std::fs::write(&other, b"another log").unwrap();
            let identity = FileIdentity::new(&path, File::open(&path).unwrap()).unwrap();
            act(&path, &other);
            match (identity.check(), expected) {
                (Ok(()), None) => {}
                (Err(LogError::Vanished { what, .. }), Some(want)) => {
                    assert_eq!(what, want, "{name}");
                }
                (got, _) => panic!("{name}: {got:?}, expected {expected:?}"),
            }
        }
    }
}
