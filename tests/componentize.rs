//! `gavel componentize`: a WASI preview-1 core module (here a tiny C
//! policy, `tests/fixtures/componentize_deny_all.c`, built by
//! `componentize_build.sh` and committed, so no C toolchain is needed)
//! into a policy component the host loads and runs; and every bad input
//! refused with an error that says what was wrong, leaving no output file
//! behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::componentize::{ComponentizeError, componentize};
use std::path::{Path, PathBuf};

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(common::fixture(name)).unwrap()
}

/// Load `component` as the only policy and decide one action.
fn decide_with(component: &Path) -> gavel::Decision {
    let manifest = format!(
        "[[policy]]\nname = \"c\"\npriority = 1\ncomponent = \"{}\"\n",
        component.display()
    );
    let set = common::load(&manifest).unwrap_or_else(|e| panic!("load: {}", e.problem()));
    common::decide(&set, r#"{"agent_id":"a","action":"search_web"}"#)
}

/// The decision must come from the C policy: a deny with its code.
fn assert_decided_by_the_c_policy(component: &Path) {
    let decision = decide_with(component);
    assert_eq!(format!("{:?}", decision.verdict), "Deny", "{decision:?}");
    assert_eq!(decision.reasons[0].code, "componentized", "{decision:?}");
}

#[test]
fn library_rows() {
    // (row, input bytes, None for success or a part of the error)
    let rows: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "a core module with its component-type section",
            fixture_bytes("componentize_deny_all"),
            None,
        ),
        (
            "a component given as input",
            std::fs::read(common::shipped("sensitive_actions")).unwrap(),
            Some("the input is already a WebAssembly component, not a core module"),
        ),
        (
            "garbage bytes",
            b"these bytes are not WebAssembly".to_vec(),
            Some(
                "the input is not a WebAssembly core module: it does not start with the WebAssembly magic number",
            ),
        ),
        (
            "empty",
            Vec::new(),
            Some("it is 0 bytes long, shorter than a WebAssembly header"),
        ),
        (
            "a header and then garbage",
            b"\0asm\x01\0\0\0\xff\xff\xff".to_vec(),
            Some("the input is not a WebAssembly core module: "),
        ),
        (
            "an unknown WebAssembly version",
            b"\0asm\x02\0\0\0".to_vec(),
            Some("its WebAssembly header has an unknown version or layer"),
        ),
        (
            "a module without the component-type section",
            fixture_bytes("componentize_deny_all_no_type"),
            Some("the core module has no `component-type` custom section"),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (row, input, expected) in rows {
        match (componentize(&input), expected) {
            (Ok(component), None) => {
                let path = dir.path().join("out.wasm");
                std::fs::write(&path, component).unwrap();
                assert_decided_by_the_c_policy(&path);
            }
            (Err(e), Some(part)) => {
                let text = e.to_string();
                assert!(text.contains(part), "{row}: {text}");
            }
            (Ok(_), Some(part)) => panic!("{row}: accepted, expected an error with {part:?}"),
            (Err(e), None) => panic!("{row}: {e}"),
        }
    }
}

#[test]
fn the_error_kinds_are_typed() {
    assert!(matches!(
        componentize(&fixture_bytes("componentize_deny_all_no_type")),
        Err(ComponentizeError::NoComponentType)
    ));
    assert!(matches!(
        componentize(&std::fs::read(common::shipped("sensitive_actions")).unwrap()),
        Err(ComponentizeError::AlreadyAComponent)
    ));
    assert!(matches!(
        componentize(b""),
        Err(ComponentizeError::NotAModule(_))
    ));
}

/// What a CLI row feeds `gavel componentize`.
enum Input {
    Fixture(&'static str),
    Shipped(&'static str),
    Bytes(&'static [u8]),
    Directory,
    Missing,
}

#[test]
fn cli_rows() {
    let wit = common::root().join("wit/v0.3.0");
    let wit = wit.to_str().unwrap();
    // (row, input, extra arguments, None for success or a part of stderr)
    let rows: Vec<(&str, Input, Vec<&str>, Option<&str>)> = vec![
        (
            "a good core module",
            Input::Fixture("componentize_deny_all"),
            vec![],
            None,
        ),
        (
            "a module without the section, with --wit",
            Input::Fixture("componentize_deny_all_no_type"),
            vec!["--wit", wit],
            None,
        ),
        (
            "a module without the section, with --wit and --world",
            Input::Fixture("componentize_deny_all_no_type"),
            vec!["--wit", wit, "--world", "policy-world"],
            None,
        ),
        (
            "a world --wit does not have",
            Input::Fixture("componentize_deny_all_no_type"),
            vec!["--wit", wit, "--world", "no-such-world"],
            Some("no-such-world"),
        ),
        (
            "a --wit directory that does not exist",
            Input::Fixture("componentize_deny_all_no_type"),
            vec!["--wit", "/nonexistent/wit"],
            Some("WIT /nonexistent/wit"),
        ),
        (
            "a module without the section",
            Input::Fixture("componentize_deny_all_no_type"),
            vec![],
            Some("has no `component-type` custom section"),
        ),
        (
            "a component",
            Input::Shipped("sensitive_actions"),
            vec![],
            Some("already a WebAssembly component"),
        ),
        (
            "garbage bytes",
            Input::Bytes(b"#!/bin/sh\necho not wasm\n"),
            vec![],
            Some("does not start with the WebAssembly magic number"),
        ),
        (
            "an empty file",
            Input::Bytes(b""),
            vec![],
            Some("0 bytes long"),
        ),
        (
            "a directory",
            Input::Directory,
            vec![],
            Some("is not a regular file (it is a directory)"),
        ),
        (
            "a missing file",
            Input::Missing,
            vec![],
            Some("could not be read"),
        ),
    ];
    for (row, input, extra, expected) in rows {
        let work = tempfile::tempdir().unwrap();
        let input: PathBuf = match input {
            Input::Fixture(name) => common::fixture(name),
            Input::Shipped(name) => common::shipped(name),
            Input::Bytes(bytes) => {
                let path = work.path().join("input.wasm");
                std::fs::write(&path, bytes).unwrap();
                path
            }
            Input::Directory => {
                let path = work.path().join("input.wasm");
                std::fs::create_dir(&path).unwrap();
                path
            }
            Input::Missing => work.path().join("missing.wasm"),
        };
        let out_dir = work.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join("policy.wasm");
        let mut args = vec![
            "componentize",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let output = common::gavel(&args, work.path(), None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let left: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        match expected {
            None => {
                assert!(output.status.success(), "{row}: {stderr}");
                assert_eq!(left, ["policy.wasm"], "{row}: only the output is written");
                assert_decided_by_the_c_policy(&out);
            }
            Some(part) => {
                assert_eq!(output.status.code(), Some(1), "{row}: {stderr}");
                assert!(stderr.contains(part), "{row}: {stderr}");
                assert!(left.is_empty(), "{row}: left {left:?} behind");
            }
        }
    }
}

#[test]
fn a_failed_run_leaves_an_existing_output_untouched() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("policy.wasm");
    std::fs::write(&out, b"the previous build").unwrap();
    let input = work.path().join("input.wasm");
    std::fs::write(&input, b"not wasm").unwrap();
    let output = common::gavel(
        &[
            "componentize",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        work.path(),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous build");
}

#[test]
fn a_successful_run_replaces_the_output_whole() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("policy.wasm");
    std::fs::write(&out, b"the previous build").unwrap();
    let input = common::fixture("componentize_deny_all");
    let output = common::gavel(
        &[
            "componentize",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        work.path(),
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = componentize(&fixture_bytes("componentize_deny_all")).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("gavel:policy@0.3.0"), "{stdout}");
}

#[test]
fn an_output_in_a_missing_directory_is_an_error() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("no/such/dir/policy.wasm");
    let input = common::fixture("componentize_deny_all");
    let output = common::gavel(
        &[
            "componentize",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        work.path(),
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing"), "{stderr}");
    assert!(!out.exists());
}
