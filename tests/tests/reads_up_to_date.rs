//! Reads are up to date (`docs/reads.md`): an idle account's history, CSV export and
//! statements show everything due up to now, with no write by the client in between, and
//! an ended cycle's statement is byte-identical on every read, before and after later
//! activity. Through the real router, over SQLite and over DynamoDB Local.
//!
//! `cargo test -p credits-tests --test reads_up_to_date`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use chrono::{DateTime, Utc};
use credits_api::{ApiConfig, AppState, FixedClock};
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::scenarios::transport::library;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_KEY: &str = "reads-up-to-date-admin-key-0123";

struct Harness {
    router: Router,
    clock: Arc<FixedClock>,
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

impl Harness {
    fn over(store: Arc<dyn Store>) -> Harness {
        let clock = Arc::new(FixedClock::new(instant("2026-01-20T15:00:00Z")));
        let config = ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap();
        let state = AppState::new(store, Arc::new(library().unwrap()))
            .with_clock(clock.clone())
            .with_config(config);
        Harness {
            router: credits_api::router(state),
            clock,
        }
    }

    /// Status and body text.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> String {
        let (status, text) = self.send(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        text
    }

    async fn json(&self, path: &str) -> Value {
        serde_json::from_str(&self.ok(Method::GET, path, None).await).unwrap()
    }

    /// An account on a plan whose monthly allocation of 1000 credits expires at the end of
    /// the calendar month, with one charge spent from it; answers what is left of it.
    async fn spent_account(&self, account: &str) -> Decimal {
        let path = format!("/v1/accounts/{account}");
        self.ok(
            Method::PUT,
            &path,
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
        self.ok(
            Method::POST,
            &format!("{path}/charges"),
            Some(json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "50 GB" } })),
        )
        .await;
        let charges = self.json(&format!("{path}/entries?type=charge")).await;
        let spent: Decimal = charges["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| Decimal::from_str(entry["amount"].as_str().unwrap()).unwrap())
            .sum();
        assert!(spent < Decimal::ZERO, "{charges}");
        Decimal::from(1000) + spent
    }
}

fn minor(amount: Decimal) -> String {
    format!("{:.2}", amount)
}

/// The one expiry entry of `entries` (JSON), as (amount, at).
fn expiries(entries: &Value) -> Vec<(String, String)> {
    entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["amount"].as_str().unwrap().to_owned(),
                entry["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn reads_are_up_to_date(harness: &Harness) {
    let by_statement = harness.spent_account("statement-first").await;
    let by_entries = harness.spent_account("entries-first").await;
    let by_csv = harness.spent_account("csv-first").await;
    assert!(by_statement > Decimal::ZERO);

    // January ends while nobody touches the accounts; nothing walks them.
    harness.clock.set(instant("2026-02-03T09:00:00Z"));
    let month_end = "2026-02-01T00:00:00Z";

    // The first read after the cycle ended is the statement: final at once.
    let statement_path = "/v1/accounts/statement-first/statements/2026-01";
    let first = harness.ok(Method::GET, statement_path, None).await;
    let statement: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(statement["closed"], json!(true), "{statement}");
    let credit = &statement["units"]["credit"];
    assert_eq!(credit["expired"], json!(minor(by_statement)), "{statement}");
    assert_eq!(credit["closing"], json!("0.00"), "{statement}");

    // The first read is the history: the expiry is there, with the right amount.
    let entries = harness
        .json("/v1/accounts/entries-first/entries?type=expiry")
        .await;
    assert_eq!(
        expiries(&entries),
        vec![(minor(-by_entries), month_end.to_owned())],
        "{entries}"
    );

    // The first read is the CSV export.
    let csv = harness
        .ok(
            Method::GET,
            "/v1/accounts/csv-first/entries?type=expiry&format=csv",
            None,
        )
        .await;
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].contains(",expiry,") && rows[0].contains(&format!(",{},", minor(-by_csv))),
        "{csv}"
    );

    // Later activity leaves the ended cycle's statement byte-identical.
    harness
        .ok(
            Method::POST,
            "/v1/accounts/statement-first/charges",
            Some(json!({ "id": "dp-2", "feature": "data_processing", "inputs": { "data": "50 GB" } })),
        )
        .await;
    assert_eq!(harness.ok(Method::GET, statement_path, None).await, first);
    harness
        .ok(
            Method::PUT,
            "/v1/accounts/statement-first",
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
    harness.clock.set(instant("2026-03-05T09:00:00Z"));
    assert_eq!(harness.ok(Method::GET, statement_path, None).await, first);
    // The expiry was written once, whichever read came first.
    let again = harness
        .json("/v1/accounts/statement-first/entries?type=expiry&to=2026-02-02")
        .await;
    assert_eq!(
        expiries(&again),
        vec![(minor(-by_statement), month_end.to_owned())],
        "{again}"
    );
}

#[tokio::test]
async fn an_idle_account_reads_up_to_date_over_sqlite() {
    let harness = Harness::over(Arc::new(SqliteStore::in_memory().unwrap()));
    reads_are_up_to_date(&harness).await;
}

#[tokio::test]
async fn an_idle_account_reads_up_to_date_over_dynamodb_local() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|error| panic!("{error}"));
    let client = local.client().await;
    let table = unique_table_name("reads");
    create_table(&client, &table).await.unwrap();
    let harness = Harness::over(Arc::new(DynamoStore::new(client, table)));
    reads_are_up_to_date(&harness).await;
}
