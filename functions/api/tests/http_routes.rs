//! Every route's happy path through the real router.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode, header};
use rust_decimal::Decimal;
use serde_json::json;

use common::Harness;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn account_create_then_update() {
    let harness = Harness::new();
    let reply = harness
        .admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({"plan": "imentiv/professional"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["account"], "acme");
    assert_eq!(reply.json["plan"], "imentiv/professional");
    assert_eq!(reply.json["status"], "active");
    let reply = harness
        .admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({
                "plan": "imentiv/professional",
                "subscription": {"status": "active", "period": "monthly", "anchor": "2026-01-10T00:00:00Z"},
                "time_zone": "Europe/Paris",
                "credit_line": "500",
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["subscription"]["period"], "monthly");
    assert_eq!(reply.json["time_zone"], "Europe/Paris");
    assert_eq!(reply.json["credit_line"]["credit"], "500.00");
}

#[tokio::test]
async fn top_up_quote_charge_balance() {
    let harness = Harness::new();
    harness.account("acme", "imentiv/professional", None).await;
    let before = dec(&harness.available("acme", "credit").await);

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/topups",
            Some(json!({"id": "t-1", "amount": "1000"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["credited"]["credit"], "1000.00");
    let after_top_up = dec(&harness.available("acme", "credit").await);
    assert_eq!(after_top_up - before, dec("1000"));

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/quotes",
            Some(json!({"feature": "video_emotion", "inputs": {"duration": "90s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["amounts"]["credit"], "90.00");
    assert_eq!(reply.json["sufficient"], true);
    assert!(
        reply.json["rates_version"]
            .as_str()
            .unwrap()
            .starts_with("imentiv@")
    );
    // A quote writes nothing.
    assert_eq!(
        dec(&harness.available("acme", "credit").await),
        after_top_up
    );

    let (_, key) = harness.key(Some("acme")).await;
    let reply = harness
        .send(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(&key),
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": 90}, "project": "p1", "member": "m1", "content": "video-1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["id"], "c-1");
    assert_eq!(reply.json["charged"]["credit"], "90.00");
    assert!(
        reply.json["rates_version"]
            .as_str()
            .unwrap()
            .starts_with("imentiv@2025-01-01#")
    );
    assert!(!reply.json["paid_from"].as_array().unwrap().is_empty());
    let balance_in_reply = dec(reply.json["balance"]["credit"].as_str().unwrap());
    assert_eq!(balance_in_reply, after_top_up - dec("90"));
    assert_eq!(
        dec(&harness.available("acme", "credit").await),
        balance_in_reply
    );

    let reply = harness
        .send(Method::GET, "/v1/accounts/acme/balance", Some(&key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["account"], "acme");
    let credit = &reply.json["units"]["credit"];
    assert!(credit["held"].is_string());
    assert!(
        credit["buckets"].as_array().is_some_and(|b| !b.is_empty()),
        "{reply:#?}"
    );
}

#[tokio::test]
async fn hold_capture_and_release() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("5000"))
        .await;
    let before = dec(&harness.available("acme", "credit").await);

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/holds",
            Some(json!({"id": "h-1", "feature": "video_emotion", "inputs": {"duration": "10m"}, "ttl_seconds": 600})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["held"]["credit"], "600.00");
    assert!(reply.json["expires_at"].is_string());

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/holds/h-1/capture",
            Some(json!({"inputs": {"duration": "5m"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["id"], "capture:h-1");
    assert_eq!(reply.json["charged"]["credit"], "300.00");
    assert_eq!(
        dec(&harness.available("acme", "credit").await),
        before - dec("300")
    );

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/holds",
            Some(json!({"id": "h-2", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    // Release with no body at all.
    let reply = harness
        .send_raw(
            Method::POST,
            "/v1/accounts/acme/holds/h-2/release",
            Some(common::ADMIN_KEY),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["hold"], "h-2");
    assert_eq!(
        dec(&harness.available("acme", "credit").await),
        before - dec("300")
    );
}

#[tokio::test]
async fn refund_a_charge() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let before = dec(&harness.available("acme", "credit").await);
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-1", "feature": "image_emotion", "inputs": {"images": 3}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["charged"]["credit"], "30.00");

    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/refunds",
            Some(json!({"id": "r-1", "charge": "c-1", "reason": "duplicate", "amount": "10"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["refunded"]["credit"], "10.00");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/refunds",
            Some(json!({"id": "r-2", "charge": "c-1", "reason": "duplicate"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["refunded"]["credit"], "20.00");
    assert_eq!(dec(&harness.available("acme", "credit").await), before);

    // Nothing left to refund.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/refunds",
            Some(json!({"id": "r-3", "charge": "c-1", "reason": "duplicate", "amount": "1"})),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY, "refund-not-allowed");
    // A reason the plan does not allow.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/refunds",
            Some(json!({"id": "r-4", "charge": "c-1", "reason": "goodwill"})),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY, "refund-not-allowed");
}

#[tokio::test]
async fn entries_filter_page_and_export() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    for (index, feature) in ["video_emotion", "audio_emotion", "video_emotion"]
        .iter()
        .enumerate()
    {
        let reply = harness
            .admin(
                Method::POST,
                "/v1/accounts/acme/charges",
                Some(json!({"id": format!("c-{index}"), "feature": feature, "inputs": {"duration": "10s"}, "project": format!("p{index}")})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    }
    let reply = harness
        .admin(Method::GET, "/v1/accounts/acme/entries", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let all = reply.json["entries"].as_array().unwrap().len();
    assert!(all >= 4, "{reply:#?}");

    let reply = harness
        .admin(Method::GET, "/v1/accounts/acme/entries?type=charge", None)
        .await;
    let charges = reply.json["entries"].as_array().unwrap();
    assert_eq!(charges.len(), 3, "{reply:#?}");
    assert!(charges.iter().all(|entry| entry["type"] == "charge"));
    assert_eq!(charges[0]["amount"], "-10.00");

    let reply = harness
        .admin(
            Method::GET,
            "/v1/accounts/acme/entries?type=charge&feature=video_emotion",
            None,
        )
        .await;
    assert_eq!(
        reply.json["entries"].as_array().unwrap().len(),
        2,
        "{reply:#?}"
    );
    let reply = harness
        .admin(Method::GET, "/v1/accounts/acme/entries?project=p1", None)
        .await;
    assert_eq!(
        reply.json["entries"].as_array().unwrap().len(),
        1,
        "{reply:#?}"
    );

    // Paging: one entry at a time visits them all, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(cursor) => format!("/v1/accounts/acme/entries?limit=1&cursor={cursor}"),
            None => "/v1/accounts/acme/entries?limit=1".to_owned(),
        };
        let reply = harness.admin(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        let page = reply.json["entries"].as_array().unwrap();
        assert!(page.len() <= 1);
        seen.extend(page.iter().map(|entry| entry["seq"].as_u64().unwrap()));
        match reply.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), all);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));

    // Time filters.
    let reply = harness
        .admin(
            Method::GET,
            "/v1/accounts/acme/entries?from=2026-01-16",
            None,
        )
        .await;
    assert_eq!(
        reply.json["entries"].as_array().unwrap().len(),
        0,
        "{reply:#?}"
    );
    let reply = harness
        .admin(
            Method::GET,
            "/v1/accounts/acme/entries?from=2026-01-15T00:00:00Z&to=2026-01-16",
            None,
        )
        .await;
    assert_eq!(
        reply.json["entries"].as_array().unwrap().len(),
        all,
        "{reply:#?}"
    );

    let reply = harness
        .admin(
            Method::GET,
            "/v1/accounts/acme/entries?format=csv&type=charge",
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{reply:#?}"
    );
    let lines: Vec<&str> = reply.text.lines().collect();
    assert_eq!(
        lines[0],
        "seq,id,at,type,operation,unit,amount,feature,model,project,member,content"
    );
    assert_eq!(lines.len(), 4, "{}", reply.text);
    assert!(
        lines[1].contains(",charge,c-0,credit,-10.00,video_emotion,"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn statement_of_a_cycle() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    for cycle in ["2026-01", "2026-01-15"] {
        let reply = harness
            .admin(
                Method::GET,
                &format!("/v1/accounts/acme/statements/{cycle}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{cycle}: {reply:#?}");
        assert_eq!(reply.json["account"], "acme");
        assert!(reply.json["units"]["credit"].is_object(), "{reply:#?}");
    }
    let reply = harness
        .admin(Method::GET, "/v1/accounts/acme/statements/january", None)
        .await;
    reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
}

#[tokio::test]
async fn keys_create_and_revoke() {
    let harness = Harness::new();
    harness.account("acme", "imentiv/professional", None).await;
    let reply = harness
        .admin(Method::POST, "/v1/keys", Some(json!({"account": "acme"})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let id = reply.json["id"].as_str().unwrap().to_owned();
    let key = reply.json["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("ck_{id}_")));
    assert_eq!(reply.json["account"], "acme");

    let reply = harness
        .send(Method::GET, "/v1/accounts/acme/balance", Some(&key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = harness
        .admin(Method::DELETE, &format!("/v1/keys/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["id"], id.as_str());
    let reply = harness
        .send(Method::GET, "/v1/accounts/acme/balance", Some(&key), None)
        .await;
    reply.problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let reply = harness
        .admin(Method::DELETE, "/v1/keys/nosuchkey", None)
        .await;
    reply.problem(StatusCode::NOT_FOUND, "not-found");
    let reply = harness
        .admin(Method::POST, "/v1/keys", Some(json!({"account": "nobody"})))
        .await;
    reply.problem(StatusCode::NOT_FOUND, "not-found");
    // An admin key: `{}`, no account.
    let reply = harness
        .admin(Method::POST, "/v1/keys", Some(json!({})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert!(reply.json["account"].is_null());
}

/// Regression (RELIABILITY.md F6): an empty `POST /v1/keys` minted an admin key. The body is
/// required now; only an explicit `{}` asks for admin scope.
#[tokio::test]
async fn an_empty_key_request_mints_nothing() {
    let harness = Harness::new();
    let reply = harness.admin(Method::POST, "/v1/keys", None).await;
    assert!(reply.status.is_client_error(), "{reply:#?}");
    assert_ne!(reply.status, StatusCode::CREATED);
    assert!(reply.json["account"].is_null());
}

#[tokio::test]
async fn close_an_account() {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/close",
            Some(json!({"id": "close-1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["status"], "closed");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    reply.problem(StatusCode::CONFLICT, "account-closed");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let harness = Harness::new();
    let reply = harness.admin(Method::GET, "/v1/nothing", None).await;
    reply.problem(StatusCode::NOT_FOUND, "not-found");
    let reply = harness
        .admin(Method::DELETE, "/v1/accounts/acme/charges", None)
        .await;
    reply.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let reply = harness
        .admin(Method::GET, "/v1/accounts/nobody/balance", None)
        .await;
    reply.problem(StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn time_moves_grants_and_expiry_lazily() {
    let harness = Harness::new();
    // imagineart's free plan grants 100 credits a day that end with the day.
    harness.account("daily", "imagineart/free", None).await;
    let first = harness.available("daily", "credit").await;
    harness.clock.advance(chrono::Duration::days(1));
    let second = harness.available("daily", "credit").await;
    assert_eq!(first, second, "a new day's grant replaces the last one");
    assert_eq!(first, "100");
}

#[tokio::test]
async fn request_limits_answer_429_with_retry_after() {
    let harness = Harness::new();
    // imentiv/professional: `limit 60 requests per minute`.
    harness
        .account("acme", "imentiv/professional", Some("10000"))
        .await;
    let mut limited = None;
    for index in 0..61 {
        let reply = harness
            .admin(
                Method::POST,
                "/v1/accounts/acme/charges",
                Some(json!({"id": format!("c-{index}"), "feature": "image_emotion", "inputs": {"images": 1}})),
            )
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((index, reply));
            break;
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    }
    let (index, reply) = limited.expect("the 61st request in a minute is limited");
    assert_eq!(index, 60);
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    let retry_after: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // A minute later it is accepted.
    harness.clock.advance(chrono::Duration::seconds(61));
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-60", "feature": "image_emotion", "inputs": {"images": 1}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

#[tokio::test]
async fn gated_features_and_prior_analysis() {
    let harness = Harness::new();
    harness.account("free", "imagineart/free", None).await;
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/free/charges",
            Some(json!({"id": "c-1", "feature": "image", "inputs": {"model": "pro"}})),
        )
        .await;
    reply.problem(StatusCode::FORBIDDEN, "feature-not-allowed");

    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    let personality = |id: &str, content: Option<&str>| {
        let mut body =
            json!({"id": id, "feature": "personality_analysis", "inputs": {"duration": "2m"}});
        if let Some(content) = content {
            body["content"] = json!(content);
        }
        body
    };
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(personality("p-1", Some("video-1"))),
        )
        .await;
    reply.problem(StatusCode::FORBIDDEN, "feature-not-allowed");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(personality("p-1", None)),
        )
        .await;
    reply.problem(StatusCode::BAD_REQUEST, "invalid-input");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "v-1", "feature": "video_emotion", "inputs": {"duration": "2m"}, "content": "video-1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(personality("p-2", Some("video-1"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(
        reply.json["free"], true,
        "the first request is free: {reply:#?}"
    );
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(personality("p-3", Some("video-1"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(reply.json["charged"]["credit"], "50.00");
    // The quote of a gated usage says why it could not be charged.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/quotes",
            Some(json!({"feature": "personality_analysis", "inputs": {"duration": "2m"}, "content": "video-2"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.json["refusal"], "feature-not-allowed");
}
