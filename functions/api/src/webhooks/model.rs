//! Request and response bodies of the webhook routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Register an endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with a `url` and `event_types`"
)]
pub struct WebhookRequest {
    /// `http` or `https`, at most 2048 bytes, no user or password, no fragment. Loopback
    /// hosts only where the server allows them (`credits serve --webhook-allow-loopback`).
    #[schema(max_length = 2048, example = "https://platform.example/credits-events")]
    pub url: String,
    /// Event types to deliver (1 to 32 names such as `balance.low`), or `["*"]` for all.
    #[schema(example = json!(["balance.low", "credits.expiring"]))]
    pub event_types: Vec<String>,
}

/// A registered endpoint (the secret is never shown again).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// `wh_` and 16 hex digits.
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The endpoint just registered, with its signing secret: shown once, never again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhookResponse {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// `whsec_` and 64 hex digits: the HMAC-SHA256 key of `Credits-Signature`. Shown once.
    pub secret: String,
}

/// Every registered endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhooksResponse {
    pub webhooks: Vec<WebhookView>,
}

/// The endpoint was removed, with every delivery queued for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedWebhookResponse {
    pub id: String,
    pub deleted: bool,
}

/// Paging of the failed deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FailedQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Most deliveries in a page, 1 to 100 (default 50).
    pub limit: Option<u32>,
}

/// A delivery that gave up or is failing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedDeliveryView {
    pub event_id: String,
    pub event_type: String,
    pub account: String,
    /// The event's place in the account's events.
    pub seq: u64,
    /// `failed` (given up, or held back behind an earlier event of the account that was:
    /// re-deliver to send them again) or `retrying` (attempts continue).
    pub status: String,
    pub attempts: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// When it is attempted next (`retrying` only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// A page of failed deliveries, oldest event first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedDeliveriesResponse {
    pub deliveries: Vec<FailedDeliveryView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What to deliver again: one event, or every failed delivery of the endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `event_id` or `all_failed`"
)]
pub struct RedeliverRequest {
    /// The event to deliver again (failed, or retrying: its schedule starts afresh now).
    pub event_id: Option<String>,
    /// `true`: every failed delivery of the endpoint, each account's in order.
    pub all_failed: Option<bool>,
}

/// How many deliveries were queued again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedeliverResponse {
    pub requeued: u64,
}
