//! Bearer tokens: one for administration (escalation review, the kill
//! switch, rollback, reading decisions), and optionally one for
//! evaluation. Tokens are compared in constant time and never logged or
//! echoed. A request with two `Authorization` headers is refused (400),
//! whichever of them holds a good token.

use super::api_error::ApiError;
use super::unique_headers::at_most_once;
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

    pub fn matches(&self, offered: &[u8]) -> bool {
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
        match bearer(headers)? {
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
        let offered = bearer(headers)?;
        let Some(eval) = &self.eval else {
            return Ok(());
        };
        match offered {
            Some(offered) if eval.matches(offered) || self.admin.matches(offered) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("the bearer token is not valid here")),
            None => Err(ApiError::unauthorized(
                "this endpoint needs a bearer token (Authorization: Bearer ...)",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is
/// one; an error if the header appears twice.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&[u8]>, ApiError> {
    let Some(value) = at_most_once(headers, &AUTHORIZATION)? else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.as_bytes().split_at_checked(7) else {
        return Ok(None);
    };
    Ok(scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii()))
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
    fn two_authorization_headers_are_refused() {
        let admin = "Bearer 0123456789abcdef-admin";
        let eval = "Bearer 0123456789abcdef-eval";
        let wrong = "Bearer wrong-wrong-wrong-wrong";
        let with_eval = Access {
            admin: Token::new("0123456789abcdef-admin").unwrap(),
            eval: Some(Token::new("0123456789abcdef-eval").unwrap()),
        };
        let open = Access {
            eval: None,
            ..with_eval.clone()
        };
        // (Authorization values, admin check, eval check, open eval check):
        // Ok, or Err with the status.
        type Outcome = Result<(), u16>;
        let cases: &[(&[&str], Outcome, Outcome, Outcome)] = &[
            (&[admin], Ok(()), Ok(()), Ok(())),
            (&[wrong], Err(401), Err(401), Ok(())),
            (&[admin, wrong], Err(400), Err(400), Err(400)),
            (&[wrong, admin], Err(400), Err(400), Err(400)),
            (&[admin, admin], Err(400), Err(400), Err(400)),
            (&[eval, admin], Err(400), Err(400), Err(400)),
        ];
        let status = |r: Result<(), ApiError>| r.map_err(|e| e.status.as_u16());
        for (values, for_admin, for_eval, for_open) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append(AUTHORIZATION, v.parse().unwrap());
            }
            assert_eq!(status(with_eval.admin(&h)), *for_admin, "{values:?}");
            assert_eq!(status(with_eval.eval(&h)), *for_eval, "{values:?}");
            assert_eq!(status(open.eval(&h)), *for_open, "{values:?}");
        }
    }

    #[test]
    fn short_tokens_are_refused_and_debug_hides_them() {
        assert!(Token::new("short").is_err());
        let t = Token::new("0123456789abcdef-secret").unwrap();
        assert!(!format!("{t:?}").contains("secret"));
    }
}
