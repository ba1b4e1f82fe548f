//! The seed rate books in `rates/`: every file compiles, every `expect` passes, and — so that
//! editing a rates file cannot silently change a seed's published price — every price table
//! and worked example of the seeds is restated here as a Rust table, rated through the same
//! edge validation the HTTP API uses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::str::FromStr;

use credits_dsl::compile::{CompileOptions, compile_source_with};
use credits_dsl::expect::run_expects;
use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, RateLibrary, RatingContext, compile_source};
use rust_decimal::Decimal;

fn rates_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rates")
}

/// Every `.rates` file: (file name, source), sorted by name.
fn sources() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(rates_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "rates")
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn book(file: &str) -> RateBook {
    let source = std::fs::read_to_string(rates_dir().join(file)).unwrap();
    match compile_source(file, &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{file}: {diagnostics:?}"),
    }
}

#[test]
fn every_rates_file_compiles_and_every_example_passes() {
    let files = sources();
    assert!(
        files.len() >= 6,
        "expected the five seed books and a price change"
    );
    let mut examples = 0;
    for (name, source) in &files {
        // Compile without the examples so that a failing one is reported here, by line.
        let options = CompileOptions { run_expects: false };
        let book = match compile_source_with(name, source, options) {
            Ok(book) => book,
            Err(diagnostics) => panic!("{name} does not compile: {diagnostics:?}"),
        };
        assert!(!book.expects.is_empty(), "{name} has no examples");
        for outcome in run_expects(&book) {
            let line = book.expects[outcome.index].line;
            assert!(
                outcome.passed,
                "{name}:{line}: expected {:?}, got {:?}",
                outcome.expected, outcome.actual
            );
            examples += 1;
        }
    }
    assert!(examples >= 100, "only {examples} examples");
    RateLibrary::from_sources(files).unwrap();
}

/// One seed price: book file, feature, channel, inputs as a client sends them, and the
/// expected amounts.
struct Row {
    file: &'static str,
    feature: &'static str,
    channel: Option<&'static str>,
    inputs: &'static [(&'static str, &'static str)],
    first_request: bool,
    amounts: &'static [(&'static str, &'static str)],
}

const fn row(
    file: &'static str,
    feature: &'static str,
    inputs: &'static [(&'static str, &'static str)],
    amounts: &'static [(&'static str, &'static str)],
) -> Row {
    Row {
        file,
        feature,
        channel: None,
        inputs,
        first_request: false,
        amounts,
    }
}

const fn on(channel: &'static str, row: Row) -> Row {
    Row {
        channel: Some(channel),
        ..row
    }
}

const fn first(row: Row) -> Row {
    Row {
        first_request: true,
        ..row
    }
}

const INVIDEO: &str = "invideo.rates";
const IMENTIV: &str = "imentiv.rates";
const IMAGINEART: &str = "imagineart.rates";

/// The seeds' published tables and worked examples, row by row.
#[rustfmt::skip]
const SEED_PRICES: &[Row] = &[
    // invideo, "With PRO model: 20 credits per minute".
    row(INVIDEO, "generative_video", &[("duration", "30s"), ("model", "pro")], &[("credit", "10")]),
    row(INVIDEO, "generative_video", &[("duration", "1m"), ("model", "pro")], &[("credit", "20")]),
    row(INVIDEO, "generative_video", &[("duration", "3m30s"), ("model", "pro")], &[("credit", "70")]),
    // invideo, "With ULTRA model: 40 credits per minute".
    row(INVIDEO, "generative_video", &[("duration", "30s"), ("model", "ultra")], &[("credit", "20")]),
    row(INVIDEO, "generative_video", &[("duration", "1m"), ("model", "ultra")], &[("credit", "40")]),
    row(INVIDEO, "generative_video", &[("duration", "3m30s"), ("model", "ultra")], &[("credit", "140")]),
    // invideo, actors: additional 5 credits per video minute (+5 / +10 / +25).
    row(INVIDEO, "generative_video", &[("duration", "1m"), ("model", "pro"), ("actor", "yes")], &[("credit", "25")]),
    row(INVIDEO, "generative_video", &[("duration", "2m"), ("model", "pro"), ("actor", "yes")], &[("credit", "50")]),
    row(INVIDEO, "generative_video", &[("duration", "5m"), ("model", "pro"), ("actor", "yes")], &[("credit", "125")]),
    // invideo, per-second proration and the 30-second ad minimum.
    row(INVIDEO, "generative_video", &[("duration", "20s"), ("model", "pro"), ("ad", "yes")], &[("credit", "10")]),
    // invideo, stock media with an actor: 5 / 15 / 20 credits, video minutes separately.
    row(INVIDEO, "stock_video", &[("duration", "1m"), ("actor", "yes")], &[("credit", "5"), ("video_minute", "1")]),
    row(INVIDEO, "stock_video", &[("duration", "3m"), ("actor", "yes")], &[("credit", "15"), ("video_minute", "3")]),
    row(INVIDEO, "stock_video", &[("duration", "4m"), ("actor", "yes")], &[("credit", "20"), ("video_minute", "4")]),
    // invideo, video minutes: rounded up to the next whole minute, at least 1.
    row(INVIDEO, "stock_video", &[("duration", "1s")], &[("video_minute", "1")]),
    row(INVIDEO, "stock_video", &[("duration", "1m")], &[("video_minute", "1")]),
    row(INVIDEO, "stock_video", &[("duration", "1m1s")], &[("video_minute", "2")]),
    row(INVIDEO, "stock_video", &[("duration", "2m")], &[("video_minute", "2")]),
    row(INVIDEO, "stock_video", &[("duration", "2m1s")], &[("video_minute", "3")]),
    row(INVIDEO, "stock_video", &[("duration", "3m")], &[("video_minute", "3")]),
    row(INVIDEO, "stock_video", &[("duration", "3m1s")], &[("video_minute", "4")]),
    row(INVIDEO, "stock_video", &[("duration", "4m")], &[("video_minute", "4")]),
    row(INVIDEO, "stock_video", &[("duration", "4m1s")], &[("video_minute", "5")]),
    row(INVIDEO, "stock_video", &[("duration", "5m")], &[("video_minute", "5")]),
    // invideo, remix: 1 image = 0.2, a 5-second clip = 1.67, a 3-second clip = 1.
    row(INVIDEO, "remix_image", &[("images", "1")], &[("credit", "0.2")]),
    row(INVIDEO, "remix_clip", &[("duration", "5s")], &[("credit", "1.67")]),
    row(INVIDEO, "remix_clip", &[("duration", "3s")], &[("credit", "1")]),
    // imentiv 3.1, web: video 1/s, audio 0.5/s, image 10, text 2 per 100 words.
    row(IMENTIV, "video_emotion", &[("duration", "1s")], &[("credit", "1")]),
    row(IMENTIV, "video_emotion", &[("duration", "1m")], &[("credit", "60")]),
    row(IMENTIV, "video_emotion", &[("duration", "2.2s")], &[("credit", "3")]),
    row(IMENTIV, "audio_emotion", &[("duration", "1m")], &[("credit", "30")]),
    row(IMENTIV, "image_emotion", &[("images", "1")], &[("credit", "10")]),
    row(IMENTIV, "text_emotion", &[("words", "100")], &[("credit", "2")]),
    on("web", row(IMENTIV, "text_emotion", &[("words", "250 words")], &[("credit", "6")])),
    // imentiv 2.3 / 2.4 advanced insights, web, per minute rounded up; first request free.
    row(IMENTIV, "personality_analysis", &[("duration", "1m")], &[("credit", "25")]),
    row(IMENTIV, "personality_analysis", &[("duration", "90s")], &[("credit", "50")]),
    first(row(IMENTIV, "personality_analysis", &[("duration", "5m")], &[])),
    row(IMENTIV, "emotion_highlights", &[("duration", "1m")], &[("credit", "10")]),
    row(IMENTIV, "psychologist_review", &[("duration", "1m")], &[("credit", "50")]),
    // imentiv 3.2, API: video 0.5/s, audio 0.25/s, image 5, text 1 per 100 words.
    on("api", row(IMENTIV, "video_emotion", &[("duration", "1m")], &[("credit", "30")])),
    on("api", row(IMENTIV, "video_emotion", &[("duration", "1s")], &[("credit", "1")])),
    on("api", row(IMENTIV, "audio_emotion", &[("duration", "1m")], &[("credit", "15")])),
    on("api", row(IMENTIV, "image_emotion", &[("images", "1")], &[("credit", "5")])),
    on("api", row(IMENTIV, "text_emotion", &[("words", "100")], &[("credit", "1")])),
    on("api", row(IMENTIV, "text_emotion", &[("words", "250")], &[("credit", "3")])),
    on("api", row(IMENTIV, "personality_analysis", &[("duration", "1m")], &[("credit", "15")])),
    on("api", row(IMENTIV, "emotion_highlights", &[("duration", "1m")], &[("credit", "5")])),
    on("api", row(IMENTIV, "psychologist_review", &[("duration", "1m")], &[("credit", "25")])),
    // ImagineArt: a 24-credit image model, a 210-credit video model.
    row(IMAGINEART, "image", &[("model", "standard")], &[("credit", "24")]),
    row(IMAGINEART, "video", &[("model", "standard")], &[("credit", "210")]),
];

#[test]
fn seed_price_tables() {
    let mut failures = Vec::new();
    for seed in SEED_PRICES {
        let book = book(seed.file);
        let inputs: Vec<(String, RawValue)> = seed
            .inputs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
            .collect();
        let usage = book.usage(seed.feature, seed.channel, &inputs).unwrap();
        let context = RatingContext {
            first_request: seed.first_request,
        };
        let rating = book.rate(&usage, context).unwrap();
        let actual: Vec<(String, Decimal)> = rating
            .amounts
            .iter()
            .map(|amount| (amount.unit.clone(), amount.amount))
            .collect();
        let expected: Vec<(String, Decimal)> = seed
            .amounts
            .iter()
            .map(|(unit, amount)| ((*unit).to_owned(), Decimal::from_str(amount).unwrap()))
            .collect();
        if actual != expected {
            failures.push(format!(
                "{} {}{:?} on {:?}: expected {expected:?}, got {actual:?}",
                seed.file, seed.feature, seed.inputs, seed.channel
            ));
        }
        // Charges and quotes agree.
        let amounts_only = book.rate_amounts(&usage, context).unwrap();
        assert_eq!(amounts_only.amounts, rating.amounts);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// ImagineArt's monthly estimate: 30 images and 10 videos a day for 22 working days,
/// 660 × 24 + 220 × 210 = 62,040 credits.
#[test]
fn imagineart_monthly_estimate() {
    let book = book(IMAGINEART);
    let price = |feature: &str| {
        let inputs = vec![("model".to_owned(), RawValue::Text("standard".to_owned()))];
        let usage = book.usage(feature, None, &inputs).unwrap();
        let rating = book.rate(&usage, RatingContext::default()).unwrap();
        rating.amounts[0].amount
    };
    let total = Decimal::from(660) * price("image") + Decimal::from(220) * price("video");
    assert_eq!(total, Decimal::from(62_040));
}

/// The invideo seed's per-second proration of a per-minute price never charges more than
/// the per-minute table and matches it on whole minutes, for every second up to ten minutes.
#[test]
fn invideo_proration_is_monotonic_and_meets_the_table() {
    let book = book(INVIDEO);
    let mut previous = Decimal::ZERO;
    for seconds in 1..=600u32 {
        let inputs = vec![
            ("duration".to_owned(), RawValue::Number(seconds.to_string())),
            ("model".to_owned(), RawValue::Text("pro".to_owned())),
        ];
        let usage = book.usage("generative_video", None, &inputs).unwrap();
        let credit = book.rate(&usage, RatingContext::default()).unwrap().amounts[0].amount;
        assert!(credit >= previous, "{seconds}s: {credit} < {previous}");
        if seconds % 60 == 0 {
            assert_eq!(credit, Decimal::from(20 * seconds / 60), "{seconds}s");
        }
        previous = credit;
    }
}

#[test]
fn diff_of_the_imini_price_change_lists_exactly_the_changed_prices() {
    use credits_dsl::diff::{Change, diff};
    let old = book("imini.rates");
    let new = book("imini@2026-12-01.rates");
    let report = diff(&old, &new);
    let examples: Vec<&str> = report
        .prices
        .iter()
        .map(|change| change.example.as_str())
        .collect();
    assert_eq!(
        examples,
        [
            "image_generation(model: flux_pro, outputs: 4)",
            "video_generation(duration: 8s, model: veo, resolution: hd)",
        ]
    );
    assert_eq!(
        report.prices[0].old,
        [("credit".to_owned(), Decimal::from(40))]
    );
    assert_eq!(
        report.prices[0].new,
        [("credit".to_owned(), Decimal::from(48))]
    );
    assert_eq!(report.unchanged_examples, 9);
    assert!(report.not_comparable.is_empty());
    assert!(report.plans.is_empty());
    assert!(report.units.is_empty());
    let changed: Vec<&str> = report
        .features
        .iter()
        .map(|change| match change {
            Change::Changed { name, .. } => name.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    // chat_completion only moved down the file: no change.
    assert_eq!(changed, ["image_generation", "video_generation"]);
    assert_eq!(report.header, ["effective 2025-01-01 → 2026-12-01"]);
    let text = report.to_string();
    // A price that changed while what it prices stayed reads old → new.
    assert!(
        text.contains(
            "price changed: base 15 credit per second when model is veo → base 18 credit per second when model is veo"
        ),
        "{text}"
    );
    assert!(
        text.contains("prices that change (2 of 11 examples):"),
        "{text}"
    );

    assert!(diff(&old, &old).is_empty());
}

#[test]
fn diff_shows_a_changed_min_and_the_examples_it_refuses() {
    use credits_dsl::diff::{Change, diff};
    let old = book("ai-engine.rates");
    let mut new = old.clone();
    let training = new
        .features
        .iter_mut()
        .find(|feature| feature.name == "training")
        .unwrap();
    let data = training
        .inputs
        .iter_mut()
        .find(|input| input.name == "data")
        .unwrap();
    data.min = None;
    let report = diff(&old, &new);
    let details = report
        .features
        .iter()
        .find_map(|change| match change {
            Change::Changed { name, details } if name == "training" => Some(details.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        details,
        ["input `data` changed: min 0 MB → none (above zero)"]
    );
    // The example of a training without data is refused by the new book: not comparable.
    assert_eq!(report.not_comparable.len(), 1, "{report}");
    assert!(
        report.not_comparable[0]
            .reason
            .contains("`data` of `training` does not accept this value"),
        "{report}"
    );
}

#[test]
fn diff_reports_examples_only_one_book_can_rate() {
    use credits_dsl::diff::diff;
    let old = book("imini.rates");
    let mut new = old.clone();
    new.features
        .retain(|feature| feature.name != "chat_completion");
    let report = diff(&old, &new);
    assert_eq!(report.not_comparable.len(), 3);
    assert!(
        report.not_comparable[0]
            .reason
            .contains("no feature `chat_completion`")
    );
    assert!(report.to_string().contains("- chat_completion"));
}

/// Every changed value of a plan or a feature reads old → new, never just "changed".
#[test]
fn diff_shows_every_changed_value_old_to_new() {
    use credits_dsl::diff::diff;
    let source = std::fs::read_to_string(rates_dir().join("imentiv.rates")).unwrap();
    let changed = source
        .replace(
            "grant 12000 credit every cycle as allocation, expires end of cycle, rolls over while subscribed",
            "grant 15000 credit every cycle as allocation, expires end of cycle, rolls over 2 cycles",
        )
        .replace("package starter 5000 credit", "package starter 6000 credit")
        .replace("alert below 1000 credit, 100 credit", "alert below 500 credit")
        .replace("limit 60 requests per minute", "limit 90 requests per minute")
        .replace(
            "round duration up to 1s  # 3.3: rounded up to the full second",
            "round duration up to 2s",
        )
        .replacen("minimum 1 credit", "minimum 2 credit", 1);
    let old = book("imentiv.rates");
    // The minimum charge changes two examples' prices: rate them in the diff, not here.
    let options = credits_dsl::CompileOptions { run_expects: false };
    let new = match credits_dsl::compile_source_with("imentiv.rates", &changed, options) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    };
    let text = diff(&old, &new).to_string();
    for expected in [
        "grant 12000 credit every cycle as allocation, expires end of cycle, rolls over while subscribed → 15000 credit every cycle as allocation, expires end of cycle, rolls over 2 cycles",
        "packages starter 5000 credit, growth 25000 credit → starter 6000 credit, growth 25000 credit",
        "alerts 1000 credit, 100 credit → 500 credit",
        "limits 60 requests per minute, 4 concurrent holds → 90 requests per minute, 4 concurrent holds",
        "quantity rounding duration up to 1s → duration up to 2s",
        "minimum charge 1 credit → 2 credit",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    assert!(
        !text.contains(" changed\n") && !text.contains(" changed,"),
        "{text}"
    );
}
