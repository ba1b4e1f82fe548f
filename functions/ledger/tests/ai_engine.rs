//! Seed 001 (AI Engine): calendar-month cycles; Standard credits expire at cycle end,
//! Professional credits roll over 3 cycles; Enterprise rolls over up to a cap and has a
//! credit line; one balance shared by projects and members.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd, units};
use credits_ledger::{Attribution, Command, EntryType, Spend, statement};

#[test]
fn standard_credits_expire_at_the_end_of_the_calendar_month() {
    let mut shell = Shell::new(books::ai_engine());
    shell.ok(
        &cmd::create("org", "ai-engine/standard"),
        at("2025-01-20T15:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", units(400)), at("2025-01-25T00:00:00Z"));
    assert_eq!(
        shell.buckets("credit", at("2025-01-31T23:59:59Z")),
        vec![("allocation".into(), 60_000)]
    );
    shell.ok(&cmd::advance("adv"), at("2025-02-01T00:00:00Z"));
    let expiry = shell.entries_of(EntryType::Expiry);
    assert_eq!(
        (expiry[0].amount_minor, expiry[0].at),
        (-60_000, at("2025-02-01T00:00:00Z"))
    );
    assert_eq!(
        shell.buckets("credit", at("2025-02-01T00:00:00Z")),
        vec![("allocation".into(), 100_000)]
    );
}

#[test]
fn professional_credits_roll_over_for_three_cycles() {
    let mut shell = Shell::new(books::ai_engine());
    shell.ok(
        &cmd::create("org", "ai-engine/professional"),
        at("2025-01-20T15:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", units(1_000)), at("2025-01-21T00:00:00Z"));
    // January's 4,000 left are usable through April, gone on 1 May.
    let april = shell.buckets("credit", at("2025-04-30T23:59:59Z"));
    assert_eq!(
        april.iter().map(|bucket| bucket.1).collect::<Vec<_>>(),
        vec![400_000, 500_000, 500_000, 500_000]
    );
    let may = shell.buckets("credit", at("2025-05-01T00:00:00Z"));
    assert_eq!(
        may.iter().map(|bucket| bucket.1).collect::<Vec<_>>(),
        vec![500_000, 500_000, 500_000, 500_000]
    );
    // Oldest (soonest-expiring) allocation is spent first.
    let outcome = shell.ok(&cmd::charge("c2", units(10)), at("2025-03-05T00:00:00Z"));
    assert_eq!(
        outcome.paid_from[0].bucket,
        "grant:professional:allocation:credit:every_cycle:2025-01-01T00:00:00Z"
    );
}

#[test]
fn enterprise_rolls_over_up_to_its_cap_and_overdraws_within_its_credit_line() {
    let mut shell = Shell::new(books::ai_engine());
    shell.ok(
        &cmd::create("org", "ai-engine/enterprise"),
        at("2025-01-01T00:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", units(5_000)), at("2025-01-10T00:00:00Z"));
    // 15,000 left; at most 20,000 roll over: on 1 Feb 15,000 + 20,000 = 35,000.
    assert_eq!(
        shell.available("credit", at("2025-02-01T00:00:00Z")),
        3_500_000
    );
    // On 1 Mar: 35,000 capped to 20,000, plus March's 20,000.
    assert_eq!(
        shell.available("credit", at("2025-03-01T00:00:00Z")),
        4_000_000
    );
    shell.ok(&cmd::advance("adv"), at("2025-03-01T00:00:00Z"));
    let cut: i64 = shell
        .entries_of(EntryType::Expiry)
        .iter()
        .map(|entry| entry.amount_minor)
        .sum();
    assert_eq!(cut, -1_500_000);
    // Overdraw 5,000 below zero, not more.
    let now = at("2025-03-02T00:00:00Z");
    let error = shell.refused(&cmd::charge("big", units(45_001)), now);
    assert_eq!(error.code(), "insufficient-credits");
    let outcome = shell.ok(&cmd::charge("c2", units(45_000)), now);
    assert_eq!(outcome.balance.units["credit"].available_minor, -500_000);
    assert_eq!(outcome.balance.units["credit"].credit_line_left_minor, 0);
    assert_eq!(outcome.paid_from.last().unwrap().kind, "overdraft");
    // The next allocation repays the debt first.
    assert_eq!(
        shell.available("credit", at("2025-04-01T00:00:00Z")),
        1_500_000
    );
    // Closing with a debt is refused; after a top-up it forfeits everything.
    let error = shell.refused(&Command::Close { id: "close".into() }, now);
    assert_eq!(error.code(), "conflict");
    shell.ok(&cmd::top_up("t1", "credit", 600_000), now);
    let closed = shell.ok(&Command::Close { id: "close".into() }, now);
    assert_eq!(closed.amounts[0].amount_minor, 100_000);
    assert_eq!(shell.available("credit", now), 0);
    assert_eq!(
        shell.refused(&cmd::charge("c3", units(1)), now).code(),
        "account-closed"
    );
}

#[test]
fn projects_and_members_share_one_balance_and_statements_add_up() {
    let mut shell = Shell::new(books::ai_engine());
    shell.ok(
        &cmd::create("org", "ai-engine/standard"),
        at("2025-01-01T00:00:00Z"),
    );
    for (id, project, member, n) in [("c1", "alpha", "ann", 100), ("c2", "beta", "bob", 250)] {
        shell.ok(
            &Command::Charge(Spend {
                id: id.into(),
                usage: units(n),
                attribution: Attribution {
                    project: Some(project.into()),
                    member: Some(member.into()),
                    content: None,
                },
                occurred_at: None,
                collect: credits_ledger::Collect::All,
                outcome: credits_dsl::JobOutcome::Completed,
            }),
            at("2025-01-15T00:00:00Z"),
        );
    }
    shell.ok(
        &cmd::top_up("t1", "credit", 50_000),
        at("2025-01-20T00:00:00Z"),
    );
    shell.ok(
        &cmd::refund("r1", "c2", "duplicate", None),
        at("2025-01-21T00:00:00Z"),
    );
    assert_eq!(
        shell.available("credit", at("2025-01-21T00:00:00Z")),
        140_000
    );
    shell.ok(&cmd::advance("adv"), at("2025-02-01T00:00:00Z"));
    let january =
        credits_ledger::cycle_containing(shell.account(), &shell.book, at("2025-01-15T00:00:00Z"))
            .unwrap();
    assert_eq!(
        (january.start, january.end),
        (at("2025-01-01T00:00:00Z"), at("2025-02-01T00:00:00Z"))
    );
    let line = &statement(&shell.entries, january).unwrap().units["credit"];
    assert_eq!(line.opening_minor, 0);
    assert_eq!(line.grants_minor, 100_000);
    assert_eq!(line.top_ups_minor, 50_000);
    assert_eq!(line.usage_minor, 35_000);
    assert_eq!(line.usage_by_feature_minor["gen"], 35_000);
    assert_eq!(line.refunds_minor, 25_000);
    assert_eq!(line.expired_minor, 90_000);
    assert_eq!(line.closing_minor, 50_000);
    let february =
        credits_ledger::cycle_containing(shell.account(), &shell.book, at("2025-02-01T00:00:00Z"))
            .unwrap();
    let line = &statement(&shell.entries, february).unwrap().units["credit"];
    assert_eq!(
        (line.opening_minor, line.grants_minor, line.closing_minor),
        (50_000, 100_000, 150_000)
    );
}
