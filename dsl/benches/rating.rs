//! Rating with a compiled book against the same prices hand-written in Rust.
//!
//! The bar: rating a charge with a compiled rate book within 2x of hand-written
//! Rust. "Hand-written" is fair: it reads the same validated `Usage`, does the same checked
//! `rust_decimal` arithmetic with the same explicit rounding, and returns the same `Rating`
//! (amounts, minor units, feature and version; no explanation lines). The compiled side is
//! measured twice: `rate_amounts` (what a charge needs: the same output) and `rate` (with
//! an explanation line per rule, what a quote shows).
//!
//! Run: `cargo bench -p credits-dsl --bench rating`. After divan's table, a direct
//! measurement prints the compiled/hand-written ratios.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use credits_dsl::usage::RawValue;
use credits_dsl::{
    InputKind, InputValue, RateBook, RatedAmount, Rating, RatingContext, RatingLine, Usage,
    compile_source, literal,
};
use rust_decimal::{Decimal, RoundingStrategy};

const INVIDEO: &str = include_str!("../../rates/invideo.rates");
const IMENTIV: &str = include_str!("../../rates/imentiv.rates");

fn main() {
    divan::main();
    ratios();
}

fn invideo() -> RateBook {
    compile_source("invideo.rates", INVIDEO).unwrap()
}

fn imentiv() -> RateBook {
    compile_source("imentiv.rates", IMENTIV).unwrap()
}

fn usage(book: &RateBook, feature: &str, channel: Option<&str>, inputs: &[(&str, &str)]) -> Usage {
    let inputs: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect();
    book.usage(feature, channel, &inputs).unwrap()
}

/// 3m30s of PRO generative video with an actor: 70 + 4 × 5 = 90 credits.
fn generative_video_usage(book: &RateBook) -> Usage {
    usage(
        book,
        "generative_video",
        None,
        &[("duration", "3m30s"), ("model", "pro"), ("actor", "yes")],
    )
}

/// 250 words on the web: rounded up to 300, 3 × 2 = 6 credits.
fn text_emotion_usage(book: &RateBook) -> Usage {
    usage(book, "text_emotion", Some("web"), &[("words", "250")])
}

/// 90.4 seconds over the API: rounded up to 91, × 0.5 = 45.5 credits.
fn video_emotion_usage(book: &RateBook) -> Usage {
    usage(book, "video_emotion", Some("api"), &[("duration", "90.4")])
}

// ---- the same prices, hand-written ----------------------------------------------------------

fn quantity(usage: &Usage, name: &str) -> Option<Decimal> {
    match usage.inputs.get(name)? {
        InputValue::Quantity(value) => Some(*value),
        _ => None,
    }
}

fn flag(usage: &Usage, name: &str) -> Option<bool> {
    match usage.inputs.get(name)? {
        InputValue::Flag(value) => Some(*value),
        _ => None,
    }
}

fn choice<'a>(usage: &'a Usage, name: &str) -> Option<&'a str> {
    match usage.inputs.get(name)? {
        InputValue::Choice(value) => Some(value),
        _ => None,
    }
}

/// Credits at scale 2, half-up, as one `Rating`.
fn credits(feature: &str, version: &str, credit: Decimal) -> Option<Rating> {
    let credit = credit.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let minor = i64::try_from(credit.checked_mul(Decimal::ONE_HUNDRED)?).ok()?;
    Some(Rating {
        feature: feature.to_owned(),
        rates_version: version.to_owned(),
        amounts: vec![RatedAmount {
            unit: "credit".to_owned(),
            amount: credit,
            amount_minor: minor,
        }],
        lines: Vec::new(),
        free: false,
    })
}

fn generative_video_by_hand(usage: &Usage, version: &str) -> Option<Rating> {
    let mut seconds = quantity(usage, "duration")?;
    if flag(usage, "ad")? && seconds < Decimal::from(30) {
        seconds = Decimal::from(30);
    }
    let seconds = seconds.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
    let per_minute = match choice(usage, "model")? {
        "pro" => Decimal::from(20),
        "ultra" => Decimal::from(40),
        _ => return None,
    };
    let minute = Decimal::from(60);
    let mut credit = per_minute.checked_mul(seconds)?.checked_div(minute)?;
    if flag(usage, "actor")? {
        let started = seconds
            .checked_div(minute)?
            .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
        credit = credit.checked_add(Decimal::from(5).checked_mul(started)?)?;
    }
    credits("generative_video", version, credit)
}

fn text_emotion_by_hand(usage: &Usage, version: &str) -> Option<Rating> {
    let hundred = Decimal::ONE_HUNDRED;
    let words = quantity(usage, "words")?
        .checked_div(hundred)?
        .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero)
        .checked_mul(hundred)?;
    let per_hundred = match usage.channel.as_deref().unwrap_or("web") {
        "web" => Decimal::from(2),
        "api" => Decimal::ONE,
        _ => return None,
    };
    let credit = per_hundred.checked_mul(words)?.checked_div(hundred)?;
    let mut rating = credits("text_emotion", version, credit)?;
    if rating.amounts[0].amount < Decimal::ONE {
        rating.amounts[0].amount = Decimal::ONE;
        rating.amounts[0].amount_minor = 100;
    }
    Some(rating)
}

fn video_emotion_by_hand(usage: &Usage, version: &str) -> Option<Rating> {
    let seconds =
        quantity(usage, "duration")?.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
    let per_second = match usage.channel.as_deref().unwrap_or("web") {
        "web" => Decimal::ONE,
        "api" => Decimal::new(5, 1),
        _ => return None,
    };
    let credit = per_second.checked_mul(seconds)?;
    let mut rating = credits("video_emotion", version, credit)?;
    if rating.amounts[0].amount < Decimal::ONE {
        rating.amounts[0].amount = Decimal::ONE;
        rating.amounts[0].amount_minor = 100;
    }
    Some(rating)
}

// ---- the same prices, hand-written with the same explanation lines ------------------------

/// `SOURCE: INPUT QUANTITY = AMOUNT credit`, built the cheap way (no `format!`), as a careful
/// hand-writer would.
fn line(
    source: &str,
    input: &str,
    quantity: Option<(&InputKind, Decimal)>,
    amount: Decimal,
) -> RatingLine {
    let mut text = String::with_capacity(source.len() + 48);
    text.push_str(source);
    text.push_str(": ");
    text.push_str(input);
    text.push(' ');
    if let Some((kind, value)) = quantity {
        literal::push_quantity(&mut text, kind, value);
    }
    text.push_str(" = ");
    literal::push_decimal(&mut text, amount);
    text.push_str(" credit");
    RatingLine {
        text,
        unit: Some("credit".to_owned()),
        amount: Some(amount),
    }
}

fn generative_video_explained(usage: &Usage, version: &str) -> Option<Rating> {
    let mut seconds = quantity(usage, "duration")?;
    if flag(usage, "ad")? && seconds < Decimal::from(30) {
        seconds = Decimal::from(30);
    }
    let seconds = seconds.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
    let (per_minute, source) = match choice(usage, "model")? {
        "pro" => (
            Decimal::from(20),
            "base 20 credit per minute when model is pro",
        ),
        "ultra" => (
            Decimal::from(40),
            "base 40 credit per minute when model is ultra",
        ),
        _ => return None,
    };
    let minute = Decimal::from(60);
    let mut lines = Vec::with_capacity(3);
    let base = per_minute.checked_mul(seconds)?.checked_div(minute)?;
    lines.push(line(
        source,
        "duration",
        Some((&InputKind::Duration, seconds)),
        base,
    ));
    let mut credit = base;
    if flag(usage, "actor")? {
        let started = seconds
            .checked_div(minute)?
            .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
        let actor = Decimal::from(5).checked_mul(started)?;
        let shown = started.checked_mul(minute)?;
        lines.push(line(
            "add 5 credit per minute rounded up when actor",
            "duration",
            Some((&InputKind::Duration, shown)),
            actor,
        ));
        credit = credit.checked_add(actor)?;
    }
    let mut rating = credits("generative_video", version, credit)?;
    rating.lines = lines;
    Some(rating)
}

fn text_emotion_explained(usage: &Usage, version: &str) -> Option<Rating> {
    let hundred = Decimal::ONE_HUNDRED;
    let words = quantity(usage, "words")?
        .checked_div(hundred)?
        .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero)
        .checked_mul(hundred)?;
    let (per_hundred, source) = match usage.channel.as_deref().unwrap_or("web") {
        "web" => (
            Decimal::from(2),
            "base 2 credit per 100 words when channel is web",
        ),
        "api" => (
            Decimal::ONE,
            "base 1 credit per 100 words when channel is api",
        ),
        _ => return None,
    };
    let credit = per_hundred.checked_mul(words)?.checked_div(hundred)?;
    let mut lines = Vec::with_capacity(2);
    lines.push(line(
        source,
        "words",
        Some((&InputKind::Count, words)),
        credit,
    ));
    let mut rating = credits("text_emotion", version, credit)?;
    if rating.amounts[0].amount < Decimal::ONE {
        rating.amounts[0].amount = Decimal::ONE;
        rating.amounts[0].amount_minor = 100;
    }
    rating.lines = lines;
    Some(rating)
}

fn video_emotion_explained(usage: &Usage, version: &str) -> Option<Rating> {
    let seconds =
        quantity(usage, "duration")?.round_dp_with_strategy(0, RoundingStrategy::AwayFromZero);
    let (per_second, source) = match usage.channel.as_deref().unwrap_or("web") {
        "web" => (Decimal::ONE, "base 1 credit per second when channel is web"),
        "api" => (
            Decimal::new(5, 1),
            "base 0.5 credit per second when channel is api",
        ),
        _ => return None,
    };
    let credit = per_second.checked_mul(seconds)?;
    let mut lines = Vec::with_capacity(2);
    lines.push(line(
        source,
        "duration",
        Some((&InputKind::Duration, seconds)),
        credit,
    ));
    let mut rating = credits("video_emotion", version, credit)?;
    if rating.amounts[0].amount < Decimal::ONE {
        rating.amounts[0].amount = Decimal::ONE;
        rating.amounts[0].amount_minor = 100;
    }
    rating.lines = lines;
    Some(rating)
}

/// Feature, its book, a usage, and the hand-written rater without and with lines.
type Case = (
    &'static str,
    fn() -> RateBook,
    fn(&RateBook) -> Usage,
    fn(&Usage, &str) -> Option<Rating>,
    fn(&Usage, &str) -> Option<Rating>,
);

const CASES: [Case; 3] = [
    (
        "generative_video",
        invideo,
        generative_video_usage,
        generative_video_by_hand,
        generative_video_explained,
    ),
    (
        "text_emotion",
        imentiv,
        text_emotion_usage,
        text_emotion_by_hand,
        text_emotion_explained,
    ),
    (
        "video_emotion",
        imentiv,
        video_emotion_usage,
        video_emotion_by_hand,
        video_emotion_explained,
    ),
];

// ---- divan ----------------------------------------------------------------------------------

#[divan::bench(args = ["generative_video", "text_emotion", "video_emotion"])]
fn compiled_rate(bencher: divan::Bencher, feature: &str) {
    let (_, book, make_usage, _, _) = CASES.iter().find(|case| case.0 == feature).unwrap();
    let book = book();
    let usage = make_usage(&book);
    bencher.bench_local(|| {
        book.rate(black_box(&usage), RatingContext::default())
            .unwrap()
    });
}

#[divan::bench(args = ["generative_video", "text_emotion", "video_emotion"])]
fn compiled_rate_amounts(bencher: divan::Bencher, feature: &str) {
    let (_, book, make_usage, _, _) = CASES.iter().find(|case| case.0 == feature).unwrap();
    let book = book();
    let usage = make_usage(&book);
    bencher.bench_local(|| {
        book.rate_amounts(black_box(&usage), RatingContext::default())
            .unwrap()
    });
}

#[divan::bench(args = ["generative_video", "text_emotion", "video_emotion"])]
fn hand_written(bencher: divan::Bencher, feature: &str) {
    let (_, book, make_usage, by_hand, _) = CASES.iter().find(|case| case.0 == feature).unwrap();
    let book = book();
    let usage = make_usage(&book);
    let version = book.rates_version.clone();
    bencher.bench_local(|| by_hand(black_box(&usage), &version).unwrap());
}

#[divan::bench(args = ["generative_video", "text_emotion", "video_emotion"])]
fn hand_written_with_lines(bencher: divan::Bencher, feature: &str) {
    let (_, book, make_usage, _, explained) = CASES.iter().find(|case| case.0 == feature).unwrap();
    let book = book();
    let usage = make_usage(&book);
    let version = book.rates_version.clone();
    bencher.bench_local(|| explained(black_box(&usage), &version).unwrap());
}

// ---- ratios ---------------------------------------------------------------------------------

/// Nanoseconds per call of each of `runs`: batches of the three are interleaved and the
/// best batch of each kept, so that another process on a shared machine slows neither side
/// more than the other and inflates no result.
fn per_call<const N: usize>(runs: &mut [&mut dyn FnMut(); N]) -> [f64; N] {
    const BATCH: u32 = 5_000;
    const ROUNDS: usize = 60;
    let mut best = [Duration::MAX; N];
    for _ in 0..ROUNDS {
        for (run, best) in runs.iter_mut().zip(best.iter_mut()) {
            let start = Instant::now();
            for _ in 0..BATCH {
                run();
            }
            *best = (*best).min(start.elapsed());
        }
    }
    best.map(|duration| duration.as_secs_f64() * 1e9 / f64::from(BATCH))
}

fn ratios() {
    println!();
    println!("compiled ÷ hand-written (best of 60 interleaved batches of 5,000 calls):");
    for (feature, book, make_usage, by_hand, by_hand_explained) in CASES {
        let book = book();
        let usage = make_usage(&book);
        let version = book.rates_version.clone();
        // Same prices, same output: amounts alone, and amounts with the same lines.
        let expected = by_hand(&usage, &version).unwrap();
        let charged = book.rate_amounts(&usage, RatingContext::default()).unwrap();
        assert_eq!(
            charged, expected,
            "{feature}: compiled and hand-written disagree"
        );
        let expected = by_hand_explained(&usage, &version).unwrap();
        let quoted = book.rate(&usage, RatingContext::default()).unwrap();
        assert_eq!(quoted, expected, "{feature}: explanations disagree");
        let [hand, amounts, hand_explained, explained] = per_call(&mut [
            &mut || {
                black_box(by_hand(black_box(&usage), &version));
            },
            &mut || {
                black_box(
                    book.rate_amounts(black_box(&usage), RatingContext::default())
                        .ok(),
                );
            },
            &mut || {
                black_box(by_hand_explained(black_box(&usage), &version));
            },
            &mut || {
                black_box(book.rate(black_box(&usage), RatingContext::default()).ok());
            },
        ]);
        println!(
            "  {feature:<17} amounts: hand {hand:>4.0} ns, rate_amounts {amounts:>4.0} ns = {:.2}x | with lines: hand {hand_explained:>4.0} ns, rate {explained:>4.0} ns = {:.2}x | rate ÷ hand without lines = {:.2}x",
            amounts / hand,
            explained / hand_explained,
            explained / hand
        );
    }
}
