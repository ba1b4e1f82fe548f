//! Two instances over one store whose clocks disagree (`docs/clocks.md`): within the allowed
//! skew both decide; beyond it the instance whose clock is behind the account's last
//! decision answers 503 and writes nothing, instead of deciding in another machine's future.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use chrono::TimeDelta;
use serde_json::json;

use common::{Harness, Reply, start};
use credits_api::Clock;
use credits_store::Store;
use credits_store::sqlite::SqliteStore;

/// Two instances over one SQLite file; each has its own clock, both at `start()`.
fn two_instances(dir: &tempfile::TempDir) -> (Harness, Harness) {
    let path = dir.path().join("credits.db");
    let one: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let two: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    (Harness::over(one), Harness::over(two))
}

async fn top_up(instance: &Harness, id: &str) -> Reply {
    instance
        .admin(
            Method::POST,
            "/v1/accounts/acme/topups",
            Some(json!({"id": id, "amount": "100"})),
        )
        .await
}

/// The guard against a slow clock was dead code: an instance days behind decided every
/// request at the account's (future) instant.
#[tokio::test]
async fn an_instance_days_behind_the_account_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = two_instances(&dir);
    fast.clock.set(start() + TimeDelta::days(3));
    fast.account("acme", "imentiv/professional", Some("1000"))
        .await;
    let reply = top_up(&fast, "t-fast-1").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    let entries = fast.entry_count("acme").await;

    for reply in [
        top_up(&slow, "t-slow-1").await,
        slow.admin(
            Method::POST,
            "/v1/accounts/acme/charges",
            Some(json!({"id": "c-slow-1", "feature": "video_emotion", "inputs": {"duration": "90s"}})),
        )
        .await,
        slow.admin(
            Method::PUT,
            "/v1/accounts/acme",
            Some(json!({"plan": "imentiv/professional", "time_zone": "Europe/Paris"})),
        )
        .await,
    ] {
        reply.problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(reply.headers.contains_key(header::RETRY_AFTER), "{reply:#?}");
    }
    assert_eq!(
        fast.entry_count("acme").await,
        entries,
        "the slow instance wrote"
    );

    // The fast instance goes on working.
    let reply = top_up(&fast, "t-fast-2").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(fast.available("acme", "credit").await, "1200.00");

    // Once the slow clock is corrected, the refused request succeeds with the same id.
    slow.clock.set(fast.clock.now());
    let reply = top_up(&slow, "t-slow-1").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    assert_eq!(fast.available("acme", "credit").await, "1300.00");
}

#[tokio::test]
async fn instances_two_seconds_apart_both_decide() {
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = two_instances(&dir);
    fast.clock.set(start() + TimeDelta::seconds(2));
    fast.account("acme", "imentiv/professional", Some("1000"))
        .await;
    for round in 0..3 {
        let reply = top_up(&fast, &format!("t-fast-{round}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
        let reply = top_up(&slow, &format!("t-slow-{round}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    }
    assert_eq!(slow.available("acme", "credit").await, "1600.00");
}
