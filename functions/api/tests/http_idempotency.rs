//! Idempotency: the same id with the same body answers the original response (status and
//! body), with another body 409; refusals write and record nothing; concurrent requests on
//! one account neither lose nor double a charge.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::json;

use common::Harness;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_replayed_charge_answers_the_original_response_and_charges_once() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let before = dec(&harness.available("acme", "credit").await);
    let body = json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "90s"}});
    let first = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:#?}");
    let entries = harness.entry_count("acme").await;

    // Time passes, more is spent: the replay still answers the original.
    harness.clock.advance(chrono::Duration::minutes(5));
    let other = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-2", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let entries = entries + (harness.entry_count("acme").await - entries);

    for _ in 0..3 {
        let again = harness
            .admin(
                Method::POST,
                "/v1/accounts/acme/charges",
                Some(body.clone()),
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.json, first.json);
    }
    // Same body, keys in another order and the number written another way.
    let reordered = json!({"inputs": {"duration": "90s"}, "feature": "video_emotion", "id": "c-1"});
    let again = harness
        .admin(Method::POST, "/v1/accounts/acme/charges", Some(reordered))
        .await;
    assert_eq!(again.json, first.json);
    assert_eq!(harness.entry_count("acme").await, entries);
    assert_eq!(
        dec(&harness.available("acme", "credit").await),
        before - dec("100")
    );
}

/// Regression: `"images": 1` then `"images": 1.0` under one id answered 409
/// idempotency-conflict; numbers are compared by value, so it replays the original 201. A
/// different number under the same id is still a conflict.
#[tokio::test]
async fn idempotency_hash_keeps_numbers_text() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let charge = |images: &str| {
        format!(r#"{{"id": "i-1", "feature": "image_emotion", "inputs": {{"images": {images}}}}}"#)
            .into_bytes()
    };
    let send = |body: Vec<u8>| {
        harness.send_raw(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(common::ADMIN_KEY),
            Some(body),
            Some("application/json"),
        )
    };
    let first = send(charge("1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:#?}");
    let entries = harness.entry_count("acme").await;
    let balance = harness.available("acme", "credit").await;

    for same in ["1.0", "1.00", "10e-1", "1E0"] {
        let again = send(charge(same)).await;
        assert_eq!(again.status, StatusCode::CREATED, "{same}: {again:#?}");
        assert_eq!(again.json, first.json, "{same}");
    }
    for other in ["2", "1.5"] {
        let reply = send(charge(other)).await;
        let problem = reply.problem(StatusCode::CONFLICT, "idempotency-conflict");
        assert_eq!(problem["id"], "i-1", "{other}");
    }
    assert_eq!(harness.entry_count("acme").await, entries);
    assert_eq!(harness.available("acme", "credit").await, balance);
}

#[tokio::test]
async fn the_same_id_with_another_body_is_a_conflict() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let first = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "90s"}})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let entries = harness.entry_count("acme").await;
    let balance = harness.available("acme", "credit").await;
    for (path, body) in [
        (
            "/v1/accounts/acme/charges",
            json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "91s"}}),
        ),
        (
            "/v1/accounts/acme/charges",
            json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "90s"}, "project": "p"}),
        ),
        (
            "/v1/accounts/acme/holds",
            json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "90s"}}),
        ),
        (
            "/v1/accounts/acme/topups",
            json!({"id": "c-1", "amount": "5"}),
        ),
    ] {
        let reply = harness.admin(Method::POST, path, Some(body)).await;
        let problem = reply.problem(StatusCode::CONFLICT, "idempotency-conflict");
        assert_eq!(problem["id"], "c-1");
    }
    assert_eq!(harness.entry_count("acme").await, entries);
    assert_eq!(harness.available("acme", "credit").await, balance);
}

#[tokio::test]
async fn replays_of_every_mutation() {
    let harness = Harness::new();
    harness.account("acme", "imentiv/professional", None).await;
    let steps = [
        (
            "/v1/accounts/acme/topups",
            json!({"id": "t-1", "amount": "500"}),
        ),
        (
            "/v1/accounts/acme/charges",
            json!({"id": "c-1", "feature": "image_emotion", "inputs": {"images": 2}}),
        ),
        (
            "/v1/accounts/acme/holds",
            json!({"id": "h-1", "feature": "image_emotion", "inputs": {"images": 2}}),
        ),
        (
            "/v1/accounts/acme/holds/h-1/capture",
            json!({"inputs": {"images": 1}}),
        ),
        (
            "/v1/accounts/acme/holds",
            json!({"id": "h-2", "feature": "image_emotion", "inputs": {"images": 1}}),
        ),
        ("/v1/accounts/acme/holds/h-2/release", json!({})),
        (
            "/v1/accounts/acme/refunds",
            json!({"id": "r-1", "charge": "c-1", "reason": "duplicate"}),
        ),
    ];
    let mut firsts = Vec::new();
    for (path, body) in &steps {
        let reply = harness.admin(Method::POST, path, Some(body.clone())).await;
        assert!(reply.status.is_success(), "{path}: {reply:#?}");
        firsts.push(reply);
    }
    let entries = harness.entry_count("acme").await;
    let balance = harness.available("acme", "credit").await;
    // Every replay answers the original, even where the operation could not run again now
    // (the hold is gone, the charge is refunded).
    for ((path, body), first) in steps.iter().zip(&firsts) {
        let again = harness.admin(Method::POST, path, Some(body.clone())).await;
        assert_eq!(again.status, first.status, "{path}");
        assert_eq!(again.json, first.json, "{path}");
    }
    assert_eq!(harness.entry_count("acme").await, entries);
    assert_eq!(harness.available("acme", "credit").await, balance);
}

#[tokio::test]
async fn insufficient_credits_is_402_and_writes_nothing() {
    let harness = Harness::new();
    harness.account("poor", "imini/prepaid", Some("5")).await;
    let balance = harness.available("poor", "credit").await;
    let entries = harness.entry_count("poor").await;
    let body = json!({"id": "c-1", "feature": "chat_completion", "inputs": {"model": "large", "tokens": 2000000}});
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/poor/charges",
            Some(body.clone()),
        )
        .await;
    let problem = reply.problem(StatusCode::PAYMENT_REQUIRED, "insufficient-credits");
    assert_eq!(problem["unit"], "credit");
    assert!(
        problem["needed"].is_string() && problem["available"].is_string(),
        "{problem}"
    );
    assert_eq!(harness.available("poor", "credit").await, balance);
    assert_eq!(harness.entry_count("poor").await, entries);
    // Nothing was recorded: after a top-up the same id succeeds.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/poor/topups",
            Some(json!({"id": "t-2", "amount": "100000"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = harness
        .admin(Method::POST, "/v1/accounts/poor/charges", Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

#[tokio::test]
async fn concurrent_charges_on_one_account_are_exact() {
    let harness = Arc::new(Harness::new());
    harness
        .account("busy", "imentiv/enterprise", Some("100000"))
        .await;
    let before = dec(&harness.available("busy", "credit").await);
    let clients = 8;
    let charges = 25;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let harness = Arc::clone(&harness);
        tasks.push(tokio::spawn(async move {
            for charge in 0..charges {
                let body = json!({"id": format!("c-{client}-{charge}"), "feature": "text_emotion", "inputs": {"words": 100}, "channel": "api"});
                let reply = harness.admin(Method::POST, "/v1/accounts/busy/charges", Some(body.clone())).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
                // Every other charge is sent twice.
                if charge % 2 == 0 {
                    let again = harness.admin(Method::POST, "/v1/accounts/busy/charges", Some(body)).await;
                    assert_eq!(again.json, reply.json);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let after = dec(&harness.available("busy", "credit").await);
    assert_eq!(before - after, Decimal::from(clients * charges));
}

#[tokio::test]
async fn concurrent_charges_never_overdraw() {
    let harness = Arc::new(Harness::new());
    // imini/prepaid: no grants, no credit line, 120 requests a minute. Top up exactly 40
    // charges' worth, then send 56 charges from 8 clients at once: exactly 40 succeed.
    harness.account("tight", "imini/prepaid", None).await;
    let usage = json!({"feature": "image_generation", "inputs": {"model": "flux_schnell"}});
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/tight/quotes",
            Some(usage.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let price = dec(reply.json["amounts"]["credit"].as_str().unwrap());
    let top_up = price * Decimal::from(40);
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/tight/topups",
            Some(json!({"id": "t-0", "amount": top_up.to_string()})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let before = dec(&harness.available("tight", "credit").await);
    assert_eq!(before, top_up);

    let mut tasks = Vec::new();
    for client in 0..8 {
        let harness = Arc::clone(&harness);
        let usage = usage.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0_u32;
            for charge in 0..7 {
                let mut body = usage.clone();
                body["id"] = json!(format!("t-{client}-{charge}"));
                let reply = harness
                    .admin(Method::POST, "/v1/accounts/tight/charges", Some(body))
                    .await;
                match reply.status {
                    StatusCode::CREATED => ok += 1,
                    StatusCode::PAYMENT_REQUIRED => {}
                    other => panic!("unexpected {other}: {reply:#?}"),
                }
            }
            ok
        }));
    }
    let mut succeeded = 0_u32;
    for task in tasks {
        succeeded += task.await.unwrap();
    }
    assert_eq!(succeeded, 40);
    assert_eq!(
        dec(&harness.available("tight", "credit").await),
        Decimal::ZERO
    );
}
