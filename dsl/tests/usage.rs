//! Edge validation of raw inputs: every way a client can get a request wrong is a clear,
//! coded error naming the feature and input, and every valid form is read in base units.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::str::FromStr;

use credits_dsl::usage::{RawValue, UsageError};
use credits_dsl::{
    Channels, Condition, Feature, Input, InputKind, InputValue, Price, RateBook, RatingContext,
    RoundingMode, Rule, RuleRole, Test, UnitDef,
};
use miette::Diagnostic;
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn input(name: &str, kind: InputKind, default: Option<InputValue>, max: Option<&str>) -> Input {
    Input {
        name: name.to_owned(),
        kind,
        default,
        min: None,
        max: max.map(dec),
        allowed: vec![],
    }
}

fn feature(name: &str, inputs: Vec<Input>, rules: Vec<Rule>) -> Feature {
    Feature {
        name: name.to_owned(),
        title: None,
        inputs,
        minimum_quantities: vec![],
        quantity_rounding: vec![],
        rules,
        multipliers: vec![],
        factors: vec![],
        amount_rounding: vec![],
        minimum_amounts: vec![],
        first_request_free: false,
        requires_prior: vec![],
        units: vec!["credit".to_owned()],
        outcomes: vec![],
        derived: Vec::new(),
        maximum_quantities: Vec::new(),
        refusals: Vec::new(),
    }
}

fn per(amount: &str, input: &str, per: &str, when: Condition) -> Rule {
    Rule {
        role: RuleRole::Base,
        unit: "credit".to_owned(),
        price: Price::Per {
            amount: dec(amount),
            input: input.to_owned(),
            per: dec(per),
            rounded: None,
        },
        when,
        times: None,
        source: format!("base {amount} credit per {per} of {input}"),
        line: 1,
    }
}

fn book() -> RateBook {
    let video = feature(
        "generative_video",
        vec![
            input("duration", InputKind::Duration, None, Some("14400")),
            input(
                "model",
                InputKind::Choice(vec!["pro".to_owned(), "ultra".to_owned()]),
                None,
                None,
            ),
            input(
                "actor",
                InputKind::Flag,
                Some(InputValue::Flag(false)),
                None,
            ),
            input(
                "outputs",
                InputKind::Count,
                Some(InputValue::Quantity(Decimal::ONE)),
                Some("8"),
            ),
        ],
        vec![per("20", "duration", "60", Condition::default())],
    );
    let text = feature(
        "text_emotion",
        vec![input("words", InputKind::Words, None, Some("1000000"))],
        vec![
            per(
                "2",
                "words",
                "100",
                Condition {
                    all: vec![Test::OneOf {
                        input: "channel".to_owned(),
                        values: vec!["web".to_owned()],
                    }],
                },
            ),
            per(
                "1",
                "words",
                "100",
                Condition {
                    all: vec![Test::OneOf {
                        input: "channel".to_owned(),
                        values: vec!["api".to_owned()],
                    }],
                },
            ),
        ],
    );
    let data = feature(
        "upload",
        vec![input("data", InputKind::Data, None, Some("10000000"))],
        vec![per("0.5", "data", "1000", Condition::default())],
    );
    RateBook {
        name: "sample".to_owned(),
        title: None,
        effective: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        time_zone: "UTC".to_owned(),
        rates_version: "sample@2025-01-01#000000000000".to_owned(),
        units: vec![UnitDef {
            name: "credit".to_owned(),
            scale: 2,
            rounding: Some(RoundingMode::HalfUp),
        }],
        channels: Some(Channels {
            names: vec!["web".to_owned(), "api".to_owned()],
            default: "web".to_owned(),
        }),
        features: vec![video, text, data],
        plans: vec![],
        expects: vec![],
        refusals: vec![],
        scenarios: vec![],
    }
}

fn text(value: &str) -> RawValue {
    RawValue::Text(value.to_owned())
}

fn number(value: &str) -> RawValue {
    RawValue::Number(value.to_owned())
}

fn inputs(pairs: &[(&str, RawValue)]) -> Vec<(String, RawValue)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn video(duration: RawValue) -> Result<credits_dsl::Usage, UsageError> {
    book().usage(
        "generative_video",
        None,
        &inputs(&[("duration", duration), ("model", text("pro"))]),
    )
}

fn duration_of(usage: &credits_dsl::Usage) -> Decimal {
    match usage.inputs.get("duration") {
        Some(InputValue::Quantity(value)) => *value,
        other => panic!("no duration: {other:?}"),
    }
}

#[test]
fn unit_literals_and_base_numbers_are_read_in_base_units() {
    for (raw, seconds) in [
        (text("3m30s"), "210"),
        (text("90s"), "90"),
        (text("1h"), "3600"),
        (text("1.5m"), "90"),
        (text("250ms"), "0.25"),
        (text("210"), "210"),
        (number("210"), "210"),
        (number("2.5"), "2.5"),
    ] {
        let usage = video(raw.clone()).unwrap();
        assert_eq!(duration_of(&usage), dec(seconds), "{raw:?}");
    }
    let words = book()
        .usage(
            "text_emotion",
            None,
            &inputs(&[("words", text("250 words"))]),
        )
        .unwrap();
    assert_eq!(
        words.inputs.get("words"),
        Some(&InputValue::Quantity(dec("250")))
    );
    let data = book()
        .usage("upload", None, &inputs(&[("data", text("2 GB"))]))
        .unwrap();
    assert_eq!(
        data.inputs.get("data"),
        Some(&InputValue::Quantity(dec("2000")))
    );
}

#[test]
fn defaults_and_the_channel_are_filled() {
    let usage = video(number("60")).unwrap();
    assert_eq!(usage.inputs.get("actor"), Some(&InputValue::Flag(false)));
    assert_eq!(
        usage.inputs.get("outputs"),
        Some(&InputValue::Quantity(Decimal::ONE))
    );
    assert_eq!(usage.channel.as_deref(), Some("web"));
    assert_eq!(usage.feature, "generative_video");
    let api = book()
        .usage(
            "text_emotion",
            Some("api"),
            &inputs(&[("words", number("250"))]),
        )
        .unwrap();
    assert_eq!(api.channel.as_deref(), Some("api"));
    // The validated usage rates.
    let rating = book().rate(&api, RatingContext::default()).unwrap();
    assert_eq!(rating.amounts[0].amount, dec("2.5"));
}

#[test]
fn flags_accept_booleans_and_words() {
    for (raw, expected) in [
        (RawValue::Bool(true), true),
        (RawValue::Bool(false), false),
        (text("true"), true),
        (text("yes"), true),
        (text("false"), false),
        (text("no"), false),
    ] {
        let usage = book()
            .usage(
                "generative_video",
                None,
                &inputs(&[
                    ("duration", number("1")),
                    ("model", text("pro")),
                    ("actor", raw),
                ]),
            )
            .unwrap();
        assert_eq!(usage.inputs.get("actor"), Some(&InputValue::Flag(expected)));
    }
}

/// The error for one bad request, with its code.
fn rejected(feature: &str, channel: Option<&str>, pairs: &[(&str, RawValue)]) -> UsageError {
    book().usage(feature, channel, &inputs(pairs)).unwrap_err()
}

#[test]
fn unknown_feature() {
    let error = rejected("holograms", None, &[]);
    assert_eq!(error.code(), "unknown-feature");
    assert_eq!(
        error.to_string(),
        "`holograms` is not a feature of `sample`"
    );
    let help = error.help().unwrap().to_string();
    assert_eq!(
        help,
        "the features are: `generative_video`, `text_emotion`, `upload`"
    );
}

#[test]
fn unknown_input() {
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("colour", text("red")),
        ],
    );
    assert_eq!(error.code(), "unknown-input");
    assert_eq!(
        error.to_string(),
        "`colour` is not an input of `generative_video`"
    );
    assert_eq!(
        error.help().unwrap().to_string(),
        "the inputs are: `duration`, `model`, `actor`, `outputs`"
    );
}

#[test]
fn missing_input() {
    let error = rejected("generative_video", None, &[("model", text("pro"))]);
    assert_eq!(error.code(), "missing-input");
    assert_eq!(
        error.to_string(),
        "input `duration` of `generative_video` is missing"
    );
}

#[test]
fn duplicate_input() {
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("duration", number("2")),
            ("model", text("pro")),
        ],
    );
    assert_eq!(error.code(), "duplicate-input");
    assert_eq!(
        error.to_string(),
        "input `duration` of `generative_video` is given twice"
    );
}

#[test]
fn unknown_channel() {
    let error = rejected("text_emotion", Some("fax"), &[("words", number("1"))]);
    assert_eq!(error.code(), "unknown-channel");
    assert_eq!(error.to_string(), "`fax` is not a channel of `sample`");
    assert_eq!(
        error.help().unwrap().to_string(),
        "the channels are: `web`, `api`"
    );
    let error = rejected(
        "text_emotion",
        None,
        &[("words", number("1")), ("channel", text("api"))],
    );
    assert_eq!(error.code(), "unknown-input");
}

#[test]
fn unknown_choice() {
    let error = rejected(
        "generative_video",
        None,
        &[("duration", number("1")), ("model", text("mega"))],
    );
    assert_eq!(error.code(), "unknown-choice");
    assert_eq!(
        error.to_string(),
        "`mega` is not a choice of `model` in `generative_video`"
    );
    assert_eq!(
        error.help().unwrap().to_string(),
        "the choices are: `pro`, `ultra`"
    );
}

#[test]
fn wrong_unit() {
    let error = video(text("250 words")).unwrap_err();
    assert_eq!(error.code(), "wrong-unit");
    assert_eq!(
        error.to_string(),
        "input `duration` of `generative_video`: `250 words` is a number of words, not a duration"
    );
    assert!(error.help().unwrap().to_string().contains("`3m30s`"));
}

#[test]
fn invalid_quantities() {
    for (raw, message) in [
        (number("-3"), "`-3` is negative"),
        (text("-3s"), "`-3s` is negative"),
        (number("1e400"), "`1e400` uses an exponent"),
        (number("1E+2"), "`1E+2` uses an exponent"),
        (
            number("1234567890123456789012345678901234567890"),
            "`1234567890123456789012345678901234567890` has too many digits",
        ),
        (
            number("0.1234567890123456789012345678901234567890"),
            "`0.1234567890123456789012345678901234567890` has too many digits",
        ),
        (text("NaN"), "`NaN` is not a quantity"),
        (text("Infinity"), "`Infinity` is not a quantity"),
        (text(""), "empty quantity"),
    ] {
        let error = video(raw.clone()).unwrap_err();
        assert_eq!(error.code(), "invalid-quantity", "{raw:?}");
        assert_eq!(
            error.to_string(),
            format!("input `duration` of `generative_video`: {message}"),
            "{raw:?}"
        );
    }
}

#[test]
fn not_whole() {
    let error = rejected("text_emotion", None, &[("words", number("2.5"))]);
    assert_eq!(error.code(), "invalid-quantity");
    assert_eq!(
        error.to_string(),
        "input `words` of `text_emotion`: `2.5` is not a whole number"
    );
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("outputs", number("1.5")),
        ],
    );
    assert_eq!(error.code(), "invalid-quantity");
}

#[test]
fn above_maximum() {
    let error = video(text("5h")).unwrap_err();
    assert_eq!(error.code(), "above-maximum");
    assert_eq!(
        error.to_string(),
        "`5h` for `duration` of `generative_video` is above its maximum of 4h"
    );
    // Exactly the maximum is accepted.
    assert!(video(text("4h")).is_ok());
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("outputs", number("9")),
        ],
    );
    assert_eq!(error.code(), "above-maximum");
}

#[test]
fn zero_is_not_usage_without_min_0() {
    for raw in [number("0"), text("0s"), text("0m0s"), number("0.0")] {
        let error = video(raw.clone()).unwrap_err();
        assert_eq!(error.code(), "below-minimum", "{raw:?}");
        assert!(
            error.to_string().ends_with(
                "for `duration` of `generative_video` is zero: a quantity of nothing is not usage"
            ),
            "{error}"
        );
        assert_eq!(
            error.help().unwrap().to_string(),
            "send a quantity above zero, or write `min 0` on the input to accept zero"
        );
    }
    assert_eq!(
        video(text("0s")).unwrap_err().to_string(),
        "`0s` for `duration` of `generative_video` is zero: a quantity of nothing is not usage"
    );
    // Counts and whole-number kinds too: zero outputs, zero words.
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("outputs", number("0")),
        ],
    );
    assert_eq!(error.code(), "below-minimum");
    let error = rejected("text_emotion", None, &[("words", text("0 words"))]);
    assert_eq!(error.code(), "below-minimum");
    // Only zero: the implicit minimum is "above zero", so any fraction is usage.
    assert_eq!(duration_of(&video(text("1ms")).unwrap()), dec("0.001"));
    // Negative stays refused as negative, `-0` included.
    assert_eq!(video(number("-0")).unwrap_err().code(), "invalid-quantity");
}

#[test]
fn below_an_explicit_minimum() {
    let mut book = book();
    let duration = &mut book.features[0].inputs[0];
    duration.min = Some(dec("1"));
    let with = |raw: RawValue| {
        book.usage(
            "generative_video",
            None,
            &inputs(&[("duration", raw), ("model", text("pro"))]),
        )
    };
    let error = with(text("500ms")).unwrap_err();
    assert_eq!(error.code(), "below-minimum");
    assert_eq!(
        error.to_string(),
        "`500ms` for `duration` of `generative_video` is below its minimum of 1s"
    );
    assert_eq!(error.help().unwrap().to_string(), "give at least 1s");
    // Zero under an explicit minimum is below that minimum.
    let error = with(text("0s")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`0s` for `duration` of `generative_video` is below its minimum of 1s"
    );
    // Exactly the minimum is accepted.
    assert_eq!(duration_of(&with(text("1s")).unwrap()), dec("1"));
}

#[test]
fn min_0_accepts_zero() {
    let mut book = book();
    book.features[0].inputs[0].min = Some(Decimal::ZERO);
    let usage = book
        .usage(
            "generative_video",
            None,
            &inputs(&[("duration", text("0s")), ("model", text("pro"))]),
        )
        .unwrap();
    assert_eq!(duration_of(&usage), Decimal::ZERO);
}

#[test]
fn invalid_flag() {
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("actor", text("maybe")),
        ],
    );
    assert_eq!(error.code(), "invalid-flag");
    assert_eq!(
        error.to_string(),
        "`maybe` is not a flag value for `actor` of `generative_video`"
    );
    assert_eq!(
        error.help().unwrap().to_string(),
        "write `true`, `false`, `yes` or `no`"
    );
    let error = rejected(
        "generative_video",
        None,
        &[
            ("duration", number("1")),
            ("model", text("pro")),
            ("actor", number("1")),
        ],
    );
    assert_eq!(error.code(), "invalid-flag");
}

#[test]
fn wrong_type() {
    let error = video(RawValue::Bool(true)).unwrap_err();
    assert_eq!(error.code(), "wrong-type");
    assert_eq!(
        error.to_string(),
        "input `duration` of `generative_video` needs a quantity, not true or false"
    );
    let error = rejected(
        "generative_video",
        None,
        &[("duration", number("1")), ("model", number("1"))],
    );
    assert_eq!(error.code(), "wrong-type");
}

#[test]
fn huge_client_text_is_not_echoed_whole() {
    let long = "x".repeat(10_000);
    let error = rejected(
        "generative_video",
        None,
        &[("duration", number("1")), ("model", text(&long))],
    );
    assert!(error.to_string().len() < 200, "{}", error.to_string().len());
    let error = rejected("generative_video", None, &[(long.as_str(), number("1"))]);
    assert!(error.to_string().len() < 200);
    let error = video(text(&"9".repeat(10_000))).unwrap_err();
    assert!(error.to_string().len() < 200);
}

#[test]
fn json_values_convert_without_floats() {
    let value: serde_json::Value =
        serde_json::from_str(r#"{"a": 210, "b": "3m30s", "c": true, "d": null}"#).unwrap();
    assert_eq!(RawValue::from_json(&value["a"]), Some(number("210")));
    assert_eq!(RawValue::from_json(&value["b"]), Some(text("3m30s")));
    assert_eq!(RawValue::from_json(&value["c"]), Some(RawValue::Bool(true)));
    assert_eq!(RawValue::from_json(&value["d"]), None);
}

/// After a quantity, `min` is the keyword only when a number follows it: `min 1 min` is a
/// minimum of one minute and `max 5 min` a maximum of five minutes.
#[test]
fn min_is_a_keyword_before_a_number_and_a_unit_otherwise() {
    let source = "book minutes
effective 2026-01-01
unit credit scale 0 round up

feature call \"Call\" {
  input duration: duration min 1 min max 5 min
  round duration up to 1s
  base 1 credit per minute
}
";
    let book = credits_dsl::compile_source("minutes.rates", source).unwrap();
    let input = &book.features[0].inputs[0];
    assert_eq!(input.min, Some(Decimal::from(60)));
    assert_eq!(input.max, Some(Decimal::from(300)));
}

/// A number may use all 28 digits a decimal holds exactly, split 18 before the point and 10
/// after it (or 16 and 12); 30 digits are refused with the limit named, never rounded. (The
/// unit has scale 0 so that such a price still fits the unit's storage.)
#[test]
fn a_number_of_28_digits_is_exact_and_one_of_30_is_refused_with_the_limit() {
    let book = |amount: &str| {
        format!(
            "book digits
effective 2026-01-01
unit credit scale 0 round up

feature call \"Call\" {{
  base {amount} credit each
}}
"
        )
    };
    for amount in [
        "123456789012345678.1234567890",
        "1234567890123456.123456789012",
    ] {
        let compiled = credits_dsl::compile_source("digits.rates", &book(amount));
        assert!(compiled.is_ok(), "{amount}: {compiled:?}");
    }
    let refused =
        credits_dsl::compile_source("digits.rates", &book("123456789012345678.123456789012"))
            .unwrap_err();
    let message = refused.errors()[0].to_string();
    assert!(message.contains("more than 28 digits in all"), "{message}");

    let kind = credits_dsl::book::InputKind::Count;
    assert!(credits_dsl::literal::parse_quantity(&kind, "1234567890123456789012345678").is_err());
    let duration = credits_dsl::book::InputKind::Duration;
    assert_eq!(
        credits_dsl::literal::parse_quantity(&duration, "1234567890123456.123456789012"),
        Ok("1234567890123456.123456789012".parse::<Decimal>().unwrap())
    );
    assert!(matches!(
        credits_dsl::literal::parse_quantity(&duration, "123456789012345678.123456789012"),
        Err(credits_dsl::literal::LiteralError::TooManyDigits { .. })
    ));
}

/// Non-ASCII text is at home in quoted text and comments: only outside them is a
/// non-breaking space or a curly quote an error.
#[test]
fn quoted_text_and_comments_may_hold_any_character() {
    let source = "book text
title \"Vidéo\u{a0}generation “pro” – 2×\" # a comment with\u{a0}a non-breaking space, “quotes”
effective 2026-01-01
unit credit scale 0 round up

feature call \"Appel\u{200b} ✓\" {
  base 1 credit each # ×2 on weekends?
}
";
    let book = credits_dsl::compile_source("text.rates", source);
    assert!(book.is_ok(), "{book:?}");
}
