//! Rating is exact: a prorated or per-N price multiplied by `times` and `multiply by` is
//! rounded once, from the exact value, never from a 28-digit quotient.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, RatingContext, compile_source};

fn compile(source: &str) -> RateBook {
    compile_source("exact.rates", source).unwrap_or_else(|errors| panic!("{errors:?}\n{source}"))
}

/// The charge in minor units of `unit` (zero when the unit is not charged).
fn charge_minor(book: &RateBook, feature: &str, inputs: &[(&str, &str)], unit: &str) -> i64 {
    let inputs: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Number((*value).to_owned())))
        .collect();
    let usage = book.usage(feature, None, &inputs).unwrap();
    let rating = book.rate(&usage, RatingContext::default()).unwrap();
    let amounts = book.rate_amounts(&usage, RatingContext::default()).unwrap();
    assert_eq!(rating.amounts, amounts.amounts, "rate and rate_amounts agree");
    rating
        .amounts
        .iter()
        .find(|amount| amount.unit == unit)
        .map_or(0, |amount| amount.amount_minor)
}

const THIRDS: &str = r#"
book exact
effective 2025-01-01
unit credit scale 2 round half-up

feature thirds_down {
  input x: count max 1000
  input outputs: count default 1 max 8
  base 1 credit per 3 of x
  multiply by outputs
  round credit to 0.01 down
}

feature thirds_up {
  input x: count max 1000
  input outputs: count default 1 max 8
  base 2 credit per 3 of x
  multiply by outputs
  round credit to 0.01 up
}

feature thirds_times {
  input x: count max 1000
  input copies: count default 1 max 8
  base 1 credit per 3 of x times copies
  round credit to 0.01 down
}
"#;

/// Regression: a price per 3 units, then × 3 outputs. The quotient 1/3 was cut to 28 digits
/// before the multiplication, so `round down` charged 0.99 for exactly 1 credit and
/// `round up` charged 2.01 for exactly 2 credits (2/3 rounds its last digit up).
#[test]
fn rating_divides_before_it_multiplies() {
    let book = compile(THIRDS);
    let outputs = [("x", "1"), ("outputs", "3")];
    let copies = [("x", "1"), ("copies", "3")];
    let charged = [
        charge_minor(&book, "thirds_down", &outputs, "credit"),
        charge_minor(&book, "thirds_up", &outputs, "credit"),
        charge_minor(&book, "thirds_times", &copies, "credit"),
    ];
    assert_eq!(charged, [100, 200, 100]);
}
