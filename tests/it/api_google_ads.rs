//! The Google Ads source against a local server answering as searchStream and Google's
//! token endpoint document (fixtures in `tests/fixtures/google_ads/`).

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const STREAM: &str = "/v21/customers/1234567890/googleAds:searchStream";

fn answer(status: u16, name: &str) -> ResponseTemplate {
    fixture_answer("google_ads", name, status)
}

/// OAuth (refresh token) credentials, a manager account and a developer token.
fn workspace_for(server: &MockServer) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: UTC
currency: EUR
sources:
  ads:
    type: google_ads
    customer_id: 123-456-7890
    login_customer_id: 999-888-7777
    developer_token_env: ADS_DEV_TOKEN
    client_id_env: ADS_CLIENT_ID
    client_secret_env: ADS_CLIENT_SECRET
    refresh_token_env: ADS_REFRESH_TOKEN
    token_url: {uri}/token
    base_url: {uri}
    dimensions: [campaign]
metrics:
  spend: ads.cost
  clicks: ads.clicks
  conversions: ads.conversions
  revenue: ads.conversions_value
goals:
  cost: {{ kpi: spend, target: {{ at_most: 200 }} }}
  conversions: {{ kpi: conversions, target: {{ at_least: 10 }} }}
  roas: {{ kpi: roas, target: {{ at_least: 5 }} }}
reports:
  r:
    period: previous_month
    goals: [cost, conversions, roas]
    breakdowns: [{{ kpi: spend, by: campaign }}]
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[])
}

fn preview(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    preview_model(
        ws,
        &[
            ("ADS_DEV_TOKEN", "dev-token-123"),
            ("ADS_CLIENT_ID", "client-id.apps.googleusercontent.com"),
            ("ADS_CLIENT_SECRET", "client-secret"),
            ("ADS_REFRESH_TOKEN", "1//refresh-token"),
        ],
    )
}

async fn token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=1%2F%2Frefresh-token"))
        .respond_with(answer(200, "oauth-token.json"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn batches_are_read_with_micros_in_currency_and_left_out_zeros_and_the_manager_headers() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(header("authorization", "Bearer ya29.oauth-access-token"))
        .and(header("developer-token", "dev-token-123"))
        .and(header("login-customer-id", "9998887777"))
        .respond_with(answer(200, "stream.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    // 45.5 + 64.5 + 40 (micros ÷ 1,000,000).
    assert_eq!(goal(&model, "cost")["actual"], 150.0);
    // The Generic row has no conversions field: zero, not a missing day.
    assert_eq!(goal(&model, "conversions")["actual"], 10.0);
    assert_eq!(goal(&model, "roas")["actual"], 1000.0 / 150.0);
    assert_eq!(model["breakdowns"][0]["best"][0]["value"], "Generic");
    let q: Value = serde_json::from_slice(
        &server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .find(|r| r.url.path() == STREAM)
            .unwrap()
            .body,
    )
    .unwrap();
    let query = q["query"].as_str().unwrap();
    assert!(
        query.starts_with("SELECT segments.date, campaign.name, metrics.cost_micros")
            && query.contains("FROM campaign WHERE segments.date BETWEEN '"),
        "{query}"
    );
}

#[tokio::test]
async fn a_rate_limit_waits_for_the_retry_delay_in_the_failure_details() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(answer(429, "error-429.json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(answer(200, "stream.json"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "cost")["actual"], 150.0);
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn a_revoked_refresh_token_says_to_sign_in_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = goal(&model, "cost")["note"].as_str().unwrap();
    assert!(
        note.contains("invalid_grant") && note.contains("ADS_REFRESH_TOKEN") && !note.contains("1//refresh"),
        "{note}"
    );
}

#[test]
fn a_google_ads_source_needs_one_way_to_sign_in_and_a_customer_id() {
    let ws = workspace(
        "sources:\n  ads: { type: google_ads, customer_id: abc, client_id_env: X }\n",
        &[],
    );
    let err = check_errors(ws.path());
    assert!(err.contains("`abc` is not a Google Ads customer id"), "{err}");
    assert!(err.contains("needs one way to sign in"), "{err}");
}
