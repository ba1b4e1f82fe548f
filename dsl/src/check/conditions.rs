//! `when` conditions resolved against a feature's inputs and channels.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn condition(
        &mut self,
        scope: &Scope<'_>,
        condition: Option<&ast::Condition<'_>>,
    ) -> Option<Resolved> {
        let mut masks: Vec<u64> = scope.dims.iter().map(Dim::full).collect();
        let mut tests = Vec::new();
        let mut ok = true;
        let mut reachable = true;
        let Some(condition) = condition else {
            return Some(Resolved {
                condition: Condition::default(),
                masks,
                reachable,
            });
        };
        for test in &condition.tests {
            let (input, mask, lowered) = match &test.kind {
                ast::TestKind::Is { input, values } => {
                    let Some(dim_index) = self.dim(scope, *input) else {
                        ok = false;
                        continue;
                    };
                    let Some(dim) = scope.dims.get(dim_index) else {
                        ok = false;
                        continue;
                    };
                    let mut mask = 0u64;
                    let mut names = Vec::new();
                    for value in values {
                        match dim.values.iter().position(|known| known == value.text) {
                            Some(position) => {
                                mask |= 1u64 << position;
                                if !names.contains(&value.text.to_owned()) {
                                    names.push(value.text.to_owned());
                                }
                            }
                            None if dim.input == "channel" && !dim.flag => {
                                ok = false;
                                let known: Vec<&str> =
                                    dim.values.iter().map(String::as_str).collect();
                                self.unknown_channel(*value, &known);
                            }
                            None => {
                                ok = false;
                                let known: Vec<&str> =
                                    dim.values.iter().map(String::as_str).collect();
                                let help = if dim.flag {
                                    format!(
                                        "`{}` is a flag: test it with `{}` or `not {}`",
                                        dim.input, dim.input, dim.input
                                    )
                                } else {
                                    did_you_mean(value.text, known.iter().copied(), || {
                                        format!("`{}` is one of {}", dim.input, backticked(&known))
                                    })
                                };
                                self.push(BookError::UnknownChoice {
                                    value: value.text.to_owned(),
                                    input: dim.input.clone(),
                                    span: value.span.into(),
                                    help,
                                });
                            }
                        }
                    }
                    let lowered = if dim.flag {
                        match mask {
                            0b01 => Some(Test::Flag {
                                input: dim.input.clone(),
                                expected: false,
                            }),
                            0b10 => Some(Test::Flag {
                                input: dim.input.clone(),
                                expected: true,
                            }),
                            _ => None,
                        }
                    } else {
                        Some(Test::OneOf {
                            input: dim.input.clone(),
                            values: names,
                        })
                    };
                    (dim_index, mask, lowered)
                }
                ast::TestKind::Flag(name) | ast::TestKind::NotFlag(name) => {
                    let expected = matches!(test.kind, ast::TestKind::Flag(_));
                    let Some(dim_index) = self.dim(scope, *name) else {
                        ok = false;
                        continue;
                    };
                    let Some(dim) = scope.dims.get(dim_index) else {
                        ok = false;
                        continue;
                    };
                    if !dim.flag {
                        let example = dim.values.first().map_or("a", String::as_str);
                        self.push(BookError::InvalidCondition {
                            message: format!("`{}` is not a flag", name.text),
                            span: test.span.into(),
                            label: "needs a value".to_owned(),
                            help: format!("say which value, such as `{} is {example}`", name.text),
                        });
                        ok = false;
                        continue;
                    }
                    (
                        dim_index,
                        if expected { 0b10 } else { 0b01 },
                        Some(Test::Flag {
                            input: dim.input.clone(),
                            expected,
                        }),
                    )
                }
            };
            let Some(slot) = masks.get_mut(input) else {
                continue;
            };
            let before = *slot;
            *slot &= mask;
            if *slot == 0 && mask != 0 && reachable {
                reachable = false;
                if let Some(dim) = scope.dims.get(input) {
                    let describe = |mask: u64| -> String {
                        let names: Vec<&str> = dim
                            .values
                            .iter()
                            .enumerate()
                            .filter(|(position, _)| mask >> position & 1 == 1)
                            .map(|(_, value)| value.as_str())
                            .collect();
                        backticked(&names)
                    };
                    let reason = format!(
                        "`{}` cannot be {} and {} at once",
                        dim.input,
                        describe(before),
                        describe(mask)
                    );
                    self.push(BookError::Unreachable {
                        reason,
                        span: condition.span.into(),
                        help: "fix the condition, or delete the rule: `and` needs every test true at once; to accept several values write `model is pro or ultra`".to_owned(),
                    });
                }
            }
            tests.extend(lowered);
        }
        ok.then_some(Resolved {
            condition: Condition { all: tests },
            masks,
            reachable,
        })
    }

    /// The dimension a condition names: `channel`, a choice or a flag.
    pub(super) fn dim(&mut self, scope: &Scope<'_>, name: Token<'_>) -> Option<usize> {
        if let Some(index) = scope.dims.iter().position(|dim| dim.input == name.text) {
            return Some(index);
        }
        if name.text == "channel" {
            self.push(BookError::InvalidCondition {
                message: "the book declares no channels".to_owned(),
                span: name.span.into(),
                label: "no channels".to_owned(),
                help:
                    "declare them at the top of the file, such as `channels web, api default web`"
                        .to_owned(),
            });
            return None;
        }
        let input = self.input(scope, name)?;
        self.push(BookError::ConditionOnQuantity {
            input: name.text.to_owned(),
            kind: kind_phrase(&input.input.kind),
            span: name.span.into(),
        });
        None
    }
}
