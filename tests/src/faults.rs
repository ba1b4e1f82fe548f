//! Fault injection around any [`Store`].
//!
//! [`FaultStore`] wraps a store and, on every call, lets a seeded random generator pick what
//! happens:
//!
//! - [`Fault::Pass`]: the call goes through;
//! - [`Fault::FailBefore`]: nothing reaches the inner store, the caller gets
//!   [`StoreError::Unavailable`] (a lost request);
//! - [`Fault::FailAfter`]: the inner call runs (a commit IS written) and then the caller gets
//!   [`StoreError::Unavailable`] anyway (a lost reply, a timeout): the ambiguous case that
//!   only idempotency can make safe;
//! - [`Fault::Delay`]: the call is slowed down before it runs, by yielding to the scheduler
//!   (deterministic, for the simulation) or by sleeping (to widen race windows).
//!
//! Besides, [`FaultConfig::short_pages`] makes `entries` and `due_accounts` answer short pages
//! (at least one item when any remain, with a cursor), which the contract allows ("a page may
//! hold fewer than `limit` entries while more follow") and DynamoDB does when it filters.
//!
//! The generator is seeded, so a sequential run is reproducible from its seed. Faults can be
//! switched off ([`FaultStore::set_enabled`]) while a test verifies what was written.
//!
//! [`ForgetfulStore`] is a deliberately broken store (it forgets idempotency records and
//! lets duplicate entries in), used to show that the simulation catches a broken rule.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use credits_store::{
    AccountRecord, Commit, CommitOutcome, DuePage, EntryCursor, EntryPage, EntryQuery,
    EventFeedPage, EventRecord, FactRecord, GroupCommit, KeyRecord, OperationRecord, Store,
    StoreError, StoreResult,
};

/// What one store call suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    FailBefore,
    FailAfter,
    Delay,
}

/// How a [`Fault::Delay`] slows a call down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayMode {
    /// Yield to the scheduler 1 to `max_yields` times: deterministic in a sequential run.
    Yield { max_yields: u32 },
    /// Sleep 0 to `max_micros` microseconds: real time, to widen race windows.
    Sleep { max_micros: u64 },
}

/// Fault probabilities, in parts per thousand of calls (integers: no float decides a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultConfig {
    pub fail_before_per_mille: u32,
    pub fail_after_per_mille: u32,
    pub delay_per_mille: u32,
    pub delay: DelayMode,
    /// When set, pages of `entries` and `due_accounts` are cut to 1..=N items.
    pub short_pages: Option<usize>,
}

impl FaultConfig {
    /// No faults at all.
    pub const NONE: FaultConfig = FaultConfig {
        fail_before_per_mille: 0,
        fail_after_per_mille: 0,
        delay_per_mille: 0,
        delay: DelayMode::Yield { max_yields: 1 },
        short_pages: None,
    };

    /// The simulation's default: 5% lost requests, 5% lost replies, 5% delays (yields), and
    /// pages of history cut short (1 to 64 entries).
    pub const SIMULATION: FaultConfig = FaultConfig {
        fail_before_per_mille: 50,
        fail_after_per_mille: 50,
        delay_per_mille: 50,
        delay: DelayMode::Yield { max_yields: 8 },
        short_pages: Some(64),
    };

    /// For races: no failures, frequent short sleeps so that requests interleave.
    pub const JITTER: FaultConfig = FaultConfig {
        fail_before_per_mille: 0,
        fail_after_per_mille: 0,
        delay_per_mille: 300,
        delay: DelayMode::Sleep { max_micros: 2_000 },
        short_pages: None,
    };
}

/// What a [`FaultStore`] did, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub calls: u64,
    pub fail_before: u64,
    pub fail_after: u64,
    /// Commits that were written and then reported as failed.
    pub commits_written_then_failed: u64,
    pub delays: u64,
    pub short_pages: u64,
}

impl FaultCounts {
    /// Both counts together (of two fault stores a run used one after the other).
    pub fn plus(self, other: FaultCounts) -> FaultCounts {
        FaultCounts {
            calls: self.calls.saturating_add(other.calls),
            fail_before: self.fail_before.saturating_add(other.fail_before),
            fail_after: self.fail_after.saturating_add(other.fail_after),
            commits_written_then_failed: self
                .commits_written_then_failed
                .saturating_add(other.commits_written_then_failed),
            delays: self.delays.saturating_add(other.delays),
            short_pages: self.short_pages.saturating_add(other.short_pages),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    fail_before: AtomicU64,
    fail_after: AtomicU64,
    commits_written_then_failed: AtomicU64,
    delays: AtomicU64,
    short_pages: AtomicU64,
}

/// A store that fails, loses replies and slows down on purpose. See the module docs.
pub struct FaultStore {
    inner: Arc<dyn Store>,
    config: FaultConfig,
    rng: Mutex<StdRng>,
    enabled: AtomicBool,
    counters: Counters,
}

impl std::fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultStore")
            .field("config", &self.config)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl FaultStore {
    /// Wraps `inner`; faults are drawn from a generator seeded with `seed`, and are enabled.
    pub fn new(inner: Arc<dyn Store>, config: FaultConfig, seed: u64) -> FaultStore {
        FaultStore {
            inner,
            config,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            enabled: AtomicBool::new(true),
            counters: Counters::default(),
        }
    }

    /// The wrapped store, to verify what was really written.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Switch faults on or off (short pages included).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        FaultCounts {
            calls: c.calls.load(Ordering::Relaxed),
            fail_before: c.fail_before.load(Ordering::Relaxed),
            fail_after: c.fail_after.load(Ordering::Relaxed),
            commits_written_then_failed: c.commits_written_then_failed.load(Ordering::Relaxed),
            delays: c.delays.load(Ordering::Relaxed),
            short_pages: c.short_pages.load(Ordering::Relaxed),
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut rng)
    }

    /// Draws the fault of one call (and counts it).
    fn draw(&self) -> Fault {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if !self.enabled() {
            return Fault::Pass;
        }
        let config = self.config;
        let roll: u32 = self.with_rng(|rng| rng.random_range(0..1000));
        let before = config.fail_before_per_mille;
        let after = before.saturating_add(config.fail_after_per_mille);
        let delay = after.saturating_add(config.delay_per_mille);
        let fault = if roll < before {
            Fault::FailBefore
        } else if roll < after {
            Fault::FailAfter
        } else if roll < delay {
            Fault::Delay
        } else {
            Fault::Pass
        };
        let counter = match fault {
            Fault::Pass => None,
            Fault::FailBefore => Some(&self.counters.fail_before),
            Fault::FailAfter => Some(&self.counters.fail_after),
            Fault::Delay => Some(&self.counters.delays),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        fault
    }

    async fn delay(&self) {
        match self.config.delay {
            DelayMode::Yield { max_yields } => {
                let yields = self.with_rng(|rng| rng.random_range(1..=max_yields.max(1)));
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
            }
            DelayMode::Sleep { max_micros } => {
                let micros = self.with_rng(|rng| rng.random_range(0..=max_micros));
                tokio::time::sleep(Duration::from_micros(micros)).await;
            }
        }
    }

    /// Runs `call` under one drawn fault.
    async fn faulty<T, F>(&self, what: &str, call: F) -> StoreResult<T>
    where
        F: std::future::Future<Output = StoreResult<T>>,
    {
        match self.draw() {
            Fault::Pass => call.await,
            Fault::Delay => {
                self.delay().await;
                call.await
            }
            Fault::FailBefore => Err(StoreError::Unavailable(format!(
                "injected fault: `{what}` was lost before it reached the store"
            ))),
            Fault::FailAfter => {
                // The call runs to completion; only its reply is lost.
                let _ = call.await;
                Err(StoreError::Unavailable(format!(
                    "injected fault: `{what}` ran but its reply was lost"
                )))
            }
        }
    }

    /// The page limit to cut to, if short pages are on.
    fn short_limit(&self) -> Option<usize> {
        let max = self.config.short_pages?;
        if !self.enabled() {
            return None;
        }
        Some(self.with_rng(|rng| rng.random_range(1..=max.max(1))))
    }
}

#[async_trait::async_trait]
impl Store for FaultStore {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.faulty("load", self.inner.load(account)).await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        match self.draw() {
            Fault::Pass => self.inner.commit(commit).await,
            Fault::Delay => {
                self.delay().await;
                self.inner.commit(commit).await
            }
            Fault::FailBefore => Err(StoreError::Unavailable(
                "injected fault: `commit` was lost before it reached the store".to_owned(),
            )),
            Fault::FailAfter => {
                let outcome = self.inner.commit(commit).await;
                if matches!(outcome, Ok(CommitOutcome::Committed)) {
                    self.counters
                        .commits_written_then_failed
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(StoreError::Unavailable(
                    "injected fault: `commit` was written but its reply was lost".to_owned(),
                ))
            }
        }
    }

    fn supports_group_commit(&self) -> bool {
        self.inner.supports_group_commit()
    }

    /// The faults of `commit`, on the whole group.
    async fn commit_group(&self, group: GroupCommit) -> StoreResult<CommitOutcome> {
        match self.draw() {
            Fault::Pass => self.inner.commit_group(group).await,
            Fault::Delay => {
                self.delay().await;
                self.inner.commit_group(group).await
            }
            Fault::FailBefore => Err(StoreError::Unavailable(
                "injected fault: `commit_group` was lost before it reached the store".to_owned(),
            )),
            Fault::FailAfter => {
                let outcome = self.inner.commit_group(group).await;
                if matches!(outcome, Ok(CommitOutcome::Committed)) {
                    self.counters
                        .commits_written_then_failed
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(StoreError::Unavailable(
                    "injected fault: `commit_group` was written but its reply was lost".to_owned(),
                ))
            }
        }
    }

    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        self.faulty("operation", self.inner.operation(account, id))
            .await
    }

    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        self.faulty("facts", self.inner.facts(account, keys)).await
    }

    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        self.faulty(
            "last_fact_before",
            self.inner.last_fact_before(account, prefix, before),
        )
        .await
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        let mut page = self.faulty("entries", self.inner.entries(query)).await?;
        if let Some(limit) = self.short_limit()
            && page.entries.len() > limit
        {
            page.entries.truncate(limit);
            page.next = page.entries.last().map(EntryCursor::after);
            self.counters.short_pages.fetch_add(1, Ordering::Relaxed);
        }
        Ok(page)
    }

    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage> {
        // Short pages are not applied here: the cursor is opaque to this wrapper.
        self.faulty(
            "due_accounts",
            self.inner
                .due_accounts(now, segment, segments, cursor, limit),
        )
        .await
    }

    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.faulty("put_key", self.inner.put_key(key)).await
    }

    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.faulty("key", self.inner.key(id)).await
    }

    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.faulty(
            "account_events",
            self.inner.account_events(account, after_seq, limit),
        )
        .await
    }

    async fn event_feed(&self, after: u64, limit: u32) -> StoreResult<EventFeedPage> {
        self.faulty("event_feed", self.inner.event_feed(after, limit))
            .await
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.faulty("revoke_key", self.inner.revoke_key(id, at))
            .await
    }
}

/// A BROKEN store, for mutation tests only: it never keeps idempotency records and renames
/// every entry id that already exists, so a retried request is applied again. A simulation
/// over it must fail; if it passes, the simulation has lost its teeth.
pub struct ForgetfulStore {
    inner: Arc<dyn Store>,
    renamed: AtomicU64,
}

impl ForgetfulStore {
    pub fn new(inner: Arc<dyn Store>) -> ForgetfulStore {
        ForgetfulStore {
            inner,
            renamed: AtomicU64::new(0),
        }
    }
}

#[async_trait::async_trait]
impl Store for ForgetfulStore {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.inner.load(account).await
    }

    async fn commit(&self, mut commit: Commit) -> StoreResult<CommitOutcome> {
        commit.operation = None;
        for entry in &mut commit.entries {
            let n = self.renamed.fetch_add(1, Ordering::Relaxed);
            entry.id = format!("{}~{n}", entry.id);
        }
        self.inner.commit(commit).await
    }

    async fn operation(&self, _account: &str, _id: &str) -> StoreResult<Option<OperationRecord>> {
        Ok(None)
    }

    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        self.inner.facts(account, keys).await
    }

    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        self.inner.last_fact_before(account, prefix, before).await
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        self.inner.entries(query).await
    }

    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage> {
        self.inner
            .due_accounts(now, segment, segments, cursor, limit)
            .await
    }

    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        self.inner.put_key(key).await
    }

    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.inner.key(id).await
    }

    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.inner.account_events(account, after_seq, limit).await
    }

    async fn event_feed(&self, after: u64, limit: u32) -> StoreResult<EventFeedPage> {
        self.inner.event_feed(after, limit).await
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_key(id, at).await
    }
}
