//! The keys each part of the config accepts, with their JSON Schema and a one-line doc.
//!
//! One table serves three uses: unknown-key errors with "did you mean", the JSON
//! Schema printed by `goalpost schema`, and the config reference in the README.

pub struct Key {
    pub name: &'static str,
    /// A JSON Schema fragment for the value.
    pub schema: &'static str,
    pub doc: &'static str,
}

const fn key(name: &'static str, schema: &'static str, doc: &'static str) -> Key {
    Key { name, schema, doc }
}

const STR: &str = r#"{"type":"string"}"#;
const STRS: &str = r#"{"type":"array","items":{"type":"string"}}"#;
const NUM_OR_PCT: &str = r#"{"type":["number","string"]}"#;

pub const TOP: &[Key] = &[
    key(
        "timezone",
        STR,
        "IANA zone the periods are computed in (default UTC), e.g. Europe/Berlin",
    ),
    key(
        "locale",
        r#"{"enum":["en","ar"]}"#,
        "language of the reports (default en)",
    ),
    key("currency", STR, "ISO 4217 code for money KPIs (default USD)"),
    key(
        "digits",
        r#"{"enum":["latn","arab"]}"#,
        "latn (0-9, default) or arab (Arabic-Indic digits) in reports",
    ),
    key(
        "store",
        STR,
        "the delivery log: a SQLite file (default NAME.db beside NAME.yaml), or postgres://user@host/db for replicas (password in PGPASSWORD)",
    ),
    key("on_failure", STR, "a channel id told about every delivery that fails"),
    key("delivery", r##"{"$ref":"#/$defs/delivery"}"##, "retry policy"),
    key(
        "daemon",
        r##"{"$ref":"#/$defs/daemon"}"##,
        "how `goalpost run` behaves: catch_up, listen, shutdown_grace",
    ),
    key(
        "templates",
        STR,
        "a folder of template overrides (report.html.hbs, report.txt.hbs, i18n/LOCALE.yaml)",
    ),
    key(
        "week_start",
        r#"{"enum":["monday","tuesday","wednesday","thursday","friday","saturday","sunday"]}"#,
        "first day of a week (default monday)",
    ),
    key(
        "sources",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/source"}}"##,
        "where data comes from, by id",
    ),
    key(
        "metrics",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/metric"}}"##,
        "which source field feeds which metric, by metric name",
    ),
    key(
        "kpis",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/kpi"}}"##,
        "custom KPIs (formulas over metrics), by id",
    ),
    key(
        "goals",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/goal"}}"##,
        "goals, by id",
    ),
    key(
        "funnels",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/funnel"}}"##,
        "funnels, by id",
    ),
    key(
        "reports",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/report"}}"##,
        "reports, by id",
    ),
    key(
        "channels",
        r##"{"type":"object","additionalProperties":{"$ref":"#/$defs/channel"}}"##,
        "delivery targets, by id",
    ),
];

pub const SOURCE: &[Key] = &[
    key(
        "type",
        r#"{"enum":["csv","sql","ga4","search_console","meta_ads","hubspot","google_ads","mailchimp"]}"#,
        "csv, sql, ga4, search_console, meta_ads, hubspot, google_ads or mailchimp",
    ),
    key("dimensions", STRS, "columns that describe a row (channel, campaign)"),
    key("path", STR, "csv: a file or a glob, relative to the config file"),
    key("date_column", STR, "column holding the date (default date)"),
    key("date_format", STR, "csv: chrono format of the dates (default %Y-%m-%d)"),
    key("delimiter", STR, "csv: one character (default ,)"),
    key("thousands_separator", STR, "csv: stripped from numbers, e.g. , or ."),
    key("decimal_separator", STR, "csv: default ."),
    key(
        "url",
        STR,
        "sql: sqlite://file.db or postgres://… (use ${VAR} for passwords)",
    ),
    key(
        "query",
        STR,
        "sql: a query returning the date column, dimensions and fields",
    ),
    key(
        "setup",
        STR,
        "sql: a .sql file run first (builds the demo's SQLite table)",
    ),
    key("property", STR, "ga4: the numeric property id"),
    key("account", STR, "meta_ads: the ad account id (act_123… or 123…)"),
    key(
        "api_key_env",
        STR,
        "mailchimp: the environment variable holding the API key (…-us21)",
    ),
    key("customer_id", STR, "google_ads: the customer id (123-456-7890)"),
    key(
        "login_customer_id",
        STR,
        "google_ads: the manager account to read through",
    ),
    key(
        "developer_token_env",
        STR,
        "google_ads: the environment variable holding the developer token",
    ),
    key(
        "client_id_env",
        STR,
        "Google sources: OAuth instead of a service account: the variable holding the client id",
    ),
    key("client_secret_env", STR, "Google sources: the variable holding the OAuth client secret"),
    key("refresh_token_env", STR, "Google sources: the variable holding the OAuth refresh token"),
    key(
        "token_env",
        STR,
        "meta_ads, hubspot: the environment variable holding the access token",
    ),
    key(
        "level",
        r#"{"enum":["account","campaign","adset","ad"]}"#,
        "meta_ads: rows per account, campaign (default), adset or ad",
    ),
    key(
        "lead_action",
        STR,
        "meta_ads: the action type counted as leads (default lead)",
    ),
    key(
        "purchase_action",
        STR,
        "meta_ads: the action type counted as purchases (default offsite_conversion.fb_pixel_purchase)",
    ),
    key(
        "site",
        STR,
        "search_console: sc-domain:example.com or https://www.example.com/",
    ),
    key(
        "credentials_file",
        STR,
        "ga4, search_console, google_ads: the service-account key file (JSON), e.g. ${GA_KEY_FILE}",
    ),
    key(
        "preset",
        r#"{"enum":["ga4_channels"]}"#,
        "ga4: ready-made fields and dimensions (ga4_channels: sessions, users, new_users, engaged_sessions, key_events by channel)",
    ),
    key(
        "api_metrics",
        r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
        "ga4: our field name → GA4 metric (instead of or on top of a preset)",
    ),
    key(
        "api_dimensions",
        r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
        "ga4: our dimension name → GA4 dimension",
    ),
    key("base_url", STR, "API sources: the API's address (default the real one)"),
    key("api_version", STR, "API sources: the API version (ga4 default v1beta)"),
    key("token_url", STR, "Google sources: the OAuth token endpoint (default the key file's)"),
    key(
        "page_size",
        r#"{"type":"integer","minimum":1}"#,
        "API sources: rows per page (ga4 default 10000, at most 250000)",
    ),
    key(
        "max_per_second",
        r#"{"type":"number","exclusiveMinimum":0}"#,
        "API sources: at most this many requests per second",
    ),
];

pub const METRIC: &[Key] = &[
    key(
        "from",
        r#"{"type":["string","array"],"items":{"type":"string"}}"#,
        "source.field, or a list of them to add up",
    ),
    key(
        "aggregate",
        r#"{"enum":["sum","mean","first","last","min","max"]}"#,
        "how days combine (default sum)",
    ),
    key(
        "weight",
        STR,
        "with aggregate: mean, the metric to weight by (same source)",
    ),
    key(
        "unit",
        r#"{"enum":["count","money","fraction","ratio","score","duration"]}"#,
        "default: by name (spend and revenue are money), else count",
    ),
    key(
        "scale",
        r#"{"type":"number"}"#,
        "multiplier applied when read (0.000001 for micros)",
    ),
];

pub const KPI: &[Key] = &[
    key(
        "formula",
        STR,
        "arithmetic over metric and KPI names: (revenue - spend) / spend",
    ),
    key("name", STR, "display name"),
    key(
        "unit",
        r#"{"enum":["count","money","fraction","ratio","score","duration"]}"#,
        "what the number is",
    ),
    key(
        "better",
        r#"{"enum":["higher","lower"]}"#,
        "which way is better (default higher)",
    ),
];

pub const GOAL: &[Key] = &[
    key("kpi", STR, "a built-in KPI, a custom KPI, or a metric"),
    key(
        "target",
        r##"{"$ref":"#/$defs/target"}"##,
        "exactly one of at_least, at_most, between, change, stay_above, stay_below",
    ),
    key("name", STR, "display name (default: the KPI's)"),
    key(
        "period",
        r#"{"enum":["day","week","month","quarter","year"]}"#,
        "the period the target is for (default month)",
    ),
    key("owner", STR, "who acts on it"),
    key(
        "owner_email",
        STR,
        "where the owner is told when the goal needs attention (with a report's notify_owners)",
    ),
    key(
        "priority",
        r#"{"enum":["primary","secondary"]}"#,
        "primary goals come first (default primary)",
    ),
    key(
        "objective",
        STR,
        "groups goals (awareness, lead_generation…); more than 5 KPIs under one is warned about",
    ),
    key(
        "tolerance",
        NUM_OR_PCT,
        "how far short still counts as at risk (default 10%)",
    ),
    key(
        "judge_after",
        STR,
        "no verdict before this much of the period has passed: 21d, 3w, 48h",
    ),
    key(
        "pacing",
        r#"{"enum":["linear","last_year"]}"#,
        "how running totals are projected (default linear)",
    ),
    key(
        "filter",
        r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
        "dimension: value, e.g. channel: Paid Search",
    ),
];

pub const TARGET: &[Key] = &[
    key("at_least", NUM_OR_PCT, "the KPI must reach this"),
    key("at_most", NUM_OR_PCT, "the KPI must stay at or below this"),
    key(
        "between",
        r#"{"type":"array","items":{"type":["number","string"]},"minItems":2,"maxItems":2}"#,
        "[low, high]",
    ),
    key(
        "change",
        r#"{"type":["number","string"]}"#,
        "+12% or -10% against a baseline",
    ),
    key(
        "vs",
        r#"{"enum":["previous_period","same_period_last_year"]}"#,
        "the baseline of change (default previous_period)",
    ),
    key("stay_above", NUM_OR_PCT, "must hold on every day of the period"),
    key("stay_below", NUM_OR_PCT, "must hold on every day of the period"),
];

pub const FUNNEL: &[Key] = &[
    key("name", STR, "display name"),
    key(
        "stages",
        r#"{"type":"array","items":{"type":["string","object"]}}"#,
        "metric names in order, or {metric, label}",
    ),
    key("breakdown", STR, "a dimension to show the funnel per value of"),
];

pub const STAGE: &[Key] = &[
    key("metric", STR, "the stage's metric"),
    key("label", STR, "display name"),
];

pub const REPORT: &[Key] = &[
    key("title", STR, "display title"),
    key(
        "period",
        STR,
        "previous_month, current_week, … (default previous_month)",
    ),
    key("goals", STRS, "goal ids, in order"),
    key("funnels", STRS, "funnel ids"),
    key(
        "breakdowns",
        r#"{"type":"array","items":{"type":"object"}}"#,
        "{kpi, by, top}: best and worst rows by a dimension",
    ),
    key("channels", STRS, "channel ids to deliver to"),
    key(
        "send_if",
        r#"{"enum":["always","off_track","changed","has_data"]}"#,
        "when to send (default always)",
    ),
    key(
        "schedule",
        STR,
        "cron expression for `goalpost run`: 5 fields (or 6 with seconds first), @daily…, L and # day forms",
    ),
    key(
        "alert",
        r#"{"type":"boolean"}"#,
        "an alert: on its schedule, sends only when a goal's status gets worse (default false)",
    ),
    key(
        "rearm",
        STR,
        "alerts: remind after this long if a goal is still worse (default: only after it recovers)",
    ),
    key(
        "notify_owners",
        r#"{"enum":["off_track","at_risk"]}"#,
        "also send each owner the goals of theirs that are off track (or at risk too)",
    ),
    key(
        "owners_channel",
        STR,
        "the email channel for owner notices (default: the report's first email channel)",
    ),
    key(
        "max_goals",
        r#"{"type":"integer","minimum":1}"#,
        "goals shown before an 'n more goals' line (default 8)",
    ),
    key(
        "history",
        r#"{"type":"integer","minimum":0}"#,
        "periods of history behind each goal's sparkline (default 6; 0 for none)",
    ),
    key(
        "charts",
        r#"{"type":"boolean"}"#,
        "attach PNG charts to the HTML email (default true)",
    ),
    key("timezone", STR, "the schedule's zone (default the config's)"),
];

pub const BREAKDOWN: &[Key] = &[
    key("kpi", STR, "the KPI to rank rows by"),
    key("by", STR, "the dimension"),
    key(
        "top",
        r#"{"type":"integer","minimum":1}"#,
        "rows to show at each end (default 3)",
    ),
];

pub const CHANNEL: &[Key] = &[
    key(
        "type",
        r#"{"enum":["email","slack","teams","webhook","outbox"]}"#,
        "the kind of channel",
    ),
    key("to", STRS, "email: recipients"),
    key("cc", STRS, "email: copy recipients"),
    key("bcc", STRS, "email: blind copy recipients"),
    key("from", STR, "email: sender"),
    key("reply_to", STR, "email: reply address"),
    key("subject", STR, "email: subject template"),
    key("smtp", STR, "email: smtp://host:port (no credentials here)"),
    key(
        r#"tls"#,
        r#"{"enum":["starttls","tls","none"]}"#,
        "email: starttls (default, port 587), tls (implicit, port 465) or none (local relays only)",
    ),
    key(
        "username_env",
        STR,
        "email: the environment variable holding the SMTP user name",
    ),
    key(
        "password_env",
        STR,
        "email: the environment variable holding the SMTP password",
    ),
    key(
        "ca_file",
        STR,
        "email: a PEM file of extra CA certificates to trust (a private relay)",
    ),
    key("list_unsubscribe", STR, "email: a List-Unsubscribe address or URL"),
    key(
        "max_per_second",
        r#"{"type":"number","exclusiveMinimum":0}"#,
        "at most this many sends per second on this channel",
    ),
    key(
        "allow_insecure",
        r#"{"type":"boolean"}"#,
        "webhook/slack: allow an http:// URL (tests, local receivers)",
    ),
    key(
        "webhook_url_env",
        STR,
        "slack, teams: the environment variable holding the webhook URL",
    ),
    key("url_env", STR, "webhook: the environment variable holding the URL"),
    key(
        "secret_env",
        STR,
        "webhook: the environment variable holding the HMAC secret",
    ),
    key("path", STR, "outbox: the folder (default outbox/)"),
];

pub const DELIVERY: &[Key] = &[
    key(
        "max_attempts",
        r#"{"type":"integer","minimum":1}"#,
        "attempts before a delivery is failed (default 8)",
    ),
    key(
        "backoff",
        STR,
        "first retry delay, doubled each time with jitter (default 2s)",
    ),
    key("max_backoff", STR, "longest retry delay (default 10m)"),
    key(
        "max_age",
        STR,
        "a delivery not sent this long after its run is failed (default 24h)",
    ),
    key(
        "wait",
        STR,
        "how long `goalpost send` waits for retries before leaving them pending (default 2m)",
    ),
];

pub const DAEMON: &[Key] = &[
    key(
        "catch_up",
        STR,
        "runs missed while the daemon was down are made up on start when this recent (default 7d; 0s for none)",
    ),
    key(
        "listen",
        STR,
        "address for /healthz, /readyz, /metrics and /reports/ID, e.g. 127.0.0.1:9090 (default: none)",
    ),
    key(
        "shutdown_grace",
        STR,
        "on SIGTERM, how long in-flight deliveries may finish before the rest is left pending (default 30s)",
    ),
];

pub fn names(keys: &[Key]) -> impl Iterator<Item = &'static str> + '_ {
    keys.iter().map(|k| k.name)
}
