//! Seed 003 (ImagineArt), `rates/imagineart.rates`: 100 free credits a day that do not
//! accumulate; Pro models only with an active subscription; top-ups only while subscribed
//! but spendable after; monthly subscription credits renewed on the purchase date (31st →
//! last day of a shorter month) without rollover; the order free → subscription → top-up.

use chrono::Duration;
use serde_json::{Value, json};

use super::check::{self, draws, eq, instant, instant_at, pairs, text};
use super::client::{Client, anchor_ending_at};

fn image(id: &str, model: &str) -> Value {
    json!({ "id": id, "feature": "image", "inputs": { "model": model } })
}

fn video(id: &str, model: &str, duration: &str) -> Value {
    json!({ "id": id, "feature": "video", "inputs": { "model": model, "duration": duration } })
}

/// Free plan: 100 credits today; 24 spent; tomorrow 100 again, not 176: yesterday's 76
/// expired at midnight (an `expiry` entry), and idle days pile nothing up.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_free_daily_credits_do_not_accumulate(c: &Client) -> Result<(), String> {
    c.require_time_travel()?;
    c.start_at(instant("2026-03-10T09:00:00Z")?).await;
    let a = "ia-free-daily";
    let created = c
        .put_account(a, &json!({ "plan": "imagineart/free" }))
        .await?;
    eq(
        "balance on creation",
        &text(&created, "/balance/credit")?,
        &"100".to_owned(),
    )?;
    let balance = c.balance(a).await?;
    eq(
        "buckets on day 1",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100")]),
    )?;
    eq(
        "the free credits expire at the end of the day",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-03-11T00:00:00Z")?),
    )?;

    let charge = c.charge_ok(a, None, &image("img-1", "standard")).await?;
    eq(
        "charged",
        &text(&charge, "/charged/credit")?,
        &"24".to_owned(),
    )?;
    eq(
        "paid from",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("free", "24")]),
    )?;
    eq(
        "balance after the charge",
        &text(&charge, "/balance/credit")?,
        &"76".to_owned(),
    )?;

    c.travel_to(instant("2026-03-11T09:00:00Z")?).await?;
    // The same id and body answer the original response, forever: not charged again.
    let replay = c.charge(a, None, &image("img-1", "standard")).await?;
    eq(
        "a replay on day 2 answers day 1's response",
        replay.expect(201, "replay of img-1")?,
        &charge,
    )?;
    eq(
        "available on day 2",
        &c.available(a, "credit").await?,
        &"100".to_owned(),
    )?;
    let charge = c.charge_ok(a, None, &image("img-2", "standard")).await?;
    eq(
        "paid from on day 2",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("free", "24")]),
    )?;
    let bucket = text(&charge, "/paid_from/0/bucket")?;
    check::ensure(bucket.contains("2026-03-11"), || {
        format!("day 2 is paid from day 2's grant, not `{bucket}`")
    })?;
    eq(
        "balance on day 2",
        &text(&charge, "/balance/credit")?,
        &"76".to_owned(),
    )?;

    let expiries = c.entries(a, "type=expiry").await?;
    eq("expiry entries", &expiries.len(), &1)?;
    let expiry = expiries.first().ok_or("no expiry entry")?;
    eq(
        "yesterday's remainder expired",
        &text(expiry, "/amount")?,
        &"-76".to_owned(),
    )?;
    eq(
        "at midnight",
        &instant_at(expiry, "/at")?,
        &Some(instant("2026-03-11T00:00:00Z")?),
    )?;
    let grants = c.entries(a, "type=grant").await?;
    let amounts: Vec<String> = grants
        .iter()
        .map(|g| text(g, "/amount"))
        .collect::<Result<_, _>>()?;
    eq(
        "one grant of 100 a day",
        &amounts,
        &vec!["100".to_owned(), "100".to_owned()],
    )?;

    // A week of idle days later: still 100, never 700.
    c.travel_to(instant("2026-03-18T12:00:00Z")?).await?;
    eq(
        "available a week later",
        &c.available(a, "credit").await?,
        &"100".to_owned(),
    )?;
    eq(
        "buckets a week later",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100")]),
    )?;
    Ok(())
}

/// Free plan: a Pro model is `feature-not-allowed` (403), a top-up `topup-not-allowed`
/// (422), both writing nothing; standard models are spent from the free credits.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_pro_models_and_top_ups_need_a_subscription(
    c: &Client,
) -> Result<(), String> {
    c.start_at(instant("2026-03-10T09:00:00Z")?).await;
    let a = "ia-free-gates";
    c.put_account(a, &json!({ "plan": "imagineart/free" }))
        .await?;
    let key = c.account_key(a).await?;
    let before = c.entry_count(a).await?;

    let refused = c.charge(a, Some(&key), &image("pro-1", "pro")).await?;
    let problem = refused.problem(403, "feature-not-allowed", "a Pro model on the free plan")?;
    eq(
        "the problem names the feature",
        &text(problem, "/feature")?,
        &"image".to_owned(),
    )?;
    let refused = c
        .charge(a, Some(&key), &video("pro-2", "pro", "5s"))
        .await?;
    refused.problem(403, "feature-not-allowed", "a Pro video on the free plan")?;
    let refused = c
        .top_up(a, &json!({ "id": "t-1", "amount": "1000" }))
        .await?;
    refused.problem(422, "topup-not-allowed", "a top-up without a subscription")?;
    eq("nothing written", &c.entry_count(a).await?, &before)?;
    eq(
        "balance unchanged",
        &c.available(a, "credit").await?,
        &"100".to_owned(),
    )?;

    let charge = c
        .charge_ok(a, Some(&key), &image("std-1", "standard"))
        .await?;
    eq(
        "paid from",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("free", "24")]),
    )?;
    eq(
        "balance",
        &text(&charge, "/balance/credit")?,
        &"76".to_owned(),
    )?;
    Ok(())
}

/// Subscription bought on 31 January: renewals on 28 February (the last day of the shorter
/// month) and 31 March; 8,000 a month that do not roll over; one charge that spans all three
/// balances is paid free → subscription → top-up.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_subscription_renews_on_the_purchase_date_and_spends_free_subscription_top_up(
    c: &Client,
) -> Result<(), String> {
    c.require_time_travel()?;
    let t0 = c.start_at(instant("2026-01-31T12:00:00Z")?).await;
    let a = "ia-sub-31st";
    c.put_account(
        a,
        &json!({
            "plan": "imagineart/subscription",
            "subscription": { "status": "active", "period": "monthly", "anchor": t0 },
        }),
    )
    .await?;
    let balance = c.balance(a).await?;
    eq(
        "buckets at purchase",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100"), ("subscription", "8000")]),
    )?;
    eq(
        "the subscription credits last until the renewal on 28 February",
        &instant_at(&balance, "/units/credit/buckets/1/expires_at")?,
        &Some(instant("2026-02-28T12:00:00Z")?),
    )?;
    let top_up = c
        .top_up_ok(a, &json!({ "id": "tok-1", "package": "tokens_1000" }))
        .await?;
    eq(
        "package credited",
        &text(&top_up, "/credited/credit")?,
        &"1000".to_owned(),
    )?;
    eq(
        "top-up bucket",
        &draws(&top_up, "/buckets")?,
        &pairs(&[("top_up", "1000")]),
    )?;
    eq(
        "top-ups never expire",
        &instant_at(&top_up, "/buckets/0/expires_at")?,
        &None,
    )?;

    // Day 1: 8 Pro videos of 10 s (1,000 each): the free 100 first, then the subscription.
    let first = c.charge_ok(a, None, &video("v-1", "pro", "10s")).await?;
    eq(
        "first charge",
        &text(&first, "/charged/credit")?,
        &"1000".to_owned(),
    )?;
    eq(
        "paid free, then subscription",
        &draws(&first, "/paid_from")?,
        &pairs(&[("free", "100"), ("subscription", "900")]),
    )?;
    for n in 2..=8 {
        let charge = c
            .charge_ok(a, None, &video(&format!("v-{n}"), "pro", "10s"))
            .await?;
        eq(
            &format!("v-{n} paid from"),
            &draws(&charge, "/paid_from")?,
            &pairs(&[("subscription", "1000")]),
        )?;
    }
    eq(
        "balance after day 1",
        &c.available(a, "credit").await?,
        &"1100".to_owned(),
    )?;

    // Day 2: new free credits; one charge spans all three balances, in the seed's order.
    c.travel_to(instant("2026-02-01T10:00:00Z")?).await?;
    eq(
        "buckets on day 2",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100"), ("subscription", "100"), ("top_up", "1000")]),
    )?;
    let span = c.charge_ok(a, None, &video("v-9", "pro", "10s")).await?;
    eq(
        "one charge paid free → subscription → top-up",
        &draws(&span, "/paid_from")?,
        &pairs(&[("free", "100"), ("subscription", "100"), ("top_up", "800")]),
    )?;
    eq(
        "balance after it",
        &text(&span, "/balance/credit")?,
        &"200".to_owned(),
    )?;

    // Renewal on the purchase date: 28 February (31 January + 1 month), at the purchase time.
    c.travel_to(instant("2026-02-28T11:59:59Z")?).await?;
    eq(
        "before the renewal",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100"), ("top_up", "200")]),
    )?;
    c.travel_to(instant("2026-02-28T12:00:00Z")?).await?;
    let balance = c.balance(a).await?;
    eq(
        "renewed on 28 February",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100"), ("subscription", "8000"), ("top_up", "200")]),
    )?;
    eq(
        "next renewal on 31 March",
        &instant_at(&balance, "/units/credit/buckets/1/expires_at")?,
        &Some(instant("2026-03-31T12:00:00Z")?),
    )?;
    let charge = c.charge_ok(a, None, &video("v-10", "pro", "10s")).await?;
    eq(
        "paid from",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("free", "100"), ("subscription", "900")]),
    )?;

    // No rollover: on 31 March the 7,100 left expire and 8,000 new come.
    c.travel_to(instant("2026-03-31T12:00:00Z")?).await?;
    eq(
        "renewed on 31 March without rollover",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100"), ("subscription", "8000"), ("top_up", "200")]),
    )?;
    c.charge_ok(a, None, &image("img-1", "standard")).await?;
    let expiries = c.entries(a, "type=expiry").await?;
    let subscription_expiries: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = expiries
        .iter()
        .filter(|entry| {
            entry.pointer("/details/kind").and_then(Value::as_str) == Some("subscription")
        })
        .map(|entry| Ok((text(entry, "/amount")?, instant_at(entry, "/at")?)))
        .collect::<Result<_, String>>()?;
    eq(
        "subscription credits expired at the renewal",
        &subscription_expiries,
        &vec![("-7100".to_owned(), Some(instant("2026-03-31T12:00:00Z")?))],
    )?;
    let grants = c.entries(a, "type=grant").await?;
    let subscription_grants: Vec<Option<chrono::DateTime<chrono::Utc>>> = grants
        .iter()
        .filter(|entry| {
            entry.pointer("/details/kind").and_then(Value::as_str) == Some("subscription")
        })
        .map(|entry| instant_at(entry, "/at"))
        .collect::<Result<_, String>>()?;
    eq(
        "8,000 granted on each renewal date",
        &subscription_grants,
        &vec![
            Some(t0),
            Some(instant("2026-02-28T12:00:00Z")?),
            Some(instant("2026-03-31T12:00:00Z")?),
        ],
    )?;
    Ok(())
}

/// Subscription bought now: the order free → subscription → top-up, across charges (one
/// day, no time travel).
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_consumption_order_is_free_subscription_top_up(
    c: &Client,
) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-03-10T09:00:00Z")?).await;
    let a = "ia-sub-order";
    c.put_account(
        a,
        &json!({
            "plan": "imagineart/subscription",
            "subscription": { "status": "active", "period": "monthly", "anchor": t0 },
        }),
    )
    .await?;
    eq(
        "buckets at purchase",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100"), ("subscription", "8000")]),
    )?;
    c.top_up_ok(a, &json!({ "id": "tok-1", "package": "tokens_1000" }))
        .await?;
    eq(
        "buckets in consumption order",
        &c.buckets(a, "credit").await?,
        &pairs(&[
            ("free", "100"),
            ("subscription", "8000"),
            ("top_up", "1000"),
        ]),
    )?;
    let first = c.charge_ok(a, None, &video("v-1", "pro", "10s")).await?;
    eq(
        "free first, then subscription",
        &draws(&first, "/paid_from")?,
        &pairs(&[("free", "100"), ("subscription", "900")]),
    )?;
    for n in 2..=8 {
        c.charge_ok(a, None, &video(&format!("v-{n}"), "pro", "10s"))
            .await?;
    }
    let last = c.charge_ok(a, None, &video("v-9", "pro", "10s")).await?;
    eq(
        "subscription, then top-up",
        &draws(&last, "/paid_from")?,
        &pairs(&[("subscription", "100"), ("top_up", "900")]),
    )?;
    eq(
        "balance",
        &text(&last, "/balance/credit")?,
        &"100".to_owned(),
    )?;
    let charges = c.entries(a, "type=charge").await?;
    eq("one charge entry per charge", &charges.len(), &9)?;
    Ok(())
}

/// A subscription that ends (cancelled, at the end of its period): no more top-ups, Pro
/// models blocked, the subscription credits expire, and the top-ups bought before stay
/// spendable. The subscription is anchored in the past so that its period ends seconds
/// after the scenario starts (system-clock transports wait for it).
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_after_the_subscription_ends_top_ups_stay_spendable(
    c: &Client,
) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-03-10T09:00:00Z")?).await;
    let end = t0 + Duration::seconds(8);
    let anchor = anchor_ending_at(end)?;
    let a = "ia-sub-ends";
    c.put_account(
        a,
        &json!({
            "plan": "imagineart/subscription",
            "subscription": { "status": "active", "period": "monthly", "anchor": anchor },
        }),
    )
    .await?;
    let balance = c.balance(a).await?;
    eq(
        "buckets",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100"), ("subscription", "8000")]),
    )?;
    eq(
        "the subscription credits expire at the end of the cycle",
        &instant_at(&balance, "/units/credit/buckets/1/expires_at")?,
        &Some(end),
    )?;
    c.top_up_ok(a, &json!({ "id": "tok-1", "package": "tokens_1000" }))
        .await?;
    let cancelled = c
        .put_account(
            a,
            &json!({
                "plan": "imagineart/subscription",
                "subscription": { "status": "cancelled", "period": "monthly", "anchor": anchor },
            }),
        )
        .await?;
    eq(
        "cancelled",
        &text(&cancelled, "/subscription/status")?,
        &"cancelled".to_owned(),
    )?;
    eq(
        "ends at the end of the paid period",
        &instant_at(&cancelled, "/subscription/ends_at")?,
        &Some(end),
    )?;
    // Still subscribed until then: Pro is allowed.
    let pro = c.charge_ok(a, None, &image("pro-1", "pro")).await?;
    eq(
        "Pro while subscribed",
        &draws(&pro, "/paid_from")?,
        &pairs(&[("free", "60")]),
    )?;

    c.travel_to(end + Duration::seconds(1)).await?;
    let refused = c
        .top_up(a, &json!({ "id": "tok-2", "package": "tokens_1000" }))
        .await?;
    refused.problem(
        422,
        "topup-not-allowed",
        "a top-up after the subscription ended",
    )?;
    let refused = c.charge(a, None, &image("pro-2", "pro")).await?;
    refused.problem(
        403,
        "feature-not-allowed",
        "a Pro model after the subscription ended",
    )?;
    eq(
        "buckets after the end",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "40"), ("top_up", "1000")]),
    )?;
    let charge = c
        .charge_ok(a, None, &video("v-1", "standard", "5s"))
        .await?;
    eq(
        "top-ups stay spendable",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("free", "40"), ("top_up", "170")]),
    )?;
    eq(
        "balance",
        &text(&charge, "/balance/credit")?,
        &"830".to_owned(),
    )?;

    let expiries = c.entries(a, "type=expiry").await?;
    let expired: Vec<(String, String, Option<chrono::DateTime<chrono::Utc>>)> = expiries
        .iter()
        .map(|entry| {
            Ok((
                text(entry, "/details/kind")?,
                text(entry, "/amount")?,
                instant_at(entry, "/at")?,
            ))
        })
        .collect::<Result<_, String>>()?;
    eq(
        "the subscription credits expired at the end",
        &expired,
        &vec![("subscription".to_owned(), "-8000".to_owned(), Some(end))],
    )?;
    let grants = c.entries(a, "type=grant").await?;
    let subscription_grants = grants
        .iter()
        .filter(|entry| {
            entry.pointer("/details/kind").and_then(Value::as_str) == Some("subscription")
        })
        .count();
    eq("no allocation after the end", &subscription_grants, &1)?;
    Ok(())
}

/// The free credits' day is the account's day: in New York they expire at local midnight,
/// 05:00 UTC in winter and 04:00 UTC once daylight saving time starts (8 March 2026, a
/// 23-hour day).
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_free_credits_follow_the_account_time_zone(
    c: &Client,
) -> Result<(), String> {
    c.require_time_travel()?;
    c.start_at(instant("2026-03-07T12:00:00Z")?).await;
    let a = "ia-free-new-york";
    let created = c
        .put_account(
            a,
            &json!({ "plan": "imagineart/free", "time_zone": "America/New_York" }),
        )
        .await?;
    eq(
        "time zone",
        &text(&created, "/time_zone")?,
        &"America/New_York".to_owned(),
    )?;
    let balance = c.balance(a).await?;
    eq(
        "7 March ends at 05:00 UTC",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-03-08T05:00:00Z")?),
    )?;
    c.charge_ok(a, None, &image("img-1", "standard")).await?;
    c.travel_to(instant("2026-03-08T04:59:59Z")?).await?;
    eq(
        "still 7 March in New York",
        &c.available(a, "credit").await?,
        &"76".to_owned(),
    )?;
    c.travel_to(instant("2026-03-08T05:00:00Z")?).await?;
    let balance = c.balance(a).await?;
    eq(
        "8 March's credits",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100")]),
    )?;
    eq(
        "8 March (23 hours) ends at 04:00 UTC",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-03-09T04:00:00Z")?),
    )?;
    c.travel_to(instant("2026-03-09T03:59:00Z")?).await?;
    let charge = c.charge_ok(a, None, &image("img-2", "standard")).await?;
    let bucket = text(&charge, "/paid_from/0/bucket")?;
    check::ensure(bucket.contains("2026-03-08"), || {
        format!("03:59 UTC on 9 March is still 8 March in New York, not `{bucket}`")
    })?;
    c.travel_to(instant("2026-03-09T04:00:00Z")?).await?;
    eq(
        "9 March's credits",
        &c.available(a, "credit").await?,
        &"100".to_owned(),
    )?;
    Ok(())
}

/// A quarterly subscription is assigned monthly (8,000 on each monthly date from the
/// purchase), and cancelled it runs to the end of the quarter (31 January + 3 months =
/// 30 April); then no more allocations and Pro models are blocked.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imagineart_quarterly_subscription_is_assigned_monthly(
    c: &Client,
) -> Result<(), String> {
    c.require_time_travel()?;
    let t0 = c.start_at(instant("2026-01-31T12:00:00Z")?).await;
    let a = "ia-quarterly";
    let subscription = |status: &str| {
        json!({
            "plan": "imagineart/subscription",
            "subscription": { "status": status, "period": "quarterly", "anchor": t0 },
        })
    };
    c.put_account(a, &subscription("active")).await?;
    c.travel_to(instant("2026-02-28T12:00:00Z")?).await?;
    eq(
        "February's assignment",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100"), ("subscription", "8000")]),
    )?;
    c.travel_to(instant("2026-03-05T00:00:00Z")?).await?;
    let cancelled = c.put_account(a, &subscription("cancelled")).await?;
    eq(
        "runs to the end of the quarter",
        &instant_at(&cancelled, "/subscription/ends_at")?,
        &Some(instant("2026-04-30T12:00:00Z")?),
    )?;
    c.travel_to(instant("2026-03-31T12:00:00Z")?).await?;
    let balance = c.balance(a).await?;
    eq(
        "March's assignment",
        &super::client::bucket_list(&balance, "credit")?,
        &pairs(&[("free", "100"), ("subscription", "8000")]),
    )?;
    eq(
        "until the end of the quarter",
        &instant_at(&balance, "/units/credit/buckets/1/expires_at")?,
        &Some(instant("2026-04-30T12:00:00Z")?),
    )?;
    // A charge in March writes March's assignment (reads write nothing; an account left
    // idle through a whole cycle gets that cycle's grant only when the rollover schedule
    // materialises it: the ledger skips grants that expired unspent before it was touched).
    c.charge_ok(a, None, &image("img-0", "standard")).await?;
    c.travel_to(instant("2026-04-30T12:00:01Z")?).await?;
    eq(
        "after the quarter",
        &c.buckets(a, "credit").await?,
        &pairs(&[("free", "100")]),
    )?;
    let refused = c.charge(a, None, &image("pro-1", "pro")).await?;
    refused.problem(403, "feature-not-allowed", "a Pro model after the quarter")?;
    c.charge_ok(a, None, &image("img-1", "standard")).await?;
    let grants = c.entries(a, "type=grant").await?;
    let assigned: Vec<Option<chrono::DateTime<chrono::Utc>>> = grants
        .iter()
        .filter(|entry| {
            entry.pointer("/details/kind").and_then(Value::as_str) == Some("subscription")
        })
        .map(|entry| instant_at(entry, "/at"))
        .collect::<Result<_, String>>()?;
    eq(
        "assigned monthly, three times",
        &assigned,
        &vec![
            Some(t0),
            Some(instant("2026-02-28T12:00:00Z")?),
            Some(instant("2026-03-31T12:00:00Z")?),
        ],
    )?;
    Ok(())
}
