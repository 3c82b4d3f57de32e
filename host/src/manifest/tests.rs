use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> Result<Manifest, LoadError> {
    Manifest::parse(text, Path::new("/p/policies.toml"))
}

const GOOD: &str = r#"
require_registered_agents = true

[agents.financial-advisor]
risk_tier = 4
owner = "payments-team@example.com"

[[policy]]
name = "sensitive-actions"
component = "sensitive_actions.wasm"
priority = 100
applies_to = ["*"]
mode = "enforce"
on_error = "deny"
fuel = 5000
memory_mb = 8
timeout_ms = 20
[policy.config]
forbidden = ["delete_account"]
nested = { max = 1.5, when = 1979-05-27 }

[[policy]]
name = "shadowed"
component = "sub/x.wasm"
priority = -3
mode = "shadow"
on_error = "skip"
isolation = "fresh"
"#;

#[test]
fn parses_every_key() {
    let m = parse(GOOD).unwrap();
    assert!(m.require_registered_agents);
    assert_eq!(m.agents["financial-advisor"].risk_tier, 4);
    let [a, b] = m.policies.as_slice() else {
        panic!("two policies")
    };
    assert_eq!(a.component, Path::new("/p/sensitive_actions.wasm"));
    assert_eq!(a.limits.fuel, 5000);
    assert_eq!(a.limits.memory_bytes, 8 << 20);
    assert_eq!(a.limits.timeout, Duration::from_millis(20));
    assert_eq!(a.isolation, Isolation::Warm);
    let config: Json = serde_json::from_str(&a.config).unwrap();
    assert_eq!(config["forbidden"][0], "delete_account");
    assert_eq!(config["nested"]["max"], 1.5);
    assert_eq!(config["nested"]["when"], "1979-05-27");
    assert_eq!(b.mode, Mode::Shadow);
    assert_eq!(b.on_error, OnError::Skip);
    assert_eq!(b.isolation, Isolation::Fresh);
    assert_eq!(b.priority, -3);
    assert_eq!(b.applies_to, vec![ActionPattern::Any]);
    assert_eq!(b.limits.fuel, DEFAULT_FUEL);
    assert_eq!(b.config, "{}");
}

/// One row per broken manifest: the text, the policy the error must name
/// (`None` for a manifest-level error) and a fragment of the problem.
const BROKEN: &[(&str, Option<&str>, &str)] = &[
    (
        "requir_registered_agents = true",
        None,
        "unknown field `requir_registered_agents`",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfule = 5",
        Some("a"),
        "unknown field `fule`",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"",
        Some("a"),
        "missing field `priority`",
    ),
    (
        "[[policy]]\ncomponent = \"a.wasm\"\npriority = 1",
        Some("#1"),
        "missing field `name`",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n[[policy]]\nname = \"a\"\ncomponent = \"b.wasm\"\npriority = 2",
        Some("a"),
        "duplicate policy name",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nmode = \"audit\"",
        Some("a"),
        "unknown variant `audit`",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\non_error = \"allow\"",
        Some("a"),
        "unknown variant `allow`",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\napplies_to = []",
        Some("a"),
        "applies_to is empty",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\napplies_to = [\"a*b\"]",
        Some("a"),
        "applies_to",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfuel = 0",
        Some("a"),
        "fuel",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfuel = -1",
        Some("a"),
        "fuel",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nmemory_mb = 0",
        Some("a"),
        "memory_mb",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\ntimeout_ms = 0",
        Some("a"),
        "timeout_ms",
    ),
    (
        "[[policy]]\nname = \"a b\"\ncomponent = \"a.wasm\"\npriority = 1",
        Some("a b"),
        "name must be",
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n[policy.config]\nx = nan",
        Some("a"),
        "config.x",
    ),
    (
        "[agents.x]\nrisk_tier = 5",
        None,
        "agent `x`: risk_tier must be 1..4",
    ),
    (
        "[agents.x]\nrisk_tier = 2\nteam = \"t\"",
        None,
        "agent `x`: unknown field `team`",
    ),
    (
        "[agents.x]\nowner = \"t\"",
        None,
        "agent `x`: missing field `risk_tier`",
    ),
    ("[[policy]\nname = 1", None, ""),
];

#[test]
fn broken_manifests_name_the_problem() {
    for (text, policy, fragment) in BROKEN {
        let err = parse(text).expect_err(text);
        let shown = err.to_string();
        assert!(shown.starts_with("/p/policies.toml: "), "{shown}");
        match (policy, &err) {
            (None, LoadError::Manifest { .. }) => {}
            (Some(p), LoadError::Policy { policy, .. }) => assert_eq!(policy, p, "{text}"),
            _ => panic!("{text}: wrong error kind: {err:?}"),
        }
        assert!(err.problem().contains(fragment), "{text}: {shown}");
    }
}

#[test]
fn empty_manifest_has_no_policies() {
    let m = parse("").unwrap();
    assert!(m.policies.is_empty() && m.agents.is_empty() && !m.require_registered_agents);
}

proptest! {
    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    /// Arbitrary values for each policy key: accepted or refused with an
    /// error naming the policy, never a panic.
    #[test]
    fn arbitrary_policy_values_are_checked(
        fuel in any::<i64>(),
        memory_mb in any::<i64>(),
        timeout_ms in any::<i64>(),
        pattern in "[a-z*_]{0,6}",
    ) {
        let text = format!(
            "[[policy]]\nname = \"p\"\ncomponent = \"p.wasm\"\npriority = 1\nfuel = {fuel}\nmemory_mb = {memory_mb}\ntimeout_ms = {timeout_ms}\napplies_to = [\"{pattern}\"]\n"
        );
        match parse(&text) {
            Ok(m) => {
                let p = &m.policies[0];
                prop_assert!(p.limits.fuel >= 1);
                prop_assert!(p.limits.memory_bytes >= 1 << 20);
                prop_assert!(!p.limits.timeout.is_zero());
            }
            Err(LoadError::Policy { policy, .. }) => prop_assert_eq!(policy, "p"),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
