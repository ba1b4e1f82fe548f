//! [`WebhookStore`] on DynamoDB: endpoints and delivery state in a table of their own
//! ([`webhooks_table_definition`]), for the webhook sender that reads the ledger table's
//! stream and the admin routes of the HTTP functions.
//!
//! There is no event feed here: the stream is the feed, and the sender queues what it reads
//! with [`WebhookStore::enqueue_events`]. Per (endpoint, account) a **lane** item remembers
//! the highest seq it queued (a stream's retry is skipped), which of its rows is due, and a
//! version that every change of which row is due or waiting moves, conditioned on the one
//! read: so a lane has at most one due row, and never waiting rows without a due one, however
//! queueing, attempts and re-deliveries interleave (a lost race reads the lane again, at most
//! [`MAX_LANE_ATTEMPTS`] times, then answers [`StoreError::Unavailable`]). The items, indexes
//! and the cost of each call are in `docs/webhooks.md` ("Storage on DynamoDB").
//!
//! Secrets are stored as is in the endpoint item (signing needs them); the table is
//! encrypted at rest, and nothing here logs them.

mod claims;
mod endpoints;
mod expression;
mod item;
mod lanes;
mod table;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use credits_store::webhooks::{
    AttemptResult, DeliveryPage, DeliveryRecord, EndpointRecord, MAX_DELIVERY_PAGE, Redeliver,
    WebhookStore,
};
use credits_store::{EventRecord, FedEvent, StoreError, StoreResult};

pub use table::{
    WEBHOOK_DUE_AT_ATTRIBUTE, WEBHOOK_DUE_INDEX, WEBHOOK_DUE_SHARD_ATTRIBUTE, WEBHOOK_DUE_SHARDS,
    WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE, WEBHOOK_FAILING_INDEX, WEBHOOK_FAILING_KEY_ATTRIBUTE,
    create_webhooks_table, create_webhooks_table_if_missing, webhooks_table_definition,
};

use crate::item::Item;
use crate::unavailable;

/// Times one lane change is tried when another writer moved the lane in between.
pub const MAX_LANE_ATTEMPTS: u32 = 16;
/// Query pages one read of a lane's rows, or of an endpoint's failing rows, may take (each
/// at most 1 MB): a bound far above any lane a receiver can fall behind by.
const MAX_QUERY_PAGES: u32 = 256;
/// Rows one transaction changes besides its lane: well under DynamoDB's 100 actions and
/// 4 MB (a delivery row holds an event body of at most 64 KiB).
const ROWS_PER_TRANSACTION: usize = 40;
/// Lanes one [`WebhookStore::enqueue_events`] writes at a time.
const LANES_IN_PARALLEL: usize = 8;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// The DynamoDB webhook store: one client, one table.
#[derive(Debug, Clone)]
pub struct DynamoWebhookStore {
    client: Client,
    table: String,
}

/// What a transaction came to.
pub(crate) enum Written {
    Done,
    /// Cancelled: the reason code of each action, by position (`None`: that one was fine).
    Cancelled(Vec<Option<String>>),
}

impl Written {
    /// Whether the action at `index` failed its condition.
    pub(crate) fn failed_condition(&self, index: usize) -> bool {
        match self {
            Written::Done => false,
            Written::Cancelled(codes) => codes
                .get(index)
                .is_some_and(|code| code.as_deref() == Some(CONDITIONAL_CHECK_FAILED)),
        }
    }
}

impl DynamoWebhookStore {
    /// A store over the webhooks `table` (created by [`create_webhooks_table`]). Build it once
    /// per process and share it.
    #[must_use]
    pub fn new(client: Client, table: String) -> DynamoWebhookStore {
        DynamoWebhookStore { client, table }
    }

    /// The table this store reads and writes.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) async fn get(&self, key: Item) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(output.item)
    }

    /// One `TransactWriteItems`; a cancellation is an answer, not an error.
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> StoreResult<Written> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Done),
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let codes = match context.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| {
                            reason
                                .code()
                                .filter(|code| *code != "None")
                                .map(str::to_owned)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Ok(Written::Cancelled(codes))
            }
            Err(error) => Err(unavailable("TransactWriteItems", error)),
        }
    }

    /// Query pages of `partition` (strongly consistent), every row whose sort key begins
    /// with `prefix` and passes `filter` (`state = <filter>` when given), at most `max` rows.
    pub(crate) async fn query_partition(
        &self,
        partition: &str,
        prefix: &str,
        state: Option<&str>,
        max: usize,
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", crate::PARTITION_KEY)
                .expression_attribute_names("#sk", crate::SORT_KEY)
                .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
                .set_exclusive_start_key(start.take());
            if let Some(state) = state {
                request = request
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", item::STATE)
                    .expression_attribute_values(":state", AttributeValue::S(state.to_owned()));
            }
            let output = request.send().await.map_err(|e| unavailable("Query", e))?;
            found.extend(output.items.unwrap_or_default());
            if found.len() >= max {
                found.truncate(max);
                return Ok(found);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(format!(
            "more than {MAX_QUERY_PAGES} pages of webhook deliveries in one lane"
        )))
    }
}

/// `limit` as a page size: 0 is the largest page.
fn page(limit: u32) -> u32 {
    if limit == 0 {
        MAX_DELIVERY_PAGE
    } else {
        limit.min(MAX_DELIVERY_PAGE)
    }
}

#[async_trait]
impl WebhookStore for DynamoWebhookStore {
    /// One `TransactWriteItems` (the count item's conditional increment and the endpoint's
    /// conditional put).
    async fn put_endpoint(&self, endpoint: &EndpointRecord) -> StoreResult<bool> {
        self.put_endpoint_item(endpoint).await
    }

    /// One strongly consistent `Query` (at most 16 small items).
    async fn endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        self.all_endpoints().await
    }

    /// One `GetItem`.
    async fn endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        self.one_endpoint(id).await
    }

    /// One `TransactWriteItems` (the endpoint's delete and the count's decrement). Its rows
    /// stay, unreachable: a claim deletes a due one instead of delivering it, the listing and
    /// re-delivery answer nothing for an endpoint that does not exist, and ids are random,
    /// never reused.
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool> {
        self.delete_endpoint_item(id).await
    }

    /// No feed here (the ledger table's stream is it): always 0, no request.
    async fn delivery_cursor(&self) -> StoreResult<u64> {
        Ok(0)
    }

    /// No feed here: [`StoreError::Invalid`]; queue with [`WebhookStore::enqueue_events`].
    async fn enqueue(
        &self,
        _expected_cursor: u64,
        _events: &[FedEvent],
        _next: u64,
        _now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        Err(StoreError::Invalid(
            "the DynamoDB webhook store has no event feed: queue stream events with \
             `enqueue_events`"
                .to_owned(),
        ))
    }

    /// One `Query` of the endpoints, then per (endpoint, account) lane touched: one
    /// `GetItem` of the lane and one `TransactWriteItems` per 40 new rows (the lane's
    /// conditional update and the rows' puts), again on a lost race. Up to 8 lanes at a time.
    async fn enqueue_events(&self, events: &[EventRecord], now: DateTime<Utc>) -> StoreResult<u64> {
        self.queue_events(events, now).await
    }

    /// One `Query` of the endpoints, one `Query` per due shard (4), then one conditional
    /// `UpdateItem` per row claimed (a `DeleteItem` for a deleted endpoint's row).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.claim(now, lease_until, page(limit)).await
    }

    /// Retry: one conditional `UpdateItem`. Delivered: a `GetItem` of the lane, a `Query` of
    /// its waiting rows (until the lowest) and one `TransactWriteItems`. Give up: the same,
    /// plus one `TransactWriteItems` per 40 waiting rows held back.
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> StoreResult<()> {
        self.record(delivery, attempted_at, result).await
    }

    /// One `GetItem` of the endpoint, one `Query` of the failing index (eventually
    /// consistent). Order: grouped by account (in the fixed order of a 64-bit hash of its id),
    /// each account's oldest event first.
    async fn failed_deliveries(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<DeliveryPage> {
        self.failing_page(endpoint, after, page(limit)).await
    }

    /// A `GetItem` of the endpoint, `Query` pages of its failing rows; then per lane a
    /// `GetItem` and one `TransactWriteItems` per 40 failed rows re-queued (one `UpdateItem`
    /// for a due row's fresh schedule).
    async fn redeliver(
        &self,
        endpoint: &str,
        which: Redeliver,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.requeue(endpoint, which, now).await
    }
}
