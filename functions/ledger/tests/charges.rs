//! Charges of late usage and partial collection (`docs/charges.md`): a charge with
//! `occurred_at` inside the plan's `late usage within` window is priced by the version in
//! force then and paid from what the account holds now; `collect: available` spends what
//! there is and records the shortfall instead of refusing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, Utc};
use common::{Shell, at, cmd, usage};
use credits_dsl::RateLibrary;
use credits_ledger::{Collect, Command, EntryType, LedgerError};

/// Book `test` effective `effective`: an image costs `price`; `pro` accepts usage up to 3
/// days late, `lite` none; 100 credits once, and a credit line of `line` on `pro`.
fn version(effective: &str, price: u32) -> String {
    format!(
        "book test
effective {effective}
time_zone \"UTC\"
unit credit scale 0 round up
feature image {{
  base {price} credit each
}}
plan pro {{
  grant 100 credit once as promotional, expires never
  order promotional
  late usage within 3 days
}}
plan lite {{
  grant 100 credit once as promotional, expires never
  order promotional
}}
"
    )
}

/// 10 a picture until 2026-03-10, 20 from then on.
fn shell(plan: &str) -> Shell {
    let library = RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), version("2026-01-01", 10)),
        (
            "test@2026-03-10.rates".to_owned(),
            version("2026-03-10", 20),
        ),
    ])
    .unwrap();
    let mut shell = Shell::versioned(library, "test");
    shell.ok(&cmd::create("a", plan), at("2026-03-01T00:00:00Z"));
    shell
}

fn late(id: &str, occurred_at: DateTime<Utc>) -> Command {
    let Command::Charge(mut spend) = cmd::charge(id, usage("image", &[])) else {
        unreachable!()
    };
    spend.occurred_at = Some(occurred_at);
    Command::Charge(spend)
}

fn collecting(id: &str, occurred_at: Option<DateTime<Utc>>) -> Command {
    let Command::Charge(mut spend) = cmd::charge(id, usage("image", &[])) else {
        unreachable!()
    };
    spend.occurred_at = occurred_at;
    spend.collect = Collect::Available;
    Command::Charge(spend)
}

#[test]
fn late_usage_is_priced_by_the_version_in_force_when_it_happened() {
    let mut shell = shell("test/pro");
    let now = at("2026-03-11T12:00:00Z");
    let outcome = shell.ok(&late("c1", at("2026-03-09T23:00:00Z")), now);
    assert_eq!(outcome.amounts[0].amount_minor, 10);
    assert_eq!(outcome.occurred_at, Some(at("2026-03-09T23:00:00Z")));
    let outcome = shell.ok(&late("c2", at("2026-03-10T01:00:00Z")), now);
    assert_eq!(outcome.amounts[0].amount_minor, 20);
    let outcome = shell.ok(&cmd::charge("c3", usage("image", &[])), now);
    assert_eq!(outcome.amounts[0].amount_minor, 20);
    let charges = shell.entries_of(EntryType::Charge);
    assert_eq!(charges[0].at, now, "money moves at the commit");
    assert_eq!(charges[0].body["occurred_at"], "2026-03-09T23:00:00Z");
    assert!(charges[2].body.get("occurred_at").is_none());
    assert_eq!(shell.available("credit", now), 50);
}

#[test]
fn usage_outside_the_window_is_refused_naming_it() {
    let mut shell = shell("test/pro");
    let now = at("2026-03-05T00:00:00Z");
    let old = shell.refused(&late("c1", at("2026-03-01T23:59:00Z")), now);
    assert!(
        matches!(&old, LedgerError::InvalidInput(message) if message.contains("late usage within 3 days") && message.contains("2026-03-02T00:00:00")),
        "{old}"
    );
    let future = shell.refused(&late("c2", at("2026-03-05T00:01:00Z")), now);
    assert!(
        matches!(&future, LedgerError::InvalidInput(message) if message.contains("future")),
        "{future}"
    );
    // Before the account existed, even inside the window.
    let mut shell = shell_at("test/pro");
    let early = shell.refused(
        &late("c3", at("2026-03-01T00:00:00Z")),
        at("2026-03-02T00:00:00Z"),
    );
    assert!(matches!(early, LedgerError::InvalidInput(_)), "{early}");
    assert_eq!(shell.available("credit", at("2026-03-02T00:00:00Z")), 100);
}

fn shell_at(plan: &str) -> Shell {
    let library =
        RateLibrary::from_sources(vec![("test.rates".to_owned(), version("2026-01-01", 10))])
            .unwrap();
    let mut shell = Shell::versioned(library, "test");
    shell.ok(&cmd::create("a", plan), at("2026-03-01T12:00:00Z"));
    shell
}

#[test]
fn a_plan_without_a_window_takes_only_usage_of_now() {
    let mut shell = shell("test/lite");
    let now = at("2026-03-05T00:00:00Z");
    let refused = shell.refused(&late("c1", at("2026-03-04T23:00:00Z")), now);
    assert!(
        matches!(&refused, LedgerError::InvalidInput(message) if message.contains("accepts no late usage")),
        "{refused}"
    );
    // Within the clock skew of now, it is usage of now.
    shell.ok(&late("c2", at("2026-03-04T23:59:58Z")), now);
}

#[test]
fn partial_collection_spends_what_there_is_and_records_the_shortfall() {
    let mut shell = shell("test/pro");
    let now = at("2026-03-11T00:00:00Z");
    for index in 0..4 {
        shell.ok(&cmd::charge(&format!("c{index}"), usage("image", &[])), now);
    }
    assert_eq!(shell.available("credit", now), 20);
    let outcome = shell.ok(&collecting("p1", Some(at("2026-03-09T00:00:00Z"))), now);
    assert_eq!(outcome.amounts[0].amount_minor, 10, "priced then");
    assert_eq!(outcome.shortfall[0].amount_minor, 0);
    let outcome = shell.ok(&collecting("p2", None), now);
    assert_eq!(outcome.amounts[0].amount_minor, 20);
    assert_eq!(outcome.shortfall[0].amount_minor, 10);
    assert_eq!(shell.available("credit", now), 0);
    let charge = shell
        .entries_of(EntryType::Charge)
        .last()
        .copied()
        .cloned()
        .unwrap();
    assert_eq!(charge.amount_minor, -10);
    assert_eq!(charge.body["shortfall_minor"], 10);
    assert_eq!(charge.body["rated_minor"], 20);
    let refused = shell.refused(&cmd::charge("x", usage("image", &[])), now);
    assert!(
        matches!(refused, LedgerError::InsufficientCredits { .. }),
        "without opting in"
    );
    let outcome = shell.ok(&collecting("p3", None), now);
    assert_eq!(outcome.shortfall[0].amount_minor, 20);
    assert_eq!(shell.available("credit", now), 0, "never overdraws");
    shell.check_sums();
}
