//! Out of credits: 402 `insufficient-credits` and nothing written, on two books.

use serde_json::{Value, json};

use super::check::{self, eq, instant, text};
use super::client::Client;

/// A charge larger than the balance is 402 with `unit`, `needed` and `available`; balance
/// and entries are unchanged and the id stays unused (the same id succeeds once the credits
/// are there); a quote says it is not sufficient. Also on ImagineArt's free plan.
///
/// # Errors
/// The first difference from the contract.
pub async fn short_of_credits_is_402_and_writes_nothing(c: &Client) -> Result<(), String> {
    c.start_at(instant("2026-02-10T10:00:00Z")?).await;
    // Imentiv Professional without a subscription: no allocation, only what is topped up.
    let a = "short-imentiv";
    let created = c
        .put_account(a, &json!({ "plan": "imentiv/professional" }))
        .await?;
    eq(
        "no allocation without a subscription",
        &text(&created, "/balance/credit")?,
        &"0.00".to_owned(),
    )?;
    c.top_up_ok(a, &json!({ "id": "t-1", "amount": "50" }))
        .await?;
    let key = c.account_key(a).await?;
    let charge: Value =
        json!({ "id": "c-1", "feature": "video_emotion", "inputs": { "duration": "1m" } });
    let before = c.entry_count(a).await?;

    let refused = c.charge(a, Some(&key), &charge).await?;
    let problem = refused.problem(402, "insufficient-credits", "60 credits with 50")?;
    eq("unit", &text(problem, "/unit")?, &"credit".to_owned())?;
    eq("needed", &text(problem, "/needed")?, &"60.00".to_owned())?;
    eq(
        "available",
        &text(problem, "/available")?,
        &"50.00".to_owned(),
    )?;
    eq("no entry written", &c.entry_count(a).await?, &before)?;
    eq(
        "balance unchanged",
        &c.available(a, "credit").await?,
        &"50.00".to_owned(),
    )?;
    eq(
        "no charge entry",
        &c.entries(a, "type=charge").await?.len(),
        &0,
    )?;
    let quote = c
        .send(
            "POST",
            &format!("/v1/accounts/{a}/quotes"),
            Some(&key),
            Some(&json!({ "feature": "video_emotion", "inputs": { "duration": "1m" } })),
        )
        .await?;
    let quote = quote.expect(200, "quote")?;
    eq(
        "quoted",
        &text(quote, "/amounts/credit")?,
        &"60.00".to_owned(),
    )?;
    eq(
        "not sufficient",
        &quote.get("sufficient"),
        &Some(&json!(false)),
    )?;
    eq(
        "refusal",
        &text(quote, "/refusal")?,
        &"insufficient-credits".to_owned(),
    )?;

    // The refused id was not used up: with the credits there, the same request succeeds.
    c.top_up_ok(a, &json!({ "id": "t-2", "amount": "10" }))
        .await?;
    let paid = c.charge_ok(a, Some(&key), &charge).await?;
    eq(
        "charged",
        &text(&paid, "/charged/credit")?,
        &"60.00".to_owned(),
    )?;
    eq(
        "balance",
        &text(&paid, "/balance/credit")?,
        &"0.00".to_owned(),
    )?;
    let refused = c
        .charge(
            a,
            Some(&key),
            &json!({ "id": "c-2", "feature": "video_emotion", "inputs": { "duration": 1 } }),
        )
        .await?;
    refused.problem(
        402,
        "insufficient-credits",
        "the 1-credit minimum with nothing left",
    )?;
    eq(
        "one charge entry",
        &c.entries(a, "type=charge").await?.len(),
        &1,
    )?;

    // ImagineArt free: a 210-credit video with 100 free credits.
    let f = "short-imagineart";
    c.put_account(f, &json!({ "plan": "imagineart/free" }))
        .await?;
    let before = c.entry_count(f).await?;
    let refused = c
        .charge(
            f,
            None,
            &json!({ "id": "v-1", "feature": "video", "inputs": { "model": "standard", "duration": "5s" } }),
        )
        .await?;
    let problem = refused.problem(402, "insufficient-credits", "210 credits with 100")?;
    eq("needed", &text(problem, "/needed")?, &"210".to_owned())?;
    eq("nothing written", &c.entry_count(f).await?, &before)?;
    eq(
        "balance unchanged",
        &c.available(f, "credit").await?,
        &"100".to_owned(),
    )?;
    check::ensure(before >= 1, || "the free grant is on record".to_owned())?;
    Ok(())
}
