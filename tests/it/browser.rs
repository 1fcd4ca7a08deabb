//! The HTML email in a real browser: headless Chromium (installed by `scripts/browser-check`
//! when missing) loads the report at 600 px, takes a screenshot, and measures overflow,
//! direction and images. Screenshots are kept in `target/test-artifacts/` to look at.

use crate::helpers::*;
use serde_json::Value;

fn check_in_chromium(locale: &str, report: &str, as_of: &str) -> Value {
    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let html = artifacts.join(format!("{report}-{locale}.html"));
    let out = goalpost(&repo())
        .args([
            "preview", report, "--as-of", as_of, "--format", "html", "--locale", locale, "--out",
        ])
        .arg(&html)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let shot = artifacts.join(format!("{report}-{locale}.png"));
    let check = std::process::Command::new(repo().join("scripts/browser-check"))
        .arg(&html)
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "browser-check failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..4], b"\x89PNG", "a screenshot was taken");
    serde_json::from_slice(&check.stdout).unwrap()
}

#[test]
fn the_english_email_fits_600_pixels_and_its_images_load_in_chromium() {
    let r = check_in_chromium("en", "monthly-review", "2026-11-25");
    assert_eq!(r["overflow"], false, "{r}");
    assert_eq!(r["direction"], "ltr");
    assert_eq!(r["images"], 7, "six sparklines and the funnel: {r}");
    assert_eq!(r["images_loaded"], r["images"], "{r}");
}

#[test]
fn the_arabic_email_is_right_to_left_fits_600_pixels_and_its_images_load() {
    let r = check_in_chromium("ar", "weekly-pulse", "2026-11-11");
    assert_eq!(r["overflow"], false, "{r}");
    assert_eq!(r["html_dir"], "rtl");
    assert_eq!(r["direction"], "rtl", "{r}");
    assert!(r["images"].as_u64().unwrap() >= 5);
    assert_eq!(r["images_loaded"], r["images"], "{r}");
}
