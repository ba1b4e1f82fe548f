//! Admin operations on credits outside the plan's rules (`docs/adjustments.md`):
//! adjustments (a credit adds a bucket of its own; a debit draws like a charge, by the plan's
//! order or from one named bucket), voids (what is left of one bucket goes) and chargebacks
//! (what is left of one purchase goes, and the answer says how much of it had been used).
//!
//! Credits that open holds reserve are never taken: a void or chargeback of a bucket with
//! held credits is refused until the holds are captured or released, and a debit takes only
//! what is left.

use serde_json::json;

use crate::account::{AccountStatus, Bucket, Draw, OVERDRAFT_KIND, Origin};
use crate::admission;
use crate::buckets::{self, DrawMode};
use crate::command::{Adjustment, Chargeback, Direction, Facts, Void};
use crate::entry::EntryType;
use crate::limits::MAX_AMOUNT_MINOR;
use crate::outcome::{Amount, Outcome};
use crate::topup::only_unit;
use crate::work::{Draft, Work, add, key, shown, stamp, sub};
use crate::{LedgerError, LedgerResult};

pub(crate) fn adjust(work: &mut Work<'_>, request: &Adjustment) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let named = match &request.bucket {
        Some(id) => Some(live_bucket(work, id)?),
        None => None,
    };
    let unit = match (&request.unit, named) {
        (Some(unit), Some(index)) => {
            let bucket_unit = bucket_at(work, index)?.unit.clone();
            if *unit != bucket_unit {
                return Err(LedgerError::invalid(format!(
                    "bucket `{}` holds `{bucket_unit}`, not `{unit}`",
                    bucket_at(work, index)?.id
                )));
            }
            bucket_unit
        }
        (Some(unit), None) => unit.clone(),
        (None, Some(index)) => bucket_at(work, index)?.unit.clone(),
        (None, None) => only_unit(work)?,
    };
    work.scale(&unit)?;
    let amount_minor = request.amount_minor;
    if amount_minor <= 0 || amount_minor > MAX_AMOUNT_MINOR {
        return Err(LedgerError::invalid(format!(
            "an adjustment must be positive and at most {}, not {}",
            shown(work.book, &unit, MAX_AMOUNT_MINOR),
            shown(work.book, &unit, amount_minor)
        )));
    }
    match request.direction {
        Direction::Credit => {
            if request.bucket.is_some() {
                return Err(LedgerError::invalid(
                    "`bucket` goes with a debit; a credit adds a bucket of its own",
                ));
            }
            credit(work, request, &unit, amount_minor)
        }
        Direction::Debit => {
            if request.kind.is_some() || request.expires_at.is_some() {
                return Err(LedgerError::invalid(
                    "`kind` and `expires_at` go with a credit; a debit draws existing credits",
                ));
            }
            debit(work, request, &unit, amount_minor, named)
        }
    }
}

/// The kind of a credit adjustment that names none: the plan's top-up kind, else the last
/// kind of its order (so it is spent after the plan's own credits), else `adjustment`.
fn default_kind(work: &Work<'_>) -> String {
    match (&work.plan.topup, work.plan.order.last()) {
        (Some(policy), _) => policy.kind.clone(),
        (None, Some(kind)) => kind.clone(),
        (None, None) => "adjustment".to_owned(),
    }
}

fn credit(
    work: &mut Work<'_>,
    request: &Adjustment,
    unit: &str,
    amount_minor: i64,
) -> LedgerResult<Outcome> {
    let kind = request.kind.clone().unwrap_or_else(|| default_kind(work));
    if kind == OVERDRAFT_KIND {
        return Err(LedgerError::invalid(format!(
            "`{kind}` is not a credit kind for adjustments"
        )));
    }
    if let Some(at) = request.expires_at
        && at <= work.now
    {
        return Err(LedgerError::invalid(format!(
            "`expires_at` `{}` is not in the future",
            stamp(at)
        )));
    }
    let before = buckets::counted(work);
    let bucket_id = crate::ids::bucket(format!("adjustment:{}", key(&request.id)));
    buckets::check_new(work, &bucket_id, &request.id)?;
    let repaid_minor = buckets::credit(
        work,
        Bucket {
            id: bucket_id.clone(),
            kind: kind.clone(),
            unit: unit.to_owned(),
            left_minor: amount_minor,
            held_minor: 0,
            granted_minor: amount_minor,
            expires_at: request.expires_at,
            origin: Origin::Adjustment {
                operation: request.id.clone(),
            },
            created_at: work.now,
            rollover: None,
            mergeable: false,
        },
    )?;
    work.push(
        Draft::new(
            format!("adjustment:{}", key(&request.id)),
            EntryType::Adjustment,
            work.now,
        )
        .unit(unit, amount_minor)
        .body(json!({
            "direction": "credit",
            "reason": request.reason.as_str(),
            "memo": request.memo,
            "bucket": bucket_id,
            "kind": kind,
            "expires_at": request.expires_at.map(stamp),
            "repaid_overdraft_minor": repaid_minor,
        })),
    )?;
    buckets::prune(work);
    buckets::check_growth(work, before)?;
    Ok(Outcome {
        amounts: vec![amount(work, unit, amount_minor)?],
        paid_from: vec![Draw {
            bucket: bucket_id,
            kind,
            unit: unit.to_owned(),
            amount_minor,
            expires_at: request.expires_at,
        }],
        ..Outcome::default()
    })
}

fn debit(
    work: &mut Work<'_>,
    request: &Adjustment,
    unit: &str,
    amount_minor: i64,
    named: Option<usize>,
) -> LedgerResult<Outcome> {
    let draws = match named {
        // As a charge draws: by the plan's order, then within the credit line.
        None => buckets::draw(work, unit, amount_minor, DrawMode::Spend)?,
        Some(index) => {
            let bucket = work
                .account
                .buckets
                .get_mut(index)
                .ok_or_else(|| LedgerError::invariant("named bucket vanished"))?;
            if bucket.left_minor < amount_minor {
                return Err(LedgerError::InsufficientCredits {
                    unit: unit.to_owned(),
                    needed_minor: amount_minor,
                    available_minor: bucket.left_minor.max(0),
                });
            }
            bucket.left_minor = sub(bucket.left_minor, amount_minor)?;
            vec![buckets::draw_of(bucket, amount_minor)]
        }
    };
    work.push(
        Draft::new(
            format!("adjustment:{}", key(&request.id)),
            EntryType::Adjustment,
            work.now,
        )
        .unit(unit, amount_minor.saturating_neg())
        .body(json!({
            "direction": "debit",
            "reason": request.reason.as_str(),
            "memo": request.memo,
            "draws": draws,
        })),
    )?;
    Ok(Outcome {
        amounts: vec![amount(work, unit, amount_minor)?],
        paid_from: draws,
        ..Outcome::default()
    })
}

pub(crate) fn void(work: &mut Work<'_>, request: &Void) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let index = live_bucket(work, &request.bucket)?;
    let bucket = bucket_at(work, index)?;
    if bucket.held_minor > 0 {
        return Err(held(bucket));
    }
    if bucket.left_minor <= 0 {
        return Err(LedgerError::Conflict(format!(
            "bucket `{}` has nothing left to void",
            bucket.id
        )));
    }
    let removed = take_all(work, index)?;
    let unit = removed.unit.clone();
    let purchase = bucket_at(work, index)?.purchase().map(str::to_owned);
    work.push(
        Draft::new(
            format!("void:{}", key(&request.id)),
            EntryType::Void,
            work.now,
        )
        .unit(&unit, removed.amount_minor.saturating_neg())
        .body(json!({
            "bucket": removed.bucket,
            "kind": removed.kind,
            "purchase": purchase,
            "memo": request.memo,
        })),
    )?;
    Ok(Outcome {
        amounts: vec![amount(work, &unit, removed.amount_minor)?],
        paid_from: vec![removed],
        ..Outcome::default()
    })
}

pub(crate) fn chargeback(
    work: &mut Work<'_>,
    request: &Chargeback,
    facts: &Facts,
) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let purchase = match &facts.purchase {
        Some(purchase) if purchase.id == request.purchase => purchase,
        _ => {
            return Err(LedgerError::NotFound {
                what: "purchase",
                id: request.purchase.clone(),
            });
        }
    };
    if let Some(by) = &purchase.reversed_by {
        return Err(LedgerError::Conflict(format!(
            "purchase `{}` was already reversed by chargeback `{by}`",
            purchase.id
        )));
    }
    let now = work.at;
    let indices: Vec<usize> = work
        .account
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, bucket)| {
            bucket.purchase() == Some(purchase.id.as_str()) && !bucket.expired_at(now)
        })
        .map(|(index, _)| index)
        .collect();
    for &index in &indices {
        let bucket = bucket_at(work, index)?;
        if bucket.held_minor > 0 {
            return Err(held(bucket));
        }
    }
    let mut removed: Vec<Draw> = Vec::new();
    let mut removed_minor: i64 = 0;
    for index in indices {
        if bucket_at(work, index)?.left_minor <= 0 {
            continue;
        }
        let draw = take_all(work, index)?;
        removed_minor = add(removed_minor, draw.amount_minor)?;
        removed.push(draw);
    }
    let unit = purchase.unit.clone();
    // Whatever of it is not in its buckets any more was used: spent, repaid a debt, or
    // expired; what voids removed was not.
    let spent_minor = sub(
        sub(purchase.amount_minor, purchase.voided_minor)?,
        removed_minor,
    )?
    .max(0);
    work.push(
        Draft::new(
            format!("chargeback:{}", key(&request.id)),
            EntryType::Chargeback,
            work.now,
        )
        .unit(&unit, removed_minor.saturating_neg())
        .body(json!({
            "purchase": purchase.id,
            "purchased_minor": purchase.amount_minor,
            "spent_minor": spent_minor,
            "removed": removed,
            "memo": request.memo,
        })),
    )?;
    Ok(Outcome {
        amounts: vec![amount(work, &unit, removed_minor)?],
        paid_from: removed,
        spent: vec![amount(work, &unit, spent_minor)?],
        ..Outcome::default()
    })
}

/// The index of the live bucket `id` (not the overdraft, not expired).
///
/// # Errors
/// `not-found` when no such bucket is live; `invalid-input` for an overdraft bucket.
fn live_bucket(work: &Work<'_>, id: &str) -> LedgerResult<usize> {
    let now = work.at;
    let index = work
        .account
        .buckets
        .iter()
        .position(|bucket| bucket.id == id && !bucket.expired_at(now))
        .ok_or_else(|| LedgerError::NotFound {
            what: "bucket",
            id: id.to_owned(),
        })?;
    if bucket_at(work, index)?.is_overdraft() {
        return Err(LedgerError::invalid(format!(
            "`{id}` is the credit line, not a bucket of credits"
        )));
    }
    Ok(index)
}

fn bucket_at<'w>(work: &'w Work<'_>, index: usize) -> LedgerResult<&'w Bucket> {
    work.account
        .buckets
        .get(index)
        .ok_or_else(|| LedgerError::invariant("bucket index out of range"))
}

/// Empties the bucket at `index`; the draw says what it held.
fn take_all(work: &mut Work<'_>, index: usize) -> LedgerResult<Draw> {
    let bucket = work
        .account
        .buckets
        .get_mut(index)
        .ok_or_else(|| LedgerError::invariant("bucket index out of range"))?;
    let left = bucket.left_minor;
    bucket.left_minor = 0;
    Ok(buckets::draw_of(bucket, left))
}

fn held(bucket: &Bucket) -> LedgerError {
    LedgerError::Conflict(format!(
        "bucket `{}` has credits reserved by open holds; capture or release them first",
        bucket.id
    ))
}

fn amount(work: &Work<'_>, unit: &str, amount_minor: i64) -> LedgerResult<Amount> {
    Ok(Amount {
        unit: unit.to_owned(),
        amount: work.decimal(unit, amount_minor)?,
        amount_minor,
    })
}

impl crate::command::PurchaseFacts {
    /// Continues `facts` (or starts them) with the entries of one decision, as the shell
    /// keeps a purchase's record: the top-up `id` itself, the voids of its bucket (whose
    /// body names it as `purchase`) and its chargeback. `None` when neither `facts` nor the
    /// entries know the purchase.
    ///
    /// # Errors
    /// Overflow.
    pub fn fold(
        facts: Option<Self>,
        id: &str,
        entries: &[crate::Entry],
    ) -> LedgerResult<Option<Self>> {
        let mut facts = facts;
        for entry in entries {
            let names_it = entry.body.get("purchase").and_then(|value| value.as_str()) == Some(id);
            match entry.entry_type {
                EntryType::TopUp if entry.operation == id && facts.is_none() => {
                    if let Some(unit) = &entry.unit {
                        facts = Some(Self {
                            id: id.to_owned(),
                            at: entry.at,
                            unit: unit.clone(),
                            amount_minor: entry.amount_minor,
                            voided_minor: 0,
                            reversed_by: None,
                        });
                    }
                }
                EntryType::Void if names_it => {
                    if let Some(facts) = facts.as_mut() {
                        facts.voided_minor = sub(facts.voided_minor, entry.amount_minor)?;
                    }
                }
                EntryType::Chargeback if names_it => {
                    if let Some(facts) = facts.as_mut() {
                        facts.reversed_by = Some(entry.operation.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }
}
