//! Sources: where data comes from. Each kind returns one [`Frame`] for a
//! [`FetchRequest`] (the fields and dimensions the plan needs, and the dates).
//!
//! A failed source does not sink a report: `fetch_all` returns the frames it got and
//! the failures, and the report marks the goals that depended on a failed source.

pub mod api;
pub mod csv;
pub mod sql;

use crate::config::plan::{Plan, SourceKind, SourceSpec};
use crate::frame::Frame;
use crate::kpi::aggregate::Dataset;
use chrono::NaiveDate;
use futures::StreamExt;
use indexmap::IndexMap;
use std::fmt;

/// What to fetch from one source.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub fields: Vec<String>,
    pub dimensions: Vec<String>,
    /// Half-open date ranges; rows outside all of them are not returned.
    pub ranges: Vec<(NaiveDate, NaiveDate)>,
}

/// Why a source failed, in words for the person who can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub source: String,
    pub kind: SourceErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The source is set up wrong (missing column, bad path): fix the config.
    Config,
    /// The data itself is bad (a cell that is not a number).
    Data,
    /// The source could not be reached or answered with an error.
    Unavailable,
}

impl SourceError {
    pub fn config(source: &str, message: impl Into<String>) -> SourceError {
        SourceError {
            source: source.into(),
            kind: SourceErrorKind::Config,
            message: message.into(),
        }
    }

    pub fn data(source: &str, message: impl Into<String>) -> SourceError {
        SourceError {
            source: source.into(),
            kind: SourceErrorKind::Data,
            message: message.into(),
        }
    }

    pub fn unavailable(source: &str, message: impl Into<String>) -> SourceError {
        SourceError {
            source: source.into(),
            kind: SourceErrorKind::Unavailable,
            message: message.into(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source `{}`: {}", self.source, self.message)
    }
}

impl std::error::Error for SourceError {}

/// Fetches one source.
pub async fn fetch(id: &str, spec: &SourceSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    match &spec.kind {
        SourceKind::Csv(c) => {
            // CSV parsing is CPU work on its own threads: keep it off the async executor.
            let (id, spec, req) = (id.to_string(), c.clone(), req.clone());
            tokio::task::spawn_blocking(move || csv::CsvSource { id: &id, spec: &spec }.fetch(&req))
                .await
                .unwrap_or_else(|e| Err(SourceError::data("csv", format!("the CSV reader stopped: {e}"))))
        }
        SourceKind::Sql(s) => sql::fetch(id, s, req).await,
        SourceKind::Ga4(g) => api::ga4::fetch(id, g, req).await,
        SourceKind::SearchConsole(s) => api::search_console::fetch(id, s, req).await,
        SourceKind::MetaAds(m) => api::meta_ads::fetch(id, m, req).await,
        SourceKind::HubSpot(h) => api::hubspot::fetch(id, h, req).await,
        SourceKind::GoogleAds(g) => api::google_ads::fetch(id, g, req).await,
        SourceKind::Mailchimp(m) => api::mailchimp::fetch(id, m, req).await,
    }
}

/// The request for each source that feeds one of `metrics` (indices into the plan's metrics).
pub fn requests(plan: &Plan, metrics: &[usize], ranges: &[(NaiveDate, NaiveDate)]) -> IndexMap<String, FetchRequest> {
    let mut out: IndexMap<String, FetchRequest> = IndexMap::new();
    let ranges = merge_ranges(ranges);
    for &m in metrics {
        let metric = &plan.metrics[m];
        let mut feeds: Vec<(String, String)> = metric
            .feeds
            .iter()
            .map(|f| (f.source.clone(), f.field.clone()))
            .collect();
        // A weighted mean also needs its weight's field from the same source.
        if let crate::config::plan::Aggregate::Mean { weight: Some(w) } = &metric.aggregate {
            if let Some(wm) = plan.metrics.iter().find(|x| &x.name == w) {
                feeds.extend(wm.feeds.iter().map(|f| (f.source.clone(), f.field.clone())));
            }
        }
        for (source, field) in feeds {
            let Some(spec) = plan.sources.get(&source) else {
                continue;
            };
            let req = out.entry(source).or_insert_with(|| FetchRequest {
                fields: Vec::new(),
                dimensions: spec.dimensions.clone(),
                ranges: ranges.clone(),
            });
            if !req.fields.contains(&field) {
                req.fields.push(field);
            }
        }
    }
    out
}

/// Sorts and merges overlapping or touching ranges.
pub fn merge_ranges(ranges: &[(NaiveDate, NaiveDate)]) -> Vec<(NaiveDate, NaiveDate)> {
    let mut v: Vec<(NaiveDate, NaiveDate)> = ranges.iter().copied().filter(|(a, b)| a < b).collect();
    v.sort();
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Sources fetched at once in one run.
const FETCH_CONCURRENCY: usize = 16;

/// What `check --sources` found for one source.
pub struct Probe {
    pub id: String,
    pub kind: &'static str,
    pub day: NaiveDate,
    /// Rows for `day`, or the problem.
    pub result: Result<usize, SourceError>,
}

/// Asks every source for yesterday (in the config's zone), with every field the metrics read
/// from it: a tiny query that proves the credentials, the address and the field names.
pub async fn probe_all(plan: &Plan) -> Vec<Probe> {
    let today = chrono::Utc::now().with_timezone(&plan.timezone).date_naive();
    let day = today.pred_opt().unwrap_or(today);
    let probes = plan.sources.iter().map(|(id, spec)| {
        let mut fields: Vec<String> = Vec::new();
        for m in &plan.metrics {
            for f in m.feeds.iter().filter(|f| &f.source == id) {
                if !fields.contains(&f.field) {
                    fields.push(f.field.clone());
                }
            }
        }
        let req = FetchRequest {
            fields,
            dimensions: spec.dimensions.clone(),
            ranges: vec![(day, today)],
        };
        async move {
            Probe {
                id: id.clone(),
                kind: spec.kind.name(),
                day,
                result: fetch(id, spec, &req).await.map(|f| f.len()),
            }
        }
    });
    futures::future::join_all(probes).await
}

/// How long an API source's answer is reused by other reports asking the same query.
const SHARED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

type SharedFetch = std::sync::Arc<tokio::sync::OnceCell<Result<Frame, SourceError>>>;
type SharedFetches = std::collections::HashMap<String, (std::time::Instant, SharedFetch)>;

static SHARED: std::sync::OnceLock<std::sync::Mutex<SharedFetches>> = std::sync::OnceLock::new();

/// Fetches a source; for an API source, the same query (same source settings, fields,
/// dimensions and dates) asked by several reports at about the same time is sent once and
/// its answer shared: the daemon fires many reports together, and APIs have quotas.
async fn fetch_once(id: &str, spec: &SourceSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    if matches!(spec.kind, SourceKind::Csv(_) | SourceKind::Sql(_)) {
        return fetch(id, spec, req).await;
    }
    let key = format!("{id}\u{1f}{:?}\u{1f}{:?}", spec.kind, req);
    let cell = {
        let mut map = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < SHARED_FOR);
        map.entry(key)
            .or_insert_with(|| (std::time::Instant::now(), Default::default()))
            .1
            .clone()
    };
    let result = cell.get_or_init(|| fetch(id, spec, req)).await.clone();
    if result.is_err() {
        // A failure is shared with those who waited for it, not kept for later reports.
        if let Some(map) = SHARED.get() {
            map.lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, (_, c)| !std::sync::Arc::ptr_eq(c, &cell));
        }
    }
    result
}

/// Fetches every source in `requests` concurrently; returns the frames and the failures.
pub async fn fetch_all(plan: &Plan, requests: &IndexMap<String, FetchRequest>) -> (Dataset, Vec<SourceError>) {
    fetch_all_with(plan, requests, true).await
}

/// The same, never sharing an answer with another run (benchmarks, `check --sources`).
pub async fn fetch_all_uncached(plan: &Plan, requests: &IndexMap<String, FetchRequest>) -> (Dataset, Vec<SourceError>) {
    fetch_all_with(plan, requests, false).await
}

async fn fetch_all_with(
    plan: &Plan,
    requests: &IndexMap<String, FetchRequest>,
    shared: bool,
) -> (Dataset, Vec<SourceError>) {
    let futures = requests.iter().map(|(id, req)| async move {
        let started = std::time::Instant::now();
        let spec = &plan.sources[id];
        let r = if shared {
            fetch_once(id, spec, req).await
        } else {
            fetch(id, spec, req).await
        };
        let secs = started.elapsed().as_secs_f64();
        crate::metrics::observe("goalpost_source_fetch_seconds", &[("source", id)], secs);
        match &r {
            Ok(f) => tracing::debug!(source = %id, rows = f.len(), secs, "fetched"),
            Err(e) => tracing::warn!(source = %id, secs, error = %e, "source failed"),
        }
        (id.clone(), r)
    });
    // At most this many sources at once: 50 API sources must not open 50 connections to one
    // provider (and CSV parsing has as many threads as cores anyway).
    let results: Vec<(String, Result<Frame, SourceError>)> = futures::stream::iter(futures)
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut data = Dataset::default();
    let mut failures = Vec::new();
    for (id, r) in results {
        match r {
            Ok(frame) => {
                data.frames.insert(id, frame);
            }
            Err(e) => failures.push(e),
        }
    }
    (data, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        let merged = merge_ranges(&[
            (d("2026-10-01"), d("2026-11-01")),
            (d("2025-10-01"), d("2025-11-01")),
            (d("2026-09-01"), d("2026-10-01")),
        ]);
        assert_eq!(
            merged,
            vec![(d("2025-10-01"), d("2025-11-01")), (d("2026-09-01"), d("2026-11-01"))]
        );
    }
}
