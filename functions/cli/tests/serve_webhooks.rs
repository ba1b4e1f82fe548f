//! `credits serve` over SQLite serves the webhook routes over the database file's webhook
//! tables (kept across a restart), refusing loopback endpoints unless
//! `--webhook-allow-loopback` (`docs/webhooks.md`).
//!
//! `cargo test -p credits --test serve_webhooks`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ADMIN_KEY: &str = "serve-webhooks-admin-key-0123";

/// Kills the server if the test panics before it stops it.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rates")
}

fn start_server(db: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credits"))
        .args(["serve", "--addr", "127.0.0.1:0", "--rollover-interval", "0"])
        .args(extra)
        .arg("--db")
        .arg(db)
        .arg("--rates")
        .arg(rates_dir())
        .env("CREDITS_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("credits serve listening on ") {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not report its address");
    Server { child, url }
}

async fn register(client: &reqwest::Client, server: &Server, url: &str) -> (u16, Value) {
    let response = client
        .post(format!("{}/v1/webhooks", server.url))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "url": url, "event_types": ["balance.low"] }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn serve_registers_webhooks_in_its_database_and_refuses_loopback_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credits.db");
    let client = reqwest::Client::new();

    let strict = start_server(&db, &[]);
    let (status, problem) = register(&client, &strict, "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("loopback"),
        "{problem}"
    );
    let (status, created) = register(&client, &strict, "https://platform.example/hook").await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    drop(strict);

    let open = start_server(&db, &["--webhook-allow-loopback"]);
    let (status, local) = register(&client, &open, "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 201, "{local}");
    let listed: Value = client
        .get(format!("{}/v1/webhooks", open.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls: Vec<&str> = listed["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        ["https://platform.example/hook", "http://127.0.0.1:9/hook"]
    );
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
}
