//! Suspending, resuming and closing an account.

use std::collections::BTreeMap;

use serde_json::json;

use crate::account::{AccountStatus, Draw, SubscriptionStatus};
use crate::admission;
use crate::buckets;
use crate::entry::EntryType;
use crate::outcome::{Amount, Outcome};
use crate::release::release_draws;
use crate::work::{Draft, Work, add, key};
use crate::{LedgerError, LedgerResult};

pub(crate) fn set_status(work: &mut Work<'_>, status: AccountStatus) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    work.account.status = status;
    Ok(Outcome::default())
}

/// Releases every hold, then forfeits every bucket: one `forfeit` entry per unit listing
/// the buckets. An account with an overdue balance (a debt within its credit line) cannot
/// be closed: the debt must be repaid (topped up) first, so that closing never forgives it.
pub(crate) fn close(work: &mut Work<'_>, id: &str) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let holds = std::mem::take(&mut work.account.holds);
    let draws: Vec<Draw> = holds.into_iter().flat_map(|hold| hold.draws).collect();
    let now = work.now;
    release_draws(work, id, &draws, now, "account closed")?;
    if let Some(debt) = work
        .account
        .buckets
        .iter()
        .find(|bucket| bucket.is_overdraft() && bucket.left_minor < 0)
    {
        return Err(LedgerError::Conflict(format!(
            "account `{}` owes {}; top it up before closing it",
            work.account.id,
            crate::work::shown(work.book, &debt.unit, debt.left_minor.saturating_neg())
        )));
    }
    let mut per_unit: BTreeMap<String, (i64, Vec<serde_json::Value>)> = BTreeMap::new();
    for bucket in &mut work.account.buckets {
        if bucket.left_minor > 0 {
            let slot = per_unit.entry(bucket.unit.clone()).or_default();
            slot.0 = add(slot.0, bucket.left_minor)?;
            slot.1.push(json!({ "bucket": bucket.id, "kind": bucket.kind, "left_minor": bucket.left_minor }));
        }
        bucket.left_minor = 0;
    }
    let mut outcome = Outcome::default();
    for (unit, (amount_minor, buckets)) in per_unit {
        work.push(
            Draft::new(
                format!("forfeit:{}:{unit}", key(id)),
                EntryType::Forfeit,
                now,
            )
            .unit(
                &unit,
                amount_minor
                    .checked_neg()
                    .ok_or(LedgerError::Overflow("amount"))?,
            )
            .body(json!({ "reason": "account closed", "buckets": buckets })),
        )?;
        outcome.amounts.push(Amount {
            amount: work.decimal(&unit, amount_minor)?,
            unit,
            amount_minor,
        });
    }
    buckets::prune_all(work);
    if let Some(subscription) = work.account.subscription.as_mut()
        && subscription.status != SubscriptionStatus::Ended
    {
        subscription.status = SubscriptionStatus::Ended;
        subscription.ends_at = Some(now);
    }
    work.account.status = AccountStatus::Closed;
    work.account.alerts_fired.clear();
    Ok(outcome)
}
