//! End to end: one config reading all six API sources, each pointed at a local server
//! answering as its documentation says, gives the expected verdicts in `preview --format json`.

use crate::helpers::*;
use serde_json::Value;
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(dir: &str, name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(repo().join("tests/fixtures").join(dir).join(name)).unwrap();
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

async fn mount(server: &MockServer, p: &str, answer: ResponseTemplate) {
    Mock::given(path(p)).respond_with(answer).mount(server).await;
}

#[tokio::test]
async fn a_report_over_all_six_api_sources_judges_every_goal() {
    let server = MockServer::start().await;
    mount(&server, "/token", fixture("ga4", "token.json")).await;
    Mock::given(method("POST"))
        .and(path("/v1beta/properties/123456:runReport"))
        .and(body_partial_json(serde_json::json!({"offset": "3"})))
        .respond_with(fixture("ga4", "run-report-page2.json"))
        .mount(&server)
        .await;
    mount(
        &server,
        "/v1beta/properties/123456:runReport",
        fixture("ga4", "run-report-page1.json"),
    )
    .await;
    mount(
        &server,
        "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query",
        fixture("search_console", "query-page2.json"),
    )
    .await;
    mount(
        &server,
        "/v23.0/act_1234567890/insights",
        fixture("meta_ads", "insights-page2.json"),
    )
    .await;
    mount(
        &server,
        "/crm/v3/objects/contacts/search",
        fixture("hubspot", "contacts-page2.json"),
    )
    .await;
    mount(
        &server,
        "/v21/customers/1234567890/googleAds:searchStream",
        fixture("google_ads", "stream.json"),
    )
    .await;
    // One report in all: the second page's report, with its total set to 1.
    let one = std::fs::read_to_string(repo().join("tests/fixtures/mailchimp/reports-page2.json"))
        .unwrap()
        .replace("\"total_items\": 3", "\"total_items\": 1");
    Mock::given(path("/3.0/reports"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(one, "application/json"))
        .mount(&server)
        .await;
    let yaml = format!(
        r#"timezone: UTC
currency: EUR
sources:
  ga: {{ type: ga4, property: "123456", credentials_file: key.json, preset: ga4_channels, base_url: {u}, token_url: {u}/token, page_size: 3 }}
  gsc: {{ type: search_console, site: "sc-domain:example.com", credentials_file: key.json, base_url: {u}, token_url: {u}/token }}
  meta: {{ type: meta_ads, account: "1234567890", token_env: E2E_META, base_url: {u} }}
  crm: {{ type: hubspot, token_env: E2E_HUBSPOT, base_url: {u} }}
  ads: {{ type: google_ads, customer_id: "1234567890", credentials_file: key.json, base_url: {u}, token_url: {u}/token }}
  mc: {{ type: mailchimp, api_key_env: E2E_MAILCHIMP, base_url: {u} }}
metrics:
  sessions: ga.sessions
  search_clicks: gsc.clicks
  meta_spend: meta.spend
  leads: crm.leads
  ads_cost: ads.cost
  emails_sent: mc.emails_sent
goals:
  sessions: {{ kpi: sessions, target: {{ at_least: 400 }} }}
  search: {{ kpi: search_clicks, target: {{ at_least: 40 }} }}
  meta: {{ kpi: meta_spend, target: {{ at_most: 100 }} }}
  leads: {{ kpi: leads, target: {{ at_least: 5 }} }}
  ads: {{ kpi: ads_cost, target: {{ at_most: 100 }} }}
  email: {{ kpi: emails_sent, target: {{ at_least: 1000 }} }}
reports:
  r: {{ period: previous_month, goals: [sessions, search, meta, leads, ads, email] }}
"#,
        u = server.uri()
    );
    let ws = workspace(&yaml, &[("key.json", &service_account_key())]);
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "json")
        .env("E2E_META", "meta-token")
        .env("E2E_HUBSPOT", "hubspot-token")
        .env("E2E_MAILCHIMP", "key-us21")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let model: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<(String, String, f64)> = model["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap().to_string(),
                g["status"].as_str().unwrap().to_string(),
                g["actual"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let expected = [
        ("sessions", "met", 425.0),
        ("search", "met", 50.0),
        ("meta", "met", 99.5),
        ("leads", "off_track", 1.0),
        ("ads", "off_track", 150.0),
        ("email", "off_track", 500.0),
    ];
    assert_eq!(verdicts.len(), expected.len(), "{verdicts:?}");
    for ((id, status, actual), (eid, es, ea)) in verdicts.iter().zip(expected) {
        assert_eq!((id.as_str(), status.as_str(), *actual), (eid, es, ea), "{verdicts:?}");
    }
}
