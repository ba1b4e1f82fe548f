//! The webhook sender on AWS, end to end on DynamoDB Local: accounts' operations committed
//! through the real router on the DynamoDB store, the ledger table's real stream read as
//! Lambda's event source mapping reads it (`credits_tests::stream`) and handed to
//! `credits_webhook_sender::handle` in batches, the queue in a webhooks table
//! (`DynamoWebhookStore`), and a receiver on loopback that verifies every signature.
//!
//! Every committed event arrives signed, once, in `seq` order per account, and nothing else
//! (what arrives is compared with the ledger's own `account_events`); a refused commit sends
//! nothing; a batch handed over again sends nothing twice; a receiver down, then up, gets
//! every event on the schedule's ticks.
//!
//! `scripts/install-tools.sh` once (DynamoDB Local), then
//! `cargo test -p credits-tests --test dynamodb_webhooks_sender`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use credits_api::webhooks::Webhooks;
use credits_api::webhooks::deliver::{Deliverer, DeliveryConfig};
use credits_api::webhooks::http::HttpTransport;
use credits_api::webhooks::signing::verify;
use credits_api::{ApiConfig, AppState, Clock, FixedClock};
use credits_store::{EventRecord, Store};
use credits_store_dynamodb::{
    DynamoStore, DynamoWebhookStore, create_table, create_webhooks_table,
};
use credits_tests::activity;
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::router::{ADMIN_KEY, RouterClient, instant};
use credits_tests::scenarios::transport::library;
use credits_tests::stream::{passes_filter, stream_records};
use credits_webhook_sender::{Metrics, Sender, handle};
use http::Method;
use serde_json::{Value as Json, json};

/// Records Lambda hands over at most per invocation here: small, so accounts' events span
/// batches.
const BATCH_SIZE: usize = 5;

// ---------------------------------------------------------------------------------------
// The receiver: a real HTTP server on loopback.

#[derive(Debug, Clone)]
struct Received {
    id: String,
    account: String,
    seq: u64,
    body: Json,
}

struct Receiver {
    /// What it answers a signed request: 2xx takes the event.
    status: Mutex<u16>,
    secret: Mutex<String>,
    /// The sender's clock: signatures are checked at its time.
    clock: Arc<FixedClock>,
    delivered: Mutex<Vec<Received>>,
    refused: Mutex<u64>,
    unverified: Mutex<u64>,
}

async fn receive(
    State(state): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let secret = state.secret.lock().unwrap().clone();
    if verify(
        &secret,
        &header("credits-signature"),
        &body,
        state.clock.now().timestamp(),
    )
    .is_err()
    {
        *state.unverified.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let status = StatusCode::from_u16(*state.status.lock().unwrap()).unwrap();
    if !status.is_success() {
        *state.refused.lock().unwrap() += 1;
        return status;
    }
    let body: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["id"], json!(header("credits-event-id")));
    assert_eq!(body["type"], json!(header("credits-event-type")));
    state.delivered.lock().unwrap().push(Received {
        id: header("credits-event-id"),
        account: body["account"].as_str().unwrap().to_owned(),
        seq: body["seq"].as_u64().unwrap(),
        body,
    });
    status
}

// ---------------------------------------------------------------------------------------
// The deployment: the router over the DynamoDB store with the webhooks table, and the
// sender over the same table with injected time.

struct Deployment {
    local: &'static DynamoDbLocal,
    client: RouterClient,
    ledger: Arc<DynamoStore>,
    sender: Sender,
    /// The sender's clock (the router's is `client.clock`).
    clock: Arc<FixedClock>,
    receiver: Arc<Receiver>,
    receiver_url: String,
    /// The stream records handed over so far, by sequence number.
    handed: Mutex<HashSet<String>>,
}

async fn deployment(status: u16) -> Deployment {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let dynamodb = local.client().await;
    let ledger_table = unique_table_name("sender-ledger");
    create_table(&dynamodb, &ledger_table).await.unwrap();
    let webhooks_table = unique_table_name("sender-webhooks");
    create_webhooks_table(&dynamodb, &webhooks_table)
        .await
        .unwrap();
    let ledger = Arc::new(DynamoStore::new(dynamodb.clone(), ledger_table));
    let webhooks = Arc::new(DynamoWebhookStore::new(dynamodb, webhooks_table));

    let router_clock = Arc::new(FixedClock::new(instant("2026-03-02T10:00:00Z")));
    let config = ApiConfig::default()
        .with_static_admin_key(ADMIN_KEY)
        .unwrap();
    let state = AppState::new(ledger.clone(), Arc::new(library().unwrap()))
        .with_clock(router_clock.clone())
        .with_config(config)
        .with_webhooks(Webhooks {
            store: webhooks.clone(),
            allow_loopback: true,
        });
    let client = RouterClient {
        router: credits_api::router(state),
        clock: router_clock,
    };

    let clock = Arc::new(FixedClock::new(instant("2026-03-02T10:00:00Z")));
    let receiver = Arc::new(Receiver {
        status: Mutex::new(status),
        secret: Mutex::new(String::new()),
        clock: clock.clone(),
        delivered: Mutex::new(Vec::new()),
        refused: Mutex::new(0),
        unverified: Mutex::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let deliverer = Deliverer::without_feed(
        webhooks.clone(),
        Arc::new(HttpTransport::new().unwrap()),
        clock.clone(),
        DeliveryConfig {
            timeout: Duration::from_secs(5),
            ..DeliveryConfig::default()
        },
    );
    let sender = Sender {
        webhooks,
        deliverer,
        clock: clock.clone(),
        metrics: Metrics {
            service: "credits-test".to_owned(),
            emit: Arc::new(|_: &str| {}),
        },
    };
    Deployment {
        local,
        client,
        ledger,
        sender,
        clock,
        receiver,
        receiver_url: format!("http://{address}/hook"),
        handed: Mutex::new(HashSet::new()),
    }
}

impl Deployment {
    /// Registers the receiver for every event type, through the admin route.
    async fn register(&self) {
        let (status, text) = self
            .client
            .send(
                Method::POST,
                "/v1/webhooks",
                Some(json!({ "url": self.receiver_url, "event_types": ["*"] })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let created: Json = serde_json::from_str(&text).unwrap();
        *self.receiver.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    }

    async fn open(&self, account: &str) {
        activity::open(&self.client, account).await;
    }

    async fn cross_below_and_recover(&self, account: &str, id: &str) {
        activity::cross_below_and_recover(&self.client, account, id).await;
    }

    async fn close(&self, account: &str) {
        activity::close(&self.client, account).await;
    }

    /// A commit the ledger refuses: an adjustment id used again with another amount.
    async fn refused_commit(&self, account: &str, id: &str) {
        let (status, text) = self
            .client
            .send(
                Method::POST,
                &format!("/v1/accounts/{account}/adjustments"),
                Some(json!({
                    "id": format!("{id}-debit"),
                    "direction": "debit",
                    "amount": "999",
                    "reason": "correction"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{text}");
    }

    /// The stream's event inserts not handed over yet, in stream order.
    async fn new_records(&self) -> Vec<Json> {
        let handed = self.handed.lock().unwrap().clone();
        stream_records(self.local, self.ledger.client(), self.ledger.table())
            .await
            .into_iter()
            .filter(passes_filter)
            .filter(|record| {
                !handed.contains(record["dynamodb"]["SequenceNumber"].as_str().unwrap())
            })
            .collect()
    }

    /// Hands `records` to the function as Lambda does, [`BATCH_SIZE`] at a time; every
    /// batch is queued whole.
    async fn hand_over(&self, records: &[Json]) {
        for chunk in records.chunks(BATCH_SIZE) {
            let answer = self.invoke(json!({ "Records": chunk })).await;
            assert_eq!(answer, json!({"batchItemFailures": []}));
            let mut handed = self.handed.lock().unwrap();
            for record in chunk {
                handed.insert(
                    record["dynamodb"]["SequenceNumber"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }

    /// One invocation with a minute left.
    async fn invoke(&self, input: Json) -> Json {
        let until: DateTime<Utc> = self.clock.now() + TimeDelta::minutes(1);
        handle(input, &self.sender, until).await.unwrap()
    }

    /// Every event the ledger holds for `accounts`, each account's by seq.
    async fn committed(&self, accounts: &[&str]) -> Vec<EventRecord> {
        let mut events = Vec::new();
        for account in accounts {
            let page = self.ledger.account_events(account, 0, 1000).await.unwrap();
            assert!(page.len() < 1000);
            events.extend(page);
        }
        events
    }

    fn delivered(&self) -> Vec<Received> {
        self.receiver.delivered.lock().unwrap().clone()
    }
}

/// Each committed event arrived once, signed, with the stored body, each account's in seq
/// order, and nothing else.
fn assert_every_event_once_in_order(delivered: &[Received], committed: &[EventRecord]) {
    let ids: Vec<&str> = delivered.iter().map(|r| r.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event arrived twice: {ids:?}");
    let expected: HashSet<&str> = committed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unique, expected, "every committed event, and nothing else");
    let mut arrived: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for received in delivered {
        arrived
            .entry(received.account.as_str())
            .or_default()
            .push(received.seq);
    }
    let mut stored: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for event in committed {
        stored
            .entry(event.account.as_str())
            .or_default()
            .push(event.seq);
    }
    assert_eq!(arrived, stored, "each account's events in seq order");
    for event in committed {
        let received = delivered.iter().find(|r| r.id == event.id).unwrap();
        assert_eq!(received.body["type"], json!(event.event_type));
        for (field, value) in event.body.as_object().unwrap() {
            if field != "at" {
                assert_eq!(&received.body[field], value, "{}: {field}", event.id);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_event_arrives_signed_once_and_in_order_and_none_of_a_refused_commit() {
    let deployment = deployment(204).await;
    deployment.register().await;
    let accounts = ["alice", "bob", "carol"];
    for account in accounts {
        deployment.open(account).await;
    }
    for round in 0..2 {
        for account in accounts {
            deployment
                .cross_below_and_recover(account, &format!("round-{round}"))
                .await;
        }
    }
    deployment.refused_commit("alice", "round-0").await;
    deployment.close("carol").await;

    let records = deployment.new_records().await;
    let committed = deployment.committed(&accounts).await;
    assert_eq!(
        records.len(),
        committed.len(),
        "one stream record per event"
    );
    assert!(
        committed.iter().any(|e| e.event_type == "account.closed")
            && committed.iter().any(|e| e.event_type == "balance.low")
    );
    deployment.hand_over(&records).await;

    assert_eq!(*deployment.receiver.unverified.lock().unwrap(), 0);
    assert_every_event_once_in_order(&deployment.delivered(), &committed);

    // Lambda hands the whole stream over again: nothing is sent twice.
    deployment.handed.lock().unwrap().clear();
    deployment.hand_over(&records).await;
    assert_eq!(deployment.delivered().len(), committed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_up_gets_every_event_on_the_schedule_s_ticks() {
    // Down: every attempt is answered 503.
    let deployment = deployment(503).await;
    deployment.register().await;
    let accounts = ["alice", "bob", "carol"];
    for account in accounts {
        deployment.open(account).await;
    }
    for account in accounts {
        deployment.cross_below_and_recover(account, "round-0").await;
    }
    let records = deployment.new_records().await;
    deployment.hand_over(&records).await;
    assert!(deployment.delivered().is_empty());
    assert_eq!(
        *deployment.receiver.refused.lock().unwrap(),
        3,
        "each account's oldest event was attempted, once"
    );

    // Still down for a few ticks; events committed meanwhile queue behind.
    let tick = json!({"deliver_due": true});
    for _ in 0..3 {
        deployment.clock.advance(TimeDelta::minutes(2));
        let report = deployment.invoke(tick.clone()).await;
        assert_eq!(report["retried"], 3, "{report}");
    }
    for account in accounts {
        deployment.cross_below_and_recover(account, "round-1").await;
    }
    deployment.close("bob").await;
    let records = deployment.new_records().await;
    assert_eq!(records.len(), 5, "three crossings and bob's closing events");
    deployment.hand_over(&records).await;
    assert!(deployment.delivered().is_empty());

    // Up again: the next tick after the retries' time delivers everything, in order.
    *deployment.receiver.status.lock().unwrap() = 200;
    let committed = deployment.committed(&accounts).await;
    assert_eq!(committed.len(), 11);
    deployment.clock.advance(TimeDelta::minutes(10));
    let report = deployment.invoke(tick.clone()).await;
    assert_eq!(report["delivered"], 11, "{report}");
    assert_every_event_once_in_order(&deployment.delivered(), &committed);
    // Nothing is left to deliver.
    deployment.clock.advance(TimeDelta::hours(2));
    assert_eq!(deployment.invoke(tick).await["attempted"], 0);
}
