//! Money attached to credits: a package's price (`for 10 USD`) and what a top-up must be
//! (`topup minimum 500 credit, step 100 credit`, `topup packages only`).

use super::*;
use crate::money::{CURRENCIES, Money, TopUpRules, UnitAmount, currency_minor_units};

/// What a plan's `topup minimum …` statement lowered to, with the spans later checks need.
#[derive(Default)]
pub(super) struct TopupRulesParts {
    pub rules: TopUpRules,
    pub span: Option<Span>,
    minimum_span: Option<Span>,
    step_span: Option<Span>,
}

impl<'a> Checker<'a> {
    /// `for PRICE CURRENCY` of a package: a known ISO 4217 code, a positive price with no
    /// more decimals than the currency has.
    pub(super) fn package_price(&mut self, price: &ast::Amount<'a>) -> Option<Money> {
        let currency = price.unit;
        let Some(digits) = currency_minor_units(currency.text) else {
            let codes = CURRENCIES.iter().map(|(code, _)| *code);
            self.push(BookError::UnknownCurrency {
                name: currency.text.to_owned(),
                span: currency.span.into(),
                help: did_you_mean(currency.text, codes, || {
                    "a price is in a currency, an ISO 4217 code in capitals such as `USD`, `EUR` or `JPY`".to_owned()
                }),
            });
            return None;
        };
        let value = self.amount(price.number, true, "a price")?;
        match to_minor(value, digits) {
            Some(amount_minor) => Some(Money {
                currency: currency.text.to_owned(),
                amount_minor,
            }),
            None if value.normalize().scale() > digits => {
                self.push(BookError::PriceTooFine {
                    text: format!("{} {}", price.number.text, currency.text),
                    currency: currency.text.to_owned(),
                    digits,
                    span: price.span.into(),
                    help: match digits {
                        0 => format!("`{}` has no minor unit: write a whole price", currency.text),
                        _ => format!(
                            "`{}` has {digits} decimals: write the price to at most {digits} decimals",
                            currency.text
                        ),
                    },
                });
                None
            }
            None => {
                self.push(BookError::OutOfRange {
                    text: format!("{} {}", price.number.text, currency.text),
                    reason: "it is too large to store".to_owned(),
                    span: price.span.into(),
                    help: "write a smaller price".to_owned(),
                });
                None
            }
        }
    }

    /// A book prices its packages in at most [`MAX_CURRENCIES_PER_BOOK`] currencies: a
    /// statement line keeps what top-ups were sold for per currency, and the snapshot
    /// that holds it is bounded.
    pub(super) fn currencies_fit<'b>(&mut self, plans: impl Iterator<Item = &'b ast::Block<'a>>)
    where
        'a: 'b,
    {
        let mut currencies: Vec<&str> = Vec::new();
        for block in plans {
            for statement in &block.body {
                let ast::StatementKind::Package {
                    price: Some(price), ..
                } = &statement.kind
                else {
                    continue;
                };
                if currencies.contains(&price.unit.text) {
                    continue;
                }
                if currencies.len() == MAX_CURRENCIES_PER_BOOK {
                    self.push(BookError::TooMany {
                        what: "book",
                        items: "currencies",
                        limit: MAX_CURRENCIES_PER_BOOK,
                        span: price.unit.span.into(),
                    });
                    return;
                }
                currencies.push(price.unit.text);
            }
        }
    }

    /// Lowers `topup minimum …, step …, packages only`, each clause at most once.
    pub(super) fn topup_rules_decl(
        &mut self,
        clauses: &[ast::TopupRuleDecl<'a>],
        statement_span: Span,
        parts: &mut TopupRulesParts,
    ) {
        parts.span = Some(statement_span);
        let mut packages_only_span: Option<Span> = None;
        for clause in clauses {
            match &clause.kind {
                ast::TopupRuleKind::Minimum(amount) => {
                    if let Some(first) = parts.minimum_span {
                        self.repeated_clause("minimum", first, clause.span);
                        continue;
                    }
                    parts.minimum_span = Some(clause.span);
                    parts.rules.minimum = self.unit_amount(amount);
                }
                ast::TopupRuleKind::Step(amount) => {
                    if let Some(first) = parts.step_span {
                        self.repeated_clause("step", first, clause.span);
                        continue;
                    }
                    parts.step_span = Some(clause.span);
                    parts.rules.step = self.unit_amount(amount);
                }
                ast::TopupRuleKind::PackagesOnly => {
                    if let Some(first) = packages_only_span {
                        self.repeated_clause("packages only", first, clause.span);
                        continue;
                    }
                    packages_only_span = Some(clause.span);
                    parts.rules.packages_only = true;
                }
            }
        }
    }

    fn repeated_clause(&mut self, clause: &str, first: Span, second: Span) {
        self.repeated(
            format!("`topup` states `{clause}` twice"),
            first,
            second,
            format!("state `{clause}` once"),
        );
    }

    fn unit_amount(&mut self, amount: &ast::Amount<'a>) -> Option<UnitAmount> {
        let unit = self.unit(amount.unit)?;
        let amount_minor = self.minor(amount, unit, true)?;
        Some(UnitAmount {
            unit: unit.name.to_owned(),
            amount_minor,
        })
    }

    /// The plan-wide checks of the top-up rules: they need a `topup` statement, packages only
    /// needs a package, a minimum and a step are in one unit and the step divides the
    /// minimum (else the smallest top-up allowed would not be the minimum written).
    pub(super) fn topup_rules_fit(
        &mut self,
        parts: &TopupRulesParts,
        sells_topups: bool,
        has_packages: bool,
        plan_name: &str,
    ) {
        let Some(span) = parts.span else {
            return;
        };
        if !sells_topups {
            self.invalid_statement(
                span,
                format!("plan `{plan_name}` states top-up rules but sells no top-ups"),
                "no `topup` in this plan",
                "add `topup as KIND, expires EXPIRY` to sell top-ups, or delete this line"
                    .to_owned(),
            );
            return;
        }
        if parts.rules.packages_only && !has_packages {
            self.invalid_statement(
                span,
                format!("plan `{plan_name}` sells top-ups by package only but has no package"),
                "no `package` in this plan",
                "add a `package NAME AMOUNT UNIT for PRICE CURRENCY`, or delete `packages only`"
                    .to_owned(),
            );
        }
        let (Some(minimum), Some(step), Some(minimum_span), Some(step_span)) = (
            &parts.rules.minimum,
            &parts.rules.step,
            parts.minimum_span,
            parts.step_span,
        ) else {
            return;
        };
        if minimum.unit != step.unit {
            self.push(BookError::TopUpStep {
                message: format!(
                    "the top-up minimum is in `{}` but the step in `{}`",
                    minimum.unit, step.unit
                ),
                minimum: minimum_span.into(),
                step: step_span.into(),
                help: "write the minimum and the step in the same unit".to_owned(),
            });
        } else if step.amount_minor > 0 && minimum.amount_minor % step.amount_minor != 0 {
            self.push(BookError::TopUpStep {
                message: "the top-up step does not divide the minimum".to_owned(),
                minimum: minimum_span.into(),
                step: step_span.into(),
                help: "a top-up is a whole number of steps: make the minimum a multiple of the step, such as `minimum 500 credit, step 100 credit`".to_owned(),
            });
        }
    }
}
