//! How a charged or captured job ended (`completed`, `failed`, `moderated`, `cancelled`),
//! and what that does to its rating and its entries (`docs/charges.md`, `docs/holds.md`).
//!
//! The rate book says what each ending costs ([`credits_dsl::OutcomeCharge`]): the usual
//! rating, or nothing. A job charged nothing for its ending does not use up the feature's
//! free first request. Entries of an ending other than `completed` record it in their body
//! (`"outcome": "failed"`), which statements sum per outcome.

use credits_dsl::{Feature, JobOutcome, OutcomeCharge, RateBook, Rating, RatingContext, Usage};
use serde_json::json;

use crate::entry::Entry;
use crate::statement::UnitStatement;
use crate::work::sub;
use crate::{LedgerError, LedgerResult};

/// A rating for a job that ended with `outcome`, and whether it used the free first request.
pub(crate) struct Rated {
    pub rating: Rating,
    pub uses_free_request: bool,
}

/// Rates `usage` of `feature` for a job that ended with `outcome`. `reported` says whether
/// the caller reported the usage (a charge always does; a capture when it gives `inputs`):
/// an ending charged `by usage` needs it.
///
/// # Errors
/// `invalid-input` for a `by usage` capture without its usage; rating errors.
pub(crate) fn rate(
    book: &RateBook,
    feature: &Feature,
    usage: &Usage,
    outcome: JobOutcome,
    reported: bool,
    first_request: bool,
    plan: &str,
) -> LedgerResult<Rated> {
    let charge = feature.outcome_charge(outcome);
    if charge == OutcomeCharge::ByUsage && !reported {
        return Err(LedgerError::invalid(format!(
            "a `{}` job of `{}` is charged by the usage so far: give it in `inputs`",
            outcome.as_str(),
            feature.name
        )));
    }
    let charged = charge != OutcomeCharge::Free;
    let rating = book.rate_outcome(
        usage,
        outcome,
        RatingContext {
            first_request: first_request && charged,
        },
        Some(plan),
    )?;
    Ok(Rated {
        rating,
        uses_free_request: charged,
    })
}

/// Records a job's ending in an entry body, when it is not `completed` (entries of
/// completed jobs stay as they always were).
pub(crate) fn record(body: &mut serde_json::Value, outcome: JobOutcome) {
    if let (false, Some(fields)) = (outcome.is_completed(), body.as_object_mut()) {
        fields.insert("outcome".to_owned(), json!(outcome));
    }
}

/// The ending an entry body records; `completed` when it records none.
pub(crate) fn of_body(body: &serde_json::Value) -> JobOutcome {
    body.get("outcome")
        .and_then(|outcome| serde_json::from_value(outcome.clone()).ok())
        .unwrap_or_default()
}

/// Adds a charge or capture entry of a job that did not complete to its statement line's
/// usage by outcome.
pub(crate) fn record_usage(line: &mut UnitStatement, entry: &Entry) -> LedgerResult<()> {
    let outcome = of_body(&entry.body);
    if outcome.is_completed() {
        return Ok(());
    }
    let slot = line
        .usage_by_outcome_minor
        .entry(outcome.as_str().to_owned())
        .or_default();
    *slot = sub(*slot, entry.amount_minor)?;
    Ok(())
}
