//! The rating engine on hand-built books: every step of LANGUAGE.md's rating order, every
//! rounding mode, tiers, proration, minimums, and overflow as an error rather than a panic.
//! These books are built in Rust so the engine is tested independently of the compiler.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::str::FromStr;

use credits_dsl::rate::{RateError, round_amount, round_quantity};
use credits_dsl::{
    AmountRounding, Channels, Condition, Feature, Input, InputKind, InputValue, MinimumAmount,
    MinimumQuantity, Price, QuantityDirection, QuantityRounding, RateBook, Rating, RatingContext,
    RoundingMode, Rule, RuleRole, Test, Tier, TierMode, UnitDef, Usage,
};
use proptest::prelude::*;
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

fn always() -> Condition {
    Condition::default()
}

fn is(input: &str, value: &str) -> Condition {
    Condition {
        all: vec![Test::OneOf {
            input: input.to_owned(),
            values: vec![value.to_owned()],
        }],
    }
}

fn flag(input: &str) -> Condition {
    Condition {
        all: vec![Test::Flag {
            input: input.to_owned(),
            expected: true,
        }],
    }
}

fn rule(role: RuleRole, unit: &str, price: Price, when: Condition) -> Rule {
    Rule {
        role,
        unit: unit.to_owned(),
        price,
        when,
        times: None,
        source: format!("{role:?} {unit}").to_lowercase(),
        line: 1,
    }
}

fn per(amount: &str, input: &str, per: &str, rounded: Option<QuantityDirection>) -> Price {
    Price::Per {
        amount: dec(amount),
        input: input.to_owned(),
        per: dec(per),
        rounded,
    }
}

fn feature(name: &str, inputs: Vec<Input>, rules: Vec<Rule>) -> Feature {
    let mut units: Vec<String> = rules.iter().map(|rule| rule.unit.clone()).collect();
    units.sort();
    units.dedup();
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
        units,
        outcomes: vec![],
        derived: Vec::new(),
        maximum_quantities: Vec::new(),
        refusals: Vec::new(),
    }
}

fn round_up_to(input: &str, step: &str) -> QuantityRounding {
    QuantityRounding {
        input: input.to_owned(),
        direction: QuantityDirection::Up,
        step: dec(step),
    }
}

fn book(features: Vec<Feature>) -> RateBook {
    RateBook {
        name: "test".to_owned(),
        title: None,
        effective: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        time_zone: "UTC".to_owned(),
        rates_version: "test@2025-01-01#000000000000".to_owned(),
        units: vec![
            UnitDef {
                name: "credit".to_owned(),
                scale: 2,
                rounding: Some(RoundingMode::HalfUp),
            },
            UnitDef {
                name: "video_minute".to_owned(),
                scale: 0,
                rounding: Some(RoundingMode::Up),
            },
        ],
        channels: Some(Channels {
            names: vec!["web".to_owned(), "api".to_owned()],
            default: "web".to_owned(),
        }),
        features,
        plans: vec![],
        expects: vec![],
        refusals: vec![],
        scenarios: vec![],
    }
}

/// invideo's generative and stock video, remix clip and image, written out by hand.
fn invideo() -> RateBook {
    let duration = || input("duration", InputKind::Duration, None, Some("14400"));
    let actor = || {
        input(
            "actor",
            InputKind::Flag,
            Some(InputValue::Flag(false)),
            None,
        )
    };
    let mut generative = feature(
        "generative_video",
        vec![
            duration(),
            input(
                "model",
                InputKind::Choice(vec!["pro".to_owned(), "ultra".to_owned()]),
                None,
                None,
            ),
            actor(),
            input("ad", InputKind::Flag, Some(InputValue::Flag(false)), None),
        ],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                per("20", "duration", "60", None),
                is("model", "pro"),
            ),
            rule(
                RuleRole::Base,
                "credit",
                per("40", "duration", "60", None),
                is("model", "ultra"),
            ),
            rule(
                RuleRole::Add,
                "credit",
                per("5", "duration", "60", Some(QuantityDirection::Up)),
                flag("actor"),
            ),
        ],
    );
    generative.minimum_quantities = vec![MinimumQuantity {
        input: "duration".to_owned(),
        quantity: dec("30"),
        when: flag("ad"),
    }];
    generative.quantity_rounding = vec![round_up_to("duration", "1")];

    let mut stock = feature(
        "stock_video",
        vec![duration(), actor()],
        vec![
            rule(
                RuleRole::Add,
                "credit",
                per("5", "duration", "60", Some(QuantityDirection::Up)),
                flag("actor"),
            ),
            rule(
                RuleRole::Base,
                "video_minute",
                per("1", "duration", "60", Some(QuantityDirection::Up)),
                always(),
            ),
        ],
    );
    stock.quantity_rounding = vec![round_up_to("duration", "1")];
    stock.minimum_amounts = vec![MinimumAmount {
        unit: "video_minute".to_owned(),
        amount: dec("1"),
    }];

    let mut clip = feature(
        "remix_clip",
        vec![input("duration", InputKind::Duration, None, Some("600"))],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("1", "duration", "3", None),
            always(),
        )],
    );
    clip.quantity_rounding = vec![round_up_to("duration", "1")];

    let image = feature(
        "remix_image",
        vec![input("images", InputKind::Images, None, Some("1000"))],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("0.2", "images", "1", None),
            always(),
        )],
    );
    book(vec![generative, stock, clip, image])
}

fn usage(feature: &str, inputs: &[(&str, InputValue)]) -> Usage {
    Usage {
        feature: feature.to_owned(),
        channel: None,
        inputs: inputs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn q(text: &str) -> InputValue {
    InputValue::Quantity(dec(text))
}

fn choice(text: &str) -> InputValue {
    InputValue::Choice(text.to_owned())
}

fn rate(book: &RateBook, usage: &Usage) -> Rating {
    book.rate(usage, RatingContext::default()).unwrap()
}

/// The amount of `unit` in a rating, zero when it is left out.
fn amount(rating: &Rating, unit: &str) -> Decimal {
    rating
        .amounts
        .iter()
        .find(|amount| amount.unit == unit)
        .map_or(Decimal::ZERO, |amount| amount.amount)
}

#[test]
fn invideo_generative_video_tables() {
    let book = invideo();
    for (seconds, model, actor, ad, credits) in [
        ("30", "pro", false, false, "10"),
        ("60", "pro", false, false, "20"),
        ("210", "pro", false, false, "70"),
        ("30", "ultra", false, false, "20"),
        ("60", "ultra", false, false, "40"),
        ("210", "ultra", false, false, "140"),
        ("1", "pro", false, false, "0.33"),
        ("45", "pro", false, false, "15"),
        ("60", "pro", true, false, "25"),
        ("40", "pro", true, false, "18.33"),
        ("120", "pro", true, false, "50"),
        ("300", "pro", true, false, "125"),
        ("241", "ultra", true, false, "185.67"),
        ("20", "pro", false, true, "10"),
        ("20", "pro", false, false, "6.67"),
        // 2.2 s is rounded up to 3 s before proration: 20 × 3 / 60 = 1.
        ("2.2", "pro", false, false, "1"),
    ] {
        let usage = usage(
            "generative_video",
            &[
                ("duration", q(seconds)),
                ("model", choice(model)),
                ("actor", InputValue::Flag(actor)),
                ("ad", InputValue::Flag(ad)),
            ],
        );
        let rating = rate(&book, &usage);
        assert_eq!(
            amount(&rating, "credit"),
            dec(credits),
            "{seconds}s {model} {actor} {ad}"
        );
        assert_eq!(rating.amounts.len(), 1);
        let minor = rating.amounts[0].amount_minor;
        assert_eq!(Decimal::new(minor, 2), dec(credits));
    }
}

#[test]
fn invideo_stock_video_minutes_and_actor() {
    let book = invideo();
    for (seconds, actor, credits, minutes) in [
        ("60", true, "5", "1"),
        ("180", true, "15", "3"),
        ("240", true, "20", "4"),
        ("1", false, "0", "1"),
        ("61", false, "0", "2"),
        ("121", false, "0", "3"),
        ("241", false, "0", "5"),
        ("300", false, "0", "5"),
        // Zero seconds still charges the 1-minute minimum: the video-minute rule matched.
        ("0", false, "0", "1"),
    ] {
        let usage = usage(
            "stock_video",
            &[("duration", q(seconds)), ("actor", InputValue::Flag(actor))],
        );
        let rating = rate(&book, &usage);
        assert_eq!(amount(&rating, "credit"), dec(credits), "{seconds}s");
        assert_eq!(amount(&rating, "video_minute"), dec(minutes), "{seconds}s");
        // Amounts are sorted by unit name and zero amounts are left out.
        let units: Vec<&str> = rating.amounts.iter().map(|a| a.unit.as_str()).collect();
        let expected: Vec<&str> = if actor {
            vec!["credit", "video_minute"]
        } else {
            vec!["video_minute"]
        };
        assert_eq!(units, expected);
    }
}

#[test]
fn invideo_remix() {
    let book = invideo();
    let clip = |seconds| rate(&book, &usage("remix_clip", &[("duration", q(seconds))]));
    assert_eq!(amount(&clip("5"), "credit"), dec("1.67"));
    assert_eq!(amount(&clip("3"), "credit"), dec("1"));
    let image = rate(&book, &usage("remix_image", &[("images", q("1"))]));
    assert_eq!(amount(&image, "credit"), dec("0.2"));
    assert_eq!(image.amounts[0].amount_minor, 20);
}

#[test]
fn lines_explain_each_rule_and_the_rounding() {
    let book = invideo();
    let usage = usage(
        "generative_video",
        &[
            ("duration", q("40")),
            ("model", choice("pro")),
            ("actor", InputValue::Flag(true)),
            ("ad", InputValue::Flag(false)),
        ],
    );
    let rating = rate(&book, &usage);
    let texts: Vec<&str> = rating.lines.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[0].contains("duration 40s"), "{texts:?}");
    assert!(texts[1].contains("duration 1m"), "{texts:?}");
    assert!(texts[1].ends_with("= 5 credit"), "{texts:?}");
    assert_eq!(texts[2], "credit 18.3333… rounded to 0.01 half-up = 18.33");
    assert_eq!(rating.rates_version, "test@2025-01-01#000000000000");
    assert_eq!(rating.feature, "generative_video");
}

/// A book with one feature: `base 1 credit per `per` of x`, amount rounding as given.
fn rounding_book(per_step: &str, precision: &str, mode: RoundingMode) -> RateBook {
    let mut single = feature(
        "f",
        vec![input("x", InputKind::Data, None, Some("1000000000"))],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("1", "x", per_step, None),
            always(),
        )],
    );
    single.amount_rounding = vec![AmountRounding {
        unit: "credit".to_owned(),
        precision: dec(precision),
        mode,
    }];
    book(vec![single])
}

fn rate_x(book: &RateBook, x: &str) -> Decimal {
    amount(&rate(book, &usage("f", &[("x", q(x))])), "credit")
}

#[test]
fn every_rounding_mode_at_whole_precision() {
    use RoundingMode::*;
    // (amount, up, down, half-up, half-even, half-down)
    for (x, up, down, half_up, half_even, half_down) in [
        ("2.5", "3", "2", "3", "2", "2"),
        ("3.5", "4", "3", "4", "4", "3"),
        ("2.4", "3", "2", "2", "2", "2"),
        ("2.6", "3", "2", "3", "3", "3"),
        ("2", "2", "2", "2", "2", "2"),
        ("0.0001", "1", "0", "0", "0", "0"),
    ] {
        for (mode, expected) in [
            (Up, up),
            (Down, down),
            (HalfUp, half_up),
            (HalfEven, half_even),
            (HalfDown, half_down),
        ] {
            let book = rounding_book("1", "1", mode);
            assert_eq!(rate_x(&book, x), dec(expected), "{x} {mode:?}");
        }
    }
}

#[test]
fn rounding_at_hundredths_is_never_bankers() {
    // 0.125 at 0.01: banker's rounding would give 0.12; half-up must give 0.13.
    let book = rounding_book("1", "0.01", RoundingMode::HalfUp);
    assert_eq!(rate_x(&book, "0.125"), dec("0.13"));
    let book = rounding_book("1", "0.01", RoundingMode::HalfEven);
    assert_eq!(rate_x(&book, "0.125"), dec("0.12"));
    assert_eq!(rate_x(&book, "0.135"), dec("0.14"));
    let book = rounding_book("1", "0.01", RoundingMode::HalfDown);
    assert_eq!(rate_x(&book, "0.125"), dec("0.12"));
    let book = rounding_book("1", "0.01", RoundingMode::Up);
    assert_eq!(rate_x(&book, "0.121"), dec("0.13"));
    let book = rounding_book("1", "0.01", RoundingMode::Down);
    assert_eq!(rate_x(&book, "0.129"), dec("0.12"));
}

#[test]
fn rounding_to_steps_that_are_not_powers_of_ten() {
    assert_eq!(
        round_amount(dec("1.23"), dec("0.05"), RoundingMode::Up),
        Some(dec("1.25"))
    );
    assert_eq!(
        round_amount(dec("1.224"), dec("0.05"), RoundingMode::HalfUp),
        Some(dec("1.20"))
    );
    assert_eq!(
        round_amount(dec("1.225"), dec("0.05"), RoundingMode::HalfUp),
        Some(dec("1.25"))
    );
    assert_eq!(
        round_amount(dec("1.225"), dec("0.05"), RoundingMode::HalfDown),
        Some(dec("1.20"))
    );
    assert_eq!(
        round_amount(dec("1.275"), dec("0.05"), RoundingMode::HalfUp),
        Some(dec("1.30"))
    );
    assert_eq!(
        round_amount(dec("1.275"), dec("0.05"), RoundingMode::Down),
        Some(dec("1.25"))
    );
    // 0.25 steps of 0.5: exactly half; half-even goes to the even multiple (0), half-up to 0.5.
    assert_eq!(
        round_amount(dec("0.25"), dec("0.5"), RoundingMode::HalfEven),
        Some(dec("0"))
    );
    assert_eq!(
        round_amount(dec("0.25"), dec("0.5"), RoundingMode::HalfUp),
        Some(dec("0.5"))
    );
    assert_eq!(
        round_amount(dec("15"), dec("10"), RoundingMode::HalfEven),
        Some(dec("20"))
    );
    assert_eq!(
        round_amount(dec("25"), dec("10"), RoundingMode::HalfEven),
        Some(dec("20"))
    );
    assert_eq!(
        round_amount(dec("21"), dec("10"), RoundingMode::Up),
        Some(dec("30"))
    );
    assert_eq!(round_amount(dec("1"), dec("0"), RoundingMode::Up), None);
    let book = rounding_book("1", "0.05", RoundingMode::Up);
    let rating = rate(&book, &usage("f", &[("x", q("1.21"))]));
    assert_eq!(rating.amounts[0].amount, dec("1.25"));
    assert_eq!(rating.amounts[0].amount_minor, 125);
}

#[test]
fn quantity_rounding_directions() {
    use QuantityDirection::*;
    assert_eq!(round_quantity(dec("250"), dec("100"), Up), Some(dec("300")));
    assert_eq!(
        round_quantity(dec("250"), dec("100"), Down),
        Some(dec("200"))
    );
    assert_eq!(
        round_quantity(dec("250"), dec("100"), Nearest),
        Some(dec("300"))
    );
    assert_eq!(
        round_quantity(dec("249"), dec("100"), Nearest),
        Some(dec("200"))
    );
    assert_eq!(round_quantity(dec("2.2"), dec("1"), Up), Some(dec("3")));
    assert_eq!(round_quantity(dec("0"), dec("60"), Up), Some(dec("0")));
    assert_eq!(round_quantity(dec("1"), dec("0"), Up), None);
}

#[test]
fn per_rounded_down_and_nearest() {
    for (direction, x, expected) in [
        (QuantityDirection::Down, "119", "1"),
        (QuantityDirection::Nearest, "90", "2"),
        (QuantityDirection::Nearest, "89", "1"),
        (QuantityDirection::Up, "61", "2"),
    ] {
        let single = feature(
            "f",
            vec![input("x", InputKind::Duration, None, Some("1000"))],
            vec![rule(
                RuleRole::Base,
                "credit",
                per("1", "x", "60", Some(direction)),
                always(),
            )],
        );
        assert_eq!(
            rate_x(&book(vec![single]), x),
            dec(expected),
            "{direction:?} {x}"
        );
    }
}

fn tier(up_to: Option<&str>, amount: &str, per: &str) -> Tier {
    Tier {
        up_to: up_to.map(dec),
        amount: dec(amount),
        per: dec(per),
    }
}

fn tiered(mode: TierMode) -> RateBook {
    let price = Price::Tiers {
        mode,
        input: "x".to_owned(),
        tiers: vec![
            tier(Some("100"), "0.2", "1"),
            tier(Some("1000"), "0.15", "1"),
            tier(None, "0.1", "1"),
        ],
    };
    let single = feature(
        "f",
        vec![input("x", InputKind::Data, None, Some("100000000"))],
        vec![rule(RuleRole::Base, "credit", price, always())],
    );
    book(vec![single])
}

#[test]
fn graduated_tiers_price_each_slice() {
    let book = tiered(TierMode::Graduated);
    assert_eq!(rate_x(&book, "0"), dec("0"));
    assert_eq!(rate_x(&book, "50"), dec("10"));
    assert_eq!(rate_x(&book, "100"), dec("20"));
    // 100 × 0.2 + 100 × 0.15
    assert_eq!(rate_x(&book, "200"), dec("35"));
    // 100 × 0.2 + 900 × 0.15 + 1000 × 0.1
    assert_eq!(rate_x(&book, "2000"), dec("255"));
}

#[test]
fn volume_tiers_price_the_whole_quantity_at_one_tier() {
    let book = tiered(TierMode::Volume);
    assert_eq!(rate_x(&book, "50"), dec("10"));
    assert_eq!(rate_x(&book, "100"), dec("20"));
    assert_eq!(rate_x(&book, "200"), dec("30"));
    assert_eq!(rate_x(&book, "1000"), dec("150"));
    assert_eq!(rate_x(&book, "2000"), dec("200"));
}

#[test]
fn channels_choose_the_price_and_default() {
    let mut text = feature(
        "text_emotion",
        vec![input("words", InputKind::Words, None, Some("1000000"))],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                per("2", "words", "100", None),
                is("channel", "web"),
            ),
            rule(
                RuleRole::Base,
                "credit",
                per("1", "words", "100", None),
                is("channel", "api"),
            ),
        ],
    );
    text.quantity_rounding = vec![round_up_to("words", "100")];
    text.minimum_amounts = vec![MinimumAmount {
        unit: "credit".to_owned(),
        amount: dec("1"),
    }];
    let book = book(vec![text]);
    let mut words = usage("text_emotion", &[("words", q("250"))]);
    assert_eq!(amount(&rate(&book, &words), "credit"), dec("6"));
    words.channel = Some("web".to_owned());
    assert_eq!(amount(&rate(&book, &words), "credit"), dec("6"));
    words.channel = Some("api".to_owned());
    assert_eq!(amount(&rate(&book, &words), "credit"), dec("3"));
    words.inputs.insert("words".to_owned(), q("0"));
    // Zero words rate to zero, then the base line's unit gets its 1-credit minimum.
    assert_eq!(amount(&rate(&book, &words), "credit"), dec("1"));
}

#[test]
fn minimum_charge_only_for_units_a_rule_charged() {
    let mut single = feature(
        "f",
        vec![
            input("x", InputKind::Count, None, Some("10")),
            input(
                "extra",
                InputKind::Flag,
                Some(InputValue::Flag(false)),
                None,
            ),
        ],
        vec![
            rule(RuleRole::Base, "credit", per("1", "x", "1", None), always()),
            rule(
                RuleRole::Add,
                "video_minute",
                Price::Each { amount: dec("1") },
                flag("extra"),
            ),
        ],
    );
    single.minimum_amounts = vec![
        MinimumAmount {
            unit: "credit".to_owned(),
            amount: dec("5"),
        },
        MinimumAmount {
            unit: "video_minute".to_owned(),
            amount: dec("3"),
        },
    ];
    let book = book(vec![single]);
    let plain = rate(&book, &usage("f", &[("x", q("2"))]));
    assert_eq!(amount(&plain, "credit"), dec("5"));
    assert_eq!(amount(&plain, "video_minute"), dec("0"));
    let extra = rate(
        &book,
        &usage("f", &[("x", q("7")), ("extra", InputValue::Flag(true))]),
    );
    assert_eq!(amount(&extra, "credit"), dec("7"));
    assert_eq!(amount(&extra, "video_minute"), dec("3"));
}

#[test]
fn first_request_free_charges_nothing() {
    let mut single = feature(
        "f",
        vec![input("x", InputKind::Duration, None, Some("1000"))],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("25", "x", "60", None),
            always(),
        )],
    );
    single.first_request_free = true;
    let book = book(vec![single]);
    let usage = usage("f", &[("x", q("300"))]);
    let first = book
        .rate(
            &usage,
            RatingContext {
                first_request: true,
            },
        )
        .unwrap();
    assert!(first.free);
    assert!(first.amounts.is_empty());
    let later = rate(&book, &usage);
    assert!(!later.free);
    assert_eq!(amount(&later, "credit"), dec("125"));
}

#[test]
fn multiply_by_and_times() {
    let count = |name: &str| input(name, InputKind::Count, Some(q("1")), Some("8"));
    let mut image = feature(
        "image",
        vec![count("outputs"), count("steps")],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                Price::Each { amount: dec("24") },
                always(),
            ),
            Rule {
                times: Some("steps".to_owned()),
                ..rule(
                    RuleRole::Add,
                    "credit",
                    Price::Each { amount: dec("2") },
                    always(),
                )
            },
        ],
    );
    image.multipliers = vec!["outputs".to_owned()];
    let book = book(vec![image]);
    assert_eq!(
        amount(&rate(&book, &usage("image", &[])), "credit"),
        dec("26")
    );
    let four = usage("image", &[("outputs", q("4")), ("steps", q("3"))]);
    // (24 + 2 × 3) × 4
    assert_eq!(amount(&rate(&book, &four), "credit"), dec("120"));
}

#[test]
fn minimum_quantity_applies_before_rounding_and_only_when_its_condition_holds() {
    let mut single = feature(
        "f",
        vec![
            input("x", InputKind::Duration, None, Some("1000")),
            input("ad", InputKind::Flag, Some(InputValue::Flag(false)), None),
        ],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("1", "x", "1", None),
            always(),
        )],
    );
    single.minimum_quantities = vec![MinimumQuantity {
        input: "x".to_owned(),
        quantity: dec("30"),
        when: flag("ad"),
    }];
    single.quantity_rounding = vec![round_up_to("x", "7")];
    let book = book(vec![single]);
    // 20 → 30 (minimum) → 35 (rounded up to 7s).
    let ad = usage("f", &[("x", q("20")), ("ad", InputValue::Flag(true))]);
    assert_eq!(amount(&rate(&book, &ad), "credit"), dec("35"));
    let plain = usage("f", &[("x", q("20"))]);
    assert_eq!(amount(&rate(&book, &plain), "credit"), dec("21"));
}

#[test]
fn errors_are_errors_not_panics() {
    let book = invideo();
    let unknown = book.rate(&usage("nope", &[]), RatingContext::default());
    assert!(matches!(unknown, Err(RateError::UnknownFeature { .. })));
    let missing = book.rate(&usage("remix_clip", &[]), RatingContext::default());
    assert!(matches!(missing, Err(RateError::MissingInput { .. })));
    let no_model = book.rate(
        &usage("generative_video", &[("duration", q("10"))]),
        RatingContext::default(),
    );
    assert!(matches!(no_model, Err(RateError::NoPrice { .. })));
    let wrong = book.rate(
        &usage("remix_clip", &[("duration", choice("long"))]),
        RatingContext::default(),
    );
    assert!(matches!(wrong, Err(RateError::WrongValue { .. })));
}

#[test]
fn overflow_is_an_error() {
    let huge = feature(
        "f",
        vec![input("x", InputKind::Count, None, None)],
        vec![rule(
            RuleRole::Base,
            "credit",
            per("999999999999999999", "x", "1", None),
            always(),
        )],
    );
    let book = book(vec![huge]);
    let result = book.rate(
        &usage("f", &[("x", q("999999999999999999"))]),
        RatingContext::default(),
    );
    assert!(
        matches!(result, Err(RateError::Overflow { .. })),
        "{result:?}"
    );
    // Fits in a Decimal but not in i64 minor units: still an error, never a wrap.
    let result = book.rate(&usage("f", &[("x", q("1000"))]), RatingContext::default());
    assert!(
        matches!(result, Err(RateError::Overflow { .. })),
        "{result:?}"
    );
}

#[test]
fn rate_error_messages_read_well() {
    let book = invideo();
    let error = book
        .rate(&usage("nope", &[]), RatingContext::default())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`nope` is not a feature of this rate book"
    );
}

proptest! {
    /// Any quantity within `max`, with up to 12 decimals, rates without panicking, and a
    /// successful rating's minor units agree with its amount.
    #[test]
    fn rating_never_panics(
        whole in 0u64..=14_400,
        fraction in 0u64..1_000_000_000_000,
        model in prop::sample::select(vec!["pro", "ultra"]),
        actor: bool,
        ad: bool,
    ) {
        let book = invideo();
        let seconds = Decimal::from(whole) + Decimal::new(i64::try_from(fraction).unwrap(), 12);
        let seconds = seconds.min(Decimal::from(14_400));
        for feature in ["generative_video", "stock_video"] {
            let usage = usage(
                feature,
                &[
                    ("duration", InputValue::Quantity(seconds)),
                    ("model", choice(model)),
                    ("actor", InputValue::Flag(actor)),
                    ("ad", InputValue::Flag(ad)),
                ],
            );
            let rating = book.rate(&usage, RatingContext::default());
            if let Ok(rating) = rating {
                for amount in &rating.amounts {
                    let scale = book.unit(&amount.unit).unwrap().scale;
                    prop_assert_eq!(Decimal::new(amount.amount_minor, scale), amount.amount);
                    prop_assert!(amount.amount > Decimal::ZERO);
                }
            }
        }
    }

    /// Arbitrary (even absurd) decimals never panic the tiers, proration and rounding.
    #[test]
    fn absurd_quantities_never_panic(mantissa: i64, scale in 0u32..=28) {
        let value = Decimal::new(mantissa, scale).abs();
        for mode in [TierMode::Graduated, TierMode::Volume] {
            let _ = tiered(mode).rate(&usage("f", &[("x", InputValue::Quantity(value))]), RatingContext::default());
        }
        let _ = rounding_book("0.07", "0.05", RoundingMode::HalfEven)
            .rate(&usage("f", &[("x", InputValue::Quantity(value))]), RatingContext::default());
    }
}

#[test]
fn expects_compare_every_unit_and_report_what_cannot_be_rated() {
    use credits_dsl::expect::run_expects;
    use credits_dsl::{Expect, ExpectTerm};
    let mut book = invideo();
    let term = |feature: &str, inputs: &[(&str, InputValue)], count: u64| ExpectTerm {
        count,
        usage: usage(feature, inputs),
        first_request: false,
        plan: None,
    };
    let expect = |terms: Vec<ExpectTerm>, amounts: &[(&str, &str)]| Expect {
        terms,
        amounts: amounts
            .iter()
            .map(|(unit, amount)| ((*unit).to_owned(), dec(amount)))
            .collect(),
        line: 1,
        source: String::new(),
    };
    let stock = |seconds: &str, actor: bool| {
        term(
            "stock_video",
            &[("duration", q(seconds)), ("actor", InputValue::Flag(actor))],
            1,
        )
    };
    book.expects = vec![
        // Passes: both units listed.
        expect(
            vec![stock("180", true)],
            &[("credit", "15"), ("video_minute", "3")],
        ),
        // Fails: an unlisted unit (video_minute) is charged.
        expect(vec![stock("180", true)], &[("credit", "15")]),
        // Fails: wrong amount.
        expect(
            vec![stock("180", true)],
            &[("credit", "16"), ("video_minute", "3")],
        ),
        // Passes: counts multiply and terms add up, per unit.
        expect(
            vec![
                term("remix_image", &[("images", q("1"))], 660),
                term("remix_clip", &[("duration", q("3"))], 220),
            ],
            &[("credit", "352")],
        ),
        // Passes: a listed zero is the same as nothing charged.
        expect(
            vec![stock("60", false)],
            &[("credit", "0"), ("video_minute", "1")],
        ),
        // Cannot be rated.
        expect(vec![term("holograms", &[], 1)], &[("credit", "1")]),
    ];
    let outcomes = run_expects(&book);
    let passed: Vec<bool> = outcomes.iter().map(|outcome| outcome.passed).collect();
    assert_eq!(passed, [true, false, false, true, true, false]);
    assert_eq!(
        outcomes[1].actual,
        Ok(vec![
            ("credit".to_owned(), dec("15")),
            ("video_minute".to_owned(), dec("3"))
        ])
    );
    assert_eq!(outcomes[5].index, 5);
    assert_eq!(
        outcomes[5].actual,
        Err("`holograms` is not a feature of this rate book".to_owned())
    );
}
