//! [`DispatchIndex`]: which policies may judge an action, found without
//! asking every policy.
//!
//! Built once per policy set at load. A policy whose declared interest (or,
//! without one, whose `applies_to`) lists only exact action names is
//! indexed under those names; every other policy (a `*` or a prefix) is
//! checked on each request. The final word stays with
//! [`Policy::applies_to`]: the index only narrows whom to ask. With 64
//! policies of which 4 concern an action, a decision looks at 4 (plus
//! the wildcard ones), not 64.

use crate::action_pattern::ActionPattern;
use crate::identifier::identifier_key;
use crate::policy::Policy;
use std::collections::HashMap;

/// Policies by the action names they may judge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchIndex {
    /// Lower-case action name → policy indexes, ascending.
    exact: HashMap<String, Vec<usize>>,
    /// Policies to check on every request, ascending.
    always: Vec<usize>,
}

/// The exact names a pattern list is limited to, if it is.
fn exact_names(patterns: &[ActionPattern]) -> Option<Vec<String>> {
    patterns
        .iter()
        .map(|p| match p {
            ActionPattern::Exact(name) => Some(identifier_key(name)),
            ActionPattern::Any | ActionPattern::Prefix(_) => None,
        })
        .collect()
}

impl DispatchIndex {
    /// Index `policies` (in evaluation order).
    pub fn build(policies: &[Policy]) -> Self {
        let mut index = DispatchIndex::default();
        for (i, policy) in policies.iter().enumerate() {
            let names = policy
                .interest
                .as_deref()
                .and_then(exact_names)
                .or_else(|| exact_names(&policy.entry.applies_to));
            match names {
                Some(names) => {
                    for name in names {
                        let list = index.exact.entry(name).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => index.always.push(i),
            }
        }
        index
    }

    /// The indexes of the policies that may judge `action`, ascending
    /// (evaluation order), into `out`.
    pub fn candidates(&self, action: &str, out: &mut Vec<usize>) {
        out.clear();
        let named = if action.bytes().any(|b| b.is_ascii_uppercase()) {
            self.exact.get(&identifier_key(action))
        } else {
            self.exact.get(action)
        };
        let named = named.map_or(&[][..], Vec::as_slice);
        // Merge two ascending lists.
        let (mut a, mut b) = (named.iter().peekable(), self.always.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(i) = next {
                out.push(*i);
            }
        }
    }

    /// How many policies are checked on every request.
    pub fn unindexed(&self) -> usize {
        self.always.len()
    }
}
