//! credits-api: the one HTTP router of the credits ledger.
//!
//! [`router`] serves `credits serve` locally and every Lambda (through `lambda_http`): the
//! same routes, auth and errors everywhere. Everything the router needs arrives in
//! [`AppState`] (store, rate books, clock, config, per-account slots); there is no
//! process-global state, so tests build as many routers as they like.
//!
//! Code map:
//! - `routes`: thin axum handlers with their OpenAPI annotations;
//! - `service`: the imperative shell of every mutation (load, facts, decide, commit, replay);
//! - `group`: group commit, several queued mutations of one account decided in turn and
//!   committed as one write (`credits serve`); `slots`: per-account turns and snapshot cache;
//! - `reads`: quotes, balances, history; `statements`: cycle statements; `keys`: API keys;
//! - `events`: each decision's events into its commit, and the account's events read back;
//! - `auth`, `extract`: who is calling, and extractors whose rejections are problems;
//! - `problem`: `application/problem+json`; `validate`, `money`: edge checks and amounts;
//! - `respond`: response bodies; `model`: request/response types; `openapi`: the document;
//! - `webhooks`: the webhook admin routes, signatures and the delivery engine.
//!
//! Architecture invariants: handlers never call the store or the ledger directly (the
//! service does); every error leaves as a problem with a stable `type`; a key's secret is
//! never logged or stored, only its SHA-256.

pub mod auth;
pub mod clock;
pub mod emf;
pub mod events;
pub mod export;
pub mod extract;
pub mod facts;
pub mod group;
pub mod holds;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod money;
pub mod openapi;
pub mod outcome_field;
pub mod problem;
pub mod reads;
pub mod respond;
pub mod rollover;
pub mod routes;
pub mod service;
pub mod slots;
pub mod statements;
pub mod topup_rules;
pub mod validate;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, Utc};

pub use credits_dsl::library::RateLibrary;
use credits_dsl::{BookVersions, RateBook};
use credits_store::Store;

pub use clock::{Clock, FixedClock, SystemClock};
pub use problem::{Problem, ProblemType};

/// The largest request body accepted; larger bodies are answered 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Accounts whose slot (lock + cached snapshot) a process keeps.
pub const DEFAULT_SLOT_CAPACITY: usize = 4096;

/// Settings of a deployment.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// SHA-256 of a static admin key (from `CREDITS_ADMIN_KEY`), if one is configured.
    pub static_admin_key_sha256: Option<[u8; 32]>,
    /// How CSV exports leave the process (paged, unless the server streams).
    pub csv_export: export::CsvExport,
    /// Decide mutations queued on a busy account in turn and commit them as one write
    /// (`group`), when the store supports it. Off by default: a Lambda serves one request at
    /// a time, so it has nothing to group.
    pub group_commit: bool,
}

impl ApiConfig {
    /// Configure a static admin key (any string of 16 to 256 printable ASCII characters).
    ///
    /// # Errors
    /// A sentence saying why the key is not acceptable (never echoing it).
    pub fn with_static_admin_key(mut self, key: &str) -> Result<Self, String> {
        auth::check_static_key(key)?;
        self.static_admin_key_sha256 = Some(auth::sha256(key));
        Ok(self)
    }

    /// Group commit on (a server with many concurrent requests per account; see `group`).
    #[must_use]
    pub fn with_group_commit(mut self) -> Self {
        self.group_commit = true;
        self
    }

    /// Stream CSV exports whole (a server that does not buffer its responses).
    #[must_use]
    pub fn with_streamed_csv(mut self) -> Self {
        self.csv_export = export::CsvExport::Streamed;
        self
    }
}

/// Everything the router needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub books: Arc<RateLibrary>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ApiConfig>,
    /// Per-account serialisation and snapshot cache of mutations (see `slots`).
    pub slots: Arc<slots::AccountSlots>,
    /// Keys recently read from the store.
    pub keys: Arc<auth::KeyCache>,
    /// Webhook endpoints and deliveries, where this deployment delivers them (`credits
    /// serve` over SQLite); `None`: the webhook routes answer `not-implemented`.
    pub webhooks: Option<Arc<webhooks::Webhooks>>,
}

impl AppState {
    /// State over `store` and `books` with the system clock and default settings.
    pub fn new(store: Arc<dyn Store>, books: Arc<RateLibrary>) -> Self {
        Self {
            store,
            books,
            clock: Arc::new(SystemClock),
            config: Arc::new(ApiConfig::default()),
            slots: Arc::new(slots::AccountSlots::new(DEFAULT_SLOT_CAPACITY)),
            keys: Arc::new(auth::KeyCache::default()),
            webhooks: None,
        }
    }

    /// Serve the webhook routes over `webhooks`.
    #[must_use]
    pub fn with_webhooks(mut self, webhooks: webhooks::Webhooks) -> Self {
        self.webhooks = Some(Arc::new(webhooks));
        self
    }

    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    #[must_use]
    pub fn with_config(mut self, config: ApiConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The version of book `name` in force at `at`.
    pub fn book_at(&self, name: &str, at: DateTime<Utc>) -> Option<&RateBook> {
        self.books.book_at(name, at)
    }

    /// The versions of `book`'s book, for the ledger to bring an account through each (the
    /// library holds the book whenever `book` came from [`AppState::book_at`]; else `book`
    /// alone).
    pub fn versions_of<'a>(&'a self, book: &'a RateBook) -> BookVersions<'a> {
        self.books
            .book_versions(&book.name)
            .unwrap_or_else(|| BookVersions::single(book))
    }

    /// The loaded books' names, backticked, for messages.
    pub fn book_names(&self) -> String {
        self.books
            .names()
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The whole API. Serve it with `axum::serve` or hand it to `lambda_http::run`.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(routes::health))
        .route("/v1/openapi.json", get(routes::openapi_document))
        .route("/v1/accounts", get(routes::list_accounts))
        .route(
            "/v1/accounts/{account}",
            put(routes::put_account).get(routes::get_account),
        )
        .route("/v1/accounts/{account}/close", post(routes::close_account))
        .route("/v1/accounts/{account}/quotes", post(routes::quote))
        .route("/v1/accounts/{account}/charges", post(routes::charge))
        .route("/v1/accounts/{account}/holds", post(routes::hold))
        .route("/v1/accounts/{account}/holds/{hold}", get(routes::get_hold))
        .route(
            "/v1/accounts/{account}/holds/{hold}/capture",
            post(routes::capture),
        )
        .route(
            "/v1/accounts/{account}/holds/{hold}/release",
            post(routes::release),
        )
        .route("/v1/accounts/{account}/topups", post(routes::top_up))
        .route("/v1/accounts/{account}/refunds", post(routes::refund))
        .route("/v1/accounts/{account}/adjustments", post(routes::adjust))
        .route("/v1/accounts/{account}/voids", post(routes::void))
        .route(
            "/v1/accounts/{account}/chargebacks",
            post(routes::chargeback),
        )
        .route("/v1/accounts/{account}/balance", get(routes::balance))
        .route("/v1/accounts/{account}/entries", get(routes::entries))
        .route("/v1/accounts/{account}/events", get(events::account_events))
        .route(
            "/v1/accounts/{account}/statements/{cycle}",
            get(routes::statement),
        )
        .route("/v1/keys", post(routes::create_key))
        .route("/v1/keys/{id}", delete(routes::revoke_key))
        .route(
            "/v1/webhooks",
            post(webhooks::routes::create_webhook).get(webhooks::routes::list_webhooks),
        )
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::routes::get_webhook).delete(webhooks::routes::delete_webhook),
        )
        .route(
            "/v1/webhooks/{id}/failed",
            get(webhooks::routes::failed_deliveries),
        )
        .route(
            "/v1/webhooks/{id}/redeliver",
            post(webhooks::routes::redeliver),
        )
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            routes::panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}
