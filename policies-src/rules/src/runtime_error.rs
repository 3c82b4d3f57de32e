//! A rule's runtime error, described without repeating the request.
//!
//! The interpreter's own messages print the values involved (`String("…")`),
//! and a reason message must never repeat sensitive input: this names the
//! kind of error, the operator or function, and the types, never a value.
//! A key is named only when the rule's expression spells it out.

use crate::history_functions::FUNCTIONS;
use cel::{ExecutionError, Value};

/// A description of `error`, raised by the expression `source`.
pub fn describe(error: &ExecutionError, source: &str) -> String {
    match error {
        ExecutionError::NoSuchKey(key) if source.contains(key.as_str()) => {
            format!("no such key `{key}`")
        }
        ExecutionError::NoSuchKey(_) => "no such key".to_owned(),
        ExecutionError::UndeclaredReference(name) if source.contains(name.as_str()) => {
            format!("undeclared reference to `{name}`")
        }
        ExecutionError::UndeclaredReference(_) => "undeclared reference".to_owned(),
        ExecutionError::NoSuchOverload(o) => format!(
            "no overload of `{}` for ({})",
            o.function(),
            o.argument_types().join(", ")
        ),
        ExecutionError::UnexpectedType { want, .. } => format!("a value is not of type {want}"),
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("a {} cannot be compared with a {}", kind(a), kind(b))
        }
        ExecutionError::UnsupportedBinaryOperator(op, a, b) => {
            format!("`{op}` does not apply to a {} and a {}", kind(a), kind(b))
        }
        ExecutionError::FunctionError { function, message }
            if FUNCTIONS.iter().any(|(f, _)| f == function) =>
        {
            format!("{function}: {message}")
        }
        ExecutionError::FunctionError { function, .. } => format!("function `{function}` failed"),
        ExecutionError::InvalidArgumentCount { expected, actual } => {
            format!("{actual} arguments where {expected} are expected")
        }
        ExecutionError::DivisionByZero(_) => "division by zero".to_owned(),
        ExecutionError::RemainderByZero(_) => "remainder by zero".to_owned(),
        ExecutionError::Overflow(op, _, _) => format!("overflow in `{op}`"),
        ExecutionError::IndexOutOfBounds(_) => "index out of bounds".to_owned(),
        ExecutionError::UnsupportedIndex(_, on) => format!("a {} cannot be indexed so", kind(on)),
        ExecutionError::UnsupportedKeyType(k) => format!("a {} cannot be a map key", kind(k)),
        ExecutionError::DuplicateKey(_) => "a map literal repeats a key".to_owned(),
        ExecutionError::NotSupportedAsMethod { method, target } => {
            format!("`{method}` is not a method of a {}", kind(target))
        }
        ExecutionError::UnsupportedTargetType { target } => {
            format!("a {} is not a valid argument", kind(target))
        }
        ExecutionError::MissingArgumentOrTarget => "a missing argument or target".to_owned(),
        _ => "an evaluation error".to_owned(),
    }
}

/// A value's CEL type name.
fn kind(value: &Value) -> String {
    value.type_of().to_string()
}
