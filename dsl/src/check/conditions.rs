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
            let resolved = match &test.kind {
                ast::TestKind::Is { input, values } => self.is_test(scope, *input, values, &mut ok),
                ast::TestKind::Flag(name) | ast::TestKind::NotFlag(name) => {
                    self.flag_test(scope, test, *name)
                }
                ast::TestKind::Compare {
                    input, op, value, ..
                } => self.compare_test(scope, *input, *op, *value),
            };
            let Some((input, mask, lowered)) = resolved else {
                ok = false;
                continue;
            };
            let Some(slot) = masks.get_mut(input) else {
                continue;
            };
            let before = *slot;
            *slot &= mask;
            if *slot == 0 && mask != 0 && reachable {
                reachable = false;
                self.unreachable(scope, condition.span, input, before, mask);
            }
            tests.extend(lowered);
        }
        ok.then_some(Resolved {
            condition: Condition { all: tests },
            masks,
            reachable,
        })
    }

    /// `INPUT is a or b`: its dimension, mask and lowered test; unknown values are reported
    /// (and clear `ok`) without losing the rest.
    fn is_test(
        &mut self,
        scope: &Scope<'_>,
        input: Token<'_>,
        values: &[Token<'_>],
        ok: &mut bool,
    ) -> Option<(usize, u64, Option<Test>)> {
        let dim_index = self.dim(scope, input)?;
        let dim = scope.dims.get(dim_index)?;
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
                None if dim.input == crate::rate::PLAN && !dim.flag => {
                    *ok = false;
                    self.unknown_plan(*value);
                }
                None if dim.input == "channel" && !dim.flag => {
                    *ok = false;
                    let known: Vec<&str> = dim.values.iter().map(String::as_str).collect();
                    self.unknown_channel(*value, &known);
                }
                None => {
                    *ok = false;
                    let known: Vec<&str> = dim.values.iter().map(String::as_str).collect();
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
        Some((dim_index, mask, lowered))
    }

    /// `FLAG` or `not FLAG`: its dimension, mask and lowered test.
    fn flag_test(
        &mut self,
        scope: &Scope<'_>,
        test: &ast::TestDecl<'_>,
        name: Token<'_>,
    ) -> Option<(usize, u64, Option<Test>)> {
        let expected = matches!(test.kind, ast::TestKind::Flag(_));
        let dim_index = self.dim(scope, name)?;
        let dim = scope.dims.get(dim_index)?;
        if !dim.flag {
            let example = dim.values.first().map_or("a", String::as_str);
            self.push(BookError::InvalidCondition {
                message: format!("`{}` is not a flag", name.text),
                span: test.span.into(),
                label: "needs a value".to_owned(),
                help: format!("say which value, such as `{} is {example}`", name.text),
            });
            return None;
        }
        Some((
            dim_index,
            if expected { 0b10 } else { 0b01 },
            Some(Test::Flag {
                input: dim.input.clone(),
                expected,
            }),
        ))
    }

    /// Reports a condition no usage can meet: two tests of one dimension that never agree.
    fn unreachable(&mut self, scope: &Scope<'_>, span: Span, input: usize, before: u64, mask: u64) {
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
                span: span.into(),
                help: "fix the condition, or delete the rule: `and` needs every test true at once; to accept several values write `model is pro or ultra`".to_owned(),
            });
        }
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
