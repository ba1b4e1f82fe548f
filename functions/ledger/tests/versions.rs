//! Catching up through a change of rate-book version: every instant of an idle account is
//! materialised with the version in force then (`dsl/LANGUAGE.md`, "Versions of a book").
//! A version changes the cycle allocation, the daily grant and the rollover cap; an account
//! idle from before the change to after it gets the earlier amounts for the periods before
//! the change and the later ones after it, whether it is brought up in one step or many.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Shell, at, cmd, usage};
use credits_dsl::RateLibrary;
use credits_ledger::{Command, Configure, EntryType};
use proptest::prelude::*;

/// Book `test` effective `effective`: a calendar-month allocation of `allocation` credits
/// capped at `cap` when it rolls over, and `daily` free credits a day.
fn version(effective: &str, allocation: u32, cap: u32, daily: u32) -> String {
    format!(
        "book test
effective {effective}
time_zone \"UTC\"
unit credit scale 0 round up
feature image {{
  base 1 credit each
}}
plan pro {{
  cycle monthly calendar
  grant {allocation} credit every cycle as allocation, expires end of cycle, rolls over up to {cap} credit
  grant {daily} credit daily as free, expires end of day
  order free, allocation, top_up
  topup as top_up, expires never
}}
"
    )
}

/// 1,000 a month capped at 300 and 10 a day until `effective`; 2,000 capped at 500 and 20
/// a day from then on.
fn library(effective: &str) -> RateLibrary {
    RateLibrary::from_sources(vec![
        (
            "test.rates".to_owned(),
            version("2026-01-01", 1000, 300, 10),
        ),
        (
            format!("test@{effective}.rates"),
            version(effective, 2000, 500, 20),
        ),
    ])
    .unwrap()
}

/// An account on `pro` in `time_zone` (the book's when `None`), created at `start`.
fn account(effective: &str, time_zone: Option<&str>, start: DateTime<Utc>) -> Shell {
    let mut shell = Shell::versioned(library(effective), "test");
    shell.ok(
        &Command::Configure(Configure {
            time_zone: time_zone.map(str::to_owned),
            ..cmd::configure("create", "a", "test/pro")
        }),
        start,
    );
    shell
}

/// `(instant, amount)` of every grant of `kind`, in order.
fn grants(shell: &Shell, kind: &str) -> Vec<(DateTime<Utc>, i64)> {
    shell
        .entries_of(EntryType::Grant)
        .into_iter()
        .filter(|entry| entry.body["kind"] == kind)
        .map(|entry| (entry.at, entry.amount_minor))
        .collect()
}

/// `(instant, amount)` of every expiry above a rollover cap, in order, summed per instant.
fn capped(shell: &Shell) -> Vec<(DateTime<Utc>, i64)> {
    let mut cuts: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for entry in shell.entries_of(EntryType::Expiry) {
        if entry.body["reason"] != "above rollover cap" {
            continue;
        }
        match cuts.last_mut() {
            Some((when, amount)) if *when == entry.at => *amount += entry.amount_minor,
            _ => cuts.push((entry.at, entry.amount_minor)),
        }
    }
    cuts
}

/// Brings the account to each instant in turn (an `Advance` each), then charges one image
/// at `touched`.
fn walk(shell: &mut Shell, steps: &[DateTime<Utc>], touched: DateTime<Utc>) {
    for (index, step) in steps.iter().enumerate() {
        loop {
            let outcome = shell.ok(&cmd::advance(&format!("step{index}")), *step);
            if outcome.caught_up {
                break;
            }
        }
    }
    shell.ok(&cmd::charge("image", usage("image", &[])), touched);
}

/// The schedules of the same idle stretch: touched once, daily, around the version's start.
fn schedules(
    start: DateTime<Utc>,
    effective_at: DateTime<Utc>,
    touched: DateTime<Utc>,
) -> Vec<Vec<DateTime<Utc>>> {
    let mut daily = Vec::new();
    let mut step = start + TimeDelta::hours(13);
    while step < touched {
        daily.push(step);
        step += TimeDelta::days(1);
    }
    vec![
        Vec::new(),
        daily,
        vec![effective_at - TimeDelta::seconds(1), effective_at],
        vec![effective_at],
        vec![effective_at + TimeDelta::seconds(1)],
    ]
}

#[test]
fn an_idle_account_gets_each_periods_grants_from_the_version_in_force_then() {
    let start = at("2026-11-15T10:00:00Z");
    let effective_at = at("2027-01-01T00:00:00Z");
    let touched = at("2027-01-10T12:00:00Z");
    let mut results = Vec::new();
    for steps in schedules(start, effective_at, touched) {
        let mut shell = account("2027-01-01", None, start);
        walk(&mut shell, &steps, touched);
        // November and December under the first version, January under the second.
        assert_eq!(
            grants(&shell, "allocation"),
            [
                (start, 1000),
                (at("2026-12-01T00:00:00Z"), 1000),
                (effective_at, 2000),
            ],
            "steps {steps:?}"
        );
        // December 1st: November's 1,000 above its cap of 300; January 1st: November's
        // 300 and December's 1,000 above the cap of 300 they were granted with.
        assert_eq!(
            capped(&shell),
            [(at("2026-12-01T00:00:00Z"), -700), (effective_at, -1000)],
            "steps {steps:?}"
        );
        // Every daily grant gives the amount of its day's version (the days an idle walk
        // skips could never be spent and leave no entry).
        for (when, amount) in grants(&shell, "free") {
            let expected = if when < effective_at { 10 } else { 20 };
            assert_eq!(amount, expected, "daily grant of {when}, steps {steps:?}");
        }
        assert_eq!(
            grants(&shell, "free").last(),
            Some(&(at("2027-01-10T00:00:00Z"), 20))
        );
        // 300 rolled over + 2,000 + 20 today, less the image.
        assert_eq!(shell.available("credit", touched), 300 + 2000 + 20 - 1);
        results.push((
            shell.buckets("credit", touched),
            shell.account().grants_applied.clone(),
        ));
    }
    assert!(
        results.windows(2).all(|pair| pair[0] == pair[1]),
        "one step and many give the same account: {results:#?}"
    );
}

#[test]
fn a_version_starting_mid_cycle_changes_the_daily_grant_at_its_start_only() {
    // The account's days start at midnight in Tokyo (15:00 UTC); the version starts at
    // midnight UTC on December 15th, inside the Tokyo day that began at 15:00 on the 14th.
    let start = at("2026-12-10T03:00:00Z");
    let effective_at = at("2026-12-15T00:00:00Z");
    let touched = at("2026-12-20T16:00:00Z");
    let mut results = Vec::new();
    for steps in schedules(start, effective_at, touched) {
        let mut shell = account("2026-12-15", Some("Asia/Tokyo"), start);
        walk(&mut shell, &steps, touched);
        for (when, amount) in grants(&shell, "free") {
            let expected = if when < effective_at { 10 } else { 20 };
            assert_eq!(amount, expected, "daily grant of {when}, steps {steps:?}");
        }
        // The December allocation came with the first version; January's is not due yet.
        assert_eq!(
            grants(&shell, "allocation"),
            [(start, 1000)],
            "steps {steps:?}"
        );
        assert_eq!(
            shell.available("credit", touched),
            1000 + 20 - 1,
            "steps {steps:?}"
        );
        results.push(shell.buckets("credit", touched));
    }
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]));
    // A read of the idle account sees the same as the walks.
    let shell = account("2026-12-15", Some("Asia/Tokyo"), start);
    assert_eq!(shell.available("credit", touched), 1000 + 20);
}

#[test]
fn a_book_with_one_version_is_the_trivial_case() {
    let library = RateLibrary::from_sources(vec![(
        "test.rates".to_owned(),
        version("2026-01-01", 1000, 300, 10),
    )])
    .unwrap();
    let mut shell = Shell::versioned(library, "test");
    shell.ok(&cmd::create("a", "test/pro"), at("2026-11-15T10:00:00Z"));
    shell.ok(&cmd::advance("later"), at("2027-01-10T12:00:00Z"));
    assert_eq!(
        grants(&shell, "allocation")
            .into_iter()
            .map(|(_, amount)| amount)
            .collect::<Vec<_>>(),
        [1000, 1000, 1000]
    );
}

/// What a walk leaves that does not depend on how it was stepped.
fn outcome(shell: &Shell, touched: DateTime<Utc>) -> impl PartialEq + std::fmt::Debug {
    (
        grants(shell, "allocation"),
        capped(shell),
        shell.buckets("credit", touched),
        shell.account().grants_applied.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any steps between creation and the touch give the account of one step.
    #[test]
    fn any_steps_through_a_version_change_give_the_account_of_one_step(
        mut offsets in proptest::collection::vec(1_i64..(56 * 86_400), 0..6),
        zone in prop_oneof![Just(None), Just(Some("Asia/Tokyo")), Just(Some("America/New_York"))],
    ) {
        let start = at("2026-11-15T10:00:00Z");
        let touched = at("2027-01-10T12:00:00Z");
        offsets.sort_unstable();
        let steps: Vec<_> = offsets.iter().map(|offset| start + TimeDelta::seconds(*offset)).collect();
        let mut one = account("2027-01-01", zone, start);
        walk(&mut one, &[], touched);
        let mut stepped = account("2027-01-01", zone, start);
        walk(&mut stepped, &steps, touched);
        prop_assert_eq!(outcome(&stepped, touched), outcome(&one, touched));
        for (when, amount) in grants(&stepped, "free") {
            prop_assert_eq!(amount, if when < at("2027-01-01T00:00:00Z") { 10 } else { 20 });
        }
    }
}

/// Plan `payg` has no grant until the version of `effective` gives 5 credits a day; plan
/// `flat` is the same in both versions.
fn payg_library() -> RateLibrary {
    let source = |effective: &str, grant: &str| {
        format!(
            "book test
effective {effective}
time_zone \"UTC\"
unit credit scale 0 round up
feature image {{
  base {price} credit each
}}
plan payg {{
{grant}  order free, top_up
  topup as top_up, expires never
}}
plan flat {{
  order free, top_up
  topup as top_up, expires never
}}
",
            price = if grant.is_empty() { 1 } else { 2 },
        )
    };
    RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), source("2026-01-01", "")),
        (
            "test@2027-01-01.rates".to_owned(),
            source(
                "2027-01-01",
                "  grant 5 credit daily as free, expires end of day\n",
            ),
        ),
    ])
    .unwrap()
}

#[test]
fn a_version_that_changes_the_plan_makes_its_accounts_due_at_its_start() {
    let library = payg_library();
    let versions = library.book_versions("test").unwrap();
    let created = at("2026-11-15T10:00:00Z");
    let due = |plan: &str| {
        let decision = credits_ledger::decide(
            None,
            &cmd::create("a", plan),
            &Default::default(),
            &versions,
            created,
        )
        .unwrap();
        decision.due_at
    };
    // Nothing is ever due on either plan under the first version; the second gives `payg` a
    // daily grant, so its accounts are due when it starts. A price change alone makes no
    // account due.
    assert_eq!(due("test/payg"), Some(at("2027-01-01T00:00:00Z")));
    assert_eq!(due("test/flat"), None);

    let mut shell = Shell::versioned(payg_library(), "test");
    shell.ok(&cmd::create("a", "test/payg"), created);
    let touched = at("2027-01-10T12:00:00Z");
    assert_eq!(shell.available("credit", touched), 5);
    // Charged at the price in force when it is charged.
    let outcome = shell.ok(&cmd::top_up("t", "credit", 10), touched);
    assert_eq!(outcome.balance.units["credit"].available_minor, 15);
    shell.ok(&cmd::charge("image", usage("image", &[])), touched);
    assert_eq!(shell.available("credit", touched), 13);
}
