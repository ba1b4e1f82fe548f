//! Bad input on every mutating route answers a 4xx problem and writes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{ADMIN_KEY, Harness};

async fn setup() -> Harness {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    // A hold to capture and release, and a charge to refund.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/holds",
            Some(json!({"id": "h-0", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-0", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    harness
}

/// Send raw bytes as JSON; assert a 4xx problem of `problem_type` and no new entry.
async fn refused(
    harness: &Harness,
    path: &str,
    body: &[u8],
    status: StatusCode,
    problem_type: &str,
) -> Value {
    let before = harness.entry_count("acme").await;
    let method = if path == "/v1/accounts/acme" {
        Method::PUT
    } else {
        Method::POST
    };
    let reply = harness
        .send_raw(
            method,
            path,
            Some(ADMIN_KEY),
            Some(body.to_vec()),
            Some("application/json"),
        )
        .await;
    let problem = reply.problem(status, problem_type).clone();
    assert_eq!(
        harness.entry_count("acme").await,
        before,
        "{path} wrote entries for {}",
        String::from_utf8_lossy(body)
    );
    problem
}

async fn invalid(harness: &Harness, path: &str, body: Value) -> Value {
    refused(
        harness,
        path,
        body.to_string().as_bytes(),
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await
}

const MUTATING: [&str; 9] = [
    "/v1/accounts/acme",
    "/v1/accounts/acme/close",
    "/v1/accounts/acme/charges",
    "/v1/accounts/acme/holds",
    "/v1/accounts/acme/holds/h-0/capture",
    "/v1/accounts/acme/holds/h-0/release",
    "/v1/accounts/acme/topups",
    "/v1/accounts/acme/refunds",
    "/v1/accounts/acme/quotes",
];

#[tokio::test]
async fn malformed_bodies_on_every_mutating_route() {
    let harness = setup().await;
    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(100 * 1024));
    for path in MUTATING {
        for body in [
            &b"{not json"[..],
            b"[1, 2]",
            b"\"text\"",
            b"{\"id\": 1",
            b"null",
        ] {
            let problem = refused(
                &harness,
                path,
                body,
                StatusCode::BAD_REQUEST,
                "invalid-input",
            )
            .await;
            let detail = problem["detail"].as_str().unwrap();
            assert!(!detail.contains("Request"), "{detail}");
        }
        refused(
            &harness,
            path,
            b"{\"unexpected\": 1}",
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        refused(
            &harness,
            path,
            huge.as_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        )
        .await;

        // Not JSON at all.
        let before = harness.entry_count("acme").await;
        let method = if path == "/v1/accounts/acme" {
            Method::PUT
        } else {
            Method::POST
        };
        let reply = harness
            .send_raw(
                method,
                path,
                Some(ADMIN_KEY),
                Some(b"id=1".to_vec()),
                Some("application/x-www-form-urlencoded"),
            )
            .await;
        reply.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
        assert_eq!(harness.entry_count("acme").await, before);
    }
}

#[tokio::test]
async fn unknown_fields_are_named() {
    let harness = setup().await;
    let problem = invalid(
        &harness,
        "/v1/accounts/acme/charges",
        json!({"id": "c-9", "feature": "video_emotion", "inputs": {"duration": 1}, "amount": 5}),
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `amount`"),
        "{problem}"
    );
    let problem = invalid(
        &harness,
        "/v1/accounts/acme/charges",
        json!({"id": "c-9", "inputs": {}}),
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `feature`"),
        "{problem}"
    );
}

#[tokio::test]
async fn bad_usages_on_charges_holds_quotes_and_captures() {
    let harness = setup().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"feature": "nope", "inputs": {"duration": 1}}),
            "unknown-feature",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": 1, "colour": "red"}}),
            "unknown-input",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {}}),
            "missing-input",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": -1}}),
            "",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "-1"}}),
            "",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "NaN"}}),
            "",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "inf"}}),
            "",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "250 words"}}),
            "wrong-unit",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "5h"}}),
            "above-maximum",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "0s"}}),
            "below-minimum",
        ),
        (
            json!({"feature": "image_emotion", "inputs": {"images": 0}}),
            "below-minimum",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": true}}),
            "wrong-type",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": [1]}}),
            "",
        ),
        (
            json!({"feature": "video_emotion", "inputs": {"duration": "10s"}, "channel": "fax"}),
            "unknown-channel",
        ),
        (
            json!({"feature": "image_emotion", "inputs": {"images": 1.5}}),
            "",
        ),
    ];
    for (usage, code) in &cases {
        for (path, extra) in [
            ("/v1/accounts/acme/quotes", json!({})),
            ("/v1/accounts/acme/charges", json!({"id": "bad-1"})),
            ("/v1/accounts/acme/holds", json!({"id": "bad-2"})),
        ] {
            let mut body = usage.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let problem = invalid(&harness, path, body).await;
            if !code.is_empty() {
                assert_eq!(problem["code"], *code, "{path} {usage}: {problem}");
            }
        }
    }
    // Numbers that must never pass through a float: given raw, verbatim.
    for raw in [
        "1e400",
        "1E3",
        "12345678901234567890123456789012345678901",
        "0.0000000000000000000000000000000000000001",
        "-0",
        "1.5e-3",
    ] {
        for path in [
            "/v1/accounts/acme/charges",
            "/v1/accounts/acme/holds",
            "/v1/accounts/acme/quotes",
        ] {
            let body = format!(
                r#"{{"id": "raw-1", "feature": "video_emotion", "inputs": {{"duration": {raw}}}}}"#
            );
            let body = if path.ends_with("quotes") {
                format!(r#"{{"feature": "video_emotion", "inputs": {{"duration": {raw}}}}}"#)
            } else {
                body
            };
            refused(
                &harness,
                path,
                body.as_bytes(),
                StatusCode::BAD_REQUEST,
                "invalid-input",
            )
            .await;
        }
        let body = format!(r#"{{"inputs": {{"duration": {raw}}}}}"#);
        refused(
            &harness,
            "/v1/accounts/acme/holds/h-0/capture",
            body.as_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
    }
    // The same input twice.
    refused(
        &harness,
        "/v1/accounts/acme/charges",
        br#"{"id": "dup-1", "feature": "video_emotion", "inputs": {"duration": 1, "duration": 2}}"#,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
}

#[tokio::test]
async fn bad_ids_on_every_route_that_takes_one() {
    let harness = setup().await;
    let long = "x".repeat(10 * 1024);
    for id in [long.as_str(), "", "has space", "tab\there", "é"] {
        invalid(
            &harness,
            "/v1/accounts/acme/charges",
            json!({"id": id, "feature": "video_emotion", "inputs": {"duration": 1}}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/holds",
            json!({"id": id, "feature": "video_emotion", "inputs": {"duration": 1}}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/holds/h-0/capture",
            json!({"id": id}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/holds/h-0/release",
            json!({"id": id}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/topups",
            json!({"id": id, "amount": "1"}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/refunds",
            json!({"id": id, "charge": "c-0", "reason": "duplicate"}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/refunds",
            json!({"id": "r-1", "charge": id, "reason": "duplicate"}),
        )
        .await;
        invalid(&harness, "/v1/accounts/acme/close", json!({"id": id})).await;
        invalid(&harness, "/v1/accounts/acme/charges", json!({"id": "c-7", "feature": "video_emotion", "inputs": {"duration": 1}, "project": id})).await;
    }
    let problem = invalid(
        &harness,
        "/v1/accounts/acme/charges",
        json!({"id": long, "feature": "video_emotion", "inputs": {"duration": 1}}),
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().len() < 200,
        "a long id is not echoed: {problem}"
    );
    // A 10 KB account id in the path.
    let reply = harness
        .admin(Method::GET, &format!("/v1/accounts/{long}/balance"), None)
        .await;
    reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
    let reply = harness
        .admin(
            Method::PUT,
            &format!("/v1/accounts/{long}"),
            Some(json!({"plan": "imentiv/professional"})),
        )
        .await;
    reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
}

#[tokio::test]
async fn bad_amounts_on_top_ups_refunds_and_accounts() {
    let harness = setup().await;
    for amount in [
        json!("-1"),
        json!(-1),
        json!("0"),
        json!("NaN"),
        json!("Infinity"),
        json!("1e3"),
        json!("1.001"),
        json!("12345678901234567890123456789012345678901"),
        json!("999999999999999999999"),
        json!(true),
        json!({"credit": "1"}),
    ] {
        invalid(
            &harness,
            "/v1/accounts/acme/topups",
            json!({"id": "t-9", "amount": amount}),
        )
        .await;
        invalid(
            &harness,
            "/v1/accounts/acme/refunds",
            json!({"id": "r-9", "charge": "c-0", "reason": "duplicate", "amount": amount}),
        )
        .await;
    }
    for raw in ["1e400", "12345678901234567890123456789012345678901"] {
        let body = format!(r#"{{"id": "t-9", "amount": {raw}}}"#);
        refused(
            &harness,
            "/v1/accounts/acme/topups",
            body.as_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
    }
    invalid(&harness, "/v1/accounts/acme/topups", json!({"id": "t-9"})).await;
    invalid(
        &harness,
        "/v1/accounts/acme/topups",
        json!({"id": "t-9", "amount": null}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme/topups",
        json!({"id": "t-9", "amount": "1", "package": "starter"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme/topups",
        json!({"id": "t-9", "amount": "1", "unit": "dollar"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme/topups",
        json!({"id": "t-9", "package": "nope"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme/topups",
        json!({"id": "t-9", "amount": "1", "expires_at": "tomorrow"}),
    )
    .await;
    invalid(&harness, "/v1/accounts/acme", json!({"plan": "imentiv"})).await;
    invalid(
        &harness,
        "/v1/accounts/acme",
        json!({"plan": "nobook/plan"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme",
        json!({"plan": "imentiv/noplan"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme",
        json!({"plan": "imentiv/professional", "credit_line": "-5"}),
    )
    .await;
    invalid(
        &harness,
        "/v1/accounts/acme",
        json!({"plan": "imentiv/professional", "status": "closed"}),
    )
    .await;
    invalid(&harness, "/v1/accounts/acme", json!({"plan": "imentiv/professional", "subscription": {"status": "paused", "period": "monthly", "anchor": "2026-01-01T00:00:00Z"}})).await;
    invalid(
        &harness,
        "/v1/accounts/acme",
        json!({"plan": "imentiv/professional", "time_zone": "Mars/Olympus"}),
    )
    .await;
}

#[tokio::test]
async fn bad_queries() {
    let harness = setup().await;
    for query in [
        "limit=0",
        "limit=5000",
        "limit=-1",
        "cursor=abc",
        "type=purchase",
        "from=yesterday",
        "format=xml",
        "colour=red",
    ] {
        let reply = harness
            .admin(
                Method::GET,
                &format!("/v1/accounts/acme/entries?{query}"),
                None,
            )
            .await;
        reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
    }
}
