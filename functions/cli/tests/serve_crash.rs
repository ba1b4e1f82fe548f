//! `credits serve` killed with SIGKILL under concurrent load, then restarted on the same
//! SQLite file: every request answered 201 is there, nothing else is, and every account's
//! balance is the sum of its entries.
//!
//! The server runs the shipped rate books (`rates/`) on a free loopback port over a
//! temporary database. Eight `imini/credit_line` accounts get a large top-up; then 16
//! concurrent clients send charges, top-ups and refunds (of charges answered 201), each
//! under a unique id, and record every outcome: answered (201 or a refusal), unknown (the
//! connection broke or a 5xx came back: the request may or may not have been committed),
//! or not delivered (the connection was refused: the server never saw it). Once 300
//! requests were answered the server is killed with SIGKILL (`Child::kill`), mid-flight.
//!
//! Then, before the restart, the file is opened read-only and `PRAGMA integrity_check` must
//! answer `ok`. After the restart, through the HTTP API:
//! * per account, available + held = Σ entries, per unit, as the crash left it;
//! * every entry belongs to a request that was answered 201 or whose outcome is unknown
//!   (never to a refused, undelivered or never-sent id);
//! * every 201 has exactly its entries (a charge's sum to minus what it said it charged, a
//!   top-up's to what it credited, a refund's to what it refunded), and replaying it (same
//!   id, same body) answers 201 with the original body, writing nothing;
//! * an unknown id is all there or all absent: with entries, its replay answers 201 with a
//!   body its entries match; without, its replay decides afresh (and, if 201, writes
//!   exactly its entries);
//! * after the replays, balance = Σ entries again.
//!
//! The second test runs the same load on ONE hot account (every client charges, tops up and
//! refunds it), where `credits serve` commits the charges and top-ups queued on the account
//! as groups (`credits_api::group`): a group is all there or all absent, and its members are
//! answered only after it is durable. It serves a copy of `rates/` without the plans'
//! `limit N requests per minute` lines (as `scripts/bench-serve.sh` does), so the load is
//! not refused by the plan's rate limit.
//!
//! Documented in RELIABILITY.md ("Crash and restart").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use common::{Server, rates_dir, serve_command};

const ADMIN_KEY: &str = "serve-crash-admin-key-0123456789";
const PLAN: &str = "imini/credit_line";
/// Accounts of the spread test; the hot-account test has one.
const ACCOUNTS: usize = 8;
const CLIENTS: usize = 16;
/// The server is killed once this many requests were answered.
const KILL_AFTER_ANSWERS: u64 = 300;
/// Load, kill and restart this many times over the same file.
const ROUNDS: usize = 3;
/// Bounds of the load: requests per client, and time.
const MAX_REQUESTS_PER_CLIENT: usize = 200;
const LOAD_DEADLINE: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one test varies: how many accounts the load spreads over, and the rate books.
struct Scenario {
    accounts: usize,
    rates: PathBuf,
}

/// A copy of `rates/` in `dir` without the plans' request-rate limits.
fn rates_without_rate_limits(dir: &Path) -> PathBuf {
    let copy = dir.join("rates");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(rates_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "rates") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                let rate = line.contains(" requests per ") || line.contains(" request per ");
                !(line.starts_with("limit ") && rate)
            })
            .collect();
        std::fs::write(copy.join(path.file_name().unwrap()), kept.join("\n") + "\n").unwrap();
    }
    copy
}

fn start_server(db: &Path, rates: &Path) -> Server {
    let mut command = serve_command(db, rates, ADMIN_KEY);
    // `CRASH_LOG` (a `RUST_LOG` filter) shows more of the server, e.g. the groups it commits.
    command.env(
        "RUST_LOG",
        std::env::var("CRASH_LOG").unwrap_or_else(|_| "warn".to_owned()),
    );
    Server::start(command)
}

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
    /// The connection broke, or a 5xx: committed or not, nobody knows.
    Unknown(String),
    /// The connection was refused: the server never saw the request.
    NotDelivered,
}

#[derive(Default)]
struct Log {
    ops: Vec<(Op, Outcome)>,
}

struct Load {
    accounts: usize,
    http: reqwest::Client,
    url: String,
    answered: AtomicU64,
    stop: AtomicBool,
    log: Mutex<Log>,
    /// Charges answered 201, to refund: (account, charge id).
    charges: Mutex<Vec<(String, String)>>,
}

async fn post(http: &reqwest::Client, url: &str, op: &Op) -> Outcome {
    let sent = http
        .post(format!("{url}/v1/accounts/{}/{}", op.account, op.route))
        .bearer_auth(ADMIN_KEY)
        .json(&op.body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) if error.is_connect() => return Outcome::NotDelivered,
        Err(error) => return Outcome::Unknown(error.to_string()),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return Outcome::Unknown(format!("{status}, body lost: {error}")),
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match status {
        201 => Outcome::Applied(body),
        500.. => Outcome::Unknown(format!("{status} {body}")),
        _ => Outcome::Refused(status, body),
    }
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
            (0..15, _) => Op {
                account: account_name(rng.random_range(0..load.accounts)),
                route: "topups",
                id: format!("k{round}-w{worker}-t{step}"),
                body: json!({"id": format!("k{round}-w{worker}-t{step}"), "amount": format!("{}.{:02}", rng.random_range(1..500), rng.random_range(0..100))}),
            },
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
                    account: account_name(rng.random_range(0..load.accounts)),
                    route: "charges",
                    body: json!({
                        "id": id,
                        "feature": "image_generation",
                        "inputs": {"model": models[rng.random_range(0..models.len())], "outputs": rng.random_range(1..=4)},
                    }),
                    id,
                }
            }
        };
        let outcome = post(&load.http, &load.url, &op).await;
        if matches!(outcome, Outcome::Applied(_) | Outcome::Refused(..)) {
            load.answered.fetch_add(1, Ordering::SeqCst);
        }
        if op.route == "charges" && matches!(outcome, Outcome::Applied(_)) {
            load.charges
                .lock()
                .unwrap()
                .push((op.account.clone(), op.id.clone()));
        }
        load.log.lock().unwrap().ops.push((op, outcome));
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    let response = http.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET {url}: {body}");
    body
}

/// Every entry of `account`, through the API's paging.
async fn entries(http: &reqwest::Client, url: &str, account: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut page_url = format!("{url}/v1/accounts/{account}/entries?limit=1000");
        if let Some(cursor) = &cursor {
            page_url.push_str(&format!("&cursor={cursor}"));
        }
        let page = get(http, &page_url).await;
        all.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
    panic!("the entries of `{account}` never end");
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

/// Per account, available + held per unit must equal Σ entries per unit.
async fn check_balances(http: &reqwest::Client, url: &str, accounts: usize, when: &str) {
    for index in 0..accounts {
        let account = account_name(index);
        let all = entries(http, url, &account).await;
        let written = sums(&all.iter().collect::<Vec<_>>());
        let balance = get(http, &format!("{url}/v1/accounts/{account}/balance")).await;
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

/// The entries of `op` (by operation id), all accounts' entries read anew.
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

async fn all_entries(
    http: &reqwest::Client,
    url: &str,
    accounts: usize,
) -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for index in 0..accounts {
        let account = account_name(index);
        let list = entries(http, url, &account).await;
        all.insert(account, list);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_under_load_restarts_with_every_answered_request_and_nothing_else() {
    let scenario = Scenario {
        accounts: ACCOUNTS,
        rates: rates_dir(),
    };
    crash_and_restart(&scenario, tempfile::tempdir().unwrap()).await;
}

/// One account, every client on it: its charges and top-ups are committed in groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_under_load_on_one_hot_account_keeps_every_answered_group_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario {
        accounts: 1,
        rates: rates_without_rate_limits(dir.path()),
    };
    crash_and_restart(&scenario, dir).await;
}

/// Opens the accounts, then loads, kills and restarts [`ROUNDS`] times, checking each time.
async fn crash_and_restart(scenario: &Scenario, dir: tempfile::TempDir) {
    let started = Instant::now();
    let db = dir.path().join("credits.db");
    let mut server = start_server(&db, &scenario.rates);
    let http = reqwest::Client::new();

    // Accounts with a large top-up each.
    let mut log: Vec<(Op, Outcome)> = Vec::new();
    for index in 0..scenario.accounts {
        let account = account_name(index);
        let response = http
            .put(format!("{}/v1/accounts/{account}", server.url))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"plan": PLAN}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let op = Op {
            account: account.clone(),
            route: "topups",
            id: format!("{account}-opening"),
            body: json!({"id": format!("{account}-opening"), "amount": "100000"}),
        };
        let outcome = post(&http, &server.url, &op).await;
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
        log.push((op, outcome));
    }

    for round in 0..ROUNDS {
        let (next, round_log) = crash(&http, server, &db, scenario, round, &log).await;
        server = next;
        log.extend(round_log);
        check_after_restart(&http, &server.url, scenario.accounts, &mut log, round).await;
    }
    eprintln!(
        "{ROUNDS} crashes and restarts checked in {:.1?}",
        started.elapsed()
    );
}

/// Runs the load on `server`, kills it with SIGKILL once enough was answered, checks the
/// file with SQLite, and restarts on it. Returns the new server and this round's requests.
async fn crash(
    http: &reqwest::Client,
    mut server: Server,
    db: &Path,
    scenario: &Scenario,
    round: usize,
    earlier: &[(Op, Outcome)],
) -> (Server, Vec<(Op, Outcome)>) {
    let started = Instant::now();
    let charges = earlier
        .iter()
        .filter(|(op, outcome)| op.route == "charges" && matches!(outcome, Outcome::Applied(_)))
        .map(|(op, _)| (op.account.clone(), op.id.clone()))
        .collect();
    let load = Arc::new(Load {
        accounts: scenario.accounts,
        http: http.clone(),
        url: server.url.clone(),
        answered: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        log: Mutex::new(Log::default()),
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
    // `Child::kill` is SIGKILL on Unix: no shutdown, no flush, mid-request.
    server.child.kill().unwrap();
    let status = server.child.wait().unwrap();
    load.stop.store(true, Ordering::SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert!(!status.success(), "the server was not killed: {status}");
    drop(server);

    // The file, straight with SQLite, before anything opens it for writing.
    {
        let connection =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let verdict: Vec<String> = connection
            .prepare("PRAGMA integrity_check")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(verdict, ["ok"], "integrity_check after SIGKILL");
    }

    let ops = std::mem::take(&mut load.log.lock().unwrap().ops);
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (op, outcome) in &ops {
        let kind = match outcome {
            Outcome::Applied(_) => "201".to_owned(),
            Outcome::Refused(status, body) => {
                format!(
                    "{status} {} {}",
                    op.route,
                    body["type"].as_str().unwrap_or("")
                )
            }
            Outcome::Unknown(why) if why.starts_with('5') => {
                eprintln!("round {round}: `{}` answered {why}", op.id);
                "unknown (5xx)".to_owned()
            }
            Outcome::Unknown(_) => "unknown (connection broke)".to_owned(),
            Outcome::NotDelivered => "not delivered".to_owned(),
        };
        *tally.entry(kind).or_default() += 1;
    }
    eprintln!(
        "round {round}: killed after {:.1?} and {} requests: {tally:?}",
        started.elapsed(),
        ops.len()
    );
    (start_server(db, &scenario.rates), ops)
}

/// The checks after a restart (see the top of the file). Unknown outcomes are replayed and
/// replaced by the replay's answer, so that later rounds know them.
async fn check_after_restart(
    http: &reqwest::Client,
    url: &str,
    accounts: usize,
    log: &mut [(Op, Outcome)],
    round: usize,
) {
    let when = format!("round {round}");
    check_balances(http, url, accounts, &format!("{when}, after the restart")).await;

    // Every entry belongs to a 201 or an unknown outcome: never to a refused, undelivered
    // or never-sent id.
    let all = all_entries(http, url, accounts).await;
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
                "{when}: `{account}` has an entry of `{operation}`, which was refused, not delivered or never sent: {entry}\n{:?}",
                log.iter()
                    .find(|(op, _)| op.id == operation)
                    .map(|(_, outcome)| outcome)
            );
        }
    }

    // Every 201 has its entries, and its replay answers the original.
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
        match post(http, url, op).await {
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
        let replay = post(http, url, op).await;
        if before.is_empty() {
            unknown_absent += 1;
            if let Outcome::Applied(body) = &replay {
                let now = all_entries(http, url, accounts).await;
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
    let after = all_entries(http, url, accounts).await;
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
    check_balances(http, url, accounts, &format!("{when}, after the replays")).await;
    eprintln!(
        "{when}: {applied} answered 201 are there and replay identically; unknown outcomes: {unknown_there} there, {unknown_absent} absent"
    );
    assert!(
        applied >= 200 * (round + 1),
        "{when}: too little was applied to call it a load"
    );
}
