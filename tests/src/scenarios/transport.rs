//! The transports a [`Client`] runs over.
//!
//! * [`InProcess`]: the real router (`credits_api::router`) called with
//!   `tower::ServiceExt::oneshot`, over any store, with a [`FixedClock`] the scenario moves.
//! * [`Serve`]: a real `credits serve --dynamodb-endpoint URL --table T` child process on a
//!   free loopback port (`--addr 127.0.0.1:0`; the port is read from the line it prints),
//!   driven with reqwest. It is killed when dropped.
//!
//! Where the `credits` binary comes from ([`credits_binary`]): `CREDITS_BIN` when set (used
//! as is); otherwise `cargo build -p credits --bin credits` is run once per test binary,
//! into the target directory this test binary was built in (`<target>/<profile>/credits`),
//! so the server is never older than the sources. Cargo holds no lock while tests run, so
//! this nested build does not wait on the outer `cargo test`. If that build fails and a
//! binary is there, it is used with a warning; if there is none, the test fails saying how
//! to build it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use chrono::{DateTime, Utc};
use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::client::{ADMIN_KEY, Client, Reply, TimeSource, Transport};

/// The workspace root (the tests crate's parent directory).
///
/// # Errors
/// Never in practice.
pub fn workspace_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "the tests crate has no parent directory".to_owned())
}

/// Every `.rates` file of the workspace's `rates/`, checked.
///
/// # Errors
/// When the directory cannot be read or a book does not check.
pub fn library() -> Result<RateLibrary, String> {
    let dir = workspace_root()?.join("rates");
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path.extension().is_some_and(|ext| ext == "rates") {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let source = std::fs::read_to_string(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            sources.push((name, source));
        }
    }
    sources.sort();
    RateLibrary::from_sources(sources)
        .map_err(|diagnostics| format!("the rate books do not check: {diagnostics:?}"))
}

// ---------------------------------------------------------------------------------------
// In process

/// The real router over `store`, with a fixed clock.
pub struct InProcess {
    router: Router,
}

impl InProcess {
    /// A client over the router on `store`, its clock at `start`.
    ///
    /// # Errors
    /// When the rate books do not load or the admin key is refused.
    pub fn client(
        name: &str,
        store: Arc<dyn Store>,
        start: DateTime<Utc>,
    ) -> Result<Client, String> {
        let clock = Arc::new(FixedClock::new(start));
        let config = ApiConfig::default().with_static_admin_key(ADMIN_KEY)?;
        let state = AppState::new(store, Arc::new(library()?))
            .with_clock(clock.clone())
            .with_config(config);
        let transport = InProcess {
            router: credits_api::router(state),
        };
        Ok(Client::new(
            name,
            Box::new(transport),
            TimeSource::Fixed(clock),
        ))
    }

    /// Over a fresh in-memory SQLite store.
    ///
    /// # Errors
    /// As [`InProcess::client`], or when SQLite does not open.
    pub fn sqlite(start: DateTime<Utc>) -> Result<Client, String> {
        let store = credits_store::sqlite::SqliteStore::in_memory()
            .map_err(|error| format!("in-memory SQLite: {error}"))?;
        Self::client("in-process router over SQLite", Arc::new(store), start)
    }
}

#[async_trait]
impl Transport for InProcess {
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|error| error.to_string())?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        Ok(reply(status, content_type, &bytes))
    }
}

fn reply(status: u16, content_type: Option<String>, bytes: &[u8]) -> Reply {
    Reply {
        status,
        content_type,
        json: serde_json::from_slice(bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(bytes).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// A real `credits serve`

const SERVE_LOG_LINES: usize = 200;
const SERVE_START_TIMEOUT: StdDuration = StdDuration::from_secs(90);
const LISTENING_PREFIX: &str = "credits serve listening on ";

/// A running `credits serve` child process; killed on drop.
pub struct Serve {
    child: Child,
    url: String,
    log: Arc<Mutex<VecDeque<String>>>,
    http: reqwest::Client,
    // Where the process runs (so a stray `credits.db` never lands in the workspace).
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Start `credits serve --addr 127.0.0.1:0 --rates <workspace>/rates
    /// --dynamodb-endpoint <endpoint> --table <table>` with the static admin key, and wait
    /// until it prints the address it listens on.
    ///
    /// # Errors
    /// No binary, or the server exits or stays silent (its output is in the message).
    pub fn start(dynamodb_endpoint: &str, table: &str) -> Result<Serve, String> {
        Self::spawn(&["--dynamodb-endpoint", dynamodb_endpoint, "--table", table])
    }

    /// Start `credits serve` over the embedded SQLite store (a file in a temporary
    /// directory).
    ///
    /// # Errors
    /// As [`Serve::start`].
    pub fn sqlite() -> Result<Serve, String> {
        Self::spawn(&["--db", "credits.db"])
    }

    /// Start `credits serve --addr 127.0.0.1:0 --rates <workspace>/rates <store_args>` in a
    /// temporary directory.
    ///
    /// # Errors
    /// As [`Serve::start`].
    pub fn spawn(store_args: &[&str]) -> Result<Serve, String> {
        let binary = credits_binary()?;
        let dir = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
        let rates = workspace_root()?.join("rates");
        let mut child = Command::new(&binary)
            .args(["serve", "--addr", "127.0.0.1:0", "--rates"])
            .arg(&rates)
            .args(store_args)
            .current_dir(dir.path())
            .env("CREDITS_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "warn")
            // Harmless for `connect_local` (static dummy credentials); they keep any other
            // credential chain off the network.
            .env("AWS_ACCESS_KEY_ID", crate::dynamodb_local::ACCESS_KEY_ID)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                crate::dynamodb_local::SECRET_ACCESS_KEY,
            )
            .env("AWS_REGION", crate::dynamodb_local::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (url_tx, url_rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            copy_lines(out, Arc::clone(&log), Some(url_tx));
        }
        if let Some(err) = child.stderr.take() {
            copy_lines(err, Arc::clone(&log), None);
        }
        let http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(60))
            .build()
            .map_err(|error| format!("reqwest client: {error}"))?;
        let mut serve = Serve {
            child,
            url: String::new(),
            log,
            http,
            _dir: dir,
        };
        serve.url = serve.wait_for_address(&url_rx, &binary)?;
        Ok(serve)
    }

    /// A client over this server (system clock).
    pub fn client(self) -> Client {
        let name = format!("credits serve ({})", self.url);
        Client::new(name, Box::new(self), TimeSource::System)
    }

    fn wait_for_address(
        &mut self,
        url_rx: &mpsc::Receiver<String>,
        binary: &Path,
    ) -> Result<String, String> {
        let deadline = std::time::Instant::now() + SERVE_START_TIMEOUT;
        loop {
            if let Ok(url) = url_rx.recv_timeout(StdDuration::from_millis(100)) {
                return Ok(url);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(StdDuration::from_millis(200));
                return Err(format!(
                    "`{} serve ...` exited during start ({status}); its output:\n{}",
                    binary.display(),
                    log_tail(&self.log)
                ));
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "`credits serve` did not print its address within {} s; its output:\n{}",
                    SERVE_START_TIMEOUT.as_secs(),
                    log_tail(&self.log)
                ));
            }
        }
    }
}

#[async_trait]
impl Transport for Serve {
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|error| error.to_string())?;
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(json) = body {
            request = request.json(json);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("{error}; server output:\n{}", log_tail(&self.log)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|error| error.to_string())?;
        Ok(reply(status, content_type, &bytes))
    }

    fn diagnostics(&self) -> String {
        log_tail(&self.log)
    }
}

fn copy_lines(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<VecDeque<String>>>,
    url_tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &url_tx
                && let Some(url) = line.trim().strip_prefix(LISTENING_PREFIX)
            {
                let _ = tx.send(url.trim().trim_end_matches('/').to_owned());
            }
            // Never keep the admin key line (the static key is configured, so none is
            // printed; this is belt and braces).
            if line.contains("ck_") {
                continue;
            }
            if let Ok(mut log) = log.lock() {
                if log.len() >= SERVE_LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        }
    });
}

fn log_tail(log: &Mutex<VecDeque<String>>) -> String {
    match log.lock() {
        Ok(lines) => lines.iter().cloned().collect::<Vec<_>>().join("\n"),
        Err(_) => "(output unavailable)".to_owned(),
    }
}

/// The `credits` binary to run (see the module documentation). Built at most once per test
/// binary; a failure is remembered.
///
/// # Errors
/// When there is no binary and it cannot be built.
pub fn credits_binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY.get_or_init(find_or_build_binary).clone()
}

fn find_or_build_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CREDITS_BIN").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("CREDITS_BIN={} is not a file", path.display()))
        };
    }
    // <target>/<profile>/deps/<this test binary>
    let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("cannot find the target directory from {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?;
    let binary = profile_dir.join(format!("credits{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "credits",
            "--bin",
            "credits",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(workspace_root()?);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let built = build.output();
    let failure = match built {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`cargo build -p credits` failed ({}):\n{}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 60)
        )),
        Err(error) => Some(format!("cannot run cargo: {error}")),
    };
    match (failure, binary.is_file()) {
        (None, true) => Ok(binary),
        (None, false) => Err(format!(
            "`cargo build -p credits` succeeded but {} is missing; set CREDITS_BIN to the binary",
            binary.display()
        )),
        (Some(failure), true) => {
            eprintln!(
                "warning: {failure}\nusing the existing (possibly stale) {}",
                binary.display()
            );
            Ok(binary)
        }
        (Some(failure), false) => Err(format!(
            "{failure}\nno `credits` binary at {}: build it with `cargo build -p credits` or set CREDITS_BIN",
            binary.display()
        )),
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all.iter()
        .skip(all.len().saturating_sub(lines))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}
