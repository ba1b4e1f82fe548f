//! Keeping the open cycle's statement as the ledger commits (`docs/statements.md`).
//!
//! Every decision folds its entries, in order, into `Account::statement`. An entry dated
//! after the open cycle's end closes it (the closed statement never changes again) and opens
//! the cycle containing the entry, whose opening is the closing per unit; cycles with no
//! entries in between are never opened (their statement is the previous closing, carried).
//! An entry dated before the open cycle's start counts in the open cycle.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::LedgerResult;
use crate::calendar::Cycles;
use crate::entry::Entry;
use crate::statement::{
    ClosedStatement, CyclePeriod, OpenStatement, Place, UnitStatement, close_line, ends_period,
    place, record,
};

/// The open statement of a decision and the statements it closed.
pub(crate) struct Keeper {
    pub open: Option<OpenStatement>,
    pub closed: Vec<ClosedStatement>,
}

impl Keeper {
    pub fn new(open: Option<OpenStatement>) -> Self {
        Self {
            open,
            closed: Vec::new(),
        }
    }

    /// Folds `entries` in order under the calendar `cycles`. `opening` is the balance per
    /// unit before these entries, used only when no statement is open yet (a new account,
    /// or a snapshot from before statements were kept).
    ///
    /// # Errors
    /// Overflow.
    pub fn fold(
        &mut self,
        entries: &[Entry],
        cycles: &Cycles,
        opening: &BTreeMap<String, i64>,
    ) -> LedgerResult<()> {
        for entry in entries {
            let Some(unit) = &entry.unit else {
                continue;
            };
            let open = match self.open.take() {
                None => open_at(cycles, entry, opening_lines(opening))?,
                Some(open) => {
                    let period = CyclePeriod {
                        start: open.starts_at,
                        end: open.ends_at,
                    };
                    if place(entry, period) == Place::After {
                        let carried = carried_lines(&open.units);
                        self.close(open);
                        open_at(cycles, entry, carried)?
                    } else {
                        open
                    }
                }
            };
            let open = self.open.insert(open);
            let line = open.units.entry(unit.clone()).or_default();
            record(line, entry)?;
            close_line(line)?;
        }
        Ok(())
    }

    /// Folds `entries` under `cycles`, then realigns on `new_cycles` at `at` (see
    /// [`Self::realign`]). A statement closed at `at` spans up to `at`, exclusive: entries of
    /// `entries` that fall after it (dated `at` itself, other than expiry, forfeits and
    /// rollovers) are folded after the realignment, into the statement opening at `at`, as
    /// the history's fold places them. Catching up writes such entries when the command
    /// that changes the calendar comes exactly when something falls due (a daily grant at
    /// local midnight, say).
    ///
    /// # Errors
    /// Overflow.
    pub fn fold_then_realign(
        &mut self,
        entries: &[Entry],
        cycles: &Cycles,
        opening: &BTreeMap<String, i64>,
        new_cycles: &Cycles,
        at: DateTime<Utc>,
    ) -> LedgerResult<()> {
        let closed_at = CyclePeriod {
            start: DateTime::<Utc>::MIN_UTC,
            end: at,
        };
        let cut = entries
            .iter()
            .position(|entry| entry.unit.is_some() && place(entry, closed_at) == Place::After)
            .unwrap_or(entries.len());
        let (before, from) = entries.split_at(cut);
        self.fold(before, cycles, opening)?;
        self.realign(new_cycles, at)?;
        self.fold(from, new_cycles, opening)
    }

    /// The calendar may have changed (a plan switch, a new subscription anchor, a time
    /// zone): when the open cycle is still running at `now` and `cycles` puts `now` in
    /// another cycle, the open statement closes at `now` and the new calendar's cycle opens
    /// with its closing. Statement keys only grow (each names its start, and a later
    /// statement must never overwrite an earlier one): a new cycle that starts before the
    /// open one opens at `now`, and when that is where the open one starts, the open one
    /// simply takes the new end.
    ///
    /// # Errors
    /// Overflow.
    pub fn realign(&mut self, cycles: &Cycles, now: DateTime<Utc>) -> LedgerResult<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if now < open.starts_at || open.ends_at <= now {
            // Ended: the next entry closes it at its own end.
            return Ok(());
        }
        let (start, end) = cycles.containing(now)?;
        if (start, end) == (open.starts_at, open.ends_at) {
            return Ok(());
        }
        let starts_at = if start > open.starts_at { start } else { now };
        if starts_at == open.starts_at {
            open.ends_at = end;
            return Ok(());
        }
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        let units = carried_lines(&open.units);
        open.ends_at = now;
        self.close(open);
        self.open = Some(OpenStatement {
            starts_at,
            ends_at: end,
            units,
        });
        Ok(())
    }

    fn close(&mut self, open: OpenStatement) {
        self.closed.push(ClosedStatement {
            starts_at: open.starts_at,
            ends_at: open.ends_at,
            units: open.units,
        });
    }
}

/// The cycle an entry belongs to: the one containing it, except that expiry, forfeits and
/// rollovers dated exactly at a boundary belong to the cycle ending there (as in
/// [`crate::statement::statement`]).
fn open_at(
    cycles: &Cycles,
    entry: &Entry,
    units: BTreeMap<String, UnitStatement>,
) -> LedgerResult<OpenStatement> {
    // A period is `(start, end]` for these: the cycle containing the instant just before.
    let at = if ends_period(entry) {
        entry
            .at
            .checked_sub_signed(TimeDelta::nanoseconds(1))
            .unwrap_or(entry.at)
    } else {
        entry.at
    };
    let (starts_at, ends_at) = cycles.containing(at)?;
    Ok(OpenStatement {
        starts_at,
        ends_at,
        units,
    })
}

/// Lines opening at `opening` per unit, without movements.
fn opening_lines(opening: &BTreeMap<String, i64>) -> BTreeMap<String, UnitStatement> {
    opening
        .iter()
        .map(|(unit, &amount_minor)| {
            (
                unit.clone(),
                UnitStatement {
                    opening_minor: amount_minor,
                    closing_minor: amount_minor,
                    ..UnitStatement::default()
                },
            )
        })
        .collect()
}

/// Lines of the next cycle: each unit opens at its closing.
fn carried_lines(units: &BTreeMap<String, UnitStatement>) -> BTreeMap<String, UnitStatement> {
    let closings = units
        .iter()
        .map(|(unit, line)| (unit.clone(), line.closing_minor))
        .collect();
    opening_lines(&closings)
}
