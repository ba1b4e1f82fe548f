//! The table, as code: key schema, attributes and indexes, in ONE function
//! ([`table_definition`]) that both [`create_table`] and the check against the SAM template use.
//!
//! The layout itself (which item lives where, and why) is described in `docs/dynamodb.md`.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::create_table::CreateTableInput;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use credits_store::{StoreError, StoreResult};

/// The table name when none is configured.
pub const DEFAULT_TABLE_NAME: &str = "credits";

/// Partition key of every item (`A#<account>`, `K#<key id>`).
pub const PARTITION_KEY: &str = "pk";
/// Sort key of every item (`ACCOUNT`, `E#<seq>`, `F#<fact key>`, `O#<operation id>`, `V#<event seq>`, `KEY`).
pub const SORT_KEY: &str = "sk";

/// What the table's stream carries of each changed item: its new image only. The events
/// publisher reads an event's attributes from the insert's new image (and nothing needs the
/// old one: events are never changed).
pub const STREAM_VIEW_TYPE: StreamViewType = StreamViewType::NewImage;

/// Global secondary index over every account's entries by time (sparse: only entries carry
/// `at_seq`), keyed by the account's partition key. Global, not local: a local index would
/// cap an account's items at 10 GB and could never be removed once data exists. Its reads
/// are eventually consistent; reads by seq use the table itself and are consistent.
pub const TIME_INDEX: &str = "time-index";
/// Sort key of [`TIME_INDEX`]: `<fixed-width at>#<20-digit seq>`.
pub const AT_SEQ_ATTRIBUTE: &str = "at_seq";

/// Global secondary index of the accounts that have something due (sparse: only accounts
/// with a `due_at` carry `due_shard`).
pub const DUE_INDEX: &str = "due-index";
/// Partition key of [`DUE_INDEX`]: a stable hash of the account modulo [`DUE_SHARDS`].
pub const DUE_SHARD_ATTRIBUTE: &str = "due_shard";
/// Sort key of [`DUE_INDEX`]: `due_at` as a fixed-width UTC timestamp, so that string order
/// is time order and `due_at <= :now` is a key condition.
pub const DUE_AT_ATTRIBUTE: &str = "due_at";

/// How many partitions the due index spreads accounts over. Fixed forever: an account's shard
/// is written with every commit, so changing this would strand accounts in old shards until
/// their next write. 16 partitions keep the index's write rate per partition far below
/// DynamoDB's per-partition limit and let up to 16 rollover workers split the walk.
pub const DUE_SHARDS: u32 = 16;

/// The table `name`: keys, attribute definitions, the two global indexes, on-demand billing
/// and the stream ([`STREAM_VIEW_TYPE`]) the events publisher reads. No local index: nothing caps how many items an account may hold.
///
/// This is the single definition the code relies on; the SAM template must declare the same
/// (its deletion protection and point-in-time recovery are operational settings on top).
///
/// # Errors
///
/// [`StoreError::Invalid`] if the SDK refuses to build the definition (a missing required
/// field: a bug here, never a runtime condition).
pub fn table_definition(name: &str) -> StoreResult<CreateTableInput> {
    let hash = |attribute: &str| key_element(attribute, KeyType::Hash);
    let range = |attribute: &str| key_element(attribute, KeyType::Range);
    CreateTableInput::builder()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(SORT_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(AT_SEQ_ATTRIBUTE, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(DUE_SHARD_ATTRIBUTE, ScalarAttributeType::N)?)
        .attribute_definitions(attribute(DUE_AT_ATTRIBUTE, ScalarAttributeType::S)?)
        .key_schema(hash(PARTITION_KEY)?)
        .key_schema(range(SORT_KEY)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(STREAM_VIEW_TYPE)
                .build()
                .map_err(build_error)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(TIME_INDEX)
                .key_schema(hash(PARTITION_KEY)?)
                .key_schema(range(AT_SEQ_ATTRIBUTE)?)
                // History reads need every attribute of an entry.
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(DUE_INDEX)
                .key_schema(hash(DUE_SHARD_ATTRIBUTE)?)
                .key_schema(range(DUE_AT_ATTRIBUTE)?)
                // The walk needs only the account name, which `pk` carries; keys-only also
                // means a commit that leaves `due_at` alone writes nothing to the index.
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)
}

/// Creates the table from [`table_definition`] and waits (at most 60 s) until it is active.
///
/// # Errors
///
/// [`StoreError::Unavailable`] if DynamoDB refuses (e.g. the table exists already) or the
/// table does not become active in time.
pub async fn create_table(client: &Client, name: &str) -> StoreResult<()> {
    create_defined(client, &table_definition(name)?, name).await
}

/// Creates the table `definition` describes (named `name`) and waits until it is active.
pub(crate) async fn create_defined(
    client: &Client,
    definition: &CreateTableInput,
    name: &str,
) -> StoreResult<()> {
    client
        .create_table()
        .set_table_name(definition.table_name().map(str::to_string))
        .set_billing_mode(definition.billing_mode().cloned())
        .set_attribute_definitions(Some(definition.attribute_definitions().to_vec()))
        .set_key_schema(Some(definition.key_schema().to_vec()))
        .set_global_secondary_indexes(Some(definition.global_secondary_indexes().to_vec()))
        .set_stream_specification(definition.stream_specification().cloned())
        .send()
        .await
        .map_err(|e| {
            let e = e.into_service_error();
            StoreError::Unavailable(format!(
                "cannot create table `{name}`: {}",
                e.message().or(e.code()).unwrap_or("unknown error")
            ))
        })?;
    wait_active(client, name).await
}

/// Creates the table unless a table of that name exists already; `true` if it created it.
/// An existing table is used as it is (its schema is not compared).
///
/// # Errors
///
/// As [`create_table`], or if the table cannot be described.
pub async fn create_table_if_missing(client: &Client, name: &str) -> StoreResult<bool> {
    if table_exists(client, name).await? {
        return Ok(false);
    }
    create_table(client, name).await?;
    Ok(true)
}

/// Whether a table named `name` exists (in any state).
pub(crate) async fn table_exists(client: &Client, name: &str) -> StoreResult<bool> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_resource_not_found_exception() {
                Ok(false)
            } else {
                Err(StoreError::Unavailable(format!(
                    "cannot describe table `{name}`: {}",
                    e.message().or(e.code()).unwrap_or("unknown error")
                )))
            }
        }
    }
}

pub(crate) async fn wait_active(client: &Client, name: &str) -> StoreResult<()> {
    // 120 polls of 500 ms: DynamoDB Local is active at once, the real service in seconds.
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot describe table `{name}`: {}",
                    e.into_service_error()
                ))
            })?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table `{name}` did not become active within 60 s"
    )))
}

pub(crate) fn key_element(attribute: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(attribute)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

pub(crate) fn attribute(name: &str, kind: ScalarAttributeType) -> StoreResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(build_error)
}

pub(crate) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("table definition: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_names_every_key_attribute_once() {
        let definition = table_definition("t").unwrap();
        let names: Vec<&str> = definition
            .attribute_definitions()
            .iter()
            .map(|a| a.attribute_name())
            .collect();
        assert_eq!(names, ["pk", "sk", "at_seq", "due_shard", "due_at"]);
        assert_eq!(definition.billing_mode(), Some(&BillingMode::PayPerRequest));
        // A local index caps an account's items at 10 GB and can never be removed.
        assert!(definition.local_secondary_indexes().is_empty());
        assert_eq!(definition.global_secondary_indexes().len(), 2);
        let stream = definition.stream_specification().unwrap();
        assert!(stream.stream_enabled());
        assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewImage));
    }
}
