//! The webhook admin routes on the Lambdas, called as the Lambda runtime calls them (API
//! Gateway HTTP API events through `lambda_http`'s adapter, as `lambda_http::run` does), over
//! DynamoDB Local. The account function, told a webhooks table (`CREDITS_WEBHOOKS_TABLE`, as
//! the template tells it; the table created from the template), registers, lists, reads,
//! pages the failed deliveries of and deletes endpoints there, refusing loopback URLs; a
//! function not told one answers 501 `not-implemented`. The state is built by
//! `credits_lambda` as the function's `main` builds it, but for the client (DynamoDB Local)
//! and a fixed clock.
//!
//! `cargo test -p credits-tests --test lambda_webhooks`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use axum::Router;
use chrono::{TimeZone, Utc};
use credits_api::FixedClock;
use credits_lambda::Settings;
use credits_store::webhooks::WebhookStore;
use credits_store_dynamodb::{DynamoStore, DynamoWebhookStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::template::create_template_webhooks_table;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use serde_json::{Value, json};

/// The admin key the events carry; the function knows only its hash.
const ADMIN_KEY: &str = "lambda-webhooks-admin-key-0123456789";

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An API Gateway HTTP API (payload 2.0) event for `method path`, routed as `route_key`.
fn event(
    method: &str,
    route_key: &str,
    path: &str,
    id: Option<&str>,
    body: Option<&Value>,
) -> String {
    let mut headers = json!({
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "x-forwarded-proto": "https",
        "authorization": format!("Bearer {ADMIN_KEY}"),
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route_key}"),
        "rawPath": path_only,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path_only,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "platform-backend/1.0"
            },
            "requestId": "req-webhooks",
            "routeKey": format!("{method} {route_key}"),
            "stage": "$default",
            "time": "15/Jan/2026:10:00:00 +0000",
            "timeEpoch": 1_768_471_200_000_i64
        },
        "pathParameters": id.map_or_else(|| json!({}), |id| json!({"id": id})),
        "isBase64Encoded": false,
        "body": body.map(Value::to_string),
    })
    .to_string()
}

/// The account function's router, built as its `main` builds it (`credits_lambda::app_state`:
/// the settings, the store, the webhook store when a table is named), and the webhooks table
/// it was told, if any.
async fn account_function(with_webhooks_table: bool) -> (Router, Option<String>) {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let table = unique_table_name("lambda-webhooks");
    create_table(&client, &table).await.unwrap();
    let webhooks_table = with_webhooks_table.then(|| format!("{table}-webhooks"));
    if let Some(name) = &webhooks_table {
        create_template_webhooks_table(&client, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let settings = Settings::from_lookup(|name| match name {
        credits_lambda::TABLE_ENV => Some(table.clone()),
        credits_lambda::WEBHOOKS_TABLE_ENV => webhooks_table.clone(),
        credits_lambda::ADMIN_KEY_SHA256_ENV => {
            Some(hex_encode(&credits_api::auth::sha256(ADMIN_KEY)))
        }
        _ => None,
    })
    .unwrap();
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap(),
    ));
    let store = Arc::new(DynamoStore::new(client.clone(), settings.table.clone()));
    let state =
        credits_lambda::state_over(store, credits_lambda::rate_library().unwrap(), &settings)
            .with_clock(clock);
    let state = credits_lambda::webhooks::over_table(state, &client, &settings);
    (credits_api::router(state), webhooks_table)
}

/// Invokes the function with an event: `(status, body)`.
async fn invoke(router: &Router, event: &str) -> (u64, Value) {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let adapter = lambda_http::Adapter::from(router.clone());
    let response = adapter
        .oneshot(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    let raw = serde_json::to_value(response).unwrap();
    let body = raw["body"].as_str().unwrap_or_default();
    (
        raw["statusCode"].as_u64().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_account_function_serves_the_webhook_routes_over_its_table() {
    let (function, table) = account_function(true).await;
    let local = DynamoDbLocal::shared().unwrap();
    let store = DynamoWebhookStore::new(local.client().await, table.unwrap());

    let body = json!({"url": "https://platform.example/hooks", "event_types": ["balance.low"]});
    let (status, created) = invoke(
        &function,
        &event("POST", "/v1/webhooks", "/v1/webhooks", None, Some(&body)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{created}");
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_"),
        "the secret, shown once: {created}"
    );

    // Loopback is refused on AWS: nothing of the platform's listens on the function's host.
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
    ] {
        let body = json!({"url": url, "event_types": ["*"]});
        let (status, problem) = invoke(
            &function,
            &event("POST", "/v1/webhooks", "/v1/webhooks", None, Some(&body)),
        )
        .await;
        assert_eq!(status, 400, "{url}: {problem}");
    }

    let (status, listed) = invoke(
        &function,
        &event("GET", "/v1/webhooks", "/v1/webhooks", None, None),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let webhooks = listed["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 1, "{listed}");
    assert_eq!(webhooks[0]["id"], id.as_str());
    assert!(
        webhooks[0].get("secret").is_none(),
        "never the secret again"
    );
    // It is the webhooks table's endpoint, with its secret (which signing needs).
    let stored = store.endpoints().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].secret, created["secret"].as_str().unwrap());

    let path = format!("/v1/webhooks/{id}");
    let (status, one) = invoke(
        &function,
        &event("GET", "/v1/webhooks/{id}", &path, Some(&id), None),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["url"], "https://platform.example/hooks");

    let failed_path = format!("/v1/webhooks/{id}/failed?limit=10");
    let (status, failed) = invoke(
        &function,
        &event(
            "GET",
            "/v1/webhooks/{id}/failed",
            &failed_path,
            Some(&id),
            None,
        ),
    )
    .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["deliveries"], json!([]));

    let (status, deleted) = invoke(
        &function,
        &event("DELETE", "/v1/webhooks/{id}", &path, Some(&id), None),
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    let (status, gone) = invoke(
        &function,
        &event("GET", "/v1/webhooks/{id}", &path, Some(&id), None),
    )
    .await;
    assert_eq!(status, 404, "{gone}");
    assert!(store.endpoints().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_a_webhooks_table_the_routes_answer_not_implemented() {
    let (function, table) = account_function(false).await;
    assert_eq!(table, None);
    let body = json!({"url": "https://platform.example/hooks", "event_types": ["*"]});
    let (status, problem) = invoke(
        &function,
        &event("POST", "/v1/webhooks", "/v1/webhooks", None, Some(&body)),
    )
    .await;
    assert_eq!(status, 501, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("not-implemented"),
        "{problem}"
    );
    let (status, _) = invoke(
        &function,
        &event("GET", "/v1/webhooks", "/v1/webhooks", None, None),
    )
    .await;
    assert_eq!(status, 501);
}
