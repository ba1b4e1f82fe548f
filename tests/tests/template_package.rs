//! The deploy dry run: `scripts/deploy.sh --dry-run` builds every Lambda zip with
//! `scripts/lambda-build.sh` (the test command's one release build: run after it, nothing is
//! compiled again), packages `infra/template.yaml` with those zips
//! (`target/deploy/arm64/template.yaml`: what `sam deploy` uploads, no `sam build`) and lints
//! the packaged template (cfn-lint, `sam validate --lint`, SAM's transform), offline and
//! without AWS credentials. This test runs it for arm64, the template's default architecture
//! (what deploys), then reads the packaged template and the zips back.
//!
//! arm64 needs the Rust standard library of `aarch64-unknown-linux-gnu`
//! (`scripts/install-tools.sh` installs it): without it the build, and so this test, FAILS
//! with the command to run; it is never skipped.
//!
//! Slow only when the zips are not built yet (a release build with LTO of five binaries).
//! `cargo test -p credits-tests --test template_package -- --nocapture`

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use credits_tests::template::{Template, venv_tool, workspace_root};
use serde_json::Value as Json;

/// The architecture the template deploys by default, and so the one the zips are built for.
const ARCH: &str = "arm64";
/// ELF `e_machine` of aarch64.
const EM_AARCH64: u16 = 183;
/// The size goal of every zip (BENCHMARKS.md, "Lambda package sizes").
const ZIP_MAX_BYTES: u64 = 5_000_000;

fn report(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `scripts/deploy.sh --dry-run`, with no AWS credentials or profile of the machine.
fn deploy_dry_run() -> Output {
    venv_tool("sam").unwrap_or_else(|e| panic!("{e}"));
    venv_tool("cargo-lambda").unwrap_or_else(|e| panic!("{e}"));
    let root = workspace_root();
    let mut command = Command::new(root.join("scripts").join("deploy.sh"));
    command
        .current_dir(&root)
        .args(["--dry-run", "--arch", ARCH])
        .env("SAM_CLI_TELEMETRY", "0")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        // The gate of the script, not a looser one from the environment.
        .env_remove("LAMBDA_ZIP_MAX_BYTES");
    eprintln!("[template_package] {command:?}");
    let started = Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/deploy.sh: {e}"));
    eprintln!(
        "[template_package] deploy.sh --dry-run: {} in {} s",
        output.status,
        started.elapsed().as_secs()
    );
    output
}

/// The ELF machine of the `bootstrap` inside `zip` (read by the venv's Python: no zip crate
/// here).
fn bootstrap_machine(zip: &Path) -> u16 {
    let python = venv_tool("python").unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(python)
        .args([
            "-c",
            "import sys, zipfile; h = zipfile.ZipFile(sys.argv[1]).read('bootstrap')[:20]; \
             print(int.from_bytes(h[18:20], 'little') if h[:4] == b'\\x7fELF' else -1)",
        ])
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        zip.display(),
        report(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: no ELF bootstrap: {e}", zip.display()))
}

#[test]
fn deploy_dry_run_packages_every_function_from_the_one_build() {
    let output = deploy_dry_run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`scripts/deploy.sh --dry-run` failed: {}",
        report(&output)
    );
    assert!(
        stdout.contains("clean") && stdout.contains("dry run: done"),
        "the dry run did not lint: {}",
        report(&output)
    );

    let root = workspace_root();
    let packaged_path = root
        .join("target")
        .join("deploy")
        .join(ARCH)
        .join("template.yaml");
    let packaged = Template::from_yaml(&std::fs::read_to_string(&packaged_path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", packaged_path.display()));
    // The Architecture parameter may only be the one built: a deploy with another fails
    // before any function does.
    let architecture = &packaged.json()["Parameters"]["Architecture"];
    assert_eq!(architecture["AllowedValues"], serde_json::json!([ARCH]));
    assert_eq!(architecture["Default"], ARCH);

    // Every function of the template, each from its own zip, built for arm64, under 5 MB.
    let functions = Template::load().unwrap().functions().unwrap();
    assert!(!functions.is_empty());
    let packaged_dir = packaged_path.parent().unwrap();
    for (id, build) in &functions {
        let resource = packaged
            .resource(id)
            .unwrap_or_else(|| panic!("{id} not packaged"));
        assert!(
            resource.get("Metadata").is_none(),
            "{id}: the packaged function still has build metadata (`sam build` would rebuild it)"
        );
        let code_uri = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            code_uri,
            format!("../../lambda/{ARCH}/{}/bootstrap.zip", build.binary),
            "{id}: CodeUri"
        );
        let zip = packaged_dir.join(code_uri);
        let bytes = std::fs::metadata(&zip)
            .unwrap_or_else(|e| panic!("{id}: {}: {e}", zip.display()))
            .len();
        assert!(
            bytes <= ZIP_MAX_BYTES,
            "{id}: {} is {bytes} bytes, over {ZIP_MAX_BYTES}",
            zip.display()
        );
        assert_eq!(
            bootstrap_machine(&zip),
            EM_AARCH64,
            "{id}: {} is not an arm64 bootstrap",
            zip.display()
        );
        eprintln!("[template_package] {ARCH} {id:18} {bytes:>10} bytes  {code_uri}");
    }
    let packaged_functions: Vec<&str> = packaged
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(packaged_functions.len(), functions.len());
    // Nothing else of the template changed: same resources, same outputs.
    let ids = |template: &Template| -> Vec<String> {
        template.resources().map(|(id, _)| id.to_string()).collect()
    };
    let source = Template::load().unwrap();
    assert_eq!(ids(&packaged), ids(&source));
    assert_eq!(
        packaged.json().get("Outputs").map(Json::to_string),
        source.json().get("Outputs").map(Json::to_string)
    );
}
