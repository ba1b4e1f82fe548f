//! The Lambda functions, called as the Lambda runtime calls them, over DynamoDB Local.
//!
//! HTTP functions: each fixture in `tests/fixtures/apigw-v2-*.json` is an API Gateway HTTP
//! API (payload 2.0) event, deserialised and handed to the router through `lambda_http`'s
//! own adapter (what `lambda_http::run` does with every event), and the answer is read back
//! as the API Gateway response JSON. The state is built by `credits_lambda` exactly as the
//! functions' `main` builds it, except for the store's client (DynamoDB Local) and a fixed
//! clock. Cycle rollover: `credits_lambda::rollover::handle` with an EventBridge event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use credits_api::{AppState, FixedClock};
use credits_lambda::Settings;
use credits_lambda::rollover::{self, RolloverReport};
use credits_store::{EntryQuery, Store};
use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use serde_json::{Value, json};

/// The key the fixtures' `authorization` headers carry; the functions know only its hash.
const ADMIN_KEY: &str = "lambda-fixture-admin-key-0123456789";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap()
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture with its account renamed (path, path parameter, body ids stay).
fn for_account(text: &str, account: &str) -> String {
    text.replace("/v1/accounts/acme", &format!("/v1/accounts/{account}"))
        .replace(
            "\"account\": \"acme\"",
            &format!("\"account\": \"{account}\""),
        )
}

/// One function's state, as `credits_lambda::app_state` builds it, over a fresh table of
/// DynamoDB Local.
struct Function {
    state: AppState,
    router: Router,
    store: Arc<DynamoStore>,
    clock: Arc<FixedClock>,
}

impl Function {
    async fn new() -> Function {
        let local = DynamoDbLocal::shared().unwrap();
        let client = local.client().await;
        let table = unique_table_name("lambda");
        create_table(&client, &table).await.unwrap();
        let settings = Settings::from_lookup(|name| match name {
            credits_lambda::TABLE_ENV => Some(table.clone()),
            credits_lambda::ADMIN_KEY_SHA256_ENV => {
                Some(hex_encode(&credits_api::auth::sha256(ADMIN_KEY)))
            }
            _ => None,
        })
        .unwrap();
        let store = Arc::new(DynamoStore::new(client, settings.table.clone()));
        let clock = Arc::new(FixedClock::new(t0()));
        let state = credits_lambda::state_over(
            store.clone(),
            credits_lambda::rate_library().unwrap(),
            &settings,
        )
        .with_clock(clock.clone());
        Function {
            router: credits_api::router(state.clone()),
            state,
            store,
            clock,
        }
    }

    /// Invokes the HTTP function with an API Gateway event, as `lambda_http::run` does.
    async fn invoke(&self, event: &str) -> Reply {
        let request: LambdaRequest = serde_json::from_str(event).unwrap();
        let mut context = Context::default();
        context.request_id = "test-invocation".to_string();
        let adapter = lambda_http::Adapter::from(self.router.clone());
        let response = adapter
            .oneshot(LambdaEvent::new(request, context))
            .await
            .unwrap();
        let raw = serde_json::to_value(response).unwrap();
        let body_text = raw["body"].as_str().unwrap_or_default().to_string();
        Reply {
            status: raw["statusCode"].as_u64().unwrap(),
            content_type: raw["headers"]["content-type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            body: serde_json::from_str(&body_text).unwrap_or(Value::Null),
            raw,
        }
    }

    async fn invoke_fixture(&self, name: &str) -> Reply {
        self.invoke(&fixture(name)).await
    }

    async fn entry_count(&self, account: &str) -> usize {
        let mut query = EntryQuery {
            account: account.to_string(),
            ..EntryQuery::default()
        };
        let mut count = 0;
        loop {
            let page = self.store.entries(&query).await.unwrap();
            count += page.entries.len();
            match page.next {
                Some(after) => query.after = Some(after),
                None => return count,
            }
        }
    }

    async fn rollover(&self, event: Value) -> RolloverReport {
        rollover::handle(
            LambdaEvent::new(event, Context::default()),
            &self.state,
            &rollover::LogOnly,
        )
        .await
        .unwrap()
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
struct Reply {
    status: u64,
    content_type: String,
    body: Value,
    /// The API Gateway response as the runtime would send it.
    raw: Value,
}

#[tokio::test]
async fn the_http_functions_answer_their_fixtures() {
    let function = Function::new().await;

    let created = function.invoke_fixture("apigw-v2-put-account.json").await;
    assert!(matches!(created.status, 200 | 201), "{created:#?}");
    let topped_up = function.invoke_fixture("apigw-v2-topup.json").await;
    assert_eq!(topped_up.status, 201, "{topped_up:#?}");

    let charged = function.invoke_fixture("apigw-v2-charge.json").await;
    assert_eq!(charged.status, 201, "{charged:#?}");
    assert_eq!(charged.content_type, "application/json");
    assert_eq!(charged.body["id"], "charge-1");
    assert_eq!(charged.body["charged"]["credit"], "90.00", "{charged:#?}");
    // The runtime's response: API Gateway v2 shape, text body.
    assert_eq!(charged.raw["isBase64Encoded"], false);
    assert!(charged.raw["body"].is_string());

    // Lambda or the client retries the same event: the original answer, nothing written.
    let entries = function.entry_count("acme").await;
    let replayed = function.invoke_fixture("apigw-v2-charge.json").await;
    assert_eq!(replayed.status, 201);
    assert_eq!(replayed.body, charged.body);
    assert_eq!(function.entry_count("acme").await, entries);

    // API Gateway may hand the body over base64-encoded.
    let base64 = function.invoke_fixture("apigw-v2-charge-base64.json").await;
    assert_eq!(base64.status, 201, "{base64:#?}");
    assert_eq!(base64.body["id"], "charge-2");

    let balance = function.invoke_fixture("apigw-v2-balance.json").await;
    assert_eq!(balance.status, 200, "{balance:#?}");
    assert!(
        balance.body["units"]["credit"]["available"].is_string(),
        "{balance:#?}"
    );

    let history = function.invoke_fixture("apigw-v2-entries.json").await;
    assert_eq!(history.status, 200, "{history:#?}");
    let listed = history.body["entries"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{history:#?}");
    assert!(listed.iter().all(|e| e["type"] == "charge"), "{history:#?}");

    let refunded = function.invoke_fixture("apigw-v2-refund.json").await;
    assert_eq!(refunded.status, 201, "{refunded:#?}");

    let key = function.invoke_fixture("apigw-v2-create-key.json").await;
    assert_eq!(key.status, 201, "{key:#?}");
    assert!(key.body["key"].is_string());
}

#[tokio::test]
async fn an_unauthenticated_event_is_a_problem_and_writes_nothing() {
    let function = Function::new().await;
    function.invoke_fixture("apigw-v2-put-account.json").await;
    let entries = function.entry_count("acme").await;
    let refused = function
        .invoke_fixture("apigw-v2-charge-unauthenticated.json")
        .await;
    assert_eq!(refused.status, 401, "{refused:#?}");
    assert_eq!(refused.content_type, "application/problem+json");
    assert_eq!(refused.body["type"], "unauthorized", "{refused:#?}");
    assert_eq!(function.entry_count("acme").await, entries);
}

#[tokio::test]
async fn rollover_run_twice_over_a_cycle_writes_its_entries_once() {
    let function = Function::new().await;
    let created = function.invoke_fixture("apigw-v2-put-account.json").await;
    assert!(matches!(created.status, 200 | 201), "{created:#?}");
    let before = function.entry_count("acme").await;

    // Nothing is due yet.
    let idle = function.rollover(json!({})).await;
    assert_eq!(
        (idle.listed, idle.advanced, idle.complete),
        (0, 0, true),
        "{idle:?}"
    );

    // 40 days on, the account (untouched since) is past its cycle end on 15 Feb.
    function.clock.set(t0() + Duration::days(40));
    let event: Value = serde_json::from_str(&fixture("eventbridge-rollover.json")).unwrap();
    let first = function.rollover(event.clone()).await;
    assert_eq!(
        (first.listed, first.advanced, first.failed),
        (1, 1, 0),
        "{first:?}"
    );
    assert!(first.entries > 0, "{first:?}");
    assert!(first.complete);
    let after_first = function.entry_count("acme").await;
    assert_eq!(
        after_first - before,
        usize::try_from(first.entries).unwrap()
    );

    // The schedule (or Lambda's retry of the event) runs it again: nothing more.
    let second = function.rollover(event).await;
    assert_eq!((second.advanced, second.entries), (0, 0), "{second:?}");
    assert_eq!(function.entry_count("acme").await, after_first);

    // The cycle's work is there once: the expiry of the first allocation and the second
    // allocation. (The ledger writes no statement entry: statements are computed from the
    // entries when asked for.)
    let page = function
        .store
        .entries(&EntryQuery {
            account: "acme".into(),
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    let types: Vec<&str> = page
        .entries
        .iter()
        .skip(before)
        .map(|e| e.entry_type.as_str())
        .collect();
    for expected in ["expiry", "grant"] {
        assert_eq!(
            types.iter().filter(|t| **t == expected).count(),
            1,
            "{expected} in {types:?}"
        );
    }

    // A request to the account now finds it up to date: no catch-up left to do.
    let balance = function.invoke_fixture("apigw-v2-balance.json").await;
    assert_eq!(balance.status, 200, "{balance:#?}");
}

#[tokio::test]
async fn rollover_splits_into_segments_and_resumes_from_a_cursor() {
    let function = Function::new().await;
    let accounts: Vec<String> = (0..6).map(|i| format!("acct-{i}")).collect();
    let put_account = fixture("apigw-v2-put-account.json");
    for account in &accounts {
        let created = function.invoke(&for_account(&put_account, account)).await;
        assert!(matches!(created.status, 200 | 201), "{created:#?}");
    }
    function.clock.set(t0() + Duration::days(40));

    // Two workers, one segment each: every account advanced once, by one of them.
    let mut advanced = 0;
    for segment in 0..2 {
        let report = function
            .rollover(json!({"detail": {"segment": segment, "segments": 2, "max_accounts": 2}}))
            .await;
        advanced += report.advanced;
        // Stopped after two accounts: continue from the cursor until the segment is done.
        let mut cursor = report.next_cursor.clone();
        let mut complete = report.complete;
        for _ in 0..10 {
            if complete {
                break;
            }
            let next = function
                .rollover(
                    json!({"segment": segment, "segments": 2, "cursor": cursor, "max_accounts": 2}),
                )
                .await;
            advanced += next.advanced;
            cursor = next.next_cursor.clone();
            complete = next.complete;
        }
        assert!(complete, "segment {segment} never completed");
    }
    assert_eq!(advanced, 6);

    // A whole walk afterwards finds nothing left to do.
    let again = function.rollover(json!({})).await;
    assert_eq!((again.listed, again.advanced), (0, 0), "{again:?}");
}
