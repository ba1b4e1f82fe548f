//! The SQLite store's `WebhookStore` (`docs/webhooks.md`, "Storage"): fan-out and cursor in
//! one write, one due delivery per (endpoint, account), leases, giving up, re-delivery,
//! limits, and the tables surviving a reopen.
//!
//! `conformance`: the store-agnostic webhook contract (`credits_store::conformance::webhooks`),
//! fed page by page through `enqueue`.
//!
//! `cargo test -p credits-store --test sqlite_webhooks`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::{DateTime, TimeDelta, Utc};
use credits_store::sqlite::SqliteStore;
use credits_store::webhooks::{
    AttemptResult, DeliveryRecord, DeliveryState, EndpointRecord, MAX_ENDPOINTS, Redeliver,
    WebhookStore,
};
use credits_store::{EventRecord, FedEvent, StoreError};
use serde_json::json;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).unwrap()
}

fn endpoint(id: &str, types: &[&str]) -> EndpointRecord {
    EndpointRecord {
        id: id.to_owned(),
        url: format!("https://platform.example/{id}"),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        secret: format!("whsec_{id}"),
        created_at: at(0),
    }
}

/// The row of `endpoint` at `position`, as a claim answers it (the SQLite store names a
/// delivery by those two).
fn row(endpoint: &str, position: u64) -> DeliveryRecord {
    let event = fed(position, "", 0, "").event;
    DeliveryRecord {
        endpoint: endpoint.to_owned(),
        position,
        event,
        state: DeliveryState::Due,
        attempts: 0,
        first_attempt_at: None,
        next_attempt_at: None,
        last_status: None,
        last_error: None,
    }
}

fn fed(position: u64, account: &str, seq: u64, event_type: &str) -> FedEvent {
    FedEvent {
        position,
        event: EventRecord {
            account: account.to_owned(),
            seq,
            id: format!("evt_{account}_{seq}"),
            event_type: event_type.to_owned(),
            at: at(0),
            body: json!({ "seq": seq }),
        },
    }
}

async fn due_ids(store: &SqliteStore, now: DateTime<Utc>) -> Vec<(String, String)> {
    let mut claimed: Vec<(String, String)> = store
        .claim_due(now, now + TimeDelta::seconds(40), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.endpoint, d.event.id))
        .collect();
    claimed.sort();
    claimed
}

#[tokio::test]
async fn fan_out_keeps_one_due_delivery_per_account_and_endpoint() {
    let store = SqliteStore::in_memory().unwrap();
    assert!(
        store
            .put_endpoint(&endpoint("wh_all", &["*"]))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_endpoint(&endpoint("wh_low", &["balance.low"]))
            .await
            .unwrap()
    );
    assert_eq!(store.delivery_cursor().await.unwrap(), 0);
    let events = [
        fed(2, "alice", 1, "balance.low"),
        fed(5, "bob", 1, "statement.ready"),
        fed(9, "alice", 2, "balance.low"),
    ];
    // A stale cursor writes nothing.
    assert_eq!(store.enqueue(7, &events, 9, at(0)).await.unwrap(), None);
    assert_eq!(store.enqueue(0, &events, 9, at(0)).await.unwrap(), Some(5));
    assert_eq!(store.delivery_cursor().await.unwrap(), 9);
    // Only each account's oldest is due, per endpoint.
    let claimed = due_ids(&store, at(0)).await;
    assert_eq!(
        claimed,
        [
            ("wh_all".to_owned(), "evt_alice_1".to_owned()),
            ("wh_all".to_owned(), "evt_bob_1".to_owned()),
            ("wh_low".to_owned(), "evt_alice_1".to_owned()),
        ]
    );
    // Leased: not claimed again until the lease ends.
    assert!(due_ids(&store, at(39)).await.is_empty());
    assert_eq!(due_ids(&store, at(40)).await.len(), 3);
    // Delivered: the account's next becomes due.
    store
        .record_attempt(&row("wh_all", 2), at(41), AttemptResult::Delivered)
        .await
        .unwrap();
    assert_eq!(
        due_ids(&store, at(41)).await,
        [("wh_all".to_owned(), "evt_alice_2".to_owned())]
    );
}

#[tokio::test]
async fn retries_then_giving_up_fail_the_account_s_waiting_events_and_redelivery_requeues_them() {
    let store = SqliteStore::in_memory().unwrap();
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    let events = [
        fed(1, "alice", 1, "balance.low"),
        fed(2, "alice", 2, "balance.low"),
        fed(3, "bob", 1, "balance.low"),
    ];
    store.enqueue(0, &events, 3, at(0)).await.unwrap();
    assert_eq!(due_ids(&store, at(0)).await.len(), 2);
    store
        .record_attempt(
            &row("wh_a", 1),
            at(0),
            AttemptResult::Retry {
                at: at(10),
                status: Some(503),
                error: "the receiver answered 503".to_owned(),
            },
        )
        .await
        .unwrap();
    let failing = store
        .failed_deliveries("wh_a", None, 10)
        .await
        .unwrap()
        .deliveries;
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].attempts, 1);
    assert_eq!(failing[0].state, DeliveryState::Due);
    assert_eq!(failing[0].next_attempt_at, Some(at(10)));
    assert_eq!(failing[0].first_attempt_at, Some(at(0)));
    assert_eq!(failing[0].last_status, Some(503));
    store
        .record_attempt(
            &row("wh_a", 1),
            at(10),
            AttemptResult::GiveUp {
                status: None,
                error: "no answer".to_owned(),
            },
        )
        .await
        .unwrap();
    let failed = store
        .failed_deliveries("wh_a", None, 10)
        .await
        .unwrap()
        .deliveries;
    let states: Vec<(u64, DeliveryState, u32)> = failed
        .iter()
        .map(|d| (d.position, d.state, d.attempts))
        .collect();
    assert_eq!(
        states,
        [(1, DeliveryState::Failed, 2), (2, DeliveryState::Failed, 0)]
    );
    assert_eq!(failed[0].first_attempt_at, Some(at(0)));
    // Paging by position.
    assert_eq!(
        store
            .failed_deliveries("wh_a", Some("1"), 10)
            .await
            .unwrap()
            .deliveries
            .len(),
        1
    );
    // A new event of alice's flows while the old ones are failed.
    store
        .enqueue(3, &[fed(4, "alice", 3, "balance.low")], 4, at(20))
        .await
        .unwrap();
    let due: Vec<String> = due_ids(&store, at(20))
        .await
        .into_iter()
        .map(|d| d.1)
        .collect();
    assert_eq!(due, ["evt_alice_3"]);
    // One event again: it waits behind alice's due one, then comes in order.
    assert_eq!(
        store
            .redeliver("wh_a", Redeliver::Event("evt_nobody_1".to_owned()), at(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .redeliver("wh_a", Redeliver::AllFailed, at(30))
            .await
            .unwrap(),
        2
    );
    store
        .record_attempt(&row("wh_a", 4), at(31), AttemptResult::Delivered)
        .await
        .unwrap();
    let due: Vec<String> = due_ids(&store, at(31))
        .await
        .into_iter()
        .map(|d| d.1)
        .collect();
    assert_eq!(due, ["evt_alice_1"]);
    // Deleting the endpoint drops its deliveries.
    assert!(store.delete_endpoint("wh_a").await.unwrap());
    assert!(!store.delete_endpoint("wh_a").await.unwrap());
    assert!(due_ids(&store, at(1_000)).await.is_empty());
    assert!(
        store
            .failed_deliveries("wh_a", None, 10)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
}

#[tokio::test]
async fn endpoints_are_limited_unique_and_kept_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credits.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..MAX_ENDPOINTS {
            assert!(
                store
                    .put_endpoint(&endpoint(&format!("wh_{n}"), &["*"]))
                    .await
                    .unwrap()
            );
        }
        assert!(!store.put_endpoint(&endpoint("wh_x", &["*"])).await.unwrap());
        store.delete_endpoint("wh_0").await.unwrap();
        assert!(matches!(
            store.put_endpoint(&endpoint("wh_1", &["*"])).await,
            Err(StoreError::KeyExists(_))
        ));
        store
            .enqueue(0, &[fed(5, "alice", 1, "balance.low")], 5, at(0))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let endpoints = store.endpoints().await.unwrap();
    assert_eq!(endpoints.len(), MAX_ENDPOINTS - 1);
    assert_eq!(
        store.endpoint("wh_3").await.unwrap(),
        Some(endpoint("wh_3", &["*"]))
    );
    assert_eq!(store.delivery_cursor().await.unwrap(), 5);
    assert_eq!(due_ids(&store, at(0)).await.len(), MAX_ENDPOINTS - 1);
}

mod conformance {
    credits_store::webhook_conformance_tests!(
        async { std::sync::Arc::new(credits_store::sqlite::SqliteStore::in_memory().unwrap()) },
        credits_store::conformance::webhooks::FromFeed
    );
}
