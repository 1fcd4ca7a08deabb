//! The HubSpot source against a local server answering as the CRM search endpoints
//! document (fixtures in `tests/fixtures/hubspot/`): cursor pages, the 10,000-result cap
//! (the range is split), the per-second limit, a refused token.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn answer(status: u16, name: &str) -> ResponseTemplate {
    fixture_answer("hubspot", name, status)
}

fn workspace_for(server: &MockServer, goals: &str) -> tempfile::TempDir {
    let yaml = format!(
        r#"timezone: Europe/Berlin
sources:
  crm: {{ type: hubspot, token_env: HUBSPOT_TOKEN, base_url: {uri} }}
metrics:
  leads: crm.leads
  deals: crm.deals_won
  revenue: crm.revenue
goals:
  leads: {{ kpi: leads, target: {{ at_least: 3 }} }}
  deals: {{ kpi: deals, target: {{ at_least: 2 }} }}
  revenue: {{ kpi: revenue, target: {{ at_least: 10000 }} }}
reports:
  r: {{ period: previous_month, goals: [{goals}] }}
"#,
        uri = server.uri()
    );
    workspace(&yaml, &[])
}

fn preview(ws: &tempfile::TempDir) -> (Option<i32>, Value, String) {
    preview_model(ws, &[("HUBSPOT_TOKEN", "pat-eu1-test-token")])
}

fn searches(reqs: &[Request], object: &str) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.url.path() == format!("/crm/v3/objects/{object}/search"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn records_are_counted_per_day_in_the_configs_zone_across_pages_and_deals_sum_their_amounts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(header("authorization", "Bearer pat-eu1-test-token"))
        .and(body_partial_json(serde_json::json!({"after": "2"})))
        .respond_with(answer(200, "contacts-page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(answer(200, "contacts-page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .respond_with(answer(200, "deals-won.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "leads, deals, revenue"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "leads")["actual"], 3.0);
    assert_eq!(goal(&model, "deals")["actual"], 2.0);
    // A deal without an amount counts as a deal and adds nothing to revenue.
    assert_eq!(goal(&model, "revenue")["actual"], 12000.5);

    let reqs = server.received_requests().await.unwrap();
    let contacts = searches(&reqs, "contacts");
    let f = &contacts[0]["filterGroups"][0]["filters"][0];
    assert_eq!(f["propertyName"], "hs_lifecyclestage_lead_date");
    assert_eq!(f["operator"], "BETWEEN");
    // Epoch milliseconds from midnight in Berlin: last October (for the year-on-year
    // comparison) starts at 2025-10-01T00:00+02:00, 1759269600000.
    assert!(
        contacts
            .iter()
            .any(|c| c["filterGroups"][0]["filters"][0]["value"] == "1759269600000"),
        "{contacts:?}"
    );
    assert_eq!(contacts[0]["limit"], 200);
    let deals = searches(&reqs, "deals");
    assert_eq!(
        deals[0]["filterGroups"][0]["filters"][1],
        serde_json::json!({"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"})
    );
}

#[tokio::test]
async fn a_month_without_records_is_zero_not_no_data() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(r#"{"total":0,"results":[]}"#, "application/json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "leads"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "leads")["actual"], 0.0);
    assert_eq!(goal(&model, "leads")["status"], "off_track");
}

#[tokio::test]
async fn a_range_with_more_than_ten_thousand_records_is_split_until_each_half_fits() {
    let server = MockServer::start().await;
    // The search starting on 1 October 2025 (last year's October) is over the cap.
    let whole_october = serde_json::json!({"filterGroups": [{"filters": [{"value": "1759269600000"}]}]});
    Mock::given(method("POST"))
        .and(body_partial_json(whole_october))
        .respond_with(answer(200, "over-cap.json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(answer(200, "contacts-page2.json"))
        .mount(&server)
        .await;
    let (code, model, err) = preview(&workspace_for(&server, "leads"));
    assert_eq!(code, Some(0), "{err}");
    // The halves are searched; the record on 15 October is counted once.
    assert_eq!(goal(&model, "leads")["actual"], 1.0);
    let contacts = searches(&server.received_requests().await.unwrap(), "contacts");
    assert!(contacts.len() >= 3, "{}", contacts.len());
}

#[tokio::test]
async fn the_per_second_limit_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer(429, "error-429-secondly.json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(answer(200, "contacts-page2.json"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let (code, model, err) = preview(&workspace_for(&server, "leads"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(goal(&model, "leads")["actual"], 1.0);
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn a_refused_token_says_where_to_make_a_new_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer(401, "error-401.json"))
        .mount(&server)
        .await;
    let (code, model, _) = preview(&workspace_for(&server, "leads"));
    assert_eq!(code, Some(2));
    let note = goal(&model, "leads")["note"].as_str().unwrap();
    assert!(note.contains("Private apps") && !note.contains("pat-eu1"), "{note}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
