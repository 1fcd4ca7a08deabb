//! HubSpot CRM through the search endpoints: `POST {base}/crm/v3/objects/{object}/search`
//! (developers.hubspot.com/docs/api/crm/search).
//!
//! Each field is a count (or a sum) of CRM records by the day a date property falls on:
//! contacts entering each lifecycle stage, deals closed won and their amounts. What the API
//! does that matters here: filter values for dates are epoch milliseconds (as strings);
//! 200 results a page at most, the next page's cursor in `paging.next.after`; a search
//! returns at most 10,000 results, so a range with more is split in halves and each half
//! searched; rate limits are a 429 with a `policyName` (SECONDLY: wait a second; DAILY: done
//! for the day).

use super::{snippet, Api, Attempt};
use crate::config::plan::HubSpotSpec;
use crate::frame::{day_of, Frame};
use crate::source::{merge_ranges, FetchRequest, SourceError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a field counts: (field, object, date property, extra filter, summed property).
pub struct Counted {
    pub field: &'static str,
    pub object: &'static str,
    pub date_property: &'static str,
    pub filter: Option<(&'static str, &'static str)>,
    pub sum: Option<&'static str>,
}

/// The `hubspot_lifecycle` fields.
pub const FIELDS: &[Counted] = &[
    Counted {
        field: "leads",
        object: "contacts",
        date_property: "hs_lifecyclestage_lead_date",
        filter: None,
        sum: None,
    },
    Counted {
        field: "mqls",
        object: "contacts",
        date_property: "hs_lifecyclestage_marketingqualifiedlead_date",
        filter: None,
        sum: None,
    },
    Counted {
        field: "sqls",
        object: "contacts",
        date_property: "hs_lifecyclestage_salesqualifiedlead_date",
        filter: None,
        sum: None,
    },
    Counted {
        field: "customers",
        object: "contacts",
        date_property: "hs_lifecyclestage_customer_date",
        filter: None,
        sum: None,
    },
    Counted {
        field: "deals_won",
        object: "deals",
        date_property: "closedate",
        filter: Some(("hs_is_closed_won", "true")),
        sum: None,
    },
    Counted {
        field: "revenue",
        object: "deals",
        date_property: "closedate",
        filter: Some(("hs_is_closed_won", "true")),
        sum: Some("amount"),
    },
];

/// HubSpot's ceiling on results of one search.
const SEARCH_CAP: u64 = 10_000;

pub async fn fetch(id: &str, spec: &HubSpotSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    let wanted: Vec<&Counted> = req
        .fields
        .iter()
        .map(|f| {
            FIELDS.iter().find(|c| c.field == f).ok_or_else(|| {
                let names: Vec<&str> = FIELDS.iter().map(|c| c.field).collect();
                SourceError::config(
                    id,
                    format!(
                        "a HubSpot source has no field `{f}`; its fields are: {}",
                        names.join(", ")
                    ),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    if wanted.is_empty() {
        return Ok(frame);
    }
    let token = std::env::var(&spec.token_env).map_err(|_| {
        SourceError::config(
            id,
            format!(
                "the environment variable {} holding the HubSpot private-app token is not set",
                spec.token_env
            ),
        )
    })?;
    let api = Api::for_account(spec.http.clone(), &format!("hubspot:{}", spec.token_env));
    // (day, field index) → value. Every day searched gets a row: a search that found no
    // record on a day means zero that day, not "no data".
    let mut cells: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for (start, end) in merge_ranges(&req.ranges) {
        for day in start.iter_days().take_while(|d| *d < end) {
            cells.insert(day, vec![0.0; wanted.len()]);
        }
    }
    for (i, c) in wanted.iter().enumerate() {
        for (start, end) in merge_ranges(&req.ranges) {
            let mut pending = vec![(start, end)];
            while let Some((a, b)) = pending.pop() {
                match search(id, spec, &api, &token, c, (a, b)).await? {
                    Searched::Records(records) => {
                        for (day, value) in records {
                            if day >= a && day < b {
                                cells.entry(day).or_insert_with(|| vec![0.0; wanted.len()])[i] += value;
                            }
                        }
                    }
                    // More than HubSpot returns for one search: halve the range.
                    Searched::TooMany(total) => {
                        let days = (b - a).num_days();
                        if days <= 1 {
                            return Err(SourceError::unavailable(
                                id,
                                format!(
                                    "HubSpot has {total} {} for {} in one day, more than one search returns \
                                     (10,000)",
                                    c.object, c.field
                                ),
                            ));
                        }
                        let mid = a + chrono::Duration::days(days / 2);
                        pending.push((mid, b));
                        pending.push((a, mid));
                    }
                }
            }
        }
    }
    for (day, values) in cells {
        frame.dates.push(day_of(day));
        for (i, v) in values.into_iter().enumerate() {
            frame.fields[i].values.push(v);
        }
    }
    Ok(frame)
}

enum Searched {
    Records(Vec<(NaiveDate, f64)>),
    TooMany(u64),
}

/// One search over `[a, b)`, all its pages: each record's day (in the config's zone) and
/// value (1, or the summed property).
async fn search(
    id: &str,
    spec: &HubSpotSpec,
    api: &Api,
    token: &str,
    c: &Counted,
    (a, b): (NaiveDate, NaiveDate),
) -> Result<Searched, SourceError> {
    let url = format!(
        "{}/crm/v3/objects/{}/search",
        spec.base_url.trim_end_matches('/'),
        c.object
    );
    // BETWEEN is inclusive: up to the last millisecond before `b`'s local midnight.
    let ms = |d: NaiveDate| crate::period::local_midnight(spec.timezone, d).timestamp_millis();
    let mut filters = vec![json!({
        "propertyName": c.date_property, "operator": "BETWEEN",
        "value": ms(a).to_string(), "highValue": (ms(b) - 1).to_string()
    })];
    if let Some((p, v)) = c.filter {
        filters.push(json!({"propertyName": p, "operator": "EQ", "value": v}));
    }
    let mut properties = vec![c.date_property];
    properties.extend(c.sum);
    let mut after: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let mut body = json!({
            "filterGroups": [{"filters": filters}],
            "properties": properties,
            "sorts": [{"propertyName": c.date_property, "direction": "ASCENDING"}],
            "limit": spec.page_size,
        });
        if let Some(cursor) = &after {
            body["after"] = json!(cursor);
        }
        let page = api
            .json(id, || api.client().post(&url).bearer_auth(token).json(&body), classify)
            .await?;
        let total = page["total"].as_u64().unwrap_or(0);
        if total > SEARCH_CAP {
            return Ok(Searched::TooMany(total));
        }
        let got = records(id, c, &page, spec.timezone)?;
        let empty = got.is_empty() && page["results"].as_array().is_none_or(|r| r.is_empty());
        out.extend(got);
        match page["paging"]["next"]["after"].as_str() {
            Some(next) if !empty => after = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(Searched::Records(out))
}

/// The (day, value) of each record of one search page.
fn records(id: &str, c: &Counted, page: &Value, tz: chrono_tz::Tz) -> Result<Vec<(NaiveDate, f64)>, SourceError> {
    let mut out = Vec::new();
    let Some(results) = page["results"].as_array() else {
        return Ok(out);
    };
    for (n, r) in results.iter().enumerate() {
        let props = &r["properties"];
        let Some(raw) = props[c.date_property].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        let at = parse_time(raw).ok_or_else(|| {
            SourceError::data(
                id,
                format!("record {}: `{}` is `{raw}`, not a date", n + 1, c.date_property),
            )
        })?;
        let value = match c.sum {
            None => 1.0,
            Some(p) => match props[p].as_str() {
                // A deal without an amount adds nothing, but still counts as a record.
                None | Some("") => 0.0,
                Some(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| SourceError::data(id, format!("record {}: `{p}` is `{s}`, not a number", n + 1)))?,
            },
        };
        out.push((at.with_timezone(&tz).date_naive(), value));
    }
    Ok(out)
}

/// Fuzzing: a search page and an error body, read as they would be.
pub fn fuzz(body: &Value, raw: &str) {
    for c in FIELDS {
        let _ = records("fuzz", c, body, chrono_tz::Tz::Europe__Berlin);
    }
    let _ = classify(StatusCode::TOO_MANY_REQUESTS, &Default::default(), raw);
}

/// HubSpot dates: ISO 8601 (`2026-10-01T09:30:00.000Z`), or epoch milliseconds as text.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    s.parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Attempt {
    let err: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = err["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    match status.as_u16() {
        429 => {
            let policy = err["policyName"].as_str().unwrap_or("");
            if policy.eq_ignore_ascii_case("DAILY") {
                Attempt::permanent(format!(
                    "HubSpot's daily API limit is used up ({message}); it resets at midnight in the \
                     account's time zone"
                ))
            } else {
                Attempt::transient(
                    format!("HubSpot rate limit ({policy}): {message}"),
                    super::retry_after(headers).or(Some(Duration::from_secs(1))),
                )
            }
        }
        401 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "HubSpot did not accept the private-app token ({message}). Create or rotate the token \
                 under Settings → Integrations → Private apps, and set it where the config's token_env points."
            ))
        },
        403 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "HubSpot refused access ({message}). Give the private app the crm.objects.contacts.read \
                 and crm.objects.deals.read scopes."
            ))
        },
        s if s >= 500 => Attempt::transient(
            format!("HubSpot is failing ({s}): {message}"),
            super::retry_after(headers),
        ),
        s => Attempt::permanent(format!("HubSpot rejected the request ({s}): {message}")),
    }
}
