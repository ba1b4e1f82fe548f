//! Cycle boundaries: every boundary is `anchor + n months` (31st → last day of shorter
//! months), calendar months start on the 1st, all in the account's zone, across DST.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono_tz::Tz;
use common::{Shell, at, books, cmd, units};
use credits_dsl::Cycle;
use credits_ledger::calendar::Cycles;
use credits_ledger::{Command, Configure, EntryType};

fn boundaries(kind: Cycle, zone: &str, anchor: &str, count: i64) -> Vec<String> {
    let cycles = Cycles::new(kind, zone.parse::<Tz>().unwrap(), at(anchor));
    (0..count)
        .map(|n| {
            cycles
                .boundary(n)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect()
}

#[test]
fn anchored_on_the_31st() {
    assert_eq!(
        boundaries(Cycle::MonthlyFromPurchase, "UTC", "2025-01-31T10:00:00Z", 5),
        [
            "2025-01-31T10:00:00Z",
            "2025-02-28T10:00:00Z",
            "2025-03-31T10:00:00Z",
            "2025-04-30T10:00:00Z",
            "2025-05-31T10:00:00Z"
        ]
    );
    // Leap year.
    assert_eq!(
        boundaries(Cycle::MonthlyFromPurchase, "UTC", "2024-01-31T00:00:00Z", 3)[1],
        "2024-02-29T00:00:00Z"
    );
}

#[test]
fn anchored_on_the_30th_and_on_29_february() {
    assert_eq!(
        boundaries(Cycle::MonthlyFromPurchase, "UTC", "2025-01-30T00:00:00Z", 3),
        [
            "2025-01-30T00:00:00Z",
            "2025-02-28T00:00:00Z",
            "2025-03-30T00:00:00Z"
        ]
    );
    let leap = boundaries(
        Cycle::MonthlyFromPurchase,
        "UTC",
        "2024-02-29T12:00:00Z",
        13,
    );
    assert_eq!(leap[1], "2024-03-29T12:00:00Z");
    assert_eq!(leap[12], "2025-02-28T12:00:00Z");
}

#[test]
fn calendar_months_start_on_the_first_in_the_accounts_zone() {
    assert_eq!(
        boundaries(Cycle::MonthlyCalendar, "UTC", "2025-01-20T15:00:00Z", 3),
        [
            "2025-01-01T00:00:00Z",
            "2025-02-01T00:00:00Z",
            "2025-03-01T00:00:00Z"
        ]
    );
    // Berlin midnight: 23:00 UTC in winter, 22:00 UTC in summer.
    assert_eq!(
        boundaries(
            Cycle::MonthlyCalendar,
            "Europe/Berlin",
            "2025-02-10T00:00:00Z",
            3
        ),
        [
            "2025-01-31T23:00:00Z",
            "2025-02-28T23:00:00Z",
            "2025-03-31T22:00:00Z"
        ]
    );
}

#[test]
fn anchored_boundaries_keep_local_time_across_dst() {
    // 9:00 in New York: 14:00 UTC in winter, 13:00 UTC after 9 March 2025.
    assert_eq!(
        boundaries(
            Cycle::MonthlyFromPurchase,
            "America/New_York",
            "2025-01-15T14:00:00Z",
            3
        ),
        [
            "2025-01-15T14:00:00Z",
            "2025-02-15T14:00:00Z",
            "2025-03-15T13:00:00Z"
        ]
    );
    // An anchor at 2:30 local on a day whose 2:30 does not exist moves to 3:00.
    let gap = boundaries(
        Cycle::MonthlyFromPurchase,
        "America/New_York",
        "2025-02-09T07:30:00Z",
        2,
    );
    assert_eq!(gap[1], "2025-03-09T07:00:00Z");
}

#[test]
fn index_at_finds_the_cycle_containing_an_instant() {
    let cycles = Cycles::new(
        Cycle::MonthlyFromPurchase,
        Tz::UTC,
        at("2025-01-31T10:00:00Z"),
    );
    assert_eq!(cycles.index_at(at("2025-02-28T09:59:59Z")).unwrap(), 0);
    assert_eq!(cycles.index_at(at("2025-02-28T10:00:00Z")).unwrap(), 1);
    assert_eq!(cycles.index_at(at("2025-01-31T09:00:00Z")).unwrap(), -1);
    assert_eq!(cycles.index_at(at("2027-12-31T10:00:00Z")).unwrap(), 35);
    assert_eq!(
        cycles.containing(at("2025-03-15T00:00:00Z")).unwrap(),
        (at("2025-02-28T10:00:00Z"), at("2025-03-31T10:00:00Z"))
    );
}

#[test]
fn daily_grants_follow_local_days_across_a_dst_change() {
    let mut shell = Shell::new(books::imagineart());
    let mut create = match cmd::create("a", "imagineart/free") {
        Command::Configure(configure) => configure,
        _ => unreachable!(),
    };
    create.time_zone = Some("Europe/Berlin".into());
    shell.ok(
        &Command::Configure(Configure { ..create }),
        at("2025-03-29T12:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", units(10)), at("2025-03-29T12:00:00Z"));
    // 30 March 2025 is 23 hours long in Berlin: midnight is 23:00 UTC before, 22:00 after.
    shell.ok(&cmd::charge("c2", units(10)), at("2025-03-30T12:00:00Z"));
    shell.ok(&cmd::charge("c3", units(10)), at("2025-03-31T12:00:00Z"));
    let expiries: Vec<_> = shell
        .entries_of(EntryType::Expiry)
        .iter()
        .map(|entry| entry.at)
        .collect();
    assert_eq!(
        expiries,
        vec![at("2025-03-29T23:00:00Z"), at("2025-03-30T22:00:00Z")]
    );
    let grants: Vec<_> = shell
        .entries_of(EntryType::Grant)
        .iter()
        .map(|entry| entry.id.clone())
        .collect();
    assert_eq!(
        grants,
        vec![
            "grant:free:free:credit:daily:2025-03-29T00:00:00+01:00",
            "grant:free:free:credit:daily:2025-03-30T00:00:00+01:00",
            "grant:free:free:credit:daily:2025-03-31T00:00:00+02:00"
        ]
    );
}
