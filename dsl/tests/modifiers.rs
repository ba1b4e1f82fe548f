//! Modifiers on a feature's amount: `multiply by NUMBER [when COND]` and
//! `add NUMBER% [when COND]`. Each that holds multiplies every charged unit's summed amount,
//! exactly, after the lines are summed and before the unit's rounding and minimum charge;
//! factors compound. Every row is a worked example, checked as an `expect` of the book (a
//! failing one shows the expected and actual amounts).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::{InputValue, RatingContext, Usage, compile_source};
use rust_decimal::Decimal;

/// Compiles `head` + `body` with each `(usage, amounts)` as an `expect`.
fn check_examples(head: &str, body: &str, examples: &[(&str, &str)]) {
    for (usage, amounts) in examples {
        let source = format!("{head}{body}expect {usage} = {amounts}\n");
        if let Err(diagnostics) = compile_source("test.rates", &source) {
            panic!("{usage} = {amounts}\n{diagnostics:?}");
        }
    }
}

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

const LLM: &str = "book test\neffective 2025-01-01\nunit credit scale 6 round half-up\n";

/// An LLM price list: a table by model with input, output and cached-input columns, batch
/// −50 % and a long-context surcharge of +50 %.
const LLM_BODY: &str = "feature chat \"Chat completion\" {
  input model: choice(gpt_4o, gpt_4o_mini, o1)
  input input_tokens: tokens max 2000000
  input output_tokens: tokens default 0 min 0 max 200000
  input cached_tokens: tokens default 0 min 0 max 2000000
  input batch: flag default no
  input long_context: flag default no

  base table by model {
    columns: per 1000000 tokens of input_tokens, per 1000000 tokens of output_tokens, per 1000000 tokens of cached_tokens
    gpt_4o:      2.5 credit,  10 credit,  1.25 credit
    gpt_4o_mini: 0.15 credit, 0.6 credit, 0.075 credit
    o1:          15 credit,   60 credit,  7.5 credit
  }
  multiply by 0.5 when batch
  add 50% when long_context
}
";

#[test]
fn llm_price_list_with_batch_discount_and_long_context_surcharge() {
    check_examples(
        LLM,
        LLM_BODY,
        &[
            ("chat(model: gpt_4o, input_tokens: 1000000)", "2.5 credit"),
            (
                "chat(model: gpt_4o, input_tokens: 1000000, output_tokens: 100000)",
                "3.5 credit",
            ),
            (
                "chat(model: gpt_4o, input_tokens: 1000000, output_tokens: 100000, batch: yes)",
                "1.75 credit",
            ),
            (
                "chat(model: gpt_4o_mini, input_tokens: 1000, cached_tokens: 4000)",
                "0.00045 credit",
            ),
            // 10,000 × 15 / 1M = 0.15; × 0.5 × 1.5 = 0.1125.
            (
                "chat(model: o1, input_tokens: 10000, batch: yes, long_context: yes)",
                "0.1125 credit",
            ),
            (
                "chat(model: o1, input_tokens: 10000, long_context: yes)",
                "0.225 credit",
            ),
            // 7 tokens of gpt_4o_mini: 0.00000105 → 0.000001 at scale 6 (half-up), after the
            // factor: 0.000000525 × 1.5 = 0.0000007875 → 0.000001.
            (
                "chat(model: gpt_4o_mini, input_tokens: 7, batch: yes, long_context: yes)",
                "0.000001 credit",
            ),
        ],
    );
}

#[test]
fn factors_compound_whatever_their_order() {
    let body = |first: &str, second: &str| {
        format!(
            "feature image {{\n  input priority: flag default no\n  input promo: flag default no\n  base 10 credit each\n  {first}\n  {second}\n}}\n"
        )
    };
    let examples = [
        ("image()", "10 credit"),
        ("image(priority: yes)", "20 credit"),
        ("image(promo: yes)", "8 credit"),
        ("image(priority: yes, promo: yes)", "16 credit"),
    ];
    check_examples(
        HEAD,
        &body("multiply by 2 when priority", "add -20% when promo"),
        &examples,
    );
    check_examples(
        HEAD,
        &body("add -20% when promo", "multiply by 2 when priority"),
        &examples,
    );
}

#[test]
fn factors_apply_before_rounding_and_the_minimum_charge() {
    // 1 credit per 3 words: 10 words = 3.333…; × 0.5 = 1.666… → 1.67 (one rounding, of the
    // exact value; rounding first would give 3.33 × 0.5 = 1.665 → 1.67 here but 1.66 with
    // `half-even`). The minimum charge of 2 applies after the factor.
    let body = "feature text {\n  input words: words max 100000\n  input batch: flag default no\n  base 1 credit per 3 words\n  multiply by 0.5 when batch\n  round credit to 0.01 half-even\n  minimum 1 credit\n}\n";
    check_examples(
        HEAD,
        body,
        &[
            ("text(words: 10)", "3.33 credit"),
            ("text(words: 10, batch: yes)", "1.67 credit"),
            ("text(words: 1, batch: yes)", "1 credit"),
            ("text(words: 300, batch: yes)", "50 credit"),
        ],
    );
}

#[test]
fn a_factor_applies_to_every_unit_the_feature_charges() {
    let body = "unit video_minute scale 0 round up\nfeature stock {\n  input duration: duration max 1h\n  input hd: flag default no\n  round duration up to 1s\n  base 5 credit per minute of duration\n  add 1 video_minute per minute of duration\n  add 30% when hd\n}\n";
    check_examples(
        HEAD,
        body,
        &[
            ("stock(duration: 2m)", "10 credit, 2 video_minute"),
            // 2 × 1.3 = 2.6 video minutes, rounded up to 3.
            ("stock(duration: 2m, hd: yes)", "13 credit, 3 video_minute"),
        ],
    );
}

#[test]
fn first_request_free_wins_over_a_surcharge() {
    let body = "feature image {\n  input priority: flag default no\n  base 10 credit each\n  multiply by 2 when priority\n  first request free\n}\n";
    check_examples(
        HEAD,
        body,
        &[
            ("image(priority: yes)", "20 credit"),
            ("first image(priority: yes)", "0 credit"),
        ],
    );
}

#[test]
fn the_explanation_shows_each_factor() {
    let source = format!(
        "{HEAD}feature image {{\n  input priority: flag default no\n  input hd: flag default no\n  base 10 credit each\n  multiply by 2 when priority\n  add 30% when hd\n}}\n"
    );
    let book = compile_source("test.rates", &source).unwrap();
    let usage = Usage {
        feature: "image".to_owned(),
        channel: None,
        inputs: [
            ("priority".to_owned(), InputValue::Flag(true)),
            ("hd".to_owned(), InputValue::Flag(true)),
        ]
        .into_iter()
        .collect(),
    };
    let rating = book.rate(&usage, RatingContext::default()).unwrap();
    let lines: Vec<&str> = rating.lines.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(
        lines,
        [
            "base 10 credit each = 10 credit",
            "multiply by 2 when priority: credit 10 × 2 = 20",
            "add 30% when hd: credit 20 × 1.3 = 26",
        ]
    );
    assert_eq!(rating.amounts[0].amount, Decimal::from(26));
    assert_eq!(rating.amounts[0].amount_minor, 2600);
    let amounts_only = book.rate_amounts(&usage, RatingContext::default()).unwrap();
    assert_eq!(amounts_only.amounts, rating.amounts);
}

#[test]
fn factors_are_compiled_in_the_order_written() {
    let source = format!(
        "{HEAD}feature image {{\n  input hd: flag default no\n  base 10 credit each\n  add 30% when hd\n  multiply by 0.5\n}}\n"
    );
    let book = compile_source("test.rates", &source).unwrap();
    let factors = &book.features[0].factors;
    assert_eq!(factors.len(), 2);
    assert_eq!(factors[0].factor, Decimal::new(13, 1));
    assert_eq!(factors[0].source, "add 30% when hd");
    assert_eq!(factors[1].factor, Decimal::new(5, 1));
    assert_eq!(factors[1].line, 8);
}

mod exact {
    use credits_dsl::usage::RawValue;
    use credits_dsl::{RatingContext, compile_source};
    use proptest::prelude::*;

    /// `numerator / denominator` (both positive) rounded to a whole number: `up` (away from
    /// zero), `down` or `half-up`.
    fn round(numerator: i128, denominator: i128, mode: &str) -> i128 {
        let (quotient, remainder) = (numerator / denominator, numerator % denominator);
        match mode {
            "up" if remainder > 0 => quotient + 1,
            "half-up" if remainder * 2 >= denominator => quotient + 1,
            _ => quotient,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// A prorated price (`P credit per N of x`) under a percentage or a factor rates to the
        /// one rounding of the exact fraction `P × x ÷ N × factor`, to the minor unit.
        #[test]
        fn a_factor_is_applied_to_the_exact_sum(
            price_minor in 1i128..100_000,
            per in 1i128..=7,
            x in 1i128..=1000,
            percent in prop::option::of(-99i128..=300),
            factor_hundredths in 1i128..=500,
            mode in prop::sample::select(vec!["up", "down", "half-up"]),
        ) {
            let price = rust_decimal::Decimal::from_i128_with_scale(price_minor, 2);
            let (statement, factor_numerator) = match percent {
                Some(percent) => (format!("add {percent}%"), 100 + percent),
                None => (
                    format!(
                        "multiply by {}",
                        rust_decimal::Decimal::from_i128_with_scale(factor_hundredths, 2)
                    ),
                    factor_hundredths,
                ),
            };
            let source = format!(
                "book exact\neffective 2025-01-01\nunit credit scale 2 round {mode}\nfeature f {{\n  input x: count max 1000\n  base {price} credit per {per} of x\n  {statement}\n}}\n"
            );
            let book = compile_source("exact.rates", &source)
                .unwrap_or_else(|errors| panic!("{errors:?}\n{source}"));
            let usage = book
                .usage("f", None, &[("x".to_owned(), RawValue::Number(x.to_string()))])
                .unwrap();
            let rating = book.rate_amounts(&usage, RatingContext::default()).unwrap();
            let charged = rating.amounts.first().map_or(0, |amount| amount.amount_minor);
            // In minor units: price_minor × x ÷ per × factor_numerator ÷ 100.
            let expected = round(price_minor * x * factor_numerator, per * 100, mode);
            prop_assert_eq!(i128::from(charged), expected, "{}", source);
        }
    }
}
