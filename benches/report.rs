//! Criterion benches for issue 2: the report computation (CSV load + aggregation +
//! verdicts for 20 KPIs over three months, overall, by channel and by campaign) on a
//! generated daily campaign CSV, and aggregation alone. Whole-process figures on the
//! 1,000,000-row peer CSV come from `scripts/bench-report`.

use criterion::{criterion_group, criterion_main, Criterion};
use goalpost::config;
use goalpost::period::AsOf;
use std::fmt::Write as _;
use std::path::Path;

/// A deterministic daily campaign CSV in the peer's format (`gen_campaign_csv.py`).
fn write_csv(path: &Path, rows: usize) {
    let channels = ["Organic Search", "Paid Search", "Paid Social", "Email", "Referral"];
    let days = 693;
    let campaigns = (rows / days).max(1);
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let mut out = String::from(
        "date,channel,campaign,sessions,users,new_users,leads,mqls,sqls,customers,spend,revenue,impressions,clicks\n",
    );
    let mut x: u64 = 547;
    let mut next = |m: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % m.max(1)
    };
    for d in 0..days {
        let day = start + chrono::Duration::days(d as i64);
        for c in 0..campaigns {
            let s = next(400);
            let le = next(s / 20 + 2);
            let spend = if c % 5 == 0 || c % 5 == 4 {
                0.0
            } else {
                next(30000) as f64 / 100.0
            };
            let _ = writeln!(
                out,
                "{day},{},camp-{c:05},{s},{},{},{le},{},{},{},{spend:.2},{}.50,{},{}",
                channels[c % 5],
                s * 9 / 10,
                s * 54 / 100,
                le / 2,
                le / 4,
                le / 8,
                le * 300,
                s * 20,
                s * 8 / 10
            );
        }
    }
    std::fs::write(path, out).unwrap();
}

fn bench_report(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("campaigns.csv");
    write_csv(&csv, 100_000);
    let yaml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/bench-report.yaml")).unwrap();
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let csv_path = csv.display().to_string();
    let loaded = config::load_with_env(&cfg, &move |name| {
        (name == "GOALPOST_BENCH_CSV").then(|| csv_path.clone())
    });
    let plan = loaded.plan.expect("the bench config is valid");
    let spec = &plan.reports["monthly"];
    let as_of = AsOf::parse("2026-11-05", plan.timezone).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("monthly_report_100k_rows");
    group.sample_size(10);
    group.bench_function("load_aggregate_verdicts", |b| {
        b.iter(|| {
            let (model, failures) = rt.block_on(goalpost::run::compute(&plan, spec, None, as_of));
            assert!(failures.is_empty());
            model
        })
    });
    group.finish();
}

/// Rendering a 20-goal report in all four formats (HTML, text, Slack, webhook JSON),
/// without charts and with them (PNG sparklines, inline styles).
fn bench_render(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("campaigns.csv");
    write_csv(&csv, 20_000);
    let yaml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/bench-report.yaml")).unwrap();
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let csv_path = csv.display().to_string();
    let plan = config::load_with_env(&cfg, &move |name| {
        (name == "GOALPOST_BENCH_CSV").then(|| csv_path.clone())
    })
    .plan
    .expect("the bench config is valid");
    let mut spec = plan.reports["monthly"].clone();
    spec.breakdowns.clear();
    spec.history = 6;
    spec.max_goals = 20;
    let as_of = AsOf::parse("2026-11-05", plan.timezone).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (model, _) = rt.block_on(goalpost::run::compute(&plan, &spec, None, as_of));
    assert_eq!(model.goals.len(), 20);
    let renderer = goalpost::report::render::Renderer::for_plan(&plan).unwrap();

    let mut parts = c.benchmark_group("render_parts");
    let view0 = renderer.view(&model, spec.max_goals);
    parts.bench_function("view", |b| b.iter(|| renderer.view(&model, spec.max_goals)));
    parts.bench_function("html", |b| b.iter(|| renderer.html(&view0, false).unwrap()));
    parts.bench_function("text", |b| b.iter(|| renderer.text(&view0).unwrap()));
    parts.bench_function("slack", |b| {
        b.iter(|| serde_json::to_string(&goalpost::report::slack::message(&view0, &renderer.locale)).unwrap())
    });
    parts.bench_function("to_value", |b| b.iter(|| serde_json::to_value(&view0).unwrap()));
    parts.bench_function("json", |b| b.iter(|| serde_json::to_string(&model).unwrap()));
    parts.finish();
    let mut group = c.benchmark_group("render_20_goals");
    for charts in [false, true] {
        group.bench_function(
            if charts {
                "four_formats_with_charts"
            } else {
                "four_formats_no_charts"
            },
            |b| {
                b.iter(|| {
                    let view = renderer.view(&model, spec.max_goals);
                    let (html, text) = renderer.email(&view, charts).unwrap();
                    let slack =
                        serde_json::to_string(&goalpost::report::slack::message(&view, &renderer.locale)).unwrap();
                    let json = serde_json::to_string(&model).unwrap();
                    (html, text, slack, json)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_report, bench_render);
criterion_main!(benches);
