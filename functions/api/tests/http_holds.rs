//! Holds you can look at (`GET /v1/accounts/{account}/holds/{hold}`) in every state, and
//! the `hold-closed` problem a capture or release of a hold that is no longer open answers.
//! The rules are in `docs/holds.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use common::Harness;

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not an instant: {value}"))
        .parse()
        .unwrap()
}

async fn hold(h: &Harness, account: &str, body: Value) -> Value {
    let reply = h
        .admin(
            Method::POST,
            &format!("/v1/accounts/{account}/holds"),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.json
}

async fn look(h: &Harness, account: &str, hold: &str) -> common::Reply {
    h.admin(
        Method::GET,
        &format!("/v1/accounts/{account}/holds/{hold}"),
        None,
    )
    .await
}

async fn capture(h: &Harness, account: &str, hold: &str, body: Option<Value>) -> common::Reply {
    h.admin(
        Method::POST,
        &format!("/v1/accounts/{account}/holds/{hold}/capture"),
        body,
    )
    .await
}

async fn release(h: &Harness, account: &str, hold: &str, body: Option<Value>) -> common::Reply {
    h.admin(
        Method::POST,
        &format!("/v1/accounts/{account}/holds/{hold}/release"),
        body,
    )
    .await
}

#[tokio::test]
async fn a_hold_is_open_then_captured_and_a_second_capture_says_when() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", Some("100")).await;
    let made = hold(
        &h,
        "acme",
        json!({"id": "h1", "feature": "image_generation", "inputs": {"model": "flux_pro", "outputs": 2}}),
    )
    .await;

    let open = look(&h, "acme", "h1").await;
    assert_eq!(open.status, StatusCode::OK, "{open:?}");
    assert_eq!(open.json["status"], "open");
    assert_eq!(open.json["id"], "h1");
    assert_eq!(open.json["account"], "acme");
    assert_eq!(open.json["feature"], "image_generation");
    assert_eq!(open.json["reserved"], json!({"credit": "20.00"}));
    assert_eq!(open.json["captured"], json!({}));
    assert_eq!(instant(&open.json["created_at"]), common::start());
    assert_eq!(open.json["expires_at"], made["expires_at"]);
    assert!(open.json.get("closed_at").is_none(), "{open:?}");

    h.clock.advance(Duration::seconds(30));
    let captured = capture(
        &h,
        "acme",
        "h1",
        Some(json!({"inputs": {"model": "flux_pro", "outputs": 1}})),
    )
    .await;
    assert_eq!(captured.status, StatusCode::OK, "{captured:?}");
    assert_eq!(captured.json["charged"], json!({"credit": "10.00"}));

    let looked = look(&h, "acme", "h1").await;
    assert_eq!(looked.json["status"], "captured", "{looked:?}");
    assert_eq!(looked.json["reserved"], json!({"credit": "20.00"}));
    assert_eq!(looked.json["captured"], json!({"credit": "10.00"}));
    let closed_at = common::start() + Duration::seconds(30);
    assert_eq!(instant(&looked.json["closed_at"]), closed_at);

    // The same capture again (same default id) answers the original response.
    let replay = capture(
        &h,
        "acme",
        "h1",
        Some(json!({"inputs": {"model": "flux_pro", "outputs": 1}})),
    )
    .await;
    assert_eq!(replay.status, StatusCode::OK, "{replay:?}");
    assert_eq!(replay.json, captured.json);

    // Another capture or a release says the hold was captured, and when.
    for reply in [
        capture(&h, "acme", "h1", Some(json!({"id": "second-capture"}))).await,
        release(&h, "acme", "h1", None).await,
    ] {
        let problem = reply.problem(StatusCode::CONFLICT, "hold-closed");
        assert_eq!(problem["hold_status"], "captured");
        assert_eq!(problem["hold"], "h1");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("hold `h1` was already captured at 2026-01-15T10:00:30"),
            "{detail}"
        );
        assert_eq!(instant(&problem["closed_at"]), closed_at);
    }
    let looked_again = look(&h, "acme", "h1").await;
    assert_eq!(looked_again.json, looked.json);
}

#[tokio::test]
async fn a_released_hold_says_released_and_an_unknown_one_is_not_found() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", Some("100")).await;
    hold(
        &h,
        "acme",
        json!({"id": "h2", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
    )
    .await;
    let released = release(&h, "acme", "h2", None).await;
    assert_eq!(released.status, StatusCode::OK, "{released:?}");
    let looked = look(&h, "acme", "h2").await;
    assert_eq!(looked.json["status"], "released", "{looked:?}");
    assert_eq!(looked.json["captured"], json!({}));
    assert_eq!(instant(&looked.json["closed_at"]), common::start());

    let reply = capture(&h, "acme", "h2", None).await;
    let problem = reply.problem(StatusCode::CONFLICT, "hold-closed");
    assert_eq!(problem["hold_status"], "released");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("hold `h2` was already released at "),
        "{problem}"
    );

    for reply in [
        look(&h, "acme", "nope").await,
        capture(&h, "acme", "nope", None).await,
        release(&h, "acme", "nope", None).await,
    ] {
        let problem = reply.problem(StatusCode::NOT_FOUND, "not-found");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no hold `nope`"),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn an_expired_hold_reads_expired_before_and_after_the_account_catches_up() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", Some("100")).await;
    let made = hold(
        &h,
        "acme",
        json!({"id": "h3", "feature": "image_generation", "inputs": {"model": "flux_pro"}, "ttl_seconds": 60}),
    )
    .await;
    let expires_at = instant(&made["expires_at"]);
    h.clock.advance(Duration::seconds(120));

    // Nothing has been written since the hold: its record still says open.
    let looked = look(&h, "acme", "h3").await;
    assert_eq!(looked.json["status"], "expired", "{looked:?}");
    assert_eq!(instant(&looked.json["closed_at"]), expires_at);

    for reply in [
        capture(&h, "acme", "h3", None).await,
        release(&h, "acme", "h3", None).await,
    ] {
        let problem = reply.problem(StatusCode::CONFLICT, "hold-closed");
        assert_eq!(problem["hold_status"], "expired");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("hold `h3` expired at 2026-01-15T10:01:00"),
            "{detail}"
        );
    }

    // A write brings the account up to date (the expiry is committed); same answer.
    let charged = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c1", "feature": "image_generation", "inputs": {"model": "flux_schnell"}})),
        )
        .await;
    assert_eq!(charged.status, StatusCode::CREATED, "{charged:?}");
    assert_eq!(look(&h, "acme", "h3").await.json, looked.json);
    assert_eq!(h.available("acme", "credit").await, "98.00");
}

#[tokio::test]
async fn a_zero_capture_lists_zero_per_reserved_unit() {
    let h = Harness::new();
    h.account("acme", "imentiv/professional", Some("500")).await;
    let analysed = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c1", "feature": "image_emotion", "inputs": {"images": 1}, "content": "v1"})),
        )
        .await;
    assert_eq!(analysed.status, StatusCode::CREATED, "{analysed:?}");
    // A hold reserves the paid price; its capture is the feature's free first request.
    hold(
        &h,
        "acme",
        json!({"id": "h4", "feature": "personality_analysis", "inputs": {"duration": "1m"}, "content": "v1"}),
    )
    .await;
    let captured = capture(&h, "acme", "h4", None).await;
    assert_eq!(captured.status, StatusCode::OK, "{captured:?}");
    assert_eq!(captured.json["charged"], json!({"credit": "0.00"}));
    let looked = look(&h, "acme", "h4").await;
    assert_eq!(looked.json["status"], "captured");
    assert_eq!(looked.json["reserved"], json!({"credit": "25.00"}));
    assert_eq!(looked.json["captured"], json!({"credit": "0.00"}));
}

#[tokio::test]
async fn closing_the_account_releases_its_open_holds() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", Some("100")).await;
    hold(
        &h,
        "acme",
        json!({"id": "h5", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
    )
    .await;
    h.clock.advance(Duration::seconds(5));
    let closed = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/close",
            Some(json!({"id": "close-1"})),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{closed:?}");
    let looked = look(&h, "acme", "h5").await;
    assert_eq!(looked.json["status"], "released", "{looked:?}");
    assert_eq!(
        instant(&looked.json["closed_at"]),
        common::start() + Duration::seconds(5)
    );
}

#[tokio::test]
async fn an_account_key_sees_only_its_own_holds() {
    let h = Harness::new();
    for account in ["alice", "bob"] {
        h.account(account, "imini/prepaid", Some("100")).await;
    }
    hold(
        &h,
        "bob",
        json!({"id": "h6", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
    )
    .await;
    let (_, alice) = h.key(Some("alice")).await;
    let (_, bob) = h.key(Some("bob")).await;
    let own = h
        .send(Method::GET, "/v1/accounts/bob/holds/h6", Some(&bob), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{own:?}");
    let other = h
        .send(Method::GET, "/v1/accounts/bob/holds/h6", Some(&alice), None)
        .await;
    other.problem(StatusCode::FORBIDDEN, "forbidden");
    // Alice's own account has no such hold.
    let mine = h
        .send(
            Method::GET,
            "/v1/accounts/alice/holds/h6",
            Some(&alice),
            None,
        )
        .await;
    mine.problem(StatusCode::NOT_FOUND, "not-found");
}
