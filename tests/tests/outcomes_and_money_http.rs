//! How a job ended (`outcome` on charges, captures and quotes) and money attached to
//! credits (priced packages, top-up minimum, step and packages only), through the real
//! router over SQLite and over DynamoDB Local (`docs/charges.md`, `docs/holds.md`,
//! `docs/topups.md`).
//!
//! `cargo test -p credits-tests --test outcomes_and_money_http`

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

const BOOK: &str = r#"book shop
effective 2025-01-01
time_zone "UTC"
unit credit scale 2 round half-up

feature video {
  input duration: duration max 1h
  round duration up to 1s
  base 10 credit per minute of duration
  outcome failed free
  outcome moderated full
  outcome cancelled by usage
}

feature image {
  base 4 credit each
  first request free
}

plan pro {
  grant 1000 credit once as promotional, expires never
  order promotional, top_up
  topup as top_up, expires never
  package small 1000 credit for 10 USD
  package yen 500 credit for 750 JPY
  topup minimum 500 credit, step 100 credit
}

plan shop {
  order top_up
  topup as top_up, expires never
  package small 1000 credit for 9.99 EUR
  topup packages only
}
"#;

fn client(store: Arc<dyn Store>) -> RouterClient {
    let books = RateLibrary::from_sources(vec![("shop.rates".to_owned(), BOOK.to_owned())])
        .unwrap_or_else(|diagnostics| panic!("the test book does not check: {diagnostics:?}"));
    RouterClient::with_books(store, instant("2026-03-08T00:00:00Z"), books)
}

async fn create(client: &RouterClient, account: &str, plan: &str) {
    client
        .ok(
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            Some(json!({ "plan": format!("shop/{plan}") })),
        )
        .await;
}

async fn post(client: &RouterClient, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, text) = client.send(Method::POST, path, Some(body)).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    (status, value)
}

async fn entries(client: &RouterClient, account: &str) -> Vec<Value> {
    client
        .json(&format!("/v1/accounts/{account}/entries"))
        .await["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn available(client: &RouterClient, account: &str) -> String {
    client
        .json(&format!("/v1/accounts/{account}/balance"))
        .await["units"]["credit"]["available"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn outcomes(store: Arc<dyn Store>) {
    let client = client(store);
    create(&client, "a", "pro").await;
    let charges = "/v1/accounts/a/charges";
    let video = |id: &str, outcome: Option<&str>| {
        let mut body = json!({"id": id, "feature": "video", "inputs": {"duration": "3m"}});
        if let Some(outcome) = outcome {
            body["outcome"] = json!(outcome);
        }
        body
    };

    // Completed (the default) is charged in full and says so.
    let (status, done) = post(&client, charges, video("done", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["charged"]["credit"], "30.00");
    assert_eq!(done["outcome"], "completed");

    // Failed is free, moderated in full, cancelled by the usage reported.
    let (_, failed) = post(&client, charges, video("failed", Some("failed"))).await;
    assert_eq!(failed["charged"], json!({}), "{failed}");
    assert_eq!(failed["outcome"], "failed");
    assert!(failed["lines"].to_string().contains("outcome failed: free"));
    let (_, moderated) = post(&client, charges, video("moderated", Some("moderated"))).await;
    assert_eq!(moderated["charged"]["credit"], "30.00");
    let mut cancelled = video("cancelled", Some("cancelled"));
    cancelled["inputs"] = json!({"duration": "1m"});
    let (_, cancelled) = post(&client, charges, cancelled).await;
    assert_eq!(cancelled["charged"]["credit"], "10.00");
    assert_eq!(cancelled["outcome"], "cancelled");
    assert_eq!(available(&client, "a").await, "930.00");

    // The outcome is part of the request: the same id with another outcome is a conflict,
    // the same body replays; `completed` stated equals no outcome.
    let (status, conflict) = post(&client, charges, video("failed", Some("moderated"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["type"], "idempotency-conflict");
    let (status, replay) = post(&client, charges, video("failed", Some("failed"))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replay, failed);
    let (status, same) = post(&client, charges, video("done", Some("completed"))).await;
    assert_eq!(status, StatusCode::CREATED, "{same}");
    assert_eq!(same, done);

    // An unknown word is a 400 naming the allowed ones; nothing is written.
    let before = entries(&client, "a").await.len();
    let (status, unknown) = post(&client, charges, video("typo", Some("canceled"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{unknown}");
    assert_eq!(unknown["type"], "invalid-input");
    assert_eq!(unknown["code"], "unknown-outcome");
    assert_eq!(unknown["field"], "outcome");
    let detail = unknown["detail"].as_str().unwrap();
    for word in ["completed", "failed", "moderated", "cancelled"] {
        assert!(detail.contains(word), "{detail}");
    }
    assert_eq!(entries(&client, "a").await.len(), before);

    // The entry records the outcome; completed entries stay as they were.
    let all = entries(&client, "a").await;
    let of = |operation: &str| {
        all.iter()
            .find(|entry| entry["operation"] == operation && entry["type"] == "charge")
            .unwrap()
            .clone()
    };
    assert_eq!(of("failed")["details"]["outcome"], "failed");
    assert_eq!(of("cancelled")["details"]["outcome"], "cancelled");
    assert!(of("done")["details"].get("outcome").is_none());

    // A failed free job does not use up the free first request.
    let image = |id: &str, outcome: &str| json!({"id": id, "feature": "image", "outcome": outcome});
    let (_, first) = post(&client, charges, image("img-failed", "failed")).await;
    assert_eq!(first["free"], false);
    let (_, second) = post(&client, charges, image("img-done", "completed")).await;
    assert_eq!(second["free"], true, "{second}");

    // Quotes price an outcome and show the plan's priced packages.
    let (status, quote) = post(
        &client,
        "/v1/accounts/a/quotes",
        json!({"feature": "video", "inputs": {"duration": "3m"}, "outcome": "failed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["amounts"], json!({}));
    assert_eq!(quote["outcome"], "failed");
    assert_eq!(
        quote["packages"][0],
        json!({"name": "small", "unit": "credit", "amount": "1000.00", "price": {"currency": "USD", "amount": "10.00"}})
    );
    let (status, bad) = post(
        &client,
        "/v1/accounts/a/quotes",
        json!({"feature": "video", "inputs": {"duration": "3m"}, "outcome": "done"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["code"], "unknown-outcome");

    // Statements sum usage per outcome.
    let statement = client.json("/v1/accounts/a/statements/2026-03").await;
    let line = &statement["units"]["credit"];
    assert_eq!(line["usage_by_outcome"]["moderated"], "30.00", "{line}");
    assert_eq!(line["usage_by_outcome"]["cancelled"], "10.00");
    assert!(line["usage_by_outcome"].get("failed").is_none());
}

async fn captures(store: Arc<dyn Store>) {
    let client = client(store);
    create(&client, "h", "pro").await;
    let hold = |id: &str| json!({"id": id, "feature": "video", "inputs": {"duration": "10m"}});
    for id in ["h1", "h2", "h3", "h4"] {
        let (status, held) = post(&client, "/v1/accounts/h/holds", hold(id)).await;
        assert_eq!(status, StatusCode::CREATED, "{held}");
    }
    let capture = |hold: &str| format!("/v1/accounts/h/holds/{hold}/capture");

    // Failed: nothing charged, the whole reservation returned.
    let (status, failed) = post(&client, &capture("h1"), json!({"outcome": "failed"})).await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!(failed["charged"]["credit"], "0.00");
    assert_eq!(failed["outcome"], "failed");

    // Moderated without inputs: the estimate held, in full.
    let (_, moderated) = post(&client, &capture("h2"), json!({"outcome": "moderated"})).await;
    assert_eq!(moderated["charged"]["credit"], "100.00", "{moderated}");

    // Cancelled is charged by the usage so far, which the capture must give.
    let before = entries(&client, "h").await.len();
    let (status, missing) = post(&client, &capture("h3"), json!({"outcome": "cancelled"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
    assert!(missing["detail"].as_str().unwrap().contains("inputs"));
    assert_eq!(entries(&client, "h").await.len(), before, "nothing written");
    let (_, cancelled) = post(
        &client,
        &capture("h3"),
        json!({"outcome": "cancelled", "inputs": {"duration": "2m"}}),
    )
    .await;
    assert_eq!(cancelled["charged"]["credit"], "20.00", "{cancelled}");

    // An unknown word is refused before anything happens to the hold.
    let (status, unknown) = post(&client, &capture("h4"), json!({"outcome": "aborted"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["code"], "unknown-outcome");
    let open = client.json("/v1/accounts/h/holds/h4").await;
    assert_eq!(open["status"], "open");

    // The capture entries record their outcome.
    let all = entries(&client, "h").await;
    let capture_entry = |operation: &str| {
        all.iter()
            .find(|entry| entry["operation"] == operation && entry["type"] == "capture")
            .unwrap()
            .clone()
    };
    assert_eq!(capture_entry("capture:h1")["details"]["outcome"], "failed");
    assert_eq!(
        capture_entry("capture:h3")["details"]["outcome"],
        "cancelled"
    );
    assert_eq!(available(&client, "h").await, "780.00");
}

async fn top_ups(store: Arc<dyn Store>) {
    let client = client(store);
    create(&client, "t", "pro").await;
    create(&client, "s", "shop").await;
    let refused = [
        (
            "t",
            json!({"id": "low", "amount": "400"}),
            "topup-below-minimum",
        ),
        ("t", json!({"id": "off", "amount": "550"}), "topup-off-step"),
        (
            "s",
            json!({"id": "free", "amount": "1000"}),
            "topup-packages-only",
        ),
    ];
    for (account, body, code) in refused {
        let before = entries(&client, account).await.len();
        let (status, problem) = post(
            &client,
            &format!("/v1/accounts/{account}/topups"),
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["type"], "invalid-input");
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["field"], "amount");
        assert_eq!(
            entries(&client, account).await.len(),
            before,
            "{code}: nothing written"
        );
    }
    let (_, low) = post(
        &client,
        "/v1/accounts/t/topups",
        json!({"id": "low2", "amount": "400"}),
    )
    .await;
    assert_eq!(
        low["detail"],
        "a top-up of plan `pro` is at least 500.00 credit, not 400.00"
    );

    // Amounts meeting the rules, and packages, are credited.
    let (status, ok) = post(
        &client,
        "/v1/accounts/t/topups",
        json!({"id": "ok", "amount": "600"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert!(ok.get("price").is_none());
    let (status, small) = post(
        &client,
        "/v1/accounts/t/topups",
        json!({"id": "buy-1", "package": "small"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(small["credited"]["credit"], "1000.00");
    assert_eq!(small["package"], "small");
    assert_eq!(
        small["price"],
        json!({"currency": "USD", "amount": "10.00"})
    );
    let (_, yen) = post(
        &client,
        "/v1/accounts/t/topups",
        json!({"id": "buy-2", "package": "yen"}),
    )
    .await;
    assert_eq!(yen["price"], json!({"currency": "JPY", "amount": "750"}));
    let (status, shop) = post(
        &client,
        "/v1/accounts/s/topups",
        json!({"id": "buy-3", "package": "small"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{shop}");
    assert_eq!(shop["price"], json!({"currency": "EUR", "amount": "9.99"}));

    // The entry records the price; the statement sums the money per currency.
    let all = entries(&client, "t").await;
    let bought = all
        .iter()
        .find(|entry| entry["operation"] == "buy-1" && entry["type"] == "top_up")
        .unwrap();
    assert_eq!(
        bought["details"]["price"],
        json!({"currency": "USD", "amount_minor": 1000})
    );
    let statement = client.json("/v1/accounts/t/statements/2026-03").await;
    let line = &statement["units"]["credit"];
    assert_eq!(line["top_ups"], "2100.00", "{line}");
    assert_eq!(line["top_ups_paid"], json!({"JPY": "750", "USD": "10.00"}));
}

#[tokio::test]
async fn outcomes_over_sqlite() {
    outcomes(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_over_dynamodb_local() {
    outcomes(dynamodb_local_store("outcomes").await).await;
}

#[tokio::test]
async fn captures_over_sqlite() {
    captures(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_over_dynamodb_local() {
    captures(dynamodb_local_store("capture-outcomes").await).await;
}

#[tokio::test]
async fn top_ups_over_sqlite() {
    top_ups(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_ups_over_dynamodb_local() {
    top_ups(dynamodb_local_store("topup-rules").await).await;
}
