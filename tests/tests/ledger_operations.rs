//! Ledger operations an admin runs by hand (`docs/adjustments.md`): credit and debit
//! adjustments, voids of one bucket, per-purchase top-ups and chargebacks. Through the real
//! router, over SQLite and over DynamoDB Local.
//!
//! `cargo test -p credits-tests --test ledger_operations`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::Duration;
use credits_store::Store;
use credits_tests::router::{RouterClient, dynamodb_local_store, instant, sqlite_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn over(store: Arc<dyn Store>) -> RouterClient {
    RouterClient::over(store, instant("2026-01-20T15:00:00Z"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

async fn post(client: &RouterClient, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, text) = client.send(Method::POST, path, Some(body)).await;
    (status, parse(&text))
}

async fn entries(client: &RouterClient, account: &str, query: &str) -> Vec<Value> {
    client
        .json(&format!("/v1/accounts/{account}/entries?{query}"))
        .await["entries"]
        .as_array()
        .unwrap()
        .clone()
}

/// `(id, kind, left, purchase)` of the balance's buckets of `credit`.
async fn buckets(client: &RouterClient, account: &str) -> Vec<(String, String, String, Value)> {
    let balance = client
        .json(&format!("/v1/accounts/{account}/balance"))
        .await;
    balance["units"]["credit"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| {
            (
                bucket["id"].as_str().unwrap().to_owned(),
                bucket["kind"].as_str().unwrap().to_owned(),
                bucket["left"].as_str().unwrap().to_owned(),
                bucket.get("purchase").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

async fn available(client: &RouterClient, account: &str) -> String {
    client
        .json(&format!("/v1/accounts/{account}/balance"))
        .await["units"]["credit"]["available"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A fresh account on `ai-engine/standard` (1,000 credits of allocation this cycle, drawn
/// before top-ups), with an account key.
async fn account(client: &RouterClient, account: &str) -> String {
    client
        .ok(
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
    let key = parse(
        &client
            .ok(
                Method::POST,
                "/v1/keys",
                Some(json!({ "account": account })),
            )
            .await,
    );
    key["key"].as_str().unwrap().to_owned()
}

async fn adjustments(client: &RouterClient) {
    let key = account(client, "adj").await;
    let path = "/v1/accounts/adj/adjustments";
    let credit = json!({
        "id": "adj-1", "direction": "credit", "amount": "25.50",
        "reason": "goodwill", "memo": "sorry for the outage"
    });
    let (status, first) = post(client, path, credit.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["adjusted"], json!({ "credit": "25.50" }));
    assert_eq!(first["buckets"][0]["bucket"], "adjustment:adj-1");
    assert_eq!(first["buckets"][0]["kind"], "top_up");
    assert_eq!(first["balance"], json!({ "credit": "1025.50" }));
    // The same id and body: the original answer; the same id, another body: 409.
    let (status, again) = post(client, path, credit).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    let (status, conflict) = post(
        client,
        path,
        json!({ "id": "adj-1", "direction": "credit", "amount": "26", "reason": "goodwill" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["type"], "idempotency-conflict");

    // A debit draws by the plan's order: the allocation first.
    let (status, debit) = post(
        client,
        path,
        json!({ "id": "adj-2", "direction": "debit", "amount": "5", "reason": "correction" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{debit}");
    assert_eq!(debit["buckets"][0]["kind"], "allocation");
    assert_eq!(debit["balance"], json!({ "credit": "1020.50" }));

    // A debit from a named bucket takes only from it.
    let (status, named) = post(
        client,
        path,
        json!({
            "id": "adj-3", "direction": "debit", "amount": "2", "reason": "other",
            "bucket": "adjustment:adj-1"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{named}");
    assert_eq!(named["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(named["buckets"][0]["bucket"], "adjustment:adj-1");
    assert_eq!(named["buckets"][0]["amount"], "2.00");
    let listed = buckets(client, "adj").await;
    assert!(
        listed.contains(&(
            "adjustment:adj-1".into(),
            "top_up".into(),
            "23.50".into(),
            Value::Null
        )),
        "{listed:?}"
    );

    // Entries and the statement line.
    let written = entries(client, "adj", "type=adjustment").await;
    let amounts: Vec<&str> = written
        .iter()
        .map(|entry| entry["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["25.50", "-5.00", "-2.00"]);
    assert_eq!(written[0]["details"]["reason"], "goodwill");
    assert_eq!(written[0]["details"]["memo"], "sorry for the outage");
    let statement = client.json("/v1/accounts/adj/statements/2026-01").await;
    assert_eq!(
        statement["units"]["credit"]["adjustments"], "18.50",
        "{statement}"
    );
    assert_eq!(statement["units"]["credit"]["closing"], "1018.50");

    // Beyond the balance (and beyond the named bucket): 402, nothing written.
    let before = entries(client, "adj", "limit=1000").await.len();
    for (id, bucket) in [("adj-4", None), ("adj-5", Some("adjustment:adj-1"))] {
        let mut body = json!({
            "id": id, "direction": "debit", "amount": "1018.51", "reason": "correction"
        });
        if let Some(bucket) = bucket {
            body["bucket"] = json!(bucket);
            body["amount"] = json!("23.51");
        }
        let (status, refused) = post(client, path, body).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{refused}");
        assert_eq!(refused["type"], "insufficient-credits");
    }
    assert_eq!(entries(client, "adj", "limit=1000").await.len(), before);
    assert_eq!(available(client, "adj").await, "1018.50");

    // A reason outside the set, and an account key: refused.
    let (status, refused) = post(
        client,
        path,
        json!({ "id": "adj-6", "direction": "credit", "amount": "1", "reason": "because" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "reason");
    for (route, body) in [
        (
            "adjustments",
            json!({ "id": "k-1", "direction": "credit", "amount": "1", "reason": "goodwill" }),
        ),
        (
            "voids",
            json!({ "id": "k-2", "bucket": "adjustment:adj-1" }),
        ),
        ("chargebacks", json!({ "id": "k-3", "purchase": "t1" })),
    ] {
        let (status, text) = client
            .send_as(
                Some(&key),
                Method::POST,
                &format!("/v1/accounts/adj/{route}"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{route}: {text}");
    }
    assert_eq!(entries(client, "adj", "limit=1000").await.len(), before);
}

async fn voids_and_chargebacks(client: &RouterClient) {
    account(client, "vc").await;
    let base = "/v1/accounts/vc";
    // Void the cycle's grant.
    let grant = buckets(client, "vc").await[0].0.clone();
    assert!(grant.starts_with("grant:"), "{grant}");
    let void = json!({ "id": "void-1", "bucket": grant, "memo": "granted by mistake" });
    let (status, first) = post(client, &format!("{base}/voids"), void.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["voided"], json!({ "credit": "1000.00" }));
    assert_eq!(first["balance"], json!({ "credit": "0.00" }));
    let (status, again) = post(client, &format!("{base}/voids"), void).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    // Another id on the emptied bucket: nothing left (409), then gone (404).
    let (status, refused) = post(
        client,
        &format!("{base}/voids"),
        json!({ "id": "void-2", "bucket": grant }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    client.clock.advance(Duration::seconds(1));
    let (status, refused) = post(
        client,
        &format!("{base}/voids"),
        json!({ "id": "void-3", "bucket": grant }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    // Two top-ups of one kind stay two buckets, each with its purchase id.
    for id in ["t1", "t2"] {
        client
            .ok(
                Method::POST,
                &format!("{base}/topups"),
                Some(json!({ "id": id, "amount": "50" })),
            )
            .await;
        client.clock.advance(Duration::seconds(1));
    }
    let listed = buckets(client, "vc").await;
    assert_eq!(
        listed,
        vec![
            (
                "top_up:t1".into(),
                "top_up".into(),
                "50.00".into(),
                json!("t1")
            ),
            (
                "top_up:t2".into(),
                "top_up".into(),
                "50.00".into(),
                json!("t2")
            ),
        ]
    );

    // 30.00 spent, from the older purchase; its chargeback removes the 20.00 left and
    // reports the 30.00 spent.
    client
        .ok(
            Method::POST,
            &format!("{base}/charges"),
            Some(json!({ "id": "c-1", "feature": "inference", "inputs": { "requests": 3000 } })),
        )
        .await;
    let chargeback = json!({ "id": "cb-1", "purchase": "t1", "memo": "card dispute" });
    let (status, first) = post(client, &format!("{base}/chargebacks"), chargeback.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["removed"], json!({ "credit": "20.00" }));
    assert_eq!(first["spent"], json!({ "credit": "30.00" }));
    assert_eq!(first["balance"], json!({ "credit": "50.00" }));
    let (status, again) = post(client, &format!("{base}/chargebacks"), chargeback).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    let (status, refused) = post(
        client,
        &format!("{base}/chargebacks"),
        json!({ "id": "cb-2", "purchase": "t1" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("`cb-1`"),
        "{refused}"
    );
    let (status, refused) = post(
        client,
        &format!("{base}/chargebacks"),
        json!({ "id": "cb-3", "purchase": "never-bought" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    // Void the other purchase's bucket.
    let (status, voided) = post(
        client,
        &format!("{base}/voids"),
        json!({ "id": "void-4", "bucket": "top_up:t2" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{voided}");
    assert_eq!(voided["voided"], json!({ "credit": "50.00" }));
    assert_eq!(available(client, "vc").await, "0.00");

    let written: Vec<(String, String)> = entries(client, "vc", "type=void,chargeback")
        .await
        .iter()
        .map(|entry| {
            (
                entry["type"].as_str().unwrap().to_owned(),
                entry["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        written,
        [
            ("void".to_owned(), "-1000.00".to_owned()),
            ("chargeback".to_owned(), "-20.00".to_owned()),
            ("void".to_owned(), "-50.00".to_owned()),
        ]
    );
    let statement = client.json("/v1/accounts/vc/statements/2026-01").await;
    let line = &statement["units"]["credit"];
    assert_eq!(line["voided"], "1070.00", "{statement}");
    assert_eq!(line["closing"], "0.00", "{statement}");
}

#[tokio::test]
async fn adjustments_over_sqlite() {
    adjustments(&over(sqlite_store())).await;
}

#[tokio::test]
async fn adjustments_over_dynamodb_local() {
    adjustments(&over(dynamodb_local_store("adjustments").await)).await;
}

#[tokio::test]
async fn voids_and_chargebacks_over_sqlite() {
    voids_and_chargebacks(&over(sqlite_store())).await;
}

#[tokio::test]
async fn voids_and_chargebacks_over_dynamodb_local() {
    voids_and_chargebacks(&over(dynamodb_local_store("voids").await)).await;
}
