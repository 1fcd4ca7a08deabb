//! Meta (Facebook/Instagram) ads through the Marketing API's Insights edge:
//! `GET {base}/{version}/act_{id}/insights` with `time_increment=1`
//! (developers.facebook.com/docs/marketing-api/insights, …/reference/ad-account/insights).
//!
//! What the API does that matters here: every value is a string; conversions arrive as a
//! list of `{action_type, value}` (types overlap, e.g. `lead` and
//! `offsite_conversion.fb_pixel_lead` count the same people), so one configured type is
//! read per field and none are added up; `paging.next` is a full URL, absent on the last
//! page; throttling is an error `code` (4, 17, 613, 80000–80014) with usage headers, not a
//! 429; code 190 is an expired or revoked token.

use super::{snippet, Api, Attempt};
use crate::config::plan::MetaAdsSpec;
use crate::frame::{day_of, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::{Duration as Days, NaiveDate};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// The fields a Meta ads source has.
pub const FIELDS: &[&str] = &["spend", "impressions", "clicks", "leads", "purchases", "purchase_value"];

/// The dimensions at each level, with the Insights field holding each.
pub fn dimensions(level: &str) -> &'static [(&'static str, &'static str)] {
    match level {
        "campaign" => &[("campaign", "campaign_name")],
        "adset" => &[("campaign", "campaign_name"), ("adset", "adset_name")],
        "ad" => &[
            ("campaign", "campaign_name"),
            ("adset", "adset_name"),
            ("ad", "ad_name"),
        ],
        _ => &[],
    }
}

pub async fn fetch(id: &str, spec: &MetaAdsSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    if let Some(f) = req.fields.iter().find(|f| !FIELDS.contains(&f.as_str())) {
        return Err(SourceError::config(
            id,
            format!(
                "a Meta ads source has no field `{f}`; its fields are: {}",
                FIELDS.join(", ")
            ),
        ));
    }
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    if req.fields.is_empty() {
        return Ok(frame);
    }
    let token = std::env::var(&spec.token_env).map_err(|_| {
        SourceError::config(
            id,
            format!(
                "the environment variable {} holding the Meta access token is not set",
                spec.token_env
            ),
        )
    })?;
    let dims = dimensions(&spec.level);
    let mut fields: Vec<&str> = dims.iter().map(|(_, api)| *api).collect();
    fields.extend(["spend", "impressions", "clicks", "actions", "action_values"]);
    let api = Api::for_account(spec.http.clone(), &format!("meta:{}", spec.account));
    let first = format!(
        "{}/{}/act_{}/insights",
        spec.base_url.trim_end_matches('/'),
        spec.api_version,
        spec.account
    );
    for (start, end) in merge_ranges(&req.ranges) {
        let range = serde_json::json!({"since": start.to_string(), "until": (end - Days::days(1)).to_string()});
        let mut next: Option<String> = None;
        loop {
            let page = api
                .json(
                    id,
                    || {
                        let r = match &next {
                            // The next page's URL is complete, cursor included.
                            Some(url) => api.client().get(url),
                            None => api.client().get(&first).query(&[
                                ("level", spec.level.as_str()),
                                ("time_increment", "1"),
                                ("time_range", &range.to_string()),
                                ("fields", &fields.join(",")),
                                ("limit", &spec.page_size.to_string()),
                            ]),
                        };
                        // In a header, so the token is never part of a URL that could be logged.
                        r.bearer_auth(&token)
                    },
                    classify,
                )
                .await?;
            read_page(id, spec, &page, req, dims, (start, end), &mut frame)?;
            match page["paging"]["next"].as_str() {
                Some(url) if !url.is_empty() => {
                    // The token goes with the request: only to the host it was meant for.
                    if !same_origin(url, &first) {
                        return Err(SourceError::unavailable(
                            id,
                            "the API's next-page link points to another host; not followed (the token would go with it)",
                        ));
                    }
                    next = Some(url.to_string())
                }
                _ => break,
            }
        }
    }
    frame.sort_by_date();
    Ok(frame)
}

fn read_page(
    id: &str,
    spec: &MetaAdsSpec,
    page: &Value,
    req: &FetchRequest,
    dims: &[(&str, &str)],
    (from, to): (NaiveDate, NaiveDate),
    frame: &mut Frame,
) -> Result<(), SourceError> {
    let Some(rows) = page["data"].as_array() else {
        return Err(SourceError::data(
            id,
            format!("Meta answered without a `data` list: {}", snippet(&page.to_string())),
        ));
    };
    for (n, row) in rows.iter().enumerate() {
        let raw = row["date_start"].as_str().unwrap_or("");
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| SourceError::data(id, format!("row {}: `{raw}` is not a date", n + 1)))?;
        if date < from || date >= to {
            continue;
        }
        frame.dates.push(day_of(date));
        for (i, d) in req.dimensions.iter().enumerate() {
            let api = dims.iter().find(|(name, _)| name == d).map_or("", |(_, a)| *a);
            frame.dims[i].push(row[api].as_str().unwrap_or("(not set)"));
        }
        for (i, f) in req.fields.iter().enumerate() {
            let v = match f.as_str() {
                "leads" => action(&row["actions"], &spec.lead_action),
                "purchases" => action(&row["actions"], &spec.purchase_action),
                "purchase_value" => action(&row["action_values"], &spec.purchase_action),
                // spend, impressions, clicks: strings; absent means none that day.
                other => row.get(other).map_or(Ok(0.0), number),
            }
            .map_err(|bad| SourceError::data(id, format!("row {}: `{f}` is `{bad}`, not a number", n + 1)))?;
            frame.fields[i].values.push(v);
        }
    }
    Ok(())
}

/// A value Meta sends as a string (or, rarely, a number).
fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) => s.trim().parse().map_err(|_| s.clone()),
        Value::Number(n) => n.as_f64().ok_or_else(|| n.to_string()),
        other => Err(other.to_string()),
    }
}

/// The value of one action type in an actions list (0 when that type did not occur).
fn action(list: &Value, action_type: &str) -> Result<f64, String> {
    let Some(items) = list.as_array() else { return Ok(0.0) };
    match items.iter().find(|a| a["action_type"] == action_type) {
        Some(a) => number(&a["value"]),
        None => Ok(0.0),
    }
}

/// Meta's error codes for throttling (rate limits per app, account and business use case).
const THROTTLED: &[i64] = &[
    4, 17, 32, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80009, 80014,
];

fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Attempt {
    let err: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = err["error"]["code"].as_i64().unwrap_or(0);
    let message = err["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    if code == 190 {
        return Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "the Meta access token has expired or was revoked (code 190: {message}). Create a new \
                 system-user token in Business Settings → Users → System users, and set it where \
                 the config's token_env points."
            ))
        };
    }
    if THROTTLED.contains(&code) || status.as_u16() == 429 {
        return Attempt::transient(
            format!("Meta is throttling this account (code {code}): {message}"),
            Some(regain_access(headers).unwrap_or(Duration::from_secs(5))),
        );
    }
    if code == 10 || code == 200 || (200..300).contains(&code) {
        return Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "Meta refused access (code {code}): {message}. Give the system user the ad \
                 account (Business Settings → Accounts → Ad accounts) with the ads_read permission."
            ))
        };
    }
    if status.is_server_error() || code == 1 || code == 2 {
        return Attempt::transient(format!("Meta is failing ({status}, code {code}): {message}"), None);
    }
    Attempt::permanent(format!("Meta rejected the request ({status}, code {code}): {message}"))
}

/// When the usage headers say access comes back (`estimated_time_to_regain_access`, minutes).
fn regain_access(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let mut minutes: Option<u64> = None;
    for name in ["x-business-use-case-usage", "x-ad-account-usage"] {
        let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<Value>(v) else {
            continue;
        };
        // Business use case usage: {"<business id>": [{"estimated_time_to_regain_access": N, …}]}.
        let mut found = Vec::new();
        collect_regain(&json, &mut found);
        minutes = found.into_iter().chain(minutes).max();
    }
    minutes.map(|m| Duration::from_secs(m.saturating_mul(60).clamp(1, 3600)))
}

fn collect_regain(v: &Value, out: &mut Vec<u64>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "estimated_time_to_regain_access" {
                    if let Some(n) = x.as_u64() {
                        out.push(n);
                    }
                } else {
                    collect_regain(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_regain(x, out)),
        _ => {}
    }
}

/// Fuzzing: an insights page (ad level) and an error body with usage headers.
pub fn fuzz(body: &Value, raw: &str) {
    let spec = MetaAdsSpec {
        account: "1".into(),
        token_env: String::new(),
        level: "ad".into(),
        lead_action: "lead".into(),
        purchase_action: "offsite_conversion.fb_pixel_purchase".into(),
        base_url: String::new(),
        api_version: String::new(),
        page_size: 1,
        http: Default::default(),
    };
    let dims = dimensions("ad");
    let req = FetchRequest {
        fields: FIELDS.iter().map(|f| f.to_string()).collect(),
        dimensions: dims.iter().map(|(d, _)| d.to_string()).collect(),
        ranges: Vec::new(),
    };
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
    let _ = read_page(
        "fuzz",
        &spec,
        body,
        &req,
        dims,
        (d("2000-01-01"), d("2100-01-01")),
        &mut frame,
    );
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(v) = reqwest::header::HeaderValue::from_str(raw) {
        headers.insert("x-business-use-case-usage", v);
    }
    let _ = classify(StatusCode::BAD_REQUEST, &headers, raw);
}

/// Whether two URLs share scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}
