//! `expect` examples: their terms resolved against the features they name.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn expect(
        &mut self,
        decl: &ast::ExpectDecl<'_>,
        span: Span,
        scopes: &[Scope<'_>],
    ) -> Option<Expect> {
        let mut terms = Vec::new();
        let mut ok = true;
        for (index, term) in decl.terms.iter().enumerate() {
            if index == MAX_TERMS_PER_EXPECT {
                self.push(BookError::TooMany {
                    what: "example",
                    items: "terms",
                    limit: MAX_TERMS_PER_EXPECT,
                    span: term.span.into(),
                });
                return None;
            }
            match self.expect_term(term, scopes) {
                Some(term) => terms.push(term),
                None => ok = false,
            }
        }
        let mut amounts: Vec<(String, Decimal)> = Vec::new();
        let mut amount_spans: Vec<Span> = Vec::new();
        for amount in &decl.amounts {
            let Some(unit) = self.unit(amount.unit) else {
                ok = false;
                continue;
            };
            if let Some(position) = amounts.iter().position(|(known, _)| known == unit.name) {
                let first = amount_spans.get(position).copied().unwrap_or(amount.span);
                self.repeated(
                    format!("the example lists `{}` twice", unit.name),
                    first,
                    amount.span,
                    format!("give one expected total of `{}`", unit.name),
                );
                ok = false;
                continue;
            }
            let Some(value) = self.amount(amount.number, false, "an expected amount") else {
                ok = false;
                continue;
            };
            if value.scale() > unit.scale {
                self.push(BookError::AmountTooFine {
                    text: format!("{} {}", amount.number.text, amount.unit.text),
                    unit: unit.name.to_owned(),
                    span: amount.span.into(),
                    scale: unit.scale,
                    help: format!(
                        "charges in `{}` are rounded to {} decimals, so this example could never hold; round the expected amount",
                        unit.name, unit.scale
                    ),
                });
                ok = false;
                continue;
            }
            amounts.push((unit.name.to_owned(), value));
            amount_spans.push(amount.span);
        }
        ok.then(|| Expect {
            terms,
            amounts,
            line: u32::try_from(self.line(span.start)).unwrap_or(u32::MAX),
            source: crate::fmt::expect_text(decl),
        })
    }

    pub(super) fn expect_term(
        &mut self,
        term: &ast::ExpectTermDecl<'_>,
        scopes: &[Scope<'_>],
    ) -> Option<ExpectTerm> {
        let count = match term.count {
            Some(count) => self.whole(count, 1, MAX_EXPECT_COUNT, "a number of times")?,
            None => 1,
        };
        let scope = self.feature_scope(scopes, term.feature)?;
        let mut inputs = std::collections::BTreeMap::new();
        let mut channel = None;
        let mut plan = None;
        let mut given: Vec<ast::ExpectArg<'_>> = Vec::new();
        let mut ok = true;
        for arg in &term.args {
            if let Some(first) = given.iter().find(|known| known.name.text == arg.name.text) {
                let first = first.span;
                self.repeated(
                    format!("the example gives `{}` twice", arg.name.text),
                    first,
                    arg.span,
                    "give each input once".to_owned(),
                );
                ok = false;
                continue;
            }
            given.push(*arg);
            if arg.name.text == "channel" {
                channel = self.example_channel(arg);
                ok &= channel.is_some();
            } else if arg.name.text == crate::rate::PLAN {
                plan = self.example_plan(arg);
                ok &= plan.is_some();
            } else if scope.is_derived(arg.name.text) {
                self.derived_in_example(arg);
                ok = false;
            } else if let Some(value) = self.example_value(scope, arg) {
                inputs.insert(arg.name.text.to_owned(), value);
            } else {
                ok = false;
            }
        }
        ok &= self.example_defaults(scope, term, &given, &mut inputs);
        if !ok {
            return None;
        }
        let channel = match (&self.channels, channel) {
            (Some(_), Some(channel)) => Some(channel),
            (Some(channels), None) => Some(channels.default.clone()),
            (None, _) => None,
        };
        Some(ExpectTerm {
            count,
            usage: Usage {
                feature: scope.name.text.to_owned(),
                channel,
                inputs,
            },
            first_request: term.first.is_some(),
            plan,
        })
    }
}

impl Checker<'_> {
    /// The channel an example names: one the book declares.
    fn example_channel(&mut self, arg: &ast::ExpectArg<'_>) -> Option<String> {
        let Some(channels) = &self.channels else {
            self.push(BookError::InvalidExample {
                message: "the book declares no channels".to_owned(),
                span: arg.span.into(),
                label: "no channels".to_owned(),
                help: "remove `channel`, or declare the channels at the top of the file, such as `channels web, api default web`".to_owned(),
            });
            return None;
        };
        if channels.names.iter().any(|name| name == arg.value.text) {
            Some(arg.value.text.to_owned())
        } else {
            let names: Vec<String> = channels.names.clone();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            self.unknown_channel(arg.value, &names);
            None
        }
    }

    /// An example's value for an input: within its `min` and `max`.
    fn example_value(&mut self, scope: &Scope<'_>, arg: &ast::ExpectArg<'_>) -> Option<InputValue> {
        let input = self.input(scope, arg.name)?;
        let value = self.value(
            &input.input.kind,
            arg.name.text,
            arg.value,
            "the example's value",
        )?;
        if let InputValue::Quantity(quantity) = &value
            && crate::usage::is_below_minimum(&input.input, *quantity)
        {
            let (message, label, help) = match input.input.min {
                Some(_) => (
                    format!(
                        "`{}` is less than the `min` of `{}`",
                        arg.value.text, arg.name.text
                    ),
                    "below the min",
                    "a request below an input's min is refused; use a value within it, or lower `min`",
                ),
                None => (
                    format!(
                        "`{}` for `{}` is zero, and zero is refused without `min 0`",
                        arg.value.text, arg.name.text
                    ),
                    "zero",
                    "a request of zero is refused; use a quantity above zero, or write `min 0` on the input",
                ),
            };
            self.push(BookError::InvalidExample {
                message,
                span: arg.value.span.into(),
                label: label.to_owned(),
                help: help.to_owned(),
            });
            return None;
        }
        if let (InputValue::Quantity(quantity), Some(max)) = (&value, input.input.max)
            && *quantity > max
        {
            self.push(BookError::InvalidExample {
                message: format!("`{}` is more than the `max` of `{}`", arg.value.text, arg.name.text),
                span: arg.value.span.into(),
                label: "above the max".to_owned(),
                help: "a request above an input's max is refused; use a value within it, or raise `max`".to_owned(),
            });
            return None;
        }
        if let InputValue::Quantity(quantity) = &value
            && !input.input.allowed.is_empty()
            && !input.input.allowed.contains(quantity)
        {
            let allowed = crate::describe::allowed(&input.input);
            self.push(BookError::InvalidExample {
                message: format!(
                    "`{}` is not one of the allowed values of `{}`",
                    arg.value.text, arg.name.text
                ),
                span: arg.value.span.into(),
                label: "not allowed".to_owned(),
                help: format!("a request with another value is refused; use one of {allowed}"),
            });
            return None;
        }
        Some(value)
    }

    /// Fills in the defaults of the inputs an example does not give; whether every input
    /// without a default was given.
    fn example_defaults(
        &mut self,
        scope: &Scope<'_>,
        term: &ast::ExpectTermDecl<'_>,
        given: &[ast::ExpectArg<'_>],
        inputs: &mut std::collections::BTreeMap<String, InputValue>,
    ) -> bool {
        let mut missing: Vec<&str> = Vec::new();
        for input in &scope.inputs {
            if inputs.contains_key(&input.input.name)
                || given.iter().any(|arg| arg.name.text == input.input.name)
            {
                continue;
            }
            match &input.input.default {
                Some(default) => {
                    inputs.insert(input.input.name.clone(), default.clone());
                }
                None => missing.push(&input.input.name),
            }
        }
        if !missing.is_empty() {
            let example: Vec<String> = missing
                .iter()
                .filter_map(|name| scope.inputs.iter().find(|input| input.input.name == *name))
                .map(|input| {
                    let value = match &input.input.kind {
                        InputKind::Duration => "1m".to_owned(),
                        InputKind::Data => "1 GB".to_owned(),
                        InputKind::Words => "100 words".to_owned(),
                        InputKind::Choice(values) => values.first().cloned().unwrap_or_default(),
                        InputKind::Flag => "yes".to_owned(),
                        _ => "1".to_owned(),
                    };
                    format!("{}: {value}", input.input.name)
                })
                .collect();
            self.push(BookError::InvalidExample {
                message: format!(
                    "the example of `{}` does not give {}",
                    scope.name.text,
                    backticked_and(&missing)
                ),
                span: term.span.into(),
                label: format!("missing {}", backticked_and(&missing)),
                help: format!(
                    "inputs without a `default` are required; add {}",
                    example
                        .iter()
                        .map(|text| format!("`{text}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            return false;
        }
        true
    }
}
