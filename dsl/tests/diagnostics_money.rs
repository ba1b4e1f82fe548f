//! Mistakes in outcomes (`outcome failed free`) and in money attached to credits (package
//! prices, top-up minimum, step and packages only), and what a product manager reads.
//!
//! As `diagnostics.rs`: each snapshot shows the SOURCE then the ERROR as `credits rates
//! check` renders it. Regenerate with `INSTA_UPDATE=always cargo test -p credits-dsl --test
//! diagnostics_money` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::compile_source;
use miette::Diagnostic;

use common::{diagnostics, render};

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";
const FEATURE: &str = "feature image {\n  base 1 credit each\n";
const PLAN: &str = "plan pro {\n  order top_up\n  topup as top_up, expires never\n";

/// `(case name, body)`: the body follows [`HEAD`].
const CASES: &[(&str, &str)] = &[
    (
        "outcome_unknown_word",
        "feature image {\n  base 1 credit each\n  outcome faild free\n}\n",
    ),
    (
        "outcome_stated_twice",
        "feature image {\n  base 1 credit each\n  outcome failed free\n  outcome failed full\n}\n",
    ),
    (
        "outcome_completed_stated",
        "feature image {\n  base 1 credit each\n  outcome completed free\n}\n",
    ),
    (
        "outcome_in_a_plan",
        "feature image {\n  base 1 credit each\n}\nplan pro {\n  outcome failed free\n}\n",
    ),
    (
        "package_unknown_currency",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 10 usd\n}\n",
    ),
    (
        "package_price_not_a_currency",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 10 credit\n}\n",
    ),
    (
        "package_price_too_fine",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 9.995 USD\n}\n",
    ),
    (
        "package_price_yen_decimals",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 1500.5 JPY\n}\n",
    ),
    (
        "package_price_zero",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 0 USD\n}\n",
    ),
    (
        "topup_step_does_not_divide_minimum",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  topup minimum 500 credit, step 300 credit\n}\n",
    ),
    (
        "topup_rules_without_topup",
        "plan pro {\n  topup minimum 500 credit\n}\n",
    ),
    (
        "topup_packages_only_without_package",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  topup packages only\n}\n",
    ),
    (
        "topup_minimum_twice",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  topup minimum 500 credit, minimum 100 credit\n}\n",
    ),
    (
        "package_currencies_over_the_limit",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  package a 1 credit for 1 USD\n  package b 1 credit for 1 EUR\n  package c 1 credit for 1 GBP\n  package d 1 credit for 1 JPY\n  package e 1 credit for 1 CHF\n}\n",
    ),
    (
        "topup_minimum_unknown_unit",
        "plan pro {\n  order top_up\n  topup as top_up, expires never\n  topup minimum 500 credits\n}\n",
    ),
];

#[test]
fn every_case_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, body) in CASES {
            let source = format!("{HEAD}{body}");
            let rendered = render(&diagnostics(&source));
            insta::assert_snapshot!(
                *name,
                format!("FILE test.rates\nSOURCE\n{source}\nERROR\n{rendered}")
            );
        }
    });
}

#[test]
fn every_error_points_at_the_source_and_helps() {
    for (name, body) in CASES {
        let source = format!("{HEAD}{body}");
        for error in diagnostics(&source).errors() {
            let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
            assert!(!labels.is_empty(), "{name}: `{error}` has no label");
            assert!(error.help().is_some(), "{name}: `{error}` has no help");
            let message = error.to_string();
            assert!(
                !message.ends_with('.'),
                "{name}: `{message}` ends with a period"
            );
        }
    }
}

#[test]
fn money_and_outcomes_compile_when_right() {
    let source = format!(
        "{HEAD}{FEATURE}  outcome failed free\n  outcome moderated full\n  outcome cancelled by usage\n}}\n{PLAN}  package small 1000 credit for 10 USD\n  package large 5000 credit for 4500 JPY\n  topup minimum 500 credit, step 100 credit\n}}\nplan shop {{\n  order top_up\n  topup as top_up, expires never\n  package small 1000 credit for 9.99 EUR\n  topup packages only\n}}\n"
    );
    let book = compile_source("test.rates", &source).unwrap();
    let image = book.feature("image").unwrap();
    assert_eq!(image.outcomes.len(), 3);
    let pro = book.plan("pro").unwrap();
    let small = pro.packages.iter().find(|p| p.name == "small").unwrap();
    let price = small.price.as_ref().unwrap();
    assert_eq!((price.currency.as_str(), price.amount_minor), ("USD", 1000));
    let large = pro.packages.iter().find(|p| p.name == "large").unwrap();
    assert_eq!(large.price.as_ref().unwrap().amount_minor, 4500);
    assert_eq!(
        pro.topup_rules.minimum.as_ref().unwrap().amount_minor,
        50_000
    );
    assert_eq!(pro.topup_rules.step.as_ref().unwrap().amount_minor, 10_000);
    assert!(!pro.topup_rules.packages_only);
    let shop = book.plan("shop").unwrap();
    assert!(shop.topup_rules.packages_only);
    assert_eq!(shop.packages[0].price.as_ref().unwrap().amount_minor, 999);
}
