//! One test per bug found, named after it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Shell, at, books, cmd};
use credits_ledger::{Command, Configure, EntryType};

fn grants_of(shell: &Shell, key: &str) -> usize {
    shell
        .entries_of(EntryType::Grant)
        .iter()
        .filter(|entry| entry.body["grant"] == key)
        .count()
}

/// Switching plans moved the anchor of `from purchase` cycles (the plan start), so switching
/// away and back within a cycle granted the allocation again, under an entry id already used.
#[test]
fn switching_plans_back_and_forth_does_not_grant_an_allocation_twice() {
    let mut shell = Shell::new(books::property_book("UTC"));
    shell.ok(&cmd::create("a", "prop/p"), at("2024-03-11T10:00:00Z"));
    shell.ok(
        &Command::Configure(cmd::configure("to-q", "a", "prop/q")),
        at("2024-03-11T11:00:00Z"),
    );
    shell.ok(
        &Command::Configure(cmd::configure("to-p", "a", "prop/p")),
        at("2024-03-11T12:00:00Z"),
    );
    assert_eq!(grants_of(&shell, "plain"), 1);
    // The next allocation comes when the granted period ends (11 April, 10:00).
    shell.ok(&cmd::advance("adv"), at("2024-04-11T10:00:00Z"));
    assert_eq!(grants_of(&shell, "plain"), 2);
}

/// Changing the time zone moved the start of "today", which granted today's free credits a
/// second time.
#[test]
fn changing_the_time_zone_does_not_grant_a_day_twice() {
    let mut shell = Shell::new(books::imagineart());
    let mut create = cmd::configure("c", "a", "imagineart/free");
    create.time_zone = Some("Asia/Tokyo".into());
    shell.ok(&Command::Configure(create), at("2025-03-10T10:00:00Z"));
    let utc = Configure {
        time_zone: Some("UTC".into()),
        ..cmd::configure("z", "a", "imagineart/free")
    };
    shell.ok(&Command::Configure(utc), at("2025-03-10T10:00:00Z"));
    assert_eq!(shell.entries_of(EntryType::Grant).len(), 1);
    assert_eq!(shell.available("credit", at("2025-03-10T20:00:00Z")), 100);
}

/// Every entry id of the history is distinct and fits the store's 512-byte id limit.
fn assert_entry_ids_fit_and_differ(shell: &Shell) {
    let mut seen = std::collections::BTreeSet::new();
    for entry in &shell.entries {
        assert!(
            entry.id.len() <= 512,
            "{} bytes: {}",
            entry.id.len(),
            entry.id
        );
        assert!(
            seen.insert(entry.id.as_str()),
            "entry id {} twice",
            entry.id
        );
    }
}

/// A cycle end named its `rollover` entry after the local date alone: an anchor moved later
/// the same day made a second cycle end that day, with the same entry id.
#[test]
fn an_anchor_moved_later_the_same_day_does_not_repeat_a_rollover_id() {
    let mut shell = Shell::new(books::property_book("UTC"));
    shell.ok(&cmd::create("a", "prop/p"), at("2024-03-11T10:00:00Z"));
    // The first cycle ends at 10:00 on 11 April: what rolls over is recorded.
    shell.ok(&cmd::advance("adv-1"), at("2024-04-11T10:30:00Z"));
    assert_eq!(shell.entries_of(EntryType::Rollover).len(), 1);
    // Cycles now run from 12:00: a second cycle end the same day.
    shell.ok(
        &cmd::subscribe(
            "anchor",
            "a",
            "prop/p",
            credits_dsl::SubscriptionPeriod::Monthly,
            at("2024-03-11T12:00:00Z"),
        ),
        at("2024-04-11T11:00:00Z"),
    );
    shell.ok(&cmd::advance("adv-2"), at("2024-04-11T13:00:00Z"));
    assert_eq!(shell.entries_of(EntryType::Rollover).len(), 2);
    assert_entry_ids_fit_and_differ(&shell);
}

/// Entry ids built from client ids (256 bytes, every byte escaped) and from bucket ids built
/// from client ids went past the store's 512-byte limit, and the store refused the commit.
#[test]
fn entry_ids_built_from_long_client_ids_fit_the_store() {
    let mut shell = Shell::new(books::property_book("UTC"));
    let long = |c: char| c.to_string().repeat(256);
    shell.ok(&cmd::create("a", "prop/p"), at("2024-03-11T10:00:00Z"));
    let top_up = Command::TopUp(credits_ledger::TopUp {
        expires_at: Some(at("2024-03-13T10:00:00Z")),
        ..match cmd::top_up(&long(':'), "credit", 1_000) {
            Command::TopUp(top_up) => top_up,
            _ => unreachable!(),
        }
    });
    shell.ok(&top_up, at("2024-03-11T10:00:00Z"));
    // A hold that takes most of the top-up; the top-up expires while it is held, so the
    // hold's expiry writes an entry naming both the bucket and the hold.
    shell.ok(
        &cmd::hold(&long('%'), common::units(900), 2 * 24 * 3600),
        at("2024-03-12T10:00:00Z"),
    );
    shell.ok(&cmd::advance("adv"), at("2024-03-15T10:00:00Z"));
    assert!(
        shell
            .entries
            .iter()
            .any(|entry| entry.entry_type == EntryType::Expiry && entry.body["hold"].is_string()),
        "no expiry of held credits"
    );
    shell.ok(
        &cmd::charge(&long(':'), common::units(5)),
        at("2024-03-15T11:00:00Z"),
    );
    shell.ok(
        &cmd::refund(&long('%'), &long(':'), "duplicate", None),
        at("2024-03-15T12:00:00Z"),
    );
    assert_entry_ids_fit_and_differ(&shell);
}

/// A refund recreated a pruned "rolls over while subscribed" allocation under its old id
/// after the user subscribed again; at the next end of the subscription its forfeit reused
/// the id of the first forfeit, which the store refuses for ever.
#[test]
fn a_bucket_restored_by_a_refund_is_forfeited_again_under_a_new_id() {
    use credits_dsl::SubscriptionPeriod::Monthly;
    let mut shell = Shell::new(books::property_book("UTC"));
    let first = at("2024-02-20T00:00:00Z");
    shell.ok(
        &cmd::subscribe("s-1", "a", "prop/q", Monthly, first),
        at("2024-03-11T10:00:00Z"),
    );
    shell.ok(
        &cmd::charge("c-1", common::units(50)),
        at("2024-03-11T10:00:00Z"),
    );
    shell.ok(
        &cmd::cancel("x-1", "a", "prop/q", Monthly, first),
        at("2024-03-11T10:00:00Z"),
    );
    let second = at("2024-03-21T10:00:00Z");
    shell.ok(
        &cmd::subscribe("s-2", "a", "prop/q", Monthly, second),
        second,
    );
    assert_eq!(shell.entries_of(EntryType::Forfeit).len(), 1);
    shell.ok(&cmd::refund("r-1", "c-1", "duplicate", None), second);
    // The allocation's share comes back as it was, in a bucket named after the refund.
    let restored: Vec<_> = shell
        .account()
        .buckets
        .iter()
        .filter(|bucket| bucket.id.starts_with("restored:r-1:"))
        .collect();
    assert_eq!(restored.len(), 1, "{:?}", shell.account().buckets);
    assert_eq!(
        (
            restored[0].left_minor,
            restored[0].kind.as_str(),
            &restored[0].rollover,
            restored[0].expires_at
        ),
        (
            40,
            "allocation",
            &Some(credits_dsl::Rollover::WhileSubscribed),
            None
        )
    );
    shell.ok(&cmd::cancel("x-2", "a", "prop/q", Monthly, second), second);
    for (step, day) in ["2024-04-01", "2024-04-12", "2024-04-22"]
        .iter()
        .enumerate()
    {
        shell.ok(
            &cmd::advance(&format!("adv-{step}")),
            at(&format!("{day}T12:00:00Z")),
        );
    }
    // The first allocation, the refunded share of the expired daily credits, then the second
    // allocation and the restored share.
    let forfeits: Vec<&str> = shell
        .entries_of(EntryType::Forfeit)
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(forfeits.len(), 4, "{forfeits:?}");
    assert!(forfeits.contains(&"forfeit:r-1:credit"), "{forfeits:?}");
    assert_entry_ids_fit_and_differ(&shell);
}
