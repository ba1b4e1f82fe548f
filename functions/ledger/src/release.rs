//! Returning held credits to their buckets (release, the unspent part of a capture, an
//! expired hold). Credits returned to a bucket that has expired in the meantime expire now.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::account::Draw;
use crate::buckets;
use crate::entry::EntryType;
use crate::work::{Draft, Work, add, key, sub};
use crate::{LedgerError, LedgerResult};

/// Returns `draws` (reserved by hold `hold`) to their buckets at `at`, writing one
/// `release` entry per unit (zero amount: held credits were the account's all along) and an
/// `expiry` entry per bucket that expired while its credits were held.
///
/// # Errors
/// A draw naming a bucket that is gone or holds less (a bug), or overflow.
pub(crate) fn release_draws(
    work: &mut Work<'_>,
    hold: &str,
    draws: &[Draw],
    at: DateTime<Utc>,
    reason: &str,
) -> LedgerResult<()> {
    let mut per_unit: BTreeMap<String, Vec<Draw>> = BTreeMap::new();
    let mut expired: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for draw in draws {
        let bucket = work
            .account
            .buckets
            .iter_mut()
            .find(|bucket| bucket.id == draw.bucket)
            .ok_or_else(|| {
                LedgerError::invariant(format!(
                    "hold `{hold}` drew from missing bucket `{}`",
                    draw.bucket
                ))
            })?;
        bucket.held_minor = sub(bucket.held_minor, draw.amount_minor)?;
        if bucket.held_minor < 0 {
            return Err(LedgerError::invariant(format!(
                "bucket `{}` released more than it held",
                bucket.id
            )));
        }
        if !bucket.is_overdraft() && bucket.expired_at(at) {
            let slot = expired
                .entry(bucket.id.clone())
                .or_insert_with(|| (bucket.unit.clone(), 0));
            slot.1 = add(slot.1, draw.amount_minor)?;
        } else {
            bucket.left_minor = add(bucket.left_minor, draw.amount_minor)?;
        }
        per_unit
            .entry(draw.unit.clone())
            .or_default()
            .push(draw.clone());
    }
    for (unit, unit_draws) in &per_unit {
        let released_minor = unit_draws
            .iter()
            .try_fold(0_i64, |total, draw| add(total, draw.amount_minor))?;
        work.push(
            Draft::new(
                format!("release:{}:{unit}", key(hold)),
                EntryType::Release,
                at,
            )
            .unit(unit, 0)
            .body(json!({
                "hold": hold,
                "reason": reason,
                "released_minor": released_minor,
                "draws": unit_draws,
            })),
        )?;
    }
    for (bucket, (unit, amount_minor)) in expired {
        work.push(
            Draft::new(
                format!("expiry:{bucket}:hold:{}", key(hold)),
                EntryType::Expiry,
                at,
            )
            .numbered()
            .unit(
                &unit,
                amount_minor
                    .checked_neg()
                    .ok_or(LedgerError::Overflow("amount"))?,
            )
            .body(json!({ "bucket": bucket, "hold": hold })),
        )?;
    }
    for unit in per_unit.keys() {
        buckets::settle_debt(work, unit)?;
    }
    Ok(())
}
