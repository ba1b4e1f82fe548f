//! Invariants checked at the end of every decision; a violation is a bug, returned as an
//! error (and asserted in debug builds) instead of being committed.

use std::collections::BTreeMap;

use crate::account::Account;
use crate::limits::MAX_ENTRY_ID_BYTES;
use crate::work::{Work, add};
use crate::{LedgerError, LedgerResult};

/// Per unit: everything the account owns (left plus held) in its buckets.
pub(crate) fn unit_totals(account: &Account) -> LedgerResult<BTreeMap<String, i64>> {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for bucket in &account.buckets {
        let slot = totals.entry(bucket.unit.clone()).or_default();
        *slot = add(add(*slot, bucket.left_minor)?, bucket.held_minor)?;
    }
    Ok(totals)
}

pub(crate) fn check(before: &BTreeMap<String, i64>, work: &Work<'_>) -> LedgerResult<()> {
    let result = check_all(before, work);
    debug_assert!(result.is_ok(), "{result:?}");
    result
}

fn check_all(before: &BTreeMap<String, i64>, work: &Work<'_>) -> LedgerResult<()> {
    // 1. Balance moves exactly by the entries written.
    let after = unit_totals(&work.account)?;
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    for entry in &work.entries {
        if let Some(unit) = &entry.unit {
            let slot = moved.entry(unit.clone()).or_default();
            *slot = add(*slot, entry.amount_minor)?;
        } else if entry.amount_minor != 0 {
            return Err(LedgerError::invariant(format!(
                "entry `{}` moves an amount without a unit",
                entry.id
            )));
        }
    }
    let mut units: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .chain(moved.keys())
        .collect();
    units.sort();
    units.dedup();
    for unit in units {
        let start = before.get(unit).copied().unwrap_or(0);
        let end = after.get(unit).copied().unwrap_or(0);
        let delta = moved.get(unit).copied().unwrap_or(0);
        if add(start, delta)? != end {
            return Err(LedgerError::invariant(format!(
                "`{unit}` went from {start} to {end} but its entries sum to {delta}"
            )));
        }
    }
    // 2. No bucket below zero but the overdraft, which is never above zero.
    for bucket in &work.account.buckets {
        if bucket.held_minor < 0 || (!bucket.is_overdraft() && bucket.left_minor < 0) {
            return Err(LedgerError::invariant(format!(
                "bucket `{}` is below zero",
                bucket.id
            )));
        }
        if bucket.is_overdraft()
            && (bucket.left_minor > 0 || bucket.left_minor.saturating_add(bucket.held_minor) > 0)
        {
            return Err(LedgerError::invariant(format!(
                "overdraft `{}` is above zero",
                bucket.id
            )));
        }
    }
    // 3. What buckets hold is exactly what open holds reserved from them.
    let mut reserved: BTreeMap<&str, i64> = BTreeMap::new();
    for hold in &work.account.holds {
        for draw in &hold.draws {
            let slot = reserved.entry(draw.bucket.as_str()).or_default();
            *slot = add(*slot, draw.amount_minor)?;
        }
    }
    for bucket in &work.account.buckets {
        if reserved.get(bucket.id.as_str()).copied().unwrap_or(0) != bucket.held_minor {
            return Err(LedgerError::invariant(format!(
                "bucket `{}` holds {} but its holds reserved otherwise",
                bucket.id, bucket.held_minor
            )));
        }
    }
    for bucket in reserved.keys() {
        if !work
            .account
            .buckets
            .iter()
            .any(|candidate| candidate.id == *bucket)
        {
            return Err(LedgerError::invariant(format!(
                "a hold reserved from missing bucket `{bucket}`"
            )));
        }
    }
    // 4. Entries are numbered consecutively.
    for pair in work.entries.windows(2) {
        if let [first, second] = pair
            && second.seq != first.seq.saturating_add(1)
        {
            return Err(LedgerError::invariant(
                "entry sequence numbers are not consecutive",
            ));
        }
    }
    // 5. Entry ids are distinct and fit the store (`ids` makes them so).
    let mut ids = std::collections::BTreeSet::new();
    for entry in &work.entries {
        if entry.id.len() > MAX_ENTRY_ID_BYTES {
            return Err(LedgerError::invariant(format!(
                "entry id `{}` is {} bytes long, more than {MAX_ENTRY_ID_BYTES}",
                entry.id,
                entry.id.len()
            )));
        }
        if !ids.insert(entry.id.as_str()) {
            return Err(LedgerError::invariant(format!(
                "entry id `{}` is written twice",
                entry.id
            )));
        }
    }
    Ok(())
}
