//! Outcome-aware rating (`outcome failed free`), money attached to credits (package prices,
//! top-up rules): rating tables, `fmt` round trips and `diff` descriptions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::diff::{Change, diff};
use credits_dsl::usage::RawValue;
use credits_dsl::{
    JobOutcome, OutcomeCharge, RateBook, RatingContext, compile_source, format_source,
};
use rust_decimal::Decimal;

const BOOK: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n\
feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  \
base 20 credit per minute of duration\n  minimum 1 credit\n  outcome failed free\n  \
outcome moderated   full\n  outcome cancelled by  usage\n}\n\
feature image {\n  base 2 credit each\n  first request free\n}\n\
feature voice {\n  base 3 credit each\n  outcome failed full\n  outcome cancelled free\n}\n\
plan pro {\n  order top_up\n  topup as top_up, expires never\n  \
package small 1000 credit   for 10 USD\n  package large 5000 credit for 45.5 EUR\n  \
topup minimum 500 credit,step 100 credit\n}\n\
plan shop {\n  order top_up\n  topup as top_up, expires never\n  \
package small 1000 credit for 1200 JPY\n  topup packages only\n}\n";

fn book() -> RateBook {
    compile_source("test.rates", BOOK).unwrap()
}

fn rate(book: &RateBook, feature: &str, inputs: &[(&str, &str)], outcome: JobOutcome) -> String {
    let inputs: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect();
    let usage = book.usage(feature, None, &inputs).unwrap();
    let rating = book
        .rate_outcome(&usage, outcome, RatingContext::default(), None)
        .unwrap();
    let amounts: Vec<String> = rating
        .amounts
        .iter()
        .map(|amount| format!("{} {}", amount.amount.normalize(), amount.unit))
        .collect();
    if amounts.is_empty() {
        "0".to_owned()
    } else {
        amounts.join(", ")
    }
}

#[test]
fn each_outcome_costs_what_the_feature_states_or_its_default() {
    let book = book();
    use JobOutcome::*;
    type Case<'c> = (&'c str, &'c [(&'c str, &'c str)], JobOutcome, &'c str);
    let table: &[Case<'_>] = &[
        ("video", &[("duration", "3m30s")], Completed, "70 credit"),
        ("video", &[("duration", "3m30s")], Failed, "0"),
        ("video", &[("duration", "3m30s")], Moderated, "70 credit"),
        // By usage: the reported quantity, priced as the feature prices it (minimum too).
        ("video", &[("duration", "1m")], Cancelled, "20 credit"),
        ("video", &[("duration", "1s")], Cancelled, "1 credit"),
        // Nothing stated: failed free, moderated full, cancelled by usage.
        ("image", &[], Completed, "2 credit"),
        ("image", &[], Failed, "0"),
        ("image", &[], Moderated, "2 credit"),
        ("image", &[], Cancelled, "2 credit"),
        // Stated against the defaults.
        ("voice", &[], Failed, "3 credit"),
        ("voice", &[], Cancelled, "0"),
        ("voice", &[], Moderated, "3 credit"),
    ];
    for (feature, inputs, outcome, expected) in table {
        assert_eq!(
            rate(&book, feature, inputs, *outcome),
            *expected,
            "{feature} {inputs:?} {outcome:?}"
        );
    }
}

#[test]
fn a_free_outcome_explains_itself_and_a_charged_one_adds_a_line() {
    let book = book();
    let usage = book
        .usage(
            "video",
            None,
            &[("duration".to_owned(), RawValue::Text("1m".to_owned()))],
        )
        .unwrap();
    let failed = book
        .rate_outcome(&usage, JobOutcome::Failed, RatingContext::default(), None)
        .unwrap();
    assert!(failed.amounts.is_empty());
    assert!(!failed.free, "a failed job is not the free first request");
    assert_eq!(failed.lines.last().unwrap().text, "outcome failed: free");
    let moderated = book
        .rate_outcome(
            &usage,
            JobOutcome::Moderated,
            RatingContext::default(),
            None,
        )
        .unwrap();
    assert_eq!(
        moderated.lines.last().unwrap().text,
        "outcome moderated: full"
    );
    let completed = book
        .rate_outcome(
            &usage,
            JobOutcome::Completed,
            RatingContext::default(),
            None,
        )
        .unwrap();
    assert_eq!(
        completed,
        book.rate(&usage, RatingContext::default()).unwrap()
    );
}

#[test]
fn outcome_words_and_charges() {
    assert_eq!(
        JobOutcome::from_word("cancelled"),
        Some(JobOutcome::Cancelled)
    );
    assert_eq!(JobOutcome::from_word("canceled"), None);
    assert_eq!(
        JobOutcome::allowed(),
        "`completed`, `failed`, `moderated` or `cancelled`"
    );
    let book = book();
    let voice = book.feature("voice").unwrap();
    assert_eq!(
        voice.outcome_charge(JobOutcome::Failed),
        OutcomeCharge::Full
    );
    assert_eq!(
        voice.outcome_charge(JobOutcome::Moderated),
        OutcomeCharge::Full
    );
}

#[test]
fn money_and_outcomes_format_canonically_and_keep_their_book() {
    let formatted = format_source("test.rates", BOOK).unwrap();
    for line in [
        "  outcome moderated full\n",
        "  outcome cancelled by usage\n",
        "  package small 1000 credit for 10 USD\n",
        "  topup minimum 500 credit, step 100 credit\n",
        "  topup packages only\n",
    ] {
        assert!(formatted.contains(line), "missing {line:?} in\n{formatted}");
    }
    let again = format_source("test.rates", &formatted).unwrap();
    assert_eq!(formatted, again, "fmt is idempotent");
    let mut before = book();
    let mut after = compile_source("test.rates", &formatted).unwrap();
    before.rates_version = String::new();
    after.rates_version = String::new();
    assert_eq!(before, after);
}

#[test]
fn prices_are_exact_in_the_currency_minor_units() {
    let book = book();
    let prices: Vec<(String, i64, Option<Decimal>)> = book
        .plans
        .iter()
        .flat_map(|plan| plan.packages.iter())
        .map(|package| {
            let price = package.price.clone().unwrap();
            (price.currency.clone(), price.amount_minor, price.decimal())
        })
        .collect();
    assert_eq!(
        prices,
        vec![
            ("USD".to_owned(), 1000, Some(Decimal::new(1000, 2))),
            ("EUR".to_owned(), 4550, Some(Decimal::new(4550, 2))),
            ("JPY".to_owned(), 1200, Some(Decimal::new(1200, 0))),
        ]
    );
}

fn changed_details(changes: &[Change], name: &str) -> Vec<String> {
    changes
        .iter()
        .find_map(|change| match change {
            Change::Changed {
                name: changed,
                details,
            } if changed == name => Some(details.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn diff_describes_outcomes_prices_and_top_up_rules_old_to_new() {
    let old = book();
    let new_source = BOOK
        .replace("outcome failed free", "outcome failed full")
        .replace("for 10 USD", "for 12 USD")
        .replace(
            "topup minimum 500 credit,step 100 credit",
            "topup minimum 1000 credit",
        );
    let new = compile_source("test.rates", &new_source).unwrap();
    let diff = diff(&old, &new);
    assert_eq!(
        changed_details(&diff.features, "video"),
        vec![
            "outcomes failed free, moderated full, cancelled by usage → failed full, moderated full, cancelled by usage"
                .to_owned()
        ]
    );
    let plan = changed_details(&diff.plans, "pro");
    assert!(
        plan.contains(
            &"packages small 1000 credit for 10.00 USD, large 5000 credit for 45.50 EUR → small 1000 credit for 12.00 USD, large 5000 credit for 45.50 EUR"
                .to_owned()
        ),
        "{plan:?}"
    );
    assert!(
        plan.contains(
            &"top-up rules minimum 500 credit, step 100 credit → minimum 1000 credit".to_owned()
        ),
        "{plan:?}"
    );
}

#[test]
fn a_later_version_may_change_outcomes_prices_and_top_up_rules() {
    let later = BOOK
        .replace("effective 2025-01-01", "effective 2026-01-01")
        .replace("outcome failed free", "outcome failed full")
        .replace("for 10 USD", "for 11.50 GBP")
        .replace("topup packages only", "topup minimum 100 credit");
    let library = credits_dsl::RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), BOOK.to_owned()),
        ("test@2026-01-01.rates".to_owned(), later),
    ]);
    assert!(library.is_ok(), "{:?}", library.err());
}
