//! The Search Console source against a local server answering as `searchAnalytics.query`
//! and Google's token endpoint do (fixtures in `tests/fixtures/search_console/`).

use crate::helpers::*;
use serde_json::Value;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const QUERY: &str = "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query";

fn answer(status: u16, name: &str) -> ResponseTemplate {
    fixture_answer("search_console", name, status)
}

async fn google() -> MockServer {
    let server = MockServer::start().await;
    let token = std::fs::read_to_string(repo().join("tests/fixtures/ga4/token.json")).unwrap();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(token, "application/json"))
        .mount(&server)
        .await;
    server
}

fn workspace_for(server: &MockServer) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: UTC
sources:
  gsc:
    type: search_console
    site: "sc-domain:example.com"
    credentials_file: key.json
    dimensions: [device]
    base_url: {uri}
    token_url: {uri}/token
    page_size: 2
metrics:
  clicks: gsc.clicks
  impressions: gsc.impressions
  position: {{ from: gsc.position, aggregate: mean, weight: impressions }}
kpis:
  search_ctr: {{ formula: clicks / impressions, unit: fraction, better: higher }}
goals:
  clicks: {{ kpi: clicks, target: {{ at_least: 100 }} }}
  ctr: {{ kpi: search_ctr, target: {{ at_least: 3% }} }}
  position: {{ kpi: position, target: {{ at_most: 6 }} }}
reports:
  r: {{ period: previous_month, goals: [clicks, ctr, position] }}
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[("key.json", &service_account_key())])
}

fn preview(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    preview_model(ws, &[])
}

#[tokio::test]
async fn rows_are_read_by_start_row_until_a_short_page_and_the_average_position_is_weighted() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .and(header("authorization", "Bearer ya29.test-access-token"))
        .and(body_partial_json(serde_json::json!({"startRow": 0, "rowLimit": 2})))
        .respond_with(answer(200, "query-page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .and(body_partial_json(serde_json::json!({"startRow": 2})))
        .respond_with(answer(200, "query-page2.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "clicks")["actual"], 120.0);
    // 120 clicks / 3,000 impressions, from totals (not an average of the daily ctr).
    assert_eq!(goal(&model, "ctr")["actual"], 0.04);
    // (5.5×1000 + 3.2×500 + 6.1×1500) / 3000
    let pos = goal(&model, "position")["actual"].as_f64().unwrap();
    assert!((pos - 5.4167).abs() < 0.001, "{pos}");
    let asked: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == QUERY)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(asked[0]["dimensions"], serde_json::json!(["date", "device"]));
    assert!(asked.iter().all(|b| b["startRow"] == 0 || b["startRow"] == 2));
}

#[tokio::test]
async fn no_rows_means_no_data() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .respond_with(answer(200, "query-empty.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "clicks")["status"], "no_data");
}

#[tokio::test]
async fn an_account_without_access_is_told_where_to_add_it() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .respond_with(answer(403, "error-403.json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = goal(&model, "clicks")["note"].as_str().unwrap();
    assert!(note.contains("Users and permissions"), "{note}");
}

#[tokio::test]
async fn a_server_error_is_retried_until_it_passes() {
    let server = google().await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .respond_with(answer(500, "../ga4/error-500.json"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .respond_with(answer(200, "query-page2.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "clicks")["actual"], 50.0);
}

#[test]
fn an_unknown_search_console_dimension_is_a_config_error_with_a_suggestion() {
    let ws = workspace(
        "sources:\n  gsc: { type: search_console, site: example.com, credentials_file: k.json, dimensions: [devise] }\n",
        &[],
    );
    let err = check_errors(ws.path());
    assert!(
        err.contains("Search Console has no dimension `devise`") && err.contains("device"),
        "{err}"
    );
    assert!(err.contains("`example.com` is not a Search Console property"), "{err}");
}

#[tokio::test]
async fn an_oauth_refresh_token_works_instead_of_a_service_account() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(wiremock::matchers::body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"ya29.from-refresh","expires_in":3599,"token_type":"Bearer"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(QUERY))
        .and(header("authorization", "Bearer ya29.from-refresh"))
        .respond_with(answer(200, "query-page2.json"))
        .mount(&server)
        .await;
    let yaml = format!(
        "timezone: UTC\nsources:\n  gsc: {{ type: search_console, site: \"sc-domain:example.com\", client_id_env: GSC_ID, \
         client_secret_env: GSC_SECRET, refresh_token_env: GSC_REFRESH, base_url: {u}, token_url: {u}/token }}\n\
         metrics:\n  clicks: gsc.clicks\ngoals:\n  clicks: {{ kpi: clicks, target: {{ at_least: 10 }} }}\n\
         reports:\n  r: {{ period: previous_month, goals: [clicks] }}\n",
        u = server.uri()
    );
    let ws = workspace(&yaml, &[]);
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "json")
        .env("GSC_ID", "id")
        .env("GSC_SECRET", "secret")
        .env("GSC_REFRESH", "1//refresh")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let model: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(goal(&model, "clicks")["actual"], 50.0);
}
