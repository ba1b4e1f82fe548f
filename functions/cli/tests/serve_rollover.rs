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

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Server, rates_dir, serve_command};

const ADMIN_KEY: &str = "serve-rollover-admin-key-0123";

fn start_server(db: &Path) -> Server {
    let mut command = serve_command(db, &rates_dir(), ADMIN_KEY);
    command.args(["--rollover-interval", "1"]);
    Server::start(command)
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
