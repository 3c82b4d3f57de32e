//! One rule: a CEL condition, and the verdict it gives when it holds.
//!
//! ```toml
//! [[policy.config.rule]]
//! when = 'action == "issue_refund" && amount > 500.0'
//! verdict = "escalate"                 # "deny" | "escalate"
//! code = "refund-review"               # a-z, 0-9 and -, 1..64 characters
//! message = "refunds above 500 need a human"
//! on_error = "no-match"                # optional: "no-match" (default) | "match"
//! ```

use crate::action_gate::ActionGate;
use crate::activation::Needs;
use crate::expression_check::{self, Problem};
use crate::position::Position;
use cel::{Context, Env, Program, Value};
use gavel_sdk::ConfigError;
use gavel_sdk::serde_json::{Map, Value as Json};
use std::sync::Arc;

/// The keys a rule may have.
const KEYS: [&str; 5] = ["when", "verdict", "code", "message", "on_error"];
/// The longest configured message, in bytes (the host takes 4 KiB; the
/// rest is room for notes about rules that errored).
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The longest expression, in bytes.
pub const MAX_WHEN_BYTES: usize = 8192;

/// What a rule gives when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleVerdict {
    /// Deny; no later rule runs.
    Deny,
    /// Escalate; later rules still run, and a later deny wins.
    Escalate,
}

/// What a rule that fails at runtime does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// It does not match (the default).
    NoMatch,
    /// It matches: fail closed, for a rule whose fact must be known.
    Match,
}

/// A checked rule.
#[derive(Debug)]
pub struct Rule {
    /// Its index in `rule`, from 0.
    pub index: usize,
    /// The reason code.
    pub code: String,
    /// The reason message.
    pub message: String,
    /// Deny or escalate.
    pub verdict: RuleVerdict,
    /// What a runtime error does.
    pub on_error: OnError,
    /// The expression's text.
    pub when: String,
    program: Program,
    /// The variables and functions the expression names.
    pub needs: Needs,
    /// The actions it can hold for.
    pub gate: ActionGate,
}

impl Rule {
    /// Check and compile `rule[index]`.
    pub fn parse(env: &Arc<Env>, index: usize, entry: &Json) -> Result<Self, ConfigError> {
        let key = format!("rule[{index}]");
        let Json::Object(table) = entry else {
            return Err(ConfigError::key(
                &key,
                "a rule is a table with when, verdict, code and message",
            ));
        };
        // The code first, so that every later error can name it.
        let code = string(table, &format!("key `{key}`"), "code")?;
        let named = match code_problem(&code) {
            None => format!("key `{key}` (code `{code}`)"),
            Some(problem) => return Err(ConfigError::key(&format!("{key}.code"), problem)),
        };
        if let Some(unknown) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(at(
                &named,
                format!(
                    "unknown key `{unknown}`; a rule has when, verdict, code, message and on_error"
                ),
            ));
        }
        let verdict = match string(table, &named, "verdict")?.as_str() {
            "deny" => RuleVerdict::Deny,
            "escalate" => RuleVerdict::Escalate,
            other => {
                return Err(at(
                    &named,
                    format!("verdict {:?} is not \"deny\" or \"escalate\"", short(other)),
                ));
            }
        };
        let message = string(table, &named, "message")?;
        if message.trim().is_empty() || message.len() > MAX_MESSAGE_BYTES {
            return Err(at(
                &named,
                format!("message must be 1..{MAX_MESSAGE_BYTES} bytes, not blank"),
            ));
        }
        let on_error = match table.get("on_error") {
            None => OnError::NoMatch,
            Some(Json::String(s)) if s == "no-match" => OnError::NoMatch,
            Some(Json::String(s)) if s == "match" => OnError::Match,
            Some(_) => {
                return Err(at(&named, "on_error must be \"no-match\" or \"match\""));
            }
        };
        let when = string(table, &named, "when")?;
        if when.trim().is_empty() || when.len() > MAX_WHEN_BYTES {
            return Err(at(
                &named,
                format!("when must be an expression of 1..{MAX_WHEN_BYTES} bytes"),
            ));
        }
        let program = env.compile(&when).map_err(|errors| {
            let first = errors.errors.first();
            let place = first
                .map(|e| {
                    let line = u32::try_from(e.pos.0).unwrap_or(1).max(1);
                    let column = u32::try_from(e.pos.1).unwrap_or(1).max(1);
                    format!(" at {}", Position { line, column })
                })
                .unwrap_or_default();
            let what = first.map_or("a syntax error", |e| e.msg.as_str());
            at(&named, format!("`when` does not parse{place}: {what}"))
        })?;
        expression_check::check(env, &program, &when).map_err(|Problem { at: where_, what }| {
            let place = where_.map(|p| format!(" at {p}")).unwrap_or_default();
            at(&named, format!("`when`{place}: {what}"))
        })?;
        let needs = Needs::of(&program);
        let gate = ActionGate::of(&program);
        Ok(Rule {
            index,
            code,
            message,
            verdict,
            on_error,
            when,
            program,
            needs,
            gate,
        })
    }

    /// Whether the rule holds for the request in `context`; an error
    /// (described without values) when it cannot be evaluated.
    pub fn holds(&self, context: &Context<'_, '_>) -> Result<bool, String> {
        match self.program.execute(context) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("`when` gave a {}, not a bool", other.type_of())),
            Err(e) => Err(crate::runtime_error::describe(&e, &self.when)),
        }
    }

    /// `rule[1] (code \`vip-review\`)`.
    pub fn name(&self) -> String {
        format!("rule[{}] `{}`", self.index, self.code)
    }
}

/// A problem with the rule `named` (`key \`rule[1]\` (code \`c\`)`).
fn at(named: &str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("config {named}: {problem}"))
}

/// A required string key of a rule.
fn string(table: &Map<String, Json>, named: &str, key: &str) -> Result<String, ConfigError> {
    match table.get(key) {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(_) => Err(at(named, format!("`{key}` must be a string"))),
        None => Err(at(named, format!("`{key}` is missing"))),
    }
}

/// Why `code` is not a reason code the host accepts: 1..64 characters of
/// a-z, 0-9 and `-`.
fn code_problem(code: &str) -> Option<String> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (!ok).then(|| {
        format!(
            "code {:?} is not 1..64 characters of a-z, 0-9 and -",
            short(code)
        )
    })
}

/// At most 64 characters of `text`, to repeat in a message.
fn short(text: &str) -> String {
    text.chars().take(64).collect()
}
