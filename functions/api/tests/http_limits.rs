//! The account snapshot stays bounded through the real router on the SQLite store: a
//! request that would outgrow a limit is a 409 `limit-reached` naming it, nothing is
//! written, and the account keeps working. The limits are listed in `docs/ledger-limits.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use common::{ADMIN_KEY, Harness, Reply, start};
use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_ledger::limits::{MAX_COMMAND_BUCKETS, MAX_HOLDS};
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use serde_json::{Value, json};

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

/// The real router over an in-memory SQLite store, serving the small book above.
fn harness() -> Harness {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let library = RateLibrary::from_sources(vec![("lim.rates".to_owned(), BOOK.to_owned())])
        .unwrap_or_else(|diagnostics| panic!("the test book does not check: {diagnostics:?}"));
    let clock = Arc::new(FixedClock::new(start()));
    let config = ApiConfig::default()
        .with_static_admin_key(ADMIN_KEY)
        .unwrap();
    let state = AppState::new(Arc::clone(&store), Arc::new(library))
        .with_clock(clock.clone())
        .with_config(config);
    Harness {
        router: credits_api::router(state.clone()),
        store,
        clock,
        state,
    }
}

async fn post(harness: &Harness, path: &str, body: Value) -> Reply {
    harness.admin(Method::POST, path, Some(body)).await
}

async fn charge(harness: &Harness, account: &str, id: &str, n: i64) -> Reply {
    post(
        harness,
        &format!("/v1/accounts/{account}/charges"),
        json!({ "id": id, "feature": "gen", "inputs": { "n": n } }),
    )
    .await
}

/// The stored snapshot: its bucket count and its size in bytes.
async fn snapshot(harness: &Harness, account: &str) -> (usize, usize) {
    let record = harness.store.load(account).await.unwrap().expect("account");
    let buckets = record.state["buckets"].as_array().expect("buckets").len();
    (buckets, serde_json::to_vec(&record.state).unwrap().len())
}

#[track_caller]
fn assert_limit(reply: &Reply, limit: &str, max: usize) {
    let problem = reply.problem(StatusCode::CONFLICT, "limit-reached");
    assert_eq!(problem["limit"], limit, "{reply:#?}");
    assert_eq!(problem["max"], max, "{reply:#?}");
}

#[tokio::test]
async fn top_ups_with_distinct_expiries_reach_the_bucket_limit_and_the_account_keeps_working() {
    let harness = harness();
    harness.account("a", "lim/basic", None).await;
    let mut accepted = 0;
    let mut refused = 0;
    for index in 0..1_001_i64 {
        harness.clock.advance(Duration::seconds(1));
        let expires_at = start() + Duration::days(100) + Duration::minutes(index);
        let reply = post(
            &harness,
            "/v1/accounts/a/topups",
            json!({ "id": format!("t{index}"), "amount": "10", "expires_at": expires_at }),
        )
        .await;
        if reply.status == StatusCode::CREATED {
            assert_eq!(
                refused, 0,
                "a top-up was accepted after a refusal: {reply:?}"
            );
            accepted += 1;
        } else {
            assert_limit(&reply, "buckets", MAX_COMMAND_BUCKETS);
            refused += 1;
        }
    }
    assert_eq!(accepted, MAX_COMMAND_BUCKETS);
    assert_eq!(refused, 1_001 - MAX_COMMAND_BUCKETS);
    let (buckets, bytes) = snapshot(&harness, "a").await;
    assert_eq!(buckets, MAX_COMMAND_BUCKETS);
    assert!(bytes < 64 * 1024, "{bytes} bytes");
    // Refused top-ups wrote nothing; the account still charges and reads.
    let reply = charge(&harness, "a", "after", 15).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let expected = i64::try_from(MAX_COMMAND_BUCKETS).unwrap() * 10 - 15;
    assert_eq!(harness.available("a", "credit").await, expected.to_string());
}

#[tokio::test]
async fn holds_reach_the_hold_limit_and_a_release_makes_room() {
    let harness = harness();
    harness.account("a", "lim/basic", Some("1000000")).await;
    let hold = |id: String| json!({ "id": id, "feature": "gen", "inputs": { "n": 1 }, "ttl_seconds": 3600 });
    for index in 0..MAX_HOLDS {
        let reply = post(&harness, "/v1/accounts/a/holds", hold(format!("h{index}"))).await;
        assert_eq!(reply.status, StatusCode::CREATED, "hold {index}: {reply:?}");
    }
    let reply = post(&harness, "/v1/accounts/a/holds", hold("one-more".into())).await;
    assert_limit(&reply, "holds", MAX_HOLDS);
    let reply = post(&harness, "/v1/accounts/a/holds/h0/release", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = post(&harness, "/v1/accounts/a/holds", hold("one-more".into())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let (_, bytes) = snapshot(&harness, "a").await;
    assert!(bytes < 100 * 1024, "{bytes} bytes");
}

#[tokio::test]
async fn three_years_of_daily_never_expiring_grants_keep_one_bucket() {
    let harness = harness();
    harness.account("a", "lim/daily", None).await;
    let mut charged = 0;
    for month in 0..36 {
        harness.clock.advance(Duration::days(30));
        let reply = charge(&harness, "a", &format!("c{month}"), 7).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "month {month}: {reply:?}"
        );
        charged += 7;
        let (buckets, bytes) = snapshot(&harness, "a").await;
        assert_eq!(buckets, 1, "month {month}");
        assert!(bytes < 4 * 1024, "month {month}: {bytes} bytes");
    }
    // A grant a day from the first day (10:00) to the last (36 × 30 days later).
    let days = 36 * 30 + 1;
    assert_eq!(
        harness.available("a", "credit").await,
        (10 * days - charged).to_string()
    );
    let reply = harness
        .admin(Method::GET, "/v1/accounts/a/balance", None)
        .await;
    assert_eq!(
        reply.json["units"]["credit"]["buckets"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{reply:?}"
    );
}
