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

/// The outbox contract (`conformance::events`): events land in the commit's own transaction,
/// read back by seq; a refused commit writes none.
#[tokio::test]
async fn events_conform() {
    let store = make_store().await;
    credits_store::conformance::events::run_all(&*store).await;
}

/// `credits serve --dynamodb-endpoint` connects with `connect_local`: it creates the table
/// from `table_definition` when missing, and uses an existing one as it is.
#[tokio::test]
async fn connect_local_creates_the_table_once() {
    use credits_store::Store;

    let local = DynamoDbLocal::shared().unwrap();
    let table = unique_table_name("serve");
    let store = credits_store_dynamodb::connect_local(&local.endpoint_url(), &table)
        .await
        .unwrap();
    assert_eq!(store.load("nobody").await.unwrap(), None);
    let again = credits_store_dynamodb::connect_local(&local.endpoint_url(), &table)
        .await
        .unwrap();
    assert_eq!(again.table(), table);

    // The table DynamoDB reports is the one the code defines.
    let described = local
        .client()
        .await
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    let definition = credits_store_dynamodb::table_definition(&table).unwrap();
    assert_eq!(described.key_schema(), definition.key_schema());
    let gsi: Vec<&str> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(gsi.len(), 2);
    assert!(
        gsi.contains(&"time-index") && gsi.contains(&"due-index"),
        "{gsi:?}"
    );
    // No local index: nothing caps how many items one account may hold.
    assert!(described.local_secondary_indexes().is_empty());
}
