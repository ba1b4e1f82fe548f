//! How many DynamoDB requests the ledger's operations cost (BRIEF §6: "a charge is one
//! DynamoDB request in the common case, and an idempotent replay costs no second write"),
//! counted by an SDK interceptor over DynamoDB Local.
//!
//! First at the store: a commit is one `TransactWriteItems`, and every refusal (lost race,
//! replay, duplicate entry) is answered from that one request's cancellation reasons and old
//! items. Then through the API's real service layer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryRecord, OperationRecord, Store,
};
use credits_store_dynamodb::{DynamoStore, RequestCounter, create_table, with_interceptor};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + seconds, 0).single().unwrap()
}

/// A store over a fresh table whose client counts its requests.
async fn counted_store() -> (DynamoStore, RequestCounter) {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = unique_table_name("requests");
    create_table(&client, &table).await.unwrap();
    let counter = RequestCounter::default();
    let client = with_interceptor(&client, counter.clone());
    (DynamoStore::new(client, table), counter)
}

fn account(version: u64, balance: i64) -> AccountRecord {
    AccountRecord {
        account: "acme".into(),
        version,
        due_at: Some(at(86_400)),
        state: serde_json::json!({ "balance_minor": balance }),
    }
}

fn entry(id: &str, seq: u64, amount_minor: i64) -> EntryRecord {
    EntryRecord {
        account: "acme".into(),
        id: id.into(),
        seq,
        at: at(i64::try_from(seq).unwrap()),
        entry_type: "charge".into(),
        operation: id.into(),
        unit: Some("credits".into()),
        amount_minor,
        feature: Some("video".into()),
        model: None,
        project: None,
        member: None,
        content: None,
        body: serde_json::json!({}),
    }
}

fn operation(id: &str, hash: &str) -> OperationRecord {
    OperationRecord {
        account: "acme".into(),
        id: id.into(),
        kind: "charge".into(),
        request_hash: hash.into(),
        status: 201,
        response: serde_json::json!({ "id": id }),
        at: at(1),
    }
}

fn charge(expected_version: u64, id: &str, seq: u64, hash: &str) -> Commit {
    Commit {
        expected_version,
        account: account(expected_version + 1, 100 - i64::try_from(seq).unwrap()),
        entries: vec![entry(id, seq, -1)],
        operation: Some(operation(id, hash)),
    }
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}

#[tokio::test]
async fn a_commit_is_one_transaction() {
    let (store, counter) = counted_store().await;
    let outcome = store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    assert_eq!(outcome, CommitOutcome::Committed);
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}

#[tokio::test]
async fn a_replay_is_answered_from_the_one_request() {
    let (store, counter) = counted_store().await;
    store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    counter.take();

    // The same client id again, decided on the fresh snapshot (a warm cache): the operation
    // record's condition fails and DynamoDB hands back the original record.
    let outcome = store.commit(charge(1, "c1", 2, "h1")).await.unwrap();
    assert_eq!(outcome, CommitOutcome::OperationExists(operation("c1", "h1")));
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
    // Nothing was written: the account is still at version 1.
    assert_eq!(store.load("acme").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_lost_race_returns_the_current_snapshot_without_a_read() {
    let (store, counter) = counted_store().await;
    store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    store.commit(charge(1, "c2", 2, "h2")).await.unwrap();
    counter.take();

    // Decided on version 1 (a stale cache): conflict, with version 2 returned by ALL_OLD.
    let outcome = store.commit(charge(1, "c3", 2, "h3")).await.unwrap();
    let CommitOutcome::VersionConflict { current: Some(current) } = outcome else {
        panic!("expected a version conflict with the current snapshot, got {outcome:?}");
    };
    assert_eq!(current, account(2, 98));
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}

#[tokio::test]
async fn a_replay_on_a_stale_snapshot_is_still_a_replay() {
    let (store, counter) = counted_store().await;
    store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    counter.take();
    // Both the version and the operation conditions fail: the replay wins (the contract's
    // order), so the client gets its original answer rather than a retry.
    let outcome = store.commit(charge(0, "c1", 1, "h1-other-now")).await.unwrap();
    assert_eq!(outcome, CommitOutcome::OperationExists(operation("c1", "h1")));
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}

#[tokio::test]
async fn resending_a_commit_that_landed_is_acknowledged_not_applied_twice() {
    // What the retry loop does after a lost response: the same request, the same token.
    let (store, counter) = counted_store().await;
    let commit = charge(0, "c1", 1, "h1");
    assert_eq!(store.commit(commit.clone()).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(store.commit(commit).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 2)]));
    let stored = store.load("acme").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
}

#[tokio::test]
async fn a_duplicate_entry_is_named() {
    let (store, counter) = counted_store().await;
    store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    counter.take();
    let outcome = store
        .commit(Commit {
            expected_version: 1,
            account: account(2, 0),
            entries: vec![entry("fresh", 2, -1), entry("c1", 3, -1)],
            operation: Some(operation("c9", "h9")),
        })
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::EntryExists { id: "c1".into() });
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}
