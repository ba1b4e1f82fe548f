//! Races: many concurrent writers on ONE account, through four instances of the router (each
//! with its own per-account slots and cache, as four Lambda instances have) over one store:
//! charges, duplicated charges (the same request sent twice at once), holds then captures or
//! releases, two refunders going after the same charges, top-ups, and the cycle rollover
//! (the clock crosses a month boundary mid-race and the scheduled walk runs) — all at once.
//!
//! Every answer is fed to the reference model (`credits_tests::model`), which refuses a
//! doubled or lost operation, a refund beyond its charge, a capture beyond its hold. At the
//! end the account is materialised and its whole history must add up to its balance exactly,
//! and no request may have been answered 5xx.
//!
//! Run on SQLite (a file, WAL) and on DynamoDB Local (a table created from the SAM
//! template's declaration).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use credits_api::Clock;
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::faults::{FaultConfig, FaultStore};
use credits_tests::model::{Answer, Model, Mutation, Recorded, Route};
use credits_tests::sim::env::{ADMIN_KEY, Deployment};
use credits_tests::sim::http::{ApiRequest, send};

const ACCOUNT: &str = "race";
const PLAN: &str = "ai-engine/enterprise";
const INSTANCES: usize = 4;
const CHARGERS: usize = 6;
const CHARGES_PER_CHARGER: usize = 25;
const HOLDERS: usize = 2;
const HOLDS_PER_HOLDER: usize = 10;
const REFUNDERS: usize = 2;
const REFUNDS_PER_REFUNDER: usize = 15;
const TOP_UPS: usize = 12;
/// Attempts of one request answered `503 unavailable` (busy) before it counts as a failure.
const BUSY_ATTEMPTS: u32 = 10;

/// 50 seconds before February 2026: the race crosses the calendar cycle boundary.
fn race_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 10).unwrap()
}

#[derive(Default)]
struct Tally {
    requests: u64,
    /// `503 unavailable` answers retried (same id, same body).
    busy_retries: u64,
    five_hundreds: Vec<String>,
    applied: u64,
    refused: u64,
    replayed: u64,
    duplicate_pairs: u64,
    split_duplicates: Vec<String>,
}

struct Race {
    deployment: Deployment,
    model: Mutex<Model>,
    tally: Mutex<Tally>,
    charges: Mutex<Vec<String>>,
}

impl Race {
    fn router(&self, rng: &mut StdRng) -> axum::Router {
        self.deployment.routers[rng.random_range(0..INSTANCES)].clone()
    }

    /// Sends a mutation as a client does: a `503 unavailable` (the account stayed busy, with
    /// `Retry-After`) is retried with the same id and body, a few times; any other 5xx, or
    /// a 503 that does not go away, is a finding.
    async fn send(&self, rng: &mut StdRng, mutation: &Mutation) -> Answer {
        let method = if mutation.route == Route::Configure {
            Method::PUT
        } else {
            Method::POST
        };
        let mut request = ApiRequest::new(method, mutation.path.clone(), Some(ADMIN_KEY));
        if !mutation.body.is_null() {
            request = request.json(&mutation.body);
        }
        let mut attempts = 0;
        let reply = loop {
            attempts += 1;
            let router = self.router(rng);
            let reply = send(&router, &request).await.unwrap();
            self.tally.lock().unwrap().requests += 1;
            if reply.status.as_u16() == 503
                && reply.problem_type() == Some("unavailable")
                && attempts < BUSY_ATTEMPTS
            {
                self.tally.lock().unwrap().busy_retries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(1..=20)))
                    .await;
                continue;
            }
            break reply;
        };
        let mut tally = self.tally.lock().unwrap();
        if reply.status.is_server_error() {
            tally.five_hundreds.push(format!(
                "{} {} → {}",
                request.method,
                request.path,
                reply.short()
            ));
        }
        if reply.status.as_u16() >= 400 {
            reply.check_problem().unwrap();
        }
        Answer {
            status: reply.status.as_u16(),
            body: reply.json.clone(),
            retry_after: reply
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn record(&self, mutation: &Mutation, answer: &Answer) -> Recorded {
        if answer.status >= 500 {
            return Recorded::Refused;
        }
        let now = self.deployment.clock.now();
        let recorded = self.model.lock().unwrap().record(mutation, answer, now);
        let recorded = match recorded {
            Ok(recorded) => recorded,
            Err(violation) => {
                let history = futures_history(&self.deployment, mutation);
                panic!(
                    "{violation}\n(mutation {mutation:?})\nhistory of the ids involved:\n{history}"
                );
            }
        };
        let mut tally = self.tally.lock().unwrap();
        match recorded {
            Recorded::Applied => tally.applied += 1,
            Recorded::Refused => tally.refused += 1,
            Recorded::Replayed | Recorded::Conflict => tally.replayed += 1,
        }
        recorded
    }

    /// Sends and records; returns the answer.
    async fn apply(&self, rng: &mut StdRng, mutation: &Mutation) -> Answer {
        let answer = self.send(rng, mutation).await;
        self.record(mutation, &answer);
        answer
    }
}

/// The stored entries that name the mutation's id or hold, for a failure message (read on a
/// separate thread: this runs inside a panicking task).
fn futures_history(deployment: &Deployment, mutation: &Mutation) -> String {
    let store = Arc::clone(&deployment.store);
    let needles: Vec<String> = [
        mutation.id.clone(),
        mutation.hold.clone(),
        mutation.charge.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let snapshot = store.load(ACCOUNT).await.ok().flatten();
            let snapshot = snapshot.map(|record| {
                let holds: Vec<String> = record.state["holds"]
                    .as_array()
                    .map(|holds| holds.iter().map(|h| h["id"].to_string()).collect())
                    .unwrap_or_default();
                format!(
                    "snapshot v{} advanced_to {} holds {holds:?}\n",
                    record.version, record.state["advanced_to"]
                )
            });
            let entries = credits_tests::sim::env::all_entries(store.as_ref(), ACCOUNT)
                .await
                .unwrap_or_default();
            snapshot.unwrap_or_default()
                + &entries
                    .iter()
                    .filter(|e| {
                        e.entry_type == "refund"
                            || needles.iter().any(|n| {
                                e.id.contains(n.as_str()) || e.operation.contains(n.as_str())
                            })
                    })
                    .map(|e| {
                        let charge = e
                            .body
                            .get("charge")
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        format!(
                            "  #{} {} {} {} op={} {:?} {} {charge}",
                            e.seq, e.at, e.entry_type, e.id, e.operation, e.unit, e.amount_minor
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
        })
    })
    .join()
    .unwrap_or_default()
}

fn mutation(route: Route, path: String, id: Option<String>, body: Value) -> Mutation {
    Mutation {
        route,
        account: ACCOUNT.to_owned(),
        id,
        path,
        body,
        hold: None,
        charge: None,
    }
}

fn usage(rng: &mut StdRng) -> (&'static str, Value) {
    match rng.random_range(0..3) {
        0 => (
            "training",
            json!({"time": format!("{}m", rng.random_range(1..=30)), "data": "1 GB", "compute": "gpu"}),
        ),
        1 => (
            "inference",
            json!({"requests": rng.random_range(100..=5000)}),
        ),
        _ => (
            "data_processing",
            json!({"data": format!("{} GB", rng.random_range(1..=200))}),
        ),
    }
}

async fn charger(race: Arc<Race>, worker: usize) {
    let mut rng = StdRng::seed_from_u64(100 + worker as u64);
    for n in 0..CHARGES_PER_CHARGER {
        let id = format!("c-{worker}-{n}");
        let (feature, inputs) = usage(&mut rng);
        let m = mutation(
            Route::Charge,
            format!("/v1/accounts/{ACCOUNT}/charges"),
            Some(id.clone()),
            json!({"id": id, "feature": feature, "inputs": inputs}),
        );
        let applied = if rng.random_bool(0.25) {
            // The same request twice at once, on two instances (a client retrying early).
            let mut other_rng = StdRng::seed_from_u64(rng.random());
            let (first, second) =
                tokio::join!(race.send(&mut rng, &m), race.send(&mut other_rng, &m));
            race.tally.lock().unwrap().duplicate_pairs += 1;
            let successes: Vec<&Answer> = [&first, &second]
                .into_iter()
                .filter(|a| a.success())
                .collect();
            match successes.as_slice() {
                [] => {
                    race.record(&m, &first);
                    false
                }
                [one] => {
                    // One of the pair decided before the other committed and was refused:
                    // the charge happened once; the refusal is a stale answer, not a double.
                    let refused = if first.success() { &second } else { &first };
                    race.tally
                        .lock()
                        .unwrap()
                        .split_duplicates
                        .push(format!("{id}: {} and {}", one.status, refused.status));
                    race.record(&m, one);
                    true
                }
                [a, b] => {
                    assert_eq!(a, b, "two answers to the same request `{id}` differ");
                    race.record(&m, a);
                    race.record(&m, b);
                    true
                }
                _ => unreachable!(),
            }
        } else {
            race.apply(&mut rng, &m).await.success()
        };
        if applied {
            race.charges.lock().unwrap().push(id);
        }
    }
}

async fn holder(race: Arc<Race>, worker: usize) {
    let mut rng = StdRng::seed_from_u64(200 + worker as u64);
    for n in 0..HOLDS_PER_HOLDER {
        let id = format!("h-{worker}-{n}");
        let (feature, inputs) = usage(&mut rng);
        let m = mutation(
            Route::Hold,
            format!("/v1/accounts/{ACCOUNT}/holds"),
            Some(id.clone()),
            json!({"id": id, "feature": feature, "inputs": inputs, "ttl_seconds": 3600}),
        );
        if !race.apply(&mut rng, &m).await.success() {
            continue;
        }
        tokio::task::yield_now().await;
        let capture = rng.random_bool(0.6);
        let verb = if capture { "capture" } else { "release" };
        let mut settle = mutation(
            if capture {
                Route::Capture
            } else {
                Route::Release
            },
            format!("/v1/accounts/{ACCOUNT}/holds/{id}/{verb}"),
            Some(format!("{verb}:{id}")),
            Value::Null,
        );
        settle.hold = Some(id.clone());
        let answer = race.apply(&mut rng, &settle).await;
        if capture && answer.success() {
            race.charges.lock().unwrap().push(format!("capture:{id}"));
        }
    }
}

async fn refunder(race: Arc<Race>, worker: usize) {
    let mut rng = StdRng::seed_from_u64(300 + worker as u64);
    for n in 0..REFUNDS_PER_REFUNDER {
        tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(1..=15))).await;
        // Both refunders go after the same (oldest unrefunded-looking) charges, in full.
        let charge = {
            let charges = race.charges.lock().unwrap();
            if charges.is_empty() {
                continue;
            }
            charges[(n / 2) % charges.len()].clone()
        };
        let id = format!("r-{worker}-{n}");
        let mut m = mutation(
            Route::Refund,
            format!("/v1/accounts/{ACCOUNT}/refunds"),
            Some(id.clone()),
            json!({"id": id, "charge": charge, "reason": "internal_error"}),
        );
        m.charge = Some(charge);
        race.apply(&mut rng, &m).await;
    }
}

async fn topper(race: Arc<Race>) {
    let mut rng = StdRng::seed_from_u64(400);
    for n in 0..TOP_UPS {
        let id = format!("t-{n}");
        let amount = format!(
            "{}.{:02}",
            rng.random_range(1..=500),
            rng.random_range(0..100)
        );
        let m = mutation(
            Route::TopUp,
            format!("/v1/accounts/{ACCOUNT}/topups"),
            Some(id.clone()),
            json!({"id": id, "amount": amount}),
        );
        race.apply(&mut rng, &m).await;
        tokio::task::yield_now().await;
    }
}

/// Moves the clock across the cycle boundary mid-race and runs the scheduled walk twice.
async fn scheduler(race: Arc<Race>) {
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    race.deployment
        .clock
        .set(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 20).unwrap());
    let state = race.deployment.states[0].clone();
    for _ in 0..2 {
        let walk = credits_lambda::rollover::Walk {
            segment: 0,
            segments: 1,
            cursor: None,
            max_accounts: 10,
        };
        let report =
            credits_lambda::rollover::run(&state, walk, None, &credits_lambda::rollover::LogOnly)
                .await
                .unwrap();
        assert_eq!(report.failed, 0, "the rollover walk failed: {report:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn race_on(store: Arc<dyn Store>, label: &str) {
    race_with(store, label, false).await;
}

/// `grouped`: every instance commits its queued mutations of the account in groups.
async fn race_with(store: Arc<dyn Store>, label: &str, grouped: bool) {
    let jitter: Arc<dyn Store> =
        Arc::new(FaultStore::new(Arc::clone(&store), FaultConfig::JITTER, 11));
    let deployment = if grouped {
        Deployment::grouped(jitter, INSTANCES, race_start()).unwrap()
    } else {
        Deployment::new(jitter, INSTANCES, race_start()).unwrap()
    };
    let race = Arc::new(Race {
        deployment,
        model: Mutex::new(Model::new()),
        tally: Mutex::new(Tally::default()),
        charges: Mutex::new(Vec::new()),
    });
    {
        let mut model = race.model.lock().unwrap();
        model.add_account(ACCOUNT);
        model
            .set_credit_line(ACCOUNT, "credit", "5000".parse().unwrap())
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(1);
    let create = mutation(
        Route::Configure,
        format!("/v1/accounts/{ACCOUNT}"),
        None,
        json!({"plan": PLAN}),
    );
    assert_eq!(race.apply(&mut rng, &create).await.status, 201);

    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CHARGERS {
        tasks.spawn(charger(Arc::clone(&race), worker));
    }
    for worker in 0..HOLDERS {
        tasks.spawn(holder(Arc::clone(&race), worker));
    }
    for worker in 0..REFUNDERS {
        tasks.spawn(refunder(Arc::clone(&race), worker));
    }
    tasks.spawn(topper(Arc::clone(&race)));
    tasks.spawn(scheduler(Arc::clone(&race)));
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();

    // Materialise up to now, then the whole history must add up to the balance.
    let state = race.deployment.states[0].clone();
    credits_lambda::rollover::advance_account(&state, ACCOUNT)
        .await
        .unwrap();
    let router = race.deployment.routers[0].clone();
    let mut after = 0_u64;
    let mut entries: Vec<Value> = Vec::new();
    loop {
        let cursor = if after == 0 {
            String::new()
        } else {
            format!("&cursor={after}")
        };
        let reply = send(
            &router,
            &ApiRequest::new(
                Method::GET,
                format!("/v1/accounts/{ACCOUNT}/entries?limit=1000{cursor}"),
                Some(ADMIN_KEY),
            ),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.short());
        entries.extend(reply.json["entries"].as_array().unwrap().iter().cloned());
        match reply.json["next_cursor"].as_str() {
            Some(next) => after = next.parse().unwrap(),
            None => break,
        }
    }
    let balance = send(
        &router,
        &ApiRequest::new(
            Method::GET,
            format!("/v1/accounts/{ACCOUNT}/balance"),
            Some(ADMIN_KEY),
        ),
    )
    .await
    .unwrap();
    assert_eq!(balance.status, 200, "{}", balance.short());
    let now = race.deployment.clock.now();
    {
        let mut model = race.model.lock().unwrap();
        model
            .ingest_entries(ACCOUNT, &entries)
            .unwrap_or_else(|v| panic!("[{label}] {v}"));
        model
            .check_balance(ACCOUNT, &balance.json, now, true)
            .unwrap_or_else(|v| panic!("[{label}] {v}\nbalance: {}", balance.text));
    }
    let grants: Vec<&str> = entries
        .iter()
        .filter(|e| e["type"] == "grant")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let tally = race.tally.lock().unwrap();
    println!(
        "[{label}] {} requests in {elapsed:.1?} ({} busy retries): applied {} · refused {} · replayed {} · duplicate pairs {} (split {}: {:?}) · entries {} · grants {:?} · available {}",
        tally.requests,
        tally.busy_retries,
        tally.applied,
        tally.refused,
        tally.replayed,
        tally.duplicate_pairs,
        tally.split_duplicates.len(),
        tally.split_duplicates,
        entries.len(),
        grants,
        balance.json["units"]["credit"]["available"],
    );
    assert!(
        tally.five_hundreds.is_empty(),
        "[{label}] 5xx under concurrency:\n{}",
        tally.five_hundreds.join("\n")
    );
    assert_eq!(
        grants.len(),
        2,
        "[{label}] one grant per cycle (January and February): {grants:?}"
    );
    assert!(
        tally.applied > 100,
        "[{label}] too little was applied to call it a race"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_account_keep_exact_balances_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("race.db")).unwrap());
    race_on(store, "sqlite").await;
}

/// The same race with group commit on in every instance (as `credits serve` runs it): groups
/// of one instance lose races to the others' commits and are decided again, never landing on
/// a version they did not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_account_keep_exact_balances_with_group_commit_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("race.db")).unwrap());
    race_with(store, "sqlite, group commit", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_account_keep_exact_balances_on_dynamodb_local() {
    let local =
        DynamoDbLocal::shared().unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
    let client = local.client().await;
    let table = unique_table_name("races");
    let input = credits_tests::template::Template::load()
        .unwrap()
        .create_table_input(&table)
        .unwrap();
    client
        .create_table()
        .set_table_name(input.table_name().map(str::to_string))
        .set_billing_mode(input.billing_mode().cloned())
        .set_attribute_definitions(Some(input.attribute_definitions().to_vec()))
        .set_key_schema(Some(input.key_schema().to_vec()))
        .set_local_secondary_indexes(Some(input.local_secondary_indexes().to_vec()))
        .set_global_secondary_indexes(Some(input.global_secondary_indexes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot create `{table}` from the template: {e:?}\n{}",
                local.recent_output()
            )
        });
    let store: Arc<dyn Store> = Arc::new(credits_store_dynamodb::DynamoStore::new(client, table));
    race_on(store, "dynamodb").await;
}
