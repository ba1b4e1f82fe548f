//! One test per bug found, named after it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd};
use credits_ledger::{Command, Configure, EntryType};

fn grants_of(shell: &Shell, key: &str) -> usize {
    shell
        .entries_of(EntryType::Grant)
        .iter()
        .filter(|entry| entry.body["grant"] == key)
        .count()
}

/// Switching plans moved the anchor of `from purchase` cycles (the plan start), so switching
/// away and back within a cycle granted the allocation again, under an entry id already used.
#[test]
fn switching_plans_back_and_forth_does_not_grant_an_allocation_twice() {
    let mut shell = Shell::new(books::property_book("UTC"));
    shell.ok(&cmd::create("a", "prop/p"), at("2024-03-11T10:00:00Z"));
    shell.ok(
        &Command::Configure(cmd::configure("to-q", "a", "prop/q")),
        at("2024-03-11T11:00:00Z"),
    );
    shell.ok(
        &Command::Configure(cmd::configure("to-p", "a", "prop/p")),
        at("2024-03-11T12:00:00Z"),
    );
    assert_eq!(grants_of(&shell, "plain"), 1);
    // The next allocation comes when the granted period ends (11 April, 10:00).
    shell.ok(&cmd::advance("adv"), at("2024-04-11T10:00:00Z"));
    assert_eq!(grants_of(&shell, "plain"), 2);
}

/// Changing the time zone moved the start of "today", which granted today's free credits a
/// second time.
#[test]
fn changing_the_time_zone_does_not_grant_a_day_twice() {
    let mut shell = Shell::new(books::imagineart());
    let mut create = cmd::configure("c", "a", "imagineart/free");
    create.time_zone = Some("Asia/Tokyo".into());
    shell.ok(&Command::Configure(create), at("2025-03-10T10:00:00Z"));
    let utc = Configure {
        time_zone: Some("UTC".into()),
        ..cmd::configure("z", "a", "imagineart/free")
    };
    shell.ok(&Command::Configure(utc), at("2025-03-10T10:00:00Z"));
    assert_eq!(shell.entries_of(EntryType::Grant).len(), 1);
    assert_eq!(shell.available("credit", at("2025-03-10T20:00:00Z")), 100);
}
