//! Properties of aggregation: splitting a period or a breakdown and recombining the
//! base sums gives the same ratio as computing it over the whole.

use chrono::{Duration, NaiveDate};
use goalpost::config::plan::{Aggregate, Feed, Metric};
use goalpost::frame::{day_of, Frame};
use goalpost::kpi::aggregate::{aggregate, Dataset, GroupBy, Slice};
use goalpost::kpi::Unit;
use proptest::prelude::*;

fn metric(name: &str) -> Metric {
    Metric {
        name: name.into(),
        feeds: vec![Feed {
            source: "s".into(),
            field: name.into(),
            scale: 1.0,
        }],
        aggregate: Aggregate::Sum,
        unit: Unit::Count,
    }
}

fn dataset(rows: &[(u8, u8, u32, u32)]) -> (Dataset, NaiveDate) {
    let start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let mut f = Frame::new(&["channel".into()], &["spend".into(), "leads".into()]);
    for &(day, ch, spend, leads) in rows {
        f.dates.push(day_of(start + Duration::days(day as i64 % 31)));
        f.dims[0].push(["Email", "Paid", "Organic"][ch as usize % 3]);
        f.fields[0].values.push(spend as f64);
        f.fields[1].values.push(leads as f64);
    }
    f.sort_by_date();
    let mut ds = Dataset::default();
    ds.frames.insert("s".into(), f);
    (ds, start)
}

proptest! {
    #[test]
    fn splitting_a_period_and_recombining_sums_gives_the_same_ratio(
        rows in proptest::collection::vec((0u8..31, 0u8..3, 0u32..10_000, 0u32..50), 1..200),
        cut in 1i64..30,
    ) {
        let (ds, start) = dataset(&rows);
        let m = vec![metric("spend"), metric("leads")];
        let end = start + Duration::days(31);
        let mid = start + Duration::days(cut);
        let whole = aggregate(&m, &ds, Slice { start, end, filter: &[] }, GroupBy::Total, &[0, 1]).total();
        let a = aggregate(&m, &ds, Slice { start, end: mid, filter: &[] }, GroupBy::Total, &[0, 1]).total();
        let b = aggregate(&m, &ds, Slice { start: mid, end, filter: &[] }, GroupBy::Total, &[0, 1]).total();
        for i in 0..2 {
            let parts = a[i].unwrap_or(0.0) + b[i].unwrap_or(0.0);
            prop_assert_eq!(whole[i].unwrap_or(0.0), parts);
        }
        let leads = whole[1].unwrap();
        if leads > 0.0 {
            let cpl_whole = whole[0].unwrap() / leads;
            let cpl_parts = (a[0].unwrap_or(0.0) + b[0].unwrap_or(0.0)) / (a[1].unwrap_or(0.0) + b[1].unwrap_or(0.0));
            prop_assert!((cpl_whole - cpl_parts).abs() < 1e-9);
        }
    }

    #[test]
    fn a_breakdown_recombines_to_the_total(
        rows in proptest::collection::vec((0u8..31, 0u8..3, 0u32..10_000, 0u32..50), 1..200),
    ) {
        let (ds, start) = dataset(&rows);
        let m = vec![metric("spend"), metric("leads")];
        let slice = Slice { start, end: start + Duration::days(31), filter: &[] };
        let total = aggregate(&m, &ds, slice, GroupBy::Total, &[0, 1]).total();
        let by = aggregate(&m, &ds, slice, GroupBy::Dim("channel"), &[0, 1]);
        for i in 0..2 {
            let sum: f64 = by.values.iter().map(|v| v[i].unwrap_or(0.0)).sum();
            prop_assert_eq!(total[i].unwrap_or(0.0), sum);
        }
        let daily = aggregate(&m, &ds, slice, GroupBy::Day, &[0, 1]);
        let sum: f64 = daily.values.iter().map(|v| v[0].unwrap_or(0.0)).sum();
        prop_assert_eq!(total[0].unwrap_or(0.0), sum);
    }
}

#[test]
fn a_ratio_of_sums_differs_from_the_mean_of_ratios() {
    // Two channels: 100 spend / 1 lead and 1,000 spend / 100 leads. CPL overall is
    // 1,100 / 101 ≈ 10.9; the mean of the channel CPLs (100 and 10) would be 55.
    let (ds, start) = dataset(&[(0, 0, 100, 1), (0, 1, 1000, 100)]);
    let m = vec![metric("spend"), metric("leads")];
    let t = aggregate(
        &m,
        &ds,
        Slice {
            start,
            end: start + Duration::days(1),
            filter: &[],
        },
        GroupBy::Total,
        &[0, 1],
    )
    .total();
    assert!((t[0].unwrap() / t[1].unwrap() - 1100.0 / 101.0).abs() < 1e-12);
}
