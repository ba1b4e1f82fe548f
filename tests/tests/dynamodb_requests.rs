//! How many DynamoDB requests the ledger's operations cost ("a charge is one
//! DynamoDB request in the common case, and an idempotent replay costs no second write"),
//! counted by an SDK interceptor over DynamoDB Local.
//!
//! First at the store: a commit is one `TransactWriteItems`, and every refusal (lost race,
//! replay, duplicate entry) is answered from that one request's cancellation reasons and old
//! items. Then through the API's real service layer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use credits_store::{AccountRecord, Commit, CommitOutcome, EntryRecord, OperationRecord, Store};
use credits_store_dynamodb::{DynamoStore, RequestCounter, create_table, with_interceptor};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + seconds, 0)
        .single()
        .unwrap()
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
        events: Vec::new(),
        expected_version,
        account: account(expected_version + 1, 100 - i64::try_from(seq).unwrap()),
        entries: vec![entry(id, seq, -1)],
        facts: vec![],
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
    assert_eq!(
        outcome,
        CommitOutcome::OperationExists(operation("c1", "h1"))
    );
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
    let CommitOutcome::VersionConflict {
        current: Some(current),
    } = outcome
    else {
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
    let outcome = store
        .commit(charge(0, "c1", 1, "h1-other-now"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CommitOutcome::OperationExists(operation("c1", "h1"))
    );
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}

#[tokio::test]
async fn resending_a_commit_that_landed_is_acknowledged_not_applied_twice() {
    // What the retry loop does after a lost response: the same request, the same token.
    let (store, counter) = counted_store().await;
    let commit = charge(0, "c1", 1, "h1");
    assert_eq!(
        store.commit(commit.clone()).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 2)]));
    let stored = store.load("acme").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
}

#[tokio::test]
async fn a_duplicate_seq_is_named() {
    let (store, counter) = counted_store().await;
    store.commit(charge(0, "c1", 1, "h1")).await.unwrap();
    counter.take();
    let outcome = store
        .commit(Commit {
            events: Vec::new(),
            expected_version: 1,
            account: account(2, 0),
            entries: vec![entry("fresh", 2, -1), entry("again", 1, -1)],
            facts: vec![],
            operation: Some(operation("c9", "h9")),
        })
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::EntryExists { seq: 1 });
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 1)]));
}

/// Replaces the responses of the next `remaining` `TransactWriteItems` requests (which DID
/// reach DynamoDB and were applied or refused there) by `status` and `body`: a lost response,
/// a transient cancellation, as the client sees them.
#[derive(Debug, Clone)]
struct Sabotage {
    remaining: std::sync::Arc<std::sync::atomic::AtomicU32>,
    status: u16,
    body: &'static str,
}

impl Sabotage {
    fn new(times: u32, status: u16, body: &'static str) -> Sabotage {
        Sabotage {
            remaining: std::sync::Arc::new(std::sync::atomic::AtomicU32::new(times)),
            status,
            body,
        }
    }
}

impl aws_sdk_dynamodb::config::Intercept for Sabotage {
    fn name(&self) -> &'static str {
        "Sabotage"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use std::sync::atomic::Ordering;
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        if operation.map(|m| m.name()) != Some("TransactWriteItems") {
            return Ok(());
        }
        let armed = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if armed {
            let response = context.response_mut();
            *response.status_mut() = self.status.try_into()?;
            response.headers_mut().remove("x-amz-crc32");
            response.headers_mut().remove("content-length");
            *response.body_mut() = aws_smithy_types::body::SdkBody::from(self.body);
        }
        Ok(())
    }
}

const INTERNAL_ERROR: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#;
const TRANSACTION_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled [TransactionConflict, None, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item."},{"Code":"None"},{"Code":"None"}]}"#;

async fn sabotaged_store(sabotage: Sabotage) -> (DynamoStore, RequestCounter) {
    let (store, counter) = counted_store().await;
    let client = with_interceptor(store.client(), sabotage);
    (DynamoStore::new(client, store.table().to_string()), counter)
}

#[tokio::test]
async fn a_lost_response_is_retried_with_the_same_token_and_lands_once() {
    let (store, counter) = sabotaged_store(Sabotage::new(1, 500, INTERNAL_ERROR)).await;
    // Attempt 1 commits but its answer is lost; attempt 2 resends it with the same token and
    // DynamoDB acknowledges it without applying it again (else: a version conflict).
    assert_eq!(
        store.commit(charge(0, "c1", 1, "h1")).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 2)]));
    assert_eq!(store.load("acme").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_transaction_conflict_is_retried() {
    let (store, counter) = sabotaged_store(Sabotage::new(2, 400, TRANSACTION_CONFLICT)).await;
    assert_eq!(
        store.commit(charge(0, "c1", 1, "h1")).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 3)]));
    assert_eq!(store.load("acme").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (store, counter) = sabotaged_store(Sabotage::new(100, 500, INTERNAL_ERROR)).await;
    let error = store.commit(charge(0, "c1", 1, "h1")).await.unwrap_err();
    assert!(
        matches!(&error, credits_store::StoreError::Unavailable(m) if m.contains("after 5 attempts")),
        "{error:?}"
    );
    assert_eq!(counter.take(), counts(&[("TransactWriteItems", 5)]));
}

// ---------------------------------------------------------------------------------------
// Through the API's service layer: the router of `credits-api`, as a Lambda runs it.
// ---------------------------------------------------------------------------------------

mod service {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use chrono::{TimeZone, Utc};
    use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
    use credits_store_dynamodb::{DynamoStore, RequestCounter};
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    const ADMIN_KEY: &str = "requests-admin-key-0123456789";

    fn library() -> RateLibrary {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rates");
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "rates") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                sources.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
        sources.sort();
        RateLibrary::from_sources(sources)
            .unwrap_or_else(|d| panic!("the rate books do not check: {d:?}"))
    }

    /// One "container": its own router, slots (snapshot cache) and counted client, over
    /// the shared table.
    struct Container {
        router: Router,
        counter: RequestCounter,
    }

    impl Container {
        fn new(store: &DynamoStore, books: &Arc<RateLibrary>) -> Container {
            let counter = RequestCounter::default();
            let client = credits_store_dynamodb::with_interceptor(store.client(), counter.clone());
            let store = DynamoStore::new(client, store.table().to_string());
            let clock = Arc::new(FixedClock::new(
                Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap(),
            ));
            let config = ApiConfig::default()
                .with_static_admin_key(ADMIN_KEY)
                .unwrap();
            let state = AppState::new(Arc::new(store), Arc::clone(books))
                .with_clock(clock)
                .with_config(config);
            Container {
                router: credits_api::router(state),
                counter,
            }
        }

        async fn send(
            &self,
            method: Method,
            path: &str,
            key: &str,
            body: Option<Value>,
        ) -> (StatusCode, Value) {
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {key}"));
            let body = match body {
                Some(body) => {
                    request = request.header(header::CONTENT_TYPE, "application/json");
                    Body::from(body.to_string())
                }
                None => Body::empty(),
            };
            let response = self
                .router
                .clone()
                .oneshot(request.body(body).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }

        /// Sends, and returns the status, the body and the requests it cost.
        async fn counted(
            &self,
            method: Method,
            path: &str,
            key: &str,
            body: Option<Value>,
        ) -> (StatusCode, Value, BTreeMap<String, u64>) {
            self.counter.take();
            let (status, json) = self.send(method, path, key, body).await;
            (status, json, self.counter.take())
        }
    }

    fn charge(id: &str) -> Value {
        json!({"id": id, "feature": "video_emotion", "inputs": {"duration": "90s"}})
    }

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        super::counts(pairs)
    }

    const CHARGES: &str = "/v1/accounts/acme/charges";

    /// A container with a warm account `acme` (created and topped up through it).
    async fn warm() -> (DynamoStore, Arc<RateLibrary>, Container) {
        let (store, _) = super::counted_store().await;
        let books = Arc::new(library());
        let container = Container::new(&store, &books);
        let (status, json) = container
            .send(
                Method::PUT,
                "/v1/accounts/acme",
                ADMIN_KEY,
                Some(json!({"plan": "imentiv/professional"})),
            )
            .await;
        assert!(status.is_success(), "{status} {json}");
        let (status, json) = container
            .send(
                Method::POST,
                "/v1/accounts/acme/topups",
                ADMIN_KEY,
                Some(json!({"id": "setup", "amount": "1000"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        (store, books, container)
    }

    #[tokio::test]
    async fn a_warm_charge_is_one_request_and_a_replay_writes_nothing() {
        let (_store, _books, container) = warm().await;

        let (status, first, cost) = container
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c1")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        eprintln!("warm charge: {cost:?}");
        assert_eq!(cost, counts(&[("TransactWriteItems", 1)]));

        let (status, again, cost) = container
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c1")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(again, first);
        eprintln!("warm replay: {cost:?}");
        // The container remembers the ids it committed, so a replay reads the operation
        // record (one `GetItem`, no write) instead of sending a transaction that would fail.
        assert_eq!(cost, counts(&[("GetItem", 1)]));
    }

    #[tokio::test]
    async fn a_cold_container_loads_once() {
        let (store, books, _warm) = warm().await;
        let cold = Container::new(&store, &books);
        let (status, json, cost) = cold
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c1")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        eprintln!("cold charge: {cost:?}");
        assert_eq!(cost, counts(&[("GetItem", 1), ("TransactWriteItems", 1)]));
        // And is warm from then on.
        let (_, _, cost) = cold
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c2")))
            .await;
        assert_eq!(cost, counts(&[("TransactWriteItems", 1)]));
    }

    #[tokio::test]
    async fn a_lost_race_costs_one_more_transaction_and_no_read() {
        let (store, books, one) = warm().await;
        let other = Container::new(&store, &books);
        // Warm `other` too, then let `one` move the account on.
        let (status, _, _) = other
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c1")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, _) = one
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c2")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        // `other` decides on its stale snapshot, loses, and retries on the snapshot the
        // conflict returned.
        let (status, json, cost) = other
            .counted(Method::POST, CHARGES, ADMIN_KEY, Some(charge("c3")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        eprintln!("lost race: {cost:?}");
        assert_eq!(cost, counts(&[("TransactWriteItems", 2)]));
    }

    #[tokio::test]
    async fn a_stored_key_costs_a_read_per_request() {
        // Measured, not wished: the API looks a stored key up on every request (no cache),
        // so a charge with an account key is a `GetItem` plus the transaction. Only the
        // static admin key (`CREDITS_ADMIN_KEY`) is checked without the store.
        let (_store, _books, container) = warm().await;
        let (status, key) = container
            .send(
                Method::POST,
                "/v1/keys",
                ADMIN_KEY,
                Some(json!({"account": "acme"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let key = key["key"].as_str().unwrap().to_owned();
        let (status, json, cost) = container
            .counted(Method::POST, CHARGES, &key, Some(charge("c1")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        eprintln!("warm charge with an account key: {cost:?}");
        assert_eq!(cost, counts(&[("GetItem", 1), ("TransactWriteItems", 1)]));
    }
}
