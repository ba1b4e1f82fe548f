//! What a product manager reads when a rate book is wrong.
//!
//! Every problem is a [`BookError`]: a lowercase message without a trailing period, user
//! input in backticks, at least one labelled span, and a `help` saying what to write instead.
//! [`Diagnostics`] gathers every error of one file over one shared source, so that rendering
//! (miette's graphical handler in the CLI) shows them all with file, line, column and the
//! underlined text.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// Every error found in one rate file, over the file's source.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file_name: String,
    source_code: NamedSource<Arc<str>>,
    errors: Vec<BookError>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.len() {
            1 => write!(f, "found 1 error in `{}`", self.file_name),
            count => write!(f, "found {count} errors in `{}`", self.file_name),
        }
    }
}

impl std::error::Error for Diagnostics {}

impl Diagnostic for Diagnostics {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.errors.iter().map(|error| error as &dyn Diagnostic),
        ))
    }
}

impl Diagnostics {
    /// Errors of `file_name`, whose text is `source`. Errors are shown in source order.
    pub fn new(file_name: &str, source: &str, mut errors: Vec<BookError>) -> Self {
        errors.sort_by_key(|error| error.offset());
        Diagnostics {
            file_name: file_name.to_owned(),
            source_code: NamedSource::new(file_name, Arc::from(source)),
            errors,
        }
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The errors, in source order.
    pub fn errors(&self) -> &[BookError] {
        &self.errors
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// One problem in a rate file.
///
/// Messages follow one style: lowercase, no trailing period, what the author wrote in
/// backticks, and never a name from the implementation.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
pub enum BookError {
    // ---- Reading the file ---------------------------------------------------------------------
    #[error("unexpected {found}")]
    #[diagnostic(code(rates::syntax))]
    Syntax {
        found: String,
        #[label("expected {expected}")]
        span: SourceSpan,
        expected: String,
        #[help]
        help: String,
    },

    #[error("unexpected {found}")]
    #[diagnostic(code(rates::character))]
    Character {
        found: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("the file is {size_kib} KiB, more than the 256 KiB a rate file may hold")]
    #[diagnostic(
        code(rates::too_large),
        help("split the book's examples or features over fewer, smaller statements")
    )]
    TooLarge {
        size_kib: usize,
        #[label("the limit is reached here")]
        span: SourceSpan,
    },

    #[error("blocks are nested too deeply")]
    #[diagnostic(
        code(rates::too_deep),
        help(
            "only `feature` and `plan` hold a `{{ }}` block, and only tiers sit inside a feature"
        )
    )]
    TooDeep {
        #[label("a third level of `{{` starts here")]
        span: SourceSpan,
    },

    // ---- Header -------------------------------------------------------------------------------
    #[error("the file has no `{keyword}` statement")]
    #[diagnostic(code(rates::missing_statement))]
    MissingStatement {
        keyword: &'static str,
        #[label("expected near the top of the file")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{keyword}` is stated twice")]
    #[diagnostic(
        code(rates::duplicate_statement),
        help("keep one `{keyword}` and delete the other")
    )]
    DuplicateStatement {
        keyword: String,
        #[label("first stated here")]
        first: SourceSpan,
        #[label("stated again here")]
        second: SourceSpan,
    },

    #[error("book `{name}` is in a file named `{file}`")]
    #[diagnostic(code(rates::book_name))]
    BookName {
        name: String,
        file: String,
        #[label("the book's name")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("the file name says `{file_date}` but the book is effective `{effective}`")]
    #[diagnostic(
        code(rates::file_date),
        help("name the file `{book}@{effective}.rates`, or change `effective` to `{file_date}`")
    )]
    FileDate {
        book: String,
        file_date: String,
        effective: String,
        #[label("effective date")]
        span: SourceSpan,
    },

    #[error("`{text}` is not a date")]
    #[diagnostic(
        code(rates::invalid_date),
        help("write the date as year-month-day, such as `2025-01-01`")
    )]
    InvalidDate {
        text: String,
        #[label("expected a date")]
        span: SourceSpan,
    },

    #[error("unknown time zone `{name}`")]
    #[diagnostic(
        code(rates::unknown_time_zone),
        help("use an IANA time zone name such as `UTC`, `Europe/Paris` or `America/New_York`")
    )]
    UnknownTimeZone {
        name: String,
        #[label("not a time zone")]
        span: SourceSpan,
    },

    #[error("`{name}` is not a valid {what} name")]
    #[diagnostic(code(rates::invalid_name))]
    InvalidName {
        what: &'static str,
        name: String,
        #[label("invalid name")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error(
        "the {what} name `{name}` is {length} characters long, more than the {limit} a name may have"
    )]
    #[diagnostic(code(rates::name_too_long))]
    NameTooLong {
        what: &'static str,
        name: String,
        length: usize,
        limit: usize,
        #[label("{length} characters")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_statement))]
    InvalidStatement {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("`{statement}` belongs in a {expected} block, not in a {found}")]
    #[diagnostic(code(rates::misplaced_statement))]
    Misplaced {
        statement: &'static str,
        expected: &'static str,
        found: &'static str,
        #[label("in {found} `{block}`")]
        span: SourceSpan,
        block: String,
        #[help]
        help: String,
    },

    // ---- Names --------------------------------------------------------------------------------
    #[error("unknown unit `{name}`")]
    #[diagnostic(code(rates::unknown_unit))]
    UnknownUnit {
        name: String,
        #[label("not declared with `unit`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("unknown input `{name}` in feature `{feature}`")]
    #[diagnostic(code(rates::unknown_input))]
    UnknownInput {
        name: String,
        feature: String,
        #[label("not an input of `{feature}`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("unknown feature `{name}`")]
    #[diagnostic(code(rates::unknown_feature))]
    UnknownFeature {
        name: String,
        #[label("no feature has this name")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{value}` is not a choice of `{input}`")]
    #[diagnostic(code(rates::unknown_choice))]
    UnknownChoice {
        value: String,
        input: String,
        #[label("unknown choice")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("unknown {what} `{name}`")]
    #[diagnostic(code(rates::unknown_word))]
    UnknownWord {
        what: &'static str,
        name: String,
        #[label("unknown {what}")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::repeated))]
    Repeated {
        message: String,
        #[label("first here")]
        first: SourceSpan,
        #[label("again here")]
        second: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{what} `{name}` is declared twice")]
    #[diagnostic(
        code(rates::duplicate),
        help("give each {what} its own name, or delete one")
    )]
    Duplicate {
        what: &'static str,
        name: String,
        #[label("first declared here")]
        first: SourceSpan,
        #[label("declared again here")]
        second: SourceSpan,
    },

    // ---- Rules --------------------------------------------------------------------------------
    #[error(
        "`base` rules on lines {first_line} and {second_line} both price `{unit}` {combination}"
    )]
    #[diagnostic(
        code(rates::conflicting_rules),
        help(
            "at most one `base` line may price a unit for any usage: narrow one condition with `when`, or use `add` for a surcharge"
        )
    )]
    ConflictingRules {
        unit: String,
        first_line: usize,
        second_line: usize,
        combination: String,
        #[label("this rule")]
        first: SourceSpan,
        #[label("and this one")]
        second: SourceSpan,
    },

    #[error("no `base` rule prices `{unit}` {combination}")]
    #[diagnostic(code(rates::missing_price))]
    MissingPrice {
        unit: String,
        combination: String,
        #[label("in this feature")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("this rule can never apply: {reason}")]
    #[diagnostic(code(rates::unreachable_rule))]
    Unreachable {
        reason: String,
        #[label("never true")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("this `add` rule repeats the one on line {first_line}")]
    #[diagnostic(
        code(rates::duplicate_rule),
        help(
            "identical add-ons would charge twice; delete one, or change its amount to the total"
        )
    )]
    DuplicateRule {
        first_line: usize,
        #[label("first written here")]
        first: SourceSpan,
        #[label("repeated here")]
        second: SourceSpan,
    },

    #[error("the rounding of `{input}` is not stated")]
    #[diagnostic(code(rates::quantity_rounding_not_stated))]
    QuantityRoundingMissing {
        input: String,
        #[label("this rule uses `{input}`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("the rounding of `{unit}` amounts is not stated")]
    #[diagnostic(code(rates::amount_rounding_not_stated))]
    AmountRoundingMissing {
        unit: String,
        #[label("charges `{unit}`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{precision}` is finer than `{unit}` keeps")]
    #[diagnostic(code(rates::precision_too_fine))]
    PrecisionTooFine {
        precision: String,
        unit: String,
        #[label("`{unit}` has scale {scale}")]
        span: SourceSpan,
        scale: u32,
        #[help]
        help: String,
    },

    #[error("input `{input}` has no `max`")]
    #[diagnostic(code(rates::max_missing))]
    MaxMissing {
        input: String,
        #[label("no largest value")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{statement}` needs a count input, but `{input}` is {kind}")]
    #[diagnostic(code(rates::not_a_count))]
    NotACount {
        statement: &'static str,
        input: String,
        kind: String,
        #[label("not a count")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{input}` is {kind}, so it cannot be used in a condition")]
    #[diagnostic(
        code(rates::condition_on_quantity),
        help(
            "conditions test choices (`model is pro`), flags (`actor`, `not actor`), `channel` and `plan`; compare a quantity with `above`, `below`, `at least` or `at most` (`duration above 1h`), and price it with `per`"
        )
    )]
    ConditionOnQuantity {
        input: String,
        kind: String,
        #[label("a quantity")]
        span: SourceSpan,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_condition))]
    InvalidCondition {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_price))]
    InvalidPrice {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::amount_too_large))]
    AmountTooLarge {
        message: String,
        #[label("{price}")]
        span: SourceSpan,
        price: String,
        #[label("at its `max`")]
        max: Option<SourceSpan>,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_tiers))]
    InvalidTiers {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_factor))]
    InvalidFactor {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_table))]
    InvalidTable {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_quantity))]
    InvalidQuantity {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("`{text}` is not a valid number: {reason}")]
    #[diagnostic(code(rates::invalid_number))]
    InvalidNumber {
        text: String,
        reason: &'static str,
        #[label("invalid number")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{text}` is finer than `{unit}` keeps")]
    #[diagnostic(code(rates::amount_too_fine))]
    AmountTooFine {
        text: String,
        unit: String,
        #[label("`{unit}` has scale {scale}")]
        span: SourceSpan,
        scale: u32,
        #[help]
        help: String,
    },

    #[error("`{text}` is out of range: {reason}")]
    #[diagnostic(code(rates::out_of_range))]
    OutOfRange {
        text: String,
        reason: String,
        #[label("out of range")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_input))]
    InvalidInput {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("a {what} may hold at most {limit} {items}")]
    #[diagnostic(
        code(rates::limit),
        help("split it, or simplify: limits keep every book quick to check and to rate")
    )]
    TooMany {
        what: &'static str,
        items: &'static str,
        limit: usize,
        #[label("over the limit")]
        span: SourceSpan,
    },

    // ---- Plans --------------------------------------------------------------------------------
    #[error("this grant does not say when its credits expire")]
    #[diagnostic(
        code(rates::grant_without_expiry),
        help(
            "add `, expires end of cycle` (or `never`, `end of day`, `after 30 days`, `after 2 cycles`)"
        )
    )]
    GrantWithoutExpiry {
        #[label("no `expires`")]
        span: SourceSpan,
    },

    #[error("credits can only roll over when they expire at the end of the cycle")]
    #[diagnostic(
        code(rates::rollover_without_cycle_end),
        help("write `expires end of cycle, {rollover}`, or remove the rollover")
    )]
    RolloverNeedsCycleEnd {
        rollover: String,
        #[label("rollover")]
        span: SourceSpan,
        #[label("the credits expire here instead")]
        expiry: Option<SourceSpan>,
    },

    #[error("`{what}` needs a billing cycle, but plan `{plan}` has no `cycle`")]
    #[diagnostic(
        code(rates::cycle_missing),
        help("add `cycle monthly calendar` or `cycle monthly from purchase` to plan `{plan}`")
    )]
    CycleMissing {
        what: String,
        plan: String,
        #[label("needs a cycle")]
        span: SourceSpan,
    },

    #[error("credit kind `{kind}` is not in the plan's `order`")]
    #[diagnostic(code(rates::kind_not_in_order))]
    KindNotInOrder {
        kind: String,
        #[label("{used}")]
        span: SourceSpan,
        used: &'static str,
        #[label("the order")]
        order: Option<SourceSpan>,
        #[help]
        help: String,
    },

    #[error("credit kind `{kind}` is in the `order` but nothing grants, sells or restores it")]
    #[diagnostic(code(rates::kind_never_held))]
    KindNeverHeld {
        kind: String,
        #[label("no `grant`, `topup` or `refund expired as` gives this kind")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_plan))]
    InvalidPlan {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    /// A cap that a statement of the same plan always exceeds (a grant above the balance
    /// cap, a per-request cap above the spend of a period).
    #[error("{message}")]
    #[diagnostic(code(rates::cap_exceeded_by_plan))]
    CapExceededByPlan {
        message: String,
        #[label("{cap_label}")]
        cap: SourceSpan,
        cap_label: &'static str,
        #[label("{label}")]
        exceeded_by: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    // ---- Examples -----------------------------------------------------------------------------
    #[error("{message}")]
    #[diagnostic(code(rates::invalid_example))]
    InvalidExample {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::invalid_scenario))]
    InvalidScenario {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: String,
    },

    #[error("`{code}` is not a code a request is refused with")]
    #[diagnostic(code(rates::unknown_refusal_code))]
    UnknownRefusalCode {
        code: String,
        #[label("unknown code")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("example fails: expected refused {expected}, got {actual}")]
    #[diagnostic(
        code(rates::refusal_failed),
        help(
            "fix the rates or the expected code; `credits rates quote` shows how the request is read"
        )
    )]
    RefusalFailed {
        expected: String,
        actual: String,
        #[label("this request is {actual}")]
        span: SourceSpan,
    },

    #[error("example fails: expected {expected}, got {actual}")]
    #[diagnostic(
        code(rates::example_failed),
        help(
            "fix the rates or the expected amount; `credits rates quote` shows how the price is computed"
        )
    )]
    ExampleFailed {
        expected: String,
        actual: String,
        #[label("this example")]
        span: SourceSpan,
    },

    #[error("example could not be rated: {reason}")]
    #[diagnostic(
        code(rates::example_not_rated),
        help(
            "give the example inputs the feature accepts; `credits rates quote` shows the details"
        )
    )]
    ExampleNotRated {
        reason: String,
        #[label("this example")]
        span: SourceSpan,
    },

    // ---- Several files ------------------------------------------------------------------------
    #[error("book `{book}` already has a version effective {effective}, in `{other_file}`")]
    #[diagnostic(
        code(rates::same_effective),
        help(
            "each version of a book needs its own `effective` date; change one, or delete the older file"
        )
    )]
    SameEffective {
        book: String,
        effective: String,
        other_file: String,
        #[label("same date")]
        span: SourceSpan,
    },

    // ---- Money ---------------------------------------------------------------------------------
    #[error("unknown currency `{name}`")]
    #[diagnostic(code(rates::unknown_currency))]
    UnknownCurrency {
        name: String,
        #[label("not an ISO 4217 currency the language knows")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("the price `{text}` is finer than `{currency}` keeps")]
    #[diagnostic(code(rates::price_too_fine))]
    PriceTooFine {
        text: String,
        currency: String,
        digits: u32,
        #[label("`{currency}` has {digits} decimals")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(rates::topup_step))]
    TopUpStep {
        message: String,
        #[label("the minimum")]
        minimum: SourceSpan,
        #[label("the step")]
        step: SourceSpan,
        #[help]
        help: String,
    },

    /// A later version of a book changes what accounts stored under the earlier one rely on.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Incompatible(Box<crate::compatibility::Incompatibility>),
}

impl BookError {
    /// Byte offset of the error's first label, for sorting errors in source order.
    pub fn offset(&self) -> usize {
        self.labels()
            .and_then(|mut labels| labels.next())
            .map_or(0, |label| label.offset())
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo
/// (at most 1 edit for short words, 2 for longer ones).
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    // Very long words are never typos of a name; skip them to keep this cheap.
    if word.is_empty() || word.len() > 64 {
        return None;
    }
    let allowed = if word.chars().count() <= 4 { 1 } else { 2 };
    let mut best: Option<(usize, &'c str)> = None;
    for candidate in candidates {
        if candidate.len() > 64 {
            continue;
        }
        let distance = edit_distance(word, candidate);
        if distance <= allowed && best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Levenshtein distance, case-insensitive (`Credit` is one edit from nothing: zero).
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    let mut current = vec![0; right.len() + 1];
    for (i, left_char) in left.chars().map(|c| c.to_ascii_lowercase()).enumerate() {
        if let Some(first) = current.first_mut() {
            *first = i + 1;
        }
        for (j, right_char) in right.iter().enumerate() {
            let substitution = previous
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(left_char != *right_char));
            let deletion = previous
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insertion = current
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            if let Some(cell) = current.get_mut(j + 1) {
                *cell = substitution.min(deletion).min(insertion);
            }
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous.last().copied().unwrap_or(0)
}

/// `did you mean `x`?` or a fallback help text.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str> + Clone,
    otherwise: impl FnOnce() -> String,
) -> String {
    match closest(word, candidates) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None => otherwise(),
    }
}
