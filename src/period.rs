//! Calendar periods in a time zone: day, week, month, quarter, year.
//!
//! A [`Period`] is a half-open range of local dates `[start, end)`; its instants
//! are the local midnights of those dates in the configured zone, so a month
//! that contains a daylight-saving change is 743 or 745 hours long and pacing
//! counts real time. Period keys (`2026-10`, `2026-W43`, `2026-Q3`, `2026`,
//! `2026-10-15`) parse and print both ways.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use std::fmt;

/// The length of a calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Grain {
    pub const NAMES: &'static [&'static str] = &["day", "week", "month", "quarter", "year"];

    pub fn parse(s: &str) -> Option<Grain> {
        Some(match s {
            "day" | "daily" => Grain::Day,
            "week" | "weekly" => Grain::Week,
            "month" | "monthly" => Grain::Month,
            "quarter" | "quarterly" => Grain::Quarter,
            "year" | "yearly" | "annual" => Grain::Year,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
        }
    }
}

/// A calendar period: local dates from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub grain: Grain,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// First day of the week, kept so that `previous()` and the key stay consistent.
    pub week_start: Weekday,
}

impl Period {
    /// The period of `grain` that contains `date`.
    pub fn containing(grain: Grain, date: NaiveDate, week_start: Weekday) -> Period {
        let (start, end) = match grain {
            Grain::Day => (date, date + Duration::days(1)),
            Grain::Week => {
                let back =
                    (7 + date.weekday().num_days_from_monday() as i64 - week_start.num_days_from_monday() as i64) % 7;
                let s = date - Duration::days(back);
                (s, s + Duration::days(7))
            }
            Grain::Month => {
                let s = ymd(date.year(), date.month(), 1);
                (s, add_months(s, 1))
            }
            Grain::Quarter => {
                let m = (date.month() - 1) / 3 * 3 + 1;
                let s = ymd(date.year(), m, 1);
                (s, add_months(s, 3))
            }
            Grain::Year => {
                let s = ymd(date.year(), 1, 1);
                (s, ymd(date.year() + 1, 1, 1))
            }
        };
        Period {
            grain,
            start,
            end,
            week_start,
        }
    }

    /// The period just before this one, of the same grain.
    pub fn previous(&self) -> Period {
        Period::containing(self.grain, self.start - Duration::days(1), self.week_start)
    }

    /// The period just after this one, of the same grain.
    pub fn next(&self) -> Period {
        Period::containing(self.grain, self.end, self.week_start)
    }

    /// The same period one year earlier (for weeks: the same ISO week number
    /// when it exists, else the week 52 weeks back).
    pub fn same_period_last_year(&self) -> Period {
        match self.grain {
            // The same ISO week number last year when it exists (after a 53-week year, W01
            // compares with W01, not W02), else 52 weeks back.
            Grain::Week => {
                let iso = self.start.iso_week();
                let same = (self.week_start == Weekday::Mon)
                    .then(|| NaiveDate::from_isoywd_opt(iso.year() - 1, iso.week(), Weekday::Mon))
                    .flatten();
                Period::containing(
                    Grain::Week,
                    same.unwrap_or(self.start - Duration::weeks(52)),
                    self.week_start,
                )
            }
            Grain::Day => {
                let d = self
                    .start
                    .with_year(self.start.year() - 1)
                    .unwrap_or_else(|| ymd(self.start.year() - 1, 2, 28));
                Period::containing(Grain::Day, d, self.week_start)
            }
            _ => Period::containing(
                self.grain,
                ymd(self.start.year() - 1, self.start.month(), 1),
                self.week_start,
            ),
        }
    }

    /// Number of calendar days in the period.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// The last date in the period.
    pub fn last_day(&self) -> NaiveDate {
        self.end - Duration::days(1)
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        d >= self.start && d < self.end
    }

    /// The instant the period starts, in `tz`.
    pub fn start_instant(&self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.start)
    }

    /// The instant the period ends, in `tz`.
    pub fn end_instant(&self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.end)
    }

    /// The fraction of the period's real time (DST-aware) elapsed at `at`, in [0, 1].
    pub fn elapsed_fraction(&self, tz: Tz, at: DateTime<Utc>) -> f64 {
        let s = self.start_instant(tz);
        let e = self.end_instant(tz);
        let total = (e - s).num_seconds() as f64;
        let done = (at - s).num_seconds() as f64;
        (done / total).clamp(0.0, 1.0)
    }

    /// The stable key users type and stores keep: `2026-10`, `2026-W43`, `2026-Q3`, `2026`, `2026-10-15`.
    /// Weeks that do not start on Monday are keyed by their first day: `2026-10-18+1w`.
    pub fn key(&self) -> String {
        match self.grain {
            Grain::Day => self.start.format("%Y-%m-%d").to_string(),
            Grain::Week if self.week_start == Weekday::Mon => {
                let w = self.start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Grain::Week => format!("{}+1w", self.start.format("%Y-%m-%d")),
            Grain::Month => format!("{}-{:02}", self.start.year(), self.start.month()),
            Grain::Quarter => format!("{}-Q{}", self.start.year(), (self.start.month() - 1) / 3 + 1),
            Grain::Year => format!("{}", self.start.year()),
        }
    }

    /// Parses a period key (see [`Period::key`]).
    pub fn parse_key(s: &str, week_start: Weekday) -> Result<Period, String> {
        let p = Self::parse_key_unchecked(s, week_start)?;
        if !(1..=9999).contains(&p.start.year()) {
            return Err(format!("`{s}`: the year must be between 1 and 9999"));
        }
        Ok(p)
    }

    fn parse_key_unchecked(s: &str, week_start: Weekday) -> Result<Period, String> {
        let bad =
            || format!("`{s}` is not a period: use 2026-10 (month), 2026-W43 (ISO week), 2026-Q3, 2026 or 2026-10-15");
        let s = s.trim();
        if let Some(d) = s.strip_suffix("+1w") {
            let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?;
            return Ok(Period::containing(Grain::Week, d, d.weekday()));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Period::containing(Grain::Day, d, week_start));
        }
        if let Some((y, rest)) = s.split_once('-') {
            let y: i32 = y.parse().map_err(|_| bad())?;
            if !(1..=9999).contains(&y) {
                return Err(format!("`{s}`: the year must be between 1 and 9999"));
            }
            if let Some(w) = rest.strip_prefix('W') {
                let w: u32 = w.parse().map_err(|_| bad())?;
                let d = NaiveDate::from_isoywd_opt(y, w, Weekday::Mon)
                    .ok_or_else(|| format!("`{s}`: {y} has no ISO week {w}"))?;
                return Ok(Period::containing(Grain::Week, d, Weekday::Mon));
            }
            if let Some(q) = rest.strip_prefix('Q') {
                let q: u32 = q.parse().map_err(|_| bad())?;
                if !(1..=4).contains(&q) {
                    return Err(format!("`{s}`: a quarter is Q1 to Q4"));
                }
                return Ok(Period::containing(
                    Grain::Quarter,
                    ymd(y, (q - 1) * 3 + 1, 1),
                    week_start,
                ));
            }
            let m: u32 = rest.parse().map_err(|_| bad())?;
            if !(1..=12).contains(&m) {
                return Err(format!("`{s}`: a month is 01 to 12"));
            }
            return Ok(Period::containing(Grain::Month, ymd(y, m, 1), week_start));
        }
        if s.len() == 4 {
            let y: i32 = s.parse().map_err(|_| bad())?;
            return Ok(Period::containing(Grain::Year, ymd(y, 1, 1), week_start));
        }
        Err(bad())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Which period a report covers, relative to its as-of moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relative {
    Current(Grain),
    Previous(Grain),
}

impl Relative {
    pub const NAMES: &'static [&'static str] = &[
        "current_day",
        "previous_day",
        "today",
        "yesterday",
        "current_week",
        "previous_week",
        "current_month",
        "previous_month",
        "current_quarter",
        "previous_quarter",
        "current_year",
        "previous_year",
    ];

    pub fn parse(s: &str) -> Option<Relative> {
        match s {
            "today" => return Some(Relative::Current(Grain::Day)),
            "yesterday" => return Some(Relative::Previous(Grain::Day)),
            _ => {}
        }
        let (which, grain) = s.split_once('_')?;
        let grain = Grain::parse(grain)?;
        match which {
            "current" | "this" => Some(Relative::Current(grain)),
            "previous" | "last" => Some(Relative::Previous(grain)),
            _ => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Relative::Current(g) => format!("current_{}", g.name()),
            Relative::Previous(g) => format!("previous_{}", g.name()),
        }
    }

    pub fn grain(self) -> Grain {
        match self {
            Relative::Current(g) | Relative::Previous(g) => g,
        }
    }

    /// The period this selects for an as-of calendar date.
    pub fn resolve(self, date: NaiveDate, week_start: Weekday) -> Period {
        match self {
            Relative::Current(g) => Period::containing(g, date, week_start),
            Relative::Previous(g) => Period::containing(g, date, week_start).previous(),
        }
    }
}

/// The moment a report is computed for: an instant (data up to it counts, pacing uses it)
/// and the local calendar date that relative periods are chosen from.
///
/// A bare date `D` means "through the end of D": the instant is the local midnight after D,
/// and `current_month` is D's month. A date-time means that instant, and its local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf {
    pub instant: DateTime<Utc>,
    pub date: NaiveDate,
}

impl AsOf {
    pub fn now(tz: Tz) -> AsOf {
        AsOf::at(Utc::now(), tz)
    }

    pub fn at(instant: DateTime<Utc>, tz: Tz) -> AsOf {
        AsOf {
            instant,
            date: instant.with_timezone(&tz).date_naive(),
        }
    }

    pub fn end_of_day(date: NaiveDate, tz: Tz) -> AsOf {
        AsOf {
            instant: local_midnight(tz, date + Duration::days(1)),
            date,
        }
    }

    /// Parses `2026-10-15` or an RFC 3339 date-time.
    pub fn parse(s: &str, tz: Tz) -> Result<AsOf, String> {
        let a = Self::parse_unchecked(s, tz)?;
        // Far dates would overflow the period arithmetic around them (and mean a typo).
        if !(1000..=9000).contains(&a.date.year()) {
            return Err(format!("`{s}`: the year must be between 1000 and 9000"));
        }
        Ok(a)
    }

    fn parse_unchecked(s: &str, tz: Tz) -> Result<AsOf, String> {
        if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
            return Ok(AsOf::end_of_day(d, tz));
        }
        DateTime::parse_from_rfc3339(s.trim())
            .map(|t| AsOf::at(t.with_timezone(&Utc), tz))
            .map_err(|_| format!("`{s}` is not a date (2026-10-15) or an RFC 3339 time (2026-10-15T08:00:00+02:00)"))
    }

    /// The last local date whose data counts at this instant (the day before, at midnight).
    pub fn through_date(&self, tz: Tz) -> NaiveDate {
        (self.instant - Duration::seconds(1)).with_timezone(&tz).date_naive()
    }

    /// This moment, capped at the end of `period` (a report about October
    /// computed in November sees October as closed, and its quarter as of October 31).
    pub fn capped_at_end_of(&self, period: &Period, tz: Tz) -> AsOf {
        let end = period.end_instant(tz);
        if self.instant < end {
            *self
        } else {
            AsOf::end_of_day(period.last_day(), tz)
        }
    }
}

/// The instant of local midnight at the start of `date`; where midnight does not
/// exist (a DST gap at 00:00, e.g. America/Santiago), the first instant after the gap.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
    for _ in 0..(4 * 60) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => t += Duration::minutes(1),
        }
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid calendar date")
}

fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + n as i32;
    ymd(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn months_end_on_their_last_day_including_leap_february() {
        let p = Period::containing(Grain::Month, d("2028-02-10"), Weekday::Mon);
        assert_eq!(
            (p.start, p.last_day(), p.days()),
            (d("2028-02-01"), d("2028-02-29"), 29)
        );
        let p = Period::containing(Grain::Month, d("2026-02-10"), Weekday::Mon);
        assert_eq!(p.days(), 28);
        let p = Period::containing(Grain::Month, d("2026-12-31"), Weekday::Mon);
        assert_eq!(p.end, d("2027-01-01"));
    }

    #[test]
    fn weeks_start_on_monday_unless_configured() {
        let p = Period::containing(Grain::Week, d("2026-10-25"), Weekday::Mon); // a Sunday
        assert_eq!(p.start, d("2026-10-19"));
        assert_eq!(p.key(), "2026-W43");
        let p = Period::containing(Grain::Week, d("2026-10-25"), Weekday::Sun);
        assert_eq!(p.start, d("2026-10-25"));
        assert_eq!(p.key(), "2026-10-25+1w");
        assert_eq!(Period::parse_key("2026-10-25+1w", Weekday::Mon).unwrap(), p);
    }

    #[test]
    fn iso_week_keys_cross_year_boundaries() {
        // 2026-12-31 is a Thursday in ISO week 2026-W53; 2027-01-01 belongs to it too.
        let p = Period::containing(Grain::Week, d("2027-01-01"), Weekday::Mon);
        assert_eq!(p.key(), "2026-W53");
        assert_eq!(Period::parse_key("2026-W53", Weekday::Mon).unwrap(), p);
        assert!(Period::parse_key("2025-W53", Weekday::Mon).is_err());
    }

    #[test]
    fn keys_round_trip_for_every_grain() {
        for key in ["2026-10", "2026-W43", "2026-Q3", "2026", "2026-10-15", "2024-02-29"] {
            assert_eq!(Period::parse_key(key, Weekday::Mon).unwrap().key(), key);
        }
        assert!(Period::parse_key("2026-13", Weekday::Mon).is_err());
        assert!(Period::parse_key("2026-Q5", Weekday::Mon).is_err());
        assert!(Period::parse_key("october", Weekday::Mon).is_err());
        let tz: Tz = "UTC".parse().unwrap();
        assert!(AsOf::parse("9999-12-31", tz)
            .unwrap_err()
            .contains("between 1000 and 9000"));
    }

    #[test]
    fn previous_and_last_year_periods() {
        let oct = Period::parse_key("2026-10", Weekday::Mon).unwrap();
        assert_eq!(oct.previous().key(), "2026-09");
        assert_eq!(oct.same_period_last_year().key(), "2025-10");
        let jan = Period::parse_key("2026-01", Weekday::Mon).unwrap();
        assert_eq!(jan.previous().key(), "2025-12");
        let q1 = Period::parse_key("2026-Q1", Weekday::Mon).unwrap();
        assert_eq!(q1.previous().key(), "2025-Q4");
        // 2026 has 53 ISO weeks: 2027-W01 compares with 2026-W01, not 2026-W02.
        let w1 = Period::parse_key("2027-W01", Weekday::Mon).unwrap();
        assert_eq!(w1.same_period_last_year().key(), "2026-W01");
        let leap = Period::parse_key("2028-02-29", Weekday::Mon).unwrap();
        assert_eq!(leap.same_period_last_year().key(), "2027-02-28");
    }

    #[test]
    fn relative_periods_follow_the_as_of_date() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let fire = AsOf::parse("2026-11-01T00:30:00+01:00", tz).unwrap();
        assert_eq!(
            Relative::parse("previous_month")
                .unwrap()
                .resolve(fire.date, Weekday::Mon)
                .key(),
            "2026-10"
        );
        // A bare date means "through the end of that day".
        let asof = AsOf::parse("2026-10-31", tz).unwrap();
        assert_eq!(
            Relative::parse("current_month")
                .unwrap()
                .resolve(asof.date, Weekday::Mon)
                .key(),
            "2026-10"
        );
        assert_eq!(asof.through_date(tz), d("2026-10-31"));
        // Just after midnight UTC is already 1 November in Berlin.
        let t = AsOf::parse("2026-10-31T23:30:00Z", tz).unwrap();
        assert_eq!(t.date, d("2026-11-01"));
    }

    #[test]
    fn a_month_with_a_dst_change_has_its_real_length() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let oct = Period::parse_key("2026-10", Weekday::Mon).unwrap();
        let hours = (oct.end_instant(berlin) - oct.start_instant(berlin)).num_hours();
        assert_eq!(hours, 31 * 24 + 1); // clocks go back on 25 October
        let mar = Period::parse_key("2026-03", Weekday::Mon).unwrap();
        assert_eq!(
            (mar.end_instant(berlin) - mar.start_instant(berlin)).num_hours(),
            31 * 24 - 1
        );
        let day = Period::parse_key("2026-10-25", Weekday::Mon).unwrap();
        assert_eq!((day.end_instant(berlin) - day.start_instant(berlin)).num_hours(), 25);
        // Half the DST day is 12.5 hours in.
        let noonish = day.start_instant(berlin) + Duration::minutes(750);
        assert!((day.elapsed_fraction(berlin, noonish) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_missing_midnight_starts_the_day_after_the_gap() {
        // Santiago springs forward at 00:00 on 2026-09-06: the day starts at 01:00 local.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let t = local_midnight(santiago, d("2026-09-06"));
        assert_eq!(t.with_timezone(&santiago).format("%H:%M").to_string(), "01:00");
    }

    #[test]
    fn an_as_of_after_the_period_is_capped_at_its_end() {
        let tz: Tz = "UTC".parse().unwrap();
        let oct = Period::parse_key("2026-10", Weekday::Mon).unwrap();
        let now = AsOf::parse("2026-11-25", tz).unwrap();
        let capped = now.capped_at_end_of(&oct, tz);
        assert_eq!(capped.date, d("2026-10-31"));
        assert_eq!(oct.elapsed_fraction(tz, capped.instant), 1.0);
        let mid = AsOf::parse("2026-10-15", tz).unwrap();
        assert_eq!(mid.capped_at_end_of(&oct, tz), mid);
    }
}
