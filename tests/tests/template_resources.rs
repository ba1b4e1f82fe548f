//! What the deployment promises beyond the table, routes and IAM (infra/README.md):
//! every function on `provided.al2023` with the architecture a parameter defaulting to arm64,
//! memory and timeout stated, JSON logs into a log group with a retention, alarms on its
//! errors and throttles; the rollover schedule with a retry policy and a dead-letter queue
//! that is watched; DynamoDB and API alarms; parameters for stage and names; the API URL as
//! an output.
//!
//! `cargo test -p credits-tests --test template_resources`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use credits_tests::template::Template;
use serde_json::{Value as Json, json};

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

/// A function property, or the Globals' one.
fn function_property<'a>(template: &'a Template, function: &str, key: &str) -> Option<&'a Json> {
    template
        .resource(function)
        .and_then(|f| f["Properties"].get(key))
        .or_else(|| template.json()["Globals"]["Function"].get(key))
}

fn function_ids(template: &Template) -> Vec<String> {
    template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect()
}

#[test]
fn parameters_name_the_stage_and_default_to_arm64() {
    let template = template();
    let parameters = &template.json()["Parameters"];
    assert_eq!(parameters["Architecture"]["Default"], "arm64");
    assert_eq!(
        parameters["Architecture"]["AllowedValues"],
        json!(["arm64", "x86_64"])
    );
    for name in ["Stage", "ServiceName"] {
        assert_eq!(parameters[name]["Type"], "String", "parameter {name}");
    }
    // Every named resource carries the stage, so stages can share an account.
    let table_name = &template.table_properties().unwrap()["TableName"];
    assert!(
        table_name["Fn::Sub"]
            .as_str()
            .is_some_and(|s| s.contains("${Stage}")),
        "the table name must include the stage: {table_name}"
    );
}

#[test]
fn every_function_is_a_custom_runtime_with_stated_memory_and_timeout() {
    let template = template();
    for id in function_ids(&template) {
        assert_eq!(
            function_property(&template, &id, "Runtime"),
            Some(&json!("provided.al2023")),
            "{id}: Runtime"
        );
        assert_eq!(
            function_property(&template, &id, "Handler"),
            Some(&json!("bootstrap")),
            "{id}: Handler"
        );
        assert_eq!(
            function_property(&template, &id, "Architectures"),
            Some(&json!([{"Ref": "Architecture"}])),
            "{id}: Architectures must be the Architecture parameter"
        );
        let memory = function_property(&template, &id, "MemorySize")
            .and_then(Json::as_u64)
            .unwrap_or_else(|| panic!("{id}: MemorySize must be stated"));
        let timeout = function_property(&template, &id, "Timeout")
            .and_then(Json::as_u64)
            .unwrap_or_else(|| panic!("{id}: Timeout must be stated"));
        assert!((128..=1024).contains(&memory), "{id}: MemorySize {memory}");
        let scheduled = template.scheduled_functions().contains(&id);
        let streamed = template.stream_functions().contains(&id);
        if scheduled || streamed {
            assert!(timeout <= 900, "{id}: Timeout {timeout}");
        } else {
            // API Gateway gives up on an integration after 30 s: a function must answer first.
            assert!(
                timeout < 30,
                "{id}: Timeout {timeout} must stay under API Gateway's 30 s"
            );
        }
    }
}

#[test]
fn every_function_logs_json_into_its_own_retained_log_group() {
    let template = template();
    let mut groups = BTreeSet::new();
    for id in function_ids(&template) {
        let logging = function_property(&template, &id, "LoggingConfig")
            .unwrap_or_else(|| panic!("{id}: no LoggingConfig"));
        assert_eq!(logging["LogFormat"], "JSON", "{id}: LogFormat");
        assert!(
            logging.get("ApplicationLogLevel").is_some(),
            "{id}: ApplicationLogLevel"
        );
        let group = logging["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup must be `!Ref <LogGroup>`"));
        assert!(
            groups.insert(group.to_string()),
            "{id}: log group {group} is shared"
        );
        let resource = template.resource(group).unwrap();
        assert_eq!(resource["Type"], "AWS::Logs::LogGroup", "{group}");
        assert!(
            resource["Properties"].get("RetentionInDays").is_some(),
            "{group}: RetentionInDays"
        );
        // Lambda's own name for the group, so nothing else creates a second one.
        let function_name = function_property(&template, &id, "FunctionName").unwrap()["Fn::Sub"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            resource["Properties"]["LogGroupName"]["Fn::Sub"],
            json!(format!("/aws/lambda/{function_name}")),
            "{group}: LogGroupName"
        );
    }
}

/// Alarms on `namespace`/`metric` whose dimension `dimension` is `value`: the alarm's own
/// metric, or one of the metrics its expression reads.
fn alarms_on(
    template: &Template,
    namespace: &str,
    metric: &str,
    dimension: &str,
    value: &Json,
) -> Vec<String> {
    let watches = |m: &Json| {
        m["Namespace"] == namespace
            && m["MetricName"] == metric
            && m["Dimensions"].as_array().is_some_and(|ds| {
                ds.iter()
                    .any(|d| d["Name"] == dimension && &d["Value"] == value)
            })
    };
    template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            let p = &alarm["Properties"];
            let read = watches(p)
                || p["Metrics"].as_array().is_some_and(|metrics| {
                    metrics.iter().any(|m| watches(&m["MetricStat"]["Metric"]))
                });
            read && p["AlarmActions"].as_array().is_some_and(|a| !a.is_empty())
        })
        .map(|(id, _)| id.to_string())
        .collect()
}

#[test]
fn every_function_has_error_and_throttle_alarms() {
    let template = template();
    for id in function_ids(&template) {
        for metric in ["Errors", "Throttles"] {
            let alarms = alarms_on(
                &template,
                "AWS/Lambda",
                metric,
                "FunctionName",
                &json!({"Ref": id}),
            );
            assert_eq!(
                alarms.len(),
                1,
                "{id}: one alarm on {metric}, found {alarms:?}"
            );
        }
    }
}

#[test]
fn the_rollover_schedule_retries_and_dead_letters_into_a_watched_queue() {
    let template = template();
    let function = template.resource("RolloverFunction").unwrap();
    let (_, schedule) = function["Properties"]["Events"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, e)| e["Type"] == "ScheduleV2" || e["Type"] == "Schedule")
        .expect("a schedule");
    let schedule = &schedule["Properties"];
    assert!(
        schedule["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "the schedule retries"
    );
    let queue_arn = &schedule["DeadLetterConfig"]["Arn"];
    let queue = queue_arn["Fn::GetAtt"][0]
        .as_str()
        .expect("DLQ is `!GetAtt <Queue>.Arn`");
    assert_eq!(template.resource(queue).unwrap()["Type"], "AWS::SQS::Queue");
    // Failures after the invocation (errors, timeouts) land in the same queue.
    let on_failure = &function["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(&on_failure["Destination"], queue_arn);
    // ... and someone hears of it.
    let alarms = alarms_on(
        &template,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        &json!({"Fn::GetAtt": [queue, "QueueName"]}),
    );
    assert_eq!(
        alarms.len(),
        1,
        "one alarm on the DLQ's depth, found {alarms:?}"
    );
    // The role may send there (a named role gets nothing from SAM's destination policies).
    let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    let allowed = template.resource(role).unwrap()["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .any(|s| s["Action"] == "sqs:SendMessage" && &s["Resource"] == queue_arn);
    assert!(allowed, "{role} must allow sqs:SendMessage on the DLQ");
    // Each account a run cannot advance is a message there too, and a metric with an alarm
    // (`credits_lambda::rollover`: the variable it reads, the EMF metric it prints).
    assert_eq!(
        function["Properties"]["Environment"]["Variables"]
            [credits_lambda::rollover::DEAD_LETTER_URL_ENV],
        json!({"Ref": queue}),
        "the function is told the queue's URL"
    );
    let failures = alarms_on(
        &template,
        credits_lambda::rollover::METRIC_NAMESPACE,
        "RolloverFailures",
        "function",
        &function["Properties"]["FunctionName"],
    );
    assert_eq!(failures.len(), 1, "one alarm on RolloverFailures");
}

#[test]
fn the_table_and_the_api_are_watched() {
    let template = template();
    let (table, _) = template.table().unwrap();
    let metrics: BTreeSet<String> = template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .flat_map(|(_, alarm)| {
            alarm["Properties"]["Metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| {
            m["MetricStat"]["Metric"]["Dimensions"]
                .as_array()
                .is_some_and(|ds| {
                    ds.iter()
                        .any(|d| d["Name"] == "TableName" && d["Value"] == json!({"Ref": table}))
                })
        })
        .filter_map(|m| {
            m["MetricStat"]["Metric"]["MetricName"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for metric in ["ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"] {
        assert!(
            metrics.contains(metric),
            "no alarm watches {table} {metric}"
        );
    }
    let api = alarms_on(
        &template,
        "AWS/ApiGateway",
        "5xx",
        "ApiId",
        &json!({"Ref": "HttpApi"}),
    );
    assert_eq!(api.len(), 1, "one alarm on the API's 5xx");
}

#[test]
fn the_api_url_is_an_output() {
    let template = template();
    let url = &template.json()["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"];
    assert!(
        url.as_str()
            .is_some_and(|u| u.starts_with("https://${HttpApi}.execute-api.")),
        "Outputs.ApiUrl: {url}"
    );
}
