//! The plans' limits (`limit N requests per minute`, `limit N concurrent holds`): past them a
//! request is answered 429 `rate-limited` with `Retry-After`, and writes nothing; within
//! them, and once the window has passed or a hold is settled, requests go through again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::Duration;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_tests::sim::env::{ADMIN_KEY, Deployment, entry_count, start_time};
use credits_tests::sim::http::{ApiRequest, Reply, send};

async fn post(deployment: &Deployment, instance: usize, path: &str, body: Value) -> Reply {
    let request = ApiRequest::new(Method::POST, path, Some(ADMIN_KEY)).json(&body);
    send(&deployment.routers[instance], &request).await.unwrap()
}

async fn setup(
    plan: &str,
    subscription: bool,
    top_up: Option<(&str, &str)>,
    instances: usize,
) -> (Deployment, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let deployment = Deployment::new(Arc::clone(&store), instances, start_time().unwrap()).unwrap();
    let mut body = json!({ "plan": plan });
    if subscription {
        body["subscription"] =
            json!({"status": "active", "period": "monthly", "anchor": "2026-01-01T00:00:00Z"});
    }
    let reply = send(
        deployment.router().unwrap(),
        &ApiRequest::new(Method::PUT, "/v1/accounts/acme", Some(ADMIN_KEY)).json(&body),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
    if let Some((unit, amount)) = top_up {
        let reply = post(
            &deployment,
            0,
            "/v1/accounts/acme/topups",
            json!({"id": "t", "unit": unit, "amount": amount}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
    }
    (deployment, store)
}

async fn footprint(store: &dyn Store) -> (usize, u64) {
    (
        entry_count(store, "acme").await.unwrap(),
        store.load("acme").await.unwrap().unwrap().version,
    )
}

#[track_caller]
fn assert_rate_limited(reply: &Reply, what: &str, max_seconds: u64) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        reply.short()
    );
    reply.check_problem().unwrap();
    assert_eq!(reply.problem_type(), Some("rate-limited"), "{what}");
    let retry_after: u64 = reply
        .headers
        .get(http::header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("{what}: 429 without Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After is not a number of seconds"));
    assert!(
        (1..=max_seconds).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
}

/// imini/prepaid: `limit 120 requests per minute`.
#[tokio::test]
async fn the_request_rate_limit_answers_429_with_retry_after_and_writes_nothing() {
    let (deployment, store) = setup("imini/prepaid", false, Some(("credit", "1000")), 1).await;
    // The windows are aligned on the minute: start at its beginning.
    deployment.clock.advance(Duration::seconds(5));
    let charge = |n: u32| json!({"id": format!("c{n}"), "feature": "image_generation", "inputs": {"model": "flux_schnell"}});
    for n in 0..120 {
        let reply = post(&deployment, 0, "/v1/accounts/acme/charges", charge(n)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "charge {n}: {}",
            reply.short()
        );
    }
    let before = footprint(store.as_ref()).await;
    for n in 120..125 {
        let reply = post(&deployment, 0, "/v1/accounts/acme/charges", charge(n)).await;
        assert_rate_limited(&reply, &format!("charge {n}"), 60);
        let reply = post(
            &deployment,
            0,
            "/v1/accounts/acme/holds",
            json!({"id": format!("h{n}"), "feature": "image_generation", "inputs": {"model": "flux_schnell"}}),
        )
        .await;
        assert_rate_limited(&reply, &format!("hold {n}"), 60);
    }
    assert_eq!(
        footprint(store.as_ref()).await,
        before,
        "a rate-limited request wrote something"
    );
    // The same id answers the same way until the window passes; then it goes through.
    deployment.clock.advance(Duration::seconds(60));
    let reply = post(&deployment, 0, "/v1/accounts/acme/charges", charge(120)).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "after the window: {}",
        reply.short()
    );
}

/// invideo/plus: `limit 30 requests per minute`, hit by 45 charges at once on two
/// instances: exactly 30 go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_past_the_rate_limit_are_refused_exactly() {
    let (deployment, store) = setup("invideo/plus", true, None, 2).await;
    let deployment = Arc::new(deployment);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..45 {
        let deployment = Arc::clone(&deployment);
        tasks.spawn(async move {
            post(
                &deployment,
                n % 2,
                "/v1/accounts/acme/charges",
                json!({"id": format!("c{n}"), "feature": "remix_image", "inputs": {"images": 1}}),
            )
            .await
        });
    }
    let mut accepted = 0;
    let mut limited = 0;
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        match reply.status {
            StatusCode::CREATED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_rate_limited(&reply, "a concurrent charge", 60);
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", reply.short()),
        }
    }
    assert_eq!((accepted, limited), (30, 15));
    let charges = credits_tests::sim::env::all_entries(store.as_ref(), "acme")
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.entry_type == "charge")
        .count();
    assert_eq!(charges, 30, "charge entries");
}

/// imini/prepaid: `limit 16 concurrent holds`.
#[tokio::test]
async fn the_concurrent_hold_limit_answers_429_and_writes_nothing() {
    let (deployment, store) = setup("imini/prepaid", false, Some(("credit", "1000")), 1).await;
    let hold = |n: u32| json!({"id": format!("h{n}"), "feature": "image_generation", "inputs": {"model": "flux_schnell"}, "ttl_seconds": 600});
    for n in 0..16 {
        let reply = post(&deployment, 0, "/v1/accounts/acme/holds", hold(n)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "hold {n}: {}",
            reply.short()
        );
        deployment.clock.advance(Duration::seconds(1));
    }
    let before = footprint(store.as_ref()).await;
    let reply = post(&deployment, 0, "/v1/accounts/acme/holds", hold(16)).await;
    // Until the soonest hold expires.
    assert_rate_limited(&reply, "the 17th hold", 600);
    assert_eq!(
        footprint(store.as_ref()).await,
        before,
        "a refused hold wrote something"
    );
    // Charges are not holds: they still go through.
    let reply = post(
        &deployment,
        0,
        "/v1/accounts/acme/charges",
        json!({"id": "c", "feature": "image_generation", "inputs": {"model": "flux_schnell"}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.short());
    // Settling one hold makes room for one more.
    let reply = post(
        &deployment,
        0,
        "/v1/accounts/acme/holds/h0/release",
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.short());
    let reply = post(&deployment, 0, "/v1/accounts/acme/holds", hold(16)).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "after a release: {}",
        reply.short()
    );
    let reply = post(&deployment, 0, "/v1/accounts/acme/holds", hold(17)).await;
    assert_rate_limited(&reply, "the 17th hold again", 600);
    // Expired holds free their places too (released lazily on the next request).
    deployment.clock.advance(Duration::seconds(601));
    let reply = post(&deployment, 0, "/v1/accounts/acme/holds", hold(17)).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "after the holds expired: {}",
        reply.short()
    );
}
