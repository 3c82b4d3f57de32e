//! Bearer tokens: one for administration (escalation review, the kill
//! switch, rollback, reading decisions), and optionally one for
//! evaluation. Tokens are compared in constant time and never logged or
//! echoed.

use super::api_error::ApiError;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

/// A secret token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Shortest accepted token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

impl Token {
    /// A token from its text (surrounding whitespace removed); too short
    /// a token is refused.
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_TOKEN_BYTES {
            return Err(format!(
                "a token must be at least {MIN_TOKEN_BYTES} bytes long"
            ));
        }
        Ok(Token(text.as_bytes().to_vec()))
    }

    fn matches(&self, offered: &[u8]) -> bool {
        // `ct_eq` on slices of different lengths returns false without
        // looking at the contents; the length of a token is not a secret.
        self.0.as_slice().ct_eq(offered).into()
    }
}

/// Who may call what.
#[derive(Debug, Clone)]
pub struct Access {
    /// Needed for administration; also accepted for evaluation.
    pub admin: Token,
    /// Needed for evaluation, when set; evaluation is open otherwise.
    pub eval: Option<Token>,
}

impl Access {
    /// Require the admin token.
    pub fn admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match bearer(headers) {
            Some(offered) if self.admin.matches(offered) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("the bearer token is not valid here")),
            None => Err(ApiError::unauthorized(
                "this endpoint needs the admin bearer token (Authorization: Bearer ...)",
            )),
        }
    }

    /// Require the evaluation token, if one is configured (the admin token
    /// also passes).
    pub fn eval(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(eval) = &self.eval else {
            return Ok(());
        };
        match bearer(headers) {
            Some(offered) if eval.matches(offered) || self.admin.matches(offered) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("the bearer token is not valid here")),
            None => Err(ApiError::unauthorized(
                "this endpoint needs a bearer token (Authorization: Bearer ...)",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn admin_token_is_checked() {
        let access = Access {
            admin: Token::new("0123456789abcdef-admin").unwrap(),
            eval: None,
        };
        assert!(
            access
                .admin(&headers("Bearer 0123456789abcdef-admin"))
                .is_ok()
        );
        assert!(
            access
                .admin(&headers("bearer 0123456789abcdef-admin"))
                .is_ok()
        );
        assert!(
            access
                .admin(&headers("Bearer 0123456789abcdef-admiN"))
                .is_err()
        );
        assert!(
            access
                .admin(&headers("Bearer 0123456789abcdef-admin2"))
                .is_err()
        );
        assert!(
            access
                .admin(&headers("Basic 0123456789abcdef-admin"))
                .is_err()
        );
        assert!(access.admin(&HeaderMap::new()).is_err());
        // Evaluation is open without an eval token.
        assert!(access.eval(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn eval_token_when_configured() {
        let access = Access {
            admin: Token::new("0123456789abcdef-admin").unwrap(),
            eval: Some(Token::new("0123456789abcdef-eval").unwrap()),
        };
        assert!(
            access
                .eval(&headers("Bearer 0123456789abcdef-eval"))
                .is_ok()
        );
        assert!(
            access
                .eval(&headers("Bearer 0123456789abcdef-admin"))
                .is_ok()
        );
        assert!(access.eval(&headers("Bearer nope-nope-nope-nope")).is_err());
        assert!(access.eval(&HeaderMap::new()).is_err());
        // The eval token is not an admin token.
        assert!(
            access
                .admin(&headers("Bearer 0123456789abcdef-eval"))
                .is_err()
        );
    }

    #[test]
    fn short_tokens_are_refused_and_debug_hides_them() {
        assert!(Token::new("short").is_err());
        let t = Token::new("0123456789abcdef-secret").unwrap();
        assert!(!format!("{t:?}").contains("secret"));
    }
}
