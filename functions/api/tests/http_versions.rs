//! An account idle across a change of rate-book version, brought up to date through the
//! real router on SQLite: by a charge, by a read, and by the rollover walk's catch-up
//! (`service::advance_idle`). Each period's grants come from the version in force in it
//! (`dsl/LANGUAGE.md`, "Versions of a book").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use common::Harness;
use credits_api::RateLibrary;
use credits_store::EntryQuery;

/// Book `test` effective `effective`: `allocation` credits a calendar month (usable two
/// months after their own) and `daily` free credits a day.
fn version(effective: &str, allocation: u32, daily: u32) -> String {
    format!(
        "book test
effective {effective}
time_zone \"UTC\"
unit credit scale 0 round up
feature image {{
  base 1 credit each
}}
plan pro {{
  cycle monthly calendar
  grant {allocation} credit every cycle as allocation, expires end of cycle, rolls over 2 cycles
  grant {daily} credit daily as free, expires end of day
  order free, allocation, top_up
  topup as top_up, expires never
}}
"
    )
}

/// 1,000 a month and 10 a day in 2026; 2,000 and 20 from 2027-01-01.
fn harness() -> Harness {
    let library = RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), version("2026-01-01", 1000, 10)),
        (
            "test@2027-01-01.rates".to_owned(),
            version("2027-01-01", 2000, 20),
        ),
    ])
    .unwrap();
    Harness::with_library(library)
}

fn at(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0).unwrap()
}

/// `(period start, amount)` of the account's allocations, as stored.
async fn allocations(harness: &Harness, account: &str) -> Vec<(String, i64)> {
    let query = EntryQuery {
        account: account.to_owned(),
        ..EntryQuery::default()
    };
    let page = harness.store.entries(&query).await.unwrap();
    assert!(page.next.is_none(), "one page holds the account");
    page.entries
        .iter()
        .filter(|entry| entry.entry_type == "grant" && entry.body["kind"] == "allocation")
        .map(|entry| {
            (
                entry.body["period_start"].as_str().unwrap().to_owned(),
                entry.amount_minor,
            )
        })
        .collect()
}

/// November and December under the first version, January under the second.
const EXPECTED: [(&str, i64); 3] = [
    ("2026-11-01T00:00:00Z", 1000),
    ("2026-12-01T00:00:00Z", 1000),
    ("2027-01-01T00:00:00Z", 2000),
];

fn expected() -> Vec<(String, i64)> {
    EXPECTED
        .iter()
        .map(|(start, amount)| ((*start).to_owned(), *amount))
        .collect()
}

#[tokio::test]
async fn an_account_idle_across_a_version_change_gets_each_periods_grants_from_its_version() {
    let harness = harness();
    harness.clock.set(at(2026, 11, 15, 10));
    for account in ["charged", "walked", "read"] {
        harness.account(account, "test/pro", None).await;
    }
    harness.clock.set(at(2027, 1, 10, 12));

    // A read advances in memory: November's 1,000 and December's 1,000 of the first
    // version, January's 2,000 and today's 20 of the second.
    assert_eq!(harness.available("read", "credit").await, "4020");

    // A charge after the idle stretch commits the catch-up with it.
    let reply = harness
        .admin(
            Method::POST,
            "/v1/accounts/charged/charges",
            Some(json!({"id": "c1", "feature": "image", "inputs": {}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(allocations(&harness, "charged").await, expected());
    assert_eq!(harness.available("charged", "credit").await, "4019");

    // The rollover walk's catch-up gives the same.
    credits_api::service::advance_idle(&harness.state, "walked", "rollover:test")
        .await
        .unwrap();
    assert_eq!(allocations(&harness, "walked").await, expected());
    assert_eq!(harness.available("walked", "credit").await, "4020");
}
