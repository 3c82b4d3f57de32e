//! `gavel new`: every template file reaches the project with its
//! placeholders filled, bad names and existing folders are refused without
//! a trace, and the `rules` project (no toolchain needed) passes its own
//! case file. Building the compiled languages' projects is
//! `tests/scaffolds.sh`, run by `make test`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

const LANGS: &[&str] = &["rust", "python", "js", "c", "rules"];

fn files_under(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn new(args: &[&str], dir: &Path) -> std::process::Output {
    let mut all = vec!["new"];
    all.extend_from_slice(args);
    let dir_text = dir.to_str().unwrap();
    all.extend_from_slice(&["--dir", dir_text]);
    common::gavel(&all, dir, None)
}

#[test]
fn every_template_file_is_written_and_filled_in() {
    for lang in LANGS {
        let dir = tempfile::tempdir().unwrap();
        let out = new(&["refund-guard", "--lang", lang], dir.path());
        assert!(out.status.success(), "{lang}: {}", common::stderr(&out));
        let project = dir.path().join("refund-guard");
        let template = common::root().join("host/templates").join(lang);
        assert_eq!(
            files_under(&project),
            files_under(&template),
            "{lang}: the project's files are not the template's"
        );
        for file in files_under(&project) {
            let text = std::fs::read_to_string(project.join(&file)).unwrap();
            assert!(!text.contains("{{"), "{lang}: {file} keeps a placeholder");
            if file.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(project.join(&file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o111, 0o111, "{lang}: {file} is not executable");
            }
        }
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(readme.contains("gavel test"), "{lang}: README");
        // Nothing but the project is left behind.
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "{lang}: a staging folder was left"
        );
    }
}

#[test]
fn bad_names_and_existing_folders_are_refused_without_a_trace() {
    // (arguments, what the error names)
    let cases: &[(&[&str], &str)] = &[
        (&["Refund", "--lang", "rust"], "must start with a lowercase"),
        (&["a_b", "--lang", "rust"], "may hold only"),
        (&["a--b", "--lang", "c"], "`--`"),
        (&["../x", "--lang", "rules"], "must start with a lowercase"),
        (&["", "--lang", "rules"], "1 to 64 characters"),
        (&["ok", "--lang", "cobol"], "invalid value 'cobol'"),
    ];
    for (args, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = new(args, dir.path());
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = common::stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("taken");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("mine.txt"), "keep").unwrap();
    let out = new(&["taken", "--lang", "rust"], dir.path());
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("already exists"));
    assert_eq!(
        files_under(&existing),
        BTreeSet::from(["mine.txt".to_owned()])
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_rules_project_passes_its_own_cases() {
    let dir = tempfile::tempdir().unwrap();
    let out = new(&["escalation-rules", "--lang", "rules"], dir.path());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let project = dir.path().join("escalation-rules");
    let build = std::process::Command::new(project.join("build.sh"))
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", common::stderr(&build));
    let data = dir.path().join("data");
    let policies = project.to_str().unwrap();
    let cases = project.join("tests");
    let out = common::gavel(
        &["test", cases.to_str().unwrap(), "--policies", policies],
        &data,
        None,
    );
    let report = common::stdout(&out);
    assert!(out.status.success(), "{report}{}", common::stderr(&out));
    assert!(report.contains("6 passed, 0 failed"), "{report}");
    // The manifest entry loads as it is.
    let out = common::gavel(
        &[
            "eval",
            "--policies",
            policies,
            "--action",
            r#"{"agent_id":"a","action":"delete_records"}"#,
        ],
        &data,
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}
