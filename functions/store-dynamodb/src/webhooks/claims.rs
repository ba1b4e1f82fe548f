//! Reads through the sparse indexes: the claim of due rows (due index, then a conditional
//! lease per row: the index is eventually consistent, the condition is what makes a claim
//! safe) and the failed listing (failing index).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use credits_store::webhooks::{DeliveryPage, DeliveryRecord};
use credits_store::{StoreError, StoreResult};

use super::expression::Expression;
use super::item::{DUE, STATE, delivery_key, delivery_record, failing_cursor, failing_start};
use super::table::{
    WEBHOOK_DUE_AT_ATTRIBUTE, WEBHOOK_DUE_INDEX, WEBHOOK_DUE_SHARD_ATTRIBUTE, WEBHOOK_DUE_SHARDS,
    WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE, WEBHOOK_FAILING_INDEX, WEBHOOK_FAILING_KEY_ATTRIBUTE,
};
use super::{DynamoWebhookStore, MAX_QUERY_PAGES};
use crate::item::{Item, n, s, string, timestamp};
use crate::unavailable;

impl DynamoWebhookStore {
    pub(crate) async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let now_text = timestamp(&now)?;
        let lease_text = timestamp(&lease_until)?;
        let endpoints: HashSet<String> = self
            .all_endpoints()
            .await?
            .into_iter()
            .map(|endpoint| endpoint.id)
            .collect();
        let mut candidates: Vec<Item> = Vec::new();
        for shard in 0..WEBHOOK_DUE_SHARDS {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WEBHOOK_DUE_INDEX)
                .key_condition_expression("#shard = :shard AND #due_at <= :now")
                .expression_attribute_names("#shard", WEBHOOK_DUE_SHARD_ATTRIBUTE)
                .expression_attribute_names("#due_at", WEBHOOK_DUE_AT_ATTRIBUTE)
                .expression_attribute_values(":shard", n(shard))
                .expression_attribute_values(":now", s(now_text.clone()))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            candidates.extend(output.items.unwrap_or_default());
        }
        let due_at = |item: &Item| string(item, WEBHOOK_DUE_AT_ATTRIBUTE).unwrap_or_default();
        candidates.sort_by_cached_key(|item| {
            (
                due_at(item),
                string(item, crate::PARTITION_KEY).unwrap_or_default(),
                string(item, crate::SORT_KEY).unwrap_or_default(),
            )
        });
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut claimed = Vec::new();
        for candidate in &candidates {
            if claimed.len() >= limit {
                break;
            }
            let seen = delivery_record(candidate)?;
            let key = delivery_key(&seen.endpoint, &seen.event.account, seen.event.seq);
            let mut update = Expression::new();
            let state = update.equals(STATE, s(DUE));
            let due_name = update.name(WEBHOOK_DUE_AT_ATTRIBUTE);
            let now_value = update.value(s(now_text.clone()));
            update.condition(format!("{state} AND {due_name} <= {now_value}"));
            if !endpoints.contains(&seen.endpoint) {
                // The endpoint was deleted: its due row goes instead of being delivered; the
                // lane's other rows stay unreachable (no row of it is ever due again).
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .set_condition_expression(update.condition_text())
                    .set_expression_attribute_names(update.names())
                    .set_expression_attribute_values(update.values())
                    .send()
                    .await
                    .map(|_| ())
                    .or_else(|error| {
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception())
                        {
                            Ok(())
                        } else {
                            Err(unavailable("DeleteItem", error))
                        }
                    })?;
                continue;
            }
            update.set(WEBHOOK_DUE_AT_ATTRIBUTE, s(lease_text.clone()));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression(update.update_text())
                .set_condition_expression(update.condition_text())
                .set_expression_attribute_names(update.names())
                .set_expression_attribute_values(update.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(output) => {
                    if let Some(item) = output.attributes {
                        claimed.push(delivery_record(&item)?);
                    }
                }
                // Another claimer leased it first, or it changed: not ours.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(error) => return Err(unavailable("UpdateItem", error)),
            }
        }
        Ok(claimed)
    }

    pub(crate) async fn failing_page(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<DeliveryPage> {
        let start = match after {
            None => None,
            Some(cursor) => Some(failing_start(cursor).ok_or_else(|| {
                StoreError::Invalid("a cursor this listing never gave".to_owned())
            })?),
        };
        if self.one_endpoint(endpoint).await?.is_none() {
            return Ok(DeliveryPage::default());
        }
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(WEBHOOK_FAILING_INDEX)
            .expression_attribute_names("#endpoint", WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE)
            .expression_attribute_values(":endpoint", s(endpoint))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        request = match start {
            None => request.key_condition_expression("#endpoint = :endpoint"),
            Some(start) => request
                .key_condition_expression("#endpoint = :endpoint AND #key > :start")
                .expression_attribute_names("#key", WEBHOOK_FAILING_KEY_ATTRIBUTE)
                .expression_attribute_values(":start", s(start)),
        };
        let output = request.send().await.map_err(|e| unavailable("Query", e))?;
        let deliveries = output
            .items
            .unwrap_or_default()
            .iter()
            .map(delivery_record)
            .collect::<StoreResult<Vec<_>>>()?;
        let full = deliveries.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        let next = deliveries
            .last()
            .filter(|_| full)
            .map(|last| failing_cursor(&last.event.account, last.event.seq));
        Ok(DeliveryPage { deliveries, next })
    }

    /// Every row of the endpoint's failing index whose `attribute` is `value` (pages of the
    /// index, at most [`MAX_QUERY_PAGES`]).
    pub(crate) async fn failing_rows(
        &self,
        endpoint: &str,
        (attribute, value): (&str, &str),
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WEBHOOK_FAILING_INDEX)
                .key_condition_expression("#endpoint = :endpoint")
                .filter_expression("#attribute = :value")
                .expression_attribute_names("#endpoint", WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE)
                .expression_attribute_names("#attribute", attribute)
                .expression_attribute_values(":endpoint", s(endpoint))
                .expression_attribute_values(":value", s(value))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(format!(
            "more than {MAX_QUERY_PAGES} pages of failing webhook deliveries"
        )))
    }
}
