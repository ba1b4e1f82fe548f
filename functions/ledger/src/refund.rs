//! Refunds of a charge (or capture): whole or partial, never more than charged minus earlier
//! refunds, within the plan's window and for its reasons.
//!
//! Credits go back to the buckets that paid. A partial refund walks the charge's draws in
//! REVERSE (the last bucket drawn is refilled first), skipping what earlier refunds already
//! returned, so successive partial refunds add up to one whole refund. A paying bucket that
//! has expired (or was forfeited with its subscription) is handled by the plan's rule:
//! `forfeit` (the share is refunded and forfeited at once, with entries) or `as KIND,
//! expires E` (a new bucket). A bucket that was merely emptied and pruned is recreated as it
//! was (kind, expiry, rollover rule, origin), under a new id naming the refund, or, when it
//! was merged into an older bucket of the same rules since, into that one (see `buckets.rs`).
//! A share that paid the overdraft refills it up to zero; what is left over (the debt was
//! repaid meanwhile) becomes a new bucket, as above.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use credits_dsl::{ExpiredRefund, Expiry, Rollover};
use serde_json::json;

use crate::account::{AccountStatus, Bucket, Draw, Origin};
use crate::admission;
use crate::buckets;
use crate::command::{ChargeFacts, Facts, PaidDraw, Refund};
use crate::entry::{Entry, EntryType};
use crate::grants::expiry_at;
use crate::outcome::{Amount, Outcome};
use crate::work::{Draft, Work, add, key, sub};
use crate::{LedgerError, LedgerResult};

pub(crate) fn refund(
    work: &mut Work<'_>,
    request: &Refund,
    facts: &Facts,
) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let Some(policy) = work.plan.refund.clone() else {
        return Err(not_allowed(format!(
            "plan `{}` allows no refunds",
            work.account.plan
        )));
    };
    if !policy.reasons.contains(&request.reason) {
        return Err(not_allowed(format!(
            "`{}` is not a refund reason of plan `{}`; it allows `{}`",
            request.reason,
            work.account.plan,
            policy.reasons.join("`, `")
        )));
    }
    let charge = match &facts.charge {
        Some(charge) if charge.id == request.charge => charge,
        _ => {
            return Err(LedgerError::NotFound {
                what: "charge",
                id: request.charge.clone(),
            });
        }
    };
    let window_end = charge
        .at
        .checked_add_signed(TimeDelta::days(i64::from(policy.window_days)))
        .ok_or(LedgerError::Overflow("time"))?;
    if work.now > window_end {
        return Err(not_allowed(format!(
            "charge `{}` of {} is past the {}-day refund window",
            charge.id,
            charge.at.date_naive(),
            policy.window_days
        )));
    }
    let wanted = amounts_to_refund(work.book, charge, request)?;
    if wanted.values().all(|amount| *amount == 0) {
        return Err(not_allowed(format!(
            "charge `{}` has nothing left to refund",
            charge.id
        )));
    }

    let before = buckets::counted(work);
    let mut outcome = Outcome::default();
    for (unit, amount_minor) in wanted {
        if amount_minor == 0 {
            continue;
        }
        let already = charge.refunded_minor.get(&unit).copied().unwrap_or(0);
        crate::caps::give_back(work, &unit, amount_minor, charge.at)?;
        let shares = reverse_shares(&charge.draws, &unit, already, amount_minor)?;
        let mut restored: Vec<Draw> = Vec::new();
        let mut forfeited_minor: i64 = 0;
        for (paid, share) in shares {
            let mut leftover = share;
            if let Some(done) = refill_live(work, request, paid, share)? {
                restored.push(done.0);
                leftover = done.1;
            }
            if leftover > 0 {
                // Left over: the bucket expired or was forfeited, or (overdraft) the debt it
                // paid has been repaid since.
                let overdraft = paid.draw.kind == crate::account::OVERDRAFT_KIND;
                match (&policy.expired, overdraft) {
                    (ExpiredRefund::Forfeit, false) => {
                        forfeited_minor = add(forfeited_minor, leftover)?
                    }
                    _ => restored.push(restore_elsewhere(
                        work,
                        request,
                        paid,
                        leftover,
                        &policy.expired,
                    )?),
                }
            }
        }
        buckets::settle_debt(work, &unit)?;
        let mut draft = Draft::new(
            format!("refund:{}:{unit}", key(&request.id)),
            EntryType::Refund,
            work.now,
        )
        .unit(&unit, amount_minor)
        .body(json!({
            "charge": charge.id,
            "reason": request.reason,
            "restored": restored,
            "forfeited_minor": forfeited_minor,
        }));
        draft.feature.clone_from(&charge.feature);
        work.push(draft)?;
        if forfeited_minor > 0 {
            work.push(
                Draft::new(
                    format!("forfeit:{}:{unit}", key(&request.id)),
                    EntryType::Forfeit,
                    work.now,
                )
                .unit(
                    &unit,
                    forfeited_minor
                        .checked_neg()
                        .ok_or(LedgerError::Overflow("amount"))?,
                )
                .body(json!({
                    "charge": charge.id,
                    "reason": "refund to an expired bucket",
                })),
            )?;
        }
        outcome.amounts.push(Amount {
            amount: work.decimal(&unit, amount_minor)?,
            unit: unit.clone(),
            amount_minor,
        });
        outcome.paid_from.extend(restored);
    }
    buckets::prune(work);
    buckets::check_growth(work, before)?;
    Ok(outcome)
}

fn not_allowed(reason: String) -> LedgerError {
    LedgerError::RefundNotAllowed { reason }
}

/// Per unit, what this refund returns.
fn amounts_to_refund(
    book: &credits_dsl::RateBook,
    charge: &ChargeFacts,
    request: &Refund,
) -> LedgerResult<BTreeMap<String, i64>> {
    let mut left: BTreeMap<String, i64> = BTreeMap::new();
    for (unit, charged) in &charge.charged_minor {
        let refunded = charge.refunded_minor.get(unit).copied().unwrap_or(0);
        left.insert(unit.clone(), sub(*charged, refunded)?.max(0));
    }
    let Some(amount) = &request.amount else {
        return Ok(left);
    };
    let unit = match &amount.unit {
        Some(unit) => unit.clone(),
        None => match charge.charged_minor.keys().collect::<Vec<_>>().as_slice() {
            [unit] => (*unit).clone(),
            _ => {
                return Err(LedgerError::invalid(format!(
                    "charge `{}` was paid in several units: name the `unit` to refund",
                    charge.id
                )));
            }
        },
    };
    let available = left.get(&unit).copied().ok_or_else(|| {
        LedgerError::invalid(format!("charge `{}` charged no `{unit}`", charge.id))
    })?;
    if amount.amount_minor <= 0 {
        return Err(LedgerError::invalid(format!(
            "a refund amount must be positive, not `{}`",
            amount.amount_minor
        )));
    }
    if amount.amount_minor > available {
        return Err(not_allowed(format!(
            "charge `{}` has {} left to refund, less than {}",
            charge.id,
            crate::work::shown(book, &unit, available),
            crate::work::shown(book, &unit, amount.amount_minor)
        )));
    }
    Ok(BTreeMap::from([(unit, amount.amount_minor)]))
}

/// The charge's draws of `unit`, last first, with the share of `amount_minor` each gets
/// after skipping `already` (returned by earlier refunds, also last first).
fn reverse_shares<'c>(
    draws: &'c [PaidDraw],
    unit: &str,
    already: i64,
    amount_minor: i64,
) -> LedgerResult<Vec<(&'c PaidDraw, i64)>> {
    let mut skip = already.max(0);
    let mut remaining = amount_minor;
    let mut shares = Vec::new();
    for paid in draws.iter().rev().filter(|paid| paid.draw.unit == unit) {
        if remaining == 0 {
            break;
        }
        let mut room = paid.draw.amount_minor.max(0);
        let skipped = room.min(skip);
        skip = sub(skip, skipped)?;
        room = sub(room, skipped)?;
        let share = room.min(remaining);
        if share > 0 {
            shares.push((paid, share));
            remaining = sub(remaining, share)?;
        }
    }
    if remaining > 0 {
        return Err(LedgerError::invalid(format!(
            "the charge's recorded draws of `{unit}` do not cover the refund"
        )));
    }
    Ok(shares)
}

fn paid_expired(work: &Work<'_>, paid: &PaidDraw) -> bool {
    paid.draw.expires_at.is_some_and(|at| at <= work.now)
}

/// The paying bucket would still be alive had it not been emptied: it can be recreated.
fn can_recreate(work: &Work<'_>, paid: &PaidDraw) -> bool {
    let forfeited = paid
        .rollover
        .as_ref()
        .is_some_and(Rollover::while_subscribed)
        && !work.subscribed(work.now);
    !paid_expired(work, paid) && !forfeited
}

/// Refills the paying bucket if it is live (or recreates it if it was only emptied).
/// Returns what was restored and what is left over.
fn refill_live(
    work: &mut Work<'_>,
    request: &Refund,
    paid: &PaidDraw,
    share: i64,
) -> LedgerResult<Option<(Draw, i64)>> {
    let now = work.now;
    if paid.draw.kind == crate::account::OVERDRAFT_KIND {
        let Some(bucket) = work
            .account
            .buckets
            .iter_mut()
            .find(|bucket| bucket.id == paid.draw.bucket)
        else {
            return Ok(None);
        };
        // Only a debt is refilled, not credit-line reserved by open holds.
        let debt = bucket
            .left_minor
            .saturating_add(bucket.held_minor)
            .min(0)
            .saturating_neg();
        let refill = share.min(debt);
        bucket.left_minor = add(bucket.left_minor, refill)?;
        return Ok(Some((
            Draw {
                amount_minor: refill,
                ..paid.draw.clone()
            },
            sub(share, refill)?,
        )));
    }
    if let Some(bucket) = work
        .account
        .buckets
        .iter_mut()
        .find(|bucket| bucket.id == paid.draw.bucket)
    {
        if bucket.expired_at(now) {
            return Ok(None);
        }
        bucket.left_minor = add(bucket.left_minor, share)?;
        return Ok(Some((
            Draw {
                amount_minor: share,
                ..paid.draw.clone()
            },
            0,
        )));
    }
    // A bucket that was emptied and pruned comes back under a new id naming this refund: its
    // old id may already name entries (a forfeit), and lazy entries are named after buckets.
    let restored = restored_id(request, &paid.draw.bucket);
    if let Some(bucket) = work
        .account
        .buckets
        .iter_mut()
        .find(|bucket| bucket.id == restored)
    {
        // Another share of this refund recreated it already.
        bucket.left_minor = add(bucket.left_minor, share)?;
        return Ok(Some((
            Draw {
                bucket: restored,
                amount_minor: share,
                ..paid.draw.clone()
            },
            0,
        )));
    }
    if !can_recreate(work, paid) {
        return Ok(None);
    }
    let recreated = Bucket {
        id: restored.clone(),
        kind: paid.draw.kind.clone(),
        unit: paid.draw.unit.clone(),
        left_minor: share,
        held_minor: 0,
        granted_minor: share,
        expires_at: paid.draw.expires_at,
        origin: paid.origin.clone(),
        created_at: paid.created_at,
        rollover: paid.rollover.clone(),
        // Recreated with its old age: buckets born since may sit behind it.
        mergeable: false,
    };
    // Merged away since the charge: the share joins the bucket it was merged into (or an
    // equivalent one), as it would have had the bucket still been there.
    if let Some(index) = buckets::merge_target(work, &recreated, now)
        && let Some(target) = work.account.buckets.get_mut(index)
    {
        target.left_minor = add(target.left_minor, share)?;
        target.granted_minor = add(target.granted_minor, share)?;
        return Ok(Some((
            Draw {
                bucket: target.id.clone(),
                amount_minor: share,
                ..paid.draw.clone()
            },
            0,
        )));
    }
    buckets::insert(work, recreated);
    Ok(Some((
        Draw {
            bucket: restored,
            amount_minor: share,
            ..paid.draw.clone()
        },
        0,
    )))
}

/// The id of the bucket refund `request` recreates in place of the pruned bucket `old`.
fn restored_id(request: &Refund, old: &str) -> String {
    crate::ids::bucket(format!("restored:{}:{old}", key(&request.id)))
}

/// A share whose bucket cannot take it back goes to a new bucket: the plan's `refund
/// expired as KIND` rule, else (only for a repaid overdraft) the plan's top-up kind.
fn restore_elsewhere(
    work: &mut Work<'_>,
    request: &Refund,
    paid: &PaidDraw,
    amount_minor: i64,
    rule: &ExpiredRefund,
) -> LedgerResult<Draw> {
    let (kind, expires) = match rule {
        ExpiredRefund::Restore { kind, expires } => (kind.clone(), *expires),
        ExpiredRefund::Forfeit => match &work.plan.topup {
            Some(policy) => (policy.kind.clone(), policy.expires),
            None => ("refund".to_owned(), Expiry::Never),
        },
    };
    let expires_at: Option<DateTime<Utc>> = expiry_at(work, expires, None, work.now)?;
    let id = crate::ids::bucket(format!("refund:{}:{}", key(&request.id), paid.draw.unit));
    let bucket = Bucket {
        id: id.clone(),
        kind: kind.clone(),
        unit: paid.draw.unit.clone(),
        left_minor: amount_minor,
        held_minor: 0,
        granted_minor: amount_minor,
        expires_at,
        origin: Origin::Refund {
            operation: request.id.clone(),
            charge: request.charge.clone(),
        },
        created_at: work.now,
        rollover: None,
        mergeable: true,
    };
    buckets::credit(work, bucket)?;
    Ok(Draw {
        bucket: id,
        kind,
        unit: paid.draw.unit.clone(),
        amount_minor,
        expires_at,
    })
}

impl ChargeFacts {
    /// Gathers what the ledger needs to refund charge `id` from entries the shell read: the
    /// charge's own entries (`operation == id`, types `charge` or `capture`) and the refund
    /// entries written since the charge (type `refund`; those of other charges are ignored).
    /// `None` when no charge or capture entry of `id` is among them.
    ///
    /// # Errors
    /// A charge entry whose body does not hold the draws this crate wrote.
    pub fn from_entries(id: &str, entries: &[Entry]) -> LedgerResult<Option<Self>> {
        Self::fold(None, id, entries)
    }

    /// [`Self::from_entries`] continued from `facts` already gathered: the shell keeps a
    /// charge's facts as a record and folds each later decision's entries into it (a refund
    /// adds to `refunded_minor`), so a refund never reads the charge's history.
    ///
    /// # Errors
    /// As [`Self::from_entries`].
    pub fn fold(facts: Option<Self>, id: &str, entries: &[Entry]) -> LedgerResult<Option<Self>> {
        let mut refunded: BTreeMap<String, i64> = facts
            .as_ref()
            .map(|facts| facts.refunded_minor.clone())
            .unwrap_or_default();
        let mut facts = facts;
        for entry in entries {
            match entry.entry_type {
                EntryType::Charge | EntryType::Capture if entry.operation == id => {
                    let draws: Vec<PaidDraw> = match entry.body.get("draws") {
                        Some(draws) => serde_json::from_value(draws.clone()).map_err(|error| {
                            LedgerError::invariant(format!(
                                "entry `{}` has unreadable draws: {error}",
                                entry.id
                            ))
                        })?,
                        None => Vec::new(),
                    };
                    let facts = facts.get_or_insert_with(|| Self {
                        id: id.to_owned(),
                        at: entry.at,
                        feature: entry.feature.clone(),
                        charged_minor: BTreeMap::new(),
                        draws: Vec::new(),
                        refunded_minor: BTreeMap::new(),
                    });
                    if let Some(unit) = &entry.unit {
                        let slot = facts.charged_minor.entry(unit.clone()).or_default();
                        *slot = add(*slot, entry.amount_minor.saturating_neg())?;
                    }
                    facts.draws.extend(draws);
                }
                EntryType::Refund
                    if entry.body.get("charge").and_then(|charge| charge.as_str()) == Some(id) =>
                {
                    if let Some(unit) = &entry.unit {
                        let slot = refunded.entry(unit.clone()).or_default();
                        *slot = add(*slot, entry.amount_minor)?;
                    }
                }
                _ => {}
            }
        }
        Ok(facts.map(|mut facts| {
            facts.refunded_minor = refunded;
            facts
        }))
    }
}
