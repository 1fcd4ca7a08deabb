//! Google access tokens (GA4, Search Console, Google Ads), two ways:
//! - a service account, through `yup-oauth2`: the key file is read from the path the config
//!   names (a secret file, never the YAML), tokens are cached per (key file, token endpoint)
//!   for the life of the process and renewed before they expire;
//! - an OAuth refresh token (what Google Ads accounts usually have), traded at the token
//!   endpoint with the RFC 6749 §6 grant. `yup-oauth2`'s authorized-user flow cannot be
//!   pointed at another endpoint, so this one small POST is ours.
//!
//! The token endpoint is the key file's `token_uri` (or Google's), or the source's
//! `token_url` (tests and proxies).

use super::super::SourceError;
use super::{retry_after, snippet, Attempt};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use yup_oauth2::authenticator::DefaultAuthenticator;

static AUTHENTICATORS: OnceLock<Mutex<HashMap<String, Arc<DefaultAuthenticator>>>> = OnceLock::new();

/// A bearer token for `scope`.
pub async fn token(source: &str, key_file: &Path, token_url: Option<&str>, scope: &str) -> Result<String, SourceError> {
    let cache_key = format!("{}\u{1f}{}", key_file.display(), token_url.unwrap_or(""));
    let cached = AUTHENTICATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&cache_key)
        .cloned();
    let auth = match cached {
        Some(a) => a,
        None => {
            let text = std::fs::read_to_string(key_file).map_err(|e| {
                SourceError::config(
                    source,
                    format!("cannot read the service-account key file {}: {e}", key_file.display()),
                )
            })?;
            let mut key = yup_oauth2::parse_service_account_key(&text).map_err(|_| {
                SourceError::config(
                    source,
                    format!(
                        "{} is not a Google service-account key (the JSON file you download under \
                         IAM → Service accounts → Keys)",
                        key_file.display()
                    ),
                )
            })?;
            if let Some(url) = token_url {
                key.token_uri = url.to_string();
            }
            let auth = yup_oauth2::ServiceAccountAuthenticator::builder(key)
                .build()
                .await
                .map_err(|e| SourceError::config(source, format!("the service-account key cannot be used: {e}")))?;
            let auth = Arc::new(auth);
            AUTHENTICATORS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(cache_key, auth.clone());
            auth
        }
    };
    let token = auth.token(&[scope]).await.map_err(|e| words(source, &e))?;
    token
        .token()
        .map(str::to_string)
        .ok_or_else(|| SourceError::unavailable(source, "Google's token endpoint answered without a token"))
}

/// Where a Google source's access comes from.
#[derive(Debug, Clone)]
pub enum GoogleCredentials {
    ServiceAccount(std::path::PathBuf),
    /// Names of the environment variables holding the OAuth client and refresh token.
    RefreshToken {
        client_id_env: String,
        client_secret_env: String,
        refresh_token_env: String,
    },
}

static REFRESHED: OnceLock<Mutex<HashMap<String, (String, std::time::Instant)>>> = OnceLock::new();

/// A bearer token from either kind of credentials.
pub async fn access_token(
    source: &str,
    creds: &GoogleCredentials,
    token_url: Option<&str>,
    scope: &str,
    client: &reqwest::Client,
) -> Result<String, SourceError> {
    let (client_id_env, client_secret_env, refresh_token_env) = match creds {
        GoogleCredentials::ServiceAccount(path) => return token(source, path, token_url, scope).await,
        GoogleCredentials::RefreshToken {
            client_id_env,
            client_secret_env,
            refresh_token_env,
        } => (client_id_env, client_secret_env, refresh_token_env),
    };
    let var = |name: &str| {
        std::env::var(name).map_err(|_| {
            SourceError::config(
                source,
                format!("the environment variable {name} (Google OAuth) is not set"),
            )
        })
    };
    let (id, secret, refresh) = (var(client_id_env)?, var(client_secret_env)?, var(refresh_token_env)?);
    let url = token_url.unwrap_or("https://oauth2.googleapis.com/token").to_string();
    let key = format!("{url}\u{1f}{id}\u{1f}{refresh}");
    let cache = REFRESHED.get_or_init(Default::default);
    if let Some((t, until)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if *until > std::time::Instant::now() {
            return Ok(t.clone());
        }
    }
    let resp = client
        .post(&url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .map_err(|e| {
            SourceError::unavailable(
                source,
                format!("could not reach Google's token endpoint: {}", e.without_url()),
            )
        })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = body["error"].as_str().unwrap_or("error");
        return Err(
            if code == "invalid_grant" || code == "invalid_client" || code == "unauthorized_client" {
                SourceError::config(
                    source,
                    format!(
                        "Google refused the OAuth refresh token ({code}): it was revoked, expired after six months \
                     unused, or belongs to another OAuth client. Sign in again to get a new refresh token and \
                     set it in {refresh_token_env}."
                    ),
                )
            } else {
                SourceError::unavailable(source, format!("Google's token endpoint answered {status} ({code})"))
            },
        );
    }
    let Some(t) = body["access_token"].as_str() else {
        return Err(SourceError::unavailable(
            source,
            "Google's token endpoint answered without a token",
        ));
    };
    let lifetime = body["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
        key,
        (t.to_string(), std::time::Instant::now() + Duration::from_secs(lifetime)),
    );
    Ok(t.to_string())
}

/// A token failure in words a marketer can act on.
fn words(source: &str, e: &yup_oauth2::Error) -> SourceError {
    use yup_oauth2::error::AuthErrorCode::*;
    match e {
        yup_oauth2::Error::AuthError(a) => match &a.error {
            InvalidGrant | InvalidClient | UnauthorizedClient | AccessDenied | ExpiredToken => SourceError::config(
                source,
                format!(
                    "Google refused the service account's key ({}): the key was probably deleted or \
                     disabled. Create a new key for the service account and point `credentials_file` at it.",
                    a.error.as_str()
                ),
            ),
            _ => SourceError::config(source, format!("Google refused the token request: {a}")),
        },
        other => SourceError::unavailable(source, format!("could not get a Google access token: {other}")),
    }
}

/// A Google API error answer (`{"error": {code, message, status}}`) as an attempt outcome.
/// `no_access` says what to do when the account may not read the property.
pub fn classify(
    product: &str,
    no_access: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> Attempt {
    let err = serde_json::from_str::<Value>(body).ok();
    let message = err
        .as_ref()
        .and_then(|e| e["error"]["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    let state = err
        .as_ref()
        .and_then(|e| e["error"]["status"].as_str())
        .unwrap_or("")
        .to_string();
    match status.as_u16() {
        // Quota: Google often sends no Retry-After; its token buckets need a real pause.
        429 => Attempt::transient(
            format!("{product} quota exhausted ({state}): {message}"),
            retry_after(headers).or(Some(Duration::from_secs(2))),
        ),
        401 => Attempt {
            auth: true,
            ..Attempt::permanent(format!(
                "{product} did not accept the access token ({state}): {message}. Check that the \
                 service account's key is still valid."
            ))
        },
        403 => Attempt {
            auth: true,
            ..Attempt::permanent(format!("{product} refused access ({state}): {message}. {no_access}"))
        },
        400 | 404 => Attempt::permanent(format!("{product} rejected the request ({state}): {message}")),
        s if s >= 500 => Attempt::transient(
            format!("{product} is failing ({s} {state}): {message}"),
            retry_after(headers),
        ),
        s => Attempt::permanent(format!("{product} answered {s} {state}: {message}")),
    }
}
