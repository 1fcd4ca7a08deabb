//! Google Search Console through `searchAnalytics.query`:
//! `POST {base}/webmasters/v3/sites/{site}/searchAnalytics/query`
//! (developers.google.com/webmaster-tools/v1/searchanalytics/query).
//!
//! What the API does that matters here: rows carry their dimension values in `keys` (in the
//! order asked, `date` as `YYYY-MM-DD`) and clicks, impressions, ctr (a fraction) and
//! position (an average) as JSON numbers; days without impressions are simply missing;
//! `rows` is absent when there are none; paging is by `startRow`, and a page shorter than
//! `rowLimit` is the last.

use super::{google_auth, Api};
use crate::config::plan::SearchConsoleSpec;
use crate::frame::{day_of, Day, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::{Duration as Days, NaiveDate};
use serde_json::{json, Value};

const SCOPE: &str = "https://www.googleapis.com/auth/webmasters.readonly";
const NO_ACCESS: &str = "Add the service account's e-mail as a user of the property in Search Console \
                         (Settings → Users and permissions).";

/// The fields a Search Console source has. `position` is an average: aggregate it with
/// `aggregate: mean, weight: impressions`.
pub const FIELDS: &[&str] = &["clicks", "impressions", "ctr", "position"];
/// The dimensions it can split by (besides the date).
pub const DIMENSIONS: &[&str] = &["query", "page", "country", "device", "searchAppearance"];

pub async fn fetch(id: &str, spec: &SearchConsoleSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    if let Some(f) = req.fields.iter().find(|f| !FIELDS.contains(&f.as_str())) {
        return Err(SourceError::config(
            id,
            format!(
                "Search Console has no field `{f}`; its fields are: {}",
                FIELDS.join(", ")
            ),
        ));
    }
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    if req.fields.is_empty() {
        return Ok(frame);
    }
    let api = Api::for_account(spec.http.clone(), &format!("search_console:{}", spec.site));
    let token =
        google_auth::access_token(id, &spec.credentials, spec.token_url.as_deref(), SCOPE, api.client()).await?;
    let site: String = url::form_urlencoded::byte_serialize(spec.site.as_bytes()).collect();
    let url = format!(
        "{}/webmasters/{}/sites/{site}/searchAnalytics/query",
        spec.base_url.trim_end_matches('/'),
        spec.api_version
    );
    let dims: Vec<&str> = std::iter::once("date")
        .chain(req.dimensions.iter().map(String::as_str))
        .collect();
    for (start, end) in merge_ranges(&req.ranges) {
        let mut start_row: u64 = 0;
        loop {
            let body = json!({
                "startDate": start.to_string(),
                "endDate": (end - Days::days(1)).to_string(),
                "dimensions": dims,
                "rowLimit": spec.page_size,
                "startRow": start_row,
                "dataState": "final",
            });
            let page = api
                .json(
                    id,
                    || api.client().post(&url).bearer_auth(&token).json(&body),
                    |s, h, b| google_auth::classify("Search Console", NO_ACCESS, s, h, b),
                )
                .await?;
            let got = read_page(id, &page, req, (day_of(start), day_of(end)), &mut frame)?;
            start_row += got as u64;
            if got < spec.page_size as usize {
                break;
            }
        }
    }
    frame.sort_by_date();
    Ok(frame)
}

fn read_page(
    id: &str,
    page: &Value,
    req: &FetchRequest,
    (from, to): (Day, Day),
    frame: &mut Frame,
) -> Result<usize, SourceError> {
    let Some(rows) = page.get("rows").and_then(Value::as_array) else {
        return Ok(0);
    };
    for (n, row) in rows.iter().enumerate() {
        let key = |i: usize| row.get("keys")?.as_array()?.get(i)?.as_str();
        let raw = key(0).unwrap_or("");
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| SourceError::data(id, format!("row {}: `{raw}` is not a date", n + 1)))?;
        let day = day_of(date);
        if day < from || day >= to {
            continue;
        }
        frame.dates.push(day);
        for i in 0..req.dimensions.len() {
            frame.dims[i].push(key(i + 1).unwrap_or("(not set)"));
        }
        for (i, f) in req.fields.iter().enumerate() {
            let v = match row.get(f.as_str()) {
                None | Some(Value::Null) => f64::NAN,
                Some(Value::Number(x)) => x.as_f64().unwrap_or(f64::NAN),
                // Some proxies turn numbers into strings: accept them when they are numbers.
                Some(Value::String(s)) => s
                    .trim()
                    .parse()
                    .map_err(|_| SourceError::data(id, format!("row {}: `{f}` is `{s}`, not a number", n + 1)))?,
                Some(other) => {
                    return Err(SourceError::data(
                        id,
                        format!("row {}: `{f}` is {other}, not a number", n + 1),
                    ))
                }
            };
            frame.fields[i].values.push(v);
        }
    }
    Ok(rows.len())
}

/// Fuzzing: a query page (by date and device) and an error body.
pub fn fuzz(body: &Value, raw: &str) {
    let req = FetchRequest {
        fields: FIELDS.iter().map(|f| f.to_string()).collect(),
        dimensions: vec!["device".into()],
        ranges: Vec::new(),
    };
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    let _ = read_page("fuzz", body, &req, (Day::MIN, Day::MAX), &mut frame);
    let _ = google_auth::classify(
        "Search Console",
        "",
        reqwest::StatusCode::FORBIDDEN,
        &Default::default(),
        raw,
    );
}
