//! Price rules: `base`, `add`, `per` and `tiers`.

use super::*;

/// An error in a tiers block.
fn tiers_error(message: String, span: Span, label: &str, help: &str) -> BookError {
    BookError::InvalidTiers {
        message,
        span: span.into(),
        label: label.to_owned(),
        help: help.to_owned(),
    }
}

impl<'a> Checker<'a> {
    pub(super) fn rule_decl(
        &mut self,
        scope: &Scope<'_>,
        decl: &ast::RuleDecl<'_>,
        span: Span,
    ) -> Option<RuleInfo> {
        let role = match decl.role {
            ast::Role::Base => RuleRole::Base,
            ast::Role::Add => RuleRole::Add,
        };
        let resolved = self.condition(scope, decl.when.as_ref());
        let mut times = None;
        let (unit, price) = match &decl.price {
            ast::PriceDecl::Simple {
                amount,
                per,
                modifiers,
            } => self.simple_price(scope, amount, per.as_ref(), modifiers, &mut times),
            ast::PriceDecl::Tiers { mode, keyword, of } => {
                self.tiers(scope, decl, *mode, *keyword, *of, span)
            }
            // Lowered row by row in `tables.rs`.
            ast::PriceDecl::Table { .. } => (None, None),
        };
        let times = match times {
            Some(token) => {
                let input = self.input(scope, token)?;
                if input.input.kind != InputKind::Count {
                    self.not_a_count("times", token, &input.input.kind);
                    return None;
                }
                Some(token.text.to_owned())
            }
            None => None,
        };
        let (unit, price, resolved) = (unit?, price?, resolved?);
        Some(RuleInfo {
            rule: Rule {
                role,
                unit: unit.name.to_owned(),
                price,
                when: resolved.condition,
                times,
                source: crate::fmt::rule_text(decl),
                line: u32::try_from(self.line(span.start)).unwrap_or(u32::MAX),
            },
            masks: resolved.masks,
            reachable: resolved.reachable,
            span,
        })
    }

    /// `AMOUNT UNIT each` or `AMOUNT UNIT per QUANTITY [of INPUT] [rounded …] [times INPUT]`;
    /// the `times` input is left in `times` for the caller.
    fn simple_price<'t>(
        &mut self,
        scope: &Scope<'_>,
        amount: &ast::Amount<'t>,
        per: Option<&ast::Per<'t>>,
        modifiers: &[ast::Modifier<'t>],
        times: &mut Option<Token<'t>>,
    ) -> (Option<UnitRef<'a>>, Option<Price>) {
        let unit = self.unit(amount.unit);
        let value = self.amount(amount.number, false, "a price");
        let mut of = None;
        let mut rounded = None;
        for modifier in modifiers {
            let (slot, token, keyword) = match modifier {
                ast::Modifier::Of(token) => (&mut of, *token, "of"),
                ast::Modifier::Rounded(token) => (&mut rounded, *token, "rounded"),
                ast::Modifier::Times(token) => (&mut *times, *token, "times"),
            };
            if let Some(first) = slot.replace(token) {
                self.push(BookError::DuplicateStatement {
                    keyword: keyword.to_owned(),
                    first: first.span.into(),
                    second: token.span.into(),
                });
            }
        }
        let price = match per {
            // `add 50 percent`: the unknown unit's help already says how a percentage is
            // written.
            None if matches!(
                amount.unit.text,
                "percent" | "percents" | "percentage" | "pct"
            ) =>
            {
                None
            }
            None => {
                self.push(BookError::InvalidPrice {
                    message: format!("the price `{} {}` does not say what it is for", amount.number.text, amount.unit.text),
                    span: amount.span.into(),
                    label: "no `each` or `per`".to_owned(),
                    help: format!(
                        "write `{} {} each` for a flat price per job, or `{} {} per minute` for a rate",
                        amount.number.text, amount.unit.text, amount.number.text, amount.unit.text
                    ),
                });
                None
            }
            Some(ast::Per::Each(_)) => {
                if let Some(token) = of.or(rounded) {
                    self.push(BookError::InvalidPrice {
                        message: "a price `each` is flat per job and measures no quantity"
                            .to_owned(),
                        span: token.span.into(),
                        label: "applies to `per` only".to_owned(),
                        help: "write `per QUANTITY of INPUT` to price a quantity, or remove this"
                            .to_owned(),
                    });
                }
                value.map(|amount| Price::Each { amount })
            }
            Some(ast::Per::Per(quantity)) => {
                let per = self.per(scope, *quantity, of, None);
                match (value, per) {
                    (Some(amount), Some((input, per))) => Some(Price::Per {
                        amount,
                        input,
                        per,
                        rounded: rounded.map(|direction| match direction.text {
                            "down" => QuantityDirection::Down,
                            "nearest" => QuantityDirection::Nearest,
                            _ => QuantityDirection::Up,
                        }),
                    }),
                    _ => None,
                }
            }
        };
        (unit, price)
    }

    /// Resolves `per QUANTITY [of INPUT]` to the input and the quantity in its base unit.
    /// `tiers_input` is the input of a tiers block (its tiers name none).
    pub(super) fn per(
        &mut self,
        scope: &Scope<'_>,
        quantity: Token<'_>,
        of: Option<Token<'_>>,
        tiers_input: Option<(&str, &InputKind)>,
    ) -> Option<(String, Decimal)> {
        let is_literal = quantity
            .text
            .starts_with(|c: char| c.is_ascii_digit() || c == '-');
        let word = if is_literal {
            unit_word_of(quantity.text)
        } else {
            Some(quantity.text)
        };
        let (input_name, kind) = if let Some((name, kind)) = tiers_input {
            (name.to_owned(), kind.clone())
        } else if let Some(of) = of {
            let input = self.input(scope, of)?;
            (input.input.name.clone(), input.input.kind.clone())
        } else {
            self.implied_input(scope, quantity, word)?
        };
        if !is_quantity(&kind) {
            self.push(BookError::InvalidPrice {
                message: format!("`{input_name}` is {} and has no quantity to price", kind_phrase(&kind)),
                span: of.map_or(quantity.span, |of| of.span).into(),
                label: "not a quantity".to_owned(),
                help: format!("price a quantity input with `per`, and use `when {input_name} is ...` to price by {}", kind_phrase(&kind)),
            });
            return None;
        }
        let per = self.per_size(quantity, is_literal, &kind, &input_name)?;
        if per.is_zero() {
            self.push(BookError::InvalidPrice {
                message: "a price per zero is not a price".to_owned(),
                span: quantity.span.into(),
                label: "zero".to_owned(),
                help: "price per a quantity above zero, such as `per minute` or `per 100 words`"
                    .to_owned(),
            });
            return None;
        }
        Some((input_name, per))
    }

    /// `of INPUT` left out: the one input measured in the quantity's unit.
    fn implied_input(
        &mut self,
        scope: &Scope<'_>,
        quantity: Token<'_>,
        word: Option<&str>,
    ) -> Option<(String, InputKind)> {
        // `of INPUT` left out: the one input measured in the quantity's unit.
        let family = match word {
            Some(word) => match unit_word(word) {
                Some((family, _)) => Some(family),
                None => {
                    self.unknown_quantity_unit(quantity, word);
                    return None;
                }
            },
            None => None,
        };
        let candidates: Vec<&ScopeInput<'_>> = scope
            .inputs
            .iter()
            .filter(|input| match family {
                Some(family) => family.matches(&input.input.kind),
                None => input.input.kind == InputKind::Count,
            })
            .collect();
        let describe = family.map_or("a count", UnitWordKind::describe);
        match candidates.as_slice() {
            [only] => Some((only.input.name.clone(), only.input.kind.clone())),
            [] if !scope.broken.is_empty() => None,
            [] => {
                self.push(BookError::InvalidPrice {
                    message: format!("no input of `{}` is {describe}", scope.name.text),
                    span: quantity.span.into(),
                    label: describe.to_owned(),
                    help: format!(
                        "declare one, such as `input {}`, or say which input with `of INPUT`",
                        match family {
                            Some(UnitWordKind::Duration) => "duration: duration max 4h",
                            Some(UnitWordKind::Data) => "data: data max 10 GB",
                            Some(UnitWordKind::Words) => "words: words max 100000",
                            Some(UnitWordKind::Characters) => "characters: characters max 100000",
                            Some(UnitWordKind::Images) => "images: images max 100",
                            Some(UnitWordKind::Tokens) => "tokens: tokens max 1000000",
                            Some(UnitWordKind::Requests) => "requests: requests max 1000",
                            None => "outputs: count default 1 max 8",
                        }
                    ),
                });
                None
            }
            several => {
                let names: Vec<&str> = several
                    .iter()
                    .map(|input| input.input.name.as_str())
                    .collect();
                let first = names.first().copied().unwrap_or("");
                self.push(BookError::InvalidPrice {
                    message: format!("several inputs are {describe}: {}", backticked_and(&names)),
                    span: quantity.span.into(),
                    label: "which input?".to_owned(),
                    help: format!(
                        "say which with `of INPUT`, such as `per {} of {first}`",
                        quantity.text
                    ),
                });
                None
            }
        }
    }

    /// The quantity a price is per, in the input's base unit.
    fn per_size(
        &mut self,
        quantity: Token<'_>,
        is_literal: bool,
        kind: &InputKind,
        input_name: &str,
    ) -> Option<Decimal> {
        let per = if is_literal {
            self.quantity(kind, quantity, "the quantity priced")?
        } else {
            match unit_word(quantity.text) {
                None => {
                    self.unknown_quantity_unit(quantity, quantity.text);
                    return None;
                }
                Some((family, size)) => {
                    if *kind == InputKind::Count || !family.matches(kind) {
                        self.push(BookError::InvalidQuantity {
                            message: format!(
                                "`{}` is {}, but `{input_name}` is {}",
                                quantity.text,
                                family.describe(),
                                kind_phrase(kind)
                            ),
                            span: quantity.span.into(),
                            label: "wrong kind of quantity".to_owned(),
                            help: Some(format!("write {}", kind_example(kind))),
                        });
                        return None;
                    }
                    size
                }
            }
        };
        Some(per)
    }

    pub(super) fn unknown_quantity_unit(&mut self, quantity: Token<'_>, word: &str) {
        let known = [
            "second",
            "minute",
            "hour",
            "ms",
            "s",
            "m",
            "h",
            "word",
            "words",
            "character",
            "characters",
            "image",
            "images",
            "token",
            "tokens",
            "request",
            "requests",
            "KB",
            "MB",
            "GB",
            "TB",
        ];
        let help = if self.units.iter().any(|unit| unit.name == word) {
            format!(
                "`{word}` is a unit of amounts; a price is per a quantity, such as `per minute` or `per 100 words`"
            )
        } else {
            did_you_mean(word, known.iter().copied(), || {
                "quantities are in `second`, `minute`, `hour`, `words`, `characters`, `images`, `tokens`, `requests`, `MB`, `GB`, `TB`, or a plain count".to_owned()
            })
        };
        self.push(BookError::InvalidQuantity {
            message: format!("`{word}` is not a unit of quantity"),
            span: quantity.span.into(),
            label: "unknown quantity unit".to_owned(),
            help: Some(help),
        });
    }

    pub(super) fn tiers(
        &mut self,
        scope: &Scope<'_>,
        decl: &ast::RuleDecl<'_>,
        mode: Option<Token<'_>>,
        keyword: Span,
        of: Option<Token<'_>>,
        span: Span,
    ) -> (Option<UnitRef<'a>>, Option<Price>) {
        let mode = self.tier_mode(mode, keyword);
        let Some((of, kind)) = self.tiered_input(scope, of, keyword) else {
            return (None, None);
        };
        let Some(block) = &decl.tiers else {
            self.push(tiers_error(
                "the tiers are missing".to_owned(),
                span,
                "no tiers",
                "list them in `{ }`: `up to 100 GB: 0.2 credit per GB` lines, then `above: 0.1 credit per GB`",
            ));
            return (None, None);
        };
        if block.tiers.is_empty() {
            self.push(tiers_error(
                "the tiers are missing".to_owned(),
                block.open.to(block.close),
                "empty",
                "list them: `up to 100 GB: 0.2 credit per GB` lines, then `above: 0.1 credit per GB`",
            ));
            return (None, None);
        }
        let mut unit: Option<UnitRef<'a>> = None;
        let mut tiers = Vec::new();
        let mut previous: Option<(Decimal, Token<'_>)> = None;
        let mut ok = true;
        let count = block.tiers.len();
        for (index, tier) in block.tiers.iter().enumerate() {
            if index == MAX_TIERS_PER_RULE {
                self.push(BookError::TooMany {
                    what: "tiers block",
                    items: "tiers",
                    limit: MAX_TIERS_PER_RULE,
                    span: tier.span.into(),
                });
                ok = false;
                break;
            }
            let last = index + 1 == count;
            let up_to = self.tier_bound(tier, &kind, last, &mut previous, &mut ok);
            let tier_unit = self.unit(tier.amount.unit);
            match (unit, tier_unit) {
                (None, Some(tier_unit)) => unit = Some(tier_unit),
                (Some(first), Some(tier_unit)) if first.name != tier_unit.name => {
                    self.push(tiers_error(
                        format!("the tiers charge both `{}` and `{}`", first.name, tier_unit.name),
                        tier.amount.unit.span,
                        "another unit",
                        "a rule charges one unit: use the same unit in every tier, and another rule for the other unit",
                    ));
                    ok = false;
                }
                (_, None) => ok = false,
                _ => {}
            }
            let amount = self.amount(tier.amount.number, false, "a price");
            let per = self.tier_per(scope, tier, of.text, &kind);
            match (amount, per) {
                (Some(amount), Some((_, per))) => tiers.push(Tier { up_to, amount, per }),
                _ => ok = false,
            }
        }
        let price = match (mode, ok) {
            (Some(mode), true) => Some(Price::Tiers {
                mode,
                input: of.text.to_owned(),
                tiers,
            }),
            _ => None,
        };
        (unit, price)
    }

    fn tier_mode(&mut self, mode: Option<Token<'_>>, keyword: Span) -> Option<TierMode> {
        match mode.map(|mode| mode.text) {
            Some("graduated") => Some(TierMode::Graduated),
            Some(_) => Some(TierMode::Volume),
            None => {
                self.push(tiers_error(
                    "the tiers do not say how they apply".to_owned(),
                    keyword,
                    "graduated or volume?",
                    "write `graduated tiers` (each slice of the quantity at its tier's price) or `volume tiers` (the whole quantity at the price of the tier it reaches)",
                ));
                None
            }
        }
    }

    /// The quantity input the tiers measure, and its kind.
    fn tiered_input<'t>(
        &mut self,
        scope: &Scope<'_>,
        of: Option<Token<'t>>,
        keyword: Span,
    ) -> Option<(Token<'t>, InputKind)> {
        let Some(of) = of else {
            self.push(tiers_error(
                "the tiers do not say which input they measure".to_owned(),
                keyword,
                "tiers of what?",
                "name the input, such as `graduated tiers of tokens`",
            ));
            return None;
        };
        let input = self.input(scope, of)?;
        let kind = input.input.kind.clone();
        if !is_quantity(&kind) {
            self.push(tiers_error(
                format!(
                    "`{}` is {} and cannot be tiered",
                    of.text,
                    kind_phrase(&kind)
                ),
                of.span,
                "not a quantity",
                "tiers measure a quantity input; price choices with `when`",
            ));
            return None;
        }
        Some((of, kind))
    }

    /// A tier's bound, above the previous one; only the last tier is `above`.
    fn tier_bound<'t>(
        &mut self,
        tier: &ast::TierDecl<'t>,
        kind: &InputKind,
        last: bool,
        previous: &mut Option<(Decimal, Token<'t>)>,
        ok: &mut bool,
    ) -> Option<Decimal> {
        match tier.up_to {
            Some(bound) => {
                let value = self.quantity(kind, bound, "the tier's bound");
                if let (Some(value), Some((previous_value, previous_token))) = (value, *previous)
                    && value <= previous_value
                {
                    self.push(BookError::InvalidTiers {
                        message: "tier bounds must increase".to_owned(),
                        span: bound.span.into(),
                        label: format!("not above the previous bound `{}`", previous_token.text),
                        help: "order the tiers from the smallest bound to the largest, each above the one before".to_owned(),
                    });
                    *ok = false;
                }
                if let Some(value) = value {
                    *previous = Some((value, bound));
                } else {
                    *ok = false;
                }
                if last {
                    self.push(tiers_error(
                        "the last tier must be `above`".to_owned(),
                        tier.span,
                        "the last tier",
                        "end the list with `above: …`, the price beyond the last bound",
                    ));
                    *ok = false;
                }
                value
            }
            None => {
                if !last {
                    self.push(tiers_error(
                        "`above` must be the last tier".to_owned(),
                        tier.span,
                        "not last",
                        "move `above: …` to the end: it prices everything beyond the last bound",
                    ));
                    *ok = false;
                }
                None
            }
        }
    }

    /// A tier's rate: `per` a quantity of the tiered input.
    fn tier_per(
        &mut self,
        scope: &Scope<'_>,
        tier: &ast::TierDecl<'_>,
        of: &str,
        kind: &InputKind,
    ) -> Option<(String, Decimal)> {
        match &tier.per {
            Some(ast::Per::Per(quantity)) => self.per(scope, *quantity, None, Some((of, kind))),
            Some(ast::Per::Each(each)) => {
                self.push(tiers_error(
                    "a tier is priced per a quantity, not `each`".to_owned(),
                    *each,
                    "each",
                    "write a rate, such as `0.2 credit per GB`",
                ));
                None
            }
            None => {
                self.push(tiers_error(
                    format!(
                        "the tier price `{} {}` does not say what it is for",
                        tier.amount.number.text, tier.amount.unit.text
                    ),
                    tier.amount.span,
                    "no `per`",
                    "write a rate, such as `0.2 credit per GB`",
                ));
                None
            }
        }
    }

    // ---- Conditions -----------------------------------------------------------------------
}
