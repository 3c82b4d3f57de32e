//! Every hostile fixture against the host, in both isolation modes: the
//! host survives, the decision fails closed with the right code, and other
//! policies are unaffected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{decide, load};
use gavel::{RunVerdict, Verdict};

/// One row per case: fixture, extra manifest keys, config, request params,
/// the expected final verdict, the policy's expected run verdict and code,
/// and a fragment its message must contain.
struct Case {
    fixture: &'static str,
    keys: &'static str,
    config: &'static str,
    verdict: Verdict,
    run: RunVerdict,
    code: &'static str,
    fragment: &'static str,
}

const CASES: &[Case] = &[
    Case {
        fixture: "hostile_infinite_loop",
        keys: "fuel = 10000000",
        config: "",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "out-of-fuel",
        fragment: "ran out of fuel (limit 10000000)",
    },
    Case {
        fixture: "hostile_infinite_loop",
        keys: "fuel = 1000000000000000\ntimeout_ms = 30",
        config: "",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "timeout",
        fragment: "deadline of 30 ms",
    },
    Case {
        fixture: "hostile_memory_hog",
        keys: "memory_mb = 16\nfuel = 1000000000000",
        config: "",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "out-of-memory",
        fragment: "memory cap of 16 MiB",
    },
    Case {
        fixture: "hostile_trap",
        keys: "",
        config: "",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "trap",
        fragment: "unreachable",
    },
    Case {
        fixture: "hostile_trap",
        keys: "on_error = \"skip\"",
        config: "",
        verdict: Verdict::Approve,
        run: RunVerdict::Error,
        code: "trap",
        fragment: "trapped",
    },
    Case {
        fixture: "hostile_sleeper",
        keys: "",
        config: "",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "trap",
        fragment: "may not sleep",
    },
    Case {
        fixture: "hostile_garbage_verdict",
        keys: "",
        config: "kind = \"empty-code\"",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "invalid-verdict",
        fragment: "reason code \"\"",
    },
    Case {
        fixture: "hostile_garbage_verdict",
        keys: "",
        config: "kind = \"bad-code\"",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "invalid-verdict",
        fragment: "Not A Code!",
    },
    Case {
        fixture: "hostile_garbage_verdict",
        keys: "",
        config: "kind = \"long-code\"",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "invalid-verdict",
        fragment: "1..64",
    },
    Case {
        fixture: "hostile_garbage_verdict",
        keys: "",
        config: "kind = \"huge-message\"",
        verdict: Verdict::Deny,
        run: RunVerdict::Error,
        code: "invalid-verdict",
        fragment: "1048576 bytes",
    },
];

fn manifest(case: &Case, isolation: &str) -> String {
    format!(
        "isolation = \"{isolation}\"\n[[policy]]\nname = \"hostile\"\ncomponent = \"{{fixtures}}/{}.wasm\"\npriority = 10\n{}\n[policy.config]\n{}\n",
        case.fixture, case.keys, case.config
    )
}

#[test]
fn hostile_fixtures_fail_closed_in_both_isolation_modes() {
    for isolation in ["warm", "fresh"] {
        for case in CASES {
            let label = format!(
                "{} [{}] {isolation}",
                case.fixture,
                case.keys.replace('\n', " ")
            );
            let set = load(&manifest(case, isolation)).unwrap_or_else(|e| panic!("{label}: {e}"));
            // Twice: the second call must get a working (replaced) instance
            // and fail the same way, not an unusable trapped one.
            for attempt in 0..2 {
                let d = decide(&set, r#"{"agent_id":"a","action":"act"}"#);
                assert_eq!(d.verdict, case.verdict, "{label} #{attempt}: {d:?}");
                let [run] = d.policies.as_slice() else {
                    panic!("{label}: {d:?}")
                };
                assert_eq!(run.verdict, case.run, "{label}");
                assert_eq!(run.code.as_deref(), Some(case.code), "{label}: {run:?}");
                let message = run.message.as_deref().unwrap_or_default();
                assert!(message.contains(case.fragment), "{label}: {message}");
                assert!(
                    message.contains("`hostile`"),
                    "{label}: names the policy: {message}"
                );
                match case.verdict {
                    Verdict::Deny => {
                        let [reason] = d.reasons.as_slice() else {
                            panic!("{label}: {d:?}")
                        };
                        assert_eq!(
                            (reason.policy.as_str(), reason.code.as_str()),
                            ("hostile", case.code)
                        );
                    }
                    _ => assert!(d.reasons.is_empty(), "{label}: skip adds no reason"),
                }
            }
        }
    }
}

#[test]
fn sandbox_grants_no_files_env_network_or_clock() {
    let secret = std::env::temp_dir().join("gavel-sandbox-probe-secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    // The probe reads this file and the host's PATH, both of which exist.
    let set = load("[[policy]]\nname = \"probe\"\ncomponent = \"{fixtures}/hostile_sandbox_probe.wasm\"\npriority = 1\n").unwrap();
    let request = serde_json::json!({
        "agent_id": "a",
        "action": "act",
        "params": {"path": secret.display().to_string(), "env": "PATH"},
        "timestamp": "2026-11-20T15:00:00.123Z",
    });
    let d = decide(&set, &request.to_string());
    let [reason] = d.reasons.as_slice() else {
        panic!("{d:?}")
    };
    assert_eq!(
        reason.code, "sandbox-held",
        "the probe escaped: {}",
        reason.message
    );
    for attempt in ["read ", "list /", "env PATH", "connect"] {
        assert!(
            reason.message.contains(attempt),
            "{attempt} not tried: {}",
            reason.message
        );
    }
}

#[test]
fn a_failing_policy_never_affects_another() {
    let set = load(
        "[[policy]]\nname = \"trap\"\ncomponent = \"{fixtures}/hostile_trap.wasm\"\npriority = 200\non_error = \"skip\"\n\
         [[policy]]\nname = \"hog\"\ncomponent = \"{fixtures}/hostile_memory_hog.wasm\"\npriority = 150\non_error = \"skip\"\nmemory_mb = 8\n\
         [[policy]]\nname = \"sensitive\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 100\n\
         [policy.config]\nforbidden = [\"delete_account\"]\nrequire_approval = [\"refund\"]\n",
    )
    .unwrap();
    for (action, verdict) in [
        ("delete_account", Verdict::Deny),
        ("refund", Verdict::Escalate),
        ("read", Verdict::Approve),
    ] {
        let d = decide(&set, &format!(r#"{{"agent_id":"a","action":"{action}"}}"#));
        assert_eq!(d.verdict, verdict, "{action}: {d:?}");
        let runs: Vec<_> = d
            .policies
            .iter()
            .map(|r| (r.policy.as_str(), r.verdict))
            .collect();
        assert_eq!(
            runs[..2],
            [("trap", RunVerdict::Error), ("hog", RunVerdict::Error)]
        );
        // `read` is outside the interest `sensitive` declared (its lists):
        // it is not asked.
        assert_eq!(
            runs.get(2).map(|r| r.0),
            (action != "read").then_some("sensitive"),
            "{action}"
        );
    }
}

#[test]
fn trapped_warm_instance_is_replaced() {
    let set = load(
        "[[policy]]\nname = \"trap\"\ncomponent = \"{fixtures}/hostile_trap.wasm\"\npriority = 1\n",
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            decide(&set, r#"{"agent_id":"a","action":"boom"}"#).verdict,
            Verdict::Deny
        );
        // The one action the fixture does not trap on: a working instance.
        let d = decide(
            &set,
            r#"{"agent_id":"a","action":"never-matches-this-action"}"#,
        );
        assert_eq!(d.verdict, Verdict::Approve, "{d:?}");
    }
}

/// One row per component that must be refused at load: the manifest's
/// component line and a fragment of the error.
const REFUSED: &[(&str, &str)] = &[
    (
        "{fixtures}/hostile_wrong_world.wasm",
        "does not implement the gavel:policy world",
    ),
    (
        "{fixtures}/../common/mod.rs",
        "is not a WebAssembly component: it does not start with the WebAssembly magic number",
    ),
    ("{fixtures}/missing.wasm", "could not be read"),
];

#[test]
fn wrong_world_and_non_components_are_refused_at_load() {
    for (component, fragment) in REFUSED {
        let manifest =
            format!("[[policy]]\nname = \"bad\"\ncomponent = \"{component}\"\npriority = 1\n");
        let err = load(&manifest).expect_err(component);
        let shown = err.to_string();
        assert!(shown.contains("policies.toml: policy `bad`: "), "{shown}");
        assert!(shown.contains(fragment), "{component}: {shown}");
    }
}

#[test]
fn wrong_world_error_names_the_expected_interface() {
    let err = load("[[policy]]\nname = \"w\"\ncomponent = \"{fixtures}/hostile_wrong_world.wasm\"\npriority = 1\n").unwrap_err();
    assert!(
        err.to_string().contains("gavel:policy/policy@0.1.0"),
        "{err}"
    );
}
