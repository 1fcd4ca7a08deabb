//! Replicas on one Postgres under SIGKILL: the short version of `scripts/chaos`, run by the
//! suite against its Postgres and the real SMTP server, with the binary under test.

use crate::helpers::{postgres_url, repo};
use serde_json::Value;

#[test]
fn three_replicas_killed_at_random_lose_nothing_and_duplicate_only_inside_the_window() {
    let out = std::process::Command::new(repo().join("scripts/chaos"))
        .args(["--bin", env!("CARGO_BIN_EXE_goalpost"), "--pg-url", &postgres_url()])
        .args(["--reports", "100", "--replicas", "3", "--kills", "5"])
        .args(["--lead", "3", "--kill-window", "3", "--timeout", "120", "--json"])
        .output()
        .expect("scripts/chaos runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let figures: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert_eq!(figures["expected"], 100, "{figures}");
    assert_eq!(figures["lost"], 0, "{figures}\n{stderr}");
    assert_eq!(figures["received"], 100, "{figures}");
    assert_eq!(figures["duplicated"], figures["duplicates_in_window"], "{figures}");
    assert!(figures["kills"].as_u64().unwrap() >= 1, "{figures}");
    assert!(
        figures["seconds_to_all_delivered"].is_number(),
        "the store says all is sent: {figures}"
    );
    assert!(
        figures["exit_codes_on_sigterm"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c == 0),
        "{figures}"
    );
    assert!(out.status.success(), "{stderr}");
}
