//! Rating: what one usage of a feature costs, per unit, under one compiled rate book.
//!
//! The order is LANGUAGE.md's and nothing else: minimum quantities → quantity rounding →
//! each matching rule (base/add, `each`, `per` with proration and optional `rounded`,
//! graduated and volume tiers, `times`) → `multiply by` → sum per unit → the factors that hold
//! (`multiply by 0.5 when batch`, `add 30% when hd`; `rate/modifiers.rs`) → round per unit with
//! the stated mode and precision → minimum amount (only for units a rule charged) → first
//! request free. Amounts are exact fractions ([`crate::exact`]) from the first price to the
//! one stated rounding, so a quotient (proration, `per 3`, tiers) is never cut to 28 digits
//! before `times` or `multiply by` multiplies it; every operation is checked. Nothing here
//! uses floating point and nothing rounds implicitly.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::book::{
    Condition, Feature, Input, InputKind, InputValue, Plan, Price, QuantityDirection, RateBook,
    RatedAmount, Rating, RatingContext, RatingLine, RoundingMode, RuleRole, Test, Tier, TierMode,
    UnitDef, Usage,
};
use crate::exact::Fraction;
use crate::literal;

mod derived;
mod modifiers;
pub use derived::{PLAN, depends_on_plan};

/// Why a usage could not be rated. With a checked book and a usage from
/// [`RateBook::usage`], only `Overflow` can happen, and only for absurd quantities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum RateError {
    #[error("`{feature}` is not a feature of this rate book")]
    #[diagnostic(
        code(rating::unknown_feature),
        help("the book's features are: {known}")
    )]
    UnknownFeature { feature: String, known: String },

    #[error("input `{input}` of `{feature}` is missing")]
    #[diagnostic(
        code(rating::missing_input),
        help("give `{input}` a value; it has no default")
    )]
    MissingInput { feature: String, input: String },

    #[error("input `{input}` of `{feature}` needs {expected}")]
    #[diagnostic(code(rating::invalid_input))]
    WrongValue {
        feature: String,
        input: String,
        expected: &'static str,
    },

    #[error("no price of `{feature}` in `{unit}` matches this usage")]
    #[diagnostic(
        code(rating::missing_price),
        help("the rate book needs a `base` line for this combination")
    )]
    NoPrice { feature: String, unit: String },

    #[error("rating `{feature}` overflowed")]
    #[diagnostic(
        code(rating::overflow),
        help("a quantity or price is too large to rate exactly; use smaller quantities")
    )]
    Overflow { feature: String },

    #[error("`{unit}` is not a unit of this rate book")]
    #[diagnostic(code(rating::unknown_unit))]
    UnknownUnit { unit: String },

    #[error("the rounding of `{unit}` in `{feature}` is not stated")]
    #[diagnostic(
        code(rating::rounding_not_stated),
        help("write `round {unit} to PRECISION MODE`")
    )]
    RoundingNotStated { feature: String, unit: String },

    #[error("`{feature}` charges more units than a rating can track")]
    #[diagnostic(
        code(rating::too_many_units),
        help("a feature charges at most 64 units")
    )]
    TooManyUnits { feature: String },

    /// A `refuse "MESSAGE" when COND` of the book holds for this usage.
    #[error("{message}")]
    #[diagnostic(
        code(rating::refused),
        help("the rate book refuses this usage of `{feature}`")
    )]
    Refused { feature: String, message: String },

    /// The feature's price or refusals depend on the account's plan and none was given.
    #[error("the price of `{feature}` depends on the plan and no plan was given")]
    #[diagnostic(
        code(rating::plan_required),
        help("name the account's plan (`plan: NAME` in an example, `--plan` in a quote)")
    )]
    PlanRequired { feature: String },

    #[error("`{amount}` {unit} is not a whole number of minor units")]
    #[diagnostic(
        code(rating::inexact_amount),
        help("round `{unit}` to a precision no finer than its scale")
    )]
    InexactAmount { unit: String, amount: Decimal },
}

impl RateBook {
    /// The feature called `name`.
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|feature| feature.name == name)
    }

    /// The plan called `name`.
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|plan| plan.name == name)
    }

    /// The unit called `name`.
    pub fn unit(&self, name: &str) -> Option<&UnitDef> {
        self.units.iter().find(|unit| unit.name == name)
    }

    /// Rates one usage: the amount per unit, rounded as the book states, with an explanation
    /// line per rule that applied.
    ///
    /// # Errors
    /// An unknown feature, a missing or mistyped input (a usage not built by
    /// [`RateBook::usage`]), or arithmetic overflow on absurd quantities. Never panics.
    pub fn rate(&self, usage: &Usage, context: RatingContext) -> Result<Rating, RateError> {
        self.rate_explained(usage, context, None, Explain::Lines)
    }

    /// [`RateBook::rate`] for an account on `plan`: `when plan is NAME` conditions test it,
    /// and a feature whose rules or refusals name a plan needs one
    /// ([`RateError::PlanRequired`] otherwise).
    ///
    /// # Errors
    /// As [`RateBook::rate`], and [`RateError::Refused`] when a `refuse` of the book holds.
    pub fn rate_on_plan(
        &self,
        usage: &Usage,
        context: RatingContext,
        plan: Option<&str>,
    ) -> Result<Rating, RateError> {
        self.rate_explained(usage, context, plan, Explain::Lines)
    }

    /// [`RateBook::rate_amounts`] for an account on `plan` (see [`RateBook::rate_on_plan`]).
    ///
    /// # Errors
    /// As [`RateBook::rate_on_plan`].
    pub fn rate_amounts_on_plan(
        &self,
        usage: &Usage,
        context: RatingContext,
        plan: Option<&str>,
    ) -> Result<Rating, RateError> {
        self.rate_explained(usage, context, plan, Explain::AmountsOnly)
    }

    /// [`RateBook::rate`] without the explanation: the same amounts, `free` and version,
    /// with `lines` left empty. For charges, where nobody reads the lines and formatting
    /// them would cost as much as the rating itself.
    ///
    /// # Errors
    /// As [`RateBook::rate`].
    pub fn rate_amounts(&self, usage: &Usage, context: RatingContext) -> Result<Rating, RateError> {
        self.rate_explained(usage, context, None, Explain::AmountsOnly)
    }

    /// The feature `usage` names, or [`RateError::UnknownFeature`].
    pub(crate) fn usage_feature(&self, usage: &Usage) -> Result<&Feature, RateError> {
        self.feature(&usage.feature)
            .ok_or_else(|| RateError::UnknownFeature {
                feature: usage.feature.clone(),
                known: self.feature_names(),
            })
    }

    /// The one body of the four entry points above: the feature looked up, rated on `plan`
    /// (`None` rates without one), explained or not.
    fn rate_explained(
        &self,
        usage: &Usage,
        context: RatingContext,
        plan: Option<&str>,
        explain: Explain,
    ) -> Result<Rating, RateError> {
        let feature = self.usage_feature(usage)?;
        Rater::new(self, feature, usage)
            .on_plan(plan)
            .rate(context, explain)
    }

    /// Whether `condition` holds for `usage` (choices, flags and the channel, the book's
    /// default channel when the usage names none).
    pub fn condition_holds(&self, condition: &Condition, usage: &Usage) -> bool {
        match self.feature(&usage.feature) {
            Some(feature) => Rater::new(self, feature, usage).holds(condition),
            None => false,
        }
    }

    /// Whether `plan` gates this usage behind an active subscription
    /// (`requires subscription for FEATURE [when COND]`).
    pub fn requires_subscription(&self, plan: &Plan, usage: &Usage) -> bool {
        plan.gates
            .iter()
            .any(|gate| gate.feature == usage.feature && self.condition_holds(&gate.when, usage))
    }

    pub(crate) fn feature_names(&self) -> String {
        let names: Vec<String> = self
            .features
            .iter()
            .map(|feature| format!("`{}`", feature.name))
            .collect();
        names.join(", ")
    }
}

/// The strategy `rust_decimal` names for each of the book's rounding modes; spelled out so
/// that no call ever falls back to `round_dp`'s banker's rounding.
pub fn strategy(mode: RoundingMode) -> RoundingStrategy {
    match mode {
        RoundingMode::Up => RoundingStrategy::AwayFromZero,
        RoundingMode::Down => RoundingStrategy::ToZero,
        RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
        RoundingMode::HalfDown => RoundingStrategy::MidpointTowardZero,
    }
}

/// Rounds `amount` to a multiple of `precision` (`0.01`, `1`, `0.05`, `10`) with `mode`.
///
/// Powers of ten below or at one round in place; any other step is counted exactly (a
/// fraction, never a 28-digit quotient) and multiplied back. Returns `None` on overflow or a
/// zero/negative precision.
pub fn round_amount(amount: Decimal, precision: Decimal, mode: RoundingMode) -> Option<Decimal> {
    if precision <= Decimal::ZERO {
        return None;
    }
    // 0.01 is mantissa 1 at scale 2; 1 is mantissa 1 at scale 0.
    let normalized = precision.normalize();
    if normalized.mantissa() == 1 {
        return Some(amount.round_dp_with_strategy(normalized.scale(), strategy(mode)));
    }
    Fraction::from_decimal(amount)?
        .round_to(precision, mode)
        .map(|(rounded, _)| rounded)
}

/// Rounds a quantity to a multiple of `step` in `direction` (`Nearest`: halves go up).
pub fn round_quantity(
    quantity: Decimal,
    step: Decimal,
    direction: QuantityDirection,
) -> Option<Decimal> {
    if step <= Decimal::ZERO {
        return None;
    }
    let mode = direction_mode(direction);
    // Rounding to whole seconds or words is the common case: no division needed.
    if step == Decimal::ONE {
        return Some(quantity.round_dp_with_strategy(0, strategy(mode)));
    }
    Fraction::from_decimal(quantity)?
        .round_to(step, mode)
        .map(|(rounded, _)| rounded)
}

/// A quantity direction as the amount rounding mode that rounds the same way (`nearest`:
/// halves go up).
fn direction_mode(direction: QuantityDirection) -> RoundingMode {
    match direction {
        QuantityDirection::Up => RoundingMode::Up,
        QuantityDirection::Down => RoundingMode::Down,
        QuantityDirection::Nearest => RoundingMode::HalfUp,
    }
}

/// Whether a rating writes its explanation lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Explain {
    Lines,
    AmountsOnly,
}

/// Inputs whose rounded quantity is remembered during one rating; a feature has a handful.
const CACHED_INPUTS: usize = 8;

/// Units of one feature whose exact totals are kept without allocating.
const INLINE_UNITS: usize = 4;

/// Units of one feature tracked in the per-unit bit sets below.
const MAX_FEATURE_UNITS: usize = 64;

/// One rating in progress: the book, the feature and the usage, borrowed, and the quantities
/// already read (after minimums and rounding), by input position.
struct Rater<'a> {
    book: &'a RateBook,
    feature: &'a Feature,
    usage: &'a Usage,
    /// The account's plan, for `when plan is NAME`; `None` when rating without one.
    plan: Option<&'a str>,
    quantities: [Option<Decimal>; CACHED_INPUTS],
}

/// A rule's exact amount before `times` and `multiply by`, and the quantity it was computed
/// on.
struct Priced<'a> {
    amount: Fraction,
    quantity: Option<(&'a Input, Decimal)>,
}

impl<'a> Rater<'a> {
    fn new(book: &'a RateBook, feature: &'a Feature, usage: &'a Usage) -> Self {
        Rater {
            book,
            feature,
            usage,
            plan: None,
            quantities: [None; CACHED_INPUTS],
        }
    }

    fn on_plan(mut self, plan: Option<&'a str>) -> Self {
        self.plan = plan;
        self
    }

    fn overflow(&self) -> RateError {
        RateError::Overflow {
            feature: self.feature.name.clone(),
        }
    }

    fn rate(&mut self, context: RatingContext, explain: Explain) -> Result<Rating, RateError> {
        let feature = self.feature;
        if feature.units.len() > MAX_FEATURE_UNITS {
            return Err(RateError::TooManyUnits {
                feature: feature.name.clone(),
            });
        }
        // One exact total per unit the feature can charge (already sorted by name), and
        // bit sets by unit position: which units a rule charged (a minimum charge applies
        // only to those), which have base lines, and which had a base line match.
        // Most features charge one or two units: their totals stay on the stack.
        let mut inline_totals = [Fraction::ZERO; INLINE_UNITS];
        let mut heap_totals = Vec::new();
        let exact_totals: &mut [Fraction] = match inline_totals.get_mut(..feature.units.len()) {
            Some(inline) => inline,
            None => {
                heap_totals.resize(feature.units.len(), Fraction::ZERO);
                &mut heap_totals
            }
        };
        let mut charged: u64 = 0;
        let mut has_base: u64 = 0;
        let mut base_matched: u64 = 0;
        let mut lines: Vec<RatingLine> = match explain {
            Explain::Lines => Vec::with_capacity(feature.rules.len() + 1),
            Explain::AmountsOnly => Vec::new(),
        };

        self.refuse()?;
        let multiplier = self.multiplier()?;

        for rule in &feature.rules {
            let slot = feature
                .units
                .iter()
                .position(|unit| *unit == rule.unit)
                .ok_or_else(|| RateError::UnknownUnit {
                    unit: rule.unit.clone(),
                })?;
            let bit = 1u64 << slot;
            let base = rule.role == RuleRole::Base;
            if base {
                has_base |= bit;
            }
            if !self.holds(&rule.when) {
                continue;
            }
            let priced = self.price(&rule.price, explain)?;
            let mut contribution = priced.amount;
            if let Some(times) = &rule.times {
                let count = self.adjusted(times)?;
                let count = self.exact(count)?;
                contribution = contribution
                    .checked_mul(count)
                    .ok_or_else(|| self.overflow())?;
            }
            if let Some(multiplier) = multiplier {
                contribution = contribution
                    .checked_mul(self.exact(multiplier)?)
                    .ok_or_else(|| self.overflow())?;
            }
            let total = exact_totals.get_mut(slot).ok_or_else(|| self.overflow())?;
            *total = total
                .checked_add(contribution)
                .ok_or_else(|| self.overflow())?;
            charged |= bit;
            if base {
                base_matched |= bit;
            }
            if explain == Explain::Lines {
                let shown = self.shown(contribution)?;
                lines.push(RatingLine {
                    text: rule_text(rule, priced.quantity, multiplier, shown),
                    unit: Some(rule.unit.clone()),
                    amount: Some(shown),
                });
            }
        }

        // A unit with base lines must have had one match: `check` guarantees it for
        // compiled books; this keeps hand-built ones honest.
        let unpriced = has_base & !base_matched;
        if unpriced != 0 {
            let slot = usize::try_from(unpriced.trailing_zeros()).unwrap_or(0);
            return Err(RateError::NoPrice {
                feature: feature.name.clone(),
                unit: feature.units.get(slot).cloned().unwrap_or_default(),
            });
        }

        let applied = self.factors()?;
        let mut amounts: Vec<RatedAmount> = Vec::with_capacity(feature.units.len());
        for (slot, (unit, exact)) in feature.units.iter().zip(exact_totals.iter()).enumerate() {
            // Modifiers on the summed amount of a unit a rule charged, before the one
            // rounding and the minimum charge.
            let exact = &if charged & (1u64 << slot) != 0 {
                self.apply_factors(unit, *exact, applied.as_ref(), explain, &mut lines)?
            } else {
                *exact
            };
            let definition = self
                .book
                .unit(unit)
                .ok_or_else(|| RateError::UnknownUnit { unit: unit.clone() })?;
            let (precision, mode) = self.amount_rounding(definition)?;
            // The unit's own scale when the feature states no precision: 10^-scale.
            let precision = precision.unwrap_or_else(|| Decimal::new(1, definition.scale.min(28)));
            let (rounded, unchanged) = exact
                .round_to(precision, mode)
                .ok_or_else(|| self.overflow())?;
            let mut total = RatedAmount {
                unit: unit.clone(),
                amount: rounded,
                amount_minor: 0,
            };
            if explain == Explain::Lines && !unchanged {
                lines.push(RatingLine {
                    text: rounding_text(unit, self.shown(*exact)?, precision, mode, rounded),
                    unit: Some(unit.clone()),
                    amount: Some(rounded),
                });
            }
            if charged & (1u64 << slot) != 0 {
                let minimum = feature
                    .minimum_amounts
                    .iter()
                    .find(|minimum| minimum.unit == total.unit);
                if let Some(minimum) = minimum.filter(|minimum| total.amount < minimum.amount) {
                    total.amount = minimum.amount;
                    if explain == Explain::Lines {
                        lines.push(RatingLine {
                            text: minimum_text(&total.unit, minimum.amount),
                            unit: Some(total.unit.clone()),
                            amount: Some(minimum.amount),
                        });
                    }
                }
            }
            total.amount_minor = self.minor(definition, total.amount)?;
            amounts.push(total);
        }

        let free = feature.first_request_free && context.first_request;
        if free {
            amounts.clear();
            if explain == Explain::Lines {
                lines.push(RatingLine {
                    text: "first request free: nothing charged".to_owned(),
                    unit: None,
                    amount: None,
                });
            }
        }
        amounts.retain(|amount| !amount.amount.is_zero());
        Ok(Rating {
            feature: feature.name.clone(),
            rates_version: self.book.rates_version.clone(),
            amounts,
            lines,
            free,
        })
    }

    fn exact(&self, value: Decimal) -> Result<Fraction, RateError> {
        Fraction::from_decimal(value).ok_or_else(|| self.overflow())
    }

    /// An exact amount as a decimal for an explanation line (cut after 28 digits).
    fn shown(&self, amount: Fraction) -> Result<Decimal, RateError> {
        amount.to_decimal().ok_or_else(|| self.overflow())
    }

    /// The product of every `multiply by` count (after its minimum and rounding), or `None`
    /// when there is none.
    fn multiplier(&mut self) -> Result<Option<Decimal>, RateError> {
        let mut product: Option<Decimal> = None;
        let feature = self.feature;
        for name in &feature.multipliers {
            let count = self.adjusted(name)?;
            product = Some(match product {
                Some(value) => value.checked_mul(count).ok_or_else(|| self.overflow())?,
                None => count,
            });
        }
        Ok(product)
    }

    /// The position and definition of the input (or derived quantity, after the inputs)
    /// called `name`.
    fn input(&self, name: &str) -> Result<(usize, &'a Input), RateError> {
        self.feature
            .inputs
            .iter()
            .chain(self.feature.derived.iter().map(|derived| &derived.input))
            .enumerate()
            .find(|(_, input)| input.name == name)
            .ok_or_else(|| RateError::MissingInput {
                feature: self.feature.name.clone(),
                input: name.to_owned(),
            })
    }

    /// The value given for `name`, or the input's default.
    fn value(&self, name: &str) -> Option<&'a InputValue> {
        self.usage.inputs.get(name).or_else(|| {
            self.feature
                .inputs
                .iter()
                .find(|input| input.name == name)
                .and_then(|input| input.default.as_ref())
        })
    }

    fn count(&self, name: &str) -> Result<Decimal, RateError> {
        match self.value(name) {
            Some(InputValue::Quantity(value)) => Ok(*value),
            Some(_) => Err(RateError::WrongValue {
                feature: self.feature.name.clone(),
                input: name.to_owned(),
                expected: "a quantity",
            }),
            None => Err(RateError::MissingInput {
                feature: self.feature.name.clone(),
                input: name.to_owned(),
            }),
        }
    }

    /// The quantity of the input called `name` after its minimums and rounding: every use of
    /// an input (`per … of`, tiers, `times`, `multiply by`) sees this one quantity.
    fn adjusted(&mut self, name: &str) -> Result<Decimal, RateError> {
        let (position, input) = self.input(name)?;
        self.quantity(position, input)
    }

    /// The quantity of an input after minimums and quantity rounding, computed once.
    fn quantity(&mut self, position: usize, input: &Input) -> Result<Decimal, RateError> {
        if let Some(Some(known)) = self.quantities.get(position) {
            return Ok(*known);
        }
        let quantity = self.fresh_quantity(input)?;
        if let Some(slot) = self.quantities.get_mut(position) {
            *slot = Some(quantity);
        }
        Ok(quantity)
    }

    /// The quantity of an input (or derived quantity) after its minimums, its maximum and
    /// its rounding, without the cache: conditions on quantities read it through `&self`.
    fn fresh_quantity(&self, input: &Input) -> Result<Decimal, RateError> {
        let name = input.name.as_str();
        let mut quantity = match self.derived(name) {
            Some(derived) => self.derive(derived)?,
            None => self.count(name)?,
        };
        for minimum in &self.feature.minimum_quantities {
            if minimum.input == name && quantity < minimum.quantity && self.holds(&minimum.when) {
                quantity = minimum.quantity;
            }
        }
        quantity = self.clamp(name, quantity);
        for rounding in &self.feature.quantity_rounding {
            if rounding.input == name {
                quantity = round_quantity(quantity, rounding.step, rounding.direction)
                    .ok_or_else(|| self.overflow())?;
            }
        }
        Ok(quantity)
    }

    fn price(&mut self, price: &'a Price, explain: Explain) -> Result<Priced<'a>, RateError> {
        match price {
            Price::Each { amount } => Ok(Priced {
                amount: self.exact(*amount)?,
                quantity: None,
            }),
            Price::Per {
                amount,
                input,
                per,
                rounded,
            } => {
                let (position, definition) = self.input(input)?;
                let quantity = self.quantity(position, definition)?;
                let amount = self.exact(*amount)?;
                let (value, used) = match rounded {
                    // `per minute rounded up`: whole steps of `per`, each at `amount`.
                    Some(direction) => {
                        let steps = round_steps(quantity, *per, *direction)
                            .ok_or_else(|| self.overflow())?;
                        let value = amount
                            .checked_mul(Fraction::whole(steps))
                            .ok_or_else(|| self.overflow())?;
                        // The rounded quantity is only shown, never computed with.
                        let used = match explain {
                            Explain::Lines => Decimal::try_from_i128_with_scale(steps, 0)
                                .ok()
                                .and_then(|steps| steps.checked_mul(*per))
                                .ok_or_else(|| self.overflow())?,
                            Explain::AmountsOnly => quantity,
                        };
                        (value, used)
                    }
                    // Proration: amount × quantity ÷ per, exactly.
                    None => (self.prorate(amount, quantity, *per)?, quantity),
                };
                Ok(Priced {
                    amount: value,
                    quantity: Some((definition, used)),
                })
            }
            Price::Tiers { mode, input, tiers } => {
                let (position, definition) = self.input(input)?;
                let quantity = self.quantity(position, definition)?;
                let value = match mode {
                    TierMode::Graduated => self.graduated(quantity, tiers)?,
                    TierMode::Volume => {
                        let tier = tiers
                            .iter()
                            .find(|tier| tier.up_to.is_none_or(|bound| quantity <= bound))
                            .or_else(|| tiers.last());
                        match tier {
                            Some(tier) => {
                                self.prorate(self.exact(tier.amount)?, quantity, tier.per)?
                            }
                            None => Fraction::ZERO,
                        }
                    }
                };
                Ok(Priced {
                    amount: value,
                    quantity: Some((definition, quantity)),
                })
            }
        }
    }

    /// `amount × quantity ÷ per` as an exact fraction.
    fn prorate(
        &self,
        amount: Fraction,
        quantity: Decimal,
        per: Decimal,
    ) -> Result<Fraction, RateError> {
        amount
            .checked_mul(self.exact(quantity)?)
            .and_then(|product| product.checked_div(Fraction::from_decimal(per)?))
            .ok_or_else(|| self.overflow())
    }

    /// Each slice of `quantity` at its own tier's rate.
    fn graduated(&self, quantity: Decimal, tiers: &[Tier]) -> Result<Fraction, RateError> {
        let mut total = Fraction::ZERO;
        let mut lower = Decimal::ZERO;
        for tier in tiers {
            if quantity <= lower {
                break;
            }
            let upper = match tier.up_to {
                Some(bound) if bound < quantity => bound,
                _ => quantity,
            };
            let slice = upper.checked_sub(lower).ok_or_else(|| self.overflow())?;
            let part = self.prorate(self.exact(tier.amount)?, slice, tier.per)?;
            total = total.checked_add(part).ok_or_else(|| self.overflow())?;
            match tier.up_to {
                Some(bound) => lower = bound,
                None => break,
            }
        }
        Ok(total)
    }

    fn holds(&self, condition: &Condition) -> bool {
        condition.all.iter().all(|test| self.test(test))
    }

    fn test(&self, test: &Test) -> bool {
        match test {
            Test::OneOf { input, values } => {
                let chosen = if input == "channel" {
                    self.channel()
                } else if input == derived::PLAN {
                    self.plan
                } else {
                    match self.value(input) {
                        Some(InputValue::Choice(choice)) => Some(choice.as_str()),
                        _ => None,
                    }
                };
                chosen.is_some_and(|chosen| values.iter().any(|value| value == chosen))
            }
            Test::Flag { input, expected } => {
                matches!(self.value(input), Some(InputValue::Flag(flag)) if flag == expected)
            }
            Test::Compare {
                input,
                op,
                quantity,
            } => self.compare(input, *op, *quantity),
        }
    }

    /// The usage's channel, else the book's default channel.
    fn channel(&self) -> Option<&'a str> {
        match &self.usage.channel {
            Some(channel) => Some(channel.as_str()),
            None => self
                .book
                .channels
                .as_ref()
                .map(|channels| channels.default.as_str()),
        }
    }

    /// The feature's rounding for `unit` (its precision), else the unit's default at its
    /// scale (`None`: round to the scale's decimal places).
    fn amount_rounding(
        &self,
        unit: &UnitDef,
    ) -> Result<(Option<Decimal>, RoundingMode), RateError> {
        if let Some(rounding) = self
            .feature
            .amount_rounding
            .iter()
            .find(|rounding| rounding.unit == unit.name)
        {
            return Ok((Some(rounding.precision), rounding.mode));
        }
        match unit.rounding {
            Some(mode) => Ok((None, mode)),
            None => Err(RateError::RoundingNotStated {
                feature: self.feature.name.clone(),
                unit: unit.name.clone(),
            }),
        }
    }

    /// `amount` × 10^scale as an integer, from the mantissa: the amount must already be a
    /// whole number of minor units (its rounding is never finer than the unit's scale).
    fn minor(&self, definition: &UnitDef, amount: Decimal) -> Result<i64, RateError> {
        // Rounded to the unit's scale, the amount has at most that many decimals; only an
        // amount with trailing zeros beyond it needs normalizing first.
        let normalized = if amount.scale() <= definition.scale {
            amount
        } else {
            amount.normalize()
        };
        let inexact = || RateError::InexactAmount {
            unit: definition.name.clone(),
            amount,
        };
        let shift = definition
            .scale
            .checked_sub(normalized.scale())
            .ok_or_else(inexact)?;
        let minor = 10i128
            .checked_pow(shift)
            .and_then(|factor| normalized.mantissa().checked_mul(factor))
            .ok_or_else(|| self.overflow())?;
        i64::try_from(minor).map_err(|_| self.overflow())
    }
}

/// How many whole `per` steps `quantity` is, rounded in `direction`, counted exactly.
fn round_steps(quantity: Decimal, per: Decimal, direction: QuantityDirection) -> Option<i128> {
    if per <= Decimal::ZERO {
        return None;
    }
    let steps = Fraction::from_decimal(quantity)?.checked_div(Fraction::from_decimal(per)?)?;
    steps
        .round_whole(direction_mode(direction))
        .map(|(steps, _)| steps)
}

fn mode_word(mode: RoundingMode) -> &'static str {
    match mode {
        RoundingMode::Up => "up",
        RoundingMode::Down => "down",
        RoundingMode::HalfUp => "half-up",
        RoundingMode::HalfEven => "half-even",
        RoundingMode::HalfDown => "half-down",
    }
}

/// Decimals shown for an exact amount in an explanation before it is cut with `…`; the
/// line's `amount` field keeps every digit.
const SHOWN_DECIMALS: u32 = 6;

/// Writes an amount for a person: exact when short, else cut to four decimals with `…`.
fn push_amount(out: &mut String, amount: Decimal) {
    let normalized = amount.normalize();
    if normalized.scale() <= SHOWN_DECIMALS {
        literal::push_decimal(out, normalized);
    } else {
        literal::push_decimal(out, normalized.trunc_with_scale(4));
        out.push('…');
    }
}

/// `base 20 credit per minute when model is pro: duration 3m30s = 70 credit`.
fn rule_text(
    rule: &crate::book::Rule,
    quantity: Option<(&Input, Decimal)>,
    multiplier: Option<Decimal>,
    contribution: Decimal,
) -> String {
    let mut text = String::with_capacity(rule.source.len() + 48);
    text.push_str(&rule.source);
    if let Some((input, value)) = quantity {
        text.push_str(": ");
        text.push_str(&input.name);
        text.push(' ');
        // `duration 3m30s`, `data 2 GB`, but `words 300`: the input's name says what a
        // counted quantity counts.
        match input.kind {
            InputKind::Duration | InputKind::Data => {
                literal::push_quantity(&mut text, &input.kind, value);
            }
            _ => literal::push_decimal(&mut text, value),
        }
    }
    if let Some(multiplier) = multiplier.filter(|multiplier| *multiplier != Decimal::ONE) {
        text.push_str(" × ");
        literal::push_decimal(&mut text, multiplier);
    }
    text.push_str(" = ");
    push_amount(&mut text, contribution);
    text.push(' ');
    text.push_str(&rule.unit);
    text
}

/// `credit 18.3333… rounded to 0.01 half-up = 18.33`.
fn rounding_text(
    unit: &str,
    exact: Decimal,
    precision: Decimal,
    mode: RoundingMode,
    rounded: Decimal,
) -> String {
    let mut text = String::with_capacity(unit.len() + 48);
    text.push_str(unit);
    text.push(' ');
    push_amount(&mut text, exact);
    text.push_str(" rounded to ");
    literal::push_decimal(&mut text, precision);
    text.push(' ');
    text.push_str(mode_word(mode));
    text.push_str(" = ");
    literal::push_decimal(&mut text, rounded);
    text
}

/// `minimum 1 credit per job applies`.
fn minimum_text(unit: &str, minimum: Decimal) -> String {
    let mut text = String::with_capacity(unit.len() + 32);
    text.push_str("minimum ");
    literal::push_decimal(&mut text, minimum);
    text.push(' ');
    text.push_str(unit);
    text.push_str(" per job applies");
    text
}
