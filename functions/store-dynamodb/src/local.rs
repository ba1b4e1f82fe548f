//! A store over a local endpoint (DynamoDB Local), for `credits serve --dynamodb-endpoint`.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use credits_store::StoreResult;

use crate::{DynamoStore, create_table_if_missing};

/// Region used for local endpoints; DynamoDB Local ignores it but the SDK needs one.
pub const LOCAL_REGION: &str = "us-east-1";

/// A [`DynamoStore`] over `endpoint` (e.g. `http://127.0.0.1:8000`) with static dummy
/// credentials and region [`LOCAL_REGION`], creating `table` from
/// [`crate::table_definition`] if it does not exist yet.
///
/// # Errors
///
/// [`credits_store::StoreError::Unavailable`] if the endpoint does not answer or refuses to
/// create the table.
pub async fn connect_local(endpoint: &str, table: &str) -> StoreResult<DynamoStore> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(LOCAL_REGION))
        // DynamoDB Local checks that requests are signed, not by whom; since 2.0 it does
        // insist that the access key id is letters and digits only.
        .credentials_provider(Credentials::new(
            "creditslocal",
            "creditslocalsecret",
            None,
            None,
            "credits-static",
        ))
        .endpoint_url(endpoint)
        // Not `sdk_timeouts()`: DynamoDB Local (a JVM) can take seconds on a first request.
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table_if_missing(&client, table).await?;
    Ok(DynamoStore::new(client, table.to_string()))
}
