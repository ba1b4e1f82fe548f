//! Refusals the book states (`refuse "MESSAGE" when COND`) and enumerated allowed values
//! (`input duration: duration one of 5s, 10s`): what rating and the edge answer, and what
//! `fmt` and `diff` make of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::str::FromStr;

use credits_dsl::diff::{Change, diff};
use credits_dsl::rate::RateError;
use credits_dsl::usage::{RawValue, UsageError};
use credits_dsl::{RateBook, RatingContext, compile_source, format_source};
use miette::Diagnostic;
use rust_decimal::Decimal;

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\nchannels web, api default web\n";

const BODY: &str = "feature video {
  input duration: duration max 1h
  input fast: flag default no
  input batch: flag default no
  input model: choice(standard, pro) default standard
  round duration up to 1s
  base 1 credit per minute of duration
  add 1 credit per minute of duration when fast
  refuse \"fast mode is not available with batch\" when fast and batch
  refuse \"the pro model is not sold through the api\" when model is pro and channel is api
}
feature clip {
  input duration: duration one of 5s, 10s default 5s
  input outputs: count one of 1, 2, 4 default 1
  base 1 credit per 5s of duration
  multiply by outputs
}
";

fn book(body: &str) -> RateBook {
    let source = format!("{HEAD}{body}");
    match compile_source("test.rates", &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{source}\n{diagnostics:?}"),
    }
}

fn raw(inputs: &[(&str, &str)]) -> Vec<(String, RawValue)> {
    inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect()
}

fn rate(
    book: &RateBook,
    feature: &str,
    channel: Option<&str>,
    inputs: &[(&str, &str)],
) -> Result<Decimal, RateError> {
    let usage = book.usage(feature, channel, &raw(inputs)).unwrap();
    let rating = book.rate(&usage, RatingContext::default())?;
    Ok(rating
        .amounts
        .iter()
        .find(|amount| amount.unit == "credit")
        .map_or(Decimal::ZERO, |amount| amount.amount))
}

#[test]
fn a_refused_combination_is_answered_with_the_books_message() {
    let book = book(BODY);
    type Case<'a> = (
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        Result<&'a str, &'a str>,
    );
    let table: [Case<'_>; 6] = [
        (None, &[("duration", "2m")], Ok("2")),
        (None, &[("duration", "2m"), ("fast", "yes")], Ok("4")),
        (None, &[("duration", "2m"), ("batch", "yes")], Ok("2")),
        (
            None,
            &[("duration", "2m"), ("fast", "yes"), ("batch", "yes")],
            Err("fast mode is not available with batch"),
        ),
        (
            Some("web"),
            &[("duration", "2m"), ("model", "pro")],
            Ok("2"),
        ),
        (
            Some("api"),
            &[("duration", "2m"), ("model", "pro")],
            Err("the pro model is not sold through the api"),
        ),
    ];
    for (channel, inputs, expected) in table {
        let result = rate(&book, "video", channel, inputs);
        match expected {
            Ok(amount) => assert_eq!(result.unwrap(), Decimal::from_str(amount).unwrap()),
            Err(message) => {
                let error = result.unwrap_err();
                assert_eq!(error.to_string(), message, "{inputs:?}");
                assert_eq!(
                    miette::Diagnostic::code(&error)
                        .map(|code| code.to_string())
                        .as_deref(),
                    Some("rating::refused")
                );
            }
        }
    }
}

#[test]
fn a_quantity_outside_one_of_is_refused_at_the_edge_listing_the_allowed_values() {
    let book = book(BODY);
    assert_eq!(
        rate(
            &book,
            "clip",
            None,
            &[("duration", "10s"), ("outputs", "4")]
        )
        .unwrap(),
        Decimal::from(8)
    );
    assert_eq!(rate(&book, "clip", None, &[]).unwrap(), Decimal::from(1));
    let error = book
        .usage("clip", None, &raw(&[("duration", "7s")]))
        .unwrap_err();
    assert_eq!(error.code(), "value-not-allowed");
    assert_eq!(
        error.to_string(),
        "`7s` for `duration` of `clip` is not one of the allowed values: 5s, 10s"
    );
    let error = book
        .usage("clip", None, &raw(&[("outputs", "3")]))
        .unwrap_err();
    assert!(matches!(error, UsageError::NotAllowed { .. }));
    assert_eq!(error.help().unwrap().to_string(), "give one of 1, 2, 4");
    // The same value written another way is the same value.
    assert!(
        book.usage("clip", None, &raw(&[("duration", "10000ms")]))
            .is_ok()
    );
}

#[test]
fn examples_may_not_give_a_value_outside_one_of() {
    let source = format!("{HEAD}{BODY}expect clip(duration: 7s) = 1 credit\n");
    let errors = format!("{:?}", compile_source("test.rates", &source).unwrap_err());
    assert!(errors.contains("not one of"), "{errors}");
}

#[test]
fn fmt_keeps_refusals_and_allowed_values() {
    let source = format!(
        "{HEAD}feature clip {{\n  input duration: duration   one of 5s,10s\n  base 1 credit per 5s of duration\n  refuse   \"too short\"   when duration below 10s\n}}\n"
    );
    let formatted = format_source("test.rates", &source).unwrap();
    assert!(
        formatted.contains("input duration: duration one of 5s, 10s\n"),
        "{formatted}"
    );
    assert!(
        formatted.contains("refuse \"too short\" when duration below 10s\n"),
        "{formatted}"
    );
    assert_eq!(formatted, format_source("test.rates", &formatted).unwrap());
    let mut before = compile_source("test.rates", &source).unwrap();
    let mut after = compile_source("test.rates", &formatted).unwrap();
    before.rates_version.clear();
    after.rates_version.clear();
    assert_eq!(before, after);
}

#[test]
fn diff_shows_a_new_refusal_and_changed_allowed_values() {
    let old = book(BODY);
    let new = book(
        &BODY
            .replace(
                "  refuse \"the pro model",
                "  refuse \"batch is for standard\" when batch and model is pro\n  refuse \"the pro model",
            )
            .replace("one of 5s, 10s default 5s", "one of 5s, 10s, 15s default 5s"),
    );
    let report = diff(&old, &new);
    let details: Vec<String> = report
        .features
        .iter()
        .flat_map(|change| match change {
            Change::Changed { details, .. } => details.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        details.iter().any(|detail| detail.starts_with("refusals ")
            && detail.contains("\"batch is for standard\" when batch and model is pro")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|detail| detail.starts_with("input `duration` changed: ")
                && detail.ends_with("allowed values 5s, 10s → 5s, 10s, 15s")),
        "{details:?}"
    );
}

#[test]
fn diff_shows_a_refusals_quantity_in_its_unit() {
    let old = book(BODY);
    let new = book(&BODY.replace(
        "  refuse \"fast mode",
        "  refuse \"long fast videos are not sold\" when fast and duration above 30m\n  refuse \"fast mode",
    ));
    let report = diff(&old, &new);
    let text = format!("{:?}", report.features);
    assert!(
        text.contains("\\\"long fast videos are not sold\\\" when fast and duration above 30m"),
        "{text}"
    );
}
