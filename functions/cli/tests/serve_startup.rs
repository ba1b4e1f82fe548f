//! `credits serve` at start: it refuses a rate book with errors (printing every diagnostic),
//! prints a generated admin key once on the first start over a database, and never again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const GOOD_BOOK: &str = r#"book tiny
effective 2025-01-01
unit credit scale 2 round half-up

feature job "A job" {
  base 1 credit each
}

plan basic "Basic" {
  order top_up
  topup as top_up, expires never
}

expect job() = 1 credit
"#;

/// Stops the server (by its pid) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, admin_key: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_credits"));
    command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(dir.join("credits.db"))
        .arg("--rates")
        .arg(dir.join("rates"))
        .env("RUST_LOG", "warn")
        .env_remove("CREDITS_ADMIN_KEY");
    if let Some(key) = admin_key {
        command.env("CREDITS_ADMIN_KEY", key);
    }
    command
}

/// Start the server and collect its stdout up to the "listening" line.
fn start(dir: &Path, admin_key: Option<&str>) -> (Running, Vec<String>) {
    let mut child = serve(dir, admin_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.starts_with("credits serve listening on ");
            lines.push(line);
            if done {
                let _ = sender.send(lines.clone());
            }
        }
    });
    let lines = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not start");
    (Running(child), lines)
}

#[test]
fn a_rate_book_with_errors_stops_the_server_with_every_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rates")).unwrap();
    std::fs::write(dir.path().join("rates/tiny.rates"), GOOD_BOOK).unwrap();
    let broken = GOOD_BOOK
        .replace("book tiny", "book broken")
        .replace("base 1 credit each", "base 1 dollar each")
        .replace("round half-up", "");
    std::fs::write(dir.path().join("rates/broken.rates"), broken).unwrap();
    let mut child = serve(dir.path(), Some("startup-admin-key-0123456789"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.rates"), "{stderr}");
    assert!(
        stderr.contains("dollar"),
        "the unknown unit is reported: {stderr}"
    );
    assert!(stderr.contains("not starting"), "{stderr}");
}

/// Each version passes on its own, but the later one drops plan `basic`, which accounts
/// may be on: the server does not start, and says why.
#[test]
fn a_later_version_accounts_cannot_follow_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rates")).unwrap();
    std::fs::write(dir.path().join("rates/tiny.rates"), GOOD_BOOK).unwrap();
    let later = GOOD_BOOK
        .replace("effective 2025-01-01", "effective 2027-01-01")
        .replace("plan basic \"Basic\"", "plan premium \"Premium\"");
    std::fs::write(dir.path().join("rates/tiny@2027-01-01.rates"), later).unwrap();
    let output = serve(dir.path(), Some("startup-admin-key-0123456789"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tiny@2027-01-01.rates"), "{stderr}");
    assert!(
        stderr.contains("plan `basic` of `tiny.rates` is missing from this version"),
        "{stderr}"
    );
    assert!(
        stderr.contains("keep the plan and stop selling it"),
        "{stderr}"
    );
    assert!(stderr.contains("not starting"), "{stderr}");
    assert!(
        !dir.path().join("credits.db").exists(),
        "the store was opened"
    );
}

#[test]
fn the_first_start_prints_an_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rates")).unwrap();
    std::fs::write(dir.path().join("rates/tiny.rates"), GOOD_BOOK).unwrap();

    let (server, lines) = start(dir.path(), None);
    let key = lines
        .iter()
        .map(|line| line.trim())
        .find(|line| line.starts_with("ck_admin_"))
        .unwrap_or_else(|| panic!("no admin key printed: {lines:?}"))
        .to_owned();
    drop(server);

    let (server, lines) = start(dir.path(), None);
    assert!(
        lines
            .iter()
            .all(|line| !line.contains(&key) && !line.contains("ck_admin_")),
        "the key is printed again: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("created on an earlier start")),
        "{lines:?}"
    );
    drop(server);
}

#[test]
fn a_bad_admin_key_setting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rates")).unwrap();
    std::fs::write(dir.path().join("rates/tiny.rates"), GOOD_BOOK).unwrap();
    let output = serve(dir.path(), Some("short")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CREDITS_ADMIN_KEY"), "{stderr}");
    assert!(!stderr.contains("short"), "the key is echoed: {stderr}");
}
