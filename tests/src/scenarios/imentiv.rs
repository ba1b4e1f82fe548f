//! Seed 000 (Imentiv), `rates/imentiv.rates`: Professional's 12,000 credits a month roll
//! over while subscribed and are forfeited at the end of a cancelled period; top-ups never
//! expire; the first personality analysis is free and needs a prior core analysis of the
//! same content; refunds only for duplicate billing, internal errors or legal reasons,
//! within 30 days.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::check::{self, draws, eq, instant, instant_at, pairs, text};
use super::client::{Client, anchor_ending_at, bucket_list};

const PRO: &str = "imentiv/professional";

fn video_emotion(id: &str, seconds: u32, content: Option<&str>) -> Value {
    let mut body =
        json!({ "id": id, "feature": "video_emotion", "inputs": { "duration": seconds } });
    if let (Some(content), Some(object)) = (content, body.as_object_mut()) {
        object.insert("content".to_owned(), json!(content));
    }
    body
}

fn subscribed(anchor: DateTime<Utc>, status: &str) -> Value {
    json!({
        "plan": PRO,
        "subscription": { "status": status, "period": "monthly", "anchor": anchor },
    })
}

fn sum(entries: &[Value]) -> Result<Decimal, String> {
    entries.iter().try_fold(Decimal::ZERO, |total, entry| {
        let amount: Decimal = text(entry, "/amount")?
            .parse()
            .map_err(|error| format!("amount of {}: {error}", check::compact(entry)))?;
        total
            .checked_add(amount)
            .ok_or_else(|| "overflow".to_owned())
    })
}

/// 12,000 at the start of each cycle, rolled over while subscribed (next cycle: what was
/// left + 12,000, with a `rollover` entry); cancelled, they are forfeited at the end of the
/// paid period (`forfeit` entries) and no new allocation comes; top-ups never expire.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imentiv_professional_allocation_rolls_over_and_is_forfeited_after_cancellation(
    c: &Client,
) -> Result<(), String> {
    c.require_time_travel()?;
    let t0 = c.start_at(instant("2026-01-15T12:00:00Z")?).await;
    let a = "im-rollover";
    let created = c.put_account(a, &subscribed(t0, "active")).await?;
    eq(
        "allocated at the cycle start",
        &text(&created, "/balance/credit")?,
        &"12000.00".to_owned(),
    )?;
    let balance = c.balance(a).await?;
    eq(
        "allocation bucket",
        &bucket_list(&balance, "credit")?,
        &pairs(&[("allocation", "12000.00")]),
    )?;
    eq(
        "no fixed expiry while subscribed",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &None,
    )?;
    let top_up = c
        .top_up_ok(a, &json!({ "id": "t-1", "package": "starter" }))
        .await?;
    eq(
        "starter package",
        &text(&top_up, "/credited/credit")?,
        &"5000.00".to_owned(),
    )?;

    c.travel_to(instant("2026-01-20T00:00:00Z")?).await?;
    let charge = c
        .charge_ok(a, None, &video_emotion("v-1", 2000, None))
        .await?;
    eq(
        "charged 1 credit a second",
        &text(&charge, "/charged/credit")?,
        &"2000.00".to_owned(),
    )?;
    eq(
        "allocation before top-up",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "2000.00")]),
    )?;
    eq(
        "balance",
        &text(&charge, "/balance/credit")?,
        &"15000.00".to_owned(),
    )?;

    // Next cycle: 10,000 left + 12,000 new + 5,000 top-up.
    c.travel_to(instant("2026-02-15T12:00:00Z")?).await?;
    eq(
        "available next cycle",
        &c.available(a, "credit").await?,
        &"27000.00".to_owned(),
    )?;
    eq(
        "buckets next cycle",
        &c.buckets(a, "credit").await?,
        &pairs(&[
            ("allocation", "10000.00"),
            ("allocation", "12000.00"),
            ("top_up", "5000.00"),
        ]),
    )?;
    let charge = c
        .charge_ok(a, None, &video_emotion("v-2", 60, None))
        .await?;
    eq(
        "oldest allocation first",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "60.00")]),
    )?;
    let bucket = text(&charge, "/paid_from/0/bucket")?;
    check::ensure(bucket.contains("2026-01-15"), || {
        format!("January's allocation pays first, not `{bucket}`")
    })?;
    let rollovers = c.entries(a, "type=rollover").await?;
    eq("one rollover entry", &rollovers.len(), &1)?;
    let rollover = rollovers.first().ok_or("no rollover")?;
    eq(
        "carried",
        &rollover
            .pointer("/details/carried_minor")
            .and_then(Value::as_i64),
        &Some(1_000_000),
    )?;
    eq(
        "at the cycle boundary",
        &instant_at(rollover, "/at")?,
        &Some(instant("2026-02-15T12:00:00Z")?),
    )?;

    // Cancelled on 20 February: paid until 15 March.
    c.travel_to(instant("2026-02-20T00:00:00Z")?).await?;
    let cancelled = c.put_account(a, &subscribed(t0, "cancelled")).await?;
    eq(
        "ends at the end of the paid period",
        &instant_at(&cancelled, "/subscription/ends_at")?,
        &Some(instant("2026-03-15T12:00:00Z")?),
    )?;
    c.travel_to(instant("2026-03-15T11:59:59Z")?).await?;
    eq(
        "still there before the end",
        &c.available(a, "credit").await?,
        &"26940.00".to_owned(),
    )?;
    c.travel_to(instant("2026-03-15T12:00:01Z")?).await?;
    eq(
        "only the top-up is left",
        &c.buckets(a, "credit").await?,
        &pairs(&[("top_up", "5000.00")]),
    )?;
    let charge = c
        .charge_ok(a, None, &video_emotion("v-3", 30, None))
        .await?;
    eq(
        "paid from the top-up",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("top_up", "30.00")]),
    )?;
    let forfeits = c.entries(a, "type=forfeit").await?;
    eq(
        "forfeited allocations",
        &sum(&forfeits)?,
        &Decimal::new(-2_194_000, 2),
    )?;
    for forfeit in &forfeits {
        eq(
            "forfeited at the end",
            &instant_at(forfeit, "/at")?,
            &Some(instant("2026-03-15T12:00:00Z")?),
        )?;
    }
    let grants = c.entries(a, "type=grant").await?;
    eq("no allocation after the end", &grants.len(), &2)?;

    // A refund of a charge paid from a forfeited allocation follows the plan's rule:
    // promotional credits for 30 days.
    let refund = c
        .refund(
            a,
            &json!({ "id": "r-1", "charge": "v-2", "reason": "duplicate" }),
        )
        .await?;
    let refund = refund.expect(201, "refund of a charge paid from a forfeited allocation")?;
    eq(
        "restored as promotional credits",
        &draws(refund, "/restored_to")?,
        &pairs(&[("promotional", "60.00")]),
    )?;
    eq(
        "for 30 days",
        &instant_at(refund, "/restored_to/0/expires_at")?,
        &Some(instant("2026-04-14T12:00:01Z")?),
    )?;
    eq(
        "spent before the top-up",
        &c.buckets(a, "credit").await?,
        &pairs(&[("promotional", "60.00"), ("top_up", "4970.00")]),
    )?;

    // Top-ups never expire (the promotional credits did).
    c.travel_to(instant("2027-06-01T00:00:00Z")?).await?;
    eq(
        "top-up a year later",
        &c.buckets(a, "credit").await?,
        &pairs(&[("top_up", "4970.00")]),
    )?;
    Ok(())
}

/// The same forfeiture without time travel: a subscription anchored in the past whose
/// period ends seconds from now, cancelled; at the end the allocation left is forfeited
/// and the top-up remains.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imentiv_cancelled_subscription_forfeits_the_allocation_at_period_end(
    c: &Client,
) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-03-10T09:00:00Z")?).await;
    let end = t0 + Duration::seconds(8);
    let anchor = anchor_ending_at(end)?;
    let a = "im-forfeit";
    let created = c.put_account(a, &subscribed(anchor, "active")).await?;
    eq(
        "allocated",
        &text(&created, "/balance/credit")?,
        &"12000.00".to_owned(),
    )?;
    c.top_up_ok(a, &json!({ "id": "t-1", "amount": "250" }))
        .await?;
    let charge = c
        .charge_ok(a, None, &video_emotion("v-1", 100, None))
        .await?;
    eq(
        "paid from the allocation",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "100.00")]),
    )?;
    let cancelled = c.put_account(a, &subscribed(anchor, "cancelled")).await?;
    eq(
        "ends at the end of the period",
        &instant_at(&cancelled, "/subscription/ends_at")?,
        &Some(end),
    )?;
    eq(
        "before the end",
        &c.available(a, "credit").await?,
        &"12150.00".to_owned(),
    )?;

    c.travel_to(end + Duration::seconds(1)).await?;
    eq(
        "after the end",
        &c.buckets(a, "credit").await?,
        &pairs(&[("top_up", "250.00")]),
    )?;
    let charge = c
        .charge_ok(a, None, &video_emotion("v-2", 10, None))
        .await?;
    eq(
        "paid from the top-up",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("top_up", "10.00")]),
    )?;
    eq(
        "balance",
        &text(&charge, "/balance/credit")?,
        &"240.00".to_owned(),
    )?;
    let forfeits = c.entries(a, "type=forfeit").await?;
    let forfeited: Vec<(String, String, Option<DateTime<Utc>>)> = forfeits
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
        "the allocation left was forfeited at the end",
        &forfeited,
        &vec![("allocation".to_owned(), "-11900.00".to_owned(), Some(end))],
    )?;
    eq(
        "no allocation after the end",
        &c.entries(a, "type=grant").await?.len(),
        &1,
    )?;
    Ok(())
}

/// Personality analysis needs a prior core analysis of the same content (403 without one,
/// 400 without a content, nothing written); the first one per account is free; the second
/// is charged 25 a minute; emotion highlights have their own free first request.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imentiv_first_personality_analysis_is_free_after_a_core_analysis(
    c: &Client,
) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-01-16T10:00:00Z")?).await;
    let a = "im-personality";
    c.put_account(a, &subscribed(t0, "active")).await?;
    let key = c.account_key(a).await?;
    let personality = |id: &str, content: Option<&str>| {
        let mut body =
            json!({ "id": id, "feature": "personality_analysis", "inputs": { "duration": "5m" } });
        if let (Some(content), Some(object)) = (content, body.as_object_mut()) {
            object.insert("content".to_owned(), json!(content));
        }
        body
    };
    let before = c.entry_count(a).await?;
    let refused = c
        .charge(a, Some(&key), &personality("p-0", Some("video-1")))
        .await?;
    refused.problem(
        403,
        "feature-not-allowed",
        "personality analysis before a core analysis",
    )?;
    let refused = c.charge(a, Some(&key), &personality("p-0", None)).await?;
    refused.problem(
        400,
        "invalid-input",
        "personality analysis without a content",
    )?;
    eq("nothing written", &c.entry_count(a).await?, &before)?;

    let core = c
        .charge_ok(a, Some(&key), &video_emotion("v-1", 90, Some("video-1")))
        .await?;
    eq(
        "core analysis",
        &text(&core, "/charged/credit")?,
        &"90.00".to_owned(),
    )?;
    let first = c
        .charge_ok(a, Some(&key), &personality("p-1", Some("video-1")))
        .await?;
    eq("the first is free", &first.get("free"), &Some(&json!(true)))?;
    eq("charged nothing", &first.get("charged"), &Some(&json!({})))?;
    eq(
        "paid from nothing",
        &draws(&first, "/paid_from")?,
        &Vec::new(),
    )?;
    eq(
        "balance unchanged",
        &text(&first, "/balance/credit")?,
        &"11910.00".to_owned(),
    )?;
    let second = c
        .charge_ok(a, Some(&key), &personality("p-2", Some("video-1")))
        .await?;
    eq(
        "the second is not free",
        &second.get("free"),
        &Some(&json!(false)),
    )?;
    eq(
        "5 minutes at 25",
        &text(&second, "/charged/credit")?,
        &"125.00".to_owned(),
    )?;
    eq(
        "balance",
        &text(&second, "/balance/credit")?,
        &"11785.00".to_owned(),
    )?;
    let highlights = c
        .charge_ok(
            a,
            Some(&key),
            &json!({ "id": "h-1", "feature": "emotion_highlights", "inputs": { "duration": "3m" }, "content": "video-1" }),
        )
        .await?;
    eq(
        "first emotion highlights free too",
        &highlights.get("free"),
        &Some(&json!(true)),
    )?;

    let charges = c
        .entries(a, "type=charge&feature=personality_analysis")
        .await?;
    let seen: Vec<(String, String, String)> = charges
        .iter()
        .map(|entry| {
            Ok((
                text(entry, "/id")?,
                text(entry, "/amount")?,
                text(entry, "/content")?,
            ))
        })
        .collect::<Result<_, String>>()?;
    eq(
        "both personality analyses are on record, the free one too",
        &seen,
        &vec![
            (
                "charge:p-1".to_owned(),
                "0".to_owned(),
                "video-1".to_owned(),
            ),
            (
                "charge:p-2:credit".to_owned(),
                "-125.00".to_owned(),
                "video-1".to_owned(),
            ),
        ],
    )?;
    Ok(())
}

/// A duplicate charge is refunded (reason `duplicate`) to the bucket that paid; another
/// reason is `refund-not-allowed`; nothing is left to refund a second time; the same refund
/// id replays its answer; an unknown charge is 404.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imentiv_refund_of_a_duplicate_charge(c: &Client) -> Result<(), String> {
    let t0 = c.start_at(instant("2026-01-16T10:00:00Z")?).await;
    let a = "im-refund";
    c.put_account(a, &subscribed(t0, "active")).await?;
    c.charge_ok(a, None, &video_emotion("c-1", 100, Some("video-7")))
        .await?;
    let duplicate = c
        .charge_ok(a, None, &video_emotion("c-2", 100, Some("video-7")))
        .await?;
    eq(
        "billed twice",
        &text(&duplicate, "/balance/credit")?,
        &"11800.00".to_owned(),
    )?;

    let refused = c
        .refund(
            a,
            &json!({ "id": "r-0", "charge": "c-2", "reason": "goodwill" }),
        )
        .await?;
    refused.problem(
        422,
        "refund-not-allowed",
        "a refund for a reason the plan does not allow",
    )?;
    let refund_body = json!({ "id": "r-1", "charge": "c-2", "reason": "duplicate" });
    let refund = c.refund(a, &refund_body).await?;
    let refunded = refund.expect(201, "refund of the duplicate")?.clone();
    eq(
        "refunded",
        &text(&refunded, "/refunded/credit")?,
        &"100.00".to_owned(),
    )?;
    eq(
        "to the bucket that paid",
        &draws(&refunded, "/restored_to")?,
        &pairs(&[("allocation", "100.00")]),
    )?;
    eq(
        "balance",
        &text(&refunded, "/balance/credit")?,
        &"11900.00".to_owned(),
    )?;
    let replay = c.refund(a, &refund_body).await?;
    eq(
        "the same id replays the answer",
        replay.expect(201, "refund replay")?,
        &refunded,
    )?;
    let again = c
        .refund(
            a,
            &json!({ "id": "r-2", "charge": "c-2", "reason": "duplicate" }),
        )
        .await?;
    again.problem(
        422,
        "refund-not-allowed",
        "a second refund of the same charge",
    )?;
    let unknown = c
        .refund(
            a,
            &json!({ "id": "r-3", "charge": "nope", "reason": "duplicate" }),
        )
        .await?;
    unknown.problem(404, "not-found", "a refund of an unknown charge")?;
    let refunds = c.entries(a, "type=refund").await?;
    let amounts: Vec<String> = refunds
        .iter()
        .map(|entry| text(entry, "/amount"))
        .collect::<Result<_, _>>()?;
    eq("one refund entry", &amounts, &vec!["100.00".to_owned()])?;
    eq(
        "available",
        &c.available(a, "credit").await?,
        &"11900.00".to_owned(),
    )?;
    Ok(())
}

/// Refunds within 30 calendar days of the charge only.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn imentiv_refund_window_is_30_days(c: &Client) -> Result<(), String> {
    c.require_time_travel()?;
    let t0 = c.start_at(instant("2026-01-16T12:00:00Z")?).await;
    let a = "im-refund-window";
    c.put_account(a, &subscribed(t0, "active")).await?;
    c.top_up_ok(a, &json!({ "id": "t-1", "amount": "1000" }))
        .await?;
    c.charge_ok(a, None, &video_emotion("c-1", 100, None))
        .await?;
    c.travel_to(instant("2026-02-14T12:00:00Z")?).await?;
    let partial = c
        .refund(
            a,
            &json!({ "id": "r-1", "charge": "c-1", "reason": "internal_error", "amount": "40" }),
        )
        .await?;
    let partial = partial.expect(201, "a partial refund on day 29")?;
    eq(
        "refunded",
        &text(partial, "/refunded/credit")?,
        &"40.00".to_owned(),
    )?;
    c.travel_to(instant("2026-02-15T12:00:00Z")?).await?;
    let last_day = c
        .refund(
            a,
            &json!({ "id": "r-2", "charge": "c-1", "reason": "legal", "amount": "10" }),
        )
        .await?;
    last_day.expect(201, "a refund exactly 30 days after the charge")?;
    c.travel_to(instant("2026-02-15T12:00:01Z")?).await?;
    let late = c
        .refund(
            a,
            &json!({ "id": "r-3", "charge": "c-1", "reason": "duplicate" }),
        )
        .await?;
    let problem = late.problem(422, "refund-not-allowed", "a refund after 30 days")?;
    let detail = text(problem, "/detail")?;
    check::ensure(detail.contains("30-day"), || {
        format!("the detail names the window: {detail}")
    })?;
    eq(
        "two refund entries",
        &c.entries(a, "type=refund").await?.len(),
        &2,
    )?;
    Ok(())
}
