//! The handler, called directly with stream batches and a recording publisher double:
//! batching, skipping what is not an event, and partial-failure reporting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Mutex;

use credits_events_publisher::{
    BatchResponse, Entry, EntryOutcome, EventDetail, MAX_ENTRIES_PER_PUT, Publisher, StreamBatch,
    handle,
};
use serde_json::{Value as Json, json};

/// Records every request; refuses the entries whose event id is in `refuse`, or the whole
/// request when `fail_requests` is set.
#[derive(Default)]
struct Recording {
    requests: Mutex<Vec<Vec<Entry>>>,
    refuse: Vec<String>,
    fail_requests: bool,
}

#[async_trait::async_trait]
impl Publisher for Recording {
    async fn put_events(&self, entries: &[Entry]) -> Result<Vec<EntryOutcome>, String> {
        self.requests.lock().unwrap().push(entries.to_vec());
        if self.fail_requests {
            return Err("ServiceUnavailable".to_owned());
        }
        Ok(entries
            .iter()
            .map(|entry| {
                if self.refuse.contains(&entry.event_id) {
                    EntryOutcome::Failed {
                        code: "InternalFailure".to_owned(),
                        message: "try again".to_owned(),
                    }
                } else {
                    EntryOutcome::Published
                }
            })
            .collect())
    }
}

impl Recording {
    fn published_ids(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .map(|entry| entry.event_id.clone())
            .collect()
    }
}

fn event_record(account: &str, seq: u64, sequence_number: u64) -> Json {
    json!({
        "eventID": format!("e{sequence_number}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {
                "pk": {"S": format!("A#{account}")},
                "sk": {"S": format!("V#{seq:020}")}
            },
            "NewImage": {
                "pk": {"S": format!("A#{account}")},
                "sk": {"S": format!("V#{seq:020}")},
                "account": {"S": account},
                "seq": {"N": seq.to_string()},
                "id": {"S": format!("{account}:{seq}")},
                "event_type": {"S": "balance.low"},
                "at": {"S": "2026-03-01T10:00:00.000000Z"},
                "body": {"S": format!("{{\"v\":1,\"balance_minor\":{seq}}}")}
            },
            "SequenceNumber": format!("{sequence_number:021}"),
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

fn batch(records: Vec<Json>) -> StreamBatch {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(response: &BatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// One event (seq 1) of each of `count` accounts (`a1`, `a2`…).
fn many_accounts(count: u64) -> Vec<Json> {
    (1..=count)
        .map(|n| event_record(&format!("a{n}"), 1, n))
        .collect()
}

#[tokio::test]
async fn every_event_is_published_in_order_ten_at_most_per_request() {
    let records = many_accounts(23);
    let publisher = Recording::default();
    let response = handle(&batch(records), &publisher).await;
    assert!(response.batch_item_failures.is_empty());
    let sizes: Vec<usize> = publisher
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, [10, 10, 3]);
    assert!(sizes.iter().all(|size| *size <= MAX_ENTRIES_PER_PUT));
    let expected: Vec<String> = (1..=23).map(|n| format!("a{n}:1")).collect();
    assert_eq!(publisher.published_ids(), expected);

    let first = publisher.requests.lock().unwrap()[0][0].clone();
    assert_eq!(first.source, "credits");
    assert_eq!(first.detail_type, "balance.low");
    let detail: EventDetail = serde_json::from_str(&first.detail).unwrap();
    assert_eq!(detail.id, "a1:1");
    assert_eq!(detail.account, "a1");
    assert_eq!(detail.seq, 1);
    assert_eq!(detail.at, "2026-03-01T10:00:00.000000Z");
    assert_eq!(detail.body, json!({"v": 1, "balance_minor": 1}));
}

#[tokio::test]
async fn one_request_holds_one_event_per_account() {
    // acme 1, beta 1, acme 2, beta 2, gamma 1, acme 3
    let records = vec![
        event_record("acme", 1, 1),
        event_record("beta", 1, 2),
        event_record("acme", 2, 3),
        event_record("beta", 2, 4),
        event_record("gamma", 1, 5),
        event_record("acme", 3, 6),
    ];
    let publisher = Recording::default();
    let response = handle(&batch(records), &publisher).await;
    assert!(response.batch_item_failures.is_empty());
    let requests: Vec<Vec<String>> = publisher
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|request| request.iter().map(|e| e.event_id.clone()).collect())
        .collect();
    assert_eq!(
        requests,
        [
            vec!["acme:1", "beta:1"],
            vec!["acme:2", "beta:2", "gamma:1"],
            vec!["acme:3"],
        ]
    );
}

#[tokio::test]
async fn a_refused_entry_is_reported_with_every_record_after_it() {
    let records = many_accounts(15);
    let publisher = Recording {
        refuse: vec!["a4:1".to_owned()],
        ..Recording::default()
    };
    let response = handle(&batch(records), &publisher).await;
    // Lambda retries from the first failure (the lowest sequence number reported): the
    // records after it are reported too, and no later request is sent.
    let expected: Vec<String> = (4..=15).map(|n| format!("{n:021}")).collect();
    assert_eq!(failures(&response), expected);
    assert_eq!(publisher.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_request_reports_its_first_record_and_all_later_ones() {
    let records = many_accounts(12);
    let publisher = Recording {
        fail_requests: true,
        ..Recording::default()
    };
    let response = handle(&batch(records), &publisher).await;
    let expected: Vec<String> = (1..=12).map(|n| format!("{n:021}")).collect();
    assert_eq!(failures(&response), expected);
}

#[tokio::test]
async fn a_failure_in_a_later_request_keeps_the_earlier_ones_published() {
    let records = many_accounts(14);
    let publisher = Recording {
        refuse: vec!["a12:1".to_owned()],
        ..Recording::default()
    };
    let response = handle(&batch(records), &publisher).await;
    let expected: Vec<String> = (12..=14).map(|n| format!("{n:021}")).collect();
    assert_eq!(failures(&response), expected);
    assert_eq!(publisher.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn records_that_are_not_event_inserts_are_skipped() {
    let mut modify = event_record("acme", 2, 2);
    modify["eventName"] = json!("MODIFY");
    let mut entry = event_record("acme", 3, 3);
    entry["dynamodb"]["Keys"]["sk"] = json!({"S": "E#00000000000000000003"});
    let records = vec![event_record("acme", 1, 1), modify, entry];
    let publisher = Recording::default();
    let response = handle(&batch(records), &publisher).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(publisher.published_ids(), ["acme:1"]);
}

#[tokio::test]
async fn a_malformed_event_item_stops_the_batch_there() {
    let mut broken = event_record("acme", 2, 2);
    broken["dynamodb"]["NewImage"]["body"] = json!({"S": "not json"});
    let records = vec![
        event_record("acme", 1, 1),
        broken,
        event_record("acme", 3, 3),
    ];
    let publisher = Recording::default();
    let response = handle(&batch(records), &publisher).await;
    assert_eq!(
        failures(&response),
        [format!("{:021}", 2), format!("{:021}", 3)]
    );
    // What came before it was sent first.
    assert_eq!(publisher.published_ids(), ["acme:1"]);
}

#[tokio::test]
async fn large_events_split_requests_by_size() {
    let big = "x".repeat(60 * 1024);
    let records = (1..=8)
        .map(|n| {
            let mut record = event_record(&format!("a{n}"), 1, n);
            record["dynamodb"]["NewImage"]["body"] =
                json!({"S": serde_json::to_string(&json!({"pad": big})).unwrap()});
            record
        })
        .collect();
    let publisher = Recording::default();
    let response = handle(&batch(records), &publisher).await;
    assert!(response.batch_item_failures.is_empty());
    let requests = publisher.requests.lock().unwrap();
    assert!(requests.len() >= 2);
    for request in requests.iter() {
        let bytes: usize = request.iter().map(Entry::size_bytes).sum();
        assert!(bytes <= credits_events_publisher::MAX_PUT_BYTES, "{bytes}");
    }
}

#[test]
fn the_response_is_the_shape_lambda_reads() {
    let response = BatchResponse {
        batch_item_failures: vec![credits_events_publisher::ItemFailure {
            item_identifier: "42".to_owned(),
        }],
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "42"}]})
    );
}
