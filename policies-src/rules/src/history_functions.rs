//! The history facts of `gavel:policy@0.3.0`, as CEL functions:
//!
//! - `approved_count(scope, pattern, window)`: how many approved actions
//!   (an `int`);
//! - `approved_sum(scope, pattern, window)`: the sum of their amounts (a
//!   `double`);
//! - `completed(pattern)`: whether an action matching `pattern` was
//!   approved and reported completed earlier in the request's session.
//!
//! `scope` is `"agent"`, `"session"`, `"user"` or `"fleet"`; `pattern` an
//! action name or a prefix ending in `*`; `window` a string such as
//! `"1h"` (see [`crate::window`]) or a CEL duration. Each call asks the
//! host, which records the fact in the decision's log record. A history
//! error (no session for `completed`, a bad pattern) is an error of the
//! rule, never a `false` or a `0`.

use crate::window::{check_window_ms, parse_window};
use cel::{Context, DeclarationError, ExecutionError, Value};
use gavel_sdk::history::{self, Scope};
use std::sync::Arc;

/// `approved_count(scope, pattern, window)`.
pub const APPROVED_COUNT: &str = "approved_count";
/// `approved_sum(scope, pattern, window)`.
pub const APPROVED_SUM: &str = "approved_sum";
/// `completed(pattern)`.
pub const COMPLETED: &str = "completed";

/// Every history function with its argument count.
pub const FUNCTIONS: [(&str, usize); 3] = [(APPROVED_COUNT, 3), (APPROVED_SUM, 3), (COMPLETED, 1)];

/// Add the history functions to a context.
pub fn add_to(context: &mut Context<'_, '_>) -> Result<(), DeclarationError> {
    context.add_function(APPROVED_COUNT, approved_count)?;
    context.add_function(APPROVED_SUM, approved_sum)?;
    context.add_function(COMPLETED, completed)?;
    Ok(())
}

/// A scope as rules write it.
pub fn parse_scope(text: &str) -> Result<Scope, String> {
    match text {
        "agent" => Ok(Scope::Agent),
        "session" => Ok(Scope::Session),
        "user" => Ok(Scope::User),
        "fleet" => Ok(Scope::Fleet),
        _ => Err(format!(
            "scope {:?} is not \"agent\", \"session\", \"user\" or \"fleet\"",
            text.chars().take(32).collect::<String>()
        )),
    }
}

/// A window given as a string or a CEL duration, in milliseconds.
fn window_ms(window: &Value) -> Result<u64, String> {
    match window {
        Value::String(text) => parse_window(text),
        Value::Duration(d) => u64::try_from(d.num_milliseconds())
            .map_err(|_| "a window is 1 ms .. 31 days".to_owned())
            .and_then(check_window_ms),
        other => Err(format!(
            "a window is a string such as \"1h\" or a duration, not a {}",
            other.type_of()
        )),
    }
}

fn tally(
    function: &str,
    scope: &str,
    pattern: &str,
    window: &Value,
) -> Result<history::Tally, ExecutionError> {
    let fail = |e: String| ExecutionError::function_error(function, e);
    let scope = parse_scope(scope).map_err(fail)?;
    let window = window_ms(window).map_err(fail)?;
    history::approved(scope, pattern, window).map_err(fail)
}

fn approved_count(
    scope: Arc<String>,
    pattern: Arc<String>,
    window: Value,
) -> Result<Value, ExecutionError> {
    let t = tally(APPROVED_COUNT, &scope, &pattern, &window)?;
    Ok(Value::Int(i64::try_from(t.count).unwrap_or(i64::MAX)))
}

fn approved_sum(
    scope: Arc<String>,
    pattern: Arc<String>,
    window: Value,
) -> Result<Value, ExecutionError> {
    let t = tally(APPROVED_SUM, &scope, &pattern, &window)?;
    Ok(Value::Float(t.sum))
}

fn completed(pattern: Arc<String>) -> Result<Value, ExecutionError> {
    history::completed(&pattern)
        .map(Value::Bool)
        .map_err(|e| ExecutionError::function_error(COMPLETED, e))
}
