//! `auto topup below`: when the available balance of a unit falls below the plan's
//! threshold, one `auto_topup.requested` event asks the platform to sell the named package
//! (it charges the customer and posts the top-up with its own id). It is asked again only
//! after the balance was back at or above the threshold. Judged at the end of every
//! decision, like low-balance alerts (`alerts.rs`); a new account starting below it is not a
//! crossing.

use serde_json::json;

use crate::LedgerResult;
use crate::account::AccountStatus;
use crate::events::{self, EventType, Notice};
use crate::work::{Work, add};

/// `silent`: record the units below their threshold without asking (a new account).
pub(crate) fn evaluate(work: &mut Work<'_>, silent: bool) -> LedgerResult<()> {
    if work.account.status == AccountStatus::Closed {
        work.account.auto_topup_below.clear();
        return Ok(());
    }
    let plan = work.plan;
    work.account
        .auto_topup_below
        .retain(|unit| plan.auto_topup.contains_key(unit));
    for (unit, rule) in &plan.auto_topup {
        let mut available_minor: i64 = 0;
        for bucket in work
            .account
            .buckets
            .iter()
            .filter(|bucket| bucket.unit == *unit)
        {
            available_minor = add(available_minor, bucket.left_minor)?;
        }
        if available_minor >= rule.below_minor {
            work.account.auto_topup_below.remove(unit);
            continue;
        }
        if !work.account.auto_topup_below.insert(unit.clone()) || silent {
            continue;
        }
        let package_minor = plan
            .packages
            .iter()
            .find(|package| package.name == rule.package)
            .map_or(0, |package| package.amount_minor);
        let data = events::data(
            work,
            unit,
            &[
                ("below", rule.below_minor),
                ("available", available_minor),
                ("package_amount", package_minor),
            ],
            json!({ "package": rule.package, "plan": plan.name }),
        )?;
        work.notices.push(Notice {
            event_type: EventType::AutoTopupRequested,
            at: work.now,
            data,
        });
    }
    Ok(())
}
