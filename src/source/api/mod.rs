//! The HTTP layer every API source shares: one client with timeouts, retries with
//! exponential backoff and jitter (`backon`) that honour the server's hint (Retry-After,
//! Google's `retryDelay`), a per-source rate limit (`governor`), and errors in words a
//! marketer can act on. Each connector only builds its requests and reads its answers.

pub mod ga4;
pub mod google_ads;
pub mod google_auth;
pub mod hubspot;
pub mod mailchimp;
pub mod meta_ads;
pub mod search_console;

use super::SourceError;
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait a server may ask for between two tries of one fetch: a report waits
/// that long at most, then goes out with the source marked unavailable.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);

/// How a source's HTTP calls behave (from its config).
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: usize,
    /// The first retry waits about this long, doubling each time.
    pub backoff: Duration,
    /// At most this many requests per second (None: no limit).
    pub per_second: Option<u32>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(60),
            attempts: 5,
            backoff: Duration::from_millis(500),
            per_second: None,
        }
    }
}

/// Why one attempt failed, and whether another could succeed.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub message: String,
    pub retryable: bool,
    /// The server's word on when to come back.
    pub after: Option<Duration>,
    /// An expired or revoked credential: the person must act.
    pub auth: bool,
}

impl Attempt {
    pub fn permanent(message: impl Into<String>) -> Attempt {
        Attempt {
            message: message.into(),
            retryable: false,
            after: None,
            auth: false,
        }
    }

    pub fn transient(message: impl Into<String>, after: Option<Duration>) -> Attempt {
        Attempt {
            message: message.into(),
            retryable: true,
            after,
            auth: false,
        }
    }
}

/// A client for one source.
pub struct Api {
    client: reqwest::Client,
    policy: HttpPolicy,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

/// The rate limiter of one account of one API, shared by every fetch of this process: two
/// sources, or two reports running at once, on the same account share its quota instead of
/// each spending it in full.
fn shared_limiter(account: &str, per_second: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    type Limiters = std::sync::Mutex<std::collections::HashMap<String, Arc<DefaultDirectRateLimiter>>>;
    static LIMITERS: std::sync::OnceLock<Limiters> = std::sync::OnceLock::new();
    let n = NonZeroU32::new(per_second)?;
    let mut all = LIMITERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Some(
        all.entry(format!("{account}@{per_second}/s"))
            .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_second(n))))
            .clone(),
    )
}

impl Api {
    /// A client for `account` (e.g. `ga4:properties/123`): its rate limit is the account's.
    pub fn for_account(policy: HttpPolicy, account: &str) -> Api {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("goalpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        let limiter = policy.per_second.and_then(|n| shared_limiter(account, n));
        Api {
            client,
            policy,
            limiter,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (again for each attempt) and returns the JSON body.
    /// `classify` turns a non-2xx answer into an [`Attempt`] (the API's own error shapes).
    pub async fn json(
        &self,
        source: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
        classify: impl Fn(StatusCode, &reqwest::header::HeaderMap, &str) -> Attempt,
    ) -> Result<serde_json::Value, SourceError> {
        let once = || async {
            if let Some(l) = &self.limiter {
                l.until_ready().await;
            }
            let resp = build().send().await.map_err(|e| {
                // The URL may carry an account id; the error text never carries a token.
                Attempt::transient(format!("could not reach the API: {}", without_url(&e)), None)
            })?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .text()
                .await
                .map_err(|e| Attempt::transient(format!("the answer was cut off: {}", without_url(&e)), None))?;
            if !status.is_success() {
                return Err(classify(status, &headers, &body));
            }
            serde_json::from_str::<serde_json::Value>(&body).map_err(|e| {
                Attempt::permanent(format!(
                    "the API answered with something that is not JSON ({e}): {}",
                    snippet(&body)
                ))
            })
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff)
            .with_max_delay(Duration::from_secs(120))
            .with_max_times(self.policy.attempts.saturating_sub(1))
            .with_jitter();
        once.retry(backoff)
            .when(|a: &Attempt| a.retryable)
            // The server's hint wins over our own schedule, within the same number of tries;
            // a hint longer than a report can wait ends the tries at once (said below).
            .adjust(|a: &Attempt, planned| match a.after {
                Some(hint) if hint > MAX_SERVER_WAIT => None,
                Some(hint) => planned.map(|_| hint),
                None => planned,
            })
            .notify(|a: &Attempt, wait| {
                tracing::info!(source, wait_ms = wait.as_millis() as u64, "retrying: {}", a.message)
            })
            .await
            .map_err(|mut a| {
                if let Some(hint) = a.after.filter(|h| *h > MAX_SERVER_WAIT) {
                    a.message = format!(
                        "{} (the API asks to wait {} minutes, longer than a report waits; it is asked again at the next run)",
                        a.message,
                        hint.as_secs().div_ceil(60)
                    );
                }
                if a.auth {
                    SourceError::config(source, a.message)
                } else {
                    SourceError::unavailable(source, a.message)
                }
            })
    }
}

/// A reqwest error without the URL (it may hold ids or keys in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "the API");
    }
    s
}

/// The start of a body, for an error message.
pub fn snippet(body: &str) -> String {
    let s: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        format!("{s}…")
    } else {
        s
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// Fuzzing entry (`fuzz/fuzz_targets/api_responses.rs`): the first byte picks the API, the
/// rest is its answer; every parser and error reader of that API must take it without panic.
pub fn fuzz(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let raw = String::from_utf8_lossy(body);
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match which % 6 {
        0 => ga4::fuzz(&json, &raw),
        1 => search_console::fuzz(&json, &raw),
        2 => google_ads::fuzz(&json, &raw),
        3 => meta_ads::fuzz(&json, &raw),
        4 => hubspot::fuzz(&json, &raw),
        _ => mailchimp::fuzz(&json, &raw),
    }
    let _ = retry_after(&{
        let mut h = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&raw) {
            h.insert(reqwest::header::RETRY_AFTER, v);
        }
        h
    });
}
