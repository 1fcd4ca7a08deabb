//! The report model turned into words for one language: every number formatted,
//! every fixed phrase translated, statuses with a word *and* a colour. Templates
//! (HTML, text) and the Slack builder all read this one view, so they never disagree.

use super::locale::Locale;
use super::model::ReportModel;
use crate::goal::Status;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub lang: String,
    pub dir: &'static str,
    /// `right` for RTL, `left` otherwise: for `align=` attributes.
    pub align: &'static str,
    pub title: String,
    pub headline: String,
    pub period_label: String,
    pub period_status: String,
    pub goals: Vec<GoalView>,
    pub more_goals: Option<String>,
    pub funnels: Vec<FunnelView>,
    pub breakdowns: Vec<BreakdownView>,
    pub notes: Notes,
    pub labels: Labels,
    pub footer: String,
}

/// The notes section, passed to its partial on its own (a partial copies its context).
#[derive(Debug, Clone, Serialize)]
pub struct Notes {
    pub title: String,
    pub items: Vec<String>,
    /// For `align=` in the HTML partial.
    pub align: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    /// The list separator (", " / "، ").
    pub sep: String,
    pub goals: String,
    pub funnel: String,
    pub worked: String,
    pub didnt: String,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalView {
    pub id: String,
    pub name: String,
    pub primary: bool,
    pub status: &'static str,
    pub status_label: String,
    pub color: &'static str,
    pub emoji: &'static str,
    pub actual: String,
    pub target: String,
    pub attainment: Option<String>,
    /// Width of the attainment bar, 0 to 100.
    pub bar: u32,
    pub projected: Option<String>,
    pub change: Option<String>,
    pub owner: Option<String>,
    pub note: Option<String>,
    /// Projection, change and owner joined with " · " (what the default HTML shows in one line).
    pub details: String,
    /// The same, one indented line each, for the plain-text report.
    pub details_text: String,
    /// Sparkline values, oldest first (the chart renderer reads these).
    #[serde(skip)]
    pub history: Vec<Option<f64>>,
    #[serde(skip)]
    pub target_value: Option<f64>,
    pub sparkline_alt: String,
    #[serde(skip)]
    pub unit: crate::kpi::Unit,
    /// Set by the HTML renderer when charts are attached.
    pub sparkline: Option<ImageRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageRef {
    pub src: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelView {
    pub name: String,
    pub stages: Vec<Cell>,
    pub steps: Vec<Cell>,
    pub overall: String,
    #[serde(skip)]
    pub values: Vec<Option<f64>>,
    pub chart_alt: String,
    pub chart: Option<ImageRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakdownView {
    pub title: String,
    pub worked: Vec<Cell>,
    pub didnt: Vec<Cell>,
    pub no_value: Option<String>,
}

pub fn status_color(s: Status) -> &'static str {
    match s {
        Status::Met => "#1a7f37",
        Status::OnTrack => "#2da44e",
        Status::AtRisk => "#9a6700",
        Status::OffTrack => "#cf222e",
        Status::TooEarly | Status::NoData => "#6e7781",
    }
}

fn status_emoji(s: Status) -> &'static str {
    match s {
        Status::Met | Status::OnTrack => "🟢",
        Status::AtRisk => "🟠",
        Status::OffTrack => "🔴",
        Status::TooEarly => "⏳",
        Status::NoData => "⚪",
    }
}

/// Builds the view. `max_goals` caps the goal lines; the rest are counted in `more_goals`.
pub fn build(m: &ReportModel, loc: &Locale, max_goals: usize) -> View {
    let period_label = loc.period(m.period.grain, m.period.start, m.period.end);
    let s = &m.summary;
    let headline = if s.total == 0 {
        loc.fill("headline_no_goals", &[("period", &period_label)])
    } else if s.judged() == 0 && s.too_early > 0 {
        loc.fill("headline_too_early", &[("period", &period_label)])
    } else {
        let (good, total) = (loc.number(s.good() as f64, 0), loc.number(s.total as f64, 0));
        loc.fill(
            "headline",
            &[("good", &good), ("total", &total), ("period", &period_label)],
        )
    };
    let period_status = if m.period.complete {
        loc.fill(
            "period.complete",
            &[("start", &loc.date(m.period.start)), ("end", &loc.date(m.period.end))],
        )
    } else {
        loc.fill("period.running", &[("date", &loc.date(m.data_through))])
    };

    let goals: Vec<GoalView> = m.goals.iter().take(max_goals).map(|g| goal_view(g, loc)).collect();
    let hidden = m.goals.len().saturating_sub(max_goals);
    let more_goals = (hidden > 0).then(|| loc.fill("more_goals", &[("count", &loc.number(hidden as f64, 0))]));

    let funnels = m
        .funnels
        .iter()
        .map(|f| {
            let stages: Vec<Cell> = f
                .stages
                .iter()
                .map(|s| Cell {
                    label: loc.kpi_name(&s.label, &s.label),
                    value: loc.value(s.value, crate::kpi::Unit::Count),
                })
                .collect();
            let steps = f
                .steps
                .iter()
                .map(|st| Cell {
                    label: format!(
                        "{} → {}",
                        loc.kpi_name(&st.from, &st.from),
                        loc.kpi_name(&st.to, &st.to)
                    ),
                    value: st.rate.map_or("—".into(), |r| loc.percent(r)),
                })
                .collect();
            let summary: Vec<String> = stages.iter().map(|c| format!("{} {}", c.label, c.value)).collect();
            FunnelView {
                name: f.name.clone(),
                overall: loc.fill(
                    "funnel.overall",
                    &[("rate", &f.overall_rate.map_or("—".into(), |r| loc.percent(r)))],
                ),
                chart_alt: loc.fill("funnel_alt", &[("name", &f.name), ("stages", &summary.join(", "))]),
                values: f.stages.iter().map(|s| s.value).collect(),
                stages,
                steps,
                chart: None,
            }
        })
        .collect();

    let breakdowns = m
        .breakdowns
        .iter()
        .map(|b| {
            let cell = |r: &super::model::BreakdownRow| Cell {
                label: r.value.clone(),
                value: loc.value(Some(r.kpi_value), b.unit),
            };
            BreakdownView {
                title: loc.fill(
                    "by",
                    &[
                        ("kpi", &loc.kpi_name(&b.kpi, &b.name)),
                        ("dimension", &loc.dimension_name(&b.by)),
                    ],
                ),
                worked: b.best.iter().map(cell).collect(),
                didnt: b.worst.iter().map(cell).collect(),
                no_value: (!b.without_value.is_empty())
                    .then(|| loc.fill("no_value_rows", &[("rows", &b.without_value.join(", "))])),
            }
        })
        .collect();

    let mut notes: Vec<String> = Vec::new();
    for f in &m.failed_sources {
        let affected: Vec<String> = m
            .goals
            .iter()
            .filter(|g| f.goals.contains(&g.id))
            .map(|g| loc.isolate(&goal_name(g, loc)))
            .collect();
        let reason = crate::reason::Reason::new("data_unavailable", &[("source", &f.source), ("message", &f.message)]);
        let mut line = loc.reason(&reason);
        if !affected.is_empty() {
            line.push_str(&format!(" ({})", affected.join(loc.t("sep"))));
        }
        notes.push(line);
    }
    for s in &m.sources_without_rows {
        notes.push(loc.fill("source_without_rows", &[("source", &loc.isolate(s))]));
    }
    for g in &m.goals {
        if let Some(d) = g.judge_from {
            let name = loc.isolate(&goal_name(g, loc));
            notes.push(format!(
                "{}: {}",
                name,
                loc.fill("judge_from", &[("date", &loc.date(d))])
            ));
        }
    }

    View {
        lang: loc.lang.clone(),
        dir: if loc.rtl { "rtl" } else { "ltr" },
        align: if loc.rtl { "right" } else { "left" },
        title: m.title.clone(),
        headline,
        period_label,
        period_status,
        goals,
        more_goals,
        funnels,
        breakdowns,
        notes: Notes {
            title: loc.t("notes").into(),
            items: notes,
            align: if loc.rtl { "right" } else { "left" },
        },
        labels: Labels {
            sep: loc.t("sep").into(),
            goals: loc.t("goals").into(),
            funnel: loc.t("funnel").into(),
            worked: loc.t("worked").into(),
            didnt: loc.t("didnt").into(),
            notes: loc.t("notes").into(),
        },
        footer: loc.t("footer").into(),
    }
}

fn goal_name(g: &crate::goal::Verdict, loc: &Locale) -> String {
    if g.named {
        g.name.clone()
    } else {
        loc.kpi_name(&g.kpi, &g.name)
    }
}

fn goal_view(g: &crate::goal::Verdict, loc: &Locale) -> GoalView {
    let v = |x: Option<f64>| loc.value(x, g.unit);
    let target = match (g.target_kind, g.target, g.target_high) {
        ("between", Some(lo), Some(hi)) => loc.fill("target.between", &[("low", &v(Some(lo))), ("high", &v(Some(hi)))]),
        (kind, Some(t), _) => loc.fill(&format!("target.{kind}"), &[("value", &v(Some(t)))]),
        ("change", None, _) => loc.t("target.change").to_string(),
        _ => loc.t("target.unknown").to_string(),
    };
    let name = goal_name(g, loc);
    // A too-early goal's date is said in the report's language (the model's note is English).
    let note = if g.status == Status::TooEarly {
        g.judge_from.map(|d| loc.fill("judge_from", &[("date", &loc.date(d))]))
    } else if g.reasons.is_empty() {
        None
    } else {
        Some(g.reasons.iter().map(|r| loc.reason(r)).collect::<Vec<_>>().join("; "))
    };
    let history: Vec<Option<f64>> = g.history.iter().map(|h| h.value).collect();
    let mut view = GoalView {
        id: g.id.clone(),
        primary: g.priority == "primary",
        status: g.status.as_str(),
        status_label: loc.t(&format!("status.{}", g.status.as_str())).to_string(),
        color: status_color(g.status),
        emoji: status_emoji(g.status),
        actual: v(g.actual),
        target,
        attainment: g.attainment.map(|a| {
            let key = if g.projected.is_some() {
                "of_target_projected"
            } else {
                "of_target"
            };
            loc.fill(key, &[("percent", &loc.percent(a))])
        }),
        bar: g.attainment.map_or(0, |a| (a.clamp(0.0, 1.0) * 100.0).round() as u32),
        projected: g.projected.map(|p| loc.fill("projected", &[("value", &v(Some(p)))])),
        change: g
            .change
            .map(|c| loc.fill("vs_previous", &[("change", &loc.change(Some(c)))])),
        owner: g
            .owner
            .as_ref()
            .map(|o| loc.fill("owner", &[("owner", &loc.isolate(o))])),
        details: String::new(),
        details_text: String::new(),
        note,
        // Written when a chart is attached (see `Renderer::html`), not for every view.
        sparkline_alt: String::new(),
        unit: g.unit,
        name,
        target_value: g.target,
        history,
        sparkline: None,
    };
    let parts: Vec<&String> = [&view.projected, &view.change, &view.owner]
        .into_iter()
        .flatten()
        .collect();
    view.details = parts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" · ");
    view.details_text = parts.iter().map(|s| format!("      {s}\n")).collect();
    view
}
