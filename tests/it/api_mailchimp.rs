//! The Mailchimp source against a local server answering as `GET /3.0/reports` documents
//! (fixtures in `tests/fixtures/mailchimp/`).

use crate::helpers::*;
use serde_json::Value;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn answer(status: u16, name: &str) -> ResponseTemplate {
    fixture_answer("mailchimp", name, status)
}

fn workspace_for(server: &MockServer) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: Asia/Riyadh
sources:
  mc: {{ type: mailchimp, api_key_env: MC_KEY, base_url: {uri}, page_size: 2, dimensions: [campaign] }}
metrics:
  sent: mc.emails_sent
  opens: mc.unique_opens
  clicks: mc.unique_clicks
kpis:
  open_rate_mc: {{ formula: opens / sent, unit: fraction, better: higher }}
goals:
  sent: {{ kpi: sent, target: {{ at_least: 3000 }} }}
  open_rate: {{ kpi: open_rate_mc, target: {{ at_least: 30% }} }}
reports:
  r: {{ period: previous_month, goals: [sent, open_rate], breakdowns: [{{ kpi: open_rate_mc, by: campaign }}] }}
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[])
}

fn preview(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    preview_model(ws, &[("MC_KEY", "0123456789abcdef0123456789abcdef-us21")])
}

#[tokio::test]
async fn reports_are_read_by_offset_with_the_key_as_basic_auth_and_rates_come_from_totals() {
    let server = MockServer::start().await;
    // "goalpost:<key>" in base64.
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "goalpost:0123456789abcdef0123456789abcdef-us21"
        )
    );
    Mock::given(method("GET"))
        .and(path("/3.0/reports"))
        .and(query_param("offset", "2"))
        .and(header("authorization", auth.as_str()))
        .respond_with(answer(200, "reports-page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/3.0/reports"))
        .and(query_param("offset", "0"))
        .and(query_param("count", "2"))
        .respond_with(answer(200, "reports-page1.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "sent")["actual"], 3500.0);
    // 1,300 unique opens of 3,500 sent, not the mean of three open rates.
    let rate = goal(&model, "open_rate")["actual"].as_f64().unwrap();
    assert!((rate - 1300.0 / 3500.0).abs() < 1e-9, "{rate}");
    // 2026-10-20T22:30Z is the 21st in Riyadh: still October, counted.
    assert_eq!(model["breakdowns"][0]["rows"], 3);
    let first = &server.received_requests().await.unwrap()[0];
    let since = first
        .url
        .query_pairs()
        .find(|(k, _)| k == "since_send_time")
        .unwrap()
        .1
        .to_string();
    assert!(since.ends_with("+00:00") || since.ends_with('Z'), "{since}");
}

#[tokio::test]
async fn an_invalid_key_is_named_and_the_key_is_not_shown() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer(401, "error-401.json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2));
    let note = goal(&model, "sent")["note"].as_str().unwrap();
    assert!(
        note.contains("API Key Invalid") && note.contains("API keys") && !note.contains("0123456789abcdef"),
        "{note}"
    );
}

#[test]
fn the_data_centre_comes_from_the_key() {
    assert_eq!(
        goalpost::source::api::mailchimp::base_url_for("abc-us21").as_deref(),
        Some("https://us21.api.mailchimp.com")
    );
    assert_eq!(goalpost::source::api::mailchimp::base_url_for("no-data-centre-"), None);
}

/// A fixture page with one piece of it replaced.
fn edited(name: &str, from: &str, to: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(repo().join("tests/fixtures/mailchimp").join(name))
        .unwrap()
        .replace(from, to);
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

async fn serve_pages(server: &MockServer, page1: ResponseTemplate, page2: ResponseTemplate) {
    server.reset().await;
    for (offset, page) in [("0", page1), ("2", page2)] {
        Mock::given(method("GET"))
            .and(path("/3.0/reports"))
            .and(query_param("offset", offset))
            .respond_with(page)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn a_count_sent_as_a_string_is_read_and_a_word_is_named() {
    let server = MockServer::start().await;
    let quoted = || edited("reports-page2.json", "\"emails_sent\": 500", "\"emails_sent\": \"500\"");
    let worded = edited(
        "reports-page1.json",
        "\"emails_sent\": 1000",
        "\"emails_sent\": \"a thousand\"",
    );
    serve_pages(&server, worded, quoted()).await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(2), "the source failed: {err}");
    assert!(err.contains("`emails_sent` is \"a thousand\", not a number"), "{err}");
    assert_eq!(goal(&model, "sent")["status"], "no_data");

    // With the word fixed, the quoted 500 counts like a number.
    serve_pages(&server, answer(200, "reports-page1.json"), quoted()).await;
    let (code, model, err) = preview(&workspace_for(&server));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "sent")["actual"], 3500.0);
}
