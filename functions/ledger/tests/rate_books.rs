//! The seed policies again, with the real rate books compiled from `rates/*.rates`: what
//! product managers wrote is what the ledger does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, cmd};
use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, SubscriptionPeriod, Usage};
use credits_ledger::{Command, EntryType};

fn book(file: &str) -> RateBook {
    let path = format!("{}/../../rates/{file}.rates", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    credits_dsl::compile::compile_source(&format!("{file}.rates"), &source)
        .unwrap_or_else(|diagnostics| panic!("{file}.rates does not compile: {diagnostics:?}"))
}

fn usage(book: &RateBook, feature: &str, inputs: &[(&str, &str)]) -> Usage {
    let inputs: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect();
    book.usage(feature, None, &inputs).unwrap()
}

fn image(shell: &Shell, model: &str) -> Usage {
    usage(&shell.book, "image", &[("model", model)])
}

#[test]
fn imagineart_free_daily_credits_order_top_ups_and_pro_gate() {
    let mut shell = Shell::new(book("imagineart"));
    let day1 = at("2025-03-10T09:00:00Z");
    shell.ok(&cmd::create("a", "imagineart/free"), day1);
    // Free plan: 100 a day that do not pile up; pro needs a subscription; no top-ups.
    shell.ok(&cmd::charge("c1", image(&shell, "standard")), day1);
    assert_eq!(shell.available("credit", at("2025-03-13T09:00:00Z")), 100);
    assert_eq!(
        shell
            .refused(&cmd::charge("c2", image(&shell, "pro")), day1)
            .code(),
        "feature-not-allowed"
    );
    assert_eq!(
        shell
            .refused(&cmd::package("t0", "tokens_1000"), day1)
            .code(),
        "topup-not-allowed"
    );

    // Upgrade: subscription credits, top-ups, spending order free → subscription → top-up.
    let plan = "imagineart/subscription";
    shell.ok(
        &cmd::subscribe("s", "a", plan, SubscriptionPeriod::Quarterly, day1),
        day1,
    );
    shell.ok(&cmd::package("t1", "tokens_1000"), day1);
    let pro = shell.ok(&cmd::charge("c3", image(&shell, "pro")), day1);
    assert_eq!(pro.amounts[0].amount_minor, 60);
    assert_eq!(pro.paid_from[0].kind, "free");
    let video = usage(
        &shell.book,
        "video",
        &[("model", "standard"), ("duration", "10s")],
    );
    let mut spent = Vec::new();
    for n in 0..20 {
        let outcome = shell.ok(&cmd::charge(&format!("v{n}"), video.clone()), day1);
        spent.extend(outcome.paid_from.into_iter().map(|draw| draw.kind));
    }
    spent.dedup();
    assert_eq!(spent, vec!["free", "subscription", "top_up"]);

    // Cancelled: the period ends, the allocation with it; the top-up stays spendable.
    shell.ok(
        &cmd::cancel("x", "a", plan, SubscriptionPeriod::Quarterly, day1),
        at("2025-03-11T00:00:00Z"),
    );
    let after = at("2025-06-10T09:00:00Z");
    assert_eq!(
        shell
            .refused(&cmd::package("t2", "tokens_1000"), after)
            .code(),
        "topup-not-allowed"
    );
    let buckets = shell.buckets("credit", after);
    assert_eq!(
        buckets
            .iter()
            .map(|bucket| bucket.0.as_str())
            .collect::<Vec<_>>(),
        vec!["free", "top_up"]
    );
    shell.ok(&cmd::charge("c4", image(&shell, "standard")), after);
    assert_eq!(
        shell
            .refused(&cmd::charge("c5", image(&shell, "pro")), after)
            .code(),
        "feature-not-allowed"
    );
}

#[test]
fn imentiv_professional_rollover_first_free_prior_analysis_and_refunds() {
    let mut shell = Shell::new(book("imentiv"));
    let plan = "imentiv/professional";
    let start = at("2025-01-31T12:00:00Z");
    shell.ok(&cmd::create("a", plan), start);
    shell.ok(
        &cmd::subscribe("s", "a", plan, SubscriptionPeriod::Monthly, start),
        start,
    );
    shell.ok(&cmd::package("t1", "starter"), start);
    assert_eq!(shell.available("credit", start), 1_700_000);

    let personality = usage(&shell.book, "personality_analysis", &[("duration", "5m")]);
    let refused = shell.refused(&cmd::charge_on("p0", personality.clone(), "clip"), start);
    assert_eq!(refused.code(), "feature-not-allowed");
    let core = usage(&shell.book, "video_emotion", &[("duration", "2.2s")]);
    assert_eq!(
        shell.ok(&cmd::charge_on("v1", core, "clip"), start).amounts[0].amount_minor,
        300
    );
    assert!(
        shell
            .ok(&cmd::charge_on("p1", personality.clone(), "clip"), start)
            .free
    );
    assert_eq!(
        shell
            .ok(&cmd::charge_on("p2", personality, "clip"), start)
            .amounts[0]
            .amount_minor,
        12_500
    );

    // Rolls over while subscribed (31 Jan → 28 Feb), on top of the new allocation.
    let rolled = shell.buckets("credit", at("2025-02-28T12:00:00Z"));
    assert_eq!(
        rolled.iter().map(|bucket| bucket.1).collect::<Vec<_>>(),
        vec![1_187_200, 1_200_000, 500_000]
    );

    // A partial refund of `p2` goes back to its allocation.
    let refund = shell.ok(
        &cmd::refund("r1", "p2", "internal_error", Some(2_500)),
        at("2025-02-01T00:00:00Z"),
    );
    assert_eq!(refund.paid_from[0].kind, "allocation");
    assert_eq!(
        shell
            .refused(
                &cmd::refund("r2", "p2", "goodwill", None),
                at("2025-02-01T00:00:00Z")
            )
            .code(),
        "refund-not-allowed"
    );

    // Cancelled: forfeited at the end of the paid period (31 Mar); top-ups never expire.
    shell.ok(
        &cmd::cancel("x", "a", plan, SubscriptionPeriod::Monthly, start),
        at("2025-03-05T00:00:00Z"),
    );
    let end = at("2025-03-31T12:00:00Z");
    assert_eq!(
        shell.buckets("credit", end),
        vec![("top_up".into(), 500_000)]
    );
    assert_eq!(
        shell.buckets("credit", at("2030-01-01T00:00:00Z")),
        vec![("top_up".into(), 500_000)]
    );
    shell.ok(&cmd::advance("adv"), end);
    let forfeited: i64 = shell
        .entries_of(EntryType::Forfeit)
        .iter()
        .map(|entry| entry.amount_minor)
        .sum();
    assert_eq!(forfeited, -(1_187_200 + 2_500 + 1_200_000));
}

#[test]
fn ai_engine_expiry_rollover_cap_and_credit_line() {
    let mut standard = Shell::new(book("ai-engine"));
    standard.ok(
        &cmd::create("s", "ai-engine/standard"),
        at("2025-01-15T00:00:00Z"),
    );
    assert_eq!(
        standard.available("credit", at("2025-01-31T23:59:59Z")),
        100_000
    );
    standard.ok(&cmd::package("t1", "standard"), at("2025-01-20T00:00:00Z"));
    // January's allocation expires with January; the package does not.
    assert_eq!(
        standard.buckets("credit", at("2025-02-01T00:00:00Z")),
        vec![("allocation".into(), 100_000), ("top_up".into(), 100_000)]
    );

    let mut professional = Shell::new(book("ai-engine"));
    professional.ok(
        &cmd::create("p", "ai-engine/professional"),
        at("2025-01-15T00:00:00Z"),
    );
    assert_eq!(
        professional.available("credit", at("2025-04-30T23:59:59Z")),
        2_000_000
    );
    assert_eq!(
        professional.available("credit", at("2025-05-01T00:00:00Z")),
        2_000_000
    );
    assert_eq!(
        professional
            .buckets("credit", at("2025-05-01T00:00:00Z"))
            .len(),
        4
    );

    let mut enterprise = Shell::new(book("ai-engine"));
    let now = at("2025-01-15T00:00:00Z");
    enterprise.ok(&cmd::create("e", "ai-engine/enterprise"), now);
    // 34 h on multi-GPU: 34 × 60 × 12 = 24,480 credits, 4,480 into the 5,000 credit line.
    let training = usage(
        &enterprise.book,
        "training",
        &[("time", "34h"), ("data", "0 GB"), ("compute", "multi_gpu")],
    );
    let outcome = enterprise.ok(&cmd::charge("t", training), now);
    assert_eq!(
        outcome.balance.units["credit"].available_minor,
        2_000_000 - 2_448_000
    );
    assert_eq!(outcome.alerts.len(), 1);
    let more = usage(
        &enterprise.book,
        "training",
        &[("time", "10h"), ("data", "0 GB"), ("compute", "multi_gpu")],
    );
    assert_eq!(
        enterprise.refused(&cmd::charge("t2", more), now).code(),
        "insufficient-credits"
    );
}

#[test]
fn invideo_charges_credits_and_video_minutes_together() {
    let mut shell = Shell::new(book("invideo"));
    let start = at("2025-05-31T08:00:00Z");
    shell.ok(&cmd::create("a", "invideo/plus"), start);
    shell.ok(
        &cmd::subscribe("s", "a", "invideo/plus", SubscriptionPeriod::Monthly, start),
        start,
    );
    let stock = usage(
        &shell.book,
        "stock_video",
        &[("duration", "90s"), ("actor", "yes")],
    );
    let outcome = shell.ok(&cmd::charge("c1", stock), start);
    let charged: Vec<(String, i64)> = outcome
        .amounts
        .iter()
        .map(|amount| (amount.unit.clone(), amount.amount_minor))
        .collect();
    assert_eq!(
        charged,
        vec![("credit".into(), 1_000), ("video_minute".into(), 2)]
    );
    assert_eq!(outcome.balance.units["video_minute"].available_minor, 48);
    // Out of video minutes: refused, and the credits are not touched either.
    let long = usage(
        &shell.book,
        "stock_video",
        &[("duration", "49m"), ("actor", "yes")],
    );
    let before = shell.account().clone();
    assert_eq!(
        shell.refused(&cmd::charge("c2", long), start).code(),
        "insufficient-credits"
    );
    assert_eq!(&before, shell.account());
    shell.ok(&cmd::package("m1", "minutes_20"), start);
    let long = usage(
        &shell.book,
        "stock_video",
        &[("duration", "49m"), ("actor", "yes")],
    );
    let outcome = shell.ok(&cmd::charge("c3", long), start);
    assert_eq!(outcome.balance.units["video_minute"].available_minor, 19);
}

#[test]
fn imini_credit_line_overdue_balance_and_closure() {
    let mut shell = Shell::new(book("imini"));
    let now = at("2025-03-01T00:00:00Z");
    shell.ok(&cmd::create("a", "imini/credit_line"), now);
    let veo = usage(
        &shell.book,
        "video_generation",
        &[("model", "veo"), ("duration", "20s")],
    );
    let mut n = 0;
    while shell
        .run(&cmd::charge(&format!("v{n}"), veo.clone()), now)
        .is_ok()
    {
        n += 1;
    }
    // 300 credits a video: 33 videos fit in the 10,000 credit line.
    assert_eq!(n, 33);
    assert_eq!(shell.available("credit", now), -990_000);
    assert_eq!(shell.entries_of(EntryType::Alert).len(), 1);
    assert_eq!(
        shell
            .refused(&Command::Close { id: "bye".into() }, now)
            .code(),
        "conflict"
    );
    shell.ok(&cmd::top_up("t1", "credit", 1_000_000), now);
    assert_eq!(shell.available("credit", now), 10_000);
    let closed = shell.ok(&Command::Close { id: "bye".into() }, now);
    assert_eq!(closed.amounts[0].amount_minor, 10_000);
}
