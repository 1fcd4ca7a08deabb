//! Aggregation: metric totals over a date range, overall, per dimension value, or per day.
//!
//! Each metric is aggregated as declared (sum, weighted mean, first, last, min, max)
//! from every source field that feeds it; formulas are evaluated afterwards on these
//! totals (see `Formula::eval`), never on per-row ratios.

use crate::config::plan::{Aggregate, Metric};
use crate::frame::{date_of, day_of, Day, Frame};
use chrono::NaiveDate;
use indexmap::IndexMap;
use std::collections::HashMap;

/// The frames fetched for one run, by source id, each sorted by date.
#[derive(Debug, Default)]
pub struct Dataset {
    pub frames: IndexMap<String, Frame>,
}

/// Which rows to aggregate: dates in `[start, end)`, and dimension filters.
#[derive(Debug, Clone, Copy)]
pub struct Slice<'a> {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub filter: &'a [(String, String)],
}

#[derive(Debug, Clone, Copy)]
pub enum GroupBy<'a> {
    Total,
    Dim(&'a str),
    Day,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Total,
    Value(String),
    Day(NaiveDate),
}

/// Aggregated values: `values[g][m]` is metric `m` for group `keys[g]`, `None` when no row had it.
#[derive(Debug, Clone)]
pub struct Groups {
    pub keys: Vec<Key>,
    pub values: Vec<Vec<Option<f64>>>,
}

impl Groups {
    pub fn total(&self) -> Vec<Option<f64>> {
        self.values.first().cloned().unwrap_or_default()
    }
}

#[derive(Clone, Copy)]
struct Acc {
    sum: f64,
    weight: f64,
    n: u32,
    first_day: Day,
    first: f64,
    last_day: Day,
    last: f64,
    min: f64,
    max: f64,
}

impl Default for Acc {
    fn default() -> Acc {
        Acc {
            sum: 0.0,
            weight: 0.0,
            n: 0,
            first_day: Day::MAX,
            first: f64::NAN,
            last_day: Day::MIN,
            last: f64::NAN,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Acc {
    fn result(&self, agg: &Aggregate) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(match agg {
            Aggregate::Sum => self.sum,
            Aggregate::Mean { weight: Some(_) } => {
                if self.weight == 0.0 {
                    return None;
                }
                self.sum / self.weight
            }
            Aggregate::Mean { weight: None } => self.sum / self.n as f64,
            Aggregate::First => self.first,
            Aggregate::Last => self.last,
            Aggregate::Min => self.min.min(self.last),
            Aggregate::Max => self.max.max(self.last),
        })
    }
}

/// Aggregates the metrics listed in `wanted` (indices into `metrics`) over `slice`.
/// Other metrics come back as `None`.
pub fn aggregate(metrics: &[Metric], data: &Dataset, slice: Slice<'_>, by: GroupBy<'_>, wanted: &[usize]) -> Groups {
    let (start, end) = (day_of(slice.start), day_of(slice.end));
    let mut keys: Vec<Key> = Vec::new();
    let mut key_index: HashMap<String, u32> = HashMap::new();
    match by {
        GroupBy::Total => keys.push(Key::Total),
        GroupBy::Day => keys.extend((start..end).map(|d| Key::Day(date_of(d)))),
        GroupBy::Dim(_) => {}
    }
    // accs[(metric position in `wanted`, feed)][group], filled per source.
    let mut per_metric: Vec<Vec<Vec<Acc>>> = wanted
        .iter()
        .map(|&m| vec![Vec::new(); metrics[m].feeds.len()])
        .collect();

    for (source, frame) in &data.frames {
        let rows = frame.rows_between(start, end);
        if rows.is_empty() {
            continue;
        }
        let Some(filter) = row_filter(frame, slice.filter) else {
            continue;
        };
        // The group of each row in `rows`, or u32::MAX to skip it.
        let groups: Option<Vec<u32>> = match by {
            GroupBy::Total => None,
            GroupBy::Day => Some(frame.dates[rows.clone()].iter().map(|&d| (d - start) as u32).collect()),
            GroupBy::Dim(dim) => {
                let Some(col) = frame.dim(dim) else { continue };
                let remap: Vec<u32> = col
                    .values
                    .iter()
                    .map(|v| {
                        let next = keys.len() as u32;
                        *key_index.entry(v.clone()).or_insert_with(|| {
                            keys.push(Key::Value(v.clone()));
                            next
                        })
                    })
                    .collect();
                Some(col.codes[rows.clone()].iter().map(|&c| remap[c as usize]).collect())
            }
        };
        for (wi, &m) in wanted.iter().enumerate() {
            let metric = &metrics[m];
            for (fi, feed) in metric.feeds.iter().enumerate() {
                if &feed.source != source {
                    continue;
                }
                let Some(col) = frame.field_index(&feed.field) else {
                    continue;
                };
                let values = &frame.fields[col].values[rows.clone()];
                let weights = match &metric.aggregate {
                    Aggregate::Mean { weight: Some(w) } => {
                        let wm = metrics.iter().find(|x| &x.name == w);
                        let wf = wm.and_then(|wm| wm.feeds.iter().find(|f| &f.source == source));
                        match wf.and_then(|wf| frame.field_index(&wf.field).map(|i| (i, wf.scale))) {
                            Some((i, s)) => Some((&frame.fields[i].values[rows.clone()], s)),
                            None => continue,
                        }
                    }
                    _ => None,
                };
                let accs = &mut per_metric[wi][fi];
                if accs.len() < keys.len().max(1) {
                    accs.resize(keys.len().max(1), Acc::default());
                }
                let dates = &frame.dates[rows.clone()];
                accumulate(
                    accs,
                    values,
                    feed.scale,
                    weights,
                    dates,
                    groups.as_deref(),
                    filter.as_deref(),
                    rows.start,
                );
            }
        }
    }

    let ngroups = keys.len();
    let mut values = vec![vec![None; metrics.len()]; ngroups];
    for (wi, &m) in wanted.iter().enumerate() {
        let metric = &metrics[m];
        for (g, row) in values.iter_mut().enumerate() {
            let mut total: Option<f64> = None;
            match metric.aggregate {
                // Sums and means combine accumulators across feeds; levels add per-feed results.
                Aggregate::Sum | Aggregate::Mean { .. } => {
                    let mut merged = Acc::default();
                    for accs in &per_metric[wi] {
                        if let Some(a) = accs.get(g) {
                            merged.sum += a.sum;
                            merged.weight += a.weight;
                            merged.n += a.n;
                        }
                    }
                    total = merged.result(&metric.aggregate);
                }
                _ => {
                    for accs in &per_metric[wi] {
                        if let Some(v) = accs.get(g).and_then(|a| a.result(&metric.aggregate)) {
                            total = Some(total.unwrap_or(0.0) + v);
                        }
                    }
                }
            }
            row[m] = total;
        }
    }
    Groups { keys, values }
}

/// For each row of the frame, whether it passes the filter (`None` = no filter).
/// Returns `None` overall when the frame cannot match (a filter dimension it lacks).
fn row_filter(frame: &Frame, filter: &[(String, String)]) -> Option<Option<Vec<bool>>> {
    if filter.is_empty() {
        return Some(None);
    }
    let mut keep = vec![true; frame.len()];
    for (dim, value) in filter {
        let col = frame.dim(dim)?;
        let code = col.code_of(value);
        for (k, &c) in keep.iter_mut().zip(&col.codes) {
            *k = *k && Some(c) == code;
        }
    }
    Some(Some(keep))
}

#[allow(clippy::too_many_arguments)]
fn accumulate(
    accs: &mut [Acc],
    values: &[f64],
    scale: f64,
    weights: Option<(&[f64], f64)>,
    dates: &[Day],
    groups: Option<&[u32]>,
    keep: Option<&[bool]>,
    offset: usize,
) {
    // The common case (a total, no filter, a plain sum) is a tight loop.
    if groups.is_none() && keep.is_none() && weights.is_none() {
        let a = &mut accs[0];
        for (i, &v) in values.iter().enumerate() {
            if !v.is_nan() {
                add(a, v * scale, 0.0, dates[i]);
            }
        }
        return;
    }
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() || keep.is_some_and(|k| !k[offset + i]) {
            continue;
        }
        let g = groups.map_or(0, |g| g[i]) as usize;
        match weights {
            Some((w, ws)) => {
                let w = w[i] * ws;
                if !w.is_nan() {
                    add(&mut accs[g], v * scale * w, w, dates[i]);
                }
            }
            None => add(&mut accs[g], v * scale, 0.0, dates[i]),
        }
    }
}

#[inline]
fn add(a: &mut Acc, v: f64, w: f64, day: Day) {
    a.sum += v;
    a.weight += w;
    a.n += 1;
    // Several rows on the same day (one per channel) add up to that day's level.
    if day < a.first_day {
        a.first_day = day;
        a.first = v;
    } else if day == a.first_day {
        a.first += v;
    }
    // Min and max are over day totals too: rows come in date order (frames are sorted),
    // so a day's total is final when the next day starts (and at the end, in `result`).
    if day > a.last_day {
        if a.last_day != Day::MIN {
            a.min = a.min.min(a.last);
            a.max = a.max.max(a.last);
        }
        a.last_day = day;
        a.last = v;
    } else if day == a.last_day {
        a.last += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan::Feed;
    use crate::kpi::Unit;

    fn metric(name: &str, agg: Aggregate) -> Metric {
        Metric {
            name: name.into(),
            feeds: vec![Feed {
                source: "s".into(),
                field: name.into(),
                scale: 1.0,
            }],
            aggregate: agg,
            unit: Unit::Count,
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Two channels over three days.
    fn dataset() -> Dataset {
        let mut f = Frame::new(
            &["channel".into()],
            &["leads".into(), "sessions".into(), "stock".into()],
        );
        let rows = [
            ("2026-10-01", "Email", 1.0, 10.0, 5.0),
            ("2026-10-01", "Paid", 3.0, 100.0, 7.0),
            ("2026-10-02", "Email", 2.0, 10.0, 6.0),
            ("2026-10-03", "Paid", f64::NAN, 50.0, 8.0),
        ];
        for (date, ch, l, s, st) in rows {
            f.dates.push(day_of(d(date)));
            f.dims[0].push(ch);
            f.fields[0].values.push(l);
            f.fields[1].values.push(s);
            f.fields[2].values.push(st);
        }
        let mut ds = Dataset::default();
        ds.frames.insert("s".into(), f);
        ds
    }

    fn metrics() -> Vec<Metric> {
        vec![
            metric("leads", Aggregate::Sum),
            metric("sessions", Aggregate::Sum),
            metric("stock", Aggregate::Last),
        ]
    }

    #[test]
    fn totals_by_dimension_and_by_day_sum_the_same_rows() {
        let ds = dataset();
        let m = metrics();
        let slice = Slice {
            start: d("2026-10-01"),
            end: d("2026-10-04"),
            filter: &[],
        };
        let total = aggregate(&m, &ds, slice, GroupBy::Total, &[0, 1, 2]);
        assert_eq!(total.total(), vec![Some(6.0), Some(170.0), Some(8.0)]);
        let by = aggregate(&m, &ds, slice, GroupBy::Dim("channel"), &[0, 1]);
        assert_eq!(by.keys, vec![Key::Value("Email".into()), Key::Value("Paid".into())]);
        assert_eq!(by.values[0][..2], [Some(3.0), Some(20.0)]);
        assert_eq!(by.values[1][..2], [Some(3.0), Some(150.0)]);
        let daily = aggregate(&m, &ds, slice, GroupBy::Day, &[0]);
        assert_eq!(
            daily.values.iter().map(|v| v[0]).collect::<Vec<_>>(),
            vec![Some(4.0), Some(2.0), None]
        );
    }

    #[test]
    fn a_filter_keeps_only_matching_rows_and_a_missing_value_matches_nothing() {
        let ds = dataset();
        let m = metrics();
        let filter = vec![("channel".to_string(), "Paid".to_string())];
        let slice = Slice {
            start: d("2026-10-01"),
            end: d("2026-10-04"),
            filter: &filter,
        };
        assert_eq!(aggregate(&m, &ds, slice, GroupBy::Total, &[1]).total()[1], Some(150.0));
        let none = vec![("channel".to_string(), "Nope".to_string())];
        let slice = Slice { filter: &none, ..slice };
        assert_eq!(aggregate(&m, &ds, slice, GroupBy::Total, &[1]).total()[1], None);
    }

    #[test]
    fn min_and_max_are_over_day_totals_not_single_rows() {
        let ds = dataset();
        let mut m = metrics();
        m[2].aggregate = Aggregate::Max;
        let slice = Slice {
            start: d("2026-10-01"),
            end: d("2026-10-04"),
            filter: &[],
        };
        // Day totals of `stock`: 12 (5 + 7), 6, 8.
        assert_eq!(aggregate(&m, &ds, slice, GroupBy::Total, &[2]).total()[2], Some(12.0));
        m[2].aggregate = Aggregate::Min;
        assert_eq!(aggregate(&m, &ds, slice, GroupBy::Total, &[2]).total()[2], Some(6.0));
    }

    #[test]
    fn a_weighted_mean_weighs_by_the_named_metric() {
        let ds = dataset();
        let mut m = metrics();
        m[2].aggregate = Aggregate::Mean {
            weight: Some("sessions".into()),
        };
        let slice = Slice {
            start: d("2026-10-01"),
            end: d("2026-10-04"),
            filter: &[],
        };
        let v = aggregate(&m, &ds, slice, GroupBy::Total, &[2]).total()[2].unwrap();
        let expected = (5.0 * 10.0 + 7.0 * 100.0 + 6.0 * 10.0 + 8.0 * 50.0) / 170.0;
        assert!((v - expected).abs() < 1e-12);
    }
}
