//! What the `credits` binary's tests share: starting `credits serve` on a free loopback
//! port and stopping it whatever the test does.
//!
//! Each test binary uses part of it, so unused items are allowed here.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The line `credits serve` prints once it listens, before its address.
const LISTENING: &str = "credits serve listening on ";
/// The longest wait for a starting server to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The shipped rate books.
pub fn rates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rates")
}

/// `credits serve` on `127.0.0.1:0` over the database file `db` and the books in `rates`,
/// with `admin_key`, logging warnings only. Add arguments, then [`Server::start`] it.
pub fn serve_command(db: &Path, rates: &Path, admin_key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_credits"));
    command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(db)
        .arg("--rates")
        .arg(rates)
        .env("CREDITS_ADMIN_KEY", admin_key)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit());
    command
}

/// A running `credits serve`, killed when dropped (a test that panics leaves no server).
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Server {
    /// Spawns `command` (a `credits serve` command line) and waits until it listens.
    pub fn start(mut command: Command) -> Server {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix(LISTENING) {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        // Kill the child if it never says where it listens.
        let mut server = Server {
            child,
            url: String::new(),
        };
        server.url = receiver
            .recv_timeout(START_LIMIT)
            .expect("the server did not report its address");
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
