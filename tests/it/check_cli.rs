//! `goalpost check`: every problem in one run, located, with suggestions.

use crate::helpers::*;

const BROKEN: &str = r#"timezone: Europe/Berln
currency: EUR
sources:
  web:
    type: csv
    path: data.csv
    dimensions: [channel]
metrics:
  leads: web.leads
  spend: ads.cost
goals:
  mql-goal:
    kpi: mqls
    target: { at_least: 30 }
  cpl:
    kpi: cpl
    targt: { at_most: 50 }
  rate:
    kpi: visit_to_lead_rate
    target: { at_least: 2 }
    period: monthy
reports:
  monthly:
    period: previous_month
    goals: [mql-goal, cpl, missing]
    breakdowns:
      - { kpi: leads, by: chanel }
    channels: [mail]
"#;

#[test]
fn check_lists_every_error_with_file_line_column_and_suggestions() {
    let ws = workspace(BROKEN, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("check_errors", stderr_of(&out));
}

#[test]
fn check_json_gives_errors_as_data_and_no_plan() {
    let ws = workspace(BROKEN, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--format", "json", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["plan"].is_null());
    let errors = v["errors"].as_array().unwrap();
    assert!(errors.len() >= 8, "{errors:#?}");
    let targt = errors
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("`targt`"))
        .unwrap();
    assert_eq!(
        (targt["file"].as_str(), targt["line"].as_u64(), targt["column"].as_u64()),
        (Some("goalpost.yaml"), Some(17), Some(5))
    );
    assert_eq!(targt["suggestion"], "did you mean `target`?");
}

#[test]
fn check_on_the_demo_is_ok_and_json_describes_the_plan() {
    let out = goalpost(&repo()).args(["check", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], serde_json::json!([]));
    let reports: Vec<&str> = v["plan"]["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(reports, ["monthly-review", "weekly-pulse"]);
    assert_eq!(v["plan"]["reports"][0]["goals"].as_array().unwrap().len(), 6);
    assert!(v["plan"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["type"] == "sql"));
}

#[test]
fn a_missing_environment_variable_names_the_key_and_a_set_one_is_used() {
    let yaml = "sources:\n  crm:\n    type: sql\n    url: ${GOALPOST_TEST_PG_URL}\n    query: SELECT 1\nmetrics:\n  leads: crm.leads\nreports: {}\n";
    let ws = workspace(yaml, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .env_remove("GOALPOST_TEST_PG_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("goalpost.yaml:4:10: error: `sources.crm.url` uses the environment variable `GOALPOST_TEST_PG_URL`, which is not set"), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("\n1 error(s)"),
        "one missing variable is one error: {}",
        stderr_of(&out)
    );
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .env("GOALPOST_TEST_PG_URL", "postgres://u:secret@localhost/db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains("secret"));
}

#[test]
fn the_config_path_comes_from_goalpost_config_too() {
    let ws = workspace("reports: {}\n", &[]);
    let out = goalpost(ws.path())
        .arg("check")
        .env("GOALPOST_CONFIG", "goalpost.yaml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("ok: goalpost.yaml"));
}

#[test]
fn warnings_cover_too_many_kpis_per_objective_and_ratio_stay_targets() {
    let mut yaml = String::from("sources:\n  web: { type: csv, path: d.csv }\nmetrics:\n");
    for m in ["sessions", "leads", "mqls", "sqls", "customers", "spend"] {
        yaml.push_str(&format!("  {m}: web.{m}\n"));
    }
    yaml.push_str("goals:\n");
    for k in ["sessions", "leads", "mqls", "sqls", "customers", "cpl"] {
        yaml.push_str(&format!(
            "  g-{k}: {{ kpi: {k}, target: {{ at_least: 1 }}, objective: growth }}\n"
        ));
    }
    yaml.push_str(
        "  daily-rate: { kpi: visit_to_lead_rate, target: { stay_above: 1% } }\nreports:\n  r: { goals: [g-leads] }\n",
    );
    let ws = workspace(&yaml, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("warning: objective `growth` has 6 KPIs"), "{err}");
    assert!(
        err.contains("warning: goal `daily-rate`: `visit_to_lead_rate` is a ratio"),
        "{err}"
    );
    assert!(stdout_of(&out).contains("2 warning(s)"));
}

#[test]
fn schema_is_json_schema_and_init_writes_a_config_that_checks() {
    let ws = workspace("", &[]);
    let out = goalpost(ws.path()).arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["$defs"]["goal"]["required"],
        serde_json::json!(["kpi", "target"])
    );
    assert!(schema["properties"].as_object().unwrap().contains_key("reports"));

    let out = goalpost(ws.path()).args(["init", "starter.yaml"]).output().unwrap();
    assert!(out.status.success());
    let out = goalpost(ws.path())
        .args(["check", "--config", "starter.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    // A second init does not overwrite.
    let out = goalpost(ws.path()).args(["init", "starter.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_formula_kpi_that_names_nothing_known_is_an_error_at_the_formula() {
    let yaml = "sources:\n  web: { type: csv, path: d.csv }\nmetrics:\n  revenue: web.revenue\nkpis:\n  margin: { formula: (revenue - costs) / revenue }\n  loop_a: loop_b + 1\n  loop_b: loop_a * 2\nreports: {}\n";
    let ws = workspace(yaml, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "goalpost.yaml:6:22: error: the formula of KPI `margin` uses `costs`, which is neither a metric nor a KPI"
        ),
        "{err}"
    );
    assert!(err.contains("refers to itself"), "{err}");
}

#[test]
fn settings_that_would_corrupt_numbers_or_leak_a_password_are_refused() {
    let yaml = "sources:\n  web: { type: csv, path: d.csv, thousands_separator: \".\" }\nmetrics:\n  leads: web.leads\nchannels:\n  mail: { type: email, smtp: \"smtp://mail.example.com:25\", tls: none, username_env: U, password_env: P, from: a@b.example, to: [c@d.example] }\nreports: {}\n";
    let ws = workspace(yaml, &[]);
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(
        err.contains("the thousands separator is also the decimal separator"),
        "{err}"
    );
    assert!(
        err.contains("would send the SMTP password in clear text to mail.example.com"),
        "{err}"
    );
    let ws = workspace(
        "goals:\n  g: { kpi: leads, target: { at_least: 1 }, judge_after: 99999999999d }\nreports: {}\n",
        &[],
    );
    let out = goalpost(ws.path())
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("is not a duration"), "{}", stderr_of(&out));
}

#[test]
fn check_on_a_folder_of_client_configs_checks_each_and_names_the_broken_one() {
    let good = "sources:\n  web: { type: csv, path: data.csv }\nmetrics:\n  leads: web.leads\n\
                goals:\n  leads: { kpi: leads, target: { at_least: 1 } }\n\
                reports:\n  r: { period: previous_month, goals: [leads] }\n";
    let ws = workspace(
        "",
        &[
            ("clients/acme.yaml", good),
            ("clients/globex.yaml", &good.replace("at_least: 1", "at_lest: 1")),
            ("clients/data.csv", "date,leads\n2026-10-01,4\n"),
            ("clients/notes.txt", "not a config"),
        ],
    );
    let out = goalpost(ws.path())
        .args(["check", "--config", "clients"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    assert!(stdout_of(&out).contains("ok: clients/acme.yaml"), "{}", stdout_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("clients/globex.yaml:6:"), "{err}");
    assert!(err.contains("did you mean `at_least`"), "{err}");

    let json = goalpost(ws.path())
        .args(["check", "--format", "json", "--config", "clients"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let files: Vec<(&str, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(files, [("clients/acme.yaml", true), ("clients/globex.yaml", false)]);

    std::fs::create_dir(ws.path().join("empty")).unwrap();
    let none = goalpost(ws.path())
        .args(["check", "--config", "empty"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr_of(&none).contains("empty holds no *.yaml config"),
        "{}",
        stderr_of(&none)
    );
}
