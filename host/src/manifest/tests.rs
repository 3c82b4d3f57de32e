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
/// (`None` for a manifest-level error) and fragments of the problem (the
/// line, the key, what is wrong).
const BROKEN: &[(&str, Option<&str>, &[&str])] = &[
    (
        "requir_registered_agents = true",
        None,
        &[
            "line 1, column 1",
            "unknown field `requir_registered_agents`",
        ],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfule = 5",
        Some("a"),
        &["line 5", "unknown field `fule`"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"",
        Some("a"),
        &["line 1", "missing field `priority`"],
    ),
    (
        "[[policy]]\ncomponent = \"a.wasm\"\npriority = 1",
        Some("#1"),
        &["line 1", "missing field `name`"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n[[policy]]\nname = \"a\"\ncomponent = \"b.wasm\"\npriority = 2",
        Some("a"),
        &["line 6", "duplicate policy name"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nmode = \"audit\"",
        Some("a"),
        &["line 5", "mode", "unknown variant `audit`"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\non_error = \"allow\"",
        Some("a"),
        &["line 5", "on_error", "unknown variant `allow`"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\napplies_to = []",
        Some("a"),
        &["line 5", "applies_to is empty"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\napplies_to = [\"a*b\"]",
        Some("a"),
        &["line 5", "applies_to"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfuel = 0",
        Some("a"),
        &["line 5", "fuel"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfuel = -1",
        Some("a"),
        &["line 5", "fuel"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nmemory_mb = 0",
        Some("a"),
        &["line 5", "memory_mb"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\ntimeout_ms = 0",
        Some("a"),
        &["line 5", "timeout_ms"],
    ),
    (
        "[[policy]]\nname = \"a b\"\ncomponent = \"a.wasm\"\npriority = 1",
        Some("a b"),
        &["line 2", "name must be"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n[policy.config]\nx = nan",
        Some("a"),
        &["line 5", "config.x"],
    ),
    // Integers out of range name the policy, the key and the line.
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 9223372036854775808",
        Some("a"),
        &["line 4", "priority", "9223372036854775808"],
    ),
    (
        "# two\n# comments\n[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nfuel = 18446744073709551615",
        Some("a"),
        &["line 7", "fuel", "18446744073709551615"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n\n[[policy]]\nname = \"b\"\ncomponent = \"b.wasm\"\npriority = 1\nmemory_mb = 18446744073709551616",
        Some("b"),
        &["line 10", "memory_mb"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n[policy.config]\nlimit = 18446744073709551615",
        Some("a"),
        &["line 6", "config.limit"],
    ),
    (
        "[agents.x]\nrisk_tier = 5",
        None,
        &["line 2", "agent `x`: risk_tier must be 1..4"],
    ),
    (
        "[agents.x]\nrisk_tier = 2\nteam = \"t\"",
        None,
        &["line 3", "agent `x`: unknown field `team`"],
    ),
    (
        "[agents.x]\nowner = \"t\"",
        None,
        &["line 1", "agent `x`: missing field `risk_tier`"],
    ),
    (
        "[agents.x]\nrisk_tier = 256",
        None,
        &["line 2", "agent `x`", "risk_tier"],
    ),
    ("[[policy]\nname = 1", None, &["line 1"]),
    ("a = \"unterminated", None, &["line 1, column"]),
    // Agent ids follow the identifier contract, and are unique regardless
    // of ASCII case.
    (
        "[agents.\"financial advisor\"]\nrisk_tier = 1",
        None,
        &["line 1", "agent `financial advisor`", "U+0020 (space)"],
    ),
    (
        "[agents.\"advisor\\u200b\"]\nrisk_tier = 1",
        None,
        &["line 1", "U+200B (zero-width space)"],
    ),
    (
        "[agents.Financial-Advisor]\nrisk_tier = 1\n[agents.financial-advisor]\nrisk_tier = 4",
        None,
        &[
            "line 3",
            "agent `financial-advisor`",
            "`Financial-Advisor`",
            "ASCII case",
        ],
    ),
    // A manifest names at least one policy, or says `approve_all = true`.
    ("", None, &["empty (0 bytes)", "approve_all = true"]),
    ("  \n\t\n", None, &["blank", "approve_all = true"]),
    (
        "# policies come later\n# [[policy]]\n",
        None,
        &["names no policy", "approve_all = true"],
    ),
    (
        "require_registered_agents = true\n[agents.a]\nrisk_tier = 1\n",
        None,
        &["names no policy", "approve_all = true"],
    ),
    ("approve_all = false\n", None, &["names no policy"]),
    (
        "approve_all = true\n[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1",
        None,
        &["line 1", "approve_all", "contradicts"],
    ),
    ("approve_all = \"yes\"\n", None, &["line 1", "approve_all"]),
    (
        "max_component_mb = 0\n[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1",
        None,
        &["line 1", "max_component_mb must be 1..1024, not 0"],
    ),
    (
        "\nmax_component_mb = 1025\n[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1",
        None,
        &["line 2", "max_component_mb must be 1..1024"],
    ),
    (
        "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\nredact = [\"params.x\"]",
        Some("a"),
        &["line 5", "unknown field `redact`"],
    ),
];

#[test]
fn broken_manifests_name_the_problem() {
    for (text, policy, fragments) in BROKEN {
        let err = match parse(text) {
            Ok(m) => panic!("{text:?} was accepted: {m:?}"),
            Err(e) => e,
        };
        let shown = err.to_string();
        assert!(shown.starts_with("/p/policies.toml: "), "{shown}");
        match (policy, &err) {
            (None, LoadError::Manifest { .. }) => {}
            (Some(p), LoadError::Policy { policy, .. }) => assert_eq!(policy, p, "{text}"),
            _ => panic!("{text}: wrong error kind: {err:?}"),
        }
        for fragment in *fragments {
            assert!(
                err.problem().contains(fragment),
                "{text:?}: {fragment:?} not in {shown}"
            );
        }
    }
}

/// A manifest that approves everything says so.
#[test]
fn approve_all_is_explicit() {
    let m = parse("# nothing to enforce yet\napprove_all = true\n").unwrap();
    assert!(m.approve_all && m.policies.is_empty());
    assert!(!parse(GOOD).unwrap().approve_all);
}

/// `max_component_mb` sets every entry's component cap (default 64 MiB).
#[test]
fn max_component_mb_caps_every_component() {
    let one = "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n";
    let rows: &[(&str, u64)] = &[
        ("", 64 << 20),
        ("max_component_mb = 1\n", 1 << 20),
        ("max_component_mb = 1024\n", 1024 << 20),
    ];
    for (top, bytes) in rows {
        let m = parse(&format!("{top}{one}")).unwrap();
        assert_eq!(m.policies[0].max_component_bytes, *bytes, "{top:?}");
    }
}

/// The registry is keyed by the ids' ASCII lower case.
#[test]
fn agents_are_keyed_case_insensitively() {
    let m = parse(&format!(
        "[agents.Financial-Advisor]\nrisk_tier = 4\n{}",
        &GOOD[GOOD.find("[[policy]]").unwrap()..]
    ))
    .unwrap();
    assert_eq!(m.agents["financial-advisor"].risk_tier, 4);
    assert!(!m.agents.contains_key("Financial-Advisor"));
}

#[test]
fn line_numbers_count_from_one() {
    let at = Positions { text: "ab\ncdé\n" };
    let rows = [
        (0, (1, 1)),
        (1, (1, 2)),
        (3, (2, 1)),
        (7, (2, 4)),
        (8, (3, 1)),
        (99, (3, 1)),
    ];
    for (offset, expected) in rows {
        assert_eq!(at.line_col(offset), expected, "offset {offset}");
    }
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
            Err(LoadError::Policy { policy, problem, .. }) => {
                prop_assert_eq!(policy, "p");
                prop_assert!(problem.contains("line "), "{}", problem);
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
