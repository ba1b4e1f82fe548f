//! The events publisher in `infra/template.yaml`: triggered by the ledger table's stream with
//! a filter that keeps only event inserts (the publisher's own pattern), reporting failed
//! records, bisecting, dead-lettering into a watched queue, publishing to this stack's bus —
//! and allowed nothing more than that.
//!
//! `cargo test -p credits-tests --test template_events`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use credits_tests::template::Template;
use serde_json::{Value as Json, json};

const FUNCTION: &str = "EventsPublisherFunction";
const ROLE: &str = "EventsPublisherRole";
const QUEUE: &str = "EventsDeadLetterQueue";
const BUS: &str = "EventBus";

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

/// The function's one stream event's `Properties`.
fn stream_event(template: &Template) -> Json {
    let events = template.resource(FUNCTION).expect(FUNCTION)["Properties"]["Events"]
        .as_object()
        .expect("Events")
        .clone();
    let streams: Vec<&Json> = events
        .values()
        .filter(|e| e["Type"] == "DynamoDB")
        .collect();
    assert_eq!(streams.len(), 1, "one stream event");
    assert_eq!(events.len(), 1, "nothing else triggers the publisher");
    streams[0]["Properties"].clone()
}

#[test]
fn the_table_streams_new_images() {
    let template = template();
    assert_eq!(
        template.table_properties().unwrap()["StreamSpecification"],
        json!({"StreamViewType": "NEW_IMAGE"})
    );
    // The code's definition says the same (template_table.rs compares the whole table).
    let definition = credits_store_dynamodb::table_definition("t").unwrap();
    assert_eq!(
        definition
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );
}

#[test]
fn the_publisher_reads_the_table_stream_through_the_filter_it_defines() {
    let template = template();
    let (table_id, _) = template.table().unwrap();
    let event = stream_event(&template);
    assert_eq!(
        event["Stream"],
        json!({"Fn::GetAtt": [table_id, "StreamArn"]})
    );
    let filters = event["FilterCriteria"]["Filters"]
        .as_array()
        .expect("Filters");
    assert_eq!(filters.len(), 1);
    let declared: Json = serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    let defined: Json =
        serde_json::from_str(credits_events_publisher::STREAM_FILTER_PATTERN).unwrap();
    assert_eq!(
        declared, defined,
        "the template's filter is the publisher's"
    );
    assert_eq!(declared["eventName"], json!(["INSERT"]));
    assert_eq!(
        declared["dynamodb"]["Keys"]["sk"]["S"],
        json!([{"prefix": credits_store_dynamodb::EVENT_SK_PREFIX}]),
        "the filter keeps the store's event items"
    );
    assert_eq!(
        credits_events_publisher::EVENT_SK_PREFIX,
        credits_store_dynamodb::EVENT_SK_PREFIX
    );
}

#[test]
fn failed_records_are_retried_alone_bisected_and_dead_lettered() {
    let template = template();
    let event = stream_event(&template);
    assert_eq!(
        event["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(event["BisectBatchOnFunctionError"], true);
    assert_eq!(event["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(
        event["ParallelizationFactor"], 1,
        "one batch per shard at a time"
    );
    let batch = event["BatchSize"].as_u64().unwrap();
    assert!((1..=1000).contains(&batch), "BatchSize {batch}");
    let age = event["MaximumRecordAgeInSeconds"].as_i64().unwrap();
    assert!(
        (60..86_400).contains(&age),
        "records are given up before the stream's 24 h retention trims them: {age}"
    );
    assert!(event["MaximumRetryAttempts"].as_i64().unwrap() >= 1);
    assert_eq!(
        event["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": [QUEUE, "Arn"]})
    );
    let queue = template.resource(QUEUE).unwrap();
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["Properties"]["MessageRetentionPeriod"], 1_209_600);
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);
}

#[test]
fn the_bus_is_this_stacks_and_the_function_names_it() {
    let template = template();
    let bus = template.resource(BUS).unwrap();
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert!(
        bus["Properties"]["Name"]["Fn::Sub"]
            .as_str()
            .is_some_and(|name| name.contains("${Stage}")),
        "the bus's name carries the stage"
    );
    let variables = &template.resource(FUNCTION).unwrap()["Properties"]["Environment"]["Variables"];
    assert_eq!(
        variables[credits_events_publisher::EVENT_BUS_ENV],
        json!({"Ref": BUS})
    );
    let outputs = &template.json()["Outputs"];
    assert_eq!(outputs["EventBusName"]["Value"], json!({"Ref": BUS}));
}

/// Every statement of the role: (actions, resource).
fn statements(template: &Template, role: &str) -> Vec<(BTreeSet<String>, Json)> {
    let mut out = Vec::new();
    for policy in template.resource(role).unwrap()["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            assert!(statement.get("Condition").is_none(), "{statement}");
            let actions = match &statement["Action"] {
                Json::String(one) => BTreeSet::from([one.clone()]),
                Json::Array(many) => many
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("Action {other}"),
            };
            out.push((actions, statement["Resource"].clone()));
        }
    }
    out
}

#[test]
fn the_publishers_role_reads_the_stream_puts_on_the_bus_and_dead_letters_only() {
    let template = template();
    let (table_id, _) = template.table().unwrap();
    let function = template.resource(FUNCTION).unwrap();
    assert_eq!(
        function["Properties"]["Role"],
        json!({"Fn::GetAtt": [ROLE, "Arn"]})
    );
    assert!(function["Properties"].get("Policies").is_none());
    let set = |actions: &[&str]| -> BTreeSet<String> {
        actions.iter().map(|a| (*a).to_owned()).collect()
    };
    let expected = vec![
        (
            set(&["logs:CreateLogStream", "logs:PutLogEvents"]),
            json!({"Fn::GetAtt": ["EventsPublisherLogGroup", "Arn"]}),
        ),
        (
            set(&["xray:PutTraceSegments", "xray:PutTelemetryRecords"]),
            json!("*"),
        ),
        (
            set(&[
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
            ]),
            json!({"Fn::GetAtt": [table_id, "StreamArn"]}),
        ),
        (
            set(&["dynamodb:ListStreams"]),
            json!({"Fn::Sub": format!("${{{table_id}.Arn}}/stream/*")}),
        ),
        (
            set(&["events:PutEvents"]),
            json!({"Fn::GetAtt": [BUS, "Arn"]}),
        ),
        (
            set(&["sqs:SendMessage"]),
            json!({"Fn::GetAtt": [QUEUE, "Arn"]}),
        ),
    ];
    assert_eq!(statements(&template, ROLE), expected);
    // No other role may publish events.
    for (id, _) in template.resources_of_type("AWS::IAM::Role") {
        if id == ROLE {
            continue;
        }
        for (actions, _) in statements_loose(&template, id) {
            assert!(
                actions.iter().all(|a| !a.starts_with("events:")),
                "{id} may use EventBridge: {actions:?}"
            );
        }
    }
}

/// Like [`statements`], without the publisher role's rules (other roles have conditions).
fn statements_loose(template: &Template, role: &str) -> Vec<(BTreeSet<String>, Json)> {
    let policies = template.resource(role).unwrap()["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    policies
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| {
            let actions = match &s["Action"] {
                Json::String(one) => BTreeSet::from([one.clone()]),
                Json::Array(many) => many
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                _ => BTreeSet::new(),
            };
            (actions, s["Resource"].clone())
        })
        .collect()
}

#[test]
fn the_dead_letter_queue_errors_and_lag_are_alarmed() {
    let template = template();
    let dlq = template.alarms_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        &json!({"Fn::GetAtt": [QUEUE, "QueueName"]}),
    );
    assert_eq!(dlq.len(), 1, "one alarm on the events DLQ");
    assert_eq!(dlq[0]["Threshold"], 1, "any message needs a look");
    let function = json!({"Ref": FUNCTION});
    for metric in ["Errors", "Throttles", "IteratorAge"] {
        let alarms = template.alarms_on("AWS/Lambda", metric, "FunctionName", &function);
        assert_eq!(alarms.len(), 1, "one alarm on the publisher's {metric}");
    }
}
