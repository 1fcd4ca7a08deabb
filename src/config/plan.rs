//! The validated, compiled config: what every later stage reads. It cannot hold a
//! dangling reference; `reader.rs` only builds one when the file has no errors.

use crate::kpi::{Kpi, Unit};
use crate::period::{Grain, Relative};
use chrono::Weekday;
use chrono_tz::Tz;
use indexmap::IndexMap;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Plan {
    /// The config file, as given.
    pub file: PathBuf,
    pub timezone: Tz,
    pub locale: String,
    pub currency: String,
    pub week_start: Weekday,
    /// Arabic-Indic digits in reports (`digits: arab`).
    pub arabic_digits: bool,
    /// A folder of template overrides, resolved against the config file's folder.
    pub templates: Option<PathBuf>,
    /// Where the delivery log is: a SQLite file, or a Postgres database (replicas).
    pub store: StoreLocation,
    pub on_failure: Option<String>,
    pub delivery: DeliveryPolicy,
    pub daemon: DaemonSettings,
    pub sources: IndexMap<String, SourceSpec>,
    /// Metrics in a fixed order: formulas refer to them by index.
    pub metrics: Vec<Metric>,
    pub kpis: IndexMap<String, Kpi>,
    pub goals: IndexMap<String, Goal>,
    pub funnels: IndexMap<String, Funnel>,
    pub reports: IndexMap<String, ReportSpec>,
    pub channels: IndexMap<String, ChannelSpec>,
    /// The compiled templates, built on first use (see `RendererCache`).
    pub renderer: crate::report::render::RendererCache,
}

/// Where the delivery log lives. A Postgres URL never holds a password (the reader refuses
/// one): it comes from `PGPASSWORD` or `~/.pgpass`, so printing the location is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreLocation {
    /// Whether two configs would write the same log (a file compared by its real path).
    pub fn same_as(&self, other: &StoreLocation) -> bool {
        match (self, other) {
            (StoreLocation::Sqlite(a), StoreLocation::Sqlite(b)) => super::same_file(a, b),
            (StoreLocation::Postgres(a), StoreLocation::Postgres(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::Postgres(url) => f.write_str(url),
        }
    }
}

impl Plan {
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.iter().map(|m| m.name.clone()).collect()
    }
}

#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub id: String,
    pub dimensions: Vec<String>,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Csv(CsvSpec),
    Sql(SqlSpec),
    Ga4(Box<Ga4Spec>),
    SearchConsole(Box<SearchConsoleSpec>),
    MetaAds(Box<MetaAdsSpec>),
    HubSpot(Box<HubSpotSpec>),
    GoogleAds(Box<GoogleAdsSpec>),
    Mailchimp(Box<MailchimpSpec>),
}

impl SourceKind {
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Csv(_) => "csv",
            SourceKind::Sql(_) => "sql",
            SourceKind::Ga4(_) => "ga4",
            SourceKind::SearchConsole(_) => "search_console",
            SourceKind::MetaAds(_) => "meta_ads",
            SourceKind::HubSpot(_) => "hubspot",
            SourceKind::GoogleAds(_) => "google_ads",
            SourceKind::Mailchimp(_) => "mailchimp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CsvSpec {
    /// A path or glob, resolved against the config file's folder.
    pub path: PathBuf,
    pub date_column: String,
    /// chrono format; `%Y-%m-%d` takes a fast path.
    pub date_format: String,
    pub delimiter: u8,
    pub thousands_separator: Option<char>,
    pub decimal_separator: char,
}

/// A Google Analytics 4 property, read through the Data API.
#[derive(Debug, Clone)]
pub struct Ga4Spec {
    /// The numeric property id.
    pub property: String,
    /// A service-account key file, or OAuth refresh-token variables.
    pub credentials: crate::source::api::google_auth::GoogleCredentials,
    /// Overrides the key file's token endpoint.
    pub token_url: Option<String>,
    pub base_url: String,
    pub api_version: String,
    /// (our dimension name, GA4 dimension), e.g. (channel, sessionDefaultChannelGroup).
    pub dimensions: Vec<(String, String)>,
    /// (our field name, GA4 metric), e.g. (users, totalUsers).
    pub metrics: Vec<(String, String)>,
    pub page_size: u32,
    pub http: crate::source::api::HttpPolicy,
}

/// A Search Console property (`sc-domain:example.com` or a URL prefix).
#[derive(Debug, Clone)]
pub struct SearchConsoleSpec {
    pub site: String,
    pub credentials: crate::source::api::google_auth::GoogleCredentials,
    pub token_url: Option<String>,
    pub base_url: String,
    pub api_version: String,
    pub page_size: u32,
    pub http: crate::source::api::HttpPolicy,
}

/// A Google Ads customer, read with GAQL through searchStream.
#[derive(Debug, Clone)]
pub struct GoogleAdsSpec {
    /// Digits only (dashes removed).
    pub customer_id: String,
    /// The manager account to read through, digits only.
    pub login_customer_id: Option<String>,
    /// The environment variable holding the developer token (sent only when set here).
    pub developer_token_env: Option<String>,
    pub credentials: crate::source::api::google_auth::GoogleCredentials,
    pub token_url: Option<String>,
    pub base_url: String,
    pub api_version: String,
    pub http: crate::source::api::HttpPolicy,
}

/// A Mailchimp account's campaign reports.
#[derive(Debug, Clone)]
pub struct MailchimpSpec {
    /// The environment variable holding the API key (`…-us21`).
    pub api_key_env: String,
    /// Default: the key's data centre.
    pub base_url: Option<String>,
    pub api_version: String,
    pub page_size: u32,
    pub http: crate::source::api::HttpPolicy,
    pub timezone: chrono_tz::Tz,
}

/// A HubSpot account's CRM, read through the search endpoints.
#[derive(Debug, Clone)]
pub struct HubSpotSpec {
    /// The environment variable holding the private-app token.
    pub token_env: String,
    pub base_url: String,
    pub page_size: u32,
    pub http: crate::source::api::HttpPolicy,
    /// Records fall on days in this zone (the config's).
    pub timezone: chrono_tz::Tz,
}

/// A Meta ad account, read through the Insights edge.
#[derive(Debug, Clone)]
pub struct MetaAdsSpec {
    /// The ad account id, digits only (`act_` is added).
    pub account: String,
    /// The environment variable holding the (system-user) access token.
    pub token_env: String,
    /// account, campaign, adset or ad.
    pub level: String,
    /// The action type counted as `leads` (types overlap: one is read, none are added).
    pub lead_action: String,
    /// The action type counted as `purchases` and `purchase_value`.
    pub purchase_action: String,
    pub base_url: String,
    pub api_version: String,
    pub page_size: u32,
    pub http: crate::source::api::HttpPolicy,
}

#[derive(Debug, Clone)]
pub struct SqlSpec {
    /// `sqlite://path` or `postgres://…`; may hold a password, so never printed.
    pub url: String,
    pub query: String,
    pub date_column: String,
    /// SQL run before the query (e.g. the demo's `crm.sql` to build its SQLite table).
    pub setup: Option<PathBuf>,
}

/// How a metric's daily values combine over a period.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    Sum,
    /// Mean, weighted by another metric of the same source when given (position by impressions).
    Mean {
        weight: Option<String>,
    },
    /// The value on the first / last day with data (customers at start / end).
    First,
    Last,
    Min,
    Max,
}

impl Aggregate {
    pub const NAMES: &'static [&'static str] = &["sum", "mean", "first", "last", "min", "max"];
}

#[derive(Debug, Clone)]
pub struct Feed {
    pub source: String,
    pub field: String,
    /// Multiplier applied at read time (e.g. 0.000001 for micros).
    pub scale: f64,
}

#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    /// One or more source fields, added together (spend from Google Ads and Meta).
    pub feeds: Vec<Feed>,
    pub aggregate: Aggregate,
    pub unit: Unit,
}

impl Metric {
    pub fn is_additive(&self) -> bool {
        self.aggregate == Aggregate::Sum && matches!(self.unit, Unit::Count | Unit::Money | Unit::Duration)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    PreviousPeriod,
    SamePeriodLastYear,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    Between(f64, f64),
    /// A relative change (+0.12 = +12%) against a baseline period.
    Change {
        by: f64,
        vs: Baseline,
    },
    StayAbove(f64),
    StayBelow(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// actual ÷ elapsed fraction.
    Linear,
    /// actual ÷ the share of last year's same period done by the same day.
    LastYear,
}

#[derive(Debug, Clone)]
pub struct Goal {
    pub id: String,
    pub name: String,
    /// Whether `name` was written in the config (else it is the KPI's, translated in reports).
    pub named: bool,
    pub kpi: String,
    pub target: Target,
    pub grain: Grain,
    pub owner: Option<String>,
    /// Validated address for owner notices.
    pub owner_email: Option<String>,
    pub priority: Priority,
    pub objective: Option<String>,
    /// How far below target still counts as at risk rather than off track (0.1 = 10%).
    pub tolerance: f64,
    /// Minimum time into the period before a verdict is given.
    pub judge_after: Option<chrono::Duration>,
    pub pacing: Pacing,
    /// Only rows whose dimension has this value (e.g. channel = Paid Search).
    pub filter: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct FunnelStage {
    pub label: String,
    pub metric: usize,
}

#[derive(Debug, Clone)]
pub struct Funnel {
    pub id: String,
    pub name: String,
    pub stages: Vec<FunnelStage>,
    pub breakdown: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Breakdown {
    pub kpi: String,
    pub by: String,
    /// Best and worst rows to show.
    pub top: usize,
}

#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub id: String,
    pub title: String,
    pub period: Relative,
    pub goals: Vec<String>,
    pub funnels: Vec<String>,
    pub breakdowns: Vec<Breakdown>,
    pub channels: Vec<String>,
    pub schedule: Option<crate::schedule::Schedule>,
    /// An alert: sent only when a goal's status gets worse (see `daemon::alerts`).
    pub alert: bool,
    /// Alerts: remind after this long while a goal stays worse.
    pub rearm: Option<chrono::Duration>,
    pub timezone: Option<Tz>,
    pub max_goals: usize,
    pub history: usize,
    pub charts: bool,
    pub send_if: SendIf,
    /// Statuses that make an owner get a notice of their goals (empty: none).
    pub notify_owners: Vec<crate::goal::Status>,
    pub owners_channel: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub id: String,
    pub kind: ChannelKind,
    /// At most this many sends per second (None: as fast as the channel takes them).
    pub max_per_second: Option<f64>,
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Email(Box<EmailSpec>),
    Slack(HttpTarget),
    /// A Microsoft Teams incoming webhook (Workflows), sent an Adaptive Card.
    Teams(HttpTarget),
    Webhook(HttpTarget),
    Outbox {
        path: PathBuf,
    },
}

impl ChannelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKind::Email(_) => "email",
            ChannelKind::Slack(_) => "slack",
            ChannelKind::Teams(_) => "teams",
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Outbox { .. } => "outbox",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSpec {
    /// Validated addresses (`Name <a@b>` or `a@b`), no CR/LF possible.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub from: String,
    pub reply_to: Option<String>,
    /// With `{title}`, `{period}`, `{headline}` filled in.
    pub subject: String,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Environment variable names, read when sending (never the secrets themselves).
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub list_unsubscribe: Option<String>,
}

/// A URL read from an environment variable when sending (it is a secret: never in the file).
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url_env: String,
    pub secret_env: Option<String>,
    pub allow_insecure: bool,
}

/// How `goalpost run` behaves for this config.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Fire times missed while down are made up when at most this old.
    pub catch_up: chrono::Duration,
    pub listen: Option<std::net::SocketAddr>,
    pub shutdown_grace: chrono::Duration,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            catch_up: chrono::Duration::days(7),
            listen: None,
            shutdown_grace: chrono::Duration::seconds(30),
        }
    }
}

/// Retry policy for deliveries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub max_attempts: u32,
    pub backoff: chrono::Duration,
    pub max_backoff: chrono::Duration,
    pub max_age: chrono::Duration,
    pub wait: chrono::Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 8,
            backoff: chrono::Duration::seconds(2),
            max_backoff: chrono::Duration::minutes(10),
            max_age: chrono::Duration::hours(24),
            wait: chrono::Duration::minutes(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendIf {
    Always,
    OffTrack,
    Changed,
    HasData,
}
