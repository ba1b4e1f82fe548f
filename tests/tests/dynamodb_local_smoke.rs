//! DOC PLACEHOLDER

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactWriteItem, Update,
};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn new_table(client: &Client) -> String {
    let table = unique_table_name("smoke");
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    table
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

async fn put_balance(client: &Client, table: &str, account: &str, balance: i64) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(key(account, "balance")))
        .item("balance", n(balance))
        .item("version", n(1))
        .send()
        .await
        .unwrap();
}

async fn get(
    client: &Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Put a new ledger entry (must not exist) + debit the balance (must cover it).
fn charge_actions(table: &str, account: &str, entry: &str, amount: i64) -> Vec<TransactWriteItem> {
    vec![
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(key(account, entry)))
                    .item("amount", n(amount))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .unwrap(),
            )
            .build(),
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(table)
                    .set_key(Some(key(account, "balance")))
                    .update_expression("SET balance = balance - :amount, version = version + :one")
                    .condition_expression("balance >= :amount")
                    .expression_attribute_values(":amount", n(amount))
                    .expression_attribute_values(":one", n(1))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .unwrap(),
            )
            .build(),
    ]
}

#[tokio::test]
async fn cancellation_reasons_line_up_with_actions() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = new_table(&client).await;
    put_balance(&client, &table, "acct#1", 100).await;

    // 0: Put a new entry (would succeed), 1: ConditionCheck that fails (balance < 500),
    // 2: Update without condition (would succeed).
    let mut actions = vec![
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&table)
                    .set_item(Some(key("acct#1", "entry#1")))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .unwrap(),
            )
            .build(),
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&table)
                    .set_key(Some(key("acct#1", "balance")))
                    .condition_expression("balance >= :need")
                    .expression_attribute_values(":need", n(500))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .unwrap(),
            )
            .build(),
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&table)
                    .set_key(Some(key("acct#1", "other")))
                    .update_expression("SET touched = :t")
                    .expression_attribute_values(":t", n(1))
                    .build()
                    .unwrap(),
            )
            .build(),
    ];
    let err = client
        .transact_write_items()
        .set_transact_items(Some(actions.clone()))
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    eprintln!("code={:?} message={:?}", service.code(), service.message());
    eprintln!("{service:#?}");
    let TransactWriteItemsError::TransactionCanceledException(cancel) = &service else {
        panic!("expected TransactionCanceledException, got {service:?}");
    };
    let reasons = cancel.cancellation_reasons();
    for (i, r) in reasons.iter().enumerate() {
        eprintln!("reason {i}: code={:?} message={:?} item={:?}", r.code(), r.message(), r.item());
    }

    // Nothing was written.
    assert!(get(&client, &table, "acct#1", "entry#1").await.is_none());
    assert!(get(&client, &table, "acct#1", "other").await.is_none());

    // Two failing actions: conditional Put on an existing item at 0, ConditionCheck at 1.
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(key("acct#1", "entry#1")))
        .item("amount", n(7))
        .send()
        .await
        .unwrap();
    if let Some(put) = actions.get_mut(0) {
        *put = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&table)
                    .set_item(Some(key("acct#1", "entry#1")))
                    .item("amount", n(9))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .unwrap(),
            )
            .build();
    }
    let err = client
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    eprintln!("code={:?} message={:?}", service.code(), service.message());
    let TransactWriteItemsError::TransactionCanceledException(cancel) = &service else {
        panic!("expected TransactionCanceledException, got {service:?}");
    };
    for (i, r) in cancel.cancellation_reasons().iter().enumerate() {
        eprintln!("reason {i}: code={:?} message={:?} item={:?}", r.code(), r.message(), r.item());
    }
}

#[tokio::test]
async fn client_request_token_replay_is_idempotent() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = new_table(&client).await;
    put_balance(&client, &table, "acct#2", 100).await;

    let token = unique_table_name("tok");
    for _ in 0..2 {
        let out = client
            .transact_write_items()
            .set_transact_items(Some(charge_actions(&table, "acct#2", "entry#1", 30)))
            .client_request_token(&token)
            .send()
            .await;
        eprintln!("{out:?}");
        out.unwrap();
    }
    let balance = get(&client, &table, "acct#2", "balance").await.unwrap();
    eprintln!("{balance:?}");

    let out = client
        .transact_write_items()
        .set_transact_items(Some(charge_actions(&table, "acct#2", "entry#2", 30)))
        .client_request_token(&token)
        .send()
        .await;
    match out {
        Ok(o) => eprintln!("different params same token: Ok {o:?}"),
        Err(e) => {
            let e = e.into_service_error();
            eprintln!("different params same token: {:?} {:?} {e:?}", e.code(), e.message());
        }
    }

    let out = client
        .put_item()
        .table_name(&table)
        .set_item(Some(key("acct#2", "entry#1")))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    let e = out.unwrap_err().into_service_error();
    eprintln!("single put: {:?} {:?}", e.code(), e.message());
    if let PutItemError::ConditionalCheckFailedException(c) = &e {
        eprintln!("item: {:?}", c.item());
    }
}
