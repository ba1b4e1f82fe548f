//! The balance per unit as responses and reads show it.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::buckets;
use crate::outcome::{Balance, BucketView, UnitBalance};
use crate::work::{Work, add, sub, to_decimal};
use crate::{LedgerError, LedgerResult};

/// Every unit of the book (and any other unit the account still holds), with its buckets in
/// consumption order.
pub(crate) fn of(work: &Work<'_>) -> LedgerResult<Balance> {
    let mut units: BTreeSet<&str> = work
        .book
        .units
        .iter()
        .map(|unit| unit.name.as_str())
        .collect();
    units.extend(
        work.account
            .buckets
            .iter()
            .map(|bucket| bucket.unit.as_str()),
    );
    let mut balance = Balance {
        at: Some(work.now),
        units: std::collections::BTreeMap::new(),
    };
    for unit in units {
        let mut view = UnitBalance::default();
        for index in buckets::ordered(work, unit) {
            let Some(bucket) = work.account.buckets.get(index) else {
                continue;
            };
            // Emptied at this instant, pruned at the next: nothing to show.
            if bucket.left_minor == 0 && bucket.held_minor == 0 {
                continue;
            }
            view.available_minor = add(view.available_minor, bucket.left_minor)?;
            view.held_minor = add(view.held_minor, bucket.held_minor)?;
            view.buckets.push(BucketView {
                id: bucket.id.clone(),
                kind: bucket.kind.clone(),
                left: decimal(work, unit, bucket.left_minor)?,
                left_minor: bucket.left_minor,
                held_minor: bucket.held_minor,
                granted_minor: bucket.granted_minor,
                expires_at: bucket.expires_at,
                purchase: bucket.purchase().map(str::to_owned),
            });
        }
        view.available = decimal(work, unit, view.available_minor)?;
        view.held = decimal(work, unit, view.held_minor)?;
        view.credit_line_left_minor = sub(
            work.credit_line_minor(unit),
            buckets::line_used_minor(work, unit),
        )?
        .max(0);
        view.balance_max_minor = work.plan.caps.balance_max_minor.get(unit).copied();
        view.spend_limits = crate::caps::spend_views(work, unit)?;
        balance.units.insert(unit.to_owned(), view);
    }
    Ok(balance)
}

/// A unit the book no longer defines is shown in minor units.
fn decimal(work: &Work<'_>, unit: &str, amount_minor: i64) -> LedgerResult<Decimal> {
    match to_decimal(work.book, unit, amount_minor) {
        Err(LedgerError::InvalidInput(_)) => Ok(Decimal::from(amount_minor)),
        other => other,
    }
}
