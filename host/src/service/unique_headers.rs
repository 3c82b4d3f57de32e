//! Headers a request may carry only once. Two `Authorization` headers
//! would let one reader check a token another never sees; two
//! `Content-Type` or `Host` headers leave what the request is open to
//! interpretation. Such a request is refused (400), naming the header,
//! and its connection closes. (`Content-Length` is the HTTP layer's: two
//! different values are refused there with a 400, and the same value
//! twice counts as one, as RFC 9110 §8.6 allows.)

use super::api_error::ApiError;
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The headers checked on every request.
const UNIQUE: [HeaderName; 3] = [AUTHORIZATION, CONTENT_TYPE, HOST];

/// Middleware: refuse a request carrying any of [`UNIQUE`] twice.
pub async fn refuse_duplicates(request: Request, next: Next) -> Response {
    for name in &UNIQUE {
        if let Err(e) = at_most_once(request.headers(), name) {
            let mut response = e.into_response();
            // The body, if any, is left unread: nothing more is read from
            // this connection.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
            return response;
        }
    }
    next.run(request).await
}

/// The header `name`, if present once; an error naming it if it appears
/// more than once.
pub fn at_most_once<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        None => Ok(first),
        Some(_) => Err(ApiError::invalid(
            Some(name.as_str()),
            format!("the `{name}` header appears more than once; send it once"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_or_refused() {
        // (values of the header, expected: Ok(present) or Err)
        let cases: &[(&[&str], Option<bool>)] = &[
            (&[], Some(false)),
            (&["a"], Some(true)),
            (&["a", "b"], None),
            (&["a", "a"], None),
            (&["a", "b", "c"], None),
        ];
        for name in &UNIQUE {
            for (values, expected) in cases {
                let mut headers = HeaderMap::new();
                for v in *values {
                    headers.append(name, HeaderValue::from_static(v));
                }
                match (at_most_once(&headers, name), expected) {
                    (Ok(found), Some(present)) => assert_eq!(found.is_some(), *present),
                    (Err(e), None) => {
                        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
                        assert_eq!(e.field.as_deref(), Some(name.as_str()));
                        assert!(e.message.contains(name.as_str()), "{}", e.message);
                    }
                    (got, _) => panic!("{name} {values:?}: {got:?}"),
                }
            }
        }
    }
}
