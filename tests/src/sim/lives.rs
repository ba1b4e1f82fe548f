//! Long lives: accounts that live three years of simulated time, served by several instances
//! whose clocks disagree, on a rate book whose price changes mid-life, with hostile ids.
//!
//! A run ([`run_lives`]) is a sequence of *generations* over one store. Each generation
//! creates [`LivesConfig::accounts`] accounts on the inline book [`BOOK_V1`] (plan
//! `lives/member`: a daily grant, a monthly allocation that rolls over while subscribed,
//! top-ups, refunds for 1,200 days), lives them from [`env::start_time`] for three years, and
//! closes them. What a generation does, per step:
//!
//! - moves the reference time `T` and sets every instance's clock to `T` minus a random skew
//!   of 0 to [`MAX_SKEW_MS`] (inside the ledger's allowed 5 s), so requests land on instances
//!   whose clocks disagree; the ledger then decides at the account's own instant;
//! - charges (the model prices each one itself: units × the price of the book version in
//!   force at the charge entry's instant, [`price_at`]; the second version,
//!   [`BOOK_V2`], takes effect on [`PRICE_CHANGE`]), top-ups, refunds (often of the account's
//!   OLDEST charges, whose history is long), replays, cancellations and new subscriptions;
//! - the wedge sequence, scripted: charge → cancel → period end → subscribe again → refund
//!   that charge → cancel → period end → subscribe again (a refund recreating a forfeited
//!   allocation, forfeited again);
//! - an instance whose clock is beyond the allowed skew behind the account: the request must
//!   be answered 503 with `Retry-After` and write nothing; the simulation sends it again later
//!   on an instance in time, where it is applied once;
//! - ids at the edge's limit (128 printable characters full of `:`, `%`, quotes and
//!   backslashes) for accounts and requests, and ids of 200 to 256 bytes with unicode, which
//!   must be refused `400` with nothing written.
//!
//! A run over one store ([`run_lives`]) keeps every generation in it; [`run_lives_on_fresh_stores`]
//! gives each generation a store of its own (a closed generation is never read again), so a
//! run of any length needs no more than one life's worth of store: one in-memory SQLite
//! database holds at most 1 GiB, ~313,000 steps of these lives with their long ids.
//!
//! Store faults ([`FaultStore`]) and retries work as in [`super::run`]; after every step the
//! touched account is checked against [`crate::model`] (entry ids distinct, seq contiguous,
//! every answer's entries, balances = Σ entries when materialised) and every entry must be
//! at or before `T` (no instance decides in the future).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use ::http::Method;
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_store::Store;

use super::SimFailure;
use super::env::{self, ADMIN_KEY};
use super::http::{ApiRequest, Reply, send};
use crate::faults::{FaultConfig, FaultCounts, FaultStore};
use crate::model::{self, Answer, Model, Mutation, Recorded, Route};

/// The first version of the simulation's book.
pub const BOOK_V1: &str = r#"book lives
title "Simulation: long lives"
effective 2025-01-01
time_zone "UTC"
source "credits-tests simulation"

unit credit scale 2 round half-up

feature job "Job" {
  input units: count default 1 min 1 max 200
  base 1.25 credit each
  multiply by units
}

plan member "Member" {
  cycle monthly from purchase
  periods monthly, yearly
  grant 1500 credit every cycle as allocation, expires end of cycle, rolls over while subscribed
  grant 5 credit daily as daily, expires end of day
  order daily, allocation, refund, top_up
  topup as top_up, expires never
  refund within 1200 days for duplicate, internal_error
  refund expired as refund, expires end of cycle
}

expect job(units: 2) = 2.5 credit
"#;

/// The second version: the same units, plans and grants; the job costs 1.50 from
/// [`PRICE_CHANGE`].
pub const BOOK_V2: &str = r#"book lives
title "Simulation: long lives"
effective 2027-07-15
time_zone "UTC"
source "credits-tests simulation, price change"

unit credit scale 2 round half-up

feature job "Job" {
  input units: count default 1 min 1 max 200
  base 1.5 credit each
  multiply by units
}

plan member "Member" {
  cycle monthly from purchase
  periods monthly, yearly
  grant 1500 credit every cycle as allocation, expires end of cycle, rolls over while subscribed
  grant 5 credit daily as daily, expires end of day
  order daily, allocation, refund, top_up
  topup as top_up, expires never
  refund within 1200 days for duplicate, internal_error
  refund expired as refund, expires end of cycle
}

expect job(units: 2) = 3 credit
"#;

/// The plan every account of a life runs.
pub const PLAN: &str = "lives/member";
/// Where [`BOOK_V2`] takes effect (midnight UTC, the book's zone).
pub const PRICE_CHANGE: (i32, u32, u32) = (2027, 7, 15);
/// How long a generation lives.
pub const LIFE_DAYS: i64 = 3 * 365 + 1;
/// The largest skew between instances in normal operation (the ledger allows 5,000 ms).
pub const MAX_SKEW_MS: i64 = 4_500;
/// Longest id the HTTP edge accepts (`validate::MAX_ID_CHARS`).
const EDGE_ID_CHARS: usize = 128;
/// Attempts with faults on, then without.
const FAULTY_ATTEMPTS: u32 = 8;
const MAX_ATTEMPTS: u32 = 10;
const RECENT_STEPS: usize = 40;
/// Steps between progress lines on stderr.
const PROGRESS_EVERY: u64 = 50_000;

/// The price of one job at `at`: the version of the book in force then.
pub fn price_at(at: DateTime<Utc>) -> Decimal {
    let (year, month, day) = PRICE_CHANGE;
    let change = Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).single();
    if change.is_some_and(|change| at >= change) {
        Decimal::new(150, 2)
    } else {
        Decimal::new(125, 2)
    }
}

/// Both versions of the book, checked (the later one must be compatible).
///
/// # Errors
/// When a version does not check.
pub fn library() -> Result<RateLibrary, String> {
    RateLibrary::from_sources(vec![
        ("lives.rates".to_owned(), BOOK_V1.to_owned()),
        ("lives@2027-07-15.rates".to_owned(), BOOK_V2.to_owned()),
    ])
    .map_err(|diagnostics| format!("the simulation's book does not check: {diagnostics:?}"))
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LivesConfig {
    pub seed: u64,
    pub operations: u64,
    pub faults: FaultConfig,
    /// Routers with their own clocks over the one store (at least 2).
    pub instances: usize,
    /// Accounts per generation.
    pub accounts: usize,
    /// Steps between full re-reads of every living history.
    pub audit_every: u64,
}

impl LivesConfig {
    /// `CREDITS_SIM_SEED` (else random) and `CREDITS_SIM_OPS` (else `operations`); three
    /// instances, three accounts a generation.
    pub fn from_env(operations: u64) -> LivesConfig {
        let seed = std::env::var("CREDITS_SIM_SEED")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or_else(rand::random);
        let operations = std::env::var("CREDITS_SIM_OPS")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(operations);
        LivesConfig {
            seed,
            operations,
            faults: FaultConfig::SIMULATION,
            instances: 3,
            accounts: 3,
            audit_every: 500,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct LivesReport {
    pub seed: u64,
    pub operations: u64,
    pub generations: u64,
    pub simulated_days: i64,
    pub requests: u64,
    pub retries: u64,
    pub routes: BTreeMap<&'static str, super::RouteCounts>,
    pub statuses: BTreeMap<u16, u64>,
    pub refusals: BTreeMap<String, u64>,
    /// Charges priced by the model at the first and at the second version.
    pub priced_v1: u64,
    pub priced_v2: u64,
    /// Requests sent to an instance beyond the allowed skew (all answered 503, nothing
    /// written, then applied later on another instance).
    pub clock_behind_refused: u64,
    /// Requests under ids of 200 to 256 bytes (all refused 400, nothing written).
    pub oversized_ids_refused: u64,
    /// Refunds applied to one of the account's five oldest charges.
    pub oldest_refunds: u64,
    /// Wedge sequences run to their end.
    pub episodes: u64,
    pub subscription_changes: u64,
    pub entries: u64,
    pub most_entries: u64,
    pub strict_balance_checks: u64,
    pub faults: FaultCounts,
    pub elapsed: StdDuration,
}

impl fmt::Display for LivesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} · {} operations in {:.1?} · {} generations · {} simulated days",
            self.seed, self.operations, self.elapsed, self.generations, self.simulated_days
        )?;
        writeln!(
            f,
            "requests {} · retried 5xx {} · entries {} (most in one account {}) · strict balance checks {}",
            self.requests,
            self.retries,
            self.entries,
            self.most_entries,
            self.strict_balance_checks
        )?;
        writeln!(
            f,
            "priced v1 {} · v2 {} · clock-behind refused then applied {} · oversized ids refused {} · oldest-charge refunds {} · wedge sequences {} · subscription changes {}",
            self.priced_v1,
            self.priced_v2,
            self.clock_behind_refused,
            self.oversized_ids_refused,
            self.oldest_refunds,
            self.episodes,
            self.subscription_changes
        )?;
        let c = &self.faults;
        writeln!(
            f,
            "faults: store calls {} · lost requests {} · lost replies {} (commits written then reported failed {}) · delays {}",
            c.calls, c.fail_before, c.fail_after, c.commits_written_then_failed, c.delays
        )?;
        for (route, counts) in &self.routes {
            writeln!(
                f,
                "  {route:<9} applied {:>6} · refused {:>5} · replayed {:>5} · conflicts {:>3}",
                counts.applied, counts.refused, counts.replayed, counts.conflicts
            )?;
        }
        writeln!(f, "definitive statuses: {:?}", self.statuses)?;
        write!(f, "refusals: {:?}", self.refusals)
    }
}

/// One living account.
#[derive(Debug, Clone)]
struct Life {
    id: String,
    /// `/v1/accounts/<percent-encoded id>`.
    path: String,
    subscribed: bool,
    anchor: DateTime<Utc>,
    /// Applied charges, oldest first.
    charges: Vec<String>,
    /// Charge id → units, until its entry is priced.
    unpriced: BTreeMap<String, u64>,
    /// The wedge sequence: its next stage and its charge.
    episode: Option<(u8, Option<String>)>,
}

/// Runs the long lives over `store` (wrapped in a [`FaultStore`] here), every generation in
/// it.
///
/// # Errors
/// The first violated invariant.
pub async fn run_lives(
    config: &LivesConfig,
    store: Arc<dyn Store>,
) -> Result<LivesReport, SimFailure> {
    run_lives_on_fresh_stores(config, move || Ok(Arc::clone(&store))).await
}

/// Runs the long lives, each generation over the store `fresh_store` returns when it starts
/// (wrapped in a [`FaultStore`] here); the previous generation's store is dropped then. A
/// `fresh_store` that returns the same store each time is [`run_lives`].
///
/// # Errors
/// The first violated invariant, or a store `fresh_store` could not make.
pub async fn run_lives_on_fresh_stores(
    config: &LivesConfig,
    fresh_store: impl FnMut() -> Result<Arc<dyn Store>, String> + 'static,
) -> Result<LivesReport, SimFailure> {
    let started = Instant::now();
    let mut sim = match Lives::new(config, Box::new(fresh_store)) {
        Ok(sim) => sim,
        Err(message) => {
            return Err(SimFailure {
                seed: config.seed,
                step: 0,
                message,
                recent: Vec::new(),
            });
        }
    };
    let result = sim.run_all().await;
    sim.faults.set_enabled(false);
    match result {
        Ok(()) => {
            sim.report.faults = sim.fault_totals.plus(sim.faults.counts());
            sim.report.elapsed = started.elapsed();
            Ok(sim.report)
        }
        Err(message) => Err(SimFailure {
            seed: config.seed,
            step: sim.step,
            message,
            recent: sim.recent.iter().cloned().collect(),
        }),
    }
}

struct Instance {
    clock: Arc<FixedClock>,
    state: AppState,
    router: Router,
}

struct Lives {
    config: LivesConfig,
    rng: StdRng,
    /// Each generation's store.
    fresh_store: Box<dyn FnMut() -> Result<Arc<dyn Store>, String>>,
    books: Arc<RateLibrary>,
    api: ApiConfig,
    faults: Arc<FaultStore>,
    /// What the fault stores of earlier generations' stores did.
    fault_totals: FaultCounts,
    instances: Vec<Instance>,
    /// Reads and materialises at `T` (never behind any instance).
    verifier: Instance,
    /// The reference time: every instance's clock is at or behind it.
    now: DateTime<Utc>,
    skews_ms: Vec<i64>,
    model: Model,
    lives: Vec<Life>,
    applied: Vec<Mutation>,
    generation: u64,
    generation_start: DateTime<Utc>,
    counter: u64,
    step: u64,
    recent: std::collections::VecDeque<String>,
    report: LivesReport,
    started: Instant,
}

/// Every byte of `id` but `[A-Za-z0-9_.-]` percent-encoded, for a path segment.
fn encode(id: &str) -> String {
    let mut out = String::new();
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `head` padded to exactly [`EDGE_ID_CHARS`] with the characters ids are most often
/// mishandled on: separators, percent signs (also ones that look like escapes), quotes.
fn hostile_id(head: &str) -> String {
    const FILL: &str = ":%3A%25\"'\\:%%;,=!*";
    let mut id = head.to_owned();
    for c in FILL.chars().cycle() {
        if id.len() >= EDGE_ID_CHARS {
            break;
        }
        id.push(c);
    }
    id.chars().take(EDGE_ID_CHARS).collect()
}

fn answer_of(reply: &Reply) -> Answer {
    Answer {
        status: reply.status.as_u16(),
        body: reply.json.clone(),
        retry_after: reply
            .headers
            .get(::http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    }
}

fn instance(
    store: &Arc<dyn Store>,
    books: &Arc<RateLibrary>,
    config: &ApiConfig,
    now: DateTime<Utc>,
) -> Instance {
    let clock = Arc::new(FixedClock::new(now));
    let state = AppState::new(Arc::clone(store), Arc::clone(books))
        .with_clock(clock.clone())
        .with_config(config.clone());
    let router = credits_api::router(state.clone());
    Instance {
        clock,
        state,
        router,
    }
}

/// The fault store over `store`, its instances and the verifier, every clock at `now`.
/// Each generation's faults are drawn from a generator of their own.
fn deploy(
    config: &LivesConfig,
    generation: u64,
    store: Arc<dyn Store>,
    books: &Arc<RateLibrary>,
    api: &ApiConfig,
    now: DateTime<Utc>,
) -> (Arc<FaultStore>, Vec<Instance>, Instance) {
    let seed = config.seed
        ^ 0x11fe_5eed
        ^ generation
            .saturating_sub(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let faults = Arc::new(FaultStore::new(store, config.faults, seed));
    faults.set_enabled(false);
    let shared: Arc<dyn Store> = faults.clone();
    let instances: Vec<Instance> = (0..config.instances.max(2))
        .map(|_| instance(&shared, books, api, now))
        .collect();
    let verifier = instance(&shared, books, api, now);
    (faults, instances, verifier)
}

impl Lives {
    fn new(
        config: &LivesConfig,
        mut fresh_store: Box<dyn FnMut() -> Result<Arc<dyn Store>, String>>,
    ) -> Result<Lives, String> {
        let start = env::start_time()?;
        let books = Arc::new(library()?);
        let api = ApiConfig::default().with_static_admin_key(ADMIN_KEY)?;
        let (faults, instances, verifier) = deploy(config, 1, fresh_store()?, &books, &api, start);
        Ok(Lives {
            config: config.clone(),
            rng: StdRng::seed_from_u64(config.seed),
            skews_ms: vec![0; instances.len()],
            fresh_store,
            books,
            api,
            faults,
            fault_totals: FaultCounts::default(),
            instances,
            verifier,
            now: start,
            model: Model::new(),
            lives: Vec::new(),
            applied: Vec::new(),
            generation: 0,
            generation_start: start,
            counter: 0,
            step: 0,
            recent: std::collections::VecDeque::new(),
            started: Instant::now(),
            report: LivesReport {
                seed: config.seed,
                operations: config.operations,
                ..LivesReport::default()
            },
        })
    }

    fn note(&mut self, line: String) {
        if self.recent.len() >= RECENT_STEPS {
            self.recent.pop_front();
        }
        self.recent.push_back(format!(
            "#{} g{} {} {line}",
            self.step,
            self.generation,
            self.now.format("%Y-%m-%d %H:%M:%S")
        ));
    }

    /// Sets `T` and every instance's clock (`T` minus its skew).
    fn set_clocks(&mut self) {
        for (index, instance) in self.instances.iter().enumerate() {
            let skew = self.skews_ms.get(index).copied().unwrap_or(0);
            instance.clock.set(self.now - Duration::milliseconds(skew));
        }
        self.verifier.clock.set(self.now);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let all_agree = self.rng.random_bool(0.1);
        for skew in &mut self.skews_ms {
            *skew = if all_agree {
                0
            } else {
                self.rng.random_range(0..=MAX_SKEW_MS)
            };
        }
        self.set_clocks();
    }

    async fn run_all(&mut self) -> Result<(), String> {
        self.start_generation().await?;
        for step in 1..=self.config.operations {
            self.step = step;
            let tick = self.rng.random_range(0..=20);
            self.advance(Duration::seconds(tick));
            if (self.now - self.generation_start).num_days() >= LIFE_DAYS {
                self.end_generation().await?;
                self.start_generation().await?;
            }
            self.one_step().await?;
            if self.config.audit_every > 0 && step % self.config.audit_every == 0 {
                self.audit_all().await?;
            }
            if step % PROGRESS_EVERY == 0 {
                // Long runs say how far they got (a run stopped early still reports that).
                eprintln!(
                    "long lives seed {}: {step} operations passed, generation {}, {:.0?}",
                    self.config.seed,
                    self.generation,
                    self.started.elapsed()
                );
            }
        }
        self.end_generation().await
    }

    async fn start_generation(&mut self) -> Result<(), String> {
        self.generation += 1;
        self.report.generations += 1;
        let start = env::start_time()?;
        if self.generation > 1 {
            self.next_store(start)?;
        }
        self.now = start;
        self.generation_start = start;
        for skew in &mut self.skews_ms {
            *skew = 0;
        }
        self.set_clocks();
        self.lives.clear();
        self.applied.clear();
        for index in 0..self.config.accounts.max(1) {
            let id = hostile_id(&format!("life{}-{index}:", self.generation));
            let life = Life {
                path: format!("/v1/accounts/{}", encode(&id)),
                id,
                subscribed: true,
                anchor: start,
                charges: Vec::new(),
                unpriced: BTreeMap::new(),
                episode: None,
            };
            self.model.add_account(&life.id);
            self.lives.push(life);
            self.configure(index, true, start).await?;
        }
        Ok(())
    }

    async fn end_generation(&mut self) -> Result<(), String> {
        let days = (self.now - self.generation_start).num_days();
        self.report.simulated_days = self.report.simulated_days.saturating_add(days);
        for index in 0..self.lives.len() {
            self.verify(index, true).await?;
            let id = self.next_id("close");
            let mutation = self.mutation(index, Route::Close, id.clone(), json!({ "id": id }))?;
            let mutation = Mutation {
                path: format!("{}/close", mutation.path),
                ..mutation
            };
            self.mutate(mutation, false).await?;
            self.verify(index, true).await?;
        }
        self.audit_all().await?;
        for life in &self.lives {
            let entries = self.model.account(&life.id)?.entry_count() as u64;
            self.report.entries += entries;
            self.report.most_entries = self.report.most_entries.max(entries);
        }
        for life in std::mem::take(&mut self.lives) {
            self.model.remove_account(&life.id);
        }
        Ok(())
    }

    /// Moves to the store `fresh_store` gives, if it is another one: new instances and a
    /// new fault store over it (their rates and faults as before), the old ones dropped.
    fn next_store(&mut self, now: DateTime<Utc>) -> Result<(), String> {
        let store = (self.fresh_store)()?;
        if Arc::ptr_eq(&store, self.faults.inner()) {
            return Ok(());
        }
        let (faults, instances, verifier) = deploy(
            &self.config,
            self.generation,
            store,
            &self.books,
            &self.api,
            now,
        );
        self.fault_totals = self.fault_totals.plus(self.faults.counts());
        self.faults = faults;
        self.instances = instances;
        self.verifier = verifier;
        Ok(())
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let head = format!("{prefix}{}-g{}:", self.counter, self.generation);
        if self.rng.random_bool(0.5) {
            hostile_id(&head)
        } else {
            head
        }
    }

    fn life(&self, index: usize) -> Result<&Life, String> {
        self.lives
            .get(index)
            .ok_or_else(|| format!("no account {index} in this generation"))
    }

    fn life_mut(&mut self, index: usize) -> Result<&mut Life, String> {
        self.lives
            .get_mut(index)
            .ok_or_else(|| format!("no account {index} in this generation"))
    }

    fn mutation(
        &self,
        index: usize,
        route: Route,
        id: String,
        body: Value,
    ) -> Result<Mutation, String> {
        let life = self.life(index)?;
        let path = match route {
            Route::Charge => format!("{}/charges", life.path),
            Route::TopUp => format!("{}/topups", life.path),
            Route::Refund => format!("{}/refunds", life.path),
            _ => life.path.clone(),
        };
        Ok(Mutation {
            route,
            account: life.id.clone(),
            id: Some(id),
            path,
            body,
            hold: None,
            charge: None,
        })
    }

    /// Mostly the first account (the busiest, with the longest history).
    fn pick(&mut self) -> usize {
        if self.rng.random_bool(0.5) {
            0
        } else {
            self.rng.random_range(0..self.lives.len().max(1))
        }
    }

    async fn one_step(&mut self) -> Result<(), String> {
        let index = self.pick();
        if self.life(index)?.episode.is_some() && self.rng.random_bool(0.5) {
            return self.episode_stage(index).await;
        }
        match self.rng.random_range(0..100) {
            0..=34 => self.charge(index, None).await.map(|_| ()),
            35..=44 => self.top_up(index).await,
            45..=56 => self.refund(index, None).await,
            57..=61 => self.replay().await,
            62..=64 => {
                let subscribed = !self.life(index)?.subscribed;
                let anchor = if subscribed {
                    self.now
                } else {
                    self.life(index)?.anchor
                };
                self.configure(index, subscribed, anchor).await
            }
            65..=67 => {
                // Rarely started (each takes two months of simulated time), then run through.
                if self.life(index)?.episode.is_none() && self.rng.random_bool(0.95) {
                    return self.charge(index, None).await.map(|_| ());
                }
                if self.life(index)?.episode.is_none() {
                    self.life_mut(index)?.episode = Some((0, None));
                }
                self.episode_stage(index).await
            }
            68..=69 => self.clock_behind(index).await,
            70..=71 => self.oversized_id(index).await,
            _ => {
                self.jump();
                Ok(())
            }
        }
    }

    /// Minutes to days; rarely weeks. A generation of three years takes ~3,000 steps.
    fn jump(&mut self) {
        let seconds = match self.rng.random_range(0..100) {
            0..=49 => self.rng.random_range(60..=6 * 3_600),
            50..=94 => self.rng.random_range(6 * 3_600..=2 * 86_400),
            _ => self.rng.random_range(2 * 86_400..=6 * 86_400),
        };
        self.advance(Duration::seconds(seconds));
        self.note(format!("clock +{seconds}s"));
    }

    // ------------------------------------------------------------------ operations

    async fn configure(
        &mut self,
        index: usize,
        active: bool,
        anchor: DateTime<Utc>,
    ) -> Result<(), String> {
        let life = self.life(index)?;
        let status = if active { "active" } else { "cancelled" };
        let mutation = Mutation {
            route: Route::Configure,
            account: life.id.clone(),
            id: None,
            path: life.path.clone(),
            body: json!({
                "plan": PLAN,
                "subscription": {"status": status, "period": "monthly", "anchor": anchor.to_rfc3339()},
            }),
            hold: None,
            charge: None,
        };
        let (answer, _) = self.mutate(mutation, false).await?;
        if !answer.success() {
            return Err(format!(
                "setting the subscription of account {index} to {status} answered {} {}",
                answer.status, answer.body
            ));
        }
        let life = self.life_mut(index)?;
        life.subscribed = active;
        life.anchor = anchor;
        self.report.subscription_changes += 1;
        self.verify(index, false).await
    }

    /// A charge of `units` (else random); its id when applied.
    async fn charge(&mut self, index: usize, units: Option<u64>) -> Result<Option<String>, String> {
        let units = units.unwrap_or_else(|| self.rng.random_range(1..=40));
        let id = self.next_id("c");
        let body = json!({ "id": id, "feature": "job", "inputs": {"units": units} });
        let mutation = self.mutation(index, Route::Charge, id.clone(), body)?;
        let (_, recorded) = self.mutate(mutation, true).await?;
        let applied = recorded == Recorded::Applied;
        if applied {
            let life = self.life_mut(index)?;
            life.charges.push(id.clone());
            life.unpriced.insert(id.clone(), units);
        }
        self.verify(index, false).await?;
        Ok(applied.then_some(id))
    }

    async fn top_up(&mut self, index: usize) -> Result<(), String> {
        let id = self.next_id("t");
        let minor = self.rng.random_range(1..=50_000_u64);
        let body = json!({ "id": id, "amount": super::profiles::format_minor(minor, 2) });
        let mutation = self.mutation(index, Route::TopUp, id, body)?;
        self.mutate(mutation, true).await?;
        self.verify(index, false).await
    }

    /// A refund of `charge` (else: one of the five oldest charges, or any): whole or part.
    async fn refund(&mut self, index: usize, charge: Option<String>) -> Result<(), String> {
        let scripted = charge.is_some();
        let charges = self.life(index)?.charges.clone();
        let (charge, oldest) = match charge {
            Some(charge) => (charge, false),
            None => {
                if charges.is_empty() {
                    return self.charge(index, None).await.map(|_| ());
                }
                let oldest = self.rng.random_bool(0.4);
                let position = if oldest {
                    self.rng.random_range(0..charges.len().min(5))
                } else {
                    self.rng.random_range(0..charges.len())
                };
                (charges.get(position).cloned().unwrap_or_default(), oldest)
            }
        };
        let id = self.next_id("r");
        let reason = if self.rng.random_bool(0.5) {
            "duplicate"
        } else {
            "internal_error"
        };
        let mut body = json!({ "id": id, "charge": charge, "reason": reason });
        let left = self
            .model
            .account(&self.life(index)?.id)?
            .refundable(&charge)
            .get("credit")
            .copied()
            .unwrap_or(Decimal::ZERO);
        if !scripted && self.rng.random_bool(0.4) && left > Decimal::ZERO {
            let left_minor = (left * Decimal::from(100))
                .trunc()
                .to_string()
                .parse::<u64>()
                .unwrap_or(1);
            let minor = self.rng.random_range(1..=left_minor.max(1));
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "amount".to_owned(),
                    json!(super::profiles::format_minor(minor, 2)),
                );
            }
        }
        let mut mutation = self.mutation(index, Route::Refund, id, body)?;
        mutation.charge = Some(charge.clone());
        let (answer, recorded) = self.mutate(mutation, !scripted).await?;
        if recorded == Recorded::Applied && oldest {
            self.report.oldest_refunds += 1;
        }
        // A charge within the window with something left must be refundable, however long
        // the history since.
        // Each top-up is its own bucket (`docs/adjustments.md`): an account holding the most
        // buckets top-ups and refunds may fill refuses a refund that needs a new one. That
        // is the documented bound, checked against the balance's listing.
        if recorded == Recorded::Refused
            && left > Decimal::ZERO
            && self.at_bucket_limit(index, &answer).await?
        {
            return self.verify(index, false).await;
        }
        if recorded == Recorded::Refused && left > Decimal::ZERO {
            return Err(format!(
                "refund of `{charge}` ({left} credit left, within the window) was refused: {} {}",
                answer.status, answer.body
            ));
        }
        self.verify(index, false).await
    }

    /// Charge → cancel → period end → subscribe again → refund the charge → cancel → period
    /// end → subscribe again.
    async fn episode_stage(&mut self, index: usize) -> Result<(), String> {
        let Some((stage, charge)) = self.life(index)?.episode.clone() else {
            return Ok(());
        };
        let next = |sim: &mut Lives, stage: u8, charge: Option<String>| -> Result<(), String> {
            sim.life_mut(index)?.episode = Some((stage, charge));
            Ok(())
        };
        self.note(format!("wedge sequence of account {index}: stage {stage}"));
        match stage {
            0 => {
                if !self.life(index)?.subscribed {
                    let now = self.now;
                    self.configure(index, true, now).await?;
                }
                // Large enough to draw on the allocation after the daily grant.
                match self.charge(index, Some(60)).await? {
                    Some(id) => next(self, 1, Some(id)),
                    None => next(self, 0, None),
                }
            }
            1 | 5 => {
                let anchor = self.life(index)?.anchor;
                self.configure(index, false, anchor).await?;
                next(self, stage + 1, charge)
            }
            2 | 6 => {
                let seconds = self.rng.random_range(32 * 86_400..=40 * 86_400);
                self.advance(Duration::seconds(seconds));
                self.note(format!("clock +{seconds}s (past the period's end)"));
                self.verify(index, false).await?;
                next(self, stage + 1, charge)
            }
            3 => {
                let now = self.now;
                self.configure(index, true, now).await?;
                next(self, 4, charge)
            }
            4 => {
                self.refund(index, charge.clone()).await?;
                next(self, 5, charge)
            }
            _ => {
                let now = self.now;
                self.configure(index, true, now).await?;
                self.life_mut(index)?.episode = None;
                self.report.episodes += 1;
                Ok(())
            }
        }
    }

    /// A request on an instance whose clock is beyond the allowed skew behind the account's
    /// last decision: 503 + `Retry-After`, nothing written; then sent again on an instance in
    /// time, where it is applied (once).
    async fn clock_behind(&mut self, index: usize) -> Result<(), String> {
        let account = self.life(index)?.id.clone();
        let Some(advanced_to) = self.advanced_to(&account).await? else {
            return Ok(());
        };
        let behind_ms = self.rng.random_range(5_001..=600_000);
        let which = self.rng.random_range(0..self.instances.len());
        let id = self.next_id("late");
        let mutation = if self.rng.random_bool(0.5) {
            let units = self.rng.random_range(1..=10);
            self.mutation(
                index,
                Route::Charge,
                id.clone(),
                json!({ "id": id, "feature": "job", "inputs": {"units": units} }),
            )?
        } else {
            self.mutation(
                index,
                Route::TopUp,
                id.clone(),
                json!({ "id": id, "amount": "12.34" }),
            )?
        };
        let late = advanced_to - Duration::milliseconds(behind_ms);
        let instance = self
            .instances
            .get(which)
            .ok_or_else(|| "no instance".to_owned())?;
        instance.clock.set(late);
        let router = instance.router.clone();
        let before = self.version(&account).await?;
        self.faults.set_enabled(false);
        let request = ApiRequest::new(Method::POST, mutation.path.clone(), Some(ADMIN_KEY))
            .json(&mutation.body);
        let reply = send(&router, &request).await?;
        self.set_clocks();
        let after = self.version(&account).await?;
        self.note(format!(
            "{} on instance {which} {behind_ms} ms behind the account → {}",
            mutation.route.name(),
            reply.status
        ));
        if reply.status.as_u16() != 503
            || reply.problem_type() != Some("unavailable")
            || !reply.headers.contains_key(::http::header::RETRY_AFTER)
        {
            return Err(format!(
                "an instance {behind_ms} ms behind the account's last decision answered {} (503 `unavailable` with Retry-After expected)",
                reply.short()
            ));
        }
        if before != after {
            return Err(format!(
                "an instance {behind_ms} ms behind wrote: version {before} → {after}"
            ));
        }
        self.report.clock_behind_refused += 1;
        // Later, on an instance in time.
        let later = self.rng.random_range(1..=30);
        self.advance(Duration::seconds(later));
        let route = mutation.route;
        let (_, recorded) = self.mutate(mutation, true).await?;
        if route == Route::Charge && recorded == Recorded::Applied {
            let units = request_units(&request);
            let life = self.life_mut(index)?;
            life.charges.push(id.clone());
            life.unpriced.insert(id, units);
        }
        self.verify(index, false).await
    }

    /// An id of 200 to 256 bytes with unicode, separators and quotes: 400, nothing written.
    async fn oversized_id(&mut self, index: usize) -> Result<(), String> {
        let account = self.life(index)?.id.clone();
        let target = self.rng.random_range(200..=256);
        let mut id = format!("big{}:é\"'%25:", self.counter);
        for c in "日本:%\"é'\\ø".chars().cycle() {
            if id.len() + c.len_utf8() > target {
                break;
            }
            id.push(c);
        }
        let (route, body) = if self.rng.random_bool(0.5) {
            (Route::TopUp, json!({ "id": id, "amount": "5" }))
        } else {
            (
                Route::Charge,
                json!({ "id": id, "feature": "job", "inputs": {"units": 1} }),
            )
        };
        let mutation = self.mutation(index, route, id.clone(), body)?;
        let before = self.version(&account).await?;
        let request = ApiRequest::new(Method::POST, mutation.path.clone(), Some(ADMIN_KEY))
            .json(&mutation.body);
        let answer = self.call(&request).await?;
        let after = self.version(&account).await?;
        self.note(format!(
            "{} under a {}-byte id → {}",
            route.name(),
            id.len(),
            answer.status
        ));
        if answer.status != 400 || answer.problem_type() != Some("invalid-input") {
            return Err(format!(
                "a {}-byte id was answered {} {} (400 `invalid-input` expected)",
                id.len(),
                answer.status,
                answer.body
            ));
        }
        if before != after {
            return Err(format!(
                "a refused {}-byte id wrote: version {before} → {after}",
                id.len()
            ));
        }
        self.report.oversized_ids_refused += 1;
        Ok(())
    }

    async fn replay(&mut self) -> Result<(), String> {
        if self.applied.is_empty() {
            return Ok(());
        }
        let position = self.rng.random_range(0..self.applied.len());
        let Some(mutation) = self.applied.get(position).cloned() else {
            return Ok(());
        };
        let index = self
            .lives
            .iter()
            .position(|life| life.id == mutation.account)
            .unwrap_or(0);
        self.mutate(mutation, false).await?;
        self.verify(index, false).await
    }

    // ------------------------------------------------------------------ client

    async fn mutate(
        &mut self,
        mutation: Mutation,
        remember: bool,
    ) -> Result<(Answer, Recorded), String> {
        let method = if mutation.route == Route::Configure {
            Method::PUT
        } else {
            Method::POST
        };
        let request =
            ApiRequest::new(method, mutation.path.clone(), Some(ADMIN_KEY)).json(&mutation.body);
        let answer = self.call(&request).await?;
        let recorded = match self.model.record(&mutation, &answer, self.now) {
            Ok(recorded) => recorded,
            Err(violation) => {
                self.note(format!(
                    "{} {} → {} {} ← THIS STEP",
                    mutation.route.name(),
                    mutation.body,
                    answer.status,
                    answer.body
                ));
                return Err(violation);
            }
        };
        super::tally(
            &mut self.report.routes,
            &mut self.report.refusals,
            mutation.route,
            recorded,
            &answer,
        );
        self.note(format!(
            "{} {} → {} {:?}",
            mutation.route.name(),
            mutation.body,
            answer.status,
            recorded
        ));
        if remember && recorded == Recorded::Applied && mutation.id.is_some() {
            self.applied.push(mutation);
        }
        Ok((answer, recorded))
    }

    /// Until a definitive answer, on random instances; faults on for the first attempts.
    async fn call(&mut self, request: &ApiRequest) -> Result<Answer, String> {
        for attempt in 0..MAX_ATTEMPTS {
            let faulty = attempt < FAULTY_ATTEMPTS;
            let which = self.rng.random_range(0..self.instances.len());
            let router = self
                .instances
                .get(which)
                .map(|instance| instance.router.clone())
                .ok_or_else(|| "no instance".to_owned())?;
            self.faults.set_enabled(faulty);
            let reply = send(&router, request).await;
            self.faults.set_enabled(false);
            let reply = reply?;
            self.report.requests += 1;
            if reply.status.as_u16() >= 400 {
                reply
                    .check_problem()
                    .map_err(|e| format!("{} {}: {e}", request.method, request.path))?;
            }
            if reply.status.is_server_error() {
                if !faulty {
                    return Err(format!(
                        "{} {} answered {} on instance {which} with no fault injected (skews {:?} ms)",
                        request.method,
                        request.path,
                        reply.short(),
                        self.skews_ms
                    ));
                }
                self.report.retries += 1;
                continue;
            }
            *self
                .report
                .statuses
                .entry(reply.status.as_u16())
                .or_default() += 1;
            return Ok(answer_of(&reply));
        }
        Err(format!(
            "{} {}: no definitive answer",
            request.method, request.path
        ))
    }

    async fn read(&self, path: String) -> Result<Reply, String> {
        self.faults.set_enabled(false);
        let reply = send(
            &self.verifier.router,
            &ApiRequest::new(Method::GET, path.clone(), Some(ADMIN_KEY)),
        )
        .await?;
        if reply.status.as_u16() != 200 {
            return Err(format!("GET {path} answered {}", reply.short()));
        }
        Ok(reply)
    }

    // ------------------------------------------------------------------ checks

    async fn version(&self, account: &str) -> Result<u64, String> {
        Ok(self
            .faults
            .inner()
            .load(account)
            .await
            .map_err(|e| format!("loading the account: {e}"))?
            .map_or(0, |record| record.version))
    }

    async fn advanced_to(&self, account: &str) -> Result<Option<DateTime<Utc>>, String> {
        let record = self
            .faults
            .inner()
            .load(account)
            .await
            .map_err(|e| format!("loading the account: {e}"))?;
        Ok(record.and_then(|record| {
            record
                .state
                .get("advanced_to")
                .and_then(Value::as_str)
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|at| at.with_timezone(&Utc))
        }))
    }

    /// New entries, then the balance, against the model; half the time (and when `force`)
    /// the account is first materialised up to `T`, so balances must equal Σ entries.
    async fn verify(&mut self, index: usize, force: bool) -> Result<(), String> {
        let account = self.life(index)?.id.clone();
        let path = self.life(index)?.path.clone();
        self.ingest(index).await?;
        let mut up_to_date = self.advanced_to(&account).await? == Some(self.now);
        if force || (!up_to_date && self.rng.random_bool(0.5)) {
            self.faults.set_enabled(false);
            credits_lambda::rollover::advance_account(&self.verifier.state, &account)
                .await
                .map_err(|e| format!("advancing account {index}: {e}"))?;
            self.ingest(index).await?;
            up_to_date = true;
        }
        let reply = self.read(format!("{path}/balance")).await?;
        self.model
            .check_balance(&account, &reply.json, self.now, up_to_date)?;
        if up_to_date {
            self.report.strict_balance_checks += 1;
        }
        Ok(())
    }

    /// The refusal is `limit-reached` on `buckets` and the account's balance lists at least
    /// that many buckets of credits (the credit line aside).
    async fn at_bucket_limit(&mut self, index: usize, answer: &Answer) -> Result<bool, String> {
        if answer.body.get("type").and_then(Value::as_str) != Some("limit-reached")
            || answer.body.get("limit").and_then(Value::as_str) != Some("buckets")
        {
            return Ok(false);
        }
        let path = self.life(index)?.path.clone();
        let reply = self.read(format!("{path}/balance")).await?;
        let held = reply
            .json
            .get("units")
            .and_then(Value::as_object)
            .map_or(0, |units| {
                units
                    .values()
                    .filter_map(|unit| unit.get("buckets").and_then(Value::as_array))
                    .flatten()
                    .filter(|bucket| {
                        bucket.get("kind").and_then(Value::as_str)
                            != Some(credits_ledger::OVERDRAFT_KIND)
                    })
                    .count()
            });
        // Buckets emptied at the refund's own instant still count until the next instant
        // but are not listed: allow a few.
        if held.saturating_add(4) < credits_ledger::limits::MAX_COMMAND_BUCKETS {
            return Err(format!(
                "a refund was refused at the bucket limit, but the balance lists {held} buckets: {}",
                answer.body
            ));
        }
        Ok(true)
    }

    /// Reads the entries after the last one the model saw; prices every new charge entry
    /// and checks no entry is after `T`.
    async fn ingest(&mut self, index: usize) -> Result<(), String> {
        let account = self.life(index)?.id.clone();
        let path = self.life(index)?.path.clone();
        let after = self.model.account(&account)?.last_cursor();
        let entries = self.entries_after(&path, after).await?;
        self.model.ingest_entries(&account, &entries)?;
        for entry in &entries {
            let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
            let at = DateTime::parse_from_rfc3339(field("at"))
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| format!("entry `{}` has no instant: {e}", field("id")))?;
            if at > self.now {
                return Err(format!(
                    "entry `{}` is dated {at}, after the latest clock {}: an instance decided in the future",
                    field("id"),
                    self.now
                ));
            }
            if field("type") != "charge" {
                continue;
            }
            let operation = field("operation").to_owned();
            let Some(units) = self.life_mut(index)?.unpriced.remove(&operation) else {
                continue;
            };
            let amount = model::decimal(entry.get("amount").unwrap_or(&Value::Null))?;
            let price = price_at(at);
            let expected = price * Decimal::from(units);
            if -amount != expected {
                return Err(format!(
                    "charge `{operation}` of {units} jobs at {at} cost {} credit; the version in force then prices it {expected} ({price} each)",
                    -amount
                ));
            }
            if price == price_at(self.generation_start) {
                self.report.priced_v1 += 1;
            } else {
                self.report.priced_v2 += 1;
            }
        }
        Ok(())
    }

    async fn entries_after(
        &self,
        path: &str,
        mut after: Option<String>,
    ) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        for _ in 0..100_000 {
            let cursor = after
                .as_deref()
                .map(|cursor| format!("&cursor={cursor}"))
                .unwrap_or_default();
            let reply = self
                .read(format!("{path}/entries?limit=1000{cursor}"))
                .await?;
            if let Some(entries) = reply.json.get("entries").and_then(Value::as_array) {
                all.extend(entries.iter().cloned());
            }
            match reply.json.get("next_cursor").and_then(Value::as_str) {
                Some(next) => {
                    if after.as_deref() == Some(next) {
                        return Err(format!("the entries of {path} do not page forward"));
                    }
                    after = Some(next.to_owned());
                }
                None => return Ok(all),
            }
        }
        Err(format!("the entries of {path} never end"))
    }

    /// Re-reads every history from the start (after learning what the first read commits: a
    /// history read catches the account up first).
    async fn audit_all(&mut self) -> Result<(), String> {
        for (index, life) in self.lives.clone().into_iter().enumerate() {
            self.ingest(index).await?;
            let entries = self.entries_after(&life.path, None).await?;
            self.model.audit_history(&life.id, &entries)?;
        }
        Ok(())
    }
}

fn request_units(request: &ApiRequest) -> u64 {
    request
        .body
        .as_deref()
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .and_then(|body| body.pointer("/inputs/units").and_then(Value::as_u64))
        .unwrap_or(0)
}
