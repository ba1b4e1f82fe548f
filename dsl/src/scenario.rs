//! Examples of policy, not only of prices: `expect … refused CODE` and `scenario` blocks.
//!
//! The language states them and `check` resolves every name, date and label in them; this
//! crate runs only the refused examples (edge validation and rating are pure). Scenarios
//! are run outside it, through the HTTP API over a temporary store with a clock the runner
//! moves (`credits rates test`, `docs/scenarios.md`), so they exercise the code the server
//! runs.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::book::{RateBook, RatingContext};
use crate::rate::RateError;
use crate::usage::RawValue;

/// Every code a request can be refused with: the edge validation's (`usage.rs`), the
/// rating's (`rate.rs`) and the ledger's and API's problem types. A `refused` code must be
/// one of them. The API's tests keep this list complete against its problem types
/// (`functions/api/tests/refusal_codes.rs`); a new refusal adds its code here.
pub const REFUSAL_CODES: &[&str] = &[
    // Edge validation (`UsageError::code`).
    "unknown-feature",
    "unknown-input",
    "missing-input",
    "duplicate-input",
    "unknown-channel",
    "unknown-choice",
    "invalid-quantity",
    "wrong-unit",
    "below-minimum",
    "above-maximum",
    "invalid-flag",
    "wrong-type",
    "value-not-allowed",
    // Rating (`RateError::code`).
    "missing-price",
    "rating-overflow",
    "refused",
    "plan-required",
    // The API's refusals of a request's own fields (`code` members of `invalid-input`).
    "unknown-outcome",
    "topup-below-minimum",
    "topup-off-step",
    "topup-packages-only",
    // The ledger's and the API's refusals (problem types).
    "insufficient-credits",
    "feature-not-allowed",
    "refund-not-allowed",
    "topup-not-allowed",
    "account-closed",
    "limit-reached",
    "hold-closed",
    "spend-limit-reached",
    "request-cap-exceeded",
    "balance-cap-exceeded",
    "rate-limited",
    "conflict",
    "not-found",
    "invalid-input",
];

/// Whether `code` is one a request can be refused with.
pub fn is_refusal_code(code: &str) -> bool {
    REFUSAL_CODES.contains(&code)
}

impl RateError {
    /// A stable, kebab-case code, as [`crate::usage::UsageError::code`].
    pub fn code(&self) -> &'static str {
        match self {
            RateError::NoPrice { .. } => "missing-price",
            RateError::Overflow { .. } => "rating-overflow",
            RateError::Refused { .. } => "refused",
            RateError::PlanRequired { .. } => "plan-required",
            // A checked book and a validated usage never meet these; a refusal is all the
            // caller learns.
            RateError::UnknownFeature { .. } => "unknown-feature",
            RateError::MissingInput { .. } => "missing-input",
            RateError::WrongValue { .. }
            | RateError::UnknownUnit { .. }
            | RateError::RoundingNotStated { .. }
            | RateError::TooManyUnits { .. }
            | RateError::InexactAmount { .. } => "invalid-input",
        }
    }
}

/// A request as the book writes it: the feature, the channel and each input's text as
/// written (`5h`, `250 words`, `pro`, `yes`), validated only when it is sent, as a client's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub feature: String,
    pub channel: Option<String>,
    pub inputs: Vec<(String, String)>,
}

impl Request {
    /// The inputs as a client sends them: each a string, read as the API reads one.
    pub fn raw_inputs(&self) -> Vec<(String, RawValue)> {
        self.inputs
            .iter()
            .map(|(name, text)| (name.clone(), RawValue::Text(text.clone())))
            .collect()
    }
}

/// `expect FEATURE(…) refused CODE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedExpect {
    pub request: Request,
    pub code: String,
    pub line: u32,
    pub source: String,
}

/// What a refused example came to: refused with a code, or rated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalOutcome {
    Refused { code: String, message: String },
    Charged(Vec<(String, Decimal)>),
}

impl RefusalOutcome {
    /// `refused above-maximum`, or `charged 15 credit`.
    pub fn describe(&self) -> String {
        match self {
            RefusalOutcome::Refused { code, .. } => format!("refused {code}"),
            RefusalOutcome::Charged(amounts) => {
                format!("charged {}", crate::expect::describe(amounts))
            }
        }
    }
}

/// Validates and rates a refused example's request as the API would before any ledger
/// decision: the edge validation, then rating.
pub fn refusal_outcome(book: &RateBook, request: &Request) -> RefusalOutcome {
    let usage = match book.usage(
        &request.feature,
        request.channel.as_deref(),
        &request.raw_inputs(),
    ) {
        Ok(usage) => usage,
        Err(error) => {
            return RefusalOutcome::Refused {
                code: error.code().to_owned(),
                message: error.to_string(),
            };
        }
    };
    match book.rate(&usage, RatingContext::default()) {
        Ok(rating) => {
            let mut amounts: Vec<(String, Decimal)> = rating
                .amounts
                .into_iter()
                .filter(|amount| !amount.amount.is_zero())
                .map(|amount| (amount.unit, amount.amount))
                .collect();
            amounts.sort_by(|left, right| left.0.cmp(&right.0));
            RefusalOutcome::Charged(amounts)
        }
        Err(error) => RefusalOutcome::Refused {
            code: error.code().to_owned(),
            message: error.to_string(),
        },
    }
}

/// The result of one refused example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalResult {
    /// Index into `book.refusals`.
    pub index: usize,
    pub actual: RefusalOutcome,
    pub passed: bool,
}

/// Runs every refused example of `book`.
pub fn run_refusals(book: &RateBook) -> Vec<RefusalResult> {
    book.refusals
        .iter()
        .enumerate()
        .map(|(index, refusal)| {
            let actual = refusal_outcome(book, &refusal.request);
            let passed =
                matches!(&actual, RefusalOutcome::Refused { code, .. } if *code == refusal.code);
            RefusalResult {
                index,
                actual,
                passed,
            }
        })
        .collect()
}

/// `scenario "NAME" on PLAN starting DATE { … }`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub plan: String,
    /// The first day, at midnight in the book's time zone (the book's `effective` when the
    /// file states none).
    pub start: NaiveDate,
    pub line: u32,
    pub steps: Vec<Step>,
}

/// One step, with the line and text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub line: u32,
    /// The step's canonical text (`charge image(model: pro) as c1`).
    pub source: String,
    pub action: Action,
    /// `refused CODE`: the step must be refused with this code.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Subscribe to the plan for `period` (`monthly`, `quarterly`, `yearly`), anchored now.
    Subscribe {
        period: String,
    },
    /// Buy `amount` of `unit`, as `kind` when given (else the plan's top-up kind).
    TopUp {
        amount: Decimal,
        unit: String,
        kind: Option<String>,
    },
    /// Buy one of the plan's packages.
    TopUpPackage {
        package: String,
    },
    /// `count` charges of `request`; `label` names the (single) charge for a refund.
    Charge {
        request: Request,
        count: u64,
        label: Option<String>,
        /// `= AMOUNT, ...`: what each charge must charge per unit (units not listed:
        /// nothing); empty when not stated.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        charged: Vec<(String, Decimal)>,
    },
    /// A hold of `request`, named `label` for its capture or release.
    Hold {
        request: Request,
        label: Option<String>,
    },
    Capture {
        hold: String,
    },
    Release {
        hold: String,
    },
    /// Refund the whole of the charge named `charge`.
    Refund {
        charge: String,
        reason: String,
    },
    /// Cancel the subscription (it runs to the end of its period).
    Cancel,
    /// Move the clock to midnight of `date` in the book's time zone.
    At {
        date: NaiveDate,
    },
    /// Each balance must be exactly as stated.
    Balance {
        expected: Vec<BalanceExpectation>,
    },
}

/// `[KIND] AMOUNT UNIT`: what is left of `kind` (every kind when `None`: what is available).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceExpectation {
    pub kind: Option<String>,
    pub unit: String,
    pub amount: Decimal,
}

impl BalanceExpectation {
    /// `allocation 12000 credit`, or `12000 credit available`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Some(kind) => format!("{kind} {} {}", self.amount.normalize(), self.unit),
            None => format!("{} {} available", self.amount.normalize(), self.unit),
        }
    }
}

/// At most this many scenarios in a book.
pub const MAX_SCENARIOS: usize = 64;
/// At most this many steps in a scenario.
pub const MAX_STEPS_PER_SCENARIO: usize = 256;
