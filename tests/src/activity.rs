//! Ledger operations that publish events (`docs/events.md`), sent through the router on
//! `ai-engine/standard` (1,000 credits at creation, an alert below 200): what the webhook
//! tests drive, so that every event they deliver is one the ledger really published.

use http::Method;
use serde_json::json;

use crate::router::RouterClient;

/// Opens `account`: its creation grants 1,000 credits (`credits.granted`).
pub async fn open(client: &RouterClient, account: &str) {
    client
        .ok(
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            Some(json!({ "plan": "ai-engine/standard" })),
        )
        .await;
}

/// Debits 850 credits, crossing below the 200-credit alert (`balance.low`), then tops the
/// 850 back up, which re-arms the alert and publishes nothing of its own. The operations'
/// ids are `<id>-debit` and `<id>-topup`.
pub async fn cross_below_and_recover(client: &RouterClient, account: &str, id: &str) {
    client
        .ok(
            Method::POST,
            &format!("/v1/accounts/{account}/adjustments"),
            Some(json!({
                "id": format!("{id}-debit"),
                "direction": "debit",
                "amount": "850",
                "reason": "correction"
            })),
        )
        .await;
    client
        .ok(
            Method::POST,
            &format!("/v1/accounts/{account}/topups"),
            Some(json!({ "id": format!("{id}-topup"), "amount": "850" })),
        )
        .await;
}

/// Closes `account` (`account.closed`, and its unspent credits forfeited:
/// `credits.expired`).
pub async fn close(client: &RouterClient, account: &str) {
    client
        .ok(
            Method::POST,
            &format!("/v1/accounts/{account}/close"),
            Some(json!({ "id": format!("close-{account}") })),
        )
        .await;
}
