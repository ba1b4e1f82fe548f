//! Top-ups: purchased credits, by amount or by the plan's packages.
//!
//! Each top-up adds its own bucket, named after the purchase and never merged with another
//! (see `buckets.rs`): the balance lists it with its purchase id and a chargeback finds
//! what is left of it (`adjust.rs`). A top-up that would add a bucket beyond the limit
//! (`MAX_COMMAND_BUCKETS`) is refused.

use serde_json::json;

use crate::account::{AccountStatus, Bucket, Draw, Origin};
use crate::admission;
use crate::buckets;
use crate::command::{TopUp, TopUpAmount};
use crate::entry::EntryType;
use crate::grants::expiry_at;
use crate::limits::MAX_AMOUNT_MINOR;
use crate::outcome::{Amount, Outcome};
use crate::work::{Draft, Work, key, stamp};
use crate::{LedgerError, LedgerResult};

pub(crate) fn top_up(work: &mut Work<'_>, request: &TopUp) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let Some(policy) = &work.plan.topup else {
        return Err(LedgerError::TopUpNotAllowed {
            reason: format!("plan `{}` sells no top-ups", work.account.plan),
        });
    };
    if policy.requires_subscription && !work.subscribed(work.now) {
        return Err(LedgerError::TopUpNotAllowed {
            reason: format!(
                "top-ups on plan `{}` need an active subscription",
                work.account.plan
            ),
        });
    }
    let (unit, amount_minor, package, price) = match &request.amount {
        TopUpAmount::Package { name } => {
            let package = work
                .plan
                .packages
                .iter()
                .find(|package| package.name == *name)
                .ok_or_else(|| LedgerError::NotFound {
                    what: "package",
                    id: name.clone(),
                })?;
            (
                package.unit.clone(),
                package.amount_minor,
                Some(name.clone()),
                package.price.clone(),
            )
        }
        TopUpAmount::Amount { unit, amount_minor } => {
            let unit = match unit {
                Some(unit) => unit.clone(),
                None => only_unit(work)?,
            };
            (unit, *amount_minor, None, None)
        }
    };
    work.scale(&unit)?;
    if amount_minor <= 0 || amount_minor > MAX_AMOUNT_MINOR {
        return Err(LedgerError::invalid(format!(
            "a top-up must be positive and at most {}, not {}",
            crate::work::shown(work.book, &unit, MAX_AMOUNT_MINOR),
            crate::work::shown(work.book, &unit, amount_minor)
        )));
    }
    crate::caps::check_top_up(work, &unit, amount_minor)?;
    let kind = request.kind.clone().unwrap_or_else(|| policy.kind.clone());
    if kind == crate::account::OVERDRAFT_KIND {
        return Err(LedgerError::invalid(format!(
            "`{kind}` is not a credit kind for top-ups"
        )));
    }
    let expires_at = match request.expires_at {
        Some(at) if at <= work.now => {
            return Err(LedgerError::invalid(format!(
                "`expires_at` `{}` is not in the future",
                stamp(at)
            )));
        }
        Some(at) => Some(at),
        None => expiry_at(work, policy.expires, None, work.now)?,
    };
    let before = buckets::counted(work);
    let bucket_id = crate::ids::bucket(format!("top_up:{}", key(&request.id)));
    buckets::check_new(work, &bucket_id, &request.id)?;
    let repaid_minor = buckets::credit(
        work,
        Bucket {
            id: bucket_id.clone(),
            kind: kind.clone(),
            unit: unit.clone(),
            left_minor: amount_minor,
            held_minor: 0,
            granted_minor: amount_minor,
            expires_at,
            origin: Origin::TopUp {
                operation: request.id.clone(),
                package: package.clone(),
            },
            created_at: work.now,
            rollover: None,
            mergeable: false,
        },
    )?;
    work.push(
        Draft::new(
            format!("top_up:{}", key(&request.id)),
            EntryType::TopUp,
            work.now,
        )
        .unit(&unit, amount_minor)
        .body(priced(
            json!({
                "bucket": bucket_id,
                "kind": kind,
                "package": package,
                "expires_at": expires_at.map(stamp),
                "repaid_overdraft_minor": repaid_minor,
            }),
            price.as_ref(),
        )),
    )?;
    buckets::prune(work);
    buckets::check_growth(work, before)?;
    Ok(Outcome {
        amounts: vec![Amount {
            amount: work.decimal(&unit, amount_minor)?,
            unit: unit.clone(),
            amount_minor,
        }],
        paid_from: vec![Draw {
            bucket: bucket_id,
            kind,
            unit,
            amount_minor,
            expires_at,
        }],
        ..Outcome::default()
    })
}

/// The book's unit when it has exactly one.
///
/// # Errors
/// `invalid-input` when the book has several units and none was named.
pub(crate) fn only_unit(work: &Work<'_>) -> LedgerResult<String> {
    match work.book.units.as_slice() {
        [unit] => Ok(unit.name.clone()),
        _ => Err(LedgerError::invalid(format!(
            "rate book `{}` has several units: name the `unit`",
            work.book.name
        ))),
    }
}

/// Adds what a top-up by a priced package was sold for (its entry's `price`) to its
/// statement line, per currency.
pub(crate) fn record_price(
    line: &mut crate::statement::UnitStatement,
    entry: &crate::entry::Entry,
) -> LedgerResult<()> {
    let Some(price) = entry
        .body
        .get("price")
        .and_then(|price| serde_json::from_value::<credits_dsl::Money>(price.clone()).ok())
    else {
        return Ok(());
    };
    let slot = line.top_ups_paid_minor.entry(price.currency).or_default();
    *slot = crate::work::add(*slot, price.amount_minor)?;
    Ok(())
}

/// A top-up entry's body with the package's price, when it has one.
fn priced(mut body: serde_json::Value, price: Option<&credits_dsl::Money>) -> serde_json::Value {
    if let (Some(price), Some(fields)) = (price, body.as_object_mut()) {
        fields.insert("price".to_owned(), json!(price));
    }
    body
}
