//! A deployment under test: the real router over a store, the workspace's rate books, a
//! clock the test moves, a static admin key, and as many "instances" (routers with their own
//! per-account slots and caches, as separate Lambda instances have) as asked for.

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, TimeZone, Utc};

use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_store::{EntryQuery, Store};

/// The static admin key every deployment here is configured with.
pub const ADMIN_KEY: &str = "reliability-admin-key-0123456789";

/// Where the simulated clock starts: a Thursday in mid-January 2026, 10:00 UTC.
///
/// # Errors
/// Never in practice (the date is valid).
pub fn start_time() -> Result<DateTime<Utc>, String> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0)
        .single()
        .ok_or_else(|| "invalid start time".to_owned())
}

/// Every `.rates` file of the workspace's `rates/`, checked.
///
/// # Errors
/// When the directory cannot be read or a book does not check.
pub fn rates_library() -> Result<RateLibrary, String> {
    let dir = crate::template::workspace_root().join("rates");
    let mut sources = Vec::new();
    let listing = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in listing {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "rates") {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            sources.push((name, text));
        }
    }
    sources.sort();
    RateLibrary::from_sources(sources).map_err(|diagnostics| {
        format!("the rate books in {} do not check: {diagnostics:?}", dir.display())
    })
}

/// The router and state of every instance, over one store and one clock.
#[derive(Clone)]
pub struct Deployment {
    pub store: Arc<dyn Store>,
    pub clock: Arc<FixedClock>,
    pub states: Vec<AppState>,
    pub routers: Vec<Router>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("instances", &self.routers.len())
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// `instances` routers (at least one) over `store`, the workspace's books, and a fixed
    /// clock at `now`.
    ///
    /// # Errors
    /// When the books do not load.
    pub fn new(store: Arc<dyn Store>, instances: usize, now: DateTime<Utc>) -> Result<Deployment, String> {
        let books = Arc::new(rates_library()?);
        Deployment::with_books(store, books, instances, now)
    }

    /// As [`Deployment::new`] with given books.
    ///
    /// # Errors
    /// When the admin key is refused (it is not).
    pub fn with_books(
        store: Arc<dyn Store>,
        books: Arc<RateLibrary>,
        instances: usize,
        now: DateTime<Utc>,
    ) -> Result<Deployment, String> {
        let clock = Arc::new(FixedClock::new(now));
        let config = ApiConfig::default().with_static_admin_key(ADMIN_KEY)?;
        let mut states = Vec::new();
        let mut routers = Vec::new();
        for _ in 0..instances.max(1) {
            let state = AppState::new(Arc::clone(&store), Arc::clone(&books))
                .with_clock(clock.clone())
                .with_config(config.clone());
            routers.push(credits_api::router(state.clone()));
            states.push(state);
        }
        Ok(Deployment {
            store,
            clock,
            states,
            routers,
        })
    }

    /// The first instance's router.
    ///
    /// # Errors
    /// Never: a deployment has at least one instance.
    pub fn router(&self) -> Result<&Router, String> {
        self.routers.first().ok_or_else(|| "no instance".to_owned())
    }

    /// The first instance's state.
    ///
    /// # Errors
    /// Never: a deployment has at least one instance.
    pub fn state(&self) -> Result<&AppState, String> {
        self.states.first().ok_or_else(|| "no instance".to_owned())
    }
}

/// Every entry of `account`, straight from `store`, in `seq` order.
///
/// # Errors
/// When the store fails or pages do not advance.
pub async fn all_entries(
    store: &dyn Store,
    account: &str,
) -> Result<Vec<credits_store::EntryRecord>, String> {
    let mut query = EntryQuery {
        account: account.to_owned(),
        ..EntryQuery::default()
    };
    let mut entries = Vec::new();
    for _ in 0..100_000 {
        let page = store
            .entries(&query)
            .await
            .map_err(|e| format!("reading the entries of `{account}`: {e}"))?;
        entries.extend(page.entries);
        match page.next_after_seq {
            Some(after) if Some(after) != query.after_seq => query.after_seq = Some(after),
            Some(_) => return Err(format!("the entries of `{account}` do not page forward")),
            None => return Ok(entries),
        }
    }
    Err(format!("the entries of `{account}` never end"))
}

/// How many entries `account` has, straight from `store`.
///
/// # Errors
/// As [`all_entries`].
pub async fn entry_count(store: &dyn Store, account: &str) -> Result<usize, String> {
    all_entries(store, account).await.map(|entries| entries.len())
}
