//! API sources at scale: 50 GA4 sources × 12 pages each against a local server answering
//! as the Data API does (rate limits off), fetched as one report run fetches them.
//! Target (issue 6): ≤ 2 s for all 600 pages.

use criterion::{criterion_group, criterion_main, Criterion};
use goalpost::config;
use std::path::Path;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SOURCES: usize = 50;
const PAGES: u64 = 12;
const PAGE_ROWS: u64 = 100;

/// A runReport page for the offset asked: `PAGE_ROWS` rows across October.
struct Pages;

impl wiremock::Respond for Pages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let offset: u64 = body["offset"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        let rows: Vec<serde_json::Value> = (offset..(offset + PAGE_ROWS).min(PAGES * PAGE_ROWS))
            .map(|i| {
                serde_json::json!({
                    "dimensionValues": [{"value": format!("202610{:02}", 1 + i % 31)}, {"value": format!("Channel {}", i % 7)}],
                    "metricValues": [{"value": (i * 3).to_string()}]
                })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "dimensionHeaders": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
            "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}],
            "rows": rows,
            "rowCount": PAGES * PAGE_ROWS,
            "kind": "analyticsData#runReport"
        }))
    }
}

fn bench_sources(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server =
        rt.block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(ResponseTemplate::new(200).set_body_json(
                    serde_json::json!({"access_token": "t", "expires_in": 3599, "token_type": "Bearer"}),
                ))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path_regex(r"^/v1beta/properties/\d+:runReport$"))
                .respond_with(Pages)
                .mount(&server)
                .await;
            server
        });
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/google-service-account.json"),
        dir.path().join("key.json"),
    )
    .unwrap();
    let mut yaml = String::from("timezone: UTC\nsources:\n");
    for i in 0..SOURCES {
        yaml.push_str(&format!(
            "  ga{i}: {{ type: ga4, property: \"{}\", credentials_file: key.json, preset: ga4_channels, base_url: {u}, token_url: {u}/token, page_size: {PAGE_ROWS} }}\n",
            1000 + i,
            u = server.uri()
        ));
    }
    yaml.push_str("metrics:\n");
    for i in 0..SOURCES {
        yaml.push_str(&format!("  s{i}: ga{i}.sessions\n"));
    }
    std::fs::write(dir.path().join("bench.yaml"), yaml).unwrap();
    let plan = config::load(&dir.path().join("bench.yaml"))
        .plan
        .expect("a valid bench config");
    let metrics: Vec<usize> = (0..plan.metrics.len()).collect();
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let requests = goalpost::source::requests(&plan, &metrics, &[(d("2026-10-01"), d("2026-11-01"))]);
    let mut group = c.benchmark_group("api_sources");
    group.sample_size(10);
    group.bench_function("50_sources_x_12_pages", |b| {
        b.iter(|| {
            let (data, failures) = rt.block_on(goalpost::source::fetch_all_uncached(&plan, &requests));
            assert!(failures.is_empty(), "{failures:?}");
            assert_eq!(data.frames.len(), SOURCES);
            data
        })
    });
    group.finish();
}

criterion_group!(benches, bench_sources);
criterion_main!(benches);
