//! The `goalpost` binary: parse the command line, call the library, map outcomes to exit codes.
//!
//! Exit codes: 0 ok; 1 the config or the command is wrong (nothing computed);
//! 2 the report was computed but a source failed (its goals say "data unavailable").

use clap::Parser;
use goalpost::cli::{CheckFormat, Cli, Command, HistoryFormat, LogFormat, PreviewFormat};
use goalpost::commands;
use goalpost::config::{self, diagnostic::Diagnostics, Plan};
use goalpost::period::{AsOf, Period};
use goalpost::report::render::{Html, Renderer};
use goalpost::report::slack;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

const STARTER: &str = include_str!("../config/starter.yaml");

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    match cli.command {
        Command::Send {
            report,
            period,
            from,
            to,
            as_of,
            dry_run,
            force,
            format,
        } => with_plan(&path, |plan, rt| {
            let args = commands::SendArgs {
                report: &report,
                period: period.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
                as_of: as_of.as_deref(),
                dry_run,
                force,
                json: format == CheckFormat::Json,
            };
            rt.block_on(commands::send(plan, &args))
        }),
        Command::History {
            report,
            status,
            limit,
            format,
        } => with_plan(&path, |plan, rt| {
            rt.block_on(commands::history(
                plan,
                report.as_deref(),
                status.as_deref(),
                limit,
                format == HistoryFormat::Json,
            ))
        }),
        Command::Retry { delivery, failed } => {
            with_plan(&path, |plan, rt| rt.block_on(commands::retry(plan, delivery, failed)))
        }
        Command::Run {
            now,
            once,
            listen,
            log_format,
        } => {
            init_logs(log_format);
            let opts = goalpost::daemon::Options {
                config: path,
                now,
                once,
                listen,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let code = tokio::task::LocalSet::new().block_on(&rt, goalpost::daemon::main(opts));
            ExitCode::from(code)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config::schema::json_schema()).expect("schema serialises")
            );
            ExitCode::SUCCESS
        }
        Command::Init { path, force } => init(&path, force),
        Command::Check {
            format,
            next,
            as_of,
            sources,
        } => check_path(&path, format, next, as_of.as_deref(), sources),
        Command::Preview {
            report,
            as_of,
            period,
            format,
            out,
            locale,
        } => preview(
            &path,
            &PreviewArgs {
                report,
                as_of,
                period,
                format,
                out,
                locale,
            },
        ),
    }
}

/// Loads the plan (printing every problem when it cannot) and runs `f` on a runtime.
fn with_plan(
    path: &std::path::Path,
    f: impl FnOnce(&Plan, &tokio::runtime::Runtime) -> Result<u8, String>,
) -> ExitCode {
    let loaded = config::load(path);
    for w in loaded.diagnostics.warnings() {
        eprintln!("{w}");
    }
    let Some(plan) = loaded.plan else {
        print_diagnostics(&loaded.diagnostics);
        eprintln!(
            "error: {} has errors; run `goalpost check` for the list",
            path.display()
        );
        return ExitCode::from(1);
    };
    let runtime = runtime();
    match f(&plan, &runtime) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn init(path: &std::path::Path, force: bool) -> ExitCode {
    if path.exists() && !force {
        eprintln!("error: {} already exists (use --force to overwrite)", path.display());
        return ExitCode::from(1);
    }
    match std::fs::write(path, STARTER) {
        Ok(()) => {
            println!(
                "wrote {}; edit it, then run `goalpost check --config {}`",
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}

fn print_diagnostics(d: &Diagnostics) {
    for item in &d.items {
        eprintln!("{item}");
    }
}

/// `check` on a config file, or on each `*.yaml` of a folder of client configs (as `run`
/// reads one): the exit code is the worst, and JSON is one object per file (an array for a
/// folder).
fn check_path(
    path: &std::path::Path,
    format: CheckFormat,
    next: Option<usize>,
    as_of: Option<&str>,
    probe_sources: bool,
) -> ExitCode {
    let files = if path.is_dir() {
        match goalpost::daemon::clients::config_files(path) {
            Ok(f) if f.is_empty() => {
                eprintln!("error: {} holds no *.yaml config", path.display());
                return ExitCode::from(1);
            }
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        vec![path.to_path_buf()]
    };
    let mut worst = 0;
    let mut reports = Vec::new();
    for f in &files {
        let (code, json) = check(f, format, next, as_of, probe_sources);
        // A config error (1) outranks a failed source probe (2).
        worst = if code == 1 || worst == 1 { 1 } else { worst.max(code) };
        reports.extend(json);
    }
    if matches!(format, CheckFormat::Json) {
        let out = if path.is_dir() {
            serde_json::Value::Array(reports)
        } else {
            reports.pop().unwrap_or_default()
        };
        println!("{}", serde_json::to_string_pretty(&out).expect("serialises"));
    }
    ExitCode::from(worst)
}

/// Checks one config file: prints the text report (or returns the JSON one) and the exit code.
fn check(
    path: &std::path::Path,
    format: CheckFormat,
    next: Option<usize>,
    as_of: Option<&str>,
    probe_sources: bool,
) -> (u8, Option<serde_json::Value>) {
    let mut loaded = config::load(path);
    let from = match (&loaded.plan, as_of) {
        (Some(plan), Some(s)) => match AsOf::parse(s, plan.timezone) {
            Ok(a) => a.instant,
            Err(e) => {
                eprintln!("error: --as-of: {e}");
                return (1, None);
            }
        },
        _ => chrono::Utc::now(),
    };
    let next = next.map(|n| (n.min(10_000), from));
    // Templates (and template overrides) are compiled too, so a broken one is found now,
    // not when a report is due.
    if let Some(plan) = &loaded.plan {
        if let Err(e) = Renderer::for_plan(plan) {
            let at = config::diagnostic::Location {
                file: plan
                    .templates
                    .as_ref()
                    .map_or_else(|| "templates".into(), |t| t.display().to_string()),
                line: 1,
                column: 1,
            };
            loaded.diagnostics.error(&at, format!("template: {e}"));
            loaded.plan = None;
        }
    }
    let d = &loaded.diagnostics;
    let probes = match (&loaded.plan, probe_sources) {
        (Some(plan), true) => runtime().block_on(goalpost::source::probe_all(plan)),
        _ => Vec::new(),
    };
    let mut report = None;
    match format {
        CheckFormat::Json => {
            report = Some(json!({
                "sources": probe_sources.then(|| probes.iter().map(|p| json!({
                    "id": p.id, "type": p.kind, "ok": p.result.is_ok(),
                    "rows": p.result.as_ref().ok(), "error": p.result.as_ref().err().map(|e| e.to_string()),
                })).collect::<Vec<_>>()),
                "ok": !d.has_errors(),
                "file": path.display().to_string(),
                "errors": d.errors().collect::<Vec<_>>(),
                "warnings": d.warnings().collect::<Vec<_>>(),
                "plan": loaded.plan.as_ref().map(|p| plan_summary(p, next)),
            }));
        }
        CheckFormat::Text => {
            print_diagnostics(d);
            if let Some(plan) = &loaded.plan {
                let warnings = d.warnings().count();
                println!(
                    "ok: {} — {} source(s), {} metric(s), {} goal(s), {} funnel(s), {} report(s), {} channel(s){}",
                    path.display(),
                    plan.sources.len(),
                    plan.metrics.len(),
                    plan.goals.len(),
                    plan.funnels.len(),
                    plan.reports.len(),
                    plan.channels.len(),
                    if warnings > 0 {
                        format!("; {warnings} warning(s)")
                    } else {
                        String::new()
                    }
                );
                for r in plan.reports.values() {
                    println!(
                        "  report {}: {} goal(s), period {}",
                        r.id,
                        r.goals.len(),
                        r.period.name()
                    );
                    if let (Some((n, from)), Some(s)) = (next, &r.schedule) {
                        for t in next_fires(s, from, n) {
                            println!("    fires {t}");
                        }
                    }
                }
            } else {
                eprintln!("{} error(s) in {}", d.errors().count(), path.display());
            }
            for p in &probes {
                match &p.result {
                    Ok(rows) => println!("  source {} ({}): ok, {rows} row(s) for {}", p.id, p.kind, p.day),
                    Err(e) => println!("  source {} ({}): FAILED: {}", p.id, p.kind, e.message),
                }
            }
        }
    }
    let code = if d.has_errors() {
        1
    } else if probes.iter().any(|p| p.result.is_err()) {
        2
    } else {
        0
    };
    (code, report)
}

/// The next `n` fire times after `from`, as RFC 3339 in the schedule's zone.
fn next_fires(s: &goalpost::schedule::Schedule, from: chrono::DateTime<chrono::Utc>, n: usize) -> Vec<String> {
    std::iter::successors(s.next_after(from), |t| s.next_after(*t))
        .take(n)
        .map(|t| t.with_timezone(&s.tz()).to_rfc3339())
        .collect()
}

fn plan_summary(plan: &Plan, next: Option<(usize, chrono::DateTime<chrono::Utc>)>) -> serde_json::Value {
    json!({
        "timezone": plan.timezone.name(),
        "locale": plan.locale,
        "currency": plan.currency,
        "sources": plan.sources.values().map(|s| json!({"id": s.id, "type": s.kind.name(), "dimensions": s.dimensions})).collect::<Vec<_>>(),
        "metrics": plan.metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "goals": plan.goals.values().map(|g| json!({"id": g.id, "name": g.name, "kpi": g.kpi, "period": g.grain.name(), "owner": g.owner})).collect::<Vec<_>>(),
        "funnels": plan.funnels.keys().collect::<Vec<_>>(),
        "reports": plan.reports.values().map(|r| json!({
            "id": r.id, "title": r.title, "goals": r.goals, "funnels": r.funnels,
            "breakdowns": r.breakdowns.iter().map(|b| json!({"kpi": b.kpi, "by": b.by})).collect::<Vec<_>>(),
            "channels": r.channels, "period": r.period.name(), "alert": r.alert,
            "schedule": r.schedule.as_ref().map(|s| s.expr()),
            "timezone": r.timezone.unwrap_or(plan.timezone).name(),
            "next": match (next, &r.schedule) {
                (Some((n, from)), Some(s)) => Some(next_fires(s, from, n)),
                _ => None,
            },
        })).collect::<Vec<_>>(),
        "channels": plan.channels.values().map(|c| json!({"id": c.id, "type": c.kind.name()})).collect::<Vec<_>>(),
    })
}

struct PreviewArgs {
    report: String,
    as_of: Option<String>,
    period: Option<String>,
    format: PreviewFormat,
    out: Option<PathBuf>,
    locale: Option<String>,
}

fn preview(path: &std::path::Path, args: &PreviewArgs) -> ExitCode {
    let (report, as_of, period) = (args.report.as_str(), args.as_of.as_deref(), args.period.as_deref());
    let loaded = config::load(path);
    let Some(mut plan) = loaded.plan else {
        print_diagnostics(&loaded.diagnostics);
        eprintln!(
            "error: {} has errors; run `goalpost check` for the list",
            path.display()
        );
        return ExitCode::from(1);
    };
    let Some(spec) = plan.reports.get(report).cloned() else {
        let sugg = config::diagnostic::did_you_mean(report, plan.reports.keys().map(String::as_str))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        eprintln!(
            "error: no report `{report}` in {}{sugg}; reports: {}",
            path.display(),
            plan.reports.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        return ExitCode::from(1);
    };
    let as_of = match as_of.map(|s| AsOf::parse(s, plan.timezone)).transpose() {
        Ok(a) => a.unwrap_or_else(|| AsOf::now(plan.timezone)),
        Err(e) => {
            eprintln!("error: --as-of: {e}");
            return ExitCode::from(1);
        }
    };
    let period = match period.map(|p| Period::parse_key(p, plan.week_start)).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --period: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(l) = &args.locale {
        if !goalpost::report::locale::LANGUAGES.contains(&l.as_str()) {
            eprintln!(
                "error: --locale: `{l}` is not one of {}",
                goalpost::report::locale::LANGUAGES.join(", ")
            );
            return ExitCode::from(1);
        }
        plan.locale = l.clone();
    }
    let renderer = match Renderer::for_plan(&plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = runtime();
    let (model, failures) = runtime.block_on(goalpost::run::compute(&plan, &spec, period, as_of));
    let view = renderer.view(&model, spec.max_goals);
    let rendered = match args.format {
        PreviewFormat::Json => Ok(serde_json::to_string_pretty(&model).expect("serialises") + "\n"),
        PreviewFormat::Slack => {
            Ok(serde_json::to_string_pretty(&slack::message(&view, &renderer.locale)).expect("serialises") + "\n")
        }
        PreviewFormat::Text => renderer.text(&view),
        PreviewFormat::Html => renderer.html(&view, spec.charts).map(|h| match &args.out {
            Some(out) => html_with_files(out, h),
            None => {
                if !h.images.is_empty() {
                    eprintln!(
                        "note: the HTML refers to its charts by cid:; use --out FILE.html to write them beside it"
                    );
                }
                h.html
            }
        }),
    };
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match &args.out {
        Some(out) => {
            if let Err(e) = std::fs::write(out, rendered) {
                eprintln!("error: cannot write {}: {e}", out.display());
                return ExitCode::from(1);
            }
        }
        None => print!("{rendered}"),
    }
    for f in &failures {
        eprintln!("warning: {f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// Writes the charts into `NAME-files/` beside `out` and points the HTML at them, so the
/// file opens in a browser as the email would show.
fn html_with_files(out: &std::path::Path, h: Html) -> String {
    let stem = out
        .file_stem()
        .map_or("report".into(), |s| s.to_string_lossy().into_owned());
    let folder = format!("{stem}-files");
    let dir = out.parent().unwrap_or(std::path::Path::new(".")).join(&folder);
    let mut html = h.html;
    if !h.images.is_empty() {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("warning: cannot create {}: {e}", dir.display());
        }
    }
    for img in &h.images {
        if let Err(e) = std::fs::write(dir.join(&img.filename), &img.png.bytes) {
            eprintln!("warning: cannot write {}: {e}", img.filename);
        }
        html = html.replace(&format!("cid:{}", img.cid), &format!("{folder}/{}", img.filename));
    }
    html
}

/// Logs to stderr: readable lines, or JSON lines; the level from GOALPOST_LOG (default info).
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GOALPOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// The async runtime the commands run on: two workers, as many as the machines have cores.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
