//! Days and billing cycles in an explicit time zone.
//!
//! Every boundary is computed from its anchor (`anchor + n months`), never by adding a month
//! to the previous boundary, so a 31 January anchor gives 28/29 February and then 31 March.
//! Local times that do not exist (a DST gap) move forward to the first valid instant; local
//! times that exist twice (a DST overlap) take the earlier one.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, Utc};
/// IANA time zones, as the calendar takes them.
pub use chrono_tz::Tz;
use credits_dsl::{Cycle, Plan, RateBook};

use crate::account::Account;
use crate::work::find_plan;
use crate::{LedgerError, LedgerResult};

/// Parses an IANA zone name.
///
/// # Errors
/// `invalid-input` when the name is not a known IANA zone.
pub fn parse_zone(name: &str) -> LedgerResult<Tz> {
    name.parse::<Tz>()
        .map_err(|_| LedgerError::invalid(format!("`{name}` is not an IANA time zone")))
}

/// The instant a local date and time denotes in `zone`, by the workspace's one rule
/// ([`credits_dsl::localtime`]): a DST gap moves forward, an overlap takes the earlier.
pub(crate) fn resolve_local(zone: Tz, local: NaiveDateTime) -> LedgerResult<DateTime<Utc>> {
    credits_dsl::localtime::resolve_local(zone, local).ok_or_else(|| {
        LedgerError::invariant(format!("local time `{local}` does not exist in `{zone}`"))
    })
}

/// The first instant of `date` in `zone` (see [`credits_dsl::localtime::local_start_of_day`]).
///
/// # Errors
/// Overflow for dates out of range.
pub fn local_start_of_day(date: NaiveDate, zone: Tz) -> LedgerResult<DateTime<Utc>> {
    credits_dsl::localtime::local_start_of_day(date, zone).ok_or(LedgerError::Overflow("date"))
}

/// The account's billing cycles on `plan` in `zone`: the plan's cycle (`from purchase`
/// anchored at the subscription's purchase, else at the plan start), or calendar months for
/// a plan without a cycle, so that `end of cycle` and statements always mean something
/// definite.
pub(crate) fn billing_cycles(account: &Account, plan: &Plan, zone: Tz) -> Cycles {
    match plan.cycle {
        Some(kind) => {
            let anchor = match &account.subscription {
                Some(subscription) if kind.from_purchase() => subscription.anchor,
                _ => account.plan_since,
            };
            Cycles::new(kind, zone, anchor)
        }
        None => Cycles::new(Cycle::MonthlyCalendar, zone, account.plan_since),
    }
}

/// The account's billing cycles under `book` (its plan and zone there): the calendar of
/// grants, `end of cycle` expiry and statements.
///
/// # Errors
/// When the account's plan is not in `book` or its zone is not a zone.
pub fn account_cycles(account: &Account, book: &RateBook) -> LedgerResult<Cycles> {
    let plan = find_plan(book, &account.plan)?;
    let zone = parse_zone(account.time_zone.as_deref().unwrap_or(&book.time_zone))?;
    Ok(billing_cycles(account, plan, zone))
}

/// The local calendar date of an instant.
pub(crate) fn local_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// The first instant of `date` in `zone`.
pub(crate) fn midnight(zone: Tz, date: NaiveDate) -> LedgerResult<DateTime<Utc>> {
    local_start_of_day(date, zone)
}

/// Start of the local day containing `at`.
pub(crate) fn day_start(zone: Tz, at: DateTime<Utc>) -> LedgerResult<DateTime<Utc>> {
    midnight(zone, local_date(zone, at))
}

/// Start of the local day after the one containing `at`.
pub(crate) fn next_day_start(zone: Tz, at: DateTime<Utc>) -> LedgerResult<DateTime<Utc>> {
    let next = local_date(zone, at)
        .checked_add_days(Days::new(1))
        .ok_or(LedgerError::Overflow("date"))?;
    midnight(zone, next)
}

/// `at` plus `days` local calendar days (same wall-clock time; DST-aware).
pub(crate) fn add_days(zone: Tz, at: DateTime<Utc>, days: u32) -> LedgerResult<DateTime<Utc>> {
    let local = at
        .with_timezone(&zone)
        .naive_local()
        .checked_add_days(Days::new(u64::from(days)))
        .ok_or(LedgerError::Overflow("date"))?;
    resolve_local(zone, local)
}

/// `date` moved by `months` (negative allowed), clamped to the month's last day.
fn shift_months(date: NaiveDate, months: i64) -> LedgerResult<NaiveDate> {
    let magnitude =
        u32::try_from(months.unsigned_abs()).map_err(|_| LedgerError::Overflow("months"))?;
    let shifted = if months >= 0 {
        date.checked_add_months(Months::new(magnitude))
    } else {
        date.checked_sub_months(Months::new(magnitude))
    };
    shifted.ok_or(LedgerError::Overflow("date"))
}

/// Boundaries from a local anchor: boundary `n` is `anchor + n × step months` (monthly or
/// yearly cycles, subscription periods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycles {
    zone: Tz,
    /// Local date and time of boundary 0.
    anchor: NaiveDateTime,
    /// Months between boundaries (1 for cycles; 3 or 12 for subscription periods).
    step_months: u32,
}

impl Cycles {
    /// Billing cycles of `kind` anchored at `anchor` (the purchase instant for `from
    /// purchase`; any instant of the first month for `calendar`).
    pub fn new(kind: Cycle, zone: Tz, anchor: DateTime<Utc>) -> Self {
        let local = anchor.with_timezone(&zone).naive_local();
        let anchor = match kind {
            Cycle::MonthlyFromPurchase | Cycle::YearlyFromPurchase => local,
            Cycle::MonthlyCalendar => local
                .date()
                .with_day(1)
                .unwrap_or(local.date())
                .and_time(chrono::NaiveTime::MIN),
            Cycle::YearlyCalendar => local
                .date()
                .with_ordinal(1)
                .unwrap_or(local.date())
                .and_time(chrono::NaiveTime::MIN),
        };
        Self {
            zone,
            anchor,
            step_months: kind.months(),
        }
    }

    /// Subscription periods of `step_months` months from `anchor`.
    pub fn periods(zone: Tz, anchor: DateTime<Utc>, step_months: u32) -> Self {
        Self {
            zone,
            anchor: anchor.with_timezone(&zone).naive_local(),
            step_months: step_months.max(1),
        }
    }

    /// Boundary `n` (`n` may be negative: before the anchor).
    ///
    /// # Errors
    /// Overflow for absurd `n`.
    pub fn boundary(&self, n: i64) -> LedgerResult<DateTime<Utc>> {
        let months = n
            .checked_mul(i64::from(self.step_months))
            .ok_or(LedgerError::Overflow("months"))?;
        let date = shift_months(self.anchor.date(), months)?;
        resolve_local(self.zone, date.and_time(self.anchor.time()))
    }

    /// The index of the cycle containing `at`: the largest `n` with `boundary(n) <= at`.
    ///
    /// # Errors
    /// Overflow for absurd instants.
    pub fn index_at(&self, at: DateTime<Utc>) -> LedgerResult<i64> {
        let local = at.with_timezone(&self.zone).naive_local();
        let months = (i64::from(local.year()) - i64::from(self.anchor.year())) * 12
            + i64::from(local.month())
            - i64::from(self.anchor.month());
        let mut n = months.div_euclid(i64::from(self.step_months));
        // The estimate is off by at most one step either way; a few steps settle it.
        for _ in 0..4 {
            if self.boundary(n)? > at {
                n -= 1;
            } else if self.boundary(n + 1)? <= at {
                n += 1;
            } else {
                return Ok(n);
            }
        }
        Err(LedgerError::invariant(format!("no cycle contains `{at}`")))
    }

    /// `[start, end)` of the cycle containing `at`.
    ///
    /// # Errors
    /// Overflow for absurd instants.
    pub fn containing(&self, at: DateTime<Utc>) -> LedgerResult<(DateTime<Utc>, DateTime<Utc>)> {
        let n = self.index_at(at)?;
        Ok((self.boundary(n)?, self.boundary(n + 1)?))
    }

    /// The first boundary strictly after `at`.
    ///
    /// # Errors
    /// Overflow for absurd instants.
    pub fn next_after(&self, at: DateTime<Utc>) -> LedgerResult<DateTime<Utc>> {
        self.boundary(self.index_at(at)? + 1)
    }
}
