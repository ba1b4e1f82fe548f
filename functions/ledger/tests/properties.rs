//! Property tests over random command sequences: the balance of every unit equals the sum of
//! its entries; no bucket is below zero outside the credit line; decisions are
//! deterministic and never reuse an entry id; refunds never exceed charges; and time moving
//! forward in any steps gives the same account as one big step.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use common::{Shell, at, books, cmd, units};
use credits_dsl::SubscriptionPeriod;
use credits_ledger::{Account, ClosedStatement, Command, CyclePeriod, Entry, EntryType, decide};
use proptest::prelude::*;

const LINE_MINOR: i64 = 35;

#[derive(Debug, Clone)]
enum Op {
    Charge(i64),
    Hold(i64, u32),
    Capture(usize, Option<i64>),
    Release(usize),
    TopUp(i64),
    Refund(usize, Option<i64>),
    Wait(i64),
    Replay(usize),
    Subscribe(bool),
    Cancel,
    SwitchPlan,
    Suspend,
    Resume,
    Adjust(i64),
    Void(usize),
    Chargeback(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0_i64..60).prop_map(Op::Charge),
        2 => (0_i64..50, 1_u32..200_000).prop_map(|(n, ttl)| Op::Hold(n, ttl)),
        2 => (any::<usize>(), proptest::option::of(0_i64..70)).prop_map(|(i, n)| Op::Capture(i, n)),
        1 => any::<usize>().prop_map(Op::Release),
        2 => (1_i64..80).prop_map(Op::TopUp),
        2 => (any::<usize>(), proptest::option::of(1_i64..40)).prop_map(|(i, n)| Op::Refund(i, n)),
        4 => (0_i64..(20 * 86_400)).prop_map(Op::Wait),
        1 => any::<usize>().prop_map(Op::Replay),
        1 => any::<bool>().prop_map(Op::Subscribe),
        1 => Just(Op::Cancel),
        1 => Just(Op::SwitchPlan),
        1 => Just(Op::Suspend),
        1 => Just(Op::Resume),
        1 => (-40_i64..40).prop_filter("not zero", |n| *n != 0).prop_map(Op::Adjust),
        1 => any::<usize>().prop_map(Op::Void),
        1 => any::<usize>().prop_map(Op::Chargeback),
    ]
}

fn zone() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("UTC"),
        Just("Europe/Berlin"),
        Just("America/New_York"),
        Just("Australia/Lord_Howe")
    ]
}

fn pick<T: Clone>(items: &[T], index: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[index % items.len()].clone())
}

/// Buckets within bounds: only the overdraft below zero, and not below the line.
fn check_bounds(account: &Account) {
    for bucket in &account.buckets {
        assert!(bucket.held_minor >= 0, "{bucket:?}");
        if bucket.is_overdraft() {
            assert!(
                bucket.left_minor <= 0 && bucket.left_minor >= -LINE_MINOR,
                "{bucket:?}"
            );
        } else {
            assert!(bucket.left_minor >= 0, "{bucket:?}");
        }
    }
}

/// Per charge id and unit: charged minus refunded is never negative.
fn check_refunds(shell: &Shell) {
    let mut net: BTreeMap<(String, String), i64> = BTreeMap::new();
    for entry in &shell.entries {
        let Some(unit) = &entry.unit else { continue };
        match entry.entry_type {
            EntryType::Charge | EntryType::Capture => {
                *net.entry((entry.operation.clone(), unit.clone()))
                    .or_default() -= entry.amount_minor;
            }
            EntryType::Refund => {
                let charge = entry.body["charge"].as_str().unwrap().to_owned();
                *net.entry((charge, unit.clone())).or_default() -= entry.amount_minor;
            }
            _ => {}
        }
    }
    for (key, amount) in net {
        assert!(
            amount >= 0,
            "refunds of {key:?} exceed the charge by {}",
            -amount
        );
    }
}

/// Whether `entry` falls after `[start, end)` (expiry, forfeits and rollovers dated exactly
/// at `end` belong to the period ending there).
fn after(entry: &Entry, end: DateTime<Utc>) -> bool {
    match entry.entry_type {
        EntryType::Expiry | EntryType::Forfeit | EntryType::Rollover => entry.at > end,
        _ => entry.at >= end,
    }
}

/// The statements kept as the ledger committed (every closed one, then the open one) chain:
/// each opens at the previous closing, closes at opening + grants + top-ups − usage +
/// refunds − expired − forfeited + adjustments, and the last closes at the balance.
///
/// With `oracle`, each also equals the fold of the whole history over its span, by the
/// statement algorithm that read all history (`credits_ledger::statement`), with the one
/// rule that makes statements final: an entry dated inside a cycle that had already closed
/// when it was written counts in the cycle open then. A statement closed early by a change
/// of calendar ends at that decision's instant and is followed by one whose cycle may start
/// earlier: that one only spans what came after. Two decisions at one instant on both
/// sides of such a change cannot be told apart by time, hence `oracle` only when every
/// command has its own instant.
fn check_statements(shell: &Shell, oracle: bool) {
    let open = shell
        .account()
        .statement
        .clone()
        .map(|open| ClosedStatement {
            starts_at: open.starts_at,
            ends_at: open.ends_at,
            units: open.units,
        });
    let kept: Vec<&ClosedStatement> = shell
        .closed_statements
        .iter()
        .chain(open.as_ref())
        .collect();
    // The statement each entry falls in: by time, never back to one already closed.
    let mut assigned: Vec<Vec<Entry>> = vec![Vec::new(); kept.len()];
    let mut current = 0;
    for entry in shell.entries.iter().filter(|entry| entry.unit.is_some()) {
        let by_time = kept
            .iter()
            .position(|statement| !after(entry, statement.ends_at))
            .unwrap_or(kept.len().saturating_sub(1));
        current = current.max(by_time);
        if let Some(slot) = assigned.get_mut(current) {
            slot.push(entry.clone());
        }
    }
    let everything = CyclePeriod {
        start: DateTime::<Utc>::MIN_UTC,
        end: DateTime::<Utc>::MAX_UTC,
    };
    let mut previous_closing: BTreeMap<String, i64> = BTreeMap::new();
    for (statement, entries) in kept.iter().zip(&assigned) {
        if oracle {
            let mut folded = credits_ledger::statement(entries, everything)
                .unwrap()
                .units;
            for (unit, closing) in &previous_closing {
                folded.entry(unit.clone()).or_default();
                let line = folded.get_mut(unit).unwrap();
                line.opening_minor += closing;
                line.closing_minor += closing;
            }
            assert_eq!(
                statement.units,
                folded,
                "statement {} to {}",
                statement.fact_key(),
                statement.ends_at
            );
        }
        for (unit, line) in &statement.units {
            let carried = previous_closing.get(unit).copied().unwrap_or(0);
            assert_eq!(line.opening_minor, carried, "{unit} opening: {line:?}");
            assert_eq!(
                line.closing_minor,
                line.opening_minor + line.grants_minor + line.top_ups_minor - line.usage_minor
                    + line.refunds_minor
                    - line.expired_minor
                    - line.forfeited_minor
                    + line.adjustments_minor
                    - line.voided_minor,
                "{unit}: {line:?}"
            );
            assert_eq!(
                line.usage_minor,
                line.usage_by_feature_minor.values().sum::<i64>(),
                "{unit}: {line:?}"
            );
        }
        // A unit never disappears from one statement to the next.
        for unit in previous_closing.keys() {
            assert!(statement.units.contains_key(unit), "{unit} dropped");
        }
        previous_closing = statement
            .units
            .iter()
            .map(|(unit, line)| (unit.clone(), line.closing_minor))
            .collect();
    }
    let mut balance: BTreeMap<String, i64> = BTreeMap::new();
    for entry in &shell.entries {
        if let Some(unit) = &entry.unit {
            *balance.entry(unit.clone()).or_default() += entry.amount_minor;
        }
    }
    assert_eq!(
        previous_closing, balance,
        "the last statement closes at the balance"
    );
}

/// Advances the shell to `to`, committing partial advances until caught up.
fn advance(shell: &mut Shell, id: &str, to: DateTime<Utc>) {
    for round in 0..100 {
        let outcome = shell.ok(&cmd::advance(&format!("{id}-{round}")), to);
        if outcome.caught_up {
            return;
        }
    }
    panic!("advance did not catch up");
}

/// The account without the parts that depend on how many entries were written.
fn comparable(account: &Account) -> Account {
    let mut account = account.clone();
    account.next_seq = 0;
    // Events follow the entries written (dead-on-arrival grants publish none either).
    account.events_published = 0;
    // One big step skips grants that would be dead on arrival, so its statement differs.
    account.statement = None;
    account
}

/// `spread`: every command a second after the previous one (see [`check_statements`]).
fn run(zone: &str, ops: &[Op], steps: &[i64], spread: bool) {
    let mut shell = Shell::new(books::property_book(zone));
    let mut now = at("2024-01-31T10:00:00Z");
    shell.ok(&cmd::create("a", "prop/p"), now);
    let mut holds: Vec<String> = Vec::new();
    let mut charges: Vec<String> = Vec::new();
    let mut top_ups: Vec<String> = Vec::new();
    let mut accepted: Vec<Command> = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let id = format!("op{index}");
        if spread {
            now += TimeDelta::seconds(1);
        }
        let command = match op {
            Op::Charge(n) => cmd::charge(&id, units(*n)),
            Op::Hold(n, ttl) => cmd::hold(&id, units(*n), *ttl),
            Op::Capture(i, n) => match pick(&holds, *i) {
                Some(hold) => cmd::capture(&id, &hold, n.map(units)),
                None => continue,
            },
            Op::Release(i) => match pick(&holds, *i) {
                Some(hold) => cmd::release(&id, &hold),
                None => continue,
            },
            Op::TopUp(n) => cmd::top_up(&id, "credit", *n),
            Op::Refund(i, n) => match pick(&charges, *i) {
                Some(charge) => cmd::refund(&id, &charge, "duplicate", *n),
                None => continue,
            },
            Op::Subscribe(quarterly) => {
                let period = if *quarterly {
                    SubscriptionPeriod::Quarterly
                } else {
                    SubscriptionPeriod::Monthly
                };
                let plan = format!("prop/{}", shell.account().plan.plan);
                cmd::subscribe(&id, "a", &plan, period, now)
            }
            Op::Cancel => {
                let account = shell.account();
                let Some(subscription) = &account.subscription else {
                    continue;
                };
                let plan = format!("prop/{}", account.plan.plan);
                cmd::cancel(&id, "a", &plan, subscription.period, subscription.anchor)
            }
            Op::SwitchPlan => {
                let other = if shell.account().plan.plan == "p" {
                    "prop/q"
                } else {
                    "prop/p"
                };
                Command::Configure(cmd::configure(&id, "a", other))
            }
            Op::Adjust(n) => cmd::adjust(&id, *n, None),
            Op::Void(i) => {
                let live: Vec<String> = shell
                    .account()
                    .buckets
                    .iter()
                    .filter(|bucket| !bucket.is_overdraft())
                    .map(|bucket| bucket.id.clone())
                    .collect();
                match pick(&live, *i) {
                    Some(bucket) => cmd::void(&id, &bucket),
                    None => continue,
                }
            }
            Op::Chargeback(i) => match pick(&top_ups, *i) {
                Some(purchase) => cmd::chargeback(&id, &purchase),
                None => continue,
            },
            Op::Suspend => Command::Suspend { id: id.clone() },
            Op::Resume => Command::Resume { id: id.clone() },
            Op::Wait(seconds) => {
                now += TimeDelta::seconds(*seconds);
                advance(&mut shell, &id, now);
                continue;
            }
            Op::Replay(i) => {
                // Re-deciding an accepted command with its id on today's account either is
                // refused or writes an entry id that exists already (the store rejects it).
                let Some(command) = pick(&accepted, *i) else {
                    continue;
                };
                let facts = shell.facts(&command);
                if let Ok(decision) = decide(
                    shell.account.as_ref(),
                    &command,
                    &facts,
                    &shell.versions(),
                    now,
                ) {
                    let existing: BTreeSet<&str> = shell
                        .entries
                        .iter()
                        .map(|entry| entry.id.as_str())
                        .collect();
                    let own = decision.entries.iter().filter(|entry| {
                        !matches!(
                            entry.entry_type,
                            EntryType::Alert | EntryType::Release | EntryType::Expiry
                        ) && !entry.id.starts_with("grant:")
                            && !entry.id.starts_with("rollover:")
                    });
                    assert!(
                        own.clone().count() == 0
                            || own
                                .clone()
                                .any(|entry| existing.contains(entry.id.as_str())),
                        "replaying {command:?} would write new entries {:?}",
                        decision.entries
                    );
                }
                continue;
            }
        };
        if shell.run(&command, now).is_ok() {
            match op {
                Op::Hold(..) => holds.push(id.clone()),
                Op::Charge(_) => charges.push(id.clone()),
                Op::Capture(..) => charges.push(id.clone()),
                Op::TopUp(_) => top_ups.push(id.clone()),
                _ => {}
            }
            accepted.push(command);
        }
        check_bounds(shell.account());
        check_refunds(&shell);
    }
    check_bounds(shell.account());

    // Time forward in steps == one step.
    check_statements(&shell, spread);
    let mut stepped = Shell {
        book: shell.book.clone(),
        library: shell.library.clone(),
        account: shell.account.clone(),
        entries: shell.entries.clone(),
        closed_statements: shell.closed_statements.clone(),
        due_at: shell.due_at,
        events: shell.events.clone(),
    };
    let mut one = Shell {
        book: shell.book.clone(),
        library: shell.library.clone(),
        account: shell.account.clone(),
        entries: shell.entries.clone(),
        closed_statements: shell.closed_statements.clone(),
        due_at: shell.due_at,
        events: shell.events.clone(),
    };
    let mut t = now;
    for (index, step) in steps.iter().enumerate() {
        t += TimeDelta::seconds(*step);
        advance(&mut stepped, &format!("step{index}"), t);
        check_bounds(stepped.account());
    }
    advance(&mut one, "one", t);
    check_statements(&stepped, spread);
    check_statements(&one, spread);
    assert_eq!(comparable(stepped.account()), comparable(one.account()));
    // A read advances in memory to the same balance.
    let read = credits_ledger::view(shell.account(), &shell.versions(), t).unwrap();
    assert_eq!(
        read,
        credits_ledger::view(one.account(), &one.versions(), t).unwrap()
    );
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=5000` for a longer run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn random_sequences_keep_the_ledger_invariants(
        zone in zone(),
        ops in proptest::collection::vec(op(), 1..40),
        steps in proptest::collection::vec(0_i64..(45 * 86_400), 1..8),
    ) {
        run(zone, &ops, &steps, false);
    }

    /// Statements kept as the ledger commits equal the fold of the whole history per cycle.
    #[test]
    fn kept_statements_equal_the_fold_of_the_history(
        zone in zone(),
        ops in proptest::collection::vec(op(), 1..40),
        steps in proptest::collection::vec(0_i64..(45 * 86_400), 1..8),
    ) {
        run(zone, &ops, &steps, true);
    }
}

/// Subscribing at the instant a daily grant falls due (local midnight in a zone with
/// half-hour daylight saving) closes the open statement at that instant: the grant written
/// while catching up must count in the statement of the cycle that opens there, as the
/// history's fold counts it.
#[test]
fn a_grant_due_at_a_subscription_change_counts_in_the_new_statement() {
    run(
        "Australia/Lord_Howe",
        &[Op::Wait(269_998), Op::Subscribe(false)],
        &[0],
        true,
    );
}
