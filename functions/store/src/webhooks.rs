//! Where webhook endpoints and their delivery state live: a narrow contract beside [`Store`]
//! (`credits serve` delivers the events of [`Store::event_feed`] to HTTP endpoints; see
//! `docs/webhooks.md`).
//!
//! The model: a **cursor** into the event feed, and one **delivery** row per (endpoint, event)
//! still to deliver or given up on. [`WebhookStore::enqueue`] fans a page of the feed out to
//! the matching endpoints and moves the cursor in ONE write, so an event is queued for every
//! endpoint exactly once, or the page is read again. Per (endpoint, account) one delivery at
//! a time is `Due` (the account's oldest); the others `Wait` behind it, which keeps each
//! account's events in order per endpoint while other accounts' flow. A delivered event's row
//! is deleted; a given-up one stays `Failed` (with the account's waiting rows behind it)
//! until re-queued.
//!
//! [`Store`]: crate::Store
//! [`Store::event_feed`]: crate::Store::event_feed

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventRecord, FedEvent, StoreResult};

/// The most endpoints one deployment may register.
pub const MAX_ENDPOINTS: usize = 16;
/// The most event types one endpoint may name (or `*` alone).
pub const MAX_ENDPOINT_EVENT_TYPES: usize = 32;
/// The longest event type name, in bytes.
pub const MAX_EVENT_TYPE_BYTES: usize = 64;
/// The longest endpoint URL, in bytes.
pub const MAX_ENDPOINT_URL_BYTES: usize = 2048;
/// The most deliveries one [`WebhookStore::claim_due`] or listing returns.
pub const MAX_DELIVERY_PAGE: u32 = 256;

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Public id (`wh_` and 16 hex digits).
    pub id: String,
    pub url: String,
    /// Event type names, or `["*"]` for every type.
    pub event_types: Vec<String>,
    /// The signing secret. Stored as is (signing needs it, a hash would not do); never
    /// logged, shown once at creation and never answered again.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl EndpointRecord {
    /// Whether events of `event_type` go to this endpoint.
    #[must_use]
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|wanted| wanted == "*" || wanted == event_type)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Behind an earlier event of the same account for the same endpoint.
    Waiting,
    /// The account's oldest for this endpoint: attempted at `next_attempt_at`.
    Due,
    /// Given up on (or held behind one given up on); listed, re-deliverable.
    Failed,
}

/// One event queued for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub endpoint: String,
    /// The event's place in the store-wide feed; 0 in a store without one (queued by
    /// [`WebhookStore::enqueue_events`]), where the endpoint, account and seq name the row.
    pub position: u64,
    pub event: EventRecord,
    pub state: DeliveryState,
    /// Attempts made so far (reset by a re-delivery).
    pub attempts: u32,
    /// When the first of them was made: retries stop 3 days after it.
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// When it is attempted next (`Due` only; a claimed one's lease end).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, in words.
    pub last_error: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    /// A 2xx: the row goes, and the account's next event for the endpoint becomes due.
    Delivered,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    },
    /// Stop: the delivery and the account's waiting ones behind it become `Failed`.
    GiveUp { status: Option<u16>, error: String },
}

/// One page of [`WebhookStore::failed_deliveries`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRecord>,
    /// Where the next page starts (pass as `after`): opaque, at most
    /// [`MAX_DELIVERY_CURSOR_BYTES`]; `None` when this page is the last.
    pub next: Option<String>,
}

/// The longest cursor of the failed listing, in bytes.
pub const MAX_DELIVERY_CURSOR_BYTES: usize = 512;

/// What a re-delivery re-queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeliver {
    /// The endpoint's delivery of this event id.
    Event(String),
    /// Every failed delivery of the endpoint.
    AllFailed,
}

/// Endpoints and delivery state. Every call is one write or one bounded read.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Register `endpoint`; `false` (nothing written) when [`MAX_ENDPOINTS`] exist already.
    /// An id that exists is [`crate::StoreError::KeyExists`].
    async fn put_endpoint(&self, endpoint: &EndpointRecord) -> StoreResult<bool>;
    /// Every endpoint (at most [`MAX_ENDPOINTS`]), oldest first.
    async fn endpoints(&self) -> StoreResult<Vec<EndpointRecord>>;
    async fn endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>>;
    /// Remove the endpoint and every delivery queued for it; `false` if no such endpoint.
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool>;

    /// The feed position every event up to which is queued (0 at first).
    async fn delivery_cursor(&self) -> StoreResult<u64>;
    /// In one write: queue each event for every endpoint that wants its type, and move the
    /// cursor from `expected_cursor` to `next`. Answers how many deliveries were queued;
    /// `None` (nothing written) when the cursor is no longer `expected_cursor` (another
    /// process moved it: read the feed again from the stored cursor).
    async fn enqueue(
        &self,
        expected_cursor: u64,
        events: &[FedEvent],
        next: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>>;
    /// For a store without an event feed (DynamoDB: its table's stream carries the committed
    /// events): queue each event for every endpoint that wants its type. Each account's events
    /// come in `seq` order, maybe again (a stream retries): an event whose seq is not above
    /// the last one queued for that (endpoint, account) is skipped, so nothing is queued
    /// twice. Answers how many deliveries were queued. A store with a feed answers
    /// [`crate::StoreError::Invalid`]: it queues with [`WebhookStore::enqueue`].
    async fn enqueue_events(&self, events: &[EventRecord], now: DateTime<Utc>) -> StoreResult<u64> {
        let _ = (events, now);
        Err(crate::StoreError::Invalid(
            "this store queues webhook deliveries from its event feed".to_owned(),
        ))
    }
    /// Up to `limit` (at most [`MAX_DELIVERY_PAGE`]) `Due` deliveries whose
    /// `next_attempt_at` ≤ `now`, earliest first, each leased until `lease_until` (its
    /// `next_attempt_at` moves there, so no other claim takes it while it is attempted; a
    /// process that dies mid-attempt leaves it due again when the lease ends).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Record an attempt of `delivery` (as [`WebhookStore::claim_due`] answered it; nothing
    /// if the row is gone: the endpoint was deleted).
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> StoreResult<()>;
    /// The endpoint's deliveries that failed or are failing (`Failed`, or with attempts),
    /// oldest first, from `after` (a previous page's `next`; `None` for the first page), at
    /// most `limit` (at most [`MAX_DELIVERY_PAGE`]). A cursor this store never gave is
    /// [`crate::StoreError::Invalid`].
    async fn failed_deliveries(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<DeliveryPage>;
    /// Re-queue: each chosen delivery gets a fresh schedule (attempts 0), due now when it is
    /// its account's oldest. Answers how many were re-queued.
    async fn redeliver(
        &self,
        endpoint: &str,
        which: Redeliver,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}
