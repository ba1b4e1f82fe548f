//! The seed scenarios (`credits_tests::scenarios`) through the real router, in process,
//! over an in-memory SQLite store with a clock the scenarios move across days, cycles and
//! months. Every scenario runs here, time travel included.
//!
//! `cargo test -p credits-tests --test scenarios_http`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use chrono::{TimeZone, Utc};
use credits_tests::scenarios::{self, transport::InProcess};

/// Generates one test per scenario: a fresh router over a fresh in-memory SQLite store.
macro_rules! over_sqlite {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            let client = InProcess::sqlite(start).unwrap_or_else(|error| panic!("{error}"));
            if let Err(error) = scenarios::$module::$name(&client).await {
                panic!("scenario `{}` over {}:\n{error}", stringify!($name), client.name());
            }
        }
    )*};
}

over_sqlite!(
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
