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
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};
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

/// A small pool of SMTP connections for one channel.
///
/// Not lettre's own pooled transport: that one writes a message's body and its final
/// `.` in two writes on a socket with Nagle's algorithm on, so every message waits for
/// the server's delayed ACK (up to 40 ms). Here plain and STARTTLS connections are
/// opened with TCP_NODELAY and handed to lettre, which still speaks the protocol.
pub struct Transport {
    host: String,
    port: u16,
    mode: SmtpTls,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: tokio::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a send did not go through, classified for retrying.
pub struct SmtpFailure {
    pub permanent: bool,
    pub code: Option<String>,
    pub message: String,
}

impl From<lettre::transport::smtp::Error> for SmtpFailure {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        SmtpFailure {
            permanent: e.is_permanent(),
            code: e.status().map(|c| c.to_string()),
            message: e.to_string(),
        }
    }
}

/// Builds the transport for a channel; secrets are read from the environment here.
pub fn transport(spec: &EmailSpec) -> Result<Transport, String> {
    let tls = if spec.tls == SmtpTls::None {
        None
    } else {
        let mut params = TlsParameters::builder(spec.host.clone());
        if let Some(ca) = &spec.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read the CA file {}: {e}", ca.display()))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| format!("{} is not a PEM certificate: {e}", ca.display()))?;
            params = params.add_root_certificate(cert);
        }
        Some(params.build_rustls().map_err(|e| format!("TLS setup failed: {e}"))?)
    };
    let credentials = match (&spec.username_env, &spec.password_env) {
        (Some(u), Some(p)) => {
            let user =
                std::env::var(u).map_err(|_| format!("the environment variable {u} (SMTP user name) is not set"))?;
            let pass =
                std::env::var(p).map_err(|_| format!("the environment variable {p} (SMTP password) is not set"))?;
            Some(Credentials::new(user, pass))
        }
        (None, None) => None,
        _ => return Err("set both username_env and password_env, or neither".into()),
    };
    Ok(Transport {
        host: spec.host.clone(),
        port: spec.port,
        mode: spec.tls,
        tls,
        credentials,
        hello: ClientId::default(),
        idle: tokio::sync::Mutex::new(Vec::new()),
    })
}

impl Transport {
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpFailure> {
        let unreachable = |e: String| SmtpFailure {
            permanent: false,
            code: None,
            message: format!("cannot connect to the SMTP server {}:{}: {e}", self.host, self.port),
        };
        let mut conn = match (self.mode, &self.tls) {
            (SmtpTls::Implicit, Some(tls)) => {
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(TIMEOUT),
                    &self.hello,
                    Some(tls.clone()),
                    None,
                )
                .await?
            }
            _ => {
                let tcp =
                    tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect((self.host.as_str(), self.port)))
                        .await
                        .map_err(|_| unreachable("timed out".into()))?
                        .map_err(|e| unreachable(e.to_string()))?;
                tcp.set_nodelay(true).map_err(|e| unreachable(e.to_string()))?;
                // Which connection a message went over, for matching a server's log (the
                // chaos script tells the sender of each copy of a duplicate by it).
                if let Ok(local) = tcp.local_addr() {
                    tracing::debug!(local_port = local.port(), server = %self.host, "SMTP connection opened");
                }
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?
            }
        };
        if let (SmtpTls::Starttls, Some(tls)) = (self.mode, &self.tls) {
            conn.starttls(tls.clone(), &self.hello).await?;
            if !conn.is_encrypted() {
                return Err(SmtpFailure {
                    permanent: true,
                    code: None,
                    message: "the SMTP server does not offer STARTTLS (set tls: none only for a local relay)".into(),
                });
            }
        }
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
        }
        Ok(conn)
    }

    /// Sends on an idle connection (or a new one), and keeps the connection for the next send.
    pub async fn send(&self, msg: &Message) -> Result<lettre::transport::smtp::response::Response, SmtpFailure> {
        let idle = self.idle.lock().await.pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.connect().await?,
        };
        match conn.send(msg.envelope(), &msg.formatted()).await {
            Ok(resp) => {
                if !conn.has_broken() {
                    self.idle.lock().await.push(conn);
                }
                Ok(resp)
            }
            Err(e) => {
                conn.abort().await;
                Err(e.into())
            }
        }
    }
}

/// The message for one recipient.
pub fn message(spec: &EmailSpec, p: &EmailPayload, message_id: &str, recipient: &str) -> Result<Message, String> {
    let mailbox = |s: &str| s.parse::<Mailbox>().map_err(|e| format!("`{s}`: {e}"));
    let mut b = Message::builder()
        .from(mailbox(&spec.from)?)
        .subject(p.subject.replace(['\r', '\n'], " "))
        .message_id(Some(message_id.to_string()));
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
    match transport.send(&msg).await {
        Ok(resp) => Outcome::Sent {
            remote_id: format!("{message_id} {}", resp.code()),
        },
        Err(f) if f.permanent => {
            let hint = match f.code.as_deref() {
                Some("535") => " (the SMTP server rejected the user name or password)",
                Some(c) if c.starts_with("55") => " (the server refused this recipient)",
                _ => "",
            };
            Outcome::Failed {
                error: format!("SMTP permanent error: {}{hint}", f.message),
            }
        }
        Err(f) => Outcome::Retry {
            error: format!("SMTP: {}", f.message),
            after: None,
        },
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
