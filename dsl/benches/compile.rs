//! Parsing, checking and compiling every rate book in `rates/` (well under 1 ms,
//! so that it fits in a Lambda's init).
//!
//! Run: `cargo bench -p credits-dsl --bench compile`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;

use credits_dsl::compile::{CompileOptions, compile_source_with};
use credits_dsl::{RateLibrary, compile_source};

/// Every file of `rates/`, embedded so the benchmark measures no I/O.
const RATES: [(&str, &str); 6] = [
    (
        "ai-engine.rates",
        include_str!("../../rates/ai-engine.rates"),
    ),
    (
        "imagineart.rates",
        include_str!("../../rates/imagineart.rates"),
    ),
    ("imentiv.rates", include_str!("../../rates/imentiv.rates")),
    ("imini.rates", include_str!("../../rates/imini.rates")),
    (
        "imini@2026-12-01.rates",
        include_str!("../../rates/imini@2026-12-01.rates"),
    ),
    ("invideo.rates", include_str!("../../rates/invideo.rates")),
];

fn main() {
    divan::main();
}

/// Every file through parse → check → compile, running its examples (the default).
#[divan::bench]
fn all_rates() {
    for (name, source) in RATES {
        black_box(compile_source(black_box(name), black_box(source)).unwrap());
    }
}

/// The same without rating the examples: the cost of the language itself.
#[divan::bench]
fn all_rates_without_examples() {
    let options = CompileOptions { run_expects: false };
    for (name, source) in RATES {
        black_box(compile_source_with(black_box(name), black_box(source), options).unwrap());
    }
}

/// What `credits serve` and every Lambda do at start: the whole library, versions included.
#[divan::bench]
fn library_from_sources(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| {
            RATES
                .iter()
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect::<Vec<_>>()
        })
        .bench_values(|files| black_box(RateLibrary::from_sources(files).unwrap()));
}

/// The largest book alone.
#[divan::bench]
fn imentiv_alone() {
    black_box(compile_source("imentiv.rates", black_box(RATES[2].1)).unwrap());
}

/// Parsing alone (source → syntax tree), every file of `rates/`: the part of start-up the
/// parser owns.
#[divan::bench]
fn parse_all_rates() {
    for (_, source) in RATES {
        black_box(credits_dsl::parse::parse(black_box(source)).unwrap());
    }
}
