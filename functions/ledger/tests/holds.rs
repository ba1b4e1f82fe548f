//! Holds: reserve an estimate with a TTL, capture the actual usage (capped at the hold) or
//! release; expired holds are released on the next read or decision; concurrency limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd, units, usage};
use credits_ledger::{Command, EntryType};

fn free_account() -> Shell {
    let mut shell = Shell::new(books::imagineart());
    shell.ok(
        &cmd::create("a", "imagineart/free"),
        at("2025-03-10T09:00:00Z"),
    );
    shell
}

#[test]
fn a_capture_charges_the_actual_usage_and_releases_the_rest() {
    let mut shell = free_account();
    let now = at("2025-03-10T10:00:00Z");
    let held = shell.ok(&cmd::hold("h1", units(60), 600), now);
    assert_eq!(held.balance.units["credit"].available_minor, 40);
    assert_eq!(held.balance.units["credit"].held_minor, 60);
    let captured = shell.ok(
        &cmd::capture("k1", "h1", Some(units(45))),
        at("2025-03-10T10:05:00Z"),
    );
    assert_eq!(captured.amounts[0].amount_minor, 45);
    assert!(captured.uncaptured.is_empty());
    assert_eq!(captured.balance.units["credit"].available_minor, 55);
    assert_eq!(captured.balance.units["credit"].held_minor, 0);
    let types: Vec<EntryType> = shell
        .entries
        .iter()
        .skip(1)
        .map(|entry| entry.entry_type)
        .collect();
    assert_eq!(
        types,
        vec![EntryType::Hold, EntryType::Capture, EntryType::Release]
    );
    assert_eq!(
        shell
            .refused(&cmd::capture("k2", "h1", None), at("2025-03-10T10:05:00Z"))
            .code(),
        "not-found"
    );
}

#[test]
fn a_capture_above_the_hold_is_capped_at_the_hold() {
    let mut shell = free_account();
    let now = at("2025-03-10T10:00:00Z");
    shell.ok(&cmd::hold("h1", units(30), 600), now);
    let captured = shell.ok(&cmd::capture("k1", "h1", Some(units(50))), now);
    assert_eq!(captured.amounts[0].amount_minor, 30);
    assert_eq!(captured.uncaptured[0].amount_minor, 20);
    assert_eq!(captured.balance.units["credit"].available_minor, 70);
    let error = shell.refused(&cmd::capture("k2", "h2", None), now);
    assert_eq!(error.to_string(), "open hold `h2` not found");
}

#[test]
fn an_expired_hold_is_released_on_the_next_read_without_a_sweeper() {
    let mut shell = free_account();
    shell.ok(&cmd::hold("h1", units(60), 300), at("2025-03-10T10:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-03-10T10:04:59Z")), 40);
    assert_eq!(shell.available("credit", at("2025-03-10T10:05:00Z")), 100);
    let error = shell.refused(&cmd::capture("k1", "h1", None), at("2025-03-10T10:06:00Z"));
    assert_eq!(error.code(), "not-found");
    shell.ok(&cmd::advance("adv"), at("2025-03-10T10:06:00Z"));
    let release = shell.entries_of(EntryType::Release);
    assert_eq!(release[0].at, at("2025-03-10T10:05:00Z"));
    assert_eq!(release[0].body["reason"], "expired");
}

#[test]
fn credits_held_past_their_expiry_expire_when_released() {
    let mut shell = free_account();
    // Today's free credits expire at midnight while reserved.
    shell.ok(
        &cmd::hold("h1", units(80), 7200),
        at("2025-03-10T23:00:00Z"),
    );
    assert_eq!(shell.available("credit", at("2025-03-11T00:30:00Z")), 100);
    shell.ok(&cmd::release("r1", "h1"), at("2025-03-11T00:30:00Z"));
    let expired: i64 = shell
        .entries_of(EntryType::Expiry)
        .iter()
        .map(|entry| entry.amount_minor)
        .sum();
    assert_eq!(expired, -100);
    // Captured instead, the reserved credits are spent even though their day is over.
    let mut other = free_account();
    other.ok(
        &cmd::hold("h1", units(80), 7200),
        at("2025-03-10T23:00:00Z"),
    );
    let outcome = other.ok(&cmd::capture("k1", "h1", None), at("2025-03-11T00:30:00Z"));
    assert_eq!(outcome.amounts[0].amount_minor, 80);
    assert_eq!(outcome.balance.units["credit"].available_minor, 100);
}

#[test]
fn holds_are_limited_by_the_plan() {
    let mut shell = free_account();
    let now = at("2025-03-10T10:00:00Z");
    shell.ok(&cmd::hold("h1", units(10), 60), now);
    shell.ok(&cmd::hold("h2", units(10), 120), now);
    let error = shell.refused(&cmd::hold("h3", units(10), 60), at("2025-03-10T10:00:30Z"));
    assert_eq!(error.code(), "rate-limited");
    assert_eq!(error.retry_after_seconds(), Some(30));
    shell.ok(&cmd::hold("h3", units(10), 60), at("2025-03-10T10:01:00Z"));
    let error = shell.refused(&cmd::hold("h4", units(100), 60), at("2025-03-10T10:01:00Z"));
    assert_eq!(error.code(), "rate-limited");
    shell.ok(&cmd::release("r", "h2"), at("2025-03-10T10:01:00Z"));
    assert_eq!(
        shell
            .refused(&cmd::hold("h4", units(100), 60), at("2025-03-10T10:01:00Z"))
            .code(),
        "insufficient-credits"
    );
    assert_eq!(
        shell
            .refused(&cmd::hold("h5", units(1), 0), at("2025-03-10T10:01:00Z"))
            .code(),
        "invalid-input"
    );
}

#[test]
fn a_suspended_account_cannot_spend_but_completes_open_holds() {
    let mut shell = free_account();
    let now = at("2025-03-10T10:00:00Z");
    shell.ok(&cmd::hold("h1", units(10), 600), now);
    shell.ok(&Command::Suspend { id: "s".into() }, now);
    let error = shell.refused(&cmd::charge("c1", units(1)), now);
    assert_eq!(
        (error.code(), error.to_string().as_str()),
        ("feature-not-allowed", "account `a` is suspended")
    );
    assert_eq!(
        shell.refused(&cmd::hold("h2", units(1), 60), now).code(),
        "feature-not-allowed"
    );
    shell.ok(&cmd::capture("k1", "h1", None), now);
    shell.ok(&Command::Resume { id: "r".into() }, now);
    shell.ok(
        &cmd::charge("c2", usage("image", &[("model", "standard")])),
        now,
    );
}

#[test]
fn closing_releases_holds_and_forfeits_every_bucket() {
    let mut shell = Shell::new(books::ai_engine());
    let now = at("2025-01-10T00:00:00Z");
    shell.ok(
        &cmd::create("org", "ai-engine/professional"),
        at("2025-01-01T00:00:00Z"),
    );
    shell.ok(&cmd::top_up("t1", "credit", 1_000), now);
    shell.ok(&cmd::hold("h1", units(100), 600), now);
    let closed = shell.ok(&Command::Close { id: "bye".into() }, now);
    assert_eq!(closed.amounts[0].amount_minor, 501_000);
    assert!(shell.account().buckets.is_empty() && shell.account().holds.is_empty());
    let forfeit = shell.entries_of(EntryType::Forfeit);
    assert_eq!((forfeit.len(), forfeit[0].amount_minor), (1, -501_000));
    // Nothing more happens, not even grants.
    assert_eq!(shell.available("credit", at("2026-01-01T00:00:00Z")), 0);
    assert_eq!(
        shell.refused(&cmd::top_up("t2", "credit", 1), now).code(),
        "account-closed"
    );
}
