//! The README's examples are real: every ```sh block runs, from the
//! repository root, with the built `gavel` on the PATH, and must succeed
//! without printing an error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use std::process::Command;

fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn readme_shell_examples_run() {
    let root = common::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks: Vec<String> = sh_blocks(&readme)
        .into_iter()
        // The first block is the project's own entry points (make run,
        // make test); CI runs those itself.
        .filter(|b| !b.contains("make test"))
        .collect();
    assert!(blocks.len() >= 4, "found {} sh blocks", blocks.len());
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_gavel"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let data = tempfile::tempdir().unwrap();
    for block in blocks {
        // A block that hangs fails instead of stalling the run.
        let out = Command::new("timeout")
            .args(["300", "bash", "-e", "-o", "pipefail", "-c", &block])
            .current_dir(&root)
            .env("PATH", &path)
            .env("GAVEL_DATA_DIR", data.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "README block failed:\n{block}\nstderr: {stderr}"
        );
        assert!(
            !stderr.contains("error"),
            "README block printed an error:\n{block}\n{stderr}"
        );
        assert!(
            !out.stdout.is_empty(),
            "README block printed nothing:\n{block}"
        );
    }
}
