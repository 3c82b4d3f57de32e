//! The `gavel` command-line contract: exit codes, JSON Lines in and out,
//! load errors, the policy listing, and the data directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{gavel, policy_dir, shipped_dir, stderr, stdout};

/// One row per action: the JSON and the exit code.
const EXIT_CODES: &[(&str, i32)] = &[
    (
        r#"{"agent_id":"research-assistant","action":"search_web"}"#,
        0,
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"delete_account"}"#,
        2,
    ),
    (
        r#"{"agent_id":"customer-support","action":"delete_ticket"}"#,
        3,
    ),
    (r#"{"agent_id":"customer-support"}"#, 1),
    (r#"not json"#, 1),
];

#[test]
fn single_action_exit_codes() {
    let data = tempfile::tempdir().unwrap();
    for (action, code) in EXIT_CODES {
        let o = gavel(
            &["eval", "--policies", &shipped_dir(), "--action", action],
            data.path(),
            None,
        );
        assert_eq!(o.status.code(), Some(*code), "{action}: {}", stderr(&o));
        let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        if *code == 1 {
            assert!(
                line["error"].as_str().unwrap().contains("invalid request"),
                "{line}"
            );
        } else {
            let verdict = ["approve", "", "deny", "escalate"][*code as usize];
            assert_eq!(line["verdict"], verdict, "{line}");
        }
    }
}

#[test]
fn stream_keeps_order_and_replaces_bad_lines() {
    let data = tempfile::tempdir().unwrap();
    let input = [
        r#"{"request_id":"r1","agent_id":"a","action":"read"}"#,
        r#"{"request_id":"r2","agent_id":"a","action":"delete_account"}"#,
        r#"{"agent_id":"a","action":"read","amount":"ten"}"#,
        "",
        "{broken",
        r#"{"request_id":"r6","agent_id":"a","action":"delete_user","params":{"id":1}}"#,
    ]
    .join("\n");
    let o = gavel(
        &["eval", "--policies", &shipped_dir()],
        data.path(),
        Some(&input),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        (
            lines[0]["request_id"].as_str(),
            lines[0]["verdict"].as_str()
        ),
        (Some("r1"), Some("approve"))
    );
    assert_eq!(
        (
            lines[1]["request_id"].as_str(),
            lines[1]["verdict"].as_str()
        ),
        (Some("r2"), Some("deny"))
    );
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("field `amount`"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[3]["error"].as_str().unwrap().contains("empty line"));
    assert!(
        lines[4]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(
        (
            lines[5]["request_id"].as_str(),
            lines[5]["verdict"].as_str()
        ),
        (Some("r6"), Some("escalate"))
    );
    // The decision contract's fields.
    let run = &lines[1]["policies"][0];
    for key in ["policy", "digest", "verdict", "fuel", "micros", "shadow"] {
        assert!(run.get(key).is_some(), "policies[] lacks {key}: {run}");
    }
    let reason = &lines[1]["reasons"][0];
    for key in ["policy", "verdict", "code", "message"] {
        assert!(reason.get(key).is_some(), "reasons[] lacks {key}: {reason}");
    }
}

/// Broken policy directories: the manifest, and fragments the error must
/// hold (file, policy, problem).
const BROKEN: &[(&str, &[&str])] = &[
    (
        "[[policy]]\nname = \"p\"\ncomponent = \"nope.wasm\"\npriority = 1\n",
        &["policies.toml", "policy `p`", "nope.wasm could not be read"],
    ),
    (
        "[[policy]]\nname = \"p\"\ncomponent = \"{fixtures}/hostile_wrong_world.wasm\"\npriority = 1\n",
        &["policy `p`", "does not implement the gavel:policy world"],
    ),
    (
        "[[policy]]\nname = \"p\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 1\n[policy.config]\nforbiden = []\n",
        &["policy `p`", "config rejected", "`forbiden`"],
    ),
    (
        "[[policy]]\nname = \"p\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 1\nprioirty = 2\n",
        &["policy `p`", "line 5", "unknown field `prioirty`"],
    ),
    (
        "[[policy]]\nname = \"p\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 1\n[[policy]]\nname = \"p\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 2\n",
        &["policy `p`", "duplicate policy name"],
    ),
];

#[test]
fn broken_directories_refuse_to_start() {
    let data = tempfile::tempdir().unwrap();
    for (manifest, fragments) in BROKEN {
        let dir = policy_dir(manifest);
        let path = dir.path().display().to_string();
        for args in [
            vec![
                "eval",
                "--policies",
                &path,
                "--action",
                r#"{"agent_id":"a","action":"x"}"#,
            ],
            vec!["policies", "--policies", &path],
        ] {
            let o = gavel(&args, data.path(), None);
            assert_eq!(o.status.code(), Some(1), "{manifest}");
            assert!(
                stdout(&o).is_empty(),
                "no decision from a broken directory: {}",
                stdout(&o)
            );
            let err = stderr(&o);
            for f in *fragments {
                assert!(err.contains(f), "{manifest}: missing {f:?} in {err}");
            }
        }
    }
}

#[test]
fn policies_lists_in_evaluation_order() {
    let data = tempfile::tempdir().unwrap();
    let dir = policy_dir(
        "[[policy]]\nname = \"low\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 1\napplies_to = [\"send_*\", \"post\"]\nmode = \"shadow\"\n\
         [[policy]]\nname = \"b-high\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 9\n\
         [[policy]]\nname = \"a-high\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 9\n",
    );
    let path = dir.path().display().to_string();
    let o = gavel(
        &["policies", "--policies", &path, "--format", "json"],
        data.path(),
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<_> = rows.iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["a-high", "b-high", "low"]);
    assert_eq!(rows[2]["mode"], "shadow");
    assert_eq!(rows[2]["applies_to"], serde_json::json!(["send_*", "post"]));
    assert!(rows[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let table = gavel(&["policies", "--policies", &path], data.path(), None);
    let lines: Vec<String> = stdout(&table).lines().map(str::to_owned).collect();
    assert!(lines[0].contains("PRIORITY") && lines[0].contains("DIGEST"));
    assert!(
        lines[1].contains("a-high") && lines[3].contains("low") && lines[3].contains("send_*,post")
    );
}

#[test]
fn data_dir_holds_the_artifact_cache_and_is_reused() {
    let data = tempfile::tempdir().unwrap();
    let explicit = data.path().join("explicit");
    let args = ["policies", "--policies", &shipped_dir()];
    // From the environment variable.
    let o = gavel(&args, data.path(), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let artifacts: Vec<_> = std::fs::read_dir(data.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    // One artifact per distinct component.
    let listed = gavel(
        &["policies", "--policies", &shipped_dir(), "--format", "json"],
        data.path(),
        None,
    );
    let digests: std::collections::BTreeSet<String> = stdout(&listed)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(artifacts.len(), digests.len(), "{artifacts:?}");
    for digest in &digests {
        let hex = digest.trim_start_matches("sha256:");
        assert!(
            artifacts
                .iter()
                .any(|p| p.file_name().unwrap().to_string_lossy().starts_with(hex)),
            "{digest}"
        );
    }
    let before = std::fs::metadata(&artifacts[0])
        .unwrap()
        .modified()
        .unwrap();
    // A second start reuses the artifact rather than rewriting it.
    gavel(&args, data.path(), None);
    assert_eq!(
        std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    // --data-dir wins over the environment.
    let explicit_arg = explicit.display().to_string();
    let o = gavel(
        &[
            "policies",
            "--policies",
            &shipped_dir(),
            "--data-dir",
            &explicit_arg,
        ],
        data.path(),
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(explicit.join("artifacts").read_dir().unwrap().count() >= 1);
}

#[test]
fn corrupt_cached_artifact_is_recompiled() {
    let data = tempfile::tempdir().unwrap();
    let args = [
        "eval",
        "--policies",
        &shipped_dir(),
        "--action",
        r#"{"agent_id":"a","action":"delete_account"}"#,
    ];
    assert_eq!(gavel(&args, data.path(), None).status.code(), Some(2));
    for entry in std::fs::read_dir(data.path().join("artifacts")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let o = gavel(&args, data.path(), None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn gavel_test_reports_each_case_and_fails_on_a_wrong_expectation() {
    let data = tempfile::tempdir().unwrap();
    let cases = tempfile::tempdir().unwrap();
    let tests_dir = cases.path().join("tests");
    std::fs::create_dir(&tests_dir).unwrap();
    let good = "component = \"sensitive_actions.wasm\"\n[configs.default]\nforbidden = [\"nuke\"]\n\
        [[case]]\nname = \"nuke denied\"\nrequest = { agent_id = \"a\", action = \"nuke\" }\nexpect = \"deny\"\ncode = \"forbidden-action\"\n\
        [[case]]\nname = \"read approved\"\nrequest = { agent_id = \"a\", action = \"read\" }\nexpect = \"approve\"\n";
    std::fs::write(tests_dir.join("good.toml"), good).unwrap();
    let path = cases.path().display().to_string();
    let o = gavel(
        &["test", &path, "--policies", &shipped_dir()],
        data.path(),
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("pass  ") && stdout(&o).contains("2 passed, 0 failed"),
        "{}",
        stdout(&o)
    );

    let wrong = good.replace(
        "expect = \"approve\"",
        "expect = \"escalate\"\ncode = \"approval-required\"",
    );
    std::fs::write(tests_dir.join("wrong.toml"), wrong).unwrap();
    let o = gavel(
        &["test", &path, "--policies", &shipped_dir()],
        data.path(),
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL")
            && out.contains("read approved")
            && out.contains("expected escalate/approval-required, got approve"),
        "{out}"
    );
    assert!(out.contains("3 passed, 1 failed"), "{out}");

    std::fs::write(tests_dir.join("broken.toml"), "component = 1").unwrap();
    let o = gavel(
        &["test", &path, "--policies", &shipped_dir()],
        data.path(),
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("ERROR") && stdout(&o).contains("broken.toml"),
        "{}",
        stdout(&o)
    );
}
