//! Builds the rate language for the browser (`credits-console-wasm`, target
//! `wasm32-unknown-unknown`) so that the console's assets embed it: a fresh clone needs no
//! step before `cargo build` or `cargo test`.
//!
//! The wasm is built by a nested `cargo build --release` into its own target directory
//! (`<target>/console-wasm`: the outer build holds the lock on its own), so it is compiled
//! once and then only when the rate language changes. `CREDITS_CONSOLE_WASM=<file>` embeds a
//! prebuilt module instead (`scripts/console-build.sh` builds the same one).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nested build's settings: smallest code, no unwinding (BENCHMARKS.md, "Console").
const WASM_CONFIG: [&str; 4] = [
    "--config",
    "profile.release.opt-level=\"s\"",
    "--config",
    "profile.release.panic=\"abort\"",
];

/// Variables a nested cargo may keep: where the tools are (`RUSTC`: the outer build's
/// compiler, so both builds use one toolchain) and how to reach the registry.
/// Everything else the outer cargo set (wrappers, flags, jobserver, target) is left out.
fn kept(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "HOME" | "CARGO_HOME" | "RUSTUP_HOME" | "RUSTUP_TOOLCHAIN" | "TMPDIR" | "RUSTC"
    ) || name.starts_with("CARGO_HTTP")
        || name.starts_with("CARGO_NET")
        || name.starts_with("CARGO_REGISTR")
        || name.to_ascii_lowercase().ends_with("_proxy")
}

fn main() -> Result<(), String> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|error| error.to_string())?);
    let target = out_dir.join("console.wasm");
    println!("cargo::rerun-if-env-changed=CREDITS_CONSOLE_WASM");
    if let Ok(prebuilt) = std::env::var("CREDITS_CONSOLE_WASM") {
        println!("cargo::rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &target).map_err(|error| {
            format!("cannot copy `CREDITS_CONSOLE_WASM` (`{prebuilt}`): {error}")
        })?;
        return Ok(());
    }
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|error| error.to_string())?);
    let workspace = manifest.join("../..");
    for watched in [
        "console/wasm/src",
        "console/wasm/Cargo.toml",
        "dsl/src",
        "dsl/Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let target_dir = wasm_target_dir(&out_dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .env_clear()
        .envs(std::env::vars().filter(|(name, _)| kept(name)))
        .args(["build", "--release", "--locked", "--quiet"])
        .args([
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "credits-console-wasm",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .args(WASM_CONFIG);
    let shown = format!(
        "cargo build --release --locked --target wasm32-unknown-unknown -p credits-console-wasm --target-dir {} {}",
        target_dir.display(),
        WASM_CONFIG.join(" ")
    );
    let status = command.status().map_err(|error| {
        format!("cannot run `{cargo}` to build the console's wasm: {error}; run: {shown}")
    })?;
    if !status.success() {
        return Err(format!(
            "building the console's wasm failed ({status}); run it to see why: {shown} \
             (the target is added with `rustup target add wasm32-unknown-unknown`)"
        ));
    }
    let built = target_dir.join("wasm32-unknown-unknown/release/credits_console_wasm.wasm");
    std::fs::copy(&built, &target)
        .map_err(|error| format!("cannot copy `{}`: {error}", built.display()))?;
    Ok(())
}

/// `<target>/console-wasm`, beside the outer build's profiles: `CARGO_TARGET_DIR` when set,
/// else the directory above `<profile>/build/<package>/out`.
fn wasm_target_dir(out_dir: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("console-wasm");
    }
    let profile_dir = out_dir
        .ancestors()
        .find(|dir| dir.ends_with("build"))
        .and_then(Path::parent);
    match profile_dir.and_then(Path::parent) {
        Some(target) => target.join("console-wasm"),
        None => out_dir.join("console-wasm"),
    }
}
