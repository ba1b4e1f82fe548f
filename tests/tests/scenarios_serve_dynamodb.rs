//! The seed scenarios (`credits_tests::scenarios`) on DynamoDB Local (one emulator for this
//! test binary, `DynamoDbLocal::shared()`; a fresh table per test):
//!
//! * `serve::*`: through a real `credits serve --dynamodb-endpoint <emulator> --table
//!   <unique>` child process on a free loopback port, driven with reqwest (one server per
//!   test, killed when the test ends). The server runs on the system clock, so only the
//!   scenarios that need no time travel run here; two of them wait a few real seconds for
//!   a subscription period, anchored in the past, to end.
//! * `router::*`: every scenario, time travel included, through the real router in process
//!   over a `DynamoStore` on the emulator, with the test clock.
//!
//! The `credits` binary: `CREDITS_BIN`, else `cargo build -p credits --bin credits` into this
//! test binary's target directory (see `credits_tests::scenarios::transport`).
//!
//! `cargo test -p credits-tests --test scenarios_serve_dynamodb`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use credits_store_dynamodb::{DynamoStore, create_table};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::scenarios::transport::{InProcess, Serve};
use credits_tests::scenarios::{self, Client, NEEDS_TIME_TRAVEL};

fn local() -> &'static DynamoDbLocal {
    DynamoDbLocal::shared().unwrap_or_else(|error| panic!("DynamoDB Local did not start: {error}"))
}

/// A `credits serve` over a new table of the shared emulator.
fn serve_client() -> Client {
    let local = local();
    let table = unique_table_name("scenarios-serve");
    match Serve::start(&local.endpoint_url(), &table) {
        Ok(serve) => serve.client(),
        Err(error) => panic!(
            "`credits serve --dynamodb-endpoint {} --table {table}` did not start:\n{error}",
            local.endpoint_url()
        ),
    }
}

/// The in-process router over a `DynamoStore` on a new table of the shared emulator.
async fn router_client() -> Client {
    let local = local();
    let dynamodb = local.client().await;
    let table = unique_table_name("scenarios-router");
    create_table(&dynamodb, &table)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot create `{table}`: {error}\n{}",
                local.recent_output()
            )
        });
    let store = DynamoStore::new(dynamodb, table);
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    InProcess::client(
        "in-process router over DynamoDB Local",
        Arc::new(store),
        start,
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

fn fail(name: &str, client: &Client, error: &str) -> ! {
    let output = client.diagnostics();
    let output = if output.is_empty() {
        String::new()
    } else {
        format!("\nserver output:\n{output}")
    };
    panic!("scenario `{name}` over {}:\n{error}{output}", client.name());
}

mod serve {
    use super::*;

    macro_rules! over_serve {
        ($($module:ident :: $name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                assert!(
                    !NEEDS_TIME_TRAVEL.contains(&stringify!($name)),
                    "`{}` needs time travel; `credits serve` runs on the system clock",
                    stringify!($name)
                );
                let client = serve_client();
                if let Err(error) = scenarios::$module::$name(&client).await {
                    fail(stringify!($name), &client, &error);
                }
            }
        )*};
    }

    over_serve!(
        imagineart::imagineart_pro_models_and_top_ups_need_a_subscription,
        imagineart::imagineart_consumption_order_is_free_subscription_top_up,
        imagineart::imagineart_after_the_subscription_ends_top_ups_stay_spendable,
        imentiv::imentiv_cancelled_subscription_forfeits_the_allocation_at_period_end,
        imentiv::imentiv_first_personality_analysis_is_free_after_a_core_analysis,
        imentiv::imentiv_refund_of_a_duplicate_charge,
        ai_engine::ai_engine_packages_and_enterprise_credit_line,
        invideo::invideo_one_charge_spends_credits_and_video_minutes,
        short::short_of_credits_is_402_and_writes_nothing,
        ergonomics::client_ergonomics_hold_on_every_store,
    );
}

mod router {
    use super::*;

    macro_rules! over_dynamodb_router {
        ($($module:ident :: $name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let client = router_client().await;
                if let Err(error) = scenarios::$module::$name(&client).await {
                    fail(stringify!($name), &client, &error);
                }
            }
        )*};
    }

    over_dynamodb_router!(
        imagineart::imagineart_free_daily_credits_do_not_accumulate,
        imagineart::imagineart_pro_models_and_top_ups_need_a_subscription,
        imagineart::imagineart_free_credits_follow_the_account_time_zone,
        imagineart::imagineart_subscription_renews_on_the_purchase_date_and_spends_free_subscription_top_up,
        imagineart::imagineart_quarterly_subscription_is_assigned_monthly,
        imagineart::imagineart_consumption_order_is_free_subscription_top_up,
        imagineart::imagineart_after_the_subscription_ends_top_ups_stay_spendable,
        imentiv::imentiv_professional_allocation_rolls_over_and_is_forfeited_after_cancellation,
        imentiv::imentiv_cancelled_subscription_forfeits_the_allocation_at_period_end,
        imentiv::imentiv_first_personality_analysis_is_free_after_a_core_analysis,
        imentiv::imentiv_refund_of_a_duplicate_charge,
        imentiv::imentiv_refund_window_is_30_days,
        ai_engine::ai_engine_standard_credits_expire_at_month_end,
        ai_engine::ai_engine_statement_of_a_month_counts_its_expiry,
        ai_engine::ai_engine_professional_credits_roll_over_three_cycles,
        ai_engine::ai_engine_packages_and_enterprise_credit_line,
        invideo::invideo_one_charge_spends_credits_and_video_minutes,
        short::short_of_credits_is_402_and_writes_nothing,
        holds::holds_can_be_looked_up_in_every_state,
        ergonomics::client_ergonomics_hold_on_every_store,
    );
}
