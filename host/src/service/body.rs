//! Reading request bodies: a size limit (413), a deadline (408), JSON
//! (400), and fields taken one by one so that every error names the
//! field.

use super::Limits;
use super::api_error::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use serde_json::{Map, Value};

/// Read the whole body within `limits.body_timeout` (or 408), refusing
/// more than `limits.max_body` bytes with 413: at once, before a byte of
/// the body is read, when the declared `Content-Length` is larger; as
/// soon as the bytes pass the limit otherwise (a chunked body).
pub async fn read(body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    let limit = limits.max_body;
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if declared > limit {
        return Err(ApiError::too_large(limit));
    }
    let deadline = limits.body_timeout;
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(ApiError::body_timeout(deadline));
    };
    read.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.is::<http_body_util::LengthLimitError>() {
                return ApiError::too_large(limit);
            }
            source = s.source();
        }
        ApiError::invalid(None, format!("cannot read the request body: {e}"))
    })
}

/// The body as UTF-8 text.
pub fn text(bytes: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ApiError::invalid(None, format!("the body is not UTF-8: {e}")))
}

/// The body as a JSON object whose keys are all in `allowed`; an empty
/// body counts as `{}`.
pub fn object(bytes: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let text = text(bytes)?;
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let value = crate::strict_json::parse(text).map_err(|e| match e {
        crate::strict_json::StrictJsonError::Duplicate {
            key,
            top_level: true,
        } => ApiError::invalid(Some(&key), format!("field `{key}` appears twice")),
        other => ApiError::invalid(None, format!("the body is not valid JSON: {other}")),
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid(None, "the body must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid(
            Some(unknown),
            format!(
                "unknown field `{unknown}` (expected one of: {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(obj)
}

/// A string field; `required` ones must be present and not blank.
pub fn string(
    obj: &Map<String, Value>,
    field: &str,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) if required => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` is required"),
        )),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` must not be empty"),
        )),
        Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` is longer than {MAX_TEXT_BYTES} bytes"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` must be a string"),
        )),
    }
}

/// Longest accepted free-text field (reason, comment), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;

/// A required boolean field.
pub fn boolean(obj: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match obj.get(field) {
        Some(Value::Bool(b)) => Ok(*b),
        None | Some(Value::Null) => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` is required"),
        )),
        Some(_) => Err(ApiError::invalid(
            Some(field),
            format!("field `{field}` must be true or false"),
        )),
    }
}

/// An optional non-negative integer field.
pub fn unsigned(obj: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::invalid(
                Some(field),
                format!("field `{field}` must be a non-negative integer"),
            )
        }),
    }
}
