//! The rate language's list of refusal codes (`expect … refused CODE`, a scenario step's
//! `refused CODE`) knows every problem type a decision can answer with, so a book can state
//! any refusal the ledger or the API produces.

use credits_api::ProblemType;
use credits_dsl::scenario::is_refusal_code;

/// Problem types about the transport, the key or the service, never about a decision a book
/// describes.
const NOT_DECISIONS: &[&str] = &[
    "idempotency-conflict",
    "unauthorized",
    "forbidden",
    "payload-too-large",
    "unsupported-media-type",
    "method-not-allowed",
    "unavailable",
    "internal",
    "not-implemented",
];

#[test]
fn every_decision_problem_type_is_a_refusal_code() {
    for problem in ProblemType::ALL {
        let slug = problem.slug();
        if NOT_DECISIONS.contains(&slug) {
            assert!(
                !is_refusal_code(slug),
                "`{slug}` is not a decision's refusal"
            );
            continue;
        }
        assert!(
            is_refusal_code(slug),
            "`{slug}` is missing from credits_dsl::scenario::REFUSAL_CODES"
        );
    }
}
