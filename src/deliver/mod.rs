//! Delivery: turn a computed report into one delivery per (channel, recipient),
//! record them all before sending any, send each once, retry what is transient with
//! backoff and jitter (honouring Retry-After), fail what is permanent, and tell the
//! `on_failure` channel about every failure. Nothing is silently dropped.

pub mod email;
pub mod http;
pub mod outbox;

use crate::config::plan::{ChannelKind, ChannelSpec, Plan, ReportSpec, SendIf};
use crate::goal::Status;
use crate::period::{AsOf, Period};
use crate::report::model::ReportModel;
use crate::report::render::Renderer;
use crate::report::slack;
use crate::store::{Claim, Delivery, NewDelivery, PayloadRef, Store, StoreError};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What one delivery sends, rendered once when the run is recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    Email(EmailPayload),
    Slack {
        body: String,
    },
    Teams {
        body: String,
    },
    Webhook {
        body: String,
    },
    Outbox {
        email: EmailPayload,
        json: String,
    },
    /// A failure notice for the `on_failure` channel.
    Notice {
        subject: String,
        text: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailPayload {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub images: Vec<ImagePayload>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagePayload {
    pub cid: String,
    pub filename: String,
    pub png_base64: String,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        remote_id: String,
    },
    /// Transient: try again (after the server's hint when it gave one).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Permanent: do not try again.
    Failed {
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering the report: {0}")]
    Render(String),
}

/// What `send` did, for the CLI and the logs.
#[derive(Debug, Clone, Serialize)]
pub struct SendSummary {
    pub report: String,
    pub period: String,
    /// `sent`, `already_sent`, `resumed`, `skipped`, `dry_run`, `claimed_elsewhere`.
    pub outcome: &'static str,
    pub note: Option<String>,
    pub sent: usize,
    pub failed: usize,
    pub pending: usize,
    /// For `claimed_elsewhere`: when to ask again if the other process has not finished
    /// preparing the run by then (it is then presumed dead and the run is taken over).
    pub retry_at: Option<DateTime<Utc>>,
}

pub struct SendOptions {
    pub force: bool,
    pub dry_run: bool,
    pub as_of: AsOf,
}

/// A stable Message-ID from the delivery key, so a resumed send is recognisably the same message.
pub fn message_id(report: &str, period: &str, generation: i64, channel: &str, recipient: &str, from: &str) -> String {
    let key = format!("{report}\u{1f}{period}\u{1f}{generation}\u{1f}{channel}\u{1f}{recipient}");
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
    let domain = from
        .rsplit('@')
        .next()
        .unwrap_or("goalpost.invalid")
        .trim_end_matches('>');
    format!("<{hash}.goalpost@{domain}>")
}

/// The statuses of the goals, for `send_if: changed`.
fn fingerprint(m: &ReportModel) -> String {
    m.goals
        .iter()
        .map(|g| format!("{}={}", g.id, g.status.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the report's `send_if` condition holds; `None` = send, `Some(why)` = skip.
fn skip_reason(spec: &ReportSpec, m: &ReportModel, last: Option<&str>) -> Option<String> {
    match spec.send_if {
        SendIf::Always => None,
        SendIf::HasData => {
            (!m.goals.iter().any(|g| g.actual.is_some())).then(|| "send_if: has_data, and no goal has data".into())
        }
        SendIf::OffTrack => (!m
            .goals
            .iter()
            .any(|g| matches!(g.status, Status::OffTrack | Status::AtRisk)))
        .then(|| "send_if: off_track, and no goal is off track or at risk".into()),
        SendIf::Changed => (last == Some(fingerprint(m).as_str()))
            .then(|| "send_if: changed, and no goal's status changed since the last sent run".into()),
    }
}

/// Recipients of a channel: each address of an email channel, else the channel itself.
fn recipients(c: &ChannelSpec) -> Vec<String> {
    match &c.kind {
        ChannelKind::Email(e) => e.to.iter().chain(&e.cc).chain(&e.bcc).cloned().collect(),
        ChannelKind::Slack(_) => vec!["slack-webhook".into()],
        ChannelKind::Teams(_) => vec!["teams-webhook".into()],
        ChannelKind::Webhook(_) => vec!["webhook".into()],
        ChannelKind::Outbox { .. } => vec!["outbox".into()],
    }
}

struct Rendered {
    subject: String,
    headline: String,
    text: String,
    html: crate::report::render::Html,
    slack: String,
    teams: String,
    json: String,
}

fn render(plan: &Plan, spec: &ReportSpec, m: &ReportModel) -> Result<Rendered, SendError> {
    let renderer = Renderer::shared(plan).map_err(|e| SendError::Render(e.to_string()))?;
    let view = renderer.view(m, spec.max_goals);
    let (html, text) = renderer
        .email(&view, spec.charts)
        .map_err(|e| SendError::Render(e.to_string()))?;
    Ok(Rendered {
        subject: format!("{}: {}", view.title, view.headline),
        headline: view.headline.clone(),
        text,
        html,
        slack: serde_json::to_string(&slack::message(&view, &renderer.locale)).expect("JSON"),
        teams: serde_json::to_string(&crate::report::teams::message(&view)).expect("JSON"),
        json: serde_json::to_string(m).expect("JSON"),
    })
}

fn email_payload(r: &Rendered, subject_template: &str, title: &str, period: &str, headline: &str) -> EmailPayload {
    let subject = subject_template
        .replace("{title}", title)
        .replace("{period}", period)
        .replace("{headline}", headline);
    EmailPayload {
        subject: if subject_template.is_empty() {
            r.subject.clone()
        } else {
            subject
        },
        text: r.text.clone(),
        html: r.html.html.clone(),
        images: r
            .html
            .images
            .iter()
            .map(|i| ImagePayload {
                cid: i.cid.clone(),
                filename: i.filename.clone(),
                png_base64: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &i.png.bytes),
            })
            .collect(),
    }
}

/// Sends one report for one period: claim, compute, render, record, deliver.
pub async fn send_report(
    plan: &Plan,
    store: &Store,
    spec: &ReportSpec,
    period: Period,
    opts: &SendOptions,
) -> Result<SendSummary, SendError> {
    let key = period.key();
    let summary = |outcome, note: Option<String>| SendSummary {
        report: spec.id.clone(),
        period: key.clone(),
        outcome,
        note,
        sent: 0,
        failed: 0,
        pending: 0,
        retry_at: None,
    };
    if opts.dry_run {
        let (m, _) = crate::run::compute(plan, spec, Some(period), opts.as_of).await;
        let targets: Vec<String> = spec
            .channels
            .iter()
            .flat_map(|c| {
                recipients(&plan.channels[c])
                    .into_iter()
                    .map(move |r| format!("{c}:{r}"))
            })
            .collect();
        let why = skip_reason(spec, &m, None);
        return Ok(summary(
            "dry_run",
            Some(match why {
                Some(w) => format!("would skip ({w})"),
                None => format!("would send to {}", targets.join(", ")),
            }),
        ));
    }
    let now = Utc::now();
    let run_id = match store.claim_run(&spec.id, &key, opts.force, now).await? {
        Claim::New(id) => id,
        Claim::InProgress { retry_at } => {
            return Ok(SendSummary {
                retry_at: Some(retry_at),
                ..summary(
                    "claimed_elsewhere",
                    Some("another process is preparing this run".into()),
                )
            })
        }
        Claim::Existing { pending: 0, status, .. } => {
            return Ok(summary(
                "already_sent",
                Some(format!("the run is {status}; use --force to send again")),
            ));
        }
        Claim::Existing { run_id, .. } => {
            let mut s = deliver_pending(plan, store, Some(run_id)).await?;
            s.report = spec.id.clone();
            s.period = key.clone();
            s.outcome = "resumed";
            return Ok(s);
        }
    };
    // If the run cannot be recorded (a template error, a store error), it is marked failed,
    // the operator is told, and the next `send` takes it up again: never "already sent".
    match record_run(plan, store, spec, period, opts, run_id).await {
        Ok(Some(why)) => return Ok(summary("skipped", Some(why))),
        Ok(None) => {}
        Err(e) => {
            let why = e.to_string();
            store.finish_run(run_id, "failed", Some(&why), None, Utc::now()).await?;
            let notices = notice(
                plan,
                &format!("run:{run_id}"),
                &format!("Goalpost: report {} for {key} could not be prepared", spec.id),
                &why,
            );
            if !notices.is_empty() {
                store.add_deliveries(run_id, &[], &notices, Utc::now()).await?;
                deliver_pending(plan, store, Some(run_id)).await?;
            }
            return Err(e);
        }
    }
    let mut s = deliver_pending(plan, store, Some(run_id)).await?;
    s.report = spec.id.clone();
    s.period = key;
    s.outcome = "sent";
    Ok(s)
}

/// Computes, renders and records a claimed run's deliveries (all of them, in one
/// transaction). Returns why the run was skipped, if it was.
async fn record_run(
    plan: &Plan,
    store: &Store,
    spec: &ReportSpec,
    period: Period,
    opts: &SendOptions,
    run_id: i64,
) -> Result<Option<String>, SendError> {
    let (model, failures) = crate::run::compute(plan, spec, Some(period), opts.as_of).await;
    let last = store.last_sent_fingerprint(&spec.id, run_id).await?;
    let fp = fingerprint(&model);
    if let Some(why) = skip_reason(spec, &model, last.as_deref()) {
        store
            .finish_run(run_id, "skipped", Some(&why), Some(&fp), Utc::now())
            .await?;
        return Ok(Some(why));
    }
    record_model(plan, store, spec, &period.key(), run_id, &model, &failures).await?;
    Ok(None)
}

/// Renders `model` and records every delivery of run `run_id` (one transaction), with owner
/// notices and source-failure notices; marks the run done.
async fn record_model(
    plan: &Plan,
    store: &Store,
    spec: &ReportSpec,
    key: &str,
    run_id: i64,
    model: &ReportModel,
    failures: &[crate::source::SourceError],
) -> Result<(), SendError> {
    let fp = fingerprint(model);
    let r = render(plan, spec, model)?;
    // One content per channel, shared by its recipients' deliveries.
    let mut shared: Vec<(String, String)> = Vec::new();
    let mut new = Vec::new();
    for cid in &spec.channels {
        let c = &plan.channels[cid];
        let payload = match &c.kind {
            ChannelKind::Email(e) => Payload::Email(email_payload(&r, &e.subject, &spec.title, key, &r.headline)),
            ChannelKind::Slack(_) => Payload::Slack { body: r.slack.clone() },
            ChannelKind::Teams(_) => Payload::Teams { body: r.teams.clone() },
            ChannelKind::Webhook(_) => Payload::Webhook { body: r.json.clone() },
            ChannelKind::Outbox { .. } => Payload::Outbox {
                email: email_payload(&r, "", &spec.title, key, &r.headline),
                json: r.json.clone(),
            },
        };
        shared.push((cid.clone(), serde_json::to_string(&payload).expect("JSON")));
        for rcpt in recipients(c) {
            new.push(NewDelivery {
                channel: cid.clone(),
                recipient: rcpt,
                payload: PayloadRef::Shared(shared.len() - 1),
            });
        }
    }
    new.extend(owner_notices(plan, spec, model)?);
    // Sources that failed are the operator's to fix: say so on the failure channel.
    for f in failures {
        new.extend(notice(
            plan,
            &format!("source:{}", f.source),
            &format!("Goalpost: source {} failed", f.source),
            &format!(
                "Report {} for {key} went out with goals marked \"data unavailable\": {f}",
                spec.id
            ),
        ));
    }
    store.record_run(run_id, &shared, &new, &fp, Utc::now()).await?;
    Ok(())
}

/// Sends an alert: `model` (already computed and cut to the goals that got worse) under its
/// own run key, so each alert is claimed, recorded and delivered once like any run.
pub async fn send_alert(
    plan: &Plan,
    store: &Store,
    spec: &ReportSpec,
    key: &str,
    model: &ReportModel,
    failures: &[crate::source::SourceError],
) -> Result<SendSummary, SendError> {
    let mut s = SendSummary {
        report: spec.id.clone(),
        period: key.to_string(),
        outcome: "sent",
        note: None,
        sent: 0,
        failed: 0,
        pending: 0,
        retry_at: None,
    };
    let run_id = match store.claim_run(&spec.id, key, false, Utc::now()).await? {
        Claim::New(id) => id,
        Claim::InProgress { retry_at } => {
            s.outcome = "claimed_elsewhere";
            s.retry_at = Some(retry_at);
            return Ok(s);
        }
        Claim::Existing { run_id, .. } => {
            let d = deliver_pending(plan, store, Some(run_id)).await?;
            return Ok(SendSummary {
                outcome: "resumed",
                report: s.report,
                period: s.period,
                ..d
            });
        }
    };
    if let Err(e) = record_model(plan, store, spec, key, run_id, model, failures).await {
        store
            .finish_run(run_id, "failed", Some(&e.to_string()), None, Utc::now())
            .await?;
        return Err(e);
    }
    let d = deliver_pending(plan, store, Some(run_id)).await?;
    s.sent = d.sent;
    s.failed = d.failed;
    s.pending = d.pending;
    Ok(s)
}

/// With `notify_owners`, each owner whose goals are off track (or at risk) gets a short
/// report of just those goals, on the report's email channel for owners.
fn owner_notices(plan: &Plan, spec: &ReportSpec, model: &ReportModel) -> Result<Vec<NewDelivery>, SendError> {
    let Some(channel) = &spec.owners_channel else {
        return Ok(Vec::new());
    };
    let mut by_owner: Vec<(String, Vec<String>)> = Vec::new();
    for v in model.goals.iter().filter(|v| spec.notify_owners.contains(&v.status)) {
        let Some(email) = plan.goals.get(&v.id).and_then(|g| g.owner_email.clone()) else {
            continue;
        };
        match by_owner.iter_mut().find(|(e, _)| *e == email) {
            Some((_, ids)) => ids.push(v.id.clone()),
            None => by_owner.push((email, vec![v.id.clone()])),
        }
    }
    let mut out = Vec::new();
    for (email, ids) in by_owner {
        let mut m = model.clone();
        m.goals.retain(|g| ids.contains(&g.id));
        m.funnels.clear();
        m.breakdowns.clear();
        m.summary = crate::report::model::Summary::of(&m.goals);
        let locale = crate::report::locale::Locale::load(
            &plan.locale,
            plan.arabic_digits,
            &plan.currency,
            plan.templates.as_deref(),
        )
        .map_err(|e| SendError::Render(e.to_string()))?;
        m.title = locale.fill("owner_title", &[("title", &spec.title)]);
        let r = render(plan, spec, &m)?;
        let payload = Payload::Email(email_payload(&r, "", &m.title, &model.period.key, &r.headline));
        out.push(NewDelivery {
            channel: channel.clone(),
            recipient: format!("owner:{email}"),
            payload: PayloadRef::Own(serde_json::to_string(&payload).expect("JSON")),
        });
    }
    Ok(out)
}

/// Deliveries that tell the `on_failure` channel something (none when it is not set).
fn notice(plan: &Plan, key: &str, subject: &str, text: &str) -> Vec<NewDelivery> {
    let Some(cid) = &plan.on_failure else { return Vec::new() };
    let c = &plan.channels[cid];
    let payload = serde_json::to_string(&Payload::Notice {
        subject: subject.to_string(),
        text: text.to_string(),
    })
    .expect("JSON");
    recipients(c)
        .into_iter()
        .map(|r| NewDelivery {
            channel: cid.clone(),
            recipient: format!("{key}→{r}"),
            payload: PayloadRef::Own(payload.clone()),
        })
        .collect()
}

/// Live connections, made once per `deliver_pending` call and channel.
struct Senders {
    smtp: HashMap<String, Result<email::Transport, String>>,
    http: reqwest::Client,
}

impl Senders {
    fn for_plan(plan: &Plan) -> Senders {
        let smtp = plan
            .channels
            .iter()
            .filter_map(|(id, c)| match &c.kind {
                ChannelKind::Email(spec) => Some((id.clone(), email::transport(spec))),
                _ => None,
            })
            .collect();
        Senders {
            smtp,
            http: http::client(),
        }
    }
}

async fn attempt(plan: &Plan, senders: &Senders, d: &Delivery, payload: &Payload) -> Outcome {
    let Some(c) = plan.channels.get(&d.channel) else {
        return Outcome::Failed {
            error: format!("channel `{}` is no longer in the config", d.channel),
        };
    };
    // Notices are keyed `what→recipient`, owner notices `owner:address`.
    let real_recipient = d
        .recipient
        .rsplit('→')
        .next()
        .unwrap_or(&d.recipient)
        .trim_start_matches("owner:")
        .to_string();
    match (&c.kind, payload) {
        (ChannelKind::Email(spec), p) => {
            let transport = match senders.smtp.get(&d.channel) {
                Some(Ok(t)) => t,
                Some(Err(e)) => return Outcome::Failed { error: e.clone() },
                None => {
                    return Outcome::Failed {
                        error: "no SMTP transport".into(),
                    }
                }
            };
            let notice;
            let ep = match p {
                Payload::Email(ep) | Payload::Outbox { email: ep, .. } => ep,
                Payload::Notice { subject, text } => {
                    notice = EmailPayload {
                        subject: subject.clone(),
                        html: format!("<pre>{}</pre>", html_escape(text)),
                        text: text.clone(),
                        images: Vec::new(),
                    };
                    &notice
                }
                _ => {
                    return Outcome::Failed {
                        error: "this payload is not for email".into(),
                    }
                }
            };
            let mid = message_id(&d.report, &d.period, d.generation, &d.channel, &d.recipient, &spec.from);
            match email::message(spec, ep, &mid, &real_recipient) {
                Ok(msg) => email::send(transport, msg, &mid).await,
                Err(error) => Outcome::Failed { error },
            }
        }
        (ChannelKind::Slack(t), p) => {
            let body = match p {
                Payload::Slack { body } => body.clone(),
                Payload::Notice { text, .. } => serde_json::json!({ "text": slack::escape(text) }).to_string(),
                _ => {
                    return Outcome::Failed {
                        error: "this payload is not for Slack".into(),
                    }
                }
            };
            http::post_slack(&senders.http, t, &body).await
        }
        (ChannelKind::Teams(t), p) => {
            let body = match p {
                Payload::Teams { body } => body.clone(),
                Payload::Notice { subject, text } => crate::report::teams::notice(subject, text).to_string(),
                _ => {
                    return Outcome::Failed {
                        error: "this payload is not for Teams".into(),
                    }
                }
            };
            http::post_teams(&senders.http, t, &body).await
        }
        (ChannelKind::Webhook(t), p) => {
            let body = match p {
                Payload::Webhook { body } => body.clone(),
                Payload::Notice { subject, text } => {
                    serde_json::json!({ "event": "delivery_failed", "subject": subject, "text": text }).to_string()
                }
                _ => {
                    return Outcome::Failed {
                        error: "this payload is not for a webhook".into(),
                    }
                }
            };
            http::post_webhook(&senders.http, t, &body, Utc::now().timestamp()).await
        }
        (ChannelKind::Outbox { path }, p) => {
            let mid = message_id(
                &d.report,
                &d.period,
                d.generation,
                &d.channel,
                &d.recipient,
                "reports@goalpost.invalid",
            );
            outbox::write(path, d, p, &mid)
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The delay before attempt `attempts + 1`: doubling from `backoff`, capped, ±20% jitter;
/// a server's Retry-After wins when it asks for longer.
pub fn next_delay(
    policy: &crate::config::plan::DeliveryPolicy,
    attempts: u32,
    hint: Option<Duration>,
) -> chrono::Duration {
    let base = policy.backoff.num_milliseconds().max(1) as f64 * 2f64.powi(attempts.min(30) as i32);
    let capped = base.min(policy.max_backoff.num_milliseconds() as f64);
    let jittered = capped * (0.8 + 0.4 * fastrand::f64());
    let ms = match hint {
        // A server's hint is honoured up to the delivery's maximum age (a huge value is not a reason to crash).
        Some(h) => jittered.max((h.as_millis() as f64).min(policy.max_age.num_milliseconds() as f64)),
        None => jittered,
    };
    chrono::Duration::milliseconds(ms as i64)
}

/// How many deliveries of unthrottled channels are in flight at once.
const CONCURRENCY: usize = 8;

/// Sends in flight in this whole process, across runs: when hundreds of reports fall due at
/// the same second, the SMTP server is not hit with hundreds of connections, and a process
/// killed mid-burst leaves at most this many messages accepted but not yet recorded (the
/// window in which a message can go twice).
static SENDS_IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// How long a process holds a delivery it is sending (well beyond one SMTP or HTTP
/// exchange with its 30 s timeouts); past it, a dead sender's delivery is taken up again.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// Deliveries leased at a time.
const BATCH: i64 = 256;

/// Sends every pending delivery that is due (of one run, or all), waiting for retries
/// up to the policy's `wait`; what is still pending after that stays for later.
/// Channels with `max_per_second` are sent one at a time at that pace; the others
/// `CONCURRENCY` at a time over pooled connections. Each outcome is recorded the
/// moment it is known, so a crash loses no record of a send.
pub async fn deliver_pending(plan: &Plan, store: &Store, run: Option<i64>) -> Result<SendSummary, SendError> {
    let senders = Senders::for_plan(plan);
    let deadline = Utc::now() + plan.delivery.wait;
    let mut payloads: HashMap<i64, Arc<Payload>> = HashMap::new();
    let mut last_send: HashMap<String, std::time::Instant> = HashMap::new();
    let (mut sent, mut failed) = (0, 0);
    loop {
        // Due deliveries are leased in batches: one write takes them all for this process.
        let due = store.lease_due(run, Utc::now(), Utc::now() + LEASE, BATCH).await?;
        let leased = std::time::Instant::now();
        if due.is_empty() {
            let now = Utc::now();
            match store.next_due(run).await? {
                Some(next) if next <= deadline => {
                    tokio::time::sleep((next - now).to_std().unwrap_or_default().max(Duration::from_millis(10))).await;
                    continue;
                }
                _ => break,
            }
        }
        // Shared contents, read and parsed once.
        for d in &due {
            if let Some(id) = d.payload_id {
                if let std::collections::hash_map::Entry::Vacant(e) = payloads.entry(id) {
                    let body = store.payload(id).await?;
                    let parsed = serde_json::from_str(&body)
                        .map_err(|e| SendError::Render(format!("stored content {id}: {e}")))?;
                    e.insert(Arc::new(parsed));
                }
            }
        }
        let content = |d: &Delivery| -> Result<Arc<Payload>, String> {
            match d.payload_id {
                Some(id) => Ok(payloads[&id].clone()),
                None => serde_json::from_str(&d.payload)
                    .map(Arc::new)
                    .map_err(|e| format!("unreadable payload: {e}")),
            }
        };
        let (throttled, free): (Vec<Delivery>, Vec<Delivery>) = due.into_iter().partition(|d| {
            plan.channels
                .get(&d.channel)
                .is_some_and(|c| c.max_per_second.is_some())
        });
        let mut done: Vec<(Delivery, Settled)> = Vec::new();
        for d in throttled {
            let rate = plan.channels[&d.channel].max_per_second.unwrap_or(1.0);
            let gap = Duration::from_secs_f64(1.0 / rate);
            if let Some(prev) = last_send.get(&d.channel) {
                let since = prev.elapsed();
                if since < gap {
                    tokio::time::sleep(gap - since).await;
                }
            }
            last_send.insert(d.channel.clone(), std::time::Instant::now());
            if !still_ours(store, &d, leased).await? {
                continue;
            }
            let permit = SENDS_IN_FLIGHT.acquire().await.expect("never closed");
            let outcome = match content(&d) {
                Ok(p) => attempt(plan, &senders, &d, &p).await,
                Err(error) => Outcome::Failed { error },
            };
            let settled = record(plan, store, &d, &outcome).await?;
            drop(permit);
            done.push((d, settled));
        }
        let concurrent: Vec<Result<Option<(Delivery, Settled)>, SendError>> = futures::stream::iter(free)
            .map(|d| {
                let p = content(&d);
                let senders = &senders;
                async move {
                    if !still_ours(store, &d, leased).await? {
                        return Ok(None);
                    }
                    let permit = SENDS_IN_FLIGHT.acquire().await.expect("never closed");
                    let outcome = match p {
                        Ok(p) => attempt(plan, senders, &d, &p).await,
                        Err(error) => Outcome::Failed { error },
                    };
                    let settled = record(plan, store, &d, &outcome).await?;
                    drop(permit);
                    Ok(Some((d, settled)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        // Every outcome is already recorded; notices go out even if one record failed.
        let mut first_error = None;
        for r in concurrent {
            match r {
                Ok(Some(x)) => done.push(x),
                Ok(None) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        for (d, settled) in done {
            match settled {
                Settled::Sent => sent += 1,
                Settled::Retry => {}
                Settled::Failed(why) => {
                    failed += 1;
                    notify_failure(plan, store, &d, &why).await?;
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    let pending = store.pending(run).await?.len();
    Ok(SendSummary {
        report: String::new(),
        period: String::new(),
        outcome: "delivered",
        note: None,
        sent,
        failed,
        pending,
        retry_at: None,
    })
}

/// Whether this process still holds `d`'s lease, renewing it once half of it has passed: a
/// batch sent slowly (a paced channel, a slow server) must not outlive its lease, or another
/// process would take the rest and send them too.
async fn still_ours(store: &Store, d: &Delivery, leased: std::time::Instant) -> Result<bool, SendError> {
    if leased.elapsed() < (LEASE / 2).to_std().unwrap_or_default() {
        return Ok(true);
    }
    Ok(store.renew_lease(d.id, Utc::now() + LEASE).await?)
}

/// What an outcome means for the delivery row.
enum Settled {
    Sent,
    Retry,
    /// Failed, with the message kept in the log.
    Failed(String),
}

fn settle(plan: &Plan, d: &Delivery, outcome: &Outcome) -> (Settled, Option<DateTime<Utc>>) {
    let attempts = d.attempts as u32 + 1;
    let age = Utc::now() - parse_time(&d.created_at);
    match outcome {
        Outcome::Sent { .. } => (Settled::Sent, None),
        Outcome::Retry { after, .. } if attempts < plan.delivery.max_attempts && age < plan.delivery.max_age => (
            Settled::Retry,
            Some(Utc::now() + next_delay(&plan.delivery, attempts - 1, *after)),
        ),
        Outcome::Retry { error, .. } if attempts >= plan.delivery.max_attempts => (
            Settled::Failed(format!("{error} (gave up after {attempts} attempts)")),
            None,
        ),
        Outcome::Retry { error, .. } => (
            Settled::Failed(format!("{error} (gave up: older than the maximum age)")),
            None,
        ),
        Outcome::Failed { error } => (Settled::Failed(error.clone()), None),
    }
}

/// Records an outcome and returns how it settled (decided once, so the log and the
/// notice never disagree at the `max_age` boundary).
async fn record(plan: &Plan, store: &Store, d: &Delivery, outcome: &Outcome) -> Result<Settled, SendError> {
    let (settled, next) = settle(plan, d, outcome);
    let status = match &settled {
        Settled::Sent => "sent",
        Settled::Retry => "retry",
        Settled::Failed(_) => "failed",
    };
    crate::metrics::add(
        "goalpost_deliveries_total",
        &[("channel", &d.channel), ("status", status)],
        1.0,
    );
    // Recorded first, said after: a "delivered" line means the log has it too.
    match (&settled, next, outcome) {
        (Settled::Sent, _, Outcome::Sent { remote_id }) => store.mark_sent(d.id, remote_id, Utc::now()).await?,
        (Settled::Retry, Some(next), Outcome::Retry { error, .. }) => store.mark_retry(d.id, error, next).await?,
        (Settled::Failed(why), _, _) => store.mark_failed(d.id, why).await?,
        _ => {}
    }
    let span = tracing::info_span!("delivery", report = %d.report, period = %d.period, key = %format!("{}/{}", d.channel, d.recipient), id = d.id);
    match (&settled, outcome) {
        (Settled::Failed(why), _) => {
            span.in_scope(|| tracing::warn!(attempt = d.attempts + 1, error = %why, "delivery failed"))
        }
        (Settled::Retry, Outcome::Retry { error, .. }) => {
            span.in_scope(|| tracing::info!(attempt = d.attempts + 1, error = %error, "delivery will be retried"))
        }
        _ => span.in_scope(|| tracing::info!(attempt = d.attempts + 1, "delivered")),
    }
    Ok(settled)
}

/// Queues a notice to the `on_failure` channel (not for a notice itself: no loops).
async fn notify_failure(plan: &Plan, store: &Store, d: &Delivery, why: &str) -> Result<(), SendError> {
    if d.recipient.contains('→') {
        return Ok(());
    }
    let notices = notice(
        plan,
        &format!("delivery:{}:{}", d.id, d.attempts + 1),
        &format!("Goalpost: report {} for {} was not delivered", d.report, d.period),
        &format!("Delivery to {} / {} failed: {why}", d.channel, d.recipient),
    );
    if !notices.is_empty() {
        store.add_deliveries(d.run_id, &[], &notices, Utc::now()).await?;
    }
    Ok(())
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_huge_retry_after_is_capped_not_a_crash() {
        let p = crate::config::plan::DeliveryPolicy::default();
        let d0 = next_delay(&p, 0, None).num_milliseconds();
        assert!((1600..=2400).contains(&d0), "{d0}");
        let d3 = next_delay(&p, 3, None).num_milliseconds();
        assert!((12_800..=19_200).contains(&d3), "{d3}");
        let hint = next_delay(&p, 0, Some(Duration::from_secs(30))).num_seconds();
        assert!(hint >= 30);
        let huge = next_delay(&p, 0, Some(Duration::from_secs(99_999_999_999_999)));
        assert!(huge <= p.max_age);
        let _ = Utc::now() + huge; // no overflow
    }
}
