//! `outcome OUTCOME free|full|by usage` in a feature: the outcome words, and each stated once.

use super::*;
use crate::outcomes::{JobOutcome, OutcomeCharge, OutcomeRule};

impl<'a> Checker<'a> {
    /// Lowers one `outcome` statement into `outcomes`, reporting an unknown word, a
    /// `completed` ending (always charged in full) and an ending stated twice.
    pub(super) fn outcome_decl(
        &mut self,
        outcome: Token<'a>,
        charge: Token<'a>,
        statement_span: Span,
        outcomes: &mut Vec<(OutcomeRule, Span)>,
    ) {
        let words: Vec<&str> = charge.text.split_whitespace().collect();
        let charge_value = match words.as_slice() {
            ["free"] => OutcomeCharge::Free,
            ["full"] => OutcomeCharge::Full,
            ["by", "usage"] => OutcomeCharge::ByUsage,
            // The grammar accepts nothing else; a missing token was already reported.
            _ => return,
        };
        let Some(outcome_value) = JobOutcome::from_word(outcome.text) else {
            let words: Vec<&str> = JobOutcome::ALL
                .iter()
                .map(|outcome| outcome.as_str())
                .collect();
            self.push(BookError::UnknownWord {
                what: "outcome",
                name: outcome.text.to_owned(),
                span: outcome.span.into(),
                help: did_you_mean(outcome.text, words.iter().copied(), || {
                    format!("a job ends {}", JobOutcome::allowed())
                }),
            });
            return;
        };
        if outcome_value.is_completed() {
            self.invalid_statement(
                statement_span,
                "a `completed` job is always charged in full".to_owned(),
                "not an outcome to state",
                "state what `failed`, `moderated` or `cancelled` jobs cost; `completed` is what the feature's prices say".to_owned(),
            );
            return;
        }
        if let Some((_, first)) = outcomes
            .iter()
            .find(|(rule, _)| rule.outcome == outcome_value)
        {
            let first = *first;
            self.repeated(
                format!("`outcome {}` is stated twice", outcome.text),
                first,
                outcome.span,
                format!(
                    "say once what a `{}` job costs: `free`, `full` or `by usage`",
                    outcome.text
                ),
            );
            return;
        }
        outcomes.push((
            OutcomeRule {
                outcome: outcome_value,
                charge: charge_value,
            },
            outcome.span,
        ));
    }
}
