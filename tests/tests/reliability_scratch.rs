#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
use std::sync::Arc;
use credits_tests::sim::env::{Deployment, ADMIN_KEY, start_time};
use credits_tests::sim::http::{send, ApiRequest};
use http::Method;
use serde_json::json;

async fn go(d: &Deployment, m: Method, p: &str, b: Option<serde_json::Value>) -> serde_json::Value {
    let mut r = ApiRequest::new(m.clone(), p, Some(ADMIN_KEY));
    if let Some(b) = b { r = r.json(&b); }
    let reply = send(d.router().unwrap(), &r).await.unwrap();
    println!("{m} {p} -> {}\n{}\n", reply.status, serde_json::to_string_pretty(&reply.json).unwrap());
    reply.json
}

#[tokio::test]
async fn scratch() {
    let store: Arc<dyn credits_store::Store> = Arc::new(credits_store::sqlite::SqliteStore::in_memory().unwrap());
    let d = Deployment::new(store, 1, start_time().unwrap()).unwrap();
    go(&d, Method::PUT, "/v1/accounts/a", Some(json!({"plan": "invideo/plus", "subscription": {"status":"active","period":"monthly","anchor":"2026-01-01T00:00:00Z"}}))).await;
    go(&d, Method::POST, "/v1/accounts/a/topups", Some(json!({"id":"t1","amount":"10.5"}))).await;
    go(&d, Method::POST, "/v1/accounts/a/charges", Some(json!({"id":"c1","feature":"stock_video","inputs":{"duration":"90s","actor":true}}))).await;
    go(&d, Method::POST, "/v1/accounts/a/holds", Some(json!({"id":"h1","feature":"generative_video","inputs":{"duration":"60s","model":"pro"}, "ttl_seconds": 60}))).await;
    go(&d, Method::POST, "/v1/accounts/a/holds/h1/capture", Some(json!({"inputs":{"duration":"30s","model":"pro"}}))).await;
    go(&d, Method::POST, "/v1/accounts/a/refunds", Some(json!({"id":"r1","charge":"c1","reason":"duplicate","amount":"1","unit":"video_minute"}))).await;
    go(&d, Method::POST, "/v1/accounts/a/refunds", Some(json!({"id":"r2","charge":"c1","reason":"duplicate"}))).await;
    go(&d, Method::POST, "/v1/accounts/a/holds", Some(json!({"id":"h2","feature":"remix_image","inputs":{"images":3}, "ttl_seconds": 60}))).await;
    d.clock.advance(chrono::Duration::seconds(120));
    go(&d, Method::GET, "/v1/accounts/a/balance", None).await;
    go(&d, Method::POST, "/v1/accounts/a/holds/h2/release", None).await;
    go(&d, Method::GET, "/v1/accounts/a/entries?limit=1000", None).await;
}
