//! Source text → [`RateBook`]: parse, check, lower, version, and run the book's examples.
//!
//! A book is returned only when the whole file is free of errors and every `expect` holds;
//! otherwise every problem found comes back in one [`Diagnostics`]. Failing examples are
//! reported once the rest of the file is free of errors (a book with errors cannot rate).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sha2::{Digest, Sha256};

use crate::book::{GrantEvery, RateBook};
use crate::diagnostics::{BookError, Diagnostics};

/// What [`compile_source_with`] does beyond checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Rate every `expect` and report the failing ones as errors (the default). Turn it off
    /// to get the book of a file whose examples fail, such as for `credits rates test`, which
    /// reports the examples itself.
    pub run_expects: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { run_expects: true }
    }
}

/// Compiles one rate file. `file_name` is the file's name (`imentiv.rates`, or a path): its
/// stem before any `@` must be the book's name.
///
/// # Errors
/// Every error in the file (syntax errors stop at the first), including every failing
/// `expect`, over the file's source.
pub fn compile_source(file_name: &str, source: &str) -> Result<RateBook, Diagnostics> {
    compile_source_with(file_name, source, CompileOptions::default())
}

/// [`compile_source`] with options.
///
/// # Errors
/// As [`compile_source`]; failing examples only when `options.run_expects`.
pub fn compile_source_with(
    file_name: &str,
    source: &str,
    options: CompileOptions,
) -> Result<RateBook, Diagnostics> {
    compile_with_spans(file_name, source, options)
        .map(|(book, _)| book)
        .map_err(|errors| Diagnostics::new(file_name, source, errors))
}

/// Compiles and also returns the span of the `effective` date (for errors across files).
pub(crate) fn compile_with_spans(
    file_name: &str,
    source: &str,
    options: CompileOptions,
) -> Result<(RateBook, crate::ast::Span), Vec<BookError>> {
    let file = crate::parse::parse(source).map_err(|error| vec![error])?;
    let checked = crate::check::check(file_name, source, &file);
    if !checked.errors.is_empty() {
        return Err(checked.errors);
    }
    let mut book = checked.book;
    book.rates_version = rates_version(&book.name, book.effective, source);
    if options.run_expects {
        let mut errors = Vec::new();
        for outcome in crate::expect::run_expects(&book) {
            if outcome.passed {
                continue;
            }
            let span = checked
                .expect_spans
                .get(outcome.index)
                .copied()
                .unwrap_or_default()
                .into();
            errors.push(match outcome.actual {
                Ok(actual) => BookError::ExampleFailed {
                    expected: crate::expect::describe(&outcome.expected),
                    actual: crate::expect::describe(&actual),
                    span,
                },
                Err(reason) => BookError::ExampleNotRated { reason, span },
            });
        }
        for result in crate::scenario::run_refusals(&book) {
            if result.passed {
                continue;
            }
            let span = checked
                .refusal_spans
                .get(result.index)
                .copied()
                .unwrap_or_default()
                .into();
            let expected = book
                .refusals
                .get(result.index)
                .map(|refusal| refusal.code.clone())
                .unwrap_or_default();
            errors.push(BookError::RefusalFailed {
                expected,
                actual: result.actual.describe(),
                span,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok((book, checked.effective_span))
}

/// `<book>@<effective>#<first 12 hex digits of the SHA-256 of the file's bytes>`.
pub fn rates_version(book: &str, effective: chrono::NaiveDate, source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    let hex = hex::encode(digest.get(..6).unwrap_or_default());
    format!("{book}@{effective}#{hex}")
}

/// The stable key of a grant rule within its plan: `allocation:credit:every_cycle`.
pub fn grant_key(kind: &str, unit: &str, every: GrantEvery) -> String {
    let every = match every {
        GrantEvery::Day => "daily",
        GrantEvery::Cycle => "every_cycle",
        GrantEvery::Once => "once",
    };
    format!("{kind}:{unit}:{every}")
}

/// `amount` in minor units of a unit of `scale` decimals, if it is a whole number of them and
/// fits in an `i64`.
pub fn to_minor(amount: Decimal, scale: u32) -> Option<i64> {
    let factor = Decimal::from(10u64.checked_pow(scale)?);
    let minor = amount.checked_mul(factor)?;
    if !minor.fract().is_zero() {
        return None;
    }
    minor.to_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units() {
        assert_eq!(to_minor(Decimal::new(12000, 0), 2), Some(1_200_000));
        assert_eq!(to_minor(Decimal::new(5, 1), 2), Some(50));
        assert_eq!(to_minor(Decimal::new(1, 3), 2), None);
        assert_eq!(to_minor(Decimal::MAX, 2), None);
    }

    fn rates(name: &str) -> RateBook {
        let path = format!("{}/../rates/{name}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(path).unwrap();
        compile_source(name, &source).unwrap()
    }

    #[test]
    fn plans_are_compiled_to_minor_units_and_keys() {
        use crate::book::{Expiry, GrantEvery, Rollover};
        let book = rates("ai-engine.rates");
        let enterprise = book
            .plans
            .iter()
            .find(|plan| plan.name == "enterprise")
            .unwrap();
        let grant = &enterprise.grants[0];
        assert_eq!(grant.key, "allocation:credit:every_cycle");
        assert_eq!(grant.amount_minor, 2_000_000);
        assert_eq!(grant.every, GrantEvery::Cycle);
        assert_eq!(grant.expires, Expiry::EndOfCycle);
        assert_eq!(
            grant.rollover,
            Some(Rollover::UpTo {
                amount_minor: 2_000_000
            })
        );
        assert_eq!(enterprise.credit_line_minor.get("credit"), Some(&500_000));
        let standard = book
            .plans
            .iter()
            .find(|plan| plan.name == "standard")
            .unwrap();
        assert_eq!(
            standard.alerts_minor.get("credit"),
            Some(&vec![20_000, 5_000])
        );
        assert_eq!(standard.order, ["allocation", "top_up"]);
        assert_eq!(
            standard.limits.requests.map(|limit| limit.per_seconds),
            Some(60)
        );
    }

    #[test]
    fn amount_rounding_is_resolved_per_unit_and_feature() {
        use crate::book::RoundingMode;
        let book = rates("imini.rates");
        let chat = book
            .features
            .iter()
            .find(|feature| feature.name == "chat_completion")
            .unwrap();
        assert_eq!(chat.amount_rounding.len(), 1);
        assert_eq!(chat.amount_rounding[0].precision, Decimal::new(1, 2));
        assert_eq!(chat.amount_rounding[0].mode, RoundingMode::Up);
        let image = book
            .features
            .iter()
            .find(|feature| feature.name == "image_generation")
            .unwrap();
        assert_eq!(image.amount_rounding[0].mode, RoundingMode::HalfUp);
        let invideo = rates("invideo.rates");
        let stock = invideo
            .features
            .iter()
            .find(|feature| feature.name == "stock_video")
            .unwrap();
        assert_eq!(stock.units, ["credit", "video_minute"]);
    }

    #[test]
    fn rules_and_examples_keep_their_text_and_line() {
        use crate::book::InputValue;
        let book = rates("imentiv.rates");
        let video = &book.features[0];
        assert_eq!(
            video.rules[0].source,
            "base 1 credit per second when channel is web"
        );
        assert_eq!(video.rules[0].line, 23);
        let example = &book.expects[0];
        assert_eq!(
            example.source,
            "expect video_emotion(duration: 1s) = 1 credit"
        );
        assert_eq!(example.line, 113);
        // Defaults filled: the channel is the book's default.
        assert_eq!(example.terms[0].usage.channel.as_deref(), Some("web"));
        assert_eq!(
            example.terms[0].usage.inputs.get("duration"),
            Some(&InputValue::Quantity(Decimal::ONE))
        );
        assert!(
            book.expects
                .iter()
                .any(|example| example.terms[0].first_request)
        );
    }

    #[test]
    fn version_format() {
        let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let version = rates_version("imini", date, "book imini\n");
        assert!(version.starts_with("imini@2025-01-01#"));
        assert_eq!(version.len(), "imini@2025-01-01#".len() + 12);
    }
}
