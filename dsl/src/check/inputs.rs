//! `input` declarations and their values (defaults, minimums, maximums).

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn input_decl(&mut self, decl: &ast::InputDecl<'a>, span: Span) -> Option<Input> {
        self.name("input", decl.name);
        if decl.name.text == "channel" {
            self.push(BookError::InvalidInput {
                message: "`channel` is reserved and cannot be an input".to_owned(),
                span: decl.name.span.into(),
                label: "reserved name".to_owned(),
                help: "a request gives its channel beside the inputs; declare the channels at the top of the file, such as `channels web, api default web`".to_owned(),
            });
            return None;
        }
        if decl.name.text == crate::rate::PLAN {
            self.reserved_plan(decl.name);
            return None;
        }
        let kind = self.input_kind(decl, span)?;
        let max = self.input_max(decl, &kind);
        let allowed = self.input_allowed(decl, &kind);
        // `one of` names every value, so its largest is the input's `max` when none is written.
        let max = max.or_else(|| allowed.last().copied());
        let min = self.input_min(decl, &kind, max);
        let default = self.input_default(decl, &kind, min, max);
        self.allowed_fit(decl, &kind, &allowed, min, max, default.as_ref());
        Some(Input {
            name: decl.name.text.to_owned(),
            kind,
            default,
            min,
            max,
            allowed,
        })
    }

    /// The input's kind; names in parentheses only for a `choice`.
    fn input_kind(&mut self, decl: &ast::InputDecl<'a>, span: Span) -> Option<InputKind> {
        let kind = match decl.kind.text {
            "duration" => InputKind::Duration,
            "words" => InputKind::Words,
            "characters" => InputKind::Characters,
            "images" => InputKind::Images,
            "tokens" => InputKind::Tokens,
            "requests" => InputKind::Requests,
            "data" => InputKind::Data,
            "count" => InputKind::Count,
            "flag" => InputKind::Flag,
            "choice" => self.choice_names(decl)?,
            other => {
                let help = did_you_mean(other, INPUT_KINDS.iter().copied(), || {
                    format!("the input kinds are {}", backticked(INPUT_KINDS))
                });
                self.push(BookError::UnknownWord {
                    what: "input kind",
                    name: other.to_owned(),
                    span: decl.kind.span.into(),
                    help,
                });
                return None;
            }
        };
        if decl.choices.is_some() && !matches!(kind, InputKind::Choice(_)) {
            self.push(BookError::InvalidInput {
                message: format!("only a `choice` lists names, not `{}`", decl.kind.text),
                span: decl.kind.span.to(span).into(),
                label: "names in parentheses".to_owned(),
                help: format!(
                    "write `input {}: choice(a, b)`, or remove the names",
                    decl.name.text
                ),
            });
        }
        Some(kind)
    }

    /// A `choice`'s names: at least one, each once.
    fn choice_names(&mut self, decl: &ast::InputDecl<'a>) -> Option<InputKind> {
        let Some(choices) = &decl.choices else {
            self.push(BookError::InvalidInput {
                message: format!("choice `{}` lists no names", decl.name.text),
                span: decl.kind.span.into(),
                label: "no names".to_owned(),
                help: format!(
                    "list the names it can take, such as `input {}: choice(standard, pro)`",
                    decl.name.text
                ),
            });
            return None;
        };
        let mut names: Vec<Token<'a>> = Vec::new();
        for choice in choices {
            if names.len() == MAX_CHOICES_PER_INPUT {
                self.push(BookError::TooMany {
                    what: "choice",
                    items: "names",
                    limit: MAX_CHOICES_PER_INPUT,
                    span: choice.span.into(),
                });
                break;
            }
            self.name("choice", *choice);
            if let Some(first) = names.iter().find(|name| name.text == choice.text) {
                let first = first.span;
                self.duplicate("choice", choice.text, first, choice.span);
            } else {
                names.push(*choice);
            }
        }
        if names.is_empty() {
            self.push(BookError::InvalidInput {
                message: format!("choice `{}` lists no names", decl.name.text),
                span: decl.kind.span.into(),
                label: "no names".to_owned(),
                help: format!(
                    "list the names it can take, such as `input {}: choice(standard, pro)`",
                    decl.name.text
                ),
            });
            return None;
        }
        Some(InputKind::Choice(
            names.iter().map(|name| name.text.to_owned()).collect(),
        ))
    }

    /// The largest value a request may give: required for measured kinds.
    fn input_max(&mut self, decl: &ast::InputDecl<'a>, kind: &InputKind) -> Option<Decimal> {
        let mut max = None;
        if let Some(first) = decl.maxes.first() {
            if let Some(second) = decl.maxes.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "max".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if is_quantity(kind) {
                max = self.quantity(kind, *first, "the largest value");
                if max.is_some_and(|value| value.is_zero()) {
                    self.push(BookError::InvalidInput {
                        message: format!("the `max` of `{}` is zero", decl.name.text),
                        span: first.span.into(),
                        label: "zero".to_owned(),
                        help: "write the largest value a request may give, above zero".to_owned(),
                    });
                }
            } else {
                self.push(BookError::InvalidInput {
                    message: format!("{} has no `max`", kind_phrase(kind)),
                    span: first.span.into(),
                    label: "not a quantity".to_owned(),
                    help: "remove `max`: only quantities and counts have a largest value"
                        .to_owned(),
                });
            }
        } else if is_measured(kind) && decl.allowed.is_empty() {
            self.push(BookError::MaxMissing {
                input: decl.name.text.to_owned(),
                span: decl.name.span.to(decl.kind.span).into(),
                help: format!(
                    "every measured input states the largest value a request may give, such as `input {}: {} max {}`",
                    decl.name.text,
                    decl.kind.text,
                    match kind {
                        InputKind::Duration => "4h",
                        InputKind::Data => "10 GB",
                        _ => "1000000",
                    }
                ),
            });
        }
        max
    }

    /// The smallest value a request may give, at most the `max`.
    fn input_min(
        &mut self,
        decl: &ast::InputDecl<'a>,
        kind: &InputKind,
        max: Option<Decimal>,
    ) -> Option<Decimal> {
        let mut min = None;
        if let Some(first) = decl.mins.first() {
            if let Some(second) = decl.mins.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "min".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if is_quantity(kind) {
                min = self.quantity(kind, *first, "the smallest value");
                if let (Some(smallest), Some(largest)) = (min, max)
                    && smallest > largest
                {
                    self.push(BookError::InvalidInput {
                        message: format!(
                            "the `min` of `{}` is more than its `max`",
                            decl.name.text
                        ),
                        span: first.span.into(),
                        label: "above the max".to_owned(),
                        help: "lower `min`, or raise `max`".to_owned(),
                    });
                }
            } else {
                self.push(BookError::InvalidInput {
                    message: format!("{} has no `min`", kind_phrase(kind)),
                    span: first.span.into(),
                    label: "not a quantity".to_owned(),
                    help: "remove `min`: only quantities and counts have a smallest value"
                        .to_owned(),
                });
            }
        }
        min
    }

    /// The value a request without the input gives: usage a request could give.
    fn input_default(
        &mut self,
        decl: &ast::InputDecl<'a>,
        kind: &InputKind,
        min: Option<Decimal>,
        max: Option<Decimal>,
    ) -> Option<InputValue> {
        let mut default = None;
        if let Some(first) = decl.defaults.first() {
            if let Some(second) = decl.defaults.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "default".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            default = self.value(kind, decl.name.text, *first, "the default");
            if let (Some(InputValue::Quantity(value)), Some(max)) = (&default, max)
                && *value > max
            {
                self.push(BookError::InvalidInput {
                    message: format!("the default of `{}` is more than its `max`", decl.name.text),
                    span: first.span.into(),
                    label: "above the max".to_owned(),
                    help: "lower the default, or raise `max`".to_owned(),
                });
            }
            // A default is what a request without the input gives: it must be usage a request
            // could give, so it meets the same minimum (zero needs `min 0`).
            if let Some(InputValue::Quantity(value)) = &default {
                match min {
                    Some(smallest) if *value < smallest => {
                        self.push(BookError::InvalidInput {
                            message: format!(
                                "the default of `{}` is less than its `min`",
                                decl.name.text
                            ),
                            span: first.span.into(),
                            label: "below the min".to_owned(),
                            help: if value.is_zero() {
                                "raise the default, or write `min 0` to accept zero".to_owned()
                            } else {
                                "raise the default, or lower `min`".to_owned()
                            },
                        });
                    }
                    None if value.is_zero() => {
                        self.push(BookError::InvalidInput {
                            message: format!(
                                "the default of `{}` is zero, and zero is refused without `min 0`",
                                decl.name.text
                            ),
                            span: first.span.into(),
                            label: "zero".to_owned(),
                            help: format!(
                                "a quantity of nothing is not usage unless the input says so: write `default {} min 0`",
                                first.text
                            ),
                        });
                    }
                    _ => {}
                }
            }
        }
        default
    }

    /// A value for an input: a quantity, a choice name or `yes`/`no`.
    pub(super) fn value(
        &mut self,
        kind: &InputKind,
        input: &str,
        token: Token<'_>,
        label: &str,
    ) -> Option<InputValue> {
        match kind {
            InputKind::Choice(choices) => {
                if choices.iter().any(|choice| choice == token.text) {
                    Some(InputValue::Choice(token.text.to_owned()))
                } else {
                    let names: Vec<&str> = choices.iter().map(String::as_str).collect();
                    self.push(BookError::UnknownChoice {
                        value: token.text.to_owned(),
                        input: input.to_owned(),
                        span: token.span.into(),
                        help: did_you_mean(token.text, names.iter().copied(), || {
                            format!("`{input}` is one of {}", backticked(&names))
                        }),
                    });
                    None
                }
            }
            InputKind::Flag => match token.text {
                "yes" => Some(InputValue::Flag(true)),
                "no" => Some(InputValue::Flag(false)),
                other => {
                    self.push(BookError::InvalidInput {
                        message: format!("`{other}` is not a value of flag `{input}`"),
                        span: token.span.into(),
                        label: label.to_owned(),
                        help: "a flag is `yes` or `no`".to_owned(),
                    });
                    None
                }
            },
            _ => self.quantity(kind, token, label).map(InputValue::Quantity),
        }
    }
}
