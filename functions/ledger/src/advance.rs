//! Lazy materialisation: bringing an account up to an instant, event by event.
//!
//! Events are the instants something is due: a hold's expiry, a bucket's expiry, the end of
//! a subscription, a day boundary (daily grants), a cycle boundary (cycle grants and
//! rollover rules), and the start of another version of the book. They are walked in time
//! order, each with the version of the book in force at its instant (a version's start is
//! an event of its own, so nothing before it is given by the later version's rules); at
//! each instant the work is done in a fixed order (expired holds, subscription end, bucket
//! expiries, cycle-end rollover, new grants, then pruning empty buckets and merging those
//! created earlier), so walking to an instant in several steps gives the same amounts in
//! the same buckets as one step (merges may come an instant sooner: only bucket ids can
//! tell).
//! Work is bounded: at most `MAX_CATCH_UP_EVENTS` instants and about
//! `MAX_CATCH_UP_ENTRIES` entries per decision; beyond them the walk stops at the last
//! instant that fitted and the caller reports `catch-up-required` (or, for `Advance`, a
//! partial advance), so a long-idle account is caught up over several commits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use credits_dsl::Rollover;
use serde_json::json;

use crate::account::{AccountStatus, SubscriptionStatus};
use crate::calendar;
use crate::due;
use crate::entry::EntryType;
use crate::events;
use crate::expiring;
use crate::grants::{self, cycles_or_calendar};
use crate::keep::Keeper;
use crate::limits::{MAX_CATCH_UP_ENTRIES, MAX_CATCH_UP_EVENTS, MAX_DECISION_ENTRIES};
use crate::release::release_draws;
use crate::work::{Draft, Work, add, stamp};
use crate::{LedgerError, LedgerResult, buckets};

/// Brings the account up to `target`. Returns whether it got there (`false`: it stopped
/// part way, at `account.advanced_to`, because of the bounds).
///
/// # Errors
/// Overflow, or a single instant with more entries than one commit can carry.
pub(crate) fn advance(
    work: &mut Work<'_>,
    target: DateTime<Utc>,
    bound_entries: bool,
) -> LedgerResult<bool> {
    if work.account.status == AccountStatus::Closed {
        work.account.advanced_to = work.account.advanced_to.max(target);
        return Ok(true);
    }
    let mut events = 0_usize;
    // Statements the entries close are committed with them: they count against the bounds.
    let mut cycles = cycles_or_calendar(work);
    let mut keeper = Keeper::new(work.account.statement.clone());
    let mut folded = work.entries.len();
    while work.account.advanced_to < target {
        if events >= MAX_CATCH_UP_EVENTS {
            return Ok(false);
        }
        let at = next_event(work, work.account.advanced_to, target)?;
        let checkpoint = work.checkpoint();
        let switches = work.switches.len();
        work.at = at;
        // Each instant is materialised with the version in force then.
        let processed = work
            .switch_to(at)
            .and_then(|()| process_at(work, at, target));
        work.at = work.now;
        processed?;
        events += 1;
        if !bound_entries {
            work.account.advanced_to = at;
            continue;
        }
        if work.switches.len() > switches {
            cycles = cycles_or_calendar(work);
            keeper.realign(&cycles, at)?;
        }
        keeper.fold(
            work.entries.get(folded..).unwrap_or_default(),
            &cycles,
            &BTreeMap::new(),
        )?;
        folded = work.entries.len();
        // Each closed statement is a fact and an event; events ride in the same commit.
        let written = work
            .entries
            .len()
            .saturating_add(keeper.closed.len().saturating_mul(2))
            .saturating_add(events::count(&work.entries, &work.notices));
        if written > MAX_CATCH_UP_ENTRIES {
            if events == 1 {
                // The first instant must make progress on its own, within one commit.
                if written > MAX_DECISION_ENTRIES {
                    return Err(LedgerError::invariant(format!(
                        "materialising `{}` needs more entries than one commit holds",
                        stamp(at)
                    )));
                }
                work.account.advanced_to = at;
            } else {
                work.restore(checkpoint);
            }
            return Ok(work.account.advanced_to >= target);
        }
        work.account.advanced_to = at;
    }
    Ok(true)
}

/// The next instant after `after` (and at most `target`) at which something is due or
/// another version of the book takes effect.
fn next_event(
    work: &Work<'_>,
    after: DateTime<Utc>,
    target: DateTime<Utc>,
) -> LedgerResult<DateTime<Utc>> {
    let due = due::next_instant(work, after, due::Listing::Walk)?;
    let version = work.versions.next_start_after(after);
    Ok([due, version]
        .into_iter()
        .flatten()
        .fold(target, DateTime::min))
}

/// Everything due at `at`, in a fixed order.
fn process_at(work: &mut Work<'_>, at: DateTime<Utc>, target: DateTime<Utc>) -> LedgerResult<()> {
    release_expired_holds(work, at)?;
    end_subscription(work, at)?;
    expire_buckets(work, at)?;
    let cycles = cycles_or_calendar(work);
    if (work.plan.cycle.is_some() || has_rollover(work))
        && cycles.boundary(cycles.index_at(at)?)? == at
    {
        cycle_end(work, at)?;
    }
    grants::apply_grants(work, at, target)?;
    buckets::prune(work);
    buckets::merge(work, at)?;
    expiring::warn(work, at)
}

fn has_rollover(work: &Work<'_>) -> bool {
    work.account
        .buckets
        .iter()
        .any(|bucket| bucket.rollover.is_some())
}

fn release_expired_holds(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let (mut expired, open): (Vec<_>, Vec<_>) = std::mem::take(&mut work.account.holds)
        .into_iter()
        .partition(|hold| hold.expires_at <= at);
    work.account.holds = open;
    expired.sort_by(|a, b| {
        a.expires_at
            .cmp(&b.expires_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    for hold in expired {
        release_draws(work, &hold.id, &hold.draws, hold.expires_at, "expired")?;
    }
    Ok(())
}

/// A cancelled (or dated) subscription reaching its end: it ends, and allocations that
/// only roll over while subscribed are forfeited.
pub(crate) fn end_subscription(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let Some(subscription) = work.account.subscription.as_mut() else {
        return Ok(());
    };
    let due = subscription.status != SubscriptionStatus::Ended
        && subscription.ends_at.is_some_and(|ends_at| ends_at <= at);
    if !due {
        return Ok(());
    }
    subscription.status = SubscriptionStatus::Ended;
    forfeit_while_subscribed(work, at, "subscription ended")
}

/// Forfeits every bucket kept only while subscribed. Credits held by open holds stay held;
/// the bucket is marked expired so they expire when released.
pub(crate) fn forfeit_while_subscribed(
    work: &mut Work<'_>,
    at: DateTime<Utc>,
    reason: &str,
) -> LedgerResult<()> {
    let mut drafts = Vec::new();
    for bucket in &mut work.account.buckets {
        if !bucket
            .rollover
            .as_ref()
            .is_some_and(Rollover::while_subscribed)
        {
            continue;
        }
        if bucket.left_minor > 0 {
            drafts.push(
                Draft::new(format!("forfeit:{}", bucket.id), EntryType::Forfeit, at)
                    .numbered()
                    .unit(&bucket.unit, -bucket.left_minor)
                    .body(json!({ "bucket": bucket.id, "kind": bucket.kind, "reason": reason })),
            );
        }
        bucket.left_minor = 0;
        bucket.rollover = None;
        bucket.expires_at = Some(at);
    }
    for draft in drafts {
        work.push(draft)?;
    }
    Ok(())
}

fn expire_buckets(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let mut due: Vec<usize> = work
        .account
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, bucket)| {
            !bucket.is_overdraft() && bucket.expired_at(at) && bucket.left_minor > 0
        })
        .map(|(index, _)| index)
        .collect();
    due.sort_by_key(|&index| {
        work.account
            .buckets
            .get(index)
            .map(|bucket| (bucket.expires_at, bucket.id.clone()))
    });
    for index in due {
        let Some(bucket) = work.account.buckets.get_mut(index) else {
            continue;
        };
        let amount_minor = bucket.left_minor;
        bucket.left_minor = 0;
        let draft = Draft::new(format!("expiry:{}", bucket.id), EntryType::Expiry, at)
            .numbered()
            .unit(&bucket.unit, -amount_minor)
            .body(json!({ "bucket": bucket.id, "kind": bucket.kind }));
        work.push(draft)?;
    }
    Ok(())
}

/// Rollover rules at a cycle boundary: allocations kept only while subscribed are forfeited
/// if the subscription is no longer in effect; capped allocations lose what is above the
/// cap (oldest credits first); what is carried is recorded in one `rollover` entry per unit.
fn cycle_end(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let date = calendar::local_date(work.zone, at);
    if !work.subscribed(at)
        && work.account.buckets.iter().any(|bucket| {
            bucket
                .rollover
                .as_ref()
                .is_some_and(Rollover::while_subscribed)
        })
    {
        forfeit_while_subscribed(work, at, "not subscribed at cycle end")?;
    }
    // Capped rollover: per grant, what is left above the cap expires.
    let mut capped: BTreeMap<String, (i64, Vec<usize>)> = BTreeMap::new();
    for (index, bucket) in work.account.buckets.iter().enumerate() {
        if let Some(amount_minor) = bucket.rollover.as_ref().and_then(Rollover::cap_minor) {
            let group = match &bucket.origin {
                crate::account::Origin::Grant { plan, key, .. } => format!("{plan}/{key}"),
                _ => bucket.id.clone(),
            };
            capped
                .entry(group)
                .or_insert_with(|| (amount_minor, Vec::new()))
                .1
                .push(index);
        }
    }
    let mut drafts = Vec::new();
    for (cap_minor, mut indices) in capped.into_values() {
        let buckets = &mut work.account.buckets;
        indices.sort_by_key(|&index| {
            buckets
                .get(index)
                .map(|bucket| (bucket.created_at, bucket.id.clone()))
        });
        let mut total: i64 = 0;
        for &index in &indices {
            total = add(
                total,
                buckets
                    .get(index)
                    .map_or(0, |bucket| bucket.left_minor.max(0)),
            )?;
        }
        let mut excess = total.saturating_sub(cap_minor.max(0));
        for index in indices {
            if excess <= 0 {
                break;
            }
            let Some(bucket) = buckets.get_mut(index) else {
                continue;
            };
            let cut = bucket.left_minor.max(0).min(excess);
            if cut == 0 {
                continue;
            }
            bucket.left_minor = crate::work::sub(bucket.left_minor, cut)?;
            excess = crate::work::sub(excess, cut)?;
            drafts.push(
                Draft::new(format!("expiry:{}:cap:{date}", bucket.id), EntryType::Expiry, at)
                    .numbered()
                    .unit(&bucket.unit, -cut)
                    .body(json!({ "bucket": bucket.id, "kind": bucket.kind, "reason": "above rollover cap" })),
            );
        }
    }
    for draft in drafts {
        work.push(draft)?;
    }
    // Record what rolls over.
    let mut carried: BTreeMap<String, (i64, Vec<serde_json::Value>)> = BTreeMap::new();
    for bucket in &work.account.buckets {
        let rolls = bucket.rollover.is_some() && bucket.created_at < at && !bucket.expired_at(at);
        if rolls && bucket.left_minor > 0 {
            let slot = carried.entry(bucket.unit.clone()).or_default();
            slot.0 = add(slot.0, bucket.left_minor)?;
            slot.1
                .push(json!({ "bucket": bucket.id, "left_minor": bucket.left_minor }));
        }
    }
    for (unit, (carried_minor, buckets)) in carried {
        work.push(
            Draft::new(format!("rollover:{unit}:{date}"), EntryType::Rollover, at)
                .numbered()
                .unit(&unit, 0)
                .body(json!({ "carried_minor": carried_minor, "buckets": buckets })),
        )?;
    }
    Ok(())
}
