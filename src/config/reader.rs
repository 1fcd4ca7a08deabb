//! Reads the node tree into a [`Plan`], collecting every problem on the way.
//!
//! Each section is read on its own and bad entries are skipped, so one mistake does
//! not hide the next; cross-references (a goal's KPI, a metric's source, a report's
//! goals) are checked once every section is read, with "did you mean" suggestions.

use super::diagnostic::{did_you_mean, Diagnostics, Location};
use super::keys::{self, Key};
use super::plan::*;
use super::yaml::{Node, Value};
use crate::kpi::formula::{self, Formula, Parsed};
use crate::kpi::{library, Better, Kpi, Unit};
use crate::period::{Grain, Relative};
use chrono::Weekday;
use chrono_tz::Tz;
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

type Entries = [(String, Location, Node)];

/// The kinds of source, as `type:` names them.
const SOURCE_TYPES: [&str; 8] = [
    "csv",
    "sql",
    "ga4",
    "search_console",
    "meta_ads",
    "hubspot",
    "google_ads",
    "mailchimp",
];

pub struct Reader<'d> {
    pub diags: &'d mut Diagnostics,
    /// The config file's folder: relative paths in the file are relative to it.
    pub dir: PathBuf,
    /// The config's zone, once read (sources that place records on days need it).
    pub timezone: Tz,
}

/// Raw metric before source checks.
struct RawMetric {
    name: String,
    feeds: Vec<(Feed, Location)>,
    aggregate: Aggregate,
    weight_loc: Option<Location>,
    unit: Unit,
}

struct RawKpi {
    parsed: Parsed,
    loc: Location,
    name: Option<String>,
    unit: Option<Unit>,
    better: Better,
}

impl Reader<'_> {
    pub fn read(&mut self, file: &Path, root: &Node) -> Option<Plan> {
        let top = self.entries(root, "the config file", keys::TOP)?;
        let get = |k: &str| top.iter().find(|(n, _, _)| n == k).map(|(_, _, v)| v);

        let timezone = match get("timezone") {
            Some(n) => match self.string(n, "timezone") {
                Some(s) => match s.parse::<Tz>() {
                    Ok(tz) => tz,
                    Err(_) => {
                        let sugg = did_you_mean(&s, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
                        self.diags.error_with(
                            &n.loc,
                            format!("`{s}` is not an IANA time zone"),
                            sugg.or(Some("e.g. Europe/Berlin, America/New_York, Asia/Riyadh".into())),
                        );
                        Tz::UTC
                    }
                },
                None => Tz::UTC,
            },
            None => Tz::UTC,
        };
        self.timezone = timezone;
        let locale = get("locale")
            .and_then(|n| self.one_of(n, "locale", &["en", "ar"]))
            .unwrap_or_else(|| "en".into());
        let currency = match get("currency").and_then(|n| self.string(n, "currency").map(|s| (s, n))) {
            Some((s, n)) => {
                if s.len() != 3 || !s.chars().all(|c| c.is_ascii_uppercase()) {
                    self.diags.error(
                        &n.loc,
                        format!("`{s}` is not an ISO 4217 currency code (three capitals: USD, EUR, SAR)"),
                    );
                }
                s
            }
            None => "USD".into(),
        };
        let week_start = match get("week_start") {
            Some(n) => {
                let days = [
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                ];
                match self.one_of(n, "week_start", &days) {
                    Some(d) => d.parse::<Weekday>().unwrap_or(Weekday::Mon),
                    None => Weekday::Mon,
                }
            }
            None => Weekday::Mon,
        };

        let arabic_digits = get("digits")
            .and_then(|n| self.one_of(n, "digits", &["latn", "arab"]))
            .is_some_and(|d| d == "arab");
        let templates = get("templates")
            .and_then(|n| self.string(n, "templates"))
            .map(|t| self.dir.join(t));
        if let (Some(t), Some(n)) = (&templates, get("templates")) {
            if !t.is_dir() {
                self.diags
                    .error(&n.loc, format!("the templates folder {} does not exist", t.display()));
            }
        }
        let store_name = get("store")
            .and_then(|n| self.string(n, "store"))
            // NAME.db beside NAME.yaml: each client file of a config folder gets its own log.
            .unwrap_or_else(|| {
                let stem = file
                    .file_stem()
                    .map_or("goalpost".into(), |s| s.to_string_lossy().into_owned());
                format!("{stem}.db")
            });
        let store = self.store_location(store_name, get("store"));
        let delivery = get("delivery").map(|n| self.delivery(n)).unwrap_or_default();
        let sources = get("sources").map(|n| self.sources(n)).unwrap_or_default();
        // Sources declared but broken are already reported; metrics reading them are not a second error.
        let declared_sources: Vec<String> = match get("sources").map(|n| &n.value) {
            Some(Value::Map(e)) => e.iter().map(|(k, _, _)| k.clone()).collect(),
            _ => Vec::new(),
        };
        let raw_metrics = get("metrics").map(|n| self.metrics(n)).unwrap_or_default();
        let raw_kpis = get("kpis").map(|n| self.kpis(n)).unwrap_or_default();

        // Metrics: check their sources and weights.
        let mut metrics = Vec::new();
        for m in &raw_metrics {
            for (feed, loc) in &m.feeds {
                if !sources.contains_key(&feed.source) && !declared_sources.contains(&feed.source) {
                    let sugg = did_you_mean(&feed.source, sources.keys().map(String::as_str));
                    self.diags.error_with(
                        loc,
                        format!(
                            "metric `{}` reads source `{}` which is not defined",
                            m.name, feed.source
                        ),
                        sugg,
                    );
                }
            }
            if let (Aggregate::Mean { weight: Some(w) }, Some(loc)) = (&m.aggregate, &m.weight_loc) {
                match raw_metrics.iter().find(|x| &x.name == w) {
                    None => {
                        let sugg = did_you_mean(w, raw_metrics.iter().map(|x| x.name.as_str()));
                        self.diags.error_with(
                            loc,
                            format!("metric `{}` is weighted by `{w}`, which is not a metric", m.name),
                            sugg,
                        );
                    }
                    Some(wm) => {
                        for (f, floc) in &m.feeds {
                            if !wm.feeds.iter().any(|(wf, _)| wf.source == f.source) {
                                self.diags.error(
                                    floc,
                                    format!(
                                        "metric `{}` is weighted by `{w}`, but `{w}` has no field in source `{}`",
                                        m.name, f.source
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            metrics.push(Metric {
                name: m.name.clone(),
                feeds: m.feeds.iter().map(|(f, _)| f.clone()).collect(),
                aggregate: m.aggregate.clone(),
                unit: m.unit,
            });
        }
        for (id, s) in &sources {
            if !metrics.iter().any(|m| m.feeds.iter().any(|f| &f.source == id)) {
                let loc = top
                    .iter()
                    .find(|(n, _, _)| n == "sources")
                    .and_then(|(_, _, v)| key_loc(v, id))
                    .unwrap_or_default();
                self.diags.warning(
                    &loc,
                    format!("source `{id}` ({}) feeds no metric, so it is never read", s.kind.name()),
                );
            }
        }

        let mut kpis = KpiCompiler {
            metrics: &metrics,
            raw: &raw_kpis,
            done: IndexMap::new(),
            stack: Vec::new(),
        };
        // Every custom KPI is compiled (so its errors show even if unused).
        for (id, raw) in &raw_kpis {
            if let Err(e) = kpis.compile(id) {
                self.diags.error(&raw.loc, e);
            }
        }

        let goals = get("goals")
            .map(|n| self.goals(n, &mut kpis, &sources))
            .unwrap_or_default();
        let funnels = get("funnels")
            .map(|n| self.funnels(n, &metrics, &sources))
            .unwrap_or_default();
        let channels = get("channels").map(|n| self.channels(n)).unwrap_or_default();
        // Goals declared but broken are already reported; a report listing them is not a second error.
        let declared_goals: Vec<String> = match get("goals").map(|n| &n.value) {
            Some(Value::Map(e)) => e.iter().map(|(k, _, _)| k.clone()).collect(),
            _ => Vec::new(),
        };
        let daemon = get("daemon").map(|n| self.daemon(n)).unwrap_or_default();
        let reports = get("reports")
            .map(|n| {
                self.reports(
                    n,
                    timezone,
                    &goals,
                    &declared_goals,
                    &funnels,
                    &channels,
                    &mut kpis,
                    &sources,
                )
            })
            .unwrap_or_default();
        if get("reports").is_none() {
            self.diags
                .warning(&root.loc, "there are no reports: nothing will be sent");
        }

        self.objective_warnings(&goals);
        let on_failure = get("on_failure").and_then(|n| {
            let id = self.string(n, "on_failure")?;
            if channels.contains_key(&id) {
                Some(id)
            } else {
                let sugg = did_you_mean(&id, channels.keys().map(String::as_str));
                self.diags.error_with(
                    &n.loc,
                    format!("`on_failure` names channel `{id}`, which is not defined"),
                    sugg,
                );
                None
            }
        });

        if self.diags.has_errors() {
            return None;
        }
        let kpis = kpis
            .done
            .into_iter()
            .filter_map(|(k, v)| v.ok().map(|v| (k, v)))
            .collect();
        Some(Plan {
            file: file.to_path_buf(),
            timezone,
            locale,
            currency,
            week_start,
            arabic_digits,
            templates,
            store,
            on_failure,
            delivery,
            daemon,
            sources,
            metrics,
            kpis,
            goals: goals.into_iter().map(|(k, (g, _))| (k, g)).collect(),
            funnels,
            reports,
            channels,
            renderer: Default::default(),
        })
    }

    // ---------- sections ----------

    fn sources(&mut self, node: &Node) -> IndexMap<String, SourceSpec> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "sources") else {
            return out;
        };
        for (id, _, n) in entries {
            let Some(fields) = self.entries(n, &format!("source `{id}`"), keys::SOURCE) else {
                continue;
            };
            let get = |k: &str| field(fields, k);
            let Some(kind_node) = get("type") else {
                self.diags.error(
                    &n.loc,
                    format!("source `{id}` has no `type` ({})", SOURCE_TYPES.join(", ")),
                );
                continue;
            };
            let Some(kind) = self.one_of(kind_node, &format!("sources.{id}.type"), &SOURCE_TYPES) else {
                continue;
            };
            let dimensions = get("dimensions")
                .map(|d| self.strings(d, "dimensions"))
                .unwrap_or_default();
            let date_column = get("date_column")
                .and_then(|d| self.string(d, "date_column"))
                .unwrap_or_else(|| "date".into());
            let only = |this: &mut Self, allowed: &[&str]| {
                for (k, kloc, _) in fields {
                    let shared = ["type", "dimensions", "date_column"];
                    if !shared.contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
                        this.diags
                            .error(kloc, format!("`{k}` does not apply to a {kind} source"));
                    }
                }
            };
            let mut dimensions = dimensions;
            let spec = match kind.as_str() {
                "ga4" => {
                    only(
                        self,
                        &[
                            "property",
                            "credentials_file",
                            "client_id_env",
                            "client_secret_env",
                            "refresh_token_env",
                            "preset",
                            "api_metrics",
                            "api_dimensions",
                            "base_url",
                            "api_version",
                            "token_url",
                            "page_size",
                            "max_per_second",
                        ],
                    );
                    if let Some(d) = get("dimensions") {
                        self.diags.error(
                            &d.loc,
                            format!(
                                "source `{id}`: a ga4 source's dimensions come from `api_dimensions` (or its preset)"
                            ),
                        );
                    }
                    let Some(spec) = self.ga4(id, n, fields) else { continue };
                    dimensions = spec.dimensions.iter().map(|(n, _)| n.clone()).collect();
                    SourceKind::Ga4(Box::new(spec))
                }
                "google_ads" => {
                    only(
                        self,
                        &[
                            "customer_id",
                            "login_customer_id",
                            "developer_token_env",
                            "credentials_file",
                            "client_id_env",
                            "client_secret_env",
                            "refresh_token_env",
                            "token_url",
                            "base_url",
                            "api_version",
                            "max_per_second",
                        ],
                    );
                    if let Some(d) = dimensions.iter().find(|d| *d != "campaign") {
                        let at = get("dimensions").map(|n| n.loc.clone()).unwrap_or_default();
                        self.diags.error(
                            &at,
                            format!("source `{id}`: Google Ads rows have the dimension campaign (or none), not `{d}`"),
                        );
                    }
                    let Some(spec) = self.google_ads(id, n, fields) else {
                        continue;
                    };
                    SourceKind::GoogleAds(Box::new(spec))
                }
                "mailchimp" => {
                    only(
                        self,
                        &["api_key_env", "base_url", "api_version", "page_size", "max_per_second"],
                    );
                    if let Some(d) = dimensions.iter().find(|d| *d != "campaign") {
                        let at = get("dimensions").map(|n| n.loc.clone()).unwrap_or_default();
                        self.diags.error(
                            &at,
                            format!(
                                "source `{id}`: Mailchimp reports have the dimension campaign (or none), not `{d}`"
                            ),
                        );
                    }
                    let Some(api_key_env) =
                        self.env_var_name(fields, n, "api_key_env", &format!("source `{id}`"), true)
                    else {
                        continue;
                    };
                    let (base_url, _, api_version, page_size, mut http) =
                        self.api_common(fields, "", "3.0", (1_000, 1_000));
                    // Mailchimp allows 10 connections at once per user.
                    http.per_second = http.per_second.or(Some(10));
                    SourceKind::Mailchimp(Box::new(MailchimpSpec {
                        api_key_env,
                        base_url: (!base_url.is_empty()).then_some(base_url),
                        api_version,
                        page_size,
                        http,
                        timezone: self.timezone,
                    }))
                }
                "hubspot" => {
                    only(self, &["token_env", "base_url", "page_size", "max_per_second"]);
                    if let Some(d) = get("dimensions") {
                        self.diags.error(
                            &d.loc,
                            format!("source `{id}`: a hubspot source counts records per day, without dimensions"),
                        );
                    }
                    let Some(token_env) = self.env_var_name(fields, n, "token_env", &format!("source `{id}`"), true)
                    else {
                        continue;
                    };
                    let (base_url, _, _, page_size, http) =
                        self.api_common(fields, "https://api.hubapi.com", "v3", (200, 200));
                    SourceKind::HubSpot(Box::new(HubSpotSpec {
                        token_env,
                        base_url,
                        page_size,
                        http,
                        timezone: self.timezone,
                    }))
                }
                "meta_ads" => {
                    only(
                        self,
                        &[
                            "account",
                            "token_env",
                            "level",
                            "lead_action",
                            "purchase_action",
                            "base_url",
                            "api_version",
                            "page_size",
                            "max_per_second",
                        ],
                    );
                    if let Some(d) = get("dimensions") {
                        self.diags.error(
                            &d.loc,
                            format!("source `{id}`: a meta_ads source's dimensions come from its `level` (campaign, adset, ad)"),
                        );
                    }
                    let Some(spec) = self.meta_ads(id, n, fields) else {
                        continue;
                    };
                    dimensions = crate::source::api::meta_ads::dimensions(&spec.level)
                        .iter()
                        .map(|(d, _)| d.to_string())
                        .collect();
                    SourceKind::MetaAds(Box::new(spec))
                }
                "search_console" => {
                    only(
                        self,
                        &[
                            "site",
                            "credentials_file",
                            "client_id_env",
                            "client_secret_env",
                            "refresh_token_env",
                            "base_url",
                            "api_version",
                            "token_url",
                            "page_size",
                            "max_per_second",
                        ],
                    );
                    let known = crate::source::api::search_console::DIMENSIONS;
                    for d in &dimensions {
                        if !known.contains(&d.as_str()) {
                            let at = get("dimensions").map(|n| n.loc.clone()).unwrap_or_default();
                            let sugg = did_you_mean(d, known.iter().copied())
                                .or_else(|| Some(format!("one of: {}", known.join(", "))));
                            self.diags.error_with(
                                &at,
                                format!("source `{id}`: Search Console has no dimension `{d}`"),
                                sugg,
                            );
                        }
                    }
                    let Some(spec) = self.search_console(id, n, fields) else {
                        continue;
                    };
                    SourceKind::SearchConsole(Box::new(spec))
                }
                "csv" => {
                    only(
                        self,
                        &[
                            "path",
                            "date_format",
                            "delimiter",
                            "thousands_separator",
                            "decimal_separator",
                        ],
                    );
                    let Some(path) = self.required_string(fields, n, "path", &format!("source `{id}`")) else {
                        continue;
                    };
                    let delimiter = match get("delimiter").and_then(|d| self.char(d, "delimiter")) {
                        Some(c) if c.is_ascii() => c as u8,
                        Some(_) => {
                            self.diags.error(
                                &get("delimiter").unwrap().loc,
                                "the delimiter must be one ASCII character",
                            );
                            b','
                        }
                        None => b',',
                    };
                    let thousands_separator =
                        get("thousands_separator").and_then(|d| self.char(d, "thousands_separator"));
                    let decimal_separator = get("decimal_separator")
                        .and_then(|d| self.char(d, "decimal_separator"))
                        .unwrap_or('.');
                    if thousands_separator == Some(decimal_separator) {
                        let at = get("thousands_separator").map(|n| n.loc.clone()).unwrap_or_default();
                        self.diags.error_with(
                            &at,
                            format!("source `{id}`: the thousands separator is also the decimal separator (`{decimal_separator}`)"),
                            Some("set decimal_separator too, e.g. thousands_separator: \".\" with decimal_separator: \",\"".into()),
                        );
                    }
                    SourceKind::Csv(CsvSpec {
                        path: self.dir.join(path),
                        date_column,
                        date_format: get("date_format")
                            .and_then(|d| self.string(d, "date_format"))
                            .unwrap_or_else(|| "%Y-%m-%d".into()),
                        delimiter,
                        thousands_separator,
                        decimal_separator,
                    })
                }
                _ => {
                    only(self, &["url", "query", "setup"]);
                    let url = self.required_string(fields, n, "url", &format!("source `{id}`"));
                    let query = self.required_string(fields, n, "query", &format!("source `{id}`"));
                    let (Some(url), Some(query)) = (url, query) else {
                        continue;
                    };
                    let url = if let Some(rest) = url.strip_prefix("sqlite://") {
                        // A relative SQLite path is relative to the config file, like CSV paths.
                        let (path, params) = rest.split_once('?').map_or((rest, None), |(p, q)| (p, Some(q)));
                        let p = if Path::new(path).is_absolute() || path == ":memory:" {
                            PathBuf::from(path)
                        } else {
                            self.dir.join(path)
                        };
                        format!(
                            "sqlite://{}{}",
                            p.display(),
                            params.map(|q| format!("?{q}")).unwrap_or_default()
                        )
                    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains("${") {
                        // (An unset ${VAR} is already reported.)
                        url
                    } else {
                        self.diags.error(
                            &get("url").unwrap().loc,
                            format!("source `{id}`: the url must start with sqlite:// or postgres://"),
                        );
                        continue;
                    };
                    SourceKind::Sql(SqlSpec {
                        url,
                        query,
                        date_column,
                        setup: get("setup")
                            .and_then(|d| self.string(d, "setup"))
                            .map(|p| self.dir.join(p)),
                    })
                }
            };
            out.insert(
                id.clone(),
                SourceSpec {
                    id: id.clone(),
                    dimensions,
                    kind: spec,
                },
            );
        }
        out
    }

    fn search_console(&mut self, id: &str, n: &Node, fields: &Entries) -> Option<SearchConsoleSpec> {
        let what = format!("source `{id}`");
        let site = self.required_string(fields, n, "site", &what);
        let credentials = self.google_credentials(fields, n, &what);
        if let (Some(s), Some(node)) = (&site, field(fields, "site")) {
            if !(s.starts_with("sc-domain:") || s.starts_with("https://") || s.starts_with("http://")) {
                self.diags.error(
                    &node.loc,
                    format!("`{s}` is not a Search Console property: write sc-domain:example.com or https://www.example.com/"),
                );
            }
        }
        let (base_url, token_url, api_version, page_size, http) =
            self.api_common(fields, "https://searchconsole.googleapis.com", "v3", (10_000, 25_000));
        Some(SearchConsoleSpec {
            site: site?,
            credentials: credentials?,
            token_url,
            base_url,
            api_version,
            page_size,
            http,
        })
    }

    /// A Google source's sign-in: `credentials_file` (a service account) or the three OAuth
    /// variables (a refresh token); one of the two, whole.
    fn google_credentials(
        &mut self,
        fields: &Entries,
        n: &Node,
        what: &str,
    ) -> Option<crate::source::api::google_auth::GoogleCredentials> {
        use crate::source::api::google_auth::GoogleCredentials;
        let oauth = [
            self.env_var_name(fields, n, "client_id_env", what, false),
            self.env_var_name(fields, n, "client_secret_env", what, false),
            self.env_var_name(fields, n, "refresh_token_env", what, false),
        ];
        let key_file = field(fields, "credentials_file").and_then(|v| self.string(v, "credentials_file"));
        match (key_file, oauth) {
            (Some(f), [None, None, None]) => Some(GoogleCredentials::ServiceAccount(self.dir.join(f))),
            (None, [Some(a), Some(b), Some(c)]) => Some(GoogleCredentials::RefreshToken {
                client_id_env: a,
                client_secret_env: b,
                refresh_token_env: c,
            }),
            _ => {
                self.diags.error_with(
                    &n.loc,
                    format!("{what} needs one way to sign in"),
                    Some(
                        "either `credentials_file` (a service account) or all of `client_id_env`, \
                         `client_secret_env` and `refresh_token_env` (OAuth)"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn google_ads(&mut self, id: &str, n: &Node, fields: &Entries) -> Option<GoogleAdsSpec> {
        let what = format!("source `{id}`");
        let digits = |this: &mut Self, key: &str| -> Option<String> {
            let node = field(fields, key)?;
            let s = this.string(node, key)?;
            let d: String = s.chars().filter(|c| *c != '-').collect();
            if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit()) {
                this.diags.error(
                    &node.loc,
                    format!("`{s}` is not a Google Ads customer id (ten digits, as 123-456-7890)"),
                );
                return None;
            }
            Some(d)
        };
        let customer_id = digits(self, "customer_id");
        if field(fields, "customer_id").is_none() {
            self.diags.error(&n.loc, format!("{what} has no `customer_id`"));
        }
        let login_customer_id = digits(self, "login_customer_id");
        let developer_token_env = self.env_var_name(fields, n, "developer_token_env", &what, false);
        let credentials = self.google_credentials(fields, n, &what);
        let (base_url, token_url, api_version, _, http) =
            self.api_common(fields, "https://googleads.googleapis.com", "v21", (10_000, 10_000));
        Some(GoogleAdsSpec {
            customer_id: customer_id?,
            login_customer_id,
            developer_token_env,
            credentials: credentials?,
            token_url,
            base_url,
            api_version,
            http,
        })
    }

    fn meta_ads(&mut self, id: &str, n: &Node, fields: &Entries) -> Option<MetaAdsSpec> {
        let what = format!("source `{id}`");
        let account = self.required_string(fields, n, "account", &what);
        let token_env = self.env_var_name(fields, n, "token_env", &what, true);
        let account = account.map(|a| a.trim_start_matches("act_").to_string());
        if let (Some(a), Some(node)) = (&account, field(fields, "account")) {
            if a.is_empty() || !a.chars().all(|c| c.is_ascii_digit()) {
                self.diags.error(
                    &node.loc,
                    format!("`{a}` is not an ad account id: it is a number, shown in Ads Manager as act_123…"),
                );
            }
        }
        let level = field(fields, "level")
            .and_then(|l| self.one_of(l, "level", &["account", "campaign", "adset", "ad"]))
            .unwrap_or_else(|| "campaign".into());
        let text = |this: &mut Self, key: &str| field(fields, key).and_then(|v| this.string(v, key));
        let lead_action = text(self, "lead_action").unwrap_or_else(|| "lead".into());
        let purchase_action =
            text(self, "purchase_action").unwrap_or_else(|| "offsite_conversion.fb_pixel_purchase".into());
        let (base_url, _, api_version, page_size, http) =
            self.api_common(fields, "https://graph.facebook.com", "v23.0", (500, 5_000));
        Some(MetaAdsSpec {
            account: account?,
            token_env: token_env?,
            level,
            lead_action,
            purchase_action,
            base_url,
            api_version,
            page_size,
            http,
        })
    }

    /// The keys every API source has: base_url, token_url, api_version, page_size (with the
    /// API's default and maximum), max_per_second.
    fn api_common(
        &mut self,
        fields: &Entries,
        default_base: &str,
        default_version: &str,
        (default_page, max_page): (u32, u32),
    ) -> (String, Option<String>, String, u32, crate::source::api::HttpPolicy) {
        let page_size = match field(fields, "page_size") {
            Some(p) => match self.number(p, "page_size") {
                Some(v) if (1.0..=max_page as f64).contains(&v) && v.fract() == 0.0 => v as u32,
                Some(_) => {
                    self.diags
                        .error(&p.loc, format!("`page_size` is a whole number from 1 to {max_page}"));
                    default_page
                }
                None => default_page,
            },
            None => default_page,
        };
        let mut http = crate::source::api::HttpPolicy::default();
        if let Some(p) = field(fields, "max_per_second") {
            match self.number(p, "max_per_second") {
                Some(v) if v >= 1.0 => http.per_second = Some(v as u32),
                Some(_) => self.diags.error(&p.loc, "`max_per_second` is at least 1"),
                None => {}
            }
        }
        let text = |this: &mut Self, key: &str| field(fields, key).and_then(|v| this.string(v, key));
        let base_url = text(self, "base_url").unwrap_or_else(|| default_base.into());
        let token_url = text(self, "token_url");
        for (key, url) in [("base_url", Some(base_url.clone())), ("token_url", token_url.clone())] {
            if let (Some(u), Some(node)) = (url, field(fields, key)) {
                if url::Url::parse(&u).map_or(true, |p| p.scheme() != "https" && p.scheme() != "http") {
                    self.diags
                        .error(&node.loc, format!("`{key}` must be an http(s) URL, not `{u}`"));
                }
            }
        }
        let api_version = text(self, "api_version").unwrap_or_else(|| default_version.into());
        (base_url, token_url, api_version, page_size, http)
    }

    fn ga4(&mut self, id: &str, n: &Node, fields: &Entries) -> Option<Ga4Spec> {
        let what = format!("source `{id}`");
        let property = self.required_string(fields, n, "property", &what);
        let credentials = self.google_credentials(fields, n, &what);
        if let (Some(p), Some(node)) = (&property, field(fields, "property")) {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                self.diags.error(
                    &node.loc,
                    format!("`{p}` is not a GA4 property id: it is a number, under Admin → Property details"),
                );
            }
        }
        let mut dimensions: Vec<(String, String)> = Vec::new();
        let mut metrics: Vec<(String, String)> = Vec::new();
        let presets = crate::source::api::ga4::PRESETS;
        let names: Vec<&str> = presets.iter().map(|p| p.name).collect();
        if let Some(p) = field(fields, "preset").and_then(|p| self.one_of(p, "preset", &names)) {
            let preset = presets.iter().find(|x| x.name == p).expect("one of the names");
            dimensions.extend(preset.dimensions.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            metrics.extend(preset.metrics.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        }
        for (key, out) in [("api_dimensions", &mut dimensions), ("api_metrics", &mut metrics)] {
            let Some(node) = field(fields, key) else { continue };
            let Some(entries) = self.map(node, key) else { continue };
            for (name, _, v) in entries {
                if let Some(api) = self.string(v, key) {
                    out.retain(|(n, _)| n != name);
                    out.push((name.clone(), api));
                }
            }
        }
        if metrics.is_empty() {
            self.diags.error_with(
                &n.loc,
                format!("{what} reads no GA4 metric"),
                Some("add `preset: ga4_channels`, or `api_metrics: { sessions: sessions, leads: keyEvents }`".into()),
            );
        }
        let (base_url, token_url, api_version, page_size, http) = self.api_common(
            fields,
            "https://analyticsdata.googleapis.com",
            "v1beta",
            (10_000, 250_000),
        );
        Some(Ga4Spec {
            property: property?,
            credentials: credentials?,
            token_url,
            base_url,
            api_version,
            dimensions,
            metrics,
            page_size,
            http,
        })
    }

    fn metrics(&mut self, node: &Node) -> Vec<RawMetric> {
        let mut out = Vec::new();
        let Some(entries) = self.map(node, "metrics") else {
            return out;
        };
        for (name, _, n) in entries {
            let (defaults_unit, _) = library::metric_defaults(name);
            let mut m = RawMetric {
                name: name.clone(),
                feeds: Vec::new(),
                aggregate: Aggregate::Sum,
                weight_loc: None,
                unit: defaults_unit,
            };
            let from = match &n.value {
                Value::Str(_) | Value::Seq(_) => Some(n),
                Value::Map(_) => {
                    let Some(fields) = self.entries(n, &format!("metric `{name}`"), keys::METRIC) else {
                        continue;
                    };
                    if let Some(a) = field(fields, "aggregate") {
                        let weight = field(fields, "weight");
                        m.aggregate = match self.one_of(a, "aggregate", Aggregate::NAMES).as_deref() {
                            Some("mean") => Aggregate::Mean {
                                weight: weight.and_then(|w| self.string(w, "weight")),
                            },
                            Some("first") => Aggregate::First,
                            Some("last") => Aggregate::Last,
                            Some("min") => Aggregate::Min,
                            Some("max") => Aggregate::Max,
                            _ => Aggregate::Sum,
                        };
                        m.weight_loc = weight.map(|w| w.loc.clone());
                        if let (Some(weight), false) = (weight, matches!(m.aggregate, Aggregate::Mean { .. })) {
                            self.diags.error(
                                &weight.loc,
                                format!("metric `{name}`: `weight` only applies with `aggregate: mean`"),
                            );
                        }
                    } else if let Some(w) = field(fields, "weight") {
                        self.diags.error(
                            &w.loc,
                            format!("metric `{name}`: `weight` only applies with `aggregate: mean`"),
                        );
                    }
                    if let Some(u) = field(fields, "unit") {
                        if let Some(u) = self.one_of(u, "unit", Unit::NAMES) {
                            m.unit = Unit::parse(&u).unwrap_or(Unit::Count);
                        }
                    }
                    let scale = field(fields, "scale")
                        .and_then(|s| self.number(s, "scale"))
                        .unwrap_or(1.0);
                    let from = field(fields, "from");
                    if from.is_none() {
                        self.diags
                            .error(&n.loc, format!("metric `{name}` has no `from` (source.field)"));
                    }
                    if let Some(f) = from {
                        for (feed, l) in self.feeds(f, name) {
                            m.feeds.push((Feed { scale, ..feed }, l));
                        }
                    }
                    None
                }
                _ => {
                    self.diags.error(
                        &n.loc,
                        format!("metric `{name}` must be `source.field`, a list of them, or a mapping with `from`"),
                    );
                    continue;
                }
            };
            if let Some(f) = from {
                m.feeds = self.feeds(f, name);
            }
            if matches!(m.aggregate, Aggregate::Sum) && matches!(m.unit, Unit::Fraction | Unit::Score) {
                self.diags.error_with(
                    &n.loc,
                    format!("metric `{name}` is a rate or a level and must not be summed over days"),
                    Some(
                        "add `aggregate: mean` with a `weight` (e.g. impressions), or feed its additive parts instead"
                            .into(),
                    ),
                );
            }
            out.push(m);
        }
        out
    }

    fn feeds(&mut self, n: &Node, metric: &str) -> Vec<(Feed, Location)> {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_str().and_then(|s| s.split_once('.')) {
                Some((source, field)) if !source.is_empty() && !field.is_empty() => out.push((
                    Feed {
                        source: source.to_string(),
                        field: field.to_string(),
                        scale: 1.0,
                    },
                    item.loc.clone(),
                )),
                _ => self.diags.error(
                    &item.loc,
                    format!("metric `{metric}`: write its source as `source.field`, e.g. `web.sessions`"),
                ),
            }
        }
        out
    }

    fn kpis(&mut self, node: &Node) -> IndexMap<String, RawKpi> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "kpis") else {
            return out;
        };
        for (id, _, n) in entries {
            let (text, fields) = match &n.value {
                Value::Str(s) => (Some((s.clone(), n.loc.clone())), None),
                _ => {
                    let Some(fields) = self.entries(n, &format!("KPI `{id}`"), keys::KPI) else {
                        continue;
                    };
                    let f =
                        field(fields, "formula").and_then(|f| self.string(f, "formula").map(|s| (s, f.loc.clone())));
                    if f.is_none() && field(fields, "formula").is_none() {
                        self.diags.error(&n.loc, format!("KPI `{id}` has no `formula`"));
                    }
                    (f, Some(fields))
                }
            };
            let Some((text, floc)) = text else { continue };
            let parsed = match formula::parse(&text) {
                Ok(p) => p,
                Err(e) => {
                    self.diags.error(&floc, format!("KPI `{id}`: {e}"));
                    continue;
                }
            };
            let mut raw = RawKpi {
                parsed,
                loc: floc,
                name: None,
                unit: None,
                better: Better::Higher,
            };
            if let Some(fields) = fields {
                raw.name = field(fields, "name").and_then(|x| self.string(x, "name"));
                raw.unit = field(fields, "unit")
                    .and_then(|x| self.one_of(x, "unit", Unit::NAMES))
                    .and_then(|u| Unit::parse(&u));
                if let Some(b) = field(fields, "better").and_then(|x| self.one_of(x, "better", &["higher", "lower"])) {
                    raw.better = if b == "lower" { Better::Lower } else { Better::Higher };
                }
            }
            out.insert(id.clone(), raw);
        }
        out
    }

    fn goals(
        &mut self,
        node: &Node,
        kpis: &mut KpiCompiler<'_>,
        sources: &IndexMap<String, SourceSpec>,
    ) -> IndexMap<String, (Goal, Location)> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "goals") else {
            return out;
        };
        for (id, id_loc, n) in entries {
            let what = format!("goal `{id}`");
            let Some(fields) = self.entries(n, &what, keys::GOAL) else {
                continue;
            };
            let Some(kpi_id) = self.required_string(fields, n, "kpi", &what) else {
                continue;
            };
            let kpi_loc = field(fields, "kpi").unwrap().loc.clone();
            let kpi = match kpis.compile(&kpi_id) {
                Ok(k) => Some(k),
                Err(e) => {
                    let msg = if kpis.exists(&kpi_id) {
                        format!("{what}: {e}")
                    } else {
                        format!("{what} uses KPI `{kpi_id}` which is not defined (not a built-in KPI, not in `kpis`, not in `metrics`)")
                    };
                    let sugg = if kpis.exists(&kpi_id) {
                        None
                    } else {
                        did_you_mean(&kpi_id, kpis.all_names().iter().map(String::as_str))
                    };
                    self.diags.error_with(&kpi_loc, msg, sugg);
                    None
                }
            };
            let Some(target_node) = field(fields, "target") else {
                self.diags.error(&n.loc, format!("{what} has no `target`"));
                continue;
            };
            let unit = kpi.as_ref().map(|k| k.unit);
            let Some(target) = self.target(target_node, &what, unit) else {
                continue;
            };
            let grain = match field(fields, "period") {
                Some(p) => self
                    .one_of(p, "period", Grain::NAMES)
                    .and_then(|g| Grain::parse(&g))
                    .unwrap_or(Grain::Month),
                None => Grain::Month,
            };
            let priority =
                match field(fields, "priority").and_then(|p| self.one_of(p, "priority", &["primary", "secondary"])) {
                    Some(p) if p == "secondary" => Priority::Secondary,
                    _ => Priority::Primary,
                };
            let tolerance = match field(fields, "tolerance") {
                Some(t) => match self.percent(t, "tolerance") {
                    Some(v) if (0.0..1.0).contains(&v) => v,
                    Some(_) => {
                        self.diags.error(&t.loc, "tolerance must be between 0% and 100%");
                        0.1
                    }
                    None => 0.1,
                },
                None => 0.1,
            };
            let judge_after = field(fields, "judge_after").and_then(|j| {
                let s = self.string(j, "judge_after")?;
                match parse_duration(&s) {
                    Some(d) => Some(d),
                    None => {
                        self.diags
                            .error(&j.loc, format!("`{s}` is not a duration: write 21d, 3w or 48h"));
                        None
                    }
                }
            });
            let pacing = match field(fields, "pacing").and_then(|p| self.one_of(p, "pacing", &["linear", "last_year"]))
            {
                Some(p) if p == "last_year" => Pacing::LastYear,
                _ => Pacing::Linear,
            };
            let mut filter = Vec::new();
            if let Some(f) = field(fields, "filter") {
                if let Some(fe) = self.map(f, "filter") {
                    for (dim, dloc, v) in fe {
                        if let Some(val) = self.string(v, &format!("filter.{dim}")) {
                            if let Some(k) = &kpi {
                                self.check_dimension(
                                    k,
                                    kpis.metrics,
                                    sources,
                                    dim,
                                    dloc,
                                    &format!("{what} filters on"),
                                );
                            }
                            filter.push((dim.clone(), val));
                        }
                    }
                }
            }
            if let (Some(k), Target::StayAbove(_) | Target::StayBelow(_)) = (&kpi, &target) {
                if !k.additive && k.unit != Unit::Score {
                    self.diags.warning(
                        &target_node.loc,
                        format!(
                            "{what}: `{}` is a ratio; days on which its base is zero have no value and are not judged",
                            k.id
                        ),
                    );
                }
            }
            let given_name = field(fields, "name").and_then(|x| self.string(x, "name"));
            let named = given_name.is_some();
            let name = given_name
                .or_else(|| kpi.as_ref().map(|k| k.name.clone()))
                .unwrap_or_else(|| id.clone());
            if kpi.is_none() {
                continue;
            }
            let goal = Goal {
                id: id.clone(),
                name,
                named,
                kpi: kpi_id,
                target,
                grain,
                owner: field(fields, "owner").and_then(|x| self.string(x, "owner")),
                owner_email: field(fields, "owner_email").and_then(|x| {
                    let s = self.string(x, "owner_email")?;
                    crate::deliver::email::parse_address(&s)
                        .map_err(|e| self.diags.error(&x.loc, format!("{what}: `owner_email`: {e}")))
                        .ok()
                }),
                priority,
                objective: field(fields, "objective").and_then(|x| self.string(x, "objective")),
                tolerance,
                judge_after,
                pacing,
                filter,
            };
            out.insert(id.clone(), (goal, id_loc.clone()));
        }
        out
    }

    fn target(&mut self, n: &Node, what: &str, unit: Option<Unit>) -> Option<Target> {
        let fields = self.entries(n, &format!("the target of {what}"), keys::TARGET)?;
        let forms: Vec<&(String, Location, Node)> = fields.iter().filter(|(k, _, _)| k != "vs").collect();
        if forms.len() != 1 {
            self.diags.error(&n.loc, format!("the target of {what} needs exactly one of at_least, at_most, between, change, stay_above, stay_below"));
            return None;
        }
        let (form, _, v) = forms[0];
        let vs = field(fields, "vs");
        if let (Some(vs), true) = (vs, form != "change") {
            self.diags.error(&vs.loc, "`vs` only applies to a `change` target");
        }
        let value = |this: &mut Self, v: &Node| -> Option<f64> {
            let x = this.percent(v, form)?;
            if unit == Some(Unit::Fraction) && x > 1.0 && v.as_f64().is_some() {
                this.diags.warning(
                    &v.loc,
                    format!(
                        "{what}: the KPI is a rate, and {x} means {}%; write `{x}%` if you meant percent",
                        x * 100.0
                    ),
                );
            }
            Some(x)
        };
        Some(match form.as_str() {
            "at_least" => Target::AtLeast(value(self, v)?),
            "at_most" => Target::AtMost(value(self, v)?),
            "stay_above" => Target::StayAbove(value(self, v)?),
            "stay_below" => Target::StayBelow(value(self, v)?),
            "between" => {
                let items = match &v.value {
                    Value::Seq(items) if items.len() == 2 => items,
                    _ => {
                        self.diags.error(&v.loc, "`between` takes two values: [low, high]");
                        return None;
                    }
                };
                let (lo, hi) = (value(self, &items[0])?, value(self, &items[1])?);
                if lo > hi {
                    self.diags.error(
                        &v.loc,
                        format!("`between`: the low end {lo} is above the high end {hi}"),
                    );
                    return None;
                }
                Target::Between(lo, hi)
            }
            _ => {
                let text = v.scalar_text().unwrap_or_default();
                let by = if text.trim().ends_with('%') {
                    self.percent(v, "change")?
                } else {
                    self.diags.error(
                        &v.loc,
                        format!("a change is a signed percentage, e.g. +12% or -10%, not `{text}`"),
                    );
                    return None;
                };
                let vs = match vs.and_then(|x| self.one_of(x, "vs", &["previous_period", "same_period_last_year"])) {
                    Some(s) if s == "same_period_last_year" => Baseline::SamePeriodLastYear,
                    _ => Baseline::PreviousPeriod,
                };
                Target::Change { by, vs }
            }
        })
    }

    fn funnels(
        &mut self,
        node: &Node,
        metrics: &[Metric],
        sources: &IndexMap<String, SourceSpec>,
    ) -> IndexMap<String, Funnel> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "funnels") else {
            return out;
        };
        for (id, _, n) in entries {
            let what = format!("funnel `{id}`");
            let Some(fields) = self.entries(n, &what, keys::FUNNEL) else {
                continue;
            };
            let Some(stages_node) = field(fields, "stages") else {
                self.diags.error(&n.loc, format!("{what} has no `stages`"));
                continue;
            };
            let Value::Seq(items) = &stages_node.value else {
                self.diags
                    .error(&stages_node.loc, format!("{what}: `stages` must be a list of metrics"));
                continue;
            };
            let mut stages = Vec::new();
            for item in items {
                let (metric, label, loc) = match &item.value {
                    Value::Str(s) => (s.clone(), None, item.loc.clone()),
                    Value::Map(_) => {
                        let Some(sf) = self.entries(item, "a funnel stage", keys::STAGE) else {
                            continue;
                        };
                        let Some(m) = self.required_string(sf, item, "metric", "a funnel stage") else {
                            continue;
                        };
                        (
                            m,
                            field(sf, "label").and_then(|l| self.string(l, "label")),
                            item.loc.clone(),
                        )
                    }
                    _ => {
                        self.diags
                            .error(&item.loc, "a funnel stage is a metric name or {metric, label}");
                        continue;
                    }
                };
                match metrics.iter().position(|m| m.name == metric) {
                    Some(i) => stages.push(FunnelStage {
                        label: label.unwrap_or_else(|| metric.clone()),
                        metric: i,
                    }),
                    None => {
                        let sugg = did_you_mean(&metric, metrics.iter().map(|m| m.name.as_str()));
                        self.diags
                            .error_with(&loc, format!("{what}: stage `{metric}` is not a metric"), sugg);
                    }
                }
            }
            if items.len() < 2 {
                self.diags
                    .error(&stages_node.loc, format!("{what} needs at least two stages"));
            }
            let breakdown = field(fields, "breakdown").and_then(|b| {
                let dim = self.string(b, "breakdown")?;
                for s in &stages {
                    for f in &metrics[s.metric].feeds {
                        if sources.get(&f.source).is_some_and(|src| !src.dimensions.contains(&dim)) {
                            let sugg = sources.get(&f.source).and_then(|src| did_you_mean(&dim, src.dimensions.iter().map(String::as_str)));
                            self.diags.error_with(&b.loc, format!("{what} is broken down by `{dim}`, but source `{}` (stage `{}`) has no such dimension", f.source, s.label), sugg);
                            return None;
                        }
                    }
                }
                Some(dim)
            });
            out.insert(
                id.clone(),
                Funnel {
                    id: id.clone(),
                    name: field(fields, "name")
                        .and_then(|x| self.string(x, "name"))
                        .unwrap_or_else(|| id.clone()),
                    stages,
                    breakdown,
                },
            );
        }
        out
    }

    fn channels(&mut self, node: &Node) -> IndexMap<String, ChannelSpec> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "channels") else {
            return out;
        };
        for (id, _, n) in entries {
            let what = format!("channel `{id}`");
            let Some(fields) = self.entries(n, &what, keys::CHANNEL) else {
                continue;
            };
            let Some(t) = field(fields, "type") else {
                self.diags.error(
                    &n.loc,
                    format!("{what} has no `type` (email, slack, webhook or outbox)"),
                );
                continue;
            };
            let Some(kind) = self.one_of(t, "type", &["email", "slack", "teams", "webhook", "outbox"]) else {
                continue;
            };
            let allowed: &[&str] = match kind.as_str() {
                "email" => &[
                    "to",
                    "cc",
                    "bcc",
                    "from",
                    "reply_to",
                    "subject",
                    "smtp",
                    "tls",
                    "username_env",
                    "password_env",
                    "ca_file",
                    "list_unsubscribe",
                ],
                "slack" | "teams" => &["webhook_url_env", "allow_insecure"],
                "webhook" => &["url_env", "secret_env", "allow_insecure"],
                _ => &["path"],
            };
            for (k, kloc, _) in fields {
                if !["type", "max_per_second"].contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
                    self.diags
                        .error(kloc, format!("`{k}` does not apply to a {kind} channel"));
                }
            }
            let max_per_second = field(fields, "max_per_second").and_then(|m| match self.number(m, "max_per_second") {
                Some(v) if v > 0.0 => Some(v),
                Some(_) => {
                    self.diags.error(&m.loc, "`max_per_second` must be above 0");
                    None
                }
                None => None,
            });
            let env_name =
                |this: &mut Self, key: &str, required: bool| this.env_var_name(fields, n, key, &what, required);
            let allow_insecure = matches!(
                field(fields, "allow_insecure"),
                Some(Node {
                    value: Value::Bool(true),
                    ..
                })
            );
            let kind = match kind.as_str() {
                "email" => match self.email_channel(fields, n, &what) {
                    Some(e) => ChannelKind::Email(Box::new(e)),
                    None => continue,
                },
                "slack" => match env_name(self, "webhook_url_env", true) {
                    Some(url_env) => ChannelKind::Slack(HttpTarget {
                        url_env,
                        secret_env: None,
                        allow_insecure,
                    }),
                    None => continue,
                },
                "teams" => match env_name(self, "webhook_url_env", true) {
                    Some(url_env) => ChannelKind::Teams(HttpTarget {
                        url_env,
                        secret_env: None,
                        allow_insecure,
                    }),
                    None => continue,
                },
                "webhook" => {
                    let url_env = env_name(self, "url_env", true);
                    let secret_env = env_name(self, "secret_env", false);
                    match url_env {
                        Some(url_env) => ChannelKind::Webhook(HttpTarget {
                            url_env,
                            secret_env,
                            allow_insecure,
                        }),
                        None => continue,
                    }
                }
                _ => {
                    let folder = field(fields, "path")
                        .and_then(|p| self.string(p, "path"))
                        .unwrap_or_else(|| "outbox".into());
                    ChannelKind::Outbox {
                        path: self.dir.join(folder),
                    }
                }
            };
            out.insert(
                id.clone(),
                ChannelSpec {
                    id: id.clone(),
                    kind,
                    max_per_second,
                },
            );
        }
        out
    }

    fn email_channel(&mut self, fields: &Entries, n: &Node, what: &str) -> Option<EmailSpec> {
        let addresses = |this: &mut Self, key: &str| -> Vec<String> {
            let Some(v) = field(fields, key) else { return Vec::new() };
            let items: Vec<&Node> = match &v.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            items
                .into_iter()
                .filter_map(|item| {
                    let s = this.string(item, key)?;
                    match crate::deliver::email::parse_address(&s) {
                        Ok(a) => Some(a),
                        Err(e) => {
                            this.diags.error(&item.loc, format!("{what}: `{key}`: {e}"));
                            None
                        }
                    }
                })
                .collect()
        };
        let to = addresses(self, "to");
        let cc = addresses(self, "cc");
        let bcc = addresses(self, "bcc");
        if to.is_empty() && cc.is_empty() && bcc.is_empty() && field(fields, "to").is_none() {
            self.diags.error(&n.loc, format!("{what} has no recipients (`to`)"));
        }
        let from = addresses(self, "from").into_iter().next();
        if field(fields, "from").is_none() {
            self.diags.error(&n.loc, format!("{what} has no `from` address"));
        }
        let reply_to = addresses(self, "reply_to").into_iter().next();
        let subject = match field(fields, "subject").and_then(|s| self.string(s, "subject")) {
            Some(s) if s.contains(['\r', '\n']) => {
                self.diags.error(
                    &field(fields, "subject").unwrap().loc,
                    format!("{what}: the subject must be one line"),
                );
                None
            }
            Some(s) => Some(s),
            None => None,
        }
        .unwrap_or_else(|| "{title}: {headline}".into());
        let smtp_node = field(fields, "smtp");
        let Some(smtp) = smtp_node.and_then(|s| self.string(s, "smtp")) else {
            if smtp_node.is_none() {
                self.diags
                    .error(&n.loc, format!("{what} has no `smtp` server (smtp://host:port)"));
            }
            return None;
        };
        let tls = match field(fields, "tls")
            .and_then(|t| self.one_of(t, "tls", &["starttls", "tls", "none"]))
            .as_deref()
        {
            Some("tls") => SmtpTls::Implicit,
            Some("none") => SmtpTls::None,
            _ => SmtpTls::Starttls,
        };
        let loc = smtp_node.map(|s| s.loc.clone()).unwrap_or_default();
        let parsed = match url::Url::parse(&smtp) {
            Ok(u) if u.scheme() == "smtp" || u.scheme() == "smtps" => u,
            _ => {
                self.diags
                    .error(&loc, format!("{what}: `smtp` must look like smtp://host:port"));
                return None;
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            self.diags.error_with(
                &loc,
                format!("{what}: the smtp URL holds credentials"),
                Some("remove them and name environment variables in `username_env` / `password_env`".into()),
            );
            return None;
        }
        let host = parsed.host_str().unwrap_or_default().to_string();
        let default_port = match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        };
        let env = |this: &mut Self, key: &str| -> Option<String> {
            let v = field(fields, key)?;
            let s = this.string(v, key)?;
            if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                this.diags
                    .error(&v.loc, format!("`{key}` names an environment variable, not its value"));
                return None;
            }
            Some(s)
        };
        let has_credentials = field(fields, "username_env").is_some() || field(fields, "password_env").is_some();
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if tls == SmtpTls::None && has_credentials && !loopback {
            self.diags.error(
                &loc,
                format!(
                    "{what}: `tls: none` would send the SMTP password in clear text to {host}; use starttls or tls"
                ),
            );
        }
        Some(EmailSpec {
            to,
            cc,
            bcc,
            from: from?,
            reply_to,
            subject,
            port: parsed.port().unwrap_or(default_port),
            host,
            tls,
            username_env: env(self, "username_env"),
            password_env: env(self, "password_env"),
            ca_file: field(fields, "ca_file")
                .and_then(|c| self.string(c, "ca_file"))
                .map(|c| self.dir.join(c)),
            list_unsubscribe: field(fields, "list_unsubscribe").and_then(|l| self.string(l, "list_unsubscribe")),
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn reports(
        &mut self,
        node: &Node,
        config_zone: Tz,
        goals: &IndexMap<String, (Goal, Location)>,
        declared_goals: &[String],
        funnels: &IndexMap<String, Funnel>,
        channels: &IndexMap<String, ChannelSpec>,
        kpis: &mut KpiCompiler<'_>,
        sources: &IndexMap<String, SourceSpec>,
    ) -> IndexMap<String, ReportSpec> {
        let mut out = IndexMap::new();
        let Some(entries) = self.map(node, "reports") else {
            return out;
        };
        for (id, _, n) in entries {
            let what = format!("report `{id}`");
            let Some(fields) = self.entries(n, &what, keys::REPORT) else {
                continue;
            };
            let period = match field(fields, "period") {
                Some(p) => match self.string(p, "period") {
                    Some(s) => match Relative::parse(&s) {
                        Some(r) => r,
                        None => {
                            let sugg = did_you_mean(&s, Relative::NAMES.iter().copied());
                            self.diags.error_with(
                                &p.loc,
                                format!("{what}: `{s}` is not a period"),
                                sugg.or(Some("e.g. previous_month, current_week".into())),
                            );
                            Relative::Previous(Grain::Month)
                        }
                    },
                    None => Relative::Previous(Grain::Month),
                },
                None => Relative::Previous(Grain::Month),
            };
            let refs = |this: &mut Self,
                        key: &str,
                        known: &mut dyn Iterator<Item = &String>,
                        broken: &[String]|
             -> Vec<String> {
                let known: Vec<&String> = known.collect();
                let mut list = Vec::new();
                if let Some(list_node) = field(fields, key) {
                    let Value::Seq(items) = &list_node.value else {
                        this.diags
                            .error(&list_node.loc, format!("{what}: `{key}` must be a list"));
                        return list;
                    };
                    for item in items {
                        let Some(s) = this.string(item, key) else { continue };
                        if known.contains(&&s) {
                            list.push(s);
                        } else if !broken.contains(&s) {
                            let sugg = did_you_mean(&s, known.iter().map(|k| k.as_str()));
                            let singular = key.trim_end_matches('s');
                            this.diags.error_with(
                                &item.loc,
                                format!("{what} lists {singular} `{s}`, which is not defined"),
                                sugg,
                            );
                        }
                    }
                }
                list
            };
            let goal_ids = refs(self, "goals", &mut goals.keys(), declared_goals);
            let funnel_ids = refs(self, "funnels", &mut funnels.keys(), &[]);
            let channel_ids = refs(self, "channels", &mut channels.keys(), &[]);
            let mut breakdowns = Vec::new();
            if let Some(bn) = field(fields, "breakdowns") {
                let items: &[Node] = match &bn.value {
                    Value::Seq(items) => items,
                    _ => {
                        self.diags
                            .error(&bn.loc, format!("{what}: `breakdowns` must be a list of {{kpi, by}}"));
                        &[]
                    }
                };
                for item in items {
                    let Some(bf) = self.entries(item, "a breakdown", keys::BREAKDOWN) else {
                        continue;
                    };
                    let kpi = self.required_string(bf, item, "kpi", "a breakdown");
                    let by = self.required_string(bf, item, "by", "a breakdown");
                    let top = match field(bf, "top").and_then(|t| self.number(t, "top")) {
                        Some(t) if t >= 1.0 && t.fract() == 0.0 => t as usize,
                        Some(_) => {
                            self.diags.error(
                                &field(bf, "top").unwrap().loc,
                                "`top` is a whole number of rows, at least 1",
                            );
                            3
                        }
                        None => 3,
                    };
                    let (Some(kpi_id), Some(by)) = (kpi, by) else { continue };
                    let kloc = field(bf, "kpi").unwrap().loc.clone();
                    match kpis.compile(&kpi_id) {
                        Ok(k) => {
                            let bloc = field(bf, "by").unwrap().loc.clone();
                            if self.check_dimension(&k, kpis.metrics, sources, &by, &bloc, "a breakdown is by") {
                                breakdowns.push(Breakdown { kpi: kpi_id, by, top });
                            }
                        }
                        Err(e) => {
                            let exists = kpis.exists(&kpi_id);
                            let msg = if exists {
                                format!("a breakdown of {what}: {e}")
                            } else {
                                format!("a breakdown of {what} uses KPI `{kpi_id}` which is not defined")
                            };
                            let sugg = if exists {
                                None
                            } else {
                                did_you_mean(&kpi_id, kpis.all_names().iter().map(String::as_str))
                            };
                            self.diags.error_with(&kloc, msg, sugg);
                        }
                    }
                }
            }
            if goal_ids.is_empty() && funnel_ids.is_empty() && field(fields, "goals").is_none() {
                self.diags.warning(&n.loc, format!("{what} has no goals"));
            }
            let whole = |this: &mut Self, key: &str, default: usize, min: usize| match field(fields, key) {
                Some(n) => match this.number(n, key) {
                    Some(v) if v.fract() == 0.0 && v >= min as f64 => v as usize,
                    Some(_) => {
                        this.diags
                            .error(&n.loc, format!("`{key}` is a whole number, at least {min}"));
                        default
                    }
                    None => default,
                },
                None => default,
            };
            let send_if = match field(fields, "send_if")
                .and_then(|x| self.one_of(x, "send_if", &["always", "off_track", "changed", "has_data"]))
                .as_deref()
            {
                Some("off_track") => SendIf::OffTrack,
                Some("changed") => SendIf::Changed,
                Some("has_data") => SendIf::HasData,
                _ => SendIf::Always,
            };
            let notify_owners = match field(fields, "notify_owners")
                .and_then(|x| self.one_of(x, "notify_owners", &["off_track", "at_risk"]))
                .as_deref()
            {
                Some("off_track") => vec![crate::goal::Status::OffTrack],
                Some("at_risk") => vec![crate::goal::Status::OffTrack, crate::goal::Status::AtRisk],
                _ => Vec::new(),
            };
            let owners_channel = if notify_owners.is_empty() {
                None
            } else {
                let named = field(fields, "owners_channel")
                    .and_then(|x| self.string(x, "owners_channel").map(|s| (s, x.loc.clone())));
                let candidate = named.clone().map(|(s, _)| s).or_else(|| {
                    channel_ids
                        .iter()
                        .find(|c| matches!(channels.get(*c).map(|c| &c.kind), Some(ChannelKind::Email(_))))
                        .cloned()
                });
                match candidate {
                    Some(c) if matches!(channels.get(&c).map(|x| &x.kind), Some(ChannelKind::Email(_))) => Some(c),
                    Some(c) => {
                        let loc = named.map(|(_, l)| l).unwrap_or_else(|| n.loc.clone());
                        self.diags.error(
                            &loc,
                            format!("{what}: owner notices need an email channel, and `{c}` is not one"),
                        );
                        None
                    }
                    None => {
                        self.diags.error(
                            &n.loc,
                            format!("{what}: `notify_owners` needs an email channel (`owners_channel`)"),
                        );
                        None
                    }
                }
            };
            let max_goals = whole(self, "max_goals", 8, 1);
            let history = whole(self, "history", 6, 0);
            let history = if history > 120 {
                self.diags.error(
                    &field(fields, "history").expect("read above").loc,
                    "`history` is at most 120 periods",
                );
                6
            } else {
                history
            };
            let charts = self.flag(fields, "charts", true);
            let alert = self.flag(fields, "alert", false);
            let rearm = field(fields, "rearm").and_then(|n| self.duration(n, "rearm"));
            if let (Some(n), false) = (field(fields, "rearm"), alert) {
                self.diags.warning(
                    &n.loc,
                    "`rearm` only applies to alerts (`alert: true`); it is ignored here",
                );
            }
            if alert && field(fields, "schedule").is_none() {
                self.diags.error(
                    &n.loc,
                    format!("report `{id}` is an alert but has no `schedule`: an alert is evaluated on its schedule"),
                );
            }
            let timezone = field(fields, "timezone").and_then(|t| {
                let s = self.string(t, "timezone")?;
                s.parse::<Tz>()
                    .map_err(|_| self.diags.error(&t.loc, format!("`{s}` is not an IANA time zone")))
                    .ok()
            });
            let schedule = field(fields, "schedule").and_then(|n| {
                let s = self.string(n, "schedule")?;
                let schedule = crate::schedule::Schedule::parse(&s, timezone.unwrap_or(config_zone))
                    .map_err(|e| self.diags.error(&n.loc, format!("`schedule`: {e}")))
                    .ok()?;
                if !alert && fires_within_one_period(&schedule, period) {
                    self.diags.warning(
                        &n.loc,
                        format!(
                            "`{s}` fires more often than the report's period ({}): a period is sent once, so only \
                             its first fire sends; choose a shorter period, or `alert: true` for checks between reports",
                            period.name()
                        ),
                    );
                }
                Some(schedule)
            });
            out.insert(
                id.clone(),
                ReportSpec {
                    id: id.clone(),
                    title: field(fields, "title")
                        .and_then(|t| self.string(t, "title"))
                        .unwrap_or_else(|| id.clone()),
                    period,
                    goals: goal_ids,
                    funnels: funnel_ids,
                    breakdowns,
                    channels: channel_ids,
                    schedule,
                    alert,
                    rearm,
                    timezone,
                    max_goals,
                    history,
                    charts,
                    send_if,
                    notify_owners,
                    owners_channel,
                },
            );
        }
        // Capacity doubling would leave up to half the table empty: agencies have thousands of reports.
        out.shrink_to_fit();
        out
    }

    /// The seeds' advice: 4–5 KPIs per main objective, no more.
    fn objective_warnings(&mut self, goals: &IndexMap<String, (Goal, Location)>) {
        let mut by_objective: IndexMap<&str, (Vec<&str>, &Location)> = IndexMap::new();
        for (g, loc) in goals.values() {
            if let Some(o) = &g.objective {
                let e = by_objective.entry(o.as_str()).or_insert((Vec::new(), loc));
                if !e.0.contains(&g.kpi.as_str()) {
                    e.0.push(&g.kpi);
                }
            }
        }
        for (objective, (kpis, loc)) in by_objective {
            if kpis.len() > 5 {
                self.diags.warning(loc, format!("objective `{objective}` has {} KPIs ({}); pick 4–5 per objective and resist measuring everything", kpis.len(), kpis.join(", ")));
            }
        }
    }

    /// Every source feeding the KPI's metrics must have `dim`; reports an error at `loc` otherwise.
    fn check_dimension(
        &mut self,
        kpi: &Kpi,
        metrics: &[Metric],
        sources: &IndexMap<String, SourceSpec>,
        dim: &str,
        loc: &Location,
        what: &str,
    ) -> bool {
        let mut used = Vec::new();
        kpi.formula.metrics(&mut used);
        for m in used {
            for f in &metrics[m].feeds {
                if let Some(src) = sources.get(&f.source) {
                    if !src.dimensions.iter().any(|d| d == dim) {
                        let sugg = did_you_mean(dim, src.dimensions.iter().map(String::as_str));
                        self.diags.error_with(
                            loc,
                            format!(
                                "{what} `{dim}`, but source `{}` (metric `{}` of KPI `{}`) has no such dimension",
                                f.source, metrics[m].name, kpi.id
                            ),
                            sugg,
                        );
                        return false;
                    }
                }
            }
        }
        true
    }

    fn daemon(&mut self, n: &Node) -> DaemonSettings {
        let mut d = DaemonSettings::default();
        let Some(fields) = self.entries(n, "`daemon`", keys::DAEMON) else {
            return d;
        };
        if let Some(v) = field(fields, "catch_up").and_then(|v| self.duration(v, "catch_up")) {
            d.catch_up = v;
        }
        if let Some(v) = field(fields, "shutdown_grace").and_then(|v| self.duration(v, "shutdown_grace")) {
            d.shutdown_grace = v;
        }
        if let Some(v) = field(fields, "listen") {
            if let Some(s) = self.string(v, "listen") {
                match s.parse::<std::net::SocketAddr>() {
                    Ok(a) => d.listen = Some(a),
                    Err(_) => self.diags.error(
                        &v.loc,
                        format!("`{s}` is not an address to listen on: write IP:PORT, e.g. 127.0.0.1:9090"),
                    ),
                }
            }
        }
        d
    }

    /// A `*_env` key: the name of an environment variable holding a secret. A value that
    /// looks like the secret itself (a URL, a token) is refused, so it never sits in the file.
    fn env_var_name(&mut self, fields: &Entries, n: &Node, key: &str, what: &str, required: bool) -> Option<String> {
        match field(fields, key) {
            Some(v) => {
                let s = self.string(v, key)?;
                if s.is_empty() || s.contains("://") || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.diags.error_with(
                        &v.loc,
                        format!("`{key}` names an environment variable, not its value"),
                        Some("secrets stay out of this file: e.g. `META_ACCESS_TOKEN`, set in the environment".into()),
                    );
                    return None;
                }
                Some(s)
            }
            None if required => {
                self.diags.error(&n.loc, format!("{what} has no `{key}`"));
                None
            }
            None => None,
        }
    }

    /// A true/false value (`default` when absent, or after an error at its place).
    fn flag(&mut self, fields: &Entries, key: &str, default: bool) -> bool {
        match field(fields, key) {
            Some(Node {
                value: Value::Bool(b), ..
            }) => *b,
            Some(n) => {
                self.diags.error(&n.loc, format!("`{key}` is true or false"));
                default
            }
            None => default,
        }
    }

    /// A duration value (`30s`, `10m`, `2h`, `1d`, `1w`), or an error at its place.
    fn duration(&mut self, v: &Node, key: &str) -> Option<chrono::Duration> {
        let s = self.string(v, key)?;
        let d = parse_duration(&s);
        if d.is_none() {
            self.diags
                .error(&v.loc, format!("`{s}` is not a duration: write 30s, 10m, 2h or 1d"));
        }
        d
    }

    fn delivery(&mut self, n: &Node) -> DeliveryPolicy {
        let mut p = DeliveryPolicy::default();
        let Some(fields) = self.entries(n, "`delivery`", keys::DELIVERY) else {
            return p;
        };
        if let Some(m) = field(fields, "max_attempts") {
            match self.number(m, "max_attempts") {
                Some(v) if v >= 1.0 && v.fract() == 0.0 => p.max_attempts = v as u32,
                Some(_) => self.diags.error(&m.loc, "`max_attempts` is a whole number, at least 1"),
                None => {}
            }
        }
        for (key, slot) in [
            ("backoff", &mut p.backoff),
            ("max_backoff", &mut p.max_backoff),
            ("max_age", &mut p.max_age),
            ("wait", &mut p.wait),
        ] {
            if let Some(d) = field(fields, key).and_then(|v| self.duration(v, key)) {
                *slot = d;
            }
        }
        p
    }

    // ---------- scalar helpers ----------

    fn map<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n Entries> {
        match &n.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.diags
                    .error(&n.loc, format!("`{what}` must be a mapping, not {}", n.kind()));
                None
            }
        }
    }

    /// A mapping whose keys must all be in `allowed`; unknown keys are reported with a suggestion.
    fn entries<'n>(&mut self, n: &'n Node, what: &str, allowed: &[Key]) -> Option<&'n Entries> {
        let Value::Map(entries) = &n.value else {
            self.diags
                .error(&n.loc, format!("{what} must be a mapping, not {}", n.kind()));
            return None;
        };
        for (k, loc, _) in entries {
            if !allowed.iter().any(|a| a.name == k) {
                let sugg = did_you_mean(k, keys::names(allowed));
                let sugg = sugg.or_else(|| {
                    Some(format!(
                        "expected one of: {}",
                        keys::names(allowed).collect::<Vec<_>>().join(", ")
                    ))
                });
                self.diags.error_with(loc, format!("unknown key `{k}` in {what}"), sugg);
            }
        }
        Some(entries)
    }

    /// `store:` as a SQLite file (relative to the config's folder) or a Postgres URL. The
    /// URL may name a user but never a password: that comes from `PGPASSWORD` or
    /// `~/.pgpass`, so the location can be logged and shown in errors as it is.
    fn store_location(&mut self, value: String, node: Option<&Node>) -> StoreLocation {
        if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
            return StoreLocation::Sqlite(self.dir.join(value));
        }
        let loc = node.map(|n| n.loc.clone()).unwrap_or_default();
        match url::Url::parse(&value) {
            Ok(u) if u.password().is_some() => self.diags.error_with(
                &loc,
                "`store`: the Postgres URL holds a password".to_string(),
                Some("remove it and set the PGPASSWORD environment variable (or use ~/.pgpass)".into()),
            ),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => self
                .diags
                .error(&loc, "`store`: the Postgres URL names no host".to_string()),
            Ok(_) => {}
            Err(e) => self.diags.error(&loc, format!("`store`: not a Postgres URL ({e})")),
        }
        StoreLocation::Postgres(value)
    }

    fn string(&mut self, n: &Node, key: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Str(_) => {
                self.diags.error(&n.loc, format!("`{key}` is empty"));
                None
            }
            Value::Int(_) | Value::Float(_) if key == "name" || key == "owner" || key == "title" => n.scalar_text(),
            _ => {
                self.diags
                    .error(&n.loc, format!("`{key}` must be text, not {}", n.kind()));
                None
            }
        }
    }

    fn required_string(&mut self, fields: &Entries, parent: &Node, key: &str, what: &str) -> Option<String> {
        match field(fields, key) {
            Some(n) => self.string(n, key),
            None => {
                self.diags.error(&parent.loc, format!("{what} has no `{key}`"));
                None
            }
        }
    }

    fn strings(&mut self, n: &Node, key: &str) -> Vec<String> {
        match &n.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.string(i, key)).collect(),
            _ => {
                self.diags.error(&n.loc, format!("`{key}` must be a list"));
                Vec::new()
            }
        }
    }

    fn char(&mut self, n: &Node, key: &str) -> Option<char> {
        let s = n.scalar_text()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => {
                self.diags
                    .error(&n.loc, format!("`{key}` must be one character, not `{s}`"));
                None
            }
        }
    }

    fn one_of(&mut self, n: &Node, key: &str, allowed: &[&str]) -> Option<String> {
        let s = self.string(n, key)?;
        if allowed.contains(&s.as_str()) {
            return Some(s);
        }
        let sugg = did_you_mean(&s, allowed.iter().copied())
            .or_else(|| Some(format!("expected one of: {}", allowed.join(", "))));
        self.diags
            .error_with(&n.loc, format!("`{s}` is not a valid `{key}`"), sugg);
        None
    }

    fn number(&mut self, n: &Node, key: &str) -> Option<f64> {
        match n.as_f64() {
            Some(x) => Some(x),
            None => {
                self.diags
                    .error(&n.loc, format!("`{key}` must be a number, not {}", n.kind()));
                None
            }
        }
    }

    /// A number, or a percentage written `12%` / `+2.5%` / `-10%` (returned as a fraction).
    fn percent(&mut self, n: &Node, key: &str) -> Option<f64> {
        if let Some(x) = n.as_f64() {
            return Some(x);
        }
        let text = n.scalar_text().unwrap_or_default();
        let t = text.trim();
        let parsed = match t.strip_suffix('%') {
            Some(p) => p.trim().trim_start_matches('+').parse::<f64>().ok().map(|v| v / 100.0),
            None => t.trim_start_matches('+').replace('_', "").parse::<f64>().ok(),
        };
        match parsed {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.diags
                    .error(&n.loc, format!("`{key}`: `{text}` is not a number or a percentage"));
                None
            }
        }
    }
}

fn field<'a>(fields: &'a Entries, key: &str) -> Option<&'a Node> {
    fields.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
}

fn key_loc(n: &Node, key: &str) -> Option<Location> {
    match &n.value {
        Value::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, l, _)| l.clone()),
        _ => None,
    }
}

/// `21d`, `3w`, `48h`, `90m`, `30s`, `200ms`.
/// Whether two consecutive fires of `schedule` fall in the same period (checked over a few
/// fires from a fixed Monday, so the answer does not depend on today's date).
fn fires_within_one_period(schedule: &crate::schedule::Schedule, period: Relative) -> bool {
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 5, 0, 0, 0)
        .single()
        .expect("a valid date");
    let keys: Vec<String> = std::iter::successors(schedule.next_after(start), |t| schedule.next_after(*t))
        .take(4)
        .map(|t| {
            period
                .resolve(t.with_timezone(&schedule.tz()).date_naive(), Weekday::Mon)
                .key()
        })
        .collect();
    keys.windows(2).any(|w| w[0] == w[1])
}

pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    Some(match unit.trim() {
        "ms" => chrono::Duration::try_milliseconds(n)?,
        "s" => chrono::Duration::try_seconds(n)?,
        "m" | "min" => chrono::Duration::try_minutes(n)?,
        "h" => chrono::Duration::try_hours(n)?,
        "d" => chrono::Duration::try_days(n)?,
        "w" => chrono::Duration::try_weeks(n)?,
        _ => return None,
    })
    // Ten years is longer than any window or retry policy means; beyond it is a typo.
    .filter(|d| *d <= chrono::Duration::days(3660))
}

/// Compiles KPIs on demand: custom ones, metrics used as KPIs, and built-ins.
pub struct KpiCompiler<'a> {
    metrics: &'a [Metric],
    raw: &'a IndexMap<String, RawKpi>,
    done: IndexMap<String, Result<Kpi, String>>,
    stack: Vec<String>,
}

impl KpiCompiler<'_> {
    fn exists(&self, id: &str) -> bool {
        self.raw.contains_key(id) || self.metrics.iter().any(|m| m.name == id) || library::find(id).is_some()
    }

    fn all_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.raw.keys().cloned().collect();
        v.extend(self.metrics.iter().map(|m| m.name.clone()));
        v.extend(library::BUILT_INS.iter().map(|b| b.id.to_string()));
        v
    }

    fn compile(&mut self, id: &str) -> Result<Kpi, String> {
        if let Some(r) = self.done.get(id) {
            return r.clone();
        }
        if self.stack.iter().any(|s| s == id) {
            return Err(format!(
                "KPI `{id}` refers to itself through {}",
                self.stack.join(" → ")
            ));
        }
        self.stack.push(id.to_string());
        let result = self.compile_uncached(id);
        self.stack.pop();
        self.done.insert(id.to_string(), result.clone());
        result
    }

    fn compile_uncached(&mut self, id: &str) -> Result<Kpi, String> {
        let metrics = self.metrics;
        let additive = |i: usize| metrics[i].is_additive();
        if let Some(raw) = self.raw.get(id) {
            let parsed = raw.parsed.clone();
            let f = parsed.compile(&mut |name| self.resolve(name, id))?;
            return Ok(Kpi {
                id: id.into(),
                name: raw.name.clone().unwrap_or_else(|| id.to_string()),
                additive: f.is_additive(&additive),
                monotonic: f.is_monotonic(&additive),
                unit: raw.unit.unwrap_or(if f.is_additive(&additive) {
                    Unit::Count
                } else {
                    Unit::Ratio
                }),
                better: raw.better,
                text: String::new(),
                formula: f,
            });
        }
        if let Some(i) = metrics.iter().position(|m| m.name == id) {
            let (_, better) = library::metric_defaults(id);
            return Ok(Kpi {
                id: id.into(),
                name: humanise(id),
                formula: Formula::Metric(i),
                text: id.into(),
                unit: metrics[i].unit,
                better,
                additive: metrics[i].is_additive(),
                monotonic: metrics[i].is_additive(),
            });
        }
        if let Some(b) = library::find(id) {
            let parsed = formula::parse(b.formula).map_err(|e| format!("built-in KPI `{id}`: {e}"))?;
            let mut missing = Vec::new();
            for n in parsed.names() {
                if !metrics.iter().any(|m| m.name == n) {
                    missing.push(n);
                }
            }
            if !missing.is_empty() {
                let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
                return Err(format!(
                    "KPI `{id}` ({}) needs metric{} {list}, which {} not in `metrics`",
                    b.formula,
                    if missing.len() > 1 { "s" } else { "" },
                    if missing.len() > 1 { "are" } else { "is" }
                ));
            }
            let f = parsed.compile(&mut |name| {
                Ok(Formula::Metric(
                    metrics.iter().position(|m| m.name == name).unwrap_or(0),
                ))
            })?;
            return Ok(Kpi {
                id: id.into(),
                name: b.name.into(),
                additive: f.is_additive(&additive),
                monotonic: f.is_monotonic(&additive),
                formula: f,
                text: b.formula.into(),
                unit: b.unit,
                better: b.better,
            });
        }
        Err(format!("KPI `{id}` is not defined"))
    }

    fn resolve(&mut self, name: &str, within: &str) -> Result<Formula, String> {
        if let Some(i) = self.metrics.iter().position(|m| m.name == name) {
            return Ok(Formula::Metric(i));
        }
        if self.raw.contains_key(name) || library::find(name).is_some() {
            return self.compile(name).map(|k| k.formula);
        }
        let mut names: Vec<String> = self.metrics.iter().map(|m| m.name.clone()).collect();
        names.extend(self.raw.keys().cloned());
        let sugg = did_you_mean(name, names.iter().map(String::as_str))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        Err(format!(
            "the formula of KPI `{within}` uses `{name}`, which is neither a metric nor a KPI{sugg}"
        ))
    }
}

fn humanise(id: &str) -> String {
    let s = id.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}
