//! Price tables: `base table by CHOICE[, CHOICE]... [when COND] { columns: ...; rows }`. One
//! row per value (or combination) of the key, one price per column; a table is lowered to one
//! `base` line per row (the row's further columns in the same unit stack on it), so it rates,
//! conflicts and covers exactly as those lines would. Rows of worked examples are checked as
//! `expect`s of the book; fmt round trips and diffs follow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use credits_dsl::diff::diff;
use credits_dsl::{RateBook, RuleRole, compile_source, format_source};

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

fn book(body: &str) -> RateBook {
    let source = format!("{HEAD}{body}");
    compile_source("test.rates", &source).unwrap_or_else(|errors| panic!("{source}\n{errors:?}"))
}

/// Compiles `HEAD` + `body` with each `(usage, amounts)` as an `expect`.
fn check_examples(body: &str, examples: &[(&str, &str)]) {
    for (usage, amounts) in examples {
        let source = format!("{HEAD}{body}expect {usage} = {amounts}\n");
        if let Err(diagnostics) = compile_source("test.rates", &source) {
            panic!("{usage} = {amounts}\n{diagnostics:?}");
        }
    }
}

/// A video model priced per second by resolution, +30 % for an option (`audio`), with a
/// flat fee per job in a second column.
const VIDEO: &str = "feature video \"Video generation\" {
  input resolution: choice(p480, p720, p1080)
  input duration: duration max 60s
  input audio: flag default no
  round duration up to 1s

  base table by resolution {
    columns: per second of duration, each
    p480:  1 credit, 0 credit
    p720:  2 credit, 1 credit
    p1080: 4 credit, 2 credit
  }
  add 30% when audio
}
";

#[test]
fn a_video_model_table_with_an_option_surcharge() {
    check_examples(
        VIDEO,
        &[
            ("video(resolution: p480, duration: 5s)", "5 credit"),
            ("video(resolution: p720, duration: 5s)", "11 credit"),
            ("video(resolution: p1080, duration: 10s)", "42 credit"),
            // 11 × 1.3 = 14.3.
            (
                "video(resolution: p720, duration: 5s, audio: yes)",
                "14.3 credit",
            ),
            // 4.5s rounds up to 5s first: 4 × 5 + 2 = 22; × 1.3 = 28.6.
            (
                "video(resolution: p1080, duration: 4.5s, audio: yes)",
                "28.6 credit",
            ),
        ],
    );
}

#[test]
fn rows_keyed_by_a_combination_of_choices() {
    let body = "feature image {
  input model: choice(standard, pro)
  input size: choice(small, large)
  input images: images default 1 max 10
  base table by model, size {
    columns: per image of images
    standard, small: 1 credit
    standard, large: 2 credit
    pro, small:      3 credit
    pro, large:      5 credit
  }
}
";
    check_examples(
        body,
        &[
            ("image(model: standard, size: small)", "1 credit"),
            ("image(model: standard, size: large, images: 3)", "6 credit"),
            ("image(model: pro, size: small, images: 2)", "6 credit"),
            ("image(model: pro, size: large)", "5 credit"),
        ],
    );
}

#[test]
fn a_table_keyed_by_the_channel_and_limited_by_when() {
    let body = "channels web, api default web
feature speech {
  input voice: choice(basic, studio)
  input characters: characters max 100000
  base 1 credit per 1000 characters when channel is web
  base table by voice when channel is api {
    columns: per 1000 characters
    basic:  0.5 credit
    studio: 2 credit
  }
}
";
    check_examples(
        body,
        &[
            ("speech(voice: studio, characters: 1000)", "1 credit"),
            (
                "speech(voice: studio, characters: 1000, channel: api)",
                "2 credit",
            ),
            (
                "speech(voice: basic, characters: 3000, channel: api)",
                "1.5 credit",
            ),
        ],
    );
}

#[test]
fn an_add_table_stacks_on_the_base_price() {
    let body = "feature image {
  input style: choice(plain, anime, photo)
  base 2 credit each
  add table by style {
    columns: each
    plain: 0 credit
    anime: 1 credit
    photo: 3 credit
  }
}
";
    check_examples(
        body,
        &[
            ("image(style: plain)", "2 credit"),
            ("image(style: anime)", "3 credit"),
            ("image(style: photo)", "5 credit"),
        ],
    );
    let book = book(body);
    assert!(
        book.features[0].rules[1..]
            .iter()
            .all(|rule| rule.role == RuleRole::Add)
    );
}

#[test]
fn a_table_is_lowered_to_one_base_line_per_row() {
    let book = book(VIDEO);
    let rules = &book.features[0].rules;
    assert_eq!(rules.len(), 6);
    // The first price of each row is its `base`; the next stacks on it.
    let roles: Vec<RuleRole> = rules.iter().map(|rule| rule.role).collect();
    assert_eq!(
        roles,
        [
            RuleRole::Base,
            RuleRole::Add,
            RuleRole::Base,
            RuleRole::Add,
            RuleRole::Base,
            RuleRole::Add
        ]
    );
    assert_eq!(
        rules[2].source,
        "base 2 credit per second of duration when resolution is p720"
    );
    assert_eq!(rules[3].source, "add 1 credit each when resolution is p720");
    // Each row keeps its own line, for explanations.
    assert_eq!(rules[2].line, 13);
}

#[test]
fn a_table_row_in_another_unit_is_that_units_base() {
    let body = "unit video_minute scale 0 round up
feature stock {
  input model: choice(basic, premium)
  input duration: duration max 1h
  round duration up to 1s
  base table by model {
    columns: per minute of duration, per minute of duration rounded up
    basic:   5 credit, 1 video_minute
    premium: 8 credit, 1 video_minute
  }
}
";
    check_examples(
        body,
        &[
            (
                "stock(model: basic, duration: 90s)",
                "7.5 credit, 2 video_minute",
            ),
            (
                "stock(model: premium, duration: 1m)",
                "8 credit, 1 video_minute",
            ),
        ],
    );
    let book = book(body);
    assert!(
        book.features[0]
            .rules
            .iter()
            .all(|rule| rule.role == RuleRole::Base)
    );
}

// ---- fmt ----------------------------------------------------------------------------------

#[test]
fn a_table_formats_with_aligned_columns_and_keeps_its_book() {
    let messy = "book test
effective 2025-01-01
unit credit scale 6 round half-up
feature chat {
  input model: choice(gpt_4o, gpt_4o_mini, o1)
  input input_tokens: tokens max 2000000
  input output_tokens: tokens default 0 min 0 max 200000
  input batch: flag default no
  base   table by model{ columns:per 1000000   tokens of input_tokens,per 1000000 tokens of output_tokens
  gpt_4o: 2.5 credit,10 credit   # the flagship
      gpt_4o_mini:0.15 credit, 0.6 credit
  o1 : 15 credit , 60 credit ; }
  multiply   by 0.5 when batch;add 10%   when  batch
}
";
    let formatted = format_source("test.rates", messy).unwrap();
    assert_eq!(
        formatted,
        "book test
effective 2025-01-01
unit credit scale 6 round half-up
feature chat {
  input model: choice(gpt_4o, gpt_4o_mini, o1)
  input input_tokens: tokens max 2000000
  input output_tokens: tokens default 0 min 0 max 200000
  input batch: flag default no
  base table by model {
    columns: per 1000000 tokens of input_tokens, per 1000000 tokens of output_tokens
    gpt_4o:      2.5 credit,  10 credit  # the flagship
    gpt_4o_mini: 0.15 credit, 0.6 credit
    o1:          15 credit,   60 credit
  }
  multiply by 0.5 when batch
  add 10% when batch
}
"
    );
    assert_eq!(format_source("test.rates", &formatted).unwrap(), formatted);
    let before = compile_source("test.rates", messy).unwrap();
    let after = compile_source("test.rates", &formatted).unwrap();
    let strip = |mut book: RateBook| {
        book.rates_version = String::new();
        for feature in &mut book.features {
            for rule in &mut feature.rules {
                rule.line = 0;
            }
            for factor in &mut feature.factors {
                factor.line = 0;
            }
        }
        book
    };
    assert_eq!(strip(before), strip(after));
}

// ---- diff ---------------------------------------------------------------------------------

fn diff_text(old_body: &str, new_body: &str) -> String {
    diff(&book(old_body), &book(new_body)).to_string()
}

#[test]
fn a_changed_table_row_reads_old_to_new() {
    let changed = VIDEO.replace("p720:  2 credit, 1 credit", "p720:  2.5 credit, 1 credit");
    let text = diff_text(VIDEO, &changed);
    assert!(
        text.contains(
            "price changed: base 2 credit per second of duration when resolution is p720 → base 2.5 credit per second of duration when resolution is p720"
        ),
        "{text}"
    );
    assert!(!text.contains("rule removed"), "{text}");
    assert!(!text.contains("rule added"), "{text}");
}

#[test]
fn a_changed_factor_reads_old_to_new() {
    let changed = VIDEO.replace("add 30% when audio", "add 40% when audio");
    let text = diff_text(VIDEO, &changed);
    assert!(
        text.contains("factor changed: add 30% when audio → add 40% when audio"),
        "{text}"
    );
    let removed = VIDEO.replace("  add 30% when audio\n", "");
    let text = diff_text(VIDEO, &removed);
    assert!(
        text.contains("factor removed: add 30% when audio"),
        "{text}"
    );
    let text = diff_text(&removed, VIDEO);
    assert!(text.contains("factor added: add 30% when audio"), "{text}");
}

#[test]
fn base_lines_rewritten_as_a_table_are_no_change() {
    let lines = "feature image {
  input model: choice(standard, pro)
  base 1 credit each when model is standard
  base 3 credit each when model is pro
}
";
    let table = "feature image {
  input model: choice(standard, pro)
  base table by model {
    columns: each
    standard: 1 credit
    pro:      3 credit
  }
}
";
    let report = diff(&book(lines), &book(table));
    assert!(report.features.is_empty(), "{report}");
}

#[test]
fn a_table_keyed_by_a_flag_or_the_channel() {
    let body = "channels web, api default web
feature upscale {
  input images: images max 100
  input fast: flag default no
  base table by fast {
    columns: per image of images
    no:  1 credit
    yes: 3 credit
  }
  add table by channel {
    columns: each
    web: 0 credit
    api: 0.5 credit
  }
}
";
    check_examples(
        body,
        &[
            ("upscale(images: 2)", "2 credit"),
            ("upscale(images: 2, fast: yes)", "6 credit"),
            ("upscale(images: 2, fast: yes, channel: api)", "6.5 credit"),
        ],
    );
}

#[test]
fn a_table_with_an_unchecked_row_reports_no_missing_price_too() {
    // The unknown value is the one error: the row it would have priced is not also called
    // missing by the feature's price analysis.
    let source = format!(
        "{HEAD}feature image {{\n  input model: choice(standard, pro)\n  base table by model {{\n    columns: each\n    standard: 1 credit\n    prro: 3 credit\n  }}\n}}\n"
    );
    let errors = compile_source("test.rates", &source).unwrap_err();
    assert_eq!(errors.errors().len(), 1, "{errors:?}");
}

#[test]
fn rules_after_a_large_table_are_still_checked_and_rated() {
    // A table of 300 cells, then an add-on: the add-on counts against the rule limit, not
    // the table's cells.
    let values: Vec<String> = (0..60).map(|index| format!("m{index}")).collect();
    let mut body = format!(
        "feature chat {{\n  input model: choice({})\n  input a: tokens max 1000000\n  input b: tokens default 0 min 0 max 1000000\n  input c: tokens default 0 min 0 max 1000000\n  input d: tokens default 0 min 0 max 1000000\n  input priority: flag default no\n  base table by model {{\n    columns: per 1000 tokens of a, per 1000 tokens of b, per 1000 tokens of c, per 1000 tokens of d, each\n",
        values.join(", ")
    );
    for value in &values {
        body.push_str(&format!(
            "    {value}: 1 credit, 1 credit, 1 credit, 1 credit, 1 credit\n"
        ));
    }
    body.push_str("  }\n  add 2 credit each when priority\n}\n");
    check_examples(
        &body,
        &[
            (
                "chat(model: m7, a: 1000, b: 1000, c: 1000, d: 1000)",
                "5 credit",
            ),
            ("chat(model: m59, a: 1000, priority: yes)", "4 credit"),
        ],
    );
}

#[test]
fn a_feature_has_at_most_2048_prices_in_all() {
    let models: Vec<String> = (0..64).map(|index| format!("m{index}")).collect();
    let inputs: Vec<String> = (0..8).map(|index| format!("t{index}")).collect();
    let mut body = format!(
        "feature chat {{\n  input model: choice({})\n  input size: choice(xs, s, m, l)\n",
        models.join(", ")
    );
    for input in &inputs {
        body.push_str(&format!(
            "  input {input}: tokens default 0 min 0 max 1000\n"
        ));
    }
    let columns: Vec<String> = inputs
        .iter()
        .map(|input| format!("per 1000 tokens of {input}"))
        .collect();
    body.push_str(&format!(
        "  base table by model, size {{\n    columns: {}\n",
        columns.join(", ")
    ));
    for model in &models {
        for size in ["xs", "s", "m", "l"] {
            body.push_str(&format!(
                "    {model}, {size}: {}\n",
                ["1 credit"; 8].join(", ")
            ));
        }
    }
    body.push_str("  }\n");
    // 2,048 cells: at the limit, accepted.
    let at_limit = format!("{body}}}\n");
    assert_eq!(book(&at_limit).features[0].rules.len(), 2048);
    // One table more is refused on its keyword.
    let beyond = format!(
        "{body}  add table by size {{\n    columns: each\n    xs: 0 credit\n    s: 0 credit\n    m: 1 credit\n    l: 2 credit\n  }}\n}}\n"
    );
    let errors = compile_source("test.rates", &format!("{HEAD}{beyond}")).unwrap_err();
    let messages: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("2048"), "{messages:?}");
}
