//! schemathesis against a live `credits serve` (the real binary, on a free loopback port,
//! over a temporary database, with `CREDITS_ADMIN_KEY` set) and the committed
//! `openapi.json`: no 5xx, and every response matches the document (schema, content type,
//! headers). The run itself is `scripts/schemathesis.sh` (bounded: 40 examples per
//! operation, fixed seed; about 15 s here).
//!
//! The binary: `$CREDITS_BIN` if set, else `target/<profile>/credits` next to this test's
//! own executable (`cargo test --workspace` builds it, the `credits` package having
//! integration tests of its own). When it is missing or older than the sources, it is built
//! with `cargo build -p credits --bin credits` first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use credits_tests::template::workspace_root;

const ADMIN_KEY: &str = "schemathesis-admin-key-0123456789";
/// The whole schemathesis run must end within this.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Stops the server however the test ends.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|name| name != "target" && name != "tests")
            {
                newest_source(&path, newest);
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "pest" || ext == "toml")
            && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            && modified > *newest
        {
            *newest = modified;
        }
    }
}

fn credits_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CREDITS_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<this test> → target/<profile>/credits
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile_dir.join(format!("credits{}", std::env::consts::EXE_SUFFIX));
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    for dir in ["functions", "dsl"] {
        newest_source(&root.join(dir), &mut newest);
    }
    let fresh = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .is_ok_and(|built| built >= newest);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "credits", "--bin", "credits"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p credits failed");
    }
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

fn start_server(dir: &Path) -> Server {
    let mut child = Command::new(credits_binary())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(dir.join("credits.db"))
        .arg("--rates")
        .arg(workspace_root().join("rates"))
        .env("CREDITS_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("credits serve listening on ") {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("credits serve did not start within 60 s"));
    Server { child, url }
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let root = workspace_root();
    let schemathesis = root.join(".venv/bin/schemathesis");
    assert!(
        schemathesis.is_file(),
        "{} is missing: run scripts/install-tools.sh (it installs schemathesis into .venv/)",
        schemathesis.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let started = Instant::now();
    let mut run = Command::new("bash")
        .arg(root.join("scripts/schemathesis.sh"))
        .env("CREDITS_URL", &server.url)
        .env("CREDITS_ADMIN_KEY", ADMIN_KEY)
        .env("SCHEMATHESIS_REPORT_DIR", dir.path().join("report"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a hung run is killed.
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = run.kill();
            panic!("schemathesis ran for more than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut output = String::new();
    if let Some(mut out) = run.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut output).unwrap();
    }
    if let Some(mut err) = run.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut output).unwrap();
    }
    let summary: Vec<&str> = output
        .lines()
        .skip_while(|line| !line.contains("SUMMARY"))
        .collect();
    println!("{}\n(in {:.1?})", summary.join("\n"), started.elapsed());
    assert!(status.success(), "schemathesis found problems:\n{output}");
    assert!(
        output.contains("generated"),
        "schemathesis generated no test case:\n{output}"
    );
    drop(server);
}
