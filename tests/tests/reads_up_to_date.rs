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

use credits_store::Store;
use credits_tests::router::{RouterClient, dynamodb_local_store, instant, sqlite_store};
use http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

struct Harness {
    client: RouterClient,
}

impl std::ops::Deref for Harness {
    type Target = RouterClient;
    fn deref(&self) -> &RouterClient {
        &self.client
    }
}

impl Harness {
    fn over(store: Arc<dyn Store>) -> Harness {
        Harness {
            client: RouterClient::over(store, instant("2026-01-20T15:00:00Z")),
        }
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
    let harness = Harness::over(sqlite_store());
    reads_are_up_to_date(&harness).await;
}

#[tokio::test]
async fn an_idle_account_reads_up_to_date_over_dynamodb_local() {
    let harness = Harness::over(dynamodb_local_store("reads").await);
    reads_are_up_to_date(&harness).await;
}
