//! `sam build` (SAM's `rust-cargolambda` build method, i.e. cargo-lambda with zig) produces
//! every function of `infra/template.yaml`: a `bootstrap` ELF executable for the architecture
//! asked. x86_64 always; arm64 too when rustup has the `aarch64-unknown-linux-gnu` standard
//! library (BRIEF §5: it may not be fetchable on a fresh machine).
//!
//! Cargo's artifacts go to `target/lambda-build` — the directory `scripts/lambda-build.sh`
//! uses — so the release build is shared with it and does not hold the lock of `target/`.
//! SAM's output goes to `target/sam-build/<arch>/`.
//!
//! Slow the first time (a release build of five binaries); `scripts/install-tools.sh` first.
//! `cargo test -p credits-tests --test template_sam_build -- --nocapture`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use credits_tests::template::{TEMPLATE_PATH, Template, venv_tool, workspace_root};

const AARCH64_TARGET: &str = "aarch64-unknown-linux-gnu";

/// ELF `e_machine` values.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

fn aarch64_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == AARCH64_TARGET)
        })
        .unwrap_or(false)
}

/// The ELF machine of an executable, or why it is not one.
fn elf_machine(path: &Path) -> Result<u16, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return Err(format!("{} is not an ELF file", path.display()));
    }
    // EI_DATA 1 = little-endian (both Lambda architectures).
    if bytes[5] != 1 {
        return Err(format!("{} is not little-endian", path.display()));
    }
    Ok(u16::from_le_bytes([bytes[18], bytes[19]]))
}

fn sam_build(architecture: &str) -> PathBuf {
    let sam = venv_tool("sam").unwrap_or_else(|e| panic!("{e}"));
    venv_tool("cargo-lambda").unwrap_or_else(|e| panic!("{e}"));
    let root = workspace_root();
    let build_dir = root.join("target").join("sam-build").join(architecture);
    if build_dir.exists() {
        std::fs::remove_dir_all(&build_dir).unwrap();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![root.join(".venv").join("bin")];
    paths.extend(std::env::split_paths(&path));
    let mut command = Command::new(&sam);
    command
        .current_dir(root.join("infra"))
        .args(["build", "--beta-features", "--template-file"])
        .arg(root.join(TEMPLATE_PATH))
        .arg("--build-dir")
        .arg(&build_dir)
        .args([
            "--parameter-overrides",
            &format!("Architecture={architecture}"),
        ])
        // cargo-lambda, and zig (`python -m ziglang`) for cargo-zigbuild, from the venv.
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("SAM_CLI_TELEMETRY", "0")
        .env("CARGO_TARGET_DIR", root.join("target").join("lambda-build"))
        // aws-lc's jitter entropy costs ~50 ms per cold start (BRIEF §7).
        .env("AWS_LC_SYS_NO_JITTER_ENTROPY", "1");
    eprintln!("[template_sam_build] {command:?}");
    let started = Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", sam.display()));
    eprintln!(
        "[template_sam_build] sam build {architecture}: {} in {} s",
        output.status,
        started.elapsed().as_secs()
    );
    assert!(
        output.status.success(),
        "`sam build` for {architecture} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    build_dir
}

fn check_build(build_dir: &Path, architecture: &str, machine: u16) {
    let functions = Template::load().unwrap().functions().unwrap();
    assert!(!functions.is_empty());
    for id in functions.keys() {
        let bootstrap = build_dir.join(id).join("bootstrap");
        let found = elf_machine(&bootstrap)
            .unwrap_or_else(|e| panic!("{id} ({architecture}): no bootstrap built: {e}"));
        assert_eq!(
            found,
            machine,
            "{id}: {} is for ELF machine {found}, not {architecture}",
            bootstrap.display()
        );
        let size = std::fs::metadata(&bootstrap).unwrap().len();
        eprintln!(
            "[template_sam_build] {architecture:7} {id:18} {:>10} bytes  {}",
            size,
            bootstrap.display()
        );
    }
    // SAM's built template points every function at its built code.
    let built = std::fs::read_to_string(build_dir.join("template.yaml")).unwrap();
    for id in functions.keys() {
        assert!(
            built.contains(&format!("CodeUri: {id}")),
            "built template: CodeUri of {id}"
        );
    }
}

/// One test, so the architectures build one after the other: cargo-lambda leaves each binary
/// at the same `target/lambda-build/lambda/<binary>/bootstrap` before SAM copies it.
#[test]
fn sam_build_produces_every_function() {
    let build_dir = sam_build("x86_64");
    check_build(&build_dir, "x86_64", EM_X86_64);
    if aarch64_installed() {
        let build_dir = sam_build("arm64");
        check_build(&build_dir, "arm64", EM_AARCH64);
    } else {
        eprintln!(
            "[template_sam_build] arm64 not built: rustup target {AARCH64_TARGET} is not \
             installed (`rustup target add {AARCH64_TARGET}` where it can be fetched)"
        );
    }
}
