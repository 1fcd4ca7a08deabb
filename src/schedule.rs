//! Cron schedules in a time zone, with Goalpost's daylight-saving rules.
//!
//! The expression is matched against local wall-clock time (croner, on naive date-times:
//! pure field matching, no zone), and each match is then placed on the time line here:
//! - a local time that does not exist (spring forward) fires once, at the first instant
//!   after the gap;
//! - a local time that happens twice (fall back) fires once, at its first occurrence.
//!
//! Doing the zone step ourselves keeps these two rules in one place instead of trusting
//! each cron crate's own (croniter fires twice in the fall-back hour; tokio-cron-scheduler
//! has been reported an hour off after a change).

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A validated cron expression and the zone its wall-clock times are in.
///
/// Only the text is kept: a parsed `croner::Cron` holds a 5 KB table for its year field,
/// which is 50 MB for 10,000 reports. Parsing again takes microseconds, once per fire.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    tz: Tz,
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

impl Schedule {
    /// Parses 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds
    /// first, or an alias (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`). `L`, `#`
    /// and `W` day forms, names (`mon`, `jan`) and steps are accepted. Refuses an
    /// expression that never fires (`0 0 30 2 *`).
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, String> {
        let trimmed = expr.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "`{expr}` has {fields} field(s); a schedule has 5 (minute hour day month weekday) or 6 (seconds first)"
            ));
        }
        parser()
            .parse(trimmed)
            .map_err(|e| format!("`{expr}` is not a cron expression: {e}"))?;
        let s = Schedule {
            expr: trimmed.to_string(),
            tz,
        };
        // Feb 30 and the like parse but never fire: say so now, not by never sending.
        let probe = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date");
        if s.next_after(probe).is_none() {
            return Err(format!("`{expr}` never fires (no such date)"));
        }
        Ok(s)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron: Cron = parser().parse(&self.expr).ok()?;
        self.next_with(&cron, after)
    }

    fn next_with(&self, cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(&self.tz).naive_local();
        // Matches that land at or before `after` (the second pass of a fall-back hour,
        // several gap times folded onto one instant) are stepped over; a handful at most.
        for _ in 0..10_000 {
            let next = cron.find_next_occurrence(&local, false).ok()?;
            let at = place(self.tz, next);
            if at > after {
                return Some(at);
            }
            local = next;
        }
        None
    }

    /// The fire times in `(after, until]`, in order (the expression parsed once).
    pub fn fires_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let cron = parser().parse(&self.expr).ok();
        let first = cron.as_ref().and_then(|c| self.next_with(c, after));
        std::iter::successors(first, move |t| cron.as_ref().and_then(|c| self.next_with(c, *t)))
            .take_while(move |t| *t <= until)
    }
}

/// Where a local wall-clock time falls on the time line under the two rules above.
fn place(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first local minute that exists is where the clock landed, and its
            // instant is the transition itself. Gaps are minutes to a day long (Samoa, 2011).
            let mut probe = local;
            for _ in 0..=(26 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&truncate_to_minute(probe)).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            // No zone has such a gap; fall back to reading the time with the offset before it.
            let before = tz.offset_from_utc_datetime(&(local - Duration::days(1)));
            (local - Duration::seconds(chrono::Offset::fix(&before).local_minus_utc() as i64)).and_utc()
        }
    }
}

fn truncate_to_minute(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let tz: Tz = zone.parse().unwrap();
        let s = Schedule::parse(expr, tz).unwrap();
        let mut at = DateTime::parse_from_rfc3339(from).unwrap().with_timezone(&Utc);
        let mut out = Vec::new();
        for _ in 0..n {
            at = s.next_after(at).unwrap();
            out.push(at.with_timezone(&tz).to_rfc3339());
        }
        out
    }

    #[test]
    fn a_wall_clock_time_that_happens_twice_fires_once_at_its_first_occurrence() {
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", 3),
            [
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00"
            ]
        );
        // Every quarter hour: the repeated hour is not run again.
        let q = fires("*/30 * * * *", "America/New_York", "2026-11-01T00:45:00-04:00", 4);
        assert_eq!(
            q,
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T02:30:00-05:00"
            ]
        );
    }

    #[test]
    fn a_local_time_that_does_not_exist_fires_once_at_the_first_instant_after_the_gap() {
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", 3),
            [
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00"
            ]
        );
        // Every 15 minutes across the New York gap: 02:00–02:45 all fold onto 03:00, once.
        let q = fires("*/15 * * * *", "America/New_York", "2026-03-08T01:30:00-05:00", 4);
        assert_eq!(
            q,
            [
                "2026-03-08T01:45:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:15:00-04:00",
                "2026-03-08T03:30:00-04:00"
            ]
        );
    }

    #[test]
    fn lord_howe_half_hour_shifts_follow_the_same_rules() {
        // Lord Howe: 02:00 → 02:30 on 2026-10-04 (spring), 02:00 → 01:30 on 2026-04-05 (autumn).
        assert_eq!(
            fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30", 2),
            ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]
        );
        assert_eq!(
            fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00", 2),
            ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]
        );
    }

    #[test]
    fn riyadh_has_no_daylight_saving_and_fires_every_day_at_the_same_offset() {
        let f = fires("0 8 * * *", "Asia/Riyadh", "2026-03-27T00:00:00+03:00", 3);
        assert!(f.iter().all(|t| t.ends_with("08:00:00+03:00")), "{f:?}");
    }

    #[test]
    fn seconds_aliases_and_day_forms_are_understood() {
        assert_eq!(
            fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00"]
        );
        assert_eq!(
            fires("@monthly", "UTC", "2026-01-15T00:00:00Z", 1),
            ["2026-02-01T00:00:00+00:00"]
        );
        assert_eq!(
            fires("0 9 L * *", "UTC", "2026-02-01T00:00:00Z", 1),
            ["2026-02-28T09:00:00+00:00"]
        );
        // The second Tuesday.
        assert_eq!(
            fires("0 9 * * 2#2", "UTC", "2026-12-01T00:00:00Z", 1),
            ["2026-12-08T09:00:00+00:00"]
        );
        assert_eq!(
            fires("0 9 * * mon", "UTC", "2026-11-25T00:00:00Z", 1),
            ["2026-11-30T09:00:00+00:00"]
        );
    }

    #[test]
    fn expressions_that_are_wrong_or_never_fire_are_refused_with_the_reason() {
        let utc: Tz = "UTC".parse().unwrap();
        assert!(Schedule::parse("0 8 1 *", utc).unwrap_err().contains("4 field(s)"));
        assert!(Schedule::parse("0 25 * * *", utc)
            .unwrap_err()
            .contains("not a cron expression"));
        assert!(Schedule::parse("0 0 30 2 *", utc).unwrap_err().contains("never fires"));
        assert!(Schedule::parse("@fortnightly", utc).is_err());
    }
}
