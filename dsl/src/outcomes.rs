//! How a job ended, and what each ending costs.
//!
//! A charge or a capture says how its job ended: `completed` (the default), `failed`,
//! `moderated` or `cancelled`. The set is fixed by the language, so that clients and every
//! book agree on the words. A feature states what an ending costs with `outcome OUTCOME
//! free|full|by usage`; an ending it does not state costs [`JobOutcome::default_charge`].
//! Rating stays pure and exact: an ending only chooses between the usual rating and
//! nothing.

use serde::{Deserialize, Serialize};

use crate::book::{Feature, RateBook, Rating, RatingContext, RatingLine, Usage};
use crate::rate::RateError;

/// How a job ended.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// The job did what was asked.
    #[default]
    Completed,
    /// The job failed on the platform's side.
    Failed,
    /// The job's input or output was refused by moderation.
    Moderated,
    /// The client stopped the job before it ended.
    Cancelled,
}

impl JobOutcome {
    /// Every outcome, in the order messages list them.
    pub const ALL: [JobOutcome; 4] = [
        JobOutcome::Completed,
        JobOutcome::Failed,
        JobOutcome::Moderated,
        JobOutcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Failed => "failed",
            JobOutcome::Moderated => "moderated",
            JobOutcome::Cancelled => "cancelled",
        }
    }

    /// The outcome spelt `word`.
    pub fn from_word(word: &str) -> Option<JobOutcome> {
        JobOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == word)
    }

    /// `` `completed`, `failed`, `moderated` or `cancelled` ``, for messages.
    pub fn allowed() -> String {
        let words: Vec<String> = JobOutcome::ALL
            .iter()
            .map(|outcome| format!("`{}`", outcome.as_str()))
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        crate::parse::join_or(&words)
    }

    pub fn is_completed(&self) -> bool {
        *self == JobOutcome::Completed
    }

    /// What an ending costs when the feature does not say: a completed or moderated job
    /// is charged in full (moderation ran the job), a failed one is free (the platform did
    /// not deliver), a cancelled one by the usage it reports so far.
    pub fn default_charge(self) -> OutcomeCharge {
        match self {
            JobOutcome::Completed | JobOutcome::Moderated => OutcomeCharge::Full,
            JobOutcome::Failed => OutcomeCharge::Free,
            JobOutcome::Cancelled => OutcomeCharge::ByUsage,
        }
    }
}

/// What a job ending one way costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeCharge {
    /// Nothing; the feature's free first request is not used up either.
    Free,
    /// As if the job had completed with the usage given (a capture without inputs: the
    /// estimate held).
    Full,
    /// The usage the charge or capture reports, which a capture must then give.
    ByUsage,
}

impl OutcomeCharge {
    /// As the language writes it.
    pub fn as_words(self) -> &'static str {
        match self {
            OutcomeCharge::Free => "free",
            OutcomeCharge::Full => "full",
            OutcomeCharge::ByUsage => "by usage",
        }
    }
}

/// `outcome OUTCOME CHARGE` of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRule {
    pub outcome: JobOutcome,
    pub charge: OutcomeCharge,
}

impl Feature {
    /// What a job of this feature ending with `outcome` costs: its `outcome` statement, or
    /// the outcome's default.
    pub fn outcome_charge(&self, outcome: JobOutcome) -> OutcomeCharge {
        self.outcomes
            .iter()
            .find(|rule| rule.outcome == outcome)
            .map_or_else(|| outcome.default_charge(), |rule| rule.charge)
    }
}

impl RateBook {
    /// Rates a usage whose job ended with `outcome`: the usual rating when the ending is
    /// charged (`full`, `by usage`), nothing when it is `free`. A non-completed ending adds
    /// a line saying how it was charged.
    ///
    /// # Errors
    /// As [`RateBook::rate`].
    pub fn rate_outcome(
        &self,
        usage: &Usage,
        outcome: JobOutcome,
        context: RatingContext,
        plan: Option<&str>,
    ) -> Result<Rating, RateError> {
        let feature = self.usage_feature(usage)?;
        let charge = feature.outcome_charge(outcome);
        let line = RatingLine {
            text: format!("outcome {}: {}", outcome.as_str(), charge.as_words()),
            unit: None,
            amount: None,
        };
        match charge {
            OutcomeCharge::Free => Ok(Rating {
                feature: feature.name.clone(),
                rates_version: self.rates_version.clone(),
                amounts: Vec::new(),
                lines: vec![line],
                free: false,
            }),
            OutcomeCharge::Full | OutcomeCharge::ByUsage => {
                let mut rating = self.rate_on_plan(usage, context, plan)?;
                if !outcome.is_completed() {
                    rating.lines.push(line);
                }
                Ok(rating)
            }
        }
    }
}
