//! A real SMTP server (aiosmtpd, `scripts/smtp-server`) started per test: STARTTLS or
//! implicit TLS with a throwaway CA, AUTH, and recipients that can be made to fail.

use crate::helpers::repo;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    #[allow(dead_code)] // for implicit-TLS tests
    pub tls_port: Option<u16>,
    /// The CA certificate to trust (PEM).
    pub ca: PathBuf,
    pub maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received message: the raw bytes and the envelope.
pub struct Received {
    pub raw: Vec<u8>,
    pub rcpt_tos: Vec<String>,
    pub auth_user: Option<String>,
}

impl SmtpServer {
    pub fn start(args: &[&str]) -> SmtpServer {
        let install = Command::new(repo().join("scripts/smtp-install"))
            .output()
            .expect("scripts/smtp-install runs");
        assert!(
            install.status.success(),
            "smtp-install: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let python = String::from_utf8(install.stdout).unwrap().trim().to_string();
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let ready = dir.path().join("ready.json");
        let child = Command::new(python)
            .arg(repo().join("scripts/smtp-server"))
            .args([
                "--dir",
                maildir.to_str().unwrap(),
                "--port",
                "0",
                "--ready-file",
                ready.to_str().unwrap(),
            ])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("the SMTP server starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the SMTP server did not get ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        SmtpServer {
            child,
            port: info["port"].as_u64().unwrap() as u16,
            tls_port: info["tls_port"].as_u64().map(|p| p as u16),
            ca: PathBuf::from(info["cert"].as_str().unwrap()),
            maildir,
            _dir: dir,
        }
    }

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(&self.maildir) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "eml") && !p.file_name().unwrap().to_string_lossy().starts_with('.')
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let meta: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(eml.with_extension("json")).unwrap()).unwrap();
                Received {
                    raw: std::fs::read(&eml).unwrap(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                    auth_user: meta["auth_user"].as_str().map(str::to_string),
                }
            })
            .collect()
    }
}
