//! Delivery through the CLI: idempotent sends, the outbox, Slack and signed webhooks
//! against local HTTP servers that answer as the real services do, and the delivery log.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A small config whose report goes to the channels in `channels_yaml` (and `on_failure` to an outbox).
pub fn config(channels_yaml: &str, report_channels: &str, extra_top: &str) -> String {
    format!(
        r#"timezone: UTC
store: ${{GOALPOST_TEST_STORE:-goalpost.db}}
{extra_top}
delivery: {{ backoff: 200ms, max_backoff: 2s, wait: 20s, max_attempts: 4 }}
sources:
  web: {{ type: csv, path: data.csv, dimensions: [channel] }}
metrics:
  leads: web.leads
  spend: web.spend
goals:
  leads: {{ name: Leads, kpi: leads, target: {{ at_least: 5 }}, owner: Sara }}
  cpl: {{ kpi: cpl, target: {{ at_most: 20 }} }}
reports:
  monthly:
    title: Monthly
    period: previous_month
    goals: [leads, cpl]
    channels: [{report_channels}]
channels:
{channels_yaml}
  ops: {{ type: outbox, path: failures }}
"#
    )
}

pub const DATA: &str = "date,channel,leads,spend\n2026-10-01,Paid,4,100\n2026-10-02,Email,3,10\n";

pub fn send(dir: &std::path::Path, extra: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = goalpost(dir);
    cmd.args(["send", "monthly", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn history(dir: &std::path::Path) -> Vec<Value> {
    history_in(dir, &[])
}

pub fn history_in(dir: &std::path::Path, env: &[(&str, String)]) -> Vec<Value> {
    let mut cmd = goalpost(dir);
    cmd.args(["history", "--format", "json", "--config", "goalpost.yaml"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sending_twice_delivers_once_and_force_sends_again_on_the_record() {
    sending_twice_delivers_once(&[]);
}

#[test]
fn sending_twice_delivers_once_with_the_log_in_postgres_too() {
    sending_twice_delivers_once(&[("GOALPOST_TEST_STORE", fresh_postgres_database_blocking())]);
}

fn sending_twice_delivers_once(env: &[(&str, String)]) {
    let ws = workspace(
        &config("  box: { type: outbox, path: outbox }", "box", ""),
        &[("data.csv", DATA)],
    );
    let out = send(ws.path(), &[], env);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "monthly 2026-10: sent (sent 1, failed 0, pending 0)\n");
    let eml = std::fs::read_to_string(ws.path().join("outbox/monthly/2026-10-g0.eml")).unwrap();
    assert!(
        eml.contains("Subject: Monthly: 2 of 2 goals on track for October 2026") || eml.contains("Subject: =?utf-8?"),
        "{eml}"
    );
    assert!(eml.contains("multipart/alternative"));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("outbox/monthly/2026-10-g0.json")).unwrap())
            .unwrap();
    assert_eq!(json["goals"][0]["actual"], 7.0);

    let again = send(ws.path(), &[], env);
    assert_eq!(
        stdout_of(&again),
        "monthly 2026-10: already sent: the run is done; use --force to send again\n"
    );
    assert_eq!(history_in(ws.path(), env).len(), 1);

    let forced = send(ws.path(), &["--force"], env);
    assert!(stderr_of(&forced).contains("--force sent monthly again"));
    assert!(ws.path().join("outbox/monthly/2026-10-g1.eml").exists());
    let h = history_in(ws.path(), env);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["generation"], 1);
    assert_eq!(ws.path().join("goalpost.db").exists(), env.is_empty());
}

#[test]
fn a_postgres_store_url_with_a_password_is_refused_with_where_to_put_it() {
    let ws = workspace(
        &config("  box: { type: outbox, path: outbox }", "box", "").replace(
            "${GOALPOST_TEST_STORE:-goalpost.db}",
            "postgres://goalpost:hunter2@db.example/goalpost",
        ),
        &[("data.csv", DATA)],
    );
    let errors = check_errors(ws.path());
    assert!(
        errors.contains("goalpost.yaml:2:8: error: `store`: the Postgres URL holds a password"),
        "{errors}"
    );
    assert!(errors.contains("PGPASSWORD"), "{errors}");
}

#[test]
fn a_dry_run_says_what_would_be_sent_and_records_nothing() {
    let ws = workspace(
        &config("  box: { type: outbox, path: outbox }", "box", ""),
        &[("data.csv", DATA)],
    );
    let out = send(ws.path(), &["--dry-run"], &[]);
    assert_eq!(stdout_of(&out), "monthly 2026-10: dry run: would send to box:outbox\n");
    assert!(!ws.path().join("outbox").exists());
    assert!(history(ws.path()).is_empty());
}

#[test]
fn a_backfill_sends_one_report_per_period() {
    let ws = workspace(
        &config("  box: { type: outbox, path: outbox }", "box", ""),
        &[("data.csv", DATA)],
    );
    let out = goalpost(ws.path())
        .args([
            "send",
            "monthly",
            "--from",
            "2026-08",
            "--to",
            "2026-10",
            "--config",
            "goalpost.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(lines, ["monthly 2026-08", "monthly 2026-09", "monthly 2026-10"]);
    assert_eq!(history(ws.path()).len(), 3);
}

#[test]
fn send_if_off_track_and_changed_skip_quiet_periods() {
    let cfg = config("  box: { type: outbox, path: outbox }", "box", "")
        .replace("    channels: [box]", "    channels: [box]\n    send_if: off_track");
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = send(ws.path(), &[], &[]);
    assert!(
        stdout_of(&out).contains("skipped: send_if: off_track, and no goal is off track or at risk"),
        "{}",
        stdout_of(&out)
    );
    assert!(!ws.path().join("outbox").exists());

    let cfg = config("  box: { type: outbox, path: outbox }", "box", "")
        .replace("    channels: [box]", "    channels: [box]\n    send_if: changed");
    let ws = workspace(
        &cfg,
        &[(
            "data.csv",
            "date,channel,leads,spend\n2026-09-01,Paid,7,10\n2026-10-01,Paid,7,10\n",
        )],
    );
    let sept = send(ws.path(), &["--period", "2026-09"], &[]);
    assert!(stdout_of(&sept).contains("sent"), "{}", stdout_of(&sept));
    let oct = send(ws.path(), &["--period", "2026-10"], &[]);
    assert!(
        stdout_of(&oct).contains("skipped: send_if: changed"),
        "{}",
        stdout_of(&oct)
    );
}

fn slack_config() -> String {
    config(
        "  team: { type: slack, webhook_url_env: TEST_SLACK_URL, allow_insecure: true }",
        "team",
        "on_failure: ops",
    )
}

async fn send_async(dir: std::path::PathBuf, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || send(&dir, &[], &env))
        .await
        .unwrap()
}

#[tokio::test]
async fn slack_gets_the_blocks_once_on_200_ok() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let ws = workspace(&slack_config(), &[("data.csv", DATA)]);
    let url = format!("{}/services/T/B/X", server.uri());
    let out = send_async(ws.path().to_path_buf(), vec![("TEST_SLACK_URL", url.clone())]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let body: Value = server.received_requests().await.unwrap()[0].body_json().unwrap();
    assert!(body["text"].as_str().unwrap().contains("2 of 2 goals on track"));
    assert_eq!(body["blocks"][0]["type"], "header");
    let h = history(ws.path());
    assert_eq!(h[0]["status"], "sent");
    assert_eq!(h[0]["remote_id"], "200 ok");
    assert!(
        !serde_json::to_string(&h).unwrap().contains("/services/T/B/X"),
        "the webhook URL is a secret"
    );
    // Sending again does not post again (the mock expects exactly one call).
    let again = send_async(ws.path().to_path_buf(), vec![("TEST_SLACK_URL", url)]).await;
    assert!(stdout_of(&again).contains("already sent"));
}

#[tokio::test]
async fn slack_invalid_blocks_and_a_revoked_webhook_fail_at_once_and_tell_the_operator() {
    for (status, body, expected) in [
        (400, "invalid_blocks", "Slack rejected the message (400 invalid_blocks)"),
        (404, "no_service", "no longer works (404 no_service)"),
        (410, "channel_is_archived", "410 channel_is_archived"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .expect(1)
            .mount(&server)
            .await;
        let ws = workspace(&slack_config(), &[("data.csv", DATA)]);
        let out = send_async(
            ws.path().to_path_buf(),
            vec![("TEST_SLACK_URL", format!("{}/hook", server.uri()))],
        )
        .await;
        assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
        let h = history(ws.path());
        let slack = h.iter().find(|d| d["channel"] == "team").unwrap();
        assert_eq!(slack["status"], "failed");
        assert_eq!(slack["attempts"], 1, "a permanent error is not retried");
        assert!(slack["last_error"].as_str().unwrap().contains(expected), "{slack}");
        // The operator's channel got a notice with the reason.
        let notice = h.iter().find(|d| d["channel"] == "ops").unwrap();
        assert_eq!(notice["status"], "sent");
        let files: Vec<_> = std::fs::read_dir(ws.path().join("failures/monthly"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            text.contains("Delivery to team / slack-webhook failed") && text.contains(expected),
            "{text}"
        );
    }
}

#[tokio::test]
async fn slack_429_waits_as_long_as_retry_after_says_then_sends() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let ws = workspace(&slack_config(), &[("data.csv", DATA)]);
    let start = Instant::now();
    let out = send_async(
        ws.path().to_path_buf(),
        vec![("TEST_SLACK_URL", format!("{}/hook", server.uri()))],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After: 2 was honoured ({:?})",
        start.elapsed()
    );
    let h = history(ws.path());
    assert_eq!(
        (h[0]["status"].as_str(), h[0]["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
}

#[tokio::test]
async fn slack_500_is_retried_with_backoff_then_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let ws = workspace(&slack_config(), &[("data.csv", DATA)]);
    let out = send_async(
        ws.path().to_path_buf(),
        vec![("TEST_SLACK_URL", format!("{}/hook", server.uri()))],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(history(ws.path())[0]["attempts"], 3);
}

#[tokio::test]
async fn a_webhook_gets_the_report_json_signed_with_hmac_sha256() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/in"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let cfg = config(
        "  hook: { type: webhook, url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET, allow_insecure: true }",
        "hook",
        "",
    );
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = send_async(
        ws.path().to_path_buf(),
        vec![
            ("TEST_HOOK_URL", format!("{}/in", server.uri())),
            ("TEST_HOOK_SECRET", "s3cret".into()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let req: Request = server.received_requests().await.unwrap().remove(0);
    let ts = req
        .headers
        .get("x-goalpost-timestamp")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let sig = req
        .headers
        .get("x-goalpost-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Verify as a receiver would.
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&req.body);
    assert_eq!(sig, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["report"], "monthly");
    assert_eq!(body["goals"][0]["actual"], 7.0);
}

#[tokio::test]
async fn an_insecure_or_malformed_webhook_url_fails_clearly_and_the_other_channels_go_on() {
    let cfg = config(
        "  hook: { type: webhook, url_env: TEST_HOOK_URL }\n  box: { type: outbox, path: outbox }",
        "hook, box",
        "on_failure: ops",
    );
    for (url, expected) in [
        ("http://127.0.0.1:9/in", "is http://; use https"),
        ("not a url", "is not a valid URL"),
    ] {
        let ws = workspace(&cfg, &[("data.csv", DATA)]);
        let out = send_async(ws.path().to_path_buf(), vec![("TEST_HOOK_URL", url.to_string())]).await;
        assert_eq!(out.status.code(), Some(3));
        let h = history(ws.path());
        let hook = h.iter().find(|d| d["channel"] == "hook").unwrap();
        assert!(hook["last_error"].as_str().unwrap().contains(expected), "{hook}");
        assert!(
            !hook["last_error"].as_str().unwrap().contains("127.0.0.1:9"),
            "the URL itself is not shown"
        );
        assert_eq!(h.iter().find(|d| d["channel"] == "box").unwrap()["status"], "sent");
    }
}

#[tokio::test]
async fn retry_failed_sends_again_what_failed_once_the_cause_is_fixed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let ws = workspace(&slack_config(), &[("data.csv", DATA)]);
    let env = vec![("TEST_SLACK_URL", format!("{}/hook", server.uri()))];
    let out = send_async(ws.path().to_path_buf(), env.clone()).await;
    assert_eq!(out.status.code(), Some(3));
    let failed_id = history(ws.path()).iter().find(|d| d["channel"] == "team").unwrap()["id"]
        .as_i64()
        .unwrap();
    let dir = ws.path().to_path_buf();
    let retry = tokio::task::spawn_blocking(move || {
        let mut cmd = goalpost(&dir);
        cmd.args([
            "retry",
            "--delivery",
            &failed_id.to_string(),
            "--config",
            "goalpost.yaml",
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(retry.status.success(), "{}", stderr_of(&retry));
    assert_eq!(stdout_of(&retry), "requeued 1; sent 1, failed 0, pending 0\n");
    let h = history(ws.path());
    let team = h.iter().find(|d| d["channel"] == "team").unwrap();
    assert_eq!(
        (team["status"].as_str(), team["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
    // An unknown id is a clear error.
    let out = goalpost(ws.path())
        .args(["retry", "--delivery", "999", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("delivery 999 is not a failed delivery"));
}

#[tokio::test]
async fn two_processes_retrying_at_once_send_each_delivery_once() {
    two_processes_retrying_at_once(vec![]).await;
}

#[tokio::test]
async fn two_processes_retrying_at_once_send_each_delivery_once_with_the_log_in_postgres() {
    two_processes_retrying_at_once(vec![("GOALPOST_TEST_STORE", fresh_postgres_database().await)]).await;
}

async fn two_processes_retrying_at_once(store_env: Vec<(&'static str, String)>) {
    let server = MockServer::start().await;
    // First a 500 (the delivery stays pending), then slow 200s while two `retry`s race.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&server)
        .await;
    let cfg = slack_config().replace("wait: 20s", "wait: 0s");
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let mut env = vec![("TEST_SLACK_URL", format!("{}/hook", server.uri()))];
    env.extend(store_env.clone());
    let out = send_async(ws.path().to_path_buf(), env.clone()).await;
    assert_eq!(out.status.code(), Some(3), "left pending: {}", stdout_of(&out));
    tokio::time::sleep(Duration::from_millis(300)).await; // past the first backoff
    let run = |dir: std::path::PathBuf, env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let mut cmd = goalpost(&dir);
            cmd.args(["retry", "--config", "goalpost.yaml"]);
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.output().unwrap()
        })
    };
    let (a, b) = tokio::join!(
        run(ws.path().to_path_buf(), env.clone()),
        run(ws.path().to_path_buf(), env)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr_of(&a),
        stderr_of(&b)
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "one 500, then exactly one 200"
    );
    assert_eq!(history_in(ws.path(), &store_env)[0]["status"], "sent");
}

#[tokio::test]
async fn a_redirecting_webhook_fails_instead_of_losing_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/elsewhere"))
        .mount(&server)
        .await;
    let cfg = config(
        "  hook: { type: webhook, url_env: TEST_HOOK_URL, allow_insecure: true }",
        "hook",
        "",
    );
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = send_async(
        ws.path().to_path_buf(),
        vec![("TEST_HOOK_URL", format!("{}/in", server.uri()))],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(history(ws.path())[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("redirects (302)"));
}

#[test]
fn a_period_that_has_not_started_is_not_sent() {
    let ws = workspace(
        &config("  box: { type: outbox, path: outbox }", "box", ""),
        &[("data.csv", DATA)],
    );
    let out = send(ws.path(), &["--period", "2026-12"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("2026-12 has not started on 2026-11-02"),
        "{}",
        stderr_of(&out)
    );
    assert!(history(ws.path()).is_empty());
}

#[tokio::test]
async fn teams_gets_an_adaptive_card_and_a_rate_limit_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let cfg = config(
        "  teams: { type: teams, webhook_url_env: TEST_TEAMS_URL, allow_insecure: true }",
        "teams",
        "",
    );
    let ws = workspace(
        &cfg.replace("name: Leads,", "name: \"Leads *bold* <b>\","),
        &[("data.csv", DATA)],
    );
    let out = send_async(
        ws.path().to_path_buf(),
        vec![("TEST_TEAMS_URL", format!("{}/wf", server.uri()))],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let body: Value = reqs[1].body_json().unwrap();
    assert_eq!(body["type"], "message");
    let card = &body["attachments"][0];
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    let texts: Vec<&str> = card["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("2 of 2 goals on track")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("Leads \\*bold\\* \\<b\\>")),
        "Markdown in names is escaped: {texts:?}"
    );
    assert_eq!(history(ws.path())[0]["attempts"], 2);
}
