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
mod config;
#[doc(hidden)]
pub mod evaluator;
mod identifier;
mod params;
mod request;
mod verdict;

pub use action_pattern::ActionPattern;
pub use config::{ConfigError, parse_config};
pub use identifier::{
    MAX_IDENTIFIER_CHARS, identifier_key, identifier_problem, is_identifier_char, same_identifier,
};
pub use params::Params;
pub use request::{Agent, Finding, ParamString, Request};
pub use verdict::{Metadata, Reason, Verdict};

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
