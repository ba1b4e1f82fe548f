//! The webhooks table, as code: ONE definition ([`webhooks_table_definition`]) that
//! [`create_webhooks_table`] and the check against the SAM template both use.
//!
//! A table apart from the ledger's: the ledger's stream (read by the events publisher and the
//! webhook sender) and its single-table layout stay as they are, and delivery bookkeeping
//! never competes with charges for the ledger's partitions. The items are described in
//! `docs/webhooks.md` ("Storage on DynamoDB").

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::create_table::CreateTableInput;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndex, KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use credits_store::StoreResult;

use crate::table::{attribute, build_error, key_element};
use crate::{PARTITION_KEY, SORT_KEY};

/// Global secondary index of the deliveries that are due (sparse: only `Due` rows carry
/// [`WEBHOOK_DUE_SHARD_ATTRIBUTE`] and [`WEBHOOK_DUE_AT_ATTRIBUTE`]). The claim queries it.
pub const WEBHOOK_DUE_INDEX: &str = "due-index";
/// Partition key of [`WEBHOOK_DUE_INDEX`]: a stable hash of the (endpoint, account) lane
/// modulo [`WEBHOOK_DUE_SHARDS`].
pub const WEBHOOK_DUE_SHARD_ATTRIBUTE: &str = "due_shard";
/// Sort key of [`WEBHOOK_DUE_INDEX`]: the next attempt as a fixed-width UTC timestamp, so
/// that `due_at <= :now` is a key condition.
pub const WEBHOOK_DUE_AT_ATTRIBUTE: &str = "due_at";
/// How many partitions the due index spreads due rows over; a claim queries each. Fixed
/// forever (a row's shard is written when it becomes due): 4 keep the index's write rate
/// per partition far below DynamoDB's limit at any delivery rate one sender reaches, for 4
/// queries per claim.
pub const WEBHOOK_DUE_SHARDS: u32 = 4;

/// Global secondary index of the deliveries that failed or are failing (sparse: only
/// `Failed` rows and rows with attempts carry its keys), per endpoint: the failed listing
/// and the re-delivery read it.
pub const WEBHOOK_FAILING_INDEX: &str = "failing-index";
/// Partition key of [`WEBHOOK_FAILING_INDEX`]: the endpoint id.
pub const WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE: &str = "failing_endpoint";
/// Sort key of [`WEBHOOK_FAILING_INDEX`]: `<16 hex digits of the account's hash>#<20-digit
/// seq>#<account>`, so that each account's rows are together, oldest first.
pub const WEBHOOK_FAILING_KEY_ATTRIBUTE: &str = "failing_key";

/// The webhooks table `name`: `pk`/`sk` string keys, the two sparse global indexes (every
/// attribute projected: the claim and the listing answer whole deliveries), on-demand
/// billing, no stream (nothing reads this table's changes).
///
/// This is the single definition the code relies on; the SAM template must declare the same
/// (its encryption, point-in-time recovery and deletion protection are operational settings
/// on top).
///
/// # Errors
///
/// [`StoreError::Invalid`] if the SDK refuses to build the definition (a bug here, never a
/// runtime condition).
pub fn webhooks_table_definition(name: &str) -> StoreResult<CreateTableInput> {
    let hash = |attribute: &str| key_element(attribute, KeyType::Hash);
    let range = |attribute: &str| key_element(attribute, KeyType::Range);
    let all = || {
        Projection::builder()
            .projection_type(ProjectionType::All)
            .build()
    };
    CreateTableInput::builder()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(SORT_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(
            WEBHOOK_DUE_SHARD_ATTRIBUTE,
            ScalarAttributeType::N,
        )?)
        .attribute_definitions(attribute(WEBHOOK_DUE_AT_ATTRIBUTE, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(
            WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE,
            ScalarAttributeType::S,
        )?)
        .attribute_definitions(attribute(
            WEBHOOK_FAILING_KEY_ATTRIBUTE,
            ScalarAttributeType::S,
        )?)
        .key_schema(hash(PARTITION_KEY)?)
        .key_schema(range(SORT_KEY)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(WEBHOOK_DUE_INDEX)
                .key_schema(hash(WEBHOOK_DUE_SHARD_ATTRIBUTE)?)
                .key_schema(range(WEBHOOK_DUE_AT_ATTRIBUTE)?)
                .projection(all())
                .build()
                .map_err(build_error)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(WEBHOOK_FAILING_INDEX)
                .key_schema(hash(WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE)?)
                .key_schema(range(WEBHOOK_FAILING_KEY_ATTRIBUTE)?)
                .projection(all())
                .build()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)
}

/// Creates the webhooks table from [`webhooks_table_definition`] and waits (at most 60 s)
/// until it is active.
///
/// # Errors
///
/// [`StoreError::Unavailable`] if DynamoDB refuses (e.g. the table exists already) or the
/// table does not become active in time.
pub async fn create_webhooks_table(client: &Client, name: &str) -> StoreResult<()> {
    crate::table::create_defined(client, &webhooks_table_definition(name)?, name).await
}

/// Creates the webhooks table unless a table of that name exists already; `true` if it
/// created it. An existing table is used as it is (its schema is not compared).
///
/// # Errors
///
/// As [`create_webhooks_table`], or if the table cannot be described.
pub async fn create_webhooks_table_if_missing(client: &Client, name: &str) -> StoreResult<bool> {
    if crate::table::table_exists(client, name).await? {
        return Ok(false);
    }
    create_webhooks_table(client, name).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_has_the_keys_and_the_two_sparse_indexes() {
        let definition = webhooks_table_definition("t").unwrap();
        let names: Vec<&str> = definition
            .attribute_definitions()
            .iter()
            .map(|a| a.attribute_name())
            .collect();
        assert_eq!(
            names,
            [
                "pk",
                "sk",
                "due_shard",
                "due_at",
                "failing_endpoint",
                "failing_key"
            ]
        );
        assert_eq!(definition.billing_mode(), Some(&BillingMode::PayPerRequest));
        assert!(definition.stream_specification().is_none());
        assert!(definition.local_secondary_indexes().is_empty());
        let indexes: Vec<&str> = definition
            .global_secondary_indexes()
            .iter()
            .map(|index| index.index_name())
            .collect();
        assert_eq!(indexes, ["due-index", "failing-index"]);
        for index in definition.global_secondary_indexes() {
            assert_eq!(
                index.projection().and_then(|p| p.projection_type()),
                Some(&ProjectionType::All)
            );
        }
    }
}
