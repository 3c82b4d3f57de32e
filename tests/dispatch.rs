//! The dispatch index finds exactly the policies that judge an action:
//! the same set, in the same order, as asking every policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{load, root};
use proptest::prelude::*;

/// The shipped set, loaded once for every case.
fn shipped() -> &'static gavel::PolicySet {
    static SET: std::sync::OnceLock<gavel::PolicySet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("policies-wasm/policies.toml")).unwrap();
        load(&text.replace("component = \"", "component = \"{shipped}/")).unwrap()
    })
}

fn brute_force(set: &gavel::PolicySet, action: &str) -> Vec<String> {
    set.policies()
        .iter()
        .filter(|p| p.applies_to(action))
        .map(|p| p.name().to_owned())
        .collect()
}

fn indexed(set: &gavel::PolicySet, action: &str) -> Vec<String> {
    set.applicable(action)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_shipped_name_reaches_the_policies_that_declared_it() {
    let set = shipped();
    // (action, policies that judge it, in evaluation order)
    let cases: [(&str, &[&str]); 7] = [
        ("read_docs", &["rate-limit"]),
        (
            "execute_transaction",
            &[
                "rate-limit",
                "budget",
                "transaction-limit",
                "business-hours",
            ],
        ),
        (
            "Execute_Transaction",
            &[
                "rate-limit",
                "budget",
                "transaction-limit",
                "business-hours",
            ],
        ),
        (
            "send_contract",
            &["rate-limit", "prerequisites", "business-hours"],
        ),
        ("send_email", &["rate-limit", "pii-egress"]),
        ("send_emails", &["rate-limit"]),
        ("delete_files", &["sensitive-actions", "rate-limit"]),
    ];
    for (action, expected) in cases {
        assert_eq!(set.applicable(action), expected, "{action}");
        assert_eq!(indexed(set, action), brute_force(set, action), "{action}");
    }
}

proptest! {
    #[test]
    fn the_index_agrees_with_asking_every_policy(
        base in prop::sample::select(vec![
            "execute_transaction", "send_email", "send_contract", "delete_account", "delete_",
            "issue_refund", "make_payment", "http_post", "modify_production", "x",
        ]),
        suffix in "[a-z_]{0,3}",
        upper in any::<u64>(),
    ) {
        let set = shipped();
        let action: String = format!("{base}{suffix}")
            .chars()
            .enumerate()
            .map(|(i, c)| if upper >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(indexed(set, &action), brute_force(set, &action));
    }
}
