//! When the rollover walk visits an idle account (`due_at`, `docs/rollover.md`): not every
//! day for a daily grant that expires, whose idle days a later catch-up reproduces exactly;
//! twice per cycle instead, so that each statement still closes with the credits alive at
//! its end. Reads, charges and statements come out the same as with a visit every day.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Shell, at, books, cmd, usage};
use credits_dsl::{Expiry, Plan, RateBook};
use credits_ledger::EntryType;

const PLAN: &str = "imagineart/free";

fn free_plan(book: &mut RateBook) -> &mut Plan {
    book.plans
        .iter_mut()
        .find(|plan| plan.name == "free")
        .unwrap()
}

fn created(book: RateBook, start: DateTime<Utc>) -> Shell {
    let mut shell = Shell::new(book);
    shell.ok(&cmd::create("a", PLAN), start);
    shell
}

fn image() -> credits_ledger::Command {
    cmd::charge("c1", usage("image", &[("model", "standard")]))
}

/// Advances the account at each instant `next` names, until `until`; the instants visited.
fn walk(
    shell: &mut Shell,
    until: DateTime<Utc>,
    next: impl Fn(&Shell, DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Vec<DateTime<Utc>> {
    let mut visits = Vec::new();
    let mut last = shell.account().advanced_to;
    for index in 0..400 {
        let Some(visit) = next(shell, last).filter(|visit| *visit < until) else {
            return visits;
        };
        shell.ok(&cmd::advance(&format!("walk{index}")), visit);
        visits.push(visit);
        last = visit;
    }
    panic!("the walk did not reach {until}");
}

/// The walk as it runs: a minute after each `due_at`.
fn at_due(shell: &Shell, _last: DateTime<Utc>) -> Option<DateTime<Utc>> {
    shell.due_at.map(|due| due + TimeDelta::minutes(1))
}

/// A visit a minute after every midnight (what `due_at` asked for before).
fn every_day(_shell: &Shell, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let day = last.date_naive().succ_opt()?.and_hms_opt(0, 1, 0)?;
    Some(day.and_utc())
}

#[test]
fn an_idle_account_with_only_an_expiring_daily_grant_is_due_twice_a_cycle() {
    let start = at("2026-01-10T10:00:00Z");
    let mut shell = created(books::imagineart(), start);
    // No cycle on the plan: its statements follow calendar months. The start of the
    // month's last day, then the month's end; never the next midnight.
    assert_eq!(shell.due_at, Some(at("2026-01-31T00:00:00Z")));

    let touch = at("2026-03-05T10:00:00Z");
    let visits = walk(&mut shell, touch, at_due);
    assert_eq!(
        visits,
        [
            at("2026-01-31T00:01:00Z"),
            at("2026-02-01T00:01:00Z"),
            at("2026-02-28T00:01:00Z"),
            at("2026-03-01T00:01:00Z"),
        ]
    );

    let mut daily = created(books::imagineart(), start);
    let daily_visits = walk(&mut daily, touch, every_day);
    assert_eq!(daily_visits.len(), 54);
    let mut untouched = created(books::imagineart(), start);

    // Reading and charging later: the same balance whichever visits happened.
    let read = shell.available("credit", touch);
    assert_eq!(read, 100);
    assert_eq!(daily.available("credit", touch), read);
    assert_eq!(untouched.available("credit", touch), read);
    let charged = shell.ok(&image(), touch).balance.units["credit"].available_minor;
    assert_eq!(charged, 76);
    for other in [&mut daily, &mut untouched] {
        let outcome = other.ok(&image(), touch);
        assert_eq!(outcome.balance.units["credit"].available_minor, charged);
    }

    // Every statement the daily visits closed is closed with the same opening and closing
    // balances; only the grant/expiry pairs of idle days (net zero) are left out.
    assert_eq!(shell.closed_statements.len(), daily.closed_statements.len());
    for (walked, visited) in shell.closed_statements.iter().zip(&daily.closed_statements) {
        assert_eq!(
            (walked.starts_at, walked.ends_at),
            (visited.starts_at, visited.ends_at)
        );
        let (walked, visited) = (&walked.units["credit"], &visited.units["credit"]);
        assert_eq!(
            (walked.opening_minor, walked.closing_minor),
            (visited.opening_minor, visited.closing_minor)
        );
        assert_eq!(
            visited.grants_minor - walked.grants_minor,
            visited.expired_minor - walked.expired_minor
        );
    }
    // About 730 entries a year become about 50.
    assert_eq!(daily.entries_of(EntryType::Grant).len(), 55);
    assert_eq!(shell.entries_of(EntryType::Grant).len(), 6);
}

#[test]
fn a_spent_daily_bucket_is_due_when_it_expires() {
    let start = at("2026-01-10T10:00:00Z");
    let mut shell = created(books::imagineart(), start);
    shell.ok(&image(), start);
    // 76 credits are lost at midnight: that expiry is shown on time.
    assert_eq!(shell.due_at, Some(at("2026-01-11T00:00:00Z")));
    shell.ok(&cmd::advance("walk"), at("2026-01-11T00:01:00Z"));
    assert_eq!(shell.entries_of(EntryType::Expiry).len(), 1);
    // The new day's bucket is untouched: back to the statements' instants.
    assert_eq!(shell.due_at, Some(at("2026-01-31T00:00:00Z")));
}

#[test]
fn daily_grants_that_never_expire_or_are_watched_by_alerts_stay_due_every_day() {
    let start = at("2026-01-10T10:00:00Z");
    let next_midnight = Some(at("2026-01-11T00:00:00Z"));

    // Credits kept for good: each day's grant is lasting history, written on its day.
    let mut kept = books::imagineart();
    free_plan(&mut kept).grants[0].expires = Expiry::Never;
    assert_eq!(created(kept, start).due_at, next_midnight);

    // An alert on the unit: thresholds re-arm only when a decision sees the balance.
    let mut watched = books::imagineart();
    free_plan(&mut watched)
        .alerts_minor
        .insert("credit".to_owned(), vec![50]);
    assert_eq!(created(watched, start).due_at, next_midnight);

    // Expiring after several days: lazy like the end of the day.
    let mut week = books::imagineart();
    free_plan(&mut week).grants[0].expires = Expiry::AfterDays(7);
    let mut shell = created(week.clone(), start);
    assert_eq!(shell.due_at, Some(at("2026-01-31T00:00:00Z")));
    let touch = at("2026-02-20T12:00:00Z");
    walk(&mut shell, touch, at_due);
    let mut daily = created(week, start);
    walk(&mut daily, touch, every_day);
    assert_eq!(shell.available("credit", touch), 700);
    assert_eq!(daily.available("credit", touch), 700);
    for (walked, visited) in shell.closed_statements.iter().zip(&daily.closed_statements) {
        assert_eq!(
            walked.units["credit"].closing_minor,
            visited.units["credit"].closing_minor
        );
    }
}
