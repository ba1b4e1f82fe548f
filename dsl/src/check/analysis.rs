//! Per-feature analyses on the lowered rules: conflicting, missing and unreachable prices.

use super::*;

impl<'a> Checker<'a> {
    /// Conflicting and missing `base` prices, duplicate add-ons, and the combinations limit.
    pub(super) fn analyse_rules(
        &mut self,
        scope: &Scope<'_>,
        rules: &[RuleInfo],
        condition_masks: &[Vec<u64>],
        complete: bool,
    ) {
        let too_many = self.too_many_combinations(scope, condition_masks);
        self.duplicate_addons(rules);
        let mut units: Vec<&str> = Vec::new();
        for info in rules {
            if info.rule.role == RuleRole::Base && !units.contains(&info.rule.unit.as_str()) {
                units.push(&info.rule.unit);
            }
        }
        for unit in units {
            let bases: Vec<&RuleInfo> = rules
                .iter()
                .filter(|info| {
                    info.rule.role == RuleRole::Base && info.rule.unit == unit && info.reachable
                })
                .collect();
            self.conflicting_bases(scope, unit, &bases);
            if !too_many && complete {
                self.missing_prices(scope, unit, &bases);
            }
        }
    }

    /// Whether the feature's conditions tell apart more combinations than the limit (reported).
    fn too_many_combinations(&mut self, scope: &Scope<'_>, condition_masks: &[Vec<u64>]) -> bool {
        // The combinations the feature's conditions tell apart.
        let mut combinations: usize = 1;
        for (index, dim) in scope.dims.iter().enumerate() {
            let full = dim.full();
            if condition_masks
                .iter()
                .any(|masks| masks.get(index).is_some_and(|mask| *mask != full))
            {
                combinations = combinations.saturating_mul(dim.values.len());
            }
        }
        let too_many = combinations > MAX_COMBINATIONS_PER_FEATURE;
        if too_many {
            self.push(BookError::TooMany {
                what: "feature",
                items: "combinations of choices, flags and channels in its conditions",
                limit: MAX_COMBINATIONS_PER_FEATURE,
                span: scope.name.span.into(),
            });
        }
        too_many
    }

    fn duplicate_addons(&mut self, rules: &[RuleInfo]) {
        // Identical add-ons.
        for (later_index, later) in rules.iter().enumerate() {
            if later.rule.role != RuleRole::Add {
                continue;
            }
            let earlier = rules.iter().take(later_index).find(|earlier| {
                earlier.rule.role == RuleRole::Add
                    && earlier.rule.unit == later.rule.unit
                    && earlier.rule.price == later.rule.price
                    && earlier.rule.when == later.rule.when
                    && earlier.rule.times == later.rule.times
            });
            if let Some(earlier) = earlier {
                self.push(BookError::DuplicateRule {
                    first_line: self.line(earlier.span.start),
                    first: earlier.span.into(),
                    second: later.span.into(),
                });
            }
        }
    }

    /// Conflicts: two `base` rules of one unit whose masks meet in every dimension.
    fn conflicting_bases(&mut self, scope: &Scope<'_>, unit: &str, bases: &[&RuleInfo]) {
        // Conflicts: two rules whose masks meet in every dimension.
        let mut reported: Vec<usize> = Vec::new();
        for (second_index, second) in bases.iter().enumerate() {
            for first in bases.iter().take(second_index) {
                let overlap: Option<Vec<u64>> = first
                    .masks
                    .iter()
                    .zip(&second.masks)
                    .map(|(a, b)| (a & b != 0).then_some(a & b))
                    .collect();
                let Some(overlap) = overlap else {
                    continue;
                };
                if reported.contains(&second_index) {
                    break;
                }
                reported.push(second_index);
                let chosen: Vec<Option<usize>> = scope
                    .dims
                    .iter()
                    .enumerate()
                    .map(|(index, dim)| {
                        let full = dim.full();
                        let constrained = first.masks.get(index).is_some_and(|mask| *mask != full)
                            || second.masks.get(index).is_some_and(|mask| *mask != full);
                        let mask = overlap.get(index).copied().unwrap_or(0);
                        (constrained && mask != 0).then(|| mask.trailing_zeros() as usize)
                    })
                    .collect();
                self.push(BookError::ConflictingRules {
                    unit: unit.to_owned(),
                    first_line: self.line(first.span.start),
                    second_line: self.line(second.span.start),
                    combination: describe_combination(scope, &chosen),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
        }
    }

    /// Missing prices: a combination of the dimensions the `base` rules test that none prices.
    fn missing_prices(&mut self, scope: &Scope<'_>, unit: &str, bases: &[&RuleInfo]) {
        let (tested, missing, first_missing) = unpriced(scope, bases, &self.refused_masks);
        if let Some(first) = first_missing {
            let mut chosen: Vec<Option<usize>> = vec![None; scope.dims.len()];
            for (dim, value) in tested.iter().zip(first) {
                if let Some(slot) = chosen.get_mut(*dim) {
                    *slot = Some(value);
                }
            }
            let combination = describe_combination(scope, &chosen);
            let more = match missing {
                0 | 1 => String::new(),
                2 => "; 1 other combination is missing too".to_owned(),
                count => format!("; {} other combinations are missing too", count - 1),
            };
            self.push(BookError::MissingPrice {
                unit: unit.to_owned(),
                combination: combination.clone(),
                span: scope.name.span.into(),
                help: format!(
                    "every usage must match one `base` rule for `{unit}`: add one that applies {combination}, or widen an existing condition{more}"
                ),
            });
        }
    }

    // ---- Plans ----------------------------------------------------------------------------
}

/// `when model is `pro` and channel is `web``, or `for every usage`.
fn describe_combination(scope: &Scope<'_>, chosen: &[Option<usize>]) -> String {
    let mut parts = Vec::new();
    for (dim, value) in scope.dims.iter().zip(chosen) {
        if let Some(value) = value.and_then(|value| dim.values.get(value)) {
            parts.push(format!("{} is `{value}`", dim.input));
        }
    }
    if parts.is_empty() {
        "for every usage".to_owned()
    } else {
        format!("when {}", parts.join(" and "))
    }
}

/// The dimensions the `base` rules test, how many of their combinations no rule prices
/// (enumerated like an odometer, at most [`MAX_COMBINATIONS_PER_FEATURE`]), and the first.
/// A combination a `refuse` refuses whatever the untested dimensions hold needs no price.
fn unpriced(
    scope: &Scope<'_>,
    bases: &[&RuleInfo],
    refused: &[Vec<u64>],
) -> (Vec<usize>, usize, Option<Vec<usize>>) {
    // Missing prices: enumerate the combinations of the dimensions these rules test.
    let tested: Vec<usize> = scope
        .dims
        .iter()
        .enumerate()
        .filter(|(index, dim)| {
            let full = dim.full();
            bases
                .iter()
                .any(|info| info.masks.get(*index).is_some_and(|mask| *mask != full))
        })
        .map(|(index, _)| index)
        .collect();
    let mut digits = vec![0usize; tested.len()];
    let mut missing = 0usize;
    let mut first_missing: Option<Vec<usize>> = None;
    for _ in 0..MAX_COMBINATIONS_PER_FEATURE {
        let priced = bases.iter().any(|info| {
            tested.iter().zip(&digits).all(|(dim, value)| {
                info.masks
                    .get(*dim)
                    .is_some_and(|mask| mask >> value & 1 == 1)
            })
        });
        let refused = || {
            refused.iter().any(|masks| {
                scope.dims.iter().enumerate().all(|(index, dim)| {
                    let mask = masks.get(index).copied().unwrap_or(u64::MAX);
                    match tested.iter().position(|known| *known == index) {
                        Some(position) => digits
                            .get(position)
                            .is_some_and(|value| mask >> value & 1 == 1),
                        None => mask & dim.full() == dim.full(),
                    }
                })
            })
        };
        if !priced && !refused() {
            missing += 1;
            if first_missing.is_none() {
                first_missing = Some(digits.clone());
            }
        }
        // Next combination, like an odometer.
        let mut carried = true;
        for (position, digit) in digits.iter_mut().enumerate() {
            let size = tested
                .get(position)
                .and_then(|dim| scope.dims.get(*dim))
                .map_or(1, |dim| dim.values.len());
            *digit += 1;
            if *digit < size {
                carried = false;
                break;
            }
            *digit = 0;
        }
        if carried {
            break;
        }
    }
    (tested, missing, first_missing)
}
