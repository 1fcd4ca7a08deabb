//! Email over SMTP with `lettre`: STARTTLS, implicit TLS or plain (local relays),
//! AUTH from environment variables, pooled connections, multipart/alternative (text +
//! HTML) with the charts as inline images in multipart/related.
//!
//! Each recipient gets a personal copy addressed to them alone (their own delivery row):
//! one bad address cannot fail or duplicate the others', an agency never shows one
//! client's address to another, Bcc stays blind, and no header grows past the 998
//! characters SMTP allows on a line however many recipients there are.

use super::{EmailPayload, Outcome};
use crate::config::plan::{EmailSpec, SmtpTls};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Checks an address (`a@b` or `Name <a@b>`); refuses line breaks (header injection).
pub fn parse_address(s: &str) -> Result<String, String> {
    if s.contains(['\r', '\n']) {
        return Err("an address cannot contain a line break".into());
    }
    s.trim()
        .parse::<Mailbox>()
        .map(|m| m.to_string())
        .map_err(|e| format!("`{}` is not an email address ({e})", s.trim()))
}

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the pooled SMTP transport for a channel; secrets are read from the environment here.
pub fn transport(spec: &EmailSpec) -> Result<Transport, String> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&spec.host)
        .port(spec.port)
        .timeout(Some(Duration::from_secs(30)))
        .pool_config(PoolConfig::new().max_size(4).idle_timeout(Duration::from_secs(60)));
    if spec.tls != SmtpTls::None {
        let mut params = TlsParameters::builder(spec.host.clone());
        if let Some(ca) = &spec.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read the CA file {}: {e}", ca.display()))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| format!("{} is not a PEM certificate: {e}", ca.display()))?;
            params = params.add_root_certificate(cert);
        }
        let params = params.build_rustls().map_err(|e| format!("TLS setup failed: {e}"))?;
        builder = builder.tls(match spec.tls {
            SmtpTls::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    match (&spec.username_env, &spec.password_env) {
        (Some(u), Some(p)) => {
            let user =
                std::env::var(u).map_err(|_| format!("the environment variable {u} (SMTP user name) is not set"))?;
            let pass =
                std::env::var(p).map_err(|_| format!("the environment variable {p} (SMTP password) is not set"))?;
            builder = builder.credentials(Credentials::new(user, pass));
        }
        (None, None) => {}
        _ => return Err("set both username_env and password_env, or neither".into()),
    }
    Ok(builder.build())
}

/// The message for one recipient.
pub fn message(spec: &EmailSpec, p: &EmailPayload, recipient: &str) -> Result<Message, String> {
    let mailbox = |s: &str| s.parse::<Mailbox>().map_err(|e| format!("`{s}`: {e}"));
    let mut b = Message::builder()
        .from(mailbox(&spec.from)?)
        .subject(p.subject.replace(['\r', '\n'], " "))
        .message_id(Some(p.message_id.clone()));
    b = b.to(mailbox(recipient)?);
    if let Some(r) = &spec.reply_to {
        b = b.reply_to(mailbox(r)?);
    }
    if let Some(u) = &spec.list_unsubscribe {
        let value = if u.contains('@') && !u.contains(':') {
            format!("<mailto:{u}>")
        } else {
            format!("<{u}>")
        };
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            value.replace(['\r', '\n'], ""),
        ));
    }
    let from_addr = mailbox(&spec.from)?.email;
    let to_addr: Address = mailbox(recipient)?.email;
    let envelope = lettre::address::Envelope::new(Some(from_addr), vec![to_addr]).map_err(|e| e.to_string())?;
    b = b.envelope(envelope);
    let mut related = MultiPart::related().singlepart(SinglePart::html(p.html.clone()));
    for img in &p.images {
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &img.png_base64)
            .map_err(|e| e.to_string())?;
        related = related.singlepart(
            Attachment::new_inline_with_name(img.cid.clone(), img.filename.clone())
                .body(bytes, ContentType::parse("image/png").expect("a valid MIME type")),
        );
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(p.text.clone()))
        .multipart(related);
    b.multipart(body)
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// Sends and classifies the result: 5xx is permanent, 4xx and connection trouble are retried.
pub async fn send(transport: &Transport, msg: Message, message_id: &str) -> Outcome {
    match transport.send(msg).await {
        Ok(resp) => Outcome::Sent {
            remote_id: format!("{message_id} {}", resp.code()),
        },
        Err(e) => {
            let code = e.status().map(|c| c.to_string());
            let detail = e.to_string();
            if e.is_permanent() {
                let hint = match code.as_deref() {
                    Some("535") => " (the SMTP server rejected the user name or password)",
                    Some(c) if c.starts_with("55") => " (the server refused this recipient)",
                    _ => "",
                };
                Outcome::Failed {
                    error: format!("SMTP permanent error: {detail}{hint}"),
                }
            } else {
                Outcome::Retry {
                    error: format!("SMTP: {detail}"),
                    after: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_line_breaks_are_refused() {
        assert_eq!(
            parse_address("Sara <sara@example.com>").unwrap(),
            "Sara <sara@example.com>"
        );
        assert!(parse_address("sara@example.com\r\nBcc: evil@example.com")
            .unwrap_err()
            .contains("line break"));
        assert!(parse_address("not an address").is_err());
    }
}
