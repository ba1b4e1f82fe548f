//! What each request costs in store requests: a warm charge is one (the commit), a replay
//! of a recent id one (the operation record), a read one (the load).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::json;

use credits_store::sqlite::SqliteStore;
use credits_store::{
    AccountRecord, Commit, CommitOutcome, DuePage, EntryPage, EntryQuery, FactRecord, KeyRecord,
    OperationRecord, Store, StoreResult,
};

use common::Harness;

/// A store that counts the requests it forwards.
struct Counting {
    inner: SqliteStore,
    requests: AtomicUsize,
}

impl Counting {
    fn count(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Store for Counting {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.count();
        self.inner.load(account).await
    }
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        self.count();
        self.inner.commit(commit).await
    }
    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        self.count();
        self.inner.operation(account, id).await
    }
    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        self.count();
        self.inner.facts(account, keys).await
    }
    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        self.count();
        self.inner.last_fact_before(account, prefix, before).await
    }
    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        self.count();
        self.inner.entries(query).await
    }
    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage> {
        self.count();
        self.inner
            .due_accounts(now, segment, segments, cursor, limit)
            .await
    }
    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.count();
        self.inner.put_key(key).await
    }
    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.count();
        self.inner.key(id).await
    }
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.count();
        self.inner.revoke_key(id, at).await
    }
}

#[tokio::test]
async fn a_warm_charge_is_one_store_request() {
    let store = Arc::new(Counting {
        inner: SqliteStore::in_memory().unwrap(),
        requests: AtomicUsize::new(0),
    });
    let harness = Harness::over(store.clone());
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let (_, key) = harness.key(Some("acme")).await;
    let charge =
        |id: &str| json!({"id": id, "feature": "video_emotion", "inputs": {"duration": "10s"}});
    // Warm up: the account key and the snapshot are read once.
    let reply = harness
        .send(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(&key),
            Some(charge("c-0")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let before = store.requests.load(Ordering::SeqCst);
    let reply = harness
        .send(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(&key),
            Some(charge("c-1")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        store.requests.load(Ordering::SeqCst) - before,
        1,
        "a warm charge is one commit"
    );

    let before = store.requests.load(Ordering::SeqCst);
    let again = harness
        .send(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(&key),
            Some(charge("c-1")),
        )
        .await;
    assert_eq!(again.json, reply.json);
    assert_eq!(
        store.requests.load(Ordering::SeqCst) - before,
        1,
        "a replay reads its record, writes nothing"
    );

    let before = store.requests.load(Ordering::SeqCst);
    let reply = harness
        .send(Method::GET, "/v1/accounts/acme/balance", Some(&key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        store.requests.load(Ordering::SeqCst) - before,
        1,
        "a balance is one load"
    );
}

/// A statement reads no history: the snapshot, then at most two keyed fact reads, however
/// old the account.
#[tokio::test]
async fn a_statement_is_at_most_three_store_requests() {
    let store = Arc::new(Counting {
        inner: SqliteStore::in_memory().unwrap(),
        requests: AtomicUsize::new(0),
    });
    let harness = Harness::over(store.clone());
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let charge =
        |id: &str| json!({"id": id, "feature": "video_emotion", "inputs": {"duration": "10s"}});
    // A charge a month for a year: twelve cycles closed.
    for month in 0..12 {
        let at = common::start() + chrono::Duration::days(31 * month);
        harness.clock.set(at);
        let reply = harness
            .admin(
                Method::POST,
                "/v1/accounts/acme/charges",
                Some(charge(&format!("c-{month}"))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    }
    for (cycle, most) in [
        ("2026-01", 3),
        ("2026-06", 3),
        ("2025-06", 3),
        ("2026-12", 1),
    ] {
        let before = store.requests.load(Ordering::SeqCst);
        let reply = harness
            .admin(
                Method::GET,
                &format!("/v1/accounts/acme/statements/{cycle}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        let spent = store.requests.load(Ordering::SeqCst) - before;
        assert!(spent <= most, "{cycle}: {spent} store requests");
    }
}
