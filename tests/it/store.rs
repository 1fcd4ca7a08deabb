//! The delivery log's promises, each checked on both backends: SQLite (the embedded
//! default) and a real Postgres (replicas). Several handles on one log stand for several
//! processes: claims and leases must hold across them, not just within one pool.

use crate::helpers::fresh_postgres_database;
use chrono::{Duration, Utc};
use goalpost::config::StoreLocation;
use goalpost::store::{AlertState, Claim, NewDelivery, PayloadRef, Store};
use std::collections::HashSet;

/// One log to test against, and how to open more handles on it.
struct Log {
    name: &'static str,
    at: StoreLocation,
    _dir: Option<tempfile::TempDir>,
}

impl Log {
    async fn open(&self) -> Store {
        Store::open(&self.at)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// Runs one statement on the log directly (what another process would leave behind).
    async fn exec(&self, sql: &str) {
        use sqlx::Connection;
        match &self.at {
            StoreLocation::Sqlite(p) => {
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", p.display()))
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            StoreLocation::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
        }
    }
}

/// A fresh SQLite log and a fresh Postgres log.
async fn logs() -> Vec<Log> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        Log {
            name: "sqlite",
            at: StoreLocation::Sqlite(dir.path().join("log.db")),
            _dir: Some(dir),
        },
        Log {
            name: "postgres",
            at: StoreLocation::Postgres(fresh_postgres_database().await),
            _dir: None,
        },
    ]
}

fn email_to(n: usize) -> Vec<NewDelivery> {
    (0..n)
        .map(|i| NewDelivery {
            channel: "email".into(),
            recipient: format!("r{i}@example.com"),
            payload: PayloadRef::Shared(0),
        })
        .collect()
}

/// A new run of report `r` with `n` email deliveries recorded, pending.
async fn recorded_run(store: &Store, n: usize) -> i64 {
    let now = Utc::now();
    let Claim::New(run) = store.claim_run("r", "2026-10", false, now).await.unwrap() else {
        panic!("a new run")
    };
    store.add_deliveries(run, &shared(), &email_to(n), now).await.unwrap();
    run
}

fn shared() -> Vec<(String, String)> {
    vec![("email".into(), "{\"kind\":\"email\"}".into())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_claimed_once_and_a_forced_resend_is_a_new_logged_generation() {
    for log in logs().await {
        let store = log.open().await;
        let now = Utc::now();
        let Claim::New(run) = store.claim_run("monthly", "2026-10", false, now).await.unwrap() else {
            panic!("{}: the first claim is new", log.name)
        };
        // Claimed but not recorded yet: another process must not count it as done.
        assert!(
            matches!(
                store.claim_run("monthly", "2026-10", false, now).await.unwrap(),
                Claim::InProgress { .. }
            ),
            "{}",
            log.name
        );
        store.add_deliveries(run, &shared(), &email_to(3), now).await.unwrap();
        store.finish_run(run, "done", None, Some("fp"), now).await.unwrap();
        assert_eq!(
            store.claim_run("monthly", "2026-10", false, now).await.unwrap(),
            Claim::Existing {
                run_id: run,
                status: "done".into(),
                pending: 3
            },
            "{}",
            log.name
        );
        let Claim::New(forced) = store.claim_run("monthly", "2026-10", true, now).await.unwrap() else {
            panic!("{}: --force claims a new generation", log.name)
        };
        assert_ne!(forced, run, "{}", log.name);
        store
            .add_deliveries(forced, &shared(), &email_to(1), now)
            .await
            .unwrap();
        let rows = store.history(Some("monthly"), None, 10).await.unwrap();
        let generations: Vec<i64> = rows.iter().map(|d| d.generation).collect();
        assert_eq!(generations, vec![1, 0, 0, 0], "{}: newest first", log.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_handles_claiming_the_same_run_at_once_get_exactly_one_new_claim() {
    for log in logs().await {
        let mut handles = Vec::new();
        for _ in 0..16 {
            handles.push(log.open().await);
        }
        let now = Utc::now();
        let claims =
            futures::future::join_all(handles.iter().map(|s| s.claim_run("weekly", "2026-W48", false, now))).await;
        let new = claims
            .iter()
            .filter(|c| matches!(c.as_ref().unwrap(), Claim::New(_)))
            .count();
        assert_eq!(new, 1, "{}: {claims:?}", log.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_leasing_at_the_same_time_never_take_the_same_delivery() {
    for log in logs().await {
        let store = log.open().await;
        recorded_run(&store, 300).await;
        let mut senders = Vec::new();
        for _ in 0..4 {
            let s = log.open().await;
            senders.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let t = Utc::now();
                    let batch = s.lease_due(None, t, t + Duration::minutes(5), 7).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    for d in batch {
                        assert_eq!(d.status, "sending");
                        s.mark_sent(d.id, "250 OK", Utc::now()).await.unwrap();
                        mine.push(d.id);
                    }
                }
            }));
        }
        let mut all = Vec::new();
        for s in senders {
            all.extend(s.await.unwrap());
        }
        let unique: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(all.len(), 300, "{}: every delivery leased once", log.name);
        assert_eq!(unique.len(), 300, "{}", log.name);
        let sent = store.history(None, Some("sent"), 1000).await.unwrap();
        assert_eq!(sent.len(), 300, "{}", log.name);
        assert!(sent.iter().all(|d| d.attempts == 1), "{}", log.name);
        assert_eq!(store.next_due(None).await.unwrap(), None, "{}", log.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_dead_process_of_this_host_is_taken_over_at_once() {
    for log in logs().await {
        let store = log.open().await;
        let now = Utc::now();
        recorded_run(&store, 2).await;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        // A process that no longer runs held both deliveries for another hour.
        let until = goalpost::store::timestamp(now + Duration::hours(1));
        log.exec(&format!(
            "UPDATE deliveries SET status = 'sending', lease_until = '{until}', lease_owner = '{}:4194999'",
            host.trim()
        ))
        .await;
        let got = store
            .lease_due(None, now, now + Duration::minutes(5), 10)
            .await
            .unwrap();
        assert_eq!(got.len(), 2, "{}", log.name);
        // A live holder's lease (ours) is respected.
        assert!(store
            .lease_due(None, now, now + Duration::minutes(5), 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.release_own_leases().await.unwrap(), 2, "{}", log.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_preparer_died_or_failed_is_taken_up_again_by_the_next_claim() {
    for log in logs().await {
        let store = log.open().await;
        let now = Utc::now();
        let Claim::New(run) = store.claim_run("r", "2026-10", false, now).await.unwrap() else {
            panic!()
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        log.exec(&format!("UPDATE runs SET owner = '{}:4194999'", host.trim()))
            .await;
        assert_eq!(
            store.claim_run("r", "2026-10", false, now).await.unwrap(),
            Claim::New(run),
            "{}: a dead local preparer",
            log.name
        );
        store
            .finish_run(run, "failed", Some("template error"), None, now)
            .await
            .unwrap();
        assert_eq!(
            store.claim_run("r", "2026-10", false, now).await.unwrap(),
            Claim::New(run),
            "{}: a failed run",
            log.name
        );
        // A remote preparer silent for longer than the abandon window.
        log.exec("UPDATE runs SET owner = 'elsewhere:1', started_at = '2000-01-01T00:00:00.000Z'")
            .await;
        assert_eq!(
            store.claim_run("r", "2026-10", false, now).await.unwrap(),
            Claim::New(run)
        );
        // A live remote preparer: ask again when it would be presumed dead.
        let started = goalpost::store::timestamp(now);
        log.exec(&format!(
            "UPDATE runs SET owner = 'elsewhere:1', started_at = '{started}'"
        ))
        .await;
        match store.claim_run("r", "2026-10", false, now).await.unwrap() {
            Claim::InProgress { retry_at } => {
                assert_eq!(
                    retry_at.timestamp(),
                    (now + goalpost::store::RUN_ABANDONED_AFTER).timestamp()
                )
            }
            c => panic!("{}: {c:?}", log.name),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_failures_and_requeues_are_recorded_and_due_at_their_time() {
    for log in logs().await {
        let store = log.open().await;
        let now = Utc::now();
        let run = recorded_run(&store, 2).await;
        let leased = store
            .lease_due(None, now, now + Duration::minutes(5), 10)
            .await
            .unwrap();
        let later = now + Duration::seconds(90);
        store.mark_retry(leased[0].id, "421 try later", later).await.unwrap();
        store.mark_failed(leased[1].id, "550 no such user").await.unwrap();
        let due = store.next_due(None).await.unwrap().unwrap();
        assert_eq!(due.timestamp_millis(), later.timestamp_millis(), "{}", log.name);
        assert!(store
            .lease_due(None, now, now + Duration::minutes(5), 10)
            .await
            .unwrap()
            .is_empty());
        let failed = store.history(Some("r"), Some("failed"), 10).await.unwrap();
        assert_eq!(failed.len(), 1, "{}", log.name);
        assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
        assert_eq!(store.requeue_failed(None, now).await.unwrap(), 1, "{}", log.name);
        assert_eq!(store.pending(Some(run)).await.unwrap().len(), 2, "{}", log.name);
        assert_eq!(
            store.payload(leased[0].payload_id.unwrap()).await.unwrap(),
            "{\"kind\":\"email\"}"
        );
        assert_eq!(
            store.latest_html("r").await.unwrap().as_deref(),
            Some("{\"kind\":\"email\"}")
        );
        store.finish_run(run, "done", None, Some("fp-1"), now).await.unwrap();
        store.mark_sent(leased[0].id, "250", now).await.unwrap();
        assert_eq!(
            store.last_sent_fingerprint("r", run + 1).await.unwrap().as_deref(),
            Some("fp-1"),
            "{}",
            log.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_marks_never_move_back_and_alert_states_are_kept() {
    for log in logs().await {
        let store = log.open().await;
        let t = Utc::now();
        store.set_schedule_mark("weekly", t).await.unwrap();
        // A slower replica writing an older fire does not undo the newer mark.
        store.set_schedule_mark("weekly", t - Duration::days(7)).await.unwrap();
        let mark = store.schedule_mark("weekly").await.unwrap().unwrap();
        assert_eq!(mark.timestamp_millis(), t.timestamp_millis(), "{}", log.name);
        store
            .set_schedule_marks(&["a".into(), "weekly".into()], t + Duration::days(7))
            .await
            .unwrap();
        let marks = store.schedule_marks().await.unwrap();
        assert_eq!(marks.len(), 2, "{}", log.name);
        assert_eq!(
            marks["weekly"].timestamp_millis(),
            (t + Duration::days(7)).timestamp_millis()
        );

        let states = vec![
            (
                "leads".to_string(),
                AlertState {
                    last_severity: 2,
                    alerted: Some((
                        2,
                        chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap(),
                    )),
                },
            ),
            (
                "cpl".to_string(),
                AlertState {
                    last_severity: 0,
                    alerted: None,
                },
            ),
        ];
        store.set_alert_states("hourly", &states).await.unwrap();
        let mut back = store.alert_states("hourly").await.unwrap();
        back.sort_by(|a, b| b.0.cmp(&a.0));
        assert_eq!(back, states, "{}", log.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_opening_a_new_postgres_log_together_all_start() {
    let url = fresh_postgres_database().await;
    let at = StoreLocation::Postgres(url);
    let opened = futures::future::join_all((0..3).map(|_| Store::open(&at))).await;
    for o in opened {
        o.expect("each replica runs or skips the migrations");
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_said_in_words() {
    let at = StoreLocation::Postgres("postgres://goalpost@127.0.0.1:1/nowhere".into());
    let e = match Store::open(&at).await {
        Ok(_) => panic!("nothing listens on port 1"),
        Err(e) => format!("{e}"),
    };
    assert!(e.starts_with("the delivery log (connect):"), "{e}");
}
