//! The Meta ads source against a local server answering as the Insights edge documents
//! (fixtures in `tests/fixtures/meta_ads/`): cursor pages, overlapping action types,
//! throttling by error code with usage headers, an expired token.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INSIGHTS: &str = "/v23.0/act_1234567890/insights";

fn answer(server: &MockServer, status: u16, name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(repo().join("tests/fixtures/meta_ads").join(name))
        .unwrap()
        .replace("{{BASE}}", &server.uri());
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

fn workspace_for(server: &MockServer, token_var: &str) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: UTC
currency: EUR
sources:
  meta:
    type: meta_ads
    account: act_1234567890
    token_env: {token_var}
    base_url: {uri}
    page_size: 2
metrics:
  spend: meta.spend
  leads: meta.leads
  revenue: meta.purchase_value
  clicks: meta.clicks
goals:
  leads: {{ kpi: leads, target: {{ at_least: 10 }} }}
  cpl: {{ kpi: cpl, target: {{ at_most: 30 }} }}
  spend: {{ kpi: spend, target: {{ at_most: 1000 }} }}
  revenue: {{ kpi: revenue, target: {{ at_least: 100 }} }}
reports:
  r:
    period: previous_month
    goals: [leads, cpl, spend, revenue]
    breakdowns: [{{ kpi: spend, by: campaign }}]
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[])
}

fn preview(ws: &tempfile::TempDir, token_var: &str) -> (Option<i32>, Value, String) {
    preview_model(ws, &[(token_var, "EAAB-test-system-user-token")])
}

#[tokio::test]
async fn cursor_pages_are_followed_and_one_action_type_is_counted_not_the_overlapping_ones() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .and(query_param("after", "MQZDZD"))
        .and(header("authorization", "Bearer EAAB-test-system-user-token"))
        .respond_with(answer(&server, 200, "insights-page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .and(query_param("level", "campaign"))
        .and(query_param("time_increment", "1"))
        .and(header("authorization", "Bearer EAAB-test-system-user-token"))
        .respond_with(answer(&server, 200, "insights-page1.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "META_TOKEN_PAGES"), "META_TOKEN_PAGES");
    assert_eq!(code, Some(0), "{err}");
    // 12 + 3 leads: `lead` only, not `offsite_conversion.fb_pixel_lead` on top.
    assert_eq!(goal(&model, "leads")["actual"], 15.0);
    assert_eq!(goal(&model, "spend")["actual"], 300.0);
    assert_eq!(goal(&model, "cpl")["actual"], 20.0);
    assert_eq!(goal(&model, "revenue")["actual"], 660.0);
    assert_eq!(model["breakdowns"][0]["worst"][0]["value"], "Brand search");
    // The token went in a header, never in a URL.
    for r in server.received_requests().await.unwrap() {
        assert!(!r.url.as_str().contains("EAAB"), "{}", r.url);
    }
    let first = server.received_requests().await.unwrap()[0].url.clone();
    let fields = first.query_pairs().find(|(k, _)| k == "fields").unwrap().1.to_string();
    assert_eq!(fields, "campaign_name,spend,impressions,clicks,actions,action_values");
    let range = first
        .query_pairs()
        .find(|(k, _)| k == "time_range")
        .unwrap()
        .1
        .to_string();
    assert!(range.contains("\"since\"") && range.contains("\"until\""), "{range}");
}

#[tokio::test]
async fn an_empty_answer_means_no_data() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(answer(&server, 200, "insights-empty.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "META_TOKEN_EMPTY"), "META_TOKEN_EMPTY");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "leads")["status"], "no_data");
}

#[tokio::test]
async fn throttling_by_error_code_waits_as_the_usage_header_says_then_succeeds() {
    let server = MockServer::start().await;
    let usage = r#"{"1234567890":[{"type":"ads_insights","call_count":100,"total_cputime":30,"total_time":40,"estimated_time_to_regain_access":0}]}"#;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(answer(&server, 400, "error-throttled.json").insert_header("x-business-use-case-usage", usage))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(answer(&server, 200, "insights-page2.json"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let (code, model, err) = preview(&workspace_for(&server, "META_TOKEN_THROTTLE"), "META_TOKEN_THROTTLE");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "spend")["actual"], 99.5);
    // "0 minutes" still means: wait a moment (1 s), not hammer the API.
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn an_expired_token_is_said_in_words_with_what_to_do_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(answer(&server, 400, "error-expired-token.json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server, "META_TOKEN_EXPIRED"), "META_TOKEN_EXPIRED");
    assert_eq!(code, Some(2));
    let note = goal(&model, "leads")["note"].as_str().unwrap();
    assert!(
        note.contains("expired or was revoked") && note.contains("System users"),
        "{note}"
    );
    assert!(!note.contains("EAAB"));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_token_variable_and_a_non_number_are_named() {
    let server = MockServer::start().await;
    let bad = r#"{"data":[{"campaign_name":"X","spend":"n/a","impressions":"1","clicks":"1","date_start":"2026-10-05","date_stop":"2026-10-05"}]}"#;
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(ResponseTemplate::new(200).set_body_raw(bad, "application/json"))
        .mount(&server)
        .await;
    let ws = workspace_for(&server, "META_TOKEN_BAD");
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "json")
        .env_remove("META_TOKEN_BAD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("META_TOKEN_BAD holding the Meta access token is not set"));
    let (code, model, _) = preview(&ws, "META_TOKEN_BAD");
    assert_eq!(code, Some(2));
    let note = goal(&model, "spend")["note"].as_str().unwrap();
    assert!(note.contains("row 1: `spend` is `n/a`, not a number"), "{note}");
}

#[tokio::test]
async fn a_next_page_link_to_another_host_is_not_followed_with_the_token() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer(&elsewhere, 200, "insights-page2.json"))
        .mount(&elsewhere)
        .await;
    // Page one's `paging.next` names the other server (another port: another origin).
    Mock::given(method("GET"))
        .and(path(INSIGHTS))
        .respond_with(answer(&elsewhere, 200, "insights-page1.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "META_TOKEN_ELSEWHERE"), "META_TOKEN_ELSEWHERE");
    assert_eq!(code, Some(2), "the source failed: {err}");
    assert!(err.contains("next-page link points to another host"), "{err}");
    assert_eq!(goal(&model, "leads")["status"], "no_data");
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the token went elsewhere"
    );
}
