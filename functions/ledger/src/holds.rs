//! Two-phase spending: hold an estimate, then capture the actual usage or release.
//!
//! A hold moves credits from `left` to `held` in the buckets it draws (in consumption
//! order); they stay the account's until captured. A capture charges the actual usage,
//! rated by the book, CAPPED at what the hold reserved in each unit: the estimate is the
//! most the client agreed to pay, so the part above it is not charged and is reported as
//! `uncaptured`. The rest of the reservation is released. Holds always reserve the paid
//! price, even for a feature whose first request is free; the capture decides whether the
//! request is the free one.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use credits_dsl::RatingContext;
use serde_json::json;

use crate::account::{AccountStatus, Draw, Hold};
use crate::admission::{self, model_of, seconds_until};
use crate::buckets::{self, DrawMode};
use crate::charge::{attribute, paid_draws, rated_outcome, spend_body};
use crate::command::{Attribution, Capture, Facts, HoldRequest, Release};
use crate::entry::EntryType;
use crate::limits::{MAX_HOLD_TTL_SECONDS, MAX_HOLDS, MAX_HOLDS_BYTES};
use crate::outcome::{Amount, Outcome};
use crate::release::release_draws;
use crate::work::{Draft, Work, add, key, stamp, sub};
use crate::{LedgerError, LedgerResult};

pub(crate) fn hold(
    work: &mut Work<'_>,
    request: &HoldRequest,
    facts: &Facts,
) -> LedgerResult<Outcome> {
    admission::check_can_spend(work)?;
    let feature = admission::feature(work.book, &request.usage.feature)?;
    admission::check_gates(work, &request.usage)?;
    admission::check_prior(feature, &request.attribution, facts)?;
    if request.ttl_seconds == 0 || request.ttl_seconds > MAX_HOLD_TTL_SECONDS {
        return Err(LedgerError::invalid(format!(
            "`ttl_seconds` must be between 1 and {MAX_HOLD_TTL_SECONDS}, not `{}`",
            request.ttl_seconds
        )));
    }
    if work.account.holds.iter().any(|hold| hold.id == request.id) {
        return Err(LedgerError::Conflict(format!(
            "hold `{}` is already open",
            request.id
        )));
    }
    let plan_limit = work
        .plan
        .limits
        .concurrent_holds
        .map_or(usize::MAX, |limit| {
            usize::try_from(limit).unwrap_or(usize::MAX)
        });
    if plan_limit < MAX_HOLDS && work.account.holds.len() >= plan_limit {
        let soonest = work.account.holds.iter().map(|hold| hold.expires_at).min();
        return Err(LedgerError::RateLimited {
            reason: format!(
                "account `{}` has {plan_limit} open holds, the plan's limit",
                work.account.id
            ),
            retry_after_seconds: soonest.map_or(1, |at| seconds_until(work.now, at)),
        });
    }
    if work.account.holds.len() >= MAX_HOLDS {
        return Err(LedgerError::limit(
            "holds",
            MAX_HOLDS,
            format!(
                "account `{}` has {MAX_HOLDS} open holds; capture or release one first",
                work.account.id
            ),
        ));
    }
    admission::admit_request(work)?;
    let rating = work.book.rate_on_plan(
        &request.usage,
        RatingContext {
            first_request: false,
        },
        Some(&work.account.plan.plan),
    )?;
    // A hold never reserves what a charge of the same price would be refused.
    crate::caps::check_request(work, &rating)?;
    crate::caps::check_spend_rating(work, &rating)?;
    let mut outcome = rated_outcome(work, &rating)?;
    let expires_at = work
        .now
        .checked_add_signed(TimeDelta::seconds(i64::from(request.ttl_seconds)))
        .ok_or(LedgerError::Overflow("time"))?;
    let mut all_draws = Vec::new();
    let mut drafts = Vec::new();
    for rated in &rating.amounts {
        let draws = buckets::draw(work, &rated.unit, rated.amount_minor, DrawMode::Reserve)?;
        drafts.push(
            Draft::new(
                format!("hold:{}:{}", key(&request.id), rated.unit),
                EntryType::Hold,
                work.now,
            )
            .unit(&rated.unit, 0)
            .body(json!({
                "hold": request.id,
                "reserved_minor": rated.amount_minor,
                "draws": draws,
                "expires_at": stamp(expires_at),
                "rates_version": rating.rates_version,
            })),
        );
        all_draws.extend(draws);
    }
    if drafts.is_empty() {
        drafts.push(
            Draft::new(
                format!("hold:{}", key(&request.id)),
                EntryType::Hold,
                work.now,
            )
            .body(json!({ "hold": request.id, "expires_at": stamp(expires_at) })),
        );
    }
    let model = model_of(&request.usage);
    for draft in drafts {
        work.push(attribute(
            draft,
            &feature.name,
            model.clone(),
            &request.attribution,
        ))?;
    }
    outcome.paid_from.clone_from(&all_draws);
    work.account.holds.push(Hold {
        id: request.id.clone(),
        feature: feature.name.clone(),
        model,
        usage: request.usage.clone(),
        rates_version: rating.rates_version.clone(),
        created_at: work.now,
        expires_at,
        draws: all_draws,
        project: request.attribution.project.clone(),
        member: request.attribution.member.clone(),
        content: request.attribution.content.clone(),
    });
    check_holds_bytes(work)?;
    Ok(outcome)
}

/// The open holds together stay within [`MAX_HOLDS_BYTES`] of JSON.
fn check_holds_bytes(work: &Work<'_>) -> LedgerResult<()> {
    let bytes = serde_json::to_vec(&work.account.holds)
        .map_err(|error| LedgerError::invariant(format!("unserialisable hold: {error}")))?
        .len();
    if bytes > MAX_HOLDS_BYTES {
        return Err(LedgerError::limit(
            "holds_bytes",
            MAX_HOLDS_BYTES,
            format!(
                "the open holds of account `{}` would take {bytes} bytes; capture or release one, or use shorter ids and tags",
                work.account.id
            ),
        ));
    }
    Ok(())
}

fn take_hold(work: &mut Work<'_>, id: &str) -> LedgerResult<Hold> {
    let index = work
        .account
        .holds
        .iter()
        .position(|hold| hold.id == id)
        .ok_or_else(|| LedgerError::NotFound {
            what: "open hold",
            id: id.to_owned(),
        })?;
    Ok(work.account.holds.remove(index))
}

fn hold_attribution(hold: &Hold) -> Attribution {
    Attribution {
        project: hold.project.clone(),
        member: hold.member.clone(),
        content: hold.content.clone(),
    }
}

pub(crate) fn capture(work: &mut Work<'_>, capture: &Capture) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let hold = take_hold(work, &capture.hold)?;
    let usage = capture.usage.clone().unwrap_or_else(|| hold.usage.clone());
    if usage.feature != hold.feature {
        return Err(LedgerError::invalid(format!(
            "hold `{}` is for `{}`, not `{}`",
            hold.id, hold.feature, usage.feature
        )));
    }
    let feature = admission::feature(work.book, &usage.feature)?;
    let first_request =
        feature.first_request_free && !work.account.free_used.contains(&feature.name);
    let rated = crate::job_outcome::rate(
        work.book,
        feature,
        &usage,
        capture.outcome,
        capture.usage.is_some(),
        first_request,
        &work.account.plan.plan,
    )?;
    let rating = rated.rating;
    if feature.first_request_free && rated.uses_free_request {
        crate::charge::mark_free_used(work, &feature.name)?;
    }
    let mut outcome = rated_outcome(work, &rating)?;
    let actual: BTreeMap<&str, i64> = rating
        .amounts
        .iter()
        .map(|rated| (rated.unit.as_str(), rated.amount_minor))
        .collect();
    let mut units: Vec<&str> = hold.draws.iter().map(|draw| draw.unit.as_str()).collect();
    units.extend(actual.keys());
    units.sort_unstable();
    units.dedup();

    let mut rest = Vec::new();
    let mut drafts = Vec::new();
    outcome.amounts.clear();
    for unit in units {
        let wanted = actual.get(unit).copied().unwrap_or(0);
        let mut to_capture = wanted;
        let mut taken = Vec::new();
        for draw in hold.draws.iter().filter(|draw| draw.unit == unit) {
            let take = draw.amount_minor.min(to_capture);
            if take > 0 {
                let bucket = work
                    .account
                    .buckets
                    .iter_mut()
                    .find(|bucket| bucket.id == draw.bucket)
                    .ok_or_else(|| {
                        LedgerError::invariant(format!("held bucket `{}` is gone", draw.bucket))
                    })?;
                bucket.held_minor = sub(bucket.held_minor, take)?;
                to_capture = sub(to_capture, take)?;
                taken.push(Draw {
                    amount_minor: take,
                    ..draw.clone()
                });
            }
            if draw.amount_minor > take {
                rest.push(Draw {
                    amount_minor: sub(draw.amount_minor, take)?,
                    ..draw.clone()
                });
            }
        }
        let captured = sub(wanted, to_capture)?;
        // The hold was checked against the spend limits; its capture is counted, never
        // refused (the spending was accepted when the hold was).
        crate::caps::record_spend(work, unit, captured)?;
        if to_capture > 0 {
            outcome.uncaptured.push(Amount {
                unit: unit.to_owned(),
                amount: work.decimal(unit, to_capture)?,
                amount_minor: to_capture,
            });
        }
        if captured > 0 {
            outcome.amounts.push(Amount {
                unit: unit.to_owned(),
                amount: work.decimal(unit, captured)?,
                amount_minor: captured,
            });
            let paid = paid_draws(work, &taken);
            let mut body = spend_body(&rating, &paid, &usage);
            if let Some(object) = body.as_object_mut() {
                object.insert("hold".to_owned(), json!(hold.id));
                object.insert("uncaptured_minor".to_owned(), json!(to_capture));
            }
            crate::job_outcome::record(&mut body, capture.outcome);
            drafts.push(
                Draft::new(
                    format!("capture:{}:{unit}", key(&capture.id)),
                    EntryType::Capture,
                    work.now,
                )
                .unit(
                    unit,
                    captured
                        .checked_neg()
                        .ok_or(LedgerError::Overflow("amount"))?,
                )
                .body(body),
            );
            outcome.paid_from.extend(taken);
        }
    }
    if drafts.is_empty() {
        drafts.push(
            Draft::new(
                format!("capture:{}", key(&capture.id)),
                EntryType::Capture,
                work.now,
            )
            .body({
                let mut body = spend_body(&rating, &[], &usage);
                crate::job_outcome::record(&mut body, capture.outcome);
                body
            }),
        );
    }
    let attribution = hold_attribution(&hold);
    for draft in drafts {
        work.push(attribute(
            draft,
            &hold.feature,
            model_of(&usage),
            &attribution,
        ))?;
    }
    let now = work.now;
    release_draws(work, &hold.id, &rest, now, "captured")?;
    // A capture within the credit line turns a reservation into a debt, which credits the
    // account received since must repay.
    for unit in hold
        .draws
        .iter()
        .map(|draw| draw.unit.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        buckets::settle_debt(work, unit)?;
    }
    buckets::prune(work);
    Ok(outcome)
}

pub(crate) fn release(work: &mut Work<'_>, release: &Release) -> LedgerResult<Outcome> {
    if work.account.status == AccountStatus::Closed {
        return Err(admission::closed(work));
    }
    let hold = take_hold(work, &release.hold)?;
    let now = work.now;
    release_draws(work, &hold.id, &hold.draws, now, "released")?;
    if hold.draws.is_empty() {
        work.push(
            Draft::new(
                format!("release:{}", key(&hold.id)),
                EntryType::Release,
                now,
            )
            .body(json!({ "hold": hold.id, "reason": "released" })),
        )?;
    }
    let mut per_unit: BTreeMap<String, i64> = BTreeMap::new();
    for draw in &hold.draws {
        let slot = per_unit.entry(draw.unit.clone()).or_default();
        *slot = add(*slot, draw.amount_minor)?;
    }
    let mut outcome = Outcome::default();
    for (unit, amount_minor) in per_unit {
        outcome.amounts.push(Amount {
            amount: work.decimal(&unit, amount_minor)?,
            unit,
            amount_minor,
        });
    }
    outcome.paid_from = hold.draws;
    outcome.rates_version = Some(hold.rates_version);
    buckets::prune(work);
    Ok(outcome)
}
