//! Modifiers on a feature's amount (`multiply by 0.5 when batch`, `add 30% when hd`): each
//! that holds multiplies every unit's summed amount, exactly, before the unit's rounding and
//! minimum charge. Factors compound by multiplication, so the order they are written in does
//! not change the amount; the explanation lists them in that order.

use crate::book::{Factor, RatingLine};
use crate::exact::Fraction;
use crate::literal;

use super::{Explain, RateError, Rater, push_amount};

/// The factors that hold for one usage, and their product.
pub(super) struct Applied<'a> {
    pub(super) factors: Vec<&'a Factor>,
    pub(super) product: Fraction,
}

impl<'a> Rater<'a> {
    /// The feature's factors that hold for this usage; `None` when none does.
    pub(super) fn factors(&self) -> Result<Option<Applied<'a>>, RateError> {
        let feature = self.feature;
        if feature.factors.is_empty() {
            return Ok(None);
        }
        let mut factors = Vec::new();
        let mut product: Option<Fraction> = None;
        for factor in &feature.factors {
            if !self.holds(&factor.when) {
                continue;
            }
            let value = self.exact(factor.factor)?;
            product = Some(match product {
                Some(product) => product.checked_mul(value).ok_or_else(|| self.overflow())?,
                None => value,
            });
            factors.push(factor);
        }
        Ok(product.map(|product| Applied { factors, product }))
    }

    /// `total` × the factors that hold, with a line per factor when explaining.
    pub(super) fn apply_factors(
        &self,
        unit: &str,
        total: Fraction,
        applied: Option<&Applied<'a>>,
        explain: Explain,
        lines: &mut Vec<RatingLine>,
    ) -> Result<Fraction, RateError> {
        let Some(applied) = applied else {
            return Ok(total);
        };
        if explain == Explain::AmountsOnly {
            return total
                .checked_mul(applied.product)
                .ok_or_else(|| self.overflow());
        }
        let mut running = total;
        for factor in &applied.factors {
            let before = self.shown(running)?;
            running = running
                .checked_mul(self.exact(factor.factor)?)
                .ok_or_else(|| self.overflow())?;
            let after = self.shown(running)?;
            lines.push(RatingLine {
                text: factor_text(factor, unit, before, after),
                unit: Some(unit.to_owned()),
                amount: Some(after),
            });
        }
        Ok(running)
    }
}

/// `add 30% when hd: credit 20 × 1.3 = 26`.
fn factor_text(
    factor: &Factor,
    unit: &str,
    before: rust_decimal::Decimal,
    after: rust_decimal::Decimal,
) -> String {
    let mut text = String::with_capacity(factor.source.len() + unit.len() + 32);
    text.push_str(&factor.source);
    text.push_str(": ");
    text.push_str(unit);
    text.push(' ');
    push_amount(&mut text, before);
    text.push_str(" × ");
    literal::push_decimal(&mut text, factor.factor);
    text.push_str(" = ");
    push_amount(&mut text, after);
    text
}
