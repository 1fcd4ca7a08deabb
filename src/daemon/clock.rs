//! The daemon's notion of now, and sleeping until a wall-clock deadline.
//!
//! In production it is the system clock. Tests use a manual clock they set themselves,
//! and drive the scheduler deadline by deadline (`Daemon::run_until`), so days of
//! schedules, DST changes included, take milliseconds and never depend on timing.
//! Sleeps are cut into hours at most, so a clock step (suspend, NTP) is noticed within the hour.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Clock {
    /// Milliseconds since the epoch, when set by hand.
    manual: Option<Arc<AtomicI64>>,
}

const LONGEST_SLEEP: Duration = Duration::from_secs(3600);

impl Clock {
    pub fn wall() -> Clock {
        Clock { manual: None }
    }

    /// A clock that reads `start` until `set` moves it.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.timestamp_millis()))),
        }
    }

    /// Moves a manual clock (no effect on the wall clock).
    pub fn set(&self, t: DateTime<Utc>) {
        if let Some(m) = &self.manual {
            m.store(t.timestamp_millis(), Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(m) => Utc
                .timestamp_millis_opt(m.load(Ordering::SeqCst))
                .single()
                .expect("a valid time"),
        }
    }

    /// Returns at `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let left = (deadline - self.now()).to_std().unwrap_or_default();
            if left.is_zero() {
                return;
            }
            // A manual clock moves when a test says so: look again soon.
            let nap = if self.manual.is_some() {
                Duration::from_millis(10)
            } else {
                left.min(LONGEST_SLEEP)
            };
            tokio::time::sleep(nap).await;
        }
    }
}
