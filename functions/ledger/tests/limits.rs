//! Every collection of the account snapshot has a limit (`limits.rs`, `docs/ledger-limits.md`)
//! and interchangeable buckets merge without changing anything a client can count on
//! (`buckets.rs`). Each limit is refused with `limit-reached`, named, and nothing changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Shell, at, cmd, units};
use credits_dsl::RateBook;
use credits_ledger::limits::{
    MAX_ALERT_THRESHOLDS, MAX_COMMAND_BUCKETS, MAX_CREDIT_LINES, MAX_FREE_USED, MAX_GRANT_BUCKETS,
    MAX_GRANT_MARKS, MAX_HOLDS, MAX_HOLDS_BYTES, MAX_SNAPSHOT_BYTES,
};
use credits_ledger::{
    Attribution, Command, Configure, HoldRequest, LedgerError, TopUp, TopUpAmount,
};

const HEADER: &str = r#"book lim
title "Limits"
effective 2025-01-01
time_zone "UTC"

unit credit scale 0 round up

feature gen "Generate" {
  input n: count min 1
  base 1 credit each
  multiply by n
}
"#;

/// A book of the header's `gen` feature, `extra` features and plans.
fn book(extra: &str) -> RateBook {
    let source = format!("{HEADER}\n{extra}");
    match credits_dsl::compile_source("lim.rates", &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("test book does not compile: {diagnostics:?}\n{source}"),
    }
}

const PLANS: &str = r#"
plan basic "Basic" {
  order free, top_up
  topup as top_up, expires never
  refund within 30 days for duplicate
  refund expired forfeit
}

plan daily "Daily" {
  grant 10 credit daily as free, expires never
  order free, top_up
  topup as top_up, expires never
  refund within 30 days for duplicate
  refund expired forfeit
}

plan sub "Subscription" {
  cycle monthly calendar
  periods monthly
  grant 100 credit every cycle as allocation, expires end of cycle, rolls over while subscribed
  order allocation, top_up
  topup as top_up, expires never
  refund within 30 days for duplicate
  refund expired forfeit
}
"#;

fn limit_of(error: &LedgerError) -> (&'static str, usize) {
    match error {
        LedgerError::LimitReached { limit, max, .. } => (limit, *max),
        other => panic!("not a limit: {other} ({})", other.code()),
    }
}

fn top_up_at(
    id: &str,
    amount_minor: i64,
    kind: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Command {
    Command::TopUp(TopUp {
        id: id.to_owned(),
        amount: TopUpAmount::Amount {
            unit: Some("credit".into()),
            amount_minor,
        },
        kind: kind.map(str::to_owned),
        expires_at,
    })
}

fn hold_with(id: &str, n: i64, attribution: Attribution) -> Command {
    Command::Hold(HoldRequest {
        id: id.to_owned(),
        usage: units(n),
        ttl_seconds: 3600,
        attribution,
    })
}

fn bucket_count(shell: &Shell) -> usize {
    shell.account().buckets.len()
}

#[test]
fn top_ups_with_distinct_expiries_stop_at_the_bucket_limit() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    for index in 0..MAX_COMMAND_BUCKETS {
        let now = start + Duration::minutes(i64::try_from(index).unwrap() + 1);
        let expires = start + Duration::days(i64::try_from(index).unwrap() + 100);
        shell.ok(
            &top_up_at(&format!("t{index}"), 10, None, Some(expires)),
            now,
        );
    }
    let now = start + Duration::hours(2);
    let error = shell.refused(
        &top_up_at("one-too-many", 10, None, Some(start + Duration::days(400))),
        now,
    );
    assert_eq!(limit_of(&error), ("buckets", MAX_COMMAND_BUCKETS));
    assert_eq!(error.code(), "limit-reached");
    assert!(error.to_string().contains("`a`"), "{error}");
    // The account keeps working: spending and then topping up again.
    shell.ok(&cmd::charge("c", units(15)), now);
    shell.ok(
        &top_up_at(
            "after-spending",
            10,
            None,
            Some(start + Duration::days(400)),
        ),
        now + Duration::minutes(1),
    );
    assert!(bucket_count(&shell) <= MAX_COMMAND_BUCKETS);
}

#[test]
fn holds_stop_at_the_hold_limit_and_a_release_makes_room() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&cmd::top_up("t", "credit", 1_000_000), start);
    for index in 0..MAX_HOLDS {
        shell.ok(&cmd::hold(&format!("h{index}"), units(1), 3600), start);
    }
    let error = shell.refused(&cmd::hold("one-more", units(1), 3600), start);
    assert_eq!(limit_of(&error), ("holds", MAX_HOLDS));
    shell.ok(&cmd::release("r", "h0"), start);
    shell.ok(&cmd::hold("one-more", units(1), 3600), start);
}

#[test]
fn holds_with_long_ids_and_tags_stop_at_the_byte_budget() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&cmd::top_up("t", "credit", 1_000_000), start);
    let long = |prefix: &str, index: usize| format!("{prefix}{index:04}{}", "x".repeat(250));
    let mut refused = None;
    for index in 0..MAX_HOLDS {
        let attribution = Attribution {
            project: Some(long("p", index)),
            member: Some(long("m", index)),
            content: Some(long("c", index)),
        };
        match shell.run(&hold_with(&long("h", index), 1, attribution), start) {
            Ok(_) => {}
            Err(error) => {
                refused = Some((index, error));
                break;
            }
        }
    }
    let (index, error) = refused.expect("the byte budget stops long holds before the count");
    assert!(index > 10, "only {index} holds fitted");
    assert_eq!(limit_of(&error), ("holds_bytes", MAX_HOLDS_BYTES));
    let bytes = serde_json::to_vec(&shell.account().holds).unwrap().len();
    assert!(bytes <= MAX_HOLDS_BYTES, "{bytes}");
}

#[test]
fn free_first_requests_are_recorded_up_to_their_limit() {
    let mut features = String::new();
    for index in 0..=MAX_FREE_USED {
        features.push_str(&format!(
            "feature f{index} \"Free {index}\" {{\n  base 1 credit each\n  first request free\n}}\n"
        ));
    }
    let mut shell = Shell::new(book(&format!("{features}\n{PLANS}")));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&cmd::top_up("t", "credit", 1_000), start);
    for index in 0..MAX_FREE_USED {
        let usage = common::usage(&format!("f{index}"), &[]);
        shell.ok(&cmd::charge(&format!("c{index}"), usage), start);
    }
    let usage = common::usage(&format!("f{MAX_FREE_USED}"), &[]);
    let error = shell.refused(&cmd::charge("one-more", usage), start);
    assert_eq!(limit_of(&error), ("free_used", MAX_FREE_USED));
    // Features already recorded still charge.
    shell.ok(&cmd::charge("again", common::usage("f0", &[])), start);
}

#[test]
fn a_plan_whose_grants_keep_too_many_buckets_is_refused() {
    let plans = "plan monthlong \"Month-long\" {\n  grant 10 credit daily as free, expires after 30 days\n  order free\n}\n";
    let mut shell = Shell::new(book(&format!("{plans}\n{PLANS}")));
    let start = at("2025-01-01T12:00:00Z");
    let error = shell.refused(&cmd::create("a", "lim/monthlong"), start);
    assert_eq!(limit_of(&error), ("grant_buckets", MAX_GRANT_BUCKETS));
    // An existing account cannot switch to it either.
    shell.ok(&cmd::create("a", "lim/basic"), start);
    let error = shell.refused(
        &Command::Configure(cmd::configure("switch", "a", "lim/monthlong")),
        start,
    );
    assert_eq!(limit_of(&error), ("grant_buckets", MAX_GRANT_BUCKETS));
}

#[test]
fn grant_marks_of_every_plan_are_bounded() {
    // Plans of 6 `once` grants: every switch adds 6 marks (`once` is once per plan).
    const GRANTS: usize = 6;
    let plans_fitting = MAX_GRANT_MARKS / GRANTS;
    let kinds: Vec<String> = (0..GRANTS).map(|grant| format!("k{grant}")).collect();
    let mut plans = String::new();
    for plan in 0..=plans_fitting {
        plans.push_str(&format!(
            "plan p{plan} \"P{plan}\" {{\n  order {}\n",
            kinds.join(", ")
        ));
        for kind in &kinds {
            plans.push_str(&format!("  grant 1 credit once as {kind}, expires never\n"));
        }
        plans.push_str("}\n");
    }
    let mut shell = Shell::new(book(&plans));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/p0"), start);
    let spend = units(i64::try_from(GRANTS).unwrap());
    for plan in 1..plans_fitting {
        let now = start + Duration::days(i64::try_from(plan).unwrap());
        // Spend the `once` credits so that buckets do not pile up instead.
        shell.ok(&cmd::charge(&format!("spend{plan}"), spend.clone()), now);
        shell.ok(
            &Command::Configure(cmd::configure(
                &format!("to{plan}"),
                "a",
                &format!("lim/p{plan}"),
            )),
            now,
        );
    }
    let now = start + Duration::days(30);
    shell.ok(&cmd::charge("spend-last", spend), now);
    let error = shell.refused(
        &Command::Configure(cmd::configure(
            "to-last",
            "a",
            &format!("lim/p{plans_fitting}"),
        )),
        now,
    );
    assert_eq!(limit_of(&error), ("grant_marks", MAX_GRANT_MARKS));
}

#[test]
fn too_many_alert_thresholds_and_credit_lines_are_refused() {
    let thresholds: Vec<String> = (1..=MAX_ALERT_THRESHOLDS + 1)
        .map(|amount| format!("{amount} credit"))
        .collect();
    let plans = format!(
        "plan alerts \"Alerts\" {{\n  alert below {}\n}}\n",
        thresholds.join(", ")
    );
    let mut shell = Shell::new(book(&format!("{plans}\n{PLANS}")));
    let start = at("2025-01-01T12:00:00Z");
    let error = shell.refused(&cmd::create("a", "lim/alerts"), start);
    assert_eq!(limit_of(&error), ("alert_thresholds", MAX_ALERT_THRESHOLDS));

    shell.ok(&cmd::create("a", "lim/basic"), start);
    let lines = (0..=MAX_CREDIT_LINES)
        .map(|index| (format!("unit{index}"), 1))
        .collect();
    let error = shell.refused(
        &Command::Configure(Configure {
            credit_line_minor: Some(lines),
            ..cmd::configure("lines", "a", "lim/basic")
        }),
        start,
    );
    assert_eq!(limit_of(&error), ("credit_lines", MAX_CREDIT_LINES));
}

/// A snapshot past the byte backstop (only a rate book with very long names, or a snapshot
/// written before the limits, could get there) may be decided on but never grow.
#[test]
fn a_snapshot_past_the_byte_backstop_never_grows() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&cmd::top_up("t", "credit", 100), start);
    // The cycle's statement has its usage line before the snapshot is inflated: a charge
    // that only changes amounts does not grow it.
    shell.ok(&cmd::charge("c0", units(1)), start);
    let account = shell.account.as_mut().unwrap();
    for index in 0..300 {
        account
            .free_used
            .insert(format!("{index:04}{}", "f".repeat(1_000)));
    }
    let later = start + Duration::hours(1);
    shell.ok(&cmd::charge("c", units(1)), later);
    let error = shell.refused(
        &cmd::top_up("t2", "credit", 100),
        later + Duration::hours(1),
    );
    assert_eq!(limit_of(&error), ("snapshot_bytes", MAX_SNAPSHOT_BYTES));
}

#[test]
fn a_top_up_kind_is_short() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    let kind = "k".repeat(65);
    let error = shell.refused(&top_up_at("t", 10, Some(&kind), None), start);
    assert_eq!(error.code(), "invalid-input");
}

// ---------------------------------------------------------------------------------------
// Merging

/// Every bucket in the snapshot has something left or held, or was created at the instant
/// the account was last brought to (it goes at the next one).
#[track_caller]
fn assert_no_lingering_bucket(shell: &Shell) {
    let account = shell.account();
    for bucket in &account.buckets {
        assert!(
            bucket.left_minor != 0
                || bucket.held_minor != 0
                || bucket.created_at >= account.advanced_to,
            "lingering bucket {bucket:?}"
        );
    }
}

/// A bucket emptied at the instant it was created stays, hidden from reads, until the next
/// instant; so a bucket of other rules born later at that instant sees it and gives up
/// merging (a refund of the charge could recreate the emptied one between them).
#[test]
fn a_bucket_emptied_at_its_own_instant_goes_at_the_next() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&top_up_at("x", 10, Some("promo"), None), start);
    shell.ok(&cmd::charge("c", units(10)), start);
    assert_eq!(bucket_count(&shell), 1);
    assert_eq!(shell.buckets("credit", start), vec![]);
    // A top-up of another kind that ties with `promo` (neither is in the plan's order) at the
    // same instant: it must not absorb later top-ups, or the refund below would put the
    // `promo` credits behind credits that would have been spent after them.
    shell.ok(&top_up_at("e", 10, Some("gift"), None), start);
    assert!(!shell.account().buckets[1].mergeable);
    let later = start + Duration::hours(1);
    shell.ok(&top_up_at("n", 10, Some("gift"), None), later);
    shell.ok(&cmd::advance("adv"), later + Duration::hours(1));
    assert_eq!(bucket_count(&shell), 2, "{:?}", shell.account().buckets);
    assert_no_lingering_bucket(&shell);
    // The refund recreates `promo` between the two `gift` buckets, as it was (under an id
    // naming the refund).
    shell.ok(
        &cmd::refund("r", "c", "duplicate", None),
        later + Duration::hours(1),
    );
    let charge = shell.ok(&cmd::charge("c2", units(15)), later + Duration::hours(2));
    let drawn: Vec<(String, i64)> = charge
        .paid_from
        .iter()
        .map(|draw| (draw.bucket.clone(), draw.amount_minor))
        .collect();
    assert_eq!(
        drawn,
        vec![
            ("top_up:e".to_owned(), 10),
            ("restored:r:top_up:x".to_owned(), 5)
        ]
    );
}

#[test]
fn three_years_of_daily_never_expiring_grants_are_one_bucket() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/daily"), start);
    let mut now = start;
    let mut charged = 0;
    for month in 0..36 {
        now += Duration::days(30);
        shell.ok(&cmd::charge(&format!("c{month}"), units(7)), now);
        charged += 7;
        assert_eq!(
            bucket_count(&shell),
            1,
            "month {month}: {:?}",
            shell.account().buckets
        );
    }
    let days = (now - start).num_days() + 1;
    assert_eq!(shell.available("credit", now), 10 * days - charged);
    let bytes = serde_json::to_vec(shell.account()).unwrap().len();
    assert!(bytes < 4_096, "{bytes} bytes");
}

#[test]
fn top_ups_stay_one_bucket_per_purchase() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/basic"), start);
    shell.ok(&cmd::top_up("t1", "credit", 100), start);
    shell.ok(&cmd::top_up("t2", "credit", 50), start);
    shell.ok(
        &cmd::top_up("t3", "credit", 25),
        start + Duration::seconds(1),
    );
    shell.ok(&cmd::advance("adv"), start + Duration::seconds(2));
    assert_eq!(
        shell.buckets("credit", start + Duration::seconds(2)),
        vec![
            ("top_up".into(), 100),
            ("top_up".into(), 50),
            ("top_up".into(), 25)
        ]
    );
    let balance = credits_ledger::view(
        shell.account(),
        &shell.versions(),
        start + Duration::seconds(2),
    )
    .unwrap();
    let purchases: Vec<Option<String>> = balance.units["credit"]
        .buckets
        .iter()
        .map(|bucket| bucket.purchase.clone())
        .collect();
    assert_eq!(
        purchases,
        vec![Some("t1".into()), Some("t2".into()), Some("t3".into())]
    );
    // Oldest first among equals.
    let outcome = shell.ok(&cmd::charge("c", units(110)), start + Duration::seconds(2));
    let drawn: Vec<(&str, i64)> = outcome
        .paid_from
        .iter()
        .map(|draw| (draw.bucket.as_str(), draw.amount_minor))
        .collect();
    assert_eq!(drawn, vec![("top_up:t1", 100), ("top_up:t2", 10)]);
}

/// A charge drew from a bucket that was merged away since; its refund restores exactly the
/// share into the bucket it was merged into.
#[test]
fn a_refund_after_a_merge_restores_exactly_what_the_charge_drew() {
    let mut shell = Shell::new(book(PLANS));
    let day1 = at("2025-01-01T12:00:00Z");
    shell.ok(&cmd::create("a", "lim/daily"), day1);
    // The first day's 10 credits are held, so that the first bucket stays, empty.
    shell.ok(&cmd::hold("h", units(10), 7 * 24 * 3600), day1);
    // At the grant's own instant: the second day's bucket is not merged yet.
    let day2 = at("2025-01-02T00:00:00Z");
    let charge = shell.ok(&cmd::charge("c", units(4)), day2);
    assert_eq!(charge.paid_from.len(), 1);
    let drawn_from = charge.paid_from[0].bucket.clone();
    assert!(drawn_from.contains("2025-01-02"), "{drawn_from}");
    // At the next instant the second day's bucket joins the first.
    let day3 = at("2025-01-03T01:00:00Z");
    shell.ok(&cmd::advance("adv"), day3);
    assert_eq!(bucket_count(&shell), 1, "{:?}", shell.account().buckets);
    let before = shell.available("credit", day3);
    let refund = shell.ok(&cmd::refund("r", "c", "duplicate", None), day3);
    assert_eq!(shell.available("credit", day3), before + 4);
    assert_eq!(refund.paid_from.len(), 1);
    assert_eq!(refund.paid_from[0].amount_minor, 4);
    assert_eq!(refund.paid_from[0].bucket, shell.account().buckets[0].id);
    assert_eq!(bucket_count(&shell), 1);
    // The hold still releases into the bucket it reserved.
    shell.ok(&cmd::release("rel", "h"), day3);
    assert_eq!(shell.available("credit", day3), before + 4 + 10);
}

/// A bucket of other rules between two allocations keeps them apart: merging them would
/// change which credits a charge takes, and so what the end of the subscription forfeits.
#[test]
fn a_bucket_of_other_rules_in_between_keeps_the_consumption_order() {
    let mut shell = Shell::new(book(PLANS));
    let start = at("2025-01-01T00:00:00Z");
    shell.ok(
        &cmd::subscribe(
            "s",
            "a",
            "lim/sub",
            credits_dsl::SubscriptionPeriod::Monthly,
            start,
        ),
        start,
    );
    // Same kind and expiry (never) as the allocations, no rollover rule: it sorts between the
    // January and February allocations.
    shell.ok(
        &top_up_at("between", 100, Some("allocation"), None),
        at("2025-01-15T00:00:00Z"),
    );
    let february = at("2025-02-10T00:00:00Z");
    shell.ok(&cmd::advance("adv"), february);
    assert_eq!(
        shell.buckets("credit", february),
        vec![
            ("allocation".into(), 100),
            ("allocation".into(), 100),
            ("allocation".into(), 100)
        ]
    );
    // 150 takes January's 100, then 50 of the top-up, never February's allocation.
    let charge = shell.ok(&cmd::charge("c", units(150)), february);
    let drawn: Vec<(String, i64)> = charge
        .paid_from
        .iter()
        .map(|draw| (draw.bucket.clone(), draw.amount_minor))
        .collect();
    assert_eq!(drawn[1], ("top_up:between".into(), 50), "{drawn:?}");
    // The subscription ends: February's allocation (100) is forfeited, the top-up's rest
    // (50) stays.
    shell.ok(
        &cmd::cancel(
            "x",
            "a",
            "lim/sub",
            credits_dsl::SubscriptionPeriod::Monthly,
            start,
        ),
        february,
    );
    let after = at("2025-03-02T00:00:00Z");
    assert_eq!(shell.available("credit", after), 50);
}

/// Merging decides nothing about amounts: the same story told with instants that allow
/// merges and with instants that do not (every command at a grant boundary) ends with the
/// same balance, the same entries' amounts and the same kinds left.
#[test]
fn merging_changes_no_amount() {
    fn story(offset: Duration) -> (i64, Vec<(String, i64)>, Vec<i64>) {
        let mut shell = Shell::new(book(PLANS));
        let start = at("2025-01-01T00:00:00Z") + offset;
        shell.ok(&cmd::create("a", "lim/daily"), start);
        let mut now = start;
        for step in 0..40 {
            now += Duration::days(1);
            match step % 4 {
                0 => {
                    shell.ok(&cmd::charge(&format!("c{step}"), units(13)), now);
                }
                1 => {
                    shell.ok(&cmd::top_up(&format!("t{step}"), "credit", 5), now);
                }
                2 => {
                    shell.ok(&cmd::hold(&format!("h{step}"), units(6), 36 * 3600), now);
                }
                _ => {
                    let charge = format!("c{}", step - 3);
                    shell.ok(
                        &cmd::refund(&format!("r{step}"), &charge, "duplicate", Some(5)),
                        now,
                    );
                }
            }
            assert_no_lingering_bucket(&shell);
        }
        now += Duration::days(3);
        let available = shell.available("credit", now);
        let mut kinds: Vec<(String, i64)> = Vec::new();
        for (kind, left) in shell.buckets("credit", now) {
            match kinds.iter_mut().find(|(seen, _)| *seen == kind) {
                Some(slot) => slot.1 += left,
                None => kinds.push((kind, left)),
            }
        }
        let mut amounts: Vec<i64> = shell
            .entries
            .iter()
            .map(|entry| entry.amount_minor)
            .filter(|amount| *amount != 0)
            .collect();
        amounts.sort_unstable();
        (available, kinds, amounts)
    }
    let at_boundaries = story(Duration::zero());
    let mid_day = story(Duration::hours(12));
    assert_eq!(at_boundaries.0, mid_day.0);
    assert_eq!(at_boundaries.1, mid_day.1);
    assert_eq!(at_boundaries.2, mid_day.2);
}
