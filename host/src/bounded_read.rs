//! Reading operator-supplied files safely: only regular files, and never
//! more than a cap.
//!
//! A manifest or component path can be a symlink to `/dev/zero` (which
//! would be read forever into memory) or a FIFO (which would block the
//! reader, and with it a reload, forever). So every file Gavel reads from a
//! policy directory goes through [`read_regular`]: the path is opened with
//! `O_NONBLOCK` (opening a FIFO never blocks), the *opened* file is checked
//! to be a regular file (so a swap between a check and the open cannot
//! sneak a device in), and at most `cap + 1` bytes are read, so a file over
//! the cap is refused without being read whole.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The default cap on one component file, in bytes: room for an 18 MB
/// Python (componentize-py) or 13 MB JavaScript component, with margin.
pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// Opening or reading failed.
    #[error("could not be read: {0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file (a directory, FIFO, socket or device).
    #[error("is not a regular file (it is {0}); only regular files are read")]
    NotRegular(&'static str),
    /// Larger than the cap.
    #[error("is larger than the limit of {cap} bytes")]
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
    /// Read as text, but not UTF-8.
    #[error("is not UTF-8 text (invalid byte at offset {offset})")]
    NotText {
        /// The offset of the first invalid byte.
        offset: usize,
    },
}

/// Read the whole of `path` if it is a regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, BoundedReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > cap {
        return Err(BoundedReadError::TooLarge { cap });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between `metadata` and the read: read at most one
    // byte past the cap, and refuse if that byte exists.
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(BoundedReadError::TooLarge { cap });
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text.
pub fn read_regular_text(path: &Path, cap: u64) -> Result<String, BoundedReadError> {
    let bytes = read_regular(path, cap)?;
    String::from_utf8(bytes).map_err(|e| BoundedReadError::NotText {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Check that `path` is a regular file (opening it as [`read_regular`]
/// does, so a FIFO never blocks), for files that another library opens by
/// path afterwards (a decision log). Returns its length.
pub fn check_regular(path: &Path) -> Result<u64, BoundedReadError> {
    open_regular(path).map(|(_, meta)| meta.len())
}

/// Open `path` without blocking and check that the opened file is a
/// regular file.
fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), BoundedReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    let file_type = meta.file_type();
    if !file_type.is_file() {
        return Err(BoundedReadError::NotRegular(describe(&file_type)));
    }
    Ok((file, meta))
}

fn describe(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&path, 4),
            Err(BoundedReadError::TooLarge { cap: 4 })
        ));
    }

    #[test]
    fn refuses_devices_fifos_and_directories_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        // A symlink to /dev/zero: refused, not read forever.
        let zero = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let e = read_regular(&zero, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        // A FIFO with no writer: refused at once, not blocked on.
        let fifo = dir.path().join("fifo.wasm");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let e = read_regular(&fifo, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = read_regular(dir.path(), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        // The same checks for a file another library opens afterwards.
        for path in [&zero, &fifo, &dir.path().to_path_buf()] {
            let e = check_regular(path).unwrap_err();
            assert!(e.to_string().starts_with("is not a regular file"), "{e}");
        }
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(check_regular(&file).unwrap(), 3);
        let e = check_regular(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().starts_with("could not be read"), "{e}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"ok\xff").unwrap();
        let e = read_regular_text(&path, 100).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
