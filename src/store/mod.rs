//! The delivery log: a row per (report, period) run and per (run, channel, recipient)
//! delivery, in SQLite (the embedded default) or Postgres (several replicas). Versioned
//! migrations (one folder per backend) run at open.
//!
//! Every query is written once, for Postgres (`$1` placeholders, `GREATEST`, row locks);
//! `Dialect::sql` turns it into SQLite's words, and `on_pool!` runs it on either pool.
//!
//! This is what makes sends idempotent: a run is claimed once (a unique key), its
//! deliveries are written — rendered — before anything is sent, and each delivery is
//! marked sent the moment its channel accepts it. A crash resumes the pending ones.

mod daemon;
pub use daemon::AlertState;

use crate::config::StoreLocation;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("the delivery log ({what}): {source}")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: sqlx::Error,
}

fn err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError { what, source }
}

#[derive(Clone)]
pub struct Store {
    db: Db,
    /// When this process last looked for leases of dead local processes (ms since epoch).
    leases_checked_ms: Arc<AtomicI64>,
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is: the body is
/// compiled once per backend, so each runs on its native driver.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// What differs between the two backends' SQL, in one place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A query written for Postgres, in this backend's words. SQLite takes `$N` placeholders
    /// as they are; it calls `GREATEST` `max`, and has no row locks (its writers are
    /// serialised by `BEGIN IMMEDIATE` and single statements instead).
    fn sql(self, pg: &str) -> Cow<'_, str> {
        match self {
            Dialect::Postgres => Cow::Borrowed(pg),
            Dialect::Sqlite => Cow::Owned(
                pg.replace("GREATEST(", "max(")
                    .replace(" FOR UPDATE SKIP LOCKED", "")
                    .replace(" FOR NO KEY UPDATE", ""),
            ),
        }
    }

    /// How a writing transaction starts: SQLite takes its write lock up front, so two
    /// processes cannot both read "not claimed yet" and then both write.
    fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// What claiming a (report, period) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A new run: compute, render and deliver.
    New(i64),
    /// Already run: only its pending deliveries (if any) remain to be sent.
    Existing { run_id: i64, status: String, pending: i64 },
    /// Claimed by another process that is still preparing it (no deliveries recorded yet).
    /// Not done: ask again at `retry_at`, when a silent preparer is presumed dead.
    InProgress { retry_at: DateTime<Utc> },
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub channel: String,
    pub recipient: String,
    pub payload: PayloadRef,
}

/// A delivery's content: its own (small notices), or shared with the run's other
/// deliveries on the same channel (index into the `shared` list of `add_deliveries`).
#[derive(Debug, Clone)]
pub enum PayloadRef {
    Own(String),
    Shared(usize),
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub run_id: i64,
    pub report: String,
    pub period: String,
    pub generation: i64,
    pub channel: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub remote_id: Option<String>,
    /// The delivery's own content (notices); report content is shared, see `payload_id`.
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub payload_id: Option<i64>,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether `owner` (`host:pid`) is a process of this host that no longer runs.
fn is_dead_local_process(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    host == host_name() && owner != lease_owner() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// This process as a lease holder: `host:pid`.
fn lease_owner() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

const DELIVERY_COLUMNS: &str =
    "d.id, d.run_id, r.report, r.period, r.generation, d.channel, d.recipient, d.status, d.attempts, \
     d.last_error, d.next_attempt_at, d.created_at, d.sent_at, d.remote_id, d.payload, d.payload_id";

const DELIVERY_FROM: &str = "deliveries d JOIN runs r ON r.id = d.run_id";

fn delivery_from<R: Row>(row: &R) -> Delivery
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Delivery {
        id: row.get(0),
        run_id: row.get(1),
        report: row.get(2),
        period: row.get(3),
        generation: row.get(4),
        channel: row.get(5),
        recipient: row.get(6),
        status: row.get(7),
        attempts: row.get(8),
        last_error: row.get(9),
        next_attempt_at: row.get(10),
        created_at: row.get(11),
        sent_at: row.get(12),
        remote_id: row.get(13),
        payload: row.get(14),
        payload_id: row.get(15),
    }
}

impl Store {
    /// Opens the delivery log where the config says, and runs its migrations.
    pub async fn open(at: &StoreLocation) -> Result<Store, StoreError> {
        match at {
            StoreLocation::Sqlite(path) => Store::open_sqlite(path).await,
            StoreLocation::Postgres(url) => Store::open_postgres(url).await,
        }
    }

    /// Opens (creating) the SQLite file at `path` and runs the migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(err("open"))?
            .create_if_missing(true)
            // WAL + NORMAL: a commit survives the process being killed (it is in the OS
            // cache), which is the crash that matters here, at a fraction of the cost of FULL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // 512 KB of page cache per connection instead of 2 MB: the log's hot pages are
            // the newest rows, and a daemon serving 10,000 reports must stay small.
            .pragma("cache_size", "-512")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(err("open"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(migration_error)?;
        Ok(Store::with(Db::Sqlite(pool)))
    }

    /// Connects to the Postgres database at `url` (password from `PGPASSWORD` or
    /// `~/.pgpass`) and runs the migrations; replicas starting together are serialised by
    /// the migrator's advisory lock.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(err("open"))?;
        // 8 connections: hundreds of runs due at one second share them; three replicas
        // stay far below Postgres' default of 100.
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(err("connect"))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(migration_error)?;
        Ok(Store::with(Db::Postgres(pool)))
    }

    fn with(db: Db) -> Store {
        Store {
            db,
            leases_checked_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    fn sql<'a>(&self, pg: &'a str) -> Cow<'a, str> {
        self.dialect().sql(pg)
    }

    /// Claims the run of `report` for `period`. With `force`, a new generation is
    /// claimed even when one exists (the re-send is logged as such).
    pub async fn claim_run(
        &self,
        report: &str,
        period: &str,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let latest_sql = self.sql(
            "SELECT id, status, generation, started_at, owner FROM runs WHERE report = $1 AND period = $2 \
             ORDER BY generation DESC LIMIT 1 FOR NO KEY UPDATE",
        );
        let begin = self.dialect().begin();
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(err("claim"))?;
            let latest = sqlx::query(&latest_sql)
                .bind(report)
                .bind(period)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err("claim"))?;
            let generation = match &latest {
                Some(row) if !force => {
                    let run_id: i64 = row.get(0);
                    let status: String = row.get(1);
                    let started: String = row.get(3);
                    let deliveries: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM deliveries WHERE run_id = $1 AND recipient NOT LIKE '%→%'",
                    )
                    .bind(run_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err("claim"))?;
                    // A run that failed before recording its deliveries, or whose process died
                    // before doing so (still `running` after ten minutes), is taken up again.
                    // A run of a dead process of this host is abandoned at once.
                    let owner: Option<String> = row.get(4);
                    let presumed_dead_at = parse_time(&started).map(|t| t + RUN_ABANDONED_AFTER);
                    let abandoned = status == "running"
                        && (presumed_dead_at.is_some_and(|t| now > t)
                            || owner.as_deref().is_some_and(is_dead_local_process));
                    if deliveries == 0 && (status == "failed" || abandoned) {
                        sqlx::query(
                            "UPDATE runs SET status = 'running', started_at = $1, note = 'taken up again', owner = $2 WHERE id = $3",
                        )
                        .bind(timestamp(now))
                        .bind(lease_owner())
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(err("claim"))?;
                        tx.commit().await.map_err(err("claim"))?;
                        return Ok(Claim::New(run_id));
                    }
                    let pending: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM deliveries WHERE run_id = $1 AND status IN ('pending', 'sending')",
                    )
                    .bind(run_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err("claim"))?;
                    tx.commit().await.map_err(err("claim"))?;
                    // Being prepared by another process (it has not recorded its deliveries
                    // yet): not done, so the caller must not count it as sent.
                    if status == "running" && deliveries == 0 {
                        return Ok(Claim::InProgress {
                            retry_at: presumed_dead_at.unwrap_or(now),
                        });
                    }
                    return Ok(Claim::Existing { run_id, status, pending });
                }
                Some(row) => row.get::<i64, _>(2) + 1,
                None => 0,
            };
            let note = force.then_some("forced re-send (--force)");
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO runs (report, period, generation, status, note, started_at, owner) \
                 VALUES ($1, $2, $3, 'running', $4, $5, $6) \
                 ON CONFLICT (report, period, generation) DO NOTHING RETURNING id",
            )
            .bind(report)
            .bind(period)
            .bind(generation)
            .bind(note)
            .bind(timestamp(now))
            .bind(lease_owner())
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("claim"))?;
            tx.commit().await.map_err(err("claim"))?;
            match id {
                Some(id) => Ok(Claim::New(id)),
                // Another process claimed it between our read and insert: theirs to prepare.
                None => Ok(Claim::InProgress {
                    retry_at: now + RUN_ABANDONED_AFTER,
                }),
            }
        })
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        status: &str,
        note: Option<&str>,
        fingerprint: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE runs SET status = $1, note = COALESCE($2, note), fingerprint = COALESCE($3, fingerprint), \
                 finished_at = $4 WHERE id = $5",
            )
            .bind(status)
            .bind(note)
            .bind(fingerprint)
            .bind(timestamp(now))
            .bind(run_id)
            .execute(pool)
            .await
            .map_err(err("finish run"))?;
        });
        Ok(())
    }

    /// Records every delivery of a run, pending, in one transaction (before any is sent).
    /// `shared` are (channel, body) contents that deliveries point to by index.
    pub async fn add_deliveries(
        &self,
        run_id: i64,
        shared: &[(String, String)],
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_deliveries(run_id, shared, deliveries, None, now).await
    }

    /// Records a run's deliveries and marks it done with its fingerprint, in one
    /// transaction: a preparer killed between the two cannot leave a sent run `running`.
    pub async fn record_run(
        &self,
        run_id: i64,
        shared: &[(String, String)],
        deliveries: &[NewDelivery],
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_deliveries(run_id, shared, deliveries, Some(fingerprint), now)
            .await
    }

    async fn record_deliveries(
        &self,
        run_id: i64,
        shared: &[(String, String)],
        deliveries: &[NewDelivery],
        done_with: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let begin = self.dialect().begin();
        let now = timestamp(now);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(err("add deliveries"))?;
            let mut ids = Vec::with_capacity(shared.len());
            for (channel, body) in shared {
                let id: i64 =
                    sqlx::query_scalar("INSERT INTO payloads (run_id, channel, body) VALUES ($1, $2, $3) RETURNING id")
                        .bind(run_id)
                        .bind(channel)
                        .bind(body)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(err("add deliveries"))?;
                ids.push(id);
            }
            for d in deliveries {
                let (own, shared_id) = match &d.payload {
                    PayloadRef::Own(body) => (body.as_str(), None),
                    PayloadRef::Shared(i) => ("", Some(ids[*i])),
                };
                sqlx::query(
                    "INSERT INTO deliveries (run_id, channel, recipient, status, next_attempt_at, created_at, payload, payload_id) \
                     VALUES ($1, $2, $3, 'pending', $4, $4, $5, $6) ON CONFLICT (run_id, channel, recipient) DO NOTHING",
                )
                .bind(run_id)
                .bind(&d.channel)
                .bind(&d.recipient)
                .bind(&now)
                .bind(own)
                .bind(shared_id)
                .execute(&mut *tx)
                .await
                .map_err(err("add deliveries"))?;
            }
            if let Some(fp) = done_with {
                sqlx::query("UPDATE runs SET status = 'done', fingerprint = $1, finished_at = $2 WHERE id = $3")
                    .bind(fp)
                    .bind(&now)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("add deliveries"))?;
            }
            tx.commit().await.map_err(err("add deliveries"))?;
        });
        Ok(())
    }

    /// Deliveries to send (of one run, or all), soonest first: pending ones, and ones
    /// whose sender's lease ran out (it died mid-send).
    pub async fn pending(&self, run_id: Option<i64>) -> Result<Vec<Delivery>, StoreError> {
        let now = timestamp(Utc::now());
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} \
             WHERE (d.status = 'pending' OR (d.status = 'sending' AND d.lease_until < $1)) {} \
             ORDER BY d.next_attempt_at, d.id",
            of_run(run_id, "d.run_id = $2")
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query(&sql).bind(&now);
            if let Some(r) = run_id {
                q = q.bind(r);
            }
            let rows = q
                .fetch_all(pool)
                .await
                .map_err(err("read pending"))?;
            Ok(rows.iter().map(delivery_from).collect())
        })
    }

    /// Takes up to `limit` due deliveries (of one run, or all) for sending until `until`,
    /// in one statement, so no other process can take the same ones; returns them. On
    /// Postgres the rows are locked with SKIP LOCKED: replicas leasing at the same moment
    /// take different rows instead of waiting for each other.
    pub async fn lease_due(
        &self,
        run_id: Option<i64>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.release_dead_local_leases().await?;
        let now = timestamp(now);
        let lease_sql = format!(
            "UPDATE deliveries SET status = 'sending', lease_until = $1, lease_owner = $2 WHERE id IN ( \
               SELECT id FROM deliveries \
               WHERE (status = 'pending' OR (status = 'sending' AND lease_until < $3)) AND next_attempt_at <= $3 {} \
               ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
            of_run(run_id, "run_id = $5")
        );
        let lease_sql = self.sql(&lease_sql);
        on_pool!(self, pool => {
            let mut q = sqlx::query_scalar(&lease_sql)
                .bind(timestamp(until))
                .bind(lease_owner())
                .bind(&now)
                .bind(limit);
            if let Some(r) = run_id {
                q = q.bind(r);
            }
            let ids: Vec<i64> = q
                .fetch_all(pool)
                .await
                .map_err(err("lease"))?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.id IN ({list}) ORDER BY d.next_attempt_at, d.id"
            );
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(err("lease"))?;
            Ok(rows.iter().map(delivery_from).collect())
        })
    }

    /// Ends the leases held by processes of this host that no longer run, so their
    /// deliveries are taken up at once (other hosts' leases end with time).
    async fn release_dead_local_leases(&self) -> Result<(), StoreError> {
        // At most once a second per process: hundreds of runs lease at the same moment,
        // and a holder dies rarely.
        let now_ms = Utc::now().timestamp_millis();
        let last = self.leases_checked_ms.load(Ordering::Relaxed);
        if now_ms - last < 1000
            || self
                .leases_checked_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let host = host_name();
        // Rows another replica is releasing (or leasing) right now are skipped, not waited
        // for: two releasers locking the same rows in different orders would deadlock.
        let release = self.sql(
            "UPDATE deliveries SET lease_until = '0000-01-01T00:00:00.000Z' WHERE id IN ( \
               SELECT id FROM deliveries WHERE status = 'sending' AND lease_owner = $1 FOR UPDATE SKIP LOCKED)",
        );
        on_pool!(self, pool => {
            let owners: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT lease_owner FROM deliveries WHERE status = 'sending' AND lease_owner LIKE $1",
            )
            .bind(format!("{host}:%"))
            .fetch_all(pool)
            .await
            .map_err(err("leases"))?;
            for owner in owners {
                if is_dead_local_process(&owner) {
                    sqlx::query(&release)
                    .bind(&owner)
                    .execute(pool)
                    .await
                    .map_err(err("leases"))?;
                }
            }
        });
        Ok(())
    }

    /// When the next delivery (of one run, or all) becomes due: its retry time, or the end
    /// of a lease held by a process that may have died. `None` when nothing is left.
    pub async fn next_due(&self, run_id: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
        // A lease of a dead process of this host is due now, not when it runs out: a
        // replica started in place of a killed one sends what that one held at once.
        self.release_dead_local_leases().await?;
        let sql = format!(
            "SELECT min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE GREATEST(next_attempt_at, lease_until) END) \
             FROM deliveries WHERE status IN ('pending', 'sending') {}",
            of_run(run_id, "run_id = $1")
        );
        let sql = self.sql(&sql);
        let t: Option<String> = on_pool!(self, pool => {
            let mut q = sqlx::query_scalar(&sql);
            if let Some(r) = run_id {
                q = q.bind(r);
            }
            q.fetch_one(pool).await.map_err(err("next due"))?
        });
        Ok(t.as_deref().and_then(parse_time))
    }

    /// A shared content body (see `PayloadRef::Shared`).
    pub async fn payload(&self, id: i64) -> Result<String, StoreError> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT body FROM payloads WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .map_err(err("read payload")))
    }

    pub async fn mark_sent(&self, id: i64, remote_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $1, remote_id = $2, last_error = NULL \
             WHERE id = $3",
        )
        .bind(timestamp(now))
        .bind(remote_id)
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
        .map_err(err("mark sent")))
    }

    pub async fn mark_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(timestamp(next))
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
        .map_err(err("mark retry")))
    }

    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
        .map_err(err("mark failed")))
    }

    /// Puts failed deliveries (one, or all) back to pending, due now; returns how many.
    pub async fn requeue_failed(&self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1 WHERE status = 'failed' AND ($2 IS NULL OR id = $2)",
        )
        .bind(timestamp(now))
        .bind(id)
        .execute(pool)
        .await
        .map_err(err("requeue"))?
        .rows_affected());
        Ok(affected)
    }

    /// Delivery history, newest first, optionally for one report and/or one status.
    pub async fn history(
        &self,
        report: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} \
             WHERE ($1 IS NULL OR r.report = $1) AND ($2 IS NULL OR d.status = $2) ORDER BY d.id DESC LIMIT $3"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(report)
                .bind(status)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(err("history"))?;
            Ok(rows.iter().map(delivery_from).collect())
        })
    }

    /// The fingerprint of the last run of `report` that sent something (for `send_if: changed`).
    pub async fn last_sent_fingerprint(&self, report: &str, before_run: i64) -> Result<Option<String>, StoreError> {
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT r.fingerprint FROM runs r WHERE r.report = $1 AND r.id < $2 AND r.status = 'done' \
             AND EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id AND d.status = 'sent') ORDER BY r.id DESC LIMIT 1",
        )
        .bind(report)
        .bind(before_run)
        .fetch_optional(pool)
        .await
        .map(Option::flatten)
        .map_err(err("read fingerprint")))
    }
}

/// How long a run may stay `running` without recorded deliveries before another process
/// takes it over (its preparer is presumed dead; one on this host is known dead at once).
pub const RUN_ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// A time as the log stores it (RFC 3339, UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// The clause that keeps one run's rows (`clause` binds the run id, which the caller binds
/// last), or none for all runs: a separate query text, so each one uses its own index.
fn of_run(run_id: Option<i64>, clause: &str) -> String {
    run_id.map_or(String::new(), |_| format!("AND {clause}"))
}

fn migration_error(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError {
        what: "migrations",
        source: sqlx::Error::Migrate(Box::new(e)),
    }
}
