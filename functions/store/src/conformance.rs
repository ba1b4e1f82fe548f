//! The store contract as executable checks, run against every [`Store`] implementation.
//!
//! Each case is a `pub async fn case(store: &dyn Store)` that panics (through `assert!`) when
//! the store breaks the contract. Cases use fresh account and key ids (unique per process
//! run), so they can share one store, and one persistent table across runs.
//!
//! Run them all as tests with [`conformance_tests!`](crate::conformance_tests), given an async
//! expression that yields something dereferencing to a store:
//!
//! ```ignore
//! mod sqlite_in_memory {
//!     credits_store::conformance_tests!(async {
//!         credits_store::sqlite::SqliteStore::in_memory().unwrap()
//!     });
//! }
//! ```
//!
//! The expanded tests are `#[tokio::test(flavor = "multi_thread")]`, so the crate that
//! invokes the macro needs `tokio` (features `macros`, `rt-multi-thread`). [`run_all`] runs
//! every case in turn on one store.

// These are test helpers compiled into the library so that other crates' tests can run
// them: failing loudly is their job, hence panicking asserts and unwraps.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod events;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;

use crate::{
    AccountRecord, Commit, CommitOutcome, EntryCursor, EntryQuery, EntryRecord, FactRecord,
    GroupCommit, GroupMember, KeyRecord, MAX_COMMIT_ENTRIES, MAX_FACT_KEY_BYTES, MAX_FACT_KEYS,
    MAX_GROUP_COMMITS, MAX_ID_BYTES, MAX_PAGE_ENTRIES, OperationRecord, Store, StoreError,
    segment_of,
};

/// The one list of cases; the macros below expand it.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($mode:ident $input:tt) => {
        $crate::__conformance_expand! { $mode $input;
            load_missing_is_none,
            first_commit_creates,
            commits_advance_the_version,
            stale_version_conflicts_and_writes_nothing,
            expected_zero_on_existing_account_conflicts,
            expected_version_on_missing_account_conflicts,
            duplicate_operation_returns_the_original,
            duplicate_entry_writes_nothing,
            failing_commit_is_all_or_nothing,
            refusals_follow_the_documented_precedence,
            commit_without_operation_or_entries,
            operation_round_trips_exactly,
            json_values_round_trip,
            entries_ascend_by_seq,
            entries_filters,
            entries_time_bounds_are_inclusive_then_exclusive,
            entries_paging_until_exhaustion,
            entries_limit_is_capped,
            entries_time_range_pages_by_time_then_seq,
            facts_are_written_with_the_commit_and_read_by_key,
            facts_are_upserted_and_refused_with_the_commit,
            last_fact_before_finds_the_greatest_earlier_key,
            fact_reads_and_writes_are_bounded,
            timestamps_round_trip_to_the_microsecond,
            amount_extremes_round_trip,
            unicode_and_long_ids_round_trip,
            invalid_commits_write_nothing,
            due_accounts_lists_only_due_accounts,
            due_account_segments_partition_the_due_accounts,
            due_accounts_paging_by_cursor,
            accounts_are_listed_once_across_pages,
            last_entry_at_or_before_reads_the_latest_of_an_instant,
            due_account_moved_to_the_future_disappears,
            due_accounts_rejects_missing_segments,
            keys_round_trip,
            duplicate_key_id_is_refused,
            revoke_key_marks_it_once,
            concurrent_commits_on_one_account,
            concurrent_commits_on_many_accounts,
            group_commit_writes_every_member_or_none,
            group_commit_chains_versions,
            invalid_group_commits_write_nothing,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_expand {
    (tests ($make:expr); $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::conformance::$case(&*store).await;
            }
        )*
    };
    (run_all ($store:expr); $($case:ident),* $(,)?) => {
        $( $crate::conformance::$case($store).await; )*
    };
}

/// Expands to one `#[tokio::test]` per conformance case. `$make` is an async expression
/// (evaluated once per test) yielding something that dereferences to a [`Store`]: a
/// `Box<dyn Store>`, an `Arc<SqliteStore>`, a store itself... Invoke it once per module.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_cases! { tests ($make) }
    };
}

/// Runs every case, one after the other, on `store`.
pub async fn run_all(store: &dyn Store) {
    crate::__conformance_cases! { run_all (store) }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A fresh id: `name`, then a per-process nonce and a counter, so that cases sharing a store
/// (or a DynamoDB table reused across runs) never meet.
fn unique(name: &str) -> String {
    static NONCE: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nonce = NONCE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        format!("{:x}{:x}", std::process::id(), nanos)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{nonce}-{n}")
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 time in the test")
        .with_timezone(&Utc)
}

/// A time every case may use as "now" for stamps; whole microseconds.
fn base_time() -> DateTime<Utc> {
    at("2025-03-01T10:00:00Z")
}

fn account(name: &str, version: u64, state: serde_json::Value) -> AccountRecord {
    AccountRecord {
        account: name.to_owned(),
        version,
        due_at: None,
        state,
    }
}

fn entry(account: &str, id: &str, seq: u64) -> EntryRecord {
    EntryRecord {
        account: account.to_owned(),
        id: id.to_owned(),
        seq,
        at: base_time(),
        entry_type: "charge".to_owned(),
        operation: format!("op-of-{id}"),
        unit: Some("credits".to_owned()),
        amount_minor: -100,
        feature: None,
        model: None,
        project: None,
        member: None,
        content: None,
        body: json!({"seq": seq}),
    }
}

fn operation(account: &str, id: &str) -> OperationRecord {
    OperationRecord {
        account: account.to_owned(),
        id: id.to_owned(),
        kind: "charge".to_owned(),
        request_hash: format!("hash-of-{id}"),
        status: 201,
        response: json!({"id": id, "charged": {"credits": "1.00"}}),
        at: base_time(),
    }
}

/// A commit moving `record` to the next version with `entries` and an operation.
fn next_commit(
    record: &AccountRecord,
    state: serde_json::Value,
    entries: Vec<EntryRecord>,
    operation: Option<OperationRecord>,
) -> Commit {
    Commit {
        events: Vec::new(),
        expected_version: record.version,
        account: AccountRecord {
            version: record.version + 1,
            state,
            ..record.clone()
        },
        entries,
        facts: vec![],
        operation,
    }
}

fn create_commit(
    name: &str,
    entries: Vec<EntryRecord>,
    operation: Option<OperationRecord>,
) -> Commit {
    Commit {
        events: Vec::new(),
        expected_version: 0,
        account: account(name, 1, json!({"created": true})),
        entries,
        facts: vec![],
        operation,
    }
}

async fn commit_ok(store: &dyn Store, commit: Commit) {
    let what = format!("{commit:?}");
    match store.commit(commit).await {
        Ok(CommitOutcome::Committed) => {}
        other => panic!("expected the commit to succeed, got {other:?} for {what}"),
    }
}

/// Creates `name` at version 1 and returns its snapshot.
async fn create(store: &dyn Store, name: &str) -> AccountRecord {
    commit_ok(store, create_commit(name, vec![], None)).await;
    loaded(store, name).await
}

async fn loaded(store: &dyn Store, name: &str) -> AccountRecord {
    store
        .load(name)
        .await
        .expect("load succeeds")
        .unwrap_or_else(|| panic!("account `{name}` exists"))
}

/// The order a query reads in: by seq, or by (`at`, seq) for a time range.
fn order_key(query: &EntryQuery, entry: &EntryRecord) -> (Option<DateTime<Utc>>, u64) {
    let by_time = query.from.is_some() || query.to.is_some();
    (by_time.then_some(entry.at), entry.seq)
}

/// Every entry matching `query`, walking its pages; checks each page against the contract.
async fn walk(store: &dyn Store, query: &EntryQuery) -> Vec<EntryRecord> {
    let limit = if query.limit == 0 {
        MAX_PAGE_ENTRIES
    } else {
        query.limit.min(MAX_PAGE_ENTRIES)
    };
    let mut query = query.clone();
    let mut all: Vec<EntryRecord> = Vec::new();
    // Bounded: a store that never ends its walk fails here instead of hanging.
    for _page in 0..100_000 {
        let page = store.entries(&query).await.expect("entries succeed");
        assert!(
            page.entries.len() <= limit as usize,
            "a page holds {} entries, more than the limit {limit}",
            page.entries.len()
        );
        for pair in page.entries.windows(2) {
            assert!(
                order_key(&query, &pair[0]) < order_key(&query, &pair[1]),
                "a page is not in the read's order"
            );
        }
        if let (Some(last), Some(first)) = (all.last(), page.entries.first()) {
            assert!(
                order_key(&query, last) < order_key(&query, first),
                "pages overlap or go backwards"
            );
        }
        let cursor_key = |cursor: EntryCursor| {
            let by_time = query.from.is_some() || query.to.is_some();
            (by_time.then_some(cursor.at), cursor.seq)
        };
        if let (Some(after), Some(first)) = (query.after, page.entries.first()) {
            assert!(
                order_key(&query, first) > cursor_key(after),
                "a page starts at or before its cursor"
            );
        }
        let last = page.entries.last().map(|entry| order_key(&query, entry));
        all.extend(page.entries);
        match page.next {
            None => return all,
            Some(next) => {
                if let Some(last) = last {
                    assert!(
                        cursor_key(next) >= last,
                        "the cursor goes back before the page's end"
                    );
                }
                if let Some(after) = query.after {
                    assert!(
                        cursor_key(next) > cursor_key(after),
                        "the cursor does not move forward"
                    );
                }
                query.after = Some(next);
            }
        }
    }
    panic!("the walk of {query:?} never ends");
}

async fn all_entries(store: &dyn Store, name: &str) -> Vec<EntryRecord> {
    walk(store, &query(name)).await
}

fn query(name: &str) -> EntryQuery {
    EntryQuery {
        account: name.to_owned(),
        ..EntryQuery::default()
    }
}

/// Asserts that the account still is `expected` (or absent) and holds `entries` exactly.
async fn assert_untouched(
    store: &dyn Store,
    name: &str,
    expected: Option<&AccountRecord>,
    entries: &[EntryRecord],
) {
    let found = store.load(name).await.expect("load succeeds");
    assert_eq!(found.as_ref(), expected, "the account changed");
    assert_eq!(
        all_entries(store, name).await,
        entries,
        "the entries changed"
    );
}

async fn assert_no_operation(store: &dyn Store, name: &str, id: &str) {
    let found = store.operation(name, id).await.expect("operation succeeds");
    assert_eq!(found, None, "operation `{id}` was written");
}

fn assert_invalid(result: Result<CommitOutcome, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected StoreError::Invalid, got {result:?}"
    );
}

/// Polls every future in this task until all are done (a small `join_all`, so the suite
/// needs no extra crate and borrows the store instead of requiring `'static`).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future finished"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Accounts and commits
// ---------------------------------------------------------------------------------------

pub async fn load_missing_is_none(store: &dyn Store) {
    let name = unique("missing");
    assert_eq!(store.load(&name).await.expect("load succeeds"), None);
    assert_eq!(all_entries(store, &name).await, vec![]);
    assert_no_operation(store, &name, "nope").await;
}

pub async fn first_commit_creates(store: &dyn Store) {
    let name = unique("create");
    let due_at = at("2025-04-01T00:00:00Z");
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            account: name.clone(),
            version: 1,
            due_at: Some(due_at),
            state: json!({"buckets": [{"kind": "free-daily", "left": 500}]}),
        },
        entries: vec![entry(&name, "e1", 1), entry(&name, "e2", 2)],
        facts: vec![],
        operation: Some(operation(&name, "op-1")),
    };
    commit_ok(store, commit.clone()).await;
    assert_eq!(loaded(store, &name).await, commit.account);
    assert_eq!(all_entries(store, &name).await, commit.entries);
    assert_eq!(
        store
            .operation(&name, "op-1")
            .await
            .expect("operation succeeds"),
        commit.operation
    );
}

pub async fn commits_advance_the_version(store: &dyn Store) {
    let name = unique("advance");
    let mut record = create(store, &name).await;
    for step in 1..=5_u64 {
        let mut commit = next_commit(
            &record,
            json!({"step": step}),
            vec![entry(&name, &format!("e{step}"), step)],
            Some(operation(&name, &format!("op-{step}"))),
        );
        // The snapshot is replaced whole, due_at included (set, moved, cleared).
        commit.account.due_at = (step % 2 == 1).then(|| base_time() + Duration::days(step as i64));
        commit_ok(store, commit.clone()).await;
        record = loaded(store, &name).await;
        assert_eq!(record, commit.account);
        assert_eq!(record.version, step + 1);
    }
    assert_eq!(all_entries(store, &name).await.len(), 5);
}

pub async fn stale_version_conflicts_and_writes_nothing(store: &dyn Store) {
    let name = unique("stale");
    let first = create(store, &name).await;
    let second_commit = next_commit(&first, json!({"n": 2}), vec![entry(&name, "a", 1)], None);
    commit_ok(store, second_commit).await;
    let current = loaded(store, &name).await;
    let before = all_entries(store, &name).await;

    // A writer that read version 1 lost the race.
    let stale = next_commit(
        &first,
        json!({"n": "stale"}),
        vec![entry(&name, "b", 2)],
        Some(operation(&name, "op-stale")),
    );
    match store.commit(stale).await.expect("commit answers") {
        CommitOutcome::VersionConflict { current: reported } => {
            if let Some(reported) = reported {
                assert_eq!(reported, current, "the conflict reports a wrong snapshot");
            }
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_no_operation(store, &name, "op-stale").await;

    // A version from the future conflicts too.
    let mut ahead = next_commit(&current, json!({}), vec![], None);
    ahead.expected_version = current.version + 5;
    ahead.account.version = current.version + 6;
    let outcome = store.commit(ahead).await.expect("commit answers");
    assert!(
        matches!(outcome, CommitOutcome::VersionConflict { .. }),
        "got {outcome:?}"
    );
    assert_untouched(store, &name, Some(&current), &before).await;
}

pub async fn expected_zero_on_existing_account_conflicts(store: &dyn Store) {
    let name = unique("exists");
    let current = create(store, &name).await;
    let again = create_commit(
        &name,
        vec![entry(&name, "x", 1)],
        Some(operation(&name, "op-again")),
    );
    match store.commit(again).await.expect("commit answers") {
        CommitOutcome::VersionConflict { current: reported } => {
            if let Some(reported) = reported {
                assert_eq!(reported, current);
            }
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_untouched(store, &name, Some(&current), &[]).await;
    assert_no_operation(store, &name, "op-again").await;
}

pub async fn expected_version_on_missing_account_conflicts(store: &dyn Store) {
    let name = unique("ghost");
    let commit = Commit {
        events: Vec::new(),
        expected_version: 3,
        account: account(&name, 4, json!({})),
        entries: vec![entry(&name, "x", 1)],
        facts: vec![],
        operation: Some(operation(&name, "op-ghost")),
    };
    let outcome = store.commit(commit).await.expect("commit answers");
    assert_eq!(outcome, CommitOutcome::VersionConflict { current: None });
    assert_untouched(store, &name, None, &[]).await;
    assert_no_operation(store, &name, "op-ghost").await;
}

pub async fn duplicate_operation_returns_the_original(store: &dyn Store) {
    let name = unique("replay");
    let record = create(store, &name).await;
    let original = OperationRecord {
        status: 201,
        response: json!({"id": "op-1", "charged": {"credits": "12.50"}}),
        at: at("2025-03-01T10:00:00.123456Z"),
        ..operation(&name, "op-1")
    };
    commit_ok(
        store,
        next_commit(
            &record,
            json!({"n": 1}),
            vec![entry(&name, "e1", 1)],
            Some(original.clone()),
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    let before = all_entries(store, &name).await;

    // The same client id again, even against the current version and with a new body.
    let replay = OperationRecord {
        request_hash: "another-hash".to_owned(),
        status: 402,
        response: json!({"type": "insufficient-credits"}),
        at: at("2025-03-02T00:00:00Z"),
        ..original.clone()
    };
    let outcome = store
        .commit(next_commit(
            &current,
            json!({"n": 2}),
            vec![entry(&name, "e2", 2)],
            Some(replay),
        ))
        .await
        .expect("commit answers");
    assert_eq!(outcome, CommitOutcome::OperationExists(original.clone()));
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_eq!(
        store
            .operation(&name, "op-1")
            .await
            .expect("operation succeeds"),
        Some(original)
    );

    // Operation ids are per account: another account may use the same one.
    let other = unique("replay-other");
    commit_ok(
        store,
        create_commit(&other, vec![], Some(operation(&other, "op-1"))),
    )
    .await;
}

pub async fn duplicate_entry_writes_nothing(store: &dyn Store) {
    let name = unique("dup-entry");
    let record = create(store, &name).await;
    commit_ok(
        store,
        next_commit(
            &record,
            json!({"n": 1}),
            vec![entry(&name, "grant-2025-03", 1)],
            None,
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    let before = all_entries(store, &name).await;

    let outcome = store
        .commit(next_commit(
            &current,
            json!({"n": 2}),
            vec![entry(&name, "new", 2), entry(&name, "again", 1)],
            Some(operation(&name, "op-dup")),
        ))
        .await
        .expect("commit answers");
    assert_eq!(outcome, CommitOutcome::EntryExists { seq: 1 });
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_no_operation(store, &name, "op-dup").await;

    // Entries are keyed by seq per account: another account may use the same seq, and the
    // store does not judge ids (keeping them unique is the ledger's job).
    let other = unique("dup-entry-other");
    commit_ok(
        store,
        create_commit(
            &other,
            vec![
                entry(&other, "grant-2025-03", 1),
                entry(&other, "grant-2025-03", 2),
            ],
            None,
        ),
    )
    .await;
    assert_eq!(all_entries(store, &other).await.len(), 2);
}

pub async fn failing_commit_is_all_or_nothing(store: &dyn Store) {
    let name = unique("atomic");
    let record = create(store, &name).await;
    commit_ok(
        store,
        next_commit(
            &record,
            json!({"n": 1}),
            vec![entry(&name, "e-last", 1)],
            None,
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    let before = all_entries(store, &name).await;

    // Many new entries, and the very last one collides: none of the others may land.
    let mut entries: Vec<EntryRecord> = (2..=MAX_COMMIT_ENTRIES as u64)
        .map(|seq| entry(&name, &format!("e{seq}"), seq))
        .collect();
    entries.push(entry(&name, "e-collides", 1));
    let outcome = store
        .commit(next_commit(
            &current,
            json!({"n": 2}),
            entries,
            Some(operation(&name, "op-big")),
        ))
        .await
        .expect("commit answers");
    assert_eq!(outcome, CommitOutcome::EntryExists { seq: 1 });
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_no_operation(store, &name, "op-big").await;

    // The same commit without the collision then lands whole.
    let entries: Vec<EntryRecord> = (2..=MAX_COMMIT_ENTRIES as u64 + 1)
        .map(|seq| entry(&name, &format!("e{seq}"), seq))
        .collect();
    commit_ok(
        store,
        next_commit(
            &current,
            json!({"n": 2}),
            entries.clone(),
            Some(operation(&name, "op-big")),
        ),
    )
    .await;
    let after = all_entries(store, &name).await;
    assert_eq!(after.len(), before.len() + MAX_COMMIT_ENTRIES);
}

pub async fn refusals_follow_the_documented_precedence(store: &dyn Store) {
    let name = unique("precedence");
    let first = create(store, &name).await;
    let original = operation(&name, "op-1");
    commit_ok(
        store,
        next_commit(
            &first,
            json!({"n": 1}),
            vec![entry(&name, "e1", 1)],
            Some(original.clone()),
        ),
    )
    .await;
    let current = loaded(store, &name).await;

    // Stale version + used operation + used entry: the operation wins.
    let outcome = store
        .commit(next_commit(
            &first,
            json!({}),
            vec![entry(&name, "e1", 1)],
            Some(original.clone()),
        ))
        .await
        .expect("commit answers");
    assert_eq!(outcome, CommitOutcome::OperationExists(original));

    // Stale version + used entry: the version conflict wins (the race is retried).
    let outcome = store
        .commit(next_commit(
            &first,
            json!({}),
            vec![entry(&name, "e1", 1)],
            Some(operation(&name, "op-2")),
        ))
        .await
        .expect("commit answers");
    assert!(
        matches!(outcome, CommitOutcome::VersionConflict { .. }),
        "got {outcome:?}"
    );
    assert_untouched(store, &name, Some(&current), &[entry(&name, "e1", 1)]).await;
}

pub async fn commit_without_operation_or_entries(store: &dyn Store) {
    let name = unique("bare");
    let record = create(store, &name).await;
    commit_ok(
        store,
        next_commit(&record, json!({"touched": true}), vec![], None),
    )
    .await;
    let current = loaded(store, &name).await;
    assert_eq!(current.version, 2);
    assert_eq!(current.state, json!({"touched": true}));
    assert_eq!(all_entries(store, &name).await, vec![]);
}

pub async fn operation_round_trips_exactly(store: &dyn Store) {
    let name = unique("operation");
    let record = create(store, &name).await;
    let original = OperationRecord {
        account: name.clone(),
        id: "client-id-☃".to_owned(),
        kind: "refund".to_owned(),
        request_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        status: 409,
        response: json!({
            "type": "idempotency-conflict",
            "detail": "the id `x` was used with another body",
            "nested": {"list": [1, "two", null, true, {"k": -3}]},
            "big": 9_007_199_254_740_993_u64,
            "negative": i64::MIN,
        }),
        at: at("2025-03-01T10:00:00.654321Z"),
    };
    commit_ok(
        store,
        next_commit(&record, json!({}), vec![], Some(original.clone())),
    )
    .await;
    assert_eq!(
        store
            .operation(&name, &original.id)
            .await
            .expect("operation succeeds"),
        Some(original.clone())
    );
    // Looked up by account and id together.
    assert_no_operation(store, &unique("operation-elsewhere"), &original.id).await;
    assert_no_operation(store, &name, "client-id").await;
}

pub async fn json_values_round_trip(store: &dyn Store) {
    let name = unique("json");
    let state = json!({
        "buckets": [
            {"kind": "top-up", "unit": "credits", "left_minor": i64::MAX, "expires_at": null},
            {"kind": "free-daily", "unit": "video-minutes", "left_minor": 0}
        ],
        "text": "naïve — 日本語 — emoji 🎉 — quote \" backslash \\ newline \n tab \t",
        "empty_object": {}, "empty_list": [], "zero": 0, "min": i64::MIN, "max": u64::MAX,
        "half": 1.5, "flag": false
    });
    let body = json!({"rates_version": "sha256:abc", "lines": [{"rule": "per second", "amount": "0.0125"}]});
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: account(&name, 1, state.clone()),
        entries: vec![EntryRecord {
            body: body.clone(),
            ..entry(&name, "e1", 1)
        }],
        facts: vec![],
        operation: None,
    };
    commit_ok(store, commit).await;
    assert_eq!(loaded(store, &name).await.state, state);
    assert_eq!(all_entries(store, &name).await[0].body, body);

    // A scalar state is a state too.
    let other = unique("json-scalar");
    commit_ok(
        store,
        Commit {
            events: Vec::new(),
            expected_version: 0,
            account: account(&other, 1, json!("just a string")),
            entries: vec![],
            facts: vec![],
            operation: None,
        },
    )
    .await;
    assert_eq!(loaded(store, &other).await.state, json!("just a string"));
}

// ---------------------------------------------------------------------------------------
// Entries: order, filters, paging
// ---------------------------------------------------------------------------------------

pub async fn entries_ascend_by_seq(store: &dyn Store) {
    let name = unique("order");
    let record = create(store, &name).await;
    // Handed over out of order, and with gaps: reads come back ascending by seq.
    let entries = vec![
        entry(&name, "c", 30),
        entry(&name, "a", 10),
        entry(&name, "b", 20),
    ];
    commit_ok(store, next_commit(&record, json!({}), entries, None)).await;
    let record = loaded(store, &name).await;
    commit_ok(
        store,
        next_commit(
            &record,
            json!({}),
            vec![entry(&name, "d", 25), entry(&name, "e", 40)],
            None,
        ),
    )
    .await;
    let seqs: Vec<u64> = all_entries(store, &name)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![10, 20, 25, 30, 40]);
    // Entries of other accounts never show.
    let other = unique("order-other");
    commit_ok(
        store,
        create_commit(&other, vec![entry(&other, "z", 15)], None),
    )
    .await;
    assert_eq!(all_entries(store, &name).await.len(), 5);
}

/// 60 varied entries over 3 commits: every attribute takes several values, some `None`, and
/// pairs of entries share a timestamp so bounds land exactly on entries.
async fn filter_fixture(store: &dyn Store) -> (String, Vec<EntryRecord>) {
    let name = unique("filters");
    let types = ["charge", "grant", "refund", "top_up", "expiry"];
    let features = [Some("video"), Some("image"), None];
    let models = [Some("pro"), None, Some("ultra"), Some("ü-model")];
    let projects = [None, Some("alpha"), Some("beta")];
    let members = [Some("ana@example.com"), None];
    let contents = [
        Some("content-1"),
        Some("content-2"),
        None,
        None,
        Some("content-3"),
    ];
    let start = at("2025-01-01T00:00:00Z");
    let text = |value: Option<&str>| value.map(str::to_owned);
    let all: Vec<EntryRecord> = (0..60_usize)
        .map(|k| EntryRecord {
            account: name.clone(),
            id: format!("entry-{k}"),
            seq: k as u64 + 1,
            at: start + Duration::minutes((k / 2) as i64),
            entry_type: types[k % types.len()].to_owned(),
            operation: format!("op-{}", k / 20),
            unit: if k % 7 == 0 {
                None
            } else {
                Some("credits".to_owned())
            },
            amount_minor: k as i64 * if k % 2 == 0 { 1 } else { -1 },
            feature: text(features[k % features.len()]),
            model: text(models[k % models.len()]),
            project: text(projects[(k / 3) % projects.len()]),
            member: text(members[(k / 5) % members.len()]),
            content: text(contents[k % contents.len()]),
            body: json!({"k": k}),
        })
        .collect();
    let mut record = create(store, &name).await;
    for (chunk_index, chunk) in all.chunks(20).enumerate() {
        commit_ok(
            store,
            next_commit(
                &record,
                json!({"chunk": chunk_index}),
                chunk.to_vec(),
                Some(operation(&name, &format!("op-{chunk_index}"))),
            ),
        )
        .await;
        record = loaded(store, &name).await;
    }
    (name, all)
}

/// The cursor after the entry of `seq` in `all`.
fn cursor_at(all: &[EntryRecord], seq: u64) -> EntryCursor {
    let entry = all
        .iter()
        .find(|entry| entry.seq == seq)
        .expect("the fixture has that seq");
    EntryCursor::after(entry)
}

fn matches(query: &EntryQuery, entry: &EntryRecord) -> bool {
    let equal = |wanted: &Option<String>, value: &Option<String>| {
        wanted
            .as_ref()
            .is_none_or(|wanted| value.as_ref() == Some(wanted))
    };
    entry.account == query.account
        && query.from.is_none_or(|from| entry.at >= from)
        && query.to.is_none_or(|to| entry.at < to)
        && (query.types.is_empty() || query.types.contains(&entry.entry_type))
        && equal(&query.feature, &entry.feature)
        && equal(&query.model, &entry.model)
        && equal(&query.project, &entry.project)
        && equal(&query.member, &entry.member)
        && query.after.is_none_or(|after| entry.seq > after.seq)
}

/// Compares the store's walk of `query` with the reference filter, at several page sizes.
async fn check_query(store: &dyn Store, all: &[EntryRecord], query: &EntryQuery) {
    let expected: Vec<EntryRecord> = all.iter().filter(|e| matches(query, e)).cloned().collect();
    for limit in [0, 1, 4, 1000] {
        let query = EntryQuery {
            limit,
            ..query.clone()
        };
        assert_eq!(walk(store, &query).await, expected, "walking {query:?}");
    }
}

pub async fn entries_filters(store: &dyn Store) {
    let (name, all) = filter_fixture(store).await;
    let base = query(&name);
    let some = |value: &str| Some(value.to_owned());
    let queries = vec![
        base.clone(),
        EntryQuery {
            types: vec!["refund".to_owned()],
            ..base.clone()
        },
        EntryQuery {
            types: vec!["grant".to_owned(), "expiry".to_owned()],
            ..base.clone()
        },
        EntryQuery {
            types: vec!["no-such-type".to_owned()],
            ..base.clone()
        },
        EntryQuery {
            feature: some("video"),
            ..base.clone()
        },
        EntryQuery {
            feature: some("audio"),
            ..base.clone()
        },
        EntryQuery {
            model: some("ultra"),
            ..base.clone()
        },
        EntryQuery {
            model: some("ü-model"),
            ..base.clone()
        },
        EntryQuery {
            project: some("alpha"),
            ..base.clone()
        },
        EntryQuery {
            member: some("ana@example.com"),
            ..base.clone()
        },
        EntryQuery {
            from: Some(at("2025-01-01T00:10:00Z")),
            ..base.clone()
        },
        EntryQuery {
            to: Some(at("2025-01-01T00:10:00Z")),
            ..base.clone()
        },
        EntryQuery {
            from: Some(at("2025-01-01T00:05:00Z")),
            to: Some(at("2025-01-01T00:20:00Z")),
            types: vec!["charge".to_owned(), "refund".to_owned()],
            ..base.clone()
        },
        EntryQuery {
            feature: some("image"),
            project: some("beta"),
            member: some("ana@example.com"),
            ..base.clone()
        },
        EntryQuery {
            model: some("pro"),
            types: vec!["charge".to_owned()],
            ..base.clone()
        },
        EntryQuery {
            feature: some("video"),
            after: Some(cursor_at(&all, 30)),
            ..base.clone()
        },
        EntryQuery {
            after: Some(cursor_at(&all, 60)),
            ..base.clone()
        },
        EntryQuery {
            from: Some(at("2030-01-01T00:00:00Z")),
            ..base.clone()
        },
    ];
    for query in &queries {
        check_query(store, &all, query).await;
    }
    // The fixture makes sure the filters are not all trivially empty.
    let refunds = all.iter().filter(|e| matches(&queries[1], e)).count();
    assert!(refunds > 0 && refunds < all.len());
}

pub async fn entries_time_bounds_are_inclusive_then_exclusive(store: &dyn Store) {
    let (name, all) = filter_fixture(store).await;
    // Entries 20 and 21 sit at exactly 00:10, entries 40 and 41 at exactly 00:20.
    let page = walk(
        store,
        &EntryQuery {
            from: Some(at("2025-01-01T00:10:00Z")),
            to: Some(at("2025-01-01T00:20:00Z")),
            ..query(&name)
        },
    )
    .await;
    let ids: Vec<&str> = page.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<String> = (20..40).map(|k| format!("entry-{k}")).collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
    // A one-microsecond window holds exactly the entries stamped at its start.
    let start = at("2025-01-01T00:10:00Z");
    let page = walk(
        store,
        &EntryQuery {
            from: Some(start),
            to: Some(start + Duration::microseconds(1)),
            ..query(&name)
        },
    )
    .await;
    assert_eq!(page.len(), 2);
    // An empty window.
    let page = walk(
        store,
        &EntryQuery {
            from: Some(start),
            to: Some(start),
            ..query(&name)
        },
    )
    .await;
    assert_eq!(page, vec![]);
    assert_eq!(all.len(), 60);
}

pub async fn entries_paging_until_exhaustion(store: &dyn Store) {
    let (name, all) = filter_fixture(store).await;
    for limit in [1_u32, 7, 60, 61, 1000] {
        let mut pages = 0;
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .entries(&EntryQuery {
                    after,
                    limit,
                    ..query(&name)
                })
                .await
                .expect("entries succeed");
            pages += 1;
            assert!(pages <= 1000, "paging with limit {limit} never ends");
            assert!(page.entries.len() <= limit as usize);
            seen.extend(page.entries);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, all, "paging with limit {limit}");
        // A page reads `limit` entries of the range, so a full walk takes that many pages.
        assert_eq!(
            pages,
            all.len().div_ceil(limit as usize).max(1),
            "pages of {limit}"
        );
    }
    // Starting in the middle.
    let rest = walk(
        store,
        &EntryQuery {
            after: Some(cursor_at(&all, 45)),
            limit: 4,
            ..query(&name)
        },
    )
    .await;
    assert_eq!(rest, all[45..].to_vec());
    // After the end: an empty last page.
    let page = store
        .entries(&EntryQuery {
            after: Some(EntryCursor {
                seq: 1_000_000,
                at: at("2031-01-01T00:00:00Z"),
            }),
            ..query(&name)
        })
        .await
        .expect("entries succeed");
    assert_eq!(page.entries, vec![]);
    assert_eq!(page.next, None);
}

pub async fn entries_limit_is_capped(store: &dyn Store) {
    let name = unique("cap");
    let mut record = create(store, &name).await;
    let total = MAX_PAGE_ENTRIES as usize + 2 * MAX_COMMIT_ENTRIES;
    let all: Vec<EntryRecord> = (1..=total as u64)
        .map(|seq| EntryRecord {
            body: json!({}),
            ..entry(&name, &format!("e{seq}"), seq)
        })
        .collect();
    for chunk in all.chunks(MAX_COMMIT_ENTRIES) {
        commit_ok(store, next_commit(&record, json!({}), chunk.to_vec(), None)).await;
        record = loaded(store, &name).await;
    }
    for limit in [0, MAX_PAGE_ENTRIES + 1, u32::MAX] {
        let page = store
            .entries(&EntryQuery {
                limit,
                ..query(&name)
            })
            .await
            .expect("entries succeed");
        assert!(
            page.entries.len() <= MAX_PAGE_ENTRIES as usize,
            "limit {limit} gave a page of {}",
            page.entries.len()
        );
        assert!(
            !page.entries.is_empty(),
            "limit {limit} gave an empty first page"
        );
        assert!(page.next.is_some(), "limit {limit}: more entries follow");
    }
    assert_eq!(walk(store, &query(&name)).await, all);
    assert_eq!(
        walk(
            store,
            &EntryQuery {
                limit: u32::MAX,
                ..query(&name)
            }
        )
        .await,
        all
    );
}

pub async fn entries_time_range_pages_by_time_then_seq(store: &dyn Store) {
    let (name, all) = filter_fixture(store).await;
    let range = EntryQuery {
        from: Some(at("2025-01-01T00:03:00Z")),
        to: Some(at("2025-01-01T00:25:00Z")),
        ..query(&name)
    };
    let expected: Vec<EntryRecord> = all.iter().filter(|e| matches(&range, e)).cloned().collect();
    assert_eq!(expected.len(), 44);
    for limit in [1_u32, 3, 44, 45] {
        let mut query = EntryQuery {
            limit,
            ..range.clone()
        };
        let mut seen = Vec::new();
        let mut pages = 0_usize;
        loop {
            let page = store.entries(&query).await.expect("entries succeed");
            pages += 1;
            assert!(pages <= 100, "paging a time range never ends");
            seen.extend(page.entries);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "time range in pages of {limit}");
        // Each page costs one read of the range, wherever the range starts in history.
        assert_eq!(
            pages,
            expected.len().div_ceil(limit as usize),
            "pages of {limit}"
        );
    }
}

fn fact(account: &str, key: &str, value: serde_json::Value) -> FactRecord {
    FactRecord {
        account: account.to_owned(),
        key: key.to_owned(),
        value,
    }
}

async fn facts_of(
    store: &dyn Store,
    name: &str,
    keys: &[&str],
) -> BTreeMap<String, serde_json::Value> {
    let keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
    store
        .facts(name, &keys)
        .await
        .expect("facts succeed")
        .into_iter()
        .map(|fact| {
            assert_eq!(fact.account, name, "a fact of another account");
            (fact.key, fact.value)
        })
        .collect()
}

pub async fn facts_are_written_with_the_commit_and_read_by_key(store: &dyn Store) {
    let name = unique("facts");
    let mut commit = create_commit(&name, vec![entry(&name, "c1", 1)], None);
    commit.facts = vec![
        fact(
            &name,
            "charge:c1",
            json!({"charged_minor": {"credit": 150}}),
        ),
        fact(&name, "analysed:video:ü🎬", json!(true)),
    ];
    commit_ok(store, commit).await;
    let found = facts_of(
        store,
        &name,
        &["charge:c1", "analysed:video:ü🎬", "charge:c2"],
    )
    .await;
    assert_eq!(
        found,
        BTreeMap::from([
            ("analysed:video:ü🎬".to_owned(), json!(true)),
            (
                "charge:c1".to_owned(),
                json!({"charged_minor": {"credit": 150}})
            ),
        ])
    );
    // Nothing asked, nothing read; facts are per account.
    assert!(facts_of(store, &name, &[]).await.is_empty());
    let other = unique("facts-other");
    create(store, &other).await;
    assert!(facts_of(store, &other, &["charge:c1"]).await.is_empty());
    // The longest key round-trips.
    let long_key = long_id("fact", MAX_FACT_KEY_BYTES);
    let record = loaded(store, &name).await;
    let mut commit = next_commit(&record, json!({"n": 2}), vec![], None);
    commit.facts = vec![fact(&name, &long_key, json!({"k": 1}))];
    commit_ok(store, commit).await;
    assert_eq!(
        facts_of(store, &name, &[long_key.as_str()])
            .await
            .get(&long_key),
        Some(&json!({"k": 1}))
    );
}

pub async fn facts_are_upserted_and_refused_with_the_commit(store: &dyn Store) {
    let name = unique("facts-upsert");
    let mut commit = create_commit(&name, vec![], None);
    commit.facts = vec![fact(&name, "charge:c1", json!({"refunded_minor": 0}))];
    commit_ok(store, commit).await;
    let first = loaded(store, &name).await;

    // A later commit replaces the value.
    let mut commit = next_commit(
        &first,
        json!({"n": 2}),
        vec![],
        Some(operation(&name, "r1")),
    );
    commit.facts = vec![fact(&name, "charge:c1", json!({"refunded_minor": 50}))];
    commit_ok(store, commit).await;
    let second = loaded(store, &name).await;
    assert_eq!(
        facts_of(store, &name, &["charge:c1"])
            .await
            .get("charge:c1"),
        Some(&json!({"refunded_minor": 50}))
    );

    // A refused commit writes none of its facts: stale version, used operation, used seq.
    let refused = [
        next_commit(&first, json!({}), vec![], Some(operation(&name, "r2"))),
        next_commit(&second, json!({}), vec![], Some(operation(&name, "r1"))),
    ];
    for mut commit in refused {
        commit.facts = vec![
            fact(&name, "charge:c1", json!({"refunded_minor": 999})),
            fact(&name, "charge:new", json!(1)),
        ];
        let outcome = store.commit(commit).await.expect("commit answers");
        assert_ne!(outcome, CommitOutcome::Committed);
    }
    let mut with_entry = next_commit(&second, json!({}), vec![entry(&name, "e1", 1)], None);
    commit_ok(store, with_entry.clone()).await;
    let third = loaded(store, &name).await;
    with_entry = next_commit(&third, json!({}), vec![entry(&name, "e1-again", 1)], None);
    with_entry.facts = vec![fact(&name, "charge:new", json!(1))];
    assert_eq!(
        store.commit(with_entry).await.expect("commit answers"),
        CommitOutcome::EntryExists { seq: 1 }
    );
    assert_eq!(
        facts_of(store, &name, &["charge:c1", "charge:new"]).await,
        BTreeMap::from([("charge:c1".to_owned(), json!({"refunded_minor": 50}))])
    );
}

pub async fn last_fact_before_finds_the_greatest_earlier_key(store: &dyn Store) {
    let name = unique("facts-before");
    let mut commit = create_commit(&name, vec![], None);
    commit.facts = ["2025-01-01", "2025-02-01", "2025-04-01"]
        .iter()
        .map(|day| fact(&name, &format!("statement:{day}"), json!({"day": day})))
        .chain([
            fact(&name, "statemenu", json!("after the prefix")),
            fact(&name, "charge:2025-03-01", json!("another prefix")),
        ])
        .collect();
    commit_ok(store, commit).await;
    let before = async |key: &str| {
        store
            .last_fact_before(&name, "statement:", key)
            .await
            .expect("last_fact_before succeeds")
            .map(|fact| fact.key)
    };
    assert_eq!(
        before("statement:2025-03-01").await.as_deref(),
        Some("statement:2025-02-01")
    );
    assert_eq!(
        before("statement:2025-02-01").await.as_deref(),
        Some("statement:2025-01-01")
    );
    assert_eq!(before("statement:2025-01-01").await, None);
    assert_eq!(
        before("statement:9999").await.as_deref(),
        Some("statement:2025-04-01")
    );
    assert_eq!(
        before("statemenu~").await.as_deref(),
        Some("statement:2025-04-01")
    );
    let other = unique("facts-before-other");
    create(store, &other).await;
    assert_eq!(
        store
            .last_fact_before(&other, "statement:", "statement:9999")
            .await
            .expect("last_fact_before succeeds"),
        None
    );
}

pub async fn fact_reads_and_writes_are_bounded(store: &dyn Store) {
    let name = unique("facts-bounds");
    let record = create(store, &name).await;
    let too_many: Vec<String> = (0..=MAX_FACT_KEYS).map(|k| format!("k{k}")).collect();
    assert!(matches!(
        store.facts(&name, &too_many).await,
        Err(StoreError::Invalid(_))
    ));
    let too_long = long_id("fact", MAX_FACT_KEY_BYTES + 1);
    assert!(matches!(
        store.facts(&name, std::slice::from_ref(&too_long)).await,
        Err(StoreError::Invalid(_))
    ));
    let refused = [
        vec![fact(&name, &too_long, json!(1))],
        vec![fact(&name, "", json!(1))],
        vec![
            fact(&name, "twice", json!(1)),
            fact(&name, "twice", json!(2)),
        ],
        vec![fact("someone-else", "k", json!(1))],
        vec![fact(
            &name,
            "huge",
            json!("x".repeat(crate::MAX_FACT_VALUE_BYTES)),
        )],
    ];
    for facts in refused {
        let mut commit = next_commit(&record, json!({"n": 2}), vec![], None);
        commit.facts = facts;
        assert_invalid(store.commit(commit).await, "a fact over a limit");
    }
    // Entries and facts share the commit's item budget.
    let mut commit = next_commit(
        &record,
        json!({"n": 2}),
        (1..=MAX_COMMIT_ENTRIES as u64)
            .map(|seq| entry(&name, &format!("e{seq}"), seq))
            .collect(),
        None,
    );
    commit.facts = vec![fact(&name, "one-too-many", json!(1))];
    assert_invalid(
        store.commit(commit).await,
        "entries and facts over the commit's budget",
    );
    assert_untouched(store, &name, Some(&record), &[]).await;
}

// ---------------------------------------------------------------------------------------
// Values at the edges
// ---------------------------------------------------------------------------------------

pub async fn timestamps_round_trip_to_the_microsecond(store: &dyn Store) {
    let name = unique("time");
    let precise = at("2024-02-29T23:59:59.123456789Z");
    let truncated = precise.trunc_subsecs(6);
    assert_eq!(truncated, at("2024-02-29T23:59:59.123456Z"));
    let times = [
        precise,
        at("1970-01-01T00:00:00Z"),
        at("1970-01-01T00:00:00.000001Z"),
        at("2038-01-19T03:14:08Z"),
        at("9999-12-31T23:59:59.999999Z"),
    ];
    let entries: Vec<EntryRecord> = times
        .iter()
        .enumerate()
        .map(|(k, &time)| EntryRecord {
            at: time,
            ..entry(&name, &format!("t{k}"), k as u64 + 1)
        })
        .collect();
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            due_at: Some(precise),
            ..account(&name, 1, json!({}))
        },
        entries,
        facts: vec![],
        operation: Some(OperationRecord {
            at: precise,
            ..operation(&name, "op-time")
        }),
    };
    commit_ok(store, commit).await;

    assert_eq!(loaded(store, &name).await.due_at, Some(truncated));
    let stored: Vec<DateTime<Utc>> = all_entries(store, &name)
        .await
        .iter()
        .map(|e| e.at)
        .collect();
    let expected: Vec<DateTime<Utc>> = times.iter().map(|t| t.trunc_subsecs(6)).collect();
    assert_eq!(stored, expected);
    let op = store
        .operation(&name, "op-time")
        .await
        .expect("operation succeeds")
        .expect("exists");
    assert_eq!(op.at, truncated);

    // Query bounds are truncated the same way: `from` at the precise time includes it,
    // `to` at the precise time excludes it.
    let from = walk(
        store,
        &EntryQuery {
            from: Some(precise),
            ..query(&name)
        },
    )
    .await;
    assert!(from.iter().any(|e| e.id == "t0"));
    let to = walk(
        store,
        &EntryQuery {
            to: Some(precise),
            ..query(&name)
        },
    )
    .await;
    assert!(to.iter().all(|e| e.id != "t0"));
    // One microsecond apart is apart.
    let window = walk(
        store,
        &EntryQuery {
            from: Some(at("1970-01-01T00:00:00.000001Z")),
            to: Some(at("1970-01-01T00:00:00.000002Z")),
            ..query(&name)
        },
    )
    .await;
    assert_eq!(
        window.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["t2"]
    );

    let key = KeyRecord {
        id: unique("key-time"),
        secret_hash: "00".repeat(32),
        account: None,
        created_at: precise,
        revoked_at: None,
    };
    store.put_key(&key).await.expect("put_key succeeds");
    let stored = store
        .key(&key.id)
        .await
        .expect("key succeeds")
        .expect("exists");
    assert_eq!(stored.created_at, truncated);
    assert!(
        store
            .revoke_key(&key.id, precise)
            .await
            .expect("revoke succeeds")
    );
    let stored = store
        .key(&key.id)
        .await
        .expect("key succeeds")
        .expect("exists");
    assert_eq!(stored.revoked_at, Some(truncated));
}

pub async fn amount_extremes_round_trip(store: &dyn Store) {
    let name = unique("amounts");
    let amounts = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let entries: Vec<EntryRecord> = amounts
        .iter()
        .enumerate()
        .map(|(k, &amount_minor)| EntryRecord {
            amount_minor,
            ..entry(&name, &format!("a{k}"), k as u64 + 1)
        })
        .collect();
    commit_ok(store, create_commit(&name, entries.clone(), None)).await;
    assert_eq!(all_entries(store, &name).await, entries);

    // Versions and seqs at the top of their range (i64::MAX) round-trip too.
    let big = unique("big-numbers");
    let top = i64::MAX as u64;
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: account(&big, 1, json!({})),
        entries: vec![entry(&big, "last", top)],
        facts: vec![],
        operation: None,
    };
    commit_ok(store, commit).await;
    assert_eq!(all_entries(store, &big).await[0].seq, top);
    let page = store
        .entries(&EntryQuery {
            after: Some(EntryCursor::after(&all_entries(store, &big).await[0])),
            ..query(&big)
        })
        .await
        .expect("entries succeed");
    assert_eq!(page.entries, vec![]);
    let page = store
        .entries(&EntryQuery {
            after: Some(EntryCursor {
                seq: u64::MAX,
                at: base_time(),
            }),
            ..query(&big)
        })
        .await
        .expect("entries succeed");
    assert_eq!(page.entries, vec![]);
}

/// An id of exactly `bytes` UTF-8 bytes, starting with `prefix`, full of multi-byte
/// characters and characters that SQL or key syntaxes treat specially.
fn long_id(prefix: &str, bytes: usize) -> String {
    let mut id = format!("{prefix}-账户-🚀-'\"%_\\/#:|é ");
    while id.len() + 4 <= bytes {
        id.push('🦀');
    }
    while id.len() < bytes {
        id.push('x');
    }
    assert_eq!(id.len(), bytes);
    id
}

pub async fn unicode_and_long_ids_round_trip(store: &dyn Store) {
    let name = long_id(&unique("ids"), MAX_ID_BYTES);
    let entry_id = long_id("entry", MAX_ID_BYTES);
    let operation_id = long_id("operation", MAX_ID_BYTES);
    let mut e = entry(&name, &entry_id, 1);
    e.operation = operation_id.clone();
    e.feature = Some("vidéo 🎬".to_owned());
    e.model = Some("模型".to_owned());
    e.project = Some(long_id("project", 300));
    e.member = Some("ünïcödé@example.com".to_owned());
    e.content = Some("sha256:ﬀ".to_owned());
    let commit = create_commit(
        &name,
        vec![e.clone()],
        Some(operation(&name, &operation_id)),
    );
    commit_ok(store, commit.clone()).await;
    assert_eq!(loaded(store, &name).await, commit.account);
    assert_eq!(all_entries(store, &name).await, vec![e.clone()]);
    assert_eq!(
        store
            .operation(&name, &operation_id)
            .await
            .expect("operation succeeds"),
        commit.operation
    );
    // Filters compare whole values, byte for byte.
    let found = walk(
        store,
        &EntryQuery {
            feature: e.feature.clone(),
            model: e.model.clone(),
            project: e.project.clone(),
            member: e.member.clone(),
            ..query(&name)
        },
    )
    .await;
    assert_eq!(found, vec![e]);
    let none = walk(
        store,
        &EntryQuery {
            feature: Some("vidéo".to_owned()),
            ..query(&name)
        },
    )
    .await;
    assert_eq!(none, vec![]);
    // A prefix of the account is another account.
    let prefix: String = name.chars().take(40).collect();
    assert_eq!(store.load(&prefix).await.expect("load succeeds"), None);

    let key = KeyRecord {
        id: long_id(&unique("key"), MAX_ID_BYTES),
        secret_hash: "ab".repeat(32),
        account: Some(name.clone()),
        created_at: base_time(),
        revoked_at: None,
    };
    store.put_key(&key).await.expect("put_key succeeds");
    assert_eq!(store.key(&key.id).await.expect("key succeeds"), Some(key));
}

pub async fn invalid_commits_write_nothing(store: &dyn Store) {
    let name = unique("invalid");
    let other = unique("invalid-other");

    // Creating at version 2, or at version 0.
    let mut commit = create_commit(
        &name,
        vec![entry(&name, "e", 1)],
        Some(operation(&name, "op")),
    );
    commit.account.version = 2;
    assert_invalid(store.commit(commit.clone()).await, "create at version 2");
    commit.account.version = 0;
    assert_invalid(store.commit(commit).await, "create at version 0");
    assert_untouched(store, &name, None, &[]).await;
    assert_no_operation(store, &name, "op").await;

    let current = create(store, &name).await;
    let valid = || {
        next_commit(
            &current,
            json!({"bad": true}),
            vec![entry(&name, "e1", 1)],
            Some(operation(&name, "op-bad")),
        )
    };
    let mut cases: Vec<(&str, Commit)> = Vec::new();

    let mut commit = valid();
    commit.account.version = current.version;
    cases.push(("version equal to the expected one", commit));
    let mut commit = valid();
    commit.account.version = current.version + 2;
    cases.push(("version skipping one", commit));
    let mut commit = valid();
    commit.entries = (1..=MAX_COMMIT_ENTRIES as u64 + 1)
        .map(|seq| entry(&name, &format!("e{seq}"), seq))
        .collect();
    cases.push(("too many entries", commit));
    let mut commit = valid();
    commit.entries.push(entry(&other, "e2", 2));
    cases.push(("an entry of another account", commit));
    let mut commit = valid();
    commit.operation = Some(operation(&other, "op-bad"));
    cases.push(("an operation of another account", commit));
    let mut commit = valid();
    commit.entries.push(entry(&name, "e2", 1));
    cases.push(("an entry seq twice", commit));
    let mut commit = valid();
    commit.entries.push(entry(&name, "", 2));
    cases.push(("an empty entry id", commit));
    let mut commit = valid();
    commit.operation = Some(operation(&name, ""));
    cases.push(("an empty operation id", commit));
    let mut commit = valid();
    commit
        .entries
        .push(entry(&name, &long_id("e", MAX_ID_BYTES + 1), 2));
    cases.push(("an entry id too long", commit));
    let mut commit = valid();
    commit.operation = Some(operation(&name, &long_id("op", MAX_ID_BYTES + 1)));
    cases.push(("an operation id too long", commit));
    let mut commit = valid();
    commit
        .entries
        .push(entry(&name, "e-huge", i64::MAX as u64 + 1));
    cases.push(("a seq beyond i64::MAX", commit));

    for (what, commit) in cases {
        assert_invalid(store.commit(commit).await, what);
        assert_untouched(store, &name, Some(&current), &[]).await;
        assert_no_operation(store, &name, "op-bad").await;
    }

    // Ids that could never be stored.
    assert_invalid(
        store.commit(create_commit("", vec![], None)).await,
        "an empty account id",
    );
    let long = long_id("account", MAX_ID_BYTES + 1);
    assert_invalid(
        store.commit(create_commit(&long, vec![], None)).await,
        "an account id too long",
    );
    assert_eq!(store.load(&long).await.expect("load succeeds"), None);
    // A version beyond i64::MAX.
    let huge = unique("invalid-huge");
    let commit = Commit {
        events: Vec::new(),
        expected_version: i64::MAX as u64,
        account: account(&huge, i64::MAX as u64 + 1, json!({})),
        entries: vec![],
        facts: vec![],
        operation: None,
    };
    assert_invalid(store.commit(commit).await, "a version beyond i64::MAX");
    // And expected + 1 overflowing.
    let commit = Commit {
        events: Vec::new(),
        expected_version: u64::MAX,
        account: account(&huge, 0, json!({})),
        entries: vec![],
        facts: vec![],
        operation: None,
    };
    assert_invalid(store.commit(commit).await, "a version that overflows");
    assert_eq!(store.load(&huge).await.expect("load succeeds"), None);
}

// ---------------------------------------------------------------------------------------
// Due accounts
// ---------------------------------------------------------------------------------------

/// "Now" for the due cases: years before every other case's stamps, so that few accounts
/// but the due cases' own are due at it in a shared store; cases still only judge their own
/// accounts (by id prefix), since another run's may share the table.
fn due_now() -> DateTime<Utc> {
    at("2001-01-01T00:00:00Z")
}

async fn create_due(store: &dyn Store, name: &str, due_at: Option<DateTime<Utc>>) {
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            due_at,
            ..account(name, 1, json!({}))
        },
        entries: vec![],
        facts: vec![],
        operation: None,
    };
    commit_ok(store, commit).await;
}

/// Walks one segment to its end; checks that no account repeats within the walk.
async fn walk_due(
    store: &dyn Store,
    now: DateTime<Utc>,
    segment: u32,
    segments: u32,
    limit: u32,
) -> Vec<String> {
    let mut cursor = None;
    let mut all = Vec::new();
    for _page in 0..100_000 {
        let page = store
            .due_accounts(now, segment, segments, cursor, limit)
            .await
            .expect("due_accounts succeeds");
        let cap = if limit == 0 {
            MAX_PAGE_ENTRIES
        } else {
            limit.min(MAX_PAGE_ENTRIES)
        };
        assert!(
            page.accounts.len() <= cap as usize,
            "a page holds more than the limit"
        );
        all.extend(page.accounts);
        match page.next {
            None => {
                let distinct: BTreeSet<&String> = all.iter().collect();
                assert_eq!(
                    distinct.len(),
                    all.len(),
                    "an account appears twice in a walk"
                );
                return all;
            }
            Some(next) => cursor = Some(next),
        }
    }
    panic!("the walk of segment {segment}/{segments} never ends");
}

fn ours(accounts: Vec<String>, prefix: &str) -> BTreeSet<String> {
    accounts
        .into_iter()
        .filter(|a| a.starts_with(prefix))
        .collect()
}

/// How long [`eventually`] waits for `due_accounts` to catch up with commits.
const SETTLE_ATTEMPTS: u32 = 50;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Retries `check` until it passes, for about 10 s: `due_accounts` may lag commits (DynamoDB
/// reads it from an eventually consistent index). A store that is consistent passes at once.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let mut last = String::new();
    for _attempt in 0..SETTLE_ATTEMPTS {
        match check().await {
            Ok(()) => return,
            Err(message) => last = message,
        }
        tokio::time::sleep(SETTLE_PAUSE).await;
    }
    panic!("{what}: {last}");
}

/// `Err` describing the difference unless `found == expected`.
fn same<T: PartialEq + std::fmt::Debug>(what: &str, found: T, expected: T) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{what}: found {found:?}, expected {expected:?}"))
    }
}

pub async fn due_accounts_lists_only_due_accounts(store: &dyn Store) {
    let prefix = unique("due-only");
    let now = due_now();
    let due = [
        (
            format!("{prefix}-long-ago"),
            Some(at("1990-01-01T00:00:00Z")),
        ),
        (
            format!("{prefix}-just-before"),
            Some(now - Duration::microseconds(1)),
        ),
        (format!("{prefix}-exactly-now"), Some(now)),
    ];
    let not_due = [
        (
            format!("{prefix}-just-after"),
            Some(now + Duration::microseconds(1)),
        ),
        (
            format!("{prefix}-next-year"),
            Some(at("2002-01-01T00:00:00Z")),
        ),
        (format!("{prefix}-never"), None),
    ];
    for (name, due_at) in due.iter().chain(not_due.iter()) {
        create_due(store, name, *due_at).await;
    }
    let expected: BTreeSet<String> = due.iter().map(|(name, _)| name.clone()).collect();
    eventually("due at now", async || {
        same(
            "due",
            ours(walk_due(store, now, 0, 1, 0).await, &prefix),
            expected.clone(),
        )
    })
    .await;
    // Later, more are due; `None` never is.
    let mut later_expected = expected.clone();
    later_expected.insert(format!("{prefix}-just-after"));
    later_expected.insert(format!("{prefix}-next-year"));
    let later = at("2005-01-01T00:00:00Z");
    eventually("due later", async || {
        same(
            "due later",
            ours(walk_due(store, later, 0, 1, 0).await, &prefix),
            later_expected.clone(),
        )
    })
    .await;
}

pub async fn due_account_segments_partition_the_due_accounts(store: &dyn Store) {
    let prefix = unique("due-segments");
    let now = due_now();
    let names: BTreeSet<String> = (0..24).map(|k| format!("{prefix}-{k}")).collect();
    for name in &names {
        create_due(store, name, Some(now - Duration::hours(1))).await;
    }
    eventually("all due", async || {
        same(
            "due",
            ours(walk_due(store, now, 0, 1, 0).await, &prefix),
            names.clone(),
        )
    })
    .await;
    for segments in [2_u32, 3, 4, 7] {
        let mut union = BTreeSet::new();
        for segment in 0..segments {
            let listed = walk_due(store, now, segment, segments, 5).await;
            for name in &listed {
                // Every listed account, ours or another case's, sits in its own segment only.
                assert_eq!(
                    segment_of(name, segments),
                    segment,
                    "`{name}` listed in segment {segment} of {segments}"
                );
                assert!(union.insert(name.clone()), "`{name}` is in two segments");
            }
        }
        assert_eq!(
            ours(union.into_iter().collect(), &prefix),
            names,
            "the segments of {segments} do not cover every due account"
        );
    }
}

pub async fn due_accounts_paging_by_cursor(store: &dyn Store) {
    let prefix = unique("due-paging");
    let now = due_now();
    let names: BTreeSet<String> = (0..11).map(|k| format!("{prefix}-{k:02}")).collect();
    for name in &names {
        create_due(store, name, Some(now)).await;
    }
    eventually("all due", async || {
        same(
            "due",
            ours(walk_due(store, now, 0, 1, 0).await, &prefix),
            names.clone(),
        )
    })
    .await;
    for limit in [1, 2, 3, 10, 11, 1000] {
        let listed = ours(walk_due(store, now, 0, 1, limit).await, &prefix);
        assert_eq!(listed, names, "walking with limit {limit}");
    }
    for segments in [2_u32, 5] {
        let mut union = BTreeSet::new();
        for segment in 0..segments {
            union.extend(ours(
                walk_due(store, now, segment, segments, 1).await,
                &prefix,
            ));
        }
        assert_eq!(union, names, "walking {segments} segments one by one");
    }
}

pub async fn last_entry_at_or_before_reads_the_latest_of_an_instant(store: &dyn Store) {
    let (name, _all) = filter_fixture(store).await;
    // Entry k sits at 00:00 + k/2 minutes, seq k + 1: two entries per instant.
    let found = |at_text: &'static str| {
        let name = name.clone();
        async move {
            let mut last = None;
            // The time index may lag commits briefly on DynamoDB.
            for _ in 0..50 {
                last = store
                    .last_entry_at_or_before(&name, at(at_text))
                    .await
                    .expect("reading by time succeeds");
                if last.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            last.map(|entry| entry.id)
        }
    };
    assert_eq!(
        found("2025-01-01T00:10:00Z").await.as_deref(),
        Some("entry-21")
    );
    assert_eq!(
        found("2025-01-01T00:10:59Z").await.as_deref(),
        Some("entry-21")
    );
    assert_eq!(
        found("2025-01-01T00:11:00Z").await.as_deref(),
        Some("entry-23")
    );
    assert_eq!(
        found("2030-01-01T00:00:00Z").await.as_deref(),
        Some("entry-59")
    );
    let before = store
        .last_entry_at_or_before(&name, at("2024-12-31T23:59:59Z"))
        .await
        .expect("reading by time succeeds");
    assert_eq!(before, None);
    let missing = store
        .last_entry_at_or_before(&unique("nobody"), at("2030-01-01T00:00:00Z"))
        .await
        .expect("reading by time succeeds");
    assert_eq!(missing, None);
}

/// Every account walking the listing's pages, with the walk's page count bounded.
async fn walk_accounts(store: &dyn Store, limit: u32) -> Vec<AccountRecord> {
    let mut found = Vec::new();
    let mut cursor = None;
    for _ in 0..100_000 {
        let page = store
            .accounts(cursor.take(), limit)
            .await
            .expect("listing accounts succeeds");
        assert!(
            page.accounts.len() <= limit_cap(limit),
            "a page holds at most `limit` accounts"
        );
        found.extend(page.accounts);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
    panic!("the account listing never ended");
}

fn limit_cap(limit: u32) -> usize {
    if limit == 0 {
        MAX_PAGE_ENTRIES as usize
    } else {
        (limit as usize).min(MAX_PAGE_ENTRIES as usize)
    }
}

pub async fn accounts_are_listed_once_across_pages(store: &dyn Store) {
    let prefix = unique("listing");
    let mut names = BTreeSet::new();
    for k in 0..7 {
        let name = format!("{prefix}-{k:02}");
        let commit = create_commit(&name, vec![entry(&name, "e1", 1)], None);
        commit_ok(store, commit).await;
        names.insert(name);
    }
    // Pages of 25 items: several pages over every store the suite fills, few requests.
    for limit in [25, 0] {
        let listed = walk_accounts(store, limit).await;
        let ours: Vec<&AccountRecord> = listed
            .iter()
            .filter(|record| record.account.starts_with(&prefix))
            .collect();
        let unique_names: BTreeSet<String> =
            ours.iter().map(|record| record.account.clone()).collect();
        assert_eq!(unique_names, names, "listing with limit {limit}");
        assert_eq!(ours.len(), names.len(), "each account once (limit {limit})");
        for record in ours {
            assert_eq!(*record, loaded(store, &record.account).await);
        }
    }
}

pub async fn due_account_moved_to_the_future_disappears(store: &dyn Store) {
    let prefix = unique("due-moves");
    let now = due_now();
    let moving = format!("{prefix}-moving");
    let staying = format!("{prefix}-staying");
    let clearing = format!("{prefix}-clearing");
    for name in [&moving, &staying, &clearing] {
        create_due(store, name, Some(now - Duration::days(1))).await;
    }
    let all: BTreeSet<String> = [moving.clone(), staying.clone(), clearing.clone()].into();
    eventually("all due", async || {
        same(
            "due",
            ours(walk_due(store, now, 0, 1, 0).await, &prefix),
            all.clone(),
        )
    })
    .await;

    // Materialising an account moves its due_at past now (or clears it).
    let record = loaded(store, &moving).await;
    let mut commit = next_commit(&record, json!({"materialised": true}), vec![], None);
    commit.account.due_at = Some(now + Duration::days(30));
    commit_ok(store, commit).await;
    let record = loaded(store, &clearing).await;
    let mut commit = next_commit(&record, json!({"closed": true}), vec![], None);
    commit.account.due_at = None;
    commit_ok(store, commit).await;

    let staying_only = BTreeSet::from([staying.clone()]);
    eventually("moved accounts gone", async || {
        same(
            "due",
            ours(walk_due(store, now, 0, 1, 0).await, &prefix),
            staying_only.clone(),
        )
    })
    .await;
    let segment = segment_of(&staying, 4);
    let in_segment = ours(walk_due(store, now, segment, 4, 0).await, &prefix);
    assert_eq!(in_segment, staying_only);
    let later = now + Duration::days(30);
    let later_expected = BTreeSet::from([moving, staying]);
    eventually("due again later", async || {
        same(
            "due later",
            ours(walk_due(store, later, 0, 1, 0).await, &prefix),
            later_expected.clone(),
        )
    })
    .await;
}

pub async fn due_accounts_rejects_missing_segments(store: &dyn Store) {
    for (segment, segments) in [(0, 0), (1, 1), (4, 4), (u32::MAX, 3)] {
        let result = store
            .due_accounts(due_now(), segment, segments, None, 10)
            .await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "segment {segment} of {segments}: got {result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

fn key(id: &str, account: Option<&str>) -> KeyRecord {
    KeyRecord {
        id: id.to_owned(),
        secret_hash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".to_owned(),
        account: account.map(str::to_owned),
        created_at: at("2025-03-01T10:00:00.000001Z"),
        revoked_at: None,
    }
}

pub async fn keys_round_trip(store: &dyn Store) {
    let admin = key(&unique("key-admin"), None);
    let scoped = key(&unique("key-scoped"), Some(&unique("key-account")));
    store.put_key(&admin).await.expect("put_key succeeds");
    store.put_key(&scoped).await.expect("put_key succeeds");
    assert_eq!(
        store.key(&admin.id).await.expect("key succeeds"),
        Some(admin)
    );
    assert_eq!(
        store.key(&scoped.id).await.expect("key succeeds"),
        Some(scoped)
    );
    assert_eq!(
        store
            .key(&unique("key-missing"))
            .await
            .expect("key succeeds"),
        None
    );
    // A key created revoked (an import) keeps its revocation.
    let imported = KeyRecord {
        revoked_at: Some(at("2025-03-02T00:00:00Z")),
        ..key(&unique("key-imported"), None)
    };
    store.put_key(&imported).await.expect("put_key succeeds");
    assert_eq!(
        store.key(&imported.id).await.expect("key succeeds"),
        Some(imported)
    );
}

pub async fn duplicate_key_id_is_refused(store: &dyn Store) {
    let original = key(&unique("key-dup"), Some("acme"));
    store.put_key(&original).await.expect("put_key succeeds");
    let impostor = KeyRecord {
        secret_hash: "ff".repeat(32),
        account: None,
        ..original.clone()
    };
    match store.put_key(&impostor).await {
        Err(StoreError::KeyExists(id)) => assert_eq!(id, original.id),
        other => panic!("expected KeyExists, got {other:?}"),
    }
    assert_eq!(
        store.key(&original.id).await.expect("key succeeds"),
        Some(original)
    );
}

pub async fn revoke_key_marks_it_once(store: &dyn Store) {
    let record = key(&unique("key-revoke"), Some("acme"));
    store.put_key(&record).await.expect("put_key succeeds");
    assert!(
        !store
            .revoke_key(&unique("key-unknown"), base_time())
            .await
            .expect("revoke answers")
    );
    assert_eq!(
        store.key(&record.id).await.expect("key succeeds"),
        Some(record.clone())
    );

    let first = at("2025-03-05T08:00:00.000002Z");
    assert!(
        store
            .revoke_key(&record.id, first)
            .await
            .expect("revoke answers")
    );
    let revoked = KeyRecord {
        revoked_at: Some(first),
        ..record.clone()
    };
    assert_eq!(
        store.key(&record.id).await.expect("key succeeds"),
        Some(revoked.clone())
    );
    // Revoking again answers true and keeps the first time.
    assert!(
        store
            .revoke_key(&record.id, first + Duration::days(1))
            .await
            .expect("revoke answers")
    );
    assert_eq!(
        store.key(&record.id).await.expect("key succeeds"),
        Some(revoked)
    );
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

const RACE_TASKS: u64 = 16;
const RACE_INCREMENTS: u64 = 50;
/// Attempts one increment may take before the case calls the store live-locked.
const RACE_MAX_ATTEMPTS: u32 = 10_000;

fn counter_of(record: &AccountRecord) -> u64 {
    record.state["counter"]
        .as_u64()
        .expect("the counter is a number")
}

/// Read-modify-write `increments` times: counter + 1, one entry numbered by the counter, one
/// operation. Retries on a version conflict, from the reported snapshot when there is one.
async fn increment(store: &dyn Store, name: &str, task: u64, increments: u64) -> u32 {
    let mut conflicts = 0;
    let mut record = loaded(store, name).await;
    for i in 0..increments {
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(
                attempts <= RACE_MAX_ATTEMPTS,
                "task {task} never wins the race"
            );
            let counter = counter_of(&record) + 1;
            let mut e = entry(name, &format!("t{task}-i{i}"), counter);
            e.operation = format!("op-t{task}-i{i}");
            e.amount_minor = 1;
            let commit = next_commit(
                &record,
                json!({"counter": counter}),
                vec![e],
                Some(operation(name, &format!("op-t{task}-i{i}"))),
            );
            let next = commit.account.clone();
            match store.commit(commit).await.expect("commit answers") {
                CommitOutcome::Committed => {
                    record = next;
                    break;
                }
                CommitOutcome::VersionConflict { current } => {
                    conflicts += 1;
                    record = match current {
                        Some(current) => {
                            assert!(current.version > record.version, "a conflict went back");
                            current
                        }
                        None => loaded(store, name).await,
                    };
                }
                other => panic!("task {task} increment {i}: unexpected {other:?}"),
            }
        }
    }
    conflicts
}

pub async fn concurrent_commits_on_one_account(store: &dyn Store) {
    let name = unique("race");
    commit_ok(
        store,
        Commit {
            events: Vec::new(),
            expected_version: 0,
            account: account(&name, 1, json!({"counter": 0})),
            entries: vec![],
            facts: vec![],
            operation: None,
        },
    )
    .await;
    let workers = (0..RACE_TASKS).map(|task| increment(store, &name, task, RACE_INCREMENTS));
    join_all(workers.collect()).await;

    let total = RACE_TASKS * RACE_INCREMENTS;
    let record = loaded(store, &name).await;
    assert_eq!(
        counter_of(&record),
        total,
        "an increment was lost or doubled"
    );
    assert_eq!(record.version, total + 1);
    let entries = all_entries(store, &name).await;
    assert_eq!(entries.len() as u64, total);
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    for task in 0..RACE_TASKS {
        for i in 0..RACE_INCREMENTS {
            assert!(
                ids.contains(format!("t{task}-i{i}").as_str()),
                "entry t{task}-i{i} is missing"
            );
        }
    }
    // Every operation is there, once, pointing at its entry.
    let mut by_operation: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &entries {
        *by_operation.entry(e.operation.as_str()).or_default() += 1;
    }
    assert_eq!(by_operation.len() as u64, total);
    assert!(by_operation.values().all(|&count| count == 1));
    for task in [0, RACE_TASKS / 2, RACE_TASKS - 1] {
        for i in [0, RACE_INCREMENTS - 1] {
            let id = format!("op-t{task}-i{i}");
            let found = store
                .operation(&name, &id)
                .await
                .expect("operation succeeds");
            assert!(found.is_some(), "operation {id} is missing");
        }
    }
}

pub async fn concurrent_commits_on_many_accounts(store: &dyn Store) {
    // Writers on different accounts never conflict with each other.
    let names: Vec<String> = (0..8).map(|k| unique(&format!("many-{k}"))).collect();
    for name in &names {
        commit_ok(
            store,
            Commit {
                events: Vec::new(),
                expected_version: 0,
                account: account(name, 1, json!({"counter": 0})),
                entries: vec![],
                facts: vec![],
                operation: None,
            },
        )
        .await;
    }
    let workers = names.iter().map(|name| increment(store, name, 0, 20));
    let conflicts = join_all(workers.collect()).await;
    assert_eq!(
        conflicts.iter().sum::<u32>(),
        0,
        "independent accounts conflicted"
    );
    for name in &names {
        let record = loaded(store, name).await;
        assert_eq!(counter_of(&record), 20);
        assert_eq!(all_entries(store, name).await.len(), 20);
    }
}

// ---------------------------------------------------------------------------------------
// Group commits (several decisions of one account, one write)
// ---------------------------------------------------------------------------------------

/// A group moving `record` by one version per member; member `i` writes entry seq
/// `first_seq + i`, fact `shared` (value `i`) and operation `<prefix>-<i>`.
fn group(record: &AccountRecord, prefix: &str, first_seq: u64, members: u64) -> GroupCommit {
    let name = record.account.as_str();
    GroupCommit {
        expected_version: record.version,
        account: AccountRecord {
            version: record.version + members,
            state: json!({"after": format!("{prefix}-{}", members - 1)}),
            ..record.clone()
        },
        members: (0..members)
            .map(|i| GroupMember {
                events: Vec::new(),
                entries: vec![entry(name, &format!("{prefix}-e{i}"), first_seq + i)],
                facts: vec![fact(name, "shared", json!(i))],
                operation: Some(operation(name, &format!("{prefix}-{i}"))),
            })
            .collect(),
    }
}

/// On a store without group commits: the call is refused and writes nothing. `true` when
/// the store supports them (the case goes on).
async fn supports_groups(store: &dyn Store, record: &AccountRecord) -> bool {
    if store.supports_group_commit() {
        return true;
    }
    let name = record.account.clone();
    let before = all_entries(store, &name).await;
    assert_invalid(
        store
            .commit_group(group(record, "unsupported", 10, 2))
            .await,
        "a group commit on a store without them",
    );
    assert_untouched(store, &name, Some(record), &before).await;
    assert_no_operation(store, &name, "unsupported-0").await;
    false
}

pub async fn group_commit_writes_every_member_or_none(store: &dyn Store) {
    let name = unique("group-all");
    let created = create(store, &name).await;
    if !supports_groups(store, &created).await {
        return;
    }
    // A member whose operation id exists: nothing of the group is written, and the
    // existing record (the first member's that exists) comes back.
    commit_ok(
        store,
        next_commit(
            &created,
            json!({"n": 2}),
            vec![entry(&name, "before", 1)],
            Some(operation(&name, "g-2")),
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    let before = all_entries(store, &name).await;
    match store.commit_group(group(&current, "g", 2, 4)).await {
        Ok(CommitOutcome::OperationExists(record)) => {
            assert_eq!(record, operation(&name, "g-2"), "the existing record");
        }
        other => panic!("expected OperationExists, got {other:?}"),
    }
    assert_untouched(store, &name, Some(&current), &before).await;
    for i in [0, 1, 3] {
        assert_no_operation(store, &name, &format!("g-{i}")).await;
    }
    assert_eq!(facts_of(store, &name, &["shared"]).await, BTreeMap::new());

    // An entry seq that exists: nothing written.
    match store.commit_group(group(&current, "h", 0, 3)).await {
        Ok(CommitOutcome::EntryExists { seq }) => assert_eq!(seq, 1),
        other => panic!("expected EntryExists, got {other:?}"),
    }
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_no_operation(store, &name, "h-0").await;

    // A stale version: nothing written.
    match store.commit_group(group(&created, "s", 5, 3)).await {
        Ok(CommitOutcome::VersionConflict { .. }) => {}
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_untouched(store, &name, Some(&current), &before).await;
    assert_no_operation(store, &name, "s-0").await;

    // Then the whole group lands: every member's entry and operation, one snapshot, the
    // later member's value of a shared fact.
    let landed = group(&current, "ok", 2, 5);
    match store.commit_group(landed.clone()).await {
        Ok(CommitOutcome::Committed) => {}
        other => panic!("expected the group to commit, got {other:?}"),
    }
    assert_eq!(loaded(store, &name).await, landed.account);
    let entries = all_entries(store, &name).await;
    let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    for i in 0..5 {
        let id = format!("ok-{i}");
        let found = store
            .operation(&name, &id)
            .await
            .expect("operation succeeds");
        assert_eq!(found, Some(operation(&name, &id)));
    }
    assert_eq!(
        facts_of(store, &name, &["shared"]).await,
        BTreeMap::from([("shared".to_owned(), json!(4))])
    );
    // A replayed member makes the next group answer its original record.
    match store.commit_group(group(&landed.account, "ok", 7, 2)).await {
        Ok(CommitOutcome::OperationExists(record)) => assert_eq!(record.id, "ok-0"),
        other => panic!("expected OperationExists, got {other:?}"),
    }
}

pub async fn group_commit_chains_versions(store: &dyn Store) {
    let name = unique("group-chain");
    let created = create(store, &name).await;
    if !supports_groups(store, &created).await {
        return;
    }
    let first = group(&created, "a", 1, 3);
    match store.commit_group(first.clone()).await {
        Ok(CommitOutcome::Committed) => {}
        other => panic!("expected the group to commit, got {other:?}"),
    }
    assert_eq!(loaded(store, &name).await.version, created.version + 3);
    // A commit expecting a version inside the group conflicts: the group is one write.
    let inside = AccountRecord {
        version: created.version + 1,
        ..created.clone()
    };
    match store
        .commit(next_commit(&inside, json!({}), vec![], None))
        .await
    {
        Ok(CommitOutcome::VersionConflict { current }) => {
            if let Some(current) = current {
                assert_eq!(current, first.account);
            }
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    // The chain goes on from the group's version, with a commit then a group.
    commit_ok(
        store,
        next_commit(
            &first.account,
            json!({"n": 5}),
            vec![entry(&name, "c", 4)],
            None,
        ),
    )
    .await;
    let after = loaded(store, &name).await;
    assert_eq!(after.version, created.version + 4);
    let second = group(&after, "b", 5, MAX_GROUP_COMMITS as u64);
    match store.commit_group(second.clone()).await {
        Ok(CommitOutcome::Committed) => {}
        other => panic!("expected the largest group to commit, got {other:?}"),
    }
    assert_eq!(loaded(store, &name).await, second.account);
    assert_eq!(
        all_entries(store, &name).await.len(),
        4 + MAX_GROUP_COMMITS,
        "every member's entry"
    );
}

pub async fn invalid_group_commits_write_nothing(store: &dyn Store) {
    let name = unique("group-invalid");
    let created = create(store, &name).await;
    if !supports_groups(store, &created).await {
        return;
    }
    let mut cases: Vec<(&str, GroupCommit)> = Vec::new();
    let mut empty = group(&created, "x", 1, 1);
    empty.members.clear();
    empty.account.version = created.version;
    cases.push(("no member", empty));
    cases.push((
        "too many members",
        group(&created, "x", 1, MAX_GROUP_COMMITS as u64 + 1),
    ));
    let mut version = group(&created, "x", 1, 3);
    version.account.version = created.version + 1;
    cases.push(("version not advanced by the members", version));
    let mut seqs = group(&created, "x", 1, 3);
    seqs.members[2].entries[0].seq = 2;
    cases.push(("a seq in two members", seqs));
    let mut ids = group(&created, "x", 1, 3);
    ids.members[2].operation = Some(operation(&name, "x-0"));
    cases.push(("an operation id in two members", ids));
    let mut other = group(&created, "x", 1, 3);
    other.members[1].entries[0].account = unique("elsewhere");
    cases.push(("an entry of another account", other));
    let mut full = group(&created, "x", 1, 2);
    full.members[1].facts = (0..=MAX_COMMIT_ENTRIES)
        .map(|i| fact(&name, &format!("f{i}"), json!(i)))
        .collect();
    cases.push(("a member over the entry limit", full));
    for (what, invalid) in cases {
        assert_invalid(store.commit_group(invalid).await, what);
        assert_untouched(store, &name, Some(&created), &[]).await;
        assert_no_operation(store, &name, "x-0").await;
    }
}
