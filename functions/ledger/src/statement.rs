//! Cycle statements.
//!
//! The ledger keeps the open cycle's statement in the account snapshot and folds every
//! decision's entries into it (`keep`); a cycle's statement is closed, once and for all, when
//! the first entry after its end arrives, and handed to the shell in
//! [`crate::Decision::closed_statements`] to store as a fact record keyed
//! [`statement_fact_key`]. [`statement_of`] answers any cycle from the open statement and at
//! most two closed records. [`statement`], the fold of a whole history, is the reference the
//! property tests hold the kept statements to.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use credits_dsl::RateBook;
use serde::{Deserialize, Serialize};

use crate::LedgerResult;
use crate::account::Account;
use crate::calendar::account_cycles;
use crate::entry::{Entry, EntryType};
use crate::work::{add, sub};

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
    let (start, end) = account_cycles(account, book)?.containing(at)?;
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
    /// Removed by voids and chargebacks (positive amount). Absent (zero) in statements
    /// kept before voids existed.
    #[serde(default)]
    pub voided_minor: i64,
    /// Balance at the end: opening + grants + top-ups − usage + refunds − expired −
    /// forfeited + adjustments − voided.
    pub closing_minor: i64,
    /// Of `usage_minor`, what jobs that ended other than `completed` were charged, per
    /// ending (`failed`, `moderated`, `cancelled`; at most three lines).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_by_outcome_minor: BTreeMap<String, i64>,
    /// What the cycle's top-ups by a priced package were sold for, per currency, in its
    /// minor units (`docs/topups.md`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub top_ups_paid_minor: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub period: CyclePeriod,
    pub units: BTreeMap<String, UnitStatement>,
}

/// The statement of the cycle the account is in, kept in the snapshot as the ledger commits.
/// Bounded: one line per unit of the book, one usage amount per feature of the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStatement {
    pub starts_at: DateTime<Utc>,
    /// Exclusive (expiry and forfeits dated exactly here still belong to this cycle).
    pub ends_at: DateTime<Utc>,
    pub units: BTreeMap<String, UnitStatement>,
}

/// The final statement of a cycle, written once by the shell as the fact record
/// [`ClosedStatement::fact_key`] and never changed after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedStatement {
    pub starts_at: DateTime<Utc>,
    /// Exclusive; earlier than the calendar's cycle end when the calendar changed (a plan
    /// switch, a new anchor or time zone) during the cycle.
    pub ends_at: DateTime<Utc>,
    pub units: BTreeMap<String, UnitStatement>,
}

/// Prefix of every statement fact key.
pub const STATEMENT_FACT_PREFIX: &str = "statement:";

/// The fact key of the closed statement of the cycle starting at `starts_at`:
/// `statement:` and the fixed-width UTC instant (`2026-01-15T10:00:00.000000Z`), so string
/// order is time order and "the latest statement before a cycle" is one ordered read.
pub fn statement_fact_key(starts_at: DateTime<Utc>) -> String {
    format!(
        "{STATEMENT_FACT_PREFIX}{}",
        starts_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

impl ClosedStatement {
    /// See [`statement_fact_key`].
    pub fn fact_key(&self) -> String {
        statement_fact_key(self.starts_at)
    }
}

/// The lines of a cycle without movements, opening at `closings`.
fn carried(units: &BTreeMap<String, UnitStatement>) -> BTreeMap<String, UnitStatement> {
    units
        .iter()
        .map(|(unit, line)| {
            (
                unit.clone(),
                UnitStatement {
                    opening_minor: line.closing_minor,
                    closing_minor: line.closing_minor,
                    ..UnitStatement::default()
                },
            )
        })
        .collect()
}

/// The statement of `period` (a cycle of the account's current calendar) from what the
/// ledger kept:
/// - `open`: the account's open statement; it answers every cycle it overlaps, and every
///   later cycle opens at its closing with no movement;
/// - `record`: the closed record keyed [`statement_fact_key`]`(period.start)`, if any;
/// - `before`: else, the latest closed record starting before `period.end`: the cycle's own
///   when it starts inside the cycle (a cycle cut by a change of calendar), else an earlier
///   one whose closing is this cycle's opening (a cycle without a record had no movement).
pub fn statement_of(
    period: CyclePeriod,
    open: Option<&OpenStatement>,
    record: Option<&ClosedStatement>,
    before: Option<&ClosedStatement>,
) -> Statement {
    if let Some(open) = open {
        if period.start < open.ends_at && open.starts_at < period.end {
            return Statement {
                period,
                units: open.units.clone(),
            };
        }
        if open.ends_at <= period.start {
            return Statement {
                period,
                units: carried(&open.units),
            };
        }
    }
    let own = |record: &ClosedStatement| Statement {
        period: CyclePeriod {
            start: record.starts_at,
            end: record.ends_at,
        },
        units: record.units.clone(),
    };
    if let Some(record) = record.filter(|record| record.starts_at == period.start) {
        return own(record);
    }
    match before.filter(|before| before.starts_at < period.end) {
        Some(before) if before.starts_at >= period.start => own(before),
        Some(before) => Statement {
            period,
            units: carried(&before.units),
        },
        None => Statement {
            period,
            units: BTreeMap::new(),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Before,
    Inside,
    After,
}

/// Expiry, forfeits and rollovers dated exactly at a boundary belong to the period that
/// ends there.
pub(crate) fn ends_period(entry: &Entry) -> bool {
    matches!(
        entry.entry_type,
        EntryType::Expiry | EntryType::Forfeit | EntryType::Rollover
    )
}

/// Where an entry falls. Periods are `[start, end)`, except that credits expiring or
/// forfeited exactly at a boundary belong to the period that ends there (`(start, end]`):
/// January's allocation expiring at 1 February 00:00 is in January's statement.
pub(crate) fn place(entry: &Entry, period: CyclePeriod) -> Place {
    let (after_start, before_end) = if ends_period(entry) {
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
        if place == Place::Before {
            line.opening_minor = add(line.opening_minor, entry.amount_minor)?;
            continue;
        }
        record(line, entry)?;
    }
    for line in units.values_mut() {
        close_line(line)?;
    }
    Ok(Statement { period, units })
}

/// Adds one entry's movement to its unit's line (the closing is left to [`close_line`]).
pub(crate) fn record(line: &mut UnitStatement, entry: &Entry) -> LedgerResult<()> {
    let amount = entry.amount_minor;
    match entry.entry_type {
        EntryType::Grant => line.grants_minor = add(line.grants_minor, amount)?,
        EntryType::TopUp => {
            line.top_ups_minor = add(line.top_ups_minor, amount)?;
            crate::topup::record_price(line, entry)?;
        }
        EntryType::Charge | EntryType::Capture => {
            let feature = entry.feature.clone().unwrap_or_default();
            let slot = line.usage_by_feature_minor.entry(feature).or_default();
            *slot = sub(*slot, amount)?;
            line.usage_minor = sub(line.usage_minor, amount)?;
            crate::job_outcome::record_usage(line, entry)?;
        }
        EntryType::Refund => line.refunds_minor = add(line.refunds_minor, amount)?,
        EntryType::Expiry => line.expired_minor = sub(line.expired_minor, amount)?,
        EntryType::Forfeit => line.forfeited_minor = sub(line.forfeited_minor, amount)?,
        EntryType::Adjustment => line.adjustments_minor = add(line.adjustments_minor, amount)?,
        EntryType::Void | EntryType::Chargeback => {
            line.voided_minor = sub(line.voided_minor, amount)?;
        }
        EntryType::Hold
        | EntryType::Release
        | EntryType::Rollover
        | EntryType::Alert
        | EntryType::Statement => {}
    }
    Ok(())
}

/// Sets the closing: opening + grants + top-ups − usage + refunds − expired − forfeited +
/// adjustments − voided.
pub(crate) fn close_line(line: &mut UnitStatement) -> LedgerResult<()> {
    let mut closing = line.opening_minor;
    closing = add(closing, line.grants_minor)?;
    closing = add(closing, line.top_ups_minor)?;
    closing = sub(closing, line.usage_minor)?;
    closing = add(closing, line.refunds_minor)?;
    closing = sub(closing, line.expired_minor)?;
    closing = sub(closing, line.forfeited_minor)?;
    closing = add(closing, line.adjustments_minor)?;
    closing = sub(closing, line.voided_minor)?;
    line.closing_minor = closing;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    fn period(start: &str, end: &str) -> CyclePeriod {
        CyclePeriod {
            start: instant(start),
            end: instant(end),
        }
    }

    fn line(opening_minor: i64, grants_minor: i64) -> BTreeMap<String, UnitStatement> {
        BTreeMap::from([(
            "credit".to_owned(),
            UnitStatement {
                opening_minor,
                grants_minor,
                closing_minor: opening_minor + grants_minor,
                ..UnitStatement::default()
            },
        )])
    }

    fn closed(start: &str, end: &str, opening_minor: i64, grants_minor: i64) -> ClosedStatement {
        ClosedStatement {
            starts_at: instant(start),
            ends_at: instant(end),
            units: line(opening_minor, grants_minor),
        }
    }

    #[test]
    fn fact_keys_sort_as_time() {
        let early = statement_fact_key(instant("2026-01-01T00:00:00Z"));
        let late = statement_fact_key(instant("2026-01-01T00:00:00.5Z"));
        assert_eq!(early, "statement:2026-01-01T00:00:00.000000Z");
        assert_eq!(late, "statement:2026-01-01T00:00:00.500000Z");
        assert!(early < late);
        assert!(statement_fact_key(instant("2025-12-31T23:59:59Z")) < early);
    }

    #[test]
    fn any_cycle_reads_from_the_open_statement_and_two_records() {
        let open = OpenStatement {
            starts_at: instant("2026-04-01T00:00:00Z"),
            ends_at: instant("2026-05-01T00:00:00Z"),
            units: line(150, 10),
        };
        let january = closed("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 0, 100);
        let march = closed("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", 100, 50);
        // The open cycle, and a later one: no movement, opening at the open closing.
        let april = period("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");
        assert_eq!(
            statement_of(april, Some(&open), None, None).units,
            open.units
        );
        let june = period("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z");
        assert_eq!(
            statement_of(june, Some(&open), None, None).units,
            line(160, 0)
        );
        // A closed cycle: its record.
        let march_period = period("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
        assert_eq!(
            statement_of(march_period, Some(&open), Some(&march), None).units,
            march.units
        );
        // A cycle without a record: the latest record before it, carried.
        let february = period("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z");
        assert_eq!(
            statement_of(february, Some(&open), None, Some(&january)).units,
            line(100, 0)
        );
        // Before anything was kept: nothing.
        let december = period("2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z");
        assert!(
            statement_of(december, Some(&open), None, None)
                .units
                .is_empty()
        );
    }

    #[test]
    fn a_cycle_cut_by_a_change_of_calendar_reads_its_own_part() {
        // Closed early on the 10th, the new calendar's cycle ran from the 10th.
        let cut = closed("2026-03-10T00:00:00Z", "2026-03-25T00:00:00Z", 40, 5);
        let asked = period("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
        let statement = statement_of(asked, None, None, Some(&cut));
        assert_eq!(statement.units, cut.units);
        assert_eq!(statement.period.start, cut.starts_at);
    }
}
