//! Shared test harness: the real router over an in-memory SQLite store, the real rate books
//! of `rates/`, a clock the test moves, and a static admin key.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_store::sqlite::SqliteStore;
use credits_store::{EntryQuery, Store};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

pub struct Harness {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub clock: Arc<FixedClock>,
    pub state: AppState,
}

/// Every `.rates` file of the workspace's `rates/`.
pub fn library() -> RateLibrary {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rates");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("rates dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "rates") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            sources.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    sources.sort();
    match RateLibrary::from_sources(sources) {
        Ok(library) => library,
        Err(diagnostics) => panic!("the rate books do not check: {diagnostics:?}"),
    }
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap()
}

impl Harness {
    pub fn new() -> Self {
        Self::over(Arc::new(SqliteStore::in_memory().expect("sqlite")))
    }

    /// The router over a given store.
    pub fn over(store: Arc<dyn Store>) -> Self {
        let config = ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap();
        Self::configured(store, config)
    }

    /// The router over a given store, configured.
    pub fn configured(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self::serving(store, config, library())
    }

    /// The router over an in-memory store, serving `library` instead of `rates/`.
    pub fn with_library(library: RateLibrary) -> Self {
        let config = ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)
            .unwrap();
        Self::serving(
            Arc::new(SqliteStore::in_memory().expect("sqlite")),
            config,
            library,
        )
    }

    fn serving(store: Arc<dyn Store>, config: ApiConfig, library: RateLibrary) -> Self {
        let clock = Arc::new(FixedClock::new(start()));
        let state = AppState::new(Arc::clone(&store), Arc::new(library))
            .with_clock(clock.clone())
            .with_config(config);
        let router = credits_api::router(state.clone());
        Self {
            router,
            store,
            clock,
            state,
        }
    }

    /// Send a request; `key` None sends no `Authorization`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|body| body.to_string().into_bytes());
        self.send_raw(method, path, key, bytes, Some("application/json"))
            .await
    }

    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(bytes) => {
                if let Some(content_type) = content_type {
                    request = request.header(header::CONTENT_TYPE, content_type);
                }
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, Some(ADMIN_KEY), body).await
    }

    /// Create an account on `plan` and top it up with `amount` (when given).
    pub async fn account(&self, account: &str, plan: &str, top_up: Option<&str>) {
        let reply = self
            .admin(
                Method::PUT,
                &format!("/v1/accounts/{account}"),
                Some(json!({ "plan": plan })),
            )
            .await;
        assert!(reply.status.is_success(), "create {account}: {reply:?}");
        if let Some(amount) = top_up {
            let reply = self
                .admin(
                    Method::POST,
                    &format!("/v1/accounts/{account}/topups"),
                    Some(json!({ "id": format!("setup-topup-{account}"), "amount": amount })),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "top up {account}: {reply:?}"
            );
        }
    }

    /// A key for `account` (admin key when None).
    pub async fn key(&self, account: Option<&str>) -> (String, String) {
        let body = match account {
            Some(account) => json!({ "account": account }),
            None => json!({}),
        };
        let reply = self.admin(Method::POST, "/v1/keys", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        (
            reply.json["id"].as_str().unwrap().to_owned(),
            reply.json["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Every entry of `account`.
    pub async fn entry_count(&self, account: &str) -> usize {
        let mut query = EntryQuery {
            account: account.to_owned(),
            ..EntryQuery::default()
        };
        let mut count = 0;
        loop {
            let page = self.store.entries(&query).await.unwrap();
            count += page.entries.len();
            match page.next {
                Some(after) => query.after = Some(after),
                None => return count,
            }
        }
    }

    /// The account's available balance of `unit`, via the API.
    pub async fn available(&self, account: &str, unit: &str) -> String {
        let reply = self
            .admin(
                Method::GET,
                &format!("/v1/accounts/{account}/balance"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.json["units"][unit]["available"]
            .as_str()
            .unwrap_or_else(|| panic!("no available {unit}: {reply:?}"))
            .to_owned()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Reply {
    /// Assert a problem of `type` with `status`, and return it.
    #[track_caller]
    pub fn problem(&self, status: StatusCode, problem_type: &str) -> &Value {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{self:#?}"
        );
        assert_eq!(self.json["type"], problem_type, "{self:#?}");
        assert_eq!(self.json["status"], status.as_u16(), "{self:#?}");
        assert!(self.json["title"].is_string(), "{self:#?}");
        let detail = self.json["detail"].as_str().expect("detail");
        assert_no_rust_names(detail);
        &self.json
    }
}

/// A `detail` never names a Rust type.
#[track_caller]
pub fn assert_no_rust_names(detail: &str) {
    for marker in [
        "Request", "Response", "struct ", "enum ", "::", "Option<", "Vec<", "String", "serde",
        "i64", "u32", "u64", "Box<",
    ] {
        assert!(!detail.contains(marker), "detail names Rust: {detail}");
    }
}
