//! Seed 004 (invideo): one charge spends credits AND video minutes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd, usage};
use credits_dsl::SubscriptionPeriod;

fn subscribed() -> Shell {
    let mut shell = Shell::new(books::invideo());
    let start = at("2025-05-31T08:00:00Z");
    shell.ok(&cmd::create("a", "invideo/plus"), start);
    shell.ok(
        &cmd::subscribe("s", "a", "invideo/plus", SubscriptionPeriod::Monthly, start),
        start,
    );
    shell
}

#[test]
fn a_stock_video_with_an_actor_spends_credits_and_video_minutes() {
    let mut shell = subscribed();
    let outcome = shell.ok(
        &cmd::charge(
            "c1",
            usage("stock_video", &[("duration", "90"), ("actor", "true")]),
        ),
        at("2025-06-01T00:00:00Z"),
    );
    let charged: Vec<(String, i64)> = outcome
        .amounts
        .iter()
        .map(|amount| (amount.unit.clone(), amount.amount_minor))
        .collect();
    assert_eq!(
        charged,
        vec![("credit".into(), 1_000), ("video_minute".into(), 2)]
    );
    assert_eq!(outcome.paid_from.len(), 2);
    assert_eq!(outcome.balance.units["credit"].available_minor, 119_000);
    assert_eq!(outcome.balance.units["video_minute"].available_minor, 48);
    let ids: Vec<&str> = shell
        .entries
        .iter()
        .rev()
        .take(2)
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(ids, vec!["charge:c1:video_minute", "charge:c1:credit"]);
}

#[test]
fn short_of_one_unit_charges_neither() {
    let mut shell = subscribed();
    let now = at("2025-06-01T00:00:00Z");
    // Leave 10 credits: 59.5 minutes of PRO at 20 a minute cost 1,190.
    shell.ok(
        &cmd::charge(
            "g1",
            usage(
                "generative_video",
                &[("duration", "3570"), ("model", "pro")],
            ),
        ),
        now,
    );
    assert_eq!(shell.available("credit", now), 1_000);
    let before = shell.account().clone();
    let error = shell.refused(
        &cmd::charge(
            "c1",
            usage("stock_video", &[("duration", "600"), ("actor", "true")]),
        ),
        now,
    );
    assert_eq!(error.code(), "insufficient-credits");
    assert_eq!(&before, shell.account());
    // The 10 video minutes would have fitted; neither unit was touched.
    assert_eq!(shell.available("video_minute", now), 50);
    // Video minutes carry over nothing at the cycle end (31 May → 30 Jun).
    assert_eq!(
        shell.available("video_minute", at("2025-06-30T08:00:00Z")),
        50
    );
}

#[test]
fn a_refund_of_a_two_unit_charge_names_its_unit() {
    let mut shell = subscribed();
    let now = at("2025-06-01T00:00:00Z");
    shell.ok(
        &cmd::charge(
            "c1",
            usage("stock_video", &[("duration", "90"), ("actor", "true")]),
        ),
        now,
    );
    let error = shell.refused(&cmd::refund("r1", "c1", "duplicate", Some(1)), now);
    assert_eq!(error.code(), "invalid-input");
    let whole = shell.ok(&cmd::refund("r2", "c1", "duplicate", None), now);
    assert_eq!(whole.amounts.len(), 2);
    assert_eq!(shell.available("video_minute", now), 50);
    assert_eq!(shell.available("credit", now), 120_000);
}
