//! Glue between a [`Policy`](crate::Policy) and the generated WIT exports.
//! Policy authors never touch this module; [`export_policy!`](crate::export_policy) does.

use crate::bindings::exports::gavel::policy::policy as wit;
use crate::{Policy, Request, Verdict, parse_config};

/// The WIT `evaluator` resource for policy `P`.
#[derive(Debug)]
pub struct Evaluator<P> {
    policy: P,
}

impl<P: Policy> wit::GuestEvaluator for Evaluator<P> {
    fn create(config: String) -> Result<wit::Evaluator, String> {
        let config = parse_config::<P::Config>(&config).map_err(|e| e.0)?;
        let policy = P::new(config).map_err(|e| e.0)?;
        Ok(wit::Evaluator::new(Evaluator { policy }))
    }

    fn interest(&self) -> Option<Vec<String>> {
        self.policy.interest()
    }

    fn evaluate(&self, request: wit::Request) -> wit::Outcome {
        let request = Request::from_wit(request);
        let verdict = self.policy.evaluate(&request);
        // The host validates requests; should params still arrive broken
        // and the policy have read them, it judged an empty object: fail
        // closed instead.
        if let Some(problem) = request.params.problem() {
            return wit::Outcome {
                verdict: Verdict::deny("invalid-request", problem).into_wit().0,
                findings: Vec::new(),
                charges: Vec::new(),
            };
        }
        let findings = request
            .findings()
            .into_iter()
            .map(|f| wit::Finding {
                path: f.path,
                kinds: f.kinds,
            })
            .collect();
        let (verdict, charges) = verdict.into_wit();
        wit::Outcome {
            verdict,
            findings,
            charges,
        }
    }
}

/// The policy's metadata in WIT form.
pub fn metadata<P: Policy>() -> wit::PolicyMetadata {
    P::metadata().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Charge, ConfigError, Metadata, Scope, Window};
    use wit::GuestEvaluator;

    /// Approves unless `params.to` is present; `reads` says whether it looks.
    struct WatchesTo {
        reads: bool,
    }

    impl Policy for WatchesTo {
        type Config = serde_json::Value;

        fn metadata() -> Metadata {
            Metadata::new("watches-to", "1.0.0", "test")
        }

        fn new(_: serde_json::Value) -> Result<Self, ConfigError> {
            Ok(WatchesTo { reads: true })
        }

        fn interest(&self) -> Option<Vec<String>> {
            Some(vec!["send_*".to_owned()])
        }

        fn evaluate(&self, request: &Request) -> Verdict {
            request.mark_sensitive("params.to", &["email"]);
            if self.reads && request.param_str("to").is_some() {
                Verdict::deny("has-to", "to is set")
            } else {
                Verdict::approve().with_charge(Charge::rate(
                    "rate",
                    Scope::Agent,
                    Window::rolling_ms(1_000),
                    1,
                ))
            }
        }
    }

    /// Judges every action: keeps the default interest.
    struct Everything;

    impl Policy for Everything {
        type Config = serde_json::Value;

        fn metadata() -> Metadata {
            Metadata::new("everything", "1.0.0", "test")
        }

        fn new(_: serde_json::Value) -> Result<Self, ConfigError> {
            Ok(Everything)
        }

        fn evaluate(&self, _: &Request) -> Verdict {
            Verdict::approve()
        }
    }

    #[test]
    fn interest_is_the_policys_and_every_action_by_default() {
        let declared = Evaluator {
            policy: WatchesTo { reads: true },
        };
        assert_eq!(declared.interest(), Some(vec!["send_*".to_owned()]));
        let default = Evaluator { policy: Everything };
        assert_eq!(default.interest(), None);
    }

    fn outcome(reads: bool, params: &str) -> (String, usize, usize) {
        let evaluator = Evaluator {
            policy: WatchesTo { reads },
        };
        let request = wit::Request {
            request_id: "r".into(),
            agent: wit::Agent {
                id: "a".into(),
                registered: false,
                risk_tier: None,
                owner: None,
            },
            action: "send_email".into(),
            params: params.into(),
            amount: None,
            currency: None,
            timestamp_ms: 0,
            session_id: None,
            user_id: None,
        };
        let out = evaluator.evaluate(request);
        let verdict = match out.verdict {
            wit::Verdict::Approve => "approve".to_owned(),
            wit::Verdict::Deny(r) => format!("deny {}: {}", r.code, r.message),
            wit::Verdict::Escalate(r) => format!("escalate {}", r.code),
        };
        (verdict, out.findings.len(), out.charges.len())
    }

    #[test]
    fn params_that_do_not_parse_fail_closed_when_read() {
        // (reads params, params text, verdict starts with, findings kept,
        // charges kept)
        let cases = [
            (true, r#"{"to":"x"}"#, "deny has-to", 1, 0),
            (true, r#"{}"#, "approve", 1, 1),
            (
                true,
                r#"{"to":"#,
                "deny invalid-request: params is not valid JSON",
                0,
                0,
            ),
            (
                true,
                r#"["to"]"#,
                "deny invalid-request: params is not a JSON object",
                0,
                0,
            ),
            // Params never read did not affect the verdict.
            (false, r#"{"to":"#, "approve", 1, 1),
        ];
        for (reads, params, verdict, findings, charges) in cases {
            let (got, n, c) = outcome(reads, params);
            assert!(got.starts_with(verdict), "{params}: {got}");
            assert_eq!((n, c), (findings, charges), "{params}");
        }
    }
}
