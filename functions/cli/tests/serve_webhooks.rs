//! `credits serve` over SQLite serves the webhook routes over the database file's webhook
//! tables (kept across a restart), refusing loopback endpoints unless
//! `--webhook-allow-loopback` (`docs/webhooks.md`), and delivers the events the ledger
//! published to a loopback receiver, signed and in order.
//!
//! `cargo test -p credits --test serve_webhooks`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use common::{Server, rates_dir, serve_command};

const ADMIN_KEY: &str = "serve-webhooks-admin-key-0123";

fn start_server(db: &Path, extra: &[&str]) -> Server {
    let mut command = serve_command(db, &rates_dir(), ADMIN_KEY);
    command.args(["--rollover-interval", "0"]).args(extra);
    Server::start(command)
}

async fn register(client: &reqwest::Client, server: &Server, url: &str) -> (u16, Value) {
    let response = client
        .post(format!("{}/v1/webhooks", server.url))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "url": url, "event_types": ["balance.low"] }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn serve_registers_webhooks_in_its_database_and_refuses_loopback_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credits.db");
    let client = reqwest::Client::new();

    let strict = start_server(&db, &[]);
    let (status, problem) = register(&client, &strict, "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("loopback"),
        "{problem}"
    );
    let (status, created) = register(&client, &strict, "https://platform.example/hook").await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    drop(strict);

    let open = start_server(&db, &["--webhook-allow-loopback"]);
    let (status, local) = register(&client, &open, "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 201, "{local}");
    let listed: Value = client
        .get(format!("{}/v1/webhooks", open.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls: Vec<&str> = listed["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        ["https://platform.example/hook", "http://127.0.0.1:9/hook"]
    );
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
}

/// What the loopback receiver got: the signature checked at arrival, the body as sent.
#[derive(Debug, Clone)]
struct Arrival {
    header_id: String,
    verified: bool,
    body: Value,
}

struct Receiver {
    secret: std::sync::Mutex<String>,
    arrivals: std::sync::Mutex<Vec<Arrival>>,
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<std::sync::Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let secret = receiver.secret.lock().unwrap().clone();
    let verified = credits_api::webhooks::signing::verify(
        &secret,
        &header("credits-signature"),
        &body,
        chrono::Utc::now().timestamp(),
    )
    .is_ok();
    receiver.arrivals.lock().unwrap().push(Arrival {
        header_id: header("credits-event-id"),
        verified,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    axum::http::StatusCode::NO_CONTENT
}

async fn admin(
    client: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_delivers_the_events_the_ledger_published_signed_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credits.db");
    let client = reqwest::Client::new();
    let server = start_server(&db, &["--webhook-allow-loopback"]);

    let receiver = std::sync::Arc::new(Receiver {
        secret: std::sync::Mutex::new(String::new()),
        arrivals: std::sync::Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(std::sync::Arc::clone(&receiver));
    let receiving = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let created = admin(
        &client,
        &server,
        reqwest::Method::POST,
        "/v1/webhooks",
        Some(json!({ "url": format!("http://{address}/hook"), "event_types": ["*"] })),
    )
    .await;
    *receiver.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();

    // On `ai-engine/standard`: the grant at creation (`credits.granted`), then two crossings
    // below the 200-credit alert (`balance.low`), the top-up between them re-arming it.
    admin(
        &client,
        &server,
        reqwest::Method::PUT,
        "/v1/accounts/acme",
        Some(json!({ "plan": "ai-engine/standard" })),
    )
    .await;
    for round in 0..2 {
        admin(
            &client,
            &server,
            reqwest::Method::POST,
            "/v1/accounts/acme/adjustments",
            Some(json!({
                "id": format!("debit-{round}"),
                "direction": "debit",
                "amount": "850",
                "reason": "correction"
            })),
        )
        .await;
        admin(
            &client,
            &server,
            reqwest::Method::POST,
            "/v1/accounts/acme/topups",
            Some(json!({ "id": format!("topup-{round}"), "amount": "850" })),
        )
        .await;
    }
    let published = admin(
        &client,
        &server,
        reqwest::Method::GET,
        "/v1/accounts/acme/events",
        None,
    )
    .await;
    let published = published["events"].as_array().unwrap().clone();
    let types: Vec<&str> = published
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["credits.granted", "balance.low", "balance.low"]);
    let published_ids: Vec<String> = published
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();

    let started = std::time::Instant::now();
    let arrivals = loop {
        let arrivals = receiver.arrivals.lock().unwrap().clone();
        let unique: std::collections::HashSet<&str> =
            arrivals.iter().map(|a| a.header_id.as_str()).collect();
        if unique.len() >= published_ids.len() {
            break arrivals;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for deliveries: {arrivals:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    receiving.abort();

    // Exactly the published events (a duplicate is the same event again), signed, in seq
    // order, each body the one the API serves.
    let mut first_arrivals: Vec<String> = Vec::new();
    for arrival in &arrivals {
        assert!(arrival.verified, "a bad signature: {arrival:?}");
        assert_eq!(arrival.body["id"], json!(arrival.header_id));
        let event = published
            .iter()
            .find(|event| event["id"] == json!(arrival.header_id))
            .unwrap_or_else(|| panic!("an event never published: {arrival:?}"));
        assert_eq!(&arrival.body, event);
        if !first_arrivals.contains(&arrival.header_id) {
            first_arrivals.push(arrival.header_id.clone());
        }
    }
    assert_eq!(first_arrivals, published_ids);
}
