//! Which actions a rule can hold for, read off its expression when the
//! policy loads, so that a decision skips the rules keyed on other actions
//! without running them.
//!
//! A rule's expression is a conjunction `c1 && c2 && ...` (one conjunct
//! if it is no `&&`). A conjunct of one of these shapes names the actions
//! it admits:
//! - `action == "issue_refund"` (or `"issue_refund" == action`);
//! - `action in ["a", "b"]` (a list of string literals);
//! - `action.startsWith("wire_")`.
//!
//! Such a conjunct never fails (`action` is always a string), and in CEL a
//! `false` conjunct makes the whole conjunction `false` whatever the others
//! give, errors included (`&&` absorbs an error beside a `false`, in either
//! order). So for an action one of them refuses, the rule is `false`:
//! skipping it changes neither the verdict nor the errors a decision
//! reports. Conjuncts inside a macro (`exists`, `all`, ...) are never read:
//! `action` may be a loop variable there.

use cel::Program;
use cel::common::ast::{Expr, IdedExpr, LiteralValue, operators};

/// One conjunct's constraint on the (lower-case) action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gate {
    /// The action is one of these.
    OneOf(Vec<String>),
    /// The action starts with this.
    Prefix(String),
}

impl Gate {
    fn admits(&self, action: &str) -> bool {
        match self {
            Gate::OneOf(names) => names.iter().any(|n| n == action),
            Gate::Prefix(prefix) => action.starts_with(prefix.as_str()),
        }
    }
}

/// The constraints of one rule: it can hold only for an action every one
/// of them admits (none: every action).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionGate {
    gates: Vec<Gate>,
}

impl ActionGate {
    /// The constraints `program`'s top-level conjuncts put on `action`.
    pub fn of(program: &Program) -> Self {
        let mut conjuncts = Vec::new();
        flatten_and(program.expression(), &mut conjuncts);
        ActionGate {
            gates: conjuncts.into_iter().filter_map(gate).collect(),
        }
    }

    /// Whether the rule can hold for `action` (ASCII lower case).
    pub fn admits(&self, action: &str) -> bool {
        self.gates.iter().all(|g| g.admits(action))
    }

    /// Whether the rule is keyed on the action at all.
    pub fn is_open(&self) -> bool {
        self.gates.is_empty()
    }
}

/// The conjuncts of `expr`'s `&&` tree, left to right.
fn flatten_and<'e>(expr: &'e IdedExpr, out: &mut Vec<&'e IdedExpr>) {
    match &expr.expr {
        Expr::Call(call)
            if call.func_name == operators::LOGICAL_AND
                && call.target.is_none()
                && call.args.len() == 2 =>
        {
            for arg in &call.args {
                flatten_and(arg, out);
            }
        }
        _ => out.push(expr),
    }
}

/// The gate a conjunct is, if it is one of the three shapes.
fn gate(expr: &IdedExpr) -> Option<Gate> {
    let Expr::Call(call) = &expr.expr else {
        return None;
    };
    match (
        call.func_name.as_str(),
        call.target.as_deref(),
        call.args.as_slice(),
    ) {
        (operators::EQUALS, None, [left, right]) => {
            let literal = match (is_action(left), is_action(right)) {
                (true, false) => string_literal(right),
                (false, true) => string_literal(left),
                _ => None,
            }?;
            Some(Gate::OneOf(vec![literal.to_owned()]))
        }
        (operators::IN, None, [needle, haystack]) if is_action(needle) => {
            let Expr::List(list) = &haystack.expr else {
                return None;
            };
            let names = list
                .elements
                .iter()
                .map(|e| string_literal(e).map(str::to_owned))
                .collect::<Option<Vec<String>>>()?;
            Some(Gate::OneOf(names))
        }
        ("startsWith", Some(target), [prefix]) if is_action(target) => {
            Some(Gate::Prefix(string_literal(prefix)?.to_owned()))
        }
        _ => None,
    }
}

fn is_action(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::Ident(name) if name == "action")
}

fn string_literal(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}
