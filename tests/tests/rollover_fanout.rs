//! The cycle-rollover run fans out over segments (`credits_lambda::rollover::run_all`).
//!
//! On DynamoDB Local: 2,000 accounts past their cycle end, two overlapping runs of eight
//! segments each (one walker per segment, several in flight, two "containers" racing on
//! every account): every account's cycle is advanced exactly once (its expiry and new
//! allocation written once, `due_at` past now), the reports add up, nothing fails, and a
//! later run has nothing left to do.
//!
//! Over SQLite: an account the walk cannot advance is counted and handed to the failure
//! sink (one message: account, segment, reason, time), the others are advanced.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use credits_api::{AppState, FixedClock, RateLibrary};
use credits_dsl::SubscriptionPeriod;
use credits_lambda::rollover::{
    self, FailureSink, LogOnly, MemorySink, RolloverReport, RolloverRequest, Run,
};
use credits_ledger::{Command, Configure, Facts, PlanRef, SubscriptionRequest, SubscriptionStatus};
use credits_store::{AccountRecord, Commit, CommitOutcome, EntryQuery, EntryRecord, Store};
use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use serde_json::json;
use tokio::task::JoinSet;

const ACCOUNTS: usize = 2_000;
const SEGMENTS: u32 = 8;
/// Accounts created at once.
const CREATORS: usize = 16;
const PLAN: &str = "imentiv/enterprise";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap()
}

fn account_id(index: usize) -> String {
    format!("fan-{index:05}")
}

/// The account as the API creates it (a monthly subscription anchored on 15 January),
/// decided by the ledger and committed straight to the store: no HTTP, no keys.
async fn create(store: &dyn Store, books: &RateLibrary, account: &str) {
    let command = Command::Configure(Configure {
        id: format!("create-{account}"),
        account: account.to_string(),
        plan: PlanRef::parse(PLAN).unwrap(),
        subscription: Some(SubscriptionRequest {
            status: SubscriptionStatus::Active,
            period: SubscriptionPeriod::Monthly,
            anchor: Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap(),
            ends_at: None,
        }),
        time_zone: None,
        credit_line_minor: None,
        status: None,
    });
    let versions = books.book_versions("imentiv").unwrap();
    let decision =
        credits_ledger::decide(None, &command, &Facts::default(), &versions, t0()).unwrap();
    let entries = decision
        .entries
        .iter()
        .map(|entry| EntryRecord {
            account: account.to_string(),
            id: entry.id.clone(),
            seq: entry.seq,
            at: entry.at,
            entry_type: entry.entry_type.as_str().to_string(),
            operation: entry.operation.clone(),
            unit: entry.unit.clone(),
            amount_minor: entry.amount_minor,
            feature: entry.feature.clone(),
            model: entry.model.clone(),
            project: entry.project.clone(),
            member: entry.member.clone(),
            content: entry.content.clone(),
            body: entry.body.clone(),
        })
        .collect();
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            account: account.to_string(),
            version: 1,
            due_at: decision.due_at,
            state: serde_json::to_value(&decision.account).unwrap(),
        },
        entries,
        facts: vec![],
        operation: None,
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

async fn entries_of(store: &dyn Store, account: &str) -> Vec<EntryRecord> {
    let mut query = EntryQuery {
        account: account.to_string(),
        ..EntryQuery::default()
    };
    let mut all = Vec::new();
    for _ in 0..100 {
        let page = store.entries(&query).await.unwrap();
        all.extend(page.entries);
        match page.next {
            Some(after) => query.after = Some(after),
            None => return all,
        }
    }
    panic!("{account} has more entries than expected");
}

fn fan_out(payload: serde_json::Value) -> Run {
    Run::resolve(RolloverRequest::from_event(&payload).unwrap(), |_| None).unwrap()
}

fn assert_adds_up(report: &RolloverReport) {
    assert_eq!(report.walked.len(), SEGMENTS as usize, "{report:?}");
    for walk in &report.walked {
        assert!(walk.complete && walk.error.is_none(), "{walk:?}");
        assert_eq!(walk.listed, walk.advanced + walk.unchanged + walk.failed);
    }
    let sum = |field: fn(&rollover::SegmentReport) -> u32| -> u32 {
        report.walked.iter().map(field).sum()
    };
    assert_eq!(report.listed, sum(|w| w.listed));
    assert_eq!(report.advanced, sum(|w| w.advanced));
    assert_eq!(report.unchanged, sum(|w| w.unchanged));
    assert_eq!(
        report.entries,
        report.walked.iter().map(|w| w.entries).sum::<u64>()
    );
    assert!(
        report.complete && report.next_cursors.is_empty(),
        "{report:?}"
    );
    assert_eq!((report.failed, report.unreported), (0, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_fanned_out_runs_advance_every_due_account_once() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let table = unique_table_name("fanout");
    create_table(&client, &table).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table));
    let books = Arc::new(credits_lambda::rate_library().unwrap());

    let mut creators = JoinSet::new();
    for creator in 0..CREATORS {
        let (store, books) = (Arc::clone(&store), Arc::clone(&books));
        creators.spawn(async move {
            for index in (creator..ACCOUNTS).step_by(CREATORS) {
                create(store.as_ref(), &books, &account_id(index)).await;
            }
        });
    }
    while let Some(done) = creators.join_next().await {
        done.unwrap();
    }
    let before = entries_of(store.as_ref(), &account_id(0)).await.len();

    // 40 days on, every account is past its cycle end on 15 February.
    let now = t0() + Duration::days(40);
    // Two function containers: each its own state (per-account locks, snapshot cache) and
    // clock, one table. Their clocks differ, as two machines' do: two identical commits
    // (same `now`, same snapshot) would be one DynamoDB transaction, acknowledged to both
    // by its idempotency token, and both runs would count the account.
    let container = |at: DateTime<Utc>| {
        AppState::new(Arc::clone(&store), Arc::clone(&books))
            .with_clock(Arc::new(FixedClock::new(at)))
    };
    let (first, second) = (container(now), container(now + Duration::seconds(1)));
    let (sink_first, sink_second) = (MemorySink::default(), MemorySink::default());
    let (a, b) = tokio::join!(
        rollover::run_all(
            &first,
            fan_out(json!({"segments": SEGMENTS, "concurrency": 4})),
            None,
            &sink_first,
        ),
        rollover::run_all(
            &second,
            fan_out(json!({"segments": SEGMENTS, "concurrency": 8})),
            None,
            &sink_second,
        ),
    );
    assert_adds_up(&a);
    assert_adds_up(&b);
    assert!(sink_first.failures().is_empty() && sink_second.failures().is_empty());

    // Per account: one commit, the cycle's expiry and allocation once, nothing due by now.
    let mut written = 0_u64;
    let mut checkers = JoinSet::new();
    for checker in 0..CREATORS {
        let store = Arc::clone(&store);
        checkers.spawn(async move {
            let mut written = 0_u64;
            for index in (checker..ACCOUNTS).step_by(CREATORS) {
                let account = account_id(index);
                let record = store.load(&account).await.unwrap().unwrap();
                // One commit writes the cycle's entries; the run with the later clock may
                // add one that only moves `advanced_to` by its second (no entries).
                assert!(
                    matches!(record.version, 2 | 3),
                    "{account}: {}",
                    record.version
                );
                let later = now + Duration::seconds(1);
                assert!(record.due_at.is_none_or(|due| due > later), "{account}");
                let entries = entries_of(store.as_ref(), &account).await;
                let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
                assert_eq!(ids.len(), entries.len(), "{account}: an entry twice");
                let after: Vec<&str> = entries
                    .iter()
                    .skip(before)
                    .map(|e| e.entry_type.as_str())
                    .collect();
                for expected in ["expiry", "grant"] {
                    let count = after.iter().filter(|t| **t == expected).count();
                    assert_eq!(count, 1, "{account}: {expected} in {after:?}");
                }
                written += after.len() as u64;
            }
            written
        });
    }
    while let Some(count) = checkers.join_next().await {
        written += count.unwrap();
    }
    assert_eq!(written, a.entries + b.entries);
    // Every account advanced by at least one of the runs, its entries by exactly one.
    assert_eq!(written, 2 * ACCOUNTS as u64);
    assert!(
        (a.advanced + b.advanced) as usize >= ACCOUNTS,
        "{a:?}\n{b:?}"
    );
    assert!(a.listed as usize <= ACCOUNTS && b.listed as usize <= ACCOUNTS);

    // The schedule's next run: nothing left to do.
    let again = rollover::run_all(
        &container(now + Duration::seconds(2)),
        fan_out(json!({"segments": SEGMENTS})),
        None,
        &LogOnly,
    )
    .await;
    assert_adds_up(&again);
    assert_eq!((again.advanced, again.entries), (0, 0), "{again:?}");
}

/// An account whose snapshot cannot be read: the walk fails on it alone.
#[tokio::test]
async fn an_account_the_walk_fails_on_is_counted_and_sent_to_the_sink() {
    let store: Arc<dyn Store> = Arc::new(credits_store::sqlite::SqliteStore::in_memory().unwrap());
    let books = Arc::new(credits_lambda::rate_library().unwrap());
    for index in 0..5 {
        create(store.as_ref(), &books, &account_id(index)).await;
    }
    let broken = "fan-broken";
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            account: broken.to_string(),
            version: 1,
            due_at: Some(t0()),
            state: json!({"not": "an account"}),
        },
        entries: vec![],
        facts: vec![],
        operation: None,
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );

    let now = t0() + Duration::days(40);
    let state = AppState::new(Arc::clone(&store), books).with_clock(Arc::new(FixedClock::new(now)));
    let sink = MemorySink::default();
    let report = rollover::run_all(&state, fan_out(json!({"segments": 3})), None, &sink).await;
    assert_eq!(
        (
            report.listed,
            report.advanced,
            report.failed,
            report.unreported
        ),
        (6, 5, 1, 0),
        "{report:?}"
    );
    assert!(report.complete);
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].starts_with("fan-broken: "), "{report:?}");
    let failures = sink.failures();
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert_eq!(failure.kind, "rollover-account-failed");
    assert_eq!(failure.account, broken);
    assert_eq!(failure.segment, credits_store::segment_of(broken, 3));
    assert_eq!(failure.segments, 3);
    assert!(!failure.reason.is_empty());
    assert_eq!(failure.at, "2026-02-24T10:00:00.000000Z");
    // The message the dead-letter queue receives.
    let message: serde_json::Value = serde_json::to_value(failure).unwrap();
    for field in ["kind", "account", "segment", "segments", "reason", "at"] {
        assert!(message.get(field).is_some(), "{field} in {message}");
    }

    // A sink that refuses: the failure is still counted, as unreported.
    struct Refusing;
    #[async_trait::async_trait]
    impl FailureSink for Refusing {
        async fn report(&self, _failure: &rollover::Failure) -> Result<(), String> {
            Err("the queue is unreachable".to_string())
        }
    }
    let report = rollover::run_all(&state, fan_out(json!({"segments": 3})), None, &Refusing).await;
    assert_eq!(
        (
            report.listed,
            report.advanced,
            report.failed,
            report.unreported
        ),
        (1, 0, 1, 1),
        "{report:?}"
    );
}

/// A run out of time stops every walker before its first page and says where each resumes.
#[tokio::test]
async fn a_run_near_its_deadline_reports_where_each_segment_resumes() {
    let store: Arc<dyn Store> = Arc::new(credits_store::sqlite::SqliteStore::in_memory().unwrap());
    let books = Arc::new(credits_lambda::rate_library().unwrap());
    create(store.as_ref(), &books, &account_id(0)).await;
    let state = AppState::new(Arc::clone(&store), books)
        .with_clock(Arc::new(FixedClock::new(t0() + Duration::days(40))));
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
    let report = rollover::run_all(
        &state,
        fan_out(json!({"segments": 2})),
        Some(deadline),
        &LogOnly,
    )
    .await;
    assert!(!report.complete);
    assert_eq!(report.listed, 0);
    assert_eq!(
        report.next_cursors,
        [(0, None), (1, None)].into_iter().collect()
    );
    // Resuming with those cursors walks both segments to the end.
    let resume = json!({"segments": 2, "cursors": report.next_cursors});
    let report = rollover::run_all(&state, fan_out(resume), None, &LogOnly).await;
    assert!(report.complete);
    assert_eq!((report.listed, report.advanced), (1, 1), "{report:?}");
}
