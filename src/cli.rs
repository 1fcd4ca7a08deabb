//! The command line: `check`, `preview`, `send`, `history`, `retry`, `run`, `schema`, `init`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "goalpost",
    version,
    about = "Marketing goals, paced and judged honestly, reported on a schedule"
)]
pub struct Cli {
    /// The config file (default: config/goalpost.yaml).
    #[arg(long, global = true, env = "GOALPOST_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate the config: every problem in one run, with file:line:column.
    Check {
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        /// Also list each scheduled report's next N fire times (RFC 3339, with offset).
        #[arg(long, value_name = "N")]
        next: Option<usize>,
        /// Count the fire times from this moment (RFC 3339 time or a date) instead of now.
        #[arg(long, requires = "next")]
        as_of: Option<String>,
        /// Also ask each source for yesterday's data (a tiny query): ok, or the exact problem.
        #[arg(long)]
        sources: bool,
    },
    /// Compute a report from its sources and print it (nothing is sent).
    Preview {
        /// The report id, as in the config's `reports`.
        report: String,
        /// Compute as of this date (2026-10-15 = through the end of that day) or RFC 3339 time; default now.
        #[arg(long)]
        as_of: Option<String>,
        /// An explicit period instead of the report's own: 2026-10, 2026-W43, 2026-Q3, 2026, 2026-10-15.
        #[arg(long)]
        period: Option<String>,
        #[arg(long, value_enum, default_value_t = PreviewFormat::Text)]
        format: PreviewFormat,
        /// Write to this file instead of standard output (HTML: images go in a folder beside it).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Render in this language instead of the config's (en, ar).
        #[arg(long)]
        locale: Option<String>,
    },
    /// Compute a report and deliver it to its channels, once per period (idempotent).
    Send {
        /// The report id.
        report: String,
        /// The period to send (default: the report's own period now): 2026-10, 2026-W43, …
        #[arg(long, conflicts_with_all = ["from", "to"])]
        period: Option<String>,
        /// Backfill: the first period of a range (with --to).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Backfill: the last period of a range (with --from).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Compute as of this date or RFC 3339 time (default now).
        #[arg(long)]
        as_of: Option<String>,
        /// Show what would be sent; send and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send again even if this period was already sent (recorded as a forced re-send).
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Show the delivery log.
    History {
        #[arg(long)]
        report: Option<String>,
        /// pending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// Send again failed deliveries (one, or all), and any pending ones that are due.
    Retry {
        #[arg(long, conflicts_with = "failed")]
        delivery: Option<i64>,
        #[arg(long)]
        failed: bool,
    },
    /// The daemon: send each report at its scheduled time, forever (SIGHUP reloads, SIGTERM stops).
    Run {
        /// Run every report once at start (its current period), then keep to the schedule.
        #[arg(long)]
        now: bool,
        /// Do the start-up work (make up missed runs, --now) and exit.
        #[arg(long)]
        once: bool,
        /// Serve /healthz, /readyz, /metrics and /reports/ID here (overrides `daemon.listen`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Print the JSON Schema of the config file (for editor completion).
    Schema,
    /// Write a commented starter config.
    Init {
        /// Where to write it.
        #[arg(default_value = "goalpost.yaml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFormat {
    Table,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviewFormat {
    /// Plain text, as in the email's text part.
    Text,
    /// The report model (the webhook payload).
    Json,
    /// The HTML email.
    Html,
    /// The Slack Block Kit payload.
    Slack,
}
