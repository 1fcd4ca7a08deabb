//! Problems found in a config file: where (file:line:column), what, and a suggestion.
//!
//! Every check adds to one [`Diagnostics`] list instead of stopping at the first
//! problem, so `goalpost check` shows all of them in one run.

use serde::Serialize;
use std::fmt;

/// A position in a config file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(flatten)]
    pub location: Location,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}: {}", self.location, self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

/// Every problem found so far, in the order found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, at: &Location, message: impl Into<String>) {
        self.push(Severity::Error, at, message.into(), None);
    }

    pub fn error_with(&mut self, at: &Location, message: impl Into<String>, suggestion: Option<String>) {
        self.push(Severity::Error, at, message.into(), suggestion);
    }

    pub fn warning(&mut self, at: &Location, message: impl Into<String>) {
        self.push(Severity::Warning, at, message.into(), None);
    }

    fn push(&mut self, severity: Severity, at: &Location, message: String, suggestion: Option<String>) {
        self.items.push(Diagnostic {
            severity,
            location: at.clone(),
            message,
            suggestion,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Sorts by file, line, column so output reads top to bottom.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (&a.location.file, a.location.line, a.location.column).cmp(&(
                &b.location.file,
                b.location.line,
                b.location.column,
            ))
        });
    }
}

/// "did you mean `x`?" for the closest of `candidates` to `got`, when one is close enough.
pub fn did_you_mean<'a>(got: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(got, c);
        if score > 0.88 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_near_miss_and_nothing_for_a_far_one() {
        let keys = ["target", "kpi", "period", "owner"];
        assert_eq!(did_you_mean("targt", keys).as_deref(), Some("did you mean `target`?"));
        assert_eq!(did_you_mean("ownr", keys).as_deref(), Some("did you mean `owner`?"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
