//! Webhooks on AWS in `infra/template.yaml` (docs/events-aws.md, "Webhooks"): the webhooks
//! table is the store's; the webhook sender reads the ledger table's stream through the events
//! publisher's filter, runs every minute to deliver what is due, dead-letters into a watched
//! queue, and is alarmed; only it and the function serving `/v1/webhooks` reach the webhooks
//! table, with exactly the actions the webhook store's code sends (recorded over DynamoDB
//! Local, on a table created from the template), and the sender reads no ledger item.
//!
//! `scripts/install-tools.sh` once (DynamoDB Local), then
//! `cargo test -p credits-tests --test template_webhooks`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use credits_store_dynamodb::{DynamoWebhookStore, webhooks_table_definition, with_interceptor};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::template::{
    IamRecorder, LEDGER_TABLE_ID, Permission, Route, TableResource, TableShape, Template,
    WEBHOOKS_TABLE_ID, create_template_webhooks_table, dynamodb_actions_in_source, workspace_root,
};
use serde_json::{Value as Json, json};

const FUNCTION: &str = "WebhookSenderFunction";
const ROLE: &str = "WebhookSenderRole";
const QUEUE: &str = "WebhookSenderDeadLetterQueue";
const LOG_GROUP: &str = "WebhookSenderLogGroup";
/// The variable naming the webhooks table: the sender's and the HTTP functions' are one.
const TABLE_ENV: &str = credits_webhook_sender::settings::WEBHOOKS_TABLE_ENV;
/// What the schedule sends: deliver the deliveries that are due.
const SCHEDULE_INPUT: &str = r#"{"deliver_due": true}"#;

#[test]
fn the_sender_and_the_http_functions_read_the_same_variable() {
    assert_eq!(TABLE_ENV, credits_lambda::WEBHOOKS_TABLE_ENV);
}

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn the_webhooks_table_is_the_stores_and_kept_like_the_ledgers() {
    let template = template();
    let declared = template.webhooks_table_shape().unwrap();
    let expected = TableShape::of_definition(&webhooks_table_definition("t").unwrap());
    let differences = declared.differences(&expected);
    assert!(
        differences.is_empty(),
        "infra/template.yaml's {WEBHOOKS_TABLE_ID} (left) and the store's (right) differ:\n  {}",
        differences.join("\n  ")
    );
    let (_, table) = template.webhooks_table().unwrap();
    let (_, ledger) = template.table().unwrap();
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(table[policy], "Retain", "{policy}");
        assert_eq!(table[policy], ledger[policy], "{policy} as the ledger's");
    }
    let properties = &table["Properties"];
    assert_eq!(
        properties["TableName"],
        json!({"Fn::Sub": "${ServiceName}-${Stage}-webhooks"})
    );
    assert_eq!(properties["SSESpecification"], json!({"SSEEnabled": true}));
    assert_eq!(
        properties["PointInTimeRecoverySpecification"],
        json!({"PointInTimeRecoveryEnabled": true})
    );
    assert_eq!(properties["DeletionProtectionEnabled"], true);
    assert!(
        properties.get("StreamSpecification").is_none(),
        "nothing reads the webhooks table's changes"
    );
    assert_eq!(
        template.json()["Outputs"]["WebhooksTableName"]["Value"],
        json!({"Ref": WEBHOOKS_TABLE_ID})
    );
}

/// The sender's events: `(stream event properties, schedule event)`.
fn sender_events(template: &Template) -> (Json, Json) {
    let events = template.resource(FUNCTION).expect(FUNCTION)["Properties"]["Events"]
        .as_object()
        .expect("Events")
        .clone();
    assert_eq!(
        events.len(),
        2,
        "the stream and the schedule, nothing else: {events:?}"
    );
    let of_type = |kinds: &[&str]| -> Json {
        let found: Vec<&Json> = events
            .values()
            .filter(|e| kinds.iter().any(|k| e["Type"] == *k))
            .collect();
        assert_eq!(found.len(), 1, "one event of {kinds:?}");
        found[0].clone()
    };
    (
        of_type(&["DynamoDB"])["Properties"].clone(),
        of_type(&["ScheduleV2", "Schedule"]),
    )
}

#[test]
fn the_sender_is_built_from_its_crate_and_told_its_table() {
    let template = template();
    let functions = template.functions().unwrap();
    let build = &functions[FUNCTION];
    assert_eq!(build.binary, "credits-webhook-sender");
    assert_eq!(build.code_uri, "../functions/webhook-sender");
    let properties = &template.resource(FUNCTION).unwrap()["Properties"];
    assert_eq!(properties["Timeout"], 90);
    assert_eq!(properties["MemorySize"], 256);
    assert_eq!(
        properties["FunctionName"],
        json!({"Fn::Sub": "${ServiceName}-${Stage}-webhook-sender"})
    );
    assert_eq!(
        properties["Environment"]["Variables"][TABLE_ENV],
        json!({"Ref": WEBHOOKS_TABLE_ID})
    );
    assert_eq!(properties["Role"], json!({"Fn::GetAtt": [ROLE, "Arn"]}));
    assert!(properties.get("Policies").is_none());
    assert_eq!(
        properties["LoggingConfig"]["LogGroup"],
        json!({"Ref": LOG_GROUP})
    );
}

#[test]
fn the_sender_reads_the_ledger_stream_through_the_publishers_filter() {
    let template = template();
    let (stream, _) = sender_events(&template);
    assert_eq!(
        stream["Stream"],
        json!({"Fn::GetAtt": [LEDGER_TABLE_ID, "StreamArn"]})
    );
    let filters = stream["FilterCriteria"]["Filters"]
        .as_array()
        .expect("Filters");
    assert_eq!(filters.len(), 1);
    let declared: Json = serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    let defined: Json =
        serde_json::from_str(credits_events_publisher::STREAM_FILTER_PATTERN).unwrap();
    assert_eq!(
        declared, defined,
        "the sender's filter is the publisher's: event inserts only"
    );
    assert_eq!(stream["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(
        stream["ParallelizationFactor"], 1,
        "one batch per shard at a time: each account's events in order"
    );
    assert_eq!(
        stream["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert_eq!(stream["MaximumRecordAgeInSeconds"], 21_600);
    assert!(stream["MaximumRetryAttempts"].as_i64().unwrap() >= 1);
    let batch = stream["BatchSize"].as_u64().unwrap();
    assert!((1..=1000).contains(&batch), "BatchSize {batch}");
    assert_eq!(
        stream["DestinationConfig"]["OnFailure"],
        json!({"Type": "SQS", "Destination": {"Fn::GetAtt": [QUEUE, "Arn"]}})
    );
    let queue = template.resource(QUEUE).unwrap();
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    assert_eq!(
        queue["Properties"]["QueueName"],
        json!({"Fn::Sub": "${ServiceName}-${Stage}-webhook-sender-dlq"})
    );
    assert_eq!(queue["Properties"]["MessageRetentionPeriod"], 1_209_600);
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);
}

#[test]
fn the_sender_delivers_every_minute_as_the_rollover_is_scheduled() {
    let template = template();
    let (_, schedule) = sender_events(&template);
    let rollover_schedule = template.resource("RolloverFunction").unwrap()["Properties"]["Events"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "ScheduleV2" || e["Type"] == "Schedule")
        .cloned()
        .expect("the rollover's schedule");
    assert_eq!(
        schedule["Type"], rollover_schedule["Type"],
        "one kind of schedule"
    );
    let properties = &schedule["Properties"];
    assert_eq!(properties["ScheduleExpression"], "rate(1 minute)");
    let input: Json = serde_json::from_str(properties["Input"].as_str().expect("an Input"))
        .expect("the Input is JSON");
    assert_eq!(
        input,
        serde_json::from_str::<Json>(SCHEDULE_INPUT).unwrap(),
        "the schedule's event is exactly {SCHEDULE_INPUT}"
    );
    assert!(
        matches!(
            credits_webhook_sender::Input::parse(input),
            Ok(credits_webhook_sender::Input::DeliverDue)
        ),
        "the sender reads the schedule's event as its tick"
    );
    // A run that did not happen or failed is replaced by the next minute's: no retries
    // piling runs up.
    assert_eq!(properties["RetryPolicy"]["MaximumRetryAttempts"], 0);
    let invoke = &template.resource(FUNCTION).unwrap()["Properties"]["EventInvokeConfig"];
    assert_eq!(invoke["MaximumRetryAttempts"], 0);
}

/// Every statement of a role: (actions, resources), refusing conditions and denials.
fn statements(template: &Template, role: &str) -> Vec<(BTreeSet<String>, Json)> {
    let mut out = Vec::new();
    for policy in template.resource(role).unwrap()["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow", "{role}: {statement}");
            let actions = match &statement["Action"] {
                Json::String(one) => BTreeSet::from([one.clone()]),
                Json::Array(many) => many
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{role}: Action {other}"),
            };
            out.push((actions, statement["Resource"].clone()));
        }
    }
    out
}

/// The item actions the webhook store's calls need (a `TransactWriteItems` is authorised
/// part by part: puts, updates, deletes); the last test below records them from the code.
const ITEM_ACTIONS: [&str; 5] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
];
const INDEXES: [&str; 2] = ["due-index", "failing-index"];

/// The statements on the webhooks table both its users hold.
fn webhooks_statements() -> Vec<(BTreeSet<String>, Json)> {
    vec![
        (
            set(&ITEM_ACTIONS),
            json!({"Fn::GetAtt": [WEBHOOKS_TABLE_ID, "Arn"]}),
        ),
        (
            set(&["dynamodb:Query"]),
            Json::Array(
                INDEXES
                    .iter()
                    .map(|i| json!({"Fn::Sub": format!("${{{WEBHOOKS_TABLE_ID}.Arn}}/index/{i}")}))
                    .collect(),
            ),
        ),
    ]
}

/// The same as permissions.
fn webhooks_permissions() -> BTreeSet<Permission> {
    let mut permissions: BTreeSet<Permission> = ITEM_ACTIONS
        .iter()
        .map(|a| Permission::new(a, TableResource::Table))
        .collect();
    for index in INDEXES {
        permissions.insert(Permission::new(
            "dynamodb:Query",
            TableResource::Index(index.to_owned()),
        ));
    }
    permissions
}

#[test]
fn the_senders_role_reads_the_stream_uses_the_webhooks_table_and_dead_letters_only() {
    let template = template();
    let mut expected = vec![
        (
            set(&["logs:CreateLogStream", "logs:PutLogEvents"]),
            json!({"Fn::GetAtt": [LOG_GROUP, "Arn"]}),
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
            json!({"Fn::GetAtt": [LEDGER_TABLE_ID, "StreamArn"]}),
        ),
        (
            set(&["dynamodb:ListStreams"]),
            json!({"Fn::Sub": format!("${{{LEDGER_TABLE_ID}.Arn}}/stream/*")}),
        ),
    ];
    expected.extend(webhooks_statements());
    expected.push((
        set(&["sqs:SendMessage"]),
        json!({"Fn::GetAtt": [QUEUE, "Arn"]}),
    ));
    assert_eq!(statements(&template, ROLE), expected);
    // On the ledger table: its stream, no item.
    let ledger: BTreeSet<Permission> = template.dynamodb_permissions(FUNCTION).unwrap();
    let stream_only: BTreeSet<Permission> = [
        Permission::new("dynamodb:DescribeStream", TableResource::Stream),
        Permission::new("dynamodb:GetRecords", TableResource::Stream),
        Permission::new("dynamodb:GetShardIterator", TableResource::Stream),
        Permission::new("dynamodb:ListStreams", TableResource::Streams),
    ]
    .into();
    assert_eq!(ledger, stream_only);
    assert_eq!(
        template.webhooks_permissions(FUNCTION).unwrap(),
        webhooks_permissions()
    );
    // Nothing but traces is granted on `*`, and no action is a wildcard.
    for (actions, resource) in statements(&template, ROLE) {
        assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
        if resource == json!("*") {
            assert!(
                actions.iter().all(|a| a.starts_with("xray:")),
                "{actions:?}"
            );
        }
    }
}

/// The function the template routes `/v1/webhooks` (every webhook route) to.
fn webhooks_http_function(template: &Template) -> String {
    let routes = template.http_routes().unwrap();
    let function = routes
        .get(&Route::new("POST", "/v1/webhooks"))
        .cloned()
        .expect("POST /v1/webhooks is routed");
    for (route, serving) in &routes {
        if route.path.starts_with("/v1/webhooks") {
            assert_eq!(
                serving, &function,
                "{route}: one function serves the webhook routes"
            );
        }
    }
    function
}

#[test]
fn only_the_webhooks_http_function_and_the_sender_reach_the_webhooks_table() {
    let template = template();
    let http = webhooks_http_function(&template);
    assert_eq!(http, "AccountFunction");
    assert!(
        template.json()["Globals"]["Function"]["Environment"]["Variables"]
            .get(TABLE_ENV)
            .is_none(),
        "only the functions that use it are told the webhooks table"
    );
    for (function, resource) in template.resources_of_type("AWS::Serverless::Function") {
        let told = resource["Properties"]["Environment"]["Variables"].get(TABLE_ENV);
        let permissions = template.webhooks_permissions(function).unwrap();
        if function == http || function == FUNCTION {
            assert_eq!(told, Some(&json!({"Ref": WEBHOOKS_TABLE_ID})), "{function}");
            assert_eq!(permissions, webhooks_permissions(), "{function}");
        } else {
            assert_eq!(told, None, "{function} is told the webhooks table");
            assert!(
                permissions.is_empty(),
                "{function} may reach the webhooks table: {permissions:?}"
            );
        }
    }
    // The HTTP function's statements on it: exactly the sender's, in a policy of their own,
    // without the ledger stream.
    let http_role = template.resource(&http).unwrap()["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = template.resource(&http_role).unwrap()["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PolicyName"] == "webhooks")
        .cloned()
        .expect("a `webhooks` policy");
    let on_webhooks: Vec<(BTreeSet<String>, Json)> = policy["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s.get("Condition").is_none(), "{s}");
            let actions = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            (actions, s["Resource"].clone())
        })
        .collect();
    assert_eq!(on_webhooks, webhooks_statements());
    assert!(
        statements(&template, &http_role)
            .iter()
            .all(|(actions, _)| !actions.contains("dynamodb:GetRecords")),
        "{http_role} does not read the stream"
    );
    // No other role names the webhooks table at all.
    for (role, _) in template.resources_of_type("AWS::IAM::Role") {
        if role == ROLE || role == http_role {
            continue;
        }
        let text = template.resource(role).unwrap().to_string();
        assert!(
            !text.contains(WEBHOOKS_TABLE_ID),
            "{role} names the webhooks table"
        );
    }
}

fn alarm_name(alarm: &Json) -> String {
    alarm["AlarmName"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .trim_start_matches("${ServiceName}-${Stage}-")
        .to_owned()
}

#[test]
fn errors_lag_the_dead_letter_queue_and_given_up_deliveries_are_alarmed() {
    let template = template();
    let function = json!({"Ref": FUNCTION});
    for (metric, name) in [
        ("Errors", "webhook-sender-errors"),
        ("Throttles", "webhook-sender-throttles"),
        ("IteratorAge", "webhook-sender-lag"),
    ] {
        let alarms = template.alarms_on("AWS/Lambda", metric, "FunctionName", &function);
        assert_eq!(alarms.len(), 1, "one alarm on the sender's {metric}");
        assert_eq!(alarm_name(&alarms[0]), name);
    }
    let lag = &template.alarms_on("AWS/Lambda", "IteratorAge", "FunctionName", &function)[0];
    assert_eq!(lag["Threshold"], 300_000, "5 minutes behind the stream");

    let dlq = template.alarms_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        &json!({"Fn::GetAtt": [QUEUE, "QueueName"]}),
    );
    assert_eq!(dlq.len(), 1, "one alarm on the sender's DLQ");
    assert_eq!(alarm_name(&dlq[0]), "webhook-sender-dlq");
    assert_eq!(dlq[0]["Threshold"], 1, "any message needs a look");

    // The sender's EMF metric, in the API's namespace and `service` dimension: a delivery
    // failed for 3 days. One is enough. (The line the sender writes has it.)
    let line = credits_webhook_sender::metrics::document(
        "svc",
        &credits_api::webhooks::deliver::DrainReport::default(),
        0,
    )
    .to_json();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], credits_api::emf::NAMESPACE);
    assert_eq!(directive["Dimensions"], json!([["service"]]));
    for metric in [
        "WebhooksDelivered",
        "WebhookAttemptsFailed",
        "WebhooksGivenUp",
    ] {
        assert!(line[metric].is_u64(), "{metric} in {line}");
    }
    let given_up = template.alarms_on(
        credits_api::emf::NAMESPACE,
        "WebhooksGivenUp",
        "service",
        &json!({"Fn::Sub": "${ServiceName}-${Stage}"}),
    );
    assert_eq!(given_up.len(), 1, "one alarm on WebhooksGivenUp");
    let alarm = &given_up[0];
    assert_eq!(alarm_name(alarm), "webhooks-given-up");
    assert_eq!(alarm["Statistic"], "Sum");
    assert_eq!(alarm["Threshold"], 1);
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
    assert!(
        alarm["AlarmDescription"]
            .as_str()
            .unwrap()
            .contains("GET /v1/webhooks/{id}/failed"),
        "the alarm says where to look"
    );
}

#[test]
fn the_dashboard_shows_the_sender_and_the_outputs_name_it() {
    let template = template();
    let body = template.resource("Dashboard").unwrap()["Properties"]["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let dashboard: Json = serde_json::from_str(&body).expect("the dashboard is JSON");
    let text = dashboard.to_string();
    for needle in [
        "${WebhookSenderFunction}",
        "IteratorAge",
        "WebhooksDelivered",
        "WebhookAttemptsFailed",
        "WebhooksGivenUp",
    ] {
        assert!(text.contains(needle), "the dashboard shows {needle}");
    }
    let outputs = &template.json()["Outputs"];
    assert_eq!(
        outputs["WebhookSenderDeadLetterQueueUrl"]["Value"],
        json!({"Ref": QUEUE})
    );
    assert_eq!(
        outputs["WebhookSenderFunctionName"]["Value"],
        json!({"Ref": FUNCTION})
    );
}

/// The cases of the webhook contract, as its own list names them (the macro
/// `__webhook_conformance_cases` in `functions/store/src/conformance/webhooks.rs`).
fn contract_cases() -> Vec<String> {
    let path = workspace_root().join("functions/store/src/conformance/webhooks.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("__webhook_conformance_expand! { ($make, $queue);")
        .expect("the contract's list of cases");
    let list = &text[start..];
    let list = &list[list.find(';').unwrap() + 1..list.find('}').unwrap()];
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A webhook store over a fresh table created from the template, recording the IAM
/// permission of every request it sends.
async fn recorded_store(client: &aws_sdk_dynamodb::Client) -> (DynamoWebhookStore, IamRecorder) {
    let table = unique_table_name("webhooks-iam");
    create_template_webhooks_table(client, &table)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let recorder = IamRecorder::new(&table);
    let store = DynamoWebhookStore::new(with_interceptor(client, recorder.clone()), table);
    (store, recorder)
}

/// The webhooks table's statements allow exactly what the webhook store's code sends: every
/// case of the store-agnostic webhook contract (`credits_store::conformance::webhooks`, queued
/// as the sender queues a stream batch) runs on a table created from the template, each
/// request's IAM permission recorded (a `TransactWriteItems` part by part), and a scan of the
/// store's source checks that no kind of call was missed. The sender's and the account
/// function's statements are that set (template tests above), no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_table_statements_are_exactly_what_the_webhook_store_sends() {
    use credits_store::conformance::webhooks as contract;

    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let queue = contract::FromStream;
    let mut recorded: BTreeSet<Permission> = BTreeSet::new();
    let mut run: Vec<&str> = Vec::new();
    macro_rules! record {
        ($($case:ident),* $(,)?) => {$(
            run.push(stringify!($case));
            let (store, recorder) = recorded_store(&client).await;
            contract::$case(&store, &queue).await;
            let permissions = recorder
                .take()
                .unwrap_or_else(|e| panic!("{}: {e}", stringify!($case)));
            // No condition narrows the webhooks table's statements: the key prefixes the
            // requests touched do not matter here.
            recorded.extend(permissions.into_iter().map(|p| p.leading(None)));
        )*};
    }
    record!(
        endpoints_are_limited_unique_and_listed_oldest_first,
        events_fan_out_to_the_endpoints_that_want_their_type,
        one_delivery_per_lane_is_due_and_lanes_go_in_seq_order,
        claims_are_leased_earliest_first_and_limited,
        a_retry_keeps_the_lane_and_is_listed_as_failing,
        giving_up_holds_the_lane_s_waiting_deliveries_back_and_frees_the_lane,
        the_failed_listing_pages_by_cursor_and_refuses_a_foreign_one,
        redelivery_requeues_behind_the_due_one_then_in_seq_order,
        a_deleted_endpoint_s_deliveries_are_never_claimed_nor_listed,
    );
    assert_eq!(
        run.into_iter().collect::<BTreeSet<_>>(),
        contract_cases()
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        "run every case of the webhook contract (its list changed: update `record!` above)"
    );
    let recorded_actions: BTreeSet<String> = recorded.iter().map(|p| p.action.clone()).collect();
    // Creating the table (`table.rs`) is for `credits serve` and tests, never a Lambda.
    let in_source = dynamodb_actions_in_source(
        &workspace_root().join("functions/store-dynamodb/src/webhooks"),
        &["table.rs"],
    );
    let missed: Vec<&String> = in_source.difference(&recorded_actions).collect();
    assert!(
        missed.is_empty(),
        "functions/store-dynamodb/src/webhooks sends {missed:?} in some path the webhook \
         contract never reached"
    );
    assert_eq!(
        recorded,
        webhooks_permissions(),
        "what the webhook store sends (left) and what the webhooks table's statements allow \
         (right) differ"
    );
}
