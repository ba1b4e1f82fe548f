//! The store contract (`credits_store::conformance`) run on `SqliteStore`: in memory, on a
//! file, and every case on one shared store. Durability across a reopen and a crash too.

// Test helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::Deref;

use chrono::{DateTime, Utc};
use credits_store::sqlite::SqliteStore;
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryQuery, EntryRecord, KeyRecord, OperationRecord,
    Store,
};
use serde_json::json;
use tempfile::TempDir;

/// A store on a file in its own temporary directory, removed after the store closes.
struct FileStore {
    // Declared first: dropped (closed) before the directory goes.
    store: SqliteStore,
    _dir: TempDir,
}

impl FileStore {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("credits.sqlite")).unwrap();
        Self { store, _dir: dir }
    }
}

impl Deref for FileStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

mod in_memory {
    use super::*;
    credits_store::conformance_tests!(async { Box::new(SqliteStore::in_memory().unwrap()) });
}

mod file {
    use super::*;
    credits_store::conformance_tests!(async { FileStore::new() });
}

/// Every case on one store, as a long-lived server would see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_shares_one_file_store() {
    let store = FileStore::new();
    credits_store::conformance::run_all(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_shares_one_in_memory_store() {
    let store = SqliteStore::in_memory().unwrap();
    credits_store::conformance::run_all(&store).await;
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn entry(account: &str, id: &str, seq: u64) -> EntryRecord {
    EntryRecord {
        account: account.to_owned(),
        id: id.to_owned(),
        seq,
        at: at("2025-03-01T10:00:00.000001Z"),
        entry_type: "charge".to_owned(),
        operation: format!("op-{seq}"),
        unit: Some("credits".to_owned()),
        amount_minor: -250,
        feature: Some("video".to_owned()),
        model: None,
        project: Some("alpha".to_owned()),
        member: None,
        content: None,
        body: json!({"seq": seq}),
    }
}

/// `count` commits on `account`, each with one entry and one operation.
async fn write_history(store: &SqliteStore, account: &str, count: u64) -> Vec<Commit> {
    let mut commits = Vec::new();
    for version in 1..=count {
        let commit = Commit {
            events: Vec::new(),
            expected_version: version - 1,
            account: AccountRecord {
                account: account.to_owned(),
                version,
                due_at: Some(at("2025-04-01T00:00:00Z")),
                state: json!({"version": version}),
            },
            entries: vec![entry(account, &format!("e{version}"), version)],
            facts: vec![],
            operation: Some(OperationRecord {
                account: account.to_owned(),
                id: format!("op-{version}"),
                kind: "charge".to_owned(),
                request_hash: format!("hash-{version}"),
                status: 201,
                response: json!({"version": version}),
                at: at("2025-03-01T10:00:00Z"),
            }),
        };
        assert_eq!(
            store.commit(commit.clone()).await.unwrap(),
            CommitOutcome::Committed
        );
        commits.push(commit);
    }
    commits
}

async fn assert_history(store: &SqliteStore, account: &str, commits: &[Commit]) {
    let last = commits.last().unwrap();
    assert_eq!(
        store.load(account).await.unwrap(),
        Some(last.account.clone())
    );
    let page = store
        .entries(&EntryQuery {
            account: account.to_owned(),
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    let expected: Vec<EntryRecord> = commits.iter().flat_map(|c| c.entries.clone()).collect();
    assert_eq!(page.entries, expected);
    for commit in commits {
        let operation = commit.operation.clone().unwrap();
        assert_eq!(
            store.operation(account, &operation.id).await.unwrap(),
            Some(operation)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_file_holds_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credits.sqlite");
    let key = KeyRecord {
        id: "key-1".to_owned(),
        secret_hash: "ab".repeat(32),
        account: Some("acme".to_owned()),
        created_at: at("2025-03-01T10:00:00Z"),
        revoked_at: None,
    };
    let commits = {
        let store = SqliteStore::open(&path).unwrap();
        let commits = write_history(&store, "acme", 20).await;
        store.put_key(&key).await.unwrap();
        assert!(
            store
                .revoke_key("key-1", at("2025-03-02T00:00:00Z"))
                .await
                .unwrap()
        );
        commits
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_history(&store, "acme", &commits).await;
    let revoked = KeyRecord {
        revoked_at: Some(at("2025-03-02T00:00:00Z")),
        ..key
    };
    assert_eq!(store.key("key-1").await.unwrap(), Some(revoked));
    // And it goes on from there.
    let more = Commit {
        events: Vec::new(),
        expected_version: 20,
        account: AccountRecord {
            version: 21,
            ..commits.last().unwrap().account.clone()
        },
        entries: vec![entry("acme", "e21", 21)],
        facts: vec![],
        operation: None,
    };
    assert_eq!(store.commit(more).await.unwrap(), CommitOutcome::Committed);
}

const CRASH_DATABASE_VARIABLE: &str = "CREDITS_STORE_CRASH_DATABASE";
const CRASH_COMMITS: u64 = 50;

/// Not a test on its own: when the parent test below re-runs this binary with the variable
/// set, it commits and then dies without closing anything, as a killed server would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_commits_then_aborts() {
    let Ok(path) = std::env::var(CRASH_DATABASE_VARIABLE) else {
        return;
    };
    let store = SqliteStore::open(path).unwrap();
    write_history(&store, "crashing", CRASH_COMMITS).await;
    // Every commit answered `Committed`; now die with the WAL unchecked and files open.
    std::process::abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credits.sqlite");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_commits_then_aborts",
            "--exact",
            "--test-threads=1",
        ])
        .env(CRASH_DATABASE_VARIABLE, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child was meant to abort");
    assert!(
        dir.path().join("credits.sqlite-wal").exists(),
        "the crash left no WAL to recover"
    );

    let store = SqliteStore::open(&path).unwrap();
    let account = store.load("crashing").await.unwrap().unwrap();
    assert_eq!(account.version, CRASH_COMMITS);
    let page = store
        .entries(&EntryQuery {
            account: "crashing".to_owned(),
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.entries.len() as u64, CRASH_COMMITS);
    let last_operation = format!("op-{CRASH_COMMITS}");
    assert!(
        store
            .operation("crashing", &last_operation)
            .await
            .unwrap()
            .is_some()
    );
}

/// The outbox contract (`conformance::events`), in memory and on a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_conform_in_memory() {
    let store = SqliteStore::in_memory().unwrap();
    credits_store::conformance::events::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_conform_on_a_file() {
    let store = FileStore::new();
    credits_store::conformance::events::run_all(&*store).await;
}
