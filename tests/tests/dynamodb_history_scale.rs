//! Years of history cost nothing on the money paths: on DynamoDB Local, an account with
//! 100,000 entries answers a refund of its oldest charge, a `requires … on same content`
//! charge naming its oldest content, an entries page of its oldest month and that month's
//! statement with the same requests (±1) and read units (±1) as an account of ten entries.
//! Read units are counted as DynamoDB bills them: 4 KB of response per unit, per request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, TimeZone, Utc};
use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_store::{Commit, EntryRecord, MAX_COMMIT_ENTRIES, Store};
use credits_store_dynamodb::{DynamoStore, RequestCounter, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_KEY: &str = "history-admin-key-0123456789";
/// Entries written into the long account's history, after its first month.
const LONG_HISTORY_ENTRIES: u64 = 100_000;
/// Bytes of one read unit (an eventually consistent read costs half; the comparison is the
/// same either way).
const READ_UNIT_BYTES: u64 = 4096;

fn library() -> RateLibrary {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rates");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rates") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            sources.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    sources.sort();
    RateLibrary::from_sources(sources)
        .unwrap_or_else(|d| panic!("the rate books do not check: {d:?}"))
}

fn at(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 10, 0, 0).unwrap()
}

/// What one request cost: requests by operation, and read units.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cost {
    requests: BTreeMap<String, u64>,
    read_units: u64,
}

struct App {
    router: Router,
    counter: RequestCounter,
    clock: Arc<FixedClock>,
}

impl App {
    fn new(store: &DynamoStore) -> App {
        let counter = RequestCounter::default();
        let client = credits_store_dynamodb::with_interceptor(store.client(), counter.clone());
        let store = DynamoStore::new(client, store.table().to_string());
        let clock = Arc::new(FixedClock::new(at(1, 15)));
        let config = ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap();
        let state = AppState::new(Arc::new(store), Arc::new(library()))
            .with_clock(clock.clone())
            .with_config(config);
        App {
            router: credits_api::router(state),
            counter,
            clock,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends; checks the status; returns what the request cost.
    async fn cost(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> Cost {
        self.counter.take();
        let (status, json) = self.send(method, path, body).await;
        assert_eq!(status, want, "{path}: {json}");
        let requests = self.counter.snapshot();
        let read_units = self
            .counter
            .take_bytes()
            .values()
            .map(|bytes| bytes.div_ceil(READ_UNIT_BYTES))
            .sum();
        self.counter.take();
        Cost {
            requests,
            read_units,
        }
    }
}

/// The account's first month: created on a plan whose advanced features need a prior
/// analysis of the same content, topped up, and its first (oldest) charges.
async fn first_month(app: &App, account: &str) {
    let path = format!("/v1/accounts/{account}");
    let (status, json) = app
        .send(
            Method::PUT,
            &path,
            Some(json!({"plan": "imentiv/professional"})),
        )
        .await;
    assert!(status.is_success(), "{json}");
    let (status, json) = app
        .send(
            Method::POST,
            &format!("{path}/topups"),
            Some(json!({"id": "setup", "amount": "100000"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    for (id, content) in [("oldest", "video-oldest"), ("second", "video-second")] {
        let (status, json) = app
            .send(
                Method::POST,
                &format!("{path}/charges"),
                Some(json!({"id": id, "feature": "video_emotion", "inputs": {"duration": "90s"}, "content": content})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
    }
}

/// `count` entries after the first month, written straight through the store (the API would
/// take hours for them): alerts of no amount, spread evenly over February 1 to 11 (the oldest
/// charge stays inside its plan's 30-day refund window), each commit advancing the snapshot's
/// `next_seq` as the ledger would.
async fn write_history(store: &DynamoStore, account: &str, count: u64) {
    let start = at(2, 1);
    let span_seconds = (at(2, 11) - start).num_seconds();
    let mut written = 0_u64;
    while written < count {
        let record = store.load(account).await.unwrap().unwrap();
        let next_seq = record.state["next_seq"].as_u64().unwrap();
        let batch = (count - written).min(MAX_COMMIT_ENTRIES as u64);
        let entries: Vec<EntryRecord> = (0..batch)
            .map(|offset| {
                let index = written + offset;
                let seconds =
                    span_seconds * i64::try_from(index).unwrap() / i64::try_from(count).unwrap();
                EntryRecord {
                    account: account.to_owned(),
                    id: format!("history:{index}"),
                    seq: next_seq + offset,
                    at: start + Duration::seconds(seconds),
                    entry_type: "alert".to_owned(),
                    operation: format!("history:{index}"),
                    unit: Some("credit".to_owned()),
                    amount_minor: 0,
                    feature: None,
                    model: None,
                    project: None,
                    member: None,
                    content: None,
                    body: json!({"threshold": "0"}),
                }
            })
            .collect();
        let mut state = record.state.clone();
        state["next_seq"] = json!(next_seq + batch);
        let commit = Commit {
            events: Vec::new(),
            expected_version: record.version,
            account: credits_store::AccountRecord {
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
            credits_store::CommitOutcome::Committed
        );
        written += batch;
    }
}

/// The four reads and writes on the oldest history, after the long account's history.
async fn costs_on_the_oldest_history(app: &App, account: &str) -> [Cost; 4] {
    let path = format!("/v1/accounts/{account}");
    app.clock.set(at(2, 12));
    // A warm-up write brings the account up to now (it closes January's statement), so that
    // what is measured below is the requests themselves.
    let (status, json) = app
        .send(
            Method::POST,
            &format!("{path}/topups"),
            Some(json!({"id": "warm-up", "amount": "10"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let refund = app
        .cost(
            Method::POST,
            &format!("{path}/refunds"),
            Some(json!({"id": "refund-oldest", "charge": "oldest", "reason": "duplicate"})),
            StatusCode::CREATED,
        )
        .await;
    let requires = app
        .cost(
            Method::POST,
            &format!("{path}/charges"),
            Some(json!({"id": "insight", "feature": "personality_analysis", "channel": "web", "inputs": {"duration": "1m"}, "content": "video-oldest"})),
            StatusCode::CREATED,
        )
        .await;
    let page = app
        .cost(
            Method::GET,
            &format!("{path}/entries?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&limit=100"),
            None,
            StatusCode::OK,
        )
        .await;
    let statement = app
        .cost(
            Method::GET,
            &format!("{path}/statements/2026-01"),
            None,
            StatusCode::OK,
        )
        .await;
    [refund, requires, page, statement]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_history_costs_the_same_on_a_long_account_as_on_a_short_one() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let table = unique_table_name("history");
    create_table(&client, &table).await.expect("create table");
    let store = DynamoStore::new(client, table);

    // Account names of one length, so that their items are the same size.
    let (short, long) = ("history-short", "history-long-");
    let short_app = App::new(&store);
    first_month(&short_app, short).await;
    let long_app = App::new(&store);
    first_month(&long_app, long).await;
    write_history(&store, long, LONG_HISTORY_ENTRIES).await;

    let short_costs = costs_on_the_oldest_history(&short_app, short).await;
    let long_costs = costs_on_the_oldest_history(&long_app, long).await;
    let names = [
        "refund of the oldest charge",
        "charge naming the oldest content",
        "entries of the oldest month",
        "the oldest month's statement",
    ];
    for ((name, short), long) in names.iter().zip(&short_costs).zip(&long_costs) {
        eprintln!("{name}: short {short:?}, long {long:?}");
        let total = |cost: &Cost| cost.requests.values().sum::<u64>();
        assert!(
            total(long).abs_diff(total(short)) <= 1,
            "{name}: {} requests on the long account, {} on the short one ({long:?} / {short:?})",
            total(long),
            total(short)
        );
        assert!(
            long.read_units.abs_diff(short.read_units) <= 1,
            "{name}: {} read units on the long account, {} on the short one",
            long.read_units,
            short.read_units
        );
    }

    // The long account's history really is there, and its oldest month reads the same.
    let (status, page) = long_app
        .send(
            Method::GET,
            &format!("/v1/accounts/{long}/entries?from=2026-02-05T00:00:00Z&to=2026-02-06T00:00:00Z&limit=1000"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["entries"].as_array().unwrap().len() > 100, "{page}");
    assert_eq!(
        oldest_month(&long_app, long).await,
        oldest_month(&short_app, short).await
    );
}

/// The types and amounts of the account's entries in its first month.
async fn oldest_month(app: &App, account: &str) -> Vec<(Value, Value)> {
    let path = format!(
        "/v1/accounts/{account}/entries?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&limit=100"
    );
    let (_, page) = app.send(Method::GET, &path, None).await;
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["type"].clone(), entry["amount"].clone()))
        .collect()
}
