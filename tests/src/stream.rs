//! The ledger table's stream on DynamoDB Local, read as Lambda's event source mapping reads it
//! (DynamoDB Streams: DescribeStream, GetShardIterator, GetRecords) and turned into the
//! records of the Lambda event a stream-triggered function receives (`Records[]`): what the
//! events publisher's and the webhook sender's tests hand to their handlers.
//!
//! Test support: a failure to read is a failed test, so it panics with the reason.
#![allow(clippy::panic, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
use credits_events_publisher::STREAM_FILTER_PATTERN;
use serde_json::{Value as Json, json};

use crate::dynamodb_local::{ACCESS_KEY_ID, DynamoDbLocal, REGION, SECRET_ACCESS_KEY};

async fn streams_client(local: &DynamoDbLocal) -> aws_sdk_dynamodbstreams::Client {
    use aws_config::{BehaviorVersion, Region};
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "credits-dynamodb-local",
        ))
        .endpoint_url(local.endpoint_url())
        .load()
        .await;
    aws_sdk_dynamodbstreams::Client::new(&config)
}

/// DynamoDB's JSON of one attribute, as a stream's Lambda event carries it.
fn attribute_json(value: &StreamValue) -> Json {
    match value {
        StreamValue::S(text) => json!({ "S": text }),
        StreamValue::N(text) => json!({ "N": text }),
        StreamValue::Bool(flag) => json!({ "BOOL": flag }),
        StreamValue::Null(_) => json!({ "NULL": true }),
        other => panic!("the table holds no attribute like {other:?}"),
    }
}

fn image_json(image: &HashMap<String, StreamValue>) -> Json {
    Json::Object(
        image
            .iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// Every record of `table`'s stream so far, oldest first per shard, as the Lambda event
/// records the function receives.
pub async fn stream_records(
    local: &DynamoDbLocal,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<Json> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table");
    let stream_arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream")
        .to_owned();
    let streams = streams_client(local).await;
    let stream = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .expect("describe stream");
    let description = stream.stream_description().expect("a stream description");
    assert_eq!(
        description.stream_view_type().map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );
    let mut records = Vec::new();
    for shard in description.shards() {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard.shard_id().expect("a shard id"))
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator;
        // An open shard always answers a next iterator: stop at the first empty read.
        for _ in 0..100 {
            let Some(current) = iterator else { break };
            let page = streams
                .get_records()
                .shard_iterator(current)
                .limit(1000)
                .send()
                .await
                .expect("get records");
            if page.records().is_empty() {
                break;
            }
            for record in page.records() {
                let data = record.dynamodb().expect("a change");
                let mut change = json!({
                    "Keys": image_json(data.keys().unwrap_or(&HashMap::new())),
                    "SequenceNumber": data.sequence_number().unwrap_or_default(),
                    "StreamViewType": "NEW_IMAGE",
                });
                if let Some(image) = data.new_image() {
                    change["NewImage"] = image_json(image);
                }
                records.push(json!({
                    "eventID": record.event_id().unwrap_or_default(),
                    "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
                    "eventSource": "aws:dynamodb",
                    "eventSourceARN": stream_arn,
                    "dynamodb": change,
                }));
            }
            iterator = page.next_shard_iterator;
        }
    }
    records
}

/// What the event source mapping's filter keeps ([`STREAM_FILTER_PATTERN`]): inserts of
/// `V#` items.
pub fn passes_filter(record: &Json) -> bool {
    let pattern: Json =
        serde_json::from_str(STREAM_FILTER_PATTERN).expect("the filter pattern is JSON");
    let names = pattern["eventName"].as_array().expect("event names");
    let prefix = pattern["dynamodb"]["Keys"]["sk"]["S"][0]["prefix"]
        .as_str()
        .expect("a key prefix");
    names.contains(&record["eventName"])
        && record["dynamodb"]["Keys"]["sk"]["S"]
            .as_str()
            .is_some_and(|sk| sk.starts_with(prefix))
}
