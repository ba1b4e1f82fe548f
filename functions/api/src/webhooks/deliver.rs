//! The delivery engine `credits serve` runs beside the API: it tails the store's event feed
//! into the [`WebhookStore`]'s queue and POSTs each due delivery to its endpoint, signed.
//!
//! - **Off the request path.** It is a task of its own: a charge never waits for it, and a
//!   slow or dead receiver only holds this task's attempts (each bounded by a timeout).
//! - **At least once.** A delivery's row goes only after a 2xx; a crash mid-attempt leaves it
//!   leased, due again when the lease ends. Receivers de-duplicate by the event id.
//! - **In order per account per endpoint.** The queue makes only each account's oldest
//!   undelivered event due for an endpoint; the next one becomes due when it is delivered.
//! - **Bounded.** At most [`DeliveryConfig::concurrency`] attempts in flight, a feed page
//!   and a claim at a time in memory, each body at most the store's event size.
//! - **Time is injected**: [`Clock`] for now, [`Pause`] for waiting, [`Jitter`] for the
//!   retry jitter, so tests run days of backoff in milliseconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use credits_store::Store;
use credits_store::webhooks::{AttemptResult, DeliveryRecord, EndpointRecord, WebhookStore};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::schedule::{RetryPolicy, next_attempt};
use super::signing::{EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header};
use crate::Clock;

/// The longest error text kept for a failed attempt, in bytes.
const MAX_ERROR_BYTES: usize = 300;

/// One POST to make.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    /// `(name, value)`; the body is JSON.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// How requests leave the process (`reqwest` in `credits serve`; anything in tests).
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// The receiver's HTTP status, or why no answer came (refused, timed out...).
    async fn post(&self, request: Outgoing) -> Result<u16, String>;
}

/// Waiting between two rounds.
#[async_trait::async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, duration: Duration);
}

/// `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

#[async_trait::async_trait]
impl Pause for TokioPause {
    async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The jitter of the next retry, 0..=1000 (see `schedule`).
pub trait Jitter: Send + Sync {
    fn permille(&self) -> u16;
}

/// Uniform random jitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn permille(&self) -> u16 {
        rand::random_range(0..=super::schedule::MAX_JITTER_PERMILLE)
    }
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Longest wait for a receiver's answer.
    pub timeout: Duration,
    /// Wait between two rounds when there is nothing to do.
    pub poll: Duration,
    /// Events read from the feed per page.
    pub feed_page: u32,
    /// Feed pages read per round, so a backlog does not starve the attempts.
    pub feed_pages_per_round: u32,
    pub retry: RetryPolicy,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            feed_page: 256,
            feed_pages_per_round: 4,
            retry: RetryPolicy::default(),
        }
    }
}

/// The engine. Build once, then [`Deliverer::run`] it in a task.
pub struct Deliverer {
    feed: Arc<dyn Store>,
    webhooks: Arc<dyn WebhookStore>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    pause: Arc<dyn Pause>,
    jitter: Arc<dyn Jitter>,
    config: DeliveryConfig,
    /// Set once the store said it has no event feed (logged once, not every round).
    feed_missing: AtomicBool,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// An engine over `feed` (the event source) and `webhooks` (the queue), with the
    /// machine's pause and random jitter.
    pub fn new(
        feed: Arc<dyn Store>,
        webhooks: Arc<dyn WebhookStore>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
    ) -> Self {
        Self {
            feed,
            webhooks,
            transport,
            clock,
            pause: Arc::new(TokioPause),
            jitter: Arc::new(RandomJitter),
            config,
            feed_missing: AtomicBool::new(false),
        }
    }

    #[must_use]
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.pause = pause;
        self
    }

    #[must_use]
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// Reads one page of the feed after the stored cursor and queues it; answers how many
    /// events the page held (0: the feed is caught up).
    ///
    /// # Errors
    /// The store's failure (the page is read again next round).
    pub async fn pull_feed(&self) -> Result<usize, credits_store::StoreError> {
        let cursor = self.webhooks.delivery_cursor().await?;
        let page = self.feed.event_feed(cursor, self.config.feed_page).await?;
        if page.events.is_empty() {
            return Ok(0);
        }
        let read = page.events.len();
        let queued = self
            .webhooks
            .enqueue(cursor, &page.events, page.next, self.clock.now())
            .await?;
        if queued.is_none() {
            tracing::info!("the webhook cursor moved under this process; reading it again");
        }
        Ok(read)
    }

    /// Delivers until `stopped` turns true. Attempts in flight at shutdown are dropped;
    /// their leases end and they are attempted again at the next start.
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        tracing::info!(
            concurrency = self.config.concurrency,
            timeout_ms = self.config.timeout.as_millis(),
            "webhook delivery started"
        );
        loop {
            if *stopped.borrow() {
                break;
            }
            if self.round(&mut in_flight).await {
                // A backlog in the feed: read on without waiting for a poll.
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = stopped.changed() => break,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = self.pause.pause(self.config.poll) => {}
            }
        }
        in_flight.abort_all();
        tracing::info!("webhook delivery stopped");
    }

    /// One round: catch up with the feed, then start the due attempts there is room for.
    /// Answers whether the feed has more to read than a round reads.
    async fn round(self: &Arc<Self>, in_flight: &mut JoinSet<()>) -> bool {
        while in_flight.try_join_next().is_some() {}
        let full_page = usize::try_from(self.config.feed_page).unwrap_or(usize::MAX);
        let mut backlog = false;
        for _ in 0..self.config.feed_pages_per_round {
            if self.feed_missing.load(Ordering::Relaxed) {
                break;
            }
            match self.pull_feed().await {
                Ok(read) => {
                    backlog = read >= full_page;
                    if !backlog {
                        break;
                    }
                }
                Err(credits_store::StoreError::Invalid(message)) => {
                    // A store without a feed never grows one: say so once, and keep
                    // delivering what is queued.
                    tracing::warn!(%message, "this store has no event feed; no new events are queued for webhooks");
                    self.feed_missing.store(true, Ordering::Relaxed);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the event feed failed; trying again");
                    break;
                }
            }
        }
        let room = self.config.concurrency.saturating_sub(in_flight.len());
        if room == 0 {
            return backlog;
        }
        let now = self.clock.now();
        let lease = TimeDelta::from_std(self.config.timeout)
            .unwrap_or(TimeDelta::MAX)
            .checked_add(&TimeDelta::seconds(30))
            .unwrap_or(TimeDelta::MAX);
        let lease_until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = match self
            .webhooks
            .claim_due(now, lease_until, u32::try_from(room).unwrap_or(u32::MAX))
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming webhook deliveries failed; trying again");
                return backlog;
            }
        };
        if claimed.is_empty() {
            return backlog;
        }
        let endpoints: HashMap<String, EndpointRecord> = match self.webhooks.endpoints().await {
            Ok(endpoints) => endpoints.into_iter().map(|e| (e.id.clone(), e)).collect(),
            Err(error) => {
                tracing::warn!(%error, "reading webhook endpoints failed; trying again");
                return backlog;
            }
        };
        for delivery in claimed {
            // A deleted endpoint's rows went with it; a claim racing the deletion is dropped.
            let Some(endpoint) = endpoints.get(&delivery.endpoint).cloned() else {
                continue;
            };
            let engine = Arc::clone(self);
            in_flight.spawn(async move { engine.attempt(&endpoint, delivery).await });
        }
        backlog
    }

    /// One attempt, recorded.
    async fn attempt(&self, endpoint: &EndpointRecord, delivery: DeliveryRecord) {
        let started = self.clock.now();
        let body = payload(&delivery);
        let request = Outgoing {
            url: endpoint.url.clone(),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("user-agent", "credits-webhooks/1".to_owned()),
                (EVENT_ID_HEADER, delivery.event.id.clone()),
                (EVENT_TYPE_HEADER, delivery.event.event_type.clone()),
                (
                    SIGNATURE_HEADER,
                    signature_header(&endpoint.secret, started.timestamp(), &body),
                ),
            ],
            body,
            timeout: self.config.timeout,
        };
        let answer = self.transport.post(request).await;
        let finished = self.clock.now();
        let result = self.judge(&delivery, answer, started, finished);
        match &result {
            AttemptResult::Delivered => tracing::debug!(
                webhook = %endpoint.id, event = %delivery.event.id, "webhook delivered"
            ),
            AttemptResult::Retry { at, error, .. } => tracing::info!(
                webhook = %endpoint.id, event = %delivery.event.id, %error, next = %at,
                "webhook delivery failed; will retry"
            ),
            AttemptResult::GiveUp { error, .. } => tracing::warn!(
                webhook = %endpoint.id, event = %delivery.event.id, %error,
                "webhook delivery failed for 3 days; given up (listed, re-deliverable)"
            ),
        }
        if let Err(error) = self
            .webhooks
            .record_attempt(&delivery, started, result)
            .await
        {
            // The lease ends and the delivery is attempted again: at least once.
            tracing::warn!(%error, "recording a webhook attempt failed");
        }
    }

    /// What an answer means for the delivery.
    fn judge(
        &self,
        delivery: &DeliveryRecord,
        answer: Result<u16, String>,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
    ) -> AttemptResult {
        let (status, error) = match answer {
            Ok(status) if (200..300).contains(&status) => return AttemptResult::Delivered,
            Ok(status) => (Some(status), format!("the receiver answered {status}")),
            Err(error) => (None, truncate(error)),
        };
        let attempts = delivery.attempts.saturating_add(1);
        let first = delivery.first_attempt_at.unwrap_or(started);
        match next_attempt(
            &self.config.retry,
            attempts,
            first,
            finished,
            self.jitter.permille(),
        ) {
            Some(at) => AttemptResult::Retry { at, status, error },
            None => AttemptResult::GiveUp { status, error },
        }
    }
}

/// The JSON a receiver gets: the event's body with its `id`, `type`, `account` and `seq`
/// set, and `at` where the body has none (a body that is not an object goes under `data`).
#[must_use]
pub fn payload(delivery: &DeliveryRecord) -> Vec<u8> {
    let event = &delivery.event;
    let mut object = match &event.body {
        serde_json::Value::Object(fields) => fields.clone(),
        other => {
            let mut fields = serde_json::Map::new();
            fields.insert("data".to_owned(), other.clone());
            fields
        }
    };
    // The ledger's body carries its own `at`, stamped at full precision; the store's column
    // keeps microseconds, so it only fills in an `at` the body lacks: a receiver gets the
    // same text `GET /v1/accounts/{account}/events` answers.
    let at = object.get("at").cloned().unwrap_or_else(|| json!(event.at));
    let envelope = json!({
        "id": event.id,
        "type": event.event_type,
        "account": event.account,
        "seq": event.seq,
        "at": at,
    });
    if let serde_json::Value::Object(fields) = envelope {
        object.extend(fields);
    }
    serde_json::to_vec(&object).unwrap_or_default()
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use credits_store::EventRecord;
    use credits_store::webhooks::DeliveryState;

    fn delivery(body: serde_json::Value) -> DeliveryRecord {
        DeliveryRecord {
            endpoint: "wh_1".to_owned(),
            position: 4,
            event: EventRecord {
                account: "acme".to_owned(),
                seq: 2,
                id: "evt_2".to_owned(),
                event_type: "balance.low".to_owned(),
                at: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
                body,
            },
            state: DeliveryState::Due,
            attempts: 0,
            first_attempt_at: None,
            next_attempt_at: None,
            last_status: None,
            last_error: None,
        }
    }

    #[test]
    fn the_payload_is_the_body_with_the_event_s_id_type_account_seq_and_time() {
        let cases = [
            (
                json!({"available": "150.00", "id": "stale"}),
                json!({"available": "150.00", "id": "evt_2", "type": "balance.low", "account": "acme", "seq": 2, "at": "2026-01-01T00:00:00Z"}),
            ),
            (
                json!([1, 2]),
                json!({"data": [1, 2], "id": "evt_2", "type": "balance.low", "account": "acme", "seq": 2, "at": "2026-01-01T00:00:00Z"}),
            ),
        ];
        for (body, expected) in cases {
            let sent: serde_json::Value =
                serde_json::from_slice(&payload(&delivery(body))).unwrap_or_default();
            assert_eq!(sent, expected);
        }
    }
}
