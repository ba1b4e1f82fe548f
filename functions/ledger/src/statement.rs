//! Cycle statements, computed from entries alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use credits_dsl::RateBook;
use serde::{Deserialize, Serialize};

use crate::LedgerResult;
use crate::account::Account;
use crate::entry::{Entry, EntryType};
use crate::grants::cycles_or_calendar;
use crate::work::{Work, add, sub};

/// `[start, end)` of one billing cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CyclePeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The account's billing cycle containing `at` (calendar months for plans without a cycle).
///
/// # Errors
/// When the account's plan is not in `book` or its zone is invalid.
pub fn cycle_containing(
    account: &Account,
    book: &RateBook,
    at: DateTime<Utc>,
) -> LedgerResult<CyclePeriod> {
    let work = Work::new(account.clone(), book, "statement", at)?;
    let (start, end) = cycles_or_calendar(&work).containing(at)?;
    Ok(CyclePeriod { start, end })
}

/// One unit's movements over a period, in minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitStatement {
    /// Balance (available plus held) at the start.
    pub opening_minor: i64,
    pub grants_minor: i64,
    pub top_ups_minor: i64,
    /// Charged and captured, per feature (positive amounts).
    pub usage_by_feature_minor: BTreeMap<String, i64>,
    pub usage_minor: i64,
    pub refunds_minor: i64,
    /// Expired unspent (positive amount).
    pub expired_minor: i64,
    /// Forfeited (positive amount).
    pub forfeited_minor: i64,
    /// Manual corrections (signed).
    pub adjustments_minor: i64,
    /// Balance at the end: opening + grants + top-ups − usage + refunds − expired −
    /// forfeited + adjustments.
    pub closing_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub period: CyclePeriod,
    pub units: BTreeMap<String, UnitStatement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Before,
    Inside,
    After,
}

/// Where an entry falls. Periods are `[start, end)`, except that credits expiring or
/// forfeited exactly at a boundary belong to the period that ends there (`(start, end]`):
/// January's allocation expiring at 1 February 00:00 is in January's statement.
fn place(entry: &Entry, period: CyclePeriod) -> Place {
    let ends_period = matches!(
        entry.entry_type,
        EntryType::Expiry | EntryType::Forfeit | EntryType::Rollover
    );
    let (after_start, before_end) = if ends_period {
        (entry.at > period.start, entry.at <= period.end)
    } else {
        (entry.at >= period.start, entry.at < period.end)
    };
    match (after_start, before_end) {
        (false, _) => Place::Before,
        (true, true) => Place::Inside,
        (true, false) => Place::After,
    }
}

/// The statement of `period` from the account's entries. `entries` must hold every entry
/// up to `period.end` since the account began (the opening balance is the sum of those
/// before the period); later entries are ignored.
///
/// # Errors
/// Overflow.
pub fn statement(entries: &[Entry], period: CyclePeriod) -> LedgerResult<Statement> {
    let mut units: BTreeMap<String, UnitStatement> = BTreeMap::new();
    for entry in entries {
        let Some(unit) = &entry.unit else {
            continue;
        };
        let place = place(entry, period);
        if place == Place::After {
            continue;
        }
        let line = units.entry(unit.clone()).or_default();
        let amount = entry.amount_minor;
        if place == Place::Before {
            line.opening_minor = add(line.opening_minor, amount)?;
            continue;
        }
        match entry.entry_type {
            EntryType::Grant => line.grants_minor = add(line.grants_minor, amount)?,
            EntryType::TopUp => line.top_ups_minor = add(line.top_ups_minor, amount)?,
            EntryType::Charge | EntryType::Capture => {
                let feature = entry.feature.clone().unwrap_or_default();
                let slot = line.usage_by_feature_minor.entry(feature).or_default();
                *slot = sub(*slot, amount)?;
                line.usage_minor = sub(line.usage_minor, amount)?;
            }
            EntryType::Refund => line.refunds_minor = add(line.refunds_minor, amount)?,
            EntryType::Expiry => line.expired_minor = sub(line.expired_minor, amount)?,
            EntryType::Forfeit => line.forfeited_minor = sub(line.forfeited_minor, amount)?,
            EntryType::Adjustment => line.adjustments_minor = add(line.adjustments_minor, amount)?,
            EntryType::Hold
            | EntryType::Release
            | EntryType::Rollover
            | EntryType::Alert
            | EntryType::Statement => {}
        }
    }
    for line in units.values_mut() {
        let mut closing = line.opening_minor;
        closing = add(closing, line.grants_minor)?;
        closing = add(closing, line.top_ups_minor)?;
        closing = sub(closing, line.usage_minor)?;
        closing = add(closing, line.refunds_minor)?;
        closing = sub(closing, line.expired_minor)?;
        closing = sub(closing, line.forfeited_minor)?;
        closing = add(closing, line.adjustments_minor)?;
        line.closing_minor = closing;
    }
    Ok(Statement { period, units })
}
