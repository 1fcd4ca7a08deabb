//! The outbox: each delivery written as files in a folder — the email as `.eml`
//! (open it in any mail client) and the report as `.json`. The embedded default, so the
//! demo runs with no SMTP server or Slack. Files are written whole (temp, then rename).

use super::{Outcome, Payload};
use crate::config::plan::{EmailSpec, SmtpTls};
use crate::store::Delivery;
use std::path::Path;

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn write(dir: &Path, d: &Delivery, payload: &Payload, message_id: &str) -> Outcome {
    let folder = dir.join(safe(&d.report));
    if let Err(e) = std::fs::create_dir_all(&folder) {
        return Outcome::Failed {
            error: format!("cannot create the outbox folder {}: {e}", folder.display()),
        };
    }
    let stem = format!("{}-g{}", safe(&d.period), d.generation);
    let result = match payload {
        Payload::Outbox { email, json } => {
            // The .eml is the message a recipient would get (an outbox has no real recipient).
            let spec = EmailSpec {
                to: vec!["outbox@goalpost.invalid".into()],
                cc: vec![],
                bcc: vec![],
                from: "Goalpost <reports@goalpost.invalid>".into(),
                reply_to: None,
                subject: String::new(),
                host: String::new(),
                port: 0,
                tls: SmtpTls::None,
                username_env: None,
                password_env: None,
                ca_file: None,
                list_unsubscribe: None,
            };
            match super::email::message(&spec, email, message_id, "outbox@goalpost.invalid") {
                Ok(msg) => write_atomic(&folder.join(format!("{stem}.eml")), &msg.formatted())
                    .and_then(|_| write_atomic(&folder.join(format!("{stem}.json")), json.as_bytes())),
                Err(error) => return Outcome::Failed { error },
            }
        }
        Payload::Notice { subject, text } => write_atomic(
            &folder.join(format!("{stem}-failure-{}.txt", d.id)),
            format!("{subject}\n\n{text}\n").as_bytes(),
        ),
        _ => {
            return Outcome::Failed {
                error: "this payload is not for an outbox".into(),
            }
        }
    };
    match result {
        Ok(()) => Outcome::Sent {
            remote_id: folder.join(&stem).display().to_string(),
        },
        Err(e) => Outcome::Failed {
            error: format!("cannot write to the outbox {}: {e}", folder.display()),
        },
    }
}
