//! Lazy entries (forfeits, expiries, rollovers) must never repeat an entry id: the store
//! refuses a repeated id, and a lazy entry is rewritten by every later request, so one repeat
//! wedges the account for good.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use common::Harness;

fn at(day: u32, month: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 10, 0, 0).unwrap()
}

fn subscription(status: &str, anchor: DateTime<Utc>) -> Value {
    json!({
        "plan": "imentiv/professional",
        "subscription": {"status": status, "period": "monthly", "anchor": anchor.to_rfc3339()},
    })
}

/// imentiv/professional allocations roll over only while subscribed. A charge paid from one,
/// refunded after the allocation was forfeited (subscription ended) and the user subscribed
/// again, used to recreate the pruned allocation under its old id; at the next end of the
/// subscription the ledger wrote `forfeit:<that id>` a second time, the store refused it as
/// an existing entry, and every later write on the account answered 503.
#[tokio::test]
async fn a_bucket_restored_by_a_refund_is_forfeited_again_without_wedging_the_account() {
    let harness = Harness::new();
    let path = "/v1/accounts/acme";
    harness.clock.set(at(15, 1));

    // Subscribed since 20 December: the cycle ends on 20 January.
    let reply = harness
        .admin(
            Method::PUT,
            path,
            Some(subscription(
                "active",
                Utc.with_ymd_and_hms(2025, 12, 20, 10, 0, 0).unwrap(),
            )),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "subscribe: {reply:#?}");
    let reply = harness
        .admin(
            Method::POST,
            &format!("{path}/charges"),
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "90s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "charge: {reply:#?}");
    assert_eq!(reply.json["charged"]["credit"], "90.00");

    // Cancelled: the subscription ends with its cycle, on 20 January.
    let reply = harness
        .admin(
            Method::PUT,
            path,
            Some(subscription(
                "cancelled",
                Utc.with_ymd_and_hms(2025, 12, 20, 10, 0, 0).unwrap(),
            )),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "cancel: {reply:#?}");

    // The period ends (the allocation is forfeited); the user subscribes again.
    harness.clock.set(at(21, 1));
    let reply = harness
        .admin(Method::PUT, path, Some(subscription("active", at(21, 1))))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "subscribe again: {reply:#?}");

    // The old charge is refunded: its share goes back to a bucket like the forfeited one.
    let reply = harness
        .admin(
            Method::POST,
            &format!("{path}/refunds"),
            Some(json!({"id": "r-1", "charge": "c-1", "reason": "duplicate"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "refund: {reply:#?}");
    assert_eq!(reply.json["refunded"]["credit"], "90.00");

    // Cancelled again; that period ends too.
    let reply = harness
        .admin(
            Method::PUT,
            path,
            Some(subscription("cancelled", at(21, 1))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "cancel again: {reply:#?}");
    harness.clock.set(at(22, 2));

    // Every write still works.
    let reply = harness
        .admin(
            Method::POST,
            &format!("{path}/topups"),
            Some(json!({"id": "t-1", "amount": "1000"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "top-up: {reply:#?}");
    let reply = harness
        .admin(
            Method::PUT,
            path,
            Some(json!({"plan": "imentiv/professional", "time_zone": "Europe/Paris"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "put: {reply:#?}");
    assert_eq!(harness.available("acme", "credit").await, "1000.00");

    // Three forfeits, under three ids: the first allocation, then the second allocation and
    // the refunded share at the second end.
    let reply = harness
        .admin(Method::GET, &format!("{path}/entries?type=forfeit"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let mut ids: Vec<&str> = reply.json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3, "{reply:#?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{reply:#?}");
    let reply = harness
        .admin(
            Method::POST,
            &format!("{path}/close"),
            Some(json!({"id": "close-1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "close: {reply:#?}");
}
