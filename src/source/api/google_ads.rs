//! Google Ads through `POST {base}/{version}/customers/{id}/googleAds:searchStream` with a
//! GAQL query (developers.google.com/google-ads/api/rest/reference/rest/latest/customers.googleAds/searchStream,
//! …/google-ads/api/docs/concepts/field-service, …/docs/best-practices/quotas).
//!
//! What the API does that matters here: the answer is a JSON *array* of batches, each with
//! `results`; int64 metrics (impressions, clicks, costMicros) are strings, doubles
//! (conversions) are numbers, and a metric that is zero is left out entirely (proto3
//! defaults); cost is in micros of the account's currency; a manager account reads a
//! client's data with `login-customer-id`; the `developer-token` header is sent only when
//! configured; rate limits are a 429 whose GoogleAdsFailure details carry a `retryDelay`.

use super::google_auth;
use super::{snippet, Api, Attempt};
use crate::config::plan::GoogleAdsSpec;
use crate::frame::{day_of, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::{Duration as Days, NaiveDate};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SCOPE: &str = "https://www.googleapis.com/auth/adwords";

/// (our field, GAQL field, path in a result row, divisor).
pub const FIELDS: &[AdsField] = &[
    ("impressions", "metrics.impressions", "impressions", 1.0),
    ("clicks", "metrics.clicks", "clicks", 1.0),
    ("cost", "metrics.cost_micros", "costMicros", 1_000_000.0),
    ("conversions", "metrics.conversions", "conversions", 1.0),
    (
        "conversions_value",
        "metrics.conversions_value",
        "conversionsValue",
        1.0,
    ),
];

pub async fn fetch(id: &str, spec: &GoogleAdsSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    let fields: Vec<&AdsField> = req
        .fields
        .iter()
        .map(|f| {
            FIELDS.iter().find(|(n, ..)| n == f).ok_or_else(|| {
                let names: Vec<&str> = FIELDS.iter().map(|(n, ..)| *n).collect();
                SourceError::config(
                    id,
                    format!(
                        "a Google Ads source has no field `{f}`; its fields are: {}",
                        names.join(", ")
                    ),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    if fields.is_empty() {
        return Ok(frame);
    }
    let by_campaign = req.dimensions.iter().any(|d| d == "campaign");
    let api = Api::for_account(spec.http.clone(), &format!("google_ads:{}", spec.customer_id));
    let creds = spec.credentials.clone();
    let token = google_auth::access_token(id, &creds, spec.token_url.as_deref(), SCOPE, api.client()).await?;
    let developer_token = match &spec.developer_token_env {
        Some(name) => Some(std::env::var(name).map_err(|_| {
            SourceError::config(
                id,
                format!("the environment variable {name} (the developer token) is not set"),
            )
        })?),
        None => None,
    };
    let url = format!(
        "{}/{}/customers/{}/googleAds:searchStream",
        spec.base_url.trim_end_matches('/'),
        spec.api_version,
        spec.customer_id
    );
    for (start, end) in merge_ranges(&req.ranges) {
        let mut select: Vec<&str> = vec!["segments.date"];
        if by_campaign {
            select.push("campaign.name");
        }
        select.extend(fields.iter().map(|(_, gaql, ..)| *gaql));
        let query = format!(
            "SELECT {} FROM {} WHERE segments.date BETWEEN '{}' AND '{}'",
            select.join(", "),
            if by_campaign { "campaign" } else { "customer" },
            start,
            end - Days::days(1)
        );
        let body = json!({ "query": query });
        let answer = api
            .json(
                id,
                || {
                    let mut r = api.client().post(&url).bearer_auth(&token).json(&body);
                    if let Some(t) = &developer_token {
                        r = r.header("developer-token", t);
                    }
                    if let Some(m) = &spec.login_customer_id {
                        r = r.header("login-customer-id", m);
                    }
                    r
                },
                classify,
            )
            .await?;
        read_batches(id, &answer, req, &fields, (start, end), &mut frame)?;
    }
    frame.sort_by_date();
    Ok(frame)
}

type AdsField = (&'static str, &'static str, &'static str, f64);

/// Appends the rows of a searchStream answer (a list of batches) within `[start, end)`.
fn read_batches(
    id: &str,
    answer: &Value,
    req: &FetchRequest,
    fields: &[&AdsField],
    (start, end): (NaiveDate, NaiveDate),
    frame: &mut Frame,
) -> Result<(), SourceError> {
    let Some(batches) = answer.as_array() else {
        return Err(SourceError::data(
            id,
            format!(
                "searchStream answered with something other than a list of batches: {}",
                snippet(&answer.to_string())
            ),
        ));
    };
    for batch in batches {
        for (n, row) in batch["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let raw = row["segments"]["date"].as_str().unwrap_or("");
            let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| SourceError::data(id, format!("row {}: `{raw}` is not a date", n + 1)))?;
            if date < start || date >= end {
                continue;
            }
            frame.dates.push(day_of(date));
            for (i, d) in req.dimensions.iter().enumerate() {
                let v = if d == "campaign" {
                    row["campaign"]["name"].as_str()
                } else {
                    None
                };
                frame.dims[i].push(v.unwrap_or("(not set)"));
            }
            for (i, (name, _, path, divisor)) in fields.iter().enumerate() {
                let v = match &row["metrics"][*path] {
                    // Left out: zero (proto3 does not write default values).
                    Value::Null => 0.0,
                    Value::Number(x) => x.as_f64().unwrap_or(0.0),
                    Value::String(s) => s.parse().map_err(|_| {
                        SourceError::data(id, format!("row {}: `{name}` is `{s}`, not a number", n + 1))
                    })?,
                    other => {
                        return Err(SourceError::data(
                            id,
                            format!("row {}: `{name}` is {other}, not a number", n + 1),
                        ))
                    }
                };
                frame.fields[i].values.push(v / divisor);
            }
        }
    }
    Ok(())
}

/// Fuzzing: a searchStream answer and an error body, read as they would be.
pub fn fuzz(body: &Value, raw: &str) {
    let req = FetchRequest {
        fields: FIELDS.iter().map(|(n, ..)| n.to_string()).collect(),
        dimensions: vec!["campaign".into()],
        ranges: Vec::new(),
    };
    let fields: Vec<&AdsField> = FIELDS.iter().collect();
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
    let _ = read_batches(
        "fuzz",
        body,
        &req,
        &fields,
        (d("2000-01-01"), d("2100-01-01")),
        &mut frame,
    );
    let _ = classify(StatusCode::TOO_MANY_REQUESTS, &Default::default(), raw);
}

/// The first error object of an answer (searchStream wraps it in a list).
fn first_error(body: &str) -> Value {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(a)) => a.into_iter().next().map(|x| x["error"].clone()).unwrap_or(Value::Null),
        Ok(v) => v["error"].clone(),
        Err(_) => Value::Null,
    }
}

/// `"30s"` / `"1.5s"` (a protobuf Duration in JSON).
fn proto_duration(s: &str) -> Option<Duration> {
    s.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| Duration::from_secs_f64(x.min(3600.0)))
}

fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Attempt {
    let err = first_error(body);
    let message = err["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    let details = &err["details"];
    let failure = details
        .as_array()
        .and_then(|d| d.iter().find_map(|x| x["errors"].as_array()))
        .and_then(|e| e.first())
        .cloned()
        .unwrap_or(Value::Null);
    let detail = failure["message"].as_str().unwrap_or("");
    let what = if detail.is_empty() {
        message.clone()
    } else {
        format!("{message} {detail}")
    };
    match status.as_u16() {
        429 => {
            let hint = failure["details"]["quotaErrorDetails"]["retryDelay"]
                .as_str()
                .and_then(proto_duration)
                .or_else(|| super::retry_after(headers));
            Attempt::transient(
                format!("Google Ads quota: {what}"),
                hint.or(Some(Duration::from_secs(5))),
            )
        }
        401 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "Google Ads did not accept the credentials: {what}. Sign in again, or check the OAuth client."
            ))
        },
        403 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "Google Ads refused access: {what}. Check the developer token, and that the account (or \
                 its manager, as login_customer_id) can read this customer."
            ))
        },
        s if s >= 500 => Attempt::transient(
            format!("Google Ads is failing ({s}): {what}"),
            super::retry_after(headers),
        ),
        s => Attempt::permanent(format!("Google Ads rejected the query ({s}): {what}")),
    }
}
