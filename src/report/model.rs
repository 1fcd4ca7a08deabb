//! What a report says, independent of format: verdicts, funnels, breakdowns and notes
//! for one (report, period, as-of). Serialised as is, this is the JSON contract of
//! `goalpost preview --format json` (documented in the README).

use crate::config::plan::{Plan, ReportSpec};
use crate::goal::{self, Status, Verdict};
use crate::kpi::aggregate::{aggregate, Dataset, GroupBy, Key, Slice};
use crate::kpi::{Better, Unit};
use crate::period::{AsOf, Period};
use crate::reason::Reason;
use crate::source::SourceError;
use chrono::{Duration, NaiveDate, SecondsFormat};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ReportModel {
    pub report: String,
    pub title: String,
    pub period: PeriodInfo,
    /// The as-of instant (RFC 3339, UTC) and the local date data counts through.
    pub as_of: String,
    pub data_through: NaiveDate,
    pub timezone: String,
    pub currency: String,
    pub locale: String,
    pub summary: Summary,
    pub goals: Vec<Verdict>,
    pub funnels: Vec<FunnelModel>,
    pub breakdowns: Vec<BreakdownModel>,
    /// Notes in English (sources that failed or returned nothing, goals too early to judge).
    pub notes: Vec<String>,
    /// Sources that could not be read, and the goals that depend on them.
    pub failed_sources: Vec<FailedSource>,
    /// Sources that were read but had no rows for the dates needed.
    pub sources_without_rows: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedSource {
    pub source: String,
    pub message: String,
    pub goals: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodInfo {
    pub key: String,
    pub grain: &'static str,
    pub start: NaiveDate,
    /// The last day of the period (inclusive).
    pub end: NaiveDate,
    pub complete: bool,
}

/// Counts by status; `on_track` in the headline counts met and on-track goals.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub total: usize,
    pub met: usize,
    pub on_track: usize,
    pub at_risk: usize,
    pub off_track: usize,
    pub too_early: usize,
    pub no_data: usize,
}

impl Summary {
    /// Counts the statuses of `goals`.
    pub fn of(goals: &[Verdict]) -> Summary {
        let mut s = Summary {
            total: goals.len(),
            ..Summary::default()
        };
        for v in goals {
            match v.status {
                Status::Met => s.met += 1,
                Status::OnTrack => s.on_track += 1,
                Status::AtRisk => s.at_risk += 1,
                Status::OffTrack => s.off_track += 1,
                Status::TooEarly => s.too_early += 1,
                Status::NoData => s.no_data += 1,
            }
        }
        s
    }

    /// Goals that are met or on track.
    pub fn good(&self) -> usize {
        self.met + self.on_track
    }

    /// Goals that could be judged (not too early, not without data).
    pub fn judged(&self) -> usize {
        self.total - self.too_early - self.no_data
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelModel {
    pub id: String,
    pub name: String,
    pub stages: Vec<StageValue>,
    /// One step per pair of consecutive stages.
    pub steps: Vec<Step>,
    pub overall_rate: Option<f64>,
    pub note: Option<String>,
    /// The same funnel per value of a dimension, when configured.
    pub by: Option<String>,
    pub rows: Vec<FunnelRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageValue {
    pub label: String,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub from: String,
    pub to: String,
    pub rate: Option<f64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelRow {
    pub value: String,
    pub stages: Vec<Option<f64>>,
    pub rates: Vec<Option<f64>>,
    pub overall_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakdownModel {
    pub kpi: String,
    pub name: String,
    pub unit: Unit,
    pub better: Better,
    pub by: String,
    /// Best first.
    pub best: Vec<BreakdownRow>,
    /// Worst first.
    pub worst: Vec<BreakdownRow>,
    /// Rows whose KPI has no value (e.g. no leads, so no cost per lead), by name.
    pub without_value: Vec<String>,
    pub rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakdownRow {
    pub value: String,
    pub kpi_value: f64,
}

/// The period a report covers at `as_of`, or the explicit `period` given.
pub fn report_period(plan: &Plan, spec: &ReportSpec, as_of: &AsOf) -> Period {
    spec.period.resolve(as_of.date, plan.week_start)
}

/// The date ranges a report needs data for (its period and every goal's comparisons).
pub fn needed_ranges(plan: &Plan, spec: &ReportSpec, period: &Period, as_of: &AsOf) -> Vec<(NaiveDate, NaiveDate)> {
    let capped = as_of.capped_at_end_of(period, plan.timezone);
    let mut ranges = vec![(period.start, period.end)];
    for gid in &spec.goals {
        let g = &plan.goals[gid];
        let p = Period::containing(g.grain, capped.date, plan.week_start);
        let ly = p.same_period_last_year();
        let mut back = p;
        for _ in 1..spec.history {
            back = back.previous();
            ranges.push((back.start, back.end));
        }
        ranges.extend([
            (p.start, p.end),
            (p.previous().start, p.previous().end),
            (ly.start, ly.end),
        ]);
    }
    ranges
}

/// Metric indices a report uses.
pub fn needed_metrics(plan: &Plan, spec: &ReportSpec) -> Vec<usize> {
    let mut out = Vec::new();
    for gid in &spec.goals {
        plan.kpis[&plan.goals[gid].kpi].formula.metrics(&mut out);
    }
    for b in &spec.breakdowns {
        plan.kpis[&b.kpi].formula.metrics(&mut out);
    }
    for f in &spec.funnels {
        for s in &plan.funnels[f].stages {
            if !out.contains(&s.metric) {
                out.push(s.metric);
            }
        }
    }
    out
}

/// Builds the report model from fetched data. `failures` are sources that could not be read.
pub fn build(
    plan: &Plan,
    spec: &ReportSpec,
    period: Period,
    as_of: AsOf,
    data: &Dataset,
    failures: &[SourceError],
) -> ReportModel {
    let tz = plan.timezone;
    let capped = as_of.capped_at_end_of(&period, tz);
    let through = capped.through_date(tz);
    let to_date_end = (through + Duration::days(1)).min(period.end);
    let mut notes: Vec<String> = failures.iter().map(|f| format!("data unavailable: {f}")).collect();
    let failed_sources: Vec<FailedSource> = failures
        .iter()
        .map(|f| FailedSource {
            source: f.source.clone(),
            message: f.message.clone(),
            goals: spec
                .goals
                .iter()
                .filter(|g| !failed_sources_of(plan, &plan.goals[*g].kpi, std::slice::from_ref(f)).is_empty())
                .cloned()
                .collect(),
        })
        .collect();
    let sources_without_rows: Vec<String> = data
        .frames
        .iter()
        .filter(|(_, f)| f.is_empty())
        .map(|(id, _)| id.clone())
        .collect();
    for s in &sources_without_rows {
        notes.push(format!("source `{s}` returned no rows for the dates this report needs"));
    }

    let mut goals: Vec<Verdict> = spec
        .goals
        .iter()
        .map(|gid| {
            let g = &plan.goals[gid];
            let mut v = goal::evaluate(plan, g, capped, data, spec.history);
            let failed = failed_sources_of(plan, &g.kpi, failures);
            if !failed.is_empty() {
                v.status = Status::NoData;
                v.attainment = None;
                v.projected = None;
                v.actual = None;
                v.change = None;
                v.change_last_year = None;
                v.reasons = failed
                    .iter()
                    .map(|f| Reason::new("data_unavailable", &[("source", &f.source), ("message", &f.message)]))
                    .collect();
                v.note = crate::reason::english_note(&v.reasons);
            }
            v
        })
        .collect();
    // Primary goals first; otherwise the configured order.
    goals.sort_by_key(|v| v.priority != "primary");

    let summary = Summary::of(&goals);

    let funnels = spec
        .funnels
        .iter()
        .map(|fid| funnel(plan, fid, data, period.start, to_date_end))
        .collect();
    let breakdowns = spec
        .breakdowns
        .iter()
        .map(|b| breakdown(plan, &b.kpi, &b.by, b.top, data, period.start, to_date_end))
        .collect();
    for v in goals.iter().filter(|v| v.status == Status::TooEarly) {
        if let Some(d) = v.judge_from {
            notes.push(format!("{}: too early to judge; can be judged from {d}", v.name));
        }
    }

    ReportModel {
        report: spec.id.clone(),
        title: spec.title.clone(),
        period: PeriodInfo {
            key: period.key(),
            grain: period.grain.name(),
            start: period.start,
            end: period.last_day(),
            complete: period.elapsed_fraction(tz, capped.instant) >= 1.0,
        },
        as_of: as_of.instant.to_rfc3339_opts(SecondsFormat::Secs, true),
        data_through: through.min(period.last_day()),
        timezone: tz.name().to_string(),
        currency: plan.currency.clone(),
        locale: plan.locale.clone(),
        summary,
        goals,
        funnels,
        breakdowns,
        notes,
        failed_sources,
        sources_without_rows,
    }
}

fn failed_sources_of<'f>(plan: &Plan, kpi: &str, failures: &'f [SourceError]) -> Vec<&'f SourceError> {
    let mut used = Vec::new();
    plan.kpis[kpi].formula.metrics(&mut used);
    failures
        .iter()
        .filter(|f| {
            used.iter()
                .any(|&m| plan.metrics[m].feeds.iter().any(|feed| feed.source == f.source))
        })
        .collect()
}

fn rate(num: Option<f64>, den: Option<f64>) -> (Option<f64>, Option<String>) {
    match (num, den) {
        (Some(n), Some(d)) if d != 0.0 => (Some(n / d), None),
        (Some(_), Some(_)) => (None, Some("division by zero: the earlier stage is 0".into())),
        _ => (None, Some("no data".into())),
    }
}

fn funnel(
    plan: &Plan,
    id: &str,
    data: &Dataset,
    start: NaiveDate,
    end: NaiveDate,
) -> crate::report::model::FunnelModel {
    let f = &plan.funnels[id];
    let wanted: Vec<usize> = f.stages.iter().map(|s| s.metric).collect();
    let slice = Slice {
        start,
        end,
        filter: &[],
    };
    let total = aggregate(&plan.metrics, data, slice, GroupBy::Total, &wanted).total();
    let values: Vec<Option<f64>> = f
        .stages
        .iter()
        .map(|s| total.get(s.metric).copied().flatten())
        .collect();
    let steps = f
        .stages
        .windows(2)
        .zip(values.windows(2))
        .map(|(s, v)| {
            let (r, note) = rate(v[1], v[0]);
            Step {
                from: s[0].label.clone(),
                to: s[1].label.clone(),
                rate: r,
                note,
            }
        })
        .collect();
    let (overall_rate, note) = rate(*values.last().unwrap_or(&None), *values.first().unwrap_or(&None));
    let mut rows = Vec::new();
    if let Some(dim) = &f.breakdown {
        let groups = aggregate(&plan.metrics, data, slice, GroupBy::Dim(dim), &wanted);
        for (key, vals) in groups.keys.iter().zip(&groups.values) {
            let Key::Value(name) = key else { continue };
            let stages: Vec<Option<f64>> = f.stages.iter().map(|s| vals[s.metric]).collect();
            let rates = stages.windows(2).map(|w| rate(w[1], w[0]).0).collect();
            rows.push(FunnelRow {
                value: name.clone(),
                overall_rate: rate(*stages.last().unwrap_or(&None), *stages.first().unwrap_or(&None)).0,
                stages,
                rates,
            });
        }
        rows.sort_by(|a, b| a.value.cmp(&b.value));
    }
    FunnelModel {
        id: id.into(),
        name: f.name.clone(),
        stages: f
            .stages
            .iter()
            .zip(&values)
            .map(|(s, v)| StageValue {
                label: s.label.clone(),
                value: *v,
            })
            .collect(),
        steps,
        overall_rate,
        note,
        by: f.breakdown.clone(),
        rows,
    }
}

fn breakdown(
    plan: &Plan,
    kpi_id: &str,
    by: &str,
    top: usize,
    data: &Dataset,
    start: NaiveDate,
    end: NaiveDate,
) -> BreakdownModel {
    let kpi = &plan.kpis[kpi_id];
    let mut wanted = Vec::new();
    kpi.formula.metrics(&mut wanted);
    let slice = Slice {
        start,
        end,
        filter: &[],
    };
    let groups = aggregate(&plan.metrics, data, slice, GroupBy::Dim(by), &wanted);
    let names = plan.metric_names();
    let mut valued = Vec::new();
    let mut without_value = Vec::new();
    for (key, vals) in groups.keys.iter().zip(&groups.values) {
        let Key::Value(name) = key else { continue };
        match kpi.formula.eval(vals, &names) {
            Ok(v) => valued.push(BreakdownRow {
                value: name.clone(),
                kpi_value: v,
            }),
            Err(_) => without_value.push(name.clone()),
        }
    }
    // Best first; ties broken by name so the order is stable.
    valued.sort_by(|a, b| {
        let o = a.kpi_value.total_cmp(&b.kpi_value);
        let o = if kpi.better == Better::Higher { o.reverse() } else { o };
        o.then_with(|| a.value.cmp(&b.value))
    });
    without_value.sort();
    let n = top
        .min(valued.len() / 2 + valued.len() % 2)
        .max(if valued.len() == 1 { 1 } else { 0 });
    let best: Vec<BreakdownRow> = valued.iter().take(n).cloned().collect();
    let worst: Vec<BreakdownRow> = valued.iter().rev().take(top.min(valued.len() - n)).cloned().collect();
    BreakdownModel {
        kpi: kpi_id.into(),
        name: kpi.name.clone(),
        unit: kpi.unit,
        better: kpi.better,
        by: by.into(),
        rows: valued.len() + without_value.len(),
        best,
        worst,
        without_value,
    }
}
