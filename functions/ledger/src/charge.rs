//! A charge: rate a usage and spend it at once, across units and buckets.

use credits_dsl::{Rating, RatingContext};
use serde_json::json;

use crate::account::Draw;
use crate::admission::{self, model_of};
use crate::buckets::{self, DrawMode};
use crate::command::{Attribution, Facts, PaidDraw, Spend};
use crate::entry::EntryType;
use crate::limits::MAX_FREE_USED;
use crate::outcome::{Amount, Outcome};
use crate::work::{Draft, Work, key};
use crate::{LedgerError, LedgerResult};

pub(crate) fn charge(work: &mut Work<'_>, spend: &Spend, facts: &Facts) -> LedgerResult<Outcome> {
    admission::check_can_spend(work)?;
    let feature = admission::feature(work.book, &spend.usage.feature)?;
    admission::check_gates(work, &spend.usage)?;
    admission::check_prior(feature, &spend.attribution, facts)?;
    admission::admit_request(work)?;
    let first_request =
        feature.first_request_free && !work.account.free_used.contains(&feature.name);
    let rating = work
        .book
        .rate(&spend.usage, RatingContext { first_request })?;
    if feature.first_request_free {
        mark_free_used(work, &feature.name)?;
    }
    let mut outcome = rated_outcome(work, &rating)?;
    let mut drafts = Vec::new();
    for rated in &rating.amounts {
        let draws = buckets::draw(work, &rated.unit, rated.amount_minor, DrawMode::Spend)?;
        let paid = paid_draws(work, &draws);
        drafts.push(
            Draft::new(
                format!("charge:{}:{}", key(&spend.id), rated.unit),
                EntryType::Charge,
                work.now,
            )
            .unit(
                &rated.unit,
                rated
                    .amount_minor
                    .checked_neg()
                    .ok_or(LedgerError::Overflow("amount"))?,
            )
            .body(spend_body(&rating, &paid, &spend.usage)),
        );
        outcome.paid_from.extend(draws);
    }
    if drafts.is_empty() {
        // A free (or zero) charge is still recorded: it spends the free first request and
        // proves the analysis of its content for features that require one.
        drafts.push(
            Draft::new(
                format!("charge:{}", key(&spend.id)),
                EntryType::Charge,
                work.now,
            )
            .body(spend_body(&rating, &[], &spend.usage)),
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
