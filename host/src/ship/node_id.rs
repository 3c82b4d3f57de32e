//! The node's name in the central log: `--node` / `--ship-node`, else a
//! stable id generated once into the data directory (`node-id`), so that
//! a restarted node, or `gavel ship` on its data directory, ships under
//! the same name. Names follow the identifier contract (1-128 ASCII
//! letters, digits, `_ - . : /`).

use super::ShipError;
use crate::bounded_read::read_regular_text;
use crate::identifier::validate_identifier;
use std::io::Write;
use std::path::Path;

/// The node-id file in the data directory.
pub const NODE_ID_FILE: &str = "node-id";

/// Most bytes the node-id file may hold.
const MAX_NODE_ID_BYTES: u64 = 256;

/// Check a node name.
pub fn validate_node(name: &str) -> Result<(), ShipError> {
    validate_identifier(name).map_err(|e| ShipError::Node(format!("{name:?} {e}")))
}

/// `given` if set (checked), else the id in `data_dir/node-id`, created
/// (`node-` and 16 random hex digits) if missing.
pub fn node_name(data_dir: &Path, given: Option<&str>) -> Result<String, ShipError> {
    if let Some(name) = given {
        validate_node(name)?;
        return Ok(name.to_owned());
    }
    let path = data_dir.join(NODE_ID_FILE);
    if !path.exists() {
        let id = format!("node-{}", hex::encode(rand::random::<[u8; 8]>()));
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ShipError::Node(format!("cannot create {}: {e}", data_dir.display())))?;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => file
                .write_all(format!("{id}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| ShipError::Node(format!("cannot write {}: {e}", path.display())))?,
            // Another process created it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(ShipError::Node(format!(
                    "cannot create {}: {e}",
                    path.display()
                )));
            }
        }
    }
    let text = read_regular_text(&path, MAX_NODE_ID_BYTES)
        .map_err(|e| ShipError::Node(format!("{} {e}", path.display())))?;
    let name = text.trim();
    validate_node(name).map_err(|e| ShipError::Node(format!("{}: {e}", path.display())))?;
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_is_stable_and_a_given_name_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let first = node_name(dir.path(), None).unwrap();
        assert!(first.starts_with("node-") && first.len() == 21, "{first}");
        assert_eq!(node_name(dir.path(), None).unwrap(), first);
        assert_eq!(node_name(dir.path(), Some("eu-1")).unwrap(), "eu-1");
        for bad in ["", "two words", "caf\u{e9}", &"x".repeat(129)] {
            let e = node_name(dir.path(), Some(bad)).unwrap_err();
            assert!(matches!(e, ShipError::Node(_)), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_bad_node_id_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_ID_FILE);
        // (contents, fragment of the error)
        for (contents, fragment) in [
            ("bad name\n".to_owned(), "node-id"),
            ("x".repeat(300), "larger than the limit"),
        ] {
            std::fs::write(&path, contents).unwrap();
            let text = node_name(dir.path(), None).unwrap_err().to_string();
            assert!(text.contains(fragment), "{text}");
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let text = node_name(dir.path(), None).unwrap_err().to_string();
        assert!(text.contains("not a regular file"), "{text}");
    }
}
