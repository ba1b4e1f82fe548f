//! The account snapshot stays bounded through the real router, on the SQLite store and on
//! the DynamoDB store (DynamoDB Local, a fresh table per test): a request that would outgrow
//! a limit is a 409 `limit-reached` naming it, nothing is written, and the account keeps
//! working. The limits are listed in `docs/ledger-limits.md`.
//!
//! Each case prints the largest snapshot it stored, as the store holds it (`--nocapture`):
//! on SQLite the account row's text (its id and its `state` JSON), on DynamoDB the account
//! item's size as DynamoDB counts it (attribute names and values).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::Duration;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use credits_api::RateLibrary;
use credits_ledger::limits::{MAX_COMMAND_BUCKETS, MAX_HOLDS};
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::sim::env::{ADMIN_KEY, Deployment, entry_count, start_time};
use credits_tests::sim::http::{ApiRequest, Reply, send};

const BOOK: &str = r#"book lim
title "Limits"
effective 2025-01-01
time_zone "UTC"

unit credit scale 0 round up

feature gen "Generate" {
  input n: count min 1
  base 1 credit each
  multiply by n
}

plan basic "Basic" {
  order free, top_up
  topup as top_up, expires never
}

plan daily "Daily" {
  grant 10 credit daily as free, expires never
  order free, top_up
  topup as top_up, expires never
}
"#;

/// Top-ups with distinct expiries sent, the bucket limit far below.
const TOP_UPS: usize = 1_001;

/// Where the account rows or items live, and how to weigh the stored snapshot.
enum Backing {
    Sqlite,
    Dynamo {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

struct Case {
    name: &'static str,
    deployment: Deployment,
    store: Arc<dyn Store>,
    backing: Backing,
    /// The largest stored snapshot seen, in bytes.
    largest_bytes: usize,
}

impl Case {
    fn over(name: &'static str, store: Arc<dyn Store>, backing: Backing) -> Case {
        let library = RateLibrary::from_sources(vec![("lim.rates".to_owned(), BOOK.to_owned())])
            .unwrap_or_else(|diagnostics| panic!("the test book does not check: {diagnostics:?}"));
        let deployment = Deployment::with_books(
            Arc::clone(&store),
            Arc::new(library),
            1,
            start_time().unwrap(),
        )
        .unwrap();
        Case {
            name,
            deployment,
            store,
            backing,
            largest_bytes: 0,
        }
    }

    fn sqlite() -> Case {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        Case::over("sqlite", store, Backing::Sqlite)
    }

    async fn dynamodb() -> Case {
        let local =
            DynamoDbLocal::shared().unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
        let client = local.client().await;
        let table = unique_table_name("limits");
        credits_store_dynamodb::create_table(&client, &table)
            .await
            .unwrap_or_else(|e| panic!("cannot create `{table}`: {e}\n{}", local.recent_output()));
        let store: Arc<dyn Store> = Arc::new(credits_store_dynamodb::DynamoStore::new(
            client.clone(),
            table.clone(),
        ));
        Case::over("dynamodb", store, Backing::Dynamo { client, table })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = ApiRequest::new(method, path, Some(ADMIN_KEY));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(self.deployment.router().unwrap(), &request)
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn account(&self, account: &str, plan: &str, top_up: Option<&str>) {
        let reply = self
            .send(
                Method::PUT,
                &format!("/v1/accounts/{account}"),
                Some(json!({ "plan": plan })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
        if let Some(amount) = top_up {
            let reply = self
                .post(
                    &format!("/v1/accounts/{account}/topups"),
                    json!({ "id": "setup", "amount": amount }),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
        }
    }

    async fn charge(&self, account: &str, id: &str, n: i64) -> Reply {
        self.post(
            &format!("/v1/accounts/{account}/charges"),
            json!({ "id": id, "feature": "gen", "inputs": { "n": n } }),
        )
        .await
    }

    async fn available(&self, account: &str) -> String {
        let reply = self
            .send(
                Method::GET,
                &format!("/v1/accounts/{account}/balance"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.short());
        reply.json["units"]["credit"]["available"]
            .as_str()
            .unwrap_or_else(|| panic!("no available credit: {}", reply.short()))
            .to_owned()
    }

    /// The account's version and entry count, straight from the store.
    async fn written(&self, account: &str) -> (u64, usize) {
        let record = self.store.load(account).await.unwrap().expect("account");
        let entries = entry_count(self.store.as_ref(), account).await.unwrap();
        (record.version, entries)
    }

    /// The stored snapshot: its bucket count and its JSON's size in bytes; the size as
    /// stored is kept in `largest_bytes`.
    async fn snapshot(&mut self, account: &str) -> (usize, usize) {
        let record = self.store.load(account).await.unwrap().expect("account");
        let buckets = record.state["buckets"].as_array().expect("buckets").len();
        let bytes = serde_json::to_vec(&record.state).unwrap().len();
        let stored = match &self.backing {
            // The store writes the snapshot as this JSON text, next to the account id.
            Backing::Sqlite => account.len() + bytes,
            Backing::Dynamo { client, table } => dynamodb_item_bytes(client, table, account).await,
        };
        self.largest_bytes = self.largest_bytes.max(stored);
        (buckets, bytes)
    }

    fn report(&self, test: &str) {
        println!(
            "{test} on {}: largest stored snapshot {} bytes",
            self.name, self.largest_bytes
        );
    }
}

/// The account item's size by DynamoDB's rule (attribute names plus values; numbers by
/// their digits, an upper bound of DynamoDB's encoding).
async fn dynamodb_item_bytes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    account: &str,
) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = client
        .get_item()
        .table_name(table)
        .key(
            credits_store_dynamodb::PARTITION_KEY,
            AttributeValue::S(format!("A#{account}")),
        )
        .key(
            credits_store_dynamodb::SORT_KEY,
            AttributeValue::S("ACCOUNT".to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no item for account `{account}` in `{table}`"));
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
                    AttributeValue::B(blob) => blob.as_ref().len(),
                    AttributeValue::Null(_) | AttributeValue::Bool(_) => 1,
                    other => panic!("unexpected attribute `{name}`: {other:?}"),
                }
        })
        .sum()
}

#[track_caller]
fn assert_limit(reply: &Reply, limit: &str, max: usize) {
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.short());
    reply.check_problem().unwrap();
    assert_eq!(
        reply.problem_type(),
        Some("limit-reached"),
        "{}",
        reply.short()
    );
    assert_eq!(reply.json["limit"], limit, "{}", reply.short());
    assert_eq!(reply.json["max"], max, "{}", reply.short());
}

async fn top_ups_with_distinct_expiries(mut case: Case) {
    case.account("a", "lim/basic", None).await;
    let mut accepted = 0;
    let mut refused = 0;
    for index in 0..TOP_UPS {
        case.deployment.clock.advance(Duration::seconds(1));
        let minutes = i64::try_from(index).unwrap();
        let expires_at = start_time().unwrap() + Duration::days(100) + Duration::minutes(minutes);
        let before = if accepted == MAX_COMMAND_BUCKETS {
            Some(case.written("a").await)
        } else {
            None
        };
        let reply = case
            .post(
                "/v1/accounts/a/topups",
                json!({ "id": format!("t{index}"), "amount": "10", "expires_at": expires_at }),
            )
            .await;
        if reply.status == StatusCode::CREATED {
            assert_eq!(
                refused,
                0,
                "a top-up was accepted after a refusal: {}",
                reply.short()
            );
            accepted += 1;
            case.snapshot("a").await;
        } else {
            assert_limit(&reply, "buckets", MAX_COMMAND_BUCKETS);
            refused += 1;
            assert_eq!(Some(case.written("a").await), before, "a refusal wrote");
        }
    }
    assert_eq!(accepted, MAX_COMMAND_BUCKETS);
    assert_eq!(refused, TOP_UPS - MAX_COMMAND_BUCKETS);
    let (buckets, bytes) = case.snapshot("a").await;
    assert_eq!(buckets, MAX_COMMAND_BUCKETS);
    assert!(bytes < 64 * 1024, "{bytes} bytes");
    // Refused top-ups wrote nothing; the account still charges and reads.
    let reply = case.charge("a", "after", 15).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
    let expected = i64::try_from(MAX_COMMAND_BUCKETS).unwrap() * 10 - 15;
    assert_eq!(case.available("a").await, expected.to_string());
    case.report("top-ups with distinct expiries");
}

async fn holds_to_the_limit(mut case: Case) {
    case.account("a", "lim/basic", Some("1000000")).await;
    let hold = |id: String| json!({ "id": id, "feature": "gen", "inputs": { "n": 1 }, "ttl_seconds": 3600 });
    for index in 0..MAX_HOLDS {
        let reply = case
            .post("/v1/accounts/a/holds", hold(format!("h{index}")))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "hold {index}: {}",
            reply.short()
        );
    }
    case.snapshot("a").await;
    let before = case.written("a").await;
    let reply = case
        .post("/v1/accounts/a/holds", hold("one-more".into()))
        .await;
    assert_limit(&reply, "holds", MAX_HOLDS);
    assert_eq!(case.written("a").await, before, "a refusal wrote");
    let reply = case
        .post("/v1/accounts/a/holds/h0/release", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.short());
    let reply = case
        .post("/v1/accounts/a/holds", hold("one-more".into()))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
    let (_, bytes) = case.snapshot("a").await;
    assert!(bytes < 100 * 1024, "{bytes} bytes");
    case.report("holds to the limit");
}

async fn three_years_of_daily_grants(mut case: Case) {
    case.account("a", "lim/daily", None).await;
    let mut charged = 0;
    for month in 0..36 {
        case.deployment.clock.advance(Duration::days(30));
        let reply = case.charge("a", &format!("c{month}"), 7).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "month {month}: {}",
            reply.short()
        );
        charged += 7;
        let (buckets, bytes) = case.snapshot("a").await;
        assert_eq!(buckets, 1, "month {month}");
        assert!(bytes < 4 * 1024, "month {month}: {bytes} bytes");
    }
    // A grant a day from the first day (10:00) to the last (36 × 30 days later).
    let days = 36 * 30 + 1;
    assert_eq!(case.available("a").await, (10 * days - charged).to_string());
    let reply = case.send(Method::GET, "/v1/accounts/a/balance", None).await;
    assert_eq!(
        reply.json["units"]["credit"]["buckets"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{}",
        reply.short()
    );
    case.report("three years of daily grants");
}

#[tokio::test]
async fn top_ups_with_distinct_expiries_reach_the_bucket_limit_on_sqlite() {
    top_ups_with_distinct_expiries(Case::sqlite()).await;
}

#[tokio::test]
async fn top_ups_with_distinct_expiries_reach_the_bucket_limit_on_dynamodb_local() {
    top_ups_with_distinct_expiries(Case::dynamodb().await).await;
}

#[tokio::test]
async fn holds_reach_the_hold_limit_and_a_release_makes_room_on_sqlite() {
    holds_to_the_limit(Case::sqlite()).await;
}

#[tokio::test]
async fn holds_reach_the_hold_limit_and_a_release_makes_room_on_dynamodb_local() {
    holds_to_the_limit(Case::dynamodb().await).await;
}

#[tokio::test]
async fn three_years_of_daily_never_expiring_grants_keep_one_bucket_on_sqlite() {
    three_years_of_daily_grants(Case::sqlite()).await;
}

#[tokio::test]
async fn three_years_of_daily_never_expiring_grants_keep_one_bucket_on_dynamodb_local() {
    three_years_of_daily_grants(Case::dynamodb().await).await;
}
