//! Creating an account and changing its plan, subscription, zone, credit line or status.
//!
//! Changes take effect at `now`, after the account has been brought up to `now` under its
//! old configuration. A plan change keeps every bucket with its own expiry and rules, and
//! starts the new plan's grants at `now` (its current period included). A plan change must
//! stay within the account's rate book: the old plan is needed to catch up to `now`, and
//! `decide` is given the versions of one book. A cancellation without `ends_at` ends at the
//! end of the subscription period running at `now` (anchor + n periods).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use credits_dsl::{RateBook, SubscriptionPeriod};

use crate::account::{Account, AccountStatus, RequestWindow, Subscription, SubscriptionStatus};
use crate::advance;
use crate::calendar::{self, Cycles};
use crate::command::{Configure, SubscriptionRequest};
use crate::grants;
use crate::limits::{
    self, MAX_ALERT_THRESHOLDS, MAX_AMOUNT_MINOR, MAX_BUCKETS, MAX_CREDIT_LINES, MAX_GRANT_BUCKETS,
    MAX_GRANT_MARKS,
};
use crate::outcome::Outcome;
use crate::work::{Work, find_plan, unit_scale};
use crate::{LedgerError, LedgerResult, admission, buckets};

/// A new, empty account on the configured plan (grants come with [`configure`]).
///
/// # Errors
/// An unknown plan or a plan of another book.
pub(crate) fn new_account(
    configure: &Configure,
    book: &RateBook,
    now: DateTime<Utc>,
) -> LedgerResult<Account> {
    find_plan(book, &configure.plan)?;
    Ok(Account {
        id: configure.account.clone(),
        plan: configure.plan.clone(),
        status: AccountStatus::Active,
        subscription: None,
        time_zone: None,
        credit_line_minor: None,
        created_at: now,
        plan_since: now,
        buckets: Vec::new(),
        holds: Vec::new(),
        free_used: std::collections::BTreeSet::new(),
        grants_applied: BTreeMap::new(),
        alerts_fired: BTreeMap::new(),
        requests: RequestWindow::default(),
        next_seq: 1,
        advanced_to: now,
        statement: None,
        events_published: 0,
        expiry_warned: std::collections::BTreeSet::new(),
        auto_topup_below: std::collections::BTreeSet::new(),
        spend: Vec::new(),
    })
}

pub(crate) fn configure<'a>(
    work: &mut Work<'a>,
    configure: &Configure,
    book: &'a RateBook,
) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let now = work.now;
    let plan_set = configure.plan != work.account.plan || work.settled_to.is_none();
    let buckets_before = buckets::counted(work);
    if configure.plan != work.account.plan {
        if configure.plan.book != work.account.plan.book {
            return Err(LedgerError::invalid(format!(
                "plan `{}` is in another rate book than `{}`; an account stays in its book",
                configure.plan, work.account.plan
            )));
        }
        let plan = find_plan(book, &configure.plan)?;
        work.account.plan = configure.plan.clone();
        work.account.plan_since = now;
        work.set_plan(plan);
    }
    if let Some(zone) = &configure.time_zone {
        work.zone = calendar::parse_zone(zone)?;
        work.account.time_zone = Some(zone.clone());
    }
    if let Some(lines) = &configure.credit_line_minor {
        if lines.len() > MAX_CREDIT_LINES {
            return Err(LedgerError::limit(
                "credit_lines",
                MAX_CREDIT_LINES,
                format!(
                    "account `{}` may have a credit line in at most {MAX_CREDIT_LINES} units, not {}",
                    configure.account,
                    lines.len()
                ),
            ));
        }
        for (unit, line) in lines {
            unit_scale(book, unit)?;
            if *line < 0 || *line > MAX_AMOUNT_MINOR {
                return Err(LedgerError::invalid(format!(
                    "the credit line of `{unit}` must be between 0 and {}, not {}",
                    crate::work::shown(book, unit, MAX_AMOUNT_MINOR),
                    crate::work::shown(book, unit, *line)
                )));
            }
        }
        work.account.credit_line_minor = (!lines.is_empty()).then(|| lines.clone());
    }
    if let Some(request) = &configure.subscription {
        let subscription = subscription_from(work, request)?;
        work.account.subscription = Some(subscription);
        advance::end_subscription(work, now)?;
    }
    match configure.status {
        Some(AccountStatus::Closed) => {
            return Err(LedgerError::invalid(
                "close an account with the close command, not by its status",
            ));
        }
        Some(status) => work.account.status = status,
        None => {}
    }
    if plan_set {
        check_plan_fits(work, buckets_before)?;
    }
    grants::apply_grants(work, now, now)?;
    buckets::prune(work);
    Ok(Outcome::default())
}

/// The account's new plan keeps every collection of the account within its limits whatever
/// time brings, so that lazy grants, marks and alerts never need refusing.
fn check_plan_fits(work: &Work<'_>, buckets_before: usize) -> LedgerResult<()> {
    let plan = work.plan;
    let account = &work.account.id;
    let grant_buckets = limits::grant_buckets_bound(plan);
    if grant_buckets > MAX_GRANT_BUCKETS {
        return Err(LedgerError::limit(
            "grant_buckets",
            MAX_GRANT_BUCKETS,
            format!(
                "the grants of plan `{}` can keep {grant_buckets} buckets of credits live at once",
                work.account.plan
            ),
        ));
    }
    if buckets_before.saturating_add(grant_buckets) > MAX_BUCKETS {
        return Err(LedgerError::limit(
            "buckets",
            MAX_BUCKETS,
            format!(
                "account `{account}` has {buckets_before} buckets of credits, and the grants of plan `{}` can add {grant_buckets}",
                work.account.plan
            ),
        ));
    }
    let mut marks: BTreeSet<String> = work.account.grants_applied.keys().cloned().collect();
    marks.extend(
        plan.grants
            .iter()
            .map(|grant| format!("{}/{}", plan.name, grant.key)),
    );
    if marks.len() > MAX_GRANT_MARKS {
        return Err(LedgerError::limit(
            "grant_marks",
            MAX_GRANT_MARKS,
            format!(
                "account `{account}` would record {} grants across its plans",
                marks.len()
            ),
        ));
    }
    let thresholds = plan
        .alerts_minor
        .values()
        .map(|thresholds| thresholds.len())
        .fold(0_usize, usize::saturating_add);
    if thresholds > MAX_ALERT_THRESHOLDS {
        return Err(LedgerError::limit(
            "alert_thresholds",
            MAX_ALERT_THRESHOLDS,
            format!(
                "plan `{}` alerts on {thresholds} low-balance thresholds",
                work.account.plan
            ),
        ));
    }
    Ok(())
}

fn subscription_from(work: &Work<'_>, request: &SubscriptionRequest) -> LedgerResult<Subscription> {
    if !work.plan.periods.is_empty() && !work.plan.periods.contains(&request.period) {
        return Err(LedgerError::invalid(format!(
            "plan `{}` is not sold {}",
            work.account.plan,
            period_name(request.period)
        )));
    }
    let ends_at = match (request.status, request.ends_at) {
        (_, Some(ends_at)) => Some(ends_at),
        (SubscriptionStatus::Active, None) => None,
        (SubscriptionStatus::Cancelled, None) => {
            let periods = Cycles::periods(work.zone, request.anchor, period_months(request.period));
            Some(periods.next_after(work.now)?)
        }
        (SubscriptionStatus::Ended, None) => Some(work.now),
    };
    Ok(Subscription {
        status: request.status,
        period: request.period,
        anchor: request.anchor,
        ends_at,
    })
}

fn period_months(period: SubscriptionPeriod) -> u32 {
    match period {
        SubscriptionPeriod::Monthly => 1,
        SubscriptionPeriod::Quarterly => 3,
        SubscriptionPeriod::Yearly => 12,
    }
}

fn period_name(period: SubscriptionPeriod) -> &'static str {
    match period {
        SubscriptionPeriod::Monthly => "monthly",
        SubscriptionPeriod::Quarterly => "quarterly",
        SubscriptionPeriod::Yearly => "yearly",
    }
}
