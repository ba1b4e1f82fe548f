//! What the SQLite store promises beyond the shared contract: exact pages, corrupt rows
//! answered as `Corrupt`, schema versions, WAL, group commit isolating each commit, and
//! several stores on one file.

// Test helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use credits_store::sqlite::{SCHEMA_VERSION, SqliteStore};
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryQuery, EntryRecord, KeyRecord, MAX_COMMIT_ENTRIES,
    MAX_PAGE_ENTRIES, OperationRecord, Store, StoreError, segment_of,
};
use serde_json::json;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn account(name: &str, version: u64) -> AccountRecord {
    AccountRecord {
        account: name.to_owned(),
        version,
        due_at: Some(at("2001-01-01T00:00:00Z")),
        state: json!({"version": version}),
    }
}

fn entry(name: &str, id: &str, seq: u64) -> EntryRecord {
    EntryRecord {
        account: name.to_owned(),
        id: id.to_owned(),
        seq,
        at: at("2025-03-01T10:00:00Z"),
        entry_type: "charge".to_owned(),
        operation: "op".to_owned(),
        unit: None,
        amount_minor: 1,
        feature: None,
        model: None,
        project: None,
        member: None,
        content: None,
        body: json!(null),
    }
}

fn operation(name: &str, id: &str) -> OperationRecord {
    OperationRecord {
        account: name.to_owned(),
        id: id.to_owned(),
        kind: "charge".to_owned(),
        request_hash: "h".to_owned(),
        status: 201,
        response: json!({}),
        at: at("2025-03-01T10:00:00Z"),
    }
}

fn commit(name: &str, version: u64, entries: Vec<EntryRecord>) -> Commit {
    Commit {
        events: Vec::new(),
        expected_version: version - 1,
        account: account(name, version),
        entries,
        facts: vec![],
        operation: Some(operation(name, &format!("op-{version}"))),
    }
}

fn query(name: &str) -> EntryQuery {
    EntryQuery {
        account: name.to_owned(),
        ..EntryQuery::default()
    }
}

struct FileFixture {
    store: SqliteStore,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn file_store() -> FileFixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credits.sqlite");
    FileFixture {
        store: SqliteStore::open(&path).unwrap(),
        path,
        _dir: dir,
    }
}

/// A second, raw connection to the file, as an operator (or a disk fault) would write it.
fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn segment_of_is_fnv1a_modulo_segments() {
    // Published FNV-1a 32-bit vectors: "" → 0x811c9dc5, "a" → 0xe40c292c,
    // "foobar" → 0xbf9cf968.
    assert_eq!(segment_of("", u32::MAX), 0x811c_9dc5);
    assert_eq!(segment_of("a", u32::MAX), 0xe40c_292c);
    assert_eq!(segment_of("foobar", u32::MAX), 0xbf9c_f968);
    assert_eq!(segment_of("foobar", 16), 0xbf9c_f968 % 16);
    assert_eq!(segment_of("anything", 1), 0);
    assert_eq!(segment_of("anything", 0), 0);
}

#[tokio::test]
async fn pages_are_full_until_the_last_which_says_so() {
    let store = SqliteStore::in_memory().unwrap();
    let entries: Vec<EntryRecord> = (1..=10)
        .map(|seq| entry("a", &format!("e{seq}"), seq))
        .collect();
    store.commit(commit("a", 1, entries)).await.unwrap();
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .entries(&EntryQuery {
                after,
                limit: 3,
                ..query("a")
            })
            .await
            .unwrap();
        pages.push((page.entries.len(), page.next.map(|cursor| cursor.seq)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Ten entries by three: no empty page at the end, the last one says it is the last.
    assert_eq!(
        pages,
        vec![(3, Some(3)), (3, Some(6)), (3, Some(9)), (1, None)]
    );

    // Exactly a multiple of the limit: the last full page already says there is no more.
    let page = store
        .entries(&EntryQuery {
            limit: 10,
            ..query("a")
        })
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 10);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn an_uncapped_limit_gets_exactly_the_cap() {
    let store = SqliteStore::in_memory().unwrap();
    let total = MAX_PAGE_ENTRIES as u64 + 5;
    let mut version = 0;
    let all: Vec<EntryRecord> = (1..=total)
        .map(|seq| entry("a", &format!("e{seq}"), seq))
        .collect();
    for chunk in all.chunks(MAX_COMMIT_ENTRIES) {
        version += 1;
        let outcome = store
            .commit(commit("a", version, chunk.to_vec()))
            .await
            .unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
    }
    for limit in [0, u32::MAX] {
        let page = store
            .entries(&EntryQuery {
                limit,
                ..query("a")
            })
            .await
            .unwrap();
        assert_eq!(page.entries.len(), MAX_PAGE_ENTRIES as usize);
        assert_eq!(
            page.next.map(|cursor| cursor.seq),
            Some(u64::from(MAX_PAGE_ENTRIES))
        );
    }
}

#[tokio::test]
async fn due_pages_are_full_until_the_last() {
    let store = SqliteStore::in_memory().unwrap();
    for k in 0..7 {
        let name = format!("due-{k}");
        let first = Commit {
            events: Vec::new(),
            expected_version: 0,
            account: account(&name, 1),
            entries: vec![],
            facts: vec![],
            operation: None,
        };
        store.commit(first).await.unwrap();
    }
    let now = at("2001-01-01T00:00:00Z");
    let page = store.due_accounts(now, 0, 1, None, 3).await.unwrap();
    assert_eq!(page.accounts, vec!["due-0", "due-1", "due-2"]);
    assert_eq!(page.next.as_deref(), Some("due-2"));
    let page = store.due_accounts(now, 0, 1, page.next, 3).await.unwrap();
    assert_eq!(page.accounts, vec!["due-3", "due-4", "due-5"]);
    let page = store.due_accounts(now, 0, 1, page.next, 3).await.unwrap();
    assert_eq!(page.accounts, vec!["due-6"]);
    assert_eq!(page.next, None);
}

/// The ledger numbers entries; a seq the account already used is refused (the entry's key)
/// and nothing of the commit is written.
#[tokio::test]
async fn a_reused_seq_is_refused_and_writes_nothing() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .commit(commit("a", 1, vec![entry("a", "e1", 1)]))
        .await
        .unwrap();
    let before = store.load("a").await.unwrap();
    let result = store
        .commit(commit(
            "a",
            2,
            vec![entry("a", "e2", 2), entry("a", "e-again", 1)],
        ))
        .await;
    assert_eq!(result.unwrap(), CommitOutcome::EntryExists { seq: 1 });
    assert_eq!(store.load("a").await.unwrap(), before);
    let page = store.entries(&query("a")).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(store.operation("a", "op-2").await.unwrap(), None);
}

/// Many commits land in one group transaction; a failing one among them must neither take
/// the others down nor leave anything behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_commit_in_a_group_leaves_its_neighbours_alone() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    for k in 0..64 {
        let name = format!("n{k}");
        store
            .commit(commit(&name, 1, vec![entry(&name, "e1", 1)]))
            .await
            .unwrap();
    }
    // Every odd account reuses seq 1 (refused inside the writer, in the same group).
    let tasks: Vec<_> = (0..64)
        .map(|k| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let name = format!("n{k}");
                let seq = if k % 2 == 1 { 1 } else { 2 };
                store
                    .commit(commit(&name, 2, vec![entry(&name, "e2", seq)]))
                    .await
            })
        })
        .collect();
    for (k, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        let name = format!("n{k}");
        let version = store.load(&name).await.unwrap().unwrap().version;
        let entries = store.entries(&query(&name)).await.unwrap().entries.len();
        if k % 2 == 1 {
            assert_eq!(
                result.unwrap(),
                CommitOutcome::EntryExists { seq: 1 },
                "{k}"
            );
            assert_eq!((version, entries), (1, 1), "{k}");
        } else {
            assert_eq!(result.unwrap(), CommitOutcome::Committed, "{k}");
            assert_eq!((version, entries), (2, 2), "{k}");
        }
    }
}

#[tokio::test]
async fn in_memory_stores_are_private() {
    let one = SqliteStore::in_memory().unwrap();
    let two = SqliteStore::in_memory().unwrap();
    one.commit(commit("a", 1, vec![])).await.unwrap();
    assert!(one.load("a").await.unwrap().is_some());
    assert_eq!(two.load("a").await.unwrap(), None);
}

#[tokio::test]
async fn a_file_store_runs_in_wal_mode() {
    let fixture = file_store();
    fixture.store.commit(commit("a", 1, vec![])).await.unwrap();
    let mode: String = raw(&fixture.path)
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = raw(&fixture.path)
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let fixture = file_store();
    let path = fixture.path.clone();
    drop(fixture.store);
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected the newer schema to be refused, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credits.sqlite");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let result = SqliteStore::open(&path);
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

#[tokio::test]
async fn corrupt_rows_are_reported_never_panicked_on() {
    let fixture = file_store();
    let store = &fixture.store;
    let mut first = commit("a", 1, vec![entry("a", "e1", 1)]);
    first.operation = Some(operation("a", "op-1"));
    store.commit(first).await.unwrap();
    let key = KeyRecord {
        id: "k".to_owned(),
        secret_hash: "h".to_owned(),
        account: None,
        created_at: at("2025-03-01T10:00:00Z"),
        revoked_at: None,
    };
    store.put_key(&key).await.unwrap();
    let damage = |sql: &str| {
        raw(&fixture.path).execute_batch(sql).unwrap();
    };
    let corrupt = |what: &str, result: Result<String, StoreError>| {
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{what}: {result:?}"
        );
    };
    let debug = |value: &dyn std::fmt::Debug| format!("{value:?}");

    damage("UPDATE accounts SET state = 'not json'");
    corrupt("state", store.load("a").await.map(|v| debug(&v)));
    damage("UPDATE accounts SET state = '{}', version = -1");
    corrupt("negative version", store.load("a").await.map(|v| debug(&v)));
    damage("UPDATE accounts SET version = 'one'");
    corrupt("text version", store.load("a").await.map(|v| debug(&v)));
    // The writer reads the account too: a commit against it is refused, not panicked on.
    corrupt(
        "commit on a corrupt account",
        store
            .commit(commit("a", 2, vec![]))
            .await
            .map(|v| debug(&v)),
    );
    damage("UPDATE accounts SET version = 1, due_at_micros = 9223372036854775807");
    corrupt(
        "due_at out of range",
        store.load("a").await.map(|v| debug(&v)),
    );

    damage("UPDATE entries SET at_micros = 'yesterday'");
    corrupt(
        "entry time",
        store.entries(&query("a")).await.map(|v| debug(&v)),
    );
    damage("UPDATE entries SET at_micros = 0, body = '{'");
    corrupt(
        "entry body",
        store.entries(&query("a")).await.map(|v| debug(&v)),
    );
    damage("UPDATE entries SET body = 'null', seq = -5");
    corrupt(
        "entry seq",
        store.entries(&query("a")).await.map(|v| debug(&v)),
    );
    damage("UPDATE entries SET seq = 1, id = x'ff'");
    corrupt(
        "entry id bytes",
        store.entries(&query("a")).await.map(|v| debug(&v)),
    );

    damage("UPDATE operations SET status = 70000");
    corrupt(
        "status",
        store.operation("a", "op-1").await.map(|v| debug(&v)),
    );
    damage("UPDATE operations SET status = 201, response = ''");
    corrupt(
        "response",
        store.operation("a", "op-1").await.map(|v| debug(&v)),
    );
    // A replay meets the corrupt original in the writer.
    let mut replay = commit("a", 2, vec![]);
    replay.operation = Some(operation("a", "op-1"));
    corrupt(
        "replay of a corrupt operation",
        store.commit(replay).await.map(|v| debug(&v)),
    );

    damage("UPDATE keys SET created_at_micros = 9223372036854775807");
    corrupt("key time", store.key("k").await.map(|v| debug(&v)));
}

/// Two stores on one file (as two processes would be): their writers queue on SQLite's lock
/// and the version check keeps every increment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_lose_nothing() {
    let fixture = file_store();
    let other = Arc::new(SqliteStore::open(&fixture.path).unwrap());
    let first = Arc::new(fixture.store);
    let start = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            state: json!({"counter": 0}),
            ..account("shared", 1)
        },
        entries: vec![],
        facts: vec![],
        operation: None,
    };
    first.commit(start).await.unwrap();
    let tasks: Vec<_> = (0..8_u64)
        .map(|task| {
            let store = if task % 2 == 0 {
                Arc::clone(&first)
            } else {
                Arc::clone(&other)
            };
            tokio::spawn(async move {
                for i in 0..25 {
                    loop {
                        let record = store.load("shared").await.unwrap().unwrap();
                        let counter = record.state["counter"].as_u64().unwrap() + 1;
                        let next = Commit {
                            events: Vec::new(),
                            expected_version: record.version,
                            account: AccountRecord {
                                version: record.version + 1,
                                state: json!({"counter": counter}),
                                ..record.clone()
                            },
                            entries: vec![entry("shared", &format!("t{task}-{i}"), counter)],
                            facts: vec![],
                            operation: None,
                        };
                        match store.commit(next).await.unwrap() {
                            CommitOutcome::Committed => break,
                            CommitOutcome::VersionConflict { .. } => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let record = other.load("shared").await.unwrap().unwrap();
    assert_eq!(record.state["counter"], json!(200));
    assert_eq!(record.version, 201);
    let entries = first
        .entries(&EntryQuery {
            limit: 1000,
            ..query("shared")
        })
        .await
        .unwrap()
        .entries;
    assert_eq!(entries.len(), 200);
}
