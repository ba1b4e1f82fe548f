//! The built binary under a fake Lambda Runtime API on loopback (what Lambda's runtime
//! serves the function: the next invocation, its deadline, the answer or error): `main`
//! reads its settings, builds its clients once, and answers each input; it refuses to start
//! without its table. The webhooks table's endpoint is a closed port, so the tick's claim
//! fails and is counted (nothing here reaches AWS).
//!
//! `cargo test -p credits-webhook-sender --test runtime`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value as Json, json};

const BINARY: &str = env!("CARGO_BIN_EXE_credits-webhook-sender");

#[derive(Default)]
struct RuntimeApi {
    /// Inputs still to hand out, in order.
    inputs: Mutex<VecDeque<Json>>,
    handed: Mutex<u64>,
    /// (request id, `response` or `error`, body), as the function posted them.
    answers: Mutex<Vec<(String, String, Json)>>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> impl IntoResponse {
    let input = api.inputs.lock().unwrap().pop_front();
    let Some(input) = input else {
        // No more invocations: the function waits, as it would between events.
        return std::future::pending().await;
    };
    let id = {
        let mut handed = api.handed.lock().unwrap();
        *handed += 1;
        format!("req-{handed}")
    };
    let deadline_ms = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline_ms.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:sender"),
    );
    (headers, input.to_string())
}

async fn answer(
    State(api): State<Arc<RuntimeApi>>,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Json::Null);
    api.answers.lock().unwrap().push((id, kind, body));
    StatusCode::ACCEPTED
}

/// The function's process, killed when the test ends, however it ends.
struct Function(Option<Child>);

impl Function {
    fn exited(&mut self) -> bool {
        self.0
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    /// Kills it and answers what it wrote.
    fn stop(mut self) -> Output {
        let mut child = self.0.take().unwrap();
        let _ = child.kill();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn function(runtime_api: &str, table: Option<&str>) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "sender")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "CREDITS_DYNAMODB_ENDPOINT",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .env("CREDITS_METRICS_SERVICE", "credits-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(table) = table {
        command.env("CREDITS_WEBHOOKS_TABLE", table);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_answers_a_tick_a_stream_batch_and_refuses_anything_else() {
    let api = Arc::new(RuntimeApi::default());
    api.inputs.lock().unwrap().extend([
        json!({"deliver_due": true}),
        json!({"source": "aws.events"}),
        json!({"Records": []}),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
        .with_state(api.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut function = Function(Some(
        function(&address.to_string(), Some("credits-test-webhooks"))
            .spawn()
            .unwrap(),
    ));
    let started = Instant::now();
    while api.answers.lock().unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the function answered {:?}",
            api.answers.lock().unwrap()
        );
        assert!(!function.exited(), "the function exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers = api.answers.lock().unwrap().clone();
    let output = function.stop();

    // The tick: the table cannot be reached, so the claim fails and nothing is attempted.
    assert_eq!(answers[0].0, "req-1");
    assert_eq!(answers[0].1, "response");
    assert_eq!(
        answers[0].2,
        json!({"attempted": 0, "delivered": 0, "retried": 0, "given_up": 0, "store_failures": 1})
    );
    // Anything else: an error saying what was expected.
    assert_eq!(
        (answers[1].0.as_str(), answers[1].1.as_str()),
        ("req-2", "error")
    );
    let message = answers[1].2["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("unexpected input"), "{message}");
    // An empty stream batch: nothing to retry.
    assert_eq!(answers[2].0, "req-3");
    assert_eq!(answers[2].2, json!({"batchItemFailures": []}));

    // One EMF line per answered invocation on stdout.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let metrics: Vec<Json> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert_eq!(metrics.len(), 2, "{stdout}");
    assert!(metrics.iter().all(|line| line["service"] == "credits-test"
        && line["WebhooksDelivered"] == 0
        && line["WebhooksGivenUp"] == 0));
}

#[test]
fn the_function_does_not_start_without_its_table() {
    let output = function(&format!("127.0.0.1:{}", closed_port()), None)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CREDITS_WEBHOOKS_TABLE"), "{stderr}");
}
