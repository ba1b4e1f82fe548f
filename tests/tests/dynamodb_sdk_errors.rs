//! What a DynamoDB error becomes at the HTTP edge, through the real router over the real
//! DynamoDB store, with the SDK talking to a fake HTTP connector that answers every request
//! of one operation with one error:
//!
//! - a refusal a retry cannot fix (`AccessDeniedException`, `ResourceNotFoundException`) is
//!   a 500 problem, sent once (no retry), counted in the request's `StoreFailures` metric
//!   (which has an alarm);
//! - throttling (`ProvisionedThroughputExceededException`) still there after the retries (the
//!   SDK's for a read, the store's own loop for a commit) is a 503 problem with
//!   `Retry-After`, and the commit's resent attempts are counted in `CommitRetries`.
//!
//! And the request metrics of a committed charge name its book, feature and unit.
//!
//! `cargo test -p credits-tests --test dynamodb_sdk_errors`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use credits_store_dynamodb::DynamoStore;
use credits_tests::router::{RouterClient, instant, sqlite_store};
use http::Method;
use serde_json::{Value, json};

/// How the fake DynamoDB answers one operation (`X-Amz-Target: DynamoDB_20120810.<op>`):
/// status and body. Operations not listed answer `200 {}` (an empty read, say).
type Answers = BTreeMap<&'static str, (u16, String)>;

#[derive(Debug, Clone, Default)]
struct FakeDynamo {
    answers: Arc<Answers>,
    /// Every request's operation, in order.
    sent: Arc<Mutex<Vec<String>>>,
}

impl HttpConnector for FakeDynamo {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.split('.').next_back())
            .unwrap_or("?")
            .to_owned();
        self.sent.lock().unwrap().push(operation.clone());
        let (status, body) = self
            .answers
            .get(operation.as_str())
            .cloned()
            .unwrap_or((200, "{}".to_owned()));
        let mut response =
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn error_body(code: &str) -> String {
    json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": format!("fake {code}"),
    })
    .to_string()
}

/// The real router over a DynamoDB store whose SDK talks to `fake`, with the request
/// metrics collected.
fn router_over(fake: &FakeDynamo) -> (RouterClient, Arc<Mutex<Vec<Value>>>) {
    let connector = SharedHttpConnector::new(fake.clone());
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("fake", "fake", None, None, "fake"))
        .endpoint_url("http://127.0.0.1:1")
        .http_client(http_client_fn(move |_, _| connector.clone()))
        // The SDK's standard retries (3 attempts), with short pauses.
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .timeout_config(credits_store_dynamodb::sdk_timeouts())
        .build();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "credits".into(),
    );
    let mut client = RouterClient::over(Arc::new(store), instant("2026-03-01T10:00:00Z"));
    let lines = Arc::new(Mutex::new(Vec::new()));
    client.router = metered(client.router, &lines);
    (client, lines)
}

fn metered(router: axum::Router, lines: &Arc<Mutex<Vec<Value>>>) -> axum::Router {
    let sink = Arc::clone(lines);
    credits_api::metrics::with_request_metrics(
        router,
        "credits-test".into(),
        Arc::new(move |line: &str| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(line).unwrap());
        }),
    )
}

fn fake(operation: &'static str, code: &str, status: u16) -> FakeDynamo {
    FakeDynamo {
        answers: Arc::new(BTreeMap::from([(operation, (status, error_body(code)))])),
        ..FakeDynamo::default()
    }
}

fn sent(fake: &FakeDynamo, operation: &str) -> usize {
    fake.sent
        .lock()
        .unwrap()
        .iter()
        .filter(|sent| *sent == operation)
        .count()
}

/// The one request line of the last request (the first line its middleware wrote).
fn request_line(lines: &Arc<Mutex<Vec<Value>>>) -> Value {
    let lines = lines.lock().unwrap();
    lines
        .iter()
        .rev()
        .find(|line| line.get("Requests").is_some())
        .cloned()
        .expect("a request line")
}

fn problem(status: http::StatusCode, text: &str) -> Value {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

#[tokio::test]
async fn access_denied_on_a_read_is_a_500_sent_once_and_counted() {
    for code in ["AccessDeniedException", "ResourceNotFoundException"] {
        let fake = fake("GetItem", code, 400);
        let (client, lines) = router_over(&fake);
        let (status, text) = client
            .send(Method::GET, "/v1/accounts/acme/balance", None)
            .await;
        assert_eq!(
            status,
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "{code}: {text}"
        );
        let body = problem(status, &text);
        assert!(
            body["type"].as_str().unwrap().ends_with("internal"),
            "{body}"
        );
        assert!(
            !text.contains("fake"),
            "the store's detail stays in the log: {text}"
        );
        assert_eq!(sent(&fake, "GetItem"), 1, "{code} is not retried");
        let line = request_line(&lines);
        assert_eq!(line["StoreFailures"], 1, "{line}");
        assert_eq!(line["Answered5xx"], 1);
        assert_eq!(line["route"], "GET /v1/accounts/{account}/balance");
    }
}

#[tokio::test]
async fn access_denied_on_a_commit_is_a_500_sent_once() {
    let fake = fake("TransactWriteItems", "AccessDeniedException", 400);
    let (client, lines) = router_over(&fake);
    let (status, text) = client
        .send(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
    assert_eq!(status, http::StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    problem(status, &text);
    assert_eq!(sent(&fake, "TransactWriteItems"), 1);
    let line = request_line(&lines);
    assert_eq!(line["StoreFailures"], 1, "{line}");
    assert_eq!(line["CommitRetries"], 0);
}

#[tokio::test]
async fn throttling_after_the_sdk_retries_is_a_503_to_retry() {
    let fake = fake("GetItem", "ProvisionedThroughputExceededException", 400);
    let (client, lines) = router_over(&fake);
    let (status, text) = client
        .send(Method::GET, "/v1/accounts/acme/balance", None)
        .await;
    assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let body = problem(status, &text);
    assert!(
        body["type"].as_str().unwrap().ends_with("unavailable"),
        "{body}"
    );
    assert_eq!(sent(&fake, "GetItem"), 3, "the SDK's standard retries");
    let line = request_line(&lines);
    assert_eq!(line["StoreFailures"], 0, "{line}");
    assert_eq!(line["Answered5xx"], 1);
}

#[tokio::test]
async fn a_throttled_commit_is_retried_by_the_store_then_a_503() {
    let fake = fake(
        "TransactWriteItems",
        "ProvisionedThroughputExceededException",
        400,
    );
    let (client, lines) = router_over(&fake);
    let response = client
        .router
        .clone()
        .oneshot_put("/v1/accounts/acme", json!({ "plan": "ai-engine/standard" }))
        .await;
    assert_eq!(
        response.0,
        http::StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.2
    );
    assert_eq!(response.1.as_deref(), Some("1"), "Retry-After");
    problem(response.0, &response.2);
    assert_eq!(
        sent(&fake, "TransactWriteItems"),
        5,
        "the store's five attempts"
    );
    let line = request_line(&lines);
    assert_eq!(line["CommitRetries"], 4, "{line}");
    assert_eq!(line["StoreFailures"], 0);
    assert!(line["CommitLatency"].is_u64(), "{line}");
}

#[tokio::test]
async fn a_committed_charge_is_counted_per_book_feature_and_unit() {
    let mut client = RouterClient::over(sqlite_store(), instant("2026-01-20T15:00:00Z"));
    let lines = Arc::new(Mutex::new(Vec::new()));
    client.router = metered(client.router, &lines);
    client
        .ok(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
    client
        .ok(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "50 GB" } })),
        )
        .await;
    let all = lines.lock().unwrap().clone();
    let charged: Vec<&Value> = all
        .iter()
        .filter(|line| line.get("ChargedMinor").is_some())
        .collect();
    assert_eq!(charged.len(), 1, "{all:?}");
    assert_eq!(charged[0]["book"], "ai-engine");
    assert_eq!(charged[0]["feature"], "data_processing");
    assert!(charged[0]["unit"].is_string());
    assert!(
        charged[0]["ChargedMinor"].as_u64().unwrap() > 0,
        "{}",
        charged[0]
    );
    let request = request_line(&lines);
    assert_eq!(request["route"], "POST /v1/accounts/{account}/charges");
    assert!(request["CommitLatency"].is_u64());
    // A replay charges nothing more.
    client
        .ok(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "50 GB" } })),
        )
        .await;
    let charged_after = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.get("ChargedMinor").is_some())
        .count();
    assert_eq!(charged_after, 1);
}

/// A PUT through the router returning status, `Retry-After` and body.
trait OneshotPut {
    async fn oneshot_put(
        self,
        path: &str,
        body: Value,
    ) -> (http::StatusCode, Option<String>, String);
}

impl OneshotPut for axum::Router {
    async fn oneshot_put(
        self,
        path: &str,
        body: Value,
    ) -> (http::StatusCode, Option<String>, String) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let request = http::Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", credits_tests::router::ADMIN_KEY),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let response = self.oneshot(request).await.unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            retry_after,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}
