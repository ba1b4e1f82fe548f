//! 401 and 403 on every route: no key, a malformed header, an unknown key, a revoked key,
//! another account's key, an account key on an admin route. Nothing is written by any of
//! these.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Harness, Reply};

/// Every authenticated route: method, path, whether only admins may call it, a valid body.
fn routes() -> Vec<(Method, &'static str, bool, Option<Value>)> {
    let usage = json!({"feature": "video_emotion", "inputs": {"duration": "10s"}});
    vec![
        (
            Method::PUT,
            "/v1/accounts/acme",
            true,
            Some(json!({"plan": "imentiv/professional"})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/close",
            true,
            Some(json!({"id": "close-1"})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/quotes",
            false,
            Some(usage.clone()),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/charges",
            false,
            Some(json!({"id": "c-1", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/holds",
            false,
            Some(json!({"id": "h-1", "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/holds/h-0/capture",
            false,
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/holds/h-0/release",
            false,
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/topups",
            true,
            Some(json!({"id": "t-1", "amount": "10"})),
        ),
        (
            Method::POST,
            "/v1/accounts/acme/refunds",
            true,
            Some(json!({"id": "r-1", "charge": "c-0", "reason": "duplicate"})),
        ),
        (Method::GET, "/v1/accounts/acme/balance", false, None),
        (Method::GET, "/v1/accounts/acme/entries", false, None),
        (
            Method::GET,
            "/v1/accounts/acme/entries?format=csv",
            false,
            None,
        ),
        (
            Method::GET,
            "/v1/accounts/acme/statements/2026-01",
            false,
            None,
        ),
        (
            Method::POST,
            "/v1/keys",
            true,
            Some(json!({"account": "acme"})),
        ),
        (Method::DELETE, "/v1/keys/0123456789abcdef", true, None),
    ]
}

async fn setup() -> (Harness, String, String, String) {
    let harness = Harness::new();
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    harness
        .account("other", "imentiv/professional", Some("1000"))
        .await;
    let (_, acme_key) = harness.key(Some("acme")).await;
    let (_, other_key) = harness.key(Some("other")).await;
    let (revoked_id, revoked_key) = harness.key(Some("acme")).await;
    let reply = harness
        .admin(Method::DELETE, &format!("/v1/keys/{revoked_id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    (harness, acme_key, other_key, revoked_key)
}

async fn assert_nothing_written(harness: &Harness, before: (usize, usize), what: &str) {
    let after = (
        harness.entry_count("acme").await,
        harness.entry_count("other").await,
    );
    assert_eq!(before, after, "{what} wrote entries");
}

#[tokio::test]
async fn every_route_answers_401_without_a_valid_key() {
    let (harness, acme_key, _, revoked_key) = setup().await;
    let unknown = format!("ck_0000000000000000_{}", "ab".repeat(32));
    // A real key id with a wrong secret.
    let wrong_secret = {
        let (id, _) = acme_key.trim_start_matches("ck_").split_once('_').unwrap();
        format!("ck_{id}_{}", "cd".repeat(32))
    };
    let before = (
        harness.entry_count("acme").await,
        harness.entry_count("other").await,
    );
    for (method, path, _, body) in routes() {
        let reply = harness.send(method.clone(), path, None, body.clone()).await;
        reply.problem(StatusCode::UNAUTHORIZED, "unauthorized");
        for key in [
            "",
            "not-a-key",
            unknown.as_str(),
            wrong_secret.as_str(),
            revoked_key.as_str(),
            "ck_admin",
            "test-admin-key-012345678", // the static key minus one character
        ] {
            let reply: Reply = harness
                .send(method.clone(), path, Some(key), body.clone())
                .await;
            reply.problem(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(
                !reply.text.contains(key) || key.is_empty(),
                "the key is echoed: {reply:?}"
            );
        }
        // Another scheme.
        let mut request = axum::http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header("authorization", format!("Basic {acme_key}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let response = tower::ServiceExt::oneshot(
            harness.router.clone(),
            request
                .body(axum::body::Body::from(
                    body.clone().map(|b| b.to_string()).unwrap_or_default(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    assert_nothing_written(&harness, before, "unauthorized requests").await;
}

#[tokio::test]
async fn every_route_answers_403_to_a_key_that_may_not_call_it() {
    let (harness, acme_key, other_key, _) = setup().await;
    let before = (
        harness.entry_count("acme").await,
        harness.entry_count("other").await,
    );
    for (method, path, admin_only, body) in routes() {
        // Another account's key, on acme's routes.
        let reply = harness
            .send(method.clone(), path, Some(&other_key), body.clone())
            .await;
        reply.problem(StatusCode::FORBIDDEN, "forbidden");
        if admin_only {
            // acme's own key on an admin route.
            let reply = harness
                .send(method.clone(), path, Some(&acme_key), body.clone())
                .await;
            reply.problem(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert_nothing_written(&harness, before, "forbidden requests").await;
}

#[tokio::test]
async fn a_forbidden_key_gets_403_before_its_body_is_read() {
    let (harness, _, other_key, _) = setup().await;
    let reply = harness
        .send_raw(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(&other_key),
            Some(b"{not json".to_vec()),
            Some("application/json"),
        )
        .await;
    reply.problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn an_account_key_works_on_its_own_account() {
    let (harness, acme_key, _, _) = setup().await;
    let reply = harness
        .send(
            Method::GET,
            "/v1/accounts/acme/balance",
            Some(&acme_key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn a_stored_admin_key_is_an_admin() {
    let (harness, _, _, _) = setup().await;
    let (_, admin_key) = harness.key(None).await;
    let reply = harness
        .send(
            Method::GET,
            "/v1/accounts/other/balance",
            Some(&admin_key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = harness
        .send(Method::POST, "/v1/keys", Some(&admin_key), Some(json!({})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

#[tokio::test]
async fn keys_are_stored_hashed() {
    let (harness, _, _, _) = setup().await;
    let (id, key) = harness.key(Some("acme")).await;
    let record = harness.store.key(&id).await.unwrap().unwrap();
    let secret = key.rsplit('_').next().unwrap();
    assert_ne!(record.secret_hash, secret);
    assert!(!record.secret_hash.contains(secret));
    assert_eq!(record.secret_hash, credits_api::auth::sha256_hex(secret));
    assert_eq!(record.account.as_deref(), Some("acme"));
}

#[tokio::test]
async fn health_and_openapi_need_no_key() {
    let harness = Harness::new();
    let reply = harness.send(Method::GET, "/v1/health", None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json["status"], "ok");
    let reply = harness
        .send(Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json["paths"]["/v1/accounts/{account}/charges"].is_object());
}
