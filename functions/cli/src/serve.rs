//! `credits serve`: the whole HTTP API on one machine, over the embedded SQLite store (or a
//! DynamoDB endpoint such as DynamoDB Local with `--dynamodb-endpoint`).
//!
//! At start it loads and checks every rate book in `--rates` (and refuses to start on any
//! error, printing every diagnostic), opens the store, makes sure an admin key exists, and
//! serves the same router the Lambdas run until Ctrl-C (or SIGTERM), finishing the requests
//! in flight.
//!
//! It also runs the cycle-rollover walk itself (`credits_api::rollover`, the Lambda's code),
//! every `--rollover-interval` seconds (default 60, `0`: never), over the same store and
//! account slots, so idle accounts' expiries, grants and cycle statements appear on time
//! without the scheduled Lambda. Each run's report is logged; shutdown stops the walk with
//! the server.
//!
//! Over SQLite it also serves the webhook routes and delivers events to the registered
//! endpoints, signed, from a task of its own (`webhooks`, `docs/webhooks.md`).
//!
//! The admin key: `CREDITS_ADMIN_KEY` (16 to 256 printable ASCII characters) when set;
//! otherwise, on the first start over a store, a key with id `admin` is created and printed
//! once (only its SHA-256 is stored). Keys are never logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use credits_api::auth::{self, BOOTSTRAP_ADMIN_KEY_ID};
use credits_api::rollover::{self, LogOnly, RolloverRequest, Run};
use credits_api::{ApiConfig, AppState};
use credits_dsl::library::RateLibrary;
use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_store::webhooks::WebhookStore;

/// The environment variable holding a static admin key.
pub const ADMIN_KEY_ENV: &str = "CREDITS_ADMIN_KEY";
/// Largest rate file read (the language's own limit is 256 KiB).
const MAX_RATE_FILE_BYTES: u64 = 1024 * 1024;
/// Most rate files read from the directory.
const MAX_RATE_FILES: usize = 256;
/// The longest `--rollover-interval`: a day (the walk is what makes idle days appear).
const MAX_ROLLOVER_INTERVAL_S: u64 = 86_400;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(
        long,
        default_value = "credits.db",
        conflicts_with = "dynamodb_endpoint"
    )]
    pub db: PathBuf,
    /// Serve over DynamoDB at this endpoint (e.g. DynamoDB Local at `http://127.0.0.1:8000`)
    /// instead of SQLite; the table is created if it does not exist.
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// The DynamoDB table (with `--dynamodb-endpoint`).
    #[arg(long, default_value = "credits", requires = "dynamodb_endpoint")]
    pub table: String,
    /// Directory of `.rates` files.
    #[arg(long, default_value = "rates")]
    pub rates: PathBuf,
    /// Seconds between two runs of the cycle-rollover walk over the store (`0`: never; at
    /// most a day).
    #[arg(
        long,
        env = "CREDITS_ROLLOVER_INTERVAL",
        default_value_t = 60,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(0..=MAX_ROLLOVER_INTERVAL_S)
    )]
    pub rollover_interval: u64,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
}

/// Where the store comes from.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite { path: PathBuf },
    DynamoDb { endpoint: String, table: String },
}

impl ServeArgs {
    fn store_config(&self) -> StoreConfig {
        match &self.dynamodb_endpoint {
            Some(endpoint) => StoreConfig::DynamoDb {
                endpoint: endpoint.clone(),
                table: self.table.clone(),
            },
            None => StoreConfig::Sqlite {
                path: self.db.clone(),
            },
        }
    }
}

/// Build the store the server runs on, with its webhook tables where it has them (SQLite).
///
/// # Errors
/// A sentence saying why the store cannot be opened.
pub async fn open_store(
    config: &StoreConfig,
) -> Result<(Arc<dyn Store>, Option<Arc<dyn WebhookStore>>), String> {
    match config {
        StoreConfig::Sqlite { path } => {
            let store = Arc::new(SqliteStore::open(path).map_err(|error| {
                format!("cannot open the database `{}`: {error}", path.display())
            })?);
            Ok((store.clone(), Some(store)))
        }
        StoreConfig::DynamoDb { endpoint, table } => {
            let store = credits_store_dynamodb::connect_local(endpoint, table)
                .await
                .map_err(|error| format!("cannot use table `{table}` at `{endpoint}`: {error}"))?;
            Ok((Arc::new(store), None))
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    init_tracing();
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
    runtime.block_on(serve(args))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(args: ServeArgs) -> ExitCode {
    let (books, rate_files) = match load_rates(&args.rates) {
        Ok((books, rate_files)) => (Arc::new(books), rate_files),
        Err(code) => return code,
    };
    // One process answers here, never buffered by a gateway: CSV exports stream whole. Many
    // clients may hit one account at once: their mutations are grouped into one commit each
    // round (`credits_api::group`; a store that cannot group, DynamoDB, commits one by one).
    let mut config = ApiConfig::default().with_streamed_csv().with_group_commit();
    let static_admin_key = std::env::var(ADMIN_KEY_ENV)
        .ok()
        .filter(|key| !key.is_empty());
    if let Some(key) = &static_admin_key {
        config = match config.with_static_admin_key(key) {
            Ok(config) => config,
            Err(message) => {
                eprintln!("error: `{ADMIN_KEY_ENV}` is not usable: {message}");
                return ExitCode::from(2);
            }
        };
    }
    let (store, webhook_store) = match open_store(&args.store_config()).await {
        Ok(opened) => opened,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    };
    if static_admin_key.is_none()
        && let Err(message) = ensure_admin_key(&store).await
    {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }

    let mut state = AppState::new(store.clone(), books).with_config(config);
    if let Some(webhook_store) = &webhook_store {
        state = crate::webhooks::serve_routes(state, webhook_store.clone(), &args.webhooks);
    }
    // The walk's segments and bounds, from the same variables as the Lambda's.
    let walk = match Run::resolve(RolloverRequest::default(), |name| std::env::var(name).ok()) {
        Ok(walk) => walk,
        Err(message) => {
            eprintln!("error: the rollover walk: {message}");
            return ExitCode::from(2);
        }
    };
    // The browser console (`/console`) beside the API; it shows the books loaded here.
    let router = credits_api::router(state.clone()).merge(credits_console::router(rate_files));
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on `{}`: {error}", args.addr);
            return ExitCode::from(1);
        }
    };
    let local = listener.local_addr().unwrap_or(args.addr);
    // Tests and scripts wait for this line (with `--addr 127.0.0.1:0` it names the port).
    println!("credits serve listening on http://{local}");
    tracing::info!(addr = %local, db = %args.db.display(), "serving");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Webhook delivery runs beside the server, never on a request's path.
    let deliverer = match &webhook_store {
        Some(webhook_store) => match crate::webhooks::start(
            store,
            webhook_store.clone(),
            &args.webhooks,
            stopped.clone(),
        ) {
            Ok(task) => Some(task),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let walker = (args.rollover_interval > 0).then(|| {
        tokio::spawn(rollover_timer(
            state,
            walk,
            Duration::from_secs(args.rollover_interval),
            stopped,
        ))
    });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
    if let Some(walker) = walker {
        // Stopped by the signal above; on a server error the task ends with the runtime.
        if served.is_ok() {
            let _ = walker.await;
        }
    }
    if let Some(deliverer) = deliverer
        && served.is_ok()
    {
        let _ = deliverer.await;
    }
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: the server failed: {error}");
            ExitCode::from(1)
        }
    }
}

/// Runs the rollover walk every `interval` until `stopped` turns true. A run cut short by
/// shutdown is dropped between two store calls: every commit is atomic and conditional, and
/// what the run did not reach is still due at the next start.
async fn rollover_timer(
    state: AppState,
    walk: Run,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(
        interval_s = interval.as_secs(),
        segments = walk.segments,
        "rollover walk scheduled"
    );
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    // A run longer than the interval delays the next one instead of starting a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = ticks.tick() => {}
        }
        let run = rollover::run_all(&state, walk.clone(), None, &LogOnly);
        let report = tokio::select! {
            _ = stopped.changed() => break,
            report = run => report,
        };
        let report_json = serde_json::to_string(&report).unwrap_or_default();
        if report.failed > 0 || !report.listing_errors().is_empty() {
            tracing::warn!(report = %report_json, "rollover run done with failures");
        } else {
            tracing::info!(
                listed = report.listed,
                advanced = report.advanced,
                unchanged = report.unchanged,
                entries = report.entries,
                complete = report.complete,
                report = %report_json,
                "rollover run done"
            );
        }
    }
    tracing::info!("rollover walk stopped");
}

/// Create and print the bootstrap admin key on the first start over a store.
async fn ensure_admin_key(store: &Arc<dyn Store>) -> Result<(), String> {
    let existing = store
        .key(BOOTSTRAP_ADMIN_KEY_ID)
        .await
        .map_err(|error| format!("cannot read the admin key: {error}"))?;
    if existing.is_some() {
        println!(
            "admin key: created on an earlier start (id `{BOOTSTRAP_ADMIN_KEY_ID}`); set {ADMIN_KEY_ENV} to use another"
        );
        return Ok(());
    }
    let minted =
        auth::mint_key_with_id(BOOTSTRAP_ADMIN_KEY_ID.to_owned(), None, chrono::Utc::now());
    match store.put_key(&minted.record).await {
        Ok(()) => {
            println!("admin key (shown once; keep it, only its hash is stored):");
            println!("  {}", minted.key);
            Ok(())
        }
        // Another process created it between our read and write: theirs stands.
        Err(credits_store::StoreError::KeyExists(_)) => Ok(()),
        Err(error) => Err(format!("cannot store the admin key: {error}")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}

/// Read every `*.rates` file of `dir` and check them all, each version of a book against
/// the one before it included (a version accounts stored under the earlier one cannot
/// follow stops the start); on errors print every diagnostic and answer the exit code.
/// The library comes with its files (`(file name, source)`), which the console shows.
fn load_rates(dir: &Path) -> Result<(RateLibrary, Vec<(String, String)>), ExitCode> {
    let sources = match read_rate_files(dir) {
        Ok(sources) => sources,
        Err(message) => {
            eprintln!("error: {message}");
            return Err(ExitCode::from(1));
        }
    };
    let count = sources.len();
    match RateLibrary::from_sources(sources.clone()) {
        Ok(library) => {
            tracing::info!(files = count, dir = %dir.display(), "rate books loaded and checked");
            Ok((library, sources))
        }
        Err(diagnostics) => {
            let errors: usize = diagnostics.iter().map(|d| d.len().max(1)).sum();
            for diagnostic in diagnostics {
                eprintln!("{:?}", miette::Report::new(diagnostic));
            }
            eprintln!(
                "error: the rate books in `{}` have {errors} error{}; not starting",
                dir.display(),
                if errors == 1 { "" } else { "s" }
            );
            Err(ExitCode::from(1))
        }
    }
}

fn read_rate_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        format!(
            "cannot read the rates directory `{}`: {error}",
            dir.display()
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rates"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("`{}` holds no `.rates` files", dir.display()));
    }
    if paths.len() > MAX_RATE_FILES {
        return Err(format!(
            "`{}` holds more than {MAX_RATE_FILES} `.rates` files",
            dir.display()
        ));
    }
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let size = std::fs::metadata(&path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?
            .len();
        if size > MAX_RATE_FILE_BYTES {
            return Err(format!("`{}` is larger than 1 MiB", path.display()));
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        sources.push((name, source));
    }
    Ok(sources)
}
