//! A plan's lifecycle in the language: yearly cycles, a capped rollover forfeited on
//! cancel, `balance at most`, spend limits per day, month or cycle and per request.
//!
//! Each mistake is a small rate file whose snapshot (`tests/snapshots/lifecycle_*.snap`)
//! shows the SOURCE and then the ERROR as `credits rates check` renders it; then what each
//! statement compiles to, `fmt` round trips, `diff` in words, and versions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::diff::diff;
use credits_dsl::{
    Cycle, RateBook, RateLibrary, Rollover, SpendLimit, SpendPeriod, compile_source, format_source,
};
use miette::Diagnostic;

use common::{diagnostics, render, source_of};

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

/// A plan using every lifecycle statement.
const LIFECYCLE: &str = "book test
effective 2025-01-01
unit credit scale 2 round half-up
feature image {
  base 5 credit each
}
plan yearly \"Yearly, given up front\" {
  cycle yearly from purchase
  periods yearly
  grant 12000 credit every cycle as allocation, expires end of cycle, rolls over up to 5000 credit while subscribed
  order allocation, top_up
  topup as top_up, expires never
  balance at most 50000 credit
  limit 100 credit per day
  limit 2000 credit per month
  limit 20 credit per request
}
plan calendar_year {
  cycle yearly calendar
  grant 1000 credit every cycle as allocation, expires end of cycle
  order allocation
  limit 500 credit per cycle
}
plan monthly_in_a_year {
  cycle monthly from purchase
  periods monthly, yearly
  grant 1000 credit every cycle as allocation, expires end of cycle, rolls over while subscribed
  order allocation
}
";

/// `(case name, source)`; sources starting with `+` get [`HEAD`] prepended.
const CASES: &[(&str, &str)] = &[
    (
        "lifecycle_balance_cap_below_grant",
        "+plan pro {\n  cycle monthly calendar\n  grant 60000 credit every cycle as allocation, expires end of cycle\n  order allocation\n  balance at most 50000 credit\n}\n",
    ),
    (
        "lifecycle_balance_cap_below_package",
        "+plan pro {\n  order top_up\n  topup as top_up, expires never\n  package large 90000 credit\n  balance at most 50000 credit\n}\n",
    ),
    (
        "lifecycle_spend_limit_unknown_unit",
        "+plan pro {\n  limit 100 token per day\n}\n",
    ),
    (
        "lifecycle_spend_limit_unknown_period",
        "+plan pro {\n  limit 100 credit per week\n}\n",
    ),
    (
        "lifecycle_spend_limit_per_cycle_without_cycle",
        "+plan pro {\n  limit 100 credit per cycle\n}\n",
    ),
    (
        "lifecycle_request_cap_above_spend_limit",
        "+plan pro {\n  limit 100 credit per day\n  limit 200 credit per request\n}\n",
    ),
    (
        "lifecycle_yearly_grant_on_monthly_cycle",
        "+plan pro {\n  cycle monthly from purchase\n  grant 12000 credit every year as allocation, expires end of cycle\n  order allocation\n}\n",
    ),
    (
        "lifecycle_monthly_grant_on_yearly_cycle",
        "+plan pro {\n  cycle yearly from purchase\n  grant 1000 credit every month as allocation, expires end of cycle\n  order allocation\n}\n",
    ),
    (
        "lifecycle_yearly_cycle_sold_monthly",
        "+plan pro {\n  cycle yearly calendar\n  periods monthly, yearly\n  grant 12000 credit every cycle as allocation, expires end of cycle\n  order allocation\n}\n",
    ),
    (
        "lifecycle_unknown_cycle",
        "+plan pro {\n  cycle weekly\n}\n",
    ),
    (
        "lifecycle_balance_cap_twice",
        "+plan pro {\n  balance at most 500 credit\n  balance at most 600 credit\n}\n",
    ),
    (
        "lifecycle_capped_rollover_in_another_unit",
        "+unit minute scale 0 round up\nplan pro {\n  cycle monthly calendar\n  grant 100 credit every cycle as allocation, expires end of cycle, rolls over up to 50 minute while subscribed\n  order allocation\n}\n",
    ),
];

fn book(source: &str) -> RateBook {
    compile_source("test.rates", source).unwrap_or_else(|errors| panic!("{}", render(&errors)))
}

#[test]
fn every_lifecycle_mistake_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, raw) in CASES {
            let source = source_of(HEAD, raw);
            let rendered = render(&diagnostics(&source));
            insta::assert_snapshot!(
                *name,
                format!("FILE test.rates\nSOURCE\n{source}\nERROR\n{rendered}")
            );
        }
    });
}

#[test]
fn every_lifecycle_error_points_at_the_source_with_help() {
    for (name, raw) in CASES {
        let source = source_of(HEAD, raw);
        for error in diagnostics(&source).errors() {
            let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
            assert!(!labels.is_empty(), "{name}: `{error}` has no label");
            for label in labels {
                assert!(label.offset() + label.len() <= source.len(), "{name}");
            }
            assert!(error.help().is_some(), "{name}: `{error}` has no help");
            let message = error.to_string();
            assert!(!message.ends_with('.'), "{name}: `{message}`");
            assert!(
                message.starts_with(|c: char| !c.is_ascii_uppercase()),
                "{name}: `{message}`"
            );
        }
    }
}

#[test]
fn lifecycle_statements_compile_to_the_plan() {
    let book = book(LIFECYCLE);
    let yearly = book
        .plans
        .iter()
        .find(|plan| plan.name == "yearly")
        .unwrap();
    assert_eq!(yearly.cycle, Some(Cycle::YearlyFromPurchase));
    assert_eq!(
        yearly.grants[0].rollover,
        Some(Rollover::UpToWhileSubscribed {
            amount_minor: 500_000
        })
    );
    assert_eq!(yearly.grants[0].key, "allocation:credit:every_cycle");
    assert_eq!(
        yearly.caps.balance_max_minor.get("credit"),
        Some(&5_000_000)
    );
    assert_eq!(
        yearly.caps.spend,
        vec![
            SpendLimit {
                unit: "credit".into(),
                period: SpendPeriod::Day,
                amount_minor: 10_000
            },
            SpendLimit {
                unit: "credit".into(),
                period: SpendPeriod::Month,
                amount_minor: 200_000
            },
        ]
    );
    assert_eq!(yearly.caps.per_request_minor.get("credit"), Some(&2_000));
    let calendar = book
        .plans
        .iter()
        .find(|plan| plan.name == "calendar_year")
        .unwrap();
    assert_eq!(calendar.cycle, Some(Cycle::YearlyCalendar));
    assert_eq!(calendar.caps.spend[0].period, SpendPeriod::Cycle);
    let monthly = book
        .plans
        .iter()
        .find(|plan| plan.name == "monthly_in_a_year")
        .unwrap();
    assert!(monthly.caps.is_empty());
}

#[test]
fn lifecycle_statements_round_trip_through_fmt() {
    let formatted = format_source("test.rates", LIFECYCLE).unwrap();
    for line in [
        "cycle yearly from purchase",
        "cycle yearly calendar",
        "rolls over up to 5000 credit while subscribed",
        "balance at most 50000 credit",
        "limit 100 credit per day",
        "limit 20 credit per request",
        "limit 500 credit per cycle",
    ] {
        assert!(formatted.contains(line), "`{line}` lost:\n{formatted}");
    }
    let mut before = book(LIFECYCLE);
    let mut after = book(&formatted);
    before.rates_version = String::new();
    after.rates_version = String::new();
    assert_eq!(before, after);
    assert_eq!(format_source("test.rates", &formatted).unwrap(), formatted);
}

/// `(change, the line the diff says)`.
const DIFFS: &[(&str, &str, &str)] = &[
    (
        "cycle yearly from purchase",
        "cycle monthly from purchase",
        "cycle yearly from purchase → monthly from purchase",
    ),
    (
        "balance at most 50000 credit",
        "balance at most 60000 credit",
        "caps balance at most 50000 credit, 100 credit per day, 2000 credit per month, 20 credit per request → balance at most 60000 credit, 100 credit per day, 2000 credit per month, 20 credit per request",
    ),
    (
        "  limit 20 credit per request\n",
        "",
        "caps balance at most 50000 credit, 100 credit per day, 2000 credit per month, 20 credit per request → balance at most 50000 credit, 100 credit per day, 2000 credit per month",
    ),
    (
        "rolls over up to 5000 credit while subscribed",
        "rolls over up to 5000 credit",
        "rolls over up to 5000 credit while subscribed → 12000 credit every cycle as allocation, expires end of cycle, rolls over up to 5000 credit",
    ),
    (
        "  limit 500 credit per cycle\n",
        "",
        "caps 500 credit per cycle → none",
    ),
];

#[test]
fn diff_says_each_lifecycle_change_in_words() {
    let old = book(LIFECYCLE);
    for (from, to, said) in DIFFS {
        assert!(LIFECYCLE.contains(from), "`{from}`");
        let new = book(&LIFECYCLE.replacen(from, to, 1));
        let text = diff(&old, &new).to_string();
        assert!(text.contains(said), "`{said}` not in:\n{text}");
    }
}

/// A later version may change cycles between monthly and yearly, caps and the capped
/// rollover: grants keep their `every_cycle` key (a period is granted at most once, so a
/// year given up front is not given again monthly), and caps act on later operations only.
#[test]
fn a_later_version_may_change_cycles_and_caps() {
    let later = LIFECYCLE
        .replace("effective 2025-01-01", "effective 2026-01-01")
        .replacen(
            "cycle yearly from purchase",
            "cycle monthly from purchase",
            1,
        )
        .replacen("periods yearly", "periods monthly, yearly", 1)
        .replacen(
            "balance at most 50000 credit",
            "balance at most 20000 credit",
            1,
        )
        .replacen("limit 100 credit per day", "limit 50 credit per day", 1);
    let library = RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), LIFECYCLE.to_owned()),
        ("test@2026-01-01.rates".to_owned(), later),
    ])
    .unwrap_or_else(|failures| {
        panic!("{}", failures.iter().map(|d| render(d)).collect::<String>())
    });
    assert_eq!(library.versions("test").len(), 2);
}
