//! The optional HTTP listener (`daemon.listen` or `--listen`): `/healthz` (the process
//! answers), `/readyz` (configs loaded and the scheduler running), `/metrics` (Prometheus
//! text) and `/reports/{id}` (the latest rendered HTML of a report, charts inlined).
//! GET only; it serves operators on a private address, not the internet.

use super::Shared;
use crate::deliver::Payload;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    reply(status, "text/plain; charset=utf-8", body.into())
}

/// Binds `addr` and serves until the task is dropped. Returns the bound address.
pub async fn listen(addr: std::net::SocketAddr, shared: Arc<Shared>) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(&shared, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

async fn route(shared: &Shared, req: Request<hyper::body::Incoming>) -> Reply {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    let path = req.uri().path().trim_end_matches('/');
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if shared.ready.load(Ordering::SeqCst) {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready (starting or stopping)\n")
            }
        }
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(),
        ),
        _ => match path.strip_prefix("/reports/") {
            Some(rest) => report(shared, rest).await,
            None => text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /readyz, /metrics, /reports/ID\n",
            ),
        },
    }
}

/// `/reports/ID` or `/reports/CLIENT/ID` (when several clients have a report ID).
async fn report(shared: &Shared, rest: &str) -> Reply {
    let (client, id) = match rest.split_once('/') {
        Some((c, i)) => (Some(c), i),
        None => (None, rest),
    };
    let matches: Vec<((String, String), crate::store::Store)> = {
        let clients = shared.clients.read().unwrap_or_else(|p| p.into_inner());
        clients
            .iter()
            .filter(|(c, (_, plan))| plan.reports.contains_key(id) && client.is_none_or(|x| x == *c))
            .map(|(c, (store, _))| ((c.clone(), id.to_string()), store.clone()))
            .collect()
    };
    let (key, store) = match matches.as_slice() {
        [] => return text(StatusCode::NOT_FOUND, format!("no report `{id}`\n")),
        [one] => one.clone(),
        many => {
            let names: Vec<String> = many.iter().map(|((c, r), _)| format!("/reports/{c}/{r}")).collect();
            return text(
                StatusCode::MULTIPLE_CHOICES,
                format!("several clients have a report `{id}`: {}\n", names.join(", ")),
            );
        }
    };
    let body = match store.latest_html(&key.1).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("report `{id}` has not been sent yet (no email or outbox channel content)\n"),
            )
        }
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    };
    let email = match serde_json::from_str::<Payload>(&body) {
        Ok(Payload::Email(e)) | Ok(Payload::Outbox { email: e, .. }) => e,
        _ => return text(StatusCode::INTERNAL_SERVER_ERROR, "the stored report is unreadable\n"),
    };
    let mut html = email.html;
    for img in &email.images {
        html = html.replace(
            &format!("cid:{}", img.cid),
            &format!("data:image/png;base64,{}", img.png_base64),
        );
    }
    reply(StatusCode::OK, "text/html; charset=utf-8", html)
}
