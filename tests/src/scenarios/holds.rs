//! Holds you can look at (`docs/holds.md`): a hold's record answers its state after it
//! leaves the snapshot, on every store.

use serde_json::{Value, json};

use super::check::{eq, instant, instant_at, text};
use super::client::Client;

async fn look(c: &Client, account: &str, hold: &str) -> Result<Value, String> {
    let reply = c
        .admin("GET", &format!("/v1/accounts/{account}/holds/{hold}"), None)
        .await?;
    reply.expect(200, &format!("look up `{hold}`")).cloned()
}

async fn hold(c: &Client, account: &str, body: &Value) -> Result<Value, String> {
    let reply = c
        .admin("POST", &format!("/v1/accounts/{account}/holds"), Some(body))
        .await?;
    reply.expect(201, "hold").cloned()
}

/// A hold is `open`, then `captured` (what was spent per reserved unit), `released`, or
/// `expired` once its time passed (before and after the account is brought up to date); a
/// capture of a hold that is no longer open is 409 `hold-closed` saying which state and when.
///
/// # Errors
/// The first difference from the contract.
pub async fn holds_can_be_looked_up_in_every_state(c: &Client) -> Result<(), String> {
    c.require_time_travel()?;
    let start = c.start_at(instant("2026-03-02T09:00:00Z")?).await;
    let a = "holds-lookup";
    c.put_account(a, &json!({ "plan": "imini/prepaid" }))
        .await?;
    c.top_up_ok(a, &json!({ "id": "t-1", "amount": "100" }))
        .await?;

    hold(
        c,
        a,
        &json!({"id": "h-capture", "feature": "image_generation", "inputs": {"model": "flux_pro", "outputs": 2}}),
    )
    .await?;
    let open = look(c, a, "h-capture").await?;
    eq("open", &text(&open, "/status")?, &"open".to_owned())?;
    eq(
        "reserved",
        &open.get("reserved"),
        &Some(&json!({"credit": "20.00"})),
    )?;
    eq("created", &instant_at(&open, "/created_at")?, &Some(start))?;

    let captured = c
        .admin(
            "POST",
            &format!("/v1/accounts/{a}/holds/h-capture/capture"),
            Some(&json!({"inputs": {"model": "flux_pro", "outputs": 1}})),
        )
        .await?;
    captured.expect(200, "capture")?;
    let looked = look(c, a, "h-capture").await?;
    eq(
        "captured",
        &text(&looked, "/status")?,
        &"captured".to_owned(),
    )?;
    eq(
        "spent",
        &looked.get("captured"),
        &Some(&json!({"credit": "10.00"})),
    )?;

    let again = c
        .admin(
            "POST",
            &format!("/v1/accounts/{a}/holds/h-capture/release"),
            None,
        )
        .await?;
    let problem = again.problem(409, "hold-closed", "release after capture")?;
    eq(
        "state",
        &text(problem, "/hold_status")?,
        &"captured".to_owned(),
    )?;

    hold(
        c,
        a,
        &json!({"id": "h-release", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
    )
    .await?;
    c.admin(
        "POST",
        &format!("/v1/accounts/{a}/holds/h-release/release"),
        None,
    )
    .await?
    .expect(200, "release")?;
    let looked = look(c, a, "h-release").await?;
    eq(
        "released",
        &text(&looked, "/status")?,
        &"released".to_owned(),
    )?;

    let made = hold(
        c,
        a,
        &json!({"id": "h-expire", "feature": "image_generation", "inputs": {"model": "flux_pro"}, "ttl_seconds": 60}),
    )
    .await?;
    let expires_at = instant_at(&made, "/expires_at")?;
    c.travel_to(start + chrono::Duration::minutes(5)).await?;
    let looked = look(c, a, "h-expire").await?;
    eq("expired", &text(&looked, "/status")?, &"expired".to_owned())?;
    eq(
        "expired at",
        &instant_at(&looked, "/closed_at")?,
        &expires_at,
    )?;
    let late = c
        .admin(
            "POST",
            &format!("/v1/accounts/{a}/holds/h-expire/capture"),
            None,
        )
        .await?;
    let problem = late.problem(409, "hold-closed", "capture after expiry")?;
    eq(
        "state",
        &text(problem, "/hold_status")?,
        &"expired".to_owned(),
    )?;
    // A write brings the account up to date; the answer stays.
    c.top_up_ok(a, &json!({ "id": "t-2", "amount": "1" }))
        .await?;
    eq("still expired", &look(c, a, "h-expire").await?, &looked)?;
    eq(
        "balance",
        &c.available(a, "credit").await?,
        &"91.00".to_owned(),
    )?;

    let missing = c
        .admin("GET", &format!("/v1/accounts/{a}/holds/h-none"), None)
        .await?;
    missing.problem(404, "not-found", "unknown hold")?;
    Ok(())
}
