//! Running a book's `expect` examples: the seeds' price tables, executable.
//!
//! An expect is a sum of `count × feature(inputs)`; it passes when every unit it lists totals
//! exactly the stated amount and every unit it does not list totals zero.

use rust_decimal::Decimal;

use crate::book::{Expect, RateBook, RatingContext};

/// The result of one `expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectOutcome {
    /// Index into `book.expects`.
    pub index: usize,
    /// What the file states, per unit, in the file's order.
    pub expected: Vec<(String, Decimal)>,
    /// The rated totals per unit (sorted by unit name, zero totals left out), or why rating
    /// failed.
    pub actual: Result<Vec<(String, Decimal)>, String>,
    pub passed: bool,
}

/// Rates every expect of `book` and compares.
pub fn run_expects(book: &RateBook) -> Vec<ExpectOutcome> {
    book.expects
        .iter()
        .enumerate()
        .map(|(index, expect)| {
            let actual = totals(book, expect);
            let passed = match &actual {
                Ok(actual) => agrees(&expect.amounts, actual),
                Err(_) => false,
            };
            ExpectOutcome {
                index,
                expected: expect.amounts.clone(),
                actual,
                passed,
            }
        })
        .collect()
}

/// The totals per unit of an expect's terms under `book`, sorted by unit name, zero totals
/// left out.
///
/// # Errors
/// The rating error of the first term that cannot be rated, or an overflow, as text.
pub fn totals(book: &RateBook, expect: &Expect) -> Result<Vec<(String, Decimal)>, String> {
    let mut sums: Vec<(String, Decimal)> = Vec::new();
    for term in &expect.terms {
        let context = RatingContext {
            first_request: term.first_request,
        };
        let rating = book
            .rate_on_plan(&term.usage, context, term.plan.as_deref())
            .map_err(|error| error.to_string())?;
        let count = Decimal::from(term.count);
        for amount in rating.amounts {
            let product = amount
                .amount
                .checked_mul(count)
                .ok_or_else(|| format!("{} × `{}` overflowed", term.count, term.usage.feature))?;
            match sums.iter_mut().find(|(unit, _)| *unit == amount.unit) {
                Some((_, sum)) => {
                    *sum = sum
                        .checked_add(product)
                        .ok_or_else(|| "the sum overflowed".to_owned())?;
                }
                None => sums.push((amount.unit, product)),
            }
        }
    }
    sums.retain(|(_, sum)| !sum.is_zero());
    sums.sort_by(|left, right| left.0.cmp(&right.0));
    Ok(sums)
}

/// Listed units must match exactly; unlisted units must be zero (absent from `actual`).
fn agrees(expected: &[(String, Decimal)], actual: &[(String, Decimal)]) -> bool {
    let listed_match = expected.iter().all(|(unit, amount)| {
        let got = actual
            .iter()
            .find(|(actual_unit, _)| actual_unit == unit)
            .map_or(Decimal::ZERO, |(_, value)| *value);
        got == *amount
    });
    let unlisted_zero = actual.iter().all(|(unit, amount)| {
        amount.is_zero() || expected.iter().any(|(listed, _)| listed == unit)
    });
    listed_match && unlisted_zero
}

/// `15 credit, 3 video_minute`, or `nothing` when nothing is charged.
pub fn describe(amounts: &[(String, Decimal)]) -> String {
    if amounts.is_empty() {
        return "nothing".to_owned();
    }
    let parts: Vec<String> = amounts
        .iter()
        .map(|(unit, amount)| format!("{} {unit}", amount.normalize()))
        .collect();
    parts.join(", ")
}
