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
        format!(
            "the rate books in {} do not check: {diagnostics:?}",
            dir.display()
        )
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
    pub fn new(
        store: Arc<dyn Store>,
        instances: usize,
        now: DateTime<Utc>,
    ) -> Result<Deployment, String> {
        let books = Arc::new(rates_library()?);
        Deployment::with_books(store, books, instances, now)
    }

    /// As [`Deployment::new`], every instance with group commit on (as `credits serve`).
    ///
    /// # Errors
    /// When the books do not load.
    pub fn grouped(
        store: Arc<dyn Store>,
        instances: usize,
        now: DateTime<Utc>,
    ) -> Result<Deployment, String> {
        let books = Arc::new(rates_library()?);
        let config = ApiConfig::default()
            .with_static_admin_key(ADMIN_KEY)?
            .with_group_commit();
        Deployment::configured(store, books, instances, now, &config)
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
        let config = ApiConfig::default().with_static_admin_key(ADMIN_KEY)?;
        Deployment::configured(store, books, instances, now, &config)
    }

    fn configured(
        store: Arc<dyn Store>,
        books: Arc<RateLibrary>,
        instances: usize,
        now: DateTime<Utc>,
        config: &ApiConfig,
    ) -> Result<Deployment, String> {
        let clock = Arc::new(FixedClock::new(now));
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
        match page.next {
            Some(after) if Some(after) != query.after => query.after = Some(after),
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
    all_entries(store, account)
        .await
        .map(|entries| entries.len())
}

/// The ledger's first invariant, checked straight on the store: per unit, what the account's
/// snapshot holds in its buckets (left + held) equals the sum of its entries; its entries'
/// `seq` run 1, 2, 3... without gap or repeat; and every hold with a `hold` entry and no
/// `capture`/`release` entry is open in the snapshot (and no other). Holds that expired
/// but were not yet released lazily count as open in both.
///
/// # Errors
/// A sentence naming the first difference.
pub async fn check_snapshot_against_history(
    store: &dyn Store,
    account: &str,
) -> Result<(), String> {
    use std::collections::{BTreeMap, BTreeSet};
    let record = store
        .load(account)
        .await
        .map_err(|e| format!("loading `{account}`: {e}"))?
        .ok_or_else(|| format!("`{account}` does not exist"))?;
    let entries = all_entries(store, account).await?;
    let mut from_entries: BTreeMap<String, i64> = BTreeMap::new();
    let mut held_by_entries: BTreeSet<String> = BTreeSet::new();
    let mut settled: BTreeSet<String> = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let expected_seq = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1);
        if entry.seq != expected_seq {
            return Err(format!(
                "`{account}`: entry `{}` has seq {} where {expected_seq} was due (a gap or a repeat)",
                entry.id, entry.seq
            ));
        }
        if let Some(unit) = &entry.unit {
            let slot = from_entries.entry(unit.clone()).or_default();
            *slot = slot.saturating_add(entry.amount_minor);
        }
        let hold = entry
            .body
            .get("hold")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        match (entry.entry_type.as_str(), hold) {
            ("hold", _) => {
                held_by_entries.insert(entry.operation.clone());
            }
            ("release" | "capture", Some(hold)) => {
                settled.insert(hold);
            }
            _ => {}
        }
    }
    let mut from_snapshot: BTreeMap<String, i64> = BTreeMap::new();
    let buckets = record
        .state
        .get("buckets")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for bucket in &buckets {
        let unit = bucket
            .get("unit")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let left = bucket
            .get("left_minor")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let held = bucket
            .get("held_minor")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let slot = from_snapshot.entry(unit.to_owned()).or_default();
        *slot = slot.saturating_add(left).saturating_add(held);
    }
    let units: BTreeSet<&String> = from_entries.keys().chain(from_snapshot.keys()).collect();
    for unit in units {
        let written = from_entries.get(unit).copied().unwrap_or(0);
        let kept = from_snapshot.get(unit).copied().unwrap_or(0);
        if written != kept {
            return Err(format!(
                "`{account}` v{}: its buckets hold {kept} minor `{unit}` but its entries sum to {written}",
                record.version
            ));
        }
    }
    let open_by_entries: BTreeSet<String> = held_by_entries.difference(&settled).cloned().collect();
    let open_in_snapshot: BTreeSet<String> = record
        .state
        .get("holds")
        .and_then(serde_json::Value::as_array)
        .map(|holds| {
            holds
                .iter()
                .filter_map(|hold| {
                    hold.get("id")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    if open_by_entries != open_in_snapshot {
        return Err(format!(
            "`{account}` v{}: the history leaves holds {open_by_entries:?} open, the snapshot {open_in_snapshot:?}",
            record.version
        ));
    }
    Ok(())
}
