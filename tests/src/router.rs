//! A client of the real router for HTTP tests that run over both stores: an in-memory
//! SQLite store or a fresh table on the shared DynamoDB Local, the seed rate books, a
//! static admin key and a clock the test moves.
//!
//! Test support: a failure to set up is a failed test, so it panics with the reason.
#![allow(clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use chrono::{DateTime, Utc};
use credits_api::{ApiConfig, AppState, FixedClock};
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_store_dynamodb::{DynamoStore, create_table};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::dynamodb_local::{DynamoDbLocal, unique_table_name};
use crate::scenarios::transport::library;

/// The admin key every [`RouterClient`] accepts.
pub const ADMIN_KEY: &str = "router-client-admin-key-0123456";

/// An RFC 3339 instant; panics on a malformed one (test input).
pub fn instant(text: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => at.with_timezone(&Utc),
        Err(error) => panic!("bad instant `{text}`: {error}"),
    }
}

/// An in-memory SQLite store.
pub fn sqlite_store() -> Arc<dyn Store> {
    match SqliteStore::in_memory() {
        Ok(store) => Arc::new(store),
        Err(error) => panic!("in-memory sqlite: {error}"),
    }
}

/// A store on a fresh table (named after `prefix`) of the shared DynamoDB Local.
pub async fn dynamodb_local_store(prefix: &str) -> Arc<dyn Store> {
    let local = DynamoDbLocal::shared().unwrap_or_else(|error| panic!("{error}"));
    let client = local.client().await;
    let table = unique_table_name(prefix);
    if let Err(error) = create_table(&client, &table).await {
        panic!("create table `{table}`: {error}");
    }
    Arc::new(DynamoStore::new(client, table))
}

/// The real router over one store, called in-process, with the admin key by default.
pub struct RouterClient {
    pub router: Router,
    pub clock: Arc<FixedClock>,
}

impl RouterClient {
    /// The router over `store` and the seed books, its clock at `now`.
    pub fn over(store: Arc<dyn Store>, now: DateTime<Utc>) -> RouterClient {
        let books = match library() {
            Ok(books) => books,
            Err(error) => panic!("seed books: {error}"),
        };
        Self::with_books(store, now, books)
    }

    /// The router over `store` and `books`, its clock at `now`.
    pub fn with_books(
        store: Arc<dyn Store>,
        now: DateTime<Utc>,
        books: credits_api::RateLibrary,
    ) -> RouterClient {
        let clock = Arc::new(FixedClock::new(now));
        let config = match ApiConfig::default().with_static_admin_key(ADMIN_KEY) {
            Ok(config) => config,
            Err(error) => panic!("admin key: {error}"),
        };
        let state = AppState::new(store, Arc::new(books))
            .with_clock(clock.clone())
            .with_config(config);
        RouterClient {
            router: credits_api::router(state),
            clock,
        }
    }

    /// Status and body text of a request made with `key` (`None`: no authorization).
    pub async fn send_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = match request.body(body) {
            Ok(request) => request,
            Err(error) => panic!("request {path}: {error}"),
        };
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(error) => match error {},
        };
        let status = response.status();
        let bytes = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => panic!("body of {path}: {error}"),
        };
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Status and body text of a request made with the admin key.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        self.send_as(Some(ADMIN_KEY), method, path, body).await
    }

    /// The body text of a request that must succeed (2xx).
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> String {
        let (status, text) = self.send(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        text
    }

    /// The JSON body of a GET that must succeed.
    pub async fn json(&self, path: &str) -> Value {
        let text = self.ok(Method::GET, path, None).await;
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}: {text}"))
    }
}
