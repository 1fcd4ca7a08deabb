//! Alerts: a report with `alert: true` is judged on its schedule and sends only the goals
//! whose status got worse, then stays quiet about them until they recover (back on track)
//! or its `rearm` interval passes. Goals too early to judge, or without data, never alert:
//! the seeds warn against "why is engagement down today?" messages.

use crate::goal::Status;
use crate::store::AlertState;
use chrono::{DateTime, Duration, Utc};

/// 0 fine, 1 at risk, 2 off track; `None` for statuses that are not a judgement.
pub fn severity(s: Status) -> Option<i64> {
    match s {
        Status::OnTrack | Status::Met => Some(0),
        Status::AtRisk => Some(1),
        Status::OffTrack => Some(2),
        Status::TooEarly | Status::NoData => None,
    }
}

/// The next state of one goal, and whether it alerts now. A goal seen for the first time
/// is compared with "on track": an alert set up on a goal already off track says so once.
pub fn step(
    prev: Option<AlertState>,
    status: Status,
    now: DateTime<Utc>,
    rearm: Option<Duration>,
) -> (Option<AlertState>, bool) {
    let Some(sev) = severity(status) else {
        return (prev, false);
    };
    let prev = prev.unwrap_or(AlertState {
        last_severity: 0,
        alerted: None,
    });
    let mut next = AlertState {
        last_severity: sev,
        alerted: prev.alerted,
    };
    let fire = match prev.alerted {
        // Recovered: armed again, nothing to say.
        _ if sev == 0 => {
            next.alerted = None;
            false
        }
        None => sev > prev.last_severity,
        // Worse than what was alerted: say so.
        Some((alerted, _)) if sev > alerted => true,
        // Still bad: quiet, unless the rearm interval has passed (a reminder).
        Some((_, at)) => rearm.is_some_and(|r| now - at >= r),
    };
    if fire {
        next.alerted = Some((sev, now));
    }
    (Some(next), fire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    /// Runs statuses hour by hour; returns the hours that alerted.
    fn alerts(statuses: &[Status], rearm: Option<Duration>) -> Vec<usize> {
        let mut state = None;
        let mut out = Vec::new();
        for (h, s) in statuses.iter().enumerate() {
            let (next, fire) = step(state, *s, at(h as i64), rearm);
            state = next;
            if fire {
                out.push(h);
            }
        }
        out
    }

    use Status::*;

    #[test]
    fn a_goal_alerts_once_when_it_gets_worse_and_stays_quiet_while_it_stays_bad() {
        assert_eq!(alerts(&[OnTrack, OnTrack, OffTrack, OffTrack, OffTrack], None), [2]);
    }

    #[test]
    fn a_goal_that_recovers_is_armed_again() {
        assert_eq!(alerts(&[OnTrack, OffTrack, OnTrack, OffTrack], None), [1, 3]);
    }

    #[test]
    fn going_from_at_risk_to_off_track_is_worse_and_alerts_again() {
        assert_eq!(
            alerts(&[OnTrack, AtRisk, AtRisk, OffTrack, AtRisk, OffTrack], None),
            [1, 3]
        );
    }

    #[test]
    fn too_early_and_no_data_never_alert_and_do_not_reset_the_memory() {
        assert_eq!(alerts(&[TooEarly, TooEarly, OffTrack, NoData, OffTrack], None), [2]);
    }

    #[test]
    fn rearm_reminds_after_the_interval_while_the_goal_stays_bad() {
        assert_eq!(
            alerts(
                &[OffTrack, OffTrack, OffTrack, OffTrack, OffTrack],
                Some(Duration::hours(2))
            ),
            [0, 2, 4]
        );
    }
}
