//! `credits rates test` runs every book's refused examples and scenarios: the seeds of
//! `rates/`, the example books of `rates/examples/`, and a passing and a failing scenario
//! whose report is a snapshot (scenario, step, expected, actual).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn credits(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credits"))
        .args(arguments)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every expect, refused example and scenario of the seeds and of the example books holds.
#[test]
fn every_book_of_rates_and_rates_examples_passes_its_examples_and_scenarios() {
    for directory in ["rates/", "rates/examples/"] {
        let output = credits(&["rates", "test", directory]);
        let report = stdout(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{directory}:\n{report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(report.contains(" 0 failed"), "{report}");
        assert!(
            report.contains("scenario"),
            "{directory} has no scenario:\n{report}"
        );
    }
    let examples = stdout(&credits(&["rates", "test", "rates/examples/"]));
    for book in ["deepseek", "runway", "fish-audio"] {
        assert!(
            examples.contains(&format!("rates/examples/{book}.rates: ")),
            "{examples}"
        );
    }
}

const BOOK: &str = "book shop
effective 2025-01-01
unit credit scale 0 round up

feature image {
  input model: choice(standard, pro)
  base 10 credit each when model is standard
  base 40 credit each when model is pro
}

plan pro {
  cycle monthly from purchase
  periods monthly
  grant 100 credit every cycle as allocation, expires end of cycle
  order allocation, top_up
  topup as top_up, expires never, requires subscription
  refund within 30 days for duplicate
  refund expired forfeit
}

scenario \"a cycle of credits\" on pro starting 2025-01-01 {
  subscribe monthly
  top up 50 credit
  charge image(model: pro) as first_image = 40 credit
  expect balance allocation 60 credit, top_up 50 credit
  refund first_image for duplicate
  expect balance allocation 100 credit
  at 2025-02-01
  charge 3 * image(model: pro)
  expect balance allocation 0 credit, top_up 30 credit
  cancel
  at 2025-03-01
  top up 10 credit refused topup-not-allowed
  charge image(model: pro) refused insufficient-credits
}
";

fn run_book(source: &str) -> (Option<i32>, String) {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("shop.rates"), source).unwrap();
    let output = credits(&["rates", "test", &directory.path().to_string_lossy()]);
    let report = stdout(&output).replace(&*directory.path().to_string_lossy(), "<dir>");
    (output.status.code(), report)
}

#[test]
fn a_passing_scenario_is_reported_ok() {
    let (code, report) = run_book(BOOK);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("  ok    line 21: scenario \"a cycle of credits\" (13 steps)"),
        "{report}"
    );
}

#[test]
fn a_failing_scenario_names_each_failing_step_with_expected_and_actual() {
    let failing = BOOK
        .replace(
            "expect balance allocation 0 credit, top_up 30 credit",
            "expect balance allocation 0 credit, top_up 40 credit",
        )
        .replace("as first_image = 40 credit", "as first_image = 10 credit")
        .replace(
            "top up 10 credit refused topup-not-allowed",
            "top up 10 credit",
        )
        .replace(
            "charge image(model: pro) refused insufficient-credits",
            "charge image(model: pro) refused feature-not-allowed",
        )
        .replace(
            "charge 3 * image(model: pro)",
            "charge 3 * image(model: pro)\n  charge image(model: standard) refused above-maximum",
        );
    let (code, report) = run_book(&failing);
    assert_eq!(code, Some(1), "{report}");
    insta::assert_snapshot!("failing_scenario_report", report);
}
