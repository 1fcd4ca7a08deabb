//! Hostile input at the edges a user sees: secrets never in logs, errors or the delivery
//! log; a title or name carrying CR/LF cannot add a header to the email.

use crate::delivery::{config, history, DATA};
use crate::helpers::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn secrets_in_urls_and_tokens_appear_in_no_log_no_error_and_no_history() {
    // A webhook whose URL carries a secret path and query, answering 500 then refusing;
    // a Slack URL that cannot be reached; an API token for a source that refuses it.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal"))
        .mount(&server)
        .await;
    let secret_hook = format!("{}/hooks/S3CR3T-PATH?token=S3CR3T-QUERY", server.uri());
    let cfg = config(
        "  hook: { type: webhook, url_env: HOSTILE_HOOK, secret_env: HOSTILE_SIGNING, allow_insecure: true }\n  \
         team: { type: slack, webhook_url_env: HOSTILE_SLACK, allow_insecure: true }",
        "hook, team",
        "on_failure: ops\ndaemon: { shutdown_grace: 5s }",
    )
    .replace(
        "delivery: { backoff: 200ms, max_backoff: 2s, wait: 20s, max_attempts: 4 }",
        "delivery: { backoff: 100ms, max_backoff: 200ms, wait: 2s, max_attempts: 2 }",
    );
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = goalpost(ws.path())
        .args([
            "run",
            "--now",
            "--once",
            "--log-format",
            "json",
            "--config",
            "goalpost.yaml",
        ])
        .env("GOALPOST_LOG", "debug")
        .env("HOSTILE_HOOK", &secret_hook)
        .env("HOSTILE_SIGNING", "S3CR3T-SIGNING-KEY")
        .env("HOSTILE_SLACK", "http://127.0.0.1:9/services/S3CR3T-SLACK")
        .output()
        .unwrap();
    let logs = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(
        logs.contains("delivery failed") || logs.contains("will be retried"),
        "{logs}"
    );
    let rows = history(ws.path());
    let everything = format!("{logs}{}", serde_json::to_string(&rows).unwrap());
    let outbox: String = walk(&ws.path().join("failures"));
    for secret in ["S3CR3T-PATH", "S3CR3T-QUERY", "S3CR3T-SIGNING-KEY", "S3CR3T-SLACK"] {
        assert!(!everything.contains(secret), "`{secret}` leaked:\n{everything}");
        assert!(!outbox.contains(secret), "`{secret}` leaked into a failure notice");
    }
    let table = goalpost(ws.path())
        .args(["history", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(!stdout_of(&table).contains("S3CR3T"));
}

/// Every file's text under `dir`.
fn walk(dir: &std::path::Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push_str(&walk(&p));
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                out.push_str(&t);
            }
        }
    }
    out
}

#[test]
fn a_title_or_goal_name_with_line_breaks_cannot_add_a_header_to_the_email() {
    let yaml = "store: goalpost.db\nsources:\n  web: { type: csv, path: data.csv }\nmetrics:\n  leads: web.leads\n\
        goals:\n  leads: { name: \"Leads\\r\\nBcc: victim@example.com\", kpi: leads, target: { at_least: 1 } }\n\
        channels:\n  box: { type: outbox, path: outbox }\n\
        reports:\n  r: { title: \"Weekly\\r\\nBcc: attacker@example.com\\r\\nX-Evil: 1\", period: previous_month, goals: [leads], channels: [box] }\n";
    let ws = workspace(yaml, &[("data.csv", DATA)]);
    let out = goalpost(ws.path())
        .args(["send", "r", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let eml = std::fs::read_to_string(ws.path().join("outbox/r/2026-10-g0.eml")).unwrap();
    let headers = eml.split("\r\n\r\n").next().unwrap();
    for line in headers.lines() {
        assert!(
            !line.starts_with("Bcc:") && !line.starts_with("X-Evil:"),
            "an injected header: {line:?}\n{headers}"
        );
    }
    assert!(headers.contains("Subject:"), "{headers}");
}

#[test]
fn a_token_pasted_where_its_variable_name_belongs_is_refused_for_every_api_source() {
    let ws = workspace(
        "sources:\n  meta: { type: meta_ads, account: \"1\", token_env: \"EAAB.pasted-token=\" }\n  \
         crm: { type: hubspot, token_env: \"pat-na1-1234\" }\n  mc: { type: mailchimp, api_key_env: \"abc-us21\" }\n  \
         ads: { type: google_ads, customer_id: \"1\", client_id_env: A, client_secret_env: B, refresh_token_env: \"1//0g-refresh\" }\n",
        &[],
    );
    let err = check_errors(ws.path());
    for key in [
        "`token_env` names an environment variable",
        "`api_key_env` names",
        "`refresh_token_env` names",
    ] {
        assert!(err.contains(key), "{key}:\n{err}");
    }
    assert_eq!(
        err.matches("`token_env` names an environment variable").count(),
        2,
        "{err}"
    );
}
