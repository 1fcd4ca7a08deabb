//! Plain-text rendering of a report model, for the terminal (`goalpost preview`).

use super::format::{change, percent, value};
use super::model::ReportModel;
use std::fmt::Write;

pub fn render(m: &ReportModel) -> String {
    let mut out = String::new();
    let s = &m.summary;
    let headline = if s.total > 0 && s.judged() == 0 && s.too_early > 0 {
        format!("Too early to judge {}", m.period.key)
    } else {
        format!("{} of {} goals on track for {}", s.good(), s.total, m.period.key)
    };
    let _ = writeln!(out, "{} — {}", m.title, headline);
    let _ = writeln!(
        out,
        "Period {} to {}{}; data through {} ({})",
        m.period.start,
        m.period.end,
        if m.period.complete { "" } else { " (in progress)" },
        m.data_through,
        m.timezone
    );
    if !m.goals.is_empty() {
        let _ = writeln!(out, "\nGoals");
    }
    for g in &m.goals {
        let target = match (g.target_kind, g.target, g.target_high) {
            ("between", Some(lo), Some(hi)) => format!(
                "{} to {}",
                value(Some(lo), g.unit, &m.currency),
                value(Some(hi), g.unit, &m.currency)
            ),
            (kind, t, _) => format!("{} {}", kind.replace('_', " "), value(t, g.unit, &m.currency)),
        };
        let _ = write!(
            out,
            "  [{:<9}] {}: {} (target {}",
            g.status.as_str(),
            g.name,
            value(g.actual, g.unit, &m.currency),
            target
        );
        if let Some(a) = g.attainment {
            let _ = write!(out, ", {} of target", percent(a));
        }
        let _ = write!(out, ")");
        if let Some(p) = g.projected {
            let _ = write!(out, "; projected {}", value(Some(p), g.unit, &m.currency));
        }
        if g.previous.is_some() {
            let _ = write!(out, "; {} vs previous", change(g.change));
        }
        if let Some(o) = &g.owner {
            let _ = write!(out, "; owner {o}");
        }
        let _ = writeln!(out);
        if let Some(n) = &g.note {
            let _ = writeln!(out, "      {n}");
        }
    }
    for f in &m.funnels {
        let _ = writeln!(out, "\nFunnel: {}", f.name);
        let stages: Vec<String> = f
            .stages
            .iter()
            .map(|s| format!("{} {}", s.label, value(s.value, crate::kpi::Unit::Count, "")))
            .collect();
        let _ = writeln!(out, "  {}", stages.join(" → "));
        let steps: Vec<String> = f
            .steps
            .iter()
            .map(|s| format!("{}→{} {}", s.from, s.to, s.rate.map_or("—".into(), percent)))
            .collect();
        let _ = writeln!(
            out,
            "  {}; overall {}",
            steps.join(", "),
            f.overall_rate.map_or("—".into(), percent)
        );
    }
    for b in &m.breakdowns {
        let _ = writeln!(out, "\n{} by {}", b.name, b.by);
        let row =
            |r: &super::model::BreakdownRow| format!("{} {}", r.value, value(Some(r.kpi_value), b.unit, &m.currency));
        let _ = writeln!(
            out,
            "  worked: {}",
            b.best.iter().map(row).collect::<Vec<_>>().join("; ")
        );
        if !b.worst.is_empty() {
            let _ = writeln!(
                out,
                "  didn't: {}",
                b.worst.iter().map(row).collect::<Vec<_>>().join("; ")
            );
        }
        if !b.without_value.is_empty() {
            let _ = writeln!(out, "  no value: {}", b.without_value.join(", "));
        }
    }
    if !m.notes.is_empty() {
        let _ = writeln!(out, "\nNotes");
        for n in &m.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}
