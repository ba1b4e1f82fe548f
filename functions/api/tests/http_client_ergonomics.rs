//! What a client reads and writes: top-up kinds the plan orders, amounts in decimals of the
//! unit, schema errors that name the field, a date as a subscription anchor, and the
//! documented shape of the account request. The rules are in `docs/api-conventions.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::Harness;

fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap()
}

#[tokio::test]
async fn a_top_up_kind_the_plan_does_not_order_is_refused_naming_the_kinds() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", None).await;
    let refused = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/topups",
            Some(json!({"id": "t1", "amount": "5", "kind": "promo"})),
        )
        .await;
    let problem = refused.problem(StatusCode::BAD_REQUEST, "invalid-input");
    assert_eq!(problem["field"], "kind");
    let text = detail(problem);
    assert!(
        text.contains("`promo`") && text.contains("`promotional`, `top_up`"),
        "{text}"
    );
    assert_eq!(h.available("acme", "credit").await, "0.00");
    let listed = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/topups",
            Some(json!({"id": "t2", "amount": "5", "kind": "promotional"})),
        )
        .await;
    assert_eq!(listed.status, StatusCode::CREATED, "{listed:?}");
}

#[tokio::test]
async fn refusals_speak_decimals_of_the_unit_not_minor_units() {
    let h = Harness::new();
    h.account("acme", "imini/prepaid", Some("100")).await;
    let charged = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(
                json!({"id": "c1", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
            ),
        )
        .await;
    assert_eq!(charged.status, StatusCode::CREATED, "{charged:?}");
    let refused = h
        .admin(
            Method::POST,
            "/v1/accounts/acme/refunds",
            Some(json!({"id": "r1", "charge": "c1", "reason": "dispute", "amount": "50"})),
        )
        .await;
    let problem = refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "refund-not-allowed");
    assert_eq!(
        detail(problem),
        "charge `c1` has 10.00 credit left to refund, less than 50.00 credit"
    );

    // An account in debt within its credit line cannot be closed: it owes decimals.
    h.account("owing", "imini/credit_line", None).await;
    let spent = h
        .admin(
            Method::POST,
            "/v1/accounts/owing/charges",
            Some(json!({"id": "c2", "feature": "image_generation", "inputs": {"model": "flux_pro", "outputs": 3}})),
        )
        .await;
    assert_eq!(spent.status, StatusCode::CREATED, "{spent:?}");
    let refused = h
        .admin(
            Method::POST,
            "/v1/accounts/owing/close",
            Some(json!({"id": "close-1"})),
        )
        .await;
    let problem = refused.problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        detail(problem),
        "account `owing` owes 30.00 credit; top it up before closing it"
    );
}

#[tokio::test]
async fn a_date_anchor_is_midnight_in_the_accounts_time_zone() {
    let h = Harness::new();
    let created = h
        .admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({
                "plan": "imentiv/professional",
                "time_zone": "Asia/Kolkata",
                "subscription": {"status": "active", "period": "monthly", "anchor": "2026-01-06"},
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        created.json["subscription"]["anchor"],
        "2026-01-05T18:30:00Z"
    );
    // Without a zone in the request, the account's own.
    let updated = h
        .admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({
                "plan": "imentiv/professional",
                "subscription": {"status": "active", "period": "monthly", "anchor": "2026-01-07"},
            })),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(
        updated.json["subscription"]["anchor"],
        "2026-01-06T18:30:00Z"
    );
}

#[tokio::test]
async fn a_body_that_does_not_match_the_schema_names_the_field() {
    let h = Harness::new();
    let cases = [
        (
            "/v1/accounts/acme",
            Method::PUT,
            json!({"plan": "imentiv/professional", "subscription": {"status": "active", "period": "monthly", "anchor": "soon"}}),
            "subscription.anchor",
        ),
        ("/v1/accounts/acme", Method::PUT, json!({"plan": 5}), "plan"),
        (
            "/v1/accounts/acme/charges",
            Method::POST,
            json!({"id": "c1", "feature": "image_generation", "inputs": {}, "project": 7}),
            "project",
        ),
        (
            "/v1/accounts/acme/holds",
            Method::POST,
            json!({"id": "h1", "feature": "image_generation", "ttl_seconds": "soon"}),
            "ttl_seconds",
        ),
    ];
    for (path, method, body, field) in cases {
        let reply = h.admin(method, path, Some(body)).await;
        let problem = reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
        assert_eq!(problem["field"], field, "{problem}");
        assert!(detail(problem).contains(&format!("`{field}`")), "{problem}");
    }
}

#[tokio::test]
async fn the_documented_account_request_needs_only_a_plan() {
    let document: Value = serde_json::from_str(&credits_api::openapi::document_json()).unwrap();
    let schema = &document["components"]["schemas"]["AccountRequest"];
    assert_eq!(schema["required"], json!(["plan"]), "{schema}");
    // The server agrees: a plan alone creates the account.
    let h = Harness::new();
    let created = h
        .admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({"plan": "imini/credit_line"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
}

#[tokio::test]
async fn capture_and_release_answer_200_and_say_so() {
    let document: Value = serde_json::from_str(&credits_api::openapi::document_json()).unwrap();
    for action in ["capture", "release"] {
        let responses = &document["paths"]
            [format!("/v1/accounts/{{account}}/holds/{{hold}}/{action}")]["post"]["responses"];
        assert!(responses.get("200").is_some(), "{action}: {responses}");
        assert!(responses.get("201").is_none(), "{action}: {responses}");
        let operation =
            &document["paths"][format!("/v1/accounts/{{account}}/holds/{{hold}}/{action}")]["post"];
        let description = format!(
            "{} {}",
            operation["summary"].as_str().unwrap_or_default(),
            operation["description"].as_str().unwrap_or_default()
        );
        assert!(
            description.contains("200, not 201"),
            "{action}: {description}"
        );
    }
}
