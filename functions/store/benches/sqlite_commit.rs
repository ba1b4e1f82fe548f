//! Durable commits per second on `SqliteStore` (file, WAL, `synchronous=FULL`).
//!
//! Each item is one charge-shaped read-modify-write: load the snapshot, commit the next
//! version with one entry and one operation record, retrying on a version conflict.
//! - `sequential_one_account`: one client, one account (latency of a durable commit);
//! - `concurrent_one_account`: 16 tasks racing on one account (conflicts and retries);
//! - `concurrent_distinct_accounts`: 16 (and 64) tasks on as many accounts (what group
//!   commit is for). Concurrent tasks land 20 charges in a row per iteration.
//! - `sequential_one_account_in_memory`: the same without a disk, for the fsync's share.
//!
//! Run: `cargo bench -p credits-store --bench sqlite_commit`. Divan prints items/s.

// A benchmark fails loudly rather than measure a broken store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use credits_store::sqlite::SqliteStore;
use credits_store::{AccountRecord, Commit, CommitOutcome, EntryRecord, OperationRecord, Store};
use divan::Bencher;
use divan::counter::ItemsCount;
use serde_json::json;

const TASKS: usize = 16;
const CHARGES_PER_TASK: usize = 20;

fn main() {
    divan::main();
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    fn on_file() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("bench.sqlite")).unwrap();
        Self::with(store, Some(dir))
    }

    fn in_memory() -> Self {
        Self::with(SqliteStore::in_memory().unwrap(), None)
    }

    fn with(store: SqliteStore, dir: Option<tempfile::TempDir>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Self {
            runtime,
            store: Arc::new(store),
            _dir: dir,
        }
    }

    fn create(&self, account: &str) {
        let commit = Commit {
            events: Vec::new(),
            expected_version: 0,
            account: snapshot(account, 1, 0),
            entries: vec![],
            facts: vec![],
            operation: None,
        };
        let outcome = self.runtime.block_on(self.store.commit(commit)).unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_740_823_200, 0).unwrap()
}

/// A snapshot the size of a real account's: a few buckets and bookkeeping (~1 KB of JSON).
fn snapshot(account: &str, version: u64, charges: u64) -> AccountRecord {
    let left_minor = 1_000_000_000_i64 - i64::try_from(charges).unwrap() * 250;
    AccountRecord {
        account: account.to_owned(),
        version,
        due_at: Some(now()),
        state: json!({
            "plan": "imentiv/pro",
            "charges": charges,
            "subscription": {"status": "active", "period": "month", "anchor": "2025-01-31T00:00:00Z"},
            "buckets": [
                {"id": "b1", "kind": "cycle", "unit": "credits", "left_minor": left_minor,
                 "granted_minor": 1_000_000_000_i64, "expires_at": "2025-04-01T00:00:00Z", "origin": "grant-2025-03"},
                {"id": "b2", "kind": "top-up", "unit": "credits", "left_minor": 50_000,
                 "granted_minor": 50_000, "expires_at": null, "origin": "topup-7"},
                {"id": "b3", "kind": "free-daily", "unit": "credits", "left_minor": 0,
                 "granted_minor": 500, "expires_at": "2025-03-02T00:00:00Z", "origin": "daily-2025-03-01"}
            ],
            "holds": [],
            "first_free_used": ["analysis"],
            "granted_periods": {"daily": "2025-03-01", "cycle": "2025-03"}
        }),
    }
}

/// One charge: read, then commit the next version; retried until it lands.
async fn charge(store: &SqliteStore, account: &str, client: usize, attempt_label: u64) {
    let mut record = store.load(account).await.unwrap().unwrap();
    loop {
        let charges = record.state["charges"].as_u64().unwrap() + 1;
        let id = format!("charge-{client}-{attempt_label}-{charges}");
        let commit = Commit {
            events: Vec::new(),
            expected_version: record.version,
            account: snapshot(account, record.version + 1, charges),
            entries: vec![EntryRecord {
                account: account.to_owned(),
                id: id.clone(),
                seq: charges,
                at: now(),
                entry_type: "charge".to_owned(),
                operation: id.clone(),
                unit: Some("credits".to_owned()),
                amount_minor: -250,
                feature: Some("video-analysis".to_owned()),
                model: Some("pro".to_owned()),
                project: Some("website".to_owned()),
                member: None,
                content: Some("sha256:9f86d081884c7d659a2feaa0c55ad015".to_owned()),
                body: json!({"rates_version": "sha256:4e1f0c", "paid_from": [{"bucket": "b1", "amount_minor": 250}],
                             "lines": [{"rule": "per second", "quantity": "25", "amount": "2.50"}]}),
            }],
            facts: vec![],
            operation: Some(OperationRecord {
                account: account.to_owned(),
                id: id.clone(),
                kind: "charge".to_owned(),
                request_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                    .to_owned(),
                status: 201,
                response: json!({"id": id, "charged": {"credits": "2.50"}, "paid_from": [{"bucket": "b1", "amount": "2.50"}],
                                 "balance": {"credits": "9999997.50"}, "rates_version": "sha256:4e1f0c"}),
                at: now(),
            }),
        };
        match store.commit(commit).await.unwrap() {
            CommitOutcome::Committed => return,
            CommitOutcome::VersionConflict {
                current: Some(current),
            } => record = current,
            CommitOutcome::VersionConflict { current: None } => {
                record = store.load(account).await.unwrap().unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn sequential(bencher: Bencher, fixture: &Fixture) {
    fixture.create("solo");
    let mut iteration = 0;
    bencher.counter(ItemsCount::new(1_usize)).bench_local(|| {
        iteration += 1;
        fixture
            .runtime
            .block_on(charge(&fixture.store, "solo", 0, iteration));
    });
}

#[divan::bench(sample_count = 20, sample_size = 50)]
fn sequential_one_account(bencher: Bencher) {
    sequential(bencher, &Fixture::on_file());
}

#[divan::bench(sample_count = 20, sample_size = 200)]
fn sequential_one_account_in_memory(bencher: Bencher) {
    sequential(bencher, &Fixture::in_memory());
}

/// One iteration: `tasks` tasks each land `CHARGES_PER_TASK` charges, one after the other,
/// on `account_of(task)` — a steady load, so groups form as they would under real traffic.
fn concurrent(bencher: Bencher, tasks: usize, account_of: fn(usize) -> String) {
    let fixture = Fixture::on_file();
    let accounts: Vec<String> = (0..tasks).map(account_of).collect();
    let mut distinct = accounts.clone();
    distinct.dedup();
    for account in &distinct {
        fixture.create(account);
    }
    let mut iteration = 0;
    bencher
        .counter(ItemsCount::new(tasks * CHARGES_PER_TASK))
        .bench_local(|| {
            iteration += 1;
            fixture.runtime.block_on(async {
                let handles: Vec<_> = accounts
                    .iter()
                    .enumerate()
                    .map(|(client, account)| {
                        let store = Arc::clone(&fixture.store);
                        let account = account.clone();
                        tokio::spawn(async move {
                            for charge_index in 0..CHARGES_PER_TASK {
                                let label = iteration * 1_000 + charge_index as u64;
                                charge(&store, &account, client, label).await;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.unwrap();
                }
            });
        });
}

#[divan::bench(sample_count = 10)]
fn concurrent_one_account(bencher: Bencher) {
    concurrent(bencher, TASKS, |_| "shared".to_owned());
}

/// 16 clients as the throughput bar states (BENCHMARKS.md), and 64 to show that group commit
/// scales with concurrency.
#[divan::bench(sample_count = 10, args = [TASKS, 4 * TASKS])]
fn concurrent_distinct_accounts(bencher: Bencher, tasks: usize) {
    concurrent(bencher, tasks, |task| format!("account-{task}"));
}
