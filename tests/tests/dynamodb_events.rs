//! The outbox on DynamoDB, end to end on DynamoDB Local: a commit's events are written by its
//! one transaction (`V#<seq>` items) or not at all, read back by seq, carried by the table's
//! stream, and published by the events publisher's handler exactly once per event, in each
//! account's seq order, none for a refused commit.
//!
//! The stream is read as Lambda's event source mapping reads it (`credits_tests::stream`),
//! turned into the Lambda event the function receives, and handed to `credits_events_publisher::handle` with a recording EventBridge
//! double.
//!
//! `scripts/install-tools.sh` once (DynamoDB Local), then
//! `cargo test -p credits-tests --test dynamodb_events`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use credits_events_publisher::{Entry, EntryOutcome, EventDetail, Publisher, StreamBatch, handle};
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryRecord, EventRecord, FactRecord, MAX_COMMIT_ENTRIES,
    OperationRecord, Store, StoreError,
};
use credits_store_dynamodb::{DynamoStore, EVENT_SK_PREFIX, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::stream::passes_filter;
use serde_json::{Value as Json, json};

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0).unwrap()
}

fn event(account: &str, seq: u64, id: &str, event_type: &str) -> EventRecord {
    EventRecord {
        account: account.to_owned(),
        seq,
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        at: at(0) + chrono::Duration::minutes(i64::try_from(seq).unwrap()),
        body: json!({"v": 1, "account": account, "seq": seq, "amount_minor": 1_000_000_000_000_i64}),
    }
}

fn entry(account: &str, seq: u64, operation: &str) -> EntryRecord {
    EntryRecord {
        account: account.to_owned(),
        id: format!("{operation}:{seq}"),
        seq,
        at: at(0),
        entry_type: "grant".to_owned(),
        operation: operation.to_owned(),
        unit: Some("credit".to_owned()),
        amount_minor: 100,
        feature: None,
        model: None,
        project: None,
        member: None,
        content: None,
        body: json!({}),
    }
}

/// A commit of `account` from `expected_version`, with one entry (seq `entry_seq`), the
/// operation `operation` and `events`.
fn commit(
    account: &str,
    expected_version: u64,
    entry_seq: u64,
    operation: &str,
    events: Vec<EventRecord>,
) -> Commit {
    Commit {
        expected_version,
        account: AccountRecord {
            account: account.to_owned(),
            version: expected_version + 1,
            due_at: None,
            state: json!({"next_seq": entry_seq + 1}),
        },
        entries: vec![entry(account, entry_seq, operation)],
        facts: vec![],
        operation: Some(OperationRecord {
            account: account.to_owned(),
            id: operation.to_owned(),
            kind: "topup".to_owned(),
            request_hash: format!("hash-{operation}"),
            status: 201,
            response: json!({"id": operation}),
            at: at(0),
        }),
        events,
    }
}

async fn store(local: &DynamoDbLocal) -> DynamoStore {
    let client = local.client().await;
    let name = unique_table_name("events");
    create_table(&client, &name).await.expect("create table");
    DynamoStore::new(client, name)
}

/// Every record of the table's stream so far, as the Lambda event records the function
/// receives.
async fn stream_records(local: &DynamoDbLocal, store: &DynamoStore) -> Vec<Json> {
    credits_tests::stream::stream_records(local, store.client(), store.table()).await
}

/// A recording EventBridge: every entry it took, in order; refuses each event id in
/// `refuse_once` the first time it sees it.
#[derive(Default)]
struct RecordingBus {
    taken: Mutex<Vec<Entry>>,
    refuse_once: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Publisher for RecordingBus {
    async fn put_events(&self, entries: &[Entry]) -> Result<Vec<EntryOutcome>, String> {
        assert!(entries.len() <= 10, "PutEvents takes at most 10 entries");
        let mut refuse = self.refuse_once.lock().unwrap();
        let mut taken = self.taken.lock().unwrap();
        Ok(entries
            .iter()
            .map(|entry| {
                if let Some(position) = refuse.iter().position(|id| *id == entry.event_id) {
                    refuse.remove(position);
                    EntryOutcome::Failed {
                        code: "ThrottlingException".to_owned(),
                        message: "rate exceeded".to_owned(),
                    }
                } else {
                    taken.push(entry.clone());
                    EntryOutcome::Published
                }
            })
            .collect())
    }
}

impl RecordingBus {
    fn details(&self) -> Vec<EventDetail> {
        self.taken
            .lock()
            .unwrap()
            .iter()
            .map(|entry| serde_json::from_str(&entry.detail).unwrap())
            .collect()
    }
}

fn batch(records: &[Json]) -> StreamBatch {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// The commits of the scenario: two accounts with events, and three refused commits that
/// carried events (a lost race, a replayed operation id, an event seq the account holds).
async fn commit_scenario(store: &DynamoStore) {
    let committed = [
        commit(
            "acme",
            0,
            1,
            "topup-1",
            vec![
                event("acme", 1, "evt-acme-1", "credits.granted"),
                event("acme", 2, "evt-acme-2", "balance.changed"),
            ],
        ),
        commit(
            "beta",
            0,
            1,
            "topup-1",
            vec![event("beta", 1, "evt-beta-1", "credits.granted")],
        ),
        commit(
            "acme",
            1,
            2,
            "charge-1",
            vec![event("acme", 3, "evt-acme-3", "balance.low")],
        ),
        commit("acme", 2, 3, "charge-2", vec![]),
        commit(
            "beta",
            1,
            2,
            "charge-1",
            vec![
                event("beta", 2, "evt-beta-2", "balance.changed"),
                event("beta", 3, "evt-beta-3", "balance.low"),
            ],
        ),
    ];
    for commit in committed {
        assert_eq!(
            store.commit(commit).await.unwrap(),
            CommitOutcome::Committed
        );
    }

    // A lost race: decided on version 1, the account is at 3.
    let stale = commit(
        "acme",
        1,
        4,
        "charge-3",
        vec![event("acme", 4, "refused-stale", "balance.low")],
    );
    assert!(matches!(
        store.commit(stale).await.unwrap(),
        CommitOutcome::VersionConflict { current: Some(current) } if current.version == 3
    ));
    // A replay of an operation id that was used, with events of its own.
    let replay = commit(
        "acme",
        3,
        4,
        "charge-1",
        vec![event("acme", 4, "refused-replay", "balance.low")],
    );
    assert!(matches!(
        store.commit(replay).await.unwrap(),
        CommitOutcome::OperationExists(record) if record.id == "charge-1"
    ));
    // An event seq the account holds already: refused like an entry's seq, nothing written.
    let reused = commit(
        "acme",
        3,
        4,
        "charge-4",
        vec![
            event("acme", 4, "refused-reused-4", "balance.changed"),
            event("acme", 3, "refused-reused-3", "balance.low"),
        ],
    );
    assert_eq!(
        store.commit(reused).await.unwrap(),
        CommitOutcome::EntryExists { seq: 3 }
    );
    assert_eq!(store.load("acme").await.unwrap().unwrap().version, 3);
    assert!(
        store.operation("acme", "charge-4").await.unwrap().is_none(),
        "a refused commit writes nothing"
    );
}

fn ids(events: &[EventRecord]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

#[tokio::test]
async fn events_are_committed_atomically_and_read_back_by_seq() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let store = store(local).await;
    commit_scenario(&store).await;

    let acme = store.account_events("acme", 0, 0).await.unwrap();
    assert_eq!(ids(&acme), ["evt-acme-1", "evt-acme-2", "evt-acme-3"]);
    assert_eq!(acme[0], event("acme", 1, "evt-acme-1", "credits.granted"));
    assert_eq!(
        ids(&store.account_events("acme", 2, 0).await.unwrap()),
        ["evt-acme-3"]
    );
    assert_eq!(
        ids(&store.account_events("acme", 0, 2).await.unwrap()),
        ["evt-acme-1", "evt-acme-2"]
    );
    assert!(store.account_events("acme", 3, 0).await.unwrap().is_empty());
    assert!(
        store
            .account_events("acme", u64::MAX, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.account_events("beta", 1, 10).await.unwrap()),
        ["evt-beta-2", "evt-beta-3"]
    );
    assert!(
        store
            .account_events("nobody", 0, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Events do not disturb history by seq.
    let page = store
        .entries(&credits_store::EntryQuery {
            account: "acme".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 3);
}

#[tokio::test]
async fn entries_facts_and_events_share_the_commit_limit() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let store = store(local).await;
    let full = |events: u64| {
        let mut commit = commit(
            "acme",
            0,
            1,
            "big",
            (1..=events)
                .map(|seq| event("acme", seq, &format!("evt-{seq}"), "balance.changed"))
                .collect(),
        );
        commit.facts = (0..10)
            .map(|i| FactRecord {
                account: "acme".to_owned(),
                key: format!("fact:{i}"),
                value: json!(i),
            })
            .collect();
        commit
    };
    // 1 entry + 10 facts + 88 events = 99 > 98: refused before sending, nothing written.
    let over = u64::try_from(MAX_COMMIT_ENTRIES).unwrap() - 10;
    assert!(matches!(
        store.commit(full(over)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.load("acme").await.unwrap().is_none());
    // 1 + 10 + 87 = 98: one transaction of 100 actions.
    assert_eq!(
        store.commit(full(over - 1)).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(
        store.account_events("acme", 0, 0).await.unwrap().len(),
        usize::try_from(over - 1).unwrap()
    );
    // Another account's event, or one seq twice, is refused.
    let mut foreign = commit("beta", 0, 1, "x", vec![event("acme", 1, "e", "t")]);
    assert!(matches!(
        store.commit(foreign.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    foreign.events = vec![event("beta", 1, "a", "t"), event("beta", 1, "b", "t")];
    assert!(matches!(
        store.commit(foreign.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    // Event seqs start at 1; ids are not empty.
    foreign.events = vec![event("beta", 0, "a", "t")];
    assert!(matches!(
        store.commit(foreign.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    foreign.events = vec![event("beta", 1, "", "t")];
    assert!(matches!(
        store.commit(foreign).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.load("beta").await.unwrap().is_none());
}

#[tokio::test]
async fn the_stream_publishes_each_committed_event_once_in_account_order() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let store = store(local).await;
    commit_scenario(&store).await;

    let records = stream_records(local, &store).await;
    // The stream holds every change (snapshots, entries, operations, events); the mapping's
    // filter keeps the event inserts only, and the handler skips anything else anyway.
    let filtered: Vec<Json> = records
        .iter()
        .filter(|r| passes_filter(r))
        .cloned()
        .collect();
    assert_eq!(filtered.len(), 6, "six committed events");
    assert!(filtered.iter().all(|r| {
        r["dynamodb"]["Keys"]["sk"]["S"]
            .as_str()
            .is_some_and(|sk| sk.starts_with(EVENT_SK_PREFIX))
    }));

    for input in [&filtered, &records] {
        let bus = RecordingBus::default();
        // Lambda's batches: at most 4 records each here, so runs span batches.
        for chunk in input.chunks(4) {
            let response = handle(&batch(chunk), &bus).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        check_published(&bus.details());
    }
}

/// Each committed event exactly once (by id), each account's in seq order, none refused.
fn check_published(details: &[EventDetail]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for detail in details {
        *seen.entry(detail.id.as_str()).or_default() += 1;
    }
    let expected = [
        "evt-acme-1",
        "evt-acme-2",
        "evt-acme-3",
        "evt-beta-1",
        "evt-beta-2",
        "evt-beta-3",
    ];
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        expected,
        "every committed event and nothing of the refused commits"
    );
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    for account in ["acme", "beta"] {
        let seqs: Vec<u64> = details
            .iter()
            .filter(|d| d.account == account)
            .map(|d| d.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3], "{account}'s events in seq order");
    }
    let low = details.iter().find(|d| d.id == "evt-acme-3").unwrap();
    assert_eq!(low.event_type, "balance.low");
    assert_eq!(low.at, "2026-03-01T10:03:00.000000Z");
    assert_eq!(low.body["amount_minor"], json!(1_000_000_000_000_i64));
}

#[tokio::test]
async fn a_refused_entry_is_retried_from_there_and_every_event_still_arrives() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let store = store(local).await;
    commit_scenario(&store).await;
    let records: Vec<Json> = stream_records(local, &store)
        .await
        .into_iter()
        .filter(passes_filter)
        .collect();
    let bus = RecordingBus {
        refuse_once: Mutex::new(vec!["evt-acme-2".to_owned()]),
        ..RecordingBus::default()
    };

    // What Lambda does with ReportBatchItemFailures: the next invocation starts at the
    // lowest sequence number reported.
    let mut pending = records.clone();
    let mut invocations = 0;
    while !pending.is_empty() {
        invocations += 1;
        assert!(invocations <= 3, "the retry must make progress");
        let response = handle(&batch(&pending), &bus).await;
        let Some(first) = response.batch_item_failures.first() else {
            break;
        };
        let start = pending
            .iter()
            .position(|r| r["dynamodb"]["SequenceNumber"] == first.item_identifier.as_str())
            .expect("a reported record is one of the batch");
        // Everything after the first failure is reported too.
        assert_eq!(response.batch_item_failures.len(), pending.len() - start);
        pending = pending.split_off(start);
    }
    assert_eq!(invocations, 2);

    let details = bus.details();
    // At least once: the retry published the refused event and what followed it again; in
    // every invocation each account's events went out in seq order.
    let unique: std::collections::BTreeSet<&str> = details.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(unique.len(), 6);
    let acme: Vec<u64> = details
        .iter()
        .filter(|d| d.account == "acme")
        .map(|d| d.seq)
        .collect();
    assert_eq!(
        acme,
        [1, 2, 3],
        "the refused event and what follows it, retried in order"
    );
    // Another account's events that shared the refused request are sent again: duplicates,
    // never a later seq before an earlier one.
    let beta: Vec<u64> = details
        .iter()
        .filter(|d| d.account == "beta")
        .map(|d| d.seq)
        .collect();
    assert!(beta.windows(2).all(|pair| pair[0] <= pair[1]), "{beta:?}");
    assert_eq!(
        beta.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
}

/// Events cost the commit nothing in requests (they ride in its one transaction), and a read
/// of an account's events is one Query, whatever the account holds before them.
#[tokio::test]
async fn a_commit_with_events_is_one_request_and_reading_them_another() {
    use credits_store_dynamodb::{RequestCounter, with_interceptor};
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let plain = store(local).await;
    let counter = RequestCounter::default();
    let store = DynamoStore::new(
        with_interceptor(plain.client(), counter.clone()),
        plain.table().to_owned(),
    );
    for version in 0..30_u64 {
        let events = (1..=3)
            .map(|n| {
                let seq = version * 3 + n;
                event("acme", seq, &format!("evt-{seq}"), "balance.changed")
            })
            .collect();
        let operation = format!("op-{version}");
        assert_eq!(
            store
                .commit(commit("acme", version, version + 1, &operation, events))
                .await
                .unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(
            counter.take(),
            BTreeMap::from([("TransactWriteItems".to_owned(), 1)])
        );
    }
    let last = store.account_events("acme", 85, 0).await.unwrap();
    assert_eq!(
        ids(&last),
        ["evt-86", "evt-87", "evt-88", "evt-89", "evt-90"]
    );
    assert_eq!(counter.take(), BTreeMap::from([("Query".to_owned(), 1)]));
    let first = store.account_events("acme", 0, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(counter.take(), BTreeMap::from([("Query".to_owned(), 1)]));
}
