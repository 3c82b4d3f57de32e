//! `GET /v1/usage`: every live counter (used, reserved, limit, left) and
//! how many reservations are held, open and settled; optionally only the
//! counters of one scope, subject or name.

use super::Shared;
use super::api_error::ApiError;
use super::decisions::url_pairs;
use crate::history::Scope;
use crate::identifier::same_identifier;
use crate::ledger::UsageRow;
use crate::log::now_ms;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::Value;

/// The query parameters.
const PARAMS: [&str; 3] = ["scope", "subject", "counter"];

/// Which counters to show: all, unless a filter is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Only counters of this scope.
    pub scope: Option<Scope>,
    /// Only counters of this subject (an agent id matches
    /// ASCII-case-insensitively, like everywhere else).
    pub subject: Option<String>,
    /// Only counters of this name (ASCII-case-insensitively).
    pub counter: Option<String>,
}

impl UsageFilter {
    /// Parse `scope=agent&subject=..&counter=..`; an unknown parameter, an
    /// unknown scope or an empty value is an error naming the parameter.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut filter = UsageFilter::default();
        for (key, value) in url_pairs(raw)? {
            if PARAMS.contains(&key.as_str()) && value.is_empty() {
                return Err(ApiError::invalid(
                    Some(&key),
                    format!("query parameter `{key}` must not be empty"),
                ));
            }
            match key.as_str() {
                "scope" => {
                    filter.scope = Some(Scope::parse(&value).ok_or_else(|| {
                        ApiError::invalid(
                            Some("scope"),
                            format!(
                                "unknown scope {value:?}: expected agent, session, user or fleet"
                            ),
                        )
                    })?);
                }
                "subject" => filter.subject = Some(value),
                "counter" => filter.counter = Some(value),
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
        Ok(filter)
    }

    /// Whether `row` passes.
    pub fn matches(&self, row: &UsageRow) -> bool {
        let subject = |s: &str| match row.scope {
            Scope::Agent => same_identifier(&row.subject, s),
            _ => row.subject == s,
        };
        self.scope.is_none_or(|s| row.scope == s)
            && self.subject.as_deref().is_none_or(subject)
            && self
                .counter
                .as_deref()
                .is_none_or(|c| same_identifier(&row.counter, c))
    }
}

/// The counters and reservation counts, at this moment.
pub async fn usage(
    State(service): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let filter = UsageFilter::parse(raw.as_deref().unwrap_or(""))?;
    let (rows, (held, open, settled)) = service
        .blocking(|rt| rt.ledger().snapshot(now_ms()))
        .await?
        .map_err(|e| {
            ApiError::plain(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::ledger::USAGE_UNAVAILABLE,
                e.to_string(),
            )
        })?;
    let counters: Vec<UsageRow> = rows.into_iter().filter(|r| filter.matches(r)).collect();
    Ok(Json(serde_json::json!({
        "counters": counters,
        "reservations": { "held": held, "open": open, "settled": settled },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ChargeKind, Window};
    use proptest::prelude::*;

    fn row(counter: &str, scope: Scope, subject: &str) -> UsageRow {
        UsageRow {
            counter: counter.to_owned(),
            kind: ChargeKind::Budget,
            scope,
            subject: subject.to_owned(),
            window: Window::Rolling { ms: 3_600_000 },
            window_start_ms: None,
            window_end_ms: None,
            used: 1.0,
            reserved: 0.0,
            limit: 10.0,
            left: 9.0,
            reservations: 1,
        }
    }

    #[test]
    fn queries_parse_and_errors_name_the_parameter() {
        // (query, the field of the error, if any)
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("scope=agent", None),
            ("scope=fleet&counter=budget&subject=%2A", None),
            ("scope=team", Some("scope")),
            ("scope=", Some("scope")),
            ("subject=", Some("subject")),
            ("counter", Some("counter")),
            ("colour=red", Some("colour")),
            ("scope=agent&limit=3", Some("limit")),
        ];
        for (query, field) in cases {
            match (UsageFilter::parse(query), field) {
                (Ok(_), None) => {}
                (Err(e), Some(f)) => assert_eq!(e.field.as_deref(), Some(*f), "{query}"),
                (got, want) => panic!("{query}: got {got:?}, expected an error on {want:?}"),
            }
        }
        let f = UsageFilter::parse("scope=agent&subject=Financial-Advisor&counter=budget").unwrap();
        assert_eq!(f.scope, Some(Scope::Agent));
        assert_eq!(f.subject.as_deref(), Some("Financial-Advisor"));
    }

    #[test]
    fn filters_select_rows() {
        let rows = [
            row("budget", Scope::Agent, "financial-advisor"),
            row("budget", Scope::Fleet, "*"),
            row("rate:send_email", Scope::Agent, "financial-advisor"),
            row("budget", Scope::Session, "S-1"),
        ];
        // (query, the indexes of the rows it keeps)
        let cases: &[(&str, &[usize])] = &[
            ("", &[0, 1, 2, 3]),
            ("scope=agent", &[0, 2]),
            ("scope=user", &[]),
            ("counter=budget", &[0, 1, 3]),
            ("counter=BUDGET", &[0, 1, 3]),
            ("subject=Financial-Advisor", &[0, 2]),
            ("subject=s-1", &[]),
            ("subject=S-1", &[3]),
            ("scope=agent&subject=financial-advisor&counter=budget", &[0]),
            ("scope=fleet&subject=%2A", &[1]),
        ];
        for (query, kept) in cases {
            let filter = UsageFilter::parse(query).unwrap();
            let got: Vec<usize> = (0..rows.len())
                .filter(|i| filter.matches(&rows[*i]))
                .collect();
            assert_eq!(&got, kept, "{query}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = UsageFilter::parse(&raw);
        }
    }
}
