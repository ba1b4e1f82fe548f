//! The store contract (`credits_store::conformance`) against the DynamoDB store, over
//! DynamoDB Local: one emulator per test binary, a fresh table per test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

/// A store over a new table. The client is built inside the test's own runtime (an SDK
/// client keeps connections tied to the runtime that opened them).
async fn make_store() -> Box<DynamoStore> {
    let local =
        DynamoDbLocal::shared().unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
    let client = local.client().await;
    let table = unique_table_name("conformance");
    create_table(&client, &table).await.unwrap_or_else(|e| {
        panic!(
            "cannot create table `{table}`: {e}\n{}",
            local.recent_output()
        )
    });
    Box::new(DynamoStore::new(client, table))
}

credits_store::conformance_tests!(make_store());
