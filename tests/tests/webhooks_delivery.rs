//! Webhook delivery end to end (`docs/webhooks.md`): the admin routes through the real
//! router, the delivery engine over the SQLite store's queue, and a real receiver on
//! loopback (an axum server on `127.0.0.1:0`) that checks every signature.
//!
//! Every event delivered is one the ledger published: the operations go through the router
//! on the real SQLite store (accounts on `ai-engine/standard`: a grant of 1,000 credits at
//! creation, `alert below 200 credit, 50 credit`), whose commits write their events to the
//! store's outbox, and the engine tails that store's `event_feed`. What arrives is compared
//! with what the store holds (`Store::account_events`): nothing lost, nothing invented.
//!
//! `cargo test -p credits-tests --test webhooks_delivery`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use credits_api::webhooks::Webhooks;
use credits_api::webhooks::deliver::{Deliverer, DeliveryConfig, Jitter, Pause};
use credits_api::webhooks::http::HttpTransport;
use credits_api::webhooks::schedule::RetryPolicy;
use credits_api::webhooks::signing::verify;
use credits_api::{ApiConfig, AppState, Clock, FixedClock};
use credits_store::sqlite::SqliteStore;
use credits_store::webhooks::WebhookStore;
use credits_store::{EventRecord, Store};
use credits_tests::activity;
use credits_tests::router::{ADMIN_KEY, RouterClient, instant};
use credits_tests::scenarios::transport::library;
use http::Method;
use serde_json::{Value, json};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------
// The receiver: a real HTTP server on loopback.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy,
    Fail(u16),
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    header_id: String,
    header_type: String,
    body: Value,
    verified: bool,
}

struct ReceiverState {
    mode: Mutex<Mode>,
    secret: Mutex<String>,
    /// Whose time the signatures are checked at (the engine's clock).
    clock: Arc<FixedClock>,
    /// Every request answered 2xx, in arrival order.
    delivered: Mutex<Vec<Received>>,
    /// Every request, whatever the answer.
    requests: Mutex<u64>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    *state.requests.lock().unwrap() += 1;
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Hang => std::future::pending::<StatusCode>().await,
        Mode::Fail(status) => StatusCode::from_u16(status).unwrap(),
        Mode::Healthy => {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let secret = state.secret.lock().unwrap().clone();
            let verified = verify(
                &secret,
                &header("credits-signature"),
                &body,
                state.clock.now().timestamp(),
            )
            .is_ok();
            state.delivered.lock().unwrap().push(Received {
                header_id: header("credits-event-id"),
                header_type: header("credits-event-type"),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                verified,
            });
            StatusCode::NO_CONTENT
        }
    }
}

async fn start_receiver(
    clock: Arc<FixedClock>,
    mode: Mode,
    listener: Option<tokio::net::TcpListener>,
) -> (SocketAddr, Arc<ReceiverState>, tokio::task::JoinHandle<()>) {
    let listener = match listener {
        Some(listener) => listener,
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let address = listener.local_addr().unwrap();
    let state = Arc::new(ReceiverState {
        mode: Mutex::new(mode),
        secret: Mutex::new(String::new()),
        clock,
        delivered: Mutex::new(Vec::new()),
        requests: Mutex::new(0),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::clone(&state));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, state, server)
}

// ---------------------------------------------------------------------------------------
// The deployment: router with webhooks, and the engine with injected time.

/// Advances the engine's clock by `step` each round, then yields briefly for real.
struct AdvancingPause {
    clock: Arc<FixedClock>,
    step: TimeDelta,
}

#[async_trait::async_trait]
impl Pause for AdvancingPause {
    async fn pause(&self, _duration: Duration) {
        self.clock.advance(self.step);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

struct FixedJitter(u16);

impl Jitter for FixedJitter {
    fn permille(&self) -> u16 {
        self.0
    }
}

struct Deployment {
    client: RouterClient,
    /// The ledger's store: its commits publish the events, its feed is what the engine reads.
    store: Arc<SqliteStore>,
    /// The engine's clock (the router's is `client.clock`).
    engine_clock: Arc<FixedClock>,
}

fn deployment() -> Deployment {
    let sqlite = Arc::new(SqliteStore::in_memory().unwrap());
    let clock = Arc::new(FixedClock::new(instant("2026-03-02T10:00:00Z")));
    let config = ApiConfig::default()
        .with_static_admin_key(ADMIN_KEY)
        .unwrap()
        .with_group_commit();
    let state = AppState::new(sqlite.clone(), Arc::new(library().unwrap()))
        .with_clock(clock.clone())
        .with_config(config)
        .with_webhooks(Webhooks {
            store: sqlite.clone(),
            allow_loopback: true,
        });
    Deployment {
        client: RouterClient {
            router: credits_api::router(state),
            clock,
        },
        store: sqlite,
        engine_clock: Arc::new(FixedClock::new(instant("2026-03-02T10:00:00Z"))),
    }
}

impl Deployment {
    /// Starts the engine; stop it by sending `true`.
    fn start_engine(
        &self,
        step: TimeDelta,
        timeout: Duration,
        concurrency: usize,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let config = DeliveryConfig {
            concurrency,
            timeout,
            poll: Duration::from_millis(2),
            feed_page: 64,
            feed_pages_per_round: 2,
            retry: RetryPolicy::default(),
        };
        let engine = Deliverer::new(
            self.store.clone(),
            self.store.clone(),
            Arc::new(HttpTransport::new().unwrap()),
            self.engine_clock.clone(),
            config,
        )
        .with_pause(Arc::new(AdvancingPause {
            clock: self.engine_clock.clone(),
            step,
        }))
        .with_jitter(Arc::new(FixedJitter(1000)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::new(engine).run(stopped));
        (stop, task)
    }

    /// Registers `url` for `types`; answers (id, secret).
    async fn register(&self, url: &str, types: Value) -> (String, String) {
        let (status, text) = self
            .client
            .send(
                Method::POST,
                "/v1/webhooks",
                Some(json!({ "url": url, "event_types": types })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let created: Value = serde_json::from_str(&text).unwrap();
        (
            created["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// The ledger's operations that publish events (`credits_tests::activity`).
impl Deployment {
    async fn open(&self, account: &str) {
        activity::open(&self.client, account).await;
    }

    async fn cross_below_and_recover(&self, account: &str, id: &str) {
        activity::cross_below_and_recover(&self.client, account, id).await;
    }

    async fn close(&self, account: &str) {
        activity::close(&self.client, account).await;
    }

    /// Every event the store holds for `accounts`, each account's by seq.
    async fn published(&self, accounts: &[&str]) -> Vec<EventRecord> {
        let mut events = Vec::new();
        for account in accounts {
            let page = self.store.account_events(account, 0, 1000).await.unwrap();
            assert!(page.len() < 1000, "{account}: more events than one page");
            events.extend(page);
        }
        events
    }
}

/// Waits (polling, at most `limit`) until `done` holds.
async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Per account, the seqs in the order they first arrived (duplicates dropped).
fn first_arrivals(delivered: &[Received]) -> BTreeMap<String, Vec<u64>> {
    let mut seen = HashSet::new();
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for received in delivered {
        if seen.insert(received.header_id.clone()) {
            order
                .entry(received.body["account"].as_str().unwrap().to_owned())
                .or_default()
                .push(received.body["seq"].as_u64().unwrap());
        }
    }
    order
}

/// Every delivery is signed right, carries the event id in its header and body, and a
/// duplicate (if any) is the same event again.
fn assert_signed_and_consistent(delivered: &[Received], published: &[EventRecord]) {
    let by_id: HashMap<&str, &EventRecord> = published.iter().map(|e| (e.id.as_str(), e)).collect();
    for received in delivered {
        assert!(received.verified, "a bad signature: {received:?}");
        assert_eq!(received.body["id"], json!(received.header_id));
        assert_eq!(received.body["type"], json!(received.header_type));
        let event = by_id
            .get(received.header_id.as_str())
            .unwrap_or_else(|| panic!("an event never published: {received:?}"));
        assert_eq!(received.body["account"], json!(event.account));
        assert_eq!(received.body["seq"], json!(event.seq));
        for (field, value) in event.body.as_object().unwrap() {
            assert_eq!(&received.body[field], value, "{field}");
        }
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_and_in_order_per_account_and_only_the_types_asked_for() {
    let deployment = deployment();
    let (address, receiver, _server) =
        start_receiver(deployment.engine_clock.clone(), Mode::Healthy, None).await;
    let asked_for = ["balance.low", "credits.granted"];
    let (_id, secret) = deployment
        .register(&format!("http://{address}/hook"), json!(asked_for))
        .await;
    *receiver.secret.lock().unwrap() = secret;
    let accounts = ["alice", "bob", "carol"];
    for account in accounts {
        deployment.open(account).await;
    }
    for round in 0..6 {
        for account in accounts {
            deployment
                .cross_below_and_recover(account, &format!("round-{round}"))
                .await;
        }
    }
    // Not asked for: `account.closed` and `credits.expired` (the forfeited credits).
    for account in accounts {
        deployment.close(account).await;
    }
    let published = deployment.published(&accounts).await;
    let wanted: HashSet<String> = published
        .iter()
        .filter(|event| asked_for.contains(&event.event_type.as_str()))
        .map(|event| event.id.clone())
        .collect();
    assert_eq!(wanted.len(), 3 * 7, "one grant and six crossings each");
    assert!(
        published
            .iter()
            .any(|event| event.event_type == "account.closed"),
        "the store holds events not asked for too"
    );
    let (stop, engine) = deployment.start_engine(TimeDelta::zero(), Duration::from_secs(5), 4);
    wait_until(Duration::from_secs(60), "21 deliveries", || {
        receiver.delivered.lock().unwrap().len() >= wanted.len()
    })
    .await;
    // Nothing more comes (the closures were not asked for).
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(true).unwrap();
    engine.await.unwrap();

    let delivered = receiver.delivered.lock().unwrap().clone();
    assert_signed_and_consistent(&delivered, &published);
    let unique: HashSet<String> = delivered.iter().map(|r| r.header_id.clone()).collect();
    assert_eq!(unique, wanted);
    assert!(
        delivered
            .iter()
            .all(|r| asked_for.contains(&r.header_type.as_str())),
        "only the types asked for"
    );
    for (account, seqs) in first_arrivals(&delivered) {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{account}: {seqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_up_gets_every_event_with_duplicates_only_of_the_same_id() {
    let deployment = deployment();
    // Down: nothing listens on the port yet (connections are refused).
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let (id, secret) = deployment
        .register(&format!("http://{address}/hook"), json!(["*"]))
        .await;
    // Each account: its grant at creation, then nine crossings below 200 credits: 10 events.
    let accounts = ["alice", "bob", "carol"];
    for account in accounts {
        deployment.open(account).await;
    }
    for round in 0..9 {
        for account in accounts {
            deployment
                .cross_below_and_recover(account, &format!("round-{round}"))
                .await;
        }
    }
    let published = deployment.published(&accounts).await;
    assert_eq!(published.len(), 30);
    // A minute of engine time per round: retries (10 s, 20 s, ... up to an hour) come due fast.
    let (stop, engine) = deployment.start_engine(TimeDelta::minutes(1), Duration::from_secs(5), 4);
    // Failing: each account's oldest event is retried, with its attempts listed.
    let failed_path = format!("/v1/webhooks/{id}/failed");
    let started = Instant::now();
    loop {
        let failed = deployment.client.json(&failed_path).await;
        let deliveries = failed["deliveries"].as_array().unwrap().clone();
        if deliveries.len() == 3 && deliveries.iter().all(|d| d["attempts"].as_u64() >= Some(3)) {
            for delivery in &deliveries {
                assert_eq!(delivery["status"], "retrying");
                assert_eq!(delivery["last_error"], "the connection failed");
                assert!(delivery["next_attempt_at"].is_string());
                assert_eq!(
                    delivery["seq"], 1,
                    "only each account's oldest is attempted"
                );
            }
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{failed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Up, but answering 503 for a while.
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let (_, receiver, _server) = start_receiver(
        deployment.engine_clock.clone(),
        Mode::Fail(503),
        Some(listener),
    )
    .await;
    *receiver.secret.lock().unwrap() = secret;
    wait_until(Duration::from_secs(60), "503 answers", || {
        *receiver.requests.lock().unwrap() >= 6
    })
    .await;
    let failed = deployment.client.json(&failed_path).await;
    assert!(
        failed["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["last_status"] == 503),
        "{failed}"
    );
    // Healthy: everything arrives.
    *receiver.mode.lock().unwrap() = Mode::Healthy;
    wait_until(Duration::from_secs(120), "30 deliveries", || {
        let delivered = receiver.delivered.lock().unwrap();
        delivered
            .iter()
            .map(|r| r.header_id.clone())
            .collect::<HashSet<_>>()
            .len()
            >= 30
    })
    .await;
    stop.send(true).unwrap();
    engine.await.unwrap();

    let delivered = receiver.delivered.lock().unwrap().clone();
    assert_signed_and_consistent(&delivered, &published);
    let ids: HashSet<String> = delivered.iter().map(|r| r.header_id.clone()).collect();
    assert_eq!(ids, published.iter().map(|e| e.id.clone()).collect());
    for (account, seqs) in first_arrivals(&delivered) {
        assert_eq!(seqs, (1..=10).collect::<Vec<u64>>(), "{account}");
    }
    let failed = deployment.client.json(&failed_path).await;
    assert_eq!(failed["deliveries"], json!([]), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_3_days_a_delivery_fails_holds_its_account_back_and_is_redelivered_in_order() {
    let deployment = deployment();
    let (address, receiver, _server) =
        start_receiver(deployment.engine_clock.clone(), Mode::Fail(500), None).await;
    let (id, secret) = deployment
        .register(&format!("http://{address}/hook"), json!(["*"]))
        .await;
    *receiver.secret.lock().unwrap() = secret;
    // Alice's grant and two crossings: 3 events.
    deployment.open("alice").await;
    for round in 0..2 {
        deployment
            .cross_below_and_recover("alice", &format!("round-{round}"))
            .await;
    }
    assert_eq!(deployment.published(&["alice"]).await.len(), 3);
    // An hour of engine time per round: 3 days pass in a few hundred rounds.
    let (stop, engine) = deployment.start_engine(TimeDelta::hours(1), Duration::from_secs(5), 4);
    let failed_path = format!("/v1/webhooks/{id}/failed");
    let started = Instant::now();
    let failed = loop {
        let failed = deployment.client.json(&failed_path).await;
        let deliveries = failed["deliveries"].as_array().unwrap();
        if deliveries.len() == 3 && deliveries.iter().all(|d| d["status"] == "failed") {
            break failed;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{failed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let deliveries = failed["deliveries"].as_array().unwrap();
    // The first was attempted for 3 days; the two behind it never were.
    let first = &deliveries[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["last_status"], 500);
    assert!(first["attempts"].as_u64().unwrap() >= 10, "{first}");
    assert_eq!(first["next_attempt_at"], Value::Null);
    let span = DateTime::parse_from_rfc3339(first["first_attempt_at"].as_str().unwrap()).unwrap();
    assert!(deployment.engine_clock.now() - span.with_timezone(&Utc) >= TimeDelta::days(3));
    for behind in &deliveries[1..] {
        assert_eq!(behind["attempts"], 0);
        assert_eq!(
            behind["last_error"],
            "held back by an earlier event that failed"
        );
    }
    // Another account is not held back by alice's failure.
    *receiver.mode.lock().unwrap() = Mode::Healthy;
    deployment.open("bob").await;
    let bobs = deployment.published(&["bob"]).await;
    assert_eq!(bobs.len(), 1, "bob's grant");
    wait_until(Duration::from_secs(30), "bob's event", || {
        receiver.delivered.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(receiver.delivered.lock().unwrap()[0].header_id, bobs[0].id);

    // Re-delivery: an unknown event is 404; all failed ones arrive, in order.
    let (status, text) = deployment
        .client
        .send(
            Method::POST,
            &format!("/v1/webhooks/{id}/redeliver"),
            Some(json!({ "event_id": "evt_00000000000000000000000000000000" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let text = deployment
        .client
        .ok(
            Method::POST,
            &format!("/v1/webhooks/{id}/redeliver"),
            Some(json!({ "all_failed": true })),
        )
        .await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["requeued"], 3);
    wait_until(Duration::from_secs(30), "alice's 3 events", || {
        receiver.delivered.lock().unwrap().len() == 4
    })
    .await;
    stop.send(true).unwrap();
    engine.await.unwrap();
    let delivered = receiver.delivered.lock().unwrap().clone();
    let published = deployment.published(&["alice", "bob"]).await;
    assert_signed_and_consistent(&delivered, &published);
    let ids: HashSet<String> = delivered.iter().map(|r| r.header_id.clone()).collect();
    assert_eq!(ids, published.iter().map(|e| e.id.clone()).collect());
    assert_eq!(first_arrivals(&delivered)["alice"], vec![1, 2, 3]);
    assert_eq!(
        deployment.client.json(&failed_path).await["deliveries"],
        json!([])
    );
}

/// Wall times of `count` charges spread over `accounts`.
async fn charge_latencies(
    deployment: &Deployment,
    accounts: &[String],
    phase: &str,
    count: usize,
) -> Vec<Duration> {
    let mut took = Vec::with_capacity(count);
    for index in 0..count {
        let account = &accounts[index % accounts.len()];
        // Within the plans' request rate: 2 s of the router's time per charge.
        deployment.client.clock.advance(TimeDelta::seconds(2));
        // Untimed: a crossing below 200 credits, so the engine has an event to deliver for
        // every charge measured.
        deployment
            .cross_below_and_recover(account, &format!("{phase}-{index}"))
            .await;
        let started = Instant::now();
        deployment
            .client
            .ok(
                Method::POST,
                &format!("/v1/accounts/{account}/charges"),
                Some(json!({
                    "id": format!("{phase}-{index}"),
                    "feature": "inference",
                    "inputs": { "requests": 1 }
                })),
            )
            .await;
        took.push(started.elapsed());
    }
    took
}

fn median(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took[took.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_receiver_does_not_slow_charges() {
    let deployment = deployment();
    let (address, receiver, _server) =
        start_receiver(deployment.engine_clock.clone(), Mode::Healthy, None).await;
    let (_id, secret) = deployment
        .register(&format!("http://{address}/hook"), json!(["*"]))
        .await;
    *receiver.secret.lock().unwrap() = secret;
    let accounts: Vec<String> = (0..12).map(|n| format!("acct-{n}")).collect();
    for account in &accounts {
        deployment.open(account).await;
    }
    // Engine time runs 5,000 times faster than real time (10 s per 2 ms round): retries come
    // due far more often than they would, and the hanging receiver keeps every delivery slot
    // busy for the whole timeout, all the time.
    let (stop, engine) =
        deployment.start_engine(TimeDelta::seconds(10), Duration::from_millis(500), 4);
    charge_latencies(&deployment, &accounts, "warm", 60).await;
    // The receiver's modes take turns in short blocks, so the machine's own noise (other
    // processes, timers) falls on all three alike.
    let modes = [
        ("healthy", Mode::Healthy),
        ("hanging", Mode::Hang),
        ("failing", Mode::Fail(500)),
    ];
    let mut took: HashMap<&str, Vec<Duration>> = HashMap::new();
    for block in 0..8 {
        for (name, mode) in modes {
            *receiver.mode.lock().unwrap() = mode;
            let phase = format!("{name}-{block}");
            let block_took = charge_latencies(&deployment, &accounts, &phase, 36).await;
            took.entry(name).or_default().extend(block_took);
        }
    }
    let delivered = receiver.delivered.lock().unwrap().len();
    let requests = *receiver.requests.lock().unwrap();
    stop.send(true).unwrap();
    engine.await.unwrap();
    assert!(delivered > 0, "the healthy receiver got deliveries");
    let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let published = deployment.published(&names).await;
    let arrived = receiver.delivered.lock().unwrap().clone();
    assert_signed_and_consistent(&arrived, &published);

    let healthy = median(took["healthy"].clone());
    let hanging = median(took["hanging"].clone());
    let failing = median(took["failing"].clone());
    let ratio = |slow: Duration| slow.as_secs_f64() / healthy.as_secs_f64().max(1e-6);
    println!(
        "median charge: healthy {healthy:?}, hanging {hanging:?} ({:.2}x), failing {failing:?} \
         ({:.2}x); {requests} requests reached the receiver, {delivered} answered 2xx",
        ratio(hanging),
        ratio(failing)
    );
    assert!(ratio(hanging) < 3.0, "hanging: {:.2}x", ratio(hanging));
    assert!(ratio(failing) < 3.0, "failing: {:.2}x", ratio(failing));
}

#[tokio::test]
async fn admin_routes_validate_limit_hide_the_secret_and_are_admin_only() {
    let deployment = deployment();
    let client = &deployment.client;
    // URL and event type rules: problem+json 400 naming the field.
    for (body, field) in [
        (
            json!({ "url": "ftp://x.example/h", "event_types": ["*"] }),
            "url",
        ),
        (
            json!({ "url": "https://u:p@x.example/h", "event_types": ["*"] }),
            "url",
        ),
        (
            json!({ "url": "https://x.example/h", "event_types": [] }),
            "event_types",
        ),
        (
            json!({ "url": "https://x.example/h", "event_types": ["Balance"] }),
            "event_types",
        ),
        (
            json!({ "url": "https://x.example/h", "event_types": ["*", "balance.low"] }),
            "event_types",
        ),
    ] {
        let (status, text) = client.send(Method::POST, "/v1/webhooks", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            problem["type"].as_str().unwrap().rsplit('/').next(),
            Some("invalid-input")
        );
        assert_eq!(problem["field"], field, "{text}");
    }
    // The secret is answered once, never listed.
    let (id, secret) = deployment
        .register("https://platform.example/hooks", json!(["balance.low"]))
        .await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    let shown = client
        .ok(Method::GET, &format!("/v1/webhooks/{id}"), None)
        .await;
    let listed = client.ok(Method::GET, "/v1/webhooks", None).await;
    for text in [&shown, &listed] {
        assert!(
            !text.contains(&secret) && !text.contains("secret"),
            "{text}"
        );
        assert!(text.contains("https://platform.example/hooks"), "{text}");
    }
    // At most 16 endpoints.
    for _ in 1..16 {
        deployment
            .register("https://platform.example/more", json!(["*"]))
            .await;
    }
    let (status, text) = client
        .send(
            Method::POST,
            "/v1/webhooks",
            Some(json!({ "url": "https://platform.example/one-too-many", "event_types": ["*"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(
        text.contains("limit-reached") && text.contains("\"max\":16"),
        "{text}"
    );
    // A cursor no listing gave is 400, whatever its size.
    for cursor in ["x", "-1", "18446744073709551615"] {
        let (status, text) = client
            .send(
                Method::GET,
                &format!("/v1/webhooks/{id}/failed?cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cursor}: {text}");
    }
    // Delete, then 404.
    client
        .ok(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::GET, format!("/v1/webhooks/{id}/failed")),
    ] {
        let (status, text) = client.send(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
    }
    // An account key is refused.
    client
        .ok(
            Method::PUT,
            "/v1/accounts/alice",
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
    let key: Value = serde_json::from_str(
        &client
            .ok(
                Method::POST,
                "/v1/keys",
                Some(json!({ "account": "alice" })),
            )
            .await,
    )
    .unwrap();
    let (status, _) = client
        .send_as(key["key"].as_str(), Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Loopback URLs only where allowed; a deployment without webhooks answers 501.
    let undelivered = RouterClient::over(
        Arc::new(SqliteStore::in_memory().unwrap()),
        instant("2026-03-02T10:00:00Z"),
    );
    let (status, text) = undelivered.send(Method::GET, "/v1/webhooks", None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{text}");
    assert!(
        text.contains("not-implemented") && text.contains("docs/webhooks.md"),
        "{text}"
    );
    let strict = AppState::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Arc::new(library().unwrap()),
    )
    .with_config(
        ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap(),
    )
    .with_webhooks(Webhooks {
        store: Arc::new(SqliteStore::in_memory().unwrap()) as Arc<dyn WebhookStore>,
        allow_loopback: false,
    });
    let strict = RouterClient {
        router: credits_api::router(strict),
        clock: Arc::new(FixedClock::new(instant("2026-03-02T10:00:00Z"))),
    };
    let (status, text) = strict
        .send(
            Method::POST,
            "/v1/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["*"] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("loopback"), "{text}");
}
