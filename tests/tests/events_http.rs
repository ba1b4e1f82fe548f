//! The events of an account through the real router (`docs/events.md`): each decision's
//! events are committed with it, none for a refused or replayed request, read back with
//! `GET /v1/accounts/{account}/events` by the account's key or an admin's, in pages.
//!
//! Every case runs over SQLite and over DynamoDB Local (the outbox's `V#` items).
//!
//! `cargo test -p credits-tests --test events_http`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use credits_store::Store;
use credits_tests::router::{RouterClient, dynamodb_local_store, instant, sqlite_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// A fresh account on `ai-engine/standard` (1,000 credits a month, alerts below 200 and 50
/// credits), and a key of that account.
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

async fn debit(client: &RouterClient, account: &str, id: &str, amount: &str) -> StatusCode {
    client
        .send(
            Method::POST,
            &format!("/v1/accounts/{account}/adjustments"),
            Some(
                json!({ "id": id, "direction": "debit", "amount": amount, "reason": "correction" }),
            ),
        )
        .await
        .0
}

async fn events(client: &RouterClient, account: &str, query: &str) -> Value {
    client
        .json(&format!("/v1/accounts/{account}/events?{query}"))
        .await
}

fn types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect()
}

fn over(store: Arc<dyn Store>) -> RouterClient {
    RouterClient::over(store, instant("2026-01-20T15:00:00Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_committed_with_their_decision_sqlite() {
    events_are_committed_with_their_decision(&over(sqlite_store())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_committed_with_their_decision_dynamodb_local() {
    events_are_committed_with_their_decision(&over(dynamodb_local_store("events-http").await))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_by_seq_sqlite() {
    events_page_by_seq(&over(sqlite_store())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_by_seq_dynamodb_local() {
    events_page_by_seq(&over(dynamodb_local_store("events-pages").await)).await;
}

async fn events_are_committed_with_their_decision(client: &RouterClient) {
    let key = account(client, "ev").await;
    let page = events(client, "ev", "").await;
    assert_eq!(types(&page), ["credits.granted"]);
    let granted = &page["events"][0];
    assert_eq!(granted["seq"], 1);
    assert_eq!(granted["version"], 1);
    assert_eq!(granted["account"], "ev");
    assert_eq!(granted["data"]["amount"], "1000.00");
    assert!(granted["id"].as_str().unwrap().starts_with("evt_"));

    // Below 200: one crossing, one event.
    assert_eq!(debit(client, "ev", "d1", "850").await, StatusCode::CREATED);
    let page = events(client, "ev", "after=1").await;
    assert_eq!(types(&page), ["balance.low"]);
    assert_eq!(page["events"][0]["seq"], 2);
    assert_eq!(page["events"][0]["data"]["threshold"], "200.00");

    // A replay answers the original and publishes nothing; a refusal neither.
    assert_eq!(debit(client, "ev", "d1", "850").await, StatusCode::CREATED);
    client
        .ok(
            Method::POST,
            "/v1/accounts/ev/topups",
            Some(json!({ "id": "t1", "amount": "10" })),
        )
        .await;
    let (status, _) = client
        .send(
            Method::POST,
            "/v1/accounts/ev/chargebacks",
            Some(json!({ "id": "cb-unknown", "purchase": "nothing-bought" })),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(types(&events(client, "ev", "").await).len(), 2);

    // The account's own key reads them; another account's key may not.
    let (status, text) = client
        .send_as(Some(&key), Method::GET, "/v1/accounts/ev/events", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let other = account(client, "other").await;
    let (status, _) = client
        .send_as(Some(&other), Method::GET, "/v1/accounts/ev/events", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The month ends while the account is idle: reading the events commits what fell due,
    // with its events.
    client.clock.set(instant("2026-02-02T00:00:00Z"));
    let page = events(client, "ev", "after=2").await;
    assert_eq!(
        types(&page),
        ["credits.expired", "credits.granted", "statement.ready"]
    );
    assert_eq!(
        page["events"][2]["data"]["starts_at"],
        "2026-01-01T00:00:00Z"
    );
}

async fn events_page_by_seq(client: &RouterClient) {
    account(client, "pages").await;
    // Two crossings (below 200, below 50), then back above and below again.
    for (id, amount) in [("d1", "850"), ("d2", "120")] {
        assert_eq!(
            debit(client, "pages", id, amount).await,
            StatusCode::CREATED
        );
    }
    client
        .ok(
            Method::POST,
            "/v1/accounts/pages/adjustments",
            Some(
                json!({ "id": "c1", "direction": "credit", "amount": "500", "reason": "goodwill" }),
            ),
        )
        .await;
    assert_eq!(
        debit(client, "pages", "d3", "500").await,
        StatusCode::CREATED
    );
    let all = events(client, "pages", "").await;
    assert_eq!(
        types(&all),
        [
            "credits.granted",
            "balance.low",
            "balance.low",
            "balance.low",
            "balance.low"
        ]
    );
    assert_eq!(all["next_after"], Value::Null);
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = events(client, "pages", &format!("after={after}&limit=2")).await;
        let batch = page["events"].as_array().unwrap().clone();
        seen.extend(batch.iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(&seen, all["events"].as_array().unwrap());
    let seqs: Vec<u64> = seen
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    for bad in ["limit=0", "limit=1001", "after=-1", "colour=red"] {
        let (status, text) = client
            .send(
                Method::GET,
                &format!("/v1/accounts/pages/events?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {text}");
    }
    let (status, _) = client
        .send(Method::GET, "/v1/accounts/nobody/events", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
