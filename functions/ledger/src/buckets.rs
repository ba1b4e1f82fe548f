//! Buckets: consumption order, drawing, reserving, crediting and the overdraft.
//!
//! Spending goes by the plan's order of kinds, then soonest expiry (never-expiring last),
//! then oldest, then id (a total order, so decisions are deterministic). The overdraft
//! bucket of a unit comes after every other bucket and is the only one that may go below
//! zero, down to minus the credit line. A unit never has both a debt and spendable credits:
//! every credit first repays the debt.
//!
//! Merging. Two buckets are *interchangeable* when every rule treats them alike: same unit,
//! kind, expiry and rollover rule, and the same origin class (grants of the same plan and
//! grant key, which is also the group a rollover cap applies to; refunds). Top-ups (one
//! bucket per purchase) and credit adjustments are never interchangeable. Their
//! only difference is their place in the consumption order (by age, then id), and that
//! place only decides which of them a draw names, never an amount, unless a bucket of other
//! rules sits between them (same unit and expiry, and the same kind or two kinds that some
//! plan of the book leaves out of its `order`, where they share the last rank). So a bucket
//! that nothing of other rules can ever sit behind may absorb its later interchangeable
//! siblings:
//! - a bucket is born `mergeable`; buckets emptied at the instant they were created stay
//!   (empty, hidden from reads) until the next instant, so every bucket created at an
//!   instant is live when any other of that instant is born;
//! - adding any bucket makes every live bucket of the same unit and expiry that is not
//!   interchangeable with it unmergeable for good, and the new one too (`insert`): whatever
//!   could sit between them was live at one of their births;
//! - a bucket recreated by a refund is born unmergeable (it has an old age);
//! - at each instant the ledger walks through, a bucket created before it and holding
//!   nothing for a hold joins the oldest live mergeable interchangeable bucket that
//!   precedes it (`merge`), which keeps its id, age and origin;
//! - a refund whose paying bucket was merged away puts the share into such a bucket too,
//!   and otherwise recreates it as it was (`refund.rs`).
//!
//! The proof holds for the rate book in force: a new version of the book that leaves a kind
//! out of a plan's `order` can make kinds tie that did not when buckets merged.
//!
//! So daily `expires never` grants stay one bucket; each top-up stays its own bucket. What a client can tell: the `bucket` ids that draws, entries and the balance
//! listing name, and one `expiry` entry for the merged credits instead of one per bucket;
//! no amount, order of kinds and expiries, rollover, forfeit or refund changes.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use credits_dsl::{Plan, RateBook};

use crate::account::{Bucket, Draw, OVERDRAFT_KIND, Origin};
use crate::limits::MAX_COMMAND_BUCKETS;
use crate::work::{Work, add, sub};
use crate::{LedgerError, LedgerResult};

/// How a draw treats the credits it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrawMode {
    /// Taken for good (charge).
    Spend,
    /// Moved from `left` to `held` (hold).
    Reserve,
}

fn kind_rank(plan: &Plan, bucket: &Bucket) -> usize {
    if bucket.is_overdraft() {
        return usize::MAX;
    }
    plan.order
        .iter()
        .position(|kind| *kind == bucket.kind)
        .unwrap_or(plan.order.len())
}

/// The consumption order of two buckets of one unit.
pub(crate) fn consumption_order(plan: &Plan, a: &Bucket, b: &Bucket) -> Ordering {
    kind_rank(plan, a)
        .cmp(&kind_rank(plan, b))
        .then_with(|| match (a.expires_at, b.expires_at) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.created_at.cmp(&b.created_at))
        .then_with(|| first_id(&a.id).cmp(first_id(&b.id)))
}

/// The id a bucket was first created under: a bucket a refund recreated is named
/// `restored:<refund>:<old id>` (the refund's id percent-encoded, so it holds no `:`), and
/// keeps its old place among buckets that tie on everything else.
fn first_id(id: &str) -> &str {
    let mut id = id;
    while let Some((_, old)) = id
        .strip_prefix("restored:")
        .and_then(|rest| rest.split_once(':'))
    {
        id = old;
    }
    id
}

/// Indices of the unit's buckets, in consumption order.
pub(crate) fn ordered(work: &Work<'_>, unit: &str) -> Vec<usize> {
    let buckets = &work.account.buckets;
    let mut indices: Vec<usize> = buckets
        .iter()
        .enumerate()
        .filter(|(_, bucket)| bucket.unit == unit)
        .map(|(index, _)| index)
        .collect();
    indices.sort_by(|&a, &b| match (buckets.get(a), buckets.get(b)) {
        (Some(x), Some(y)) => consumption_order(work.plan, x, y),
        _ => Ordering::Equal,
    });
    indices
}

fn overdraft_index(work: &Work<'_>, unit: &str) -> Option<usize> {
    work.account
        .buckets
        .iter()
        .position(|bucket| bucket.unit == unit && bucket.is_overdraft())
}

/// The unit's debt: what was spent below zero (the overdraft bucket's `left + held`
/// negated), zero when there is none. Credits a hold reserved within the line are not a
/// debt until captured.
pub(crate) fn debt_minor(work: &Work<'_>, unit: &str) -> i64 {
    overdraft_index(work, unit)
        .and_then(|index| work.account.buckets.get(index))
        .map_or(0, |bucket| {
            bucket
                .left_minor
                .saturating_add(bucket.held_minor)
                .min(0)
                .saturating_neg()
        })
}

/// How much of the credit line is in use: spent or reserved below zero.
pub(crate) fn line_used_minor(work: &Work<'_>, unit: &str) -> i64 {
    overdraft_index(work, unit)
        .and_then(|index| work.account.buckets.get(index))
        .map_or(0, |bucket| bucket.left_minor.min(0).saturating_neg())
}

/// Spendable credits of the unit in buckets other than the overdraft, at `work.at`.
pub(crate) fn spendable_minor(work: &Work<'_>, unit: &str) -> LedgerResult<i64> {
    let mut total: i64 = 0;
    for bucket in &work.account.buckets {
        if bucket.unit == unit && !bucket.is_overdraft() && !bucket.expired_at(work.at) {
            total = add(total, bucket.left_minor.max(0))?;
        }
    }
    Ok(total)
}

/// What a draw of `unit` could take now: spendable credits plus the unused credit line.
pub(crate) fn payable_minor(work: &Work<'_>, unit: &str) -> LedgerResult<i64> {
    let room = sub(work.credit_line_minor(unit), line_used_minor(work, unit))?.max(0);
    add(spendable_minor(work, unit)?, room)
}

/// Takes `amount_minor` of `unit` from the buckets in consumption order, overdrawing within
/// the credit line when they are short.
///
/// # Errors
/// `insufficient-credits` when buckets plus the unused credit line cannot pay; the caller
/// then drops the whole decision, so nothing changes.
pub(crate) fn draw(
    work: &mut Work<'_>,
    unit: &str,
    amount_minor: i64,
    mode: DrawMode,
) -> LedgerResult<Vec<Draw>> {
    if amount_minor < 0 {
        return Err(LedgerError::invariant(format!("negative draw of `{unit}`")));
    }
    if amount_minor == 0 {
        return Ok(Vec::new());
    }
    let spendable = spendable_minor(work, unit)?;
    let room = sub(work.credit_line_minor(unit), line_used_minor(work, unit))?.max(0);
    if amount_minor > add(spendable, room)? {
        return Err(LedgerError::InsufficientCredits {
            unit: unit.to_owned(),
            needed_minor: amount_minor,
            available_minor: add(spendable, room)?,
        });
    }
    let now = work.at;
    let mut remaining = amount_minor;
    let mut draws = Vec::new();
    for index in ordered(work, unit) {
        if remaining == 0 {
            break;
        }
        let Some(bucket) = work.account.buckets.get_mut(index) else {
            continue;
        };
        if bucket.is_overdraft() || bucket.expired_at(now) || bucket.left_minor <= 0 {
            continue;
        }
        let take = bucket.left_minor.min(remaining);
        take_from(bucket, take, mode)?;
        remaining = sub(remaining, take)?;
        draws.push(draw_of(bucket, take));
    }
    if remaining > 0 {
        let index = ensure_overdraft(work, unit);
        let bucket = work
            .account
            .buckets
            .get_mut(index)
            .ok_or_else(|| LedgerError::invariant("overdraft bucket vanished"))?;
        take_from(bucket, remaining, mode)?;
        draws.push(draw_of(bucket, remaining));
    }
    Ok(draws)
}

fn take_from(bucket: &mut Bucket, take: i64, mode: DrawMode) -> LedgerResult<()> {
    bucket.left_minor = sub(bucket.left_minor, take)?;
    if mode == DrawMode::Reserve {
        bucket.held_minor = add(bucket.held_minor, take)?;
    }
    Ok(())
}

pub(crate) fn draw_of(bucket: &Bucket, amount_minor: i64) -> Draw {
    Draw {
        bucket: bucket.id.clone(),
        kind: bucket.kind.clone(),
        unit: bucket.unit.clone(),
        amount_minor,
        expires_at: bucket.expires_at,
    }
}

fn ensure_overdraft(work: &mut Work<'_>, unit: &str) -> usize {
    if let Some(index) = overdraft_index(work, unit) {
        return index;
    }
    work.account.buckets.push(Bucket {
        id: format!("overdraft:{unit}"),
        kind: OVERDRAFT_KIND.to_owned(),
        unit: unit.to_owned(),
        left_minor: 0,
        held_minor: 0,
        granted_minor: 0,
        expires_at: None,
        origin: Origin::Overdraft,
        created_at: work.at,
        rollover: None,
        mergeable: false,
    });
    work.account.buckets.len().saturating_sub(1)
}

/// Adds `amount_minor` to the bucket with `bucket.id` if it is live, else adds the bucket
/// (see [`insert`]); then repays any debt of its unit. Returns the amount that repaid debt.
///
/// # Errors
/// Overflow; a live bucket of that id in another unit (a bug: ids that may repeat name
/// their unit).
pub(crate) fn credit(work: &mut Work<'_>, bucket: Bucket) -> LedgerResult<i64> {
    let unit = bucket.unit.clone();
    if let Some(existing) = work
        .account
        .buckets
        .iter_mut()
        .find(|existing| existing.id == bucket.id)
    {
        if existing.unit != bucket.unit {
            return Err(LedgerError::invariant(format!(
                "bucket `{}` holds `{}`, not `{}`",
                existing.id, existing.unit, bucket.unit
            )));
        }
        existing.left_minor = add(existing.left_minor, bucket.left_minor)?;
        existing.granted_minor = add(existing.granted_minor, bucket.granted_minor)?;
    } else {
        insert(work, bucket);
    }
    settle_debt(work, &unit)
}

/// Refuses a command whose own bucket `id` is already live: the operation was decided and
/// committed before (its credits must not be added twice, in whatever unit). The shell then
/// answers from the operation record: the original answer, or 409 for another body.
///
/// # Errors
/// `conflict`.
pub(crate) fn check_new(work: &Work<'_>, id: &str, operation: &str) -> LedgerResult<()> {
    if work.account.buckets.iter().any(|bucket| bucket.id == id) {
        return Err(LedgerError::Conflict(format!(
            "`{operation}` was already applied"
        )));
    }
    Ok(())
}

/// Every rule treats the two buckets alike (see the module comment).
pub(crate) fn interchangeable(a: &Bucket, b: &Bucket) -> bool {
    let same_origin = match (&a.origin, &b.origin) {
        (
            Origin::Grant {
                plan: plan_a,
                key: key_a,
                ..
            },
            Origin::Grant {
                plan: plan_b,
                key: key_b,
                ..
            },
        ) => plan_a == plan_b && key_a == key_b,
        (Origin::Refund { .. }, Origin::Refund { .. }) => true,
        // Each purchase stays its own bucket, so that the balance lists it and a chargeback
        // finds what is left of it; credit adjustments likewise stay apart (both are
        // bounded by `MAX_COMMAND_BUCKETS`).
        _ => false,
    };
    same_origin
        && !a.is_overdraft()
        && !b.is_overdraft()
        && a.unit == b.unit
        && a.kind == b.kind
        && a.expires_at == b.expires_at
        && a.rollover == b.rollover
}

/// The two buckets could sit next to each other in the consumption order under some plan
/// of the book: same unit and expiry, and the same kind or two kinds some plan does not
/// order (unlisted kinds share the last rank; an account may move to any plan of its book).
fn may_tie(book: &RateBook, a: &Bucket, b: &Bucket) -> bool {
    let kinds_tie = a.kind == b.kind
        || book
            .plans
            .iter()
            .any(|plan| !plan.order.contains(&a.kind) && !plan.order.contains(&b.kind));
    !a.is_overdraft()
        && !b.is_overdraft()
        && a.unit == b.unit
        && a.expires_at == b.expires_at
        && kinds_tie
}

/// Adds a new bucket. Every live bucket it may tie with but is not interchangeable with
/// becomes unmergeable, and so does the new one.
pub(crate) fn insert(work: &mut Work<'_>, mut bucket: Bucket) {
    let book = work.book;
    for existing in &mut work.account.buckets {
        if may_tie(book, existing, &bucket) && !interchangeable(existing, &bucket) {
            existing.mergeable = false;
            bucket.mergeable = false;
        }
    }
    work.account.buckets.push(bucket);
}

/// The live bucket that credits of `bucket` may join without changing anything visible:
/// mergeable, interchangeable with it, not expired at `at` and before it in age.
pub(crate) fn merge_target(work: &Work<'_>, bucket: &Bucket, at: DateTime<Utc>) -> Option<usize> {
    work.account
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, target)| {
            target.mergeable
                && target.id != bucket.id
                && !target.expired_at(at)
                && interchangeable(target, bucket)
                && (&target.created_at, &target.id) < (&bucket.created_at, &bucket.id)
        })
        .min_by(|(_, a), (_, b)| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)))
        .map(|(index, _)| index)
}

/// Merges every bucket created before `at` that holds nothing for a hold into its merge
/// target, if it has one. Balance-neutral: no entry.
///
/// # Errors
/// Overflow.
pub(crate) fn merge(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let mut index = 0;
    while let Some(bucket) = work.account.buckets.get(index) {
        let movable = bucket.created_at < at && bucket.held_minor == 0 && !bucket.expired_at(at);
        let target = if movable {
            merge_target(work, bucket, at)
        } else {
            None
        };
        let Some(target) = target else {
            index += 1;
            continue;
        };
        let source = work.account.buckets.remove(index);
        let into = work
            .account
            .buckets
            .get_mut(if target > index { target - 1 } else { target })
            .ok_or_else(|| LedgerError::invariant("merge target vanished"))?;
        into.left_minor = add(into.left_minor, source.left_minor)?;
        into.granted_minor = add(into.granted_minor, source.granted_minor)?;
        index = 0;
    }
    Ok(())
}

/// Moves spendable credits of `unit` into its overdraft bucket until the debt is repaid or
/// the credits run out. Balance-neutral: no entry. Returns the amount moved.
///
/// # Errors
/// Overflow.
pub(crate) fn settle_debt(work: &mut Work<'_>, unit: &str) -> LedgerResult<i64> {
    let Some(overdraft) = overdraft_index(work, unit) else {
        return Ok(0);
    };
    let mut debt = debt_minor(work, unit);
    let mut moved: i64 = 0;
    let now = work.at;
    for index in ordered(work, unit) {
        if debt == 0 {
            break;
        }
        let Some(bucket) = work.account.buckets.get_mut(index) else {
            continue;
        };
        if bucket.is_overdraft() || bucket.expired_at(now) || bucket.left_minor <= 0 {
            continue;
        }
        let take = bucket.left_minor.min(debt);
        bucket.left_minor = sub(bucket.left_minor, take)?;
        debt = sub(debt, take)?;
        moved = add(moved, take)?;
    }
    if let Some(bucket) = work.account.buckets.get_mut(overdraft) {
        bucket.left_minor = add(bucket.left_minor, moved)?;
    }
    Ok(moved)
}

/// Live buckets other than the overdraft buckets (one per unit at most), as the bucket
/// limits count them.
pub(crate) fn counted(work: &Work<'_>) -> usize {
    work.account
        .buckets
        .iter()
        .filter(|bucket| !bucket.is_overdraft())
        .count()
}

/// Refuses a command that left more than [`MAX_COMMAND_BUCKETS`] buckets when it started
/// with `before` (the rest of `MAX_BUCKETS` is kept for the plan's grants). Call it after
/// pruning: credits that only repaid a debt added no bucket.
///
/// # Errors
/// `limit-reached` (`buckets`).
pub(crate) fn check_growth(work: &Work<'_>, before: usize) -> LedgerResult<()> {
    let now = counted(work);
    if now > MAX_COMMAND_BUCKETS && now > before {
        return Err(LedgerError::limit(
            "buckets",
            MAX_COMMAND_BUCKETS,
            format!(
                "account `{}` has {before} buckets of credits; top-ups, refunds and credit adjustments may not add more until some are spent or expire",
                work.account.id
            ),
        ));
    }
    Ok(())
}

/// Removes buckets with nothing left and nothing held, except those created at the instant
/// being decided: they go at the next instant the account is brought to, so that every
/// bucket of an instant is live when any other of that instant is created (what merging
/// relies on). Reads never show an empty bucket.
pub(crate) fn prune(work: &mut Work<'_>) {
    let at = work.at;
    work.account.buckets.retain(|bucket| {
        bucket.left_minor != 0 || bucket.held_minor != 0 || bucket.created_at >= at
    });
}

/// Removes every bucket with nothing left and nothing held (a closed account is never
/// brought to another instant).
pub(crate) fn prune_all(work: &mut Work<'_>) {
    work.account
        .buckets
        .retain(|bucket| bucket.left_minor != 0 || bucket.held_minor != 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(id: &str, kind: &str, expires_at: Option<&str>, created_at: &str) -> Bucket {
        let instant = |text: &str| text.parse::<DateTime<Utc>>().unwrap_or_default();
        Bucket {
            id: id.into(),
            kind: kind.into(),
            unit: "credit".into(),
            left_minor: 1,
            held_minor: 0,
            granted_minor: 1,
            expires_at: expires_at.map(instant),
            origin: Origin::Overdraft,
            created_at: instant(created_at),
            rollover: None,
            mergeable: false,
        }
    }

    #[test]
    fn kind_order_then_soonest_expiry_then_oldest_then_overdraft_last() {
        let plan = credits_dsl::Plan {
            name: "p".into(),
            title: None,
            cycle: None,
            periods: Vec::new(),
            grants: Vec::new(),
            order: vec!["free".into(), "top_up".into()],
            topup: None,
            packages: Vec::new(),
            gates: Vec::new(),
            credit_line_minor: std::collections::BTreeMap::new(),
            alerts_minor: std::collections::BTreeMap::new(),
            refund: None,
            limits: credits_dsl::Limits::default(),
            late_usage_seconds: None,
            topup_rules: credits_dsl::TopUpRules::default(),
            expiry_warning_seconds: None,
            auto_topup: std::collections::BTreeMap::new(),
            caps: credits_dsl::Caps::default(),
        };
        let mut buckets = [
            bucket("overdraft", OVERDRAFT_KIND, None, "2025-01-01T00:00:00Z"),
            bucket(
                "unlisted",
                "promo",
                Some("2025-01-02T00:00:00Z"),
                "2025-01-01T00:00:00Z",
            ),
            bucket("top-never-new", "top_up", None, "2025-01-03T00:00:00Z"),
            bucket("top-never-old", "top_up", None, "2025-01-01T00:00:00Z"),
            bucket(
                "top-soon",
                "top_up",
                Some("2025-02-01T00:00:00Z"),
                "2025-01-05T00:00:00Z",
            ),
            bucket(
                "free",
                "free",
                Some("2025-03-01T00:00:00Z"),
                "2025-01-01T00:00:00Z",
            ),
        ];
        buckets.sort_by(|a, b| consumption_order(&plan, a, b));
        let ids: Vec<&str> = buckets.iter().map(|bucket| bucket.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "free",
                "top-soon",
                "top-never-old",
                "top-never-new",
                "unlisted",
                "overdraft"
            ]
        );
    }
}
