//! End-to-end scenarios of the five seed policies, through the real HTTP API.
//!
//! Each scenario is written ONCE, as an `async fn(&Client) -> Result<(), String>` that only
//! speaks HTTP (method, path, JSON body, bearer key) to a [`Client`], and asserts exact
//! balances, bucket kinds, `paid_from` order, the entries written and the status codes. A
//! [`Client`] runs over one of three transports (see [`transport`]):
//!
//! 1. [`transport::InProcess`] over `SqliteStore::in_memory()`: the real router driven with
//!    `tower::ServiceExt::oneshot`, with a `FixedClock` the scenario moves across days,
//!    cycles and months (`tests/tests/scenarios_http.rs`);
//! 2. [`transport::Serve`]: a real `credits serve --dynamodb-endpoint <DynamoDB Local>
//!    --table <unique>` child process on a free loopback port, driven with reqwest. It runs on
//!    the system clock, so it only runs the scenarios that need no time travel, plus those
//!    that wait a few real seconds for a subscription period to end (anchored in the past so
//!    that the period ends moments after the account is created);
//! 3. [`transport::InProcess`] over a `DynamoStore` on DynamoDB Local with the `FixedClock`:
//!    every scenario, time travel included, on the production store
//!    (`tests/tests/scenarios_serve_dynamodb.rs` runs 2 and 3).
//!
//! Time: a scenario calls [`Client::start_at`] with the instant it would like to begin at
//! (transports with a fixed clock go there; the system clock stays where it is) and moves on
//! with [`Client::travel_to`], which a system-clock transport honours only for short hops
//! (it sleeps) and refuses otherwise. The scenarios listed in [`NEEDS_TIME_TRAVEL`] call
//! [`Client::require_time_travel`] first.
//!
//! Code here returns `Result<_, String>` (no unwrap or panic); the test files turn an `Err`
//! into a failure naming the scenario and the transport.

pub mod ai_engine;
pub mod check;
pub mod client;
pub mod ergonomics;
pub mod holds;
pub mod imagineart;
pub mod imentiv;
pub mod invideo;
pub mod short;
pub mod transport;

pub use client::{Client, Reply};

/// Scenarios that move the clock across days, cycles or months: they need a transport with
/// a settable clock (the in-process router, over SQLite or DynamoDB).
pub const NEEDS_TIME_TRAVEL: &[&str] = &[
    "imagineart_free_daily_credits_do_not_accumulate",
    "imagineart_free_credits_follow_the_account_time_zone",
    "imagineart_subscription_renews_on_the_purchase_date_and_spends_free_subscription_top_up",
    "imagineart_quarterly_subscription_is_assigned_monthly",
    "imentiv_professional_allocation_rolls_over_and_is_forfeited_after_cancellation",
    "imentiv_refund_window_is_30_days",
    "ai_engine_standard_credits_expire_at_month_end",
    "ai_engine_statement_of_a_month_counts_its_expiry",
    "ai_engine_professional_credits_roll_over_three_cycles",
    "holds_can_be_looked_up_in_every_state",
];
