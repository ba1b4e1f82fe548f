//! Each function's IAM role in `infra/template.yaml` allows exactly the DynamoDB actions its
//! code calls — no fewer (it would fail in production), no more (least privilege).
//!
//! "What the code calls" is recorded, not written down by hand:
//!
//! 1. The DynamoDB store runs over DynamoDB Local behind two recorders: a `Store` wrapper
//!    notes which store method is running, and an SDK interceptor ([`IamRecorder`]) notes the
//!    IAM permission each request needs (`TransactWriteItems` is authorised per part: its puts
//!    need `dynamodb:PutItem`; a `Query` names its index). So every store method gets the set
//!    of permissions it was seen to need.
//! 2. Every store method is first driven directly through its edge cases (conflicts, replays,
//!    duplicate entries and keys, filters, paging), so that paths a happy scenario never
//!    reaches are counted too; a static scan of the store crate checks that no SDK call the
//!    store makes was missed.
//! 3. Every route of the template is then called through the real router
//!    (`credits_api::router`, the one every Lambda runs) with real rate books, on a fresh
//!    router each time (a cold container: nothing cached), first call, replay and conflicting
//!    replay; the store methods each route reached are noted. The scheduled rollover is run
//!    the same way.
//! 4. A function needs the permissions of every store method any of its routes (or its
//!    schedule) reached; that set must equal what its role allows on the table and indexes.
//!    A permission includes the prefix of the partition keys its requests touched (`A#`
//!    account items, `K#` key items), which must match the statement's
//!    `dynamodb:LeadingKeys` condition.
//!
//! `scripts/install-tools.sh` once (DynamoDB Local), then
//! `cargo test -p credits-tests --test template_iam -- --nocapture`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use chrono::{DateTime, Duration, TimeZone, Utc};
use credits_api::{AppState, FixedClock, router};
use credits_dsl::library::RateLibrary;
use credits_store::{
    AccountPage, AccountRecord, Commit, CommitOutcome, DuePage, EntryPage, EntryQuery, EntryRecord,
    EventRecord, FactRecord, KeyRecord, OperationRecord, Store, StoreResult,
};
use credits_store_dynamodb::{DynamoStore, create_table, with_interceptor};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::template::{
    IamRecorder, Permission, Route, TableResource, Template, WEBHOOKS_TABLE_ID,
    dynamodb_actions_in_source, list, workspace_root,
};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

// ------------------------------------------------------------------ the recording store

/// One store call: the method and the permissions its requests needed.
type Call = (&'static str, Result<BTreeSet<Permission>, String>);

/// A `Store` that runs each call alone and records, per call, the method and the IAM
/// permissions of the DynamoDB requests it sent.
#[derive(Clone)]
struct RecordingStore {
    inner: DynamoStore,
    recorder: IamRecorder,
    serial: Arc<tokio::sync::Mutex<()>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl RecordingStore {
    async fn record<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        let _alone = self.serial.lock().await;
        if let Ok(stray) = self.recorder.take() {
            assert!(
                stray.is_empty(),
                "DynamoDB requests outside a store call: {}",
                list(stray)
            );
        }
        let out = call.await;
        let permissions = self.recorder.take();
        self.calls.lock().unwrap().push((method, permissions));
        out
    }

    fn drain(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Store for RecordingStore {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.record("load", self.inner.load(account)).await
    }
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        self.record("commit", self.inner.commit(commit)).await
    }
    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        self.record("operation", self.inner.operation(account, id))
            .await
    }
    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        self.record("facts", self.inner.facts(account, keys)).await
    }
    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        self.record(
            "last_fact_before",
            self.inner.last_fact_before(account, prefix, before),
        )
        .await
    }
    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        self.record("entries", self.inner.entries(query)).await
    }
    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage> {
        self.record(
            "due_accounts",
            self.inner
                .due_accounts(now, segment, segments, cursor, limit),
        )
        .await
    }
    async fn last_entry_at_or_before(
        &self,
        account: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EntryRecord>> {
        self.record(
            "last_entry_at_or_before",
            self.inner.last_entry_at_or_before(account, at),
        )
        .await
    }
    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.record(
            "account_events",
            self.inner.account_events(account, after_seq, limit),
        )
        .await
    }
    async fn accounts(&self, cursor: Option<String>, limit: u32) -> StoreResult<AccountPage> {
        self.record("accounts", self.inner.accounts(cursor, limit))
            .await
    }
    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.record("put_key", self.inner.put_key(key)).await
    }
    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.record("key", self.inner.key(id)).await
    }
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.record("revoke_key", self.inner.revoke_key(id, at))
            .await
    }
}

/// Permissions seen per store method, accumulated over every call.
#[derive(Debug, Default)]
struct MethodPermissions(BTreeMap<&'static str, BTreeSet<Permission>>);

impl MethodPermissions {
    /// Adds calls; returns the methods they were of.
    fn add(&mut self, calls: Vec<Call>) -> BTreeSet<&'static str> {
        let mut methods = BTreeSet::new();
        for (method, permissions) in calls {
            let permissions = permissions.unwrap_or_else(|e| panic!("store method {method}: {e}"));
            self.0.entry(method).or_default().extend(permissions);
            methods.insert(method);
        }
        methods
    }

    fn of(&self, methods: &BTreeSet<&'static str>) -> BTreeSet<Permission> {
        methods
            .iter()
            .flat_map(|m| self.0.get(m).cloned().unwrap_or_default())
            .collect()
    }
}

// ------------------------------------------------------------------ fixtures

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn rate_library() -> RateLibrary {
    let dir = workspace_root().join("rates");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rates") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    files.sort();
    RateLibrary::from_sources(files).unwrap_or_else(|errors| {
        panic!(
            "rates/ does not compile: {} file(s) with errors",
            errors.len()
        )
    })
}

fn entry(account: &str, id: &str, seq: u64, entry_type: &str) -> EntryRecord {
    EntryRecord {
        account: account.to_string(),
        id: id.to_string(),
        seq,
        at: at(1, 10),
        entry_type: entry_type.to_string(),
        operation: format!("op-{id}"),
        unit: Some("credit".to_string()),
        amount_minor: -100,
        feature: Some("video_emotion".to_string()),
        model: None,
        project: None,
        member: None,
        content: Some("video-1".to_string()),
        body: json!({}),
    }
}

fn operation(account: &str, id: &str) -> OperationRecord {
    OperationRecord {
        account: account.to_string(),
        id: id.to_string(),
        kind: "charge".to_string(),
        request_hash: "h".to_string(),
        status: 201,
        response: json!({}),
        at: at(1, 10),
    }
}

fn account_record(account: &str, version: u64, due: bool) -> AccountRecord {
    AccountRecord {
        account: account.to_string(),
        version,
        due_at: due.then(|| at(1, 0)),
        state: json!({}),
    }
}

/// Drives every store method through its edge cases, directly (no router).
async fn exercise_the_store(store: &RecordingStore) {
    let a = "edge-account";
    let first = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: account_record(a, 1, true),
        entries: (1..=3)
            .map(|i| entry(a, &format!("e{i}"), i, "charge"))
            .collect(),
        facts: vec![FactRecord {
            account: a.to_string(),
            key: "charge:op-e1".to_string(),
            value: json!({"charged_minor": {"credit": 100}}),
        }],
        operation: Some(operation(a, "op-1")),
    };
    assert_eq!(
        store.commit(first.clone()).await.unwrap(),
        CommitOutcome::Committed
    );
    // Version conflicts: the account exists already / moved on.
    let mut again = first.clone();
    again.operation = Some(operation(a, "op-2"));
    again.entries = vec![entry(a, "e9", 9, "charge")];
    assert!(matches!(
        store.commit(again.clone()).await.unwrap(),
        CommitOutcome::VersionConflict { .. }
    ));
    again.expected_version = 7;
    again.account.version = 8;
    assert!(matches!(
        store.commit(again).await.unwrap(),
        CommitOutcome::VersionConflict { .. }
    ));
    // A replayed operation, an existing entry.
    let mut replay = first.clone();
    replay.expected_version = 1;
    replay.account.version = 2;
    replay.entries.clear();
    assert!(matches!(
        store.commit(replay).await.unwrap(),
        CommitOutcome::OperationExists(_)
    ));
    let mut duplicate = first.clone();
    duplicate.expected_version = 1;
    duplicate.account = account_record(a, 2, false);
    duplicate.operation = Some(operation(a, "op-3"));
    duplicate.entries = vec![entry(a, "e1-again", 1, "charge")];
    assert!(matches!(
        store.commit(duplicate).await.unwrap(),
        CommitOutcome::EntryExists { .. }
    ));
    // A commit without an operation record.
    let mut lazy = first.clone();
    lazy.expected_version = 1;
    lazy.account = account_record(a, 2, false);
    lazy.operation = None;
    lazy.entries = vec![entry(a, "grant-1", 11, "grant")];
    assert_eq!(store.commit(lazy).await.unwrap(), CommitOutcome::Committed);

    assert!(store.load(a).await.unwrap().is_some());
    assert!(store.load("nobody").await.unwrap().is_none());
    assert!(store.operation(a, "op-1").await.unwrap().is_some());
    assert!(store.operation(a, "op-none").await.unwrap().is_none());

    // History: all, paged, filtered every way, empty.
    let all = EntryQuery {
        account: a.to_string(),
        ..EntryQuery::default()
    };
    assert_eq!(store.entries(&all).await.unwrap().entries.len(), 4);
    let paged = store
        .entries(&EntryQuery {
            limit: 1,
            ..all.clone()
        })
        .await
        .unwrap();
    assert!(paged.next.is_some());
    // Facts by key, and the latest before a key.
    let keys = ["charge:op-e1".to_string(), "charge:none".to_string()];
    assert_eq!(store.facts(a, &keys).await.unwrap().len(), 1);
    store
        .last_fact_before(a, "statement:", "statement:2026-03-01")
        .await
        .unwrap();
    let filtered = EntryQuery {
        from: Some(at(1, 0)),
        to: Some(at(2, 0)),
        types: vec!["charge".to_string(), "capture".to_string()],
        feature: Some("video_emotion".to_string()),
        model: Some("m".to_string()),
        project: Some("p".to_string()),
        member: Some("m".to_string()),
        after: paged.next,
        limit: 2,
        ..all.clone()
    };
    store.entries(&filtered).await.unwrap();
    store
        .entries(&EntryQuery {
            account: "nobody".to_string(),
            ..EntryQuery::default()
        })
        .await
        .unwrap();

    // Entries by time, backwards; the account listing, paged.
    store.last_entry_at_or_before(a, at(2, 0)).await.unwrap();
    let mut cursor = None;
    for _ in 0..10_000 {
        cursor = store.accounts(cursor, 1).await.unwrap().next;
        if cursor.is_none() {
            break;
        }
    }

    // The account's events (the outbox), by seq.
    store.account_events(a, 0, 10).await.unwrap();

    // The due walk: several segments, paged.
    for segments in [1, 3] {
        for segment in 0..segments {
            let mut cursor = None;
            loop {
                let page = store
                    .due_accounts(at(2, 0), segment, segments, cursor, 1)
                    .await
                    .unwrap();
                cursor = page.next;
                if cursor.is_none() {
                    break;
                }
            }
        }
    }

    // Keys: new, duplicate, read, missing, revoke twice, revoke missing.
    let key = KeyRecord {
        id: "edgekey".to_string(),
        secret_hash: "00".repeat(32),
        account: None,
        created_at: at(1, 0),
        revoked_at: None,
    };
    store.put_key(&key).await.unwrap();
    assert!(store.put_key(&key).await.is_err());
    assert!(store.key("edgekey").await.unwrap().is_some());
    assert!(store.key("nokey").await.unwrap().is_none());
    assert!(store.revoke_key("edgekey", at(1, 1)).await.unwrap());
    assert!(store.revoke_key("edgekey", at(1, 2)).await.unwrap());
    assert!(!store.revoke_key("nokey", at(1, 1)).await.unwrap());
}

// ------------------------------------------------------------------ the HTTP scenario

/// One request of the scenario, labelled with the template route it exercises.
struct Step {
    route: Route,
    path: String,
    key: Key,
    body: Option<Json>,
    /// Also send it again (a replay), and with another body (a conflicting replay).
    replay: Option<Json>,
    /// The status a route answers when this harness does not serve it (501: the webhook
    /// routes, served over the webhooks table, which they alone reach — template_webhooks.rs
    /// checks those permissions; here only their key lookup on the ledger table counts);
    /// `None`: a success.
    unserved: Option<u16>,
}

#[derive(Clone, Copy)]
enum Key {
    None,
    Admin,
    Account,
}

fn step(method: &str, route: &str, path: &str, key: Key, body: Option<Json>) -> Step {
    Step {
        route: Route::new(method, route),
        path: path.to_string(),
        key,
        body,
        replay: None,
        unserved: None,
    }
}

/// A route this harness answers 501 `not-implemented` (after authenticating the key): the
/// webhook routes, whose storage is not the ledger table.
fn unserved(method: &str, route: &str, path: &str, body: Option<Json>) -> Step {
    Step {
        unserved: Some(501),
        ..step(method, route, path, Key::Admin, body)
    }
}

fn mutation(route: &str, path: &str, key: Key, body: Json, conflicting: Json) -> Step {
    Step {
        replay: Some(conflicting),
        ..step("POST", route, path, key, Some(body))
    }
}

/// Whether a concrete path is an instance of a route's path template.
fn matches_route(route: &Route, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let pattern: Vec<&str> = route.path.split('/').collect();
    let actual: Vec<&str> = path.split('/').collect();
    pattern.len() == actual.len()
        && pattern
            .iter()
            .zip(&actual)
            .all(|(p, a)| (p.starts_with('{') && !a.is_empty()) || p == a)
}

struct Harness {
    store: RecordingStore,
    books: Arc<RateLibrary>,
    clock: Arc<FixedClock>,
    admin_key: String,
    account_key: Option<String>,
}

impl Harness {
    /// A fresh router (a cold container: no cached snapshot) over the same store.
    fn router(&self) -> axum::Router {
        let store: Arc<dyn Store> = Arc::new(self.store.clone());
        router(AppState::new(store, Arc::clone(&self.books)).with_clock(self.clock.clone()))
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        key: Key,
        body: Option<&Json>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method.clone()).uri(path);
        let token = match key {
            Key::None => None,
            Key::Admin => Some(self.admin_key.clone()),
            Key::Account => Some(self.account_key.clone().expect("an account key by now")),
        };
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn scenario() -> Vec<Step> {
    let acct = "/v1/accounts/acme";
    let charge = |id: &str, feature: &str, inputs: Json| json!({"id": id, "feature": feature, "inputs": inputs, "content": "video-1"});
    vec![
        step("GET", "/v1/health", "/v1/health", Key::None, None),
        step(
            "GET",
            "/v1/openapi.json",
            "/v1/openapi.json",
            Key::None,
            None,
        ),
        Step {
            // An update rather than a conflict: PUT is an upsert.
            replay: Some(json!({"plan": "imentiv/professional", "time_zone": "UTC"})),
            ..step(
                "PUT",
                "/v1/accounts/{account}",
                acct,
                Key::Admin,
                Some(
                    json!({"plan": "imentiv/professional", "subscription": {"status": "active", "period": "monthly", "anchor": "2026-03-01T00:00:00Z"}}),
                ),
            )
        },
        // An account nobody touches again: the rollover has it to advance.
        step(
            "PUT",
            "/v1/accounts/{account}",
            "/v1/accounts/idle",
            Key::Admin,
            Some(
                json!({"plan": "imentiv/professional", "subscription": {"status": "active", "period": "monthly", "anchor": "2026-03-01T00:00:00Z"}}),
            ),
        ),
        step(
            "POST",
            "/v1/keys",
            "/v1/keys",
            Key::Admin,
            Some(json!({"account": "acme"})),
        ),
        mutation(
            "/v1/accounts/{account}/topups",
            &format!("{acct}/topups"),
            Key::Admin,
            json!({"id": "topup-1", "amount": "5000"}),
            json!({"id": "topup-1", "amount": "6000"}),
        ),
        mutation(
            "/v1/accounts/{account}/topups",
            &format!("{acct}/topups"),
            Key::Admin,
            json!({"id": "topup-2", "package": "starter"}),
            json!({"id": "topup-2", "package": "growth"}),
        ),
        step(
            "POST",
            "/v1/accounts/{account}/quotes",
            &format!("{acct}/quotes"),
            Key::Account,
            Some(
                json!({"feature": "personality_analysis", "inputs": {"duration": "5m"}, "content": "video-1"}),
            ),
        ),
        mutation(
            "/v1/accounts/{account}/charges",
            &format!("{acct}/charges"),
            Key::Account,
            charge("job-1", "video_emotion", json!({"duration": "90s"})),
            charge("job-1", "video_emotion", json!({"duration": "91s"})),
        ),
        // Needs a prior core analysis of the same content: reads history.
        mutation(
            "/v1/accounts/{account}/charges",
            &format!("{acct}/charges"),
            Key::Account,
            charge("job-2", "personality_analysis", json!({"duration": "5m"})),
            charge("job-2", "personality_analysis", json!({"duration": "6m"})),
        ),
        step(
            "POST",
            "/v1/accounts/{account}/quotes",
            &format!("{acct}/quotes"),
            Key::Account,
            Some(
                json!({"feature": "emotion_highlights", "inputs": {"duration": "2m"}, "content": "video-1"}),
            ),
        ),
        mutation(
            "/v1/accounts/{account}/holds",
            &format!("{acct}/holds"),
            Key::Account,
            json!({"id": "hold-1", "feature": "video_emotion", "inputs": {"duration": "10m"}, "content": "video-2"}),
            json!({"id": "hold-1", "feature": "video_emotion", "inputs": {"duration": "11m"}, "content": "video-2"}),
        ),
        mutation(
            "/v1/accounts/{account}/holds/{hold}/capture",
            &format!("{acct}/holds/hold-1/capture"),
            Key::Account,
            json!({"inputs": {"duration": "8m"}}),
            json!({"inputs": {"duration": "9m"}}),
        ),
        // A hold's record (a fact) and, while it is open, the snapshot.
        step(
            "GET",
            "/v1/accounts/{account}/holds/{hold}",
            &format!("{acct}/holds/hold-1"),
            Key::Account,
            None,
        ),
        mutation(
            "/v1/accounts/{account}/holds",
            &format!("{acct}/holds"),
            Key::Account,
            json!({"id": "hold-2", "feature": "audio_emotion", "inputs": {"duration": "10m"}}),
            json!({"id": "hold-2", "feature": "audio_emotion", "inputs": {"duration": "12m"}}),
        ),
        mutation(
            "/v1/accounts/{account}/holds/{hold}/release",
            &format!("{acct}/holds/hold-2/release"),
            Key::Account,
            json!({}),
            json!({"id": "release-other"}),
        ),
        mutation(
            "/v1/accounts/{account}/refunds",
            &format!("{acct}/refunds"),
            Key::Admin,
            json!({"id": "refund-1", "charge": "job-1", "reason": "duplicate", "amount": "10"}),
            json!({"id": "refund-1", "charge": "job-1", "reason": "duplicate", "amount": "11"}),
        ),
        mutation(
            "/v1/accounts/{account}/adjustments",
            &format!("{acct}/adjustments"),
            Key::Admin,
            json!({"id": "adj-1", "direction": "credit", "amount": "5", "reason": "goodwill"}),
            json!({"id": "adj-1", "direction": "credit", "amount": "6", "reason": "goodwill"}),
        ),
        mutation(
            "/v1/accounts/{account}/voids",
            &format!("{acct}/voids"),
            Key::Admin,
            json!({"id": "void-1", "bucket": "adjustment:adj-1"}),
            json!({"id": "void-1", "bucket": "adjustment:adj-2"}),
        ),
        mutation(
            "/v1/accounts/{account}/chargebacks",
            &format!("{acct}/chargebacks"),
            Key::Admin,
            json!({"id": "chargeback-1", "purchase": "topup-2"}),
            json!({"id": "chargeback-1", "purchase": "topup-1"}),
        ),
        step(
            "GET",
            "/v1/accounts/{account}/balance",
            &format!("{acct}/balance"),
            Key::Account,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/balance",
            &format!("{acct}/balance?at=2026-03-10T12:10:00Z"),
            Key::Account,
            None,
        ),
        step("GET", "/v1/accounts/{account}", acct, Key::Account, None),
        step(
            "GET",
            "/v1/accounts",
            "/v1/accounts?limit=1&status=active",
            Key::Admin,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/entries",
            &format!("{acct}/entries"),
            Key::Account,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/entries",
            &format!("{acct}/entries?type=charge,refund&feature=video_emotion&limit=1"),
            Key::Account,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/entries",
            &format!("{acct}/entries?format=csv&from=2026-03-01"),
            Key::Admin,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/statements/{cycle}",
            &format!("{acct}/statements/2026-03"),
            Key::Account,
            None,
        ),
        step(
            "GET",
            "/v1/accounts/{account}/events",
            &format!("{acct}/events?after=0&limit=10"),
            Key::Account,
            None,
        ),
        // A cycle before the open one: its kept record, or the latest before it.
        step(
            "GET",
            "/v1/accounts/{account}/statements/{cycle}",
            &format!("{acct}/statements/2026-01"),
            Key::Account,
            None,
        ),
        step(
            "DELETE",
            "/v1/keys/{id}",
            "/v1/keys/{account-key}",
            Key::Admin,
            None,
        ),
        unserved(
            "POST",
            "/v1/webhooks",
            "/v1/webhooks",
            Some(json!({"url": "https://platform.example/hooks", "event_types": ["*"]})),
        ),
        unserved("GET", "/v1/webhooks", "/v1/webhooks", None),
        unserved("GET", "/v1/webhooks/{id}", "/v1/webhooks/wh_0", None),
        unserved(
            "GET",
            "/v1/webhooks/{id}/failed",
            "/v1/webhooks/wh_0/failed",
            None,
        ),
        unserved(
            "POST",
            "/v1/webhooks/{id}/redeliver",
            "/v1/webhooks/wh_0/redeliver",
            Some(json!({"all_failed": true})),
        ),
        unserved("DELETE", "/v1/webhooks/{id}", "/v1/webhooks/wh_0", None),
        mutation(
            "/v1/accounts/{account}/close",
            &format!("{acct}/close"),
            Key::Admin,
            json!({"id": "close-1"}),
            json!({"id": "close-2"}),
        ),
    ]
}

// ------------------------------------------------------------------ the check

#[tokio::test]
async fn each_role_allows_exactly_the_dynamodb_actions_its_code_calls() {
    let template = Template::load().unwrap_or_else(|e| panic!("{e}"));
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let table = unique_table_name("iam");
    create_table(&client, &table).await.expect("create table");
    let recorder = IamRecorder::new(&table);
    let store = RecordingStore {
        inner: DynamoStore::new(with_interceptor(&client, recorder.clone()), table.clone()),
        recorder,
        serial: Arc::default(),
        calls: Arc::default(),
    };
    let mut seen = MethodPermissions::default();

    // 1–2. The store's own edge cases.
    exercise_the_store(&store).await;
    let methods = seen.add(store.drain());
    let all_methods = BTreeSet::from([
        "account_events",
        "accounts",
        "commit",
        "due_accounts",
        "entries",
        "facts",
        "key",
        "last_entry_at_or_before",
        "last_fact_before",
        "load",
        "operation",
        "put_key",
        "revoke_key",
    ]);
    assert_eq!(methods, all_methods, "every store method is exercised");
    let recorded: BTreeSet<String> = seen
        .0
        .values()
        .flatten()
        .map(|p| p.action.clone())
        .collect();
    // Creating and describing tables (`table.rs`, `local.rs`) is for `credits serve` and
    // tests, never a Lambda (checked below).
    let in_source = dynamodb_actions_in_source(
        &workspace_root().join("functions/store-dynamodb/src"),
        &["table.rs", "local.rs"],
    );
    let missed: Vec<&String> = in_source.difference(&recorded).collect();
    assert!(
        missed.is_empty(),
        "functions/store-dynamodb sends {} in some path that exercise_the_store() never \
         reached: extend it in tests/tests/template_iam.rs",
        list(missed)
    );

    // 3. Every route, through the real router, cold, with replays.
    let now = at(10, 12);
    let admin = credits_api::auth::mint_key_with_id("iamadmin".to_string(), None, now);
    store.inner.put_key(&admin.record).await.unwrap();
    store.recorder.take().unwrap();
    let mut harness = Harness {
        store: store.clone(),
        books: Arc::new(rate_library()),
        clock: Arc::new(FixedClock::new(now)),
        admin_key: admin.key.clone(),
        account_key: None,
    };
    let routes = template.http_routes().unwrap_or_else(|e| panic!("{e}"));
    let mut route_methods: BTreeMap<Route, BTreeSet<&'static str>> = BTreeMap::new();
    let mut account_key_id = String::new();
    for step in scenario() {
        let path = step.path.replace("{account-key}", &account_key_id);
        assert!(
            matches_route(&step.route, &path),
            "scenario: {path} is not an instance of {}",
            step.route
        );
        let method = Method::from_bytes(step.route.method.as_bytes()).unwrap();
        let (status, body) = harness
            .send(&method, &path, step.key, step.body.as_ref())
            .await;
        match step.unserved {
            Some(expected) => assert_eq!(
                status.as_u16(),
                expected,
                "scenario: {method} {path} answered {status}: {body}"
            ),
            None => assert!(
                status.is_success(),
                "scenario: {method} {path} answered {status}: {body}\n(the scenario must succeed to \
                 reach the code paths it is there for)"
            ),
        }
        if step.route == Route::new("POST", "/v1/keys") {
            let created: Json = serde_json::from_str(&body).unwrap();
            account_key_id = created["id"].as_str().unwrap().to_string();
            harness.account_key = Some(created["key"].as_str().unwrap().to_string());
        }
        if let Some(conflicting) = &step.replay {
            let (again, body_again) = harness
                .send(&method, &path, step.key, step.body.as_ref())
                .await;
            assert!(
                again.is_success(),
                "replay of {method} {path}: {again}: {body_again}"
            );
            let (other, body_other) = harness
                .send(&method, &path, step.key, Some(conflicting))
                .await;
            assert!(
                other.is_success() || other.is_client_error(),
                "conflicting replay of {method} {path}: {other}: {body_other}"
            );
        }
        harness.clock.advance(Duration::minutes(1));
        let methods = seen.add(store.drain());
        route_methods
            .entry(step.route.clone())
            .or_default()
            .extend(methods);
    }
    let unexercised: Vec<&Route> = routes
        .keys()
        .filter(|r| !route_methods.contains_key(*r))
        .collect();
    assert!(
        unexercised.is_empty(),
        "the template routes {} have no step in scenario(): add one",
        list(unexercised)
    );

    // The scheduled rollover.
    run_rollover(&harness, schedule_input(&template)).await;
    let rollover_methods = seen.add(store.drain());

    // 4. Needed vs granted, per function.
    let mut needed: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
    let mut reached: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (route, function) in &routes {
        let methods = &route_methods[route];
        needed
            .entry(function.clone())
            .or_default()
            .extend(seen.of(methods));
        reached.entry(function.clone()).or_default().extend(methods);
    }
    // The rollover's schedule. The webhook sender's delivers from the webhooks table and
    // reads no ledger item (template_webhooks.rs checks its role).
    for function in template.scheduled_functions() {
        if function == "WebhookSenderFunction" {
            continue;
        }
        needed
            .entry(function.clone())
            .or_default()
            .extend(seen.of(&rollover_methods));
        reached
            .entry(function)
            .or_default()
            .extend(rollover_methods.iter().copied());
    }
    // A stream-triggered function reads no item: Lambda's event source mapping reads the
    // stream with the function's role, which needs exactly these (AWS's documented set for
    // a DynamoDB stream source), on the table's stream.
    for function in template.stream_functions() {
        let stream_read = [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
        ]
        .map(|action| Permission::new(action, TableResource::Stream));
        let needed = needed.entry(function).or_default();
        needed.extend(stream_read);
        needed.insert(Permission::new(
            "dynamodb:ListStreams",
            TableResource::Streams,
        ));
    }
    let mut problems = Vec::new();
    for (function, _) in template.resources_of_type("AWS::Serverless::Function") {
        let granted = template
            .dynamodb_permissions(function)
            .unwrap_or_else(|e| panic!("{e}"));
        let needed = needed.get(function).cloned().unwrap_or_default();
        let methods = reached.get(function).cloned().unwrap_or_default();
        eprintln!(
            "[template_iam] {function}: store methods {} → {}",
            list(&methods),
            list(&needed)
        );
        let missing: Vec<&Permission> = needed.difference(&granted).collect();
        let extra: Vec<&Permission> = granted.difference(&needed).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{function}: its code calls {} but its role does not allow it (store methods \
                 reached: {})",
                list(missing),
                list(&methods)
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{function}: its role allows {} but its code never calls it: remove it",
                list(extra)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "infra/template.yaml's IAM roles and the code disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// The scheduled cycle-rollover run, as the function runs it (`credits_lambda::rollover::
/// handle` with the schedule's input), over the harness's store, after the idle account's
/// first cycle ended; the store methods it reaches are drained by the caller.
async fn run_rollover(harness: &Harness, input: Json) {
    use lambda_http::lambda_runtime::{Context, LambdaEvent};

    harness.clock.set(at(1, 0) + Duration::days(40));
    let store: Arc<dyn Store> = Arc::new(harness.store.clone());
    let state = AppState::new(store, Arc::clone(&harness.books)).with_clock(harness.clock.clone());
    let report = credits_lambda::rollover::handle(
        LambdaEvent::new(input, Context::default()),
        &state,
        &credits_lambda::rollover::LogOnly,
    )
    .await
    .unwrap_or_else(|e| panic!("the rollover run failed: {e}"));
    assert!(
        report.advanced >= 1 && report.failed == 0 && report.complete,
        "the rollover run must advance the idle account to reach its code paths: {report:?}"
    );
}

/// The `Input` the template's schedule sends the rollover function.
fn schedule_input(template: &Template) -> Json {
    let function = template
        .resource("RolloverFunction")
        .expect("RolloverFunction");
    let events = function["Properties"]["Events"]
        .as_object()
        .expect("Events");
    let schedule = events
        .values()
        .find(|e| e["Type"] == "ScheduleV2")
        .expect("a ScheduleV2 event");
    match schedule["Properties"].get("Input").and_then(Json::as_str) {
        Some(text) => serde_json::from_str(text).expect("the schedule's Input is JSON"),
        None => json!({}),
    }
}

#[test]
fn no_lambda_creates_or_describes_tables() {
    for crate_dir in [
        "charge",
        "topup",
        "refund",
        "cycle-rollover",
        "account",
        "lambda-common",
        "events-publisher",
        "webhook-sender",
    ] {
        let src = workspace_root()
            .join("functions")
            .join(crate_dir)
            .join("src");
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for forbidden in ["create_table", "connect_local", "describe_table"] {
                assert!(
                    !text.contains(forbidden),
                    "{} calls `{forbidden}`: a Lambda uses the table the stack created, and its \
                     role allows no table administration",
                    path.display()
                );
            }
        }
    }
}

/// The roles of the HTTP functions reach account items only (partition keys starting
/// `A#`, the store's [`credits_store_dynamodb::ACCOUNT_PK_PREFIX`]) and, to authenticate,
/// read key items (`K#`); only the account function, which creates and revokes keys, may
/// write them. Enforced by IAM (`dynamodb:LeadingKeys`), whatever the code does: a bug in a
/// charge cannot overwrite an API key. The actions themselves are the test above's.
#[test]
fn hot_path_roles_reach_account_items_and_read_key_items_only() {
    let template = Template::load().unwrap();
    let accounts = json!([format!("{}*", credits_store_dynamodb::ACCOUNT_PK_PREFIX)]);
    let keys = json!([format!("{}*", credits_store_dynamodb::KEY_PK_PREFIX)]);
    let read_keys = ["dynamodb:GetItem"];
    let manage_keys = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ];
    for (role, key_actions) in [
        ("ChargeRole", &read_keys[..]),
        ("TopupRole", &read_keys[..]),
        ("RefundRole", &read_keys[..]),
        ("AccountRole", &manage_keys[..]),
    ] {
        let statements: Vec<Json> = template.resource(role).unwrap()["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
            .filter(|s| {
                s["Action"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a.as_str().is_some_and(|a| a.starts_with("dynamodb:")))
                })
            })
            // The account function's statements on the webhooks table (which has no account
            // or key items): template_webhooks.rs checks them.
            .filter(|s| !s["Resource"].to_string().contains(WEBHOOKS_TABLE_ID))
            .collect();
        let (mut on_accounts, mut on_keys) = (0, 0);
        for statement in &statements {
            // The one exception, documented in the template: the admin listing of accounts
            // scans, and a scan names no partition key for `LeadingKeys` to narrow.
            if role == "AccountRole" && statement["Action"] == json!(["dynamodb:Scan"]) {
                assert!(statement.get("Condition").is_none(), "{statement}");
                continue;
            }
            let leading =
                &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            assert_eq!(
                statement["Condition"].as_object().map(|c| c.len()),
                Some(1),
                "{role}: every DynamoDB statement has exactly the LeadingKeys condition: {statement}"
            );
            if leading == &accounts {
                on_accounts += 1;
            } else if leading == &keys {
                on_keys += 1;
                let actions: Vec<&str> = statement["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                assert_eq!(actions, key_actions, "{role}: what it may do to key items");
            } else {
                panic!("{role}: a statement reaches other items: {statement}");
            }
        }
        assert!(on_accounts >= 1, "{role} reaches account items");
        assert_eq!(on_keys, 1, "{role}: one statement on key items");
    }
}
