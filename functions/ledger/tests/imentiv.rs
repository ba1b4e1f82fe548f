//! Seed 000 (Imentiv): Professional's 12,000 credits a month roll over while subscribed and
//! are forfeited at the end of a cancelled period; top-ups never expire; the first
//! personality analysis is free and needs a prior core analysis of the same content;
//! refunds go back to the buckets that paid, in reverse.

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

const PRO: &str = "imentiv/professional";

fn subscribed(start: &str) -> Shell {
    let mut shell = Shell::new(books::imentiv());
    let start = at(start);
    shell.ok(&cmd::create("a", PRO), start);
    shell.ok(
        &cmd::subscribe("s", "a", PRO, SubscriptionPeriod::Monthly, start),
        start,
    );
    shell
}

#[test]
fn professional_allocation_rolls_over_while_subscribed_and_is_forfeited_after_cancellation() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    shell.ok(
        &cmd::top_up("t1", "credit", 50_000),
        at("2025-01-15T12:00:00Z"),
    );
    shell.ok(&cmd::charge("c1", units(2_000)), at("2025-01-20T00:00:00Z"));
    // The next month's 12,000 come on top of the 10,000 left.
    assert_eq!(
        shell.buckets("credit", at("2025-02-15T12:00:00Z")),
        vec![
            ("allocation".into(), 1_000_000),
            ("allocation".into(), 1_200_000),
            ("top_up".into(), 50_000)
        ]
    );
    shell.ok(&cmd::advance("adv"), at("2025-02-15T12:00:00Z"));
    let rollover = shell.entries_of(EntryType::Rollover);
    assert_eq!(rollover.len(), 1);
    assert_eq!(rollover[0].body["carried_minor"], 1_000_000);

    // Cancelled on 20 Feb: paid until 15 Mar, then the allocations are forfeited.
    shell.ok(
        &cmd::cancel(
            "x",
            "a",
            PRO,
            SubscriptionPeriod::Monthly,
            at("2025-01-15T12:00:00Z"),
        ),
        at("2025-02-20T00:00:00Z"),
    );
    assert_eq!(
        shell.available("credit", at("2025-03-15T11:59:59Z")),
        2_250_000
    );
    assert_eq!(
        shell.buckets("credit", at("2025-03-15T12:00:00Z")),
        vec![("top_up".into(), 50_000)]
    );
    shell.ok(&cmd::advance("adv2"), at("2025-03-16T00:00:00Z"));
    let forfeits: i64 = shell
        .entries_of(EntryType::Forfeit)
        .iter()
        .map(|entry| entry.amount_minor)
        .sum();
    assert_eq!(forfeits, -2_200_000);
    assert_eq!(
        shell.entries_of(EntryType::Grant).len(),
        2,
        "no allocation after the end"
    );
}

#[test]
fn top_ups_never_expire() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    shell.ok(
        &cmd::top_up("t1", "credit", 50_000),
        at("2025-01-15T12:00:00Z"),
    );
    shell.ok(
        &cmd::cancel(
            "x",
            "a",
            PRO,
            SubscriptionPeriod::Monthly,
            at("2025-01-15T12:00:00Z"),
        ),
        at("2025-01-16T00:00:00Z"),
    );
    assert_eq!(
        shell.buckets("credit", at("2027-06-01T00:00:00Z")),
        vec![("top_up".into(), 50_000)]
    );
}

#[test]
fn the_first_personality_analysis_is_free_and_needs_a_prior_core_analysis() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    let now = at("2025-01-16T00:00:00Z");
    let personality = || usage("personality_analysis", &[("duration", "300")]);
    let error = shell.refused(&cmd::charge_on("p0", personality(), "video-1"), now);
    assert_eq!(error.code(), "feature-not-allowed");
    assert_eq!(
        error.to_string(),
        "`personality_analysis` requires a prior `video_emotion` or `audio_emotion` of content `video-1`"
    );
    let error = shell.refused(&cmd::charge("p0", personality()), now);
    assert_eq!(error.code(), "invalid-input");

    let core = shell.ok(
        &cmd::charge_on(
            "v1",
            usage("video_emotion", &[("duration", "90")]),
            "video-1",
        ),
        now,
    );
    assert_eq!(core.amounts[0].amount_minor, 9_000);
    let first = shell.ok(&cmd::charge_on("p1", personality(), "video-1"), now);
    assert!(first.free);
    assert!(first.amounts.is_empty());
    let second = shell.ok(&cmd::charge_on("p2", personality(), "video-1"), now);
    assert!(!second.free);
    assert_eq!(second.amounts[0].amount_minor, 12_500);
    // The free charge is on record, with its content.
    let free_entry = shell
        .entries
        .iter()
        .find(|entry| entry.id == "charge:p1")
        .unwrap();
    assert_eq!(free_entry.content.as_deref(), Some("video-1"));
}

#[test]
fn a_partial_refund_returns_credits_in_reverse_order() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    shell.ok(
        &cmd::top_up("t1", "credit", 100_000),
        at("2025-01-15T12:00:00Z"),
    );
    // 12,000 allocation + 500 of top-up.
    let paid = shell
        .ok(
            &cmd::charge("c1", units(12_500)),
            at("2025-01-16T00:00:00Z"),
        )
        .paid_from;
    assert_eq!(
        paid.iter()
            .map(|draw| draw.amount_minor)
            .collect::<Vec<_>>(),
        vec![1_200_000, 50_000]
    );
    let error = shell.refused(
        &cmd::refund("r0", "c1", "goodwill", None),
        at("2025-01-17T00:00:00Z"),
    );
    assert_eq!(error.code(), "refund-not-allowed");
    // 600 credits: the 500 of top-up first, then 100 of allocation.
    let refund = shell.ok(
        &cmd::refund("r1", "c1", "duplicate", Some(60_000)),
        at("2025-01-17T00:00:00Z"),
    );
    assert_eq!(
        refund
            .paid_from
            .iter()
            .map(|draw| (draw.kind.clone(), draw.amount_minor))
            .collect::<Vec<_>>(),
        vec![("top_up".into(), 50_000), ("allocation".into(), 10_000)]
    );
    // The rest: 11,900 of allocation; then nothing is left to refund.
    let rest = shell.ok(
        &cmd::refund("r2", "c1", "duplicate", None),
        at("2025-01-18T00:00:00Z"),
    );
    assert_eq!(rest.amounts[0].amount_minor, 1_190_000);
    assert_eq!(
        shell.available("credit", at("2025-01-18T00:00:00Z")),
        1_300_000
    );
    let error = shell.refused(
        &cmd::refund("r3", "c1", "duplicate", None),
        at("2025-01-18T00:00:00Z"),
    );
    assert_eq!(error.to_string(), "charge `c1` has nothing left to refund");
    let error = shell.refused(
        &cmd::refund("r4", "nope", "duplicate", None),
        at("2025-01-18T00:00:00Z"),
    );
    assert_eq!(error.code(), "not-found");
}

#[test]
fn refunds_are_refused_after_the_window() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    shell.ok(&cmd::charge("c1", units(100)), at("2025-01-16T00:00:00Z"));
    let error = shell.refused(
        &cmd::refund("r1", "c1", "duplicate", None),
        at("2025-02-15T00:00:01Z"),
    );
    assert_eq!(
        error.to_string(),
        "charge `c1` of 2025-01-16 is past the 30-day refund window"
    );
    shell.ok(
        &cmd::refund("r2", "c1", "duplicate", None),
        at("2025-02-15T00:00:00Z"),
    );
}

#[test]
fn a_refund_to_a_forfeited_allocation_is_restored_as_promotional() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    shell.ok(&cmd::charge("c1", units(1_000)), at("2025-02-01T00:00:00Z"));
    shell.ok(
        &cmd::cancel(
            "x",
            "a",
            PRO,
            SubscriptionPeriod::Monthly,
            at("2025-01-15T12:00:00Z"),
        ),
        at("2025-02-02T00:00:00Z"),
    );
    // Before the end of the paid period the allocation takes its credits back.
    let before = shell.ok(
        &cmd::refund("r1", "c1", "legal", Some(10_000)),
        at("2025-02-10T00:00:00Z"),
    );
    assert_eq!(before.paid_from[0].kind, "allocation");
    // After the forfeiture the plan's rule applies: promotional credits for 30 days.
    let after = shell.ok(
        &cmd::refund("r2", "c1", "legal", Some(20_000)),
        at("2025-02-16T00:00:00Z"),
    );
    assert_eq!(after.paid_from[0].kind, "promotional");
    assert_eq!(
        after.paid_from[0].expires_at,
        Some(at("2025-03-18T00:00:00Z"))
    );
    assert_eq!(
        shell.buckets("credit", at("2025-02-16T00:00:00Z")),
        vec![("promotional".into(), 20_000)]
    );
}

#[test]
fn low_balance_alerts_fire_once_per_crossing() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    let now = at("2025-01-16T00:00:00Z");
    let first = shell.ok(&cmd::charge("c1", units(11_500)), now);
    assert_eq!(first.alerts.len(), 1);
    assert_eq!(first.alerts[0].threshold_minor, 100_000);
    assert!(
        shell
            .ok(&cmd::charge("c2", units(10)), now)
            .alerts
            .is_empty()
    );
    let both = shell.ok(&cmd::charge("c3", units(450)), now);
    assert_eq!(
        both.alerts
            .iter()
            .map(|alert| alert.threshold_minor)
            .collect::<Vec<_>>(),
        vec![10_000]
    );
    // Back above both thresholds re-arms them.
    shell.ok(&cmd::top_up("t1", "credit", 500_000), now);
    let again = shell.ok(&cmd::charge("c4", units(4_950)), now);
    assert_eq!(again.alerts.len(), 2);
    assert_eq!(shell.entries_of(EntryType::Alert).len(), 4);
}

/// Regression: client ids may contain `:`; a free charge `p:credit` must not get the entry
/// id of charge `p` in `credit` (the store would then refuse the commit forever).
#[test]
fn client_ids_with_colons_do_not_collide_with_other_entry_ids() {
    let mut shell = subscribed("2025-01-15T12:00:00Z");
    let now = at("2025-01-16T00:00:00Z");
    shell.ok(
        &cmd::charge_on("p", usage("video_emotion", &[("duration", "5")]), "c"),
        now,
    );
    let free = shell.ok(
        &cmd::charge_on(
            "p:credit",
            usage("personality_analysis", &[("duration", "60")]),
            "c",
        ),
        now,
    );
    assert!(free.free);
    let ids: Vec<&str> = shell
        .entries_of(EntryType::Charge)
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(ids, vec!["charge:p:credit", "charge:p%3Acredit"]);
}
