//! Shared test helpers: run the binary in a folder, write config files.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The repository root (where `config/goalpost.yaml` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `goalpost` with its working directory set to `dir` and no inherited config variable.
pub fn goalpost(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("goalpost").expect("the goalpost binary is built");
    cmd.current_dir(dir).env_remove("GOALPOST_CONFIG");
    cmd
}

/// A temporary folder holding `goalpost.yaml` with `yaml`, plus any extra files.
pub fn workspace(yaml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("goalpost.yaml"), yaml).unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// `goalpost preview REPORT --as-of AS_OF --format FORMAT --config goalpost.yaml` in `dir`.
pub fn preview_cmd(dir: &Path, report: &str, as_of: &str, format: &str) -> Command {
    let mut cmd = goalpost(dir);
    cmd.args([
        "preview",
        report,
        "--as-of",
        as_of,
        "--format",
        format,
        "--config",
        "goalpost.yaml",
    ]);
    cmd
}

/// A local API server's answer: `tests/fixtures/{dir}/{name}` as JSON, with `status`.
pub fn fixture_answer(dir: &str, name: &str, status: u16) -> wiremock::ResponseTemplate {
    let body = std::fs::read_to_string(repo().join("tests/fixtures").join(dir).join(name)).unwrap();
    wiremock::ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

/// The test-only Google service-account key file (its key opens nothing).
pub fn service_account_key() -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/google-service-account.json")).unwrap()
}

/// `goalpost preview r --as-of 2026-11-02 --format json` in `ws` with `env`: the exit code,
/// the report model (null when none was printed) and stderr.
pub fn preview_model(ws: &tempfile::TempDir, env: &[(&str, &str)]) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = preview_cmd(ws.path(), "r", "2026-11-02", "json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        stderr_of(&out),
    )
}

/// The goal `id` in a report model.
pub fn goal<'a>(model: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    model["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap()
}

/// `goalpost check --config goalpost.yaml` in `dir`, expected to find errors: its stderr.
pub fn check_errors(dir: &Path) -> String {
    let out = goalpost(dir)
        .args(["check", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "check passed:\n{}", stdout_of(&out));
    stderr_of(&out)
}

/// The URL of the Postgres server that `scripts/test` starts (see `scripts/pg-start`).
pub fn postgres_url() -> String {
    std::env::var("GOALPOST_TEST_PG_URL")
        .expect("GOALPOST_TEST_PG_URL is not set: run the suite with scripts/test, which starts a real PostgreSQL")
}

/// A new, empty database on the test server (each test its own); returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let server = postgres_url();
    let name = format!("goalpost_t_{}", fastrand::u64(..));
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("the test Postgres answers");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

/// `fresh_postgres_database` for a test that is not async.
pub fn fresh_postgres_database_blocking() -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fresh_postgres_database())
}
