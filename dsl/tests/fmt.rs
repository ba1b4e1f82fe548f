//! `credits rates fmt`: canonical layout, comments kept, idempotent, meaning unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::{RateBook, compile_source, format_source};

fn rates_files() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        // Files only: `rates/examples/` holds example books, not versions of these.
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "rates")
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .filter(|(name, _)| name.ends_with(".rates"))
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    files
}

fn without_version(mut book: RateBook) -> RateBook {
    book.rates_version = String::new();
    book
}

#[test]
fn formatting_a_rates_file_keeps_its_book() {
    for (name, source) in rates_files() {
        let formatted = format_source(&name, &source).unwrap();
        let before = without_version(compile_source(&name, &source).unwrap());
        let after = compile_source(&name, &formatted)
            .unwrap_or_else(|errors| panic!("{name} no longer compiles after fmt: {errors:?}"));
        assert_eq!(
            before,
            without_version(after),
            "{name}: fmt changed the book"
        );
    }
}

#[test]
fn formatting_is_idempotent() {
    for (name, source) in rates_files() {
        let once = format_source(&name, &source).unwrap();
        let twice = format_source(&name, &once).unwrap();
        assert_eq!(once, twice, "{name}: fmt(fmt(x)) differs from fmt(x)");
    }
}

#[test]
fn formatting_keeps_every_comment() {
    for (name, source) in rates_files() {
        let formatted = format_source(&name, &source).unwrap();
        for line in source.lines() {
            if let Some(position) = line.find('#') {
                let comment = line[position..].trim_end();
                assert!(formatted.contains(comment), "{name}: lost `{comment}`");
            }
        }
    }
}

#[test]
fn messy_layout_becomes_canonical() {
    let messy = "\
# A book.
book   test ; effective 2025-01-01
unit credit   scale 2 round half-up


feature video \"Video\" {

  input duration : duration max   4h   # the length
      input model: choice( pro,ultra )
  round duration up to 1s;  base 20 credit per minute when model is pro
  base 40 credit per minute
     when model is ultra   # a long line
  add 5 credit  per minute  rounded up  of duration
  # before the tiers
  add graduated tiers of duration { up to 1h: 1 credit per minute
    above: 0.5 credit per minute }

}
plan p { grant 10 credit daily as free expires end of day
order free }
expect video(duration: 3m30s, model: pro) = 70 credit   # row 1
expect video(duration: 1m, model: pro) = 20 credit # row 2
# trailing
";
    let expected = "\
# A book.
book test
effective 2025-01-01
unit credit scale 2 round half-up

feature video \"Video\" {
  input duration: duration max 4h  # the length
  input model: choice(pro, ultra)
  round duration up to 1s
  base 20 credit per minute when model is pro
  base 40 credit per minute when model is ultra  # a long line
  add 5 credit per minute of duration rounded up
  # before the tiers
  add graduated tiers of duration {
    up to 1h: 1 credit per minute
    above: 0.5 credit per minute
  }
}
plan p {
  grant 10 credit daily as free, expires end of day
  order free
}
expect video(duration: 3m30s, model: pro) = 70 credit  # row 1
expect video(duration: 1m, model: pro) = 20 credit     # row 2
# trailing
";
    let formatted = format_source("test.rates", messy).unwrap();
    assert_eq!(formatted, expected, "got:\n{formatted}");
    assert_eq!(format_source("test.rates", &formatted).unwrap(), formatted);
}

#[test]
fn input_clauses_are_written_default_min_max() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\nfeature image {\n  input outputs: count max 8   min 1 default 1\n  input time: duration max 1h min   0s default 0s\n  base 1 credit each\n}\n";
    let formatted = format_source("test.rates", source).unwrap();
    assert!(
        formatted.contains("  input outputs: count default 1 min 1 max 8\n"),
        "{formatted}"
    );
    assert!(
        formatted.contains("  input time: duration default 0s min 0s max 1h\n"),
        "{formatted}"
    );
    assert_eq!(format_source("test.rates", &formatted).unwrap(), formatted);
    let book = |text: &str| without_version(compile_source("test.rates", text).unwrap());
    assert_eq!(book(source), book(&formatted));
}

#[test]
fn a_syntax_error_is_reported_not_formatted() {
    let errors = format_source("test.rates", "book test\nfeatur x {}\n").unwrap_err();
    assert_eq!(errors.len(), 1);
}

#[test]
fn a_file_with_semantic_errors_still_formats() {
    let source = "book other\nfeature x { base 1 credits each }\n";
    let formatted = format_source("test.rates", source).unwrap();
    assert_eq!(
        formatted,
        "book other\nfeature x {\n  base 1 credits each\n}\n"
    );
}

#[test]
fn a_late_usage_window_reads_formats_and_parses_alike() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n\
                  plan pro {\n  late usage   within 3 days\n}\n\
                  plan lite {\n  late usage within 12 hours\n}\n";
    let book = compile_source("test.rates", source).unwrap();
    assert_eq!(book.plan("pro").unwrap().late_usage_seconds, Some(259_200));
    assert_eq!(book.plan("lite").unwrap().late_usage_seconds, Some(43_200));
    let formatted = format_source("test.rates", source).unwrap();
    assert!(
        formatted.contains("  late usage within 3 days\n"),
        "{formatted}"
    );
    let again = compile_source("test.rates", &formatted).unwrap();
    assert_eq!(without_version(book), without_version(again));
}

#[test]
fn expiry_warnings_and_auto_topups_read_format_and_parse_alike() {
    let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n\
                  plan pro {\n  package small 10 credit\n  warn before   expiry 7 days\n  \
                  auto topup below 5 credit   package small\n}\n\
                  plan lite {\n  warn before expiry 12 hours\n}\n";
    let book = compile_source("test.rates", source).unwrap();
    let pro = book.plan("pro").unwrap();
    assert_eq!(pro.expiry_warning_seconds, Some(604_800));
    let rule = pro.auto_topup.get("credit").unwrap();
    assert_eq!((rule.below_minor, rule.package.as_str()), (500, "small"));
    assert_eq!(
        book.plan("lite").unwrap().expiry_warning_seconds,
        Some(43_200)
    );
    let formatted = format_source("test.rates", source).unwrap();
    assert!(
        formatted.contains("  warn before expiry 7 days\n")
            && formatted.contains("  auto topup below 5 credit package small\n"),
        "{formatted}"
    );
    let again = compile_source("test.rates", &formatted).unwrap();
    assert_eq!(without_version(book), without_version(again));
}
