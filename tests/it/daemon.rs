//! The scheduler on a manual clock: fire times across DST changes, catch-up after a gap,
//! no overlap, reload adding and removing jobs, shutdown with work in flight. Real SQLite
//! stores and outbox folders; the clock is the only thing the tests control.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use goalpost::daemon::{clock::Clock, Daemon, Options, Reload};
use std::path::Path;
use std::time::Duration;
use tokio::task::LocalSet;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const DATA: &str = "date,leads\n2026-10-20,3\n2026-10-24,4\n2026-10-25,5\n2026-10-26,6\n2026-11-01,2\n";

/// A config in `zone` with the given `reports:` entries, all to an outbox.
fn config(zone: &str, reports: &str, extra: &str) -> String {
    format!(
        "timezone: {zone}\nstore: goalpost.db\n{extra}\nsources:\n  web: {{ type: csv, path: data.csv }}\n\
         metrics:\n  leads: web.leads\ngoals:\n  leads: {{ kpi: leads, target: {{ at_least: 3 }} }}\n\
         channels:\n  box: {{ type: outbox, path: outbox }}\nreports:\n{reports}"
    )
}

/// The same with a webhook channel `hook` whose URL is in the environment variable `url_env`.
fn hook_config(url_env: &str, extra: &str, reports: &str) -> String {
    config("UTC", reports, extra).replace(
        "box: { type: outbox, path: outbox }",
        &format!("hook: {{ type: webhook, url_env: {url_env}, allow_insecure: true }}"),
    )
}

fn opts(dir: &Path) -> Options {
    Options {
        config: dir.join("goalpost.yaml"),
        now: false,
        once: false,
        listen: None,
    }
}

/// The outbox files of `report`, sorted (one `.eml` per delivered period).
fn sent(dir: &Path, report: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("outbox").join(report))
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn fired(d: &Daemon, report: &str, zone: chrono_tz::Tz) -> Vec<String> {
    d.fired()
        .filter(|(_, r, _)| r == report)
        .map(|(_, _, at)| at.with_timezone(&zone).to_rfc3339())
        .collect()
}

async fn local<F: std::future::Future>(f: F) -> F::Output {
    LocalSet::new().run_until(f).await
}

#[tokio::test]
async fn across_the_berlin_fall_back_a_daily_report_fires_once_a_day_for_the_day_before() {
    let ws = workspace(
        &config(
            "Europe/Berlin",
            "  daily: { period: yesterday, goals: [leads], channels: [box], schedule: \"30 2 * * *\" }\n",
            "",
        ),
        &[("data.csv", DATA)],
    );
    local(async {
        let clock = Clock::manual(t("2026-10-24T12:00:00+02:00"));
        let mut d = Daemon::start(opts(ws.path()), clock.clone()).await.unwrap();
        d.start_up().await;
        d.run_until(t("2026-10-27T12:00:00+01:00")).await;
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            fired(&d, "daily", berlin),
            [
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00"
            ]
        );
    })
    .await;
    assert_eq!(
        sent(ws.path(), "daily"),
        ["2026-10-24-g0.eml", "2026-10-25-g0.eml", "2026-10-26-g0.eml"]
    );
}

#[tokio::test]
async fn in_new_york_spring_forward_a_report_due_in_the_gap_fires_once_right_after_it() {
    let ws = workspace(
        &config(
            "America/New_York",
            "  early: { period: yesterday, goals: [leads], channels: [box], schedule: \"30 2 * * *\" }\n",
            "",
        ),
        &[("data.csv", DATA)],
    );
    local(async {
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-03-07T12:00:00-05:00")))
            .await
            .unwrap();
        d.start_up().await;
        d.run_until(t("2026-03-09T12:00:00-04:00")).await;
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            fired(&d, "early", ny),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]
        );
    })
    .await;
}

#[tokio::test]
async fn on_lord_howe_island_half_hour_shifts_fire_once_after_the_gap_and_once_in_the_repeat() {
    let ws = workspace(
        &config(
            "Australia/Lord_Howe",
            "  gap: { period: yesterday, goals: [leads], channels: [box], schedule: \"15 2 * * *\" }\n  \
             twice: { period: yesterday, goals: [leads], channels: [box], schedule: \"45 1 * * *\" }\n",
            "",
        ),
        &[("data.csv", DATA)],
    );
    let zone: chrono_tz::Tz = "Australia/Lord_Howe".parse().unwrap();
    local(async {
        // Fall back on 2026-04-05: 02:00 (+11:00) becomes 01:30 (+10:30); 01:45 happens twice.
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-04-04T12:00:00+11:00")))
            .await
            .unwrap();
        d.start_up().await;
        d.run_until(t("2026-04-06T12:00:00+10:30")).await;
        assert_eq!(
            fired(&d, "twice", zone),
            ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]
        );
    })
    .await;
    // A store of its own: the first one's marks would make up the months in between.
    let ws = workspace(
        &std::fs::read_to_string(ws.path().join("goalpost.yaml")).unwrap(),
        &[("data.csv", DATA)],
    );
    local(async {
        // Spring forward on 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11:00); 02:15 never is.
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-10-03T00:00:00+10:30")))
            .await
            .unwrap();
        d.start_up().await;
        d.run_until(t("2026-10-05T12:00:00+11:00")).await;
        assert_eq!(
            fired(&d, "gap", zone),
            [
                "2026-10-03T02:15:00+10:30",
                "2026-10-04T02:30:00+11:00",
                "2026-10-05T02:15:00+11:00"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn in_riyadh_without_daylight_saving_a_daily_report_fires_at_its_hour_every_day() {
    let ws = workspace(
        &config(
            "Asia/Riyadh",
            "  daily: { period: yesterday, goals: [leads], channels: [box], schedule: \"0 9 * * *\" }\n",
            "",
        ),
        &[("data.csv", DATA)],
    );
    local(async {
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-10-24T12:00:00+03:00")))
            .await
            .unwrap();
        d.start_up().await;
        d.run_until(t("2026-10-27T12:00:00+03:00")).await;
        let zone: chrono_tz::Tz = "Asia/Riyadh".parse().unwrap();
        assert_eq!(
            fired(&d, "daily", zone),
            [
                "2026-10-25T09:00:00+03:00",
                "2026-10-26T09:00:00+03:00",
                "2026-10-27T09:00:00+03:00"
            ]
        );
    })
    .await;
    assert_eq!(
        sent(ws.path(), "daily"),
        ["2026-10-24-g0.eml", "2026-10-25-g0.eml", "2026-10-26-g0.eml"]
    );
}

#[tokio::test]
async fn after_a_gap_of_several_periods_each_missed_period_runs_once_within_the_window() {
    let ws = workspace(
        &config(
            "UTC",
            "  daily: { period: yesterday, goals: [leads], channels: [box], schedule: \"0 6 * * *\" }\n",
            "daemon: { catch_up: 3d }",
        ),
        &[("data.csv", DATA)],
    );
    local(async {
        // First start on 2026-10-20: the report is known from then on.
        let clock = Clock::manual(t("2026-10-20T12:00:00Z"));
        let d = Daemon::start(opts(ws.path()), clock.clone()).await.unwrap();
        let mut d = d;
        d.start_up().await;
        d.run_until(t("2026-10-21T12:00:00Z")).await;
        drop(d);
        // Down for five days; back on the 26th at noon. The window is 3 days.
        let clock = Clock::manual(t("2026-10-26T12:00:00Z"));
        let mut d = Daemon::start(opts(ws.path()), clock).await.unwrap();
        d.start_up().await;
        d.wait_idle().await;
        let utc: chrono_tz::Tz = "UTC".parse().unwrap();
        assert_eq!(
            fired(&d, "daily", utc),
            [
                "2026-10-24T06:00:00+00:00",
                "2026-10-25T06:00:00+00:00",
                "2026-10-26T06:00:00+00:00"
            ]
        );
        // A second start the same day makes up nothing: the store knows what ran.
        drop(d);
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-10-26T13:00:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        d.wait_idle().await;
        assert_eq!(d.fired().count(), 0);
    })
    .await;
    // The 21st ran live; the 22nd and 23rd are older than the window: logged, not sent.
    assert_eq!(
        sent(ws.path(), "daily"),
        [
            "2026-10-20-g0.eml",
            "2026-10-23-g0.eml",
            "2026-10-24-g0.eml",
            "2026-10-25-g0.eml"
        ]
    );
}

#[tokio::test]
async fn a_report_whose_run_is_still_going_is_not_started_again() {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .mount(&slow)
        .await;
    let ws = workspace(
        &hook_config(
            "DAEMON_TEST_HOOK_URL",
            "",
            "  minutely: { period: today, goals: [leads], channels: [hook], schedule: \"*/1 * * * * *\" }\n",
        ),
        &[("data.csv", DATA)],
    );
    std::env::set_var("DAEMON_TEST_HOOK_URL", slow.uri());
    local(async {
        let clock = Clock::manual(t("2026-10-25T10:00:00Z"));
        let mut d = Daemon::start(opts(ws.path()), clock.clone()).await.unwrap();
        d.start_up().await;
        clock.set(t("2026-10-25T10:00:01Z"));
        d.tick();
        tokio::time::sleep(Duration::from_millis(200)).await;
        clock.set(t("2026-10-25T10:00:02Z"));
        d.tick();
        d.wait_idle().await;
        assert_eq!(
            d.fired().count(),
            1,
            "the second fire started while the first was sending"
        );
    })
    .await;
    assert_eq!(slow.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_reload_adds_and_removes_reports_and_a_bad_config_keeps_the_old_one() {
    let one = "  a: { period: yesterday, goals: [leads], channels: [box], schedule: \"0 6 * * *\" }\n";
    let ws = workspace(&config("UTC", one, ""), &[("data.csv", DATA)]);
    let file = ws.path().join("goalpost.yaml");
    local(async {
        let clock = Clock::manual(t("2026-10-24T12:00:00Z"));
        let mut d = Daemon::start(opts(ws.path()), clock.clone()).await.unwrap();
        d.start_up().await;
        assert_eq!(d.scheduled(), 1);
        // A broken edit: the running config stays.
        std::fs::write(
            &file,
            config("UTC", "  a: { goals: [nope], schedule: \"0 6 * * *\" }\n", ""),
        )
        .unwrap();
        d.reload_now(Reload::All).await;
        assert_eq!(d.scheduled(), 1);
        // A good edit: `a` goes, `b` comes.
        let two = "  b: { period: yesterday, goals: [leads], channels: [box], schedule: \"0 7 * * *\" }\n";
        std::fs::write(&file, config("UTC", two, "")).unwrap();
        d.reload_now(Reload::File(file.clone())).await;
        assert_eq!(d.scheduled(), 1);
        d.run_until(t("2026-10-25T12:00:00Z")).await;
        let utc: chrono_tz::Tz = "UTC".parse().unwrap();
        assert!(fired(&d, "a", utc).is_empty());
        assert_eq!(fired(&d, "b", utc), ["2026-10-25T07:00:00+00:00"]);
    })
    .await;
    assert_eq!(sent(ws.path(), "b"), ["2026-10-24-g0.eml"]);
    assert!(sent(ws.path(), "a").is_empty());
}

#[tokio::test]
async fn a_folder_of_configs_runs_each_client_and_a_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in [("acme", "weekly"), ("globex", "daily")] {
        std::fs::write(dir.path().join(format!("{name}.csv")), DATA).unwrap();
        let yaml = config(
            "UTC",
            &format!("  {report}: {{ period: yesterday, goals: [leads], channels: [box], schedule: \"0 6 * * *\" }}\n"),
            "",
        )
        .replace("store: goalpost.db", &format!("store: {name}.db"))
        .replace("path: data.csv", &format!("path: {name}.csv"))
        .replace("path: outbox", &format!("path: outbox-{name}"));
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
    }
    std::fs::write(dir.path().join("broken.yaml"), "reports: [\n").unwrap();
    local(async {
        let o = Options {
            config: dir.path().to_path_buf(),
            ..opts(dir.path())
        };
        let mut d = Daemon::start(o, Clock::manual(t("2026-10-24T12:00:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        assert_eq!(d.scheduled(), 2);
        d.run_until(t("2026-10-25T12:00:00Z")).await;
    })
    .await;
    assert!(dir.path().join("outbox-acme/weekly/2026-10-24-g0.eml").exists());
    assert!(dir.path().join("outbox-globex/daily/2026-10-24-g0.eml").exists());
}

#[tokio::test]
async fn an_alert_sends_only_when_a_goal_gets_worse_and_then_stays_quiet() {
    // Leads per day against a goal of at least 3 a day: fine, fine, short, short, fine, fine, short.
    let data = "date,leads\n2026-10-25,5\n2026-10-26,5\n2026-10-27,0\n2026-10-28,0\n2026-10-29,5\n2026-10-30,0\n";
    let yaml = config(
        "UTC",
        "  watch: { period: yesterday, goals: [leads], channels: [box], schedule: \"0 */6 * * *\", alert: true }\n",
        "",
    )
    .replace("target: { at_least: 3 }", "period: day, target: { at_least: 3 }");
    let ws = workspace(&yaml, &[("data.csv", data)]);
    local(async {
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-10-26T01:00:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        // Evaluated 4 times a day through the 31st: yesterday is short when judged on the
        // 28th and 29th, fine on the 30th (it recovered), short again on the 31st.
        d.run_until(t("2026-10-31T01:00:00Z")).await;
        assert_eq!(d.fired().count(), 20);
    })
    .await;
    let alerts = sent(ws.path(), "watch");
    assert_eq!(
        alerts,
        ["alert-20261028T000000Z-g0.eml", "alert-20261031T000000Z-g0.eml"],
        "an alert when it got worse, none while it stayed bad, another after it recovered and fell again"
    );
}

#[tokio::test]
async fn on_shutdown_a_delivery_that_finishes_within_the_grace_period_is_sent_and_recorded() {
    let slowish = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(700)))
        .mount(&slowish)
        .await;
    let ws = workspace(
        &hook_config(
            "DAEMON_TEST_GRACE_URL",
            "daemon: { shutdown_grace: 5s }",
            "  daily: { period: yesterday, goals: [leads], channels: [hook], schedule: \"0 6 * * *\" }\n",
        ),
        &[("data.csv", DATA)],
    );
    std::env::set_var("DAEMON_TEST_GRACE_URL", slowish.uri());
    let o = Options {
        now: true,
        ..opts(ws.path())
    };
    local(async {
        let mut d = Daemon::start(o, Clock::manual(t("2026-10-26T12:00:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let started = std::time::Instant::now();
        // The stop comes while the webhook is still answering.
        d.serve(rx, tokio::time::sleep(Duration::from_millis(200))).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500),
            "it waited for the delivery: {took:?}"
        );
        assert!(took < Duration::from_secs(4), "and not for the whole grace: {took:?}");
    })
    .await;
    assert_eq!(slowish.received_requests().await.unwrap().len(), 1);
    let rows = crate::delivery::history(ws.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "sent", "{rows:?}");
}

#[tokio::test]
async fn on_shutdown_a_delivery_still_in_flight_after_the_grace_period_is_left_pending_and_sent_on_the_next_start() {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&slow)
        .await;
    let ws = workspace(
        &hook_config(
            "DAEMON_TEST_STOP_URL",
            "daemon: { shutdown_grace: 300ms }",
            "  daily: { period: yesterday, goals: [leads], channels: [hook], schedule: \"0 6 * * *\" }\n",
        ),
        &[("data.csv", DATA)],
    );
    std::env::set_var("DAEMON_TEST_STOP_URL", slow.uri());
    let o = Options {
        now: true,
        ..opts(ws.path())
    };
    local(async {
        let mut d = Daemon::start(o.clone(), Clock::manual(t("2026-10-26T12:00:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let started = std::time::Instant::now();
        d.serve(rx, tokio::time::sleep(Duration::from_millis(300))).await;
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    })
    .await;
    let pending: Vec<serde_json::Value> = crate::delivery::history(ws.path())
        .into_iter()
        .filter(|d| d["status"] == "pending")
        .collect();
    assert_eq!(
        pending.len(),
        1,
        "the interrupted delivery is pending, not lost or half-leased: {:?}",
        crate::delivery::history(ws.path())
    );

    // The next start sends it (to a webhook that now answers at once), and only it.
    let fast = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&fast)
        .await;
    std::env::set_var("DAEMON_TEST_STOP_URL", fast.uri());
    local(async {
        let mut d = Daemon::start(opts(ws.path()), Clock::manual(t("2026-10-26T12:01:00Z")))
            .await
            .unwrap();
        d.start_up().await;
        d.wait_idle().await;
    })
    .await;
    assert_eq!(fast.received_requests().await.unwrap().len(), 1);
    let rows = crate::delivery::history(ws.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "sent");
}

#[tokio::test]
async fn a_fire_skipped_because_the_previous_run_was_still_going_is_made_up_by_the_next_fire() {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .mount(&slow)
        .await;
    // Daily at 06:00 for the day before: the 25th's fire is skipped while the 24th's run is
    // still sending; the 26th's fire sends the 25th's period first, then its own.
    let ws = workspace(
        &hook_config(
            "DAEMON_TEST_BACKLOG_URL",
            "",
            "  daily: { period: yesterday, goals: [leads], channels: [hook], schedule: \"0 6 * * *\" }\n",
        ),
        &[("data.csv", DATA)],
    );
    std::env::set_var("DAEMON_TEST_BACKLOG_URL", slow.uri());
    local(async {
        let clock = Clock::manual(t("2026-10-24T12:00:00Z"));
        let mut d = Daemon::start(opts(ws.path()), clock.clone()).await.unwrap();
        d.start_up().await;
        clock.set(t("2026-10-25T06:00:00Z"));
        d.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
        clock.set(t("2026-10-26T06:00:00Z"));
        d.tick();
        d.wait_idle().await;
        clock.set(t("2026-10-27T06:00:00Z"));
        d.tick();
        d.wait_idle().await;
    })
    .await;
    let periods: Vec<String> = crate::delivery::history(ws.path())
        .iter()
        .map(|r| r["period"].as_str().unwrap().to_string())
        .collect();
    let mut periods = periods;
    periods.sort();
    assert_eq!(periods, ["2026-10-24", "2026-10-25", "2026-10-26"]);
}
