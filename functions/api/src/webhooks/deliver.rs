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
//!
//! Without a feed ([`Deliverer::without_feed`]: the webhook sender on AWS, whose queue is
//! filled from the ledger table's stream), [`Deliverer::deliver_due`] drains what is due
//! once, within a deadline, instead of [`Deliverer::run`]'s endless loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use credits_store::Store;
use credits_store::webhooks::{AttemptResult, DeliveryRecord, EndpointRecord, WebhookStore};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::schedule::{RetryPolicy, next_attempt};
use super::signing::{EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header};
use crate::Clock;

/// The longest error text kept for a failed attempt, in bytes.
const MAX_ERROR_BYTES: usize = 300;

/// What an attempt needs beyond its timeout in [`Deliverer::deliver_due`]: signing, and
/// recording the result in the store.
pub const DRAIN_MARGIN: Duration = Duration::from_secs(2);

/// How long a claim leases a delivery beyond the attempt's timeout: a process that dies
/// mid-attempt leaves it due again when the lease ends.
const LEASE_MARGIN_S: i64 = 30;

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
    /// The event source; `None` when the queue is filled from outside
    /// ([`WebhookStore::enqueue_events`]).
    feed: Option<Arc<dyn Store>>,
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
            feed: Some(feed),
            webhooks,
            transport,
            clock,
            pause: Arc::new(TokioPause),
            jitter: Arc::new(RandomJitter),
            config,
            feed_missing: AtomicBool::new(false),
        }
    }

    /// An engine over a queue filled from outside (a stream's events queued with
    /// [`WebhookStore::enqueue_events`]): it reads no feed, and [`Deliverer::deliver_due`]
    /// drains it.
    pub fn without_feed(
        webhooks: Arc<dyn WebhookStore>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
    ) -> Self {
        Self {
            feed: None,
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
    /// events the page held (0: the feed is caught up, or this engine has no feed).
    ///
    /// # Errors
    /// The store's failure (the page is read again next round).
    pub async fn pull_feed(&self) -> Result<usize, credits_store::StoreError> {
        let Some(feed) = &self.feed else {
            return Ok(0);
        };
        let cursor = self.webhooks.delivery_cursor().await?;
        let page = feed.event_feed(cursor, self.config.feed_page).await?;
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
            if self.feed.is_none() || self.feed_missing.load(Ordering::Relaxed) {
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
        let claimed = match self.claim(room).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming webhook deliveries failed; trying again");
                return backlog;
            }
        };
        for (endpoint, delivery) in claimed {
            let engine = Arc::clone(self);
            in_flight.spawn(async move {
                engine.attempt(&endpoint, delivery).await;
            });
        }
        backlog
    }

    /// Claims up to `room` due deliveries, each with its endpoint. A deleted endpoint's rows
    /// went with it; a claim racing the deletion is dropped.
    async fn claim(
        &self,
        room: usize,
    ) -> Result<Vec<(EndpointRecord, DeliveryRecord)>, credits_store::StoreError> {
        let now = self.clock.now();
        let lease = TimeDelta::from_std(self.config.timeout)
            .unwrap_or(TimeDelta::MAX)
            .checked_add(&TimeDelta::seconds(LEASE_MARGIN_S))
            .unwrap_or(TimeDelta::MAX);
        let lease_until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = self
            .webhooks
            .claim_due(now, lease_until, u32::try_from(room).unwrap_or(u32::MAX))
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let endpoints: HashMap<String, EndpointRecord> = self
            .webhooks
            .endpoints()
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        Ok(claimed
            .into_iter()
            .filter_map(|delivery| {
                let endpoint = endpoints.get(&delivery.endpoint).cloned()?;
                Some((endpoint, delivery))
            })
            .collect())
    }

    /// Claims and attempts the due deliveries once, at most [`DeliveryConfig::concurrency`]
    /// in flight, until nothing is due or too little time is left before `until` for another
    /// attempt (its timeout and [`DRAIN_MARGIN`]): a function with a deadline (the webhook
    /// sender on AWS) calls it per invocation. An attempt delivered makes its account's next
    /// event due at once, so it is claimed in the same drain. Answers what was done; a store
    /// failure is logged and counted, and ends the claiming (what is in flight finishes).
    pub async fn deliver_due(&self, until: DateTime<Utc>) -> DrainReport {
        let mut report = DrainReport::default();
        let mut in_flight = FuturesUnordered::new();
        let concurrency = self.config.concurrency.max(1);
        loop {
            // Claimed at the start, then each time a place frees up: the attempt that ended
            // may have made its account's next event due.
            let room = concurrency.saturating_sub(in_flight.len());
            if report.store_failures == 0 && room > 0 && self.time_for_an_attempt(until) {
                match self.claim(room).await {
                    Ok(claimed) => {
                        for (endpoint, delivery) in claimed {
                            report.attempted = report.attempted.saturating_add(1);
                            in_flight.push(async move { self.attempt(&endpoint, delivery).await });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming webhook deliveries failed");
                        report.store_failures = report.store_failures.saturating_add(1);
                    }
                }
            }
            // Nothing in flight after a claim (nothing due, or no time for it): done.
            let Some(outcome) = in_flight.next().await else {
                break;
            };
            report.count(outcome);
        }
        report
    }

    /// Whether an attempt started now ends (timeout and recording included) before `until`.
    fn time_for_an_attempt(&self, until: DateTime<Utc>) -> bool {
        let needed = TimeDelta::from_std(self.config.timeout.saturating_add(DRAIN_MARGIN))
            .unwrap_or(TimeDelta::MAX);
        self.clock
            .now()
            .checked_add_signed(needed)
            .is_some_and(|end| end <= until)
    }

    /// One attempt, recorded.
    async fn attempt(&self, endpoint: &EndpointRecord, delivery: DeliveryRecord) -> Attempted {
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
        let attempted = match &result {
            AttemptResult::Delivered => Attempted::Delivered,
            AttemptResult::Retry { .. } => Attempted::Retried,
            AttemptResult::GiveUp { .. } => Attempted::GivenUp,
        };
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
            return Attempted::NotRecorded;
        }
        attempted
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

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempted {
    Delivered,
    Retried,
    GivenUp,
    /// The store did not take the result: the lease ends and it is attempted again.
    NotRecorded,
}

/// What one [`Deliverer::deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Attempts made (claimed and sent).
    pub attempted: u64,
    /// Answered 2xx and recorded: gone from the queue.
    pub delivered: u64,
    /// Failed and scheduled again.
    pub retried: u64,
    /// Failed for the last time (3 days after the first attempt): listed, re-deliverable.
    pub given_up: u64,
    /// Store calls that failed (a claim, or recording an attempt, whose delivery is then
    /// attempted again when its lease ends).
    pub store_failures: u64,
}

impl DrainReport {
    /// Attempts that failed (retried or given up).
    #[must_use]
    pub fn attempts_failed(&self) -> u64 {
        self.retried.saturating_add(self.given_up)
    }

    fn count(&mut self, attempted: Attempted) {
        let counter = match attempted {
            Attempted::Delivered => &mut self.delivered,
            Attempted::Retried => &mut self.retried,
            Attempted::GivenUp => &mut self.given_up,
            Attempted::NotRecorded => &mut self.store_failures,
        };
        *counter = counter.saturating_add(1);
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

    // -----------------------------------------------------------------------------------
    // `deliver_due`: the feedless engine's one-shot drain, over the SQLite store's queue.

    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use credits_store::FedEvent;
    use credits_store::sqlite::SqliteStore;

    use crate::FixedClock;
    use crate::webhooks::signing::verify;

    const SECRET: &str = "whsec_test";

    /// Answers each POST with `status` (or refuses the connection when `None`), recording
    /// what it got and how many attempts were in flight at most.
    struct FakeReceiver {
        status: Mutex<Option<u16>>,
        received: Mutex<Vec<serde_json::Value>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        clock: Arc<FixedClock>,
    }

    impl FakeReceiver {
        fn new(status: Option<u16>, clock: Arc<FixedClock>) -> Arc<Self> {
            Arc::new(Self {
                status: Mutex::new(status),
                received: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
                clock,
            })
        }

        fn answer(&self, status: Option<u16>) {
            *self.status.lock().unwrap() = status;
        }

        /// (account, seq) of each POST, in the order they came.
        fn arrivals(&self) -> Vec<(String, u64)> {
            self.received
                .lock()
                .unwrap()
                .iter()
                .map(|body| {
                    (
                        body["account"].as_str().unwrap_or_default().to_owned(),
                        body["seq"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl Transport for FakeReceiver {
        async fn post(&self, request: Outgoing) -> Result<u16, String> {
            let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight
                .fetch_max(now_in_flight, Ordering::SeqCst);
            // Let the other attempts of the drain start meanwhile.
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let signature = request
                .headers
                .iter()
                .find(|(name, _)| *name == SIGNATURE_HEADER)
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            assert!(
                verify(
                    SECRET,
                    &signature,
                    &request.body,
                    self.clock.now().timestamp()
                )
                .is_ok(),
                "every attempt is signed"
            );
            let status = *self.status.lock().unwrap();
            let Some(status) = status else {
                return Err("the connection failed".to_owned());
            };
            self.received
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&request.body).unwrap_or_default());
            Ok(status)
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_359_200, 0).unwrap_or_default()
    }

    /// A queue on SQLite with one endpoint wanting every event, and `accounts`' events
    /// `1..=per_account` queued (interleaved across accounts, as commits come).
    async fn queue(accounts: &[&str], per_account: u64) -> Arc<SqliteStore> {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let endpoint = EndpointRecord {
            id: "wh_1".to_owned(),
            url: "http://receiver.test/hook".to_owned(),
            event_types: vec!["*".to_owned()],
            secret: SECRET.to_owned(),
            created_at: start(),
        };
        assert!(store.put_endpoint(&endpoint).await.unwrap());
        let mut events = Vec::new();
        for seq in 1..=per_account {
            for account in accounts {
                let position = u64::try_from(events.len()).unwrap_or_default() + 1;
                events.push(FedEvent {
                    position,
                    event: EventRecord {
                        account: (*account).to_owned(),
                        seq,
                        id: format!("evt_{account}_{seq}"),
                        event_type: "balance.low".to_owned(),
                        at: start(),
                        body: json!({"v": 1}),
                    },
                });
            }
        }
        let next = u64::try_from(events.len()).unwrap_or_default();
        assert!(
            store
                .enqueue(0, &events, next, start())
                .await
                .unwrap()
                .is_some()
        );
        store
    }

    fn engine(
        store: &Arc<SqliteStore>,
        receiver: &Arc<FakeReceiver>,
        clock: &Arc<FixedClock>,
        concurrency: usize,
    ) -> Deliverer {
        let config = DeliveryConfig {
            concurrency,
            ..DeliveryConfig::default()
        };
        Deliverer::without_feed(store.clone(), receiver.clone(), clock.clone(), config)
            .with_jitter(Arc::new(FullJitter))
    }

    struct FullJitter;

    impl Jitter for FullJitter {
        fn permille(&self) -> u16 {
            super::super::schedule::MAX_JITTER_PERMILLE
        }
    }

    fn an_hour_after(now: DateTime<Utc>) -> DateTime<Utc> {
        now + TimeDelta::hours(1)
    }

    #[tokio::test]
    async fn a_drain_delivers_everything_due_in_order_per_account_within_the_concurrency() {
        let accounts = ["alice", "bob", "carol", "dave"];
        let store = queue(&accounts, 3).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(Some(204), clock.clone());
        let engine = engine(&store, &receiver, &clock, 2);

        let report = engine.deliver_due(an_hour_after(clock.now())).await;
        assert_eq!(
            report,
            DrainReport {
                attempted: 12,
                delivered: 12,
                ..DrainReport::default()
            }
        );
        let arrivals = receiver.arrivals();
        for account in accounts {
            let seqs: Vec<u64> = arrivals
                .iter()
                .filter(|(who, _)| who == account)
                .map(|(_, seq)| *seq)
                .collect();
            assert_eq!(seqs, [1, 2, 3], "{account}'s events in seq order");
        }
        assert_eq!(receiver.most_in_flight.load(Ordering::SeqCst), 2);
        // Nothing is left: a second drain attempts nothing.
        assert_eq!(
            engine.deliver_due(an_hour_after(clock.now())).await,
            DrainReport::default()
        );
    }

    #[tokio::test]
    async fn a_failing_receiver_holds_each_account_back_until_a_later_drain_retries() {
        let store = queue(&["alice", "bob"], 2).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(None, clock.clone());
        let engine = engine(&store, &receiver, &clock, 8);

        // Only each account's oldest is due; both fail and wait for their retry.
        let report = engine.deliver_due(an_hour_after(clock.now())).await;
        assert_eq!(
            report,
            DrainReport {
                attempted: 2,
                retried: 2,
                ..DrainReport::default()
            }
        );
        assert_eq!(report.attempts_failed(), 2);
        // Not due yet: nothing is attempted.
        assert_eq!(
            engine.deliver_due(an_hour_after(clock.now())).await,
            DrainReport::default()
        );
        // A tick after the retry time, the receiver answering 503: retried again.
        clock.advance(TimeDelta::minutes(1));
        receiver.answer(Some(503));
        assert_eq!(
            engine.deliver_due(an_hour_after(clock.now())).await.retried,
            2
        );
        // The receiver back: everything arrives, in order.
        clock.advance(TimeDelta::minutes(1));
        receiver.answer(Some(200));
        let report = engine.deliver_due(an_hour_after(clock.now())).await;
        assert_eq!(report.delivered, 4, "{report:?}");
        let alice: Vec<u64> = receiver
            .arrivals()
            .iter()
            .filter(|(who, _)| who == "alice")
            .map(|(_, seq)| *seq)
            .collect();
        // The 503 answers were received too (and not taken): seq 1 twice, then 1 and 2.
        assert_eq!(alice, [1, 1, 2]);
    }

    #[tokio::test]
    async fn a_drain_gives_up_after_3_days() {
        let store = queue(&["alice"], 2).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(Some(500), clock.clone());
        let engine = engine(&store, &receiver, &clock, 8);
        assert_eq!(
            engine.deliver_due(an_hour_after(clock.now())).await.retried,
            1
        );
        clock.advance(TimeDelta::days(3) + TimeDelta::hours(1));
        let report = engine.deliver_due(an_hour_after(clock.now())).await;
        assert_eq!(
            report,
            DrainReport {
                attempted: 1,
                given_up: 1,
                ..DrainReport::default()
            }
        );
        let failed = store.failed_deliveries("wh_1", None, 10).await.unwrap();
        assert_eq!(
            failed.deliveries.len(),
            2,
            "the account's next event is failed with it"
        );
    }

    #[tokio::test]
    async fn a_drain_starts_no_attempt_that_could_outlast_its_deadline() {
        let store = queue(&["alice"], 1).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(Some(200), clock.clone());
        let engine = engine(&store, &receiver, &clock, 8);
        let needed = TimeDelta::from_std(DeliveryConfig::default().timeout + DRAIN_MARGIN)
            .unwrap_or_default();
        let too_soon = clock.now() + needed - TimeDelta::milliseconds(1);
        assert_eq!(engine.deliver_due(too_soon).await, DrainReport::default());
        assert!(receiver.arrivals().is_empty());
        let report = engine.deliver_due(clock.now() + needed).await;
        assert_eq!(report.delivered, 1);
    }

    #[tokio::test]
    async fn an_engine_without_a_feed_reads_none() {
        let store = queue(&["alice"], 1).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(Some(200), clock.clone());
        let engine = engine(&store, &receiver, &clock, 8);
        assert_eq!(engine.pull_feed().await.unwrap(), 0);
    }

    /// The SQLite queue whose claims fail.
    struct ClaimsFail(Arc<SqliteStore>);

    #[async_trait::async_trait]
    impl WebhookStore for ClaimsFail {
        async fn put_endpoint(
            &self,
            endpoint: &EndpointRecord,
        ) -> credits_store::StoreResult<bool> {
            self.0.put_endpoint(endpoint).await
        }
        async fn endpoints(&self) -> credits_store::StoreResult<Vec<EndpointRecord>> {
            self.0.endpoints().await
        }
        async fn endpoint(&self, id: &str) -> credits_store::StoreResult<Option<EndpointRecord>> {
            self.0.endpoint(id).await
        }
        async fn delete_endpoint(&self, id: &str) -> credits_store::StoreResult<bool> {
            self.0.delete_endpoint(id).await
        }
        async fn delivery_cursor(&self) -> credits_store::StoreResult<u64> {
            self.0.delivery_cursor().await
        }
        async fn enqueue(
            &self,
            expected_cursor: u64,
            events: &[FedEvent],
            next: u64,
            now: DateTime<Utc>,
        ) -> credits_store::StoreResult<Option<u64>> {
            self.0.enqueue(expected_cursor, events, next, now).await
        }
        async fn claim_due(
            &self,
            _now: DateTime<Utc>,
            _lease_until: DateTime<Utc>,
            _limit: u32,
        ) -> credits_store::StoreResult<Vec<DeliveryRecord>> {
            Err(credits_store::StoreError::Unavailable(
                "throttled".to_owned(),
            ))
        }
        async fn record_attempt(
            &self,
            delivery: &DeliveryRecord,
            attempted_at: DateTime<Utc>,
            result: AttemptResult,
        ) -> credits_store::StoreResult<()> {
            self.0.record_attempt(delivery, attempted_at, result).await
        }
        async fn failed_deliveries(
            &self,
            endpoint: &str,
            after: Option<&str>,
            limit: u32,
        ) -> credits_store::StoreResult<credits_store::webhooks::DeliveryPage> {
            self.0.failed_deliveries(endpoint, after, limit).await
        }
        async fn redeliver(
            &self,
            endpoint: &str,
            which: credits_store::webhooks::Redeliver,
            now: DateTime<Utc>,
        ) -> credits_store::StoreResult<u64> {
            self.0.redeliver(endpoint, which, now).await
        }
    }

    #[tokio::test]
    async fn a_claim_that_fails_is_counted_and_ends_the_drain() {
        let store = queue(&["alice"], 1).await;
        let clock = Arc::new(FixedClock::new(start()));
        let receiver = FakeReceiver::new(Some(200), clock.clone());
        let engine = Deliverer::without_feed(
            Arc::new(ClaimsFail(store)),
            receiver.clone(),
            clock.clone(),
            DeliveryConfig::default(),
        );
        let report = engine.deliver_due(an_hour_after(clock.now())).await;
        assert_eq!(
            report,
            DrainReport {
                store_failures: 1,
                ..DrainReport::default()
            }
        );
        assert!(receiver.arrivals().is_empty());
    }
}
