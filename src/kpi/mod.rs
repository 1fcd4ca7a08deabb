//! KPIs: the built-in library, formulas, and aggregation of metrics over periods and breakdowns.
//!
//! The rule that matters most lives in `aggregate`: base metrics are summed (or
//! otherwise aggregated as declared) over a slice first, and only then are formulas
//! evaluated, so a ratio is never an average of ratios.

pub mod aggregate;
pub mod formula;
pub mod library;

use serde::Serialize;

/// What a KPI's number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A count of things (sessions, leads).
    Count,
    /// Money in major units of the configured currency.
    Money,
    /// A rate stored as a fraction (0.08 = 8%).
    Fraction,
    /// A plain ratio shown as a number (ROAS 4.2, pages per visit 3.1).
    Ratio,
    /// A level reported by a platform (quality score 8), never summed.
    Score,
    /// A duration in seconds.
    Duration,
}

impl Unit {
    pub const NAMES: &'static [&'static str] = &["count", "money", "fraction", "ratio", "score", "duration"];

    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "count" => Unit::Count,
            "money" => Unit::Money,
            "fraction" | "percent" | "rate" => Unit::Fraction,
            "ratio" => Unit::Ratio,
            "score" => Unit::Score,
            "duration" => Unit::Duration,
            _ => return None,
        })
    }
}

/// Which way a KPI is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// A KPI as the plan uses it: compiled formula over the plan's metrics.
#[derive(Debug, Clone)]
pub struct Kpi {
    pub id: String,
    pub name: String,
    pub formula: formula::Formula,
    pub text: String,
    pub unit: Unit,
    pub better: Better,
    /// Adds up over days (a count or money total): can be projected to period end.
    pub additive: bool,
    /// Can only grow as days are added (no subtraction): a floor reached early is met.
    pub monotonic: bool,
}
