//! Every kind of mistake a product manager can make in a rate file, and what they read.
//!
//! Each case is a small rate file; its snapshot (`tests/snapshots/`) shows the SOURCE and
//! then the ERROR exactly as `credits rates check` renders it, so that a reviewer who does
//! not read Rust can judge each message. Regenerate with `INSTA_UPDATE=always cargo test -p
//! credits-dsl --test diagnostics` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::{BookError, RateLibrary};
use miette::Diagnostic;

use common::{diagnostics_of, render, source_of};

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

/// `(case name, file name, source)`; sources starting with `+` get [`HEAD`] prepended.
const CASES: &[(&str, &str, &str)] = &[
    // ---- Syntax -------------------------------------------------------------------------------
    (
        "syntax_misspelt_keyword",
        "test.rates",
        "+featur video {\n  input duration: duration max 1h\n}\n",
    ),
    (
        "syntax_misspelt_per",
        "test.rates",
        "+feature video {\n  input duration: duration max 1h\n  round duration up to 1s\n  base 20 credit pr minute\n}\n",
    ),
    (
        "syntax_unclosed_block",
        "test.rates",
        "+feature video {\n  input duration: duration max 1h\n",
    ),
    (
        "syntax_expect_missing_parenthesis",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nexpect image( = 1 credit\n",
    ),
    (
        "syntax_condition_missing",
        "test.rates",
        "+feature image {\n  input model: choice(pro, ultra)\n  base 1 credit each when\n}\n",
    ),
    (
        "syntax_rounding_mode_missing",
        "test.rates",
        "book test\neffective 2025-01-01\nunit credit scale 2 round\n",
    ),
    (
        "syntax_nested_too_deep",
        "test.rates",
        "+feature image {\n  base graduated tiers of images {\n    {\n  }\n}\n",
    ),
    (
        "syntax_byte_order_mark",
        "test.rates",
        "\u{feff}book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n",
    ),
    (
        "syntax_non_breaking_space",
        "test.rates",
        "+feature image {\n  base 2\u{a0}credit each\n}\n",
    ),
    (
        "syntax_zero_width_space",
        "test.rates",
        "+feature image {\n  input model: choice(pro,\u{200b} ultra)\n  base 2 credit each\n}\n",
    ),
    (
        "syntax_unusual_space",
        "test.rates",
        "+feature image {\n  base 2 credit\u{2003}each\n}\n",
    ),
    (
        "syntax_curly_quotes",
        "test.rates",
        "+title \u{201c}Image generation\u{201d}\n",
    ),
    (
        "syntax_dash_in_date",
        "test.rates",
        "book test\neffective 2025\u{2013}01\u{2013}01\nunit credit scale 2 round half-up\n",
    ),
    (
        "syntax_multiply_by_number",
        "test.rates",
        "+feature image {\n  input mode: choice(batch, now)\n  base 2 credit each\n  multiply by 50% when mode is batch\n}\n",
    ),
    (
        "syntax_times_number",
        "test.rates",
        "+feature image {\n  base 2 credit each times 2\n}\n",
    ),
    (
        "syntax_percentage",
        "test.rates",
        "+feature image {\n  input priority: flag\n  base 10 credit each\n  base 50% when priority\n}\n",
    ),
    (
        "condition_on_plan",
        "test.rates",
        "+feature image {\n  input model: choice(pro, ultra)\n  base 2 credit each\n  base 1 credit each when plan is pro\n}\n",
    ),
    (
        "number_beyond_28_digits",
        "test.rates",
        "+feature image {\n  base 123456789012345678.123456789012 credit each\n}\n",
    ),
    // ---- Header ---------------------------------------------------------------------------------
    ("missing_header", "test.rates", "title \"Test\"\n"),
    (
        "duplicate_statement",
        "test.rates",
        "+title \"Test\"\ntitle \"Test again\"\n",
    ),
    (
        "book_name_mismatch",
        "imentiv.rates",
        "+feature image {\n  base 1 credit each\n}\n",
    ),
    (
        "file_date_mismatch",
        "test@2025-02-01.rates",
        "+feature image {\n  base 1 credit each\n}\n",
    ),
    (
        "invalid_date",
        "test.rates",
        "book test\neffective 2025-02-30\nunit credit scale 2 round half-up\n",
    ),
    (
        "unknown_time_zone",
        "test.rates",
        "+time_zone \"Europe/Pariss\"\n",
    ),
    (
        "invalid_name",
        "test.rates",
        "+feature Video_Gen {\n  base 1 credit each\n}\n",
    ),
    (
        "unit_without_scale",
        "test.rates",
        "+unit video_minute round up\n",
    ),
    (
        "unknown_rounding_mode",
        "test.rates",
        "+unit video_minute scale 0 round ceiling\n",
    ),
    (
        "channels_unknown_default",
        "test.rates",
        "+channels web, api default mobile\n",
    ),
    // ---- Names ----------------------------------------------------------------------------------
    (
        "misplaced_statement",
        "test.rates",
        "+feature image {\n  base 1 credit each\n  grant 100 credit daily as free, expires end of day\n}\n",
    ),
    (
        "unknown_unit",
        "test.rates",
        "+feature image {\n  base 1 credits each\n}\n",
    ),
    (
        "unknown_input",
        "test.rates",
        "+feature video {\n  input duration: duration max 1h\n  round duration up to 1s\n  base 20 credit per minute of durations\n}\n",
    ),
    (
        "unknown_feature",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nfeature upscale {\n  base 1 credit each\n  requires imagee on same content\n}\nexpect video() = 1 credit\n",
    ),
    (
        "unknown_choice",
        "test.rates",
        "+feature image {\n  input model: choice(standard, pro)\n  base 24 credit each when model is standard\n  base 60 credit each when model is proo\n}\n",
    ),
    (
        "unknown_input_kind",
        "test.rates",
        "+feature text {\n  input words: word max 1000\n  base 1 credit per 100 words\n}\n",
    ),
    (
        "duplicate_feature",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nfeature image {\n  base 2 credit each\n}\n",
    ),
    (
        "duplicate_input",
        "test.rates",
        "+feature image {\n  input model: choice(standard, pro)\n  input model: choice(a, b)\n  base 1 credit each\n}\n",
    ),
    // ---- Rules ----------------------------------------------------------------------------------
    (
        "conflicting_base_rules",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  input model: choice(pro, ultra)\n  round duration up to 1s\n  base 20 credit per minute when model is pro\n  base 40 credit per minute when model is ultra\n  base 25 credit per minute when model is pro or ultra\n}\n",
    ),
    (
        "conflicting_unconditional_rules",
        "test.rates",
        "+feature image {\n  base 1 credit each\n  base 2 credit each\n}\n",
    ),
    (
        "missing_price",
        "test.rates",
        "+channels web, api default web\nfeature video {\n  input duration: duration max 4h\n  input model: choice(pro, ultra, max)\n  round duration up to 1s\n  base 20 credit per minute when model is pro and channel is web\n  base 15 credit per minute when model is pro and channel is api\n  base 40 credit per minute when model is ultra\n}\n",
    ),
    (
        "unreachable_rule",
        "test.rates",
        "+feature video {\n  input model: choice(pro, ultra)\n  base 20 credit each when model is pro\n  base 40 credit each when model is ultra\n  add 5 credit each when model is pro and model is ultra\n}\n",
    ),
    (
        "duplicate_add_rule",
        "test.rates",
        "+feature video {\n  input actor: flag default no\n  base 20 credit each\n  add 5 credit each when actor\n  add 5 credit each when actor\n}\n",
    ),
    (
        "quantity_rounding_not_stated",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  base 20 credit per minute\n}\n",
    ),
    (
        "amount_rounding_not_stated",
        "test.rates",
        "+unit video_minute scale 0\nfeature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 1 video_minute per minute rounded up\n}\n",
    ),
    (
        "precision_too_fine",
        "test.rates",
        "+feature chat {\n  input tokens: tokens max 1000000\n  base 0.1 credit per 1000 tokens\n  round credit to 0.001 up\n}\n",
    ),
    (
        "max_missing",
        "test.rates",
        "+feature text {\n  input words: words\n  base 1 credit per 100 words\n}\n",
    ),
    (
        "min_without_quantity",
        "test.rates",
        "+feature image {\n  input model: choice(standard, pro) min 1\n  input hd: flag default no min 1\n  base 24 credit each\n}\n",
    ),
    (
        "min_wrong_unit",
        "test.rates",
        "+feature video {\n  input duration: duration min 100 words max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\n",
    ),
    (
        "min_above_max",
        "test.rates",
        "+feature video {\n  input duration: duration min 5h max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\n",
    ),
    (
        "default_below_min",
        "test.rates",
        "+feature image {\n  input outputs: count default 0 min 1 max 8\n  input variants: count default 2 min 3 max 8\n  base 24 credit each\n  multiply by outputs\n}\n",
    ),
    (
        "default_zero_without_min",
        "test.rates",
        "+feature chat {\n  input tokens: tokens default 0 max 1000000\n  input time: duration default 0s max 1h\n  round time up to 1s\n  base 0.1 credit per 1000 tokens\n  add 1 credit per minute of time\n}\n",
    ),
    (
        "price_without_per",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit\n}\n",
    ),
    (
        "wrong_kind_literal",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per 100 words of duration\n}\n",
    ),
    (
        "per_without_matching_input",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 2 credit per 100 words\n}\n",
    ),
    (
        "times_not_a_count",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute times duration\n  multiply by duration\n}\n",
    ),
    (
        "condition_on_quantity",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute when duration is long\n}\n",
    ),
    (
        "condition_on_undeclared_channel",
        "test.rates",
        "+feature video {\n  base 20 credit each when channel is web\n}\n",
    ),
    (
        "minimum_quantity_without_input",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute\n  minimum 30s\n}\n",
    ),
    (
        "tiers_not_increasing",
        "test.rates",
        "+feature storage {\n  input data: data max 10 TB\n  round data up to 1 GB\n  base volume tiers of data {\n    up to 1 TB: 0.15 credit per GB\n    up to 100 GB: 0.2 credit per GB\n    above: 0.1 credit per GB\n  }\n}\n",
    ),
    (
        "tiers_without_above",
        "test.rates",
        "+feature chat {\n  input tokens: tokens max 2000000\n  base graduated tiers of tokens {\n    up to 1000000 tokens: 0.1 credit per 1000 tokens\n    up to 2000000 tokens: 0.05 credit per 1000 tokens\n  }\n}\n",
    ),
    (
        "number_with_exponent",
        "test.rates",
        "+feature image {\n  base 1e3 credit each\n}\n",
    ),
    (
        "number_too_long",
        "test.rates",
        "+feature image {\n  base 0.1234567890123 credit each\n}\n",
    ),
    (
        "invalid_default",
        "test.rates",
        "+feature video {\n  input model: choice(standard, pro) default premium\n  input duration: duration default 5h max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\n",
    ),
    (
        "too_many_combinations",
        "test.rates",
        "+feature gateway {\n  input a: choice(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20)\n  input b: choice(b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19, b20)\n  input c: choice(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20)\n  base 1 credit each when a is a1 and b is b1 and c is c1\n  base 2 credit each when a is a2\n}\n",
    ),
    (
        "missing_price_for_a_flag",
        "test.rates",
        "+feature video {\n  input actor: flag default no\n  base 5 credit each when actor\n}\n",
    ),
    (
        "minimum_charge_with_condition",
        "test.rates",
        "+feature video {\n  input ad: flag default no\n  base 5 credit each\n  minimum 1 credit when ad\n}\n",
    ),
    (
        "tiers_without_mode_and_out_of_order",
        "test.rates",
        "+feature chat {\n  input tokens: tokens max 2000000\n  base tiers of tokens {\n    above: 0.05 credit per 1000 tokens\n    up to 1000000 tokens: 0.1 credit per 1000 tokens\n  }\n}\n",
    ),
    // ---- Plans ----------------------------------------------------------------------------------
    (
        "grant_without_expiry",
        "test.rates",
        "+plan free {\n  grant 100 credit daily as free\n  order free\n}\n",
    ),
    (
        "rollover_needs_cycle_end",
        "test.rates",
        "+plan pro {\n  cycle monthly calendar\n  grant 5000 credit every cycle as allocation, expires never, rolls over 3 cycles\n  order allocation\n}\n",
    ),
    (
        "every_cycle_without_cycle",
        "test.rates",
        "+plan pro {\n  grant 5000 credit every cycle as allocation, expires end of cycle\n  order allocation\n}\n",
    ),
    (
        "kind_not_in_order",
        "test.rates",
        "+plan pro {\n  cycle monthly calendar\n  grant 5000 credit every cycle as allocation, expires end of cycle\n  topup as top_up, expires never\n  order allocation\n}\n",
    ),
    (
        "order_names_kind_twice",
        "test.rates",
        "+plan pro {\n  grant 100 credit daily as free, expires end of day\n  order free, top_up, free\n}\n",
    ),
    (
        "unknown_refund_reason",
        "test.rates",
        "+plan pro {\n  refund within 30 days for duplicate, fraud\n  refund expired forfeit\n}\n",
    ),
    (
        "amount_finer_than_scale",
        "test.rates",
        "+plan pro {\n  grant 0.001 credit daily as free, expires end of day\n  order free\n  alert below 0.5 credit\n}\n",
    ),
    (
        "unknown_cycle_and_limit",
        "test.rates",
        "+plan pro {\n  cycle weekly\n  limit 60 requests per fortnight\n  limit 4 parallel holds\n}\n",
    ),
    (
        "gate_unknown_feature",
        "test.rates",
        "+feature image {\n  input model: choice(standard, pro)\n  base 1 credit each\n}\nplan free {\n  requires subscription for images when model is pro\n  requires subscription for image when model is premium\n}\n",
    ),
    (
        "feature_statement_in_a_plan",
        "test.rates",
        "+plan pro {\n  input outputs: count max 8\n  limit 4 concurrent holds\n}\n",
    ),
    (
        "refund_policy_incomplete",
        "test.rates",
        "+plan pro {\n  refund within 30 days\n}\n",
    ),
    (
        "late_usage_unknown_unit",
        "test.rates",
        "+plan pro {\n  late usage within 3 weeks\n}\n",
    ),
    (
        "late_usage_too_long",
        "test.rates",
        "+plan pro {\n  late usage within 91 days\n}\n",
    ),
    (
        "late_usage_twice",
        "test.rates",
        "+plan pro {\n  late usage within 3 days\n  late usage within 12 hours\n}\n",
    ),
    (
        "warn_expiry_unknown_unit",
        "test.rates",
        "+plan pro {\n  warn before expiry 2 weeks\n}\n",
    ),
    (
        "warn_expiry_twice",
        "test.rates",
        "+plan pro {\n  warn before expiry 7 days\n  warn before expiry 12 hours\n}\n",
    ),
    (
        "warn_expiry_too_long",
        "test.rates",
        "+plan pro {\n  warn before expiry 366 days\n}\n",
    ),
    (
        "auto_topup_unknown_package",
        "test.rates",
        "+plan pro {\n  package small 10 credit\n  auto topup below 5 credit package smal\n}\n",
    ),
    (
        "auto_topup_twice",
        "test.rates",
        "+plan pro {\n  package small 10 credit\n  auto topup below 5 credit package small\n  auto topup below 2 credit package small\n}\n",
    ),
    (
        "auto_topup_in_a_feature",
        "test.rates",
        "+feature image {\n  base 1 credit each\n  auto topup below 5 credit package small\n}\n",
    ),
    (
        "late_usage_in_a_feature",
        "test.rates",
        "+feature image {\n  base 1 credit each\n  late usage within 3 days\n}\n",
    ),
    // ---- Examples -------------------------------------------------------------------------------
    (
        "expect_unknown_input",
        "test.rates",
        "+feature image {\n  input outputs: count default 1 max 8\n  base 24 credit each\n  multiply by outputs\n}\nexpect image(output: 2) = 48 credit\n",
    ),
    (
        "expect_missing_input",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  input model: choice(pro, ultra)\n  round duration up to 1s\n  base 20 credit per minute when model is pro\n  base 40 credit per minute when model is ultra\n}\nexpect video() = 20 credit\n",
    ),
    (
        "expect_fails",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\nexpect video(duration: 3m30s) = 70 credit\nexpect video(duration: 1s) = 0.34 credit\nexpect video(duration: 1m) = 20 credit\n",
    ),
    (
        "expect_repeats_unit",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nexpect image() = 1 credit, 1 credit\n",
    ),
    (
        "expect_above_max",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\nexpect video(duration: 5h) = 6000 credit\n",
    ),
    (
        "expect_zero_without_min",
        "test.rates",
        "+feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 20 credit per minute\n  minimum 1 credit\n}\nexpect video(duration: 0s) = 1 credit\n",
    ),
    (
        "expect_below_min",
        "test.rates",
        "+feature video {\n  input duration: duration min 1s max 4h\n  round duration up to 1s\n  base 20 credit per minute\n}\nexpect video(duration: 500ms) = 0.33 credit\n",
    ),
    // ---- Several errors in one file ---------------------------------------------------------------
    // ---- Limits the API shares -----------------------------------------------------------------
    (
        "name_too_long_feature",
        "test.rates",
        "+feature video_generation_with_a_very_long_descriptive_name_for_the_catalo {\n  base 1 credit each\n}\n",
    ),
    (
        "name_too_long_choice",
        "test.rates",
        "+feature image {\n  input model: choice(pro, ultra_high_definition_with_extended_frame_rate_and_hdr_colour_xyz)\n  base 1 credit each\n}\n",
    ),
    (
        "name_too_long_plan",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nplan professional_annual_plan_for_large_teams_with_priority_supports_x {\n  order top_up\n  topup as top_up, expires never\n}\n",
    ),
    // ---- Amounts a unit can store -------------------------------------------------------------
    (
        "amount_too_large_per",
        "test.rates",
        "book test\neffective 2025-01-01\nunit credit scale 12 round half-up\nfeature image {\n  input images: images max 1000\n  base 10000 credit per image\n}\n",
    ),
    (
        "amount_too_large_multiplied",
        "test.rates",
        "book test\neffective 2025-01-01\nunit credit scale 12 round half-up\nfeature image {\n  input outputs: count max 1000\n  base 10000 credit each\n  multiply by outputs\n}\n",
    ),
    (
        "amount_too_large_times",
        "test.rates",
        "book test\neffective 2025-01-01\nunit credit scale 12 round half-up\nfeature image {\n  input outputs: count max 100\n  input seconds: duration max 1h\n  round seconds up to 1s\n  base 50 credit per second of seconds times outputs\n}\n",
    ),
    (
        "amount_too_large_tiers",
        "test.rates",
        "book test\neffective 2025-01-01\nunit credit scale 12 round half-up\nfeature image {\n  input images: images max 1000\n  base graduated tiers of images {\n    up to 10 images: 1 credit per image\n    above: 10000 credit per image\n  }\n}\n",
    ),
    // ---- Kinds nothing holds ------------------------------------------------------------------
    (
        "order_kind_never_held",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nplan free {\n  cycle monthly from purchase\n  grant 100 credit every cycle as allocation, expires end of cycle\n  order allocation, bonus\n}\n",
    ),
    (
        "order_kind_misspelt",
        "test.rates",
        "+feature image {\n  base 1 credit each\n}\nplan free {\n  cycle monthly from purchase\n  grant 100 credit every cycle as allocation, expires end of cycle\n  order alocation\n}\n",
    ),
    (
        "several_errors",
        "test.rates",
        "+feature video \"Video\" {\n  input duration: duration\n  input model: choice(pro, ultra)\n  base 20 credits per minute when model is pro\n  base 40 credit per minute when model is ultra\n  base 45 credit per minute when model is ultra\n}\nplan free {\n  grant 100 credit daily as free\n  order free, free\n  refund within 30 days for duplicate, mistake\n  refund expired forfeit\n}\nexpect vidoe(duration: 1m) = 20 credit\n",
    ),
];

#[test]
fn every_case_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, file_name, raw) in CASES {
            let source = source_of(HEAD, raw);
            let rendered = render(&diagnostics_of(file_name, &source));
            insta::assert_snapshot!(
                *name,
                format!("FILE {file_name}\nSOURCE\n{source}\nERROR\n{rendered}")
            );
        }
    });
}

#[test]
fn there_are_at_least_35_distinct_cases() {
    let mut names: Vec<&str> = CASES.iter().map(|(name, _, _)| *name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be unique");
    assert!(CASES.len() >= 35);
}

#[test]
fn every_error_points_at_the_source() {
    for (name, file_name, raw) in CASES {
        let source = source_of(HEAD, raw);
        let diagnostics = diagnostics_of(file_name, &source);
        assert!(!diagnostics.is_empty(), "{name}: no errors");
        for error in diagnostics.errors() {
            let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
            assert!(!labels.is_empty(), "{name}: `{error}` has no label");
            for label in labels {
                assert!(
                    label.offset() + label.len() <= source.len(),
                    "{name}: `{error}` points past the end"
                );
            }
            assert!(error.help().is_some(), "{name}: `{error}` has no help");
            let message = error.to_string();
            assert!(
                !message.ends_with('.'),
                "{name}: `{message}` ends with a period"
            );
            assert!(
                message.starts_with(|c: char| !c.is_ascii_uppercase()),
                "{name}: `{message}` starts with a capital"
            );
        }
    }
}

#[test]
fn every_error_in_a_file_is_reported() {
    let source = source_of(
        HEAD,
        CASES
            .iter()
            .find(|(name, _, _)| *name == "several_errors")
            .map(|(_, _, raw)| *raw)
            .unwrap(),
    );
    let diagnostics = diagnostics_of("test.rates", &source);
    let codes: Vec<String> = diagnostics
        .errors()
        .iter()
        .map(|error| {
            error
                .code()
                .map(|code| code.to_string())
                .unwrap_or_default()
        })
        .collect();
    for expected in [
        "rates::max_missing",
        "rates::unknown_unit",
        "rates::conflicting_rules",
        "rates::quantity_rounding_not_stated",
        "rates::grant_without_expiry",
        "rates::repeated",
        "rates::unknown_word",
        "rates::unknown_feature",
    ] {
        assert!(
            codes.iter().any(|code| code == expected),
            "{expected} missing from {codes:?}"
        );
    }
    assert!(diagnostics.len() >= 8);
}

#[test]
fn a_file_over_256_kib_is_refused_before_parsing() {
    let mut source = source_of(HEAD, "+");
    while source.len() <= 256 * 1024 {
        source.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let diagnostics = diagnostics_of("test.rates", &source);
    assert!(matches!(diagnostics.errors(), [BookError::TooLarge { .. }]));
    assert_eq!(
        diagnostics.errors()[0].to_string(),
        "the file is 257 KiB, more than the 256 KiB a rate file may hold"
    );
}

#[test]
fn two_versions_with_the_same_effective_date_are_refused() {
    let first = source_of(HEAD, "+feature image {\n  base 1 credit each\n}\n");
    let second = first.replace("base 1 credit", "base 2 credit");
    let errors = RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), first),
        ("test@2025-01-01.rates".to_owned(), second.clone()),
    ])
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    let rendered = render(&errors[0]);
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(
            "same_effective_date",
            format!("FILE test@2025-01-01.rates\nSOURCE\n{second}\nERROR\n{rendered}")
        );
    });
}
