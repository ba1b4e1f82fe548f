//! Semantic checks: the syntax tree → a checked book, or every error in the file.
//!
//! One pass over the tree resolves every name, reads every number and quantity, and lowers
//! each statement to its [`crate::book`] form while recording what is wrong; then the
//! per-feature analyses run on the lowered rules (conflicting or missing prices, unreachable
//! rules, unstated roundings). Nothing stops at the first error: every statement is checked,
//! and the book is only used when the error list is empty.
//!
//! Conditions are analysed as bit masks: each choice input, flag and the channel is a
//! dimension with at most 64 values, a condition is one mask per dimension, two `base` rules
//! conflict when every dimension's masks intersect, and a combination is priced when some
//! `base` rule's masks all contain it. Enumeration is capped at
//! [`MAX_COMBINATIONS_PER_FEATURE`].

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ast::{self, Span, Token};
use crate::book::*;
use crate::compile::{grant_key, to_minor};
use crate::diagnostics::{BookError, did_you_mean};
use crate::limits::*;
use crate::literal::{UnitWordKind, kind_example, parse_quantity, unit_word};
use crate::parse::join_or;

/// The outcome of checking one file.
pub(crate) struct Checked {
    /// The lowered book (its `rates_version` is not yet set). Only meaningful when `errors`
    /// is empty.
    pub book: RateBook,
    /// The span of each `expect`, by index in `book.expects`.
    pub expect_spans: Vec<Span>,
    /// The span of the `effective` date, for errors across files.
    pub effective_span: Span,
    pub errors: Vec<BookError>,
}

const NAME_HELP: &str =
    "names use lowercase letters, digits and `_`, and start with a letter, such as `video_minute`";
const REFUND_REASONS: &[&str] = &[
    "duplicate",
    "internal_error",
    "legal",
    "dispute",
    "goodwill",
];
const INPUT_KINDS: &[&str] = &[
    "duration",
    "words",
    "characters",
    "images",
    "tokens",
    "requests",
    "data",
    "count",
    "choice",
    "flag",
];
const ROUNDING_MODES: &[&str] = &["up", "down", "half-up", "half-even", "half-down"];

/// Checks a parsed file. `file_name` is the file's name (its stem must be the book's name).
pub(crate) fn check(file_name: &str, source: &str, file: &ast::File<'_>) -> Checked {
    let checker = Checker {
        cycle_reported: false,
        line_starts: std::iter::once(0)
            .chain(source.match_indices('\n').map(|(offset, _)| offset + 1))
            .collect(),
        errors: Vec::new(),
        units: Vec::new(),
        channels: None,
    };
    checker.file(file_name, file)
}

#[derive(Clone, Copy)]
struct UnitRef<'a> {
    name: &'a str,
    span: Span,
    scale: u32,
    rounding: Option<RoundingMode>,
}

struct ChannelInfo {
    names: Vec<String>,
    default: String,
}

/// A feature's names, for resolving inputs in its rules, in plans' gates and in examples.
struct Scope<'a> {
    name: Token<'a>,
    inputs: Vec<ScopeInput<'a>>,
    dims: Vec<Dim>,
    /// Inputs whose declaration was wrong (already reported): uses of them are not reported
    /// again, and nothing is inferred from their absence.
    broken: Vec<&'a str>,
}

struct ScopeInput<'a> {
    token: Token<'a>,
    input: Input,
}

/// A dimension of the choice space: the channel, a choice input or a flag.
struct Dim {
    input: String,
    /// Value names; for a flag `no` then `yes`.
    values: Vec<String>,
    flag: bool,
}

impl Dim {
    fn full(&self) -> u64 {
        full_mask(self.values.len())
    }
}

fn full_mask(values: usize) -> u64 {
    if values >= 64 {
        u64::MAX
    } else {
        (1u64 << values) - 1
    }
}

/// A lowered rule with what the analyses need.
struct RuleInfo {
    rule: Rule,
    masks: Vec<u64>,
    reachable: bool,
    span: Span,
}

/// A condition resolved against a scope.
struct Resolved {
    condition: Condition,
    masks: Vec<u64>,
    reachable: bool,
}

struct Checker<'a> {
    /// Whether the current plan's missing `cycle` was reported (once per plan is enough).
    cycle_reported: bool,
    line_starts: Vec<usize>,
    errors: Vec<BookError>,
    units: Vec<UnitRef<'a>>,
    channels: Option<ChannelInfo>,
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_book_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The book name a file name implies: the file name without directories, without `.rates`,
/// before any `@`; and the date after the `@`, if any.
fn file_stem(file_name: &str) -> (&str, Option<&str>) {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let base = base.strip_suffix(".rates").unwrap_or(base);
    match base.split_once('@') {
        Some((stem, date)) => (stem, Some(date)),
        None => (base, None),
    }
}

fn backticked(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    let refs: Vec<&str> = quoted.iter().map(String::as_str).collect();
    join_or(&refs)
}

fn backticked_and(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The first run of letters in a quantity's text (`100 words` → `words`, `3m30s` → `m`).
fn unit_word_of(text: &str) -> Option<&str> {
    let start = text.find(|c: char| c.is_ascii_alphabetic())?;
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    rest.get(..end)
}

fn is_measured(kind: &InputKind) -> bool {
    !matches!(
        kind,
        InputKind::Choice(_) | InputKind::Flag | InputKind::Count
    )
}

fn is_quantity(kind: &InputKind) -> bool {
    !matches!(kind, InputKind::Choice(_) | InputKind::Flag)
}

/// `a duration`, `a choice`: an input kind in a sentence.
fn kind_phrase(kind: &InputKind) -> String {
    match UnitWordKind::of(kind) {
        Some(family) => family.describe().to_owned(),
        None => match kind {
            InputKind::Count => "a count".to_owned(),
            InputKind::Choice(_) => "a choice".to_owned(),
            _ => "a flag".to_owned(),
        },
    }
}

impl<'a> Checker<'a> {
    fn push(&mut self, error: BookError) {
        self.errors.push(error);
    }

    /// 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset)
    }

    fn name(&mut self, what: &'static str, token: Token<'_>) -> bool {
        if is_name(token.text) {
            return true;
        }
        self.push(BookError::InvalidName {
            what,
            name: token.text.to_owned(),
            span: token.span.into(),
            help: NAME_HELP.to_owned(),
        });
        false
    }

    fn duplicate(&mut self, what: &'static str, name: &str, first: Span, second: Span) {
        self.push(BookError::Duplicate {
            what,
            name: name.to_owned(),
            first: first.into(),
            second: second.into(),
        });
    }

    fn unknown_channel(&mut self, token: Token<'_>, channels: &[&str]) {
        let help = did_you_mean(token.text, channels.iter().copied(), || {
            format!("the channels are {}", backticked_and(channels))
        });
        self.push(BookError::UnknownWord {
            what: "channel",
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
    }

    fn repeated(&mut self, message: String, first: Span, second: Span, help: String) {
        self.push(BookError::Repeated {
            message,
            first: first.into(),
            second: second.into(),
            help,
        });
    }

    fn invalid_statement(&mut self, span: Span, message: String, label: &str, help: String) {
        self.push(BookError::InvalidStatement {
            message,
            span: span.into(),
            label: label.to_owned(),
            help,
        });
    }

    // ---- Numbers ------------------------------------------------------------------------------

    /// Reads a plain number (`12000`, `0.25`, `1_000_000`) within the digit limits.
    fn number(&mut self, token: Token<'_>) -> Option<Decimal> {
        let text = token.text;
        let invalid = |reason: &'static str, help: &str| BookError::InvalidNumber {
            text: text.to_owned(),
            reason,
            span: token.span.into(),
            help: help.to_owned(),
        };
        let digits_help = crate::literal::DIGITS_HELP;
        if text.contains(['e', 'E']) {
            self.push(invalid(
                "numbers are written without exponents",
                "write the number out in full, such as `150000` instead of `1.5e5`",
            ));
            return None;
        }
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let count = |part: &str| part.chars().filter(char::is_ascii_digit).count();
        if count(integer) > MAX_INTEGER_DIGITS {
            self.push(invalid("too many digits before the point", digits_help));
            return None;
        }
        if count(fraction) > MAX_DECIMAL_DIGITS {
            self.push(invalid("too many digits after the point", digits_help));
            return None;
        }
        if count(integer.trim_start_matches(['0', '_'])) + count(fraction)
            > crate::limits::MAX_SIGNIFICANT_DIGITS
        {
            self.push(invalid("more than 28 digits in all", digits_help));
            return None;
        }
        let value = if text.contains('_') {
            Decimal::from_str_exact(&text.replace('_', ""))
        } else {
            Decimal::from_str_exact(text)
        };
        match value {
            Ok(value) => Some(value.normalize()),
            Err(_) => {
                self.push(invalid("too many significant digits", digits_help));
                None
            }
        }
    }

    /// A number that must not be negative (and, if `positive`, not zero either).
    fn amount(&mut self, token: Token<'_>, positive: bool, what: &str) -> Option<Decimal> {
        let value = self.number(token)?;
        if value.is_sign_negative() && !value.is_zero() {
            self.push(BookError::OutOfRange {
                text: token.text.to_owned(),
                reason: format!("{what} cannot be negative"),
                span: token.span.into(),
                help: format!("write {what} as zero or more"),
            });
            return None;
        }
        if positive && value.is_zero() {
            self.push(BookError::OutOfRange {
                text: token.text.to_owned(),
                reason: format!("{what} must be more than zero"),
                span: token.span.into(),
                help: format!("write {what} as a number above zero"),
            });
            return None;
        }
        Some(value)
    }

    /// A whole number within `min..=max`.
    fn whole(&mut self, token: Token<'_>, min: u64, max: u64, what: &str) -> Option<u64> {
        let value = self.number(token)?;
        let whole = if value.fract().is_zero() {
            u64::try_from(value.mantissa()).ok().and_then(|mantissa| {
                10u64
                    .checked_pow(value.scale())
                    .map(|divisor| mantissa / divisor)
            })
        } else {
            None
        };
        match whole {
            Some(whole) if (min..=max).contains(&whole) => Some(whole),
            _ => {
                self.push(BookError::OutOfRange {
                    text: token.text.to_owned(),
                    reason: format!("{what} is a whole number from {min} to {max}"),
                    span: token.span.into(),
                    help: format!("write {what} as a whole number from {min} to {max}"),
                });
                None
            }
        }
    }

    /// Reads a quantity literal of an input kind, in its base unit.
    fn quantity(&mut self, kind: &InputKind, token: Token<'_>, label: &str) -> Option<Decimal> {
        match parse_quantity(kind, token.text) {
            Ok(value) => Some(value),
            Err(error) => {
                let help = miette::Diagnostic::help(&error).map(|help| help.to_string());
                self.push(BookError::InvalidQuantity {
                    message: error.to_string(),
                    span: token.span.into(),
                    label: label.to_owned(),
                    help,
                });
                None
            }
        }
    }

    /// An amount in a unit's minor units (`12000 credit` → 1_200_000 at scale 2).
    fn minor(
        &mut self,
        amount: &ast::Amount<'_>,
        unit: UnitRef<'_>,
        positive: bool,
    ) -> Option<i64> {
        let value = self.amount(amount.number, positive, "the amount")?;
        match to_minor(value, unit.scale) {
            Some(minor) => Some(minor),
            None if value.normalize().scale() > unit.scale => {
                let step = Decimal::new(1, unit.scale);
                self.push(BookError::AmountTooFine {
                    text: format!("{} {}", amount.number.text, amount.unit.text),
                    unit: unit.name.to_owned(),
                    span: amount.span.into(),
                    scale: unit.scale,
                    help: format!(
                        "`{}` is kept to {} decimals: write a multiple of `{step}`, or raise the unit's `scale`",
                        unit.name, unit.scale
                    ),
                });
                None
            }
            None => {
                self.push(BookError::OutOfRange {
                    text: format!("{} {}", amount.number.text, amount.unit.text),
                    reason: "it is too large to store".to_owned(),
                    span: amount.span.into(),
                    help: "write a smaller amount".to_owned(),
                });
                None
            }
        }
    }

    // ---- Names ----------------------------------------------------------------------------

    fn unit(&mut self, token: Token<'_>) -> Option<UnitRef<'a>> {
        if let Some(unit) = self.units.iter().find(|unit| unit.name == token.text) {
            return Some(*unit);
        }
        let names: Vec<&str> = self.units.iter().map(|unit| unit.name).collect();
        let help = if unit_word(token.text).is_some() {
            format!(
                "`{}` measures a quantity, not an amount; a price is written `20 credit per {}`, a minimum quantity `minimum 30s of duration`",
                token.text, token.text
            )
        } else {
            did_you_mean(token.text, names.iter().copied(), || {
                if names.is_empty() {
                    format!(
                        "declare it at the top of the file, such as `unit {} scale 2 round half-up`",
                        token.text
                    )
                } else {
                    format!(
                        "the units are {}; declare new ones at the top of the file, such as `unit {} scale 2 round half-up`",
                        backticked_and(&names),
                        token.text
                    )
                }
            })
        };
        self.push(BookError::UnknownUnit {
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
        None
    }

    fn input<'s>(&mut self, scope: &'s Scope<'_>, token: Token<'_>) -> Option<&'s ScopeInput<'s>> {
        if let Some(input) = scope
            .inputs
            .iter()
            .find(|input| input.input.name == token.text)
        {
            return Some(input);
        }
        if scope.broken.contains(&token.text) {
            return None;
        }
        let names: Vec<&str> = scope
            .inputs
            .iter()
            .map(|input| input.input.name.as_str())
            .collect();
        let help = if token.text == "channel" {
            "`channel` is not an input: declare the channels at the top of the file, such as `channels web, api default web`".to_owned()
        } else if token.text == "plan" && names.iter().all(|name| *name != "plan") {
            "a condition tests the feature's inputs, and the account's plan is not one: a plan gates a feature with `requires subscription for FEATURE` inside its `plan { }` block; for a price per plan, declare an input the caller sends, such as `input tier: choice(free, pro)`, and write one `base` line per case with `when tier is pro`".to_owned()
        } else {
            did_you_mean(token.text, names.iter().copied(), || {
                if names.is_empty() {
                    format!(
                        "declare it in the feature, such as `input {}: duration max 1h`",
                        token.text
                    )
                } else {
                    format!(
                        "the inputs of `{}` are {}; declare new ones with `input`",
                        scope.name.text,
                        backticked_and(&names)
                    )
                }
            })
        };
        self.push(BookError::UnknownInput {
            name: token.text.to_owned(),
            feature: scope.name.text.to_owned(),
            span: token.span.into(),
            help,
        });
        None
    }

    fn feature_scope<'s>(
        &mut self,
        scopes: &'s [Scope<'_>],
        token: Token<'_>,
    ) -> Option<&'s Scope<'s>> {
        if let Some(scope) = scopes.iter().find(|scope| scope.name.text == token.text) {
            return Some(scope);
        }
        self.unknown_feature(scopes, token);
        None
    }

    fn unknown_feature(&mut self, scopes: &[Scope<'_>], token: Token<'_>) {
        let names: Vec<&str> = scopes.iter().map(|scope| scope.name.text).collect();
        let help = did_you_mean(token.text, names.iter().copied(), || {
            if names.is_empty() {
                "the book declares no features".to_owned()
            } else {
                format!("the features are {}", backticked_and(&names))
            }
        });
        self.push(BookError::UnknownFeature {
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
    }

    // ---- File -----------------------------------------------------------------------------

    fn file(mut self, file_name: &str, file: &ast::File<'a>) -> Checked {
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        let mut book_name: Option<Token<'a>> = None;
        let mut title = None;
        let mut effective: Option<(NaiveDate, Span)> = None;
        let mut effective_seen = false;
        let mut time_zone = "UTC".to_owned();
        let mut channels_seen = false;
        let mut features = Vec::new();
        let mut plans = Vec::new();
        let mut expects = Vec::new();

        for top in &file.statements {
            let keyword = top.kind.keyword();
            if !matches!(
                top.kind,
                ast::TopKind::Unit(_)
                    | ast::TopKind::Feature(_)
                    | ast::TopKind::Plan(_)
                    | ast::TopKind::Expect(_)
            ) {
                if let Some((_, first)) = seen
                    .iter()
                    .find(|(seen_keyword, _)| *seen_keyword == keyword)
                {
                    let first = *first;
                    self.push(BookError::DuplicateStatement {
                        keyword: keyword.to_owned(),
                        first: first.into(),
                        second: top.span.into(),
                    });
                    continue;
                }
                seen.push((keyword, top.span));
            }
            match &top.kind {
                ast::TopKind::Book(name) => {
                    if is_book_name(name.text) {
                        book_name = Some(*name);
                    } else {
                        self.push(BookError::InvalidName {
                            what: "book",
                            name: name.text.to_owned(),
                            span: name.span.into(),
                            help: "a book's name uses lowercase letters, digits, `_` and `-`, starts with a letter, and is the file's name: `imentiv` for `imentiv.rates`".to_owned(),
                        });
                    }
                }
                ast::TopKind::Title(text) => title = Some(text.unquoted().to_owned()),
                ast::TopKind::Effective(date) => {
                    effective_seen = true;
                    match NaiveDate::parse_from_str(date.text, "%Y-%m-%d") {
                        Ok(parsed) => effective = Some((parsed, date.span)),
                        Err(_) => self.push(BookError::InvalidDate {
                            text: date.text.to_owned(),
                            span: date.span.into(),
                        }),
                    }
                }
                ast::TopKind::TimeZone(zone) => {
                    let name = zone.unquoted();
                    if chrono_tz::Tz::from_str(name).is_ok() {
                        name.clone_into(&mut time_zone);
                    } else {
                        self.push(BookError::UnknownTimeZone {
                            name: name.to_owned(),
                            span: zone.span.into(),
                        });
                    }
                }
                ast::TopKind::Source(_) => {}
                ast::TopKind::Unit(unit) => self.unit_decl(unit, top.span),
                ast::TopKind::Channels(channels) => {
                    channels_seen = true;
                    self.channels_decl(channels, top.span);
                }
                ast::TopKind::Feature(block) => features.push((block, top.span)),
                ast::TopKind::Plan(block) => plans.push((block, top.span)),
                ast::TopKind::Expect(expect) => expects.push((expect, top.span)),
            }
        }

        let file_start = Span::new(0, 0);
        for (keyword, present, help) in [
            (
                "book",
                seen.iter().any(|(keyword, _)| *keyword == "book"),
                format!("start the file with `book {}`", file_stem(file_name).0),
            ),
            (
                "effective",
                effective_seen,
                "add the first day this version applies, such as `effective 2025-01-01`".to_owned(),
            ),
            (
                "unit",
                !self.units.is_empty() || file.statements.iter().any(|top| matches!(top.kind, ast::TopKind::Unit(_))),
                "declare the units amounts are kept in, such as `unit credit scale 2 round half-up`".to_owned(),
            ),
        ] {
            if !present {
                self.push(BookError::MissingStatement {
                    keyword,
                    span: file_start.into(),
                    help,
                });
            }
        }

        let (stem, file_date) = file_stem(file_name);
        if let Some(name) = book_name
            && name.text != stem
            && !stem.is_empty()
        {
            self.push(BookError::BookName {
                name: name.text.to_owned(),
                file: file_name.rsplit(['/', '\\']).next().unwrap_or(file_name).to_owned(),
                span: name.span.into(),
                help: format!(
                    "a book's name is its file's name before any `@`: write `book {stem}`, or rename the file to `{}.rates`",
                    name.text
                ),
            });
        }
        if let (Some(file_date), Some((date, span))) = (file_date, effective)
            && let Ok(parsed) = NaiveDate::parse_from_str(file_date, "%Y-%m-%d")
            && parsed != date
        {
            self.push(BookError::FileDate {
                book: stem.to_owned(),
                file_date: file_date.to_owned(),
                effective: date.to_string(),
                span: span.into(),
            });
        }
        if !channels_seen {
            self.channels = None;
        }

        // Features: names first, so that `requires` may name a later feature.
        let mut feature_names: Vec<Token<'a>> = Vec::new();
        for (index, (block, _)) in features.iter().enumerate() {
            if index == MAX_FEATURES {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "features",
                    limit: MAX_FEATURES,
                    span: block.name.span.into(),
                });
            }
            self.name("feature", block.name);
            if let Some(first) = feature_names
                .iter()
                .find(|name| name.text == block.name.text)
            {
                let first = first.span;
                self.duplicate("feature", block.name.text, first, block.name.span);
            } else {
                feature_names.push(block.name);
            }
        }
        let mut lowered_features = Vec::new();
        let mut scopes: Vec<Scope<'a>> = Vec::new();
        for (block, _) in features.iter().take(MAX_FEATURES) {
            let (feature, scope) = self.feature(block, &feature_names);
            lowered_features.push(feature);
            scopes.push(scope);
        }

        let mut plan_names: Vec<Token<'a>> = Vec::new();
        let mut lowered_plans = Vec::new();
        for (index, (block, _)) in plans.iter().enumerate() {
            if index == MAX_PLANS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "plans",
                    limit: MAX_PLANS,
                    span: block.name.span.into(),
                });
                break;
            }
            self.name("plan", block.name);
            if let Some(first) = plan_names.iter().find(|name| name.text == block.name.text) {
                let first = first.span;
                self.duplicate("plan", block.name.text, first, block.name.span);
            } else {
                plan_names.push(block.name);
            }
            lowered_plans.push(self.plan(block, &scopes));
        }

        let mut lowered_expects = Vec::new();
        let mut expect_spans = Vec::new();
        for (index, (expect, span)) in expects.iter().enumerate() {
            if index == MAX_EXPECTS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "examples",
                    limit: MAX_EXPECTS,
                    span: (*span).into(),
                });
                break;
            }
            if let Some(lowered) = self.expect(expect, *span, &scopes) {
                lowered_expects.push(lowered);
                expect_spans.push(*span);
            }
        }

        let units = self
            .units
            .iter()
            .map(|unit| UnitDef {
                name: unit.name.to_owned(),
                scale: unit.scale,
                rounding: unit.rounding,
            })
            .collect();
        let book = RateBook {
            name: book_name
                .map(|name| name.text.to_owned())
                .unwrap_or_default(),
            title,
            effective: effective.map(|(date, _)| date).unwrap_or_default(),
            time_zone,
            rates_version: String::new(),
            units,
            channels: self.channels.as_ref().map(|channels| Channels {
                names: channels.names.clone(),
                default: channels.default.clone(),
            }),
            features: lowered_features,
            plans: lowered_plans,
            expects: lowered_expects,
        };
        Checked {
            book,
            expect_spans,
            effective_span: effective.map_or(file_start, |(_, span)| span),
            errors: self.errors,
        }
    }

    fn unit_decl(&mut self, unit: &ast::UnitDecl<'a>, span: Span) {
        if self.units.len() == MAX_UNITS {
            self.push(BookError::TooMany {
                what: "book",
                items: "units",
                limit: MAX_UNITS,
                span: unit.name.span.into(),
            });
            return;
        }
        self.name("unit", unit.name);
        if let Some(first) = self.units.iter().find(|known| known.name == unit.name.text) {
            let first = first.span;
            self.duplicate("unit", unit.name.text, first, unit.name.span);
            return;
        }
        let mut scale = None;
        match unit.scales.as_slice() {
            [] => self.invalid_statement(
                span,
                format!("unit `{}` has no `scale`", unit.name.text),
                "no scale",
                format!(
                    "say how many decimals amounts keep, such as `unit {} scale 2` for hundredths",
                    unit.name.text
                ),
            ),
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "scale".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                scale = self
                    .whole(*first, 0, u64::from(MAX_UNIT_SCALE), "a scale")
                    .and_then(|value| u32::try_from(value).ok());
            }
        }
        let mut rounding = None;
        if let Some(first) = unit.rounds.first() {
            if let Some(second) = unit.rounds.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "round".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            rounding = self.rounding_mode(*first);
        }
        self.units.push(UnitRef {
            name: unit.name.text,
            span: unit.name.span,
            scale: scale.unwrap_or(0),
            rounding,
        });
    }

    fn rounding_mode(&mut self, token: Token<'_>) -> Option<RoundingMode> {
        let mode = match token.text {
            "up" => RoundingMode::Up,
            "down" => RoundingMode::Down,
            "half-up" => RoundingMode::HalfUp,
            "half-even" => RoundingMode::HalfEven,
            "half-down" => RoundingMode::HalfDown,
            other => {
                let help = if other == "nearest" {
                    "`nearest` rounds quantities; an amount rounds `up`, `down`, `half-up`, `half-even` or `half-down`".to_owned()
                } else {
                    did_you_mean(other, ROUNDING_MODES.iter().copied(), || {
                        "amounts round `up` (away from zero), `down` (toward zero), `half-up`, `half-even` or `half-down`".to_owned()
                    })
                };
                self.push(BookError::UnknownWord {
                    what: "rounding mode",
                    name: other.to_owned(),
                    span: token.span.into(),
                    help,
                });
                return None;
            }
        };
        Some(mode)
    }

    fn channels_decl(&mut self, channels: &ast::ChannelsDecl<'a>, span: Span) {
        let mut names: Vec<Token<'a>> = Vec::new();
        for (index, name) in channels.names.iter().enumerate() {
            if index == MAX_CHANNELS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "channels",
                    limit: MAX_CHANNELS,
                    span: name.span.into(),
                });
                break;
            }
            self.name("channel", *name);
            if let Some(first) = names.iter().find(|known| known.text == name.text) {
                let first = first.span;
                self.duplicate("channel", name.text, first, name.span);
            } else {
                names.push(*name);
            }
        }
        let default = match channels.default {
            Some(default) if names.iter().any(|name| name.text == default.text) => {
                default.text.to_owned()
            }
            Some(default) => {
                let listed: Vec<&str> = names.iter().map(|name| name.text).collect();
                self.unknown_channel(default, &listed);
                String::new()
            }
            None => {
                let first = names.first().map_or("web", |name| name.text);
                self.invalid_statement(
                    span,
                    "the channels have no `default`".to_owned(),
                    "no default",
                    format!(
                        "say which channel a request without one uses, such as `default {first}`"
                    ),
                );
                String::new()
            }
        };
        self.channels = Some(ChannelInfo {
            names: names.iter().map(|name| name.text.to_owned()).collect(),
            default,
        });
    }

    // ---- Features -------------------------------------------------------------------------

    fn feature(
        &mut self,
        block: &ast::Block<'a>,
        feature_names: &[Token<'a>],
    ) -> (Feature, Scope<'a>) {
        let feature_name = block.name.text;
        let mut scope = Scope {
            name: block.name,
            inputs: Vec::new(),
            dims: Vec::new(),
            broken: Vec::new(),
        };
        // Pass 1: placement and inputs, so that rules may name inputs declared after them.
        let mut rule_count = 0usize;
        for statement in &block.body {
            if !statement.kind.is_feature_statement() {
                self.push(BookError::Misplaced {
                    statement: statement.kind.describe(),
                    expected: "plan",
                    found: "feature",
                    span: statement.keyword.into(),
                    block: feature_name.to_owned(),
                    help: "move it into a `plan` block: plans say how credits are granted and spent, features what usage costs".to_owned(),
                });
                continue;
            }
            if matches!(statement.kind, ast::StatementKind::Rule(_)) {
                rule_count += 1;
                if rule_count == MAX_RULES_PER_FEATURE + 1 {
                    self.push(BookError::TooMany {
                        what: "feature",
                        items: "rules",
                        limit: MAX_RULES_PER_FEATURE,
                        span: statement.keyword.into(),
                    });
                }
            }
            if let ast::StatementKind::Input(decl) = &statement.kind {
                if scope.inputs.len() == MAX_INPUTS_PER_FEATURE {
                    self.push(BookError::TooMany {
                        what: "feature",
                        items: "inputs",
                        limit: MAX_INPUTS_PER_FEATURE,
                        span: decl.name.span.into(),
                    });
                    continue;
                }
                if let Some(first) = scope
                    .inputs
                    .iter()
                    .find(|input| input.input.name == decl.name.text)
                {
                    let first = first.token.span;
                    self.duplicate("input", decl.name.text, first, decl.name.span);
                    continue;
                }
                match self.input_decl(decl, statement.span) {
                    Some(input) => scope.inputs.push(ScopeInput {
                        token: decl.name,
                        input,
                    }),
                    None => scope.broken.push(decl.name.text),
                }
            }
        }
        if let Some(channels) = &self.channels {
            scope.dims.push(Dim {
                input: "channel".to_owned(),
                values: channels.names.clone(),
                flag: false,
            });
        }
        for input in &scope.inputs {
            match &input.input.kind {
                InputKind::Choice(values) => scope.dims.push(Dim {
                    input: input.input.name.clone(),
                    values: values.clone(),
                    flag: false,
                }),
                InputKind::Flag => scope.dims.push(Dim {
                    input: input.input.name.clone(),
                    values: vec!["no".to_owned(), "yes".to_owned()],
                    flag: true,
                }),
                _ => {}
            }
        }

        // Pass 2: everything else.
        let mut quantity_rounding: Vec<(QuantityRounding, Span)> = Vec::new();
        let mut amount_rounding: Vec<(AmountRounding, Span)> = Vec::new();
        let mut minimum_quantities = Vec::new();
        let mut minimum_amounts: Vec<(MinimumAmount, Span)> = Vec::new();
        let mut rules: Vec<RuleInfo> = Vec::new();
        let mut multipliers: Vec<(String, Span)> = Vec::new();
        let mut first_free: Option<Span> = None;
        let mut requires_prior: Option<(Vec<String>, Span)> = None;
        let mut condition_masks: Vec<Vec<u64>> = Vec::new();
        for statement in &block.body {
            match &statement.kind {
                ast::StatementKind::Round(round) => {
                    self.round_decl(
                        &scope,
                        round,
                        statement.span,
                        &mut quantity_rounding,
                        &mut amount_rounding,
                    );
                }
                ast::StatementKind::Minimum(minimum) => {
                    if let Some(resolved) = self.minimum_decl(
                        &scope,
                        minimum,
                        statement.span,
                        &mut minimum_quantities,
                        &mut minimum_amounts,
                    ) {
                        condition_masks.push(resolved);
                    }
                }
                ast::StatementKind::Rule(rule) if rules.len() < MAX_RULES_PER_FEATURE => {
                    if let Some(info) = self.rule_decl(&scope, rule, statement.span) {
                        rules.push(info);
                    }
                }
                ast::StatementKind::Multiply(input) => {
                    if let Some(found) = self.input(&scope, *input) {
                        if found.input.kind == InputKind::Count {
                            if let Some((_, first)) =
                                multipliers.iter().find(|(name, _)| name == input.text)
                            {
                                let first = *first;
                                self.repeated(
                                    format!("the feature multiplies by `{}` twice", input.text),
                                    first,
                                    statement.span,
                                    "multiply by each count once".to_owned(),
                                );
                            } else {
                                multipliers.push((input.text.to_owned(), statement.span));
                            }
                        } else {
                            self.not_a_count("multiply by", *input, &found.input.kind);
                        }
                    }
                }
                ast::StatementKind::FirstRequestFree => {
                    if let Some(first) = first_free {
                        self.push(BookError::DuplicateStatement {
                            keyword: "first request free".to_owned(),
                            first: first.into(),
                            second: statement.span.into(),
                        });
                    } else {
                        first_free = Some(statement.span);
                    }
                }
                ast::StatementKind::RequiresPrior(features) => {
                    if let Some((_, first)) = &requires_prior {
                        let first = *first;
                        self.push(BookError::DuplicateStatement {
                            keyword: "requires".to_owned(),
                            first: first.into(),
                            second: statement.span.into(),
                        });
                        continue;
                    }
                    let mut names = Vec::new();
                    for feature in features {
                        if feature.text == feature_name {
                            self.invalid_statement(
                                feature.span,
                                format!("feature `{feature_name}` requires itself"),
                                "this feature",
                                "name the core analyses that must have run on the same content first".to_owned(),
                            );
                        } else if !feature_names.iter().any(|name| name.text == feature.text) {
                            let known: Vec<&str> =
                                feature_names.iter().map(|name| name.text).collect();
                            self.push(BookError::UnknownFeature {
                                name: feature.text.to_owned(),
                                span: feature.span.into(),
                                help: did_you_mean(feature.text, known.iter().copied(), || {
                                    format!("the features are {}", backticked_and(&known))
                                }),
                            });
                        } else if !names.iter().any(|name: &String| name == feature.text) {
                            names.push(feature.text.to_owned());
                        }
                    }
                    requires_prior = Some((names, statement.span));
                }
                _ => {}
            }
        }

        condition_masks.extend(rules.iter().map(|rule| rule.masks.clone()));
        // A rule that failed to check may be the one pricing a combination: only call a price
        // missing when every rule checked.
        let complete = rules.len() == rule_count.min(MAX_RULES_PER_FEATURE);
        self.analyse_rules(&scope, &rules, &condition_masks, complete);

        // Rounding: every duration or data input a rule measures states its rounding.
        let mut reported_inputs: Vec<&str> = Vec::new();
        for info in &rules {
            let input = match &info.rule.price {
                Price::Per { input, .. } | Price::Tiers { input, .. } => input.as_str(),
                Price::Each { .. } => continue,
            };
            let Some(found) = scope.inputs.iter().find(|known| known.input.name == input) else {
                continue;
            };
            let step = match found.input.kind {
                InputKind::Duration => "1s",
                InputKind::Data => "1 MB",
                _ => continue,
            };
            if quantity_rounding
                .iter()
                .any(|(rounding, _)| rounding.input == input)
                || reported_inputs.contains(&input)
            {
                continue;
            }
            reported_inputs.push(input);
            self.push(BookError::QuantityRoundingMissing {
                input: input.to_owned(),
                span: info.span.into(),
                help: format!(
                    "add `round {input} up to {step}` to feature `{feature_name}` (or `down` or `nearest`, to the step you bill)"
                ),
            });
        }

        // Amount rounding, resolved per unit charged.
        let mut units: Vec<String> = Vec::new();
        for info in &rules {
            if !units.contains(&info.rule.unit) {
                units.push(info.rule.unit.clone());
            }
        }
        units.sort();
        let mut resolved_rounding = Vec::new();
        for unit_name in &units {
            if let Some((rounding, _)) = amount_rounding
                .iter()
                .find(|(rounding, _)| &rounding.unit == unit_name)
            {
                resolved_rounding.push(rounding.clone());
                continue;
            }
            let Some(unit) = self
                .units
                .iter()
                .find(|unit| unit.name == unit_name)
                .copied()
            else {
                continue;
            };
            match unit.rounding {
                Some(mode) => resolved_rounding.push(AmountRounding {
                    unit: unit_name.clone(),
                    precision: Decimal::new(1, unit.scale),
                    mode,
                }),
                None => {
                    let span = rules
                        .iter()
                        .find(|info| &info.rule.unit == unit_name)
                        .map_or(block.name.span, |info| info.span);
                    let step = Decimal::new(1, unit.scale);
                    self.push(BookError::AmountRoundingMissing {
                        unit: unit_name.clone(),
                        span: span.into(),
                        help: format!(
                            "add `round half-up` (or another mode) to `unit {unit_name}`, or `round {unit_name} to {step} half-up` to feature `{feature_name}`"
                        ),
                    });
                }
            }
        }
        for (rounding, span) in &amount_rounding {
            if !units.contains(&rounding.unit) {
                self.never_charged(*span, &rounding.unit, feature_name, "rounds");
            }
        }
        for (minimum, span) in &minimum_amounts {
            if !units.contains(&minimum.unit) {
                self.never_charged(
                    *span,
                    &minimum.unit,
                    feature_name,
                    "sets a minimum charge of",
                );
            }
        }
        if rules.is_empty()
            && !block
                .body
                .iter()
                .any(|statement| matches!(statement.kind, ast::StatementKind::Rule(_)))
        {
            self.push(BookError::InvalidPrice {
                message: format!("feature `{feature_name}` has no price"),
                span: block.name.span.into(),
                label: "no `base` or `add` rule".to_owned(),
                help: "add a rule such as `base 1 credit each` or `base 20 credit per minute`; write `base 0 credit each` for a free feature".to_owned(),
            });
        }

        let feature = Feature {
            name: feature_name.to_owned(),
            title: block.title.map(|title| title.unquoted().to_owned()),
            inputs: scope
                .inputs
                .iter()
                .map(|input| input.input.clone())
                .collect(),
            minimum_quantities,
            quantity_rounding: quantity_rounding
                .into_iter()
                .map(|(rounding, _)| rounding)
                .collect(),
            rules: rules.into_iter().map(|info| info.rule).collect(),
            multipliers: multipliers.into_iter().map(|(name, _)| name).collect(),
            amount_rounding: resolved_rounding,
            minimum_amounts: minimum_amounts
                .into_iter()
                .map(|(minimum, _)| minimum)
                .collect(),
            first_request_free: first_free.is_some(),
            requires_prior: requires_prior.map(|(names, _)| names).unwrap_or_default(),
            units,
        };
        (feature, scope)
    }

    fn never_charged(&mut self, span: Span, unit: &str, feature: &str, verb: &str) {
        self.invalid_statement(
            span,
            format!("feature `{feature}` {verb} `{unit}` but never charges it"),
            "not charged by any rule",
            format!("price `{unit}` with a `base` or `add` rule, or delete this line"),
        );
    }

    fn not_a_count(&mut self, statement: &'static str, input: Token<'_>, kind: &InputKind) {
        self.push(BookError::NotACount {
            statement,
            input: input.text.to_owned(),
            kind: kind_phrase(kind),
            span: input.span.into(),
            help: "declare a count input, such as `input outputs: count default 1 max 8`, and name it here".to_owned(),
        });
    }

    fn input_decl(&mut self, decl: &ast::InputDecl<'a>, span: Span) -> Option<Input> {
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
            "choice" => {
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
                InputKind::Choice(names.iter().map(|name| name.text.to_owned()).collect())
            }
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

        let mut max = None;
        if let Some(first) = decl.maxes.first() {
            if let Some(second) = decl.maxes.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "max".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if is_quantity(&kind) {
                max = self.quantity(&kind, *first, "the largest value");
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
                    message: format!("{} has no `max`", kind_phrase(&kind)),
                    span: first.span.into(),
                    label: "not a quantity".to_owned(),
                    help: "remove `max`: only quantities and counts have a largest value"
                        .to_owned(),
                });
            }
        } else if is_measured(&kind) {
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

        let mut min = None;
        if let Some(first) = decl.mins.first() {
            if let Some(second) = decl.mins.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "min".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if is_quantity(&kind) {
                min = self.quantity(&kind, *first, "the smallest value");
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
                    message: format!("{} has no `min`", kind_phrase(&kind)),
                    span: first.span.into(),
                    label: "not a quantity".to_owned(),
                    help: "remove `min`: only quantities and counts have a smallest value"
                        .to_owned(),
                });
            }
        }

        let mut default = None;
        if let Some(first) = decl.defaults.first() {
            if let Some(second) = decl.defaults.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "default".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            default = self.value(&kind, decl.name.text, *first, "the default");
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
        Some(Input {
            name: decl.name.text.to_owned(),
            kind,
            default,
            min,
            max,
        })
    }

    /// A value for an input: a quantity, a choice name or `yes`/`no`.
    fn value(
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

    fn round_decl(
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
            // Quantity rounding.
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
                return;
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
            let direction = match direction_token.text {
                "down" => QuantityDirection::Down,
                "nearest" => QuantityDirection::Nearest,
                _ => QuantityDirection::Up,
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
            return;
        }
        let Some(unit) = unit else {
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
            return;
        };
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
    fn minimum_decl(
        &mut self,
        scope: &Scope<'_>,
        minimum: &ast::MinimumDecl<'_>,
        span: Span,
        quantities: &mut Vec<MinimumQuantity>,
        amounts: &mut Vec<(MinimumAmount, Span)>,
    ) -> Option<Vec<u64>> {
        if let Some(of) = minimum.of {
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
            let resolved = self.condition(scope, minimum.when.as_ref())?;
            if !resolved.reachable {
                return None;
            }
            quantities.push(MinimumQuantity {
                input: of.text.to_owned(),
                quantity,
                when: resolved.condition,
            });
            return Some(resolved.masks);
        }
        // A minimum charge: `minimum 1 credit`.
        let text = minimum.value.text;
        let number_end = text
            .char_indices()
            .find(|(index, c)| {
                c.is_whitespace()
                    || (c.is_ascii_alphabetic()
                        && !((*c == 'e' || *c == 'E')
                            && text.get(index + 1..).is_some_and(|rest| {
                                rest.starts_with(|d: char| {
                                    d.is_ascii_digit() || d == '-' || d == '+'
                                })
                            })))
            })
            .map_or(text.len(), |(index, _)| index);
        let number = Token {
            text: text.get(..number_end).unwrap_or(text),
            span: Span::new(
                minimum.value.span.start,
                minimum.value.span.start + number_end,
            ),
        };
        let rest = text.get(number_end..).unwrap_or("");
        let unit_text = rest.trim_start();
        let unit_start = minimum.value.span.start + number_end + (rest.len() - unit_text.len());
        let unit_token = Token {
            text: unit_text,
            span: Span::new(unit_start, unit_start + unit_text.len()),
        };
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
        None
    }

    // ---- Rules ----------------------------------------------------------------------------

    fn rule_decl(
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
            } => {
                let unit = self.unit(amount.unit);
                let value = self.amount(amount.number, false, "a price");
                let mut of = None;
                let mut rounded = None;
                for modifier in modifiers {
                    let (slot, token, keyword) = match modifier {
                        ast::Modifier::Of(token) => (&mut of, *token, "of"),
                        ast::Modifier::Rounded(token) => (&mut rounded, *token, "rounded"),
                        ast::Modifier::Times(token) => (&mut times, *token, "times"),
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
                                message: "a price `each` is flat per job and measures no quantity".to_owned(),
                                span: token.span.into(),
                                label: "applies to `per` only".to_owned(),
                                help: "write `per QUANTITY of INPUT` to price a quantity, or remove this".to_owned(),
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
            ast::PriceDecl::Tiers { mode, keyword, of } => {
                self.tiers(scope, decl, *mode, *keyword, *of, span)
            }
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

    /// Resolves `per QUANTITY [of INPUT]` to the input and the quantity in its base unit.
    /// `tiers_input` is the input of a tiers block (its tiers name none).
    fn per(
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
                [only] => (only.input.name.clone(), only.input.kind.clone()),
                [] if !scope.broken.is_empty() => return None,
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
                                Some(UnitWordKind::Characters) =>
                                    "characters: characters max 100000",
                                Some(UnitWordKind::Images) => "images: images max 100",
                                Some(UnitWordKind::Tokens) => "tokens: tokens max 1000000",
                                Some(UnitWordKind::Requests) => "requests: requests max 1000",
                                None => "outputs: count default 1 max 8",
                            }
                        ),
                    });
                    return None;
                }
                several => {
                    let names: Vec<&str> = several
                        .iter()
                        .map(|input| input.input.name.as_str())
                        .collect();
                    let first = names.first().copied().unwrap_or("");
                    self.push(BookError::InvalidPrice {
                        message: format!(
                            "several inputs are {describe}: {}",
                            backticked_and(&names)
                        ),
                        span: quantity.span.into(),
                        label: "which input?".to_owned(),
                        help: format!(
                            "say which with `of INPUT`, such as `per {} of {first}`",
                            quantity.text
                        ),
                    });
                    return None;
                }
            }
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
        let per = if is_literal {
            self.quantity(&kind, quantity, "the quantity priced")?
        } else {
            match unit_word(quantity.text) {
                None => {
                    self.unknown_quantity_unit(quantity, quantity.text);
                    return None;
                }
                Some((family, size)) => {
                    if kind == InputKind::Count || !family.matches(&kind) {
                        self.push(BookError::InvalidQuantity {
                            message: format!(
                                "`{}` is {}, but `{input_name}` is {}",
                                quantity.text,
                                family.describe(),
                                kind_phrase(&kind)
                            ),
                            span: quantity.span.into(),
                            label: "wrong kind of quantity".to_owned(),
                            help: Some(format!("write {}", kind_example(&kind))),
                        });
                        return None;
                    }
                    size
                }
            }
        };
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

    fn unknown_quantity_unit(&mut self, quantity: Token<'_>, word: &str) {
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

    fn tiers(
        &mut self,
        scope: &Scope<'_>,
        decl: &ast::RuleDecl<'_>,
        mode: Option<Token<'_>>,
        keyword: Span,
        of: Option<Token<'_>>,
        span: Span,
    ) -> (Option<UnitRef<'a>>, Option<Price>) {
        let tiers_error =
            |message: String, span: Span, label: &str, help: &str| BookError::InvalidTiers {
                message,
                span: span.into(),
                label: label.to_owned(),
                help: help.to_owned(),
            };
        let mode = match mode.map(|mode| mode.text) {
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
        };
        let Some(of) = of else {
            self.push(tiers_error(
                "the tiers do not say which input they measure".to_owned(),
                keyword,
                "tiers of what?",
                "name the input, such as `graduated tiers of tokens`",
            ));
            return (None, None);
        };
        let Some(input) = self.input(scope, of) else {
            return (None, None);
        };
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
            return (None, None);
        }
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
            let up_to = match tier.up_to {
                Some(bound) => {
                    let value = self.quantity(&kind, bound, "the tier's bound");
                    if let (Some(value), Some((previous_value, previous_token))) = (value, previous)
                        && value <= previous_value
                    {
                        self.push(BookError::InvalidTiers {
                            message: "tier bounds must increase".to_owned(),
                            span: bound.span.into(),
                            label: format!("not above the previous bound `{}`", previous_token.text),
                            help: "order the tiers from the smallest bound to the largest, each above the one before".to_owned(),
                        });
                        ok = false;
                    }
                    if let Some(value) = value {
                        previous = Some((value, bound));
                    } else {
                        ok = false;
                    }
                    if last {
                        self.push(tiers_error(
                            "the last tier must be `above`".to_owned(),
                            tier.span,
                            "the last tier",
                            "end the list with `above: …`, the price beyond the last bound",
                        ));
                        ok = false;
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
                        ok = false;
                    }
                    None
                }
            };
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
            let per = match &tier.per {
                Some(ast::Per::Per(quantity)) => {
                    self.per(scope, *quantity, None, Some((of.text, &kind)))
                }
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
            };
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

    // ---- Conditions -----------------------------------------------------------------------

    fn condition(
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
    fn dim(&mut self, scope: &Scope<'_>, name: Token<'_>) -> Option<usize> {
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

    /// Conflicting and missing `base` prices, duplicate add-ons, and the combinations limit.
    fn analyse_rules(
        &mut self,
        scope: &Scope<'_>,
        rules: &[RuleInfo],
        condition_masks: &[Vec<u64>],
        complete: bool,
    ) {
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
                            let constrained =
                                first.masks.get(index).is_some_and(|mask| *mask != full)
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
            if too_many || !complete {
                continue;
            }
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
                if !priced {
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
    }

    // ---- Plans ----------------------------------------------------------------------------

    /// Reports a statement that needs the plan's `cycle`, once per plan.
    fn cycle_missing(&mut self, what: &str, plan: &str, span: Span) {
        if self.cycle_reported {
            return;
        }
        self.cycle_reported = true;
        self.push(BookError::CycleMissing {
            what: what.to_owned(),
            plan: plan.to_owned(),
            span: span.into(),
        });
    }

    fn plan(&mut self, block: &ast::Block<'a>, scopes: &[Scope<'a>]) -> Plan {
        let plan_name = block.name.text;
        self.cycle_reported = false;
        let mut cycle: Option<(Cycle, Span)> = None;
        let mut cycle_seen = false;
        for statement in &block.body {
            if let ast::StatementKind::Cycle(words) = &statement.kind {
                if cycle_seen {
                    continue;
                }
                cycle_seen = true;
                let text: Vec<&str> = words.iter().map(|word| word.text).collect();
                match text.as_slice() {
                    ["monthly", "calendar"] => cycle = Some((Cycle::MonthlyCalendar, statement.span)),
                    ["monthly", "from", "purchase"] => cycle = Some((Cycle::MonthlyFromPurchase, statement.span)),
                    _ => self.invalid_statement(
                        statement.span,
                        if text.is_empty() {
                            "the cycle is not stated".to_owned()
                        } else {
                            format!("unknown cycle `{}`", text.join(" "))
                        },
                        "unknown cycle",
                        "write `cycle monthly calendar` (1st to last day of the month) or `cycle monthly from purchase` (anchored on the purchase date)".to_owned(),
                    ),
                }
            }
        }
        let has_cycle = cycle_seen;

        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        let mut periods: Vec<SubscriptionPeriod> = Vec::new();
        let mut grants: Vec<Grant> = Vec::new();
        let mut grant_keys: Vec<(String, Span)> = Vec::new();
        let mut order: Option<(Vec<Token<'a>>, Span)> = None;
        let mut topup: Option<TopUpPolicy> = None;
        let mut packages: Vec<Package> = Vec::new();
        let mut package_names: Vec<Token<'a>> = Vec::new();
        let mut gates = Vec::new();
        let mut credit_lines: Vec<(String, Span)> = Vec::new();
        let mut credit_line_minor = std::collections::BTreeMap::new();
        let mut alerts_minor: std::collections::BTreeMap<String, Vec<i64>> =
            std::collections::BTreeMap::new();
        let mut window: Option<(u32, Vec<String>, Span)> = None;
        let mut expired: Option<(ExpiredRefund, Span)> = None;
        let mut limits = Limits::default();
        let mut late_usage_seconds: Option<u32> = None;
        // Kinds granted, sold or restored, with where and how, for the `order` check.
        let mut used_kinds: Vec<(Token<'a>, &'static str)> = Vec::new();

        for (index, statement) in block.body.iter().enumerate() {
            if index == MAX_STATEMENTS_PER_PLAN {
                self.push(BookError::TooMany {
                    what: "plan",
                    items: "statements",
                    limit: MAX_STATEMENTS_PER_PLAN,
                    span: statement.keyword.into(),
                });
                break;
            }
            if statement.kind.is_feature_statement() {
                self.push(BookError::Misplaced {
                    statement: statement.kind.describe(),
                    expected: "feature",
                    found: "plan",
                    span: statement.keyword.into(),
                    block: plan_name.to_owned(),
                    help: "move it into the `feature` it prices: features say what usage costs, plans how credits are granted and spent".to_owned(),
                });
                continue;
            }
            let once_keyword = match &statement.kind {
                ast::StatementKind::Cycle(_) => Some("cycle"),
                ast::StatementKind::Periods(_) => Some("periods"),
                ast::StatementKind::Order(_) => Some("order"),
                ast::StatementKind::Topup(_) => Some("topup"),
                ast::StatementKind::RefundWindow { .. } => Some("refund within"),
                ast::StatementKind::RefundExpired(_) => Some("refund expired"),
                ast::StatementKind::LateUsage { .. } => Some("late usage within"),
                _ => None,
            };
            if let Some(keyword) = once_keyword {
                if let Some((_, first)) = seen
                    .iter()
                    .find(|(seen_keyword, _)| *seen_keyword == keyword)
                {
                    let first = *first;
                    self.push(BookError::DuplicateStatement {
                        keyword: keyword.to_owned(),
                        first: first.into(),
                        second: statement.span.into(),
                    });
                    continue;
                }
                seen.push((keyword, statement.span));
            }
            match &statement.kind {
                ast::StatementKind::Periods(names) => {
                    if !has_cycle {
                        self.cycle_missing("periods", plan_name, statement.keyword);
                    }
                    for name in names {
                        let period = match name.text {
                            "monthly" => SubscriptionPeriod::Monthly,
                            "quarterly" => SubscriptionPeriod::Quarterly,
                            "yearly" => SubscriptionPeriod::Yearly,
                            other => {
                                let help = did_you_mean(
                                    other,
                                    ["monthly", "quarterly", "yearly"].into_iter(),
                                    || {
                                        "the periods are `monthly`, `quarterly` and `yearly`"
                                            .to_owned()
                                    },
                                );
                                self.push(BookError::UnknownWord {
                                    what: "subscription period",
                                    name: other.to_owned(),
                                    span: name.span.into(),
                                    help,
                                });
                                continue;
                            }
                        };
                        if periods.contains(&period) {
                            let first = names
                                .iter()
                                .find(|first| first.text == name.text)
                                .map_or(name.span, |first| first.span);
                            self.repeated(
                                format!("`periods` names `{}` twice", name.text),
                                first,
                                name.span,
                                "list each period once".to_owned(),
                            );
                        } else {
                            periods.push(period);
                        }
                    }
                }
                ast::StatementKind::Grant(grant) => {
                    if grants.len() + grant_keys.len() > 2 * MAX_STATEMENTS_PER_PLAN {
                        continue;
                    }
                    if let Some(lowered) =
                        self.grant(grant, statement.span, plan_name, has_cycle, &mut used_kinds)
                    {
                        if let Some((_, first)) =
                            grant_keys.iter().find(|(key, _)| *key == lowered.key)
                        {
                            let first = *first;
                            let every = match lowered.every {
                                GrantEvery::Day => "daily",
                                GrantEvery::Cycle => "every cycle",
                                GrantEvery::Once => "once",
                            };
                            self.repeated(
                                format!("two grants give `{}` credits in `{}` {every}", lowered.kind, lowered.unit),
                                first,
                                statement.span,
                                "merge them into one grant of the total, or give one another credit kind".to_owned(),
                            );
                        } else {
                            grant_keys.push((lowered.key.clone(), statement.span));
                            grants.push(lowered);
                        }
                    }
                }
                ast::StatementKind::Order(kinds) => {
                    let mut listed: Vec<Token<'a>> = Vec::new();
                    for kind in kinds {
                        self.name("credit kind", *kind);
                        if let Some(first) = listed.iter().find(|known| known.text == kind.text) {
                            let first = first.span;
                            self.repeated(
                                format!("`order` names `{}` twice", kind.text),
                                first,
                                kind.span,
                                "list each credit kind once, in the order they are spent"
                                    .to_owned(),
                            );
                        } else {
                            listed.push(*kind);
                        }
                    }
                    order = Some((listed, statement.span));
                }
                ast::StatementKind::Topup(decl) => {
                    topup = self.topup(decl, statement.span, plan_name, has_cycle, &mut used_kinds);
                }
                ast::StatementKind::Package { name, amount } => {
                    self.name("package", *name);
                    if let Some(first) = package_names.iter().find(|known| known.text == name.text)
                    {
                        let first = first.span;
                        self.duplicate("package", name.text, first, name.span);
                        continue;
                    }
                    package_names.push(*name);
                    if let Some(unit) = self.unit(amount.unit)
                        && let Some(amount_minor) = self.minor(amount, unit, true)
                    {
                        packages.push(Package {
                            name: name.text.to_owned(),
                            unit: unit.name.to_owned(),
                            amount_minor,
                        });
                    }
                }
                ast::StatementKind::Gate { feature, when } => {
                    if let Some(scope) = self.feature_scope(scopes, *feature)
                        && let Some(resolved) = self.condition(scope, when.as_ref())
                    {
                        gates.push(Gate {
                            feature: feature.text.to_owned(),
                            when: resolved.condition,
                        });
                    }
                }
                ast::StatementKind::CreditLine(amount) => {
                    let Some(unit) = self.unit(amount.unit) else {
                        continue;
                    };
                    if let Some((_, first)) =
                        credit_lines.iter().find(|(known, _)| known == unit.name)
                    {
                        let first = *first;
                        self.push(BookError::DuplicateStatement {
                            keyword: format!("credit line … {}", unit.name),
                            first: first.into(),
                            second: statement.span.into(),
                        });
                        continue;
                    }
                    credit_lines.push((unit.name.to_owned(), statement.span));
                    if let Some(minor) = self.minor(amount, unit, true) {
                        credit_line_minor.insert(unit.name.to_owned(), minor);
                    }
                }
                ast::StatementKind::Alert(amounts) => {
                    for amount in amounts {
                        let Some(unit) = self.unit(amount.unit) else {
                            continue;
                        };
                        let Some(minor) = self.minor(amount, unit, false) else {
                            continue;
                        };
                        let thresholds = alerts_minor.entry(unit.name.to_owned()).or_default();
                        if thresholds.contains(&minor) {
                            self.invalid_statement(
                                amount.span,
                                format!(
                                    "the alert below `{} {}` is listed twice",
                                    amount.number.text, amount.unit.text
                                ),
                                "repeated",
                                "list each threshold once".to_owned(),
                            );
                        } else {
                            thresholds.push(minor);
                        }
                    }
                }
                ast::StatementKind::RefundWindow {
                    days,
                    unit,
                    reasons,
                } => {
                    let count =
                        self.whole(*days, 1, u64::from(MAX_PERIOD_COUNT), "a number of days");
                    if !matches!(unit.text, "day" | "days") {
                        self.push(BookError::UnknownWord {
                            what: "refund window unit",
                            name: unit.text.to_owned(),
                            span: unit.span.into(),
                            help: format!(
                                "write the window in days, such as `refund within {} days`",
                                days.text
                            ),
                        });
                    }
                    let mut listed: Vec<Token<'a>> = Vec::new();
                    for reason in reasons {
                        if !REFUND_REASONS.contains(&reason.text) {
                            let help =
                                did_you_mean(reason.text, REFUND_REASONS.iter().copied(), || {
                                    format!("the refund reasons are {}", backticked(REFUND_REASONS))
                                });
                            self.push(BookError::UnknownWord {
                                what: "refund reason",
                                name: reason.text.to_owned(),
                                span: reason.span.into(),
                                help,
                            });
                        } else if let Some(first) =
                            listed.iter().find(|known| known.text == reason.text)
                        {
                            let first = first.span;
                            self.repeated(
                                format!("the refund reasons name `{}` twice", reason.text),
                                first,
                                reason.span,
                                "list each reason once".to_owned(),
                            );
                        } else {
                            listed.push(*reason);
                        }
                    }
                    if reasons.is_empty() {
                        self.invalid_statement(
                            statement.span,
                            "the refund window lists no reasons".to_owned(),
                            "for which reasons?",
                            format!("list them, such as `refund within {} days for duplicate, internal_error`", days.text),
                        );
                    }
                    if let Some(count) = count.and_then(|count| u32::try_from(count).ok()) {
                        window = Some((
                            count,
                            listed.iter().map(|reason| reason.text.to_owned()).collect(),
                            statement.span,
                        ));
                    }
                }
                ast::StatementKind::RefundExpired(decl) => match decl {
                    ast::RefundExpired::Forfeit => {
                        expired = Some((ExpiredRefund::Forfeit, statement.span))
                    }
                    ast::RefundExpired::Restore { kind, expires } => {
                        self.name("credit kind", *kind);
                        used_kinds.push((*kind, "restored as this kind"));
                        match expires {
                            Some(expiry) => {
                                if let Some(expires) = self.expiry(expiry, plan_name, has_cycle) {
                                    expired = Some((
                                        ExpiredRefund::Restore {
                                            kind: kind.text.to_owned(),
                                            expires,
                                        },
                                        statement.span,
                                    ));
                                }
                            }
                            None => self.invalid_statement(
                                statement.span,
                                "restored credits do not say when they expire".to_owned(),
                                "no `expires`",
                                format!("add an expiry, such as `refund expired as {}, expires end of cycle`", kind.text),
                            ),
                        }
                    }
                },
                ast::StatementKind::LateUsage { number, unit } => {
                    late_usage_seconds = self.late_usage(*number, *unit);
                }
                ast::StatementKind::Limit { number, words } => {
                    let text: Vec<&str> = words.iter().map(|word| word.text).collect();
                    let span = statement.span;
                    match text.as_slice() {
                        ["requests", "per", period] => {
                            let per_seconds = match *period {
                                "second" => Some(1),
                                "minute" => Some(60),
                                "hour" => Some(3600),
                                _ => None,
                            };
                            let requests = self.whole(*number, 1, u64::from(MAX_RATE_LIMIT), "a limit");
                            match per_seconds {
                                None => self.invalid_statement(
                                    span,
                                    format!("unknown period `{period}`"),
                                    "per what?",
                                    "limit requests `per second`, `per minute` or `per hour`".to_owned(),
                                ),
                                Some(per_seconds) => {
                                    if limits.requests.is_some() {
                                        self.invalid_statement(span, "the request limit is stated twice".to_owned(), "again", "keep one request limit".to_owned());
                                    } else if let Some(requests) = requests.and_then(|value| u32::try_from(value).ok()) {
                                        limits.requests = Some(RequestLimit { requests, per_seconds });
                                    }
                                }
                            }
                        }
                        ["concurrent", "holds"] => {
                            let holds = self.whole(*number, 1, u64::from(MAX_RATE_LIMIT), "a limit");
                            if limits.concurrent_holds.is_some() {
                                self.invalid_statement(span, "the hold limit is stated twice".to_owned(), "again", "keep one hold limit".to_owned());
                            } else {
                                limits.concurrent_holds = holds.and_then(|value| u32::try_from(value).ok());
                            }
                        }
                        _ => self.invalid_statement(
                            span,
                            if text.is_empty() {
                                "the limit does not say what it limits".to_owned()
                            } else {
                                format!("unknown limit `{}`", text.join(" "))
                            },
                            "unknown limit",
                            format!("write `limit {} requests per minute` (or `per second`, `per hour`) or `limit {} concurrent holds`", number.text, number.text),
                        ),
                    }
                }
                _ => {}
            }
        }

        // Every kind the plan grants, sells or restores is spent in a stated order.
        match &order {
            Some((listed, order_span)) => {
                for (kind, used) in &used_kinds {
                    if !listed.iter().any(|known| known.text == kind.text) {
                        self.push(BookError::KindNotInOrder {
                            kind: kind.text.to_owned(),
                            span: kind.span.into(),
                            used,
                            order: Some((*order_span).into()),
                            help: format!(
                                "add `{}` to the plan's `order`, where it is spent",
                                kind.text
                            ),
                        });
                    }
                }
            }
            None => {
                let mut kinds: Vec<&str> = Vec::new();
                for (kind, _) in &used_kinds {
                    if !kinds.contains(&kind.text) {
                        kinds.push(kind.text);
                    }
                }
                if let Some((kind, used)) = used_kinds.first() {
                    self.push(BookError::KindNotInOrder {
                        kind: kind.text.to_owned(),
                        span: kind.span.into(),
                        used,
                        order: None,
                        help: format!(
                            "plan `{plan_name}` has no `order`: add one listing every credit kind it grants, sells or restores, in the order they are spent, such as `order {}`",
                            kinds.join(", ")
                        ),
                    });
                }
            }
        }

        let refund = match (window, expired) {
            (Some((window_days, reasons, _)), Some((expired, _))) => Some(RefundPolicy {
                window_days,
                reasons,
                expired,
            }),
            (Some((_, _, span)), None) => {
                self.invalid_statement(
                    span,
                    "the refund policy does not say what happens to expired credits".to_owned(),
                    "no `refund expired`",
                    "add `refund expired forfeit`, or `refund expired as refund, expires end of cycle` to restore them as a new kind".to_owned(),
                );
                None
            }
            (None, Some((_, span))) => {
                self.invalid_statement(
                    span,
                    "`refund expired` without a refund window".to_owned(),
                    "no `refund within`",
                    "add the window and reasons, such as `refund within 30 days for duplicate, internal_error`".to_owned(),
                );
                None
            }
            (None, None) => None,
        };
        for thresholds in alerts_minor.values_mut() {
            thresholds.sort_unstable_by(|a, b| b.cmp(a));
        }
        Plan {
            name: plan_name.to_owned(),
            title: block.title.map(|title| title.unquoted().to_owned()),
            cycle: cycle.map(|(cycle, _)| cycle),
            periods,
            grants,
            order: order
                .map(|(listed, _)| listed.iter().map(|kind| kind.text.to_owned()).collect())
                .unwrap_or_default(),
            topup,
            packages,
            gates,
            credit_line_minor,
            alerts_minor,
            refund,
            limits,
            late_usage_seconds,
        }
    }

    /// `late usage within N days|hours`, in seconds.
    fn late_usage(&mut self, number: Token<'_>, unit: Token<'_>) -> Option<u32> {
        let (seconds_per, what): (u32, &str) = match unit.text {
            "day" | "days" => (86_400, "a late usage window in days"),
            "hour" | "hours" => (3_600, "a late usage window in hours"),
            _ => {
                self.push(BookError::UnknownWord {
                    what: "late usage window unit",
                    name: unit.text.to_owned(),
                    span: unit.span.into(),
                    help: format!(
                        "write the window in days or hours, such as `late usage within {} days`",
                        number.text
                    ),
                });
                return None;
            }
        };
        let most = u64::from(MAX_LATE_USAGE_DAYS)
            .saturating_mul(86_400)
            .checked_div(u64::from(seconds_per))
            .unwrap_or(0);
        let count = self.whole(number, 1, most, what)?;
        u32::try_from(count).ok()?.checked_mul(seconds_per)
    }

    fn expiry(&mut self, expiry: &ast::Expiry<'_>, plan: &str, has_cycle: bool) -> Option<Expiry> {
        let needs_cycle = |this: &mut Self, what: String| {
            if !has_cycle {
                this.cycle_missing(&what, plan, expiry.span);
            }
        };
        match &expiry.kind {
            ast::ExpiryKind::Never => Some(Expiry::Never),
            ast::ExpiryKind::EndOf(word) => match word.text {
                "day" => Some(Expiry::EndOfDay),
                "cycle" => {
                    needs_cycle(self, "expires end of cycle".to_owned());
                    Some(Expiry::EndOfCycle)
                }
                other => {
                    self.push(BookError::UnknownWord {
                        what: "expiry",
                        name: format!("end of {other}"),
                        span: word.span.into(),
                        help: "write `expires end of day` or `expires end of cycle`".to_owned(),
                    });
                    None
                }
            },
            ast::ExpiryKind::After { number, unit } => {
                let count = self
                    .whole(*number, 1, u64::from(MAX_PERIOD_COUNT), "an expiry")
                    .and_then(|count| u32::try_from(count).ok());
                match unit.text {
                    "day" | "days" => count.map(Expiry::AfterDays),
                    "cycle" | "cycles" => {
                        needs_cycle(self, format!("expires after {} {}", number.text, unit.text));
                        count.map(Expiry::AfterCycles)
                    }
                    other => {
                        self.push(BookError::UnknownWord {
                            what: "expiry unit",
                            name: other.to_owned(),
                            span: unit.span.into(),
                            help: format!(
                                "write `expires after {} days` or `expires after {} cycles`",
                                number.text, number.text
                            ),
                        });
                        None
                    }
                }
            }
        }
    }

    fn grant(
        &mut self,
        grant: &ast::GrantDecl<'a>,
        span: Span,
        plan: &str,
        has_cycle: bool,
        used_kinds: &mut Vec<(Token<'a>, &'static str)>,
    ) -> Option<Grant> {
        let unit = self.unit(grant.amount.unit);
        let amount_minor = unit.and_then(|unit| self.minor(&grant.amount, unit, true));
        let every = match &grant.every {
            Some(ast::Every::Daily(_)) => Some(GrantEvery::Day),
            Some(ast::Every::Once(_)) => Some(GrantEvery::Once),
            Some(ast::Every::Every { word, span }) => match word.text {
                "cycle" => {
                    if !has_cycle {
                        self.cycle_missing("every cycle", plan, *span);
                    }
                    Some(GrantEvery::Cycle)
                }
                "day" => Some(GrantEvery::Day),
                other => {
                    self.push(BookError::UnknownWord {
                        what: "grant period",
                        name: format!("every {other}"),
                        span: (*span).into(),
                        help: "grant `daily`, `every cycle` or `once`".to_owned(),
                    });
                    None
                }
            },
            None => {
                self.invalid_statement(
                    span,
                    "the grant does not say how often it is given".to_owned(),
                    "how often?",
                    format!(
                        "write `daily`, `every cycle` or `once` after the amount, such as `grant {} {} every cycle as allocation`",
                        grant.amount.number.text, grant.amount.unit.text
                    ),
                );
                None
            }
        };
        let kind = match grant.kind {
            Some(kind) => {
                self.name("credit kind", kind);
                used_kinds.push((kind, "granted as this kind"));
                Some(kind.text)
            }
            None => {
                self.invalid_statement(
                    span,
                    "the grant does not name its credit kind".to_owned(),
                    "as what kind?",
                    "name the kind after `as`, such as `as allocation`, `as free` or `as promotional`; the plan's `order` says which kind is spent first".to_owned(),
                );
                None
            }
        };
        let expires = match grant.expires.as_slice() {
            [] => {
                self.push(BookError::GrantWithoutExpiry { span: span.into() });
                None
            }
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "expires".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                self.expiry(first, plan, has_cycle)
                    .map(|expires| (expires, first.span))
            }
        };
        let mut rollover = None;
        if let Some(first) = grant.rollovers.first() {
            if let Some(second) = grant.rollovers.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "rolls over".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if let Some((expires, expires_span)) = expires
                && expires != Expiry::EndOfCycle
            {
                let source = &crate::fmt::rollover_text(first);
                self.push(BookError::RolloverNeedsCycleEnd {
                    rollover: source.clone(),
                    span: first.span.into(),
                    expiry: Some(expires_span.into()),
                });
            }
            rollover = match &first.kind {
                ast::RolloverKind::WhileSubscribed => Some(Rollover::WhileSubscribed),
                ast::RolloverKind::Cycles { number, unit: word } => {
                    if !matches!(word.text, "cycle" | "cycles") {
                        self.push(BookError::UnknownWord {
                            what: "rollover unit",
                            name: word.text.to_owned(),
                            span: word.span.into(),
                            help: format!("write `rolls over {} cycles`", number.text),
                        });
                        None
                    } else {
                        self.whole(
                            *number,
                            1,
                            u64::from(MAX_PERIOD_COUNT),
                            "a number of cycles",
                        )
                        .and_then(|cycles| u32::try_from(cycles).ok())
                        .map(|cycles| Rollover::Cycles { cycles })
                    }
                }
                ast::RolloverKind::UpTo(cap) => {
                    let cap_unit = self.unit(cap.unit);
                    match (cap_unit, unit) {
                        (Some(cap_unit), Some(unit)) if cap_unit.name != unit.name => {
                            self.invalid_statement(
                                cap.unit.span,
                                format!(
                                    "the grant is in `{}` but its rollover cap in `{}`",
                                    unit.name, cap_unit.name
                                ),
                                "another unit",
                                format!("write the cap in `{}`", unit.name),
                            );
                            None
                        }
                        (Some(cap_unit), _) => self
                            .minor(cap, cap_unit, true)
                            .map(|amount_minor| Rollover::UpTo { amount_minor }),
                        _ => None,
                    }
                }
            };
        }
        let (unit, amount_minor, every, kind, (expires, _)) =
            (unit?, amount_minor?, every?, kind?, expires?);
        Some(Grant {
            key: grant_key(kind, unit.name, every),
            unit: unit.name.to_owned(),
            amount_minor,
            every,
            kind: kind.to_owned(),
            expires,
            rollover: if grant.rollovers.is_empty() {
                None
            } else {
                Some(rollover?)
            },
        })
    }

    fn topup(
        &mut self,
        decl: &ast::TopupDecl<'a>,
        span: Span,
        plan: &str,
        has_cycle: bool,
        used_kinds: &mut Vec<(Token<'a>, &'static str)>,
    ) -> Option<TopUpPolicy> {
        if let Some(second) = decl.requires_subscription.get(1) {
            let first = decl
                .requires_subscription
                .first()
                .copied()
                .unwrap_or(*second);
            self.push(BookError::DuplicateStatement {
                keyword: "requires subscription".to_owned(),
                first: first.into(),
                second: (*second).into(),
            });
        }
        let kind = match decl.kind {
            Some(kind) => {
                self.name("credit kind", kind);
                used_kinds.push((kind, "sold as this kind"));
                Some(kind)
            }
            None => {
                self.invalid_statement(
                    span,
                    "top-ups do not name their credit kind".to_owned(),
                    "as what kind?",
                    "write `topup as top_up, expires never`".to_owned(),
                );
                None
            }
        };
        let expires = match decl.expires.as_slice() {
            [] => {
                self.invalid_statement(
                    span,
                    "top-ups do not say when they expire".to_owned(),
                    "no `expires`",
                    "add an expiry, such as `topup as top_up, expires never`".to_owned(),
                );
                None
            }
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "expires".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                self.expiry(first, plan, has_cycle)
            }
        };
        Some(TopUpPolicy {
            kind: kind?.text.to_owned(),
            expires: expires?,
            requires_subscription: !decl.requires_subscription.is_empty(),
        })
    }

    // ---- Examples -------------------------------------------------------------------------

    fn expect(
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

    fn expect_term(
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
                let Some(channels) = &self.channels else {
                    self.push(BookError::InvalidExample {
                        message: "the book declares no channels".to_owned(),
                        span: arg.span.into(),
                        label: "no channels".to_owned(),
                        help: "remove `channel`, or declare the channels at the top of the file, such as `channels web, api default web`".to_owned(),
                    });
                    ok = false;
                    continue;
                };
                if channels.names.iter().any(|name| name == arg.value.text) {
                    channel = Some(arg.value.text.to_owned());
                } else {
                    let names: Vec<String> = channels.names.clone();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    self.unknown_channel(arg.value, &names);
                    ok = false;
                }
                continue;
            }
            let Some(input) = self.input(scope, arg.name) else {
                ok = false;
                continue;
            };
            let Some(value) = self.value(
                &input.input.kind,
                arg.name.text,
                arg.value,
                "the example's value",
            ) else {
                ok = false;
                continue;
            };
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
                ok = false;
                continue;
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
                ok = false;
                continue;
            }
            inputs.insert(arg.name.text.to_owned(), value);
        }
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
            ok = false;
        }
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
        })
    }
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
