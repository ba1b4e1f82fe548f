//! `credits serve` runs the cycle-rollover walk itself: an idle account with something due
//! is advanced by the timer, with no request to it.
//!
//! `cargo test -p credits --test serve_rollover`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_KEY: &str = "serve-rollover-admin-key-0123";

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

fn start_server(db: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credits"))
        .args(["serve", "--addr", "127.0.0.1:0", "--rollover-interval", "1"])
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

async fn send(client: &reqwest::Client, method: reqwest::Method, url: &str, body: Value) -> Value {
    let response = client
        .request(method, url)
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

/// The entries the walk wrote on `account`, and the account's version, read from the
/// database file itself: an HTTP read would bring the account up to date on its own.
fn walked(db: &Path, account: &str) -> (i64, i64) {
    let connection =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let entries: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM entries WHERE account = ?1 AND operation LIKE 'rollover:%'",
            [account],
            |row| row.get(0),
        )
        .unwrap();
    let version: i64 = connection
        .query_row(
            "SELECT version FROM accounts WHERE account = ?1",
            [account],
            |row| row.get(0),
        )
        .unwrap();
    (entries, version)
}

/// A hold that expires while nobody touches its account: the server's own walk releases it
/// and commits its entry, with no request to the account.
#[tokio::test]
async fn the_timer_walk_advances_an_idle_due_account_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credits.db");
    let server = start_server(&db);
    let client = reqwest::Client::new();
    let account = format!("{}/v1/accounts/idle", server.url);
    send(
        &client,
        reqwest::Method::PUT,
        &account,
        json!({ "plan": "ai-engine/standard" }),
    )
    .await;
    send(
        &client,
        reqwest::Method::POST,
        &format!("{account}/topups"),
        json!({ "id": "pkg-1", "package": "standard" }),
    )
    .await;
    send(
        &client,
        reqwest::Method::POST,
        &format!("{account}/holds"),
        json!({
            "id": "hold-1",
            "feature": "data_processing",
            "inputs": { "data": "1 GB" },
            "ttl_seconds": 1
        }),
    )
    .await;
    let (before, version_before) = walked(&db, "idle");
    assert_eq!(before, 0, "nothing was due yet");

    // Bounded in count and time: the hold expires after 1 s and the walk runs every second.
    let started = Instant::now();
    let mut after = (0, version_before);
    for _ in 0..300 {
        after = walked(&db, "idle");
        if after.0 > 0 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        after.0 > 0,
        "the walk wrote nothing on the idle account: {after:?}"
    );
    assert!(after.1 > version_before, "the walk committed: {after:?}");
    drop(server);
}
