//! No input makes the front end panic or hang: arbitrary text, and every rates file mutated
//! token by token. On every input formatting, when it succeeds, gives text that formats to
//! itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::{compile_source, format_source};
use proptest::prelude::*;

fn rates_files() -> &'static [(String, String)] {
    static FILES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    FILES.get_or_init(read_rates_files)
}

fn read_rates_files() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Words and symbols of the language, to make mutations that get past the parser.
const VOCABULARY: &[&str] = &[
    "book",
    "feature",
    "plan",
    "expect",
    "input",
    "base",
    "add",
    "round",
    "minimum",
    "grant",
    "order",
    "when",
    "is",
    "or",
    "and",
    "not",
    "per",
    "each",
    "of",
    "times",
    "tiers",
    "default",
    "min",
    "max",
    "up to",
    "above:",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "=",
    "+",
    "*",
    ";",
    "#",
    "\"",
    "0",
    "1",
    "-1",
    "1e9",
    "0.001",
    "99999999999999999999",
    "3m30s",
    "250 words",
    "2 GB",
    "credit",
    "duration",
    "model",
    "pro",
    "channel",
    "cycle",
    "expires",
    "never",
    "end of cycle",
    "rolls over",
    "choice(a, b)",
    "flag",
    "count",
    "yes",
    "no",
    "\n",
    "é",
    "\u{0}",
    "table",
    "columns",
    "%",
    "by",
];

/// Applies a mutation to the source, at token boundaries (`at` and `other` pick tokens).
fn mutate(source: &str, operation: u8, at: usize, other: usize, word: &str) -> String {
    let tokens: Vec<&str> = source.split_inclusive(char::is_whitespace).collect();
    if tokens.is_empty() {
        return word.to_owned();
    }
    let at = at % tokens.len();
    let other = other % tokens.len();
    let mut out: Vec<&str> = tokens.clone();
    match operation % 6 {
        0 => {
            out.remove(at);
        }
        1 => out.insert(at, word),
        2 => out.insert(at, tokens[at]),
        3 => out.swap(at, other),
        4 => {
            // Delete one byte, on a character boundary.
            let text: String = tokens.concat();
            let mut position = (at * 7919 + other) % text.len().max(1);
            while !text.is_char_boundary(position) {
                position -= 1;
            }
            let mut text = text;
            if position < text.len() {
                text.remove(position);
            }
            return text;
        }
        _ => {
            let (low, high) = (at.min(other), at.max(other));
            out.drain(low..high.min(low + 20));
        }
    }
    out.concat()
}

fn exercise(name: &str, source: &str) {
    let _ = compile_source(name, source);
    if let Ok(formatted) = format_source(name, source) {
        let again = format_source(name, &formatted);
        assert_eq!(
            again.as_deref().ok(),
            Some(formatted.as_str()),
            "fmt is not idempotent on:\n{source}"
        );
    }
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

proptest! {
    // 256 cases each keeps the run to seconds; `FUZZ_CASES=100000` for a longer campaign.
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,400}") {
        exercise("test.rates", &source);
    }

    #[test]
    fn language_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..60)) {
        let source = words.join(" ");
        exercise("test.rates", &source);
    }

    #[test]
    fn mutated_rates_files_never_panic(
        file in any::<usize>(),
        mutations in proptest::collection::vec(
            (any::<u8>(), any::<usize>(), any::<usize>(), proptest::sample::select(VOCABULARY)),
            1..4,
        ),
    ) {
        let files = rates_files();
        let (name, source) = &files[file % files.len()];
        let mut mutated = source.clone();
        for (operation, at, other, word) in mutations {
            mutated = mutate(&mutated, operation, at, other, word);
        }
        exercise(name, &mutated);
    }
}
