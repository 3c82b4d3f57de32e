//! `GET /v1/decisions` (the filters of `gavel log query`) and
//! `GET /v1/decisions/{seq}`.

use super::Shared;
use super::api_error::ApiError;
use crate::log::{
    DEFAULT_LIMIT, Filter, QueryParseError, TimeRange, get_record, parse_kind, parse_seq,
    parse_time, parse_verdict, query,
};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::Value;

/// Most records one query returns.
pub const MAX_LIMIT: usize = 1000;

const PARAMS: [&str; 8] = [
    "agent", "action", "verdict", "policy", "kind", "since", "until", "limit",
];

/// Records matching the query's filters, newest first.
pub async fn list(
    State(service): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let (filter, limit) = parse_query(raw.as_deref().unwrap_or(""))?;
    let result = service
        .blocking(move |rt| query(rt.log().database(), &filter, limit))
        .await?
        .map_err(ApiError::log_unavailable)?;
    Ok(Json(serde_json::json!({
        "records": result.records,
        "plan": result.plan,
        "visited": result.visited,
    })))
}

/// One record by sequence number.
pub async fn one(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let seq = parse_seq(&seq).map_err(|e| ApiError::invalid(Some("seq"), e.to_string()))?;
    let record = service
        .blocking(move |rt| get_record(rt.log().database(), seq))
        .await?
        .map_err(ApiError::log_unavailable)?
        .ok_or_else(|| ApiError::not_found(format!("no record {seq} in the decision log")))?;
    serde_json::to_value(record)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Parse `agent=..&verdict=..&since=..` into a filter and a limit.
pub fn parse_query(raw: &str) -> Result<(Filter, usize), ApiError> {
    let mut filter = Filter::default();
    let mut limit = DEFAULT_LIMIT;
    let (mut since, mut until) = (None, None);
    let bad = |field: &str, e: QueryParseError| ApiError::invalid(Some(field), e.to_string());
    for (key, value) in url_pairs(raw)? {
        let value = value.as_str();
        match key.as_str() {
            "agent" => filter.agent = Some(value.to_owned()),
            "action" => filter.action = Some(value.to_owned()),
            "policy" => filter.policy = Some(value.to_owned()),
            "verdict" => {
                filter.verdict = Some(parse_verdict(value).map_err(|e| bad("verdict", e))?)
            }
            "kind" => filter.kind = Some(parse_kind(value).map_err(|e| bad("kind", e))?),
            "since" => since = Some(parse_time("since", value).map_err(|e| bad("since", e))?),
            "until" => until = Some(parse_time("until", value).map_err(|e| bad("until", e))?),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            Some("limit"),
                            format!(
                                "limit must be an integer from 1 to {MAX_LIMIT}, not {value:?}"
                            ),
                        )
                    })?;
            }
            other => {
                return Err(ApiError::invalid(
                    Some(other),
                    format!(
                        "unknown query parameter `{other}` (expected one of: {})",
                        PARAMS.join(", ")
                    ),
                ));
            }
        }
    }
    filter.time = TimeRange::new(since, until).map_err(|e| bad("since", e))?;
    Ok((filter, limit))
}

/// Decode `a=b&c=d` (percent-encoding and `+` for space).
pub fn url_pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                let byte = match hex {
                    [Some(h), Some(l)] => std::str::from_utf8(&[h, l])
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok()),
                    _ => None,
                };
                out.push(byte.ok_or_else(|| {
                    ApiError::invalid(None, format!("bad percent-encoding in the query: {text:?}"))
                })?);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::invalid(None, format!("the query is not UTF-8: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filters_parse_and_errors_name_the_parameter() {
        let (f, limit) =
            parse_query("agent=a%20b&verdict=deny&since=2026-01-01T00:00:00Z&limit=5").unwrap();
        assert_eq!(f.agent.as_deref(), Some("a b"));
        assert_eq!(f.verdict, Some(crate::decision::Verdict::Deny));
        assert_eq!(limit, 5);
        for (query, field) in [
            ("verdict=maybe", "verdict"),
            ("kind=nope", "kind"),
            ("since=yesterday", "since"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("colour=red", "colour"),
            (
                "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
                "since",
            ),
        ] {
            let e = parse_query(query).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{query}");
        }
        assert!(parse_query("agent=%zz").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = parse_query(&raw);
        }
    }
}
