//! The `send`, `history` and `retry` commands: thin wrappers over `deliver` and `store`
//! that print what happened and choose the exit code.

use crate::config::Plan;
use crate::deliver::{self, SendOptions, SendSummary};
use crate::period::{AsOf, Period};
use crate::store::Store;
use std::io::{IsTerminal, Write};

/// Exit code when some delivery failed or is still pending.
pub const EXIT_UNDELIVERED: u8 = 3;

pub struct SendArgs<'a> {
    pub report: &'a str,
    pub period: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub as_of: Option<&'a str>,
    pub dry_run: bool,
    pub force: bool,
    pub json: bool,
}

/// The periods to send: one, a range, or the report's own at the as-of moment.
fn periods(plan: &Plan, args: &SendArgs<'_>, as_of: &AsOf) -> Result<Vec<Period>, String> {
    let spec = &plan.reports[args.report];
    let parse = |s: &str, what: &str| Period::parse_key(s, plan.week_start).map_err(|e| format!("{what}: {e}"));
    match (args.period, args.from, args.to) {
        (Some(p), _, _) => Ok(vec![parse(p, "--period")?]),
        (None, Some(a), Some(b)) => {
            let (first, last) = (parse(a, "--from")?, parse(b, "--to")?);
            if first.grain != last.grain {
                return Err("--from and --to must be periods of the same kind (both months, both weeks…)".into());
            }
            if first.start > last.start {
                return Err("--from comes after --to".into());
            }
            let mut out = vec![first];
            while out.last().expect("non-empty").start < last.start {
                out.push(out.last().expect("non-empty").next());
                if out.len() > 10_000 {
                    return Err("the range is longer than 10,000 periods".into());
                }
            }
            Ok(out)
        }
        _ => Ok(vec![crate::report::model::report_period(plan, spec, as_of)]),
    }
}

pub async fn send(plan: &Plan, args: &SendArgs<'_>) -> Result<u8, String> {
    if !plan.reports.contains_key(args.report) {
        return Err(format!("no report `{}`", args.report));
    }
    let as_of = match args.as_of {
        Some(s) => AsOf::parse(s, plan.timezone)?,
        None => AsOf::now(plan.timezone),
    };
    let periods = periods(plan, args, &as_of)?;
    // A period that has not started would be judged on other dates' data and then block its real send.
    if let Some(p) = periods.iter().find(|p| p.start > as_of.date) {
        return Err(format!(
            "{} has not started on {} (the as-of date): nothing to send yet",
            p.key(),
            as_of.date
        ));
    }
    let store = Store::open(&plan.store).await.map_err(|e| e.to_string())?;
    let spec = &plan.reports[args.report];
    let opts = SendOptions {
        force: args.force,
        dry_run: args.dry_run,
        as_of,
    };
    let bar = periods.len() > 1 && std::io::stderr().is_terminal();
    let mut summaries: Vec<SendSummary> = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        if bar {
            let done = (i * 30) / periods.len();
            eprint!(
                "\r[{}{}] {}/{} {}",
                "=".repeat(done),
                " ".repeat(30 - done),
                i + 1,
                periods.len(),
                p.key()
            );
            let _ = std::io::stderr().flush();
        }
        let s = deliver::send_report(plan, &store, spec, *p, &opts)
            .await
            .map_err(|e| e.to_string())?;
        summaries.push(s);
    }
    if bar {
        eprintln!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries).expect("JSON"));
    } else {
        for s in &summaries {
            let mut line = format!("{} {}: {}", s.report, s.period, s.outcome.replace('_', " "));
            if s.sent + s.failed + s.pending > 0 {
                line.push_str(&format!(
                    " (sent {}, failed {}, pending {})",
                    s.sent, s.failed, s.pending
                ));
            }
            if let Some(n) = &s.note {
                line.push_str(&format!(": {n}"));
            }
            println!("{line}");
        }
    }
    if args.force {
        eprintln!(
            "note: --force sent {} again; the re-send is recorded in the delivery log",
            args.report
        );
    }
    Ok(if summaries.iter().any(|s| s.failed > 0 || s.pending > 0) {
        EXIT_UNDELIVERED
    } else {
        0
    })
}

pub async fn history(
    plan: &Plan,
    report: Option<&str>,
    status: Option<&str>,
    limit: i64,
    json: bool,
) -> Result<u8, String> {
    if let Some(s) = status {
        if !["pending", "sent", "failed"].contains(&s) {
            return Err(format!("--status: `{s}` is not one of pending, sent, failed"));
        }
    }
    let store = Store::open(&plan.store).await.map_err(|e| e.to_string())?;
    let rows = store.history(report, status, limit).await.map_err(|e| e.to_string())?;
    // Written whole, errors ignored: `goalpost history | head` must not panic on a closed pipe.
    let mut out = String::new();
    if json {
        out = serde_json::to_string_pretty(&rows).expect("JSON") + "\n";
    } else {
        out.push_str(&format!(
            "{:>5}  {:<18} {:<9} {:<14} {:<30} {:<8} {:>3}  detail\n",
            "id", "report", "period", "channel", "recipient", "status", "try"
        ));
        for d in rows {
            let detail = match d.status.as_str() {
                "sent" => format!("at {}", d.sent_at.unwrap_or_default()),
                "sending" => "being sent (leased)".to_string(),
                "pending" => format!(
                    "next try {}{}",
                    d.next_attempt_at,
                    d.last_error.map(|e| format!(" — {e}")).unwrap_or_default()
                ),
                _ => d.last_error.unwrap_or_default(),
            };
            let period = if d.generation > 0 {
                format!("{}#{}", d.period, d.generation)
            } else {
                d.period
            };
            out.push_str(&format!(
                "{:>5}  {:<18} {:<9} {:<14} {:<30} {:<8} {:>3}  {}\n",
                d.id, d.report, period, d.channel, d.recipient, d.status, d.attempts, detail
            ));
        }
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

pub async fn retry(plan: &Plan, delivery: Option<i64>, failed: bool) -> Result<u8, String> {
    let store = Store::open(&plan.store).await.map_err(|e| e.to_string())?;
    let requeued = if delivery.is_some() || failed {
        store
            .requeue_failed(delivery, chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())?
    } else {
        0
    };
    if let (Some(id), 0) = (delivery, requeued) {
        return Err(format!(
            "delivery {id} is not a failed delivery (see `goalpost history --status failed`)"
        ));
    }
    let s = deliver::deliver_pending(plan, &store, None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "requeued {requeued}; sent {}, failed {}, pending {}",
        s.sent, s.failed, s.pending
    );
    Ok(if s.failed > 0 || s.pending > 0 {
        EXIT_UNDELIVERED
    } else {
        0
    })
}
