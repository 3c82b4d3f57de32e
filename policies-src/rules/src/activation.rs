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
use cel::{Context, DeclarationError, Env, Value};
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

/// The context one decision's expressions run in. `params` is converted
/// only when `with_params` (when some rule names it): most rules judge the
/// action, the agent or the amount, and converting params costs fuel.
pub fn context<'a>(
    env: &Arc<Env>,
    request: &Request,
    with_params: bool,
) -> Result<Context<'a, 'a>, DeclarationError> {
    let mut context = Context::with_env(Arc::clone(env));
    context.add_variable_from_value("action", identifier_key(&request.action));
    let params = if with_params {
        match request.params.value() {
            gavel_sdk::serde_json::Value::Object(object) => object_to_cel(object),
            // `Params` always reads as an object.
            _ => map_of(Vec::new()),
        }
    } else {
        map_of(Vec::new())
    };
    context.add_variable_from_value("params", params);
    context.add_variable_from_value("amount", request.amount.map_or(Value::Null, Value::Float));
    context.add_variable_from_value("currency", string_or_null(request.currency.as_deref()));
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
    context.add_variable_from_value("session_id", string_or_null(request.session_id.as_deref()));
    context.add_variable_from_value("user_id", string_or_null(request.user_id.as_deref()));
    let time = chrono::DateTime::from_timestamp_millis(request.timestamp_ms)
        .map_or(Value::Null, |t| Value::Timestamp(t.fixed_offset()));
    context.add_variable_from_value("time", time);
    history_functions::add_to(&mut context)?;
    Ok(context)
}
