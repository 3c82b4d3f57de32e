//! # gavel-sdk: write Gavel policies in Rust
//!
//! A Gavel policy is a WebAssembly component that judges one action of an
//! AI agent and answers approve, deny or escalate. With this crate a policy
//! is one `impl` of [`Policy`] and one call of [`export_policy!`]:
//!
//! ```
//! use gavel_sdk::{export_policy, ActionPattern, ConfigError, Metadata, Policy, Request, Verdict};
//! use serde::Deserialize;
//!
//! /// Config, from `[policy.config]` in the operator's `policies.toml`.
//! /// Unknown keys are refused at load time, naming the key.
//! #[derive(Deserialize)]
//! struct Config {
//!     forbidden: Vec<String>,
//! }
//!
//! struct NoForbiddenActions {
//!     forbidden: Vec<ActionPattern>,
//! }
//!
//! impl Policy for NoForbiddenActions {
//!     type Config = Config;
//!
//!     fn metadata() -> Metadata {
//!         Metadata::new("no-forbidden-actions", "1.0.0", "Denies actions on a list.")
//!     }
//!
//!     fn new(config: Config) -> Result<Self, ConfigError> {
//!         Ok(Self { forbidden: ActionPattern::parse_list("forbidden", &config.forbidden)? })
//!     }
//!
//!     fn evaluate(&self, request: &Request) -> Verdict {
//!         if ActionPattern::any_matches(&self.forbidden, &request.action) {
//!             Verdict::deny("forbidden-action", format!("`{}` is forbidden", request.action))
//!         } else {
//!             Verdict::approve()
//!         }
//!     }
//! }
//!
//! export_policy!(NoForbiddenActions);
//! # fn main() {}
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`; the `.wasm` that comes out
//! is the component:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//! ```
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! ```
//!
//! Policies must be deterministic: judge time from
//! [`Request::timestamp_ms`], never from a clock. The sandbox grants no
//! filesystem, network or environment.
//!
//! ## Charges, interest and history
//!
//! A policy can also put an action on the host's counters: a budget per
//! agent and day, a rate per hour. The policy only declares the charge;
//! the host checks every limit and reserves all charges of a decision
//! atomically when the final verdict lets the action go ahead, denies
//! `budget-exceeded` or `rate-limited` past a limit, and escalates
//! `budget-near-limit` past `escalate_above`. [`Policy::interest`] names
//! the actions a policy judges, so the host skips it for the others;
//! [`history`] reads facts about past actions.
//!
//! ```
//! use gavel_sdk::{
//!     export_policy, history, ActionPattern, Charge, ConfigError, Metadata, Period, Policy,
//!     Request, Scope, Verdict, Window,
//! };
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     /// The most one agent may spend per UTC day.
//!     daily_limit: f64,
//! }
//!
//! struct DailyPayments {
//!     daily_limit: f64,
//! }
//!
//! impl Policy for DailyPayments {
//!     type Config = Config;
//!
//!     fn metadata() -> Metadata {
//!         Metadata::new("daily-payments", "1.0.0", "A daily payment budget per agent.")
//!     }
//!
//!     fn new(config: Config) -> Result<Self, ConfigError> {
//!         if !(config.daily_limit.is_finite() && config.daily_limit >= 0.0) {
//!             return Err(ConfigError::key("daily_limit", "must be a finite number >= 0"));
//!         }
//!         Ok(Self { daily_limit: config.daily_limit })
//!     }
//!
//!     /// Only payments: the host approves every other action without
//!     /// calling `evaluate`.
//!     fn interest(&self) -> Option<Vec<String>> {
//!         Some(vec!["pay".to_owned()])
//!     }
//!
//!     fn evaluate(&self, request: &Request) -> Verdict {
//!         let Some(amount) = request.amount else {
//!             return Verdict::deny("amount-required", "a payment must state an amount");
//!         };
//!         // A fact from history: an error means "unknown", so deny.
//!         match history::completed("verify_identity") {
//!             Ok(true) => {}
//!             Ok(false) => {
//!                 return Verdict::deny("prerequisite-missing", "verify_identity first");
//!             }
//!             Err(e) => return Verdict::deny("history-unavailable", e),
//!         }
//!         let today = Window::calendar(Period::Day, "UTC");
//!         Verdict::approve().with_charge(
//!             Charge::budget("budget", Scope::Agent, today, amount, self.daily_limit)
//!                 .escalate_above(0.9),
//!         )
//!     }
//! }
//!
//! export_policy!(DailyPayments);
//!
//! # fn main() {
//! // Natively, history answers from a test double.
//! history::testing::set_completed(&["verify_identity"]);
//! let policy = DailyPayments::new(Config { daily_limit: 100.0 }).unwrap();
//! let request = Request { action: "pay".into(), amount: Some(30.0), ..Default::default() };
//! let verdict = policy.evaluate(&request);
//! assert!(verdict.is_approve());
//! assert_eq!(verdict.charges[0].amount, 30.0);
//! # }
//! ```
//!
//! Names: the host hands a policy only action names and agent ids of 1–128
//! ASCII letters, digits, `_`, `-`, `.`, `:` and `/` (it refuses any other
//! request), and names match ASCII-case-insensitively: [`ActionPattern`]
//! matches `Delete_Account` against `delete_account`. Compare names with
//! [`same_identifier`] (or key maps by [`identifier_key`]), never with
//! `==`, so that a different case is not a way around a list.

pub mod bindings;

mod action_pattern;
#[cfg(any(test, all(target_arch = "wasm32", not(target_feature = "atomics"))))]
mod allocator;
mod charge;
mod config;
#[doc(hidden)]
pub mod evaluator;
pub mod history;
mod identifier;
mod params;
mod request;
mod verdict;

pub use action_pattern::ActionPattern;
pub use charge::{Charge, ChargeKind, MAX_CHARGE_AMOUNT, MAX_ROLLING_MS, Period, Window};
pub use config::{ConfigError, parse_config};
pub use history::Scope;
pub use identifier::{
    MAX_IDENTIFIER_CHARS, identifier_key, identifier_problem, is_identifier_char, same_identifier,
};
pub use params::Params;
pub use request::{Agent, Finding, ParamString, Request};
pub use verdict::{Metadata, Reason, Verdict, VerdictKind};

/// Small blocks from size classes (see the `allocator` module); on by
/// default, off with `default-features = false`.
#[cfg(all(
    feature = "allocator",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: allocator::SizeClasses = allocator::SizeClasses::new();

/// Re-exported so that policies need no direct `serde_json` dependency.
pub use serde_json;

/// A Gavel policy.
pub trait Policy: Sized + 'static {
    /// The policy's config, parsed from the operator's `[policy.config]`.
    /// Unknown keys are refused, whatever the type's serde attributes say.
    type Config: serde::de::DeserializeOwned;

    /// The policy's name, version and one-line description.
    fn metadata() -> Metadata;

    /// Build the policy from its parsed config. Check the config's meaning
    /// here (ranges, consistency) and return a [`ConfigError`] naming the
    /// key at fault: the host then refuses to load the policy.
    fn new(config: Self::Config) -> Result<Self, ConfigError>;

    /// The actions this policy judges: action names, or prefixes ending
    /// in `*` (ASCII case folded); `None` (the default) for every action.
    /// The host asks once, after [`Policy::new`], and never calls
    /// [`Policy::evaluate`] for an action outside it: such an action is
    /// approved as far as this policy is concerned. A policy that judges
    /// every action (a deny-unless-listed rule, say) must return `None`.
    /// [`ActionPattern::interest`] derives it from a list of patterns.
    fn interest(&self) -> Option<Vec<String>> {
        None
    }

    /// Judge one request.
    fn evaluate(&self, request: &Request) -> Verdict;
}

/// Export a [`Policy`] implementation as the component's `gavel:policy`
/// world. Call it once, at the crate's top level.
///
/// It expands only when building for WebAssembly, so the same crate also
/// builds natively for unit tests of the policy's logic.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct GavelPolicyComponent;

            impl $crate::bindings::exports::gavel::policy::policy::Guest for GavelPolicyComponent {
                type Evaluator = $crate::evaluator::Evaluator<$policy>;

                fn metadata() -> $crate::bindings::exports::gavel::policy::policy::PolicyMetadata {
                    $crate::evaluator::metadata::<$policy>()
                }
            }

    $crate::bindings::export!(GavelPolicyComponent with_types_in $crate::bindings);
        };
    };
}

/// The README's Rust examples, compiled as doctests so they stay real.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_examples {}
