//! The handler, called directly: stream batches queued over a stream-fed queue double (the
//! SQLite store's queue, fed by `enqueue_events` as the webhooks table is) and delivered by
//! the real engine and HTTP transport to a receiver on loopback that verifies every
//! signature; the schedule's tick; refused inputs.
//!
//! `cargo test -p credits-webhook-sender --test handler`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use credits_api::webhooks::deliver::{Deliverer, DeliveryConfig, Jitter};
use credits_api::webhooks::http::HttpTransport;
use credits_api::webhooks::signing::verify;
use credits_api::{Clock, FixedClock};
use credits_store::sqlite::SqliteStore;
use credits_store::webhooks::{
    AttemptResult, DeliveryPage, DeliveryRecord, EndpointRecord, Redeliver, WebhookStore,
};
use credits_store::{EventRecord, FedEvent, StoreError, StoreResult};
use credits_webhook_sender::{InputError, MAX_EVENTS_PER_ENQUEUE, Metrics, Sender, handle};
use serde_json::{Value as Json, json};

// ---------------------------------------------------------------------------------------
// The queue double: the SQLite store's queue, fed as a store without a feed is.

#[derive(Default)]
struct Fed {
    /// The last seq queued per account.
    last_seq: HashMap<String, u64>,
    /// The feed position the next event gets.
    next_position: u64,
    /// Deliveries queued so far, over every call.
    queued: u64,
}

/// `enqueue_events` as the contract says: each account's events come in seq order, maybe
/// again, and one not above the last queued of its account is skipped. A call holding
/// `fail_with` fails (nothing queued) while `failures_left` > 0.
struct StreamQueue {
    inner: SqliteStore,
    fed: Mutex<Fed>,
    fail_with: Mutex<Option<String>>,
    failures_left: Mutex<u32>,
}

impl StreamQueue {
    fn new() -> Arc<StreamQueue> {
        Arc::new(StreamQueue {
            inner: SqliteStore::in_memory().unwrap(),
            fed: Mutex::new(Fed {
                next_position: 1,
                ..Fed::default()
            }),
            fail_with: Mutex::new(None),
            failures_left: Mutex::new(0),
        })
    }

    fn queued(&self) -> u64 {
        self.fed.lock().unwrap().queued
    }
}

#[async_trait::async_trait]
impl WebhookStore for StreamQueue {
    async fn put_endpoint(&self, endpoint: &EndpointRecord) -> StoreResult<bool> {
        self.inner.put_endpoint(endpoint).await
    }
    async fn endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        self.inner.endpoints().await
    }
    async fn endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        self.inner.endpoint(id).await
    }
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_endpoint(id).await
    }
    async fn delivery_cursor(&self) -> StoreResult<u64> {
        self.inner.delivery_cursor().await
    }
    async fn enqueue(
        &self,
        expected_cursor: u64,
        events: &[FedEvent],
        next: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        self.inner.enqueue(expected_cursor, events, next, now).await
    }
    async fn enqueue_events(&self, events: &[EventRecord], now: DateTime<Utc>) -> StoreResult<u64> {
        {
            let fail_with = self.fail_with.lock().unwrap();
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0
                && fail_with
                    .as_ref()
                    .is_some_and(|id| events.iter().any(|event| event.id == *id))
            {
                *left -= 1;
                return Err(StoreError::Unavailable("throttled".to_owned()));
            }
        }
        let (fresh, next) = {
            let mut fed = self.fed.lock().unwrap();
            let mut fresh = Vec::new();
            for event in events {
                let last = fed.last_seq.get(&event.account).copied().unwrap_or(0);
                if event.seq <= last {
                    continue;
                }
                assert_eq!(event.seq, last + 1, "an account's events come in seq order");
                fed.last_seq.insert(event.account.clone(), event.seq);
                let position = fed.next_position;
                fed.next_position += 1;
                fresh.push(FedEvent {
                    position,
                    event: event.clone(),
                });
            }
            (fresh, fed.next_position - 1)
        };
        if fresh.is_empty() {
            return Ok(0);
        }
        let cursor = self.inner.delivery_cursor().await?;
        let queued = self
            .inner
            .enqueue(cursor, &fresh, next, now)
            .await?
            .expect("one writer");
        self.fed.lock().unwrap().queued += queued;
        Ok(queued)
    }
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.inner.claim_due(now, lease_until, limit).await
    }
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> StoreResult<()> {
        self.inner
            .record_attempt(delivery, attempted_at, result)
            .await
    }
    async fn failed_deliveries(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<DeliveryPage> {
        self.inner.failed_deliveries(endpoint, after, limit).await
    }
    async fn redeliver(
        &self,
        endpoint: &str,
        which: Redeliver,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner.redeliver(endpoint, which, now).await
    }
}

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
    /// The status it answers to a signed request.
    status: Mutex<u16>,
    secret: String,
    clock: Arc<FixedClock>,
    /// Every request answered 2xx, in arrival order.
    delivered: Mutex<Vec<Received>>,
    /// Requests whose signature did not verify.
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
    if verify(
        &state.secret,
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
    if status.is_success() {
        let body: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], json!(header("credits-event-id")));
        state.delivered.lock().unwrap().push(Received {
            id: header("credits-event-id"),
            account: body["account"].as_str().unwrap().to_owned(),
            seq: body["seq"].as_u64().unwrap(),
            body,
        });
    }
    status
}

// ---------------------------------------------------------------------------------------
// The function's dependencies, with injected time.

const SECRET: &str = "whsec_handler_test";

struct FullJitter;

impl Jitter for FullJitter {
    fn permille(&self) -> u16 {
        1000
    }
}

struct Deployment {
    queue: Arc<StreamQueue>,
    receiver: Arc<Receiver>,
    clock: Arc<FixedClock>,
    sender: Sender,
    metric_lines: Arc<Mutex<Vec<Json>>>,
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn deployment() -> Deployment {
    let clock = Arc::new(FixedClock::new(start()));
    let receiver = Arc::new(Receiver {
        status: Mutex::new(204),
        secret: SECRET.to_owned(),
        clock: clock.clone(),
        delivered: Mutex::new(Vec::new()),
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
    let queue = StreamQueue::new();
    assert!(
        queue
            .put_endpoint(&EndpointRecord {
                id: "wh_1".to_owned(),
                url: format!("http://{address}/hook"),
                event_types: vec!["*".to_owned()],
                secret: SECRET.to_owned(),
                created_at: start(),
            })
            .await
            .unwrap()
    );
    let config = DeliveryConfig {
        concurrency: 4,
        timeout: Duration::from_secs(5),
        ..DeliveryConfig::default()
    };
    let deliverer = Deliverer::without_feed(
        queue.clone(),
        Arc::new(HttpTransport::new().unwrap()),
        clock.clone(),
        config,
    )
    .with_jitter(Arc::new(FullJitter));
    let metric_lines = Arc::new(Mutex::new(Vec::new()));
    let lines = metric_lines.clone();
    let sender = Sender {
        webhooks: queue.clone(),
        deliverer,
        clock: clock.clone(),
        metrics: Metrics {
            service: "credits-test".to_owned(),
            emit: Arc::new(move |line: &str| {
                lines
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(line).unwrap());
            }),
        },
    };
    Deployment {
        queue,
        receiver,
        clock,
        sender,
        metric_lines,
    }
}

impl Deployment {
    /// The function's answer to `input`, an invocation with an hour left.
    async fn invoke(&self, input: Json) -> Result<Json, InputError> {
        handle(input, &self.sender, self.clock.now() + TimeDelta::hours(1)).await
    }

    fn delivered(&self) -> Vec<Received> {
        self.receiver.delivered.lock().unwrap().clone()
    }

    /// The metric `name` of the last line written.
    fn last_metric(&self, name: &str) -> u64 {
        let lines = self.metric_lines.lock().unwrap();
        let line = lines.last().expect("a metrics line");
        assert_eq!(line["service"], "credits-test");
        line[name].as_u64().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Stream records as Lambda hands them over.

/// An insert of `account`'s event `seq`, the `sequence_number`th record of the stream.
fn event_insert(account: &str, seq: u64, sequence_number: u64) -> Json {
    json!({
        "eventID": format!("e{sequence_number}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {
                "pk": {"S": format!("A#{account}")},
                "sk": {"S": format!("V#{seq:020}")}
            },
            "NewImage": {
                "pk": {"S": format!("A#{account}")},
                "sk": {"S": format!("V#{seq:020}")},
                "account": {"S": account},
                "seq": {"N": seq.to_string()},
                "id": {"S": event_id(account, seq)},
                "event_type": {"S": "balance.low"},
                "at": {"S": "2026-03-01T10:00:00.123456Z"},
                "body": {"S": format!("{{\"v\":1,\"available_minor\":{seq}}}")}
            },
            "SequenceNumber": format!("{sequence_number:021}"),
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

fn event_id(account: &str, seq: u64) -> String {
    format!("evt_{account}_{seq}")
}

/// A change the mapping's filter drops (an account snapshot's update); the handler skips it.
fn snapshot_update(account: &str, sequence_number: u64) -> Json {
    json!({
        "eventID": format!("e{sequence_number}"),
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"pk": {"S": format!("A#{account}")}, "sk": {"S": "S"}},
            "SequenceNumber": format!("{sequence_number:021}")
        }
    })
}

/// `per_account` events of each of `accounts`, interleaved as commits come.
fn interleaved(accounts: &[&str], per_account: u64) -> Vec<Json> {
    let mut records = Vec::new();
    for seq in 1..=per_account {
        for account in accounts {
            let number = u64::try_from(records.len()).unwrap() + 1;
            records.push(event_insert(account, seq, number));
        }
    }
    records
}

fn batch(records: &[Json]) -> Json {
    json!({ "Records": records })
}

fn failures(answer: &Json) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn sequence_number(record: &Json) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Per account, the seqs in arrival order.
fn by_account(delivered: &[Received]) -> BTreeMap<String, Vec<u64>> {
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for received in delivered {
        order
            .entry(received.account.clone())
            .or_default()
            .push(received.seq);
    }
    order
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_batch_of_several_accounts_is_queued_and_delivered_signed_and_in_order() {
    let deployment = deployment().await;
    let accounts = ["alice", "bob", "carol"];
    let mut records = interleaved(&accounts, 4);
    records.insert(3, snapshot_update("alice", 100));

    let answer = deployment.invoke(batch(&records)).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));

    let delivered = deployment.delivered();
    assert_eq!(*deployment.receiver.unverified.lock().unwrap(), 0);
    assert_eq!(delivered.len(), 12, "every event, once, at once");
    let expected: BTreeMap<String, Vec<u64>> = accounts
        .iter()
        .map(|account| ((*account).to_owned(), vec![1, 2, 3, 4]))
        .collect();
    assert_eq!(
        by_account(&delivered),
        expected,
        "each account's in seq order"
    );
    let ids: HashSet<&str> = delivered.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 12);
    // The receiver gets the stored event: its id, type, account, seq, time and body.
    let first = delivered.iter().find(|r| r.id == "evt_bob_2").unwrap();
    assert_eq!(
        first.body,
        json!({
            "id": "evt_bob_2", "type": "balance.low", "account": "bob", "seq": 2,
            "at": "2026-03-01T10:00:00.123456Z", "v": 1, "available_minor": 2
        })
    );
    assert_eq!(deployment.last_metric("WebhooksDelivered"), 12);
    assert_eq!(deployment.last_metric("WebhookAttemptsFailed"), 0);
    assert_eq!(deployment.last_metric("WebhooksGivenUp"), 0);
}

#[tokio::test]
async fn a_replayed_batch_queues_nothing_twice() {
    let deployment = deployment().await;
    let records = interleaved(&["alice", "bob"], 3);
    // Lambda hands a batch over again (a retry after a timeout), then an overlapping one.
    for input in [&records[..], &records[..], &records[2..]] {
        let answer = deployment.invoke(batch(input)).await.unwrap();
        assert!(failures(&answer).is_empty());
    }
    assert_eq!(deployment.queue.queued(), 6);
    let delivered = deployment.delivered();
    assert_eq!(delivered.len(), 6, "{delivered:?}");
    assert_eq!(
        by_account(&delivered),
        BTreeMap::from([
            ("alice".to_owned(), vec![1, 2, 3]),
            ("bob".to_owned(), vec![1, 2, 3]),
        ])
    );
}

#[tokio::test]
async fn a_failed_enqueue_reports_its_records_and_every_later_one_and_the_retry_delivers_them() {
    let deployment = deployment().await;
    // Two calls' worth: the second call fails once.
    let accounts: Vec<String> = (1..=10).map(|n| format!("a{n:02}")).collect();
    let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let records = interleaved(&names, 3);
    assert!(records.len() > MAX_EVENTS_PER_ENQUEUE);
    let second_call_event = records[MAX_EVENTS_PER_ENQUEUE + 1]["dynamodb"]["NewImage"]["id"]["S"]
        .as_str()
        .unwrap()
        .to_owned();
    *deployment.queue.fail_with.lock().unwrap() = Some(second_call_event);
    *deployment.queue.failures_left.lock().unwrap() = 1;

    let answer = deployment.invoke(batch(&records)).await.unwrap();
    let expected: Vec<String> = records[MAX_EVENTS_PER_ENQUEUE..]
        .iter()
        .map(sequence_number)
        .collect();
    assert_eq!(
        failures(&answer),
        expected,
        "from the failed call's first record on"
    );
    // What was queued before the failure is delivered meanwhile, in order.
    assert_eq!(deployment.delivered().len(), MAX_EVENTS_PER_ENQUEUE);

    // Lambda hands over the reported records again.
    let retry = &records[MAX_EVENTS_PER_ENQUEUE..];
    let answer = deployment.invoke(batch(retry)).await.unwrap();
    assert!(failures(&answer).is_empty());
    let delivered = deployment.delivered();
    assert_eq!(delivered.len(), 30);
    for account in &accounts {
        assert_eq!(by_account(&delivered)[account], [1, 2, 3], "{account}");
    }
}

#[tokio::test]
async fn a_malformed_record_is_reported_with_every_later_one_after_the_earlier_are_queued() {
    let deployment = deployment().await;
    let mut records = interleaved(&["alice", "bob"], 2);
    let mut malformed = event_insert("carol", 1, 99);
    malformed["dynamodb"]["NewImage"]["at"] = json!({"S": "yesterday"});
    records.insert(2, malformed);
    let answer = deployment.invoke(batch(&records)).await.unwrap();
    let expected: Vec<String> = records[2..].iter().map(sequence_number).collect();
    assert_eq!(failures(&answer), expected);
    assert_eq!(
        by_account(&deployment.delivered()),
        BTreeMap::from([("alice".to_owned(), vec![1]), ("bob".to_owned(), vec![1])])
    );
}

#[tokio::test]
async fn the_schedule_s_tick_retries_what_is_due() {
    let deployment = deployment().await;
    *deployment.receiver.status.lock().unwrap() = 503;
    let records = interleaved(&["alice", "bob"], 2);
    let answer = deployment.invoke(batch(&records)).await.unwrap();
    assert!(failures(&answer).is_empty(), "queued: the stream moves on");
    assert!(deployment.delivered().is_empty());
    assert_eq!(deployment.last_metric("WebhookAttemptsFailed"), 2);

    // A tick before the retry time: nothing is due.
    let tick = json!({"deliver_due": true});
    let report = deployment.invoke(tick.clone()).await.unwrap();
    assert_eq!(report["attempted"], 0);

    // The receiver back, a tick a minute later: everything arrives, in order.
    *deployment.receiver.status.lock().unwrap() = 200;
    deployment.clock.advance(TimeDelta::minutes(1));
    let report = deployment.invoke(tick).await.unwrap();
    assert_eq!(
        report,
        json!({"attempted": 4, "delivered": 4, "retried": 0, "given_up": 0, "store_failures": 0})
    );
    assert_eq!(deployment.last_metric("WebhooksDelivered"), 4);
    assert_eq!(
        by_account(&deployment.delivered()),
        BTreeMap::from([
            ("alice".to_owned(), vec![1, 2]),
            ("bob".to_owned(), vec![1, 2]),
        ])
    );
}

#[tokio::test]
async fn malformed_input_is_refused_with_what_was_expected() {
    let deployment = deployment().await;
    for input in [
        json!({"deliver_due": "yes"}),
        json!({"source": "aws.events"}),
        json!([]),
    ] {
        let error = deployment.invoke(input.clone()).await.unwrap_err();
        assert_eq!(error, InputError::Unexpected(input.to_string()));
    }
    let error = deployment
        .invoke(json!({"Records": [{"eventName": 7}]}))
        .await
        .unwrap_err();
    assert!(matches!(error, InputError::Stream(_)), "{error:?}");
    assert!(
        deployment.metric_lines.lock().unwrap().is_empty(),
        "nothing ran"
    );
}

#[tokio::test]
async fn a_batch_without_time_left_to_deliver_is_queued_for_the_next_tick() {
    let deployment = deployment().await;
    let records = interleaved(&["alice", "bob"], 2);
    // Less than the webhook timeout (5 s) and the drain's margin left.
    let until = deployment.clock.now() + TimeDelta::seconds(6);
    let answer = handle(batch(&records), &deployment.sender, until)
        .await
        .unwrap();
    assert!(failures(&answer).is_empty());
    assert_eq!(deployment.queue.queued(), 4);
    assert!(
        deployment.delivered().is_empty(),
        "no attempt could finish in time"
    );
    assert_eq!(deployment.last_metric("WebhooksDelivered"), 0);

    let report = deployment
        .invoke(json!({"deliver_due": true}))
        .await
        .unwrap();
    assert_eq!(report["delivered"], 4);
    assert_eq!(
        by_account(&deployment.delivered()),
        BTreeMap::from([
            ("alice".to_owned(), vec![1, 2]),
            ("bob".to_owned(), vec![1, 2]),
        ])
    );
}
