//! Long-idle accounts: catching up is bounded per decision; a command that does not fit is
//! refused with `catch-up-required`, `Advance` commits partial progress, and reads still see
//! the account as of now.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd, units};
use credits_dsl::SubscriptionPeriod;
use credits_ledger::EntryType;

#[test]
fn ten_idle_years_are_caught_up_over_several_commits() {
    let mut shell = Shell::new(books::imentiv());
    let plan = "imentiv/professional";
    let start = at("2020-01-31T12:00:00Z");
    shell.ok(&cmd::create("a", plan), start);
    shell.ok(
        &cmd::subscribe("s", "a", plan, SubscriptionPeriod::Monthly, start),
        start,
    );
    let now = at("2030-01-31T12:00:00Z");
    // A read sees 121 allocations that roll over while subscribed.
    assert_eq!(shell.available("credit", now), 121 * 1_200_000);
    let error = shell.refused(&cmd::charge("c1", units(1)), now);
    assert_eq!(error.code(), "catch-up-required");
    let mut commits = 0;
    loop {
        commits += 1;
        let outcome = shell.ok(&cmd::advance(&format!("adv{commits}")), now);
        let written = shell.entries.len();
        assert!(written > 0);
        if outcome.caught_up {
            break;
        }
        assert!(commits < 20);
    }
    assert!(commits > 1, "ten years do not fit in one commit");
    assert!(
        shell
            .entries
            .windows(2)
            .all(|pair| pair[0].at <= pair[1].at),
        "entries in time order"
    );
    assert_eq!(shell.entries_of(EntryType::Grant).len(), 121);
    let outcome = shell.ok(&cmd::charge("c1", units(1)), now);
    assert_eq!(
        outcome.balance.units["credit"].available_minor,
        121 * 1_200_000 - 100
    );
}

#[test]
fn idle_daily_grants_leave_no_trace_but_the_balance_is_right() {
    let mut shell = Shell::new(books::imagineart());
    shell.ok(
        &cmd::create("a", "imagineart/free"),
        at("2020-01-01T00:00:00Z"),
    );
    // Nine years of days fit in one walk, which writes two entries: the first day's expiry
    // and today's grant (the days in between could never be spent).
    let outcome = shell.ok(&cmd::charge("c1", units(30)), at("2029-01-01T10:00:00Z"));
    assert_eq!(outcome.balance.units["credit"].available_minor, 70);
    assert_eq!(shell.entries.len(), 4);
}
