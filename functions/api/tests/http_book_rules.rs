//! Prices, refusals and allowed values the rate book states, through the real router on
//! SQLite: a price that depends on the account's plan (`when plan is business`), a feature
//! only some plans may use and a longer maximum on a higher plan (`refuse ... when plan is
//! free`), a combination the book refuses in its own words, and a quantity outside an
//! input's `one of` list. Every refusal is a 400 `invalid-input` with a stable `code` and
//! nothing written (`dsl/LANGUAGE.md`, "Refusals").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::Harness;
use credits_api::RateLibrary;

const BOOK: &str = "book test
effective 2026-01-01
unit credit scale 2 round half-up
feature video {
  input duration: duration max 4h
  input fast: flag default no
  input batch: flag default no
  round duration up to 1s
  base 10 credit per minute of duration when plan is free
  base 8 credit per minute of duration when plan is business
  refuse \"fast mode is not available with batch\" when fast and batch
  refuse \"videos over 1 hour need the business plan\" when plan is free and duration above 1h
}
feature avatar {
  base 50 credit each
  refuse \"avatars are for business plans\" when plan is free
}
feature clip {
  input duration: duration one of 5s, 10s
  base 1 credit per 5s of duration
}
plan free {
  order top_up
  topup as top_up, expires never
}
plan business {
  order top_up
  topup as top_up, expires never
}
";

fn harness() -> Harness {
    let library =
        RateLibrary::from_sources(vec![("test.rates".to_owned(), BOOK.to_owned())]).unwrap();
    Harness::with_library(library)
}

async fn accounts(harness: &Harness) {
    harness.account("small", "test/free", Some("1000")).await;
    harness.account("big", "test/business", Some("1000")).await;
}

async fn charge(
    harness: &Harness,
    account: &str,
    id: &str,
    feature: &str,
    inputs: Value,
) -> common::Reply {
    harness
        .admin(
            Method::POST,
            &format!("/v1/accounts/{account}/charges"),
            Some(json!({"id": id, "feature": feature, "inputs": inputs})),
        )
        .await
}

/// A 400 `invalid-input` with `code`, and the account's entries unchanged.
async fn refused(
    harness: &Harness,
    account: &str,
    reply: &common::Reply,
    code: &str,
    entries_before: usize,
) -> String {
    let problem = reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
    assert_eq!(problem["code"], code, "{reply:#?}");
    assert_eq!(harness.entry_count(account).await, entries_before);
    problem["detail"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_price_depends_on_the_accounts_plan() {
    let harness = harness();
    accounts(&harness).await;
    let reply = charge(&harness, "small", "c1", "video", json!({"duration": "10m"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(harness.available("small", "credit").await, "900.00");
    let reply = charge(&harness, "big", "c1", "video", json!({"duration": "10m"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(harness.available("big", "credit").await, "920.00");

    // A quote prices by the account's plan too.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/quotes",
            Some(json!({"feature": "video", "inputs": {"duration": "1m"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["amounts"]["credit"], "8.00", "{reply:#?}");
}

#[tokio::test]
async fn a_feature_only_some_plans_may_use_is_refused_for_the_others() {
    let harness = harness();
    accounts(&harness).await;
    let before = harness.entry_count("small").await;
    let reply = charge(&harness, "small", "a1", "avatar", json!({})).await;
    let detail = refused(&harness, "small", &reply, "refused", before).await;
    assert_eq!(detail, "avatars are for business plans");
    assert_eq!(reply.json["feature"], "avatar");

    let reply = charge(&harness, "big", "a1", "avatar", json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

#[tokio::test]
async fn a_longer_maximum_on_a_higher_plan() {
    let harness = harness();
    accounts(&harness).await;
    let before = harness.entry_count("small").await;
    let reply = charge(&harness, "small", "v1", "video", json!({"duration": "2h"})).await;
    let detail = refused(&harness, "small", &reply, "refused", before).await;
    assert_eq!(detail, "videos over 1 hour need the business plan");

    let reply = charge(&harness, "big", "v1", "video", json!({"duration": "2h"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

#[tokio::test]
async fn a_combination_the_book_refuses_is_answered_with_its_message_and_nothing_written() {
    let harness = harness();
    accounts(&harness).await;
    let before = harness.entry_count("big").await;
    let inputs = json!({"duration": "1m", "fast": true, "batch": true});
    let reply = charge(&harness, "big", "f1", "video", inputs.clone()).await;
    let detail = refused(&harness, "big", &reply, "refused", before).await;
    assert_eq!(detail, "fast mode is not available with batch");
    assert_eq!(harness.available("big", "credit").await, "1000.00");

    // The same refusal for a quote; and the id was not used: a valid charge may take it.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/quotes",
            Some(json!({"feature": "video", "inputs": inputs})),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::BAD_REQUEST, "invalid-input")["code"],
        "refused"
    );
    let reply = charge(
        &harness,
        "big",
        "f1",
        "video",
        json!({"duration": "1m", "fast": true}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

#[tokio::test]
async fn a_quantity_outside_the_allowed_values_is_refused_at_the_edge() {
    let harness = harness();
    accounts(&harness).await;
    let before = harness.entry_count("big").await;
    let reply = charge(&harness, "big", "k1", "clip", json!({"duration": "7s"})).await;
    let detail = refused(&harness, "big", &reply, "value-not-allowed", before).await;
    assert!(detail.contains("5s, 10s"), "{detail}");

    let reply = charge(&harness, "big", "k1", "clip", json!({"duration": 10})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(harness.available("big", "credit").await, "998.00");
}

#[tokio::test]
async fn holds_and_captures_rate_by_the_plan_and_honour_refusals() {
    let harness = harness();
    accounts(&harness).await;
    let before = harness.entry_count("big").await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/holds",
            Some(json!({"id": "h0", "feature": "video",
                "inputs": {"duration": "1m", "fast": true, "batch": true}})),
        )
        .await;
    let detail = refused(&harness, "big", &reply, "refused", before).await;
    assert_eq!(detail, "fast mode is not available with batch");

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/holds",
            Some(json!({"id": "h1", "feature": "video", "inputs": {"duration": "10m"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let open = harness
        .admin(Method::GET, "/v1/accounts/big/holds/h1", None)
        .await;
    assert_eq!(
        open.json["reserved"],
        json!({"credit": "80.00"}),
        "{open:#?}"
    );

    // A capture whose usage the book refuses writes nothing; the hold stays open.
    let before = harness.entry_count("big").await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/holds/h1/capture",
            Some(json!({"inputs": {"duration": "5m", "fast": true, "batch": true}})),
        )
        .await;
    refused(&harness, "big", &reply, "refused", before).await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/big/holds/h1/capture",
            Some(json!({"inputs": {"duration": "5m"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["charged"], json!({"credit": "40.00"}));
}
