//! Bounded, jittered retries of the commit transaction.
//!
//! The SDK's own retries are switched off for `TransactWriteItems` so that this one loop owns
//! every attempt: it knows which cancellations are transient (a transaction conflict, a
//! throttled item) and which are answers (a failed condition, never retried), and it resends
//! the very same request with the same `ClientRequestToken`, so an attempt that landed but
//! whose response was lost is acknowledged by DynamoDB instead of being applied twice.

use std::time::Duration;

use rand::Rng;

/// Attempts per commit, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
const BASE_DELAY_MS: u64 = 20;
const MAX_DELAY_MS: u64 = 1_000;

/// The pause before attempt `attempt + 1` (so `attempt` ≥ 1): "full jitter", uniform in
/// `0..=min(cap, base · 2^attempt)`, which spreads competing writers apart best.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = BASE_DELAY_MS
        .saturating_mul(1_u64 << attempt.min(16))
        .min(MAX_DELAY_MS);
    Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
}

/// Cancellation reason codes that say "try again": nothing was decided about the data.
pub(crate) fn is_transient_reason(code: &str) -> bool {
    matches!(
        code,
        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
    )
}

/// Error codes of a whole request that say "try again".
pub(crate) fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "InternalServerError"
            | "ServiceUnavailable"
            | "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "TransactionInProgressException"
            | "TransactionConflictException"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= Duration::from_millis(MAX_DELAY_MS));
        }
        assert!(backoff(1) <= Duration::from_millis(2 * BASE_DELAY_MS));
    }

    #[test]
    fn a_failed_condition_is_never_transient() {
        assert!(!is_transient_reason("ConditionalCheckFailed"));
        assert!(!is_transient_reason("ValidationError"));
        assert!(is_transient_reason("TransactionConflict"));
    }
}
