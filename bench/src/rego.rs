//! Rego as a [`Peer`]: the four shipped policies written in Rego
//! (`bench/policies/{sensitive_actions,transaction_limit,business_hours,pii_egress}.rego`,
//! combined by `bench/policies/gavel.rego`), evaluated with `regorus`,
//! Microsoft's Rego interpreter.
//!
//! Unlike the Cedar peer, the Rego policies hold Gavel's whole logic: the
//! action patterns (`delete_*` as a prefix), the limits looked up by agent
//! with a `default`, the currency compared ignoring case, the business
//! window computed from `"09:00"`/`"17:00"` and the day list, each
//! policy's checks in order, and the combination by priority (first deny,
//! else first escalation) in `gavel.rego`. Amounts are Rego numbers, which
//! regorus keeps as `f64` and compares exactly with integers, so Gavel's
//! comparisons carry over unchanged.
//!
//! What the harness computes ([`crate::facts`]) and passes as input:
//!
//! - `local.minutes`, `local.weekday`: the local time in America/New_York.
//!   regorus's `time.*` builtins (its `time` feature, chrono-tz) are not
//!   used, so that the zone rules are the policy's own (jiff's compiled-in
//!   tz database) and the crate is built without them;
//! - `pii_kinds`: the kinds the pii-egress policy's own scanner finds in
//!   `params`. Rego's regex builtins cannot reproduce the scanner (Luhn,
//!   IBAN mod-97, SSN area/group/serial rules, phone shapes, token
//!   entropy, email domains): the detection is the harness's.
//!
//! The policies are parsed once, into a prepared [`regorus::Engine`]; each
//! decision builds the input and evaluates `data.gavel.outcome`. regorus's
//! `eval_rule` takes `&mut self`, so [`RegoMode`] picks how a `&self` peer
//! gets a mutable engine: a `RefCell` around one engine (the default, the
//! cheapest measured), a clone of the prepared engine per decision, or a
//! [`regorus::CompiledPolicy`] (`eval_with_input`, which builds an engine
//! from the compiled policy per call). The facts are computed inside
//! [`decide`](RegoPeer::decide), so they count in its time.
//!
//! The policies encode the shipped configuration only.

use crate::facts::facts;
use crate::peer::{Outcome, Peer};
use regorus::{CompiledPolicy, Engine, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The policy files, as `(path, text)`.
pub const POLICIES: [(&str, &str); 5] = [
    (
        "sensitive_actions.rego",
        include_str!("../policies/sensitive_actions.rego"),
    ),
    (
        "transaction_limit.rego",
        include_str!("../policies/transaction_limit.rego"),
    ),
    (
        "business_hours.rego",
        include_str!("../policies/business_hours.rego"),
    ),
    (
        "pii_egress.rego",
        include_str!("../policies/pii_egress.rego"),
    ),
    ("gavel.rego", include_str!("../policies/gavel.rego")),
];

/// The rule every decision evaluates.
pub const OUTCOME_RULE: &str = "data.gavel.outcome";

/// How a decision gets a mutable engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegoMode {
    /// One prepared engine in a `RefCell`, reused: set input, evaluate.
    Shared,
    /// A clone of the prepared engine per decision.
    ClonePerCall,
    /// `CompiledPolicy::eval_with_input` (an engine built from the
    /// compiled policy per call).
    Compiled,
}

enum Prepared {
    Shared(RefCell<Engine>),
    ClonePerCall(Engine),
    Compiled(CompiledPolicy),
}

/// regorus deciding the shipped policies.
pub struct RegoPeer {
    prepared: Prepared,
    name: &'static str,
}

impl std::fmt::Debug for RegoPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPeer")
            .field("name", &self.name)
            .finish()
    }
}

impl RegoPeer {
    /// The shipped policies, in the default (cheapest) mode.
    pub fn shipped() -> Result<Self, crate::Error> {
        Self::with_mode(RegoMode::Shared)
    }

    /// The shipped policies, getting a mutable engine as `mode` says.
    pub fn with_mode(mode: RegoMode) -> Result<Self, crate::Error> {
        let mut engine = Engine::new();
        for (path, text) in POLICIES {
            engine
                .add_policy(path.to_owned(), text.to_owned())
                .map_err(|e| format!("{path}: {e}"))?;
        }
        // Evaluate once so that whatever regorus prepares lazily is ready
        // (and a broken policy fails here, not in the first decision).
        engine.set_input(Value::new_object());
        engine
            .eval_rule(OUTCOME_RULE.to_owned())
            .map_err(|e| format!("{OUTCOME_RULE}: {e}"))?;
        let (prepared, name) = match mode {
            RegoMode::Shared => (Prepared::Shared(RefCell::new(engine)), "rego"),
            RegoMode::ClonePerCall => (Prepared::ClonePerCall(engine), "rego-clone"),
            RegoMode::Compiled => {
                let rule: regorus::Rc<str> = OUTCOME_RULE.into();
                (
                    Prepared::Compiled(
                        engine
                            .compile_with_entrypoint(&rule)
                            .map_err(|e| format!("compile: {e}"))?,
                    ),
                    "rego-compiled",
                )
            }
        };
        Ok(RegoPeer { prepared, name })
    }

    /// The outcome rule's value for `request`.
    pub fn evaluate(&self, request: &gavel::Request) -> Result<Value, crate::Error> {
        let input = input(request);
        let value = match &self.prepared {
            Prepared::Shared(engine) => {
                let mut engine = engine
                    .try_borrow_mut()
                    .map_err(|_| "the engine is in use (re-entrant decide)")?;
                engine.set_input(input);
                engine.eval_rule(OUTCOME_RULE.to_owned())?
            }
            Prepared::ClonePerCall(prepared) => {
                let mut engine = prepared.clone();
                engine.set_input(input);
                engine.eval_rule(OUTCOME_RULE.to_owned())?
            }
            Prepared::Compiled(policy) => policy.eval_with_input(input)?,
        };
        Ok(value)
    }
}

/// The input document for `request`: the request's fields the policies
/// read, and the harness's facts.
pub fn input(request: &gavel::Request) -> Value {
    let facts = facts(request);
    let mut map = BTreeMap::new();
    map.insert(
        Value::from("agent_id"),
        Value::from(request.agent_id.as_str()),
    );
    map.insert(Value::from("action"), Value::from(request.action.as_str()));
    if let Some(amount) = request.amount {
        map.insert(Value::from("amount"), Value::from(amount));
    }
    if let Some(currency) = &request.currency {
        map.insert(Value::from("currency"), Value::from(currency.as_str()));
    }
    let mut local = BTreeMap::new();
    local.insert(Value::from("minutes"), Value::from(facts.local_minutes));
    local.insert(Value::from("weekday"), Value::from(facts.weekday));
    map.insert(Value::from("local"), Value::from(local));
    map.insert(
        Value::from("pii_kinds"),
        Value::from(
            facts
                .pii_kinds
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>(),
        ),
    );
    Value::from(map)
}

/// The peer's outcome from the outcome rule's value.
fn outcome(value: &Value) -> Outcome {
    let field = |key: &str| -> Option<String> {
        value
            .as_object()
            .ok()?
            .get(&Value::from(key))?
            .as_string()
            .ok()
            .map(|s| s.to_string())
    };
    match (field("verdict").as_deref(), field("code")) {
        (Some("approve"), None) => Outcome::approve(),
        (Some("deny"), Some(code)) => Outcome::deny(&code),
        (Some("escalate"), Some(code)) => Outcome::escalate(&code),
        _ => Outcome::deny("rego-bad-outcome"),
    }
}

impl Peer for RegoPeer {
    fn name(&self) -> &'static str {
        self.name
    }

    fn decide(&self, request: &gavel::Request) -> Outcome {
        match self.evaluate(request) {
            Ok(value) => outcome(&value),
            Err(_) => Outcome::deny("rego-evaluation-error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_out_order_is_the_priority_order() {
        let mut engine = Engine::new();
        for (path, text) in POLICIES {
            engine.add_policy(path.to_owned(), text.to_owned()).unwrap();
        }
        engine.set_input(Value::new_object());
        let order = engine.eval_rule("data.gavel.order".to_owned()).unwrap();
        let names: Vec<String> = order
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_string().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "sensitive-actions",
                "transaction-limit",
                "business-hours",
                "pii-egress"
            ]
        );
        let judgements = POLICIES
            .iter()
            .find(|(path, _)| *path == "gavel.rego")
            .unwrap()
            .1;
        let listed: Vec<&str> = judgements
            .lines()
            .filter_map(|l| l.trim().strip_prefix("data.gavel.policies."))
            .filter_map(|l| l.strip_suffix(".judgement,"))
            .collect();
        let packages: Vec<String> = names.iter().map(|n| n.replace('-', "_")).collect();
        assert_eq!(listed, packages);
    }
}
