//! Temporary: rating speed on a hand-built invideo book.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use std::collections::BTreeMap;
use std::str::FromStr;
use credits_dsl::*;
use rust_decimal::{Decimal, RoundingStrategy};

fn main() { divan::main(); }

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn input(name: &str, kind: InputKind, default: Option<InputValue>, max: Option<&str>) -> Input {
    Input {
        name: name.to_owned(),
        kind,
        default,
        max: max.map(dec),
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
        amount_rounding: vec![],
        minimum_amounts: vec![],
        first_request_free: false,
        requires_prior: vec![],
        units,
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
    }
}

/// invideo's generative and stock video, remix clip and image, written out by hand.
fn invideo() -> RateBook {
    let duration = || input("duration", InputKind::Duration, None, Some("14400"));
    let actor = || input("actor", InputKind::Flag, Some(InputValue::Flag(false)), None);
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
            rule(RuleRole::Base, "credit", per("20", "duration", "60", None), is("model", "pro")),
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
        vec![rule(RuleRole::Base, "credit", per("1", "duration", "3", None), always())],
    );
    clip.quantity_rounding = vec![round_up_to("duration", "1")];

    let image = feature(
        "remix_image",
        vec![input("images", InputKind::Images, None, Some("1000"))],
        vec![rule(RuleRole::Base, "credit", per("0.2", "images", "1", None), always())],
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


fn q(text: &str) -> InputValue { InputValue::Quantity(dec(text)) }

fn gv() -> Usage {
    usage("generative_video", &[("duration", q("210")), ("model", InputValue::Choice("pro".into())), ("actor", InputValue::Flag(true)), ("ad", InputValue::Flag(false))])
}

#[divan::bench]
fn compiled(bencher: divan::Bencher) {
    let book = invideo();
    let usage = gv();
    bencher.bench(|| book.rate(divan::black_box(&usage), RatingContext::default()).unwrap());
}

fn quantity(usage: &Usage, name: &str) -> Option<Decimal> {
    match usage.inputs.get(name)? { InputValue::Quantity(q) => Some(*q), _ => None }
}
fn flag_of(usage: &Usage, name: &str) -> Option<bool> {
    match usage.inputs.get(name)? { InputValue::Flag(q) => Some(*q), _ => None }
}
fn choice_of<'a>(usage: &'a Usage, name: &str) -> Option<&'a str> {
    match usage.inputs.get(name)? { InputValue::Choice(q) => Some(q), _ => None }
}

fn hand(usage: &Usage) -> Option<Rating> {
    let mut seconds = quantity(usage, "duration")?;
    let actor = flag_of(usage, "actor")?;
    let ad = flag_of(usage, "ad")?;
    if ad && seconds < Decimal::from(30) { seconds = Decimal::from(30); }
    let seconds = seconds.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
    let rate = match choice_of(usage, "model")? { "pro" => Decimal::from(20), "ultra" => Decimal::from(40), _ => return None };
    let minute = Decimal::from(60);
    let mut credit = rate.checked_mul(seconds)?.checked_div(minute)?;
    if actor {
        let minutes = seconds.checked_div(minute)?.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
        credit = credit.checked_add(Decimal::from(5).checked_mul(minutes)?)?;
    }
    let credit = credit.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let minor = i64::try_from(credit.checked_mul(Decimal::from(100))?).ok()?;
    Some(Rating { feature: "generative_video".to_owned(), rates_version: "x".to_owned(), amounts: vec![RatedAmount { unit: "credit".to_owned(), amount: credit, amount_minor: minor }], lines: vec![], free: false })
}

#[divan::bench]
fn compiled_amounts(bencher: divan::Bencher) {
    let book = invideo();
    let usage = gv();
    bencher.bench(|| book.rate_amounts(divan::black_box(&usage), RatingContext::default()).unwrap());
}

#[divan::bench]
fn handwritten(bencher: divan::Bencher) {
    let usage = gv();
    bencher.bench(|| hand(divan::black_box(&usage)).unwrap());
}
