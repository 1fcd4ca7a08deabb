//! Process metrics for `/metrics`, in the Prometheus text format.
//!
//! One global registry (as the `prometheus` crate has), because the places that count —
//! source fetches, deliveries, the scheduler — are far apart and the counts are per process.
//! Counters and gauges are keyed by their full label set; histograms have fixed buckets.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Seconds: fetches and fire latencies both fall in this range.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, String), f64>,
    gauges: BTreeMap<(&'static str, String), f64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut g = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Registry::default))
}

/// `a="x",b="y"` with Prometheus escaping.
fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn add(name: &'static str, pairs: &[(&str, &str)], by: f64) {
    let key = (name, labels(pairs));
    with(|r| *r.counters.entry(key).or_default() += by);
}

pub fn set(name: &'static str, pairs: &[(&str, &str)], value: f64) {
    let key = (name, labels(pairs));
    with(|r| {
        r.gauges.insert(key, value);
    });
}

/// Removes the series of gauge `name` with exactly these labels (a report removed on reload).
pub fn forget(name: &'static str, pairs: &[(&str, &str)]) {
    let key = (name, labels(pairs));
    with(|r| {
        r.gauges.remove(&key);
    });
}

pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    let key = (name, labels(pairs));
    with(|r| {
        let h = r.histograms.entry(key).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    });
}

/// The value of a counter or gauge series, for tests and logs.
pub fn value(name: &'static str, pairs: &[(&str, &str)]) -> Option<f64> {
    let key = (name, labels(pairs));
    with(|r| r.counters.get(&key).or_else(|| r.gauges.get(&key)).copied())
}

const HELP: &[(&str, &str, &str)] = &[
    ("goalpost_runs_total", "counter", "Report runs by report and outcome."),
    (
        "goalpost_deliveries_total",
        "counter",
        "Delivery attempts settled, by channel and status.",
    ),
    (
        "goalpost_overlaps_skipped_total",
        "counter",
        "Fires skipped because the report's previous run was still going.",
    ),
    ("goalpost_config_reloads_total", "counter", "Config reloads, by result."),
    (
        "goalpost_source_fetch_seconds",
        "histogram",
        "Source fetch latency, by source.",
    ),
    (
        "goalpost_fire_latency_seconds",
        "histogram",
        "Run start minus scheduled fire time.",
    ),
    (
        "goalpost_next_fire_timestamp_seconds",
        "gauge",
        "Next fire time per report (Unix seconds).",
    ),
    (
        "goalpost_last_success_timestamp_seconds",
        "gauge",
        "Last successful run per report (Unix seconds).",
    ),
    (
        "goalpost_reports_scheduled",
        "gauge",
        "Reports with a schedule, per config.",
    ),
];

/// Everything, in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    with(|r| {
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let series = r.counters.iter().chain(r.gauges.iter()).filter(|((n, _), _)| n == name);
            for ((n, l), v) in series {
                let _ = writeln!(out, "{n}{{{l}}} {v}");
            }
            for ((n, l), h) in r.histograms.iter().filter(|((n, _), _)| n == name) {
                let sep = if l.is_empty() { "" } else { "," };
                for (b, c) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(out, "{n}_bucket{{{l}{sep}le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "{n}_bucket{{{l}{sep}le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{n}_sum{{{l}}} {}\n{n}_count{{{l}}} {}", h.sum, h.count);
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_render_in_the_prometheus_text_format_with_escaped_labels() {
        add("goalpost_runs_total", &[("report", "a\"b"), ("outcome", "sent")], 1.0);
        add("goalpost_runs_total", &[("report", "a\"b"), ("outcome", "sent")], 1.0);
        observe("goalpost_source_fetch_seconds", &[("source", "web")], 0.02);
        set("goalpost_next_fire_timestamp_seconds", &[("report", "zz")], 10.0);
        forget("goalpost_next_fire_timestamp_seconds", &[("report", "zz")]);
        let text = render();
        assert!(
            text.contains("goalpost_runs_total{report=\"a\\\"b\",outcome=\"sent\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("goalpost_source_fetch_seconds_bucket{source=\"web\",le=\"0.01\"} 0\n"));
        assert!(text.contains("goalpost_source_fetch_seconds_bucket{source=\"web\",le=\"0.025\"} 1\n"));
        assert!(text.contains("goalpost_source_fetch_seconds_count{source=\"web\"} 1\n"));
        assert!(!text.contains("report=\"zz\""));
        assert!(text.contains("# TYPE goalpost_fire_latency_seconds histogram\n"));
    }
}
