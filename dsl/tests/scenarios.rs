//! `expect … refused CODE` and `scenario` blocks in the language: what a product manager
//! reads when one is wrong (snapshots in `tests/snapshots/`, source then error), their
//! canonical layout, and refusals in `credits rates diff`. Running scenarios needs the API:
//! `functions/cli/tests/scenarios_cli.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::scenario::{Action, RefusalOutcome, refusal_outcome, run_refusals};
use credits_dsl::{RateBook, compile_source, diff, format_source};
use miette::Diagnostic;

use common::{diagnostics, render};

/// A small book: one feature, one plan with kinds, top-ups, a package and refunds.
const HEAD: &str = "book test
effective 2025-01-01
unit credit scale 2 round half-up

feature video {
  input duration: duration max 4h
  round duration up to 1s
  base 20 credit per minute of duration
}

plan pro {
  cycle monthly from purchase
  periods monthly
  grant 12000 credit every cycle as allocation, expires end of cycle
  order allocation, top_up
  topup as top_up, expires never
  package small 500 credit
  refund within 30 days for duplicate
  refund expired forfeit
}
";

/// `(case name, text after HEAD)`.
const CASES: &[(&str, &str)] = &[
    (
        "scenario_unknown_step",
        "scenario \"x\" on pro {\n  subscribe monthly\n  teleport 2025-02-01\n}\n",
    ),
    (
        "scenario_label_used_before_defined",
        "scenario \"x\" on pro {\n  refund c1 for duplicate\n  charge video(duration: 1m) as c1\n}\n",
    ),
    (
        "scenario_dates_out_of_order",
        "scenario \"x\" on pro starting 2025-01-01 {\n  at 2025-03-01\n  at 2025-02-01\n}\n",
    ),
    (
        "scenario_unknown_kind_in_balance",
        "scenario \"x\" on pro {\n  expect balance alocation 12000 credit\n}\n",
    ),
    (
        "scenario_unknown_unit_in_balance",
        "scenario \"x\" on pro {\n  expect balance allocation 12000 credits\n}\n",
    ),
    (
        "scenario_refused_with_unknown_code",
        "scenario \"x\" on pro {\n  charge video(duration: 5h) refused input-out-of-range\n}\n",
    ),
    (
        "expect_refused_with_unknown_code",
        "expect video(duration: 5h) refused above-maximun\n",
    ),
    (
        "expect_refused_but_charged",
        "expect video(duration: 1m) refused above-maximum\n",
    ),
    (
        "expect_refused_with_another_code",
        "expect video(duration: 5h) refused below-minimum\n",
    ),
    (
        "expect_refused_two_requests",
        "expect video(duration: 5h) + video(duration: 1m) refused above-maximum\n",
    ),
    (
        "scenario_unknown_plan",
        "scenario \"x\" on professional {\n  subscribe monthly\n}\n",
    ),
    (
        "scenario_period_not_sold",
        "scenario \"x\" on pro {\n  subscribe yearly\n}\n",
    ),
    (
        "scenario_capture_of_a_charge",
        "scenario \"x\" on pro {\n  charge video(duration: 1m) as c1\n  capture c1\n}\n",
    ),
    (
        "scenario_label_named_twice",
        "scenario \"x\" on pro {\n  charge video(duration: 1m) as c1\n  charge video(duration: 2m) as c1\n}\n",
    ),
    (
        "scenario_unknown_package",
        "scenario \"x\" on pro {\n  top up package large\n}\n",
    ),
    (
        "scenario_invalid_charge_input",
        "scenario \"x\" on pro {\n  charge video(duration: 5h)\n}\n",
    ),
    (
        "scenario_cancel_before_subscribe",
        "scenario \"x\" on pro {\n  top up 500 credit\n  cancel\n}\n",
    ),
    (
        "scenario_charged_amount_in_an_unknown_unit",
        "scenario \"x\" on pro {\n  charge video(duration: 1m) = 20 credits\n}\n",
    ),
    (
        "scenario_named_twice",
        "scenario \"x\" on pro {\n  subscribe monthly\n}\nscenario \"x\" on pro {\n  subscribe monthly\n}\n",
    ),
];

fn book(tail: &str) -> RateBook {
    compile_source("test.rates", &format!("{HEAD}{tail}"))
        .unwrap_or_else(|errors| panic!("{errors:?}"))
}

#[test]
fn every_case_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, tail) in CASES {
            let rendered = render(&diagnostics(&format!("{HEAD}{tail}")));
            insta::assert_snapshot!(
                *name,
                format!("SOURCE (after the book's head)\n{tail}\nERROR\n{rendered}")
            );
        }
    });
}

#[test]
fn every_error_points_at_the_source_and_helps() {
    for (name, tail) in CASES {
        let source = format!("{HEAD}{tail}");
        for error in diagnostics(&source).errors() {
            let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
            assert!(!labels.is_empty(), "{name}: `{error}` has no label");
            for label in labels {
                assert!(label.offset() + label.len() <= source.len(), "{name}");
                assert!(
                    label.offset() >= HEAD.len(),
                    "{name}: `{error}` points into the head"
                );
            }
            assert!(error.help().is_some(), "{name}: `{error}` has no help");
        }
    }
}

#[test]
fn a_scenario_lowers_every_step() {
    let book = book(
        "scenario \"every step\" on pro starting 2025-01-01 {
  subscribe monthly
  top up 500 credit
  top up 20 credit as allocation
  top up package small
  charge video(duration: 1m) as c1
  charge 3 * video(duration: 30s)
  hold video(duration: 2m) as h1
  hold video(duration: 2m) as h2
  capture h1
  release h2
  at 2025-02-01
  expect balance allocation 12000 credit, top_up 990 credit, 13000 credit
  refund c1 for duplicate
  cancel
  at 2025-03-01
  charge video(duration: 5h) refused above-maximum
  top up 1 credit refused topup-not-allowed
}
",
    );
    let scenario = &book.scenarios[0];
    assert_eq!(scenario.name, "every step");
    assert_eq!(scenario.plan, "pro");
    assert_eq!(scenario.steps.len(), 17);
    assert_eq!(scenario.steps[0].source, "subscribe monthly");
    assert!(matches!(
        &scenario.steps[5].action,
        Action::Charge {
            count: 3,
            label: None,
            ..
        }
    ));
    let Action::Balance { expected } = &scenario.steps[11].action else {
        panic!("{:?}", scenario.steps[11]);
    };
    assert_eq!(expected.len(), 3);
    assert_eq!(expected[2].kind, None);
    assert_eq!(scenario.steps[15].refused.as_deref(), Some("above-maximum"));
    assert_eq!(
        scenario.steps[15].source,
        "charge video(duration: 5h) refused above-maximum"
    );
}

#[test]
fn a_refused_example_runs_edge_validation_then_rating() {
    let book = book(
        "expect video(duration: 5h) refused above-maximum
expect video(duration: 0s) refused below-minimum
expect video(length: 1m) refused unknown-input
expect video() refused missing-input
expect audio(duration: 1m) refused unknown-feature
",
    );
    assert_eq!(book.refusals.len(), 5);
    assert!(run_refusals(&book).iter().all(|result| result.passed));
    let charged = refusal_outcome(
        &book,
        &book.refusals[0]
            .request
            .clone()
            .with_input("duration", "1m"),
    );
    assert_eq!(charged.describe(), "charged 20 credit");
    assert!(matches!(charged, RefusalOutcome::Charged(_)));
}

trait WithInput {
    fn with_input(self, name: &str, text: &str) -> Self;
}

impl WithInput for credits_dsl::scenario::Request {
    fn with_input(mut self, name: &str, text: &str) -> Self {
        self.inputs = vec![(name.to_owned(), text.to_owned())];
        self
    }
}

#[test]
fn scenarios_and_refusals_format_canonically_and_round_trip() {
    let messy = format!(
        "{HEAD}expect   video( duration : 5h )   refused    above-maximum
scenario   \"messy\"   on pro   starting 2025-01-01 {{ subscribe monthly ; top up   500 credit as top_up
  charge video(duration: 1m)as c1 =20 credit    # the first job
      at 2025-02-01
  expect balance allocation 12000 credit,top_up 500 credit
  refund c1 for duplicate refused refund-not-allowed ; cancel }}
"
    );
    let formatted = format_source("test.rates", &messy).unwrap();
    let tail = formatted.strip_prefix(HEAD).unwrap();
    assert_eq!(
        tail,
        "expect video(duration: 5h) refused above-maximum
scenario \"messy\" on pro starting 2025-01-01 {
  subscribe monthly
  top up 500 credit as top_up
  charge video(duration: 1m) as c1 = 20 credit  # the first job
  at 2025-02-01
  expect balance allocation 12000 credit, top_up 500 credit
  refund c1 for duplicate refused refund-not-allowed
  cancel
}
"
    );
    assert_eq!(format_source("test.rates", &formatted).unwrap(), formatted);
    let mut before = compile_source("test.rates", &messy).unwrap();
    let mut after = compile_source("test.rates", &formatted).unwrap();
    before.rates_version.clear();
    after.rates_version.clear();
    // Lines move when a file is formatted; everything else is the same book.
    for book in [&mut before, &mut after] {
        for refusal in &mut book.refusals {
            refusal.line = 0;
        }
        for scenario in &mut book.scenarios {
            scenario.line = 0;
            for step in &mut scenario.steps {
                step.line = 0;
            }
        }
    }
    assert_eq!(before, after);
}

#[test]
fn every_example_book_formats_to_itself() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates/examples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_none_or(|extension| extension != "rates")
        {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        assert_eq!(format_source(&name, &source).unwrap(), source, "{name}");
        let book = compile_source(&name, &source).unwrap_or_else(|errors| panic!("{errors:?}"));
        assert!(!book.scenarios.is_empty(), "{name} has no scenario");
        assert!(!book.refusals.is_empty(), "{name} has no refused example");
        count += 1;
    }
    assert!(count >= 3);
}

#[test]
fn diff_shows_a_refusal_that_changes() {
    let old = book("expect video(duration: 5h) refused above-maximum\n");
    let new_source = format!("{HEAD}expect video(duration: 5h) = 6000 credit\n")
        .replace("max 4h", "max 8h")
        .replace("effective 2025-01-01", "effective 2025-06-01");
    let new = compile_source("test.rates", &new_source).unwrap();
    let report = diff::diff(&old, &new);
    assert_eq!(report.refusals.len(), 1, "{report}");
    assert_eq!(report.refusals[0].example, "video(duration: 5h)");
    assert_eq!(report.refusals[0].old, "refused above-maximum");
    assert_eq!(report.refusals[0].new, "charged 6000 credit");
    let text = report.to_string();
    assert!(
        text.contains("refusals that change:\n  video(duration: 5h): refused above-maximum → charged 6000 credit"),
        "{text}"
    );
    assert!(diff::diff(&old, &old).refusals.is_empty());
}
