//! Endpoints: at most [`MAX_ENDPOINTS`], counted by an item updated in the same transaction
//! as each endpoint's put or delete, so the limit holds however many admins register at once.

use aws_sdk_dynamodb::types::AttributeValue;
use credits_store::webhooks::{EndpointRecord, MAX_ENDPOINTS};
use credits_store::{StoreError, StoreResult};

use super::expression::Expression;
use super::item::{
    COUNT, ENDPOINT_SK_PREFIX, ENDPOINTS_PK, count_key, endpoint_item, endpoint_key,
    endpoint_record,
};
use super::{DynamoWebhookStore, MAX_LANE_ATTEMPTS, Written};
use crate::retry::backoff;

impl DynamoWebhookStore {
    pub(crate) async fn put_endpoint_item(&self, endpoint: &EndpointRecord) -> StoreResult<bool> {
        let item = endpoint_item(endpoint)?;
        let mut count = Expression::new();
        count.add(COUNT, 1);
        let name = count.name(COUNT);
        let max = count.value(AttributeValue::N(MAX_ENDPOINTS.to_string()));
        count.condition(format!("attribute_not_exists({name}) OR {name} < {max}"));
        let mut put = Expression::new();
        let pk = put.name(crate::PARTITION_KEY);
        put.condition(format!("attribute_not_exists({pk})"));
        let actions = vec![
            count.update_action(&self.table, count_key())?,
            put.put_action(&self.table, item)?,
        ];
        for attempt in 1..=MAX_LANE_ATTEMPTS {
            let written = self.transact(actions.clone()).await?;
            if matches!(written, Written::Done) {
                return Ok(true);
            }
            if written.failed_condition(0) {
                return Ok(false);
            }
            if written.failed_condition(1) {
                return Err(StoreError::KeyExists(endpoint.id.clone()));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable(
            "registering a webhook endpoint kept conflicting".to_owned(),
        ))
    }

    pub(crate) async fn all_endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        let items = self
            .query_partition(ENDPOINTS_PK, ENDPOINT_SK_PREFIX, None, MAX_ENDPOINTS)
            .await?;
        let mut endpoints = items
            .iter()
            .map(endpoint_record)
            .collect::<StoreResult<Vec<_>>>()?;
        endpoints.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(endpoints)
    }

    pub(crate) async fn one_endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        if id.is_empty() || id.len() > credits_store::MAX_ID_BYTES {
            return Ok(None);
        }
        self.get(endpoint_key(id))
            .await?
            .as_ref()
            .map(endpoint_record)
            .transpose()
    }

    pub(crate) async fn delete_endpoint_item(&self, id: &str) -> StoreResult<bool> {
        if id.is_empty() || id.len() > credits_store::MAX_ID_BYTES {
            return Ok(false);
        }
        let mut delete = Expression::new();
        let pk = delete.name(crate::PARTITION_KEY);
        delete.condition(format!("attribute_exists({pk})"));
        let mut count = Expression::new();
        count.add(COUNT, -1);
        let actions = vec![
            delete.delete_action(&self.table, endpoint_key(id))?,
            count.update_action(&self.table, count_key())?,
        ];
        for attempt in 1..=MAX_LANE_ATTEMPTS {
            let written = self.transact(actions.clone()).await?;
            if matches!(written, Written::Done) {
                return Ok(true);
            }
            if written.failed_condition(0) {
                return Ok(false);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable(
            "deleting a webhook endpoint kept conflicting".to_owned(),
        ))
    }
}
