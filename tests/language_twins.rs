//! The `sensitive-actions` twins (Python, JavaScript, C) against the Rust
//! policy they copy: for every config below, the same config error, word
//! for word; for every good config and action, the same verdict, code and
//! message. The case file (`policies-src/sensitive-actions/tests`) checks
//! each twin against expectations; this checks them against each other,
//! on inputs the case file does not list.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::{Decision, PolicySet};

/// The twins, by component file stem, beside `sensitive_actions.wasm`.
const TWINS: &[&str] = &[
    "sensitive_actions_py",
    "sensitive_actions_js",
    "sensitive_actions_c",
];

/// Configs every twin must refuse with the Rust policy's message (TOML
/// under `[policy.config]`).
const BAD_CONFIGS: &[&str] = &[
    r#"forbiden = ["x"]"#,
    r#"forbidden = "delete_account""#,
    r#"forbidden = [1]"#,
    r#"forbidden = [1.5]"#,
    r#"forbidden = [true]"#,
    r#"forbidden = [["nested"]]"#,
    r#"forbidden = [{ a = 1 }]"#,
    r#"allowed = [false]"#,
    r#"allowed = "read_*""#,
    r#"allowed = {}"#,
    r#"require_approval = ["ok", "bad name"]"#,
    "require_approval = [\"ok\", \"zero\u{200B}width\"]",
    r#"forbidden = ["x*y"]"#,
    r#"forbidden = ["*a"]"#,
    r#"forbidden = ["**"]"#,
    r#"forbidden = [""]"#,
    r#"forbidden = ["é"]"#,
    r#"forbidden = ["delete_account"]
extra = 1"#,
    r#"require_approval = 7"#,
    "forbidden = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]",
    r#"FORBIDDEN = ["x"]"#,
];

/// Configs every twin accepts, and actions to judge under each.
const GOOD_CONFIGS: &[&str] = &[
    "",
    r#"forbidden = ["delete_*", "wire_out"]
require_approval = ["refund", "send_*"]"#,
    r#"forbidden = ["*"]"#,
    r#"require_approval = ["*"]"#,
    r#"allowed = []"#,
    r#"allowed = ["read_*", "refund"]
forbidden = ["read_secret"]
require_approval = ["refund"]"#,
    r#"forbidden = ["Delete_Account"]"#,
];

const ACTIONS: &[&str] = &[
    "search_web",
    "delete_account",
    "DELETE_ACCOUNT",
    "delete_",
    "wire_out",
    "wire_outbound",
    "refund",
    "Refund",
    "send_email",
    "send",
    "read_secret",
    "read_file",
    "a",
    "x.y:z/w-v",
];

fn load(component: &str, config: &str) -> Result<PolicySet, String> {
    let manifest = format!(
        "[[policy]]\nname = \"twin\"\npriority = 1\ncomponent = \"{{shipped}}/{component}.wasm\"\n\
         fuel = 200000000\nmemory_mb = 64\n\
         [policy.config]\n{config}\n"
    );
    common::load(&manifest).map_err(|e| e.problem().to_owned())
}

fn summary(decision: &Decision) -> String {
    let reasons: Vec<String> = decision
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.code, r.message))
        .collect();
    format!("{:?} {reasons:?}", decision.verdict)
}

#[test]
fn every_twin_is_shipped() {
    for twin in TWINS {
        let path = common::shipped(twin);
        assert!(path.is_file(), "{} is missing", path.display());
    }
}

#[test]
fn twins_refuse_bad_configs_with_the_same_words() {
    for config in BAD_CONFIGS {
        let expected = match load("sensitive_actions", config) {
            Err(problem) => problem,
            Ok(_) => panic!("the Rust policy accepted {config:?}"),
        };
        assert!(
            expected.contains("config rejected"),
            "{config:?} failed before the config: {expected}"
        );
        for twin in TWINS {
            match load(twin, config) {
                Err(problem) => assert_eq!(problem, expected, "{twin} on {config:?}"),
                Ok(_) => panic!("{twin} accepted {config:?}; Rust said: {expected}"),
            }
        }
    }
}

#[test]
fn twins_decide_like_the_rust_policy() {
    for config in GOOD_CONFIGS {
        let rust = load("sensitive_actions", config).unwrap();
        let twins: Vec<(&str, PolicySet)> = TWINS
            .iter()
            .map(|t| {
                let set = load(t, config).unwrap_or_else(|e| panic!("{t} on {config:?}: {e}"));
                (*t, set)
            })
            .collect();
        for action in ACTIONS {
            let request = format!(r#"{{"agent_id":"a","action":"{action}"}}"#);
            let expected = summary(&common::decide(&rust, &request));
            for (twin, set) in &twins {
                let got = summary(&common::decide(set, &request));
                assert_eq!(got, expected, "{twin}, config {config:?}, action {action}");
            }
        }
    }
}
