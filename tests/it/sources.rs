//! CSV and SQL sources through the CLI: bad cells located, formats honoured, real SQLite.

use crate::helpers::*;
use serde_json::Value;

const CONFIG: &str = r#"timezone: UTC
sources:
  web:
    type: csv
    path: data/*.csv
    dimensions: [channel]
    date_format: "%d/%m/%Y"
    delimiter: ";"
    thousands_separator: "."
    decimal_separator: ","
metrics:
  leads: web.leads
  spend: web.spend
goals:
  leads: { kpi: leads, target: { at_least: 10 } }
  cpl: { kpi: cpl, target: { at_most: 100 } }
reports:
  r: { period: previous_month, goals: [leads, cpl] }
"#;

fn run_json(dir: &std::path::Path) -> (Option<i32>, Value, String) {
    let out = preview_cmd(dir, "r", "2026-11-02", "json").output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr_of(&out),
    )
}

#[test]
fn a_glob_of_csv_files_with_local_number_and_date_formats_adds_up() {
    let a = "date;channel;leads;spend\n01/10/2026;Paid;5;1.234,50\n02/10/2026;Paid;3;765,50\n";
    let b = "date;channel;leads;spend\n03/10/2026;Email;4;\n15/09/2026;Email;100;1\n";
    let ws = workspace(CONFIG, &[("data/a.csv", a), ("data/b.csv", b)]);
    let (code, v, err) = run_json(ws.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["goals"][0]["actual"], 12.0);
    // An empty spend cell is "no value", not zero-with-a-guess; 2,000 over 12 leads.
    assert!((v["goals"][1]["actual"].as_f64().unwrap() - 2000.0 / 12.0).abs() < 1e-9);
}

#[test]
fn a_bad_cell_is_named_by_file_line_and_column_and_the_report_still_renders() {
    let a = "date;channel;leads;spend\n01/10/2026;Paid;5;10\n02/10/2026;Paid;3x;10\n";
    let ws = workspace(CONFIG, &[("data/a.csv", a)]);
    let (code, v, err) = run_json(ws.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("data/a.csv:3:3: column `leads`: `3x` is not a number"),
        "{err}"
    );
    assert_eq!(v["goals"][0]["status"], "no_data");
    assert!(v["goals"][0]["note"]
        .as_str()
        .unwrap()
        .starts_with("data unavailable: source `web`"));
}

#[test]
fn a_bad_date_and_a_short_row_are_located_too() {
    let ws = workspace(
        CONFIG,
        &[(
            "data/a.csv",
            "date;channel;leads;spend\n01/10/2026;Paid;5;10\n2026-10-02;Paid;3;10\n",
        )],
    );
    let (_, _, err) = run_json(ws.path());
    assert!(
        err.contains("data/a.csv:3:1: column `date`: `2026-10-02` is not a date in the format `%d/%m/%Y`"),
        "{err}"
    );
    let ws = workspace(
        CONFIG,
        &[("data/a.csv", "date;channel;leads;spend\n01/10/2026;Paid;5\n")],
    );
    let (_, _, err) = run_json(ws.path());
    assert!(
        err.contains("data/a.csv:2:4: column `spend`: this row has 3 cells, the header has 4"),
        "{err}"
    );
}

#[test]
fn a_missing_column_suggests_the_near_miss() {
    let ws = workspace(
        CONFIG,
        &[("data/a.csv", "date;chanel;leads;spend\n01/10/2026;Paid;5;10\n")],
    );
    let (code, _, err) = run_json(ws.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("the header has no dimension column `channel` (did you mean `chanel`?)"),
        "{err}"
    );
}

#[test]
fn quoted_csv_cells_keep_their_commas() {
    let cfg = CONFIG.replace("    date_format: \"%d/%m/%Y\"\n    delimiter: \";\"\n    thousands_separator: \".\"\n    decimal_separator: \",\"\n", "    thousands_separator: \",\"\n");
    let csv = "date,channel,leads,spend\n2026-10-01,\"Paid, Search\",\"1,000\",\"2,500.5\"\n";
    let ws = workspace(&cfg, &[("data/a.csv", csv)]);
    let (code, v, err) = run_json(ws.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["goals"][0]["actual"], 1000.0);
}

#[test]
fn a_sql_source_reads_a_real_sqlite_database() {
    let setup = "CREATE TABLE d(day TEXT, channel TEXT, leads INTEGER, spend REAL);\n\
                 INSERT INTO d VALUES ('2026-10-01','Paid',4,100.0),('2026-10-20','Paid',6,300.5),('2026-10-21','Email',NULL,5),('2026-11-01','Paid',50,1);\n";
    let cfg = r#"sources:
  crm:
    type: sql
    url: "sqlite://:memory:"
    setup: setup.sql
    query: SELECT day AS date, channel, leads, spend FROM d
    dimensions: [channel]
metrics:
  leads: crm.leads
  spend: crm.spend
goals:
  leads: { kpi: leads, target: { at_least: 10 } }
  cpl: { kpi: cpl, target: { at_most: 100 } }
reports:
  r: { period: previous_month, goals: [leads, cpl] }
"#;
    let ws = workspace(cfg, &[("setup.sql", setup)]);
    let (code, v, err) = run_json(ws.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["goals"][0]["actual"], 10.0);
    assert_eq!(v["goals"][0]["status"], "met");
    assert!((v["goals"][1]["actual"].as_f64().unwrap() - 405.5 / 10.0).abs() < 1e-9);
}

#[test]
fn a_failing_sql_query_is_reported_without_the_connection_url() {
    let cfg = "sources:\n  crm:\n    type: sql\n    url: \"sqlite://:memory:\"\n    query: SELECT * FROM nowhere\nmetrics:\n  leads: crm.leads\ngoals:\n  leads: { kpi: leads, target: { at_least: 10 } }\nreports:\n  r: { goals: [leads] }\n";
    let ws = workspace(cfg, &[]);
    let (code, v, err) = run_json(ws.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("source `crm`: the query failed: no such table: nowhere"),
        "{err}"
    );
    assert_eq!(v["goals"][0]["status"], "no_data");
}

#[test]
fn a_sql_source_reads_a_real_postgres_database_with_date_and_integer_columns() {
    let setup = "DROP TABLE IF EXISTS goalpost_src_test;\n\
                 CREATE TABLE goalpost_src_test(day DATE, channel TEXT, leads INTEGER, spend DOUBLE PRECISION, big BIGINT);\n\
                 INSERT INTO goalpost_src_test VALUES ('2026-10-01','Paid',4,100.0,1),('2026-10-31','Email',6,300.5,2),('2026-11-01','Paid',50,1,3);\n";
    let cfg = r#"sources:
  pg:
    type: sql
    url: ${GOALPOST_TEST_PG_URL}
    setup: setup.sql
    query: SELECT day AS date, channel, leads, spend, big FROM goalpost_src_test
    dimensions: [channel]
metrics:
  leads: pg.leads
  spend: pg.spend
  big: pg.big
goals:
  leads: { kpi: leads, target: { at_least: 10 } }
  cpl: { kpi: cpl, target: { at_most: 100 } }
  big: { kpi: big, target: { at_least: 1 } }
reports:
  r: { period: previous_month, goals: [leads, cpl, big] }
"#;
    let ws = workspace(cfg, &[("setup.sql", setup)]);
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "json")
        .env("GOALPOST_TEST_PG_URL", postgres_url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["goals"][0]["actual"], 10.0);
    assert!((v["goals"][1]["actual"].as_f64().unwrap() - 400.5 / 10.0).abs() < 1e-9);
    assert_eq!(v["goals"][2]["actual"], 3.0);
}

#[test]
fn a_wrong_postgres_password_is_reported_without_the_password() {
    let url = postgres_url()
        .replace("goalpost@", "nobody:hunter2@")
        .replace("127.0.0.1:", "127.0.0.1:1");
    let cfg = "sources:\n  pg:\n    type: sql\n    url: ${PG}\n    query: SELECT 1\nmetrics:\n  leads: pg.leads\ngoals:\n  leads: { kpi: leads, target: { at_least: 10 } }\nreports:\n  r: { goals: [leads] }\n";
    let ws = workspace(cfg, &[]);
    let out = goalpost(ws.path())
        .args(["preview", "r", "--format", "json", "--config", "goalpost.yaml"])
        .env("PG", url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("source `pg`: cannot connect to Postgres"), "{err}");
    assert!(
        !err.contains("hunter2") && !stdout_of(&out).contains("hunter2"),
        "{err}"
    );
}
