//! The cross-check: do peers decide every action as the reference does?

use crate::peer::{Outcome, Peer};
use std::fmt;

/// One action on which a peer and the reference disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The disagreeing peer's name.
    pub peer: &'static str,
    /// The request's id.
    pub request_id: String,
    /// The agent.
    pub agent: String,
    /// The action.
    pub action: String,
    /// The request's amount, if any.
    pub amount: Option<f64>,
    /// The request's currency, if any.
    pub currency: Option<String>,
    /// The request's timestamp, RFC 3339 UTC.
    pub timestamp: String,
    /// The reference peer's name.
    pub reference_peer: &'static str,
    /// What the reference decided.
    pub reference: Outcome,
    /// What the peer decided.
    pub other: Outcome,
}

impl fmt::Display for Mismatch {
    /// `w-00042 financial-advisor execute_transaction amount=1000 USD at
    /// 2026-03-09T13:30:00.000Z: gavel-warm says deny (over-limit), native
    /// says approve`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.request_id, self.agent, self.action)?;
        if let Some(amount) = self.amount {
            write!(f, " amount={amount}")?;
        }
        if let Some(currency) = &self.currency {
            write!(f, " {currency}")?;
        }
        write!(
            f,
            " at {}: {} says {}, {} says {}",
            self.timestamp, self.reference_peer, self.reference, self.peer, self.other
        )
    }
}

/// Decide every request of `workload` with `reference` and each of
/// `others`; every disagreement on the verdict or the deciding code, peer
/// by peer, in workload order.
pub fn cross_check(
    reference: &dyn Peer,
    others: &[&dyn Peer],
    workload: &[gavel::Request],
) -> Vec<Mismatch> {
    let expected = decide_all(reference, workload);
    others
        .iter()
        .flat_map(|peer| {
            let got = decide_all(*peer, workload);
            compare(reference.name(), &expected, peer.name(), &got, workload)
        })
        .collect()
}

/// `peer`'s outcome for every request of `workload`, in order.
pub fn decide_all(peer: &dyn Peer, workload: &[gavel::Request]) -> Vec<Outcome> {
    workload.iter().map(|r| peer.decide(r)).collect()
}

/// The requests on which `got` (from `peer`) differs from `expected`
/// (from `reference_peer`); the three slices are in the same order.
pub fn compare(
    reference_peer: &'static str,
    expected: &[Outcome],
    peer: &'static str,
    got: &[Outcome],
    workload: &[gavel::Request],
) -> Vec<Mismatch> {
    workload
        .iter()
        .zip(expected.iter().zip(got))
        .filter(|(_, (e, g))| e != g)
        .map(|(request, (e, g))| Mismatch {
            peer,
            request_id: request.request_id.clone(),
            agent: request.agent_id.clone(),
            action: request.action.clone(),
            amount: request.amount,
            currency: request.currency.clone(),
            timestamp: gavel::request::format_timestamp(request.timestamp_ms),
            reference_peer,
            reference: e.clone(),
            other: g.clone(),
        })
        .collect()
}
