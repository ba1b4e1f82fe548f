//! Event time, balances as of an instant, accounts you can look at, and partial collection
//! (`docs/charges.md`, `docs/accounts.md`), through the real router over SQLite and over
//! DynamoDB Local.
//!
//! `cargo test -p credits-tests --test ledger_time_and_accounts`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use credits_api::RateLibrary;
use credits_store::Store;
use credits_tests::router::{RouterClient, dynamodb_local_store, instant, sqlite_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Book `test` effective `effective`: an image costs `price` credits; `pro` accepts usage
/// up to 3 days late, `lite` none; each grants 105 credits once; `lined` has a credit line.
fn version(effective: &str, price: u32) -> String {
    format!(
        "book test
effective {effective}
time_zone \"UTC\"
unit credit scale 2 round half-up
feature image {{
  base {price} credit each
}}
plan pro {{
  grant 105 credit once as promotional, expires never
  order promotional
  late usage within 3 days
}}
plan lite {{
  grant 105 credit once as promotional, expires never
  order promotional
}}
plan lined {{
  grant 105 credit once as promotional, expires never
  order promotional
  credit line 10 credit
}}
"
    )
}

/// 10 credits an image until 2026-03-10, 20 from then on.
fn client(store: Arc<dyn Store>) -> RouterClient {
    let books = RateLibrary::from_sources(vec![
        ("test.rates".to_owned(), version("2026-01-01", 10)),
        (
            "test@2026-03-10.rates".to_owned(),
            version("2026-03-10", 20),
        ),
    ])
    .unwrap();
    RouterClient::with_books(store, instant("2026-03-08T00:00:00Z"), books)
}

async fn create(client: &RouterClient, account: &str, plan: &str) {
    client
        .ok(
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            Some(json!({ "plan": plan })),
        )
        .await;
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// The entries of `account`, all types.
async fn entries(client: &RouterClient, account: &str) -> Vec<Value> {
    let page = client
        .json(&format!("/v1/accounts/{account}/entries?limit=1000"))
        .await;
    page["entries"].as_array().unwrap().clone()
}

/// The balance-at answer's owned credits, retrying while DynamoDB's time index lags.
async fn owned_at(client: &RouterClient, account: &str, at: &str) -> (String, u64) {
    let path = format!("/v1/accounts/{account}/balance?at={at}");
    let mut last = Value::Null;
    for _ in 0..50 {
        let (status, text) = client.send(Method::GET, &path, None).await;
        if status == StatusCode::OK {
            last = parse(&text);
            let seq = last["as_of_seq"].as_u64().unwrap();
            let expected = entries(client, account)
                .await
                .iter()
                .filter(|entry| entry["at"].as_str().unwrap() <= at)
                .map(|entry| entry["seq"].as_u64().unwrap())
                .max()
                .unwrap();
            if seq == expected {
                return (last["owned"]["credit"].as_str().unwrap().to_owned(), seq);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("balance at {at} never caught up: {last}");
}

async fn event_time(store: Arc<dyn Store>) {
    let client = client(store);
    create(&client, "ev", "test/pro").await;
    let charges = "/v1/accounts/ev/charges";
    // At 2026-03-09 (the first version): 10.
    client.clock.set(instant("2026-03-09T12:00:00Z"));
    client
        .ok(
            Method::POST,
            charges,
            Some(json!({ "id": "c0", "feature": "image" })),
        )
        .await;
    // Two days later, under the second version: late usage from before the change is
    // priced by the first, usage after it by the second.
    client.clock.set(instant("2026-03-11T12:00:00Z"));
    let late = parse(
        &client
            .ok(
                Method::POST,
                charges,
                Some(json!({ "id": "c1", "feature": "image", "occurred_at": "2026-03-09T23:00:00Z" })),
            )
            .await,
    );
    assert_eq!(late["charged"]["credit"], "10.00", "{late}");
    assert_eq!(late["occurred_at"], "2026-03-09T23:00:00Z");
    assert!(
        late["rates_version"]
            .as_str()
            .unwrap()
            .contains("2026-01-01"),
        "{late}"
    );
    let now = parse(
        &client
            .ok(
                Method::POST,
                charges,
                Some(json!({ "id": "c2", "feature": "image", "occurred_at": "2026-03-10T06:00:00Z" })),
            )
            .await,
    );
    assert_eq!(now["charged"]["credit"], "20.00", "{now}");
    assert!(
        now["rates_version"]
            .as_str()
            .unwrap()
            .contains("2026-03-10"),
        "{now}"
    );
    let all = entries(&client, "ev").await;
    let c1 = all.iter().find(|entry| entry["operation"] == "c1").unwrap();
    assert_eq!(c1["occurred_at"], "2026-03-09T23:00:00Z", "{c1}");
    assert_eq!(c1["at"], "2026-03-11T12:00:00Z", "{c1}");
    let c0 = all.iter().find(|entry| entry["operation"] == "c0").unwrap();
    assert!(c0.get("occurred_at").is_none(), "{c0}");

    // Outside the window, or in the future: refused, naming the window; nothing written.
    let before = entries(&client, "ev").await.len();
    for (id, occurred_at, words) in [
        ("old", "2026-03-08T11:59:00Z", "late usage within 3 days"),
        ("future", "2026-03-11T12:01:00Z", "future"),
    ] {
        let (status, text) = client
            .send(
                Method::POST,
                charges,
                Some(json!({ "id": id, "feature": "image", "occurred_at": occurred_at })),
            )
            .await;
        assert!(status.is_client_error(), "{status} {text}");
        assert!(text.contains(words), "{text}");
    }
    assert_eq!(entries(&client, "ev").await.len(), before);
    // A plan without a window takes no late usage.
    create(&client, "ev-lite", "test/lite").await;
    let (status, text) = client
        .send(
            Method::POST,
            "/v1/accounts/ev-lite/charges",
            Some(json!({ "id": "l1", "feature": "image", "occurred_at": "2026-03-11T06:00:00Z" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("accepts no late usage"), "{text}");

    // The balance as of several instants, from history.
    assert_eq!(
        owned_at(&client, "ev", "2026-03-08T00:00:00Z").await.0,
        "105.00"
    );
    assert_eq!(
        owned_at(&client, "ev", "2026-03-10T00:00:00Z").await.0,
        "95.00"
    );
    assert_eq!(
        owned_at(&client, "ev", "2026-03-11T12:00:00Z").await.0,
        "65.00"
    );
    let (status, text) = client
        .send(
            Method::GET,
            "/v1/accounts/ev/balance?at=2026-03-07T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "before the account: {text}"
    );
    let (status, text) = client
        .send(Method::GET, "/v1/accounts/ev/balance?at=2027-01-01", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the future: {text}");
    let live = client.json("/v1/accounts/ev/balance").await;
    assert_eq!(live["units"]["credit"]["available"], "65.00", "{live}");
}

async fn accounts(store: Arc<dyn Store>) {
    let client = client(store);
    let prefix = format!("acct-{:x}", rand_suffix());
    for (index, plan) in [
        "test/pro",
        "test/lite",
        "test/pro",
        "test/lined",
        "test/pro",
    ]
    .iter()
    .enumerate()
    {
        create(&client, &format!("{prefix}-{index}"), plan).await;
    }
    client
        .ok(
            Method::PUT,
            &format!("/v1/accounts/{prefix}-2"),
            Some(json!({ "plan": "test/pro", "status": "suspended" })),
        )
        .await;
    // One account, by its own key and by the admin; another account's key is refused.
    let key = parse(
        &client
            .ok(
                Method::POST,
                "/v1/keys",
                Some(json!({ "account": format!("{prefix}-0") })),
            )
            .await,
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, text) = client
        .send_as(
            Some(&key),
            Method::GET,
            &format!("/v1/accounts/{prefix}-0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let own = parse(&text);
    assert_eq!(own["plan"], "test/pro");
    assert_eq!(own["status"], "active");
    assert_eq!(own["balance"]["credit"], "105.00");
    assert_eq!(own, client.json(&format!("/v1/accounts/{prefix}-0")).await);
    let (status, _) = client
        .send_as(
            Some(&key),
            Method::GET,
            &format!("/v1/accounts/{prefix}-1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = client
        .send_as(Some(&key), Method::GET, "/v1/accounts", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "listing is for admins");
    let (status, _) = client
        .send(Method::GET, &format!("/v1/accounts/{prefix}-9"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Listing across pages, filtered.
    let walk = async |filter: &str| -> Vec<Value> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/v1/accounts?limit=2{filter}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = client.json(&path).await;
            let accounts = page["accounts"].as_array().unwrap();
            assert!(accounts.len() <= 2, "{page}");
            found.extend(
                accounts
                    .iter()
                    .filter(|account| account["account"].as_str().unwrap().starts_with(&prefix))
                    .cloned(),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return found,
            }
        }
        panic!("the listing never ended");
    };
    let names = |accounts: Vec<Value>| -> BTreeSet<String> {
        accounts
            .iter()
            .map(|account| account["account"].as_str().unwrap().to_owned())
            .collect()
    };
    let every = walk("").await;
    assert_eq!(every.len(), 5, "each account once");
    assert_eq!(names(every).len(), 5);
    let pro = names(walk("&plan=test/pro").await);
    let expected: BTreeSet<String> = [0, 2, 4].iter().map(|k| format!("{prefix}-{k}")).collect();
    assert_eq!(pro, expected);
    assert_eq!(names(walk("&plan=lined").await).len(), 1);
    let suspended = names(walk("&status=suspended").await);
    assert_eq!(suspended, BTreeSet::from([format!("{prefix}-2")]));
    let active_pro = names(walk("&plan=test/pro&status=active").await);
    assert_eq!(active_pro.len(), 2);
    let (status, _) = client
        .send(Method::GET, "/v1/accounts?status=asleep", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn partial_collection(store: Arc<dyn Store>) {
    let client = client(store);
    client.clock.set(instant("2026-03-11T00:00:00Z"));
    for (account, plan, shortfall, ends_at) in [
        ("pc", "test/pro", "15.00", "0.00"),
        ("pc-line", "test/lined", "5.00", "-10.00"),
    ] {
        create(&client, account, plan).await;
        let charges = format!("/v1/accounts/{account}/charges");
        for index in 0..5 {
            client
                .ok(
                    Method::POST,
                    &charges,
                    Some(json!({ "id": format!("c{index}"), "feature": "image" })),
                )
                .await;
        }
        // 5 left (plus the line): without opting in, a charge of 20 is refused.
        let (status, text) = client
            .send(
                Method::POST,
                &charges,
                Some(json!({ "id": "x", "feature": "image" })),
            )
            .await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{text}");
        let body = json!({ "id": "p1", "feature": "image", "collect": "available" });
        let (status, first) = client
            .send(Method::POST, &charges, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let answer = parse(&first);
        assert_eq!(answer["charged"]["credit"], "20.00", "{answer}");
        assert_eq!(answer["shortfall"]["credit"], shortfall, "{answer}");
        assert_eq!(answer["balance"]["credit"], ends_at, "{answer}");
        // A replay answers the same, writes nothing.
        let count = entries(&client, account).await.len();
        let (status, again) = client.send(Method::POST, &charges, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(again, first);
        assert_eq!(entries(&client, account).await.len(), count);
        let all = entries(&client, account).await;
        let entry = all.iter().find(|entry| entry["operation"] == "p1").unwrap();
        assert!(
            entry["details"]["shortfall_minor"].as_i64().unwrap() > 0,
            "{entry}"
        );
        let balance = client
            .json(&format!("/v1/accounts/{account}/balance"))
            .await;
        assert_eq!(
            balance["units"]["credit"]["available"], ends_at,
            "never overdraws"
        );
    }
}

fn rand_suffix() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    u64::try_from(now % u128::from(u64::MAX)).unwrap_or(0) ^ u64::from(std::process::id())
}

#[tokio::test]
async fn event_time_over_sqlite() {
    event_time(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_over_dynamodb_local() {
    event_time(dynamodb_local_store("ev-time").await).await;
}

#[tokio::test]
async fn accounts_over_sqlite() {
    accounts(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_over_dynamodb_local() {
    accounts(dynamodb_local_store("accounts").await).await;
}

#[tokio::test]
async fn partial_collection_over_sqlite() {
    partial_collection(sqlite_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_collection_over_dynamodb_local() {
    partial_collection(dynamodb_local_store("partial").await).await;
}
