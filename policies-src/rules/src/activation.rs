//! What an expression sees: the request as CEL variables, and the history
//! functions.
//!
//! | variable | type | absent |
//! |---|---|---|
//! | `action` | string, ASCII lower case | never |
//! | `params` | map (the JSON object) | never (`{}`) |
//! | `amount` | double | `null` |
//! | `currency` | string, as sent | `null` |
//! | `agent` | map: `id` (string, ASCII lower case), `registered` (bool), `risk_tier` (int), `owner` (string) | `risk_tier`, `owner`: `null` |
//! | `session_id`, `user_id` | string | `null` |
//! | `time` | timestamp (UTC): the request's `timestamp` | never |
//!
//! Action names and agent ids match ASCII-case-insensitively everywhere in
//! Gavel, so an expression sees them folded to lower case: `action ==
//! "issue_refund"` also holds for `Issue_Refund`.

use crate::history_functions;
use crate::json_value::{map_of, object_to_cel, string_or_null};
use cel::{Context, DeclarationError, Env, Program, Value};
use gavel_sdk::{Request, identifier_key};
use std::sync::Arc;

/// Every variable an expression may name.
pub const VARIABLES: [&str; 8] = [
    "action",
    "params",
    "amount",
    "currency",
    "agent",
    "session_id",
    "user_id",
    "time",
];

/// What the rules name, so that a decision builds only that: each
/// variable costs fuel to convert and bind, and most rules read two or
/// three of the eight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Bit `i`: `VARIABLES[i]` is named.
    variables: u16,
    /// A history function is called.
    history: bool,
}

impl Needs {
    /// What `program` names (a comprehension variable that shadows one of
    /// ours counts too: binding it anyway changes nothing).
    pub fn of(program: &Program) -> Self {
        let references = program.references();
        let variables = VARIABLES
            .iter()
            .enumerate()
            .filter(|(_, name)| references.has_variable(name))
            .fold(0u16, |bits, (i, _)| bits | (1 << i));
        let history = history_functions::FUNCTIONS
            .iter()
            .any(|(name, _)| references.has_function(name));
        Needs { variables, history }
    }

    /// What either names.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            variables: self.variables | other.variables,
            history: self.history || other.history,
        }
    }

    /// Whether `variable` is named.
    pub fn reads(&self, variable: &str) -> bool {
        VARIABLES
            .iter()
            .position(|v| *v == variable)
            .is_some_and(|i| self.variables & (1 << i) != 0)
    }

    /// Whether a history function is called.
    pub fn calls_history(&self) -> bool {
        self.history
    }
}

/// The context one decision's expressions run in, with the variables and
/// functions `needs` names (an expression naming anything else was refused
/// at load time).
pub fn context<'a>(
    env: &Arc<Env>,
    request: &Request,
    needs: &Needs,
) -> Result<Context<'a, 'a>, DeclarationError> {
    let mut context = Context::with_env(Arc::clone(env));
    if needs.reads("action") {
        context.add_variable_from_value("action", identifier_key(&request.action));
    }
    if needs.reads("params") {
        let params = match request.params.value() {
            gavel_sdk::serde_json::Value::Object(object) => object_to_cel(object),
            // `Params` always reads as an object.
            _ => map_of(Vec::new()),
        };
        context.add_variable_from_value("params", params);
    }
    if needs.reads("amount") {
        context.add_variable_from_value("amount", request.amount.map_or(Value::Null, Value::Float));
    }
    if needs.reads("currency") {
        context.add_variable_from_value("currency", string_or_null(request.currency.as_deref()));
    }
    if needs.reads("agent") {
        let agent = &request.agent;
        context.add_variable_from_value(
            "agent",
            map_of(vec![
                ("id", Value::from(identifier_key(&agent.id))),
                ("registered", Value::Bool(agent.registered)),
                (
                    "risk_tier",
                    agent
                        .risk_tier
                        .map_or(Value::Null, |t| Value::Int(i64::from(t))),
                ),
                ("owner", string_or_null(agent.owner.as_deref())),
            ]),
        );
    }
    if needs.reads("session_id") {
        context
            .add_variable_from_value("session_id", string_or_null(request.session_id.as_deref()));
    }
    if needs.reads("user_id") {
        context.add_variable_from_value("user_id", string_or_null(request.user_id.as_deref()));
    }
    if needs.reads("time") {
        let time = chrono::DateTime::from_timestamp_millis(request.timestamp_ms)
            .map_or(Value::Null, |t| Value::Timestamp(t.fixed_offset()));
        context.add_variable_from_value("time", time);
    }
    if needs.history {
        history_functions::add_to(&mut context)?;
    }
    Ok(context)
}
