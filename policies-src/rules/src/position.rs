//! A place in an expression, as an operator finds it: line and column
//! (1-based, in characters).

use std::fmt;

/// A line and column in an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based.
    pub line: u32,
    /// 1-based, in characters.
    pub column: u32,
}

impl Position {
    /// The position of the character at `offset` (in characters) of
    /// `source`.
    pub fn at_offset(source: &str, offset: u32) -> Self {
        let (mut line, mut column) = (1u32, 1u32);
        for c in source
            .chars()
            .take(usize::try_from(offset).unwrap_or(usize::MAX))
        {
            if c == '\n' {
                line = line.saturating_add(1);
                column = 1;
            } else {
                column = column.saturating_add(1);
            }
        }
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}
