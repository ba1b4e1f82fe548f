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
use credits_ledger::{Account, Command, EntryType, decide};
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
    account
}

fn run(zone: &str, ops: &[Op], steps: &[i64]) {
    let mut shell = Shell::new(books::property_book(zone));
    let mut now = at("2024-01-31T10:00:00Z");
    shell.ok(&cmd::create("a", "prop/p"), now);
    let mut holds: Vec<String> = Vec::new();
    let mut charges: Vec<String> = Vec::new();
    let mut accepted: Vec<Command> = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let id = format!("op{index}");
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
                if let Ok(decision) =
                    decide(shell.account.as_ref(), &command, &facts, &shell.book, now)
                {
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
                _ => {}
            }
            accepted.push(command);
        }
        check_bounds(shell.account());
        check_refunds(&shell);
    }
    check_bounds(shell.account());

    // Time forward in steps == one step.
    let mut stepped = Shell {
        book: shell.book.clone(),
        account: shell.account.clone(),
        entries: shell.entries.clone(),
    };
    let mut one = Shell {
        book: shell.book.clone(),
        account: shell.account.clone(),
        entries: shell.entries.clone(),
    };
    let mut t = now;
    for (index, step) in steps.iter().enumerate() {
        t += TimeDelta::seconds(*step);
        advance(&mut stepped, &format!("step{index}"), t);
        check_bounds(stepped.account());
    }
    advance(&mut one, "one", t);
    assert_eq!(comparable(stepped.account()), comparable(one.account()));
    // A read advances in memory to the same balance.
    let read = credits_ledger::view(shell.account(), &shell.book, t).unwrap();
    assert_eq!(
        read,
        credits_ledger::view(one.account(), &one.book, t).unwrap()
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
        run(zone, &ops, &steps);
    }
}
