//! Load-time checks of a parsed expression: every variable and function it
//! names exists, the history functions' literal arguments are valid, and
//! `action` and `agent.id` (lower case) are never compared with a name
//! holding an upper-case letter (such a rule could never match). Each
//! problem comes with where in the expression it is.

use crate::activation::VARIABLES;
use crate::history_functions::{APPROVED_COUNT, APPROVED_SUM, COMPLETED, FUNCTIONS, parse_scope};
use crate::position::Position;
use crate::window::parse_window;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Env, Program};
use gavel_sdk::ActionPattern;
use std::sync::Arc;

/// Type names an expression may use as values (`type(x) == int`).
const TYPE_NAMES: [&str; 13] = [
    "bool",
    "bytes",
    "double",
    "duration",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "timestamp",
    "type",
    "uint",
];

/// The operators the parser writes as calls.
const OPERATORS: [&str; 21] = [
    operators::CONDITIONAL,
    operators::LOGICAL_AND,
    operators::LOGICAL_OR,
    operators::LOGICAL_NOT,
    operators::SUBSTRACT,
    operators::ADD,
    operators::MULTIPLY,
    operators::DIVIDE,
    operators::MODULO,
    operators::EQUALS,
    operators::NOT_EQUALS,
    operators::GREATER_EQUALS,
    operators::LESS_EQUALS,
    operators::GREATER,
    operators::LESS,
    operators::NEGATE,
    operators::INDEX,
    operators::OPT_INDEX,
    operators::OPT_SELECT,
    operators::NOT_STRICTLY_FALSE,
    operators::IN,
];

/// What a check found, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, when the parser recorded it.
    pub at: Option<Position>,
    /// What.
    pub what: String,
}

/// Check `program` (compiled from `source` with `env`).
pub fn check(env: &Arc<Env>, program: &Program, source: &str) -> Result<(), Problem> {
    let checker = Checker {
        env,
        program,
        source,
    };
    let mut bound = Vec::new();
    checker.walk(program.expression(), &mut bound)
}

struct Checker<'a> {
    env: &'a Arc<Env>,
    program: &'a Program,
    source: &'a str,
}

impl Checker<'_> {
    fn problem(&self, expr: &IdedExpr, what: String) -> Problem {
        let at = self
            .program
            .source_info()
            .offset_for(expr.id)
            .map(|(start, _)| Position::at_offset(self.source, start));
        Problem { at, what }
    }

    /// A problem with the call `expr` of `name`: the parser places a call
    /// at its `(`; point at the name before it instead.
    fn call_problem(&self, expr: &IdedExpr, name: &str, what: String) -> Problem {
        let at = self
            .program
            .source_info()
            .offset_for(expr.id)
            .map(|(start, _)| {
                let chars: Vec<char> = self.source.chars().collect();
                let paren = usize::try_from(start).unwrap_or(usize::MAX);
                let len = name.chars().count();
                let named = paren
                    .checked_sub(len)
                    .and_then(|from| chars.get(from..paren))
                    .is_some_and(|before| before.iter().copied().eq(name.chars()));
                let offset = if named {
                    start.saturating_sub(u32::try_from(len).unwrap_or(0))
                } else {
                    start
                };
                Position::at_offset(self.source, offset)
            });
        Problem { at, what }
    }

    /// Whether `name` is a function of the standard environment. (A
    /// context refuses a function whose name the environment declares.)
    fn is_stdlib(&self, name: &str) -> bool {
        let mut probe = Context::with_env(Arc::clone(self.env));
        probe.add_function(name, || 0i64).is_err()
    }

    fn walk<'e>(&self, expr: &'e IdedExpr, bound: &mut Vec<&'e str>) -> Result<(), Problem> {
        match &expr.expr {
            Expr::Unspecified | Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => {
                let known = bound.contains(&name.as_str())
                    || VARIABLES.contains(&name.as_str())
                    || TYPE_NAMES.contains(&name.as_str())
                    || name.starts_with('@');
                if known {
                    Ok(())
                } else {
                    Err(self.problem(
                        expr,
                        format!(
                            "unknown variable `{name}` (an expression sees {})",
                            VARIABLES.join(", ")
                        ),
                    ))
                }
            }
            Expr::Select(select) => self.walk(&select.operand, bound),
            Expr::List(list) => list.elements.iter().try_for_each(|e| self.walk(e, bound)),
            Expr::Map(map) => map.entries.iter().try_for_each(|e| match &e.expr {
                EntryExpr::MapEntry(entry) => {
                    self.walk(&entry.key, bound)?;
                    self.walk(&entry.value, bound)
                }
                EntryExpr::StructField(field) => self.walk(&field.value, bound),
            }),
            Expr::Struct(s) => Err(self.problem(
                expr,
                format!(
                    "unknown type `{}`: an expression builds no messages",
                    s.type_name
                ),
            )),
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range, bound)?;
                let depth = bound.len();
                bound.push(&c.accu_var);
                self.walk(&c.accu_init, bound)?;
                bound.push(&c.iter_var);
                if let Some(second) = &c.iter_var2 {
                    bound.push(second);
                }
                let result = [&c.loop_cond, &c.loop_step, &c.result]
                    .into_iter()
                    .try_for_each(|e| self.walk(e, bound));
                bound.truncate(depth);
                result
            }
            Expr::Call(call) => {
                let name = call.func_name.as_str();
                if let Some((_, arity)) = FUNCTIONS.iter().find(|(f, _)| *f == name) {
                    if call.target.is_some() || call.args.len() != *arity {
                        return Err(self.call_problem(expr, name, usage(name)));
                    }
                    self.check_history_literals(name, &call.args)?;
                } else if !OPERATORS.contains(&name) && !self.is_stdlib(name) {
                    return Err(self.call_problem(
                        expr,
                        name,
                        format!("unknown function `{name}`"),
                    ));
                }
                self.check_case(expr, name, call.target.as_deref(), &call.args)?;
                if let Some(target) = &call.target {
                    self.walk(target, bound)?;
                }
                call.args.iter().try_for_each(|a| self.walk(a, bound))
            }
        }
    }

    /// A history function's literal scope, pattern and window.
    fn check_history_literals(&self, name: &str, args: &[IdedExpr]) -> Result<(), Problem> {
        let (scope, pattern, window) = match (name, args) {
            (COMPLETED, [pattern]) => (None, pattern, None),
            (_, [scope, pattern, window]) => (Some(scope), pattern, Some(window)),
            _ => {
                return Err(Problem {
                    at: None,
                    what: usage(name),
                });
            }
        };
        if let Some(scope) = scope
            && let Some(text) = string_literal(scope)
        {
            parse_scope(text).map_err(|e| self.problem(scope, format!("{name}: {e}")))?;
        }
        if let Some(text) = string_literal(pattern) {
            ActionPattern::parse(text)
                .map_err(|e| self.problem(pattern, format!("{name}: {e}")))?;
        }
        if let Some(window) = window
            && let Some(text) = string_literal(window)
        {
            parse_window(text).map_err(|e| self.problem(window, format!("{name}: {e}")))?;
        }
        Ok(())
    }

    /// `action` and `agent.id` are lower case: a comparison with a name
    /// holding an upper-case letter could never hold.
    fn check_case(
        &self,
        expr: &IdedExpr,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Result<(), Problem> {
        let literals: Vec<&IdedExpr> = match (name, target, args) {
            (operators::EQUALS | operators::NOT_EQUALS, None, [a, b]) if is_folded(a) => vec![b],
            (operators::EQUALS | operators::NOT_EQUALS, None, [a, b]) if is_folded(b) => vec![a],
            (operators::IN, None, [a, b]) if is_folded(a) => match &b.expr {
                Expr::List(list) => list.elements.iter().collect(),
                _ => Vec::new(),
            },
            ("startsWith" | "endsWith" | "contains", Some(t), [arg]) if is_folded(t) => vec![arg],
            _ => Vec::new(),
        };
        for literal in literals {
            if let Some(text) = string_literal(literal)
                && text.bytes().any(|b| b.is_ascii_uppercase())
            {
                return Err(self.problem(
                    expr,
                    format!(
                        "`action` and `agent.id` are ASCII lower case (names match regardless of case): compare them with {:?}",
                        text.to_ascii_lowercase()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How a history function is called.
fn usage(name: &str) -> String {
    match name {
        APPROVED_COUNT | APPROVED_SUM => {
            format!(
                "`{name}` takes (scope, pattern, window), e.g. {name}(\"agent\", \"issue_refund\", \"1h\")"
            )
        }
        _ => format!("`{name}` takes (pattern), e.g. {name}(\"verify_identity\")"),
    }
}

/// Whether `expr` is `action` or `agent.id`.
fn is_folded(expr: &IdedExpr) -> bool {
    match &expr.expr {
        Expr::Ident(name) => name == "action",
        Expr::Select(s) if !s.test && s.field == "id" => {
            matches!(&s.operand.expr, Expr::Ident(name) if name == "agent")
        }
        _ => false,
    }
}

/// The text of a string literal.
fn string_literal(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}
