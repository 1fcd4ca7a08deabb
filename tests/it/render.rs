//! Rendered reports as people get them: text, HTML, Slack and webhook JSON, in English
//! and Arabic; escaping of outside data in every format; Slack's limits; templates.

use crate::helpers::*;
use serde_json::Value;

fn preview(args: &[&str]) -> String {
    let out = goalpost(&repo()).arg("preview").args(args).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
}

#[test]
fn the_demo_reports_render_the_same_every_time_in_english_and_arabic() {
    for (locale, report, as_of) in [
        ("en", "monthly-review", "2026-11-25"),
        ("ar", "weekly-pulse", "2026-11-11"),
    ] {
        for format in ["text", "slack", "html"] {
            let out = preview(&[report, "--as-of", as_of, "--format", format, "--locale", locale]);
            insta::assert_snapshot!(format!("demo_{locale}_{format}"), out);
        }
    }
}

#[test]
fn an_arabic_report_is_right_to_left_with_arabic_months_and_isolated_latin_names() {
    let html = preview(&[
        "monthly-review",
        "--as-of",
        "2026-11-25",
        "--format",
        "html",
        "--locale",
        "ar",
    ]);
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#));
    assert!(html.contains("أكتوبر 2026"), "Arabic month name");
    assert!(html.contains("<bdi>brand-search</bdi>"), "Latin names isolated in HTML");
    let text = preview(&["monthly-review", "--as-of", "2026-11-25", "--locale", "ar"]);
    assert!(
        text.contains("\u{2068}brand-search\u{2069}"),
        "Latin names isolated in text"
    );
    assert!(text.contains("تحقق"), "status words translated");
}

#[test]
fn arabic_indic_digits_and_riyals_when_configured() {
    let yaml = std::fs::read_to_string(repo().join("config/goalpost.yaml"))
        .unwrap()
        .replace("locale: en", "locale: ar\ndigits: arab")
        .replace("currency: EUR", "currency: SAR")
        .replace("path: demo/", &format!("path: {}/config/demo/", repo().display()))
        .replace("setup: demo/", &format!("setup: {}/config/demo/", repo().display()));
    let ws = workspace(&yaml, &[]);
    let out = goalpost(ws.path())
        .args([
            "preview",
            "monthly-review",
            "--as-of",
            "2026-11-25",
            "--config",
            "goalpost.yaml",
        ])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(text.contains("٤٤١"), "441 leads in Arabic-Indic digits: {text}");
    assert!(text.contains("ر.س."), "the riyal sign: {text}");
    assert!(
        text.contains("١٢٤٫٣٩ ر.س."),
        "money with the Arabic decimal separator, sign after: {text}"
    );
}

const HOSTILE: &str = "<script>alert(1)</script> & <@channel>";

fn hostile_workspace() -> tempfile::TempDir {
    let csv =
        format!("date,channel,campaign,leads,spend\n2026-10-01,Paid,{HOSTILE},5,100\n2026-10-02,Paid,plain,4,10\n");
    let yaml = r#"sources:
  web: { type: csv, path: data.csv, dimensions: [channel, campaign] }
metrics:
  leads: web.leads
  spend: web.spend
goals:
  leads: { name: "Leads <b>bold</b> & co", kpi: leads, target: { at_least: 5 }, owner: "<@U123>" }
reports:
  r:
    title: "Q <4> & more"
    period: previous_month
    goals: [leads]
    breakdowns: [{ kpi: cpl, by: campaign }]
"#;
    workspace(yaml, &[("data.csv", &csv)])
}

fn render_hostile(ws: &tempfile::TempDir, format: &str) -> String {
    let out = preview_cmd(ws.path(), "r", "2026-11-02", format).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
}

#[test]
fn outside_data_is_escaped_for_every_format() {
    let ws = hostile_workspace();
    let html = render_hostile(&ws, "html");
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>bold</b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@channel&gt;"));
    assert!(html.contains("Q &lt;4&gt; &amp; more"));

    let slack: Value = serde_json::from_str(&render_hostile(&ws, "slack")).unwrap();
    let all = slack.to_string();
    assert!(
        !all.contains("<@channel>") && !all.contains("<@U123>") && !all.contains("<script>"),
        "{all}"
    );
    assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@channel&gt;"));

    let json: Value = serde_json::from_str(&render_hostile(&ws, "json")).unwrap();
    let names: Vec<&str> = json["breakdowns"][0]["best"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["breakdowns"][0]["worst"].as_array().unwrap())
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&HOSTILE),
        "JSON keeps the value exactly, as data: {names:?}"
    );

    let text = render_hostile(&ws, "text");
    assert!(text.contains(HOSTILE), "plain text shows the name as it is: {text}");
}

/// The Slack payload for a report of `n` goals with long names and title.
fn slack_for_goals(n: usize) -> Value {
    let mut yaml = String::from("sources:\n  web: { type: csv, path: data.csv, dimensions: [channel] }\nmetrics:\n  leads: web.leads\n  spend: web.spend\ngoals:\n");
    let mut ids = Vec::new();
    for i in 0..n {
        let name = format!("Goal {i} {}", "with a long name ".repeat(12));
        yaml.push_str(&format!(
            "  g{i}: {{ name: \"{name}\", kpi: leads, target: {{ at_least: {i} }}, owner: \"Owner {i}\" }}\n"
        ));
        ids.push(format!("g{i}"));
    }
    yaml.push_str(&format!(
        "reports:\n  r:\n    title: \"{}\"\n    period: previous_month\n    max_goals: {n}\n    goals: [{}]\n    breakdowns: [{{ kpi: cpl, by: channel }}]\n",
        "A very long title ".repeat(12),
        ids.join(", ")
    ));
    let ws = workspace(
        &yaml,
        &[(
            "data.csv",
            "date,channel,leads,spend\n2026-10-01,Paid,5,100\n2026-10-01,Email,2,1\n",
        )],
    );
    let out = preview_cmd(ws.path(), "r", "2026-11-02", "slack").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_within_slack_limits(msg: &Value) {
    assert!(!msg["text"].as_str().unwrap().is_empty(), "fallback text is set");
    let blocks = msg["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    for b in blocks {
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
        }
        if let Some(fields) = b["fields"].as_array() {
            assert!(fields.len() <= 10);
            assert!(fields
                .iter()
                .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000));
        }
        if let Some(el) = b["elements"].as_array() {
            assert!(el.len() <= 10);
        }
    }
}

#[test]
fn a_slack_message_for_forty_goals_stays_within_every_limit() {
    let msg = slack_for_goals(40);
    assert_within_slack_limits(&msg);
    assert_eq!(msg.to_string().matches("Goal ").count(), 40, "all forty goals fit");
}

#[test]
fn a_slack_message_too_long_for_one_message_is_cut_and_says_so() {
    let msg = slack_for_goals(60);
    assert_within_slack_limits(&msg);
    assert!(
        msg.to_string().contains("more items not shown (Slack message limit)"),
        "the cut is said"
    );
}

#[test]
fn the_webhook_json_is_the_preview_json_contract() {
    let json: Value = serde_json::from_str(&preview(&[
        "monthly-review",
        "--as-of",
        "2026-11-25",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["goals"][0]["history"].as_array().unwrap().len(), 6);
    assert_eq!(json["goals"][0]["history"][5]["period"], "2026-10");
}

#[test]
fn html_written_to_a_file_brings_its_charts_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    preview(&[
        "monthly-review",
        "--as-of",
        "2026-11-25",
        "--format",
        "html",
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(r#"src="report-files/spark-leads-month.png""#));
    assert!(!html.contains("cid:"));
    let png = std::fs::read(dir.path().join("report-files/funnel-0.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    assert!(html.contains(r#"alt="Leads this month, last 6 periods: "#));
}

#[test]
fn a_template_override_is_used_and_a_broken_one_names_its_file_and_line() {
    let yaml = "templates: tpl\nsources:\n  web: { type: csv, path: d.csv }\nmetrics:\n  leads: web.leads\ngoals:\n  leads: { kpi: leads, target: { at_least: 1 } }\nreports:\n  r: { goals: [leads] }\n";
    let ws = workspace(
        yaml,
        &[
            ("d.csv", "date,leads\n2026-10-01,3\n"),
            (
                "tpl/report.txt.hbs",
                "CUSTOM {{headline}}\n{{#each goals}}{{name}}={{actual}}\n{{/each}}",
            ),
        ],
    );
    let out = goalpost(ws.path())
        .args(["preview", "r", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        "CUSTOM 1 of 1 goals on track for October 2026\nLeads=3\n"
    );
    std::fs::write(
        ws.path().join("tpl/report.txt.hbs"),
        "line one\n{{#each goals}}\n{{nmae}}\n{{/each}}\n",
    )
    .unwrap();
    let out = goalpost(ws.path())
        .args(["preview", "r", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("tpl/report.txt.hbs:3:"), "{err}");
    assert!(err.contains("`nmae` is not in the report view"), "{err}");
    std::fs::write(ws.path().join("tpl/report.txt.hbs"), "{{#each goals}}\n{{/if}}\n").unwrap();
    let out = goalpost(ws.path())
        .args(["preview", "r", "--as-of", "2026-11-02", "--config", "goalpost.yaml"])
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("tpl/report.txt.hbs:2:"), "{}", stderr_of(&out));
}

#[test]
fn check_compiles_template_overrides_so_a_broken_one_is_found_before_a_send() {
    let yaml = "templates: tpl\nsources:\n  web: { type: csv, path: d.csv }\nmetrics:\n  leads: web.leads\ngoals:\n  leads: { kpi: leads, target: { at_least: 1 } }\nreports:\n  r: { goals: [leads] }\n";
    let ws = workspace(
        yaml,
        &[("tpl/partials/goal.html.hbs", "<tr>{{#if name}}<td>{{name}}</td></tr>\n")],
    );
    let err = check_errors(ws.path());
    assert!(
        err.contains("template: ") && err.contains("tpl/partials/goal.html.hbs:"),
        "{err}"
    );
}

/// Renders `report` of the config at `path` as of each date, in each language, with and
/// without charts, through the Rust defaults and through handlebars; they must agree to the byte.
fn assert_fast_path_matches_handlebars(path: &std::path::Path, report: &str, as_ofs: &[&str]) {
    use goalpost::period::AsOf;
    use goalpost::report::render::Renderer;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for lang in ["en", "ar"] {
        let mut plan = goalpost::config::load(path).plan.expect("a valid config");
        plan.locale = lang.to_string();
        let spec = plan.reports[report].clone();
        let fast = Renderer::for_plan(&plan).unwrap();
        let slow = Renderer::for_plan(&plan).unwrap().without_fast_path();
        for as_of in as_ofs {
            let (model, _) = rt.block_on(goalpost::run::compute(
                &plan,
                &spec,
                None,
                AsOf::parse(as_of, plan.timezone).unwrap(),
            ));
            for max_goals in [spec.max_goals, 2] {
                let view = fast.view(&model, max_goals);
                for charts in [false, true] {
                    let (a_html, a_text) = fast.email(&view, charts).unwrap();
                    let (b_html, b_text) = slow.email(&view, charts).unwrap();
                    let at = format!("{report} {lang} as of {as_of}, max_goals {max_goals}, charts {charts}");
                    assert_eq!(a_text, b_text, "text differs: {at}");
                    if a_html.html != b_html.html {
                        let _ = std::fs::write(std::env::temp_dir().join("goalpost-rust.html"), &a_html.html);
                        let _ = std::fs::write(std::env::temp_dir().join("goalpost-handlebars.html"), &b_html.html);
                        let line = a_html.html.lines().zip(b_html.html.lines()).position(|(x, y)| x != y);
                        panic!(
                            "HTML differs ({at}) at line {line:?}:\nrust:       {:?}\nhandlebars: {:?}",
                            line.and_then(|l| a_html.html.lines().nth(l)),
                            line.and_then(|l| b_html.html.lines().nth(l))
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_default_templates_written_in_rust_render_exactly_what_handlebars_renders() {
    let demo = repo().join("config/goalpost.yaml");
    let dates = ["2026-10-03", "2026-11-05", "2026-11-20", "2025-12-01"];
    assert_fast_path_matches_handlebars(&demo, "monthly-review", &dates);
    assert_fast_path_matches_handlebars(&demo, "weekly-pulse", &dates);
    let ws = hostile_workspace();
    assert_fast_path_matches_handlebars(&ws.path().join("goalpost.yaml"), "r", &["2026-11-02", "2026-10-02"]);
}
