//! CSV export in bounded memory: a buffered (Lambda) response carries at most
//! `MAX_CSV_PAGE_BYTES` and a cursor to the rest; a streamed (`credits serve`) response
//! carries every row. Both give the same rows, in order, whatever the history's length.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use credits_api::ApiConfig;
use credits_api::export::{MAX_CSV_PAGE_BYTES, NEXT_CURSOR_HEADER};
use credits_store::sqlite::SqliteStore;
use credits_store::{AccountRecord, Commit, CommitOutcome, EntryRecord, MAX_COMMIT_ENTRIES, Store};
use serde_json::json;

use common::{ADMIN_KEY, Harness, start};

/// Entries enough for more than one buffered part (each row is ~90 bytes).
const HISTORY_ENTRIES: u64 = 60_000;

async fn long_history(store: &dyn Store, account: &str) {
    let mut written = 0;
    while written < HISTORY_ENTRIES {
        let record = store.load(account).await.unwrap().unwrap();
        let next_seq = record.state["next_seq"].as_u64().unwrap();
        let batch = (HISTORY_ENTRIES - written).min(MAX_COMMIT_ENTRIES as u64);
        let entries = (0..batch)
            .map(|offset| {
                let index = written + offset;
                EntryRecord {
                    account: account.to_owned(),
                    id: format!("history:{index}"),
                    seq: next_seq + offset,
                    at: start() + Duration::seconds(i64::try_from(index).unwrap() + 1),
                    entry_type: "alert".to_owned(),
                    operation: format!("history:{index}"),
                    unit: Some("credit".to_owned()),
                    amount_minor: 0,
                    feature: None,
                    model: None,
                    project: None,
                    member: None,
                    content: None,
                    body: json!({}),
                }
            })
            .collect();
        let mut state = record.state.clone();
        state["next_seq"] = json!(next_seq + batch);
        let commit = Commit {
            events: Vec::new(),
            expected_version: record.version,
            account: AccountRecord {
                version: record.version + 1,
                state,
                ..record
            },
            entries,
            facts: vec![],
            operation: None,
        };
        assert_eq!(
            store.commit(commit).await.unwrap(),
            CommitOutcome::Committed
        );
        written += batch;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_and_streamed_exports_give_every_row_once() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let paged = Harness::over(Arc::clone(&store));
    paged
        .account("acme", "imentiv/professional", Some("100"))
        .await;
    long_history(&*store, "acme").await;
    let streamed = Harness::configured(
        Arc::clone(&store),
        ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap()
            .with_streamed_csv(),
    );

    // Buffered: parts under the budget, each naming the next, until one does not.
    let mut rows: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut parts = 0;
    loop {
        let path = match &cursor {
            None => "/v1/accounts/acme/entries?format=csv".to_owned(),
            Some(cursor) => format!("/v1/accounts/acme/entries?format=csv&cursor={cursor}"),
        };
        let reply = paged.admin(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        // The budget is checked after each row: a part may pass it by one row.
        assert!(
            reply.text.len() < MAX_CSV_PAGE_BYTES + 4096,
            "{} bytes",
            reply.text.len()
        );
        let mut lines = reply.text.lines();
        assert_eq!(
            lines.next(),
            Some("seq,id,at,type,operation,unit,amount,feature,model,project,member,content")
        );
        rows.extend(lines.map(str::to_owned));
        parts += 1;
        assert!(parts <= 10, "the export never ends");
        match reply.headers.get(NEXT_CURSOR_HEADER) {
            Some(next) => cursor = Some(next.to_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert!(
        parts >= 2,
        "{parts} part(s): the history should not fit one"
    );
    let total = paged.entry_count("acme").await;
    assert!(total > usize::try_from(HISTORY_ENTRIES).unwrap());
    assert_eq!(rows.len(), total, "every entry once");

    // Streamed: one response with every row, the same rows.
    let reply = streamed
        .admin(Method::GET, "/v1/accounts/acme/entries?format=csv", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers.get(NEXT_CURSOR_HEADER).is_none());
    assert_eq!(
        reply
            .text
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        rows
    );

    // Filters and ranges apply to both alike.
    let path = "/v1/accounts/acme/entries?format=csv&type=top_up";
    let a = paged.admin(Method::GET, path, None).await.text;
    let b = streamed.admin(Method::GET, path, None).await.text;
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 2, "{a}");
}
