//! Goal rules end to end: stay_above, change targets, seasonal pacing, and "no value".

use crate::helpers::*;
use serde_json::Value;

/// Daily rows for 2025-10 and 2026-10 (quality score 9 except one bad day in 2026).
fn csv() -> String {
    let mut s = String::from("date,channel,leads,spend,quality,impressions\n");
    for (year, base) in [(2025, 10.0), (2026, 12.0)] {
        for day in 1..=31 {
            // Last year: the first half of October brought a quarter of the month's leads.
            let leads = if year == 2025 && day <= 15 { base / 2.0 } else { base };
            let quality = if year == 2026 && day == 20 { 7.5 } else { 9.0 };
            s.push_str(&format!(
                "{year}-10-{day:02},Paid,{leads},{},{quality},1000\n",
                leads * 10.0
            ));
        }
    }
    s.push_str("2026-09-30,Paid,0,50,9,1000\n");
    s
}

const CONFIG: &str = r#"timezone: UTC
sources:
  ads: { type: csv, path: data.csv, dimensions: [channel] }
metrics:
  leads: ads.leads
  spend: ads.spend
  impressions: ads.impressions
  quality_score: { from: ads.quality, aggregate: mean, weight: impressions }
goals:
  quality: { kpi: quality_score, target: { stay_above: 8 } }
  leads-yoy: { kpi: leads, target: { change: +10%, vs: same_period_last_year } }
  cpl-cut: { kpi: cpl, target: { change: -10%, vs: same_period_last_year } }
  leads-seasonal: { kpi: leads, target: { at_least: 300 }, pacing: last_year }
  leads-linear: { kpi: leads, target: { at_least: 300 } }
  cpl-sept: { kpi: cpl, target: { at_most: 5 } }
reports:
  october: { period: current_month, goals: [quality, leads-yoy, cpl-cut, leads-seasonal, leads-linear] }
  september: { period: previous_month, goals: [cpl-sept] }
"#;

fn preview(report: &str, as_of: &str) -> Value {
    let ws = workspace(CONFIG, &[("data.csv", &csv())]);
    let out = preview_cmd(ws.path(), report, as_of, "json").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn goal<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["goals"].as_array().unwrap().iter().find(|g| g["id"] == id).unwrap()
}

#[test]
fn stay_above_holds_until_the_first_bad_day_and_names_it() {
    let before = preview("october", "2026-10-19");
    assert_eq!(goal(&before, "quality")["status"], "on_track");
    assert_eq!(goal(&before, "quality")["attainment"], 1.0);
    let after = preview("october", "2026-10-31");
    let q = goal(&after, "quality");
    assert_eq!(q["status"], "off_track");
    assert!(
        q["note"]
            .as_str()
            .unwrap()
            .contains("first breach on 20 October 2026 (7.5"),
        "{q}"
    );
    // The month's level is the impression-weighted mean, not a sum of daily scores.
    assert_eq!(q["reasons"][0]["code"], "stay_breach");
    assert_eq!(q["reasons"][0]["date"], "2026-10-20");
    let mean = (30.0 * 9.0 + 7.5) / 31.0;
    assert!((q["actual"].as_f64().unwrap() - mean).abs() < 1e-9);
}

#[test]
fn change_targets_resolve_against_last_year_in_the_kpis_direction() {
    let v = preview("october", "2026-10-31");
    // Leads: 2025-10 had 15×5 + 16×10 = 235; +10% means at least 258.5; 2026-10 has 372.
    let yoy = goal(&v, "leads-yoy");
    assert_eq!(yoy["last_year"], 235.0);
    assert!((yoy["target"].as_f64().unwrap() - 258.5).abs() < 1e-9);
    assert_eq!(yoy["target_kind"], "at_least");
    assert_eq!(yoy["status"], "met");
    // CPL is lower-is-better: -10% is a ceiling of 90% of last year's 10.0. This year it is 10.0: 90% attained.
    let cpl = goal(&v, "cpl-cut");
    assert_eq!(cpl["target_kind"], "at_most");
    assert!((cpl["target"].as_f64().unwrap() - 9.0).abs() < 1e-9);
    assert_eq!(cpl["status"], "at_risk");
}

#[test]
fn seasonal_pacing_follows_last_years_curve_and_linear_pacing_does_not() {
    let v = preview("october", "2026-10-15");
    // 15 days × 12 = 180 leads so far. Linear: 180 / (15/31) = 372.
    let linear = goal(&v, "leads-linear");
    assert_eq!(linear["actual"], 180.0);
    assert!((linear["projected"].as_f64().unwrap() - 372.0).abs() < 1e-9);
    // Last year the first 15 days brought 75 of 235: 180 × 235 / 75 = 564.
    let seasonal = goal(&v, "leads-seasonal");
    assert!(
        (seasonal["projected"].as_f64().unwrap() - 564.0).abs() < 1e-9,
        "{seasonal}"
    );
}

#[test]
fn division_by_zero_is_no_value_with_its_reason_and_a_dash_in_text() {
    let v = preview("september", "2026-10-05");
    let g = goal(&v, "cpl-sept");
    assert!(g["actual"].is_null());
    assert_eq!(g["status"], "no_data");
    assert_eq!(g["note"], "division by zero: leads is 0");
    let ws = workspace(CONFIG, &[("data.csv", &csv())]);
    let out = goalpost(ws.path())
        .args([
            "preview",
            "september",
            "--as-of",
            "2026-10-05",
            "--config",
            "goalpost.yaml",
        ])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains("[No data] Cost per lead: — (target: at most $5.00)"),
        "{text}"
    );
    assert!(text.contains("division by zero: leads is 0"));
}
