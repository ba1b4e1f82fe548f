//! Why a decision was refused. Every variant has a stable [`LedgerError::code`] the HTTP API
//! turns into a problem `type`; messages are lowercase and put user input in backticks.

/// A refused decision. When `decide` returns one of these, nothing may be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The account cannot pay `needed_minor` of `unit` (available plus credit line).
    #[error(
        "insufficient credits: `{unit}` needs {needed_minor} minor units, {available_minor} available"
    )]
    InsufficientCredits {
        unit: String,
        needed_minor: i64,
        /// What could be spent: buckets plus the remaining credit line.
        available_minor: i64,
    },

    /// The feature is gated behind a subscription, or needs a prior analysis that is missing.
    #[error("{reason}")]
    FeatureNotAllowed { feature: String, reason: String },

    /// The account is suspended: spending is frozen.
    #[error("account `{account}` is suspended")]
    Suspended { account: String },

    /// The account is closed: nothing more can happen on it.
    #[error("account `{account}` is closed")]
    AccountClosed { account: String },

    /// The refund is outside the plan's policy (window, reason, amount left).
    #[error("{reason}")]
    RefundNotAllowed { reason: String },

    /// A top-up the plan's policy refuses (e.g. it needs an active subscription).
    #[error("{reason}")]
    TopUpNotAllowed { reason: String },

    /// The request is malformed for this account or book.
    #[error("{0}")]
    InvalidInput(String),

    /// A hold, charge, feature, plan or account that does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },

    /// The request conflicts with the account's state (e.g. closing with an overdue balance).
    #[error("{0}")]
    Conflict(String),

    /// Too many requests in the plan's window, or too many open holds.
    #[error("{reason}; retry in {retry_after_seconds} s")]
    RateLimited {
        reason: String,
        retry_after_seconds: u64,
    },

    /// The account is so far behind `now` that bringing it up to date does not fit in one
    /// commit. The shell commits [`crate::Command::Advance`] decisions until
    /// `Outcome::caught_up` is true, then retries the command.
    #[error("account `{account}` must be advanced to `{now}` first (it is at `{advanced_to}`)")]
    CatchUpRequired {
        account: String,
        advanced_to: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    },

    /// The time given is more than `limits::MAX_CLOCK_SKEW_MS` before the account's last
    /// decision: this caller's clock is behind the one that decided last. Within that skew,
    /// `decide` takes `now` as the account's last instant instead. Temporary: the refusal
    /// ends when this clock reaches the account's instant (or is corrected).
    #[error("`{now}` is before the account's last decision at `{advanced_to}`")]
    ClockBehind {
        now: chrono::DateTime<chrono::Utc>,
        advanced_to: chrono::DateTime<chrono::Utc>,
    },

    /// The command would make a collection of the account outgrow its limit (see
    /// `limits`): `limit` is its stable name (`buckets`, `holds`, ...), `max` its size.
    #[error("{detail} (limit `{limit}` is {max})")]
    LimitReached {
        limit: &'static str,
        max: usize,
        detail: String,
    },

    /// The charge (or hold) would spend more than the plan's `limit N UNIT per day|month|
    /// cycle` lets the account spend in the running period. Temporary: the next period
    /// counts from zero.
    #[error("{reason}")]
    SpendLimitReached {
        unit: String,
        reason: String,
        retry_after_seconds: u64,
    },

    /// The charge (or hold) costs more than the plan's `limit N UNIT per request`.
    #[error("{reason}")]
    RequestCapExceeded { unit: String, reason: String },

    /// The top-up would take the balance above the plan's `balance at most`.
    #[error("{reason}")]
    BalanceCapExceeded { unit: String, reason: String },

    /// An amount left the range of `i64` minor units.
    #[error("amount overflow in {0}")]
    Overflow(&'static str),

    /// The rate book could not rate the usage.
    #[error("{0}")]
    Rating(String),

    /// The rate book refuses the usage in its own words (`refuse "MESSAGE" when COND`,
    /// code `refused`), or prices it by a plan that was not given (`plan-required`).
    #[error("{message}")]
    RefusedByBook {
        feature: String,
        /// The stable refusal code: `refused` or `plan-required`.
        code: &'static str,
        message: String,
    },

    /// A broken internal invariant; a bug, reported instead of panicking.
    #[error("ledger invariant broken: {0}")]
    Invariant(String),
}

impl LedgerError {
    /// The stable problem type, e.g. `insufficient-credits`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InsufficientCredits { .. } => "insufficient-credits",
            Self::FeatureNotAllowed { .. } | Self::Suspended { .. } => "feature-not-allowed",
            Self::AccountClosed { .. } => "account-closed",
            Self::RefundNotAllowed { .. } => "refund-not-allowed",
            Self::TopUpNotAllowed { .. } => "topup-not-allowed",
            Self::InvalidInput(_) | Self::Rating(_) | Self::RefusedByBook { .. } => "invalid-input",
            Self::NotFound { .. } => "not-found",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate-limited",
            Self::CatchUpRequired { .. } => "catch-up-required",
            Self::ClockBehind { .. } => "clock-behind",
            Self::LimitReached { .. } => "limit-reached",
            Self::Overflow(_) => "overflow",
            Self::SpendLimitReached { .. } => "spend-limit-reached",
            Self::RequestCapExceeded { .. } => "request-cap-exceeded",
            Self::BalanceCapExceeded { .. } => "balance-cap-exceeded",
            Self::Invariant(_) => "internal",
        }
    }

    /// Seconds a client should wait before retrying, when the refusal is temporary.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
                ..
            }
            | Self::SpendLimitReached {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    pub(crate) fn limit(limit: &'static str, max: usize, detail: impl Into<String>) -> Self {
        Self::LimitReached {
            limit,
            max,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    pub(crate) fn invariant(message: impl Into<String>) -> Self {
        Self::Invariant(message.into())
    }
}

impl From<credits_dsl::rate::RateError> for LedgerError {
    fn from(error: credits_dsl::rate::RateError) -> Self {
        match error {
            credits_dsl::rate::RateError::UnknownFeature { feature, .. } => Self::NotFound {
                what: "feature",
                id: feature,
            },
            credits_dsl::rate::RateError::Refused { ref feature, .. }
            | credits_dsl::rate::RateError::PlanRequired { ref feature } => Self::RefusedByBook {
                feature: feature.clone(),
                code: error.refusal_code().unwrap_or("refused"),
                message: error.to_string(),
            },
            other => Self::Rating(other.to_string()),
        }
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_problem_types_of_the_api() {
        let insufficient = LedgerError::InsufficientCredits {
            unit: "credit".into(),
            needed_minor: 5,
            available_minor: 2,
        };
        assert_eq!(insufficient.code(), "insufficient-credits");
        assert_eq!(
            insufficient.to_string(),
            "insufficient credits: `credit` needs 5 minor units, 2 available"
        );
        assert_eq!(
            LedgerError::Suspended {
                account: "a".into()
            }
            .code(),
            "feature-not-allowed"
        );
        let limited = LedgerError::RateLimited {
            reason: "too many".into(),
            retry_after_seconds: 7,
        };
        assert_eq!(
            (limited.code(), limited.retry_after_seconds()),
            ("rate-limited", Some(7))
        );
        assert_eq!(LedgerError::invalid("x").retry_after_seconds(), None);
    }

    #[test]
    fn a_book_refusal_keeps_its_message_and_code() {
        let refused = LedgerError::from(credits_dsl::rate::RateError::Refused {
            feature: "video".into(),
            message: "fast mode is not available with batch".into(),
        });
        assert_eq!(refused.code(), "invalid-input");
        assert_eq!(refused.to_string(), "fast mode is not available with batch");
        assert!(matches!(
            refused,
            LedgerError::RefusedByBook {
                code: "refused",
                ..
            }
        ));
        let no_plan = LedgerError::from(credits_dsl::rate::RateError::PlanRequired {
            feature: "video".into(),
        });
        assert!(matches!(
            no_plan,
            LedgerError::RefusedByBook {
                code: "plan-required",
                ..
            }
        ));
    }
}
