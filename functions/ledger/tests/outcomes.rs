//! How a job ended, in the ledger: a charge or capture is rated by its feature's outcome
//! rule, a free ending keeps the free first request, entries record the ending, kept
//! statements sum usage per outcome and top-up money per currency (`docs/charges.md`,
//! `docs/holds.md`, `docs/topups.md`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, cmd, usage};
use credits_dsl::{JobOutcome, compile_source};
use credits_ledger::{Capture, Command, EntryType, Spend};
use proptest::prelude::*;

const BOOK: &str = "book test
effective 2025-01-01
time_zone \"UTC\"
unit credit scale 0 round up
feature video {
  input duration: duration max 1h
  round duration up to 1s
  base 10 credit per minute of duration
  first request free
  outcome moderated full
}
plan pro {
  grant 1000 credit once as promotional, expires never
  order promotional, top_up
  topup as top_up, expires never
  package small 100 credit for 10 USD
  package tiny 10 credit for 1.50 USD
  package yen 50 credit for 700 JPY
}
";

fn shell() -> Shell {
    let mut shell = Shell::new(compile_source("test.rates", BOOK).unwrap());
    shell.ok(&cmd::create("a", "test/pro"), at("2026-03-01T00:00:00Z"));
    shell
}

fn video(minutes: &str) -> credits_dsl::Usage {
    usage("video", &[("duration", minutes)])
}

fn charge(id: &str, seconds: &str, outcome: JobOutcome) -> Command {
    match cmd::charge(id, video(seconds)) {
        Command::Charge(spend) => Command::Charge(Spend { outcome, ..spend }),
        _ => unreachable!(),
    }
}

fn capture(id: &str, hold: &str, seconds: Option<&str>, outcome: JobOutcome) -> Command {
    Command::Capture(Capture {
        id: id.to_owned(),
        hold: hold.to_owned(),
        usage: seconds.map(video),
        outcome,
    })
}

fn charged(outcome: &credits_ledger::Outcome) -> i64 {
    outcome
        .amounts
        .iter()
        .map(|amount| amount.amount_minor)
        .sum()
}

#[test]
fn charges_are_rated_by_how_the_job_ended() {
    let mut shell = shell();
    let now = at("2026-03-02T00:00:00Z");
    // The first request is free: a failed one (free by default) must not use it up.
    let failed = shell.ok(&charge("f", "180", JobOutcome::Failed), now);
    assert_eq!(charged(&failed), 0);
    assert!(!failed.free);
    assert!(shell.account().free_used.is_empty());
    let first = shell.ok(&charge("c0", "180", JobOutcome::Completed), now);
    assert!(first.free);
    let table = [
        ("c1", "180", JobOutcome::Completed, 30),
        ("m1", "180", JobOutcome::Moderated, 30),
        ("x1", "60", JobOutcome::Cancelled, 10),
        ("f2", "600", JobOutcome::Failed, 0),
    ];
    for (id, seconds, outcome, expected) in table {
        let outcome_data = shell.ok(&charge(id, seconds, outcome), now);
        assert_eq!(charged(&outcome_data), expected, "{id}");
    }
    assert_eq!(shell.available("credit", now), 1000 - 30 - 30 - 10);
    let recorded: Vec<(String, Option<String>)> = shell
        .entries_of(EntryType::Charge)
        .iter()
        .map(|entry| {
            (
                entry.operation.clone(),
                entry
                    .body
                    .get("outcome")
                    .map(|o| o.as_str().unwrap().to_owned()),
            )
        })
        .collect();
    assert!(recorded.contains(&("m1".to_owned(), Some("moderated".to_owned()))));
    assert!(recorded.contains(&("f".to_owned(), Some("failed".to_owned()))));
    assert!(recorded.contains(&("c1".to_owned(), None)));
    let line = &shell.account().statement.as_ref().unwrap().units["credit"];
    assert_eq!(line.usage_minor, 70);
    assert_eq!(line.usage_by_outcome_minor.get("moderated"), Some(&30));
    assert_eq!(line.usage_by_outcome_minor.get("cancelled"), Some(&10));
    assert_eq!(line.usage_by_outcome_minor.get("failed"), None);
    shell.check_sums();
}

#[test]
fn captures_are_rated_by_how_the_job_ended() {
    let mut shell = shell();
    let now = at("2026-03-02T00:00:00Z");
    shell.ok(&charge("first", "60", JobOutcome::Completed), now);
    for id in ["h1", "h2", "h3"] {
        shell.ok(&cmd::hold(id, video("600"), 900), now);
    }
    let failed = shell.ok(&capture("k1", "h1", None, JobOutcome::Failed), now);
    assert_eq!(charged(&failed), 0);
    let moderated = shell.ok(&capture("k2", "h2", None, JobOutcome::Moderated), now);
    assert_eq!(charged(&moderated), 100);
    let refused = shell.refused(&capture("k3", "h3", None, JobOutcome::Cancelled), now);
    assert_eq!(refused.code(), "invalid-input");
    assert!(refused.to_string().contains("inputs"), "{refused}");
    let cancelled = shell.ok(
        &capture("k3", "h3", Some("120"), JobOutcome::Cancelled),
        now,
    );
    assert_eq!(charged(&cancelled), 20);
    assert_eq!(shell.available("credit", now), 1000 - 100 - 20);
    shell.check_sums();
}

#[test]
fn package_top_ups_record_their_price_and_statements_sum_it() {
    let mut shell = shell();
    let now = at("2026-03-02T00:00:00Z");
    for (id, package) in [
        ("p1", "small"),
        ("p2", "tiny"),
        ("p3", "yen"),
        ("p4", "tiny"),
    ] {
        shell.ok(&cmd::package(id, package), now);
    }
    shell.ok(&cmd::top_up("free", "credit", 5), now);
    let priced: Vec<serde_json::Value> = shell
        .entries_of(EntryType::TopUp)
        .iter()
        .map(|entry| entry.body.get("price").cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        priced,
        vec![
            serde_json::json!({"currency": "USD", "amount_minor": 1000}),
            serde_json::json!({"currency": "USD", "amount_minor": 150}),
            serde_json::json!({"currency": "JPY", "amount_minor": 700}),
            serde_json::json!({"currency": "USD", "amount_minor": 150}),
            serde_json::Value::Null,
        ]
    );
    let line = &shell.account().statement.as_ref().unwrap().units["credit"];
    assert_eq!(line.top_ups_minor, 100 + 10 + 50 + 10 + 5);
    assert_eq!(line.top_ups_paid_minor.get("USD"), Some(&1300));
    assert_eq!(line.top_ups_paid_minor.get("JPY"), Some(&700));
    shell.check_sums();
}

fn any_outcome() -> impl Strategy<Value = JobOutcome> {
    prop_oneof![
        Just(JobOutcome::Completed),
        Just(JobOutcome::Failed),
        Just(JobOutcome::Moderated),
        Just(JobOutcome::Cancelled),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the endings, the balance is the grant less what was charged, a failed job
    /// costs nothing, and the statement's usage by outcome is the usage of those endings.
    #[test]
    fn endings_keep_the_books_balanced(
        jobs in proptest::collection::vec((1_u32..600, any_outcome()), 1..24),
    ) {
        let mut shell = shell();
        let now = at("2026-03-02T00:00:00Z");
        let mut spent = 0_i64;
        let mut by_outcome = std::collections::BTreeMap::<String, i64>::new();
        for (index, (seconds, outcome)) in jobs.iter().enumerate() {
            let command = charge(&format!("j{index}"), &seconds.to_string(), *outcome);
            let Ok(result) = shell.run(&command, now) else { continue };
            let amount = charged(&result);
            if *outcome == JobOutcome::Failed {
                prop_assert_eq!(amount, 0);
            }
            spent += amount;
            if !outcome.is_completed() && amount > 0 {
                *by_outcome.entry(outcome.as_str().to_owned()).or_default() += amount;
            }
        }
        prop_assert_eq!(shell.available("credit", now), 1000 - spent);
        let line = &shell.account().statement.as_ref().unwrap().units["credit"];
        prop_assert_eq!(line.usage_minor, spent);
        let kept: std::collections::BTreeMap<String, i64> = line
            .usage_by_outcome_minor
            .iter()
            .filter(|(_, amount)| **amount != 0)
            .map(|(outcome, amount)| (outcome.clone(), *amount))
            .collect();
        prop_assert_eq!(kept, by_outcome);
        shell.check_sums();
    }
}
