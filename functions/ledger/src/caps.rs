//! A plan's caps (`docs/plan-lifecycle.md`): the most the balance may hold, the most charges
//! may spend per day, month or cycle, and the most one request may cost.
//!
//! The spend of the running period is a counter in the snapshot, one per (unit, period) the
//! plan limits: no decision reads history to know what was spent. A counter whose period
//! has passed counts from zero again; periods are the account's local days, local months
//! and billing cycles. What open holds reserve counts against every limit until captured
//! (then it is spent) or released.

use chrono::{DateTime, Datelike, Utc};
use credits_dsl::{Rating, SpendLimit, SpendPeriod};
use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::grants::cycles_or_calendar;
use crate::limits::MAX_SPEND_COUNTERS;
use crate::work::{Work, add, shown, sub};
use crate::{LedgerError, LedgerResult};

/// What charges spent of one unit in one period of a spend limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendCounter {
    pub unit: String,
    pub period: SpendPeriod,
    /// First instant of the period counted.
    pub period_start: DateTime<Utc>,
    pub spent_minor: i64,
}

/// `[start, end)` of the period of `period` containing `at`, in the account's zone.
fn period_bounds(
    work: &Work<'_>,
    period: SpendPeriod,
    at: DateTime<Utc>,
) -> LedgerResult<(DateTime<Utc>, DateTime<Utc>)> {
    match period {
        SpendPeriod::Day => Ok((
            calendar::day_start(work.zone, at)?,
            calendar::next_day_start(work.zone, at)?,
        )),
        SpendPeriod::Month => {
            let date = calendar::local_date(work.zone, at);
            let first = date
                .with_day(1)
                .ok_or_else(|| LedgerError::invariant("a month without a first day"))?;
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .ok_or(LedgerError::Overflow("date"))?;
            Ok((
                calendar::midnight(work.zone, first)?,
                calendar::midnight(work.zone, next)?,
            ))
        }
        SpendPeriod::Cycle => cycles_or_calendar(work).containing(at),
    }
}

/// What was spent of `limit`'s unit in its period containing `now`.
fn spent_now(
    work: &Work<'_>,
    limit: &SpendLimit,
) -> LedgerResult<(i64, DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = period_bounds(work, limit.period, work.now)?;
    let spent = work
        .account
        .spend
        .iter()
        .find(|counter| {
            counter.unit == limit.unit
                && counter.period == limit.period
                && counter.period_start == start
        })
        .map_or(0, |counter| counter.spent_minor);
    Ok((spent, start, end))
}

/// `per day`, `per month`, `per cycle`.
fn period_word(period: SpendPeriod) -> &'static str {
    match period {
        SpendPeriod::Day => "day",
        SpendPeriod::Month => "month",
        SpendPeriod::Cycle => "cycle",
    }
}

/// A charge or hold of `rating` must cost at most the plan's `limit … per request` in each
/// unit.
///
/// # Errors
/// `request-cap-exceeded`, naming the price and the cap.
pub(crate) fn check_request(work: &Work<'_>, rating: &Rating) -> LedgerResult<()> {
    for rated in &rating.amounts {
        let Some(&cap_minor) = work.plan.caps.per_request_minor.get(&rated.unit) else {
            continue;
        };
        if rated.amount_minor > cap_minor {
            return Err(LedgerError::RequestCapExceeded {
                unit: rated.unit.clone(),
                reason: format!(
                    "`{}` costs {} `{}`, more than one request may cost on plan `{}` ({})",
                    rating.feature,
                    shown(work.book, &rated.unit, rated.amount_minor),
                    rated.unit,
                    work.account.plan,
                    shown(work.book, &rated.unit, cap_minor)
                ),
            });
        }
    }
    Ok(())
}

/// Spending `amount_minor` of `unit` now must keep each of the plan's spend limits of that
/// unit.
///
/// # Errors
/// `spend-limit-reached`, with the seconds until the period that refused it ends.
pub(crate) fn check_spend(work: &Work<'_>, unit: &str, amount_minor: i64) -> LedgerResult<()> {
    if amount_minor <= 0 {
        return Ok(());
    }
    let reserved = reserved_minor(work, unit)?;
    for limit in work
        .plan
        .caps
        .spend
        .iter()
        .filter(|limit| limit.unit == unit)
    {
        let (spent, _, end) = spent_now(work, limit)?;
        // Open holds count until captured or released: each acceptance keeps spent plus
        // reserved within the limit, so a capture (at most its reservation) never takes the
        // period past it.
        let committed = add(spent, reserved)?;
        let after = add(committed, amount_minor)?;
        if after > limit.amount_minor {
            let left = limit.amount_minor.saturating_sub(committed).max(0);
            return Err(LedgerError::SpendLimitReached {
                unit: unit.to_owned(),
                reason: format!(
                    "account `{}` may spend {} `{unit}` per {} and has {} left; this costs {}",
                    work.account.id,
                    shown(work.book, unit, limit.amount_minor),
                    period_word(limit.period),
                    shown(work.book, unit, left),
                    shown(work.book, unit, amount_minor)
                ),
                retry_after_seconds: crate::admission::seconds_until(work.now, end),
            });
        }
    }
    Ok(())
}

/// What open holds reserve of `unit`.
fn reserved_minor(work: &Work<'_>, unit: &str) -> LedgerResult<i64> {
    let mut total: i64 = 0;
    for draw in work
        .account
        .holds
        .iter()
        .flat_map(|hold| hold.draws.iter())
        .filter(|draw| draw.unit == unit)
    {
        total = add(total, draw.amount_minor)?;
    }
    Ok(total)
}

/// Every unit of a rating, checked against the spend limits.
///
/// # Errors
/// As [`check_spend`].
pub(crate) fn check_spend_rating(work: &Work<'_>, rating: &Rating) -> LedgerResult<()> {
    for rated in &rating.amounts {
        check_spend(work, &rated.unit, rated.amount_minor)?;
    }
    Ok(())
}

/// Counts `amount_minor` of `unit` spent now in each of the plan's spend limits; counters of
/// passed periods and of limits the plan no longer states are dropped.
///
/// # Errors
/// Overflow, or `limit-reached` beyond [`MAX_SPEND_COUNTERS`].
pub(crate) fn record_spend(work: &mut Work<'_>, unit: &str, amount_minor: i64) -> LedgerResult<()> {
    let limits = &work.plan.caps.spend;
    if limits.is_empty() && work.account.spend.is_empty() {
        return Ok(());
    }
    let mut current = Vec::with_capacity(limits.len());
    for limit in limits {
        let (spent, start, _) = spent_now(work, limit)?;
        let spent = if limit.unit == unit {
            add(spent, amount_minor)?.max(0)
        } else {
            spent
        };
        current.push(SpendCounter {
            unit: limit.unit.clone(),
            period: limit.period,
            period_start: start,
            spent_minor: spent,
        });
    }
    current.retain(|counter| counter.spent_minor > 0);
    if current.len() > MAX_SPEND_COUNTERS {
        return Err(LedgerError::limit(
            "spend_counters",
            MAX_SPEND_COUNTERS,
            format!(
                "plan `{}` states more spend limits than an account can count",
                work.account.plan
            ),
        ));
    }
    work.account.spend = current;
    Ok(())
}

/// A refund gives back what it returns to the spend of the periods its charge was counted
/// in, when those periods are still running (a passed period is not reopened).
///
/// # Errors
/// Overflow.
pub(crate) fn give_back(
    work: &mut Work<'_>,
    unit: &str,
    amount_minor: i64,
    charged_at: DateTime<Utc>,
) -> LedgerResult<()> {
    if amount_minor <= 0 {
        return Ok(());
    }
    let mut updates = Vec::new();
    for limit in work
        .plan
        .caps
        .spend
        .iter()
        .filter(|limit| limit.unit == unit)
    {
        let (start, end) = period_bounds(work, limit.period, work.now)?;
        if charged_at >= start && charged_at < end {
            updates.push((limit.period, start));
        }
    }
    for (period, start) in updates {
        if let Some(counter) = work.account.spend.iter_mut().find(|counter| {
            counter.unit == unit && counter.period == period && counter.period_start == start
        }) {
            counter.spent_minor = sub(counter.spent_minor, amount_minor)?.max(0);
        }
    }
    work.account.spend.retain(|counter| counter.spent_minor > 0);
    Ok(())
}

/// The balance of `unit`: every bucket's spendable and held credits, debt included.
fn balance_minor(work: &Work<'_>, unit: &str) -> LedgerResult<i64> {
    let mut total: i64 = 0;
    for bucket in work
        .account
        .buckets
        .iter()
        .filter(|bucket| bucket.unit == unit)
    {
        total = add(total, add(bucket.left_minor, bucket.held_minor)?)?;
    }
    Ok(total)
}

/// A top-up must leave the balance within the plan's `balance at most`.
///
/// # Errors
/// `balance-cap-exceeded`, naming the room left.
pub(crate) fn check_top_up(work: &Work<'_>, unit: &str, amount_minor: i64) -> LedgerResult<()> {
    let Some(&cap_minor) = work.plan.caps.balance_max_minor.get(unit) else {
        return Ok(());
    };
    let balance = balance_minor(work, unit)?;
    if add(balance, amount_minor)? > cap_minor {
        let room = cap_minor.saturating_sub(balance).max(0);
        return Err(LedgerError::BalanceCapExceeded {
            unit: unit.to_owned(),
            reason: format!(
                "plan `{}` holds at most {} `{unit}`: the balance is {}, so a top-up may add at most {}, not {}",
                work.account.plan,
                shown(work.book, unit, cap_minor),
                shown(work.book, unit, balance),
                shown(work.book, unit, room),
                shown(work.book, unit, amount_minor)
            ),
        });
    }
    Ok(())
}

/// What of a grant of `amount_minor` fits under the balance cap: `(given, trimmed)`.
///
/// # Errors
/// Overflow.
pub(crate) fn trim_grant(
    work: &Work<'_>,
    unit: &str,
    amount_minor: i64,
) -> LedgerResult<(i64, i64)> {
    let Some(&cap_minor) = work.plan.caps.balance_max_minor.get(unit) else {
        return Ok((amount_minor, 0));
    };
    let room = cap_minor.saturating_sub(balance_minor(work, unit)?).max(0);
    let given = amount_minor.min(room).max(0);
    Ok((given, sub(amount_minor, given)?))
}

/// The plan's spend limits of `unit` with what the running periods spent, for reads.
///
/// # Errors
/// Overflow.
pub(crate) fn spend_views(
    work: &Work<'_>,
    unit: &str,
) -> LedgerResult<Vec<crate::outcome::SpendView>> {
    let mut views = Vec::new();
    for limit in work
        .plan
        .caps
        .spend
        .iter()
        .filter(|limit| limit.unit == unit)
    {
        let (spent, _, end) = spent_now(work, limit)?;
        views.push(crate::outcome::SpendView {
            period: limit.period,
            limit_minor: limit.amount_minor,
            spent_minor: spent,
            resets_at: end,
        });
    }
    Ok(views)
}
