//! `goalpost preview` on the demo: the verdicts a user sees, in text and JSON.

use crate::helpers::*;
use serde_json::Value;

fn preview_json(args: &[&str]) -> Value {
    let mut all = vec!["preview"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = goalpost(&repo()).args(&all).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Sums a column of the demo CSV for dates starting with `prefix`, independently of Goalpost.
fn demo_sum(column: &str, prefix: &str, channel: Option<&str>) -> f64 {
    let text = std::fs::read_to_string(repo().join("config/demo/campaigns.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[0].starts_with(prefix) && channel.is_none_or(|ch| c[1] == ch))
        .map(|c| c[col].parse::<f64>().unwrap())
        .sum()
}

fn goal<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap_or_else(|| panic!("no goal {id}"))
}

#[test]
fn the_monthly_review_of_october_matches_the_data() {
    let v = preview_json(&["monthly-review", "--as-of", "2026-11-25"]);
    assert_eq!(v["report"], "monthly-review");
    assert_eq!(v["period"]["key"], "2026-10");
    assert_eq!(v["period"]["complete"], true);
    let leads = demo_sum("leads", "2026-10", None);
    let spend = demo_sum("spend", "2026-10", None);
    let leads_goal = goal(&v, "leads-month");
    assert_eq!(leads_goal["actual"].as_f64().unwrap(), leads);
    assert_eq!(leads_goal["status"], if leads >= 420.0 { "met" } else { "off_track" });
    assert!(leads_goal["projected"].is_null(), "a closed period has no projection");
    assert_eq!(
        leads_goal["previous"].as_f64().unwrap(),
        demo_sum("leads", "2026-09", None)
    );
    // Cost per lead is total spend over total leads, not a mean of daily or channel CPLs.
    let cpl = goal(&v, "cpl-month")["actual"].as_f64().unwrap();
    assert!((cpl - spend / leads).abs() < 1e-9, "{cpl} vs {}", spend / leads);
    let roi = goal(&v, "roi-month")["actual"].as_f64().unwrap();
    let revenue = demo_sum("revenue", "2026-10", None);
    assert!((roi - (revenue - spend) / spend).abs() < 1e-9);
    // The funnel's steps are ratios of stage totals.
    let f = &v["funnels"][0];
    assert_eq!(f["stages"][1]["value"].as_f64().unwrap(), leads);
    let step = f["steps"][0]["rate"].as_f64().unwrap();
    assert!((step - leads / demo_sum("sessions", "2026-10", None)).abs() < 1e-12);
    assert_eq!(f["rows"].as_array().unwrap().len(), 5, "one funnel row per channel");
    // Breakdown: best CPL first, worst CPL first, no row in both lists.
    let b = &v["breakdowns"][0];
    assert_eq!(b["kpi"], "cpl");
    let worst = b["worst"][0]["value"].as_str().unwrap();
    let worst_cpl = demo_sum("spend", "2026-10", Some(worst)) / demo_sum("leads", "2026-10", Some(worst));
    assert!((b["worst"][0]["kpi_value"].as_f64().unwrap() - worst_cpl).abs() < 1e-9);
    for best in b["best"].as_array().unwrap() {
        assert!(!b["worst"].as_array().unwrap().contains(best));
    }
}

#[test]
fn a_running_week_projects_totals_and_holds_judgement_until_the_window_passes() {
    let v = preview_json(&["weekly-pulse", "--as-of", "2026-11-11"]);
    assert_eq!(v["period"]["key"], "2026-W46");
    assert_eq!(v["period"]["complete"], false);
    assert_eq!(v["data_through"], "2026-11-11");
    let week = goal(&v, "leads-week");
    // Monday 9 to Wednesday 11 November: 3 of 7 days.
    let so_far: f64 = ["2026-11-09", "2026-11-10", "2026-11-11"]
        .iter()
        .map(|d| demo_sum("leads", d, None))
        .sum();
    assert_eq!(week["actual"].as_f64().unwrap(), so_far);
    assert!((week["projected"].as_f64().unwrap() - so_far * 7.0 / 3.0).abs() < 1e-6);
    // A ratio is never projected.
    assert!(goal(&v, "cpl-month")["projected"].is_null());
    let early = goal(&v, "paid-social-cpl");
    assert_eq!(early["status"], "too_early");
    assert_eq!(early["judge_from"], "2026-11-22");
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("too early to judge")));
}

#[test]
fn an_explicit_period_overrides_the_reports_own() {
    let v = preview_json(&["monthly-review", "--period", "2026-09", "--as-of", "2026-11-25"]);
    assert_eq!(v["period"]["key"], "2026-09");
    assert_eq!(
        goal(&v, "leads-month")["actual"].as_f64().unwrap(),
        demo_sum("leads", "2026-09", None)
    );
}

#[test]
fn the_json_contract_has_every_documented_field() {
    let v = preview_json(&["monthly-review", "--as-of", "2026-11-25"]);
    for key in [
        "report",
        "period",
        "as_of",
        "goals",
        "funnels",
        "breakdowns",
        "summary",
        "notes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for g in v["goals"].as_array().unwrap() {
        for key in [
            "id",
            "name",
            "kpi",
            "unit",
            "actual",
            "target",
            "attainment",
            "projected",
            "previous",
            "change",
            "status",
            "owner",
            "priority",
            "note",
        ] {
            assert!(g.get(key).is_some(), "goal {} lacks {key}", g["id"]);
        }
    }
    assert_eq!(v["as_of"], "2026-11-25T23:00:00Z");
}

#[test]
fn an_unknown_report_or_bad_dates_are_clear_errors() {
    let out = goalpost(&repo()).args(["preview", "monthly-reveiw"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no report `monthly-reveiw`"));
    assert!(stderr_of(&out).contains("did you mean `monthly-review`?"));
    let out = goalpost(&repo())
        .args(["preview", "monthly-review", "--period", "2026-13"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("--period: `2026-13`: a month is 01 to 12"),
        "{}",
        stderr_of(&out)
    );
    let out = goalpost(&repo())
        .args(["preview", "monthly-review", "--as-of", "yesterday"])
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("--as-of: `yesterday` is not a date"));
}
