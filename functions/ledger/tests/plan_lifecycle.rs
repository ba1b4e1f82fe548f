//! A plan's lifecycle (`docs/plan-lifecycle.md`): yearly cycles and grants given up front,
//! a capped rollover forfeited on cancel, the balance cap, spend limits per day, month or
//! cycle in the account's zone, and the per-request cap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Shell, at, cmd, usage};
use credits_dsl::{RateBook, SubscriptionPeriod, Usage, compile_source};
use credits_ledger::EntryType;
use proptest::prelude::*;

const SOURCE: &str = r#"book life
effective 2024-01-01
time_zone "America/New_York"
unit credit scale 0 round up

feature gen {
  input n: count max 1000000
  base 1 credit each
  multiply by n
}

plan yearly {
  cycle yearly from purchase
  periods yearly
  grant 12000 credit every cycle as allocation, expires end of cycle
  order allocation, top_up
  topup as top_up, expires never
}

plan monthly_in_a_year {
  cycle monthly from purchase
  periods yearly
  grant 1000 credit every cycle as allocation, expires end of cycle
  order allocation
}

plan calendar_year {
  cycle yearly calendar
  grant 1000 credit every cycle as allocation, expires end of cycle
  order allocation
}

plan capped {
  cycle monthly from purchase
  periods monthly
  grant 1000 credit every cycle as allocation, expires end of cycle, rolls over up to 500 credit while subscribed
  order allocation
}

plan capped_balance {
  cycle monthly calendar
  grant 1000 credit every cycle as allocation, expires never
  order allocation, top_up
  topup as top_up, expires never
  balance at most 2500 credit
}

plan spend {
  cycle monthly calendar
  grant 100000 credit once as welcome, expires never
  order welcome
  limit 100 credit per day
  limit 250 credit per month
  limit 20 credit per request
  refund within 30 days for duplicate
  refund expired forfeit
}
"#;

fn book() -> RateBook {
    compile_source("life.rates", SOURCE).unwrap_or_else(|errors| panic!("{errors:?}"))
}

fn gen_of(n: i64) -> Usage {
    usage("gen", &[("n", &n.to_string())])
}

fn subscribed(plan: &str, period: SubscriptionPeriod, start: DateTime<Utc>) -> Shell {
    let mut shell = Shell::new(book());
    let plan = format!("life/{plan}");
    shell.ok(&cmd::create("a", &plan), start);
    shell.ok(&cmd::subscribe("s", "a", &plan, period, start), start);
    shell
}

fn grants(shell: &Shell) -> usize {
    shell.entries_of(EntryType::Grant).len()
}

#[test]
fn a_yearly_cycle_gives_the_years_credits_up_front_and_expires_them_at_its_end() {
    let start = at("2025-03-15T15:00:00Z");
    let mut shell = subscribed("yearly", SubscriptionPeriod::Yearly, start);
    assert_eq!(shell.available("credit", start), 12_000);
    shell.ok(
        &cmd::charge("c1", gen_of(2_000)),
        at("2025-09-01T12:00:00Z"),
    );
    assert_eq!(
        shell.available("credit", at("2026-03-15T14:59:59Z")),
        10_000
    );
    // The next year: the rest expired, the new year's credits given at once.
    assert_eq!(
        shell.available("credit", at("2026-03-15T15:00:00Z")),
        12_000
    );
    shell.ok(&cmd::charge("c2", gen_of(1)), at("2026-03-16T00:00:00Z"));
    assert_eq!(grants(&shell), 2);
    shell.check_sums();
}

#[test]
fn an_account_idle_for_two_years_gets_each_years_grant_once() {
    let start = at("2025-03-15T15:00:00Z");
    let mut shell = subscribed("yearly", SubscriptionPeriod::Yearly, start);
    let outcome = shell.ok(&cmd::charge("c1", gen_of(1)), at("2027-06-01T12:00:00Z"));
    assert_eq!(outcome.balance.units["credit"].available_minor, 11_999);
    // 2026's grant had expired before anyone looked: marked given, nothing written
    // (`docs/rollover.md`); 2025's and 2027's are entries.
    assert_eq!(grants(&shell), 2);
    let mark = shell.account().grants_applied["yearly/allocation:credit:every_cycle"];
    assert_eq!(mark.period_start, at("2027-03-15T15:00:00Z"));
    assert_eq!(mark.next_due, at("2028-03-15T15:00:00Z"));
    // Touched every year, the account gets each year's grant as an entry, once.
    let mut yearly = subscribed("yearly", SubscriptionPeriod::Yearly, start);
    for (index, when) in [
        "2026-03-15T16:00:00Z",
        "2027-03-15T16:00:00Z",
        "2027-06-01T12:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        yearly.ok(&cmd::advance(&format!("adv{index}")), at(when));
    }
    assert_eq!(grants(&yearly), 3, "2025, 2026 and 2027 once each");
    assert_eq!(
        yearly.available("credit", at("2027-06-01T12:00:00Z")),
        12_000
    );
    shell.check_sums();
}

#[test]
fn a_plan_sold_yearly_grants_monthly_within_the_year() {
    let start = at("2025-01-10T12:00:00Z");
    let mut shell = subscribed("monthly_in_a_year", SubscriptionPeriod::Yearly, start);
    let outcome = shell.ok(&cmd::charge("c1", gen_of(1)), at("2025-04-20T12:00:00Z"));
    assert_eq!(outcome.balance.units["credit"].available_minor, 999);
    let mark = shell.account().grants_applied["monthly_in_a_year/allocation:credit:every_cycle"];
    // 07:00 in New York, daylight time since 9 March.
    assert_eq!(mark.period_start, at("2025-04-10T11:00:00Z"));
}

#[test]
fn a_calendar_year_starts_on_january_first_in_the_accounts_zone() {
    let mut shell = Shell::new(book());
    shell.ok(
        &cmd::create("a", "life/calendar_year"),
        at("2025-06-10T12:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", gen_of(400)), at("2025-06-11T12:00:00Z"));
    // 2026-01-01 starts at 05:00 UTC in New York.
    assert_eq!(shell.available("credit", at("2026-01-01T04:59:59Z")), 600);
    assert_eq!(shell.available("credit", at("2026-01-01T05:00:00Z")), 1_000);
}

#[test]
fn a_capped_rollover_is_capped_at_each_cycle_end_and_forfeited_when_the_subscription_ends() {
    let start = at("2025-01-10T12:00:00Z");
    let mut shell = subscribed("capped", SubscriptionPeriod::Monthly, start);
    shell.ok(&cmd::charge("c1", gen_of(200)), at("2025-01-20T12:00:00Z"));
    // 800 left: 500 roll over, 300 expire, and February's 1000 arrive.
    shell.ok(&cmd::charge("c2", gen_of(1)), at("2025-02-10T13:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-02-10T13:00:00Z")), 1_499);
    let capped: Vec<_> = shell.entries_of(EntryType::Expiry);
    assert_eq!(capped.len(), 1);
    assert_eq!(capped[0].amount_minor, -300);
    // Cancelled: paid until the end of the running month, then every credit is forfeited.
    shell.ok(
        &cmd::cancel("s2", "a", "life/capped", SubscriptionPeriod::Monthly, start),
        at("2025-02-15T12:00:00Z"),
    );
    assert_eq!(shell.available("credit", at("2025-03-10T10:59:59Z")), 1_499);
    shell.ok(&cmd::advance("adv"), at("2025-03-11T00:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-03-11T00:00:00Z")), 0);
    let forfeited: i64 = shell
        .entries_of(EntryType::Forfeit)
        .iter()
        .map(|entry| entry.amount_minor)
        .sum();
    assert_eq!(forfeited, -1_499);
    shell.check_sums();
}

#[test]
fn a_grant_is_trimmed_to_the_balance_cap_and_says_so() {
    let start = at("2025-01-10T12:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/capped_balance"), start);
    // January, February: 2000. March: 500 of 1000 fit. April: nothing fits.
    shell.ok(&cmd::advance("adv1"), at("2025-03-02T12:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-03-02T12:00:00Z")), 2_500);
    shell.ok(&cmd::advance("adv2"), at("2025-04-02T12:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-04-02T12:00:00Z")), 2_500);
    let trimmed: Vec<(i64, i64)> = shell
        .entries_of(EntryType::Grant)
        .iter()
        .map(|entry| {
            (
                entry.amount_minor,
                entry.body["trimmed_minor"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        trimmed,
        vec![(1_000, 0), (1_000, 0), (500, 500), (0, 1_000)]
    );
    // Spending makes room again.
    shell.ok(&cmd::charge("c1", gen_of(700)), at("2025-04-03T12:00:00Z"));
    shell.ok(&cmd::advance("adv3"), at("2025-05-02T12:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-05-02T12:00:00Z")), 2_500);
    shell.check_sums();
}

#[test]
fn a_top_up_above_the_balance_cap_is_refused_and_writes_nothing() {
    let start = at("2025-01-10T12:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/capped_balance"), start);
    let error = shell.refused(&cmd::top_up("t1", "credit", 1_501), start);
    assert_eq!(error.code(), "balance-cap-exceeded");
    assert!(error.to_string().contains("at most 1500"), "{error}");
    shell.ok(&cmd::top_up("t2", "credit", 1_500), start);
    let error = shell.refused(&cmd::top_up("t3", "credit", 1), start);
    assert_eq!(error.code(), "balance-cap-exceeded");
}

#[test]
fn a_charge_above_the_days_spend_is_refused_until_the_next_local_day() {
    // 2025-03-03 in New York: 05:00 UTC to 05:00 UTC the next day.
    let start = at("2025-03-03T06:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), start);
    for (index, n) in [20, 20, 20, 20, 20].iter().enumerate() {
        shell.ok(&cmd::charge(&format!("c{index}"), gen_of(*n)), start);
    }
    let error = shell.refused(&cmd::charge("over", gen_of(1)), at("2025-03-04T04:59:59Z"));
    assert_eq!(error.code(), "spend-limit-reached");
    assert_eq!(error.retry_after_seconds(), Some(1));
    assert!(error.to_string().contains("per day"), "{error}");
    shell.ok(&cmd::charge("next", gen_of(20)), at("2025-03-04T05:00:00Z"));
}

#[test]
fn a_refund_gives_back_the_spend_of_the_running_day() {
    let start = at("2025-03-03T06:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), start);
    for index in 0..5 {
        shell.ok(&cmd::charge(&format!("c{index}"), gen_of(20)), start);
    }
    assert_eq!(
        shell
            .refused(&cmd::charge("over", gen_of(20)), start)
            .code(),
        "spend-limit-reached"
    );
    shell.ok(&cmd::refund("r1", "c0", "duplicate", None), start);
    shell.ok(&cmd::charge("again", gen_of(20)), start);
    // A refund on a later day does not reopen a passed day.
    let later = at("2025-03-04T06:00:00Z");
    shell.ok(&cmd::refund("r2", "c1", "duplicate", None), later);
    for index in 0..5 {
        shell.ok(&cmd::charge(&format!("d{index}"), gen_of(20)), later);
    }
    assert_eq!(
        shell
            .refused(&cmd::charge("over2", gen_of(1)), later)
            .code(),
        "spend-limit-reached"
    );
}

#[test]
fn the_months_spend_counts_across_days() {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), at("2025-03-03T06:00:00Z"));
    let days = [
        "2025-03-03T06:00:00Z",
        "2025-03-04T06:00:00Z",
        "2025-03-05T06:00:00Z",
    ];
    let mut spent = 0;
    for (day, when) in days.iter().enumerate() {
        for index in 0..5 {
            let command = cmd::charge(&format!("c{day}-{index}"), gen_of(20));
            if spent + 20 > 250 {
                let error = shell.refused(&command, at(when));
                assert_eq!(error.code(), "spend-limit-reached");
                assert!(error.to_string().contains("per month"), "{error}");
            } else {
                shell.ok(&command, at(when));
                spent += 20;
            }
        }
    }
    assert_eq!(spent, 240);
    // April counts from zero.
    shell.ok(
        &cmd::charge("april", gen_of(20)),
        at("2025-04-01T06:00:00Z"),
    );
}

#[test]
fn a_charge_or_hold_above_the_per_request_cap_is_refused() {
    let start = at("2025-03-03T06:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), start);
    let error = shell.refused(&cmd::charge("c1", gen_of(21)), start);
    assert_eq!(error.code(), "request-cap-exceeded");
    assert!(error.to_string().contains("costs 21"), "{error}");
    let error = shell.refused(&cmd::hold("h1", gen_of(21), 60), start);
    assert_eq!(error.code(), "request-cap-exceeded");
    shell.ok(&cmd::hold("h2", gen_of(20), 60), start);
    shell.ok(&cmd::capture("cap2", "h2", None), start);
    shell.ok(&cmd::charge("c2", gen_of(20)), start);
}

#[test]
fn a_hold_above_the_spend_left_is_refused_and_its_capture_counts() {
    let start = at("2025-03-03T06:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), start);
    for index in 0..4 {
        shell.ok(&cmd::charge(&format!("c{index}"), gen_of(20)), start);
    }
    shell.ok(&cmd::hold("h1", gen_of(20), 600), start);
    shell.ok(&cmd::capture("cap1", "h1", None), start);
    let error = shell.refused(&cmd::hold("h2", gen_of(1), 600), start);
    assert_eq!(error.code(), "spend-limit-reached");
}

#[test]
fn open_holds_count_against_the_spend_limit_until_released() {
    let start = at("2025-03-03T06:00:00Z");
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), start);
    for index in 0..5 {
        shell.ok(&cmd::hold(&format!("h{index}"), gen_of(20), 600), start);
    }
    // 100 reserved: nothing more may be charged or held today.
    assert_eq!(
        shell.refused(&cmd::charge("c1", gen_of(1)), start).code(),
        "spend-limit-reached"
    );
    assert_eq!(
        shell
            .refused(&cmd::hold("h9", gen_of(1), 600), start)
            .code(),
        "spend-limit-reached"
    );
    shell.ok(&cmd::release("r0", "h0"), start);
    shell.ok(&cmd::capture("k1", "h1", Some(gen_of(5))), start);
    // 60 reserved + 5 spent: 35 left.
    shell.ok(&cmd::charge("c2", gen_of(20)), start);
    shell.ok(&cmd::charge("c3", gen_of(15)), start);
    assert_eq!(
        shell.refused(&cmd::charge("c4", gen_of(1)), start).code(),
        "spend-limit-reached"
    );
}

#[test]
fn the_spend_counters_stay_bounded_in_the_snapshot() {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", "life/spend"), at("2025-03-03T06:00:00Z"));
    let mut when = at("2025-03-03T06:00:00Z");
    for index in 0..60 {
        shell.ok(&cmd::charge(&format!("c{index}"), gen_of(1)), when);
        when += TimeDelta::hours(13);
    }
    assert!(
        shell.account().spend.len() <= 2,
        "{:?}",
        shell.account().spend
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// However an idle yearly account is touched over three years, each year is granted
    /// exactly once and the balance is the running year's grant.
    #[test]
    fn yearly_grants_catch_up_exactly(touches in proptest::collection::vec(1i64..1_100, 0..6)) {
        let start = at("2025-03-15T15:00:00Z");
        let mut shell = subscribed("yearly", SubscriptionPeriod::Yearly, start);
        let mut days: Vec<i64> = touches;
        days.sort_unstable();
        for (index, day) in days.iter().enumerate() {
            shell.ok(&cmd::advance(&format!("adv{index}")), start + TimeDelta::days(*day));
        }
        let end = start + TimeDelta::days(1_100);
        let outcome = shell.ok(&cmd::charge("last", gen_of(1)), end);
        prop_assert_eq!(outcome.balance.units["credit"].available_minor, 11_999);
        // One grant entry per year at most, each year's its own.
        let mut periods: Vec<String> = shell
            .entries_of(EntryType::Grant)
            .iter()
            .map(|entry| entry.body["period_start"].to_string())
            .collect();
        let written = periods.len();
        periods.dedup();
        prop_assert_eq!(periods.len(), written);
        prop_assert!(written <= 4);
        let mark = shell.account().grants_applied["yearly/allocation:credit:every_cycle"];
        prop_assert_eq!(mark.period_start, at("2028-03-15T15:00:00Z"));
        shell.check_sums();
    }
}

const MONTHLY_THEN_YEARLY: &str = "book switch
effective 2025-01-01
unit credit scale 0 round up
feature gen {
  input n: count max 1000000
  base 1 credit each
  multiply by n
}
plan pro {
  cycle monthly calendar
  grant 1000 credit every cycle as allocation, expires end of cycle
  order allocation
}
";

/// A version that makes the cycle yearly from 1 January keeps the grant's key: the last
/// month is granted once, the year from its start, nothing twice.
#[test]
fn a_version_moving_a_plan_from_monthly_to_yearly_grants_each_period_once() {
    let yearly = MONTHLY_THEN_YEARLY
        .replace("effective 2025-01-01", "effective 2026-01-01")
        .replace("cycle monthly calendar", "cycle yearly calendar")
        .replace("grant 1000 credit", "grant 12000 credit");
    let library = credits_dsl::RateLibrary::from_sources(vec![
        ("switch.rates".to_owned(), MONTHLY_THEN_YEARLY.to_owned()),
        ("switch@2026-01-01.rates".to_owned(), yearly),
    ])
    .unwrap_or_else(|failures| panic!("{failures:?}"));
    let mut shell = Shell::versioned(library, "switch");
    shell.ok(&cmd::create("a", "switch/pro"), at("2025-11-10T12:00:00Z"));
    assert_eq!(shell.available("credit", at("2025-12-31T23:59:59Z")), 1_000);
    shell.ok(&cmd::charge("c1", gen_of(1)), at("2025-12-15T12:00:00Z"));
    shell.ok(&cmd::charge("c2", gen_of(1)), at("2026-01-01T00:00:00Z"));
    shell.ok(&cmd::charge("c3", gen_of(1)), at("2026-06-01T00:00:00Z"));
    assert_eq!(
        shell.available("credit", at("2026-06-01T00:00:00Z")),
        11_998
    );
    let given: Vec<i64> = shell
        .entries_of(EntryType::Grant)
        .iter()
        .map(|entry| entry.amount_minor)
        .collect();
    assert_eq!(
        given,
        vec![1_000, 1_000, 12_000],
        "November, December, 2026"
    );
    shell.check_sums();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Against a model that sums charges by local day and month in New York: a charge is
    /// accepted exactly when the per-request cap, the day's and the month's spend allow it.
    #[test]
    fn spend_limits_agree_with_a_model_of_local_days_and_months(
        steps in proptest::collection::vec((0i64..30, 1i64..25), 1..40)
    ) {
        let zone: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let mut shell = Shell::new(book());
        let mut now = at("2025-03-01T06:00:00Z");
        shell.ok(&cmd::create("a", "life/spend"), now);
        let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, i64> = Default::default();
        let mut by_month: std::collections::BTreeMap<(i32, u32), i64> = Default::default();
        for (index, (hours, n)) in steps.into_iter().enumerate() {
            use chrono::Datelike;
            now += TimeDelta::hours(hours);
            let local = now.with_timezone(&zone).date_naive();
            let day = by_day.get(&local).copied().unwrap_or(0);
            let month = by_month.get(&(local.year(), local.month())).copied().unwrap_or(0);
            let expected = if n > 20 {
                Some("request-cap-exceeded")
            } else if day + n > 100 || month + n > 250 {
                Some("spend-limit-reached")
            } else {
                None
            };
            let command = cmd::charge(&format!("c{index}"), gen_of(n));
            match expected {
                None => {
                    shell.ok(&command, now);
                    *by_day.entry(local).or_default() += n;
                    *by_month.entry((local.year(), local.month())).or_default() += n;
                }
                Some(code) => prop_assert_eq!(shell.refused(&command, now).code(), code),
            }
        }
        prop_assert!(shell.account().spend.len() <= 2);
    }
}
