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

use self::text::*;

mod adjustments;
mod analysis;
mod conditions;
mod expects;
mod factors;
mod features;
mod file;
mod grants;
mod inputs;
mod kinds;
mod lifecycle;
mod money;

pub(crate) use self::lifecycle::spend_period_word;
mod names;
mod numbers;
mod outcomes;
mod plans;
mod quantities;
mod report;
mod rules;
mod scenarios;
mod storage;
mod tables;
mod text;
mod units;

/// The outcome of checking one file.
pub(crate) struct Checked {
    /// The lowered book (its `rates_version` is not yet set). Only meaningful when `errors`
    /// is empty.
    pub book: RateBook,
    /// The span of each `expect`, by index in `book.expects`.
    pub expect_spans: Vec<Span>,
    /// The span of each refused example, by index in `book.refusals`.
    pub refusal_spans: Vec<Span>,
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
        held_kinds: Vec::new(),
        ordered_kinds: Vec::new(),
        plan_names: Vec::new(),
        refused_masks: Vec::new(),
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
    /// `quantity NAME = ...`: also in `inputs` (rules name them like inputs), never in a
    /// request.
    derived: Vec<DerivedQuantity>,
}

struct ScopeInput<'a> {
    token: Token<'a>,
    input: Input,
}

/// A dimension of the choice space: the channel, a choice input or a flag.
struct Dim {
    input: String,
    /// Value names; for a flag `no` then `yes`; for a quantity its regions between the
    /// thresholds conditions name (`below 200000 tokens`, `200000 tokens`, ...).
    values: Vec<String>,
    flag: bool,
    /// For a quantity tested by `above`/`below`/`at least`/`at most`: the thresholds, sorted
    /// (region `2i` is below threshold `i`, `2i + 1` is exactly it, the last is above all).
    thresholds: Vec<Decimal>,
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
    /// Credit kinds some plan grants, sells or restores.
    held_kinds: Vec<&'a str>,
    /// Each kind a plan's `order` lists, and whether that plan takes top-ups (a top-up may
    /// name any kind of the order).
    ordered_kinds: Vec<(Token<'a>, bool)>,
    /// The book's plan names (in order, first of each name), for `when plan is NAME`.
    plan_names: Vec<String>,
    /// The condition masks of the current feature's `refuse` statements: a combination they
    /// refuse needs no price.
    refused_masks: Vec<Vec<u64>>,
}
