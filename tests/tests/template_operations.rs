//! How the deployment runs in production (infra/README.md: "Metrics", "Alarms", "Limits",
//! "Releases", "Recovery"): the functions' metrics and the alarms on them agree with the
//! code; alarms watch rates and percentiles, not single errors; a dashboard; X-Ray tracing;
//! a throttle per route; reserved concurrency for charges; gradual deployments of the HTTP
//! functions rolled back by the alarms; point-in-time recovery and optional backups.
//! (The `dynamodb:LeadingKeys` conditions are checked in template_iam.rs.)
//!
//! `cargo test -p credits-tests --test template_operations`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use credits_api::metrics::{RequestFacts, documents, request_metrics};
use credits_tests::template::Template;
use serde_json::{Value as Json, json};

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

fn alarm<'a>(template: &'a Template, id: &str) -> &'a Json {
    let resource = template
        .resource(id)
        .unwrap_or_else(|| panic!("no resource {id}"));
    assert_eq!(resource["Type"], "AWS::CloudWatch::Alarm", "{id}");
    assert!(
        resource["Properties"]["AlarmActions"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{id} notifies someone"
    );
    &resource["Properties"]
}

/// The metrics an alarm's expression reads: `(id, namespace, name, stat, dimensions)`.
fn read_metrics(alarm: &Json) -> Vec<(String, String, String, String, Json)> {
    alarm["Metrics"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| m.get("MetricStat").is_some())
        .map(|m| {
            let metric = &m["MetricStat"]["Metric"];
            (
                m["Id"].as_str().unwrap().to_owned(),
                metric["Namespace"].as_str().unwrap().to_owned(),
                metric["MetricName"].as_str().unwrap().to_owned(),
                m["MetricStat"]["Stat"].as_str().unwrap().to_owned(),
                metric["Dimensions"].clone(),
            )
        })
        .collect()
}

fn expression(alarm: &Json) -> String {
    alarm["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("an expression returns the data")
        .to_owned()
}

/// "N out of M" of the alarm.
fn sustained(alarm: &Json) -> (u64, u64) {
    let evaluated = alarm["EvaluationPeriods"].as_u64().unwrap();
    let needed = alarm["DatapointsToAlarm"].as_u64().unwrap_or(evaluated);
    (needed, evaluated)
}

const SERVICE: &str = "${ServiceName}-${Stage}";

fn http_functions(template: &Template) -> BTreeSet<String> {
    template
        .http_routes()
        .unwrap()
        .into_values()
        .collect::<BTreeSet<_>>()
}

#[test]
fn the_alarmed_emf_metrics_are_the_ones_the_functions_write() {
    let template = template();
    // The service dimension the functions are told...
    assert_eq!(
        template.json()["Globals"]["Function"]["Environment"]["Variables"]
            [credits_lambda::METRICS_SERVICE_ENV],
        json!({"Fn::Sub": SERVICE})
    );
    // ...is the one the alarms read, and each metric they read is one a request line has.
    let line = documents(
        "svc",
        "GET /v1/health",
        &request_metrics(500, &RequestFacts::default()),
        0,
    )[0]
    .to_json();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "credits");
    assert!(
        directive["Dimensions"]
            .as_array()
            .unwrap()
            .contains(&json!(["service"]))
    );
    let service = json!([{"Name": "service", "Value": {"Fn::Sub": SERVICE}}]);
    for (id, metric) in [
        ("PanicsAlarm", "Panics"),
        ("StoreFailuresAlarm", "StoreFailures"),
    ] {
        let alarm = alarm(&template, id);
        assert_eq!(alarm["Namespace"], "credits", "{id}");
        assert_eq!(alarm["MetricName"], metric, "{id}");
        assert_eq!(alarm["Dimensions"], service, "{id}");
        assert!(line[metric].is_u64(), "{metric} in {line}");
        // Always a bug: the first one alarms.
        assert_eq!(alarm["Threshold"], 1, "{id}");
        assert_eq!(alarm["Period"], 60, "{id}");
    }
    let ratio = alarm(&template, "ServiceErrorRatioAlarm");
    let read = read_metrics(ratio);
    for (_, namespace, name, _, dimensions) in &read {
        assert_eq!(namespace, "credits");
        assert_eq!(dimensions, &service);
        assert!(line[name.as_str()].is_u64(), "{name} in {line}");
    }
    let names: BTreeSet<&str> = read.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["Answered5xx", "Requests"]));
    assert_eq!(
        expression(ratio),
        "IF(requests >= 20, 100 * errors / requests, 0)"
    );
    assert_eq!(ratio["Threshold"], 1);
    assert_eq!(sustained(ratio), (2, 3));
}

#[test]
fn api_errors_and_latency_alarm_on_a_sustained_rate_with_a_minimum_of_requests() {
    let template = template();
    let api = json!([{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]);

    let errors = alarm(&template, "Api5xxAlarm");
    let read = read_metrics(errors);
    assert!(read.contains(&(
        "errors".into(),
        "AWS/ApiGateway".into(),
        "5xx".into(),
        "Sum".into(),
        api.clone()
    )));
    assert!(read.contains(&(
        "requests".into(),
        "AWS/ApiGateway".into(),
        "Count".into(),
        "Sum".into(),
        api.clone()
    )));
    assert_eq!(
        expression(errors),
        "IF(requests >= 50, 100 * errors / requests, 0)"
    );
    assert_eq!(errors["Threshold"], 1, "more than 1%");
    assert_eq!(errors["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(sustained(errors), (3, 5));

    let latency = alarm(&template, "ApiLatencyAlarm");
    let read = read_metrics(latency);
    assert!(read.contains(&(
        "p99".into(),
        "AWS/ApiGateway".into(),
        "Latency".into(),
        "p99".into(),
        api
    )));
    assert_eq!(expression(latency), "IF(requests >= 50, p99, 0)");
    assert_eq!(
        latency["Threshold"],
        json!({"Ref": "LatencyP99ThresholdMs"})
    );
    assert_eq!(
        template.json()["Parameters"]["LatencyP99ThresholdMs"]["Default"],
        1000
    );
    assert_eq!(sustained(latency), (3, 5));
}

#[test]
fn function_errors_alarm_on_a_rate_not_on_one_error() {
    let template = template();
    for function in http_functions(&template) {
        let id = format!("{}ErrorsAlarm", function.trim_end_matches("Function"));
        let alarm = alarm(&template, &id);
        let read = read_metrics(alarm);
        let names: BTreeSet<&str> = read.iter().map(|m| m.2.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["Errors", "Invocations"]), "{id}");
        for (_, namespace, _, _, dimensions) in &read {
            assert_eq!(namespace, "AWS/Lambda");
            assert_eq!(
                dimensions,
                &json!([{"Name": "FunctionName", "Value": {"Ref": function}}])
            );
        }
        assert_eq!(
            expression(alarm),
            "IF(errors >= 3 OR (invocations >= 20 AND errors / invocations > 0.01), 1, 0)",
            "{id}"
        );
        assert_eq!(sustained(alarm), (3, 5), "{id}");
    }
    // Nothing alarms on one event in one period any more, except what is always a bug or
    // always needs a look.
    let single: BTreeSet<&str> = template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            let p = &a["Properties"];
            p["Threshold"] == 1 && sustained(p) == (1, 1)
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        single,
        BTreeSet::from([
            "EventsDeadLetterAlarm",
            "PanicsAlarm",
            "RolloverAccountFailuresAlarm",
            "RolloverDeadLetterAlarm",
            "StoreFailuresAlarm",
            "WebhookSenderDeadLetterAlarm",
            "WebhooksGivenUpAlarm",
        ])
    );
}

#[test]
fn the_table_and_each_index_are_watched_for_throttles() {
    let template = template();
    let (table, _) = template.table().unwrap();
    let indexes: Vec<String> = template.table_properties().unwrap()["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(indexes.len(), 2);
    let table_alarm = alarm(&template, "TableThrottlesAlarm");
    let index_alarm = alarm(&template, "IndexThrottlesAlarm");
    let table_dimension = json!({"Name": "TableName", "Value": {"Ref": table}});
    for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
        assert!(
            read_metrics(table_alarm)
                .iter()
                .any(|m| m.2 == metric && m.4 == json!([table_dimension])),
            "{table} {metric}"
        );
        for index in &indexes {
            let dimensions = json!([
                table_dimension,
                {"Name": "GlobalSecondaryIndexName", "Value": index}
            ]);
            assert!(
                read_metrics(index_alarm)
                    .iter()
                    .any(|m| m.1 == "AWS/DynamoDB" && m.2 == metric && m.4 == dimensions),
                "{index} {metric}"
            );
        }
    }
    for alarm in [table_alarm, index_alarm] {
        assert_eq!(alarm["Threshold"], 25);
        assert_eq!(sustained(alarm), (3, 5));
    }
}

#[test]
fn rollover_failures_alarm_from_the_functions_metric() {
    let template = template();
    let alarm = alarm(&template, "RolloverAccountFailuresAlarm");
    let names: BTreeSet<String> = read_metrics(alarm).into_iter().map(|m| m.2).collect();
    // Each one the rollover's EMF line has.
    let line: Json = serde_json::from_str(&credits_lambda::rollover::metrics_line(
        &credits_lambda::rollover::RolloverReport::default(),
        "f",
        0,
    ))
    .unwrap();
    for name in &names {
        assert!(line[name.as_str()].is_u64(), "{name} in {line}");
    }
    assert!(names.contains("RolloverFailures"));
    assert!(names.contains("RolloverFailuresUnreported"));
}

#[test]
fn a_dashboard_shows_what_the_functions_measure() {
    let template = template();
    let (_, dashboard) = template
        .resources_of_type("AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()
        .expect("a dashboard");
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .expect("the body is `!Sub [text, {}]`");
    let body: Json = serde_json::from_str(body).expect("the body is JSON");
    let text = body.to_string();
    for shown in [
        "ChargedMinor",
        "Charges",
        "Answered402",
        "Answered409",
        "Answered429",
        "Answered5xx",
        "CommitLatency",
        "CommitConflicts",
        "CommitRetries",
        "Panics",
        "StoreFailures",
        "Latency",
        "ReadThrottleEvents",
        "GlobalSecondaryIndexName",
        "RolloverFailures",
    ] {
        assert!(text.contains(shown), "the dashboard shows {shown}");
    }
}

#[test]
fn tracing_is_active_and_every_function_may_send_traces() {
    let template = template();
    assert_eq!(template.json()["Globals"]["Function"]["Tracing"], "Active");
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        assert!(
            function["Properties"].get("Tracing").is_none(),
            "{id} keeps the global tracing"
        );
        let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap();
        let may_trace = template.resource(role).unwrap()["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
            .any(|s| {
                s["Action"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("xray:PutTraceSegments")))
            });
        assert!(may_trace, "{role} may send trace segments");
    }
}

#[test]
fn every_route_has_its_own_throttle() {
    let template = template();
    let api = &template.resource("HttpApi").unwrap()["Properties"];
    let defaults = &api["DefaultRouteSettings"];
    assert!(defaults["ThrottlingRateLimit"].is_object());
    let settings = api["RouteSettings"].as_object().expect("RouteSettings");
    let configured: BTreeSet<String> = settings.keys().cloned().collect();
    let routes: BTreeSet<String> = template
        .http_routes()
        .unwrap()
        .into_keys()
        .map(|route| route.to_string())
        .filter(|route| route != "GET /v1/health" && route != "GET /v1/openapi.json")
        .collect();
    assert_eq!(
        configured, routes,
        "a throttle for each route with a body of work"
    );
    let parameters = &template.json()["Parameters"];
    for (route, setting) in settings {
        for key in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
            let parameter = setting[key]["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{route}: {key} is a parameter"));
            assert!(
                parameters[parameter]["Default"]
                    .as_u64()
                    .is_some_and(|n| n > 0)
            );
        }
    }
    // Charges have a share of their own, larger than a read's or an admin call's.
    assert_eq!(
        settings["POST /v1/accounts/{account}/charges"]["ThrottlingRateLimit"],
        json!({"Ref": "ChargeRouteThrottleRate"})
    );
    let rate = |name: &str| parameters[name]["Default"].as_u64().unwrap();
    assert!(rate("ChargeRouteThrottleRate") > rate("ReadRouteThrottleRate"));
    assert!(rate("ReadRouteThrottleRate") > rate("AdminRouteThrottleRate"));
}

#[test]
fn the_charge_function_has_reserved_concurrency() {
    let template = template();
    let charge = &template.resource("ChargeFunction").unwrap()["Properties"];
    assert_eq!(
        charge["ReservedConcurrentExecutions"],
        json!({"Fn::If": [
            "HasChargeReservedConcurrency",
            {"Ref": "ChargeReservedConcurrency"},
            {"Ref": "AWS::NoValue"}
        ]})
    );
    assert_eq!(
        template.json()["Parameters"]["ChargeReservedConcurrency"]["Default"],
        50
    );
}

#[test]
fn http_functions_deploy_gradually_and_roll_back_on_the_alarms() {
    let template = template();
    assert_eq!(
        template.json()["Globals"]["Function"]["AutoPublishAlias"],
        "live"
    );
    assert_eq!(
        template.json()["Parameters"]["DeploymentType"]["Default"],
        "Canary10Percent5Minutes"
    );
    let functions = http_functions(&template);
    assert_eq!(functions.len(), 4);
    for function in functions {
        let preference =
            &template.resource(&function).unwrap()["Properties"]["DeploymentPreference"];
        assert_eq!(
            preference["Type"],
            json!({"Ref": "DeploymentType"}),
            "{function}"
        );
        let alarms: BTreeSet<String> = preference["Alarms"]
            .as_array()
            .unwrap_or_else(|| panic!("{function}: rollback alarms"))
            .iter()
            .map(|a| a["Ref"].as_str().unwrap().to_owned())
            .collect();
        let own = format!("{}ErrorsAlarm", function.trim_end_matches("Function"));
        for expected in [
            own.as_str(),
            "ServiceErrorRatioAlarm",
            "PanicsAlarm",
            "StoreFailuresAlarm",
        ] {
            assert!(
                alarms.contains(expected),
                "{function} rolls back on {expected}"
            );
        }
        for id in &alarms {
            alarm(&template, id);
        }
    }
}

#[test]
fn the_table_has_point_in_time_recovery_and_optional_backups() {
    let template = template();
    let (table, properties) = (
        template.table().unwrap().0,
        template.table_properties().unwrap(),
    );
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        template.resource(table).unwrap()["DeletionPolicy"],
        "Retain"
    );
    let (_, selection) = template
        .resources_of_type("AWS::Backup::BackupSelection")
        .into_iter()
        .next()
        .expect("a backup selection");
    assert_eq!(selection["Condition"], "BackupsEnabled");
    assert_eq!(
        selection["Properties"]["BackupSelection"]["Resources"],
        json!([{"Fn::GetAtt": [table, "Arn"]}])
    );
    for kind in ["AWS::Backup::BackupPlan", "AWS::Backup::BackupVault"] {
        let (_, resource) = template.resources_of_type(kind).into_iter().next().unwrap();
        assert_eq!(resource["Condition"], "BackupsEnabled", "{kind}");
    }
    assert_eq!(
        template.json()["Parameters"]["EnableBackups"]["Default"],
        "false"
    );
}
