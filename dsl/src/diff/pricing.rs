//! Changes of a feature's prices, old → new: a rule (a `base` line, an add-on or a table
//! row's price) whose amount changed while what it prices stayed, and factors on the
//! feature's amount.

use crate::book::{Factor, Price, Rule};

/// Rules compare by meaning, not by their line in the file.
fn same_rule(left: &Rule, right: &Rule) -> bool {
    left.role == right.role
        && left.unit == right.unit
        && left.price == right.price
        && left.when == right.when
        && left.times == right.times
}

/// Whether two rules price the same thing (role, unit, condition, input and step), so that
/// one replacing the other is a changed price rather than a rule removed and another added.
fn same_slot(left: &Rule, right: &Rule) -> bool {
    let same_measure = match (&left.price, &right.price) {
        (Price::Each { .. }, Price::Each { .. }) => true,
        (
            Price::Per {
                input,
                per,
                rounded,
                ..
            },
            Price::Per {
                input: other_input,
                per: other_per,
                rounded: other_rounded,
                ..
            },
        ) => input == other_input && per == other_per && rounded == other_rounded,
        _ => false,
    };
    same_measure
        && left.role == right.role
        && left.unit == right.unit
        && left.when == right.when
        && left.times == right.times
}

/// `rule removed: …`, `rule added: …` and `price changed: OLD → NEW`.
pub(super) fn rule_changes(old: &[Rule], new: &[Rule]) -> Vec<String> {
    let removed: Vec<&Rule> = old
        .iter()
        .filter(|rule| !new.iter().any(|other| same_rule(rule, other)))
        .collect();
    let added: Vec<&Rule> = new
        .iter()
        .filter(|rule| !old.iter().any(|other| same_rule(rule, other)))
        .collect();
    let mut paired: Vec<usize> = Vec::new();
    let mut details = Vec::new();
    for rule in &removed {
        let partner = added
            .iter()
            .enumerate()
            .find(|(index, other)| !paired.contains(index) && same_slot(rule, other));
        match partner {
            Some((index, other)) => {
                paired.push(index);
                details.push(format!("price changed: {} → {}", rule.source, other.source));
            }
            None => details.push(format!("rule removed: {}", rule.source)),
        }
    }
    for (index, rule) in added.iter().enumerate() {
        if !paired.contains(&index) {
            details.push(format!("rule added: {}", rule.source));
        }
    }
    details
}

/// `factor removed: …`, `factor added: …` and `factor changed: OLD → NEW` (same condition).
pub(super) fn factor_changes(old: &[Factor], new: &[Factor]) -> Vec<String> {
    let same =
        |left: &Factor, right: &Factor| left.factor == right.factor && left.when == right.when;
    let removed: Vec<&Factor> = old
        .iter()
        .filter(|factor| !new.iter().any(|other| same(factor, other)))
        .collect();
    let added: Vec<&Factor> = new
        .iter()
        .filter(|factor| !old.iter().any(|other| same(factor, other)))
        .collect();
    let mut paired: Vec<usize> = Vec::new();
    let mut details = Vec::new();
    for factor in &removed {
        let partner = added
            .iter()
            .enumerate()
            .find(|(index, other)| !paired.contains(index) && other.when == factor.when);
        match partner {
            Some((index, other)) => {
                paired.push(index);
                details.push(format!(
                    "factor changed: {} → {}",
                    factor.source, other.source
                ));
            }
            None => details.push(format!("factor removed: {}", factor.source)),
        }
    }
    for (index, factor) in added.iter().enumerate() {
        if !paired.contains(&index) {
            details.push(format!("factor added: {}", factor.source));
        }
    }
    details
}
