//! The deterministic simulation: thousands of random operations with random store faults and
//! random clock advances, driven through the real router exactly as a client would, checked
//! against the reference model ([`crate::model`]) after every step.
//!
//! A run ([`run`]):
//! 1. creates the accounts of [`profiles::PROFILES`] (a credit line, daily and monthly
//!    grants, two units per charge, rollover) and a key for each, without faults;
//! 2. for each step, moves the clock a little, picks an operation at random (charge, hold,
//!    capture, release, top-up, refund, replay of an applied request, a conflicting request
//!    under an applied id, quote, read, clock jump of minutes to weeks, a rollover walk,
//!    suspension, and once, closing an account) and sends it to a random instance of the
//!    deployment (two routers with their own caches over one store, as two Lambda instances
//!    are) through a [`FaultStore`] that loses requests and replies and delays calls;
//! 3. on a 5xx the client retries the SAME request (same id, same body) on any instance;
//!    after [`FAULTY_ATTEMPTS`] attempts faults are switched off, so every request gets a
//!    definitive answer, and a 5xx without a fault is a failure;
//! 4. after every step, with faults off, it reads the new entries and the balance of the
//!    accounts it touched and checks the model's invariants; every [`SimConfig::audit_every`]
//!    steps it re-reads every history from the start and checks nothing changed;
//! 5. at the end, it reads every account's events back from the store and checks them
//!    against the history: each grant, expiry, crossing and expired hold published once,
//!    nothing published without its entry ([`events`]);
//! 6. on a run given a webhook store ([`run_with_webhooks`]), the real delivery engine then
//!    drains the event feed to an endpoint registered before the run, through a receiver
//!    that verifies signatures and fails some attempts: every stored event is delivered, in
//!    `seq` order per account, with its stored body, and nothing else is ([`delivery`]).
//!
//! Everything random comes from one seed ([`SimConfig::seed`]); a run is sequential, so a
//! failing seed reproduces the same steps (`CREDITS_SIM_SEED=<seed>`).

pub mod delivery;
pub mod env;
pub mod events;
pub mod http;
pub mod lives;
pub mod profiles;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use ::http::Method;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use credits_store::Store;

use crate::faults::{FaultConfig, FaultCounts, FaultStore};
use crate::model::{self, Answer, Model, Mutation, Recorded, Route};
use env::{ADMIN_KEY, Deployment};
use http::{ApiRequest, Reply, send};
use profiles::{PROFILES, Profile, format_minor};

/// Attempts of one request with faults on; then faults are switched off.
pub const FAULTY_ATTEMPTS: u32 = 8;
/// Attempts of one request in all.
pub const MAX_ATTEMPTS: u32 = 10;
/// Steps remembered for a failure report.
const RECENT_STEPS: usize = 40;

/// What to run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub operations: u64,
    pub faults: FaultConfig,
    /// Routers (with their own caches) over the one store.
    pub instances: usize,
    /// Steps between full re-reads of every history.
    pub audit_every: u64,
}

impl SimConfig {
    /// `CREDITS_SIM_SEED` (else a random seed) and `CREDITS_SIM_OPS` (else `operations`),
    /// with the simulation's default faults and two instances.
    pub fn from_env(operations: u64) -> SimConfig {
        let seed = std::env::var("CREDITS_SIM_SEED")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or_else(rand::random);
        let operations = std::env::var("CREDITS_SIM_OPS")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(operations);
        SimConfig {
            seed,
            operations,
            faults: FaultConfig::SIMULATION,
            instances: 2,
            audit_every: 1000,
        }
    }
}

/// Per route: how requests ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteCounts {
    pub applied: u64,
    pub refused: u64,
    pub replayed: u64,
    pub conflicts: u64,
}

/// Counts how one mutation ended, per route, and a refusal by its problem type.
pub(crate) fn tally(
    routes: &mut BTreeMap<&'static str, RouteCounts>,
    refusals: &mut BTreeMap<String, u64>,
    route: Route,
    recorded: Recorded,
    answer: &Answer,
) {
    let counts = routes.entry(route.name()).or_default();
    match recorded {
        Recorded::Applied => counts.applied += 1,
        Recorded::Refused => counts.refused += 1,
        Recorded::Replayed => counts.replayed += 1,
        Recorded::Conflict => counts.conflicts += 1,
    }
    if recorded == Recorded::Refused {
        let kind = answer.problem_type().unwrap_or("?");
        *refusals
            .entry(format!("{} {kind}", route.name()))
            .or_default() += 1;
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    pub seed: u64,
    pub operations: u64,
    /// HTTP requests sent, retries included (verification reads not counted).
    pub requests: u64,
    /// Requests answered 5xx under an injected fault and retried.
    pub retries: u64,
    /// `<status> <problem type>` of the retried 5xx answers.
    pub retried_answers: BTreeMap<String, u64>,
    /// Definitive answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Refusals by problem type.
    pub refusals: BTreeMap<String, u64>,
    pub routes: BTreeMap<&'static str, RouteCounts>,
    pub faults: FaultCounts,
    pub entries: usize,
    pub clock_start: Option<DateTime<Utc>>,
    pub clock_end: Option<DateTime<Utc>>,
    pub rollover_walks: u64,
    pub strict_balance_checks: u64,
    /// Events read back at the end and checked against the history (0 when the store does
    /// not read events).
    pub events_checked: usize,
    /// The webhook delivery check ([`delivery`]), on a run given a webhook store.
    pub deliveries: Option<delivery::DeliveryCounts>,
    /// Of `elapsed`, the delivery check's share.
    pub delivery_elapsed: StdDuration,
    pub elapsed: StdDuration,
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} · {} operations in {:.1?}",
            self.seed, self.operations, self.elapsed
        )?;
        if let (Some(start), Some(end)) = (self.clock_start, self.clock_end) {
            writeln!(
                f,
                "simulated time: {start} → {end} ({} days)",
                (end - start).num_days()
            )?;
        }
        writeln!(
            f,
            "requests {} · retried 5xx {} · entries written {} · rollover walks {} · strict balance checks {} · events checked {}",
            self.requests,
            self.retries,
            self.entries,
            self.rollover_walks,
            self.strict_balance_checks,
            self.events_checked
        )?;
        if let Some(d) = &self.deliveries {
            writeln!(
                f,
                "webhooks: events delivered {} · attempts {} · failed on purpose and retried {} · redelivered {} · in {:.1?}",
                d.delivered, d.attempts, d.failed, d.duplicates, self.delivery_elapsed
            )?;
        }
        let c = &self.faults;
        writeln!(
            f,
            "faults: store calls {} · lost requests {} · lost replies {} (commits written then reported failed {}) · delays {}",
            c.calls, c.fail_before, c.fail_after, c.commits_written_then_failed, c.delays
        )?;
        for (route, counts) in &self.routes {
            writeln!(
                f,
                "  {route:<9} applied {:>5} · refused {:>5} · replayed {:>4} · conflicts {:>3}",
                counts.applied, counts.refused, counts.replayed, counts.conflicts
            )?;
        }
        writeln!(f, "definitive statuses: {:?}", self.statuses)?;
        writeln!(f, "refusals: {:?}", self.refusals)?;
        write!(f, "retried 5xx: {:?}", self.retried_answers)
    }
}

/// A violated invariant, with what is needed to reproduce it.
#[derive(Debug, Clone)]
pub struct SimFailure {
    pub seed: u64,
    pub step: u64,
    pub message: String,
    pub recent: Vec<String>,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation failed at step {} (seed {}):",
            self.step, self.seed
        )?;
        writeln!(f, "  {}", self.message)?;
        writeln!(
            f,
            "reproduce with: CREDITS_SIM_SEED={} cargo test -p credits-tests --test reliability_simulation",
            self.seed
        )?;
        writeln!(f, "last steps:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs a simulation over `store` (wrapped in a [`FaultStore`] here).
///
/// # Errors
/// The first violated invariant.
pub async fn run(config: &SimConfig, store: Arc<dyn Store>) -> Result<SimReport, SimFailure> {
    let started = Instant::now();
    let mut sim = match Sim::new(config, store) {
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
            sim.report.faults = sim.faults.counts();
            sim.report.elapsed = started.elapsed();
            sim.report.entries = sim
                .model
                .accounts()
                .map(model::AccountModel::entry_count)
                .sum();
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

/// [`run`], with webhook delivery checked too: an endpoint for every event type is
/// registered in `webhooks` (the same database as `store`) before the run, and at its end the
/// real delivery engine drains the event feed to it ([`delivery`]).
///
/// # Errors
/// The first violated invariant, delivery included.
pub async fn run_with_webhooks(
    config: &SimConfig,
    store: Arc<dyn Store>,
    webhooks: Arc<dyn credits_store::webhooks::WebhookStore>,
) -> Result<SimReport, SimFailure> {
    let failure = |message: String| SimFailure {
        seed: config.seed,
        step: config.operations,
        message,
        recent: Vec::new(),
    };
    let start = env::start_time().map_err(&failure)?;
    delivery::register(webhooks.as_ref(), start)
        .await
        .map_err(&failure)?;
    let mut report = run(config, store.clone()).await?;
    let end = report.clock_end.unwrap_or(start);
    let accounts: Vec<&str> = PROFILES.iter().map(|profile| profile.account).collect();
    let checked = Instant::now();
    let counts = delivery::check(store, webhooks, &accounts, config.seed, end)
        .await
        .map_err(&failure)?;
    report.deliveries = Some(counts);
    report.delivery_elapsed = checked.elapsed();
    report.elapsed += report.delivery_elapsed;
    Ok(report)
}

struct Sim {
    config: SimConfig,
    rng: StdRng,
    faults: Arc<FaultStore>,
    deployment: Deployment,
    model: Model,
    /// Account → its key.
    keys: BTreeMap<String, String>,
    /// Applied mutations with an id, for replays and conflicts.
    applied: Vec<Mutation>,
    /// Applied charges and captures, per account, in order.
    charges: BTreeMap<String, Vec<String>>,
    /// (account, hold) → feature.
    hold_features: BTreeMap<(String, String), String>,
    suspended: bool,
    counter: u64,
    step: u64,
    recent: VecDeque<String>,
    report: SimReport,
}

fn method_of(route: Route) -> Method {
    if route == Route::Configure {
        Method::PUT
    } else {
        Method::POST
    }
}

impl Sim {
    fn new(config: &SimConfig, store: Arc<dyn Store>) -> Result<Sim, String> {
        let faults = Arc::new(FaultStore::new(
            store,
            config.faults,
            config.seed ^ 0x5eed_fa17,
        ));
        faults.set_enabled(false);
        let start = env::start_time()?;
        let deployment = Deployment::new(faults.clone(), config.instances, start)?;
        Ok(Sim {
            config: config.clone(),
            rng: StdRng::seed_from_u64(config.seed),
            faults,
            deployment,
            model: Model::new(),
            keys: BTreeMap::new(),
            applied: Vec::new(),
            charges: BTreeMap::new(),
            hold_features: BTreeMap::new(),
            suspended: false,
            counter: 0,
            step: 0,
            recent: VecDeque::new(),
            report: SimReport {
                seed: config.seed,
                operations: config.operations,
                clock_start: Some(start),
                ..SimReport::default()
            },
        })
    }

    fn now(&self) -> DateTime<Utc> {
        use credits_api::Clock;
        self.deployment.clock.now()
    }

    fn next_id(&mut self, account: &str, prefix: &str) -> String {
        self.counter += 1;
        format!("{account}-{prefix}{}", self.counter)
    }

    fn note(&mut self, line: String) {
        if self.recent.len() >= RECENT_STEPS {
            self.recent.pop_front();
        }
        self.recent.push_back(format!(
            "#{} {} {line}",
            self.step,
            self.now().format("%Y-%m-%d %H:%M:%S")
        ));
    }

    fn profile(&mut self) -> Profile {
        let index = self.rng.random_range(0..PROFILES.len());
        PROFILES
            .get(index)
            .or(PROFILES.first())
            .copied()
            .unwrap_or(profiles::FALLBACK)
    }

    async fn run_all(&mut self) -> Result<(), String> {
        self.setup().await?;
        let close_at = self.config.operations.saturating_mul(95) / 100;
        for step in 1..=self.config.operations {
            self.step = step;
            let tick = self.rng.random_range(0..=20);
            self.deployment.clock.advance(Duration::seconds(tick));
            if step == close_at {
                self.close("sim-rollover").await?;
            } else {
                self.one_step().await?;
            }
            if self.config.audit_every > 0 && step % self.config.audit_every == 0 {
                self.audit_all().await?;
            }
        }
        // The end: materialise every account up to now, so the strict check runs on each.
        for profile in PROFILES {
            self.materialise(profile.account).await?;
            self.verify(profile.account, None, true).await?;
        }
        self.audit_all().await?;
        let accounts: Vec<&str> = PROFILES.iter().map(|profile| profile.account).collect();
        self.report.events_checked = events::check(self.faults.inner().as_ref(), &accounts).await?;
        self.report.clock_end = Some(self.now());
        Ok(())
    }

    async fn setup(&mut self) -> Result<(), String> {
        let start = self.now();
        for profile in PROFILES {
            self.model.add_account(profile.account);
            if let Some((unit, line)) = profile.credit_line {
                let line: Decimal = line
                    .parse()
                    .map_err(|e| format!("credit line `{line}`: {e}"))?;
                self.model.set_credit_line(profile.account, unit, line)?;
            }
            let mut body = json!({ "plan": profile.plan });
            if profile.subscribed {
                set(
                    &mut body,
                    "subscription",
                    json!({
                        "status": "active",
                        "period": "monthly",
                        "anchor": start.to_rfc3339(),
                    }),
                );
            }
            let mutation = Mutation {
                route: Route::Configure,
                account: profile.account.to_owned(),
                id: None,
                path: format!("/v1/accounts/{}", profile.account),
                body,
                hold: None,
                charge: None,
            };
            let (answer, _) = self.mutate(mutation, Some(ADMIN_KEY.to_owned())).await?;
            // `PUT` sets state and records no operation: when a fault lost the reply of the
            // creating commit, the retry finds the account and answers 200 (updated).
            if answer.status != 201 && answer.status != 200 {
                return Err(format!(
                    "creating `{}` answered {} {}",
                    profile.account, answer.status, answer.body
                ));
            }
            let reply = self
                .request(
                    ApiRequest::new(Method::POST, "/v1/keys", Some(ADMIN_KEY))
                        .json(&json!({ "account": profile.account })),
                )
                .await?;
            let key = reply
                .json
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("creating a key answered {}", reply.short()))?;
            self.keys.insert(profile.account.to_owned(), key.to_owned());
            self.verify(profile.account, Some(&answer), false).await?;
        }
        Ok(())
    }

    /// An account key (half the time, on account routes) or the admin key.
    fn key_for(&mut self, account: &str, admin_only: bool) -> String {
        if !admin_only
            && self.rng.random_bool(0.5)
            && let Some(key) = self.keys.get(account)
        {
            return key.clone();
        }
        ADMIN_KEY.to_owned()
    }

    async fn one_step(&mut self) -> Result<(), String> {
        if self.suspended && self.rng.random_bool(0.1) {
            return self.toggle_suspension().await;
        }
        let profile = self.profile();
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=31 => self.charge(profile).await,
            32..=41 => self.hold(profile).await,
            42..=49 => self.settle(profile, Route::Capture).await,
            50..=54 => self.settle(profile, Route::Release).await,
            55..=63 => self.top_up(profile).await,
            64..=71 => self.refund(profile).await,
            72..=80 => self.replay().await,
            81..=83 => self.conflict().await,
            84..=86 => self.quote(profile).await,
            87..=88 => self.read(profile).await,
            89..=95 => self.jump().await,
            96..=98 => self.walk().await,
            _ => self.toggle_suspension().await,
        }
    }

    // ------------------------------------------------------------------ operations

    async fn charge(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let id = self.next_id(account, "c");
        let (feature, inputs) = profile.usage(&mut self.rng);
        let mut body = json!({ "id": id, "feature": feature, "inputs": inputs });
        if self.rng.random_bool(0.2) {
            set(
                &mut body,
                "project",
                json!(format!("p{}", self.rng.random_range(1..=3))),
            );
        }
        let mutation = Mutation {
            route: Route::Charge,
            account: account.to_owned(),
            id: Some(id),
            path: format!("/v1/accounts/{account}/charges"),
            body,
            hold: None,
            charge: None,
        };
        let key = self.key_for(account, false);
        self.mutate_and_verify(mutation, key).await
    }

    async fn hold(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let id = self.next_id(account, "h");
        let (feature, inputs) = profile.usage(&mut self.rng);
        let ttl = [30, 300, 900, 3600, 3600]
            .get(self.rng.random_range(0..5))
            .copied()
            .unwrap_or(600);
        let body = json!({ "id": id, "feature": feature, "inputs": inputs, "ttl_seconds": ttl });
        self.hold_features
            .insert((account.to_owned(), id.clone()), feature.to_owned());
        let mutation = Mutation {
            route: Route::Hold,
            account: account.to_owned(),
            id: Some(id),
            path: format!("/v1/accounts/{account}/holds"),
            body,
            hold: None,
            charge: None,
        };
        let key = self.key_for(account, false);
        self.mutate_and_verify(mutation, key).await
    }

    /// A capture or release: usually of an open hold, sometimes of a settled or expired one,
    /// or of one that never existed.
    async fn settle(&mut self, profile: Profile, route: Route) -> Result<(), String> {
        let account = profile.account;
        let now = self.now();
        let model = self.model.account(account)?;
        let open = model.open_holds(now);
        let all = model.all_holds();
        let roll = self.rng.random_range(0..10);
        let hold = if roll < 8 && !open.is_empty() {
            open.get(self.rng.random_range(0..open.len())).cloned()
        } else if roll < 9 && !all.is_empty() {
            all.get(self.rng.random_range(0..all.len())).cloned()
        } else {
            None
        };
        let hold = match hold {
            Some(hold) => hold,
            None => self.next_id(account, "nohold"),
        };
        let verb = if route == Route::Capture {
            "capture"
        } else {
            "release"
        };
        let explicit_id = self
            .rng
            .random_bool(0.3)
            .then(|| format!("{hold}-{verb}{}", self.rng.random_range(1..=2)));
        let mut body = serde_json::Map::new();
        if let Some(id) = &explicit_id {
            body.insert("id".to_owned(), json!(id));
        }
        if route == Route::Capture && self.rng.random_bool(0.5) {
            let feature = self
                .hold_features
                .get(&(account.to_owned(), hold.clone()))
                .cloned();
            if let Some(inputs) =
                feature.and_then(|feature| profile.usage_of(&mut self.rng, &feature))
            {
                body.insert("inputs".to_owned(), inputs);
            }
        }
        let body = if body.is_empty() && self.rng.random_bool(0.7) {
            Value::Null
        } else {
            Value::Object(body)
        };
        let mutation = Mutation {
            route,
            account: account.to_owned(),
            id: Some(explicit_id.unwrap_or_else(|| format!("{verb}:{hold}"))),
            path: format!("/v1/accounts/{account}/holds/{hold}/{verb}"),
            body,
            hold: Some(hold),
            charge: None,
        };
        let key = self.key_for(account, false);
        self.mutate_and_verify(mutation, key).await
    }

    async fn top_up(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let id = self.next_id(account, "t");
        let mut body = json!({ "id": id });
        if !profile.packages.is_empty() && self.rng.random_bool(0.1) {
            let package = profile
                .packages
                .get(self.rng.random_range(0..profile.packages.len()))
                .copied()
                .unwrap_or_default();
            set(&mut body, "package", json!(package));
        } else {
            let (unit, scale) = profile
                .units
                .get(self.rng.random_range(0..profile.units.len()))
                .copied()
                .unwrap_or(("credit", 0));
            let whole = profile.max_top_up.max(1);
            let minor = self.rng.random_range(1..=whole * 10_u64.pow(scale));
            let mut amount = format_minor(minor, scale);
            if self.rng.random_bool(0.03) {
                // One digit more than the unit's scale: must be refused, nothing written.
                amount = format!("{amount}{}", if scale == 0 { ".5" } else { "5" });
            }
            set(&mut body, "amount", json!(amount));
            if profile.units.len() > 1 || self.rng.random_bool(0.5) {
                set(&mut body, "unit", json!(unit));
            }
        }
        let mutation = Mutation {
            route: Route::TopUp,
            account: account.to_owned(),
            id: Some(id),
            path: format!("/v1/accounts/{account}/topups"),
            body,
            hold: None,
            charge: None,
        };
        self.mutate_and_verify(mutation, ADMIN_KEY.to_owned()).await
    }

    async fn refund(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let known = self.charges.get(account).cloned().unwrap_or_default();
        if known.is_empty() {
            return self.charge(profile).await;
        }
        // Mostly recent charges (inside the refund window), sometimes any.
        let recent_from = known.len().saturating_sub(30);
        let index = if self.rng.random_bool(0.8) {
            self.rng.random_range(recent_from..known.len())
        } else {
            self.rng.random_range(0..known.len())
        };
        let charge = known.get(index).cloned().unwrap_or_default();
        let id = self.next_id(account, "r");
        let reason = if self.rng.random_bool(0.9) {
            profile
                .reasons
                .get(self.rng.random_range(0..profile.reasons.len()))
                .copied()
                .unwrap_or_default()
        } else {
            profile.refused_reason
        };
        let mut body = json!({ "id": id, "charge": charge, "reason": reason });
        if self.rng.random_bool(0.6) {
            let refundable = self.model.account(account)?.refundable(&charge);
            let units: Vec<(String, Decimal)> = refundable.into_iter().collect();
            if let Some((unit, left)) = units
                .get(self.rng.random_range(0..units.len().max(1)))
                .cloned()
            {
                let scale = profile
                    .units
                    .iter()
                    .find(|(name, _)| *name == unit)
                    .map_or(0, |(_, scale)| *scale);
                let left_minor = (left * Decimal::from(10_u64.pow(scale)))
                    .trunc()
                    .to_string()
                    .parse::<u64>()
                    .unwrap_or(0);
                // Up to a quarter more than is left: those must be refused.
                let most = (left_minor + left_minor / 4).max(1);
                let minor = self.rng.random_range(1..=most);
                set(&mut body, "amount", json!(format_minor(minor, scale)));
                set(&mut body, "unit", json!(unit));
            }
        }
        let mutation = Mutation {
            route: Route::Refund,
            account: account.to_owned(),
            id: Some(id),
            path: format!("/v1/accounts/{account}/refunds"),
            body,
            hold: None,
            charge: Some(charge),
        };
        self.mutate_and_verify(mutation, ADMIN_KEY.to_owned()).await
    }

    /// The same request under an applied id again: the original answer, nothing written.
    async fn replay(&mut self) -> Result<(), String> {
        if self.applied.is_empty() {
            return Ok(());
        }
        let index = self.rng.random_range(0..self.applied.len());
        let Some(mutation) = self.applied.get(index).cloned() else {
            return Ok(());
        };
        let admin_only = matches!(mutation.route, Route::TopUp | Route::Refund | Route::Close);
        let key = self.key_for(&mutation.account, admin_only);
        self.mutate_and_verify(mutation, key).await
    }

    /// Another request under an applied id: 409, nothing written.
    async fn conflict(&mut self) -> Result<(), String> {
        if self.applied.is_empty() {
            return Ok(());
        }
        let index = self.rng.random_range(0..self.applied.len());
        let Some(original) = self.applied.get(index).cloned() else {
            return Ok(());
        };
        let Some(id) = original.id.clone() else {
            return Ok(());
        };
        let account = original.account.clone();
        let body = json!({ "id": id, "amount": "7", "unit": "credit" });
        if original.route == Route::TopUp && original.body == body {
            return Ok(());
        }
        let mutation = Mutation {
            route: Route::TopUp,
            account: account.clone(),
            id: Some(id),
            path: format!("/v1/accounts/{account}/topups"),
            body,
            hold: None,
            charge: None,
        };
        self.mutate_and_verify(mutation, ADMIN_KEY.to_owned()).await
    }

    async fn quote(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let (feature, inputs) = profile.usage(&mut self.rng);
        let key = self.key_for(account, false);
        let request = ApiRequest::new(
            Method::POST,
            format!("/v1/accounts/{account}/quotes"),
            Some(&key),
        )
        .json(&json!({ "feature": feature, "inputs": inputs }));
        self.read_only(account, request, "quote", false).await
    }

    async fn read(&mut self, profile: Profile) -> Result<(), String> {
        let account = profile.account;
        let key = self.key_for(account, false);
        let pick = self.rng.random_range(0..4);
        let path = match pick {
            0 => format!("/v1/accounts/{account}/balance"),
            1 => format!("/v1/accounts/{account}/entries?type=charge,refund&limit=50"),
            2 => format!("/v1/accounts/{account}/entries?format=csv"),
            _ => format!(
                "/v1/accounts/{account}/statements/{}",
                self.now().format("%Y-%m-%d")
            ),
        };
        let request = ApiRequest::new(Method::GET, path, Some(&key));
        // History reads (entries, CSV, statements) first commit what is due up to now.
        self.read_only(account, request, "read", pick != 0).await
    }

    /// A request that must write nothing (the account's version is the same after it), or,
    /// with `catches_up`, nothing but the catch-up entries of the instants due up to now,
    /// named after the read (`docs/reads.md`); the model learns those.
    async fn read_only(
        &mut self,
        account: &str,
        request: ApiRequest,
        what: &str,
        catches_up: bool,
    ) -> Result<(), String> {
        let before = self.version(account).await?;
        let answer = self.call(&request).await?;
        let after = self.version(account).await?;
        self.note(format!(
            "{what} {} {} → {}",
            request.method, request.path, answer.status
        ));
        if before != after {
            if !catches_up {
                return Err(format!(
                    "{what} {} wrote: the account went from version {before} to {after}",
                    request.path
                ));
            }
            let seen = self.model.account(account)?.last_cursor();
            let entries = self.entries_after(account, seen).await?;
            let operation = |entry: &Value| {
                entry
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            if let Some(entry) = entries
                .iter()
                .find(|entry| !operation(entry).starts_with("read:"))
            {
                return Err(format!(
                    "{what} {} wrote an entry that is not catch-up: {entry}",
                    request.path
                ));
            }
            self.model.ingest_entries(account, &entries)?;
        }
        if answer.status != 200 && !(answer.status == 409 && self.model.account(account)?.closed) {
            *self
                .report
                .refusals
                .entry(format!("{what} {}", answer.status))
                .or_default() += 1;
        }
        Ok(())
    }

    async fn jump(&mut self) -> Result<(), String> {
        let roll = self.rng.random_range(0..100);
        let seconds = match roll {
            0..=59 => self.rng.random_range(60..=3_600),
            60..=89 => self.rng.random_range(3_600..=86_400),
            90..=97 => self.rng.random_range(86_400..=4 * 86_400),
            _ => self.rng.random_range(5 * 86_400..=35 * 86_400),
        };
        self.deployment.clock.advance(Duration::seconds(seconds));
        self.note(format!("clock +{seconds}s"));
        Ok(())
    }

    /// The scheduled rollover walk, under faults (its failures are retried by the schedule).
    async fn walk(&mut self) -> Result<(), String> {
        let state = self.deployment.state()?.clone();
        self.faults.set_enabled(true);
        let walk = credits_lambda::rollover::Walk {
            segment: 0,
            segments: 1,
            cursor: None,
            max_accounts: 100,
        };
        let result =
            credits_lambda::rollover::run(&state, walk, None, &credits_lambda::rollover::LogOnly)
                .await;
        self.faults.set_enabled(false);
        self.report.rollover_walks += 1;
        let summary = match &result {
            Ok(report) => format!("advanced {} failed {}", report.advanced, report.failed),
            Err(error) => format!("error {error}"),
        };
        self.note(format!("rollover walk: {summary}"));
        for profile in PROFILES {
            self.verify(profile.account, None, false).await?;
        }
        Ok(())
    }

    async fn toggle_suspension(&mut self) -> Result<(), String> {
        let profile = PROFILES.first().copied().unwrap_or(profiles::FALLBACK);
        let status = if self.suspended {
            "active"
        } else {
            "suspended"
        };
        let mutation = Mutation {
            route: Route::Configure,
            account: profile.account.to_owned(),
            id: None,
            path: format!("/v1/accounts/{}", profile.account),
            body: json!({ "plan": profile.plan, "status": status }),
            hold: None,
            charge: None,
        };
        let (answer, _) = self.mutate(mutation, Some(ADMIN_KEY.to_owned())).await?;
        if answer.success() {
            self.suspended = !self.suspended;
        }
        self.verify(profile.account, Some(&answer), false).await
    }

    async fn close(&mut self, account: &str) -> Result<(), String> {
        let mutation = Mutation {
            route: Route::Close,
            account: account.to_owned(),
            id: Some(format!("{account}-close")),
            path: format!("/v1/accounts/{account}/close"),
            body: json!({ "id": format!("{account}-close") }),
            hold: None,
            charge: None,
        };
        self.mutate_and_verify(mutation, ADMIN_KEY.to_owned()).await
    }

    // ------------------------------------------------------------------ client

    async fn mutate_and_verify(&mut self, mutation: Mutation, key: String) -> Result<(), String> {
        let account = mutation.account.clone();
        let (answer, recorded) = self.mutate(mutation, Some(key)).await?;
        let fresh = (recorded == Recorded::Applied).then_some(&answer);
        self.verify(&account, fresh, false).await
    }

    /// Sends a mutation until it gets a definitive answer, and records it in the model.
    async fn mutate(
        &mut self,
        mutation: Mutation,
        key: Option<String>,
    ) -> Result<(Answer, Recorded), String> {
        let mut request = ApiRequest::new(
            method_of(mutation.route),
            mutation.path.clone(),
            key.as_deref(),
        );
        if !mutation.body.is_null() {
            request = request.json(&mutation.body);
        }
        let retries_before = self.report.retries;
        let answer = self.call(&request).await?;
        let now = self.now();
        let recorded = match self.model.record(&mutation, &answer, now) {
            Ok(recorded) => recorded,
            Err(violation) => {
                self.note(format!(
                    "{} {} {} {} → {} {} ← THIS STEP",
                    mutation.route.name(),
                    mutation.account,
                    mutation.id.as_deref().unwrap_or("-"),
                    mutation.body,
                    answer.status,
                    answer.body
                ));
                return Err(violation);
            }
        };
        tally(
            &mut self.report.routes,
            &mut self.report.refusals,
            mutation.route,
            recorded,
            &answer,
        );
        if recorded == Recorded::Applied && mutation.id.is_some() {
            if matches!(mutation.route, Route::Charge | Route::Capture)
                && let Some(id) = &mutation.id
            {
                self.charges
                    .entry(mutation.account.clone())
                    .or_default()
                    .push(id.clone());
            }
            self.applied.push(mutation.clone());
        }
        let retries = self.report.retries - retries_before;
        self.note(format!(
            "{} {} {} {} → {} {:?}{}",
            mutation.route.name(),
            mutation.account,
            mutation.id.as_deref().unwrap_or("-"),
            mutation.body,
            answer.status,
            recorded,
            if retries > 0 {
                format!(" after {retries} retries")
            } else {
                String::new()
            }
        ));
        Ok((answer, recorded))
    }

    /// One request until a definitive (non-5xx) answer: faults on for the first attempts,
    /// off for the last ones.
    async fn call(&mut self, request: &ApiRequest) -> Result<Answer, String> {
        for attempt in 0..MAX_ATTEMPTS {
            let faulty = attempt < FAULTY_ATTEMPTS;
            self.faults.set_enabled(faulty);
            let instance = self.rng.random_range(0..self.deployment.routers.len());
            let router = self
                .deployment
                .routers
                .get(instance)
                .ok_or_else(|| "no instance".to_owned())?;
            let reply = send(router, request).await;
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
                        "{} {} answered {} with no fault injected",
                        request.method,
                        request.path,
                        reply.short()
                    ));
                }
                self.report.retries += 1;
                let kind = format!(
                    "{} {} on {} {}",
                    reply.status.as_u16(),
                    reply.problem_type().unwrap_or("?"),
                    request.method,
                    route_pattern(&request.path)
                );
                *self.report.retried_answers.entry(kind).or_default() += 1;
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

    async fn request(&mut self, request: ApiRequest) -> Result<Reply, String> {
        let router = self.deployment.router()?.clone();
        self.faults.set_enabled(false);
        send(&router, &request).await
    }

    // ------------------------------------------------------------------ checks

    async fn version(&self, account: &str) -> Result<u64, String> {
        Ok(self
            .faults
            .inner()
            .load(account)
            .await
            .map_err(|e| format!("loading `{account}`: {e}"))?
            .map_or(0, |record| record.version))
    }

    /// Whether the account's last decision was at `now` (everything due is materialised).
    async fn up_to_date(&self, account: &str) -> Result<bool, String> {
        let record = self
            .faults
            .inner()
            .load(account)
            .await
            .map_err(|e| format!("loading `{account}`: {e}"))?;
        let Some(record) = record else {
            return Ok(false);
        };
        let advanced_to = record
            .state
            .get("advanced_to")
            .and_then(Value::as_str)
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|at| at.with_timezone(&Utc));
        Ok(advanced_to == Some(self.now()))
    }

    /// Runs the rollover function's per-account advance (no faults): the account is then
    /// materialised up to now.
    async fn materialise(&mut self, account: &str) -> Result<(), String> {
        let state = self.deployment.state()?.clone();
        self.faults.set_enabled(false);
        credits_lambda::rollover::advance_account(&state, account)
            .await
            .map(|_| ())
            .map_err(|e| format!("advancing `{account}`: {e}"))
    }

    /// Reads the account's new entries and balance (faults off) and checks the model's
    /// invariants. `fresh`: the answer of a request applied just now, whose balance must be
    /// the balance now. `force`: the account was just materialised.
    async fn verify(
        &mut self,
        account: &str,
        fresh: Option<&Answer>,
        force: bool,
    ) -> Result<(), String> {
        self.faults.set_enabled(false);
        self.ingest(account).await?;
        let mut up_to_date = force || self.up_to_date(account).await?;
        if !up_to_date && self.rng.random_bool(0.5) {
            self.materialise(account).await?;
            self.ingest(account).await?;
            up_to_date = true;
        }
        let reply = self
            .request(ApiRequest::new(
                Method::GET,
                format!("/v1/accounts/{account}/balance"),
                Some(ADMIN_KEY),
            ))
            .await?;
        if reply.status.as_u16() != 200 {
            return Err(format!(
                "GET balance of `{account}` answered {}",
                reply.short()
            ));
        }
        let now = self.now();
        self.model
            .check_balance(account, &reply.json, now, up_to_date)?;
        if up_to_date {
            self.report.strict_balance_checks += 1;
        }
        if let Some(answer) = fresh
            && let Some(said) = answer.body.get("balance").and_then(Value::as_object)
        {
            for (unit, amount) in said {
                let said = model::decimal(amount)?;
                let now_available = reply
                    .json
                    .pointer(&format!("/units/{unit}/available"))
                    .map(model::decimal)
                    .transpose()?;
                if now_available != Some(said) {
                    return Err(format!(
                        "`{account}`: the answer said {said} {unit} available, the balance now says {now_available:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads the entries after the last one the model saw, through the API.
    async fn ingest(&mut self, account: &str) -> Result<(), String> {
        let after = self.model.account(account)?.last_cursor();
        let entries = self.entries_after(account, after).await?;
        self.model.ingest_entries(account, &entries)
    }

    /// Every entry after the cursor `after` (`None`: from the start), through the API, page
    /// by page.
    async fn entries_after(
        &mut self,
        account: &str,
        mut after: Option<String>,
    ) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        for _ in 0..100_000 {
            let cursor = after
                .as_deref()
                .map(|cursor| format!("&cursor={cursor}"))
                .unwrap_or_default();
            let reply = self
                .request(ApiRequest::new(
                    Method::GET,
                    format!("/v1/accounts/{account}/entries?limit=1000{cursor}"),
                    Some(ADMIN_KEY),
                ))
                .await?;
            if reply.status.as_u16() != 200 {
                return Err(format!(
                    "GET entries of `{account}` answered {}",
                    reply.short()
                ));
            }
            if let Some(entries) = reply.json.get("entries").and_then(Value::as_array) {
                all.extend(entries.iter().cloned());
            }
            match reply.json.get("next_cursor").and_then(Value::as_str) {
                Some(next) => {
                    if after.as_deref() == Some(next) {
                        return Err(format!("the entries of `{account}` do not page forward"));
                    }
                    after = Some(next.to_owned());
                }
                None => return Ok(all),
            }
        }
        Err(format!("the entries of `{account}` never end"))
    }

    /// Re-reads every history from the start and checks it is exactly what was seen (after
    /// learning what the first read commits: a history read catches the account up first).
    async fn audit_all(&mut self) -> Result<(), String> {
        for profile in PROFILES {
            self.ingest(profile.account).await?;
            let entries = self.entries_after(profile.account, None).await?;
            self.model.audit_history(profile.account, &entries)?;
        }
        Ok(())
    }
}

/// `/v1/accounts/sim-line/holds/h1/capture?x` → `/v1/accounts/{account}/holds/{hold}/capture`.
fn route_pattern(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let previous = index.checked_sub(1).and_then(|i| parts.get(i)).copied();
        out.push(match previous {
            Some("accounts") => "{account}",
            Some("holds") => "{hold}",
            Some("statements") => "{cycle}",
            Some("keys") => "{id}",
            _ => part,
        });
    }
    out.join("/")
}

/// Sets a member of a JSON object (nothing happens to anything else).
fn set(body: &mut Value, name: &str, value: Value) {
    if let Some(map) = body.as_object_mut() {
        map.insert(name.to_owned(), value);
    }
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
