//! The GA4 source against a local server that answers as the Data API and Google's token
//! endpoint document (fixtures in `tests/fixtures/ga4/`, each naming its doc page):
//! pages, an empty report, quota and server errors then success, refused credentials,
//! malformed answers. Asserted through `goalpost preview --format json`.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/ga4").join(name)).unwrap()
}

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn error(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

const REPORT: &str = "/v1beta/properties/123456:runReport";

type Times = std::sync::Arc<std::sync::Mutex<Vec<Instant>>>;

/// Answers with `answer`, noting when each request came (in `times`, shared by several).
struct Timed(ResponseTemplate, Times);

impl wiremock::Respond for Timed {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.1.lock().unwrap().push(Instant::now());
        self.0.clone()
    }
}

/// Mounts `first` for the first report request, then the two pages by offset; all timed.
async fn refuse_once_then_serve_pages(server: &MockServer, first: ResponseTemplate) -> Times {
    let times = Times::default();
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(Timed(first, times.clone()))
        .up_to_n_times(1)
        .mount(server)
        .await;
    for (offset, page) in [("0", "run-report-page1.json"), ("3", "run-report-page2.json")] {
        Mock::given(method("POST"))
            .and(path(REPORT))
            .and(body_partial_json(serde_json::json!({ "offset": offset })))
            .respond_with(Timed(json(page), times.clone()))
            .mount(server)
            .await;
    }
    times
}

fn first_gap(times: &Times) -> Duration {
    let t = times.lock().unwrap();
    t[1] - t[0]
}

/// (date range, offset) of each report request, in order.
async fn pages_asked(server: &MockServer) -> Vec<(Value, Value)> {
    report_requests(server)
        .await
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_slice(&r.body).unwrap();
            (b["dateRanges"].clone(), b["offset"].clone())
        })
        .collect()
}

/// A server with the token endpoint; the test mounts the report answers.
async fn google() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json("token.json"))
        .mount(&server)
        .await;
    server
}

/// A server whose property refuses the service account (403 PERMISSION_DENIED).
async fn refusing_google() -> MockServer {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(error(403, "error-403.json"))
        .mount(&server)
        .await;
    server
}

fn workspace_for(server: &MockServer) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: UTC
sources:
  ga:
    type: ga4
    property: "123456"
    credentials_file: key.json
    preset: ga4_channels
    base_url: {uri}
    token_url: {uri}/token
    page_size: 3
metrics:
  sessions: ga.sessions
  users: ga.users
goals:
  sessions: {{ kpi: sessions, target: {{ at_least: 400 }} }}
reports:
  r:
    period: previous_month
    goals: [sessions]
    breakdowns: [{{ kpi: sessions, by: channel }}]
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[("key.json", &service_account_key())])
}

fn preview(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    preview_model(ws, &[])
}

async fn report_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == REPORT)
        .collect()
}

#[tokio::test]
async fn pages_are_read_until_row_count_and_every_string_value_becomes_a_number() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .and(header("authorization", "Bearer ya29.test-access-token"))
        .and(body_partial_json(serde_json::json!({"offset": "0"})))
        .respond_with(json("run-report-page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .and(body_partial_json(serde_json::json!({"offset": "3"})))
        .respond_with(json("run-report-page2.json"))
        .mount(&server)
        .await;
    let ws = workspace_for(&server);
    let (code, model, err) = preview(&ws);
    assert_eq!(code, Some(0), "{err}");
    // 120 + 80 + 130 + 90 + 5 sessions over October.
    assert_eq!(model["goals"][0]["actual"], 425.0);
    assert_eq!(model["goals"][0]["status"], "met");
    let rows = model["breakdowns"][0]["best"].as_array().unwrap();
    assert_eq!(rows[0]["value"], "Organic Search");
    assert_eq!(rows[0]["kpi_value"], 250.0);

    let reqs = report_requests(&server).await;
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(
        body["dimensions"],
        serde_json::json!([{"name": "date"}, {"name": "sessionDefaultChannelGroup"}])
    );
    assert_eq!(body["metrics"], serde_json::json!([{"name": "sessions"}]));
    assert_eq!(body["limit"], "3");
    // The report needs October and the periods it compares with (merged into ranges): each
    // range is read page by page, offsets 0 then 3, and no page twice.
    let asked = pages_asked(&server).await;
    let mut ranges: Vec<&Value> = asked.iter().map(|(r, _)| r).collect();
    ranges.dedup();
    assert!(!ranges.is_empty());
    for r in &ranges {
        let offsets: Vec<&Value> = asked.iter().filter(|(x, _)| x == *r).map(|(_, o)| o).collect();
        assert_eq!(offsets, ["0", "3"], "range {r}");
    }
    assert!(
        ranges
            .iter()
            .any(|r| r[0]["startDate"] == "2026-10-01" || r[0]["endDate"] == "2026-10-31"),
        "{ranges:?}"
    );
    // The service account signed a JWT and traded it for the token.
    let token_req = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/token")
        .unwrap();
    let form = String::from_utf8(token_req.body).unwrap();
    assert!(
        form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
        "{form}"
    );
    assert!(form.contains("assertion="));
}

#[tokio::test]
async fn an_empty_report_means_no_data_not_zero() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(json("run-report-empty.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(model["goals"][0]["status"], "no_data");
    assert!(model["goals"][0]["actual"].is_null());
}

#[tokio::test]
async fn quota_exhaustion_without_retry_after_waits_then_succeeds() {
    let server = google().await;
    let times = refuse_once_then_serve_pages(&server, error(429, "error-429.json")).await;
    let started = Instant::now();
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(model["goals"][0]["actual"], 425.0);
    let asked = pages_asked(&server).await;
    assert_eq!(asked[0], asked[1], "the refused page is asked again");
    // No hint from GA4: at least our 2 s quota pause between the 429 and the retry.
    let gap = first_gap(&times);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_server_error_is_retried_and_a_retry_after_is_honoured() {
    let server = google().await;
    let times =
        refuse_once_then_serve_pages(&server, error(503, "error-500.json").insert_header("retry-after", "1")).await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(model["goals"][0]["actual"], 425.0);
    let gap = first_gap(&times);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn a_service_account_without_access_says_what_to_do_and_the_report_still_goes_out() {
    let server = refusing_google().await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2), "a source failed: exit 2");
    assert_eq!(model["goals"][0]["status"], "no_data");
    let note = model["goals"][0]["note"].as_str().unwrap();
    assert!(
        note.contains("data unavailable") && note.contains("Viewer of the property"),
        "{note}"
    );
    assert!(err.contains("source `ga`"), "{err}");
    // Permanent: asked once.
    assert_eq!(report_requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_deleted_service_account_key_is_named_as_such() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(error(400, "token-invalid-grant.json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = model["goals"][0]["note"].as_str().unwrap();
    assert!(
        note.contains("invalid_grant") && note.contains("Create a new key"),
        "{note}"
    );
    assert!(!note.contains("BEGIN PRIVATE KEY"));
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_reported_with_its_start() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>Service Unavailable</html>", "text/html"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = model["goals"][0]["note"].as_str().unwrap();
    assert!(
        note.contains("not JSON") && note.contains("<html>Service Unavailable"),
        "{note}"
    );
}

#[tokio::test]
async fn a_value_that_is_not_a_number_names_the_metric_and_row_and_a_missing_one_is_no_value() {
    let server = google().await;
    let bad = fixture("run-report-page2.json").replace("\"90\"", "\"ninety\"");
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(ResponseTemplate::new(200).set_body_raw(bad, "application/json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = model["goals"][0]["note"].as_str().unwrap();
    assert!(
        note.contains("row 1: metric `sessions` is `ninety`, not a number"),
        "{note}"
    );

    // A row without its metric values (and no rowCount): that cell has no value.
    let server = google().await;
    let sparse = r#"{"dimensionHeaders":[{"name":"date"},{"name":"sessionDefaultChannelGroup"}],
        "metricHeaders":[{"name":"sessions","type":"TYPE_INTEGER"}],
        "rows":[{"dimensionValues":[{"value":"20261005"},{"value":"Email"}],"metricValues":[]},
                {"dimensionValues":[{"value":"20261006"},{"value":"Email"}],"metricValues":[{"value":"410"}]}]}"#;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sparse, "application/json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(model["goals"][0]["actual"], 410.0);
}

#[test]
fn a_ga4_source_is_checked_for_its_property_key_file_and_metrics() {
    let ws = workspace(
        "sources:\n  ga: { type: ga4, property: \"G-ABC123\", dimensions: [channel] }\nmetrics:\n  s: ga.sessions\n",
        &[],
    );
    let err = check_errors(ws.path());
    assert!(err.contains("`G-ABC123` is not a GA4 property id"), "{err}");
    assert!(
        err.contains("has no `credentials_file`") || err.contains("credentials_file"),
        "{err}"
    );
    assert!(
        err.contains("reads no GA4 metric") && err.contains("preset: ga4_channels"),
        "{err}"
    );
    assert!(err.contains("dimensions come from `api_dimensions`"), "{err}");
}

#[tokio::test]
async fn two_reports_asking_the_same_query_at_once_fetch_it_once() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .and(body_partial_json(serde_json::json!({"offset": "0"})))
        .respond_with(json("run-report-page1.json").set_delay(Duration::from_millis(200)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(REPORT))
        .and(body_partial_json(serde_json::json!({"offset": "3"})))
        .respond_with(json("run-report-page2.json"))
        .mount(&server)
        .await;
    let ws = workspace_for(&server);
    let plan = goalpost::config::load(&ws.path().join("goalpost.yaml")).plan.unwrap();
    let mut other = plan.reports["r"].clone();
    other.id = "r2".into();
    let as_of = goalpost::period::AsOf::parse("2026-11-02", plan.timezone).unwrap();
    let (a, b) = futures::join!(
        goalpost::run::compute(&plan, &plan.reports["r"], None, as_of),
        goalpost::run::compute(&plan, &other, None, as_of)
    );
    assert_eq!(a.0.goals[0].actual, Some(425.0));
    assert_eq!(b.0.goals[0].actual, Some(425.0));
    let asked = pages_asked(&server).await;
    let mut unique = asked.clone();
    unique.sort_by_key(|x| format!("{x:?}"));
    unique.dedup();
    assert_eq!(asked.len(), unique.len(), "a page was asked twice: {asked:?}");
}

#[tokio::test]
async fn check_sources_asks_each_source_a_tiny_query_and_names_the_problem() {
    let server = refusing_google().await;
    let ws = workspace_for(&server);
    let out = goalpost(ws.path())
        .args(["check", "--sources", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("  source ga (ga4): FAILED: GA4 refused access"), "{text}");
    // One day asked, every field the metrics read.
    let body: Value = serde_json::from_slice(&report_requests(&server).await[0].body).unwrap();
    assert_eq!(body["dateRanges"][0]["startDate"], body["dateRanges"][0]["endDate"]);
    assert_eq!(
        body["metrics"],
        serde_json::json!([{"name": "sessions"}, {"name": "totalUsers"}])
    );

    // The demo's CSV and SQL sources answer.
    let demo = goalpost(&repo()).args(["check", "--sources"]).output().unwrap();
    assert_eq!(demo.status.code(), Some(0), "{}", stdout_of(&demo));
    let text = stdout_of(&demo);
    for s in ["web (csv): ok", "crm (sql): ok"] {
        assert!(text.contains(s), "{text}");
    }
}

#[tokio::test]
async fn sources_on_the_same_property_share_its_rate_limit() {
    let server = google().await;
    let times = Times::default();
    Mock::given(method("POST"))
        .and(path(REPORT))
        .respond_with(Timed(json("run-report-empty.json"), times.clone()))
        .mount(&server)
        .await;
    // Three sources asking different things of one property, each allowed 1 request/s:
    // together they may make 1 a second, not 3 at once.
    let mut yaml = String::from("timezone: UTC\nsources:\n");
    for id in ["a", "b", "c"] {
        yaml.push_str(&format!(
            "  ga_{id}: {{ type: ga4, property: \"123456\", credentials_file: key.json, preset: ga4_channels, \
             base_url: {uri}, token_url: {uri}/token, max_per_second: 1 }}\n",
            uri = server.uri()
        ));
    }
    yaml.push_str(
        "metrics:\n  sessions: ga_a.sessions\n  users: ga_b.users\n  new_users: ga_c.new_users\n\
         goals:\n  s: { kpi: sessions, target: { at_least: 1 } }\n  u: { kpi: users, target: { at_least: 1 } }\n  \
         n: { kpi: new_users, target: { at_least: 1 } }\nreports:\n  r: { period: previous_month, goals: [s, u, n] }\n",
    );
    let ws = workspace(&yaml, &[("key.json", &service_account_key())]);
    let (code, _, err) = preview(&ws);
    assert_eq!(code, Some(0), "{err}");
    let mut t = times.lock().unwrap().clone();
    t.sort();
    assert!(t.len() >= 3, "at least one request per source: {}", t.len());
    let spread = t[t.len() - 1] - t[0];
    assert!(
        spread >= Duration::from_millis(900) * (t.len() as u32 - 1),
        "{} requests in {spread:?}: the property's limit was not shared",
        t.len()
    );
}

#[tokio::test]
async fn a_failed_source_still_sends_the_report_and_tells_the_operator_on_the_failure_channel() {
    let server = refusing_google().await;
    let ws = workspace_for(&server);
    let yaml = std::fs::read_to_string(ws.path().join("goalpost.yaml"))
        .unwrap()
        .replace(
            "    breakdowns: [{ kpi: sessions, by: channel }]\n",
            "    breakdowns: [{ kpi: sessions, by: channel }]\n    channels: [box]\n\
         on_failure: ops\nchannels:\n  box: { type: outbox, path: outbox }\n  ops: { type: outbox, path: failures }\n",
        );
    std::fs::write(ws.path().join("goalpost.yaml"), yaml).unwrap();
    let out = goalpost(ws.path())
        .args(["send", "r", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout_of(&out), stderr_of(&out));
    let report = std::fs::read_to_string(ws.path().join("outbox/r/2026-10-g0.json")).unwrap();
    assert!(report.contains("data unavailable"), "{report}");
    let notices: Vec<String> = walk(&ws.path().join("failures"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(
        notices.len(),
        1,
        "one notice for the failed source: {:?}",
        walk(ws.path())
    );
    assert!(notices[0].contains("source ga failed"), "{}", notices[0]);
    assert!(notices[0].contains("Viewer of the property"), "{}", notices[0]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
