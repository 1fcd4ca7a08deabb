//! Email through a real SMTP server: the message that arrives (MIME tree, headers,
//! inline images, both alternatives), one bad recipient or a wrong password, an
//! unreachable host, and a `send` killed mid-way that resumes without doubling.

use crate::delivery::{history, send, DATA};
use crate::helpers::*;
use crate::smtp::SmtpServer;
use mail_parser::{MessageParser, MimeHeaders};
use std::time::{Duration, Instant};

fn email_channel(server: &SmtpServer, extra: &str) -> String {
    format!(
        "  mail:\n    type: email\n    smtp: smtp://127.0.0.1:{}\n    ca_file: {}\n    from: \"Goalpost <reports@agency.example>\"\n    reply_to: team@agency.example\n    list_unsubscribe: unsubscribe@agency.example\n    username_env: TEST_SMTP_USER\n    password_env: TEST_SMTP_PASS\n{extra}",
        server.port,
        server.ca.display()
    )
}

fn creds(pass: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TEST_SMTP_USER", "alice".to_string()),
        ("TEST_SMTP_PASS", pass.to_string()),
    ]
}

#[test]
fn the_email_arrives_once_per_recipient_with_text_html_and_inline_charts() {
    let server = SmtpServer::start(&["--user", "alice", "--password", "wonderland"]);
    let channel = email_channel(&server, "    to: [\"Sara <sara@client.example>\", omar@client.example]\n    cc: [layla@client.example]\n    bcc: [audit@agency.example]\n    subject: \"{title} — {period}: {headline}\"\n");
    let cfg = crate::delivery::config(&channel, "mail", "").replace(
        "    period: previous_month",
        "    period: previous_month\n    history: 3",
    );
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = send(ws.path(), &[], &creds("wonderland"));
    assert!(out.status.success(), "{}{}", stdout_of(&out), stderr_of(&out));
    assert_eq!(stdout_of(&out), "monthly 2026-10: sent (sent 4, failed 0, pending 0)\n");

    let got = server.received();
    assert_eq!(got.len(), 4);
    let mut envelopes: Vec<String> = got.iter().map(|m| m.rcpt_tos.join(",")).collect();
    envelopes.sort();
    assert_eq!(
        envelopes,
        [
            "audit@agency.example",
            "layla@client.example",
            "omar@client.example",
            "sara@client.example"
        ]
    );
    assert!(got.iter().all(|m| m.auth_user.as_deref() == Some("alice")));

    let mut ids = Vec::new();
    for m in &got {
        let msg = MessageParser::default().parse(&m.raw).unwrap();
        assert_eq!(
            msg.subject(),
            Some("Monthly — 2026-10: 2 of 2 goals on track for October 2026")
        );
        assert_eq!(
            msg.from().unwrap().first().unwrap().address(),
            Some("reports@agency.example")
        );
        let to: Vec<&str> = msg.to().unwrap().iter().filter_map(|a| a.address()).collect();
        assert_eq!(
            to,
            [m.rcpt_tos[0].as_str()],
            "a personal copy, addressed to its recipient alone"
        );
        assert!(
            msg.cc().is_none() && msg.bcc().is_none(),
            "no one sees the other recipients"
        );
        assert_eq!(
            msg.reply_to().unwrap().first().unwrap().address(),
            Some("team@agency.example")
        );
        let raw = String::from_utf8_lossy(&m.raw);
        assert!(
            raw.contains("List-Unsubscribe: <mailto:unsubscribe@agency.example>"),
            "{raw}"
        );
        // multipart/alternative: text, then multipart/related with the HTML and the images.
        let ct = msg.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("alternative")));
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("2 of 2 goals on track for October 2026"));
        let html = msg.body_html(0).unwrap();
        assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"));
        let images: Vec<_> = msg
            .parts
            .iter()
            .filter(|p| p.content_type().is_some_and(|c| c.ctype() == "image"))
            .collect();
        assert_eq!(images.len(), 2, "a sparkline per goal");
        for img in images {
            let cid = img.content_id().unwrap();
            assert!(html.contains(&format!("cid:{cid}")), "the HTML refers to {cid}");
            assert_eq!(&img.contents()[..4], b"\x89PNG");
        }
        ids.push(msg.message_id().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "a Message-ID per delivery");
    assert!(ids.iter().all(|i| i.ends_with(".goalpost@agency.example")));
    // Sending again sends nothing.
    let again = send(ws.path(), &[], &creds("wonderland"));
    assert!(stdout_of(&again).contains("already sent"));
    assert_eq!(server.received().len(), 4);
}

#[test]
fn one_refused_recipient_fails_alone_and_the_operator_is_told() {
    let server = SmtpServer::start(&[
        "--user",
        "alice",
        "--password",
        "wonderland",
        "--fail-rcpt",
        "gone@client.example",
    ]);
    let channel = email_channel(&server, "    to: [gone@client.example, sara@client.example]\n");
    let ws = workspace(
        &crate::delivery::config(&channel, "mail", "on_failure: ops"),
        &[("data.csv", DATA)],
    );
    let out = send(ws.path(), &[], &creds("wonderland"));
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(server.received().len(), 1);
    assert_eq!(server.received()[0].rcpt_tos, ["sara@client.example"]);
    let h = history(ws.path());
    let gone = h.iter().find(|d| d["recipient"] == "gone@client.example").unwrap();
    assert_eq!(gone["status"], "failed");
    assert!(gone["last_error"].as_str().unwrap().contains("550"), "{gone}");
    assert!(
        gone["last_error"].as_str().unwrap().contains("refused this recipient"),
        "{gone}"
    );
    assert_eq!(gone["attempts"], 1);
    let table = goalpost(ws.path())
        .args(["history", "--status", "failed", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(stdout_of(&table).contains("gone@client.example") && !stdout_of(&table).contains("sara@"));
    assert!(std::fs::read_dir(ws.path().join("failures/monthly")).unwrap().count() == 1);
}

#[test]
fn a_wrong_password_is_named_as_such_and_never_shown() {
    let server = SmtpServer::start(&["--user", "alice", "--password", "wonderland"]);
    let channel = email_channel(&server, "    to: [sara@client.example]\n");
    let ws = workspace(
        &crate::delivery::config(&channel, "mail", "on_failure: ops"),
        &[("data.csv", DATA)],
    );
    let out = send(ws.path(), &[], &creds("hunter2-wrong"));
    assert_eq!(out.status.code(), Some(3));
    assert!(server.received().is_empty());
    let h = history(ws.path());
    let mail = h.iter().find(|d| d["channel"] == "mail").unwrap();
    let err = mail["last_error"].as_str().unwrap();
    assert!(
        err.contains("535") && err.contains("rejected the user name or password"),
        "{err}"
    );
    let all = format!(
        "{}{}{}",
        stdout_of(&out),
        stderr_of(&out),
        serde_json::to_string(&h).unwrap()
    );
    assert!(!all.contains("hunter2"), "the password appears nowhere");
    let notice = std::fs::read_dir(ws.path().join("failures/monthly"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(std::fs::read_to_string(notice).unwrap().contains("535"));
}

#[test]
fn an_unreachable_smtp_host_is_retried_then_failed_with_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens
    let channel = format!("  mail:\n    type: email\n    smtp: smtp://127.0.0.1:{port}\n    tls: none\n    from: reports@agency.example\n    to: [sara@client.example]\n");
    let cfg = crate::delivery::config(&channel, "mail, box", "on_failure: ops")
        .replace("channels:\n", "channels:\n  box: { type: outbox, path: outbox }\n");
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let start = Instant::now();
    let out = send(ws.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        start.elapsed() >= Duration::from_millis(200 + 400 + 800) * 8 / 10,
        "backed off between the 4 attempts"
    );
    let h = history(ws.path());
    let mail = h.iter().find(|d| d["channel"] == "mail").unwrap();
    assert_eq!(mail["attempts"], 4);
    assert!(
        mail["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 4 attempts"),
        "{mail}"
    );
    assert_eq!(
        h.iter().find(|d| d["channel"] == "box").unwrap()["status"],
        "sent",
        "the other channel went on"
    );
}

#[test]
fn a_send_killed_mid_way_resumes_and_every_recipient_gets_exactly_one() {
    let server = SmtpServer::start(&[]);
    let recipients: Vec<String> = (0..50).map(|i| format!("client{i:02}@example.com")).collect();
    let channel = format!(
        "  mail:\n    type: email\n    smtp: smtp://127.0.0.1:{}\n    tls: none\n    from: reports@agency.example\n    max_per_second: 10\n    to: [{}]\n",
        server.port,
        recipients.join(", ")
    );
    let ws = workspace(&crate::delivery::config(&channel, "mail", ""), &[("data.csv", DATA)]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("goalpost"))
        .current_dir(ws.path())
        .args(["send", "monthly", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) as soon as the log records the 10th delivery as sent: the
    // process is then in its 100 ms pause between two sends (max_per_second: 10), outside
    // the window between the server accepting a message and the log recording it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = ws.path().join("goalpost.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the first 10 deliveries were not recorded");
        if db.exists() {
            let sent: i64 = rt.block_on(async {
                let url = format!("sqlite://{}?mode=ro", db.display());
                match sqlx::SqlitePool::connect(&url).await {
                    Ok(pool) => {
                        let n = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'")
                            .fetch_one(&pool)
                            .await
                            .unwrap_or(0);
                        pool.close().await;
                        n
                    }
                    Err(_) => 0,
                }
            });
            if sent >= 10 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = server.received().len();
    assert!((10..50).contains(&before), "killed mid-way ({before} sent)");

    let out = send(ws.path(), &[], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with("monthly 2026-10: resumed"),
        "{}",
        stdout_of(&out)
    );
    let mut got: Vec<String> = server.received().iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    got.sort();
    assert_eq!(got, recipients, "every recipient exactly once");
}

#[test]
fn owners_of_off_track_goals_get_just_their_goals() {
    let server = SmtpServer::start(&[]);
    let channel = format!(
        "  mail:\n    type: email\n    smtp: smtp://127.0.0.1:{}\n    tls: none\n    from: reports@agency.example\n    to: [team@agency.example]\n",
        server.port
    );
    // Leads (7) meet 5; CPL (110 / 7 = 15.7) misses 10: only the CPL owner is told.
    let cfg = crate::delivery::config(&channel, "mail", "")
        .replace("owner: Sara }", "owner: Sara, owner_email: sara@client.example }")
        .replace(
            "  cpl: { kpi: cpl, target: { at_most: 20 } }",
            "  cpl: { kpi: cpl, target: { at_most: 10 }, owner: Omar, owner_email: omar@client.example }",
        )
        .replace(
            "    channels: [mail]",
            "    channels: [mail]\n    notify_owners: off_track",
        );
    let ws = workspace(&cfg, &[("data.csv", DATA)]);
    let out = send(ws.path(), &[], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let got = server.received();
    let mut rcpts: Vec<String> = got.iter().map(|m| m.rcpt_tos.join(",")).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["omar@client.example", "team@agency.example"]);
    let omar = got.iter().find(|m| m.rcpt_tos == ["omar@client.example"]).unwrap();
    let msg = MessageParser::default().parse(&omar.raw).unwrap();
    assert_eq!(
        msg.subject(),
        Some("Monthly: your goals that need attention: 0 of 1 goals on track for October 2026")
    );
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("Cost per lead") && !text.contains("Leads:"), "{text}");
}
