//! The webhook storage contract ([`WebhookStore`]) as executable checks, run against every
//! implementation: endpoints (the limit, unique ids, oldest first, deletion), fan-out by
//! type, one due delivery per (endpoint, account) lane in seq order, leases, retries, giving
//! up (the lane's waiting deliveries held back, the lane free again), the failed listing and
//! its cursor, re-delivery, and a deleted endpoint's deliveries never claimed nor listed.
//!
//! How events get queued differs by store: a store with a feed (SQLite) queues a page of it
//! with [`WebhookStore::enqueue`], one without (DynamoDB, fed by its table's stream) with
//! [`WebhookStore::enqueue_events`]. Each case takes the way as a [`Queue`]: [`FromFeed`] or
//! [`FromStream`].
//!
//! Every case wants a store of its own (claims are store-wide, endpoints limited): run them
//! with [`webhook_conformance_tests!`](crate::webhook_conformance_tests), given an async
//! expression yielding something that dereferences to a [`WebhookStore`], and the queue:
//!
//! ```ignore
//! mod sqlite {
//!     credits_store::webhook_conformance_tests!(
//!         async { credits_store::sqlite::SqliteStore::in_memory().unwrap() },
//!         credits_store::conformance::webhooks::FromFeed
//!     );
//! }
//! ```

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::webhooks::{
    AttemptResult, DeliveryRecord, DeliveryState, EndpointRecord, MAX_DELIVERY_CURSOR_BYTES,
    MAX_ENDPOINTS, Redeliver, WebhookStore,
};
use crate::{EventRecord, FedEvent, StoreError};

/// The one list of cases; the macro below expands it.
#[doc(hidden)]
#[macro_export]
macro_rules! __webhook_conformance_cases {
    ($make:expr, $queue:expr) => {
        $crate::__webhook_conformance_expand! { ($make, $queue);
            endpoints_are_limited_unique_and_listed_oldest_first,
            events_fan_out_to_the_endpoints_that_want_their_type,
            one_delivery_per_lane_is_due_and_lanes_go_in_seq_order,
            claims_are_leased_earliest_first_and_limited,
            a_retry_keeps_the_lane_and_is_listed_as_failing,
            giving_up_holds_the_lane_s_waiting_deliveries_back_and_frees_the_lane,
            the_failed_listing_pages_by_cursor_and_refuses_a_foreign_one,
            redelivery_requeues_behind_the_due_one_then_in_seq_order,
            a_deleted_endpoint_s_deliveries_are_never_claimed_nor_listed,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __webhook_conformance_expand {
    (($make:expr, $queue:expr); $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::conformance::webhooks::$case(&*store, &$queue).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per webhook case. `$make` is an async expression
/// (evaluated once per test: every case wants a fresh store) yielding something that
/// dereferences to a [`WebhookStore`]; `$queue` a [`Queue`] for that store.
#[macro_export]
macro_rules! webhook_conformance_tests {
    ($make:expr, $queue:expr) => {
        $crate::__webhook_conformance_cases! { $make, $queue }
    };
}

/// How a case queues events on the store under test.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Queues `events` (each account's in seq order) at `now`; answers how many deliveries
    /// were queued.
    async fn queue(
        &self,
        store: &dyn WebhookStore,
        events: &[EventRecord],
        now: DateTime<Utc>,
    ) -> u64;
}

/// For a store with an event feed: the events as the next page of the feed, after the
/// stored cursor ([`WebhookStore::enqueue`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct FromFeed;

#[async_trait::async_trait]
impl Queue for FromFeed {
    async fn queue(
        &self,
        store: &dyn WebhookStore,
        events: &[EventRecord],
        now: DateTime<Utc>,
    ) -> u64 {
        let cursor = store.delivery_cursor().await.expect("the cursor reads");
        let fed: Vec<FedEvent> = (1..)
            .zip(events)
            .map(|(offset, event)| FedEvent {
                position: cursor + offset,
                event: event.clone(),
            })
            .collect();
        let next = cursor + events.len() as u64;
        store
            .enqueue(cursor, &fed, next, now)
            .await
            .expect("enqueue succeeds")
            .expect("the cursor did not move")
    }
}

/// For a store without a feed: the events as a stream delivers them
/// ([`WebhookStore::enqueue_events`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct FromStream;

#[async_trait::async_trait]
impl Queue for FromStream {
    async fn queue(
        &self,
        store: &dyn WebhookStore,
        events: &[EventRecord],
        now: DateTime<Utc>,
    ) -> u64 {
        store
            .enqueue_events(events, now)
            .await
            .expect("enqueue_events succeeds")
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// `seconds` after a fixed instant; whole seconds, so every store keeps them exactly.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("a valid time")
}

/// An endpoint registered at `at(0)`.
pub fn endpoint(id: &str, types: &[&str]) -> EndpointRecord {
    EndpointRecord {
        id: id.to_owned(),
        url: format!("https://platform.example/hooks/{id}"),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        secret: format!("whsec_{id}_0123456789abcdef"),
        created_at: at(0),
    }
}

/// Event `seq` of `account`, of `event_type`.
pub fn event(account: &str, seq: u64, event_type: &str) -> EventRecord {
    EventRecord {
        account: account.to_owned(),
        seq,
        id: format!("evt_{account}_{seq}"),
        event_type: event_type.to_owned(),
        at: at(i64::try_from(seq).unwrap_or(0)),
        body: json!({"type": event_type, "seq": seq, "data": {"amount_minor": 1_000_000_000_000_i64}}),
    }
}

fn low(account: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<EventRecord> {
    seqs.map(|seq| event(account, seq, "balance.low")).collect()
}

async fn register(store: &dyn WebhookStore, id: &str, types: &[&str]) {
    assert!(
        store
            .put_endpoint(&endpoint(id, types))
            .await
            .expect("put_endpoint succeeds"),
        "endpoint {id} is registered"
    );
}

/// Claims every due delivery at `now` (lease 40 s), and checks that no lane has two.
pub async fn claim(store: &dyn WebhookStore, now: DateTime<Utc>) -> Vec<DeliveryRecord> {
    let claimed = store
        .claim_due(now, now + Duration::seconds(40), 256)
        .await
        .expect("claim_due succeeds");
    let mut lanes = BTreeSet::new();
    for delivery in &claimed {
        assert_eq!(delivery.state, DeliveryState::Due, "{delivery:?}");
        assert!(
            lanes.insert((delivery.endpoint.clone(), delivery.event.account.clone())),
            "two due deliveries in one lane: {claimed:?}"
        );
    }
    claimed
}

/// (endpoint, event id) of each claimed delivery, sorted.
async fn claimed_ids(store: &dyn WebhookStore, now: DateTime<Utc>) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = claim(store, now)
        .await
        .into_iter()
        .map(|delivery| (delivery.endpoint, delivery.event.id))
        .collect();
    ids.sort();
    ids
}

fn pair(endpoint: &str, event: &str) -> (String, String) {
    (endpoint.to_owned(), event.to_owned())
}

/// The one delivery claimed at `now`, which must be `event_id`.
async fn claim_one(store: &dyn WebhookStore, now: DateTime<Utc>, event_id: &str) -> DeliveryRecord {
    let mut claimed = claim(store, now).await;
    assert_eq!(
        claimed
            .iter()
            .map(|d| d.event.id.as_str())
            .collect::<Vec<_>>(),
        [event_id],
        "claimed at {now}"
    );
    claimed.remove(0)
}

async fn record(
    store: &dyn WebhookStore,
    delivery: &DeliveryRecord,
    attempted_at: DateTime<Utc>,
    result: AttemptResult,
) {
    store
        .record_attempt(delivery, attempted_at, result)
        .await
        .expect("record_attempt succeeds");
}

fn give_up() -> AttemptResult {
    AttemptResult::GiveUp {
        status: Some(500),
        error: "the receiver answered 500 for 3 days".to_owned(),
    }
}

/// Every failed or failing delivery of `endpoint`, read in pages of `page`.
pub async fn all_failed(
    store: &dyn WebhookStore,
    endpoint: &str,
    page: u32,
) -> Vec<DeliveryRecord> {
    let mut read = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1_000 {
        let page = store
            .failed_deliveries(endpoint, after.as_deref(), page)
            .await
            .expect("failed_deliveries succeeds");
        read.extend(page.deliveries);
        match page.next {
            Some(next) => {
                assert!(next.len() <= MAX_DELIVERY_CURSOR_BYTES, "cursor `{next}`");
                assert!(
                    next.bytes().all(|b| b.is_ascii_graphic()),
                    "cursor `{next}`"
                );
                after = Some(next);
            }
            None => return read,
        }
    }
    panic!("the failed listing of {endpoint} never ends");
}

/// (event id, state, attempts) of each, in the listing's order.
fn states(deliveries: &[DeliveryRecord]) -> Vec<(String, DeliveryState, u32)> {
    deliveries
        .iter()
        .map(|d| (d.event.id.clone(), d.state, d.attempts))
        .collect()
}

/// Asserts the listing's documented order: each account's deliveries together, oldest
/// first.
fn assert_grouped_oldest_first(deliveries: &[DeliveryRecord]) {
    let mut finished: BTreeSet<&str> = BTreeSet::new();
    let mut current: Option<(&str, u64)> = None;
    for delivery in deliveries {
        let account = delivery.event.account.as_str();
        match current {
            Some((previous, seq)) if previous == account => {
                assert!(delivery.event.seq > seq, "out of order: {deliveries:?}");
            }
            Some((previous, _)) => {
                finished.insert(previous);
                assert!(!finished.contains(account), "account split: {deliveries:?}");
            }
            None => {}
        }
        current = Some((account, delivery.event.seq));
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

pub async fn endpoints_are_limited_unique_and_listed_oldest_first(
    store: &dyn WebhookStore,
    _queue: &dyn Queue,
) {
    assert!(store.endpoints().await.expect("endpoints").is_empty());
    // Registered newest first; two share a creation time (then the id orders them).
    let mut expected = Vec::new();
    for n in 0..MAX_ENDPOINTS {
        let created = i64::try_from(MAX_ENDPOINTS - n).unwrap_or(0).min(15);
        let record = EndpointRecord {
            created_at: at(created),
            ..endpoint(&format!("wh_{n:02}"), &["balance.low", "statement.ready"])
        };
        assert!(store.put_endpoint(&record).await.expect("put_endpoint"));
        expected.push(record);
    }
    expected.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(expected[14].created_at, expected[15].created_at);
    assert_eq!(store.endpoints().await.expect("endpoints"), expected);
    // The 17th is refused, and writes nothing.
    assert!(
        !store
            .put_endpoint(&endpoint("wh_17", &["*"]))
            .await
            .expect("answers")
    );
    assert_eq!(store.endpoint("wh_17").await.expect("endpoint"), None);
    assert_eq!(
        store.endpoints().await.expect("endpoints").len(),
        MAX_ENDPOINTS
    );
    // One read, secret included (signing needs it).
    assert_eq!(
        store.endpoint("wh_03").await.expect("endpoint"),
        expected.iter().find(|e| e.id == "wh_03").cloned()
    );
    // Deleting frees a place; an id that exists is refused.
    assert!(store.delete_endpoint("wh_03").await.expect("delete"));
    assert!(!store.delete_endpoint("wh_03").await.expect("delete"));
    assert!(!store.delete_endpoint("wh_nobody").await.expect("delete"));
    assert_eq!(store.endpoint("wh_03").await.expect("endpoint"), None);
    assert!(matches!(
        store.put_endpoint(&endpoint("wh_04", &["*"])).await,
        Err(StoreError::KeyExists(_))
    ));
    assert!(
        store
            .put_endpoint(&endpoint("wh_new", &["*"]))
            .await
            .expect("put")
    );
    assert!(
        !store
            .put_endpoint(&endpoint("wh_more", &["*"]))
            .await
            .expect("answers")
    );
    let ids: Vec<String> = store
        .endpoints()
        .await
        .expect("endpoints")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), MAX_ENDPOINTS);
    assert_eq!(ids[0], "wh_new", "created at at(0), the oldest");
    assert!(!ids.contains(&"wh_03".to_owned()));
}

pub async fn events_fan_out_to_the_endpoints_that_want_their_type(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_all", &["*"]).await;
    register(store, "wh_low", &["balance.low"]).await;
    register(
        store,
        "wh_statements",
        &["statement.ready", "credits.expiring"],
    )
    .await;
    let events = [
        event("alice", 1, "balance.low"),
        event("bob", 1, "statement.ready"),
        event("carol", 1, "credits.granted"),
    ];
    assert_eq!(queue.queue(store, &events, at(0)).await, 5);
    let claimed = claim(store, at(0)).await;
    let mut ids: Vec<(String, String)> = claimed
        .iter()
        .map(|d| (d.endpoint.clone(), d.event.id.clone()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            pair("wh_all", "evt_alice_1"),
            pair("wh_all", "evt_bob_1"),
            pair("wh_all", "evt_carol_1"),
            pair("wh_low", "evt_alice_1"),
            pair("wh_statements", "evt_bob_1"),
        ]
    );
    // The event comes back whole, with a fresh schedule.
    for delivery in &claimed {
        let original = events
            .iter()
            .find(|e| e.id == delivery.event.id)
            .expect("queued");
        assert_eq!(&delivery.event, original);
        assert_eq!(delivery.attempts, 0);
        assert_eq!(delivery.first_attempt_at, None);
        assert_eq!(delivery.next_attempt_at, Some(at(40)), "leased until");
        assert_eq!(
            (delivery.last_status, delivery.last_error.as_deref()),
            (None, None)
        );
    }
    // An endpoint registered later gets only what is queued after it.
    register(store, "wh_late", &["balance.low"]).await;
    assert_eq!(
        queue
            .queue(store, &[event("alice", 2, "balance.low")], at(1))
            .await,
        3
    );
    assert_eq!(
        claimed_ids(store, at(1)).await,
        [pair("wh_late", "evt_alice_2")]
    );
    assert!(all_failed(store, "wh_all", 10).await.is_empty());
}

pub async fn one_delivery_per_lane_is_due_and_lanes_go_in_seq_order(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    let mut events = low("alice", 1..=3);
    events.push(event("bob", 1, "balance.low"));
    assert_eq!(queue.queue(store, &events, at(0)).await, 4);
    assert_eq!(queue.queue(store, &low("alice", 4..=4), at(1)).await, 1);
    assert_eq!(
        claimed_ids(store, at(1)).await,
        [pair("wh_a", "evt_alice_1"), pair("wh_a", "evt_bob_1")]
    );
    // Delivered: the lane's next is due at the attempt's time, one at a time, in seq order.
    let mut delivery = claim(store, at(1)).await;
    assert!(delivery.is_empty(), "leased: {delivery:?}");
    let mut first = store.claim_due(at(100), at(140), 256).await.expect("claim");
    first.retain(|d| d.event.account == "alice");
    delivery = first;
    for seq in 1..=4_u64 {
        let current = delivery.pop().expect("one due");
        assert_eq!(current.event.seq, seq);
        let now = at(200 + i64::try_from(seq).unwrap_or(0));
        record(store, &current, now, AttemptResult::Delivered).await;
        // Recording it twice changes nothing.
        record(store, &current, now, AttemptResult::Delivered).await;
        delivery = claim(store, now).await;
        delivery.retain(|d| d.event.account == "alice");
        if seq < 4 {
            assert_eq!(delivery.len(), 1);
            assert_eq!(delivery[0].event.seq, seq + 1);
        }
    }
    assert!(delivery.is_empty());
    // Bob's, claimed last at 201, is due again when its lease ends, and nothing else is.
    let bob = claim_one(store, at(1_000), "evt_bob_1").await;
    record(store, &bob, at(141), AttemptResult::Delivered).await;
    assert!(claim(store, at(10_000)).await.is_empty());
}

pub async fn claims_are_leased_earliest_first_and_limited(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    for n in 0..5_i64 {
        let account = format!("acct{n}");
        assert_eq!(queue.queue(store, &low(&account, 1..=1), at(n)).await, 1);
    }
    // Nothing is due before its time.
    assert!(
        store
            .claim_due(at(-1), at(60), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let first = store.claim_due(at(10), at(50), 2).await.expect("claim");
    let accounts: Vec<&str> = first.iter().map(|d| d.event.account.as_str()).collect();
    assert_eq!(
        accounts,
        ["acct0", "acct1"],
        "earliest first, at most the limit"
    );
    assert!(first.iter().all(|d| d.next_attempt_at == Some(at(50))));
    let rest = store.claim_due(at(10), at(50), 10).await.expect("claim");
    let mut accounts: Vec<&str> = rest.iter().map(|d| d.event.account.as_str()).collect();
    accounts.sort_unstable();
    assert_eq!(accounts, ["acct2", "acct3", "acct4"]);
    // Leased until 50: not claimed again before.
    assert!(
        store
            .claim_due(at(49), at(90), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(
        store
            .claim_due(at(50), at(90), 10)
            .await
            .expect("claim")
            .len(),
        5
    );
}

pub async fn a_retry_keeps_the_lane_and_is_listed_as_failing(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    queue.queue(store, &low("alice", 1..=2), at(0)).await;
    let first = claim_one(store, at(0), "evt_alice_1").await;
    let retry = |at: DateTime<Utc>, status: Option<u16>, error: &str| AttemptResult::Retry {
        at,
        status,
        error: error.to_owned(),
    };
    record(
        store,
        &first,
        at(1),
        retry(at(10), Some(503), "the receiver answered 503"),
    )
    .await;
    let failing = all_failed(store, "wh_a", 10).await;
    assert_eq!(failing.len(), 1);
    let row = &failing[0];
    assert_eq!(row.event.id, "evt_alice_1");
    assert_eq!((row.state, row.attempts), (DeliveryState::Due, 1));
    assert_eq!(row.first_attempt_at, Some(at(1)));
    assert_eq!(row.next_attempt_at, Some(at(10)));
    assert_eq!(row.last_status, Some(503));
    assert_eq!(row.last_error.as_deref(), Some("the receiver answered 503"));
    // Not before its time; the lane's next waits.
    assert!(claim(store, at(9)).await.is_empty());
    let again = claim_one(store, at(10), "evt_alice_1").await;
    assert_eq!(again.attempts, 1);
    record(
        store,
        &again,
        at(11),
        retry(at(30), None, "no answer within 10 s"),
    )
    .await;
    let row = all_failed(store, "wh_a", 10).await.remove(0);
    assert_eq!(row.attempts, 2);
    assert_eq!(
        row.first_attempt_at,
        Some(at(1)),
        "the first attempt is kept"
    );
    assert_eq!(row.last_status, None);
    assert_eq!(row.last_error.as_deref(), Some("no answer within 10 s"));
    let last = claim_one(store, at(30), "evt_alice_1").await;
    record(store, &last, at(31), AttemptResult::Delivered).await;
    assert!(all_failed(store, "wh_a", 10).await.is_empty());
    claim_one(store, at(31), "evt_alice_2").await;
}

pub async fn giving_up_holds_the_lane_s_waiting_deliveries_back_and_frees_the_lane(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    let mut events = low("alice", 1..=3);
    events.push(event("bob", 1, "balance.low"));
    queue.queue(store, &events, at(0)).await;
    let claimed = claim(store, at(0)).await;
    let alice = claimed
        .iter()
        .find(|d| d.event.account == "alice")
        .expect("alice's");
    record(store, alice, at(5), give_up()).await;
    let failed = all_failed(store, "wh_a", 10).await;
    assert_eq!(
        states(&failed),
        [
            ("evt_alice_1".to_owned(), DeliveryState::Failed, 1),
            ("evt_alice_2".to_owned(), DeliveryState::Failed, 0),
            ("evt_alice_3".to_owned(), DeliveryState::Failed, 0),
        ]
    );
    assert_eq!(failed[0].first_attempt_at, Some(at(5)));
    assert_eq!(failed[0].last_status, Some(500));
    assert_eq!(failed[0].next_attempt_at, None);
    assert_eq!(
        failed[1].last_error.as_deref(),
        Some("held back by an earlier event that failed")
    );
    // Recording the given-up one again changes nothing.
    record(store, alice, at(6), AttemptResult::Delivered).await;
    assert_eq!(all_failed(store, "wh_a", 10).await, failed);
    // Bob's lane never noticed; alice's is free: her next event is due at once.
    assert_eq!(queue.queue(store, &low("alice", 4..=4), at(50)).await, 1);
    assert_eq!(
        claimed_ids(store, at(50)).await,
        [pair("wh_a", "evt_alice_4"), pair("wh_a", "evt_bob_1")]
    );
}

pub async fn the_failed_listing_pages_by_cursor_and_refuses_a_foreign_one(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    register(store, "wh_b", &["*"]).await;
    for account in ["carol", "alice", "bob"] {
        queue.queue(store, &low(account, 1..=3), at(0)).await;
    }
    for delivery in claim(store, at(0)).await {
        if delivery.endpoint == "wh_a" {
            record(store, &delivery, at(1), give_up()).await;
        }
    }
    let whole = all_failed(store, "wh_a", 0).await;
    assert_eq!(whole.len(), 9);
    assert_grouped_oldest_first(&whole);
    for page in [1, 2, 4, 9, 10] {
        assert_eq!(
            all_failed(store, "wh_a", page).await,
            whole,
            "pages of {page}"
        );
    }
    let first = store
        .failed_deliveries("wh_a", None, 4)
        .await
        .expect("failed_deliveries");
    assert_eq!(first.deliveries.len(), 4);
    assert!(first.next.is_some());
    // The other endpoint, an unknown one: nothing of wh_a's.
    assert!(all_failed(store, "wh_b", 10).await.is_empty());
    assert!(all_failed(store, "wh_nobody", 10).await.is_empty());
    for foreign in ["", "not a cursor", "-5", "zz#zz", &"9".repeat(600)] {
        assert!(
            matches!(
                store.failed_deliveries("wh_a", Some(foreign), 4).await,
                Err(StoreError::Invalid(_))
            ),
            "cursor `{foreign}`"
        );
    }
}

pub async fn redelivery_requeues_behind_the_due_one_then_in_seq_order(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_a", &["*"]).await;
    queue.queue(store, &low("alice", 1..=3), at(0)).await;
    let first = claim_one(store, at(0), "evt_alice_1").await;
    record(store, &first, at(1), give_up()).await;
    queue.queue(store, &low("alice", 4..=4), at(2)).await;
    assert_eq!(
        store
            .redeliver("wh_a", Redeliver::Event("evt_nobody_1".to_owned()), at(3))
            .await
            .expect("redeliver"),
        0
    );
    assert_eq!(
        store
            .redeliver("wh_nobody", Redeliver::AllFailed, at(3))
            .await
            .expect("redeliver"),
        0
    );
    assert_eq!(
        store
            .redeliver("wh_a", Redeliver::AllFailed, at(3))
            .await
            .expect("redeliver"),
        3
    );
    // Re-queued ones wait (not listed: no attempts, not failed) behind the due one.
    assert!(all_failed(store, "wh_a", 10).await.is_empty());
    let mut current = claim_one(store, at(3), "evt_alice_4").await;
    for (n, next) in ["evt_alice_1", "evt_alice_2", "evt_alice_3"]
        .into_iter()
        .enumerate()
    {
        let now = at(10 + i64::try_from(n).unwrap_or(0));
        record(store, &current, now, AttemptResult::Delivered).await;
        current = claim_one(store, now, next).await;
        assert_eq!(current.attempts, 0, "a fresh schedule");
        assert_eq!(current.first_attempt_at, None);
    }
    record(store, &current, at(20), AttemptResult::Delivered).await;
    assert!(claim(store, at(1_000)).await.is_empty());

    // One event again: a failed one whose lane is free is due at once; another waits.
    queue.queue(store, &low("bob", 1..=2), at(30)).await;
    let bob = claim_one(store, at(30), "evt_bob_1").await;
    record(store, &bob, at(31), give_up()).await;
    let again = Redeliver::Event("evt_bob_2".to_owned());
    assert_eq!(
        store
            .redeliver("wh_a", again, at(32))
            .await
            .expect("redeliver"),
        1
    );
    let bob_2 = claim_one(store, at(32), "evt_bob_2").await;
    let again = Redeliver::Event("evt_bob_1".to_owned());
    assert_eq!(
        store
            .redeliver("wh_a", again, at(33))
            .await
            .expect("redeliver"),
        1
    );
    assert!(
        claim(store, at(33)).await.is_empty(),
        "bob 1 waits behind bob 2"
    );
    record(store, &bob_2, at(34), AttemptResult::Delivered).await;
    claim_one(store, at(34), "evt_bob_1").await;

    // A failing (retrying) one starts a fresh schedule, due now.
    queue.queue(store, &low("carol", 1..=1), at(40)).await;
    let carol = claim_one(store, at(40), "evt_carol_1").await;
    let later = AttemptResult::Retry {
        at: at(5_000),
        status: Some(502),
        error: "the receiver answered 502".to_owned(),
    };
    record(store, &carol, at(41), later).await;
    let again = Redeliver::Event("evt_carol_1".to_owned());
    assert_eq!(
        store
            .redeliver("wh_a", again, at(42))
            .await
            .expect("redeliver"),
        1
    );
    let carol = claim_one(store, at(42), "evt_carol_1").await;
    assert_eq!((carol.attempts, carol.first_attempt_at), (0, None));

    // One never attempted is neither failed nor retrying: nothing to deliver again.
    queue.queue(store, &low("dave", 1..=1), at(50)).await;
    let again = Redeliver::Event("evt_dave_1".to_owned());
    assert_eq!(
        store
            .redeliver("wh_a", again, at(51))
            .await
            .expect("redeliver"),
        0
    );
    claim_one(store, at(51), "evt_dave_1").await;
}

pub async fn a_deleted_endpoint_s_deliveries_are_never_claimed_nor_listed(
    store: &dyn WebhookStore,
    queue: &dyn Queue,
) {
    register(store, "wh_gone", &["*"]).await;
    register(store, "wh_kept", &["*"]).await;
    queue.queue(store, &low("alice", 1..=2), at(0)).await;
    queue.queue(store, &low("bob", 1..=2), at(0)).await;
    let claimed = claim(store, at(0)).await;
    assert_eq!(claimed.len(), 4);
    for delivery in claimed.iter().filter(|d| d.event.account == "bob") {
        record(store, delivery, at(1), give_up()).await;
    }
    assert_eq!(all_failed(store, "wh_gone", 10).await.len(), 2);
    assert!(store.delete_endpoint("wh_gone").await.expect("delete"));
    // An attempt in flight when it went is recorded as nothing.
    for delivery in claimed.iter().filter(|d| d.endpoint == "wh_gone") {
        record(store, delivery, at(2), AttemptResult::Delivered).await;
    }
    assert!(all_failed(store, "wh_gone", 10).await.is_empty());
    assert_eq!(
        store
            .redeliver("wh_gone", Redeliver::AllFailed, at(3))
            .await
            .expect("redeliver"),
        0
    );
    // New events go to the endpoint that is left.
    assert_eq!(queue.queue(store, &low("carol", 1..=1), at(4)).await, 1);
    for now in [at(50), at(1_000), at(100_000)] {
        let claimed = claim(store, now).await;
        assert!(
            claimed.iter().all(|d| d.endpoint == "wh_kept"),
            "claimed {claimed:?}"
        );
        for delivery in claimed {
            record(store, &delivery, now, AttemptResult::Delivered).await;
        }
    }
    assert!(claim(store, at(1_000_000)).await.is_empty());
}
