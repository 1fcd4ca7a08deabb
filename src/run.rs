//! One (report, period) computation: fetch → aggregate → judge → model.
//! `goalpost preview` calls it now; `send` and the daemon will call the same function,
//! so what is previewed is what is sent.

use crate::config::plan::{Plan, ReportSpec};
use crate::period::{AsOf, Period};
use crate::report::model::{self, ReportModel};
use crate::source::{self, SourceError};

/// Computes the report model for `spec` over `period` (default: the report's own period at `as_of`).
pub async fn compute(
    plan: &Plan,
    spec: &ReportSpec,
    period: Option<Period>,
    as_of: AsOf,
) -> (ReportModel, Vec<SourceError>) {
    let period = period.unwrap_or_else(|| model::report_period(plan, spec, &as_of));
    let ranges = model::needed_ranges(plan, spec, &period, &as_of);
    let metrics = model::needed_metrics(plan, spec);
    let requests = source::requests(plan, &metrics, &ranges);
    let (data, failures) = source::fetch_all(plan, &requests).await;
    let m = model::build(plan, spec, period, as_of, &data, &failures);
    (m, failures)
}
