//! `POST /v1/decisions/{seq}/outcome`: the host application reports what
//! happened to an approved action (`completed` settles its reservations,
//! with the actual amount if given; `failed` frees them). It takes the
//! same token as `POST /v1/evaluate`.

use super::api_error::ApiError;
use super::{Shared, body};
use crate::ledger::MAX_AMOUNT;
use crate::log::{OutcomeStatus, parse_seq};
use crate::runtime::OutcomeError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

/// The body's fields.
const FIELDS: [&str; 2] = ["status", "amount"];

/// Report the outcome of decision `seq`.
pub async fn report(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(seq): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    service.access.eval(&headers)?;
    let seq = parse_seq(&seq).map_err(|e| ApiError::invalid(Some("seq"), e.to_string()))?;
    let bytes = body::read(body, &service.limits).await?;
    let obj = body::object(&bytes, &FIELDS)?;
    let (status, amount) = parse_body(&obj)?;
    let report = service
        .blocking(move |rt| rt.report_outcome(seq, status, amount))
        .await?
        .map_err(refusal)?;
    service.metrics.record_outcome(status);
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `status` (required: `completed` or `failed`) and `amount` (optional: a
/// finite number from 0 to 9e9; `null` counts as absent).
pub fn parse_body(obj: &Map<String, Value>) -> Result<(OutcomeStatus, Option<f64>), ApiError> {
    let status = match body::string(obj, "status", true)?.as_deref() {
        Some("completed") => OutcomeStatus::Completed,
        Some("failed") => OutcomeStatus::Failed,
        other => {
            return Err(ApiError::invalid(
                Some("status"),
                format!(
                    "field `status` must be \"completed\" or \"failed\", not {:?}",
                    other.unwrap_or_default()
                ),
            ));
        }
    };
    let amount = match obj.get("amount") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let bad = || {
                ApiError::invalid(
                    Some("amount"),
                    format!("field `amount` must be a finite number from 0 to 9e9, not {n}"),
                )
            };
            let a = n.as_f64().ok_or_else(bad)?;
            if !(a.is_finite() && (0.0..=MAX_AMOUNT).contains(&a)) {
                return Err(bad());
            }
            Some(a)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                Some("amount"),
                "field `amount` must be a number",
            ));
        }
    };
    Ok((status, amount))
}

/// The answer to each refusal.
pub fn refusal(e: OutcomeError) -> ApiError {
    let message = e.to_string();
    match e {
        OutcomeError::UnknownDecision(_) => {
            ApiError::plain(StatusCode::NOT_FOUND, "unknown-decision", message)
        }
        OutcomeError::NotApproved { .. } => {
            ApiError::plain(StatusCode::UNPROCESSABLE_ENTITY, "not-approved", message)
        }
        OutcomeError::AlreadyReported { .. } => {
            ApiError::plain(StatusCode::CONFLICT, "already-reported", message)
        }
        OutcomeError::Settled { .. } => ApiError::plain(StatusCode::CONFLICT, "settled", message),
        OutcomeError::BadAmount(_) => ApiError::invalid(Some("amount"), message),
        OutcomeError::Log(_) => ApiError::log_unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::SettleError;
    use crate::log::LogError;

    fn parse(text: &str) -> Result<(OutcomeStatus, Option<f64>), ApiError> {
        let bytes = axum::body::Bytes::from(text.to_owned());
        parse_body(&body::object(&bytes, &FIELDS)?)
    }

    #[test]
    fn bodies_parse_and_errors_name_the_field() {
        use OutcomeStatus::{Completed, Failed};
        // (body, Ok((status, amount)) or Err(field))
        type Case<'a> = (
            &'a str,
            Result<(OutcomeStatus, Option<f64>), Option<&'a str>>,
        );
        let cases: &[Case] = &[
            (r#"{"status":"completed"}"#, Ok((Completed, None))),
            (r#"{"status":"failed"}"#, Ok((Failed, None))),
            (
                r#"{"status":"completed","amount":12.5}"#,
                Ok((Completed, Some(12.5))),
            ),
            (
                r#"{"status":"completed","amount":0}"#,
                Ok((Completed, Some(0.0))),
            ),
            (
                r#"{"status":"completed","amount":null}"#,
                Ok((Completed, None)),
            ),
            (
                r#"{"status":"completed","amount":9e9}"#,
                Ok((Completed, Some(9e9))),
            ),
            ("", Err(Some("status"))),
            ("{}", Err(Some("status"))),
            (r#"{"status":null}"#, Err(Some("status"))),
            (r#"{"status":"done"}"#, Err(Some("status"))),
            (r#"{"status":"Completed"}"#, Err(Some("status"))),
            (r#"{"status":1}"#, Err(Some("status"))),
            (r#"{"status":"completed","amount":-1}"#, Err(Some("amount"))),
            (
                r#"{"status":"completed","amount":1.5e15}"#,
                Err(Some("amount")),
            ),
            (
                r#"{"status":"completed","amount":"10"}"#,
                Err(Some("amount")),
            ),
            (
                r#"{"status":"completed","amount":[1]}"#,
                Err(Some("amount")),
            ),
            (r#"{"status":"completed","cost":10}"#, Err(Some("cost"))),
            (
                r#"{"status":"completed","status":"failed"}"#,
                Err(Some("status")),
            ),
            ("[]", Err(None)),
            ("{", Err(None)),
        ];
        for (text, expected) in cases {
            match (parse(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(e), Err(field)) => {
                    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{text}");
                    assert_eq!(e.field.as_deref(), *field, "{text}: {}", e.message);
                }
                (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases = [
            (OutcomeError::UnknownDecision(7), 404, "unknown-decision"),
            (
                OutcomeError::NotApproved {
                    seq: 7,
                    why: "it was denied".to_owned(),
                },
                422,
                "not-approved",
            ),
            (
                OutcomeError::AlreadyReported {
                    seq: 7,
                    status: "failed".to_owned(),
                },
                409,
                "already-reported",
            ),
            (
                OutcomeError::Settled {
                    seq: 7,
                    source: SettleError::Settled { at_ms: 1 },
                },
                409,
                "settled",
            ),
            (OutcomeError::BadAmount(-1.0), 400, "invalid-request"),
            (
                OutcomeError::Log(LogError::Storage("disk".to_owned())),
                503,
                "log-unavailable",
            ),
        ];
        for (error, status, code) in cases {
            let answer = refusal(error.clone());
            assert_eq!(answer.status.as_u16(), status, "{error:?}");
            assert_eq!(answer.code, code, "{error:?}");
            assert_eq!(answer.message, error.to_string());
        }
        assert_eq!(
            refusal(OutcomeError::BadAmount(-1.0)).field.as_deref(),
            Some("amount")
        );
    }
}
