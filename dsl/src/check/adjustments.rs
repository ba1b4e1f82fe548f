//! `round` and `minimum` statements: how an input's quantity is adjusted before pricing.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn round_decl(
        &mut self,
        scope: &Scope<'_>,
        round: &ast::RoundDecl<'_>,
        span: Span,
        quantity_rounding: &mut Vec<(QuantityRounding, Span)>,
        amount_rounding: &mut Vec<(AmountRounding, Span)>,
    ) {
        let target = round.target.text;
        let input = scope.inputs.iter().find(|input| input.input.name == target);
        let unit = self.units.iter().find(|unit| unit.name == target).copied();
        if round.direction.is_some() || (input.is_some() && unit.is_none()) {
            self.quantity_round(scope, round, span, quantity_rounding);
            return;
        }
        let Some(unit) = unit else {
            self.unknown_round_target(scope, round);
            return;
        };
        self.amount_round(unit, round, span, amount_rounding);
    }

    /// `round INPUT up|down|nearest to STEP`.
    fn quantity_round(
        &mut self,
        scope: &Scope<'_>,
        round: &ast::RoundDecl<'_>,
        span: Span,
        quantity_rounding: &mut Vec<(QuantityRounding, Span)>,
    ) {
        let target = round.target.text;
        let Some(input) = self.input(scope, round.target) else {
            return;
        };
        let kind = input.input.kind.clone();
        if !is_quantity(&kind) {
            self.push(BookError::InvalidInput {
                message: format!("`{target}` is {} and cannot be rounded", kind_phrase(&kind)),
                span: round.target.span.into(),
                label: "not a quantity".to_owned(),
                help: "round quantities (durations, words, data...) and amounts (`round credit to 0.01 half-up`)".to_owned(),
            });
            return;
        }
        let Some(direction) = self.round_direction(round, span) else {
            return;
        };
        let Some(step) = self.quantity(&kind, round.to, "the step") else {
            return;
        };
        if step.is_zero() {
            self.push(BookError::InvalidInput {
                message: format!("`{target}` is rounded to a step of zero",),
                span: round.to.span.into(),
                label: "zero".to_owned(),
                help: format!(
                    "round to a step above zero, such as `{}`",
                    if kind == InputKind::Duration {
                        "1s"
                    } else {
                        "1"
                    }
                ),
            });
            return;
        }
        if let Some((_, first)) = quantity_rounding
            .iter()
            .find(|(rounding, _)| rounding.input == target)
        {
            let first = *first;
            self.push(BookError::DuplicateStatement {
                keyword: format!("round {target}"),
                first: first.into(),
                second: span.into(),
            });
            return;
        }
        quantity_rounding.push((
            QuantityRounding {
                input: target.to_owned(),
                direction,
                step,
            },
            span,
        ));
    }

    /// The direction of a quantity rounding (and no amount rounding mode beside it).
    fn round_direction(
        &mut self,
        round: &ast::RoundDecl<'_>,
        span: Span,
    ) -> Option<QuantityDirection> {
        let target = round.target.text;
        let Some(direction_token) = round.direction else {
            let example = round
                .mode
                .map_or("up", |mode| if mode.text == "down" { "down" } else { "up" });
            self.push(BookError::InvalidInput {
                message: format!("the rounding of `{target}` has no direction"),
                span: span.into(),
                label: "up, down or nearest?".to_owned(),
                help: format!(
                    "write the direction before `to`, such as `round {target} {example} to {}`",
                    round.to.text
                ),
            });
            return None;
        };
        if let Some(mode) = round.mode {
            self.push(BookError::InvalidInput {
                message: format!("`{}` rounds amounts, not quantities", mode.text),
                span: mode.span.into(),
                label: "amount rounding mode".to_owned(),
                help: format!(
                    "a quantity rounds `up`, `down` or `nearest`, written before `to`: `round {target} {} to {}`",
                    direction_token.text, round.to.text
                ),
            });
        }
        Some(match direction_token.text {
            "down" => QuantityDirection::Down,
            "nearest" => QuantityDirection::Nearest,
            _ => QuantityDirection::Up,
        })
    }

    fn unknown_round_target(&mut self, scope: &Scope<'_>, round: &ast::RoundDecl<'_>) {
        let target = round.target.text;
        let mut names: Vec<&str> = scope
            .inputs
            .iter()
            .map(|input| input.input.name.as_str())
            .collect();
        names.extend(self.units.iter().map(|unit| unit.name));
        let help = did_you_mean(target, names.iter().copied(), || {
            "round an input's quantity (`round duration up to 1s`) or a unit's amounts (`round credit to 0.01 half-up`)".to_owned()
        });
        self.push(BookError::UnknownWord {
            what: "input or unit",
            name: target.to_owned(),
            span: round.target.span.into(),
            help,
        });
    }

    /// `round UNIT to PRECISION MODE`.
    fn amount_round(
        &mut self,
        unit: UnitRef<'a>,
        round: &ast::RoundDecl<'_>,
        span: Span,
        amount_rounding: &mut Vec<(AmountRounding, Span)>,
    ) {
        let target = round.target.text;
        // Amount rounding.
        if round
            .to
            .text
            .contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        {
            self.push(BookError::InvalidInput {
                message: format!("`{}` is not a precision", round.to.text),
                span: round.to.span.into(),
                label: "expected a number".to_owned(),
                help: format!(
                    "amounts round to a decimal step, such as `round {target} to 0.01 half-up`"
                ),
            });
            return;
        }
        let Some(precision) = self.amount(round.to, true, "a precision") else {
            return;
        };
        let Some(mode_token) = round.mode else {
            self.push(BookError::InvalidInput {
                message: format!("the rounding of `{target}` has no mode"),
                span: span.into(),
                label: "no rounding mode".to_owned(),
                help: format!(
                    "write the mode after the precision, such as `round {target} to {} half-up` (or `up`, `down`, `half-even`, `half-down`)",
                    round.to.text
                ),
            });
            return;
        };
        let Some(mode) = self.rounding_mode(mode_token) else {
            return;
        };
        if precision.scale() > unit.scale {
            let step = Decimal::new(1, unit.scale);
            self.push(BookError::PrecisionTooFine {
                precision: round.to.text.to_owned(),
                unit: target.to_owned(),
                span: round.to.span.into(),
                scale: unit.scale,
                help: format!("`{target}` keeps {} decimals: round to `{step}` or coarser, or raise the unit's `scale`", unit.scale),
            });
            return;
        }
        if let Some((_, first)) = amount_rounding
            .iter()
            .find(|(rounding, _)| rounding.unit == target)
        {
            let first = *first;
            self.push(BookError::DuplicateStatement {
                keyword: format!("round {target}"),
                first: first.into(),
                second: span.into(),
            });
            return;
        }
        amount_rounding.push((
            AmountRounding {
                unit: target.to_owned(),
                precision,
                mode,
            },
            span,
        ));
    }

    /// Returns the condition's masks when it has one, for the combinations count.
    pub(super) fn minimum_decl(
        &mut self,
        scope: &Scope<'_>,
        minimum: &ast::MinimumDecl<'_>,
        span: Span,
        quantities: &mut Vec<MinimumQuantity>,
        amounts: &mut Vec<(MinimumAmount, Span)>,
    ) -> Option<Vec<u64>> {
        match minimum.of {
            Some(of) => self.minimum_quantity(scope, minimum, of, quantities),
            None => {
                self.minimum_charge(minimum, span, amounts);
                None
            }
        }
    }

    /// `minimum QUANTITY of INPUT [when COND]`: the condition's masks, for the combinations
    /// count.
    fn minimum_quantity(
        &mut self,
        scope: &Scope<'_>,
        minimum: &ast::MinimumDecl<'_>,
        of: Token<'_>,
        quantities: &mut Vec<MinimumQuantity>,
    ) -> Option<Vec<u64>> {
        let input = self.input(scope, of)?;
        let kind = input.input.kind.clone();
        if !is_quantity(&kind) {
            self.push(BookError::InvalidInput {
                message: format!("`{}` is {} and has no minimum", of.text, kind_phrase(&kind)),
                span: of.span.into(),
                label: "not a quantity".to_owned(),
                help: "a minimum quantity applies to a quantity input, such as `minimum 30s of duration`".to_owned(),
            });
            return None;
        }
        let quantity = self.quantity(&kind, minimum.value, "the minimum")?;
        if !self.no_quantity_tests(minimum.when.as_ref(), "minimum") {
            return None;
        }
        let resolved = self.condition(scope, minimum.when.as_ref())?;
        if !resolved.reachable {
            return None;
        }
        quantities.push(MinimumQuantity {
            input: of.text.to_owned(),
            quantity,
            when: resolved.condition,
        });
        Some(resolved.masks)
    }

    /// `minimum AMOUNT UNIT`: a minimum charge per job (`None` once an error is reported).
    fn minimum_charge(
        &mut self,
        minimum: &ast::MinimumDecl<'_>,
        span: Span,
        amounts: &mut Vec<(MinimumAmount, Span)>,
    ) -> Option<()> {
        let text = minimum.value.text;
        let (number, unit_token) = split_amount(minimum.value);
        let unit_text = unit_token.text;
        if unit_text.is_empty() {
            self.push(BookError::InvalidPrice {
                message: format!("the minimum `{text}` has no unit"),
                span: minimum.value.span.into(),
                label: "no unit".to_owned(),
                help: format!("write a minimum charge as `minimum {text} credit`, or a minimum quantity as `minimum {text} of INPUT`"),
            });
            return None;
        }
        if unit_word(unit_text).is_some() && !self.units.iter().any(|unit| unit.name == unit_text) {
            self.push(BookError::InvalidPrice {
                message: format!("`{text}` is a quantity, but a minimum charge is an amount"),
                span: minimum.value.span.into(),
                label: "of which input?".to_owned(),
                help: format!("for a minimum quantity name the input, such as `minimum {text} of duration`; for a minimum charge write an amount, such as `minimum 1 credit`"),
            });
            return None;
        }
        let unit = self.unit(unit_token)?;
        if let Some(when) = &minimum.when {
            self.push(BookError::InvalidPrice {
                message: "a minimum charge applies to every job and takes no `when`".to_owned(),
                span: when.span.into(),
                label: "condition".to_owned(),
                help: "remove the condition; conditional minimums exist for quantities: `minimum 30s of duration when ad`".to_owned(),
            });
            return None;
        }
        let amount = self.amount(number, true, "a minimum charge")?;
        if let Some((_, first)) = amounts
            .iter()
            .find(|(existing, _)| existing.unit == unit.name)
        {
            let first = *first;
            self.push(BookError::DuplicateStatement {
                keyword: format!("minimum … {}", unit.name),
                first: first.into(),
                second: span.into(),
            });
            return None;
        }
        amounts.push((
            MinimumAmount {
                unit: unit.name.to_owned(),
                amount,
            },
            span,
        ));
        Some(())
    }

    // ---- Rules ----------------------------------------------------------------------------
}

/// `1 credit` (one token) as its number and its unit, each with its own span.
fn split_amount<'t>(value: Token<'t>) -> (Token<'t>, Token<'t>) {
    let text = value.text;
    let number_end = text
        .char_indices()
        .find(|(index, c)| {
            c.is_whitespace()
                || (c.is_ascii_alphabetic()
                    && !((*c == 'e' || *c == 'E')
                        && text.get(index + 1..).is_some_and(|rest| {
                            rest.starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+')
                        })))
        })
        .map_or(text.len(), |(index, _)| index);
    let number = Token {
        text: text.get(..number_end).unwrap_or(text),
        span: Span::new(value.span.start, value.span.start + number_end),
    };
    let rest = text.get(number_end..).unwrap_or("");
    let unit_text = rest.trim_start();
    let unit_start = value.span.start + number_end + (rest.len() - unit_text.len());
    let unit_token = Token {
        text: unit_text,
        span: Span::new(unit_start, unit_start + unit_text.len()),
    };
    (number, unit_token)
}
