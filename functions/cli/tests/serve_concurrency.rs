//! The real `credits serve` binary under concurrent load: 16 clients × 500 charges on one
//! account give exactly the expected balance, no 5xx and no doubled charge; then the same
//! with random retries of the same ids, which must answer the original responses.
//!
//! The server runs on a free loopback port over a temporary database, with a rate book made
//! for load (one feature at 1 credit a job, a plan without a request limit): every shipped
//! plan states a request limit, which would (rightly) answer 429 to a load test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Server, serve_command};

const ADMIN_KEY: &str = "serve-concurrency-admin-key-0123";

const LOAD_BOOK: &str = r#"# A book for load tests: one feature at 1 credit a job, one plan with no request limit.
book loadtest
title "Load test"
effective 2025-01-01
unit credit scale 2 round half-up

feature job "A job" {
  input units: count default 1 max 100
  base 1 credit each
  multiply by units
}

plan unlimited "Unlimited" {
  order top_up
  topup as top_up, expires never
}

expect job() = 1 credit
expect job(units: 3) = 3 credit
"#;

fn start_server(dir: &Path) -> Server {
    let rates = dir.join("rates");
    std::fs::create_dir_all(&rates).unwrap();
    std::fs::write(rates.join("loadtest.rates"), LOAD_BOOK).unwrap();
    Server::start(serve_command(&dir.join("credits.db"), &rates, ADMIN_KEY))
}

/// Stop the server with SIGTERM and expect a clean exit (graceful shutdown).
fn stop_server(mut server: Server) {
    let child = &mut server.child;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the server exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `credits bench --json` and return its report.
fn bench(url: &str, account: &str, clients: u32, charges: u32, retry_rate: f64) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_credits"))
        .args(["bench", "--url", url, "--key", ADMIN_KEY])
        .args([
            "--clients",
            &clients.to_string(),
            "--charges",
            &charges.to_string(),
        ])
        .args([
            "--account",
            account,
            "--plan",
            "loadtest/unlimited",
            "--feature",
            "job",
        ])
        .args([
            "--input",
            "units=1",
            "--retry-rate",
            &retry_rate.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stdout}\n{stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("bench report: {error}: {stdout}"))
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// Every charge entry of `account`, through the API's paging.
async fn charge_ids(client: &reqwest::Client, base: &str, account: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{base}/v1/accounts/{account}/entries?type=charge&limit=1000");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = get(client, &url).await;
        for entry in page["entries"].as_array().unwrap() {
            ids.push(entry["operation"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids
}

fn check_report(report: &Value, expected_charges: u64) {
    assert_eq!(report["charged"], expected_charges, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["server_errors"], 0, "{report:#}");
    assert_eq!(report["replay_mismatches"], 0, "{report:#}");
    assert_eq!(report["rate_limited"], 0, "{report:#}");
    assert_eq!(report["balance_ok"], true, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_charge_one_account_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let url = server.url.clone();
    let clients = 16;
    let charges = 500;
    let total = u64::from(clients) * u64::from(charges);
    let http = reqwest::Client::new();

    // 1. Plain load.
    let started = Instant::now();
    let report = tokio::task::spawn_blocking({
        let url = url.clone();
        move || bench(&url, "load-plain", clients, charges, 0.0)
    })
    .await
    .unwrap();
    eprintln!(
        "plain: {total} charges in {:.1?}: {report}",
        started.elapsed()
    );
    check_report(&report, total);
    let ids = charge_ids(&http, &url, "load-plain").await;
    assert_eq!(ids.len() as u64, total);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a charge id was written twice");
    let balance = get(&http, &format!("{url}/v1/accounts/load-plain/balance")).await;
    assert_eq!(
        balance["units"]["credit"]["available"],
        report["balance_expected"]
    );

    // 2. The same with retries of the same ids at random.
    let started = Instant::now();
    let report = tokio::task::spawn_blocking({
        let url = url.clone();
        move || bench(&url, "load-retries", clients, charges, 0.25)
    })
    .await
    .unwrap();
    eprintln!(
        "retries: {total} charges in {:.1?}: {report}",
        started.elapsed()
    );
    check_report(&report, total);
    assert!(report["replays"].as_u64().unwrap() > 0, "{report:#}");
    let ids = charge_ids(&http, &url, "load-retries").await;
    assert_eq!(ids.len() as u64, total, "replays must not add charges");
    let balance = get(&http, &format!("{url}/v1/accounts/load-retries/balance")).await;
    assert_eq!(
        balance["units"]["credit"]["available"],
        report["balance_expected"]
    );

    stop_server(server);
}
