//! What rating adds for derived quantities, clamps, conditions on quantities, the plan and
//! the book's refusals: `quantity NAME = ...`, `maximum Q of INPUT`, `when context above
//! 200000 tokens`, `when plan is business`, `refuse "MESSAGE" when COND`.

use rust_decimal::Decimal;

use super::{RateError, Rater};
use crate::ast::CompareOp;
use crate::book::{Condition, DerivedOperator, DerivedQuantity, DerivedTerm, Feature, Test};

/// The name conditions test the account's plan by (`when plan is business`); no input may
/// take it.
pub const PLAN: &str = "plan";

impl<'a> Rater<'a> {
    /// The derived quantity called `name`, if it is one.
    pub(super) fn derived(&self, name: &str) -> Option<&'a DerivedQuantity> {
        self.feature
            .derived
            .iter()
            .find(|derived| derived.input.name == name)
    }

    /// A derived quantity's value: its terms (each input's one quantity, after its own
    /// minimum, maximum and round) summed or multiplied, checked.
    pub(super) fn derive(&self, derived: &DerivedQuantity) -> Result<Decimal, RateError> {
        let mut value = match derived.op {
            DerivedOperator::Sum => Decimal::ZERO,
            DerivedOperator::Product => Decimal::ONE,
        };
        for term in &derived.terms {
            let term = match term {
                DerivedTerm::Constant(constant) => *constant,
                DerivedTerm::Input(name) => {
                    let (_, input) = self.input(name)?;
                    self.fresh_quantity(input)?
                }
            };
            value = match derived.op {
                DerivedOperator::Sum => value.checked_add(term),
                DerivedOperator::Product => value.checked_mul(term),
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(value)
    }

    /// `maximum Q of INPUT [when COND]`: the quantity billed is at most the smallest
    /// maximum that applies.
    pub(super) fn clamp(&self, name: &str, quantity: Decimal) -> Decimal {
        self.feature
            .maximum_quantities
            .iter()
            .filter(|maximum| maximum.input == name && self.holds(&maximum.when))
            .fold(quantity, |quantity, maximum| quantity.min(maximum.quantity))
    }

    /// `INPUT above|below|at least|at most Q`, on the quantity every rule sees. A quantity
    /// that cannot be read (an input missing from a hand-built usage) passes no test.
    pub(super) fn compare(&self, name: &str, op: CompareOp, bound: Decimal) -> bool {
        self.input(name)
            .and_then(|(_, input)| self.fresh_quantity(input))
            .is_ok_and(|quantity| op.holds(quantity, bound))
    }

    /// The first `refuse` that holds, as an error; and a plan-dependent feature rated
    /// without a plan.
    pub(super) fn refuse(&self) -> Result<(), RateError> {
        if self.plan.is_none() && depends_on_plan(self.feature) {
            return Err(RateError::PlanRequired {
                feature: self.feature.name.clone(),
            });
        }
        match self
            .feature
            .refusals
            .iter()
            .find(|refusal| self.holds(&refusal.when))
        {
            Some(refusal) => Err(RateError::Refused {
                feature: self.feature.name.clone(),
                message: refusal.message.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Whether some rule, refusal, minimum or maximum of `feature` tests the plan.
pub fn depends_on_plan(feature: &Feature) -> bool {
    let names_plan = |condition: &Condition| {
        condition
            .all
            .iter()
            .any(|test| matches!(test, Test::OneOf { input, .. } if input == PLAN))
    };
    feature.rules.iter().any(|rule| names_plan(&rule.when))
        || feature
            .refusals
            .iter()
            .any(|refusal| names_plan(&refusal.when))
        || feature
            .minimum_quantities
            .iter()
            .any(|minimum| names_plan(&minimum.when))
        || feature
            .maximum_quantities
            .iter()
            .any(|maximum| names_plan(&maximum.when))
}

impl RateError {
    /// The stable, kebab-case code of a refusal (`refused`, `plan-required`), the one the
    /// API answers in its problem's `code` member; `None` for errors that are not refusals.
    pub fn refusal_code(&self) -> Option<&'static str> {
        match self {
            RateError::Refused { .. } => Some("refused"),
            RateError::PlanRequired { .. } => Some("plan-required"),
            _ => None,
        }
    }
}
