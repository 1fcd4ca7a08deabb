//! Mailchimp campaign reports: `GET {base}/3.0/reports` (mailchimp.com/developer/marketing/api/reports/list-campaign-reports).
//!
//! One row per sent campaign, on the day it was sent (in the config's zone). What the API
//! does that matters here: the data centre is the API key's suffix (`…-us21` →
//! `us21.api.mailchimp.com`); the key goes as HTTP basic auth; pages by `count`/`offset` up
//! to `total_items`; errors are RFC 7807 problem documents (`title`, `detail`); at most 10
//! connections at once, and a 429 past that.

use super::{snippet, Api, Attempt};
use crate::config::plan::MailchimpSpec;
use crate::frame::{day_of, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::DateTime;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// (our field, path in a report).
pub const FIELDS: &[McField] = &[
    ("emails_sent", &["emails_sent"]),
    ("unique_opens", &["opens", "unique_opens"]),
    ("unique_clicks", &["clicks", "unique_subscriber_clicks"]),
    ("unsubscribes", &["unsubscribed"]),
    ("hard_bounces", &["bounces", "hard_bounces"]),
    ("soft_bounces", &["bounces", "soft_bounces"]),
];

/// `https://us21.api.mailchimp.com` for a key ending in `-us21`.
pub fn base_url_for(key: &str) -> Option<String> {
    let dc = key.rsplit_once('-')?.1;
    (!dc.is_empty() && dc.chars().all(|c| c.is_ascii_alphanumeric())).then(|| format!("https://{dc}.api.mailchimp.com"))
}

pub async fn fetch(id: &str, spec: &MailchimpSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    let fields: Vec<&McField> = req
        .fields
        .iter()
        .map(|f| {
            FIELDS.iter().find(|(n, _)| n == f).ok_or_else(|| {
                let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                SourceError::config(
                    id,
                    format!(
                        "a Mailchimp source has no field `{f}`; its fields are: {}",
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
    let key = std::env::var(&spec.api_key_env).map_err(|_| {
        SourceError::config(
            id,
            format!(
                "the environment variable {} holding the Mailchimp API key is not set",
                spec.api_key_env
            ),
        )
    })?;
    let base = match &spec.base_url {
        Some(b) => b.clone(),
        None => base_url_for(&key).ok_or_else(|| {
            SourceError::config(
                id,
                format!(
                    "the Mailchimp API key in {} does not end in its data centre (like -us21)",
                    spec.api_key_env
                ),
            )
        })?,
    };
    let url = format!("{}/{}/reports", base.trim_end_matches('/'), spec.api_version);
    let api = Api::for_account(spec.http.clone(), &format!("mailchimp:{}", spec.api_key_env));
    for (start, end) in merge_ranges(&req.ranges) {
        // Local midnights: send times are instants, the days are the config's.
        let since = crate::period::local_midnight(spec.timezone, start).to_rfc3339();
        let before = crate::period::local_midnight(spec.timezone, end).to_rfc3339();
        let mut offset: u64 = 0;
        loop {
            let page = api
                .json(
                    id,
                    || {
                        api.client().get(&url).basic_auth("goalpost", Some(&key)).query(&[
                            ("since_send_time", since.as_str()),
                            ("before_send_time", before.as_str()),
                            ("count", &spec.page_size.to_string()),
                            ("offset", &offset.to_string()),
                        ])
                    },
                    classify,
                )
                .await?;
            let count = read_reports(id, &page, req, &fields, spec.timezone, (start, end), offset, &mut frame)?;
            offset += count as u64;
            let total = page["total_items"].as_u64().unwrap_or(0);
            if count == 0 || offset >= total {
                break;
            }
        }
    }
    frame.sort_by_date();
    Ok(frame)
}

type McField = (&'static str, &'static [&'static str]);

/// Appends one page's reports sent within `[start, end)`; returns how many the page had.
#[allow(clippy::too_many_arguments)]
fn read_reports(
    id: &str,
    page: &Value,
    req: &FetchRequest,
    fields: &[&McField],
    tz: chrono_tz::Tz,
    (start, end): (chrono::NaiveDate, chrono::NaiveDate),
    offset: u64,
    frame: &mut Frame,
) -> Result<usize, SourceError> {
    let Some(reports) = page["reports"].as_array() else {
        return Ok(0);
    };
    for (n, r) in reports.iter().enumerate() {
        let raw = r["send_time"].as_str().unwrap_or("");
        let Ok(sent) = DateTime::parse_from_rfc3339(raw) else {
            // Not sent yet (drafts have an empty send_time): not a report of a send.
            continue;
        };
        let day = sent.with_timezone(&tz).date_naive();
        if day < start || day >= end {
            continue;
        }
        frame.dates.push(day_of(day));
        for (i, d) in req.dimensions.iter().enumerate() {
            let v = if d == "campaign" {
                r["campaign_title"].as_str().filter(|s| !s.is_empty())
            } else {
                None
            };
            frame.dims[i].push(v.unwrap_or("(untitled)"));
        }
        for (i, (name, path)) in fields.iter().enumerate() {
            let v = path.iter().fold(r, |v, k| &v[*k]);
            let x = match v {
                Value::Null => Some(f64::NAN),
                Value::Number(x) => Some(x.as_f64().unwrap_or(f64::NAN)),
                // A proxy or an older export may quote numbers: read them, don't fail the source.
                Value::String(t) => t.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
                _ => None,
            };
            let Some(x) = x else {
                return Err(SourceError::data(
                    id,
                    format!(
                        "report {}: `{name}` is {}, not a number",
                        offset + n as u64 + 1,
                        snippet(&v.to_string())
                    ),
                ));
            };
            frame.fields[i].values.push(x);
        }
    }
    Ok(reports.len())
}

/// Fuzzing: a reports page and an error body, read as they would be.
pub fn fuzz(body: &Value, raw: &str) {
    let req = FetchRequest {
        fields: FIELDS.iter().map(|(n, _)| n.to_string()).collect(),
        dimensions: vec!["campaign".into()],
        ranges: Vec::new(),
    };
    let fields: Vec<&McField> = FIELDS.iter().collect();
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
    let range = (d("2000-01-01"), d("2100-01-01"));
    let _ = read_reports("fuzz", body, &req, &fields, chrono_tz::Tz::UTC, range, 0, &mut frame);
    let _ = classify(StatusCode::TOO_MANY_REQUESTS, &Default::default(), raw);
}

fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Attempt {
    let err: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let title = err["title"].as_str().unwrap_or("");
    let detail = err["detail"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    match status.as_u16() {
        429 => Attempt::transient(
            format!("Mailchimp is limiting requests ({title}): {detail}"),
            super::retry_after(headers).or(Some(Duration::from_secs(2))),
        ),
        401 | 403 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "Mailchimp refused the API key ({title}): {detail} Create a key under Profile → Extras → \
                 API keys and set it where the config's api_key_env points."
            ))
        },
        s if s >= 500 => Attempt::transient(
            format!("Mailchimp is failing ({s} {title}): {detail}"),
            super::retry_after(headers),
        ),
        s => Attempt::permanent(format!("Mailchimp rejected the request ({s} {title}): {detail}")),
    }
}
