//! Amounts a unit can store: the most expensive request a feature allows must fit its unit's
//! storage (integer minor units in an `i64` at the unit's scale), or every quote near the
//! `max` would fail. Each line is bounded with every quantity it reads at its largest (the
//! `max`, raised by a larger `minimum`, rounded up to the `round` step), tiers at their
//! dearest rate: a bound, never below what rating can reach.

use super::*;
use crate::literal;

/// What one line of a feature can charge at most, and the input whose `max` sets it.
struct LineBound<'s> {
    amount: Decimal,
    /// The inputs it reads, in the order written.
    inputs: Vec<&'s ScopeInput<'s>>,
}

/// The lowered statements of one feature that decide its largest quantities.
pub(super) struct Quantities<'s> {
    pub scope: &'s Scope<'s>,
    pub minimums: &'s [MinimumQuantity],
    pub roundings: &'s [(QuantityRounding, Span)],
    pub multipliers: &'s [(String, Span)],
    /// Factors on the feature's amount: those above 1 raise every line's bound (all of them
    /// may hold at once).
    pub factors: &'s [Factor],
}

impl Quantities<'_> {
    /// The largest quantity of `name` a rating can use; `None` when it has no `max`.
    fn largest(&self, name: &str) -> Option<Decimal> {
        let input = self.input(name)?;
        let mut quantity = match self.scope.derived.iter().find(|d| d.input.name == name) {
            Some(derived) => self.largest_derived(derived)?,
            None => input.input.max?,
        };
        for minimum in self.minimums.iter().filter(|minimum| minimum.input == name) {
            quantity = quantity.max(minimum.quantity);
        }
        for (rounding, _) in self
            .roundings
            .iter()
            .filter(|(rounding, _)| rounding.input == name)
        {
            if !rounding.step.is_zero() {
                let steps = quantity.checked_div(rounding.step)?.ceil();
                quantity = steps.saturating_mul(rounding.step);
            }
        }
        Some(quantity)
    }

    /// A derived quantity at its largest: its terms at theirs (each raised by its minimum and
    /// rounded up), added or multiplied; saturating, so that a sum too large to hold is
    /// reported as too large rather than skipped.
    fn largest_derived(&self, derived: &DerivedQuantity) -> Option<Decimal> {
        let mut total = match derived.op {
            DerivedOperator::Sum => Decimal::ZERO,
            DerivedOperator::Product => Decimal::ONE,
        };
        for term in &derived.terms {
            let value = match term {
                DerivedTerm::Constant(value) => *value,
                DerivedTerm::Input(name) => self.largest(name)?,
            };
            total = match derived.op {
                DerivedOperator::Sum => total.saturating_add(value),
                DerivedOperator::Product => total.saturating_mul(value),
            };
        }
        Some(total)
    }

    fn input(&self, name: &str) -> Option<&ScopeInput<'_>> {
        self.scope
            .inputs
            .iter()
            .find(|input| input.input.name == name)
    }

    /// The most one rule can charge; `None` when an input it reads has no `max`.
    fn line(&self, rule: &Rule) -> Option<LineBound<'_>> {
        let mut read: Vec<&str> = Vec::new();
        let mut amount = match &rule.price {
            Price::Each { amount } => *amount,
            Price::Per {
                amount,
                input,
                per,
                rounded,
            } => {
                read.push(input);
                let steps = self.largest(input)?.checked_div(*per)?;
                let steps = if rounded.is_some() {
                    steps.ceil()
                } else {
                    steps
                };
                amount.saturating_mul(steps)
            }
            Price::Tiers { input, tiers, .. } => {
                read.push(input);
                let dearest = tiers
                    .iter()
                    .filter_map(|tier| tier.amount.checked_div(tier.per))
                    .max()?;
                dearest.saturating_mul(self.largest(input)?)
            }
        };
        let counts = rule
            .times
            .iter()
            .chain(self.multipliers.iter().map(|(name, _)| name));
        for count in counts {
            read.push(count);
            amount = amount.saturating_mul(self.largest(count)?);
        }
        for factor in self.factors {
            if factor.factor > Decimal::ONE {
                amount = amount.saturating_mul(factor.factor);
            }
        }
        let inputs = read.iter().filter_map(|name| self.input(name)).collect();
        Some(LineBound { amount, inputs })
    }
}

impl<'a> Checker<'a> {
    /// Reports each line of a feature whose largest charge its unit cannot store.
    pub(super) fn amounts_fit(
        &mut self,
        feature: &str,
        rules: &[RuleInfo],
        quantities: &Quantities<'_>,
    ) {
        for info in rules {
            let Some(unit) = self.units.iter().find(|unit| unit.name == info.rule.unit) else {
                continue;
            };
            let (name, scale) = (unit.name, unit.scale);
            let Ok(storable) = Decimal::try_new(i64::MAX, scale) else {
                continue;
            };
            let Some(bound) = quantities.line(&info.rule) else {
                continue;
            };
            if bound.amount <= storable {
                continue;
            }
            let max = bound.inputs.first().map(|input| input.token.span.into());
            let at: Vec<String> = bound
                .inputs
                .iter()
                .filter_map(|input| {
                    let max = input.input.max?;
                    let max = literal::format_quantity(&input.input.kind, max);
                    Some(format!("`{}` at {max}", input.input.name))
                })
                .chain(
                    quantities
                        .factors
                        .iter()
                        .filter(|factor| factor.factor > Decimal::ONE)
                        .map(|factor| format!("`{}`", factor.source)),
                )
                .collect();
            let at = match at.as_slice() {
                [] => String::new(),
                [.., _] => format!("with {}, ", at.join(" and ")),
            };
            let shown = bound.amount.round_dp(scale).normalize();
            self.push(BookError::AmountTooLarge {
                message: format!(
                    "{at}one request of `{feature}` can cost more `{name}` than an account can hold"
                ),
                span: info.span.into(),
                price: format!("up to {shown} {name}"),
                max,
                help: format!(
                    "`unit {name} scale {scale}` holds at most {} {name}; lower the `max`, the price, or the unit's scale",
                    storable.normalize()
                ),
            });
        }
    }
}
