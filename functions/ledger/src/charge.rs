//! A charge: rate a usage and spend it at once, across units and buckets.

use chrono::{DateTime, TimeDelta, Utc};
use credits_dsl::Rating;
use serde_json::json;

use crate::account::Draw;
use crate::admission::{self, model_of};
use crate::buckets::{self, DrawMode};
use crate::command::{Attribution, Collect, Facts, PaidDraw, Spend};
use crate::entry::EntryType;
use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_FREE_USED};
use crate::outcome::{Amount, Outcome};
use crate::work::{Draft, Work, key, stamp};
use crate::{LedgerError, LedgerResult};

pub(crate) fn charge(work: &mut Work<'_>, spend: &Spend, facts: &Facts) -> LedgerResult<Outcome> {
    admission::check_can_spend(work)?;
    // Priced by the version in force when the usage happened; paid now (`docs/charges.md`).
    let book = match spend.occurred_at {
        Some(occurred_at) => {
            check_late_window(work, occurred_at)?;
            work.versions.at(occurred_at)
        }
        None => work.book,
    };
    let feature = admission::feature(book, &spend.usage.feature)?;
    admission::check_gates(work, &spend.usage)?;
    admission::check_prior(feature, &spend.attribution, facts)?;
    admission::admit_request(work)?;
    let first_request =
        feature.first_request_free && !work.account.free_used.contains(&feature.name);
    let rated = crate::job_outcome::rate(
        book,
        feature,
        &spend.usage,
        spend.outcome,
        true,
        first_request,
        &work.account.plan.plan,
    )?;
    let rating = rated.rating;
    crate::caps::check_request(work, &rating)?;
    crate::caps::check_spend_rating(work, &rating)?;
    if feature.first_request_free && rated.uses_free_request {
        mark_free_used(work, &feature.name)?;
    }
    let mut outcome = rated_outcome(work, &rating)?;
    outcome.occurred_at = spend.occurred_at;
    let mut drafts = Vec::new();
    for rated in &rating.amounts {
        let collected_minor = match spend.collect {
            Collect::All => rated.amount_minor,
            Collect::Available => rated
                .amount_minor
                .min(buckets::payable_minor(work, &rated.unit)?),
        };
        let shortfall_minor = rated
            .amount_minor
            .checked_sub(collected_minor)
            .ok_or(LedgerError::Overflow("amount"))?;
        let draws = buckets::draw(work, &rated.unit, collected_minor, DrawMode::Spend)?;
        crate::caps::record_spend(work, &rated.unit, collected_minor)?;
        let paid = paid_draws(work, &draws);
        let mut body = spend_body(&rating, &paid, &spend.usage);
        late_body(&mut body, spend.occurred_at);
        crate::job_outcome::record(&mut body, spend.outcome);
        if spend.collect == Collect::Available {
            outcome.shortfall.push(Amount {
                unit: rated.unit.clone(),
                amount: work.decimal(&rated.unit, shortfall_minor)?,
                amount_minor: shortfall_minor,
            });
            if let Some(fields) = body.as_object_mut() {
                fields.insert("rated_minor".to_owned(), json!(rated.amount_minor));
                fields.insert("shortfall_minor".to_owned(), json!(shortfall_minor));
            }
        }
        drafts.push(
            Draft::new(
                format!("charge:{}:{}", key(&spend.id), rated.unit),
                EntryType::Charge,
                work.now,
            )
            .unit(
                &rated.unit,
                collected_minor
                    .checked_neg()
                    .ok_or(LedgerError::Overflow("amount"))?,
            )
            .body(body),
        );
        outcome.paid_from.extend(draws);
    }
    if drafts.is_empty() {
        // A free (or zero) charge is still recorded: it spends the free first request and
        // proves the analysis of its content for features that require one.
        let mut body = spend_body(&rating, &[], &spend.usage);
        late_body(&mut body, spend.occurred_at);
        crate::job_outcome::record(&mut body, spend.outcome);
        drafts.push(
            Draft::new(
                format!("charge:{}", key(&spend.id)),
                EntryType::Charge,
                work.now,
            )
            .body(body),
        );
    }
    for draft in drafts {
        work.push(attribute(
            draft,
            &rating.feature,
            model_of(&spend.usage),
            &spend.attribution,
        ))?;
    }
    buckets::prune(work);
    Ok(outcome)
}

/// A charge's `occurred_at` must lie within the plan's `late usage within` window before
/// now, and not after the account existed; ahead of now by at most the clock skew tolerated
/// between instances (`docs/clocks.md`), since the caller's clock may run a little ahead.
///
/// # Errors
/// `invalid-input`, naming the window.
fn check_late_window(work: &Work<'_>, occurred_at: DateTime<Utc>) -> LedgerResult<()> {
    let skew = TimeDelta::milliseconds(MAX_CLOCK_SKEW_MS);
    let window = TimeDelta::seconds(i64::from(work.plan.late_usage_seconds.unwrap_or(0)));
    let latest = work
        .now
        .checked_add_signed(skew)
        .ok_or(LedgerError::Overflow("time"))?;
    let starts = work
        .now
        .checked_sub_signed(window)
        .ok_or(LedgerError::Overflow("time"))?;
    let earliest = starts
        .checked_sub_signed(skew)
        .ok_or(LedgerError::Overflow("time"))?;
    if occurred_at > latest {
        return Err(LedgerError::invalid(format!(
            "`occurred_at` `{}` is in the future: usage is charged once it happened (at most {} s ahead of the server's clock)",
            stamp(occurred_at),
            MAX_CLOCK_SKEW_MS / 1000
        )));
    }
    if occurred_at < earliest {
        let stated = match work.plan.late_usage_seconds {
            None => format!(
                "plan `{}` accepts no late usage (it states no `late usage within`)",
                work.plan.name
            ),
            Some(seconds) => format!(
                "plan `{}` accepts late usage within {} of when it happened",
                work.plan.name,
                window_text(seconds)
            ),
        };
        return Err(LedgerError::invalid(format!(
            "`occurred_at` `{}` is before the late usage window, which starts at `{}`: {stated}",
            stamp(occurred_at),
            stamp(starts)
        )));
    }
    if occurred_at < work.account.created_at {
        return Err(LedgerError::invalid(format!(
            "`occurred_at` `{}` is before account `{}` was created, at `{}`",
            stamp(occurred_at),
            work.account.id,
            stamp(work.account.created_at)
        )));
    }
    Ok(())
}

/// `3 days`, `12 hours`, as the plan states a window.
fn window_text(seconds: u32) -> String {
    match (seconds % 86_400, seconds / 86_400, seconds / 3_600) {
        (0, 1, _) => "1 day".to_owned(),
        (0, days, _) => format!("{days} days"),
        (_, _, 1) => "1 hour".to_owned(),
        (_, _, hours) => format!("{hours} hours"),
    }
}

/// Records when a late usage happened beside the entry's own instant (the commit's).
fn late_body(body: &mut serde_json::Value, occurred_at: Option<DateTime<Utc>>) {
    if let (Some(occurred_at), Some(fields)) = (occurred_at, body.as_object_mut()) {
        fields.insert("occurred_at".to_owned(), json!(occurred_at));
    }
}

/// The response data every rated operation shares.
pub(crate) fn rated_outcome(work: &Work<'_>, rating: &Rating) -> LedgerResult<Outcome> {
    let mut amounts = Vec::new();
    for rated in &rating.amounts {
        amounts.push(Amount {
            unit: rated.unit.clone(),
            amount: work.decimal(&rated.unit, rated.amount_minor)?,
            amount_minor: rated.amount_minor,
        });
    }
    Ok(Outcome {
        amounts,
        rates_version: Some(rating.rates_version.clone()),
        free: rating.free,
        lines: rating.lines.iter().map(|line| line.text.clone()).collect(),
        ..Outcome::default()
    })
}

/// Draws with enough of their buckets to recreate them on a refund. Must be called before
/// emptied buckets are pruned.
pub(crate) fn paid_draws(work: &Work<'_>, draws: &[Draw]) -> Vec<PaidDraw> {
    draws
        .iter()
        .map(|draw| {
            let bucket = work
                .account
                .buckets
                .iter()
                .find(|bucket| bucket.id == draw.bucket);
            PaidDraw {
                draw: draw.clone(),
                origin: bucket.map_or(crate::account::Origin::Overdraft, |bucket| {
                    bucket.origin.clone()
                }),
                rollover: bucket.and_then(|bucket| bucket.rollover.clone()),
                created_at: bucket.map_or(work.now, |bucket| bucket.created_at),
            }
        })
        .collect()
}

pub(crate) fn spend_body(
    rating: &Rating,
    paid: &[PaidDraw],
    usage: &credits_dsl::Usage,
) -> serde_json::Value {
    json!({
        "rates_version": rating.rates_version,
        "free": rating.free,
        "draws": paid,
        "lines": rating.lines.iter().map(|line| line.text.clone()).collect::<Vec<_>>(),
        "channel": usage.channel,
        "inputs": usage.inputs,
    })
}

pub(crate) fn attribute(
    mut draft: Draft,
    feature: &str,
    model: Option<String>,
    attribution: &Attribution,
) -> Draft {
    draft.feature = Some(feature.to_owned());
    draft.model = model;
    draft.project.clone_from(&attribution.project);
    draft.member.clone_from(&attribution.member);
    draft.content.clone_from(&attribution.content);
    draft
}

/// Records that the free first request of `feature` is used.
///
/// # Errors
/// `limit-reached` (`free_used`) when the account already records [`MAX_FREE_USED`]
/// features and this is a new one.
pub(crate) fn mark_free_used(work: &mut Work<'_>, feature: &str) -> LedgerResult<()> {
    let used = &mut work.account.free_used;
    if !used.contains(feature) && used.len() >= MAX_FREE_USED {
        return Err(LedgerError::limit(
            "free_used",
            MAX_FREE_USED,
            format!(
                "account `{}` has used the free first request of {MAX_FREE_USED} features, the most it records",
                work.account.id
            ),
        ));
    }
    used.insert(feature.to_owned());
    Ok(())
}
