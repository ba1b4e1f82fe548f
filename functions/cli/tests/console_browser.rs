//! The console's rate playground in a real headless Chromium (Debian's `chromium`, driven by
//! Playwright for Python from the repository's `.venv`; both installed by
//! `scripts/install-tools.sh`): `tests/console/playground.py` types into the page served by
//! `credits serve`, and this test checks what it saw against the rate language and the API.
//! It also takes `docs/console/playground.png`.
//!
//! `cargo test -p credits --test console_browser`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use common::{Server, serve_command};

const ADMIN_KEY: &str = "console-browser-admin-key-0123";
/// The browser script's whole run is bounded (it takes a few seconds).
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

/// Kills the child if the test panics before it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_server(db: &Path) -> Server {
    let mut command = serve_command(db, &workspace().join("rates"), ADMIN_KEY);
    command.args(["--rollover-interval", "0"]);
    Server::start(command)
}

/// The venv's Python with Playwright, and the system Chromium: both or a clear failure.
fn python() -> PathBuf {
    let python = std::env::var_os("CREDITS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        python.exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs `{}` (with playwright) and /usr/bin/chromium: run scripts/install-tools.sh",
        python.display()
    );
    python
}

/// Runs a browser script of `tests/console/` with `arguments`; answers what it printed (one
/// JSON object).
fn run_script(script: &str, arguments: &[String]) -> Value {
    let mut child = Killed(
        Command::new(python())
            .arg(workspace().join("tests/console").join(script))
            .args(arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < SCRIPT_LIMIT,
            "the browser script ran longer than {SCRIPT_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap();
    assert!(
        status.success(),
        "the browser script failed ({status}): {text}"
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|error| panic!("{error}: {text}"))
}

async fn post(client: &reqwest::Client, url: &str, body: Value) -> Value {
    send(client, reqwest::Method::POST, url, body).await
}

async fn send(client: &reqwest::Client, method: reqwest::Method, url: &str, body: Value) -> Value {
    let request = client.request(method.clone(), url);
    let request = if method == reqwest::Method::GET {
        request
    } else {
        request.json(&body)
    };
    let response = request.bearer_auth(ADMIN_KEY).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_checks_quotes_and_compares_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("credits.db"));
    let url = server.url.clone();
    let screenshots = workspace().join("docs/console");
    std::fs::create_dir_all(&screenshots).unwrap();

    let started = Instant::now();
    let arguments = vec![url.clone(), screenshots.display().to_string()];
    let seen = tokio::task::spawn_blocking(move || run_script("playground.py", &arguments))
        .await
        .unwrap();
    // Reported, not asserted (BENCHMARKS.md, "Console").
    eprintln!(
        "browser script: {:?}; keystroke → diagnostic: {} ms (the error), {} (8 keystrokes)",
        started.elapsed(),
        seen["keystroke_to_diagnostic_ms"],
        seen["keystroke_timings_ms"]
    );
    assert_eq!(seen["failed_requests"], json!([]), "{seen}");

    // The seed book opens clean, its examples passing.
    assert!(
        seen["initial_status"]
            .as_str()
            .unwrap()
            .contains("no errors"),
        "{seen}"
    );
    let examples = seen["examples_summary"].as_str().unwrap();
    let (passing, total) = examples
        .trim_start_matches("— ")
        .trim_end_matches(" pass")
        .split_once(" of ")
        .unwrap();
    assert_eq!(passing, total, "{examples}");

    // The typed error shows at its line with the text of `credits rates check`.
    let source = seen["source_with_error"].as_str().unwrap();
    let want = credits_dsl::compile_source("invideo.rates", source).unwrap_err();
    let want = &want.errors()[0];
    let shown = &seen["diagnostics"][0];
    assert_eq!(shown["line"], 14, "{seen}");
    assert_eq!(shown["column"], 1, "{seen}");
    assert_eq!(shown["message"], want.to_string(), "{seen}");
    let help = want.help().map(|help| help.to_string()).unwrap_or_default();
    assert_eq!(shown["help"], format!("help: {help}"), "{seen}");
    assert!(
        !seen["marked"].as_array().unwrap().is_empty(),
        "no text is marked: {seen}"
    );
    assert!(
        seen["status_with_error"]
            .as_str()
            .unwrap()
            .contains("1 error"),
        "{seen}"
    );

    // Deleting it clears it.
    assert!(
        seen["status_fixed"].as_str().unwrap().contains("no errors"),
        "{seen}"
    );
    assert_eq!(seen["diagnostics_fixed"], 0);

    // The quote form's answer is the server's.
    let client = reqwest::Client::new();
    let account = format!("{url}/v1/accounts/console-quote");
    let response = client
        .put(&account)
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"plan": "invideo/plus"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let quote = post(
        &client,
        &format!("{account}/quotes"),
        json!({"feature": "generative_video", "inputs": {"duration": "3m30s", "model": "pro"}}),
    )
    .await;
    // Equal by value: the API writes the unit's scale (`70.00`), the CLI and the console
    // the shortest form (`70`).
    let amounts = |value: &Value| -> Vec<(String, Decimal)> {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(unit, amount)| (unit.clone(), amount.as_str().unwrap().parse().unwrap()))
            .collect()
    };
    assert_eq!(
        amounts(&seen["quote_amounts"]),
        amounts(&quote["amounts"]),
        "{seen}\n{quote}"
    );
    assert_eq!(seen["quote_lines"], quote["lines"], "{seen}\n{quote}");
    assert_eq!(
        seen["quote_labels"],
        json!(["duration", "model", "actor", "ad"]),
        "{seen}"
    );

    // A price change is listed against the server's version; the examples catch it.
    assert!(seen["compare_rows"].as_u64().unwrap() > 0, "{seen}");
    assert!(
        seen["compare_first"].as_str().unwrap().contains('+'),
        "{seen}"
    );
    assert!(
        !seen["examples_after_change"]
            .as_str()
            .unwrap()
            .contains(&format!("{total} of {total}")),
        "{seen}"
    );

    assert_eq!(seen["overflow_at_200_percent_px"], 0, "{seen}");

    // The share link opens the same file.
    assert_eq!(seen["shared_round_trip"], true, "{seen}");
}

/// Available per unit, from a balance response.
fn available(balance: &Value) -> Value {
    let units = balance["units"].as_object().unwrap();
    Value::Object(
        units
            .iter()
            .map(|(unit, body)| (unit.clone(), body["available"].clone()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_shows_a_charge_and_refunds_it_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("credits.db"));
    let url = server.url.clone();
    let screenshots = workspace().join("docs/console");
    std::fs::create_dir_all(&screenshots).unwrap();
    let client = reqwest::Client::new();
    let account = format!("{url}/v1/accounts/console-explorer");
    send(
        &client,
        reqwest::Method::PUT,
        &account,
        json!({"plan": "ai-engine/standard"}),
    )
    .await;
    post(
        &client,
        &format!("{account}/topups"),
        json!({"id": "package-1", "package": "standard"}),
    )
    .await;
    post(
        &client,
        &format!("{account}/charges"),
        json!({"id": "charge-1", "feature": "data_processing", "inputs": {"data": "20 GB"}}),
    )
    .await;
    // A second charge, not refunded, keeps a bar in the spend chart of the screenshot.
    post(
        &client,
        &format!("{account}/charges"),
        json!({"id": "charge-2", "feature": "inference", "inputs": {"requests": 2000}}),
    )
    .await;
    let balance_before = send(
        &client,
        reqwest::Method::GET,
        &format!("{account}/balance"),
        Value::Null,
    )
    .await;

    let started = Instant::now();
    let arguments = vec![
        url.clone(),
        ADMIN_KEY.to_owned(),
        "console-explorer".to_owned(),
        "charge-1".to_owned(),
        "duplicate".to_owned(),
        screenshots.display().to_string(),
    ];
    let seen = tokio::task::spawn_blocking(move || run_script("explorer.py", &arguments))
        .await
        .unwrap();
    eprintln!("explorer script: {:?}", started.elapsed());

    assert_eq!(seen["playground_errors_under_csp"], json!([]), "{seen}");

    // An API error is shown as its detail, never as JSON.
    let problem = seen["problem"].as_str().unwrap();
    assert!(!problem.is_empty() && !problem.contains('{'), "{seen}");

    // The charge made through the API is in the entries and the balance.
    let before = seen["entries_before"].as_array().unwrap();
    assert!(
        before
            .iter()
            .any(|row| row["type"] == "charge" && row["operation"] == "charge-1"),
        "{seen}"
    );
    assert_eq!(seen["balance"], available(&balance_before), "{seen}");
    assert!(seen["buckets"].as_u64().unwrap() > 0, "{seen}");
    // The spend chart's table: one day, each charge's feature and amount (4 credit for 20 GB).
    let spend = seen["spend_before"].as_array().unwrap();
    assert_eq!(spend.len(), 2, "{seen}");
    assert_eq!(spend[0][2], "inference (credit)", "{seen}");
    assert_eq!(spend[0][1], "data_processing (credit)", "{seen}");
    assert_eq!(spend[1][1], "4", "{seen}");

    // The CSV export holds the charge.
    assert_eq!(seen["csv_name"], "console-explorer-entries.csv", "{seen}");
    let csv = seen["csv"].as_str().unwrap();
    assert!(
        csv.lines().count() >= 4 && csv.contains("charge-1"),
        "{csv}"
    );

    // The refund made in the explorer is an entry, in the page and in the API.
    let entries = send(
        &client,
        reqwest::Method::GET,
        &format!("{account}/entries?type=refund"),
        Value::Null,
    )
    .await;
    let refunds = entries["entries"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{entries}");
    assert!(
        seen["entries_after"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["type"] == "refund"),
        "{seen}"
    );
    let balance_after = send(
        &client,
        reqwest::Method::GET,
        &format!("{account}/balance"),
        Value::Null,
    )
    .await;
    assert_eq!(seen["balance_after"], available(&balance_after), "{seen}");
    assert_ne!(
        seen["balance_after"], seen["balance"],
        "the refund gave credits back: {seen}"
    );
    assert_eq!(
        seen["spend_after"][1][1], "0",
        "the refund is taken off the spend: {seen}"
    );
    assert!(
        seen["charges_only"]
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["type"] == "charge"),
        "{seen}"
    );
}
