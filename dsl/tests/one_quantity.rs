//! One rating reads one quantity per input: `multiply by`, `times` and `per … of` all see the
//! input after its `minimum` and its `round`, as LANGUAGE.md's rating order says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::str::FromStr;

use credits_dsl::{InputValue, RateBook, RatingContext, Usage, compile_source};
use rust_decimal::Decimal;

fn book(body: &str) -> RateBook {
    let source =
        format!("book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n{body}");
    match compile_source("test.rates", &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{source}\n{diagnostics:?}"),
    }
}

/// The credit total of `feature` with the count input `outputs` at `outputs`.
fn credit(book: &RateBook, feature: &str, outputs: &str) -> Decimal {
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "outputs".to_owned(),
        InputValue::Quantity(Decimal::from_str(outputs).unwrap()),
    );
    let usage = Usage {
        feature: feature.to_owned(),
        inputs,
        channel: None,
    };
    let rating = book.rate(&usage, RatingContext::default()).unwrap();
    rating
        .amounts
        .iter()
        .find(|amount| amount.unit == "credit")
        .map_or(Decimal::ZERO, |amount| amount.amount)
}

#[test]
fn multiply_by_sees_the_minimum_of_its_input() {
    let book = book(
        "feature image {\n  input outputs: count max 8\n  minimum 2 of outputs\n  base 10 credit each\n  multiply by outputs\n}\n",
    );
    assert_eq!(credit(&book, "image", "1"), Decimal::from(20));
    assert_eq!(credit(&book, "image", "3"), Decimal::from(30));
}

#[test]
fn multiply_by_sees_the_rounding_of_its_input() {
    let book = book(
        "feature image {\n  input outputs: count max 8\n  round outputs up to 4\n  base 10 credit each\n  multiply by outputs\n}\n",
    );
    assert_eq!(credit(&book, "image", "3"), Decimal::from(40));
    assert_eq!(credit(&book, "image", "5"), Decimal::from(80));
}

#[test]
fn times_sees_the_minimum_and_rounding_of_its_input() {
    let book = book(
        "feature image {\n  input outputs: count max 8\n  minimum 2 of outputs\n  round outputs up to 2\n  base 10 credit each times outputs\n}\n",
    );
    assert_eq!(credit(&book, "image", "1"), Decimal::from(20));
    assert_eq!(credit(&book, "image", "3"), Decimal::from(40));
}

/// The same input priced by a `per … of` line and multiplied by `times` in one feature: both
/// see one quantity.
#[test]
fn per_and_times_of_one_input_agree() {
    let book = book(
        "feature image {\n  input outputs: count max 8\n  minimum 4 of outputs\n  base 1 credit per 1 of outputs\n  add 1 credit each times outputs\n}\n",
    );
    // 4 (per, after the minimum) + 4 (times, after the minimum), not 4 + 1.
    assert_eq!(credit(&book, "image", "1"), Decimal::from(8));
}
