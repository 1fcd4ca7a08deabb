//! Google Analytics 4 through the Data API: `POST {base}/{version}/properties/{id}:runReport`
//! (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport).
//!
//! What the API does that matters here: every value arrives as a string; the `date`
//! dimension is `YYYYMMDD`; rows come `limit` at a time from `offset`, with `rowCount` the
//! total; `rows` is absent when there are none; errors are `{"error": {code, message,
//! status}}`, quota exhaustion a 429 `RESOURCE_EXHAUSTED` with no Retry-After.

use super::{google_auth, snippet, Api};
use crate::config::plan::Ga4Spec;
use crate::frame::{day_of, Day, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::{Duration as Days, NaiveDate};
use serde_json::{json, Value};

const SCOPE: &str = "https://www.googleapis.com/auth/analytics.readonly";
const NO_ACCESS: &str = "Add the service account's e-mail as a Viewer of the property in GA4 \
                         (Admin → Property access management).";

/// (our name, GA4 name) pairs.
pub type Names = &'static [(&'static str, &'static str)];

/// A preset: its dimensions and its metrics.
pub struct Preset {
    pub name: &'static str,
    pub dimensions: Names,
    pub metrics: Names,
}

/// The presets, by name. `ga4_channels`: sessions and users by default channel group, per day.
pub const PRESETS: &[Preset] = &[Preset {
    name: "ga4_channels",
    dimensions: &[("channel", "sessionDefaultChannelGroup")],
    metrics: &[
        ("sessions", "sessions"),
        ("users", "totalUsers"),
        ("new_users", "newUsers"),
        ("engaged_sessions", "engagedSessions"),
        ("key_events", "keyEvents"),
    ],
}];

pub async fn fetch(id: &str, spec: &Ga4Spec, req: &FetchRequest) -> Result<Frame, SourceError> {
    let metrics: Vec<(&str, &str)> = req
        .fields
        .iter()
        .map(|f| {
            spec.metrics
                .iter()
                .find(|(name, _)| name == f)
                .map(|(n, api)| (n.as_str(), api.as_str()))
                .ok_or_else(|| {
                    let known: Vec<&str> = spec.metrics.iter().map(|(n, _)| n.as_str()).collect();
                    SourceError::config(
                        id,
                        format!("GA4 source has no field `{f}`; its fields are: {}", known.join(", ")),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let dims: Vec<(&str, &str)> = req
        .dimensions
        .iter()
        .filter_map(|d| {
            spec.dimensions
                .iter()
                .find(|(name, _)| name == d)
                .map(|(n, api)| (n.as_str(), api.as_str()))
        })
        .collect();
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    if metrics.is_empty() {
        return Ok(frame);
    }
    let api = Api::for_account(spec.http.clone(), &format!("ga4:{}", spec.property));
    let token =
        google_auth::access_token(id, &spec.credentials, spec.token_url.as_deref(), SCOPE, api.client()).await?;
    let url = format!(
        "{}/{}/properties/{}:runReport",
        spec.base_url.trim_end_matches('/'),
        spec.api_version,
        spec.property
    );
    for (start, end) in merge_ranges(&req.ranges) {
        let mut offset: u64 = 0;
        loop {
            let body = json!({
                "dateRanges": [{"startDate": start.to_string(), "endDate": (end - Days::days(1)).to_string()}],
                "dimensions": std::iter::once("date").chain(dims.iter().map(|(_, a)| *a)).map(|n| json!({"name": n})).collect::<Vec<_>>(),
                "metrics": metrics.iter().map(|(_, a)| json!({"name": a})).collect::<Vec<_>>(),
                "limit": spec.page_size.to_string(),
                "offset": offset.to_string(),
                "keepEmptyRows": false,
            });
            let page = api
                .json(
                    id,
                    || api.client().post(&url).bearer_auth(&token).json(&body),
                    |s, h, b| google_auth::classify("GA4", NO_ACCESS, s, h, b),
                )
                .await?;
            let got = read_page(id, &page, &dims, &metrics, (day_of(start), day_of(end)), &mut frame)?;
            let total = page.get("rowCount").and_then(as_u64).unwrap_or(0);
            offset += got as u64;
            if got == 0 || offset >= total {
                break;
            }
        }
    }
    frame.sort_by_date();
    Ok(frame)
}

/// A number that may be JSON number or string (int64 fields are strings in Google's JSON).
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// Appends one page's rows; returns how many rows the page had.
fn read_page(
    id: &str,
    page: &Value,
    dims: &[(&str, &str)],
    metrics: &[(&str, &str)],
    (from, to): (Day, Day),
    frame: &mut Frame,
) -> Result<usize, SourceError> {
    // Columns are found by header name, not assumed to be in request order.
    let names = |key: &str| -> Vec<String> {
        page.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|h| h.get("name").and_then(Value::as_str).unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let dim_headers = names("dimensionHeaders");
    let metric_headers = names("metricHeaders");
    let Some(rows) = page.get("rows").and_then(Value::as_array) else {
        return Ok(0);
    };
    let position = |headers: &[String], api: &str, what: &str| {
        headers
            .iter()
            .position(|h| h == api)
            .ok_or_else(|| SourceError::data(id, format!("GA4 answered without the {what} `{api}` it was asked for")))
    };
    let date_at = position(&dim_headers, "date", "dimension")?;
    let dim_at: Vec<usize> = dims
        .iter()
        .map(|(_, a)| position(&dim_headers, a, "dimension"))
        .collect::<Result<_, _>>()?;
    let metric_at: Vec<usize> = metrics
        .iter()
        .map(|(_, a)| position(&metric_headers, a, "metric"))
        .collect::<Result<_, _>>()?;
    for (n, row) in rows.iter().enumerate() {
        let cell = |key: &str, i: usize| -> Option<&str> { row.get(key)?.as_array()?.get(i)?.get("value")?.as_str() };
        let raw_date = cell("dimensionValues", date_at).unwrap_or("");
        let Ok(date) = NaiveDate::parse_from_str(raw_date, "%Y%m%d") else {
            return Err(SourceError::data(
                id,
                format!("row {}: `{raw_date}` is not a GA4 date (YYYYMMDD)", n + 1),
            ));
        };
        let day = day_of(date);
        if day < from || day >= to {
            continue;
        }
        frame.dates.push(day);
        for (i, &at) in dim_at.iter().enumerate() {
            frame.dims[i].push(cell("dimensionValues", at).unwrap_or("(not set)"));
        }
        for (i, &at) in metric_at.iter().enumerate() {
            // A missing value is "no value", not zero; a value that is not a number is bad data.
            let v = match cell("metricValues", at) {
                None => f64::NAN,
                Some(s) => s.trim().parse::<f64>().map_err(|_| {
                    SourceError::data(
                        id,
                        format!(
                            "row {}: metric `{}` is `{}`, not a number",
                            n + 1,
                            metrics[i].1,
                            snippet(s)
                        ),
                    )
                })?,
            };
            frame.fields[i].values.push(v);
        }
    }
    Ok(rows.len())
}

/// Fuzzing: a runReport page (with the `ga4_channels` preset) and an error body.
pub fn fuzz(body: &Value, raw: &str) {
    let p = &PRESETS[0];
    let mut frame = Frame::new(
        &p.dimensions.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
        &p.metrics.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
    );
    let _ = read_page("fuzz", body, p.dimensions, p.metrics, (Day::MIN, Day::MAX), &mut frame);
    let _ = google_auth::classify(
        "GA4",
        "",
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        &Default::default(),
        raw,
    );
}
