//! The DynamoDB webhook store (`DynamoWebhookStore`) over DynamoDB Local: the store-agnostic
//! contract (`credits_store::conformance::webhooks`, queued as the sender queues a stream
//! batch: `enqueue_events`), then what only this store has to prove: a stream's replays are
//! skipped, concurrent queueing, attempts and re-deliveries leave every lane with one due
//! row in seq order, concurrent claimers never share a row, large lanes are changed in
//! bounded transactions, the table is the one the code defines, and the requests per call.
//!
//! One emulator per test binary, a fresh table per test.
//! `cargo test -p credits-tests --test dynamodb_webhooks`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use credits_store::conformance::webhooks::{all_failed, at, claim, endpoint, event};
use credits_store::webhooks::{AttemptResult, DeliveryState, Redeliver, WebhookStore};
use credits_store::{EventRecord, StoreError};
use credits_store_dynamodb::{
    DynamoWebhookStore, RequestCounter, create_webhooks_table, create_webhooks_table_if_missing,
    webhooks_table_definition, with_interceptor,
};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};

/// A store over a new table, and its client. The client is built inside the test's own
/// runtime (an SDK client keeps connections tied to the runtime that opened them).
async fn fresh() -> (Arc<DynamoWebhookStore>, aws_sdk_dynamodb::Client, String) {
    let local =
        DynamoDbLocal::shared().unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
    let client = local.client().await;
    let table = unique_table_name("webhooks");
    create_webhooks_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create `{table}`: {e}\n{}", local.recent_output()));
    let store = Arc::new(DynamoWebhookStore::new(client.clone(), table.clone()));
    (store, client, table)
}

async fn make_store() -> Arc<DynamoWebhookStore> {
    fresh().await.0
}

mod conformance {
    credits_store::webhook_conformance_tests!(
        super::make_store(),
        credits_store::conformance::webhooks::FromStream
    );
}

fn low(account: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<EventRecord> {
    seqs.map(|seq| event(account, seq, "balance.low")).collect()
}

/// Every item of the table (a test's table is small).
async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<BTreeMap<String, String>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in output.items() {
            let plain = item
                .iter()
                .filter_map(|(name, value)| match value {
                    AttributeValue::S(text) | AttributeValue::N(text) => {
                        Some((name.clone(), text.clone()))
                    }
                    _ => None,
                })
                .collect();
            items.push(plain);
        }
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

/// The table's invariants, read from the items themselves: per lane at most one due row,
/// the lane item naming it, and never waiting rows without a due one.
async fn assert_lanes_sound(client: &aws_sdk_dynamodb::Client, table: &str) {
    let items = scan(client, table).await;
    let mut lanes: BTreeMap<String, (Option<String>, Vec<String>, usize)> = BTreeMap::new();
    for item in &items {
        let pk = item["pk"].clone();
        if !pk.starts_with("L#") {
            continue;
        }
        let lane = lanes.entry(pk).or_default();
        if item["sk"] == "LANE" {
            lane.0 = item.get("due_seq").cloned();
            continue;
        }
        match item["state"].as_str() {
            "due" => lane.1.push(item["seq"].clone()),
            "waiting" => lane.2 += 1,
            "failed" => {}
            other => panic!("state `{other}`"),
        }
    }
    for (pk, (due_seq, due, waiting)) in lanes {
        assert!(due.len() <= 1, "{pk}: due rows {due:?}");
        assert_eq!(
            due_seq,
            due.first().cloned(),
            "{pk}: the lane names its due row"
        );
        assert!(
            waiting == 0 || due.len() == 1,
            "{pk}: {waiting} waiting, none due"
        );
    }
}

#[tokio::test]
async fn a_stream_s_replays_are_skipped_and_the_feed_calls_are_refused() {
    let (store, client, table) = fresh().await;
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    store
        .put_endpoint(&endpoint("wh_b", &["balance.low"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .enqueue_events(&low("alice", 1..=3), at(0))
            .await
            .unwrap(),
        6
    );
    // The same batch again (a stream retry), and an overlapping one.
    assert_eq!(
        store
            .enqueue_events(&low("alice", 1..=3), at(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .enqueue_events(&low("alice", 2..=5), at(2))
            .await
            .unwrap(),
        4
    );
    // Out of order within a batch, and duplicated: queued once each, in seq order.
    let mut shuffled = low("bob", 1..=3);
    shuffled.reverse();
    shuffled.push(event("bob", 2, "balance.low"));
    assert_eq!(store.enqueue_events(&shuffled, at(3)).await.unwrap(), 6);
    assert_eq!(store.enqueue_events(&[], at(3)).await.unwrap(), 0);
    let mut delivered: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for round in 0..20 {
        let now = at(100 + round);
        for delivery in claim(&*store, now).await {
            delivered
                .entry((delivery.endpoint.clone(), delivery.event.account.clone()))
                .or_default()
                .push(delivery.event.seq);
            store
                .record_attempt(&delivery, now, AttemptResult::Delivered)
                .await
                .unwrap();
        }
    }
    for endpoint in ["wh_a", "wh_b"] {
        assert_eq!(
            delivered[&(endpoint.to_owned(), "alice".to_owned())],
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            delivered[&(endpoint.to_owned(), "bob".to_owned())],
            [1, 2, 3]
        );
    }
    assert_eq!(
        store
            .enqueue_events(&low("alice", 1..=5), at(200))
            .await
            .unwrap(),
        0
    );
    // No feed here: the stream is it.
    assert_eq!(store.delivery_cursor().await.unwrap(), 0);
    assert!(matches!(
        store.enqueue(0, &[], 1, at(0)).await,
        Err(StoreError::Invalid(_))
    ));
    assert_lanes_sound(&client, &table).await;
}

/// Queueing, attempts (delivered, retried, given up) and re-deliveries race on the same
/// lanes, round after round: every lane keeps one due row (or none and nothing waiting),
/// and each event is delivered once per endpoint, each account's in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_queueing_attempts_and_redeliveries_keep_one_due_row_per_lane() {
    let (store, client, table) = fresh().await;
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    let accounts = ["alice", "bob"];
    const EVENTS: u64 = 40;
    let queuer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for first in (1..=EVENTS).step_by(2) {
                for account in accounts {
                    let batch = low(account, first..=first + 1);
                    // Each batch twice: the stream's retries.
                    store.enqueue_events(&batch, at(0)).await.unwrap();
                    store.enqueue_events(&batch, at(0)).await.unwrap();
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let redeliverer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..30 {
                store
                    .redeliver("wh_a", Redeliver::AllFailed, at(0))
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    // The deliverer: a receiver that fails every 7th attempt for good (given up, then
    // re-delivered by the task above) and every 5th for now (retried).
    let mut delivered: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut attempt = 0_u64;
    let mut idle_rounds = 0;
    let mut round = 0_i64;
    while idle_rounds < 40 {
        round += 1;
        let now = at(1_000 + round * 100);
        let claimed = store
            .claim_due(now, now + Duration::seconds(40), 256)
            .await
            .unwrap();
        let mut lanes = BTreeSet::new();
        for delivery in &claimed {
            assert!(lanes.insert(delivery.event.account.clone()), "{claimed:?}");
        }
        if claimed.is_empty() {
            idle_rounds += 1;
            if queuer.is_finished() && redeliverer.is_finished() {
                // Anything given up last is queued again for the final rounds.
                store
                    .redeliver("wh_a", Redeliver::AllFailed, now)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            continue;
        }
        idle_rounds = 0;
        for delivery in claimed {
            attempt += 1;
            let result = if attempt.is_multiple_of(7) {
                AttemptResult::GiveUp {
                    status: Some(500),
                    error: "gone for 3 days".to_owned(),
                }
            } else if attempt.is_multiple_of(5) {
                AttemptResult::Retry {
                    at: now,
                    status: Some(503),
                    error: "busy".to_owned(),
                }
            } else {
                let account = accounts
                    .into_iter()
                    .find(|a| *a == delivery.event.account)
                    .unwrap();
                delivered
                    .entry(account)
                    .or_default()
                    .push(delivery.event.seq);
                AttemptResult::Delivered
            };
            store.record_attempt(&delivery, now, result).await.unwrap();
        }
    }
    queuer.await.unwrap();
    redeliverer.await.unwrap();
    assert_lanes_sound(&client, &table).await;
    for account in accounts {
        let seqs = &delivered[account];
        let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            seqs.len(),
            "{account}: delivered twice: {seqs:?}"
        );
        assert_eq!(distinct, (1..=EVENTS).collect(), "{account}: every event");
    }
    assert!(all_failed(&*store, "wh_a", 100).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_take_the_same_delivery() {
    let (store, _client, _table) = fresh().await;
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    for round in 0..5_i64 {
        let events: Vec<EventRecord> = (0..30)
            .map(|n| {
                event(
                    &format!("acct{n}"),
                    u64::try_from(round).unwrap() + 1,
                    "balance.low",
                )
            })
            .collect();
        assert_eq!(store.enqueue_events(&events, at(round)).await.unwrap(), 30);
        let now = at(1_000 * (round + 1));
        let claimers: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .claim_due(now, now + Duration::seconds(40), 256)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut taken = BTreeSet::new();
        let mut claimed = Vec::new();
        for claimer in claimers {
            for delivery in claimer.await.unwrap() {
                assert!(
                    taken.insert(delivery.event.id.clone()),
                    "{} claimed twice",
                    delivery.event.id
                );
                claimed.push(delivery);
            }
        }
        assert_eq!(taken.len(), 30, "every due delivery claimed once");
        for delivery in claimed {
            store
                .record_attempt(&delivery, now, AttemptResult::Delivered)
                .await
                .unwrap();
        }
    }
}

/// A lane longer than one transaction holds (40 rows) is held back and re-queued whole.
#[tokio::test]
async fn a_long_lane_is_given_up_and_requeued_in_bounded_transactions() {
    let (store, client, table) = fresh().await;
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    assert_eq!(
        store
            .enqueue_events(&low("alice", 1..=95), at(0))
            .await
            .unwrap(),
        95
    );
    let first = claim(&*store, at(0)).await.remove(0);
    store
        .record_attempt(
            &first,
            at(1),
            AttemptResult::GiveUp {
                status: None,
                error: "no answer".to_owned(),
            },
        )
        .await
        .unwrap();
    let failed = all_failed(&*store, "wh_a", 30).await;
    assert_eq!(failed.len(), 95);
    assert!(failed.iter().all(|d| d.state == DeliveryState::Failed));
    assert_lanes_sound(&client, &table).await;
    assert_eq!(
        store
            .redeliver("wh_a", Redeliver::AllFailed, at(2))
            .await
            .unwrap(),
        95
    );
    assert_lanes_sound(&client, &table).await;
    for seq in 1..=95 {
        let now = at(10 + seq);
        let claimed = claim(&*store, now).await;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].event.seq, u64::try_from(seq).unwrap());
        store
            .record_attempt(&claimed[0], now, AttemptResult::Delivered)
            .await
            .unwrap();
    }
    assert!(claim(&*store, at(10_000)).await.is_empty());
}

#[tokio::test]
async fn the_table_is_the_one_the_code_defines() {
    let local = DynamoDbLocal::shared().unwrap();
    let client = local.client().await;
    let table = unique_table_name("webhooks-def");
    assert!(
        create_webhooks_table_if_missing(&client, &table)
            .await
            .unwrap()
    );
    assert!(
        !create_webhooks_table_if_missing(&client, &table)
            .await
            .unwrap()
    );
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    let definition = webhooks_table_definition(&table).unwrap();
    assert_eq!(described.key_schema(), definition.key_schema());
    let mut indexes: Vec<(&str, Vec<_>)> = described
        .global_secondary_indexes()
        .iter()
        .map(|index| (index.index_name().unwrap(), index.key_schema().to_vec()))
        .collect();
    indexes.sort_by_key(|(name, _)| *name);
    let expected: Vec<(&str, Vec<_>)> = definition
        .global_secondary_indexes()
        .iter()
        .map(|index| (index.index_name(), index.key_schema().to_vec()))
        .collect();
    assert_eq!(indexes, expected);
    assert!(
        described
            .stream_specification()
            .is_none_or(|stream| !stream.stream_enabled())
    );
}

/// What each call costs, in requests (the promise `docs/webhooks.md` documents).
#[tokio::test]
async fn requests_per_call() {
    let (_, client, table) = fresh().await;
    let counter = RequestCounter::default();
    let store = DynamoWebhookStore::new(with_interceptor(&client, counter.clone()), table);
    store.put_endpoint(&endpoint("wh_a", &["*"])).await.unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([("TransactWriteItems".to_owned(), 1)])
    );
    store.endpoints().await.unwrap();
    assert_eq!(counter.take(), BTreeMap::from([("Query".to_owned(), 1)]));
    // One lane: the endpoints, the lane, one transaction.
    store
        .enqueue_events(&low("alice", 1..=3), at(0))
        .await
        .unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([
            ("GetItem".to_owned(), 1),
            ("Query".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 1)
        ])
    );
    // A replay: the endpoints and the lane, nothing written.
    store
        .enqueue_events(&low("alice", 1..=3), at(0))
        .await
        .unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([("GetItem".to_owned(), 1), ("Query".to_owned(), 1)])
    );
    // The endpoints, one query per due shard, one update per row claimed.
    let claimed = store.claim_due(at(0), at(40), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        counter.take(),
        BTreeMap::from([("Query".to_owned(), 5), ("UpdateItem".to_owned(), 1)])
    );
    let retry = AttemptResult::Retry {
        at: at(10),
        status: Some(503),
        error: "busy".to_owned(),
    };
    store
        .record_attempt(&claimed[0], at(1), retry)
        .await
        .unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([("UpdateItem".to_owned(), 1)])
    );
    // Delivered: the lane, its waiting rows up to the lowest, one transaction.
    store
        .record_attempt(&claimed[0], at(11), AttemptResult::Delivered)
        .await
        .unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([
            ("GetItem".to_owned(), 1),
            ("Query".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 1)
        ])
    );
    store.failed_deliveries("wh_a", None, 10).await.unwrap();
    assert_eq!(
        counter.take(),
        BTreeMap::from([("GetItem".to_owned(), 1), ("Query".to_owned(), 1)])
    );
}
