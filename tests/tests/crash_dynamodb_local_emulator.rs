//! DynamoDB Local itself, killed with SIGKILL right after it acknowledged a transaction, then
//! started again on the same `-dbPath`: does it still hold every transaction it acknowledged?
//!
//! No: a transaction acknowledged some 50–100 ms before the kill is sometimes missing after
//! the restart (whole: both of its items; seen in 2 of 3 runs here). DynamoDB makes a write
//! durable before it answers; the emulator does not, so the crash test over DynamoDB Local
//! (`crash_dynamodb_local.rs`) allows a 201 answered in the last moments before the kill to
//! be missing, whole. Ignored because it fails by design (it documents the emulator); run it
//! with `cargo test -p credits-tests --test crash_dynamodb_local_emulator -- --ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use credits_tests::dynamodb_local::DynamoDbLocal;

const TABLE: &str = "durability";
const WRITERS: usize = 8;
/// Bound of each writer's loop (the kill stops them long before).
const MAX_TRANSACTIONS_PER_WRITER: usize = 10_000;

fn key(writer: usize, n: usize, half: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("w{writer}"))),
        ("sk".to_owned(), AttributeValue::S(format!("{n:06}{half}"))),
    ])
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn key_element(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fails by design: DynamoDB Local acknowledges TransactWriteItems before they are durable, and a SIGKILL within ~100 ms of the acknowledgement loses them (whole)"]
async fn dynamodb_local_keeps_acknowledged_transactions_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let local = DynamoDbLocal::start_persistent(dir.path()).unwrap();
    let client = local.client().await;
    let local = Arc::new(Mutex::new(local));
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key_element("pk", KeyType::Hash))
        .key_schema(key_element("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
    // Two conditional puts per transaction, under a client request token, as the store's
    // commits are.
    let acked: Arc<Mutex<Vec<(usize, usize, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let client = client.clone();
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        tasks.spawn(async move {
            for n in 0..MAX_TRANSACTIONS_PER_WRITER {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let items = ["a", "b"]
                    .into_iter()
                    .map(|half| {
                        let mut item = key(writer, n, half);
                        item.insert("v".into(), AttributeValue::N(n.to_string()));
                        let put = Put::builder()
                            .table_name(TABLE)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .unwrap();
                        TransactWriteItem::builder().put(put).build()
                    })
                    .collect();
                let sent = client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .client_request_token(format!("w{writer}-{n}"))
                    .send()
                    .await;
                if sent.is_err() {
                    break;
                }
                acked.lock().unwrap().push((writer, n, Instant::now()));
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Kill right after an acknowledgement.
    let seen = acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() == seen && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    local.lock().unwrap().kill().unwrap();
    let killed_at = Instant::now();
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    drop(local);

    let local = DynamoDbLocal::start_persistent(dir.path()).unwrap();
    let client = local.client().await;
    let acked = acked.lock().unwrap().clone();
    let mut missing = Vec::new();
    for (writer, n, at) in &acked {
        for half in ["a", "b"] {
            let got = client
                .get_item()
                .table_name(TABLE)
                .set_key(Some(key(*writer, *n, half)))
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            if got.item.is_none() {
                missing.push(format!(
                    "w{writer} #{n}{half} acknowledged {:?} before the kill",
                    killed_at - *at
                ));
            }
        }
    }
    eprintln!(
        "{} transactions acknowledged, {} items missing after the restart: {missing:#?}",
        acked.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "{missing:#?}");
}
