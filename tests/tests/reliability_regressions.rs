//! One regression test per bug the reliability suite found, named after it, with a comment
//! saying what broke. Tests of bugs that are not fixed yet are `#[ignore]`d with the reason;
//! run them with `cargo test -p credits-tests --test reliability_regressions -- --ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use http::Method;
use serde_json::json;

use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_tests::faults::{FaultConfig, FaultStore};
use credits_tests::sim::env::{ADMIN_KEY, Deployment, start_time};
use credits_tests::sim::http::{ApiRequest, Reply, send};

async fn post(deployment: &Deployment, path: &str, body: serde_json::Value) -> Reply {
    let request = ApiRequest::new(Method::POST, path, Some(ADMIN_KEY)).json(&body);
    send(deployment.router().unwrap(), &request).await.unwrap()
}

/// Bug: a refund's facts (what earlier refunds of the charge returned) are read by walking
/// EVERY refund entry of the account, at most 20 store pages (`facts::all_entries`,
/// `MAX_FACT_PAGES`), and silently stopping there. A store may answer short pages (the
/// contract allows it, DynamoDB does when it filters; on a busy account 20 pages are simply
/// not the whole history), so earlier refunds of a charge go unseen and the charge can be
/// refunded again: refunds exceed the charge, credits are created from nothing.
#[tokio::test]
async fn refunds_never_exceed_the_charge_when_the_store_answers_short_pages() {
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let short_pages = FaultConfig {
        short_pages: Some(1),
        ..FaultConfig::NONE
    };
    let store: Arc<dyn Store> = Arc::new(FaultStore::new(inner, short_pages, 7));
    let deployment = Deployment::new(store, 1, start_time().unwrap()).unwrap();
    let reply = send(
        deployment.router().unwrap(),
        &ApiRequest::new(Method::PUT, "/v1/accounts/acme", Some(ADMIN_KEY))
            .json(&json!({ "plan": "imini/prepaid" })),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 201, "{}", reply.short());
    let reply = post(
        &deployment,
        "/v1/accounts/acme/topups",
        json!({"id": "t", "amount": "1000"}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.short());
    let charge = json!({"feature": "image_generation", "inputs": {"model": "flux_schnell"}});
    // 21 charges refunded in full: 21 refund entries, more than 20 one-entry pages.
    for n in 0..21 {
        let mut body = charge.clone();
        body["id"] = json!(format!("c{n}"));
        let reply = post(&deployment, "/v1/accounts/acme/charges", body).await;
        assert_eq!(reply.status, 201, "{}", reply.short());
        let reply = post(
            &deployment,
            "/v1/accounts/acme/refunds",
            json!({"id": format!("r{n}"), "charge": format!("c{n}"), "reason": "internal_error"}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.short());
    }
    let mut body = charge.clone();
    body["id"] = json!("victim");
    let reply = post(&deployment, "/v1/accounts/acme/charges", body).await;
    assert_eq!(reply.status, 201, "{}", reply.short());
    let first = post(
        &deployment,
        "/v1/accounts/acme/refunds",
        json!({"id": "victim-r1", "charge": "victim", "reason": "internal_error"}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.short());
    // The charge is refunded in full: a second refund must be refused.
    let second = post(
        &deployment,
        "/v1/accounts/acme/refunds",
        json!({"id": "victim-r2", "charge": "victim", "reason": "internal_error"}),
    )
    .await;
    assert_eq!(
        second.status,
        422,
        "a fully refunded charge was refunded again: {}",
        second.short()
    );
}

async fn create(deployment: &Deployment, instance: usize, account: &str, plan: &str) {
    let request = ApiRequest::new(
        Method::PUT,
        format!("/v1/accounts/{account}"),
        Some(ADMIN_KEY),
    )
    .json(&json!({ "plan": plan }));
    let reply = send(&deployment.routers[instance], &request).await.unwrap();
    assert_eq!(reply.status, 201, "{}", reply.short());
}

/// Bug (pipelined commits, `service::mutate`): a decision made on a speculative snapshot
/// (its predecessor's commit still in flight) reads its facts — the earlier refunds of a
/// charge — from the store, where the predecessor's entries are not yet. The version check
/// does not cover that (the decision's expected version IS the predecessor's), so two full
/// refunds of one charge, one right behind the other on one instance, both land: the charge
/// is refunded twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_decided_behind_a_commit_in_flight_see_the_earlier_refunds() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join(format!("refunds-{round}.db"))).unwrap());
        let deployment = Arc::new(Deployment::new(store, 1, start_time().unwrap()).unwrap());
        create(&deployment, 0, "acme", "imini/prepaid").await;
        let reply = post(
            &deployment,
            "/v1/accounts/acme/topups",
            json!({"id": "t", "amount": "1000"}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.short());
        let reply = post(
            &deployment,
            "/v1/accounts/acme/charges",
            json!({"id": "c", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.short());
        let mut refunds = tokio::task::JoinSet::new();
        for n in 0..6 {
            let deployment = Arc::clone(&deployment);
            refunds.spawn(async move {
                post(
                    &deployment,
                    "/v1/accounts/acme/refunds",
                    json!({"id": format!("r{n}"), "charge": "c", "reason": "internal_error"}),
                )
                .await
            });
        }
        let mut refunded = Vec::new();
        while let Some(reply) = refunds.join_next().await {
            let reply = reply.unwrap();
            if reply.status.is_success() {
                refunded.push(reply.json["id"].to_string());
            }
        }
        assert!(
            refunded.len() <= 1,
            "round {round}: charge `c` (10 credits) was refunded {} times: {refunded:?}",
            refunded.len()
        );
    }
}

/// Bug (pipelined commits, `service::mutate`): a commit built on a speculative snapshot is
/// sent before its predecessor's outcome is known. When the predecessor fails because
/// ANOTHER instance committed that same version number first, the dependent commit's
/// expected version matches the other instance's commit, and it lands: the other instance's
/// change (here: a hold) vanishes from the snapshot while its entries stay, and the failed
/// predecessor's effects are in the snapshot without its entries. Versions are numbers, not
/// identities: "a commit built on a predecessor that failed cannot land" only holds within
/// one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_built_on_a_failed_predecessor_never_lands_on_another_instances_version() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join(format!("lost-{round}.db"))).unwrap());
        let deployment =
            Arc::new(Deployment::new(Arc::clone(&store), 2, start_time().unwrap()).unwrap());
        create(&deployment, 0, "acme", "imini/credit_line").await;
        let mut tasks = tokio::task::JoinSet::new();
        // Instance 0: bursts of charges (pipelined behind each other); instance 1: holds.
        for worker in 0..3 {
            let deployment = Arc::clone(&deployment);
            tasks.spawn(async move {
                for n in 0..8 {
                    let request = ApiRequest::new(Method::POST, "/v1/accounts/acme/charges", Some(ADMIN_KEY)).json(
                        &json!({"id": format!("c{worker}-{n}"), "feature": "image_generation", "inputs": {"model": "flux_schnell"}}),
                    );
                    let _ = send(&deployment.routers[0], &request).await.unwrap();
                }
            });
        }
        for worker in 0..2 {
            let deployment = Arc::clone(&deployment);
            tasks.spawn(async move {
                for n in 0..6 {
                    let request = ApiRequest::new(Method::POST, "/v1/accounts/acme/holds", Some(ADMIN_KEY)).json(
                        &json!({"id": format!("h{worker}-{n}"), "feature": "image_generation", "inputs": {"model": "flux_pro"}, "ttl_seconds": 3600}),
                    );
                    let _ = send(&deployment.routers[1], &request).await.unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        if let Err(broken) =
            credits_tests::sim::env::check_snapshot_against_history(store.as_ref(), "acme").await
        {
            panic!("round {round}: {broken}");
        }
    }
}
