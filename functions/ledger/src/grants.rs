//! Plan grants (daily, per cycle, once) and the expiry instant of any new bucket.

use chrono::{DateTime, Utc};
use credits_dsl::{Expiry, GrantEvery, Rollover};
use serde_json::json;

use crate::LedgerResult;
use crate::account::{AccountStatus, Bucket, GrantMark, Origin};
use crate::buckets;
use crate::calendar::{self, Cycles};
use crate::entry::EntryType;
use crate::work::{Draft, Work, stamp};

/// The account's cycles, or calendar months when its plan has no cycle (so that
/// `end of cycle` on a plan without one still means something definite).
pub(crate) fn cycles_or_calendar(work: &Work<'_>) -> Cycles {
    calendar::billing_cycles(&work.account, work.plan, work.zone)
}

/// When credits created at `at` with `expires` (and `rollover`) expire; `None` = never, or
/// only by their rollover rule.
///
/// # Errors
/// Overflow for absurd instants.
pub(crate) fn expiry_at(
    work: &Work<'_>,
    expires: Expiry,
    rollover: Option<&Rollover>,
    at: DateTime<Utc>,
) -> LedgerResult<Option<DateTime<Utc>>> {
    Ok(match expires {
        Expiry::Never => None,
        Expiry::EndOfDay => Some(calendar::next_day_start(work.zone, at)?),
        Expiry::EndOfCycle => {
            let cycles = cycles_or_calendar(work);
            match rollover {
                None => Some(cycles.next_after(at)?),
                // Kept while subscribed / capped at each cycle end: no fixed instant.
                Some(
                    Rollover::WhileSubscribed
                    | Rollover::UpTo { .. }
                    | Rollover::UpToWhileSubscribed { .. },
                ) => None,
                Some(Rollover::Cycles { cycles: extra }) => {
                    let own = cycles.index_at(at)?;
                    Some(cycles.boundary(own + 1 + i64::from(*extra))?)
                }
            }
        }
        Expiry::AfterDays(days) => Some(calendar::add_days(work.zone, at, days)?),
        Expiry::AfterCycles(count) => {
            let cycles = cycles_or_calendar(work);
            Some(cycles.boundary(cycles.index_at(at)? + i64::from(count))?)
        }
    })
}

/// Grants every period of the plan's grants that starts at or before `at` and has not been
/// granted yet. A grant whose credits would already have expired by `target` (the instant
/// the decision catches up to), in a unit with no debt to repay, could never be spent: it
/// is marked granted but writes neither a bucket nor entries.
///
/// # Errors
/// Overflow.
pub(crate) fn apply_grants(
    work: &mut Work<'_>,
    at: DateTime<Utc>,
    target: DateTime<Utc>,
) -> LedgerResult<()> {
    if work.account.status == AccountStatus::Closed {
        return Ok(());
    }
    let plan = work.plan;
    for grant in &plan.grants {
        let mark = format!("{}/{}", plan.name, grant.key);
        let (period_start, period_end) = match grant.every {
            GrantEvery::Day => (
                calendar::day_start(work.zone, at)?,
                calendar::next_day_start(work.zone, at)?,
            ),
            GrantEvery::Cycle => cycles_or_calendar(work).containing(at)?,
            // Once per account and plan: any mark means done.
            GrantEvery::Once => (work.account.plan_since, work.account.plan_since),
        };
        let label = match grant.every {
            GrantEvery::Once => "once".to_owned(),
            GrantEvery::Day | GrantEvery::Cycle => period_start
                .with_timezone(&work.zone)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        };
        let eligible = match grant.every {
            // Plans sold as subscriptions allocate only while one is in effect; plans
            // without subscription periods allocate to every account on them.
            GrantEvery::Cycle => plan.periods.is_empty() || work.subscribed(at),
            GrantEvery::Day | GrantEvery::Once => true,
        };
        let done = match (grant.every, work.account.grants_applied.get(&mark)) {
            (_, None) => false,
            (GrantEvery::Once, Some(_)) => true,
            (_, Some(last)) => at < last.next_due || period_start <= last.period_start,
        };
        if !eligible || done || grant.amount_minor <= 0 {
            continue;
        }
        work.account.grants_applied.insert(
            mark,
            GrantMark {
                period_start,
                next_due: period_end,
            },
        );
        let expires_at = expiry_at(work, grant.expires, grant.rollover.as_ref(), at)?;
        let dead = expires_at.is_some_and(|expires_at| expires_at <= target)
            && buckets::debt_minor(work, &grant.unit) == 0;
        if dead {
            continue;
        }
        let id = crate::ids::bucket(format!("grant:{}:{}:{}", plan.name, grant.key, label));
        // `balance at most`: what does not fit is not given, and the entry says so.
        let (given_minor, trimmed_minor) =
            crate::caps::trim_grant(work, &grant.unit, grant.amount_minor)?;
        let repaid_minor = if given_minor > 0 {
            buckets::credit(
                work,
                Bucket {
                    id: id.clone(),
                    kind: grant.kind.clone(),
                    unit: grant.unit.clone(),
                    left_minor: given_minor,
                    held_minor: 0,
                    granted_minor: given_minor,
                    expires_at,
                    origin: Origin::Grant {
                        plan: plan.name.clone(),
                        key: grant.key.clone(),
                        period_start,
                    },
                    created_at: at,
                    rollover: grant.rollover.clone(),
                    mergeable: true,
                },
            )?
        } else {
            0
        };
        let mut body = json!({
            "bucket": id,
            "kind": grant.kind,
            "grant": grant.key,
            "plan": plan.name,
            "period_start": stamp(period_start),
            "expires_at": expires_at.map(stamp),
            "repaid_overdraft_minor": repaid_minor,
        });
        if trimmed_minor > 0
            && let Some(fields) = body.as_object_mut()
        {
            fields.insert("trimmed_minor".to_owned(), json!(trimmed_minor));
            fields.insert("reason".to_owned(), json!("balance cap"));
        }
        work.push(
            Draft::new(id.clone(), EntryType::Grant, at)
                .unit(&grant.unit, given_minor)
                .body(body),
        )?;
    }
    Ok(())
}
