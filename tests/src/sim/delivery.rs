//! The delivery check at the end of a run: the real webhook engine
//! ([`credits_api::webhooks::deliver::Deliverer`]) drains the store's event feed to an
//! endpoint registered (for every event type) before the run, through a [`RecordingTransport`]
//! that verifies each request's signature and fails a seeded fraction of the attempts, so
//! retries are exercised; time is injected, so backoff costs no waiting. Then:
//!
//! - every event the store holds for an account (`account_events`) was delivered, and
//!   nothing else was: the delivered ids are exactly the stored ones;
//! - each id was answered 2xx at least once; a repeated attempt is a retry of the same id;
//! - per account, events were attempted in `seq` order: the next one only after the one
//!   before it was delivered;
//! - each request is signed with the endpoint's secret, names its event in its headers, and
//!   its body is the stored body with the event's `id`, `type`, `account`, `seq` and `at`;
//! - nothing is left failed or failing in the endpoint's queue.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use chrono::{DateTime, TimeDelta, Utc};
use credits_api::webhooks::deliver::{
    Deliverer, DeliveryConfig, Jitter, Outgoing, Pause, Transport,
};
use credits_api::webhooks::schedule::RetryPolicy;
use credits_api::webhooks::signing::{
    EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, verify,
};
use credits_api::{Clock, FixedClock};
use credits_store::webhooks::{EndpointRecord, WebhookStore};
use credits_store::{EventRecord, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::watch;

/// The endpoint the run registers.
const ENDPOINT_ID: &str = "wh_0000000000051e00";
const ENDPOINT_URL: &str = "https://receiver.sim.invalid/credits";
const ENDPOINT_SECRET: &str = "whsec_simulation_delivery_check";
/// One attempt in this many fails (the receiver answers 503 or no answer comes)...
const FAIL_ONE_IN: u32 = 5;
/// ...at most this many times per event, so every event is delivered long before the
/// engine would give up.
const MAX_FAILURES_PER_EVENT: u32 = 2;
/// How far the engine's clock moves at each of its pauses (more than a first retry's delay).
const PAUSE_STEP_S: i64 = 30;
/// How often the check looks whether the engine is done, and how many times at most.
const WATCH_EVERY: StdDuration = StdDuration::from_millis(2);
const MAX_WATCHES: u32 = 60_000;

/// What the delivery check saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Events delivered (distinct ids answered 2xx).
    pub delivered: usize,
    /// Attempts made, failed ones included.
    pub attempts: u64,
    /// Attempts the receiver failed on purpose (each retried).
    pub failed: u64,
    /// 2xx answers for an id already delivered (at-least-once redeliveries).
    pub duplicates: u64,
}

/// Registers the endpoint every event type goes to; call before the run.
///
/// # Errors
/// The store's refusal, in words.
pub async fn register(webhooks: &dyn WebhookStore, now: DateTime<Utc>) -> Result<(), String> {
    let endpoint = EndpointRecord {
        id: ENDPOINT_ID.to_owned(),
        url: ENDPOINT_URL.to_owned(),
        event_types: vec!["*".to_owned()],
        secret: ENDPOINT_SECRET.to_owned(),
        created_at: now,
    };
    match webhooks.put_endpoint(&endpoint).await {
        Ok(true) => Ok(()),
        Ok(false) => Err("no room for the simulation's webhook endpoint".to_owned()),
        Err(error) => Err(format!("registering the webhook endpoint: {error}")),
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    event_type: String,
    body: Vec<u8>,
    /// The signature did not verify: why.
    bad_signature: Option<String>,
    answered_ok: bool,
}

/// An in-process receiver: records every request, verifies its signature at the engine's
/// clock, and fails a seeded fraction of the attempts.
struct RecordingTransport {
    clock: Arc<FixedClock>,
    rng: Mutex<StdRng>,
    /// Failures so far, per event id.
    failures: Mutex<BTreeMap<String, u32>>,
    received: Mutex<Vec<Received>>,
}

impl RecordingTransport {
    fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn delivered_ids(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|received| received.answered_ok)
            .map(|received| received.event_id.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

fn header(request: &Outgoing, name: &str) -> String {
    request
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Transport for RecordingTransport {
    async fn post(&self, request: Outgoing) -> Result<u16, String> {
        let event_id = header(&request, EVENT_ID_HEADER);
        let signature = header(&request, SIGNATURE_HEADER);
        let bad_signature = verify(
            ENDPOINT_SECRET,
            &signature,
            &request.body,
            self.clock.now().timestamp(),
        )
        .err()
        .map(|error| error.to_string());
        let (fail, lose) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            (rng.random_ratio(1, FAIL_ONE_IN), rng.random_bool(0.5))
        };
        let fail = fail && {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            let count = failures.entry(event_id.clone()).or_default();
            *count += 1;
            *count <= MAX_FAILURES_PER_EVENT
        };
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Received {
                event_id,
                event_type: header(&request, EVENT_TYPE_HEADER),
                body: request.body,
                bad_signature,
                answered_ok: !fail,
            });
        match (fail, lose) {
            (false, _) => Ok(204),
            (true, false) => Ok(503),
            (true, true) => Err("connection reset by the simulated receiver".to_owned()),
        }
    }
}

/// Each pause moves the engine's clock on (so a retry's backoff passes at once) and yields
/// the thread briefly (so the attempts in flight and the check's watch run).
struct AdvancingPause(Arc<FixedClock>);

#[async_trait::async_trait]
impl Pause for AdvancingPause {
    async fn pause(&self, _duration: StdDuration) {
        self.0.advance(TimeDelta::seconds(PAUSE_STEP_S));
        tokio::time::sleep(StdDuration::from_millis(1)).await;
    }
}

struct SeededJitter(Mutex<StdRng>);

impl Jitter for SeededJitter {
    fn permille(&self) -> u16 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0..=1000)
    }
}

/// Drives the engine over `store`'s feed until every event of `accounts` is delivered (or it
/// stops making progress), then checks what the receiver got against the store.
///
/// # Errors
/// The first rule broken, in words.
pub async fn check(
    store: Arc<dyn Store>,
    webhooks: Arc<dyn WebhookStore>,
    accounts: &[&str],
    seed: u64,
    now: DateTime<Utc>,
) -> Result<DeliveryCounts, String> {
    let mut stored: BTreeMap<String, Vec<EventRecord>> = BTreeMap::new();
    for account in accounts {
        let events = super::events::all_events(store.as_ref(), account).await?;
        stored.insert((*account).to_owned(), events);
    }
    let expected: usize = stored.values().map(Vec::len).sum();
    let clock = Arc::new(FixedClock::new(now));
    let transport = Arc::new(RecordingTransport {
        clock: clock.clone(),
        rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0xde11_7e55)),
        failures: Mutex::new(BTreeMap::new()),
        received: Mutex::new(Vec::new()),
    });
    let config = DeliveryConfig {
        poll: StdDuration::from_millis(1),
        // The clock jumps at every pause: a slow host must not make a retry give up.
        retry: RetryPolicy {
            give_up_after_ms: 365 * 24 * 60 * 60 * 1000,
            ..RetryPolicy::default()
        },
        ..DeliveryConfig::default()
    };
    let engine = Deliverer::new(
        store.clone(),
        webhooks.clone(),
        transport.clone(),
        clock.clone(),
        config,
    )
    .with_pause(Arc::new(AdvancingPause(clock.clone())))
    .with_jitter(Arc::new(SeededJitter(Mutex::new(StdRng::seed_from_u64(
        seed ^ 0x0017_7e55,
    )))));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(Arc::new(engine).run(stopped));
    let mut drained = false;
    for _ in 0..MAX_WATCHES {
        tokio::time::sleep(WATCH_EVERY).await;
        if transport.delivered_ids() >= expected && caught_up(store.as_ref(), &*webhooks).await? {
            drained = true;
            break;
        }
    }
    let _ = stop.send(true);
    task.await
        .map_err(|error| format!("the delivery engine's task ended badly: {error}"))?;
    let received = transport.received();
    let counts = judge(&stored, &received)?;
    if !drained {
        return Err(format!(
            "webhook delivery did not drain: {} of {expected} events delivered",
            counts.delivered
        ));
    }
    let stuck = webhooks
        .failed_deliveries(ENDPOINT_ID, None, 10)
        .await
        .map_err(|error| format!("reading failed deliveries: {error}"))?
        .deliveries;
    if let Some(first) = stuck.first() {
        return Err(format!(
            "{} deliveries left failed or failing, the first: {} ({:?}, {:?})",
            stuck.len(),
            first.event.id,
            first.state,
            first.last_error
        ));
    }
    Ok(counts)
}

/// The webhook cursor is at the end of the feed.
async fn caught_up(store: &dyn Store, webhooks: &dyn WebhookStore) -> Result<bool, String> {
    let cursor = webhooks
        .delivery_cursor()
        .await
        .map_err(|error| format!("reading the webhook cursor: {error}"))?;
    let page = store
        .event_feed(cursor, 1)
        .await
        .map_err(|error| format!("reading the event feed: {error}"))?;
    Ok(page.events.is_empty())
}

/// What the receiver got, against what the store holds.
fn judge(
    stored: &BTreeMap<String, Vec<EventRecord>>,
    received: &[Received],
) -> Result<DeliveryCounts, String> {
    let by_id: BTreeMap<&str, &EventRecord> = stored
        .values()
        .flatten()
        .map(|event| (event.id.as_str(), event))
        .collect();
    // Per account: the seq of the last event delivered.
    let mut progress: BTreeMap<&str, u64> = BTreeMap::new();
    let mut delivered: BTreeSet<&str> = BTreeSet::new();
    let mut counts = DeliveryCounts::default();
    for request in received {
        counts.attempts += 1;
        let Some(event) = by_id.get(request.event_id.as_str()) else {
            return Err(format!(
                "a webhook for `{}`, which no account's events hold (invented)",
                request.event_id
            ));
        };
        if let Some(why) = &request.bad_signature {
            return Err(format!(
                "the webhook for `{}` is badly signed: {why}",
                event.id
            ));
        }
        if request.event_type != event.event_type {
            return Err(format!(
                "the webhook for `{}` says type `{}`, the store `{}`",
                event.id, request.event_type, event.event_type
            ));
        }
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|error| format!("the webhook for `{}` is not JSON: {error}", event.id))?;
        let wanted = expected_body(event)?;
        if body != wanted {
            return Err(format!(
                "the webhook for `{}` carries {body}, the store holds {wanted}",
                event.id
            ));
        }
        let last_delivered = progress.entry(event.account.as_str()).or_default();
        let redelivery = delivered.contains(event.id.as_str());
        if redelivery {
            // At least once: the same event again, never one before the last delivered
            // unless it is that one.
            if event.seq != *last_delivered {
                return Err(format!(
                    "`{}` sent again after later events of `{}` were attempted",
                    event.id, event.account
                ));
            }
        } else if event.seq != last_delivered.saturating_add(1) {
            return Err(format!(
                "`{}` (seq {}) attempted while seq {} of `{}` was the next undelivered",
                event.id,
                event.seq,
                last_delivered.saturating_add(1),
                event.account
            ));
        }
        if request.answered_ok {
            if redelivery {
                counts.duplicates += 1;
            } else {
                delivered.insert(event.id.as_str());
                *last_delivered = event.seq;
            }
        } else {
            counts.failed += 1;
        }
    }
    if let Some(missing) = by_id.keys().find(|id| !delivered.contains(*id)) {
        return Err(format!(
            "{} of {} stored events were never delivered, `{missing}` among them",
            by_id.len().saturating_sub(delivered.len()),
            by_id.len()
        ));
    }
    counts.delivered = delivered.len();
    Ok(counts)
}

/// The stored body with the event's envelope (`id`, `type`, `account`, `seq`, `at`) set.
fn expected_body(event: &EventRecord) -> Result<Value, String> {
    let Value::Object(mut fields) = event.body.clone() else {
        return Err(format!(
            "the stored body of `{}` is not an object",
            event.id
        ));
    };
    let at = serde_json::to_value(event.at)
        .map_err(|error| format!("the time of `{}`: {error}", event.id))?;
    fields.insert("id".to_owned(), Value::from(event.id.clone()));
    fields.insert("type".to_owned(), Value::from(event.event_type.clone()));
    fields.insert("account".to_owned(), Value::from(event.account.clone()));
    fields.insert("seq".to_owned(), Value::from(event.seq));
    fields.insert("at".to_owned(), at);
    Ok(Value::Object(fields))
}
