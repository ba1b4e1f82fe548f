//! Cycle statements through the router: the rules of `docs/statements.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use chrono::{TimeZone, Utc};
use common::Harness;
use serde_json::json;

/// Chile starts summer time at midnight: 2026-09-06 00:00 does not exist in
/// `America/Santiago`. Its statement used to answer 400 because the day's start was
/// resolved by a second, stricter rule than the ledger's.
#[tokio::test]
async fn a_statement_on_a_day_without_midnight_answers() {
    let harness = Harness::new();
    harness
        .clock
        .set(Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).unwrap());
    let reply = harness
        .admin(
            Method::PUT,
            "/v1/accounts/cl",
            Some(json!({ "plan": "imentiv/professional", "time_zone": "America/Santiago" })),
        )
        .await;
    assert!(reply.status.is_success(), "{reply:#?}");
    harness
        .clock
        .set(Utc.with_ymd_and_hms(2026, 9, 10, 12, 0, 0).unwrap());
    for cycle in [
        "2026-09-06",
        "2026-09-05",
        "2026-09-07",
        "2026-09",
        "2026-08",
    ] {
        let reply = harness
            .admin(
                Method::GET,
                &format!("/v1/accounts/cl/statements/{cycle}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{cycle}: {reply:#?}");
    }
}
