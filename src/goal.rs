//! Goals: turn a KPI's value over a period into a verdict (actual, target, attainment,
//! projection, comparisons and a status), following the rules in the README.
//!
//! `judge` holds the status rules as a pure function of facts, so each rule is tested
//! on its own; `evaluate` gathers those facts from the data.

use crate::config::plan::{Baseline, Goal, Pacing, Plan, Priority, Target};
use crate::kpi::aggregate::{aggregate, Dataset, GroupBy, Key, Slice};
use crate::kpi::formula::NoValue;
use crate::kpi::{Better, Kpi, Unit};
use crate::period::{AsOf, Period};
use crate::reason::Reason;
use chrono::{Duration, NaiveDate};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Met,
    OnTrack,
    AtRisk,
    OffTrack,
    TooEarly,
    NoData,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::OffTrack => "off_track",
            Status::TooEarly => "too_early",
            Status::NoData => "no_data",
        }
    }
}

/// A target with its numbers known (a `change` target resolved against its baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved {
    AtLeast(f64),
    AtMost(f64),
    Between(f64, f64),
    StayAbove(f64),
    StayBelow(f64),
}

impl Resolved {
    pub fn kind(&self) -> &'static str {
        match self {
            Resolved::AtLeast(_) => "at_least",
            Resolved::AtMost(_) => "at_most",
            Resolved::Between(..) => "between",
            Resolved::StayAbove(_) => "stay_above",
            Resolved::StayBelow(_) => "stay_below",
        }
    }

    /// The number shown as "the target" (the low end for `between`).
    pub fn value(&self) -> f64 {
        match *self {
            Resolved::AtLeast(t) | Resolved::AtMost(t) | Resolved::StayAbove(t) | Resolved::StayBelow(t) => t,
            Resolved::Between(lo, _) => lo,
        }
    }
}

/// Attainment of `v` against a target: 1.0 is on target, higher is better, for every form.
pub fn attainment(v: f64, t: Resolved) -> Option<f64> {
    match t {
        Resolved::AtLeast(t) if t > 0.0 => Some(v / t),
        Resolved::AtLeast(t) => Some(if v >= t { 1.0 } else { 0.0 }),
        Resolved::AtMost(t) if v > 0.0 => Some(t / v),
        Resolved::AtMost(_) => None,
        Resolved::Between(lo, hi) => Some(if v < lo {
            if lo > 0.0 {
                v / lo
            } else {
                0.0
            }
        } else if v > hi {
            if v > 0.0 {
                hi / v
            } else {
                0.0
            }
        } else {
            1.0
        }),
        Resolved::StayAbove(_) | Resolved::StayBelow(_) => None,
    }
}

/// What the status rules need to know.
#[derive(Debug, Clone)]
pub struct Facts {
    pub target: Resolved,
    /// The value so far in the period.
    pub actual: f64,
    /// End-of-period projection (additive KPIs in a running period), else `None`.
    pub projected: Option<f64>,
    pub additive: bool,
    /// Can only grow over the period (see `Kpi::monotonic`).
    pub monotonic: bool,
    pub running: bool,
    pub tolerance: f64,
    /// For stay_above / stay_below: days held and days evaluated.
    pub days: Option<(usize, usize)>,
}

/// The status rules (README, "Goal rules"); returns the status and the attainment used.
pub fn judge(f: &Facts) -> (Status, Option<f64>) {
    if let Some((_, 0)) = f.days {
        return (Status::NoData, None);
    }
    if let Some((held, evaluated)) = f.days {
        let a = if evaluated > 0 {
            Some(held as f64 / evaluated as f64)
        } else {
            None
        };
        let status = if held < evaluated {
            Status::OffTrack
        } else if f.running {
            Status::OnTrack
        } else {
            Status::Met
        };
        return (status, a);
    }
    let compared = f.projected.unwrap_or(f.actual);
    let a = attainment(compared, f.target);
    if f.running && f.monotonic {
        // Totals only grow: a floor already reached is met, a ceiling already passed is missed.
        match f.target {
            Resolved::AtLeast(t) if f.actual >= t => return (Status::Met, attainment(f.actual, f.target)),
            Resolved::AtMost(t) if f.actual > t => return (Status::OffTrack, attainment(f.actual, f.target)),
            Resolved::Between(_, hi) if f.actual > hi => return (Status::OffTrack, attainment(f.actual, f.target)),
            _ => {}
        }
    }
    let good = if f.running { Status::OnTrack } else { Status::Met };
    let status = match a {
        None => good, // at_most with an actual of zero
        Some(a) if a >= 1.0 - 1e-12 => good,
        Some(a) if a >= 1.0 - f.tolerance => Status::AtRisk,
        Some(_) => Status::OffTrack,
    };
    (status, a)
}

/// A goal's verdict for one period: the JSON contract's `goals[]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub id: String,
    pub name: String,
    pub kpi: String,
    pub unit: Unit,
    pub better: Better,
    pub period: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Fraction of the period's time elapsed at the as-of moment.
    pub elapsed: f64,
    pub actual: Option<f64>,
    pub target: Option<f64>,
    pub target_kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_high: Option<f64>,
    pub attainment: Option<f64>,
    pub projected: Option<f64>,
    pub previous: Option<f64>,
    pub change: Option<f64>,
    pub last_year: Option<f64>,
    pub change_last_year: Option<f64>,
    pub status: Status,
    pub owner: Option<String>,
    pub priority: &'static str,
    /// The first day a too-early goal can be judged.
    pub judge_from: Option<NaiveDate>,
    /// Why a value is missing, or what the status rests on (English; `reasons` has the codes).
    pub note: Option<String>,
    pub reasons: Vec<Reason>,
    /// The KPI over the last periods, oldest first; the last is this period so far.
    pub history: Vec<HistoryPoint>,
    /// Whether the name was written in the config (reports translate KPI names otherwise).
    #[serde(skip)]
    pub named: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub period: String,
    pub value: Option<f64>,
}

/// The KPI's value over `[start, end)` with the goal's filter.
pub fn kpi_value(
    plan: &Plan,
    kpi: &Kpi,
    data: &Dataset,
    start: NaiveDate,
    end: NaiveDate,
    filter: &[(String, String)],
) -> Result<f64, NoValue> {
    if start >= end {
        return Err(NoValue(Reason::new("not_started", &[])));
    }
    let mut wanted = Vec::new();
    kpi.formula.metrics(&mut wanted);
    let slice = Slice { start, end, filter };
    let totals = aggregate(&plan.metrics, data, slice, GroupBy::Total, &wanted).total();
    kpi.formula.eval(&totals, &plan.metric_names())
}

/// Evaluates `goal` as of `as_of` (already capped at the report period's end).
/// `history` is how many periods (this one included) the sparkline covers; 0 for none.
pub fn evaluate(plan: &Plan, goal: &Goal, as_of: AsOf, data: &Dataset, history: usize) -> Verdict {
    let tz = plan.timezone;
    let kpi = &plan.kpis[&goal.kpi];
    let period = Period::containing(goal.grain, as_of.date, plan.week_start);
    let elapsed = period.elapsed_fraction(tz, as_of.instant);
    let running = elapsed < 1.0;
    let to_date_end = (as_of.through_date(tz) + Duration::days(1)).min(period.end);
    let filter = &goal.filter;
    let value = |p: &Period, end: NaiveDate| kpi_value(plan, kpi, data, p.start, end, filter);

    let actual = value(&period, to_date_end);
    let previous = value(&period.previous(), period.previous().end).ok();
    let last_year_period = period.same_period_last_year();
    let last_year = value(&last_year_period, last_year_period.end).ok();

    let mut notes: Vec<Reason> = Vec::new();
    let projected = match (&actual, running && kpi.additive) {
        (Ok(a), true) => project(plan, goal, kpi, data, &period, elapsed, to_date_end, *a, &mut notes),
        _ => None,
    };

    let target = match &goal.target {
        Target::AtLeast(t) => Ok(Resolved::AtLeast(*t)),
        Target::AtMost(t) => Ok(Resolved::AtMost(*t)),
        Target::Between(lo, hi) => Ok(Resolved::Between(*lo, *hi)),
        Target::StayAbove(t) => Ok(Resolved::StayAbove(*t)),
        Target::StayBelow(t) => Ok(Resolved::StayBelow(*t)),
        Target::Change { by, vs } => {
            let (base, what) = match vs {
                Baseline::PreviousPeriod => (previous, "previous_period"),
                Baseline::SamePeriodLastYear => (last_year, "same_period_last_year"),
            };
            match base {
                Some(b) if b != 0.0 => {
                    // +10% on a negative baseline (a loss) means 10% better, not 10% more negative.
                    let t = b + b.abs() * by;
                    Ok(match kpi.better {
                        Better::Higher => Resolved::AtLeast(t),
                        Better::Lower => Resolved::AtMost(t),
                    })
                }
                Some(_) => Err(Reason::new(
                    "baseline_zero",
                    &[("baseline", what), ("change", &format!("{:+.0}%", by * 100.0))],
                )),
                None => Err(Reason::new("no_baseline", &[("baseline", what)])),
            }
        }
    };

    let compared = projected.or(actual.as_ref().ok().copied());
    let change_vs = |base: Option<f64>| match (compared, base) {
        (Some(v), Some(b)) if b != 0.0 => Some((v - b) / b.abs()),
        _ => None,
    };
    let judge_from = goal.judge_after.map(|w| {
        let at = period.start_instant(tz) + w;
        at.with_timezone(&tz).date_naive()
    });
    let too_early = running
        && goal
            .judge_after
            .is_some_and(|w| as_of.instant < period.start_instant(tz) + w);

    let mut attain = None;
    let status = match (&actual, &target) {
        (Err(NoValue(why)), _) => {
            notes.insert(0, why.clone());
            Status::NoData
        }
        (_, Err(why)) => {
            notes.insert(0, why.clone());
            Status::NoData
        }
        (Ok(a), Ok(t)) => {
            let days = match t {
                Resolved::StayAbove(limit) | Resolved::StayBelow(limit) => Some(stay_days(
                    plan,
                    kpi,
                    data,
                    goal,
                    &period,
                    to_date_end,
                    *t,
                    *limit,
                    &mut notes,
                )),
                _ => None,
            };
            let facts = Facts {
                target: *t,
                actual: *a,
                projected,
                additive: kpi.additive,
                monotonic: kpi.monotonic,
                running,
                tolerance: goal.tolerance,
                days,
            };
            let (s, a) = judge(&facts);
            attain = a;
            if too_early {
                if let Some(d) = judge_from {
                    notes.push(Reason::new("too_early", &[("date", &d.to_string())]));
                }
                Status::TooEarly
            } else {
                s
            }
        }
    };

    let mut history_points = Vec::with_capacity(history);
    let mut p = period;
    for i in 0..history {
        let end = if i == 0 { to_date_end } else { p.end };
        history_points.push(HistoryPoint {
            period: p.key(),
            value: if i == 0 {
                actual.as_ref().ok().copied()
            } else {
                value(&p, end).ok()
            },
        });
        p = p.previous();
    }
    history_points.reverse();

    let (target_value, target_high) = match &target {
        Ok(Resolved::Between(lo, hi)) => (Some(*lo), Some(*hi)),
        Ok(t) => (Some(t.value()), None),
        Err(_) => (None, None),
    };
    Verdict {
        id: goal.id.clone(),
        name: goal.name.clone(),
        kpi: goal.kpi.clone(),
        unit: kpi.unit,
        better: kpi.better,
        period: period.key(),
        period_start: period.start,
        period_end: period.last_day(),
        elapsed,
        actual: actual.ok(),
        target: target_value,
        target_kind: match (&goal.target, &target) {
            (_, Ok(t)) => t.kind(),
            (Target::Change { .. }, Err(_)) => "change",
            _ => "unknown",
        },
        target_high,
        attainment: attain,
        projected,
        previous,
        change: change_vs(previous),
        last_year,
        change_last_year: change_vs(last_year),
        status,
        owner: goal.owner.clone(),
        priority: match goal.priority {
            Priority::Primary => "primary",
            Priority::Secondary => "secondary",
        },
        judge_from: if too_early { judge_from } else { None },
        note: crate::reason::english_note(&notes),
        reasons: notes,
        history: history_points,
        named: goal.named,
    }
}

/// End-of-period projection of an additive KPI.
#[allow(clippy::too_many_arguments)]
fn project(
    plan: &Plan,
    goal: &Goal,
    kpi: &Kpi,
    data: &Dataset,
    period: &Period,
    elapsed: f64,
    to_date_end: NaiveDate,
    actual: f64,
    notes: &mut Vec<Reason>,
) -> Option<f64> {
    if elapsed <= 0.0 {
        return None;
    }
    if goal.pacing == Pacing::LastYear {
        // Last year's share of the period done by the same day gives the expected curve.
        let ly = period.same_period_last_year();
        let done_days = (to_date_end - period.start).num_days();
        let ly_to = (ly.start + Duration::days(done_days)).min(ly.end);
        let part = kpi_value(plan, kpi, data, ly.start, ly_to, &goal.filter);
        let whole = kpi_value(plan, kpi, data, ly.start, ly.end, &goal.filter);
        match (part, whole) {
            (Ok(p), Ok(w)) if p > 0.0 && w > 0.0 => return Some(actual * w / p),
            _ => notes.push(Reason::new("pacing_fallback", &[])),
        }
    }
    Some(actual / elapsed)
}

/// For stay_above / stay_below: (days held, days evaluated); days without a value are skipped and noted.
#[allow(clippy::too_many_arguments)]
fn stay_days(
    plan: &Plan,
    kpi: &Kpi,
    data: &Dataset,
    goal: &Goal,
    period: &Period,
    to_date_end: NaiveDate,
    target: Resolved,
    limit: f64,
    notes: &mut Vec<Reason>,
) -> (usize, usize) {
    let mut wanted = Vec::new();
    kpi.formula.metrics(&mut wanted);
    let slice = Slice {
        start: period.start,
        end: to_date_end,
        filter: &goal.filter,
    };
    let daily = aggregate(&plan.metrics, data, slice, GroupBy::Day, &wanted);
    let names = plan.metric_names();
    let (mut held, mut evaluated, mut skipped) = (0, 0, 0);
    let mut first_breach: Option<(NaiveDate, f64)> = None;
    for (key, values) in daily.keys.iter().zip(&daily.values) {
        let Key::Day(day) = key else { continue };
        match kpi.formula.eval(values, &names) {
            Ok(v) => {
                evaluated += 1;
                let ok = match target {
                    Resolved::StayAbove(_) => v >= limit,
                    _ => v <= limit,
                };
                if ok {
                    held += 1;
                } else if first_breach.is_none() {
                    first_breach = Some((*day, v));
                }
            }
            Err(_) => skipped += 1,
        }
    }
    if let Some((day, v)) = first_breach {
        let (held, evaluated, day, v) = (
            held.to_string(),
            evaluated.to_string(),
            day.to_string(),
            format!("{v:.4}"),
        );
        notes.push(Reason::new(
            "stay_breach",
            &[
                ("held", &held),
                ("evaluated", &evaluated),
                ("date", &day),
                ("value", &v),
            ],
        ));
    }
    if skipped > 0 {
        notes.push(Reason::new("days_skipped", &[("count", &skipped.to_string())]));
    }
    (held, evaluated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(target: Resolved, actual: f64, projected: Option<f64>, running: bool) -> Facts {
        Facts {
            target,
            actual,
            projected,
            additive: projected.is_some(),
            monotonic: projected.is_some(),
            running,
            tolerance: 0.1,
            days: None,
        }
    }

    #[test]
    fn a_closed_period_is_met_at_risk_within_tolerance_or_off_track() {
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 100.0, None, false)).0,
            Status::Met
        );
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 91.0, None, false)).0,
            Status::AtRisk
        );
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 89.0, None, false)).0,
            Status::OffTrack
        );
    }

    #[test]
    fn a_running_additive_goal_is_judged_on_its_projection() {
        // 40 leads a third of the way through a month projects to 120 against 100: on track.
        let (s, a) = judge(&facts(Resolved::AtLeast(100.0), 40.0, Some(120.0), true));
        assert_eq!((s, a), (Status::OnTrack, Some(1.2)));
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 30.0, Some(95.0), true)).0,
            Status::AtRisk
        );
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 20.0, Some(60.0), true)).0,
            Status::OffTrack
        );
        // Already past the floor: met, even mid-period.
        assert_eq!(
            judge(&facts(Resolved::AtLeast(100.0), 101.0, Some(300.0), true)).0,
            Status::Met
        );
        // Already past a ceiling: off track, whatever the projection.
        assert_eq!(
            judge(&facts(Resolved::AtMost(100.0), 101.0, Some(300.0), true)).0,
            Status::OffTrack
        );
    }

    #[test]
    fn a_running_ratio_is_judged_as_it_stands_and_never_met_early() {
        let (s, a) = judge(&facts(Resolved::AtMost(50.0), 40.0, None, true));
        assert_eq!((s, a), (Status::OnTrack, Some(1.25)));
        assert_eq!(
            judge(&facts(Resolved::AtMost(50.0), 54.0, None, true)).0,
            Status::AtRisk
        );
        assert_eq!(
            judge(&facts(Resolved::AtMost(50.0), 60.0, None, true)).0,
            Status::OffTrack
        );
    }

    #[test]
    fn attainment_is_one_on_target_and_higher_is_better_for_every_form() {
        assert_eq!(attainment(80.0, Resolved::AtLeast(100.0)), Some(0.8));
        assert_eq!(attainment(40.0, Resolved::AtMost(50.0)), Some(1.25));
        assert_eq!(attainment(0.0, Resolved::AtMost(50.0)), None);
        assert_eq!(attainment(0.03, Resolved::Between(0.02, 0.05)), Some(1.0));
        assert_eq!(attainment(0.01, Resolved::Between(0.02, 0.05)), Some(0.5));
        assert_eq!(attainment(0.10, Resolved::Between(0.02, 0.05)), Some(0.5));
    }

    #[test]
    fn a_total_that_can_fall_back_is_not_met_early() {
        // profit = revenue - spend: reaching the floor mid-period is on track, not met.
        let mut f = facts(Resolved::AtLeast(100.0), 120.0, Some(240.0), true);
        f.monotonic = false;
        assert_eq!(judge(&f).0, Status::OnTrack);
    }

    #[test]
    fn stay_targets_with_no_day_to_judge_have_no_data() {
        let mut f = facts(Resolved::StayAbove(8.0), 0.0, None, true);
        f.days = Some((0, 0));
        assert_eq!(judge(&f), (Status::NoData, None));
    }

    #[test]
    fn stay_targets_fail_on_one_bad_day_and_hold_otherwise() {
        let mut f = facts(Resolved::StayAbove(8.0), 8.5, None, true);
        f.days = Some((10, 10));
        assert_eq!(judge(&f), (Status::OnTrack, Some(1.0)));
        f.running = false;
        assert_eq!(judge(&f).0, Status::Met);
        f.days = Some((9, 10));
        assert_eq!(judge(&f), (Status::OffTrack, Some(0.9)));
    }
}
