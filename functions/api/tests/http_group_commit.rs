//! Group commit through the real router (in-memory SQLite, group commit on): concurrent
//! charges of ONE account are decided in turn and committed as one write, every 201 is in
//! the history exactly once, replays answer identically, and a group that fails at commit
//! (store failure or another instance's write) answers no 201 and writes nothing.
//!
//! A gate in front of the store holds group commits until the test lets them through, so the
//! groups formed are the ones the test builds (no timing involved).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use credits_api::ApiConfig;
use credits_store::sqlite::SqliteStore;
use credits_store::{
    AccountRecord, Commit, CommitOutcome, DuePage, EntryPage, EntryQuery, FactRecord, GroupCommit,
    KeyRecord, OperationRecord, Store, StoreError, StoreResult,
};

use common::{ADMIN_KEY, Harness};

const ACCOUNT: &str = "hot";
/// `imentiv/enterprise`, `text_emotion` of 100 words: 2 credits.
const PRICE: i64 = 2;
const TOP_UP: i64 = 10_000;
/// Permits of an open gate (more than any test commits).
const OPEN: usize = 1 << 20;
/// Bound of the test's waits for the server to reach a state (iterations of 1 ms).
const MAX_WAIT_STEPS: usize = 20_000;

/// A store that lets group commits through a gate, records each group's size and outcome,
/// and fails groups larger than `fail_over` members (nothing written).
struct Gated {
    inner: Arc<SqliteStore>,
    gate: Semaphore,
    at_gate: AtomicUsize,
    fail_over: AtomicUsize,
    groups: Mutex<Vec<(usize, String)>>,
}

impl Gated {
    fn new(inner: Arc<SqliteStore>) -> Self {
        Self {
            inner,
            gate: Semaphore::new(OPEN),
            at_gate: AtomicUsize::new(0),
            fail_over: AtomicUsize::new(usize::MAX),
            groups: Mutex::new(Vec::new()),
        }
    }

    /// Close the gate: later group commits wait for [`Self::let_through`].
    async fn close(&self) {
        let open = self.gate.available_permits();
        self.gate.acquire_many(open as u32).await.unwrap().forget();
    }

    fn let_through(&self, commits: usize) {
        self.gate.add_permits(commits);
    }

    fn open(&self) {
        self.gate
            .add_permits(OPEN.saturating_sub(self.gate.available_permits()));
    }

    fn groups(&self) -> Vec<(usize, String)> {
        self.groups.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Store for Gated {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.inner.load(account).await
    }
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        self.inner.commit(commit).await
    }
    fn supports_group_commit(&self) -> bool {
        self.inner.supports_group_commit()
    }
    async fn commit_group(&self, group: GroupCommit) -> StoreResult<CommitOutcome> {
        self.at_gate.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.unwrap().forget();
        self.at_gate.fetch_sub(1, Ordering::SeqCst);
        let members = group.members.len();
        let outcome = if members > self.fail_over.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected: the group is lost".to_owned(),
            ))
        } else {
            self.inner.commit_group(group).await
        };
        let said = match &outcome {
            Ok(CommitOutcome::Committed) => "committed".to_owned(),
            Ok(CommitOutcome::VersionConflict { .. }) => "conflict".to_owned(),
            other => format!("{other:?}"),
        };
        self.groups.lock().unwrap().push((members, said));
        outcome
    }
    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        self.inner.operation(account, id).await
    }
    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        self.inner.facts(account, keys).await
    }
    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        self.inner.last_fact_before(account, prefix, before).await
    }
    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
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
        self.inner
            .due_accounts(now, segment, segments, cursor, limit)
            .await
    }
    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.inner.put_key(key).await
    }
    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.inner.key(id).await
    }
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_key(id, at).await
    }
}

/// The router (group commit on) over a gated in-memory store, with `hot` topped up.
async fn setup() -> (Harness, Arc<Gated>, Arc<SqliteStore>) {
    let inner = Arc::new(SqliteStore::in_memory().unwrap());
    let gated = Arc::new(Gated::new(Arc::clone(&inner)));
    let config = ApiConfig::default()
        .with_static_admin_key(ADMIN_KEY)
        .unwrap()
        .with_group_commit();
    let harness = Harness::configured(gated.clone(), config);
    harness
        .account(ACCOUNT, "imentiv/enterprise", Some(&TOP_UP.to_string()))
        .await;
    gated.groups.lock().unwrap().clear();
    (harness, gated, inner)
}

fn charge(id: &str) -> Value {
    json!({"id": id, "feature": "text_emotion", "inputs": {"words": 100}})
}

async fn post(router: Router, id: String) -> (String, StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/accounts/{ACCOUNT}/charges"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(charge(&id).to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        id,
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Polls `ready` every millisecond, a bounded number of times.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..MAX_WAIT_STEPS {
        if ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("never reached: {what}");
}

/// Sends charge `first` (which the closed gate holds at its commit), then `ids` while it is
/// held, until all of them wait in the account's queue.
async fn hold_first_and_queue(
    harness: &Harness,
    gated: &Gated,
    first: &str,
    ids: &[String],
) -> Vec<tokio::task::JoinHandle<(String, StatusCode, Value)>> {
    gated.close().await;
    let mut tasks = vec![tokio::spawn(post(harness.router.clone(), first.to_owned()))];
    wait_until("the first charge waits at the gate", || {
        gated.at_gate.load(Ordering::SeqCst) == 1
    })
    .await;
    for id in ids {
        tasks.push(tokio::spawn(post(harness.router.clone(), id.clone())));
    }
    wait_until("every later charge is queued", || {
        harness.state.slots.queued(ACCOUNT) == ids.len()
    })
    .await;
    tasks
}

async fn join(
    tasks: Vec<tokio::task::JoinHandle<(String, StatusCode, Value)>>,
) -> Vec<(String, StatusCode, Value)> {
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

/// Per operation id, the amounts of its entries (every entry of the account).
async fn entries_by_operation(store: &dyn Store) -> BTreeMap<String, Vec<i64>> {
    let mut query = EntryQuery {
        account: ACCOUNT.to_owned(),
        ..EntryQuery::default()
    };
    let mut found: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for _ in 0..1000 {
        let page = store.entries(&query).await.unwrap();
        for entry in page.entries {
            found
                .entry(entry.operation)
                .or_default()
                .push(entry.amount_minor);
        }
        match page.next {
            Some(after) => query.after = Some(after),
            None => return found,
        }
    }
    panic!("the history never ends");
}

/// Balance in minor units (credits have 2 decimals in `imentiv`), via the API.
async fn available_minor(harness: &Harness) -> i64 {
    let text = harness.available(ACCOUNT, "credit").await;
    let value: rust_decimal::Decimal = text.parse().unwrap();
    (value * rust_decimal::Decimal::from(100))
        .try_into()
        .unwrap()
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_charges_on_one_account_commit_as_groups_exactly_once() {
    let (harness, gated, _) = setup().await;
    let version = harness.store.load(ACCOUNT).await.unwrap().unwrap().version;

    // One charge held at its commit, 40 more queued behind it: the next group holds all 40.
    let queued = ids("c", 40);
    let tasks = hold_first_and_queue(&harness, &gated, "first", &queued).await;
    gated.open();
    let mut replies = join(tasks).await;
    assert_eq!(
        gated.groups(),
        [(1, "committed".to_owned()), (40, "committed".to_owned())]
    );

    // Then a free-for-all: 200 charges from 50 tasks at once, groups as they come.
    let burst = ids("b", 200);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in burst.chunks(4) {
        let router = harness.router.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            let mut replies = Vec::new();
            for id in chunk {
                replies.push(post(router.clone(), id).await);
            }
            replies
        });
    }
    while let Some(done) = tasks.join_next().await {
        replies.extend(done.unwrap());
    }

    let charged = replies.len();
    assert_eq!(charged, 241);
    for (id, status, body) in &replies {
        assert_eq!(*status, StatusCode::CREATED, "`{id}`: {body}");
        assert_eq!(body["id"], id.as_str(), "{body}");
    }
    // Every 201 is in the history, once, with its price; nothing else was written.
    let history = entries_by_operation(&*harness.store).await;
    for (id, _, _) in &replies {
        assert_eq!(
            history.get(id),
            Some(&vec![-PRICE * 100]),
            "entries of `{id}`"
        );
    }
    assert_eq!(history.len(), charged + 1, "the top-up and the charges");
    assert_eq!(
        available_minor(&harness).await,
        (TOP_UP - PRICE * charged as i64) * 100
    );
    // One version per decision, whatever the groups.
    let after = harness.store.load(ACCOUNT).await.unwrap().unwrap();
    assert_eq!(after.version, version + charged as u64);
    let grouped: usize = gated.groups().iter().map(|(members, _)| members).sum();
    assert_eq!(grouped, charged);

    // Replays answer the original, and write nothing.
    for (id, _, body) in replies.iter().step_by(7) {
        let (_, status, again) = post(harness.router.clone(), id.clone()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(&again, body, "the replay of `{id}`");
    }
    assert_eq!(entries_by_operation(&*harness.store).await, history);
    assert_eq!(
        harness.store.load(ACCOUNT).await.unwrap().unwrap().version,
        after.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_fails_at_commit_answers_no_201_and_writes_nothing() {
    let (harness, gated, _) = setup().await;
    let before = entries_by_operation(&*harness.store).await;

    // The first charge commits alone; the group of 20 behind it is lost by the store.
    gated.fail_over.store(1, Ordering::SeqCst);
    let queued = ids("lost", 20);
    let tasks = hold_first_and_queue(&harness, &gated, "first", &queued).await;
    gated.open();
    let replies = join(tasks).await;
    assert_eq!(
        gated.groups()[..2],
        [
            (1, "committed".to_owned()),
            (
                20,
                "Err(Unavailable(\"injected: the group is lost\"))".to_owned()
            )
        ]
    );
    assert_eq!(replies[0].1, StatusCode::CREATED, "{:?}", replies[0]);
    for (id, status, body) in &replies[1..] {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "`{id}`: {body}");
        assert_eq!(body["type"], "unavailable");
    }
    let after = entries_by_operation(&*harness.store).await;
    let mut expected = before.clone();
    expected.insert("first".to_owned(), vec![-PRICE * 100]);
    assert_eq!(after, expected, "only the first charge was written");
    for id in &queued {
        assert_eq!(harness.store.operation(ACCOUNT, id).await.unwrap(), None);
    }
    assert_eq!(available_minor(&harness).await, (TOP_UP - PRICE) * 100);

    // The clients retry with the same ids: each is decided afresh, once.
    gated.fail_over.store(usize::MAX, Ordering::SeqCst);
    let mut tasks = Vec::new();
    for id in &queued {
        tasks.push(tokio::spawn(post(harness.router.clone(), id.clone())));
    }
    for (id, status, body) in join(tasks).await {
        assert_eq!(status, StatusCode::CREATED, "`{id}`: {body}");
    }
    let history = entries_by_operation(&*harness.store).await;
    for id in &queued {
        assert_eq!(
            history.get(id),
            Some(&vec![-PRICE * 100]),
            "entries of `{id}`"
        );
    }
    assert_eq!(available_minor(&harness).await, (TOP_UP - PRICE * 21) * 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_loses_a_race_to_another_instance_is_decided_again() {
    let (harness, gated, inner) = setup().await;
    // Another instance over the same database, one commit at a time.
    let other = Harness::configured(
        inner.clone(),
        ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap(),
    );

    let queued = ids("raced", 20);
    let tasks = hold_first_and_queue(&harness, &gated, "first", &queued).await;
    // The first charge commits; the group of 20 is decided on its snapshot and held.
    gated.let_through(1);
    wait_until("the group of 20 waits at the gate", || {
        gated.at_gate.load(Ordering::SeqCst) == 1 && gated.groups().len() == 1
    })
    .await;
    // Meanwhile the other instance charges the account: the group's version is gone.
    let (_, status, body) = post(other.router.clone(), "elsewhere".to_owned()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    gated.open();
    let replies = join(tasks).await;

    let groups = gated.groups();
    assert_eq!(groups[0], (1, "committed".to_owned()));
    assert_eq!(groups[1], (20, "conflict".to_owned()));
    let redecided: usize = groups[2..]
        .iter()
        .filter(|(_, said)| said == "committed")
        .map(|(members, _)| members)
        .sum();
    assert_eq!(redecided, 20, "{groups:?}");
    for (id, status, body) in &replies {
        assert_eq!(*status, StatusCode::CREATED, "`{id}`: {body}");
    }
    let history = entries_by_operation(&*harness.store).await;
    for (id, _, _) in &replies {
        assert_eq!(
            history.get(id),
            Some(&vec![-PRICE * 100]),
            "entries of `{id}`"
        );
    }
    assert_eq!(history.get("elsewhere"), Some(&vec![-PRICE * 100]));
    assert_eq!(available_minor(&harness).await, (TOP_UP - PRICE * 22) * 100);
}

/// A group commit carries each member's events: the member whose charge crosses the alert
/// threshold publishes `balance.low` in the group's one write, numbered after the account's
/// last event; a group that fails at commit publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commits_the_events_of_its_members() {
    let (harness, gated, inner) = setup().await;
    // 5,010 credits left: the 6th charge of 2 credits goes below the plan's 5,000 alert.
    let debit = harness
        .admin(
            Method::POST,
            &format!("/v1/accounts/{ACCOUNT}/adjustments"),
            Some(json!({"id": "debit", "direction": "debit", "amount": "4990", "reason": "correction"})),
        )
        .await;
    assert_eq!(debit.status, StatusCode::CREATED, "{}", debit.text);
    let before = inner.account_events(ACCOUNT, 0, 0).await.unwrap();
    assert!(before.iter().all(|event| event.event_type != "balance.low"));

    // A group that fails at commit: nothing of it, events included.
    gated.fail_over.store(1, Ordering::SeqCst);
    let tasks = hold_first_and_queue(&harness, &gated, "f-first", &ids("f", 10)).await;
    gated.open();
    join(tasks).await;
    gated.fail_over.store(usize::MAX, Ordering::SeqCst);
    let after_failure = inner.account_events(ACCOUNT, 0, 0).await.unwrap();
    let low = |events: &[credits_store::EventRecord]| {
        events
            .iter()
            .filter(|event| event.event_type == "balance.low")
            .count()
    };
    let charged = entries_by_operation(&*harness.store).await;
    let crossed = charged.keys().filter(|id| id.starts_with('f')).count() > 5;
    assert_eq!(low(&after_failure), usize::from(crossed));

    // Ten more in one group: the crossing, if not made yet, is in it, once.
    let tasks = hold_first_and_queue(&harness, &gated, "g-first", &ids("g", 10)).await;
    gated.open();
    for (id, status, body) in join(tasks).await {
        assert_eq!(status, StatusCode::CREATED, "`{id}`: {body}");
    }
    let events = inner.account_events(ACCOUNT, 0, 0).await.unwrap();
    assert_eq!(low(&events), 1, "{events:#?}");
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(
        gated
            .groups()
            .iter()
            .any(|(members, outcome)| *members > 1 && outcome == "committed")
    );
}
