//! Small text helpers: name spellings, lists in sentences, input kinds in words.

use super::*;

pub(super) fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn is_book_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The book name a file name implies: the file name without directories, without `.rates`,
/// before any `@`; and the date after the `@`, if any.
pub(super) fn file_stem(file_name: &str) -> (&str, Option<&str>) {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let base = base.strip_suffix(".rates").unwrap_or(base);
    match base.split_once('@') {
        Some((stem, date)) => (stem, Some(date)),
        None => (base, None),
    }
}

pub(super) fn backticked(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    let refs: Vec<&str> = quoted.iter().map(String::as_str).collect();
    join_or(&refs)
}

pub(super) fn backticked_and(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The first run of letters in a quantity's text (`100 words` → `words`, `3m30s` → `m`).
pub(super) fn unit_word_of(text: &str) -> Option<&str> {
    let start = text.find(|c: char| c.is_ascii_alphabetic())?;
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    rest.get(..end)
}

pub(super) fn is_measured(kind: &InputKind) -> bool {
    !matches!(
        kind,
        InputKind::Choice(_) | InputKind::Flag | InputKind::Count
    )
}

pub(super) fn is_quantity(kind: &InputKind) -> bool {
    !matches!(kind, InputKind::Choice(_) | InputKind::Flag)
}

/// `a duration`, `a choice`: an input kind in a sentence.
pub(super) fn kind_phrase(kind: &InputKind) -> String {
    match UnitWordKind::of(kind) {
        Some(family) => family.describe().to_owned(),
        None => match kind {
            InputKind::Count => "a count".to_owned(),
            InputKind::Choice(_) => "a choice".to_owned(),
            _ => "a flag".to_owned(),
        },
    }
}
