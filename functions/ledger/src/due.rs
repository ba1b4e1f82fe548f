//! When an account is next due: the store's `due_at`, which the cycle-rollover walk reads
//! (`docs/rollover.md`).
//!
//! One listing of the instants something falls due (`next_instant`), read two ways: catching
//! up walks every one (`Listing::Walk`); the schedule visits every one (`Listing::Schedule`)
//! except the work a later catch-up reproduces exactly, which the walk would only write
//! early: the day boundaries of a
//! *lazy* daily grant, and the expiry of the unspent buckets it granted. A daily grant is
//! lazy when its credits expire at a fixed instant (not `never`, not kept by a rollover
//! rule), the plan sets no low-balance alert on its unit, and the unit has no debt. Such a
//! grant's periods that expired before the next touch are marked granted without entries
//! (`grants::apply_grants`), the live ones are written with the same ids, instants and
//! amounts whenever the catch-up happens, and no alert depends on when it happens. What the
//! visits did besides, closing each cycle's statement with the credits alive at its end, is
//! kept by two instants per cycle instead of one a day: the start of the cycle's last day
//! (the credits alive at the cycle end are then all written) and the cycle end itself.

use chrono::{DateTime, TimeDelta, Utc};
use credits_dsl::{Expiry, Grant, GrantEvery, Rollover};

use crate::LedgerResult;
use crate::account::{AccountStatus, Bucket, Origin, SubscriptionStatus};
use crate::buckets;
use crate::calendar;
use crate::expiring;
use crate::grants::cycles_or_calendar;
use crate::work::Work;

/// Which instants [`next_instant`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Every instant catching up walks through.
    Walk,
    /// Only those the schedule must visit: the walk less what a later catch-up reproduces.
    Schedule,
}

/// The first instant after `after` at which the walk has something to write on the
/// account, if any.
///
/// # Errors
/// Overflow for absurd instants.
pub(crate) fn due_at(work: &Work<'_>, after: DateTime<Utc>) -> LedgerResult<Option<DateTime<Utc>>> {
    next_instant(work, after, Listing::Schedule)
}

/// The first instant after `after` that `listing` lists, if any.
///
/// # Errors
/// Overflow for absurd instants.
pub(crate) fn next_instant(
    work: &Work<'_>,
    after: DateTime<Utc>,
    listing: Listing,
) -> LedgerResult<Option<DateTime<Utc>>> {
    if work.account.status == AccountStatus::Closed {
        return Ok(None);
    }
    let schedule = listing == Listing::Schedule;
    let mut next: Option<DateTime<Utc>> = None;
    let mut consider = |candidate: DateTime<Utc>| {
        if candidate > after && next.is_none_or(|next| candidate < next) {
            next = Some(candidate);
        }
    };
    for hold in &work.account.holds {
        consider(hold.expires_at);
    }
    for bucket in &work.account.buckets {
        if let Some(expires_at) = bucket.expires_at
            && !(schedule && lazy_expiry(work, bucket))
        {
            consider(expires_at);
        }
        // Announced on time, idle or not (`expiring`).
        if let Some(warning_at) = expiring::warning_at(work, bucket) {
            consider(warning_at);
        }
    }
    if let Some(subscription) = &work.account.subscription
        && subscription.status != SubscriptionStatus::Ended
        && let Some(ends_at) = subscription.ends_at
    {
        consider(ends_at);
    }
    let plan = work.plan;
    let skipped = |grant: &Grant| schedule && grant.every == GrantEvery::Day && lazy(work, grant);
    let daily = || {
        plan.grants
            .iter()
            .filter(|grant| grant.every == GrantEvery::Day)
    };
    if daily().any(|grant| !skipped(grant)) {
        consider(calendar::next_day_start(work.zone, after)?);
    } else if daily().next().is_some() {
        let end = cycles_or_calendar(work).next_after(after)?;
        let last_day = end
            .checked_sub_signed(TimeDelta::microseconds(1))
            .map_or(Ok(end), |before| calendar::day_start(work.zone, before))?;
        consider(last_day);
        consider(end);
    }
    // After an anchor or zone change a grant's next period may begin off the new
    // boundaries: when its last period ends.
    for grant in plan.grants.iter().filter(|grant| !skipped(grant)) {
        let mark = format!("{}/{}", plan.name, grant.key);
        if let Some(mark) = work.account.grants_applied.get(&mark) {
            consider(mark.next_due);
        }
    }
    if plan.cycle.is_some()
        || plan
            .grants
            .iter()
            .any(|grant| grant.every == GrantEvery::Cycle)
    {
        consider(cycles_or_calendar(work).next_after(after)?);
    }
    Ok(next)
}

/// A daily grant whose catch-up the walk need not do ahead of the next touch.
fn lazy(work: &Work<'_>, grant: &Grant) -> bool {
    let expires = match grant.expires {
        Expiry::Never => false,
        Expiry::EndOfCycle => !matches!(
            grant.rollover,
            Some(
                Rollover::WhileSubscribed
                    | Rollover::UpTo { .. }
                    | Rollover::UpToWhileSubscribed { .. }
            )
        ),
        Expiry::EndOfDay | Expiry::AfterDays(_) | Expiry::AfterCycles(_) => true,
    };
    expires
        && !work.plan.alerts_minor.contains_key(&grant.unit)
        && !work.plan.auto_topup.contains_key(&grant.unit)
        && work.plan.expiry_warning_seconds.is_none()
        && buckets::debt_minor(work, &grant.unit) == 0
}

/// The expiry of an untouched bucket of one of the plan's lazy daily grants.
fn lazy_expiry(work: &Work<'_>, bucket: &Bucket) -> bool {
    let Origin::Grant { plan, key, .. } = &bucket.origin else {
        return false;
    };
    bucket.left_minor == bucket.granted_minor
        && bucket.held_minor == 0
        && *plan == work.plan.name
        && work
            .plan
            .grants
            .iter()
            .any(|grant| grant.key == *key && grant.every == GrantEvery::Day && lazy(work, grant))
}
