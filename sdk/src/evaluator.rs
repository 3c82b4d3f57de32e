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

    fn evaluate(&self, request: wit::Request) -> wit::Outcome {
        match Request::from_wit(request) {
            Ok(request) => {
                let verdict = self.policy.evaluate(&request).into();
                let findings = request
                    .findings()
                    .into_iter()
                    .map(|f| wit::Finding {
                        path: f.path,
                        kinds: f.kinds,
                    })
                    .collect();
                wit::Outcome { verdict, findings }
            }
            // The host validates requests; should one still arrive broken,
            // fail closed.
            Err(problem) => wit::Outcome {
                verdict: Verdict::deny("invalid-request", problem).into(),
                findings: Vec::new(),
            },
        }
    }
}

/// The policy's metadata in WIT form.
pub fn metadata<P: Policy>() -> wit::PolicyMetadata {
    P::metadata().into()
}
