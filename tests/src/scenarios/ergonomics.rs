//! What a client reads and writes (`docs/api-conventions.md`), on every store: a top-up kind
//! the plan does not order is refused and writes nothing, refusals speak decimals of the
//! unit, a date is a subscription anchor (midnight in the account's time zone), a body that
//! does not match the schema names the field, and capture and release answer 200.

use serde_json::{Value, json};

use super::check::{ensure, eq, text};
use super::client::Client;

fn detail(problem: &Value) -> Result<String, String> {
    text(problem, "/detail")
}

/// # Errors
/// The first difference from the contract.
pub async fn client_ergonomics_hold_on_every_store(c: &Client) -> Result<(), String> {
    let a = "ergonomics";
    c.put_account(a, &json!({ "plan": "imini/prepaid" }))
        .await?;

    // A kind the plan's `order` does not list: 400 naming the field and the kinds, nothing written.
    let refused = c
        .top_up(a, &json!({"id": "t-typo", "amount": "5", "kind": "promo"}))
        .await?;
    let problem = refused.problem(400, "invalid-input", "top-up of an unordered kind")?;
    eq("field", &text(problem, "/field")?, &"kind".to_owned())?;
    let said = detail(problem)?;
    ensure(
        said.contains("`promo`") && said.contains("`top_up`"),
        || format!("the refusal names the kinds: {said}"),
    )?;
    eq("nothing written", &c.entry_count(a).await?, &0)?;

    // Refusals speak decimals of the unit.
    c.top_up_ok(a, &json!({"id": "t-1", "amount": "100"}))
        .await?;
    // The price depends on the book version in force (transports on the system clock see
    // later versions), so the expected texts are built from what was charged.
    let charged = c
        .charge_ok(
            a,
            None,
            &json!({"id": "c-1", "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
        )
        .await?;
    let price = text(&charged, "/charged/credit")?;
    let refund = c
        .refund(
            a,
            &json!({"id": "r-1", "charge": "c-1", "reason": "dispute", "amount": "50"}),
        )
        .await?;
    let problem = refund.problem(422, "refund-not-allowed", "refund beyond the charge")?;
    eq(
        "refusal in decimals",
        &detail(problem)?,
        &format!("charge `c-1` has {price} credit left to refund, less than 50.00 credit"),
    )?;

    // A date anchor is midnight in the account's time zone.
    let today = c.now().date_naive();
    let subscribed = c
        .put_account(
            "ergonomics-anchor",
            &json!({
                "plan": "imentiv/professional",
                "time_zone": "Asia/Kolkata",
                "subscription": {"status": "active", "period": "monthly", "anchor": today.to_string()},
            }),
        )
        .await?;
    let midnight = today
        .and_hms_opt(0, 0, 0)
        .and_then(|local| local.checked_sub_signed(chrono::Duration::minutes(330)))
        .ok_or("midnight in Kolkata")?;
    eq(
        "anchor",
        &text(&subscribed, "/subscription/anchor")?,
        &format!("{}Z", midnight.format("%Y-%m-%dT%H:%M:%S")),
    )?;

    // A body that does not match the schema names the field.
    let reply = c
        .admin(
            "POST",
            &format!("/v1/accounts/{a}/holds"),
            Some(&json!({"id": "h-bad", "feature": "image_generation", "ttl_seconds": "soon"})),
        )
        .await?;
    let problem = reply.problem(400, "invalid-input", "a hold with a malformed ttl")?;
    eq(
        "field",
        &text(problem, "/field")?,
        &"ttl_seconds".to_owned(),
    )?;

    // Capture and release answer 200.
    for (hold, action) in [("h-capture", "capture"), ("h-release", "release")] {
        c.admin(
            "POST",
            &format!("/v1/accounts/{a}/holds"),
            Some(&json!({"id": hold, "feature": "image_generation", "inputs": {"model": "flux_pro"}})),
        )
        .await?
        .expect(201, "hold")?;
        let closed = c
            .admin(
                "POST",
                &format!("/v1/accounts/{a}/holds/{hold}/{action}"),
                None,
            )
            .await?;
        let answer = closed.expect(200, action)?;
        if action == "capture" {
            eq(
                "captured",
                &answer.get("charged"),
                &Some(&json!({ "credit": price })),
            )?;
        }
    }
    Ok(())
}
