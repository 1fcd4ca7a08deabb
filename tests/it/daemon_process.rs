//! `goalpost run` as a process: reports firing every second, the HTTP listener, a SIGHUP
//! with a changed config, then SIGTERM; asserted on the outbox, the store and the exit code.

use crate::helpers::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn config(reports: &str) -> String {
    format!(
        "timezone: UTC\nstore: goalpost.db\ndaemon: {{ listen: \"127.0.0.1:0\", shutdown_grace: 5s }}\n\
         sources:\n  web: {{ type: csv, path: data.csv }}\nmetrics:\n  leads: web.leads\n\
         goals:\n  leads: {{ kpi: leads, target: {{ at_least: 3 }} }}\n\
         channels:\n  box: {{ type: outbox, path: outbox }}\nreports:\n{reports}"
    )
}

const R1: &str = "  r1: { title: First, period: today, goals: [leads], channels: [box], schedule: \"* * * * * *\" }\n";
const R2: &str =
    "  r2: { title: Second, period: today, goals: [leads], channels: [box], schedule: \"*/2 * * * * *\" }\n";

/// The child and everything it wrote to stderr so far.
struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("goalpost"))
            .args(["run", "--config", "goalpost.yaml"])
            .current_dir(dir)
            .env_remove("GOALPOST_CONFIG")
            .env("GOALPOST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Daemon { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn wait_for(what: &str, d: &Daemon, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_daemon_sends_on_schedule_reloads_on_sighup_and_stops_cleanly_on_sigterm() {
    let today = chrono::Utc::now().date_naive().to_string();
    let ws = workspace(&config(R1), &[("data.csv", "date,leads\n2026-10-01,4\n")]);
    let dir = ws.path();
    let mut d = Daemon::start(dir);
    let eml = |r: &str| dir.join(format!("outbox/{r}/{today}-g0.eml"));
    wait_for("the first report", &d, || eml("r1").exists());

    // The listener: its port is in the log.
    wait_for("the listener", &d, || d.log().contains("bound="));
    let log = d.log();
    let addr = log
        .split("bound=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&addr, "/readyz"), (200, "ready\n".into()));
    // The run is counted when it ends, a moment after its message is in the outbox.
    let run_counted = "goalpost_runs_total{client=\"goalpost\",report=\"r1\",outcome=\"sent\"} 1\n";
    wait_for("the run's metric", &d, || {
        get(&addr, "/metrics").1.contains(run_counted)
    });
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains(run_counted), "{metrics}");
    assert!(metrics.contains("goalpost_next_fire_timestamp_seconds{client=\"goalpost\",report=\"r1\"}"));
    assert!(metrics.contains("goalpost_source_fetch_seconds_count{source=\"web\"}"));
    let (status, html) = get(&addr, "/reports/r1");
    assert_eq!(status, 200);
    assert!(html.contains("<html") && html.contains("First"), "{html}");
    assert_eq!(get(&addr, "/reports/nope").0, 404);

    // A changed config file is noticed by itself: r2 starts without a restart or a signal.
    std::fs::write(dir.join("goalpost.yaml"), config(&format!("{R1}{R2}"))).unwrap();
    wait_for("the added report", &d, || eml("r2").exists());
    assert!(d.log().contains("config file changed"), "{}", d.log());

    // SIGHUP reloads every file.
    d.signal("-HUP");
    wait_for("the SIGHUP reload", &d, || d.log().contains("reloading config why=All"));

    // A broken config is refused and the running one keeps going.
    std::fs::write(dir.join("goalpost.yaml"), config("  r1: { goals: [missing] }\n")).unwrap();
    d.signal("-HUP");
    wait_for("the refusal", &d, || {
        d.log().contains("the previous config stays in force")
    });
    assert!(
        d.log().contains("goalpost.yaml:"),
        "errors name the file and line:\n{}",
        d.log()
    );

    d.signal("-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "did not stop; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log());
    assert!(d.log().contains("SIGTERM: stopping"));

    // Fired every second, each report was sent once for its period: the store says so
    // (read with the good config back in place: `history` needs a valid one).
    std::fs::write(dir.join("goalpost.yaml"), config(&format!("{R1}{R2}"))).unwrap();
    let rows = crate::delivery::history(dir);
    let sent: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["report"].as_str().unwrap().to_string(),
                r["period"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sent = sent;
    sent.sort();
    assert_eq!(
        sent,
        [
            ("r1".to_string(), today.clone(), "sent".to_string()),
            ("r2".to_string(), today.clone(), "sent".to_string())
        ]
    );
}

#[test]
fn run_now_once_sends_every_report_and_json_logs_carry_the_run_span() {
    let ws = workspace(&config(R1), &[("data.csv", "date,leads\n2026-10-01,4\n")]);
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
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(ws.path().join(format!("outbox/r1/{today}-g0.eml")).exists());
    let lines: Vec<serde_json::Value> = stderr_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done = lines
        .iter()
        .find(|l| l["fields"]["message"] == "run done")
        .expect("a `run done` event");
    assert_eq!(done["span"]["name"], "run");
    assert_eq!(done["span"]["report"], "r1");
    assert_eq!(done["span"]["period"], today.as_str());
    assert_eq!(done["fields"]["outcome"], "sent");
}

#[test]
fn run_refuses_to_start_when_no_config_can_be_loaded_and_says_why() {
    let ws = workspace("reports: {r: {goals: [nope]}}\n", &[]);
    let out = goalpost(ws.path())
        .args(["run", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("no config could be loaded") && err.contains("goalpost.yaml:1:"),
        "{err}"
    );
}
