//! A plan's caps through the real router, over SQLite and over DynamoDB Local
//! (`docs/plan-lifecycle.md`): a charge beyond the day's spend is a 429
//! `spend-limit-reached`, a charge or hold above the per-request cap a 422
//! `request-cap-exceeded`, a top-up above the balance cap a 422 `balance-cap-exceeded`;
//! each names the unit and writes nothing; a yearly plan's credits are given up front.
//!
//! `cargo test -p credits-tests --test plan_lifecycle_http`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use credits_api::RateLibrary;
use credits_store::Store;
use credits_tests::router::{RouterClient, dynamodb_local_store, instant, sqlite_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const BOOK: &str = r#"book life
effective 2025-01-01
time_zone "UTC"
unit credit scale 0 round up

feature gen "Generate" {
  input n: count max 1000
  base 1 credit each
  multiply by n
}

plan capped "Capped" {
  grant 500 credit once as welcome, expires never
  order welcome, top_up
  topup as top_up, expires never
  balance at most 1000 credit
  limit 100 credit per day
  limit 20 credit per request
}

plan yearly "Yearly" {
  cycle yearly from purchase
  periods yearly
  grant 12000 credit every cycle as allocation, expires end of cycle, rolls over up to 5000 credit while subscribed
  order allocation
}
"#;

fn over(store: Arc<dyn Store>) -> RouterClient {
    let books = RateLibrary::from_sources(vec![("life.rates".to_owned(), BOOK.to_owned())])
        .unwrap_or_else(|diagnostics| panic!("the test book does not check: {diagnostics:?}"));
    RouterClient::with_books(store, instant("2026-01-20T15:00:00Z"), books)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

async fn post(client: &RouterClient, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, text) = client.send(Method::POST, path, Some(body)).await;
    (status, parse(&text))
}

/// What a refusal must leave unchanged: the entries and the balance.
async fn written(client: &RouterClient, account: &str) -> (usize, Value) {
    let entries = client
        .json(&format!("/v1/accounts/{account}/entries"))
        .await["entries"]
        .as_array()
        .unwrap()
        .len();
    let balance = client
        .json(&format!("/v1/accounts/{account}/balance"))
        .await["units"]["credit"]
        .clone();
    (entries, balance)
}

async fn refused(
    client: &RouterClient,
    account: &str,
    path: &str,
    body: Value,
    status: StatusCode,
    code: &str,
) -> Value {
    let before = written(client, account).await;
    let (got, problem) = post(client, path, body).await;
    assert_eq!(got, status, "{problem}");
    assert_eq!(problem["type"], code, "{problem}");
    assert_eq!(problem["unit"], "credit", "{problem}");
    assert_eq!(
        written(client, account).await,
        before,
        "a refusal wrote something"
    );
    problem
}

async fn caps(client: &RouterClient) {
    client
        .ok(
            Method::PUT,
            "/v1/accounts/a",
            Some(json!({ "plan": "life/capped" })),
        )
        .await;
    let charge = |id: &str, n: i64| json!({ "id": id, "feature": "gen", "inputs": { "n": n } });

    // One request: 20 at most, charge and hold alike.
    let problem = refused(
        client,
        "a",
        "/v1/accounts/a/charges",
        charge("big", 21),
        StatusCode::UNPROCESSABLE_ENTITY,
        "request-cap-exceeded",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("costs 21"),
        "{problem}"
    );
    refused(
        client,
        "a",
        "/v1/accounts/a/holds",
        json!({ "id": "big-hold", "feature": "gen", "inputs": { "n": 21 }, "ttl_seconds": 60 }),
        StatusCode::UNPROCESSABLE_ENTITY,
        "request-cap-exceeded",
    )
    .await;

    // The day: 100 at most.
    for index in 0..5 {
        let (status, body) = post(
            client,
            "/v1/accounts/a/charges",
            charge(&format!("c{index}"), 20),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let problem = refused(
        client,
        "a",
        "/v1/accounts/a/charges",
        charge("over", 1),
        StatusCode::TOO_MANY_REQUESTS,
        "spend-limit-reached",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("per day"),
        "{problem}"
    );
    // The next day counts from zero.
    client.clock.set(instant("2026-01-21T00:00:00Z"));
    let (status, body) = post(client, "/v1/accounts/a/charges", charge("next-day", 20)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The balance: 1000 at most. 500 - 120 spent = 380; 621 more would be 1001.
    let problem = refused(
        client,
        "a",
        "/v1/accounts/a/topups",
        json!({ "id": "t1", "amount": "621" }),
        StatusCode::UNPROCESSABLE_ENTITY,
        "balance-cap-exceeded",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 620"),
        "{problem}"
    );
    // The refused id was not used up.
    let (status, body) = post(
        client,
        "/v1/accounts/a/topups",
        json!({ "id": "t1", "amount": "620" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn yearly(client: &RouterClient) {
    client
        .ok(
            Method::PUT,
            "/v1/accounts/y",
            Some(json!({
                "plan": "life/yearly",
                "subscription": { "status": "active", "period": "yearly", "anchor": "2026-01-20T15:00:00Z" }
            })),
        )
        .await;
    let balance = client.json("/v1/accounts/y/balance").await;
    assert_eq!(
        balance["units"]["credit"]["available"], "12000",
        "{balance}"
    );
}

#[tokio::test]
async fn caps_over_sqlite() {
    caps(&over(sqlite_store())).await;
}

#[tokio::test]
async fn caps_over_dynamodb_local() {
    caps(&over(dynamodb_local_store("caps").await)).await;
}

#[tokio::test]
async fn yearly_grants_up_front_over_sqlite() {
    yearly(&over(sqlite_store())).await;
}

#[tokio::test]
async fn yearly_grants_up_front_over_dynamodb_local() {
    yearly(&over(dynamodb_local_store("yearly").await)).await;
}
