//! Seed 003 (ImagineArt): free daily credits that do not pile up, the order free →
//! subscription → top-up, top-ups only while subscribed but spendable after, pro models
//! gated behind a subscription.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd, units, usage};
use credits_dsl::SubscriptionPeriod;
use credits_ledger::EntryType;

#[test]
fn hundred_free_credits_a_day_do_not_accumulate() {
    let mut shell = Shell::new(books::imagineart());
    shell.ok(
        &cmd::create("a", "imagineart/free"),
        at("2025-03-10T09:00:00Z"),
    );
    assert_eq!(shell.available("credit", at("2025-03-10T09:00:00Z")), 100);
    let outcome = shell.ok(
        &cmd::charge("c1", usage("image", &[("model", "standard")])),
        at("2025-03-10T10:00:00Z"),
    );
    assert_eq!(outcome.amounts[0].amount_minor, 24);
    assert_eq!(outcome.balance.units["credit"].available_minor, 76);
    // A week later: still 100, not 700, and yesterday's 76 expired at midnight.
    assert_eq!(shell.available("credit", at("2025-03-17T08:00:00Z")), 100);
    shell.ok(&cmd::advance("adv"), at("2025-03-17T08:00:00Z"));
    let expiries = shell.entries_of(EntryType::Expiry);
    assert_eq!(expiries.len(), 1);
    assert_eq!(expiries[0].amount_minor, -76);
    assert_eq!(expiries[0].at, at("2025-03-11T00:00:00Z"));
    // Idle days in between leave no grant/expiry pairs: only day 1 and today were granted.
    assert_eq!(shell.entries_of(EntryType::Grant).len(), 2);
    assert_eq!(shell.available("credit", at("2025-03-17T23:59:59Z")), 100);
}

#[test]
fn spending_order_is_free_then_subscription_then_top_up() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/subscription"), start);
    shell.ok(
        &cmd::subscribe(
            "s",
            "a",
            "imagineart/subscription",
            SubscriptionPeriod::Monthly,
            start,
        ),
        start,
    );
    shell.ok(&cmd::package("t1", "tokens_1000"), start);
    assert_eq!(
        shell.buckets("credit", start),
        vec![
            ("free".into(), 100),
            ("subscription".into(), 8000),
            ("top_up".into(), 1000)
        ]
    );
    let outcome = shell.ok(&cmd::charge("c1", units(8150)), at("2025-03-10T10:00:00Z"));
    let paid: Vec<(String, i64)> = outcome
        .paid_from
        .iter()
        .map(|draw| (draw.kind.clone(), draw.amount_minor))
        .collect();
    assert_eq!(
        paid,
        vec![
            ("free".into(), 100),
            ("subscription".into(), 8000),
            ("top_up".into(), 50)
        ]
    );
    assert_eq!(outcome.balance.units["credit"].available_minor, 950);
}

#[test]
fn monthly_subscription_credits_renew_on_the_purchase_date_without_rollover() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-01-31T12:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/subscription"), start);
    shell.ok(
        &cmd::subscribe(
            "s",
            "a",
            "imagineart/subscription",
            SubscriptionPeriod::Yearly,
            start,
        ),
        start,
    );
    shell.ok(&cmd::charge("c1", units(3100)), start);
    // Renewal on 28 Feb (31 Jan + 1 month), then 31 Mar: assigned monthly on a yearly plan.
    assert_eq!(
        shell.buckets("credit", at("2025-02-28T11:59:59Z")),
        vec![("free".into(), 100), ("subscription".into(), 5000)]
    );
    assert_eq!(
        shell.buckets("credit", at("2025-02-28T12:00:00Z")),
        vec![("free".into(), 100), ("subscription".into(), 8000)]
    );
    assert_eq!(
        shell.buckets("credit", at("2025-03-30T12:00:00Z"))[1],
        ("subscription".into(), 8000)
    );
    // The schedule materialises the account at its due instants.
    shell.ok(&cmd::advance("adv1"), at("2025-03-01T00:00:00Z"));
    shell.ok(&cmd::advance("adv2"), at("2025-04-01T00:00:00Z"));
    let grants: Vec<_> = shell
        .entries_of(EntryType::Grant)
        .into_iter()
        .filter(|entry| entry.amount_minor == 8000)
        .map(|entry| entry.at)
        .collect();
    assert_eq!(
        grants,
        vec![
            at("2025-01-31T12:00:00Z"),
            at("2025-02-28T12:00:00Z"),
            at("2025-03-31T12:00:00Z")
        ]
    );
}

#[test]
fn top_ups_need_an_active_subscription_but_stay_spendable_after_it_ends() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/subscription"), start);
    let error = shell.refused(&cmd::package("t0", "tokens_1000"), start);
    assert_eq!(error.code(), "topup-not-allowed");
    shell.ok(
        &cmd::subscribe(
            "s",
            "a",
            "imagineart/subscription",
            SubscriptionPeriod::Monthly,
            start,
        ),
        start,
    );
    shell.ok(&cmd::package("t1", "tokens_5000"), start);
    shell.ok(
        &cmd::cancel(
            "x",
            "a",
            "imagineart/subscription",
            SubscriptionPeriod::Monthly,
            start,
        ),
        at("2025-03-20T00:00:00Z"),
    );
    assert_eq!(
        shell.account().subscription.as_ref().unwrap().ends_at,
        Some(at("2025-04-10T09:00:00Z"))
    );
    // Still subscribed until the end of the paid period.
    shell.ok(
        &cmd::package("t2", "tokens_1000"),
        at("2025-04-10T08:00:00Z"),
    );
    let after = at("2025-04-11T09:00:00Z");
    assert_eq!(
        shell
            .refused(&cmd::package("t3", "tokens_1000"), after)
            .code(),
        "topup-not-allowed"
    );
    // No new allocation after the end; the top-ups (one bucket per purchase) remain.
    assert_eq!(
        shell.buckets("credit", after),
        vec![
            ("free".into(), 100),
            ("top_up".into(), 5000),
            ("top_up".into(), 1000)
        ]
    );
    let outcome = shell.ok(&cmd::charge("c", units(150)), after);
    assert_eq!(outcome.balance.units["credit"].available_minor, 5950);
}

#[test]
fn pro_models_need_a_subscription() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/free"), start);
    let error = shell.refused(
        &cmd::charge("c1", usage("image", &[("model", "pro")])),
        start,
    );
    assert_eq!(error.code(), "feature-not-allowed");
    assert_eq!(
        error.to_string(),
        "`image` with model `pro` needs an active subscription on plan `imagineart/free`"
    );
    shell.ok(
        &cmd::charge("c2", usage("image", &[("model", "standard")])),
        start,
    );

    let mut subscribed = Shell::new(books::imagineart());
    subscribed.ok(&cmd::create("b", "imagineart/subscription"), start);
    subscribed.ok(
        &cmd::subscribe(
            "s",
            "b",
            "imagineart/subscription",
            SubscriptionPeriod::Monthly,
            start,
        ),
        start,
    );
    let outcome = subscribed.ok(
        &cmd::charge("c1", usage("image", &[("model", "pro")])),
        start,
    );
    assert_eq!(outcome.amounts[0].amount_minor, 60);
}

#[test]
fn out_of_credits_is_refused_and_changes_nothing() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/free"), start);
    let entries = shell.entries.len();
    let error = shell.refused(&cmd::charge("c1", units(101)), at("2025-03-10T09:30:00Z"));
    assert_eq!(error.code(), "insufficient-credits");
    assert_eq!(
        error.to_string(),
        "insufficient credits: `credit` needs 101 minor units, 100 available"
    );
    assert_eq!(shell.entries.len(), entries);
    assert_eq!(shell.available("credit", start), 100);
}

#[test]
fn the_rate_limit_counts_accepted_requests_only() {
    let mut shell = Shell::new(books::imagineart());
    let start = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/free"), start);
    for n in 0..20 {
        shell.ok(
            &cmd::charge(&format!("c{n}"), units(1)),
            at("2025-03-10T09:00:10Z"),
        );
    }
    let error = shell.refused(&cmd::charge("c20", units(1)), at("2025-03-10T09:00:45Z"));
    assert_eq!(error.code(), "rate-limited");
    assert_eq!(error.retry_after_seconds(), Some(15));
    // The next minute window admits again.
    shell.ok(&cmd::charge("c21", units(1)), at("2025-03-10T09:01:00Z"));

    // Refused charges (here: too expensive) do not use up the window.
    let mut other = Shell::new(books::imagineart());
    other.ok(&cmd::create("b", "imagineart/free"), start);
    for n in 0..30 {
        other.refused(&cmd::charge(&format!("x{n}"), units(1000)), start);
    }
    other.ok(&cmd::charge("ok", units(1)), start);
}
