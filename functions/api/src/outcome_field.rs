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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChargeRequest;
    use crate::service::{Operation, request_hash};

    fn charge(outcome: Option<&str>) -> String {
        let mut body = serde_json::json!({"id": "c1", "feature": "image", "inputs": {"images": 2}});
        if let Some(outcome) = outcome {
            body["outcome"] = serde_json::json!(outcome);
        }
        let request: ChargeRequest = serde_json::from_value(body).unwrap();
        request_hash("acme", &Operation::Charge(request))
    }

    #[test]
    fn the_outcome_is_part_of_the_request_hash_and_completed_is_none() {
        assert_eq!(charge(None), charge(Some("completed")));
        assert_ne!(charge(None), charge(Some("failed")));
        assert_ne!(charge(Some("failed")), charge(Some("cancelled")));
    }

    #[test]
    fn an_unknown_outcome_names_the_words() {
        let problem = parse(Some("canceled")).unwrap_err();
        let body = serde_json::to_value(problem.body()).unwrap();
        assert_eq!(body["code"], UNKNOWN_OUTCOME);
        assert_eq!(
            body["detail"],
            "`outcome` `canceled` is not an outcome: a job ends `completed`, `failed`, `moderated` or `cancelled`"
        );
        assert_eq!(parse(None).unwrap(), JobOutcome::Completed);
    }
}
