//! The daemon's own rows: schedule marks (for catch-up), alert states (for "only when it
//! gets worse"), and the latest rendered report (for `/reports/{id}`).

use super::{err, on_pool, parse_time, timestamp, Db, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One alert goal's memory between evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertState {
    /// 0 fine, 1 at risk, 2 off track: the last judged status.
    pub last_severity: i64,
    /// The severity last alerted about, and when; `None` = armed.
    pub alerted: Option<(i64, DateTime<Utc>)>,
}

impl Store {
    /// The last fire time handled for `report`.
    pub async fn schedule_mark(&self, report: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = on_pool!(self, pool => sqlx::query_scalar("SELECT fired_at FROM schedule_marks WHERE report = $1")
            .bind(report)
            .fetch_optional(pool)
            .await
            .map_err(err("read schedule mark"))?);
        Ok(t.as_deref().and_then(parse_time))
    }

    /// Records that `report`'s fire at `at` was handled (never moves the mark back).
    pub async fn set_schedule_mark(&self, report: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.set_schedule_marks(&[report.to_string()], at).await
    }

    /// Every report's last handled fire time, in one read.
    pub async fn schedule_marks(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query("SELECT report, fired_at FROM schedule_marks")
                .fetch_all(pool)
                .await
                .map_err(err("read schedule marks"))?;
            Ok(rows
                .iter()
                .filter_map(|r| Some((r.get::<String, _>(0), parse_time(&r.get::<String, _>(1))?)))
                .collect())
        })
    }

    /// Marks `reports` as handled up to `at`, in one transaction (first start of many
    /// reports); a mark never moves back, whichever replica writes last.
    pub async fn set_schedule_marks(&self, reports: &[String], at: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = self.sql(
            "INSERT INTO schedule_marks (report, fired_at) VALUES ($1, $2) \
             ON CONFLICT (report) DO UPDATE SET fired_at = GREATEST(schedule_marks.fired_at, excluded.fired_at)",
        );
        let begin = self.dialect().begin();
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(err("write schedule marks"))?;
            for r in reports {
                sqlx::query(&sql)
                    .bind(r)
                    .bind(timestamp(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(err("write schedule marks"))?;
            }
            tx.commit().await.map_err(err("write schedule marks"))?;
        });
        Ok(())
    }

    pub async fn alert_states(&self, report: &str) -> Result<Vec<(String, AlertState)>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT goal, last_severity, alerted_severity, alerted_at FROM alert_states WHERE report = $1",
            )
            .bind(report)
            .fetch_all(pool)
            .await
            .map_err(err("read alert states"))?;
            Ok(rows
                .iter()
                .map(|r| {
                    let sev: Option<i64> = r.get(2);
                    let at: Option<String> = r.get(3);
                    let alerted = sev.zip(at.as_deref().and_then(parse_time));
                    (
                        r.get(0),
                        AlertState {
                            last_severity: r.get(1),
                            alerted,
                        },
                    )
                })
                .collect())
        })
    }

    pub async fn set_alert_states(&self, report: &str, states: &[(String, AlertState)]) -> Result<(), StoreError> {
        let begin = self.dialect().begin();
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(err("write alert states"))?;
            for (goal, s) in states {
                sqlx::query(
                    "INSERT INTO alert_states (report, goal, last_severity, alerted_severity, alerted_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (report, goal) DO UPDATE SET last_severity = excluded.last_severity, \
                     alerted_severity = excluded.alerted_severity, alerted_at = excluded.alerted_at",
                )
                .bind(report)
                .bind(goal)
                .bind(s.last_severity)
                .bind(s.alerted.map(|a| a.0))
                .bind(s.alerted.map(|a| timestamp(a.1)))
                .execute(&mut *tx)
                .await
                .map_err(err("write alert states"))?;
            }
            tx.commit().await.map_err(err("write alert states"))?;
        });
        Ok(())
    }

    /// Extends this process's lease on delivery `id`; false if it is no longer ours
    /// (it ran out and another process took the delivery).
    pub async fn renew_lease(&self, id: i64, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET lease_until = $1 WHERE id = $2 AND status = 'sending' AND lease_owner = $3",
        )
        .bind(timestamp(until))
        .bind(id)
        .bind(super::lease_owner())
        .execute(pool)
        .await
        .map_err(err("renew lease"))?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Puts back to pending the deliveries this process had leased (it is stopping before
    /// sending them), so the next start sends them at once instead of after the lease.
    pub async fn release_own_leases(&self) -> Result<u64, StoreError> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, lease_owner = NULL \
             WHERE status = 'sending' AND lease_owner = $1",
        )
        .bind(super::lease_owner())
        .execute(pool)
        .await
        .map_err(err("release leases"))?
        .rows_affected());
        Ok(affected)
    }

    /// The newest recorded content of `report` that has an HTML body (email or outbox).
    pub async fn latest_html(&self, report: &str) -> Result<Option<String>, StoreError> {
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT p.body FROM payloads p JOIN runs r ON r.id = p.run_id \
             WHERE r.report = $1 AND (p.body LIKE '{\"kind\":\"email\"%' OR p.body LIKE '{\"kind\":\"outbox\"%') \
             ORDER BY p.id DESC LIMIT 1",
        )
        .bind(report)
        .fetch_optional(pool)
        .await
        .map_err(err("read latest report")))
    }
}
