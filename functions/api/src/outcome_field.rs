//! The `outcome` of a charge, capture or quote: how the job ended (`docs/charges.md`).

use credits_dsl::JobOutcome;

use crate::problem::Problem;
use crate::validate::display_id;

/// The `code` member of the problem answering an unknown outcome word.
pub const UNKNOWN_OUTCOME: &str = "unknown-outcome";

/// The outcome a request states; `completed` when it states none.
///
/// # Errors
/// `invalid-input` with `code` `unknown-outcome` and `field` `outcome`, naming the allowed
/// words.
pub fn parse(outcome: Option<&str>) -> Result<JobOutcome, Problem> {
    let Some(word) = outcome else {
        return Ok(JobOutcome::Completed);
    };
    JobOutcome::from_word(word).ok_or_else(|| {
        Problem::invalid(format!(
            "`outcome` `{}` is not an outcome: a job ends {}",
            display_id(word),
            JobOutcome::allowed()
        ))
        .with("field", "outcome")
        .with("code", UNKNOWN_OUTCOME)
    })
}

/// The outcome in the request hash: absent for `completed` (stated or not), so that requests
/// from before outcomes existed keep their hash, and `completed` equals no outcome.
pub fn canonical(outcome: Option<&str>) -> Option<&str> {
    outcome.filter(|word| *word != JobOutcome::Completed.as_str())
}

/// The outcome a response shows: the one the request stated, or `completed`.
pub fn shown(outcome: Option<&str>) -> String {
    parse(outcome).unwrap_or_default().as_str().to_owned()
}
