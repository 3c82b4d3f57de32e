//! (With the `cedar` feature.) Cedar as a [`Peer`]: the four shipped
//! policies written in Cedar (`bench/policies/gavel.cedar`, with the agents
//! and action groups in
//! `bench/policies/gavel.entities.json`), evaluated with the `cedar-policy`
//! crate.
//!
//! What Cedar is given, and what the harness computes for it:
//!
//! - the principal is `Agent::"<agent_id>"`, the action `Action::"<action>"`
//!   and the resource a fixed `Request::"request"`; the entity store (loaded
//!   once) holds the registered agents (risk tier, owner) and the action
//!   groups: forbidden, approval-required, transaction, business-hours,
//!   outbound-message;
//! - `context.action` is the action's name again, as a string, because
//!   `require_approval` holds the glob `delete_*`: Cedar matches it with
//!   `like "delete_*"` (Gavel's patterns are exact names or a prefix ending
//!   in `*`; the rest of the lists are action-group memberships);
//! - `context.amount` is the amount as a Cedar `decimal`, which has four
//!   fractional digits where Gavel compares `f64`s: the harness rounds the
//!   amount *up* to the next 1/10000, exactly (from the float's bits), so
//!   that `amount > t` in Gavel iff `decimal > t` in Cedar for every
//!   threshold `t` with at most four decimals (the workload's "one ulp above
//!   the max" amounts included). Amounts above Cedar's largest decimal
//!   (about 9.2e14) are clamped to it, which keeps them above every
//!   threshold. `context.currency` is the currency as given; both are
//!   absent when the request has none;
//! - `context.local_minutes` and `context.weekday` are the local time in
//!   America/New_York, from [`crate::facts`] (Cedar has no time zones);
//! - `context.pii_kinds` is the set of PII kinds the pii-egress policy's own
//!   scanner finds in `params`, from [`crate::facts`]: Cedar cannot scan
//!   text, so the detection itself is the harness's, and the Cedar policy
//!   only decides what a kind found means for which actions.
//!
//! Gavel's three verdicts and priority order do not exist in Cedar (which
//! answers Allow or Deny, and combines by "any forbid wins"). Every Gavel
//! rule is a `forbid` annotated with `@policy`, `@priority`, `@rule`,
//! `@verdict` and `@code`; one `permit` allows the rest. After one
//! `is_authorized`, [`CedarPeer::decide`] reads the determining policies
//! (`diagnostics().reason()`), takes each Gavel policy's lowest-numbered
//! satisfied rule as its judgement, and applies Gavel's combination: in
//! descending priority (ties by name), the first deny decides, else the
//! first escalation, else approve.
//!
//! The policies encode the shipped configuration only (`policies.toml`'s
//! values are written into the Cedar text); they are not generated from a
//! manifest. The harness's facts are computed inside
//! [`decide`](CedarPeer::decide), so they count in its time; see
//! [`crate::facts`] to time them apart.

use crate::facts::{Facts, facts};
use crate::peer::{Outcome, Peer};
use cedar_policy::{
    Authorizer, Context, Entities, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet,
    Request, RestrictedExpression,
};
use std::collections::HashMap;
use std::str::FromStr;

/// The Cedar policies.
pub const POLICIES: &str = include_str!("../policies/gavel.cedar");

/// The entity store: registered agents and action groups.
pub const ENTITIES: &str = include_str!("../policies/gavel.entities.json");

/// What a Gavel rule's annotations say.
#[derive(Debug, Clone)]
struct RuleInfo {
    policy: String,
    priority: i64,
    rule: u32,
    deny: bool,
    code: String,
}

/// Cedar deciding the shipped policies.
#[derive(Debug)]
pub struct CedarPeer {
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
    /// The annotations of every `forbid`, by policy id.
    rules: HashMap<PolicyId, RuleInfo>,
    agent_type: EntityTypeName,
    action_type: EntityTypeName,
    resource: EntityUid,
}

impl CedarPeer {
    /// Parse the policies and entities (once).
    pub fn shipped() -> Result<Self, crate::Error> {
        let policies = PolicySet::from_str(POLICIES).map_err(|e| format!("gavel.cedar: {e}"))?;
        let entities =
            Entities::from_json_str(ENTITIES, None).map_err(|e| format!("entities: {e}"))?;
        let mut rules = HashMap::new();
        for policy in policies.policies() {
            let Some(name) = policy.annotation("policy") else {
                continue;
            };
            let get = |key: &str| {
                policy
                    .annotation(key)
                    .ok_or_else(|| format!("policy {}: no @{key}", policy.id()))
            };
            let verdict = get("verdict")?;
            let info = RuleInfo {
                policy: name.to_owned(),
                priority: get("priority")?.parse()?,
                rule: get("rule")?.parse()?,
                deny: match verdict {
                    "deny" => true,
                    "escalate" => false,
                    other => return Err(format!("@verdict(\"{other}\")").into()),
                },
                code: get("code")?.to_owned(),
            };
            rules.insert(policy.id().clone(), info);
        }
        Ok(CedarPeer {
            policies,
            entities,
            authorizer: Authorizer::new(),
            rules,
            agent_type: EntityTypeName::from_str("Agent")?,
            action_type: EntityTypeName::from_str("Action")?,
            resource: EntityUid::from_str(r#"Request::"request""#)?,
        })
    }

    /// The Cedar request for `request` with `facts`.
    fn request(&self, request: &gavel::Request, facts: Facts) -> Result<Request, crate::Error> {
        let mut context: Vec<(String, RestrictedExpression)> = Vec::with_capacity(6);
        context.push((
            "action".to_owned(),
            RestrictedExpression::new_string(request.action.clone()),
        ));
        if let Some(amount) = request.amount {
            context.push((
                "amount".to_owned(),
                RestrictedExpression::new_decimal(decimal_ceil(amount)),
            ));
        }
        if let Some(currency) = &request.currency {
            context.push((
                "currency".to_owned(),
                RestrictedExpression::new_string(currency.clone()),
            ));
        }
        context.push((
            "local_minutes".to_owned(),
            RestrictedExpression::new_long(i64::from(facts.local_minutes)),
        ));
        context.push((
            "weekday".to_owned(),
            RestrictedExpression::new_string(facts.weekday.to_owned()),
        ));
        context.push((
            "pii_kinds".to_owned(),
            RestrictedExpression::new_set(
                facts
                    .pii_kinds
                    .into_iter()
                    .map(RestrictedExpression::new_string),
            ),
        ));
        Ok(Request::new(
            EntityUid::from_type_name_and_id(
                self.agent_type.clone(),
                EntityId::new(&request.agent_id),
            ),
            EntityUid::from_type_name_and_id(
                self.action_type.clone(),
                EntityId::new(&request.action),
            ),
            self.resource.clone(),
            Context::from_pairs(context)?,
            None,
        )?)
    }
}

impl Peer for CedarPeer {
    fn name(&self) -> &'static str {
        "cedar"
    }

    fn decide(&self, request: &gavel::Request) -> Outcome {
        let cedar_request = match self.request(request, facts(request)) {
            Ok(r) => r,
            Err(_) => return Outcome::deny("cedar-request-error"),
        };
        let response =
            self.authorizer
                .is_authorized(&cedar_request, &self.policies, &self.entities);
        if response.diagnostics().errors().next().is_some() {
            // A rule that errs is skipped by Cedar; Gavel has no such case
            // here, so show it as a disagreement rather than hide it.
            return Outcome::deny("cedar-evaluation-error");
        }
        let mut hits: Vec<&RuleInfo> = response
            .diagnostics()
            .reason()
            .filter_map(|id| self.rules.get(id))
            .collect();
        // Gavel's order: descending priority, ties by name; within a
        // policy, its rules in order.
        hits.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.policy.cmp(&b.policy))
                .then_with(|| a.rule.cmp(&b.rule))
        });
        let mut escalation: Option<&str> = None;
        let mut previous: Option<&str> = None;
        for hit in hits {
            if previous == Some(hit.policy.as_str()) {
                // Not this policy's first satisfied rule: it never runs.
                continue;
            }
            previous = Some(hit.policy.as_str());
            if hit.deny {
                return Outcome::deny(&hit.code);
            }
            escalation.get_or_insert(hit.code.as_str());
        }
        match escalation {
            Some(code) => Outcome::escalate(code),
            None => Outcome::approve(),
        }
    }
}

/// The largest Cedar decimal, in ten-thousandths.
const DECIMAL_MAX: i64 = i64::MAX;

/// `amount` (finite, >= 0) rounded up to the next multiple of 1/10000,
/// exactly, written as a Cedar decimal literal (`1000.0001`); clamped to
/// Cedar's largest decimal.
pub fn decimal_ceil(amount: f64) -> String {
    let units = ten_thousandths_ceil(amount);
    format!("{}.{:04}", units / 10_000, units % 10_000)
}

/// `ceil(amount * 10000)` computed exactly from the float's bits (a float
/// product would round `1000 + ulp` down to `1000`), clamped to
/// `0..=i64::MAX`.
pub fn ten_thousandths_ceil(amount: f64) -> i64 {
    if amount.is_nan() || amount <= 0.0 {
        return 0;
    }
    // 9e14 * 10000 < i64::MAX; anything larger is past every threshold.
    if amount >= 9.0e14 {
        return DECIMAL_MAX;
    }
    let bits = amount.to_bits();
    let exponent = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1_u64 << 52) - 1);
    // amount = mantissa * 2^power, exactly.
    let (mantissa, power) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1_u64 << 52), exponent - 1075)
    };
    // Below 9e14 < 2^50 a normal float's 53-bit mantissa puts its lowest
    // bit below 2^0: the power is negative.
    let Some(shift) = power.checked_neg().and_then(|s| u32::try_from(s).ok()) else {
        return DECIMAL_MAX;
    };
    let scaled = u128::from(mantissa) * 10_000;
    let units = if shift >= 128 {
        u128::from(scaled != 0)
    } else {
        let quotient = scaled >> shift;
        let remainder = scaled & ((1_u128 << shift) - 1);
        quotient + u128::from(remainder != 0)
    };
    i64::try_from(units).unwrap_or(DECIMAL_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_up_exactly() {
        let up = |a: f64| f64::from_bits(a.to_bits() + 1);
        assert_eq!(decimal_ceil(0.0), "0.0000");
        assert_eq!(decimal_ceil(1000.0), "1000.0000");
        assert_eq!(decimal_ceil(up(1000.0)), "1000.0001");
        // The float nearest 100.01 is a hair above it.
        assert_eq!(decimal_ceil(100.01), "100.0101");
        assert_eq!(decimal_ceil(100.5), "100.5000");
        assert_eq!(decimal_ceil(5e-324), "0.0001");
        assert_eq!(decimal_ceil(1e300), "922337203685477.5807");
    }

    #[test]
    fn rounding_up_keeps_every_comparison_with_a_grid_threshold() {
        let next = |a: f64| f64::from_bits(a.to_bits() + 1);
        let prev = |a: f64| f64::from_bits(a.to_bits() - 1);
        for (threshold, units) in [
            (0.5, 5_000),
            (100.0, 1_000_000),
            (500.0, 5_000_000),
            (1000.0, 10_000_000),
        ] {
            let mut amounts = vec![0.0, threshold, next(threshold), prev(threshold)];
            for delta in [1e-12, 1e-9, 5e-5, 1e-4, 1.5e-4, 0.01, 0.3] {
                amounts.push(threshold + delta);
                amounts.push((threshold - delta).max(0.0));
            }
            amounts.extend((0..20_000).map(|i| f64::from(i) * 0.1003));
            for a in amounts {
                assert_eq!(
                    a > threshold,
                    ten_thousandths_ceil(a) > units,
                    "{a} vs {threshold}"
                );
            }
        }
        assert_eq!(ten_thousandths_ceil(next(0.0)), 1);
    }
}
