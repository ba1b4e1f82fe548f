//! Adjustments, voids and chargebacks (`docs/adjustments.md`): admin operations on credits
//! outside the plan's rules, each written as its own entry, and nothing written when refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Shell, at, cmd, units};
use credits_dsl::RateBook;
use credits_ledger::{EntryType, LedgerError};

const BOOK: &str = r#"book adj
title "Adjustments"
effective 2025-01-01
time_zone "UTC"

unit credit scale 0 round up

feature gen "Generate" {
  input n: count min 1
  base 1 credit each
  multiply by n
}

plan daily "Daily" {
  grant 10 credit daily as free, expires never
  order free, top_up
  topup as top_up, expires never
  credit line 5 credit
  refund within 30 days for duplicate
  refund expired forfeit
}
"#;

fn book() -> RateBook {
    credits_dsl::compile_source("adj.rates", BOOK).unwrap()
}

fn start() -> DateTime<Utc> {
    at("2025-01-01T12:00:00Z")
}

fn shell() -> Shell {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "adj/daily"), start());
    shell
}

/// `(id, left, purchase)` of the live buckets of `credit`, in consumption order.
fn listed(shell: &Shell, now: DateTime<Utc>) -> Vec<(String, i64, Option<String>)> {
    let balance = credits_ledger::view(shell.account(), &shell.versions(), now).unwrap();
    balance.units["credit"]
        .buckets
        .iter()
        .map(|bucket| {
            (
                bucket.id.clone(),
                bucket.left_minor,
                bucket.purchase.clone(),
            )
        })
        .collect()
}

fn statement_line(shell: &Shell) -> credits_ledger::UnitStatement {
    shell.account().statement.clone().unwrap().units["credit"].clone()
}

#[test]
fn a_credit_adjustment_adds_its_own_bucket_and_counts_in_the_statement() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    let outcome = shell.ok(&cmd::adjust("adj-1", 7, None), now);
    assert_eq!(outcome.amounts[0].amount_minor, 7);
    assert_eq!(outcome.paid_from[0].bucket, "adjustment:adj-1");
    // The plan's top-up kind, never expiring.
    assert_eq!(outcome.paid_from[0].kind, "top_up");
    assert_eq!(outcome.paid_from[0].expires_at, None);
    let entry = shell.entries_of(EntryType::Adjustment)[0];
    assert_eq!(entry.amount_minor, 7);
    assert_eq!(entry.body["reason"], "correction");
    assert_eq!(entry.body["memo"], "by hand");
    assert_eq!(shell.available("credit", now), 17);
    let line = statement_line(&shell);
    assert_eq!(line.adjustments_minor, 7);
    assert_eq!(line.closing_minor, 17);
}

#[test]
fn a_debit_draws_like_a_charge_and_beyond_the_balance_is_refused() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t", "credit", 20), now);
    // Free first (the plan's order), then the top-up.
    let outcome = shell.ok(&cmd::adjust("d", -12, None), now);
    let drawn: Vec<(&str, i64)> = outcome
        .paid_from
        .iter()
        .map(|draw| (draw.kind.as_str(), draw.amount_minor))
        .collect();
    assert_eq!(drawn, vec![("free", 10), ("top_up", 2)]);
    assert_eq!(shell.entries_of(EntryType::Adjustment)[0].amount_minor, -12);
    assert_eq!(statement_line(&shell).adjustments_minor, -12);
    // 18 left plus a credit line of 5: 24 is refused, and nothing changes.
    let error = shell.refused(&cmd::adjust("too-much", -24, None), now);
    assert_eq!(error.code(), "insufficient-credits");
    // Within the line, as a charge may.
    shell.ok(&cmd::adjust("into-line", -23, None), now);
    assert_eq!(shell.available("credit", now), -5);
}

#[test]
fn a_debit_from_a_named_bucket_takes_only_from_it() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t", "credit", 20), now);
    let outcome = shell.ok(&cmd::adjust("d", -5, Some("top_up:t")), now);
    assert_eq!(outcome.paid_from.len(), 1);
    assert_eq!(outcome.paid_from[0].bucket, "top_up:t");
    let listed = listed(&shell, now);
    assert!(
        listed.contains(&("top_up:t".into(), 15, Some("t".into()))),
        "{listed:?}"
    );
    // More than the bucket holds: refused, though the account holds more.
    let error = shell.refused(&cmd::adjust("d2", -16, Some("top_up:t")), now);
    assert!(matches!(
        error,
        LedgerError::InsufficientCredits {
            available_minor: 15,
            ..
        }
    ));
    let error = shell.refused(&cmd::adjust("d3", -1, Some("nope")), now);
    assert_eq!(error.code(), "not-found");
    let error = shell.refused(&cmd::adjust("d4", 1, Some("top_up:t")), now);
    assert_eq!(error.code(), "invalid-input");
}

#[test]
fn a_void_removes_what_is_left_of_one_bucket() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t", "credit", 20), now);
    shell.ok(&cmd::charge("c", units(3)), now);
    let grant = listed(&shell, now)[0].0.clone();
    assert!(grant.starts_with("grant:"), "{grant}");
    let outcome = shell.ok(&cmd::void("v1", &grant), now);
    assert_eq!(outcome.amounts[0].amount_minor, 7);
    let outcome = shell.ok(&cmd::void("v2", "top_up:t"), now);
    assert_eq!(outcome.amounts[0].amount_minor, 20);
    let voids = shell.entries_of(EntryType::Void);
    assert_eq!(voids[0].amount_minor, -7);
    assert_eq!(voids[1].amount_minor, -20);
    assert_eq!(voids[1].body["purchase"], "t");
    assert_eq!(shell.available("credit", now), 0);
    assert_eq!(statement_line(&shell).voided_minor, 27);
    // Emptied at this instant (still in the snapshot): nothing left to void.
    assert_eq!(
        shell.refused(&cmd::void("v3", "top_up:t"), now).code(),
        "conflict"
    );
    // Gone at the next instant.
    let later = now + Duration::seconds(1);
    assert_eq!(
        shell.refused(&cmd::void("v4", "top_up:t"), later).code(),
        "not-found"
    );
    assert_eq!(
        shell
            .refused(&cmd::void("v5", "overdraft:credit"), later)
            .code(),
        "not-found"
    );
}

#[test]
fn a_bucket_with_held_credits_is_not_voided() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t", "credit", 20), now);
    shell.ok(&cmd::hold("h", units(12), 600), now);
    assert_eq!(
        shell.refused(&cmd::void("v", "top_up:t"), now).code(),
        "conflict"
    );
    assert_eq!(
        shell.refused(&cmd::chargeback("cb", "t"), now).code(),
        "conflict"
    );
    shell.ok(&cmd::release("r", "h"), now);
    shell.ok(&cmd::void("v", "top_up:t"), now);
}

#[test]
fn a_chargeback_removes_what_is_left_and_reports_what_was_spent() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t1", "credit", 20), now);
    shell.ok(&cmd::top_up("t2", "credit", 20), now);
    // 10 free, then 8 of the first purchase.
    shell.ok(&cmd::charge("c", units(18)), now);
    let outcome = shell.ok(&cmd::chargeback("cb", "t1"), now);
    assert_eq!(outcome.amounts[0].amount_minor, 12);
    assert_eq!(outcome.spent[0].amount_minor, 8);
    let entry = shell.entries_of(EntryType::Chargeback)[0];
    assert_eq!(entry.amount_minor, -12);
    assert_eq!(entry.body["spent_minor"], 8);
    assert_eq!(shell.available("credit", now), 20);
    assert_eq!(statement_line(&shell).voided_minor, 12);
    // Once only, by whatever id.
    let error = shell.refused(&cmd::chargeback("cb-again", "t1"), now);
    assert_eq!(error.code(), "conflict");
    assert!(error.to_string().contains("`cb`"), "{error}");
    assert_eq!(
        shell.refused(&cmd::chargeback("cb-x", "nope"), now).code(),
        "not-found"
    );
    // A purchase spent in full: nothing to remove, all of it spent.
    shell.ok(&cmd::charge("c2", units(20)), now);
    let later = now + Duration::seconds(1);
    let outcome = shell.ok(&cmd::chargeback("cb2", "t2"), later);
    assert_eq!(outcome.amounts[0].amount_minor, 0);
    assert_eq!(outcome.spent[0].amount_minor, 20);
}

#[test]
fn what_a_void_removed_is_not_reported_spent_by_a_chargeback() {
    let mut shell = shell();
    let now = start() + Duration::minutes(1);
    shell.ok(&cmd::top_up("t", "credit", 20), now);
    shell.ok(&cmd::charge("c", units(13)), now);
    shell.ok(&cmd::void("v", "top_up:t"), now);
    let later = now + Duration::seconds(1);
    let outcome = shell.ok(&cmd::chargeback("cb", "t"), later);
    assert_eq!(outcome.amounts[0].amount_minor, 0);
    assert_eq!(outcome.spent[0].amount_minor, 3);
}

#[test]
fn memos_are_bounded() {
    let mut shell = shell();
    let Command::Adjust(mut adjustment) = cmd::adjust("m", 1, None) else {
        unreachable!()
    };
    adjustment.memo = Some("x".repeat(credits_ledger::limits::MAX_MEMO_BYTES + 1));
    let error = shell.refused(&Command::Adjust(adjustment.clone()), start());
    assert_eq!(error.code(), "invalid-input");
    adjustment.memo = Some("two\nlines".to_owned());
    shell.ok(&Command::Adjust(adjustment), start());
}

use credits_ledger::Command;

/// A top-up id decided again (its commit landed, the answer was lost) with another body:
/// its bucket is live, so the decision is refused before anything is credited twice, in
/// whatever unit; the shell answers from the operation record (the original, or 409).
#[test]
fn a_top_up_id_decided_again_credits_nothing() {
    let source = BOOK.replace(
        "unit credit scale 0 round up",
        "unit credit scale 0 round up\nunit minute scale 0 round up",
    );
    let mut shell = Shell::new(credits_dsl::compile_source("adj.rates", &source).unwrap());
    shell.ok(&cmd::create("a", "adj/daily"), start());
    shell.ok(&cmd::top_up("t", "minute", 7), start());
    for unit in ["credit", "minute"] {
        let error = shell.refused(&cmd::top_up("t", unit, 700), start());
        assert_eq!(error.code(), "conflict", "{error}");
    }
}
