//! Misuse of the pricing constructs (modifiers on a feature's amount and price tables), and
//! what a product manager reads. Like `diagnostics.rs`, each snapshot shows the SOURCE and
//! then the ERROR as `credits rates check` renders it. Regenerate with `INSTA_UPDATE=always
//! cargo test -p credits-dsl --test pricing_diagnostics` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use miette::Diagnostic;

use common::{diagnostics, render};

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

/// A video model priced by resolution, for the table cases.
const VIDEO: &str = "feature video {\n  input resolution: choice(sd, hd, uhd)\n  input duration: duration max 1h\n  round duration up to 1s\n";

/// `(case name, source)`; sources starting with `+` get [`HEAD`] prepended, and `%VIDEO%` is
/// replaced by [`VIDEO`].
const CASES: &[(&str, &str)] = &[
    // ---- Modifiers ----------------------------------------------------------------------------
    (
        "factor_zero",
        "+feature image {\n  input batch: flag default no\n  base 2 credit each\n  multiply by 0 when batch\n}\n",
    ),
    (
        "factor_negative",
        "+feature image {\n  input batch: flag default no\n  base 2 credit each\n  multiply by -0.5 when batch\n}\n",
    ),
    (
        "factor_percentage_leaves_nothing",
        "+feature image {\n  input promo: flag default no\n  base 2 credit each\n  add -120% when promo\n}\n",
    ),
    (
        "factor_too_large",
        "+feature image {\n  input priority: flag default no\n  base 2 credit each\n  multiply by 1000 when priority\n}\n",
    ),
    (
        "factor_unknown_flag",
        "+feature image {\n  input priority: flag default no\n  base 2 credit each\n  add 50% when priorty\n}\n",
    ),
    (
        "syntax_multiply_without_by",
        "+feature image {\n  input batch: flag default no\n  base 2 credit each\n  multiply 0.5 when batch\n}\n",
    ),
    (
        "amount_too_large_factor",
        "book test\neffective 2025-01-01\nunit credit scale 12 round half-up\nfeature image {\n  input priority: flag default no\n  base 5000000 credit each\n  multiply by 2 when priority\n}\n",
    ),
    (
        "factor_stated_twice",
        "+feature image {\n  input batch: flag default no\n  base 2 credit each\n  multiply by 0.5 when batch\n  multiply by 0.5 when batch\n}\n",
    ),
    (
        "syntax_add_without_unit_or_percent",
        "+feature image {\n  input hd: flag default no\n  base 2 credit each\n  add 5 when hd\n}\n",
    ),
    (
        "factor_written_as_percent_word",
        "+feature image {\n  input hd: flag default no\n  base 2 credit each\n  add 50 percent when hd\n}\n",
    ),
    (
        "syntax_percentage_per_quantity",
        "+feature image {\n  input hd: flag default no\n  input images: images max 10\n  base 2 credit per image\n  add 50% per image when hd\n}\n",
    ),
    (
        "syntax_factor_with_x",
        "+feature image {\n  input hd: flag default no\n  base 2 credit each\n  multiply by 1.5x when hd\n}\n",
    ),
    (
        "syntax_multiply_by_count_with_when",
        "+feature image {\n  input outputs: count default 1 max 4\n  input batch: flag default no\n  base 2 credit each\n  multiply by outputs when batch\n}\n",
    ),
    // ---- Price tables -------------------------------------------------------------------------
    (
        "syntax_table_price_without_unit",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration\n    sd: 10\n    hd: 20 credit\n    uhd: 40 credit\n  }\n}\n",
    ),
    (
        "table_missing_row",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration\n    sd: 10 credit\n    hd: 20 credit\n  }\n}\n",
    ),
    (
        "table_duplicate_row",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration\n    sd: 10 credit\n    hd: 20 credit\n    uhd: 40 credit\n    hd: 25 credit\n  }\n}\n",
    ),
    (
        "table_unknown_value",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration\n    sd: 10 credit\n    hd: 20 credit\n    fhd: 40 credit\n  }\n}\n",
    ),
    (
        "table_row_missing_a_price",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration, each\n    sd: 10 credit, 1 credit\n    hd: 20 credit\n    uhd: 40 credit, 2 credit\n  }\n}\n",
    ),
    (
        "table_keyed_by_a_quantity",
        "+%VIDEO%  base table by duration {\n    columns: each\n    sd: 10 credit\n  }\n}\n",
    ),
    (
        "table_column_twice",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration, per minute of duration\n    sd: 10 credit, 1 credit\n    hd: 20 credit, 2 credit\n    uhd: 40 credit, 4 credit\n  }\n}\n",
    ),
    (
        "table_without_columns",
        "+%VIDEO%  base table by resolution {\n    sd: 10 credit\n    hd: 20 credit\n    uhd: 40 credit\n  }\n}\n",
    ),
    (
        "table_conflicts_with_base_line",
        "+%VIDEO%  base table by resolution {\n    columns: per minute of duration\n    sd: 10 credit\n    hd: 20 credit\n    uhd: 40 credit\n  }\n  base 30 credit per minute when resolution is uhd\n}\n",
    ),
    (
        "table_key_tested_by_when",
        "+%VIDEO%  base table by resolution when resolution is hd {\n    columns: per minute of duration\n    sd: 10 credit\n    hd: 20 credit\n    uhd: 40 credit\n  }\n}\n",
    ),
    (
        "table_missing_combination",
        "+feature image {\n  input model: choice(standard, pro)\n  input size: choice(small, large)\n  base table by model, size {\n    columns: each\n    standard, small: 1 credit\n    standard, large: 2 credit\n    pro, small: 3 credit\n  }\n}\n",
    ),
];

fn source_of(raw: &str) -> String {
    let raw = raw.replace("%VIDEO%", VIDEO);
    match raw.strip_prefix('+') {
        Some(rest) => format!("{HEAD}{rest}"),
        None => raw,
    }
}

#[test]
fn every_pricing_case_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, raw) in CASES {
            let source = source_of(raw);
            let rendered = render(&diagnostics(&source));
            insta::assert_snapshot!(
                *name,
                format!("FILE test.rates\nSOURCE\n{source}\nERROR\n{rendered}")
            );
        }
    });
}

/// Every error of every case has a label inside the source (a located error).
#[test]
fn every_pricing_error_is_located() {
    for (name, raw) in CASES {
        let source = source_of(raw);
        let diagnostics = diagnostics(&source);
        for error in diagnostics.errors() {
            let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
            assert!(!labels.is_empty(), "{name}: {error} has no label");
            for label in labels {
                assert!(
                    label.offset() + label.len() <= source.len(),
                    "{name}: a label is outside the source"
                );
            }
        }
    }
}
