//! Derived quantities (`quantity NAME = ...`), clamps (`maximum Q of INPUT`) and conditions
//! on quantities (`when context above 200000 tokens`): table tests of what they rate to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::str::FromStr;

use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, RatingContext, compile_source};
use rust_decimal::Decimal;

pub fn book(body: &str) -> RateBook {
    let source =
        format!("book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n{body}");
    match compile_source("test.rates", &source) {
        Ok(book) => book,
        Err(diagnostics) => panic!("{source}\n{diagnostics:?}"),
    }
}

/// The credits `feature` costs with `inputs` (`name=value`, values as a client sends them).
fn credit(book: &RateBook, feature: &str, inputs: &[(&str, &str)]) -> Decimal {
    let raw: Vec<(String, RawValue)> = inputs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), RawValue::Text((*value).to_owned())))
        .collect();
    let usage = book.usage(feature, None, &raw).unwrap();
    let rating = book.rate(&usage, RatingContext::default()).unwrap();
    rating
        .amounts
        .iter()
        .find(|amount| amount.unit == "credit")
        .map_or(Decimal::ZERO, |amount| amount.amount)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

const CHAT: &str = "feature chat {
  input prompt: tokens max 1000000
  input history: tokens default 0 min 0 max 1000000
  quantity context = prompt + history + 500 tokens
  base 1 credit per 1000 tokens of context when context at most 200000 tokens
  base 2 credit per 1000 tokens of context when context above 200000 tokens
}
";

#[test]
fn a_sum_of_token_inputs_plus_an_overhead_is_priced_like_an_input() {
    let book = book(CHAT);
    let table = [
        (&[("prompt", "1000")][..], "1.5"),
        (&[("prompt", "1000"), ("history", "8500")][..], "10"),
        // 199500 + 500 = 200000: at most 200000 → the cheaper price.
        (&[("prompt", "199500")][..], "200"),
        // 199501 + 500 = 200001: above → the dearer price for all of it.
        (&[("prompt", "199501")][..], "400"),
        (&[("prompt", "100000"), ("history", "150000")][..], "501"),
    ];
    for (inputs, expected) in table {
        assert_eq!(credit(&book, "chat", inputs), dec(expected), "{inputs:?}");
    }
}

#[test]
fn a_derived_quantity_is_never_an_input_of_a_request() {
    let book = book(CHAT);
    let raw = vec![
        ("prompt".to_owned(), RawValue::Text("10".to_owned())),
        ("context".to_owned(), RawValue::Text("10".to_owned())),
    ];
    let error = book.usage("chat", None, &raw).unwrap_err();
    assert_eq!(error.code(), "unknown-input");
}

#[test]
fn a_product_of_counts_prices_megapixels() {
    let book = book(
        "feature upscale {
  input width: count max 8192
  input height: count max 8192
  quantity pixels = width * height
  base 0.5 credit per 1000000 of pixels rounded up
}
",
    );
    let table = [
        (("1024", "1024"), "1"),
        (("1000", "1000"), "0.5"),
        (("1001", "1000"), "1"),
        (("4096", "4096"), "8.5"),
    ];
    for ((width, height), expected) in table {
        assert_eq!(
            credit(&book, "upscale", &[("width", width), ("height", height)]),
            dec(expected),
            "{width}×{height}"
        );
    }
}

#[test]
fn a_count_times_a_measure_keeps_the_measure() {
    let book = book(
        "feature dub {
  input duration: duration max 10m
  input voices: count max 4
  quantity voice_time = duration * voices
  round duration up to 1s
  round voice_time up to 1s
  base 1 credit per minute of voice_time
}
",
    );
    assert_eq!(
        credit(&book, "dub", &[("duration", "90s"), ("voices", "2")]),
        dec("3")
    );
    // The duration is rounded (its one quantity) before it is multiplied.
    assert_eq!(
        credit(&book, "dub", &[("duration", "29.5s"), ("voices", "2")]),
        dec("1")
    );
}

#[test]
fn maximum_bills_at_most_the_quantity_while_max_refuses() {
    let book = book(
        "feature session {
  input duration: duration max 8h
  round duration up to 1m
  maximum 3h of duration
  base 10 credit per hour of duration
}
",
    );
    let table = [("30m", "5"), ("3h", "30"), ("5h", "30"), ("8h", "30")];
    for (duration, expected) in table {
        assert_eq!(
            credit(&book, "session", &[("duration", duration)]),
            dec(expected),
            "{duration}"
        );
    }
    let raw = vec![("duration".to_owned(), RawValue::Text("9h".to_owned()))];
    assert_eq!(
        book.usage("session", None, &raw).unwrap_err().code(),
        "above-maximum"
    );
}

#[test]
fn a_maximum_may_depend_on_a_choice() {
    let book = book(
        "feature session {
  input duration: duration max 8h
  input tier: choice(basic, long)
  round duration up to 1m
  maximum 1h of duration when tier is basic
  base 10 credit per hour of duration
}
",
    );
    assert_eq!(
        credit(&book, "session", &[("duration", "2h"), ("tier", "basic")]),
        dec("10")
    );
    assert_eq!(
        credit(&book, "session", &[("duration", "2h"), ("tier", "long")]),
        dec("20")
    );
}

#[test]
fn an_add_on_above_a_threshold_of_an_input() {
    let book = book(
        "feature video {
  input duration: duration max 1h
  round duration up to 1s
  base 1 credit per minute of duration
  add 5 credit each when duration at least 30m
  add 1 credit each when duration below 1m
}
",
    );
    let table = [("30s", "1.5"), ("1m", "1"), ("29m", "29"), ("30m", "35")];
    for (duration, expected) in table {
        assert_eq!(
            credit(&book, "video", &[("duration", duration)]),
            dec(expected),
            "{duration}"
        );
    }
}

#[test]
fn the_largest_derived_quantity_feeds_the_storage_check() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up
feature chat {
  input prompt: tokens max 1000000000000
  input history: tokens max 1000000000000
  quantity context = prompt + history
  base 10000000 credit per 1 token of context
}
";
    let diagnostics = compile_source("test.rates", source).unwrap_err();
    let text = format!("{diagnostics:?}");
    assert!(text.contains("AmountTooLarge"), "{text}");
    assert!(text.contains("2000000000000 tokens"), "{text}");
}

/// One quantity per rating: a condition compares the quantity the rules bill, after its
/// minimum and its round, and a derived quantity adds its terms' billed quantities.
#[test]
fn conditions_and_derived_quantities_see_the_one_quantity() {
    let book = book(
        "feature video {
  input duration: duration max 1h
  input intro: duration default 10s max 1m
  minimum 30s of duration
  round duration up to 1m
  quantity total = duration + intro
  round total up to 1s
  base 1 credit per minute of duration
  add 100 credit each when duration above 1m
  add 1 credit per minute of total
}
",
    );
    // 10s → 30s (minimum) → 1m (round): not above 1m; total = 1m + 10s.
    assert_eq!(credit(&book, "video", &[("duration", "10s")]), dec("2.17"));
    // 61s → 2m: above 1m, and total = 2m + 10s.
    assert_eq!(
        credit(&book, "video", &[("duration", "61s")]),
        dec("104.17")
    );
}

#[test]
fn fmt_keeps_derived_quantities_maximums_and_quantity_conditions() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up
feature chat {
  input prompt: tokens max 1000000
  input history: tokens default 0 min 0 max 1000000
  quantity   context=prompt+history +   500 tokens
  maximum 900000 tokens of   context
  base 1 credit per 1000 tokens of context when context at most 200000 tokens
  base 2 credit per 1000 tokens of context when context above   200000 tokens
}
feature upscale {
  input width: count max 8192
  input height: count max 8192
  quantity pixels = width*height
  base 0.5 credit per 1000000 of pixels rounded up
}
";
    let formatted = credits_dsl::format_source("test.rates", source).unwrap();
    for line in [
        "  quantity context = prompt + history + 500 tokens\n",
        "  maximum 900000 tokens of context\n",
        "when context above 200000 tokens\n",
        "  quantity pixels = width * height\n",
    ] {
        assert!(formatted.contains(line), "{line:?} in\n{formatted}");
    }
    assert_eq!(
        formatted,
        credits_dsl::format_source("test.rates", &formatted).unwrap()
    );
    let mut before = compile_source("test.rates", source).unwrap();
    let mut after = compile_source("test.rates", &formatted).unwrap();
    before.rates_version.clear();
    after.rates_version.clear();
    assert_eq!(before, after);
}

#[test]
fn diff_shows_a_changed_overhead_and_a_new_maximum() {
    use credits_dsl::diff::{Change, diff};
    let old = book(CHAT);
    let new = book(&CHAT.replace("+ 500 tokens", "+ 1000 tokens").replace(
        "  base 1 credit",
        "  maximum 500000 tokens of context\n  base 1 credit",
    ));
    let report = diff(&old, &new);
    let Change::Changed { details, .. } = &report.features[0] else {
        panic!("{report:?}");
    };
    assert!(
        details.contains(
            &"derived quantities context = prompt + history + 500 tokens → context = prompt + history + 1000 tokens"
                .to_owned()
        ),
        "{details:?}"
    );
    assert!(
        details.contains(&"maximum quantities none → 500000 tokens of context".to_owned()),
        "{details:?}"
    );
}

/// The storage check bounds a derived quantity by its terms at their largest, rounding
/// included: 61s rounds up to 2m, so a `duration * 1` quantity can bill 120 s, not 61.
#[test]
fn the_storage_check_reads_the_terms_rounded_up() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round up
feature video {
  input duration: duration max 61s
  round duration up to 1m
  quantity billed = duration * 1
  round billed up to 1s
  base 50000000000000000 credit per minute of billed
}
";
    // At scale 2 a unit holds about 9.2 × 10^16: 5 × 10^16 × 2 minutes does not fit, 61 s
    // would.
    let text = format!("{:?}", compile_source("test.rates", source).unwrap_err());
    assert!(text.contains("AmountTooLarge"), "{text}");
}
