//! `infra/template.yaml` passes `cfn-lint`, `sam validate --lint` and plain `sam validate`
//! (from `.venv/`, put there by `scripts/install-tools.sh`; all work offline and without AWS
//! credentials — the template uses no SAM policy templates, the one thing plain `sam validate`
//! would look up in IAM).
//!
//! Each catches something the others miss. cfn-lint checks the template against the
//! resource specifications (IAM policy syntax, log retention values...); `sam validate --lint`
//! is cfn-lint as SAM runs it. Plain `sam validate` runs SAM's own transform, strictly: an
//! `HttpApi` event whose `ApiId` is `!Ref` to no `AWS::Serverless::HttpApi` passes both lints
//! (cfn-lint 1.58, SAM CLI 1.170) but fails the transform — and would fail the deployment.
//!
//! `cargo test -p credits-tests --test template_lint`

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use credits_tests::template::{TEMPLATE_PATH, venv_tool, workspace_root};

fn run(mut command: Command) -> Output {
    let shown = format!("{command:?}");
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

fn report(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Environment for the Python tools: the venv's bin first on PATH, no telemetry, no
/// credentials or profile from the machine (the checks must not depend on them).
fn tool_command(tool: &Path) -> Command {
    let root = workspace_root();
    let mut command = Command::new(tool);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![root.join(".venv").join("bin")];
    paths.extend(std::env::split_paths(&path));
    command
        .current_dir(root.join("infra"))
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    command
}

#[test]
fn cfn_lint_is_clean() {
    let tool = venv_tool("cfn-lint").unwrap_or_else(|e| panic!("{e}"));
    let template = workspace_root().join(TEMPLATE_PATH);
    let mut command = tool_command(&tool);
    // Informational checks too (`I...`): the template is kept clean of those as well.
    command.args(["--include-checks", "I", "--"]).arg(&template);
    let output = run(command);
    assert!(
        output.status.success(),
        "cfn-lint found problems in {}:\n{}",
        template.display(),
        report(&output)
    );
}

#[test]
fn sam_validate_lint_is_clean() {
    let tool = venv_tool("sam").unwrap_or_else(|e| panic!("{e}"));
    let template = workspace_root().join(TEMPLATE_PATH);
    let mut command = tool_command(&tool);
    command
        .args([
            "validate",
            "--lint",
            "--region",
            "us-east-1",
            "--template-file",
        ])
        .arg(&template);
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("is a valid SAM Template"),
        "`sam validate --lint` rejected {}:\n{}",
        template.display(),
        report(&output)
    );
}

#[test]
fn sam_validate_transforms_the_template() {
    let tool = venv_tool("sam").unwrap_or_else(|e| panic!("{e}"));
    let template = workspace_root().join(TEMPLATE_PATH);
    let mut command = tool_command(&tool);
    command
        .args(["validate", "--region", "us-east-1", "--template-file"])
        .arg(&template);
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("is a valid SAM Template"),
        "`sam validate` (SAM's transform) rejected {}:\n{}",
        template.display(),
        report(&output)
    );
}
