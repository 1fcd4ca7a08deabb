//! The same faults against every API source, table-driven: an empty answer, a rate limit
//! then success, a server error then success, an answer that is not JSON. Each API's own
//! shapes (paths, bodies, error documents) come from its fixtures; the other tests cover
//! what is particular to each.

use crate::helpers::*;
use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Api {
    name: &'static str,
    /// The data endpoint.
    path: &'static str,
    /// `sources:` entry (with `{u}` for the server), and the metric it feeds.
    source: &'static str,
    metric: &'static str,
    /// A one-page answer with data in October 2026, and an answer with none.
    data: fn() -> String,
    empty: &'static str,
    /// The API's rate-limit answer: status, body, header.
    limited: (u16, &'static str, (&'static str, &'static str)),
    /// What an empty month is: no data, or a real zero (HubSpot counts).
    empty_status: &'static str,
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join("tests/fixtures").join(rel)).unwrap()
}

const APIS: &[Api] = &[
    Api {
        name: "ga4",
        path: "/v1beta/properties/123456:runReport",
        source: "{ type: ga4, property: \"123456\", credentials_file: key.json, preset: ga4_channels, base_url: {u}, token_url: {u}/token }",
        metric: "sessions",
        data: || read("ga4/run-report-page2.json").replace("\"rowCount\": 5", "\"rowCount\": 2"),
        empty: r#"{"dimensionHeaders":[{"name":"date"}],"metricHeaders":[{"name":"sessions"}],"kind":"analyticsData#runReport"}"#,
        limited: (429, r#"{"error":{"code":429,"message":"Exhausted property tokens per hour.","status":"RESOURCE_EXHAUSTED"}}"#, ("retry-after", "0")),
        empty_status: "no_data",
    },
    Api {
        name: "search_console",
        path: "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query",
        source: "{ type: search_console, site: \"sc-domain:example.com\", credentials_file: key.json, base_url: {u}, token_url: {u}/token }",
        metric: "clicks",
        data: || read("search_console/query-page2.json"),
        empty: r#"{"responseAggregationType":"byProperty"}"#,
        limited: (429, r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#, ("retry-after", "0")),
        empty_status: "no_data",
    },
    Api {
        name: "meta_ads",
        path: "/v23.0/act_1234567890/insights",
        source: "{ type: meta_ads, account: \"1234567890\", token_env: FAULT_TOKEN, base_url: {u} }",
        metric: "spend",
        data: || read("meta_ads/insights-page2.json"),
        empty: r#"{"data":[]}"#,
        limited: (400, r#"{"error":{"message":"(#80004) There have been too many calls to this ad-account.","type":"OAuthException","code":80004,"fbtrace_id":"x"}}"#, ("x-ad-account-usage", r#"{"acc_id_util_pct":100,"reset_time_duration":0,"estimated_time_to_regain_access":0}"#)),
        empty_status: "no_data",
    },
    Api {
        name: "hubspot",
        path: "/crm/v3/objects/contacts/search",
        source: "{ type: hubspot, token_env: FAULT_TOKEN, base_url: {u} }",
        metric: "leads",
        data: || read("hubspot/contacts-page2.json"),
        empty: r#"{"total":0,"results":[]}"#,
        limited: (429, r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#, ("retry-after", "0")),
        empty_status: "off_track",
    },
    Api {
        name: "google_ads",
        path: "/v21/customers/1234567890/googleAds:searchStream",
        source: "{ type: google_ads, customer_id: \"1234567890\", credentials_file: key.json, base_url: {u}, token_url: {u}/token }",
        metric: "cost",
        data: || read("google_ads/stream.json"),
        empty: r#"[{"fieldMask":"segments.date,metrics.costMicros","requestId":"r"}]"#,
        limited: (429, r#"[{"error":{"code":429,"message":"Resource has been exhausted.","status":"RESOURCE_EXHAUSTED","details":[{"errors":[{"message":"Too many requests.","details":{"quotaErrorDetails":{"retryDelay":"0s"}}}]}]}}]"#, ("x-unused", "")),
        empty_status: "no_data",
    },
    Api {
        name: "mailchimp",
        path: "/3.0/reports",
        source: "{ type: mailchimp, api_key_env: FAULT_TOKEN, base_url: {u} }",
        metric: "emails_sent",
        data: || read("mailchimp/reports-page2.json").replace("\"total_items\": 3", "\"total_items\": 1"),
        empty: r#"{"reports":[],"total_items":0}"#,
        limited: (429, r#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Too Many Requests","status":429,"detail":"You have exceeded the limit of 10 simultaneous connections."}"#, ("retry-after", "0")),
        empty_status: "no_data",
    },
];

/// A config whose one goal reads `api`'s metric for October 2026.
fn workspace_for(api: &Api, server: &MockServer) -> tempfile::TempDir {
    let source = api.source.replace("{u}", &server.uri());
    let yaml = format!(
        "timezone: UTC\nsources:\n  s: {source}\nmetrics:\n  m: s.{}\ngoals:\n  g: {{ kpi: m, target: {{ at_least: 1 }} }}\n\
         reports:\n  r: {{ period: previous_month, history: 0, goals: [g] }}\n",
        api.metric
    );
    workspace(&yaml, &[("key.json", &service_account_key())])
}

async fn server_for(api: &Api, first: Option<ResponseTemplate>, then: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(read("ga4/token.json"), "application/json"))
        .mount(&server)
        .await;
    if let Some(f) = first {
        Mock::given(path(api.path))
            .respond_with(f)
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(path(api.path)).respond_with(then).mount(&server).await;
    server
}

fn json(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

fn first_goal(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "json")
        .env("FAULT_TOKEN", "token-us21")
        .output()
        .unwrap();
    let model: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), model["goals"][0].clone(), stderr_of(&out))
}

#[tokio::test]
async fn every_api_source_reads_an_empty_answer_as_its_kind_of_nothing() {
    for api in APIS {
        let server = server_for(api, None, json(api.empty.to_string())).await;
        let (code, g, err) = first_goal(&workspace_for(api, &server));
        assert_eq!(code, Some(0), "{}: {err}", api.name);
        assert_eq!(g["status"], api.empty_status, "{}: {g}", api.name);
    }
}

#[tokio::test]
async fn every_api_source_waits_out_its_rate_limit_answer_and_then_reads_the_data() {
    for api in APIS {
        let (status, body, (h, v)) = api.limited;
        let limited = ResponseTemplate::new(status)
            .set_body_raw(body, "application/json")
            .insert_header(h, v);
        let server = server_for(api, Some(limited), json((api.data)())).await;
        let (code, g, err) = first_goal(&workspace_for(api, &server));
        assert_eq!(code, Some(0), "{}: {err}", api.name);
        assert!(g["actual"].as_f64().is_some_and(|x| x > 0.0), "{}: {g}", api.name);
    }
}

#[tokio::test]
async fn every_api_source_retries_a_server_error_and_then_reads_the_data() {
    for api in APIS {
        let failing = ResponseTemplate::new(503)
            .set_body_raw("upstream connect error", "text/plain")
            .insert_header("retry-after", "0");
        let server = server_for(api, Some(failing), json((api.data)())).await;
        let (code, g, err) = first_goal(&workspace_for(api, &server));
        assert_eq!(code, Some(0), "{}: {err}", api.name);
        assert!(g["actual"].as_f64().is_some_and(|x| x > 0.0), "{}: {g}", api.name);
    }
}

#[tokio::test]
async fn every_api_source_reports_an_answer_that_is_not_json_and_the_report_still_goes_out() {
    for api in APIS {
        let server = server_for(
            api,
            None,
            ResponseTemplate::new(200).set_body_raw("<html>Bad gateway</html>", "text/html"),
        )
        .await;
        let (code, g, _) = first_goal(&workspace_for(api, &server));
        assert_eq!(code, Some(2), "{}", api.name);
        let note = g["note"].as_str().unwrap_or("");
        assert!(
            note.contains("not JSON") && note.contains("<html>Bad gateway"),
            "{}: {note}",
            api.name
        );
    }
}

#[test]
fn every_api_parser_takes_mangled_answers_without_panicking() {
    // The fuzz targets' seeds, and each cut short and with bytes flipped (what a proxy or a
    // broken connection hands over); `scripts/fuzz` runs the same entry point for longer.
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(repo().join("fuzz/corpus/api_responses"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(seeds.len() >= 6);
    for seed in &seeds {
        goalpost::source::api::fuzz(seed);
        for cut in [1, seed.len() / 3, seed.len() / 2, seed.len().saturating_sub(2)] {
            goalpost::source::api::fuzz(&seed[..cut.min(seed.len())]);
        }
        for (i, flip) in [b'"', b'}', b']', b'-', b'9', b'x', 0xff].iter().enumerate() {
            let mut m = seed.clone();
            let at = 1 + (i * 37) % (m.len() - 1).max(1);
            if at < m.len() {
                m[at] = *flip;
            }
            goalpost::source::api::fuzz(&m);
        }
    }
}
