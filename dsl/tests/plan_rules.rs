//! Rules that depend on the account's plan (`when plan is business`): prices per plan, a
//! feature only some plans may use, a longer maximum on a higher plan, examples that name the
//! plan (`expect video(duration: 1m, plan: business) = ...`), and what `fmt` and `diff` make
//! of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::str::FromStr;

use credits_dsl::diff::{Change, diff};
use credits_dsl::rate::RateError;
use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, RatingContext, compile_source, format_source};
use rust_decimal::Decimal;

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

const PLANS: &str = "plan free {
  order top_up
  topup as top_up, expires never
}
plan pro {
  order top_up
  topup as top_up, expires never
}
plan business {
  order top_up
  topup as top_up, expires never
}
";

const VIDEO: &str = "feature video {
  input duration: duration max 4h
  round duration up to 1s
  base 10 credit per minute of duration when plan is free or pro
  base 8 credit per minute of duration when plan is business
  add 2 credit each when plan is free
  refuse \"videos over 1 hour need the business plan\" when plan is free or pro and duration above 1h
}
feature avatar {
  base 50 credit each
  refuse \"avatars are for business plans\" when plan is free or pro
}
";

fn source(body: &str) -> String {
    format!("{HEAD}{body}{PLANS}")
}

fn book(body: &str) -> RateBook {
    let source = source(body);
    match compile_source("test.rates", &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{source}\n{diagnostics:?}"),
    }
}

fn rate(
    book: &RateBook,
    feature: &str,
    inputs: &[(&str, &str)],
    plan: Option<&str>,
) -> Result<Decimal, RateError> {
    let raw: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect();
    let usage = book.usage(feature, None, &raw).unwrap();
    let rating = book.rate_on_plan(&usage, RatingContext::default(), plan)?;
    Ok(rating
        .amounts
        .iter()
        .find(|amount| amount.unit == "credit")
        .map_or(Decimal::ZERO, |amount| amount.amount))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

#[test]
fn prices_per_plan() {
    let book = book(VIDEO);
    let table = [
        ("free", "10m", "102"),
        ("pro", "10m", "100"),
        ("business", "10m", "80"),
        ("business", "90s", "12"),
        ("business", "3h", "1440"),
        ("pro", "1h", "600"),
    ];
    for (plan, duration, expected) in table {
        assert_eq!(
            rate(&book, "video", &[("duration", duration)], Some(plan)).unwrap(),
            dec(expected),
            "{plan} {duration}"
        );
    }
}

#[test]
fn a_longer_maximum_on_a_higher_plan_is_a_refusal_of_the_others() {
    let book = book(VIDEO);
    for plan in ["free", "pro"] {
        let error = rate(&book, "video", &[("duration", "61m")], Some(plan)).unwrap_err();
        assert_eq!(
            error,
            RateError::Refused {
                feature: "video".to_owned(),
                message: "videos over 1 hour need the business plan".to_owned(),
            }
        );
    }
    assert!(rate(&book, "video", &[("duration", "61m")], Some("business")).is_ok());
}

#[test]
fn a_feature_only_some_plans_may_use() {
    let book = book(VIDEO);
    let error = rate(&book, "avatar", &[], Some("free")).unwrap_err();
    assert_eq!(error.to_string(), "avatars are for business plans");
    assert_eq!(
        rate(&book, "avatar", &[], Some("business")).unwrap(),
        dec("50")
    );
}

#[test]
fn rating_a_plan_dependent_feature_without_a_plan_says_so() {
    let book = book(VIDEO);
    let error = rate(&book, "avatar", &[], None).unwrap_err();
    assert_eq!(
        error,
        RateError::PlanRequired {
            feature: "avatar".to_owned()
        }
    );
    // `rate` is rating without a plan.
    let usage = book.usage("avatar", None, &[]).unwrap();
    assert!(matches!(
        book.rate(&usage, RatingContext::default()),
        Err(RateError::PlanRequired { .. })
    ));
}

#[test]
fn a_feature_that_does_not_name_the_plan_needs_none() {
    let book = book("feature image {\n  base 1 credit each\n}\n");
    assert_eq!(rate(&book, "image", &[], None).unwrap(), dec("1"));
    assert_eq!(rate(&book, "image", &[], Some("free")).unwrap(), dec("1"));
}

#[test]
fn examples_name_the_plan() {
    let body = format!(
        "{VIDEO}expect video(duration: 10m, plan: business) = 80 credit
expect video(duration: 10m, plan: free) = 102 credit
expect 2 * video(duration: 1m, plan: pro) + avatar(plan: business) = 70 credit
"
    );
    let book = book(&body);
    assert_eq!(book.expects.len(), 3);
    assert_eq!(book.expects[0].terms[0].plan.as_deref(), Some("business"));
}

#[test]
fn an_example_without_the_plan_of_a_plan_dependent_feature_fails() {
    let source = source(&format!("{VIDEO}expect video(duration: 10m) = 80 credit\n"));
    let errors = format!("{:?}", compile_source("test.rates", &source).unwrap_err());
    assert!(errors.contains("depends on the plan"), "{errors}");
}

#[test]
fn every_plan_must_be_priced() {
    let source = source(
        "feature video {\n  base 1 credit each when plan is free\n  base 2 credit each when plan is pro\n}\n",
    );
    let errors = format!("{:?}", compile_source("test.rates", &source).unwrap_err());
    assert!(errors.contains("business"), "{errors}");
}

#[test]
fn fmt_keeps_plan_conditions_and_plan_arguments() {
    let body = format!("{VIDEO}expect video(duration: 10m, plan: business) = 80 credit\n");
    let source = source(&body);
    let formatted = format_source("test.rates", &source).unwrap();
    assert_eq!(formatted, format_source("test.rates", &formatted).unwrap());
    let mut before = compile_source("test.rates", &source).unwrap();
    let mut after = compile_source("test.rates", &formatted).unwrap();
    before.rates_version.clear();
    after.rates_version.clear();
    assert_eq!(before, after);
    assert!(formatted.contains("when plan is free or pro and duration above 1h"));
    assert!(formatted.contains("plan: business"));
}

#[test]
fn diff_shows_a_plan_price_and_the_examples_it_changes() {
    let example = "expect video(duration: 10m, plan: business) = 80 credit\n";
    let old = book(&format!("{VIDEO}{example}"));
    let cheaper = VIDEO.replace(
        "base 8 credit per minute of duration when plan is business",
        "base 6 credit per minute of duration when plan is business",
    );
    let new_source = source(&format!(
        "{cheaper}expect video(duration: 10m, plan: business) = 60 credit\n"
    ));
    let new = compile_source("test.rates", &new_source).unwrap();
    let report = diff(&old, &new);
    let Change::Changed { name, details } = &report.features[0] else {
        panic!("{report:?}");
    };
    assert_eq!(name, "video");
    assert!(
        details.iter().any(|detail| detail
            == "price changed: base 8 credit per minute of duration when plan is business → base 6 credit per minute of duration when plan is business"),
        "{details:?}"
    );
    assert_eq!(report.prices.len(), 1, "{report:?}");
    assert_eq!(
        report.prices[0].example,
        "video(duration: 10m, plan: business)"
    );
}

#[test]
fn a_plan_the_book_refuses_needs_no_price() {
    let book = book(
        "feature avatar {
  base 50 credit each when plan is business or pro
  refuse \"avatars are for paid plans\" when plan is free
}
",
    );
    assert_eq!(rate(&book, "avatar", &[], Some("pro")).unwrap(), dec("50"));
    assert_eq!(
        rate(&book, "avatar", &[], Some("free"))
            .unwrap_err()
            .to_string(),
        "avatars are for paid plans"
    );
    // A refusal that depends on something else does not excuse the missing price.
    let source = source(
        "feature avatar {
  input hd: flag default no
  base 50 credit each when plan is business or pro
  refuse \"no hd avatars on free\" when plan is free and hd
}
",
    );
    let errors = format!("{:?}", compile_source("test.rates", &source).unwrap_err());
    assert!(
        errors.contains("MissingPrice") && errors.contains("free"),
        "{errors}"
    );
}
