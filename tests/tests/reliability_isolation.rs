//! Tenant isolation, for EVERY route of the committed OpenAPI document (a route added to the
//! document is covered automatically, and must be classified below as an account or an
//! admin route, or this test fails):
//!
//! - no key, a malformed header, an unknown key, a key with a wrong secret, a revoked key
//!   → 401 `unauthorized`;
//! - another account's key → 403 `forbidden`; an account key (even the account's own) on an
//!   admin route → 403;
//! - none of these writes anything (entries, versions, keys, webhook endpoints);
//! - the account's own key and an admin key get past authorisation;
//! - keys are stored as SHA-256 only (never the secret, not even in the database file), and
//!   no secret (nor a webhook endpoint's signing secret) ever reaches the logs, at TRACE
//!   level, whatever happens to the request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use credits_api::auth::sha256_hex;
use credits_api::webhooks::Webhooks;
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_store::webhooks::WebhookStore;
use credits_tests::sim::env::{ADMIN_KEY, Deployment, entry_count, start_time};
use credits_tests::sim::http::{ApiRequest, Reply, send};
use credits_tests::template::workspace_root;

/// Routes only an admin key may call. Every protected route of the document must be here or
/// in [`ACCOUNT_ROUTES`].
const ADMIN_ROUTES: [&str; 16] = [
    "GET /v1/accounts",
    "PUT /v1/accounts/{account}",
    "POST /v1/accounts/{account}/close",
    "POST /v1/accounts/{account}/topups",
    "POST /v1/accounts/{account}/refunds",
    "POST /v1/accounts/{account}/adjustments",
    "POST /v1/accounts/{account}/voids",
    "POST /v1/accounts/{account}/chargebacks",
    "POST /v1/keys",
    "DELETE /v1/keys/{id}",
    "POST /v1/webhooks",
    "GET /v1/webhooks",
    "GET /v1/webhooks/{id}",
    "DELETE /v1/webhooks/{id}",
    "GET /v1/webhooks/{id}/failed",
    "POST /v1/webhooks/{id}/redeliver",
];

/// Routes an admin key or a key of `{account}` may call.
const ACCOUNT_ROUTES: [&str; 11] = [
    "GET /v1/accounts/{account}",
    "POST /v1/accounts/{account}/quotes",
    "POST /v1/accounts/{account}/charges",
    "POST /v1/accounts/{account}/holds",
    "GET /v1/accounts/{account}/holds/{hold}",
    "POST /v1/accounts/{account}/holds/{hold}/capture",
    "POST /v1/accounts/{account}/holds/{hold}/release",
    "GET /v1/accounts/{account}/balance",
    "GET /v1/accounts/{account}/entries",
    "GET /v1/accounts/{account}/statements/{cycle}",
    "GET /v1/accounts/{account}/events",
];

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Route {
    method: Method,
    template: String,
    protected: bool,
}

fn document_routes() -> Vec<Route> {
    let text = std::fs::read_to_string(workspace_root().join("openapi.json")).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            let protected = operation
                .get("security")
                .or_else(|| document.get("security"))
                .and_then(Value::as_array)
                .is_some_and(|requirements| !requirements.is_empty());
            routes.push(Route {
                method,
                template: path.clone(),
                protected,
            });
        }
    }
    routes
}

/// A request that would succeed for an authorised caller (so only authorisation can stop it).
fn request_for(
    route: &Route,
    account: &str,
    hold: &str,
    key_id: &str,
    key: Option<&str>,
) -> ApiRequest {
    let path = route
        .template
        .replace("{account}", account)
        .replace("{hold}", hold)
        .replace("{cycle}", "2026-01")
        .replace("{id}", key_id);
    let name = format!("{} {}", route.method, route.template);
    let body = match name.as_str() {
        "PUT /v1/accounts/{account}" => Some(json!({"plan": "imini/prepaid"})),
        "POST /v1/accounts/{account}/close" => Some(json!({"id": "isolation-close"})),
        "POST /v1/accounts/{account}/quotes" => {
            Some(json!({"feature": "image_generation", "inputs": {"model": "flux_pro"}}))
        }
        "POST /v1/accounts/{account}/charges" => Some(
            json!({"id": "isolation-charge", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
        ),
        "POST /v1/accounts/{account}/holds" => Some(
            json!({"id": "isolation-hold", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
        ),
        "POST /v1/accounts/{account}/topups" => {
            Some(json!({"id": "isolation-topup", "amount": "5"}))
        }
        "POST /v1/accounts/{account}/refunds" => Some(
            json!({"id": "isolation-refund", "charge": "setup-charge", "reason": "internal_error"}),
        ),
        "POST /v1/keys" => Some(json!({"account": account})),
        "POST /v1/webhooks" => Some(
            json!({"url": "https://platform.example/isolation", "event_types": ["balance.low"]}),
        ),
        _ if route.method == Method::POST || route.method == Method::PUT => Some(json!({})),
        _ => None,
    };
    let request = ApiRequest::new(route.method.clone(), path, key);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
}

async fn call(deployment: &Deployment, request: &ApiRequest) -> Reply {
    send(deployment.router().unwrap(), request).await.unwrap()
}

async fn admin(deployment: &Deployment, method: Method, path: &str, body: Value) -> Reply {
    let reply = call(
        deployment,
        &ApiRequest::new(method, path, Some(ADMIN_KEY)).json(&body),
    )
    .await;
    assert!(reply.status.is_success(), "{path}: {}", reply.short());
    reply
}

async fn new_key(deployment: &Deployment, account: Option<&str>) -> (String, String) {
    let body = match account {
        Some(account) => json!({ "account": account }),
        None => json!({}),
    };
    let reply = admin(deployment, Method::POST, "/v1/keys", body).await;
    (
        reply.json["id"].as_str().unwrap().to_owned(),
        reply.json["key"].as_str().unwrap().to_owned(),
    )
}

/// Everything that could be written, per account: entries and snapshot version.
async fn footprint(store: &dyn Store) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    for account in ["alice", "bob"] {
        let version = store.load(account).await.unwrap().map_or(0, |r| r.version);
        out.push((entry_count(store, account).await.unwrap(), version));
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn every_route_refuses_other_tenants_unknown_and_revoked_keys_and_secrets_never_leak() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("isolation.db");
    let sqlite = Arc::new(SqliteStore::open(&db).unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let webhooks: Arc<dyn WebhookStore> = sqlite.clone();
    let mut deployment = Deployment::new(Arc::clone(&store), 1, start_time().unwrap()).unwrap();
    // The webhook routes served, as `credits serve` (SQLite) and the account Lambda (its
    // webhooks table) serve them.
    deployment.routers = deployment
        .states
        .iter()
        .map(|state| {
            credits_api::router(state.clone().with_webhooks(Webhooks {
                store: Arc::clone(&webhooks),
                allow_loopback: false,
            }))
        })
        .collect();

    // Two tenants, each with credits, a charge and an open hold.
    for account in ["alice", "bob"] {
        admin(
            &deployment,
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            json!({"plan": "imini/prepaid"}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/topups"),
            json!({"id": "setup-topup", "amount": "500"}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/charges"),
            json!({"id": "setup-charge", "feature": "image_generation", "inputs": {"model": "flux_schnell"}}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/holds"),
            json!({"id": "setup-hold", "feature": "image_generation", "inputs": {"model": "flux_schnell"}, "ttl_seconds": 86400}),
        )
        .await;
    }
    let (_alice_id, alice_key) = new_key(&deployment, Some("alice")).await;
    let (bob_id, bob_key) = new_key(&deployment, Some("bob")).await;
    let (_admin_id, stored_admin_key) = new_key(&deployment, None).await;
    let (revoked_id, revoked_key) = new_key(&deployment, Some("bob")).await;
    let (revoked_admin_id, revoked_admin_key) = new_key(&deployment, None).await;
    for id in [&revoked_id, &revoked_admin_id] {
        let reply = call(
            &deployment,
            &ApiRequest::new(Method::DELETE, format!("/v1/keys/{id}"), Some(ADMIN_KEY)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.short());
    }
    // A well-formed key that was never issued, and a real id with a wrong secret.
    let unknown_key = format!("ck_0123456789abcdef_{}", "ab".repeat(32));
    let wrong_secret = format!("ck_{bob_id}_{}", "cd".repeat(32));

    let routes = document_routes();
    assert!(
        routes.len() >= 16,
        "the document lists {} routes",
        routes.len()
    );
    let mut checked = 0;
    for route in &routes {
        let name = format!("{} {}", route.method, route.template);
        if !route.protected {
            let reply = call(
                &deployment,
                &request_for(route, "bob", "setup-hold", &bob_id, None),
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "public route {name}: {}",
                reply.short()
            );
            continue;
        }
        let is_admin = ADMIN_ROUTES.contains(&name.as_str());
        assert!(
            is_admin || ACCOUNT_ROUTES.contains(&name.as_str()),
            "route `{name}` is new: classify it as an admin or an account route in this test"
        );
        let before = footprint(store.as_ref()).await;

        // 401: who are you?
        let unauthenticated: [(&str, Option<String>, Option<&str>); 8] = [
            ("no key", None, None),
            ("unknown key", Some(unknown_key.clone()), None),
            ("wrong secret", Some(wrong_secret.clone()), None),
            ("revoked account key", Some(revoked_key.clone()), None),
            ("revoked admin key", Some(revoked_admin_key.clone()), None),
            (
                "the admin key with one character changed",
                Some(format!("{ADMIN_KEY}x")),
                None,
            ),
            ("a basic credential", None, Some("Basic YWRtaW46YWRtaW4=")),
            ("an empty bearer", None, Some("Bearer ")),
        ];
        for (what, key, header) in unauthenticated {
            let mut request = request_for(route, "bob", "setup-hold", &bob_id, key.as_deref());
            let reply = match header {
                Some(header) => {
                    // A raw Authorization header: send through the router by hand.
                    let mut builder = http::Request::builder()
                        .method(request.method.clone())
                        .uri(request.path.as_str())
                        .header(http::header::AUTHORIZATION, header);
                    if let Some(content_type) = request.content_type.take() {
                        builder = builder.header(http::header::CONTENT_TYPE, content_type);
                    }
                    let body = axum::body::Body::from(request.body.take().unwrap_or_default());
                    use tower::ServiceExt;
                    let response = deployment
                        .router()
                        .unwrap()
                        .clone()
                        .oneshot(builder.body(body).unwrap())
                        .await
                        .unwrap();
                    response.status()
                }
                None => call(&deployment, &request).await.status,
            };
            assert_eq!(reply, StatusCode::UNAUTHORIZED, "{name} with {what}");
            checked += 1;
        }
        let reply = call(
            &deployment,
            &request_for(route, "bob", "setup-hold", &bob_id, None),
        )
        .await;
        reply.check_problem().unwrap();
        assert_eq!(
            reply.problem_type(),
            Some("unauthorized"),
            "{name}: {}",
            reply.short()
        );

        // 403: you may not.
        if route.template.contains("{account}") {
            let reply = call(
                &deployment,
                &request_for(route, "bob", "setup-hold", &bob_id, Some(&alice_key)),
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{name} with another account's key: {}",
                reply.short()
            );
            assert_eq!(
                reply.problem_type(),
                Some("forbidden"),
                "{name}: {}",
                reply.short()
            );
            checked += 1;
        }
        if is_admin {
            for (what, key) in [
                ("the account's own key", &bob_key),
                ("another account's key", &alice_key),
            ] {
                let reply = call(
                    &deployment,
                    &request_for(route, "bob", "setup-hold", &bob_id, Some(key)),
                )
                .await;
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "admin route {name} with {what}: {}",
                    reply.short()
                );
                checked += 1;
            }
        }
        assert_eq!(
            footprint(store.as_ref()).await,
            before,
            "{name}: a refused request wrote something"
        );
        assert!(
            store
                .key(&bob_id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none(),
            "{name} revoked bob's key"
        );

        // The account's own key (account routes) and the admin keys get past authorisation.
        let allowed: Vec<&str> = if is_admin {
            vec![stored_admin_key.as_str()]
        } else {
            vec![bob_key.as_str(), stored_admin_key.as_str()]
        };
        for key in allowed {
            // A throwaway key id for DELETE, so bob's key survives.
            let (throwaway, _) = new_key(&deployment, Some("alice")).await;
            let reply = call(
                &deployment,
                &request_for(route, "bob", "setup-hold", &throwaway, Some(key)),
            )
            .await;
            assert!(
                reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
                "{name}: an authorised key was refused: {}",
                reply.short()
            );
            assert!(!reply.status.is_server_error(), "{name}: {}", reply.short());
        }
    }
    println!("{checked} refusals checked over {} routes", routes.len());
    // Only the admin key's `POST /v1/webhooks` registered an endpoint: no refused one did.
    let endpoints = webhooks.endpoints().await.unwrap();
    assert_eq!(endpoints.len(), 1, "{} endpoints", endpoints.len());
    let webhook_secret = endpoints[0].secret.clone();

    // Keys are stored hashed: the record holds SHA-256(secret) and nothing of the secret.
    for key in [&alice_key, &bob_key, &stored_admin_key, &revoked_key] {
        let (id, secret) = credits_api::auth::parse_key(key).unwrap();
        let record = store.key(id).await.unwrap().unwrap();
        assert_eq!(record.secret_hash, sha256_hex(secret));
        assert!(!format!("{record:?}").contains(secret));
    }
    // ... and not in the database file or its WAL either.
    drop(deployment);
    drop(store);
    drop(webhooks);
    drop(sqlite);
    let mut bytes = Vec::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(file.unwrap().path()).unwrap());
    }
    for key in [
        &alice_key,
        &bob_key,
        &stored_admin_key,
        &revoked_key,
        &revoked_admin_key,
    ] {
        let (_, secret) = credits_api::auth::parse_key(key).unwrap();
        assert!(
            !bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "a key's secret is in the database files"
        );
    }
    // No secret, nor the static admin key, reached the logs (TRACE, every request above).
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logs.len() > 1000,
        "the logs were not captured ({} bytes)",
        logs.len()
    );
    for key in [
        &alice_key,
        &bob_key,
        &stored_admin_key,
        &revoked_key,
        &revoked_admin_key,
        &unknown_key,
        &wrong_secret,
    ] {
        let (_, secret) = credits_api::auth::parse_key(key).unwrap();
        assert!(!logs.contains(secret), "a key's secret was logged");
    }
    assert!(!logs.contains(ADMIN_KEY), "the static admin key was logged");
    assert!(
        !logs.contains(&webhook_secret),
        "a webhook endpoint's signing secret was logged"
    );
}
