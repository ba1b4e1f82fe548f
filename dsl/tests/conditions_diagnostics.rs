//! Misuse of derived quantities, clamps, conditions on quantities and on the plan, refusals
//! and allowed values, and what a product manager reads: each snapshot (`tests/snapshots/`)
//! shows the SOURCE and then the ERROR exactly as `credits rates check` renders it.
//! Regenerate with `INSTA_UPDATE=always cargo test -p credits-dsl --test
//! conditions_diagnostics` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::compile_source;

use common::render;

const HEAD: &str = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n";

const PLANS: &str = "plan free {\n  order top_up\n  topup as top_up, expires never\n}\nplan business {\n  order top_up\n  topup as top_up, expires never\n}\n";

/// `(case name, source after HEAD)`; `{plans}` is replaced by two plans.
const CASES: &[(&str, &str)] = &[
    (
        "plan_condition_unknown_plan",
        "feature video {\n  base 1 credit each when plan is gold\n  base 2 credit each when plan is free or business\n}\n{plans}",
    ),
    (
        "plan_condition_missing_price",
        "feature video {\n  base 1 credit each when plan is free\n}\n{plans}",
    ),
    (
        "plan_as_input_name",
        "feature video {\n  input plan: choice(free, business)\n  base 1 credit each\n}\n",
    ),
    (
        "example_unknown_plan",
        "feature video {\n  base 1 credit each when plan is free\n  base 2 credit each when plan is business\n}\n{plans}expect video(plan: enterprise) = 1 credit\n",
    ),
    (
        "example_without_plan",
        "feature video {\n  base 1 credit each when plan is free\n  base 2 credit each when plan is business\n}\n{plans}expect video() = 1 credit\n",
    ),
    (
        "quantity_condition_on_choice",
        "feature chat {\n  input model: choice(small, large)\n  base 1 credit each when model above 2\n}\n",
    ),
    (
        "quantity_condition_wrong_unit",
        "feature chat {\n  input context: tokens max 1000000\n  base 1 credit per 1000 tokens of context when context above 200000 tokens\n  base 2 credit per 1000 tokens of context when context at least 5m\n}\n",
    ),
    (
        "quantity_condition_leaves_a_gap",
        "feature chat {\n  input context: tokens max 1000000\n  base 1 credit per 1000 tokens of context when context below 200000 tokens\n  base 2 credit per 1000 tokens of context when context above 200000 tokens\n}\n",
    ),
    (
        "quantity_condition_in_a_minimum",
        "feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  minimum 1m of duration when duration above 30s\n  base 1 credit per minute of duration\n}\n",
    ),
    (
        "quantity_condition_in_a_gate",
        "feature video {\n  input duration: duration max 4h\n  round duration up to 1s\n  base 1 credit per minute of duration\n}\nplan free {\n  order top_up\n  topup as top_up, expires never\n  requires subscription for video when duration above 1h\n}\n",
    ),
    (
        "derived_adds_tokens_to_seconds",
        "feature chat {\n  input prompt: tokens max 100000\n  input audio: duration max 1h\n  quantity context = prompt + audio\n  base 1 credit per 1000 tokens of context\n}\n",
    ),
    (
        "derived_constant_in_another_unit",
        "feature chat {\n  input prompt: tokens max 100000\n  quantity context = prompt + 5s\n  base 1 credit per 1000 tokens of context\n}\n",
    ),
    (
        "derived_mixes_operators",
        "feature upscale {\n  input width: count max 8192\n  input height: count max 8192\n  input outputs: count max 4\n  quantity pixels = width * height + outputs\n  base 1 credit per 1000000 of pixels\n}\n",
    ),
    (
        "derived_multiplies_two_measures",
        "feature dub {\n  input duration: duration max 1h\n  input text: words max 10000\n  quantity work = duration * text\n  base 1 credit each\n}\n",
    ),
    (
        "derived_given_in_example",
        "feature chat {\n  input prompt: tokens max 100000\n  quantity context = prompt + 500 tokens\n  base 1 credit per 1000 tokens of context\n}\nexpect chat(prompt: 500, context: 1000) = 1 credit\n",
    ),
    (
        "maximum_without_input",
        "feature session {\n  input duration: duration max 8h\n  round duration up to 1m\n  maximum 3h\n  base 10 credit per hour of duration\n}\n",
    ),
    (
        "maximum_of_a_flag",
        "feature session {\n  input live: flag default no\n  maximum 3 of live\n  base 10 credit each\n}\n",
    ),
    (
        "refuse_without_when",
        "feature video {\n  base 1 credit each\n  refuse \"video is retired\"\n}\n",
    ),
    (
        "refuse_empty_message",
        "feature video {\n  input fast: flag default no\n  base 1 credit each\n  refuse \"\" when fast\n}\n",
    ),
    (
        "allowed_value_above_max",
        "feature clip {\n  input duration: duration max 10s one of 5s, 10s, 20s\n  base 1 credit per 5s of duration\n}\n",
    ),
    (
        "allowed_values_on_a_choice",
        "feature clip {\n  input model: choice(a, b) one of 5, 10\n  base 1 credit each\n}\n",
    ),
    (
        "allowed_default_not_listed",
        "feature clip {\n  input duration: duration one of 5s, 10s default 7s\n  base 1 credit per 5s of duration\n}\n",
    ),
    (
        "example_value_not_allowed",
        "feature clip {\n  input duration: duration one of 5s, 10s\n  base 1 credit per 5s of duration\n}\nexpect clip(duration: 7s) = 1 credit\n",
    ),
];

#[test]
fn every_case_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, body) in CASES {
            let source = format!("{HEAD}{}", body.replace("{plans}", PLANS));
            let diagnostics = match compile_source("test.rates", &source) {
                Ok(_) => panic!("{name} compiled but should not:\n{source}"),
                Err(diagnostics) => diagnostics,
            };
            insta::assert_snapshot!(
                *name,
                format!(
                    "FILE test.rates\nSOURCE\n{source}\nERROR\n{}",
                    render(&diagnostics)
                )
            );
        }
    });
}
