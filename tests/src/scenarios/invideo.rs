//! Seed 004 (invideo), `rates/invideo.rates`: one charge spends credits AND video minutes;
//! per-second proration of per-minute prices (3m30s PRO = 70 credits); fractional credits.

use serde_json::json;

use super::check::{eq, instant, text, unit_draws};
use super::client::Client;

fn triples(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// A stock video with an actor charges 10 credits and 2 video minutes in one response, both
/// balances reduced, one charge entry per unit; a 3m30s PRO generation is 70 credits; short
/// of video minutes but not of credits, neither unit is charged (402, nothing written).
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn invideo_one_charge_spends_credits_and_video_minutes(c: &Client) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-05-31T08:00:00Z")?).await;
    let a = "iv-plus";
    let created = c
        .put_account(
            a,
            &json!({
                "plan": "invideo/plus",
                "subscription": { "status": "active", "period": "monthly", "anchor": t0 },
            }),
        )
        .await?;
    eq(
        "credits",
        &text(&created, "/balance/credit")?,
        &"1200.00".to_owned(),
    )?;
    eq(
        "video minutes",
        &text(&created, "/balance/video_minute")?,
        &"50".to_owned(),
    )?;

    let stock = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "s-1", "feature": "stock_video", "inputs": { "duration": 90, "actor": true } }),
        )
        .await?;
    eq(
        "credits charged",
        &text(&stock, "/charged/credit")?,
        &"10.00".to_owned(),
    )?;
    eq(
        "video minutes charged",
        &text(&stock, "/charged/video_minute")?,
        &"2".to_owned(),
    )?;
    eq(
        "both units paid",
        &unit_draws(&stock, "/paid_from")?,
        &triples(&[
            ("credit", "allocation", "10.00"),
            ("video_minute", "allocation", "2"),
        ]),
    )?;
    eq(
        "credits left",
        &text(&stock, "/balance/credit")?,
        &"1190.00".to_owned(),
    )?;
    eq(
        "video minutes left",
        &text(&stock, "/balance/video_minute")?,
        &"48".to_owned(),
    )?;
    let entries = c.entries(a, "type=charge").await?;
    let seen: Vec<(String, String, String)> = entries
        .iter()
        .map(|entry| {
            Ok((
                text(entry, "/id")?,
                text(entry, "/unit")?,
                text(entry, "/amount")?,
            ))
        })
        .collect::<Result<_, String>>()?;
    eq(
        "one charge entry per unit",
        &seen,
        &triples(&[
            ("charge:s-1:credit", "credit", "-10.00"),
            ("charge:s-1:video_minute", "video_minute", "-2"),
        ]),
    )?;

    let generative = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "g-1", "feature": "generative_video", "inputs": { "duration": "3m30s", "model": "pro" } }),
        )
        .await?;
    eq(
        "3m30s PRO",
        &generative.get("charged"),
        &Some(&json!({ "credit": "70.00" })),
    )?;
    let actor = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "g-2", "feature": "generative_video", "inputs": { "duration": "40s", "model": "pro", "actor": "yes" } }),
        )
        .await?;
    eq(
        "40s PRO with an actor",
        &text(&actor, "/charged/credit")?,
        &"18.33".to_owned(),
    )?;
    let clip = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "r-1", "feature": "remix_clip", "inputs": { "duration": "5s" } }),
        )
        .await?;
    eq(
        "a 5-second clip",
        &text(&clip, "/charged/credit")?,
        &"1.67".to_owned(),
    )?;
    let image = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "r-2", "feature": "remix_image", "inputs": { "images": 1 } }),
        )
        .await?;
    eq(
        "an image edit",
        &text(&image, "/charged/credit")?,
        &"0.20".to_owned(),
    )?;
    eq(
        "credits left",
        &text(&image, "/balance/credit")?,
        &"1099.80".to_owned(),
    )?;
    eq(
        "video minutes left",
        &text(&image, "/balance/video_minute")?,
        &"48".to_owned(),
    )?;

    let before = c.entry_count(a).await?;
    let refused = c
        .charge(a, None, &json!({ "id": "s-2", "feature": "stock_video", "inputs": { "duration": "1h", "actor": true } }))
        .await?;
    let problem = refused.problem(
        402,
        "insufficient-credits",
        "300 credits (there) and 60 video minutes (48 left)",
    )?;
    eq(
        "the short unit",
        &text(problem, "/unit")?,
        &"video_minute".to_owned(),
    )?;
    eq("nothing written", &c.entry_count(a).await?, &before)?;
    let balance = c.balance(a).await?;
    eq(
        "credits untouched",
        &text(&balance, "/units/credit/available")?,
        &"1099.80".to_owned(),
    )?;
    eq(
        "video minutes untouched",
        &text(&balance, "/units/video_minute/available")?,
        &"48".to_owned(),
    )?;
    Ok(())
}
