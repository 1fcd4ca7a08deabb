//! Slack incoming webhooks and signed JSON webhooks over HTTPS.
//!
//! The URL is a secret (a Slack webhook URL is its own credential): it is read from
//! the environment when sending and never written to an error, a log or `history`.
//! Webhook bodies are signed: `X-Goalpost-Signature: sha256=HEX(HMAC-SHA256(secret,
//! "{timestamp}.{body}"))` with `X-Goalpost-Timestamp` in Unix seconds, so receivers can
//! check origin and reject replays.

use super::Outcome;
use crate::config::plan::HttpTarget;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The URL from the environment, checked; errors never include it.
pub fn target_url(t: &HttpTarget) -> Result<reqwest::Url, String> {
    let raw = std::env::var(&t.url_env)
        .map_err(|_| format!("the environment variable {} (the URL) is not set", t.url_env))?;
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| format!("the URL in {} is not a valid URL", t.url_env))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if t.allow_insecure => Ok(url),
        "http" => Err(format!(
            "the URL in {} is http://; use https, or set allow_insecure: true for a local receiver",
            t.url_env
        )),
        _ => Err(format!("the URL in {} must be https://", t.url_env)),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        // A redirected POST may become a GET without the body (and would carry the
        // signature to another host): a redirect is an error to fix in the config.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("goalpost/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with default TLS")
}

/// `Retry-After` in seconds (the form Slack and most APIs use).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The signature header value for a body sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn post_slack(client: &reqwest::Client, t: &HttpTarget, body: &str) -> Outcome {
    let url = match target_url(t) {
        Ok(u) => u,
        Err(error) => return Outcome::Failed { error },
    };
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: format!("Slack could not be reached: {}", e.without_url()),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let after = retry_after(&resp);
    let text: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
    match status {
        200 => Outcome::Sent {
            remote_id: format!("200 {text}"),
        },
        300..=399 => Outcome::Failed {
            error: format!("the Slack webhook URL redirects ({status}); set the final URL"),
        },
        429 => Outcome::Retry {
            error: "Slack rate limit (429)".into(),
            after,
        },
        500..=599 => Outcome::Retry {
            error: format!("Slack server error ({status} {text})"),
            after,
        },
        400 => Outcome::Failed {
            error: format!("Slack rejected the message ({status} {text}); the report's blocks need fixing"),
        },
        403 | 404 | 410 => Outcome::Failed {
            error: format!("the Slack webhook no longer works ({status} {text}): it was revoked or its channel removed; create a new incoming webhook"),
        },
        _ => Outcome::Failed {
            error: format!("Slack answered {status} {text}"),
        },
    }
}

/// Microsoft Teams incoming webhook: 2xx accepted; 429 and 5xx retried; other 4xx permanent.
pub async fn post_teams(client: &reqwest::Client, t: &HttpTarget, body: &str) -> Outcome {
    let url = match target_url(t) {
        Ok(u) => u,
        Err(error) => return Outcome::Failed { error },
    };
    let resp = match client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: format!("Teams could not be reached: {}", e.without_url()),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let after = retry_after(&resp);
    let text: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
    match status {
        200..=299 => Outcome::Sent {
            remote_id: format!("{status} {text}"),
        },
        429 | 500..=599 => Outcome::Retry {
            error: format!("Teams answered {status} {text}"),
            after,
        },
        300..=399 => Outcome::Failed {
            error: format!("the Teams webhook URL redirects ({status}); set the final URL"),
        },
        _ => Outcome::Failed {
            error: format!("Teams refused the message ({status} {text}); check the webhook or the card"),
        },
    }
}

pub async fn post_webhook(client: &reqwest::Client, t: &HttpTarget, body: &str, now: i64) -> Outcome {
    let url = match target_url(t) {
        Ok(u) => u,
        Err(error) => return Outcome::Failed { error },
    };
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-goalpost-timestamp", now.to_string())
        .body(body.to_string());
    if let Some(env) = &t.secret_env {
        match std::env::var(env) {
            Ok(secret) => req = req.header("x-goalpost-signature", signature(secret.as_bytes(), now, body)),
            Err(_) => {
                return Outcome::Failed {
                    error: format!("the environment variable {env} (the webhook secret) is not set"),
                }
            }
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: format!("the webhook could not be reached: {}", e.without_url()),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let after = retry_after(&resp);
    match status {
        200..=299 => Outcome::Sent {
            remote_id: status.to_string(),
        },
        300..=399 => Outcome::Failed {
            error: format!("the webhook URL redirects ({status}); set the final URL"),
        },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            error: format!("the webhook answered {status}"),
            after,
        },
        _ => Outcome::Failed {
            error: format!("the webhook refused the report ({status})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature(b"secret", 1_700_000_000, "{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn an_http_url_is_refused_unless_allowed_and_errors_do_not_show_it() {
        std::env::set_var("GOALPOST_TEST_HOOK_URL", "http://hooks.example/T000/B000/SECRET");
        let t = HttpTarget {
            url_env: "GOALPOST_TEST_HOOK_URL".into(),
            secret_env: None,
            allow_insecure: false,
        };
        let e = target_url(&t).unwrap_err();
        assert!(e.contains("http://") && !e.contains("SECRET"), "{e}");
        assert!(target_url(&HttpTarget {
            allow_insecure: true,
            ..t
        })
        .is_ok());
    }
}
