//! Clock skew between callers (`docs/clocks.md`): a `now` a little behind the account's last
//! decision is decided at that instant; further behind, the decision is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::TimeDelta;
use common::{Shell, at, books, cmd};
use credits_ledger::limits::MAX_CLOCK_SKEW_MS;
use credits_ledger::{EntryType, LedgerError, view};

/// The guard against a slow clock was never built: a `now` hours behind the account's last
/// decision was silently decided at the account's (future) instant.
#[test]
fn a_now_further_behind_than_the_skew_is_refused() {
    let mut shell = Shell::new(books::property_book("UTC"));
    let last = at("2024-03-11T10:00:00Z");
    shell.ok(&cmd::create("a", "prop/p"), last);
    shell.ok(&cmd::top_up("t-1", "credit", 100), last);
    let behind = last - TimeDelta::milliseconds(MAX_CLOCK_SKEW_MS + 1);
    let error = shell.refused(&cmd::top_up("t-2", "credit", 100), behind);
    assert_eq!(
        error,
        LedgerError::ClockBehind {
            now: behind,
            advanced_to: last
        }
    );
    assert_eq!(error.code(), "clock-behind");
    // Days behind: refused as well, including catch-up.
    let days = last - TimeDelta::days(3);
    shell.refused(&cmd::advance("adv"), days);
    // A read still shows the account, at its last instant.
    let balance = view(shell.account(), &shell.versions(), days).unwrap();
    assert!(!balance.units.is_empty());
}

#[test]
fn a_now_within_the_skew_is_decided_at_the_last_instant() {
    let mut shell = Shell::new(books::property_book("UTC"));
    let last = at("2024-03-11T10:00:00Z");
    shell.ok(&cmd::create("a", "prop/p"), last);
    let behind = last - TimeDelta::milliseconds(MAX_CLOCK_SKEW_MS);
    shell.ok(&cmd::top_up("t-1", "credit", 100), behind);
    let top_up = shell.entries_of(EntryType::TopUp)[0];
    assert_eq!(top_up.at, last, "clamped to the account's last decision");
    assert_eq!(shell.account().advanced_to, last);
}
