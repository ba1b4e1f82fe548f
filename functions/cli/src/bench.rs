//! `credits bench`: drive charges through the HTTP API with concurrent clients.
//!
//! It sets up an account (admin key) on a plan, mints a key for that account, quotes one
//! charge to learn its price, tops the account up with enough credits for every charge, and
//! then runs `--clients` tasks that each send `--charges` charges with distinct ids. With
//! `--retry-rate P` each successful charge is sent again with the same id and body with
//! probability P, and the replay must answer exactly the original response. At the end the
//! balance must have gone down by exactly the price of each distinct charge: no lost and no
//! doubled charge. It prints charges/s and latency percentiles.
//!
//! A plan's `limit N requests per minute` applies to the bench like to any client, and every
//! plan in `rates/` has one (the ledger enforces it; `credits serve` has no switch for it): to
//! measure throughput, serve a copy of the books without those lines, as
//! `scripts/bench-serve.sh` does.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};

/// How many times one request is re-sent after a transport error or a 5xx.
const MAX_ATTEMPTS: u32 = 8;
/// The longest `Retry-After` honoured on a 429, in seconds.
const MAX_RETRY_AFTER_SECONDS: u64 = 5;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Base URL of a running `credits serve`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin key (the one `credits serve` printed, or CREDITS_ADMIN_KEY).
    #[arg(long, env = "CREDITS_ADMIN_KEY", hide_env_values = true)]
    key: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: u32,
    /// Charges per client.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    charges: u32,
    /// The account to charge (created or updated); default: a fresh `bench-<time>` account.
    /// With `--accounts N`, the accounts `<account>-0` to `<account>-N-1`.
    #[arg(long)]
    account: Option<String>,
    /// Spread the clients over this many accounts (client `i` charges account `i mod N`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    accounts: u32,
    /// The plan, as `<book>/<plan>`.
    #[arg(long, default_value = "imentiv/enterprise")]
    plan: String,
    /// The feature charged.
    #[arg(long, default_value = "text_emotion")]
    feature: String,
    /// Inputs of the feature, `name=value` (repeatable).
    #[arg(long = "input", default_values_t = ["words=100".to_owned()])]
    inputs: Vec<String>,
    /// The channel, if the book has channels (the book's default channel when absent).
    #[arg(long)]
    channel: Option<String>,
    /// Probability (0 to 1) of sending each successful charge again with the same id.
    #[arg(long, default_value_t = 0.0)]
    retry_rate: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// What one client saw.
#[derive(Debug, Default)]
struct ClientReport {
    latencies_us: Vec<u64>,
    charged: u64,
    replays: u64,
    replay_mismatches: u64,
    rate_limited: u64,
    retried: u64,
    errors: u64,
    server_errors: u64,
    first_error: Option<String>,
}

pub fn run(args: BenchArgs) -> ExitCode {
    if !(0.0..=1.0).contains(&args.retry_rate) {
        eprintln!("error: `--retry-rate` must be between 0 and 1");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(bench(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// One charged account and its own key.
struct Target {
    account: String,
    key: String,
    /// Available before the run.
    before: Decimal,
}

struct Setup {
    client: reqwest::Client,
    base: String,
    targets: Vec<Target>,
    body: Value,
    price: Decimal,
}

async fn bench(args: BenchArgs) -> Result<bool, String> {
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients as usize)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis());
    let stem = args
        .account
        .clone()
        .unwrap_or_else(|| format!("bench-{run_id}"));
    let accounts = args.accounts.min(args.clients);
    let admin = &args.key;

    // 1. The usage charged.
    let mut inputs = serde_json::Map::new();
    for input in &args.inputs {
        let (name, value) = input
            .split_once('=')
            .ok_or_else(|| format!("`--input {input}` must read `name=value`"))?;
        inputs.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let mut usage = json!({ "feature": args.feature, "inputs": inputs });
    if let (Some(channel), Some(object)) = (&args.channel, usage.as_object_mut()) {
        object.insert("channel".to_owned(), Value::String(channel.clone()));
    }

    // 2. Each account, a key of its own, the price, and enough credits for every charge.
    let charges_per_account = u64::from(args.clients.div_ceil(accounts)) * u64::from(args.charges);
    let mut targets = Vec::new();
    let mut unit_price: Option<(String, Decimal)> = None;
    for index in 0..accounts {
        let account = if accounts == 1 {
            stem.clone()
        } else {
            format!("{stem}-{index}")
        };
        let (status, body) = send(
            &client,
            reqwest::Method::PUT,
            &format!("{base}/v1/accounts/{account}"),
            admin,
            Some(&json!({ "plan": args.plan })),
        )
        .await?;
        expect_success("create the account", status, &body)?;
        let (status, body) = send(
            &client,
            reqwest::Method::POST,
            &format!("{base}/v1/keys"),
            admin,
            Some(&json!({ "account": account })),
        )
        .await?;
        expect_success("create an account key", status, &body)?;
        let key = body
            .get("key")
            .and_then(Value::as_str)
            .ok_or("the key response has no `key`")?
            .to_owned();
        let (unit, price) = match &unit_price {
            Some(known) => known.clone(),
            None => {
                let known = quote(&client, &base, &account, &key, &usage).await?;
                unit_price = Some(known.clone());
                known
            }
        };
        let needed = price
            .checked_mul(Decimal::from(charges_per_account))
            .and_then(|n| n.checked_add(Decimal::ONE))
            .ok_or("the bench's total is too large")?;
        let (status, body) = send(
            &client,
            reqwest::Method::POST,
            &format!("{base}/v1/accounts/{account}/topups"),
            admin,
            Some(&json!({ "id": format!("bench-topup-{run_id}"), "unit": unit, "amount": needed.to_string() })),
        )
        .await?;
        expect_success("top the account up", status, &body)?;
        let before = available(&client, &base, &account, &key, &unit).await?;
        targets.push(Target {
            account,
            key,
            before,
        });
    }
    let (unit, price) = unit_price.ok_or("no account was set up")?;

    // 3. The run.
    let setup = Arc::new(Setup {
        client,
        base,
        targets,
        body: usage,
        price,
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_index in 0..args.clients {
        let setup = Arc::clone(&setup);
        let run_id = run_id.clone();
        let charges = args.charges;
        let retry_rate = args.retry_rate;
        tasks.push(tokio::spawn(async move {
            drive(&setup, &run_id, client_index, charges, retry_rate).await
        }));
    }
    let mut total = ClientReport::default();
    let mut charged_by_account = vec![0_u64; setup.targets.len()];
    for (client_index, task) in tasks.into_iter().enumerate() {
        let report = task
            .await
            .map_err(|error| format!("a client task failed: {error}"))?;
        if let Some(slot) = charged_by_account.get_mut(client_index % setup.targets.len()) {
            *slot += report.charged;
        }
        merge(&mut total, report);
    }
    let elapsed = started.elapsed();

    // 4. The balances after: exactly one price per distinct charge, on every account.
    let mut before = Decimal::ZERO;
    let mut after = Decimal::ZERO;
    let mut expected = Decimal::ZERO;
    let mut balance_ok = true;
    for (target, charged) in setup.targets.iter().zip(&charged_by_account) {
        let now = available(
            &setup.client,
            &setup.base,
            &target.account,
            &target.key,
            &unit,
        )
        .await?;
        let want = Decimal::from(*charged)
            .checked_mul(setup.price)
            .and_then(|spent| target.before.checked_sub(spent))
            .ok_or("the expected balance overflowed")?;
        balance_ok &= now == want;
        before += target.before;
        after += now;
        expected += want;
    }
    let total_charges = u64::from(args.clients) * u64::from(args.charges);
    let account = setup
        .targets
        .first()
        .map(|target| target.account.clone())
        .unwrap_or_default();

    total.latencies_us.sort_unstable();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let requests = total.latencies_us.len();
    #[allow(clippy::cast_precision_loss)]
    let charges_per_second = total.charged as f64 / seconds;
    #[allow(clippy::cast_precision_loss)]
    let requests_per_second = requests as f64 / seconds;
    let p50_ms = percentile_ms(&total.latencies_us, 50);
    let p99_ms = percentile_ms(&total.latencies_us, 99);
    let max_ms = percentile_ms(&total.latencies_us, 100);
    let ok = balance_ok && total.replay_mismatches == 0 && total.errors == 0;

    if args.json {
        let report = json!({
            "account": account,
            "accounts": accounts,
            "clients": args.clients,
            "charges_per_client": args.charges,
            "charged": total.charged,
            "replays": total.replays,
            "replay_mismatches": total.replay_mismatches,
            "rate_limited": total.rate_limited,
            "retried": total.retried,
            "errors": total.errors,
            "server_errors": total.server_errors,
            "elapsed_seconds": seconds,
            "charges_per_second": charges_per_second,
            "requests_per_second": requests_per_second,
            "p50_ms": p50_ms,
            "p99_ms": p99_ms,
            "max_ms": max_ms,
            "unit": unit,
            "price": price.to_string(),
            "balance_before": before.to_string(),
            "balance_after": after.to_string(),
            "balance_expected": expected.to_string(),
            "balance_ok": balance_ok,
            "first_error": total.first_error,
        });
        println!("{report}");
    } else {
        if accounts == 1 {
            println!("account            {account}");
        } else {
            println!("accounts           {accounts} ({stem}-0 ...)");
        }
        println!(
            "clients × charges  {} × {} = {total_charges}",
            args.clients, args.charges
        );
        println!("charged            {} in {seconds:.2} s", total.charged);
        println!("charges/s          {charges_per_second:.0}");
        println!("requests/s         {requests_per_second:.0} (replays included)");
        println!("latency            p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms, max {max_ms:.2} ms");
        println!(
            "replays            {} (mismatched: {})",
            total.replays, total.replay_mismatches
        );
        println!(
            "errors             {} (5xx: {}, retried: {}, rate limited: {})",
            total.errors, total.server_errors, total.retried, total.rate_limited
        );
        if let Some(error) = &total.first_error {
            println!("first error        {error}");
        }
        println!(
            "balance            {before} → {after} {unit} (expected {expected}): {}",
            if balance_ok { "ok" } else { "MISMATCH" }
        );
    }
    Ok(ok)
}

async fn drive(
    setup: &Setup,
    run_id: &str,
    client_index: u32,
    charges: u32,
    retry_rate: f64,
) -> ClientReport {
    let mut report = ClientReport::default();
    let Some(target) = setup
        .targets
        .get(client_index as usize % setup.targets.len().max(1))
    else {
        return report;
    };
    let url = format!("{}/v1/accounts/{}/charges", setup.base, target.account);
    for charge_index in 0..charges {
        let mut body = setup.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.insert(
                "id".to_owned(),
                Value::String(format!("bench-{run_id}-{client_index}-{charge_index}")),
            );
        }
        let Some((status, first)) = charge(setup, &target.key, &url, &body, &mut report).await
        else {
            continue;
        };
        if status != 201 {
            report.errors += 1;
            report
                .first_error
                .get_or_insert_with(|| format!("{status}: {first}"));
            continue;
        }
        report.charged += 1;
        if retry_rate > 0.0 && rand::random::<f64>() < retry_rate {
            report.replays += 1;
            match charge(setup, &target.key, &url, &body, &mut report).await {
                Some((201, again)) if again == first => {}
                Some((status, again)) => {
                    report.replay_mismatches += 1;
                    report.first_error.get_or_insert_with(|| {
                        format!("replay answered {status}: {again}, first: {first}")
                    });
                }
                None => {}
            }
        }
    }
    report
}

/// Send one charge, re-sending the same id after transport errors, 5xx and 429.
async fn charge(
    setup: &Setup,
    key: &str,
    url: &str,
    body: &Value,
    report: &mut ClientReport,
) -> Option<(u16, Value)> {
    for attempt in 1..=MAX_ATTEMPTS {
        let started = Instant::now();
        let result = setup
            .client
            .post(url)
            .bearer_auth(key)
            .json(body)
            .send()
            .await;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                report.retried += 1;
                if attempt == MAX_ATTEMPTS {
                    report.errors += 1;
                    report
                        .first_error
                        .get_or_insert_with(|| format!("transport: {error}"));
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        report.latencies_us.push(elapsed_us);
        if status == 429 {
            report.rate_limited += 1;
            let wait = retry_after.unwrap_or(1).min(MAX_RETRY_AFTER_SECONDS);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        if status >= 500 {
            report.server_errors += 1;
            report.retried += 1;
            report
                .first_error
                .get_or_insert_with(|| format!("{status}: {value}"));
            if attempt == MAX_ATTEMPTS {
                report.errors += 1;
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            continue;
        }
        return Some((status, value));
    }
    report.errors += 1;
    None
}

/// The unit and price of one charge of `usage` on `account`.
async fn quote(
    client: &reqwest::Client,
    base: &str,
    account: &str,
    key: &str,
    usage: &Value,
) -> Result<(String, Decimal), String> {
    let (status, quote) = send(
        client,
        reqwest::Method::POST,
        &format!("{base}/v1/accounts/{account}/quotes"),
        key,
        Some(usage),
    )
    .await?;
    expect_success("quote the charge", status, &quote)?;
    let amounts = quote
        .get("amounts")
        .and_then(Value::as_object)
        .ok_or("the quote has no `amounts`")?;
    if amounts.len() > 1 {
        return Err("the bench checks one unit; pick a feature that charges one unit".to_owned());
    }
    let (unit, price) = amounts
        .iter()
        .next()
        .ok_or("the quoted charge costs nothing; pick a feature with a price")?;
    let price = decimal(price).ok_or("the quote's amount is not a decimal")?;
    Ok((unit.clone(), price))
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|error| format!("cannot reach `{url}`: {error}"))?;
    let status = response.status().as_u16();
    let value = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, value))
}

fn expect_success(what: &str, status: u16, body: &Value) -> Result<(), String> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!(
            "cannot {what}: the server answered {status}: {body}"
        ))
    }
}

async fn available(
    client: &reqwest::Client,
    base: &str,
    account: &str,
    key: &str,
    unit: &str,
) -> Result<Decimal, String> {
    let (status, body) = send(
        client,
        reqwest::Method::GET,
        &format!("{base}/v1/accounts/{account}/balance"),
        key,
        None,
    )
    .await?;
    expect_success("read the balance", status, &body)?;
    body.get("units")
        .and_then(|units| units.get(unit))
        .and_then(|unit| unit.get("available"))
        .and_then(decimal)
        .ok_or_else(|| format!("the balance has no available `{unit}`: {body}"))
}

fn decimal(value: &Value) -> Option<Decimal> {
    value.as_str().and_then(|text| Decimal::from_str(text).ok())
}

fn merge(total: &mut ClientReport, report: ClientReport) {
    total.latencies_us.extend(report.latencies_us);
    total.charged += report.charged;
    total.replays += report.replays;
    total.replay_mismatches += report.replay_mismatches;
    total.rate_limited += report.rate_limited;
    total.retried += report.retried;
    total.errors += report.errors;
    total.server_errors += report.server_errors;
    if total.first_error.is_none() {
        total.first_error = report.first_error;
    }
}

/// The `p`th percentile (nearest rank) of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: usize) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (sorted_us.len() * p)
        .div_ceil(100)
        .clamp(1, sorted_us.len());
    let value = sorted_us.get(rank - 1).copied().unwrap_or_default();
    #[allow(clippy::cast_precision_loss)]
    let ms = value as f64 / 1000.0;
    ms
}
