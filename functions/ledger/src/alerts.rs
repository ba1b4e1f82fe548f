//! Low-balance alerts: one `alert` entry each time the available balance of a unit falls
//! below one of the plan's thresholds; the threshold re-arms when the balance is back at or
//! above it. Evaluated once, at the end of every decision, so the set of thresholds crossed
//! depends only on the balance then.

use serde_json::json;

use crate::LedgerResult;
use crate::account::AccountStatus;
use crate::entry::EntryType;
use crate::outcome::{Alert, Outcome};
use crate::work::{Draft, Work, add};

/// `silent`: record the thresholds the balance is below without alerting (a new account
/// starts below them; that is not a crossing).
pub(crate) fn evaluate(
    work: &mut Work<'_>,
    outcome: &mut Outcome,
    silent: bool,
) -> LedgerResult<()> {
    if work.account.status == AccountStatus::Closed {
        work.account.alerts_fired.clear();
        return Ok(());
    }
    let plan = work.plan;
    // Thresholds of units the plan no longer alerts on are forgotten.
    work.account
        .alerts_fired
        .retain(|unit, _| plan.alerts_minor.contains_key(unit));
    for (unit, thresholds) in &plan.alerts_minor {
        let mut available_minor: i64 = 0;
        for bucket in work
            .account
            .buckets
            .iter()
            .filter(|bucket| bucket.unit == *unit)
        {
            available_minor = add(available_minor, bucket.left_minor)?;
        }
        for &threshold_minor in thresholds {
            let fired = work.account.alerts_fired.entry(unit.clone()).or_default();
            if available_minor >= threshold_minor {
                fired.remove(&threshold_minor);
                continue;
            }
            if !fired.insert(threshold_minor) || silent {
                continue;
            }
            let id = format!("alert:{unit}:{threshold_minor}:{}", work.account.next_seq);
            work.push(
                Draft::new(id, EntryType::Alert, work.now)
                    .unit(unit, 0)
                    .body(json!({
                        "threshold_minor": threshold_minor,
                        "available_minor": available_minor,
                    })),
            )?;
            outcome.alerts.push(Alert {
                unit: unit.clone(),
                threshold_minor,
                available_minor,
            });
        }
    }
    work.account
        .alerts_fired
        .retain(|_, fired| !fired.is_empty());
    Ok(())
}
