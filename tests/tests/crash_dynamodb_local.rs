//! DynamoDB Local killed with SIGKILL under concurrent load, then started again on the same
//! `-dbPath`: every request answered 201 is there, nothing else is, and every account's
//! balance is the sum of its entries.
//!
//! The API is the real router in process (two instances, each with its own caches, as two
//! Lambdas) over a `DynamoStore` on a DynamoDB Local that keeps its tables in a temporary
//! directory, with the workspace's rate books and a test clock. Eight `imini/credit_line`
//! accounts get a large top-up; then 16 concurrent clients send charges, top-ups and refunds
//! (of charges answered 201), each under a unique id, and record every outcome: 201, a
//! refusal (4xx), or unknown (a 5xx: the store failed somewhere, the commit may or may not
//! have landed). Once 300 requests were answered, DynamoDB Local is killed with SIGKILL,
//! mid-flight. It is started again on the same directory (a new port), and a new store and
//! new router instances (empty caches) check, through the HTTP API:
//! * per account, available + held = Σ entries, per unit, as the crash left it;
//! * every entry belongs to a request answered 201 or of unknown outcome (never to a refused
//!   or never-sent id);
//! * every 201 has exactly its entries (a charge's sum to minus what it said it charged, a
//!   top-up's to what it credited, a refund's to what it refunded), and replaying it answers
//!   201 with the original body, writing nothing;
//! * an unknown id is all there or all absent: with entries, its replay answers 201 with a
//!   body its entries match; without, its replay decides afresh;
//! * after the replays, balance = Σ entries again.
//!
//! One exception, DynamoDB Local's and not DynamoDB's: the emulator acknowledges a
//! transaction before it is durable, so a 201 answered within [`EMULATOR_DURABILITY_LAG`]
//! of the kill may be missing after the restart, but only whole (no entry, no idempotency
//! record, the balance without it; its replay decides afresh). Every other 201 must be
//! there. `crash_dynamodb_local_emulator.rs` shows the emulator doing it without the API.
//!
//! `ROUNDS` rounds (load, kill, restart, check) over the same directory. Documented in
//! RELIABILITY.md ("Crash and restart").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use credits_store::{
    AccountRecord, Commit, CommitOutcome, DuePage, EntryPage, EntryQuery, FactRecord, KeyRecord,
    OperationRecord, Store, StoreResult,
};
use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::sim::env::{ADMIN_KEY, Deployment, start_time};
use credits_tests::sim::http::{ApiRequest, send};

const PLAN: &str = "imini/credit_line";
const ACCOUNTS: usize = 8;
const CLIENTS: usize = 16;
const INSTANCES: usize = 2;
/// DynamoDB Local is killed once this many requests were answered.
const KILL_AFTER_ANSWERS: u64 = 300;
/// Kill, restart and check this many times over the same directory (one: each round takes
/// about 40 s here, DynamoDB Local commits about 20 transactions a second on disk).
const ROUNDS: usize = 1;
/// Bounds of the load: requests per client, and time.
const MAX_REQUESTS_PER_CLIENT: usize = 200;
const LOAD_DEADLINE: Duration = Duration::from_secs(90);
/// DynamoDB Local (unlike DynamoDB) acknowledges a transaction before it is durable: killed
/// within about 100 ms of the acknowledgement, it may come back without it, whole
/// (`crash_dynamodb_local_emulator.rs` shows it without the API). A 201 answered this long
/// before the kill must be there; one answered later may be missing, but only whole.
const EMULATOR_DURABILITY_LAG: Duration = Duration::from_secs(2);

/// One mutation as sent: its route, client id and body (a replay sends the same).
#[derive(Clone, Debug)]
struct Op {
    account: String,
    /// `charges`, `topups` or `refunds`.
    route: &'static str,
    id: String,
    body: Value,
}

#[derive(Clone, Debug)]
enum Outcome {
    /// 201 with this body.
    Applied(Value),
    /// A definitive answer other than 201 (a 4xx).
    Refused(u16, Value),
    /// A 5xx: committed or not, nobody knows.
    Unknown(String),
}

/// The store, with a log of every commit's outcome (for a failure's message: what the store
/// answered for a request that was answered 201 and then went missing).
struct Recording {
    inner: Arc<dyn Store>,
    commits: Mutex<Vec<String>>,
    started: Instant,
}

#[async_trait::async_trait]
impl Store for Recording {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        self.inner.load(account).await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        let what = format!(
            "`{}` v{} → v{} op {:?} ({} entries)",
            commit.account.account,
            commit.expected_version,
            commit.account.version,
            commit.operation.as_ref().map(|op| op.id.clone()),
            commit.entries.len()
        );
        let sent = self.started.elapsed();
        let outcome = self.inner.commit(commit).await;
        let said = match &outcome {
            Ok(CommitOutcome::Committed) => "committed".to_owned(),
            Ok(CommitOutcome::OperationExists(record)) => {
                format!("operation exists ({})", record.status)
            }
            Ok(other) => format!("{other:?}").chars().take(60).collect(),
            Err(error) => format!("error: {error}"),
        };
        self.commits.lock().unwrap().push(format!(
            "{what}: sent at {sent:.3?}, {said} at {:.3?}",
            self.started.elapsed()
        ));
        outcome
    }

    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        self.inner.operation(account, id).await
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

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_key(id, at).await
    }
}

/// The router instances of one run of DynamoDB Local, and the emulator itself.
struct Api {
    /// Behind a lock so that it can be killed while the load's tasks share the API.
    local: Mutex<DynamoDbLocal>,
    deployment: Deployment,
    store: Arc<Recording>,
    /// When it was killed, since `store.started`.
    killed_at: Mutex<Option<Duration>>,
}

impl Api {
    /// DynamoDB Local on `dir`, a store on `table` (created when `create`), and router
    /// instances at `now`.
    async fn start(dir: &std::path::Path, table: &str, create: bool, now: DateTime<Utc>) -> Api {
        let local = DynamoDbLocal::start_persistent(dir)
            .unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
        let client = local.client().await;
        if create {
            create_table(&client, table).await.unwrap_or_else(|e| {
                panic!("cannot create `{table}`: {e}\n{}", local.recent_output())
            });
        }
        let store = Arc::new(Recording {
            inner: Arc::new(DynamoStore::new(client, table.to_owned())),
            commits: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let deployment =
            Deployment::new(Arc::clone(&store) as Arc<dyn Store>, INSTANCES, now).unwrap();
        Api {
            local: Mutex::new(local),
            deployment,
            store,
            killed_at: Mutex::new(None),
        }
    }

    async fn post(&self, instance: usize, op: &Op) -> Outcome {
        let request = ApiRequest::new(
            Method::POST,
            format!("/v1/accounts/{}/{}", op.account, op.route),
            Some(ADMIN_KEY),
        )
        .json(&op.body);
        let router = &self.deployment.routers[instance % INSTANCES];
        let reply = send(router, &request).await.unwrap();
        match reply.status.as_u16() {
            201 => Outcome::Applied(reply.json),
            500.. => Outcome::Unknown(reply.short()),
            status => Outcome::Refused(status, reply.json),
        }
    }

    async fn get(&self, path: &str) -> Value {
        let reply = send(
            &self.deployment.routers[0],
            &ApiRequest::new(Method::GET, path, Some(ADMIN_KEY)),
        )
        .await
        .unwrap();
        assert_eq!(
            reply.status,
            200,
            "GET {path}: {}\n{}",
            reply.short(),
            self.local.lock().unwrap().recent_output()
        );
        reply.json
    }

    /// Every entry of `account`, through the API's paging.
    async fn entries(&self, account: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/v1/accounts/{account}/entries?limit=1000");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&path).await;
            all.extend(page["entries"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return all,
            }
        }
        panic!("the entries of `{account}` never end");
    }

    async fn all_entries(&self) -> BTreeMap<String, Vec<Value>> {
        let mut all = BTreeMap::new();
        for index in 0..ACCOUNTS {
            let account = account_name(index);
            let list = self.entries(&account).await;
            all.insert(account, list);
        }
        all
    }

    /// Per account, available + held per unit must equal Σ entries per unit.
    async fn check_balances(&self, when: &str) {
        for index in 0..ACCOUNTS {
            let account = account_name(index);
            let all = self.entries(&account).await;
            let written = sums(&all.iter().collect::<Vec<_>>());
            let balance = self.get(&format!("/v1/accounts/{account}/balance")).await;
            let mut kept = BTreeMap::new();
            for (unit, body) in balance["units"].as_object().unwrap() {
                let total = decimal(&body["available"]) + decimal(&body["held"]);
                if !total.is_zero() {
                    kept.insert(unit.clone(), total);
                }
            }
            assert_eq!(
                kept,
                written,
                "{when}: `{account}` holds {kept:?} (available + held) but its {} entries sum to {written:?}\nbalance: {balance}",
                all.len()
            );
        }
    }
}

struct Load {
    api: Arc<Api>,
    answered: AtomicU64,
    stop: AtomicBool,
    log: Mutex<Vec<(Op, Outcome)>>,
    /// When each 201 was answered, since `api.store.started`.
    answered_at: Mutex<BTreeMap<String, Duration>>,
    /// Charges answered 201, to refund: (account, charge id).
    charges: Mutex<Vec<(String, String)>>,
}

fn account_name(index: usize) -> String {
    format!("crash-{index}")
}

async fn client_task(load: Arc<Load>, round: usize, worker: usize) {
    let mut rng = StdRng::seed_from_u64((round * CLIENTS + worker) as u64 + 1);
    for step in 0..MAX_REQUESTS_PER_CLIENT {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        let roll = rng.random_range(0..100);
        let refundable = {
            let charges = load.charges.lock().unwrap();
            (!charges.is_empty()).then(|| charges[rng.random_range(0..charges.len())].clone())
        };
        let op = match (roll, refundable) {
            (0..15, _) => {
                let id = format!("k{round}-w{worker}-t{step}");
                let amount = format!(
                    "{}.{:02}",
                    rng.random_range(1..500),
                    rng.random_range(0..100)
                );
                Op {
                    account: account_name(rng.random_range(0..ACCOUNTS)),
                    route: "topups",
                    body: json!({"id": id, "amount": amount}),
                    id,
                }
            }
            (15..40, Some((account, charge))) => {
                let id = format!("k{round}-w{worker}-r{step}");
                let mut body = json!({"id": id, "charge": charge, "reason": "dispute"});
                if rng.random_bool(0.5) {
                    body["amount"] = json!("1.00");
                }
                Op {
                    account,
                    route: "refunds",
                    id,
                    body,
                }
            }
            _ => {
                let id = format!("k{round}-w{worker}-c{step}");
                let models = ["flux_schnell", "flux_pro", "seedream", "imagen"];
                Op {
                    account: account_name(rng.random_range(0..ACCOUNTS)),
                    route: "charges",
                    body: json!({
                        "id": id,
                        "feature": "image_generation",
                        "inputs": {
                            "model": models[rng.random_range(0..models.len())],
                            "outputs": rng.random_range(1..=4),
                        },
                    }),
                    id,
                }
            }
        };
        let outcome = load.api.post(worker, &op).await;
        if matches!(outcome, Outcome::Applied(_) | Outcome::Refused(..)) {
            load.answered.fetch_add(1, Ordering::SeqCst);
        }
        if matches!(outcome, Outcome::Applied(_)) {
            let at = load.api.store.started.elapsed();
            load.answered_at.lock().unwrap().insert(op.id.clone(), at);
        }
        if op.route == "charges" && matches!(outcome, Outcome::Applied(_)) {
            load.charges
                .lock()
                .unwrap()
                .push((op.account.clone(), op.id.clone()));
        }
        load.log.lock().unwrap().push((op, outcome));
    }
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a decimal: {value}")),
    )
    .unwrap_or_else(|error| panic!("`{value}`: {error}"))
}

/// Σ amount per unit of `entries`.
fn sums(entries: &[&Value]) -> BTreeMap<String, Decimal> {
    let mut sums = BTreeMap::new();
    for entry in entries {
        if let Some(unit) = entry["unit"].as_str() {
            *sums.entry(unit.to_owned()).or_insert(Decimal::ZERO) += decimal(&entry["amount"]);
        }
    }
    sums.retain(|_, sum| !sum.is_zero());
    sums
}

/// What the 201 body `body` of `op` says its entries sum to, per unit.
fn expected_sums(op: &Op, body: &Value) -> BTreeMap<String, Decimal> {
    let (field, sign) = match op.route {
        "charges" => ("charged", Decimal::NEGATIVE_ONE),
        "topups" => ("credited", Decimal::ONE),
        "refunds" => ("refunded", Decimal::ONE),
        other => panic!("unexpected route {other}"),
    };
    let mut sums: BTreeMap<String, Decimal> = body[field]
        .as_object()
        .unwrap_or_else(|| panic!("`{}`: no `{field}` in {body}", op.id))
        .iter()
        .map(|(unit, amount)| (unit.clone(), decimal(amount) * sign))
        .collect();
    sums.retain(|_, sum| !sum.is_zero());
    sums
}

/// The entries of `op` (by operation id) in `all`.
fn entries_of<'a>(all: &'a BTreeMap<String, Vec<Value>>, op: &Op) -> Vec<&'a Value> {
    all.get(&op.account)
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["operation"] == op.id.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the load, kills DynamoDB Local with SIGKILL once enough was answered, and returns
/// this round's requests.
async fn crash(
    api: Arc<Api>,
    round: usize,
    earlier: &[(Op, Outcome)],
) -> (Vec<(Op, Outcome)>, Vec<String>, BTreeSet<String>) {
    let started = Instant::now();
    let charges = earlier
        .iter()
        .filter(|(op, outcome)| op.route == "charges" && matches!(outcome, Outcome::Applied(_)))
        .map(|(op, _)| (op.account.clone(), op.id.clone()))
        .collect();
    let load = Arc::new(Load {
        api: Arc::clone(&api),
        answered: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        log: Mutex::new(Vec::new()),
        answered_at: Mutex::new(BTreeMap::new()),
        charges: Mutex::new(charges),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CLIENTS {
        tasks.spawn(client_task(Arc::clone(&load), round, worker));
    }
    let deadline = Instant::now() + LOAD_DEADLINE;
    while load.answered.load(Ordering::SeqCst) < KILL_AFTER_ANSWERS {
        assert!(
            Instant::now() < deadline,
            "only {} requests answered in {LOAD_DEADLINE:?}",
            load.answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // SIGKILL: DynamoDB Local gets no chance to flush or close anything.
    let status = load.api.local.lock().unwrap().kill().unwrap();
    *load.api.killed_at.lock().unwrap() = Some(load.api.store.started.elapsed());
    assert!(!status.success(), "DynamoDB Local was not killed: {status}");
    load.stop.store(true, Ordering::SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let ops = std::mem::take(&mut *load.log.lock().unwrap());
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (op, outcome) in &ops {
        let kind = match outcome {
            Outcome::Applied(_) => "201".to_owned(),
            Outcome::Refused(status, body) => format!(
                "{status} {} {}",
                op.route,
                body["type"].as_str().unwrap_or("")
            ),
            Outcome::Unknown(why) => {
                format!("unknown ({})", why.chars().take(3).collect::<String>())
            }
        };
        *tally.entry(kind).or_default() += 1;
    }
    eprintln!(
        "round {round}: killed after {:.1?} and {} requests: {tally:?}",
        started.elapsed(),
        ops.len()
    );
    let killed_at = api.killed_at.lock().unwrap().unwrap_or_default();
    let mut commits = std::mem::take(&mut *api.store.commits.lock().unwrap());
    commits.push(format!("killed at {killed_at:.3?}"));
    let may_be_lost = load
        .answered_at
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| **at + EMULATOR_DURABILITY_LAG > killed_at)
        .map(|(id, _)| id.clone())
        .collect();
    (ops, commits, may_be_lost)
}

/// The checks after a restart (see the top of the file). Unknown outcomes are replayed and
/// replaced by the replay's answer, so that later rounds know them.
async fn check_after_restart(
    api: &Api,
    log: &mut [(Op, Outcome)],
    commits: &[String],
    may_be_lost: &BTreeSet<String>,
    round: usize,
) {
    let when = format!("round {round}");
    api.check_balances(&format!("{when}, after the restart"))
        .await;

    // Every entry belongs to a 201 or an unknown outcome: never to a refused or never-sent id.
    let all = api.all_entries().await;
    let may_exist: BTreeSet<&str> = log
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Applied(_) | Outcome::Unknown(_)))
        .map(|(op, _)| op.id.as_str())
        .collect();
    for (account, list) in &all {
        for entry in list {
            let operation = entry["operation"].as_str().unwrap();
            assert!(
                may_exist.contains(operation),
                "{when}: `{account}` has an entry of `{operation}`, which was refused or never sent: {entry}\n{:?}",
                log.iter()
                    .find(|(op, _)| op.id == operation)
                    .map(|(_, outcome)| outcome)
            );
        }
    }

    // Every 201 has its entries (all missing ones are named at once, with their place in
    // the order the answers came), and its replay answers the original.
    let missing: Vec<String> = log
        .iter()
        .enumerate()
        .filter_map(|(index, (op, outcome))| match outcome {
            Outcome::Applied(original)
                if entries_of(&all, op).is_empty() && !may_be_lost.contains(&op.id) =>
            {
                Some(format!(
                    "  answer #{index} of {}: {} `{}` on `{}`, balance then {}",
                    log.len(),
                    op.route,
                    op.id,
                    op.account,
                    original["balance"]
                ))
            }
            _ => None,
        })
        .collect();
    let tail: Vec<&String> = commits.iter().rev().take(40).rev().collect();
    assert!(
        missing.is_empty(),
        "{when}: {} requests answered 201 have no entries after the restart:\n{}\nthe last commits before the kill:\n{tail:#?}",
        missing.len(),
        missing.join("\n")
    );

    // All or nothing, straight on the store: a request has entries if and only if it has
    // its idempotency record. A 201 lost in the emulator's last moments is then unknown.
    let mut lost = Vec::new();
    for (op, outcome) in log.iter_mut() {
        if !matches!(outcome, Outcome::Applied(_) | Outcome::Unknown(_)) {
            continue;
        }
        let record = api
            .store
            .inner
            .operation(&op.account, &op.id)
            .await
            .unwrap();
        let has_entries = !entries_of(&all, op).is_empty();
        assert_eq!(
            record.is_some(),
            has_entries,
            "{when}: `{}` ({outcome:?}): idempotency record {record:?}, entries {:?}",
            op.id,
            entries_of(&all, op)
        );
        if matches!(outcome, Outcome::Applied(_)) && !has_entries {
            lost.push(op.id.clone());
            *outcome = Outcome::Unknown("answered 201, lost in DynamoDB Local's crash".into());
        }
    }
    if !lost.is_empty() {
        eprintln!(
            "{when}: answered 201 within {EMULATOR_DURABILITY_LAG:?} of the kill and lost whole by DynamoDB Local: {lost:?}"
        );
    }

    let mut applied = 0;
    for (op, outcome) in log.iter() {
        let Outcome::Applied(original) = outcome else {
            continue;
        };
        applied += 1;
        let found = sums(&entries_of(&all, op));
        assert_eq!(
            found,
            expected_sums(op, original),
            "{when}: `{}` was answered 201 {original} but its entries after the restart sum to {found:?}",
            op.id
        );
        match api.post(applied, op).await {
            Outcome::Applied(replayed) => assert_eq!(
                &replayed, original,
                "{when}: the replay of `{}` answered another body",
                op.id
            ),
            other => panic!(
                "{when}: the replay of `{}` (answered 201) got {other:?}",
                op.id
            ),
        }
    }

    // An unknown outcome is all there or all absent.
    let mut unknown_there = 0;
    let mut unknown_absent = 0;
    for (op, outcome) in log.iter_mut() {
        if !matches!(outcome, Outcome::Unknown(_)) {
            continue;
        }
        let before = entries_of(&all, op);
        let replay = api.post(0, op).await;
        if before.is_empty() {
            unknown_absent += 1;
            if let Outcome::Applied(body) = &replay {
                let now = api.all_entries().await;
                assert_eq!(
                    sums(&entries_of(&now, op)),
                    expected_sums(op, body),
                    "{when}: `{}` (unknown, absent) was decided afresh {body} with other entries",
                    op.id
                );
            } else {
                assert!(
                    matches!(replay, Outcome::Refused(..)),
                    "{when}: `{}` (unknown, absent) replayed: {replay:?}",
                    op.id
                );
            }
        } else {
            unknown_there += 1;
            let Outcome::Applied(body) = &replay else {
                panic!(
                    "{when}: `{}` has entries {before:?} but its replay answered {replay:?}",
                    op.id
                );
            };
            assert_eq!(
                sums(&before),
                expected_sums(op, body),
                "{when}: `{}` (unknown, there): its replay answered {body} but its entries are {before:?}",
                op.id
            );
        }
        *outcome = replay;
    }

    // The replays of 201s wrote nothing; the books still balance.
    let after = api.all_entries().await;
    for (op, outcome) in log.iter() {
        if matches!(outcome, Outcome::Applied(_)) && !entries_of(&all, op).is_empty() {
            assert_eq!(
                entries_of(&after, op).len(),
                entries_of(&all, op).len(),
                "{when}: the replay of `{}` wrote entries",
                op.id
            );
        }
    }
    api.check_balances(&format!("{when}, after the replays"))
        .await;
    eprintln!(
        "{when}: {applied} answered 201 are there and replay identically; unknown outcomes: {unknown_there} there, {unknown_absent} absent"
    );
    assert!(
        applied >= 200 * (round + 1),
        "{when}: too little was applied to call it a load"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_local_killed_under_load_restarts_with_every_answered_request_and_nothing_else() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table_name("crash");
    // Each round's clock starts in a new rate-limit window (the plan allows 600 a minute).
    let at = |round: usize| start_time().unwrap() + chrono::Duration::minutes(2 * round as i64);
    let mut api = Arc::new(Api::start(dir.path(), &table, true, at(0)).await);

    // Accounts with a large top-up each.
    let mut log: Vec<(Op, Outcome)> = Vec::new();
    for index in 0..ACCOUNTS {
        let account = account_name(index);
        let reply = send(
            &api.deployment.routers[0],
            &ApiRequest::new(
                Method::PUT,
                format!("/v1/accounts/{account}"),
                Some(ADMIN_KEY),
            )
            .json(&json!({"plan": PLAN})),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 201, "{}", reply.short());
        let op = Op {
            account: account.clone(),
            route: "topups",
            id: format!("{account}-opening"),
            body: json!({"id": format!("{account}-opening"), "amount": "100000"}),
        };
        let outcome = api.post(0, &op).await;
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
        log.push((op, outcome));
    }

    for round in 0..ROUNDS {
        let (round_log, commits, may_be_lost) = crash(Arc::clone(&api), round, &log).await;
        log.extend(round_log);
        // The killed emulator's guard goes; a new one starts on the same directory.
        drop(api);
        api = Arc::new(
            Api::start(
                dir.path(),
                &table,
                false,
                at(round) + chrono::Duration::minutes(1),
            )
            .await,
        );
        check_after_restart(&api, &mut log, &commits, &may_be_lost, round).await;
    }
    eprintln!(
        "{ROUNDS} crashes and restarts checked in {:.1?}",
        started.elapsed()
    );
}
