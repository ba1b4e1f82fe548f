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

async fn statement(harness: &Harness, cycle: &str) -> serde_json::Value {
    let reply = harness
        .admin(
            Method::GET,
            &format!("/v1/accounts/acme/statements/{cycle}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{cycle}: {reply:#?}");
    reply.json
}

async fn charge(harness: &Harness, id: &str) {
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": id, "feature": "video_emotion", "inputs": {"duration": "10s"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
}

/// An ended cycle's statement is final: the same after the account moved on, and every
/// cycle opens at the previous one's closing, idle cycles included.
#[tokio::test]
async fn an_ended_cycle_statement_never_changes() {
    let harness = Harness::new();
    // Cycles `monthly from purchase`: from the 15th, 10:00 UTC.
    harness
        .account("acme", "imentiv/professional", Some("1000"))
        .await;
    charge(&harness, "c-1").await;
    let january = statement(&harness, "2026-01").await;
    assert_eq!(january["closed"], false);
    assert_eq!(january["starts_at"], "2026-01-15T10:00:00Z");
    assert_eq!(january["ends_at"], "2026-02-15T10:00:00Z");
    let credit = &january["units"]["credit"];
    assert_eq!(credit["opening"], "0.00", "{january:#}");
    assert_eq!(credit["top_ups"], "1000.00", "{january:#}");
    assert_eq!(credit["usage"], "10.00", "{january:#}");
    assert_eq!(credit["usage_by_feature"]["video_emotion"], "10.00");
    assert_eq!(credit["closing"], "990.00", "{january:#}");

    harness
        .clock
        .set(Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap());
    charge(&harness, "c-2").await;
    harness
        .clock
        .set(Utc.with_ymd_and_hms(2026, 4, 20, 9, 0, 0).unwrap());
    charge(&harness, "c-3").await;

    let mut closed_january = statement(&harness, "2026-01").await;
    assert_eq!(closed_january["closed"], true);
    closed_january["closed"] = json!(false);
    assert_eq!(
        closed_january, january,
        "an ended cycle's statement is final"
    );
    let february = statement(&harness, "2026-02").await;
    assert_eq!(february["units"]["credit"]["opening"], "990.00");
    assert_eq!(february["units"]["credit"]["usage"], "10.00");
    assert_eq!(february["units"]["credit"]["closing"], "980.00");
    // March had no activity: it opens and closes at February's closing.
    let march = statement(&harness, "2026-03").await;
    assert_eq!(march["starts_at"], "2026-03-15T10:00:00Z");
    assert_eq!(march["units"]["credit"]["opening"], "980.00");
    assert_eq!(march["units"]["credit"]["usage"], "0.00");
    assert_eq!(march["units"]["credit"]["closing"], "980.00");
    let april = statement(&harness, "2026-04").await;
    assert_eq!(april["closed"], false);
    assert_eq!(april["units"]["credit"]["opening"], "980.00");
    assert_eq!(april["units"]["credit"]["closing"], "970.00");
    // Before the account: nothing; after the open cycle: its closing, carried.
    let december = statement(&harness, "2025-12").await;
    assert_eq!(december["units"], json!({}));
    let june = statement(&harness, "2026-06").await;
    assert_eq!(june["units"]["credit"]["opening"], "970.00");
    assert_eq!(june["units"]["credit"]["closing"], "970.00");
}
