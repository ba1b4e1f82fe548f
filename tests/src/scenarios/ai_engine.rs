//! Seed 001 (AI Engine), `rates/ai-engine.rates`: calendar-month cycles (1st to last day);
//! Standard credits expire at the end of the cycle; Professional credits roll over for 3
//! cycles; packages of 1,000 and 5,000; Enterprise's credit line lets the balance go down to
//! −5,000 and no further.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::check::{self, draws, eq, instant, instant_at, pairs, text};
use super::client::{Client, bucket_list};

fn training(id: &str, time: &str, data: &str, compute: &str) -> Value {
    json!({ "id": id, "feature": "training", "inputs": { "time": time, "data": data, "compute": compute } })
}

fn inference(id: &str, requests: u32) -> Value {
    json!({ "id": id, "feature": "inference", "inputs": { "requests": requests } })
}

fn lefts(buckets: &[(String, String)]) -> Vec<String> {
    buckets.iter().map(|(_, left)| left.clone()).collect()
}

/// An entry's amount and instant.
type Stamped = (String, Option<DateTime<Utc>>);

fn amounts_and_instants(entries: &[Value]) -> Result<Vec<Stamped>, String> {
    entries
        .iter()
        .map(|entry| Ok((text(entry, "/amount")?, instant_at(entry, "/at")?)))
        .collect()
}

/// Standard: 1,000 granted for the calendar month; what is left expires at the month's end
/// (an `expiry` entry at 1 February 00:00) and February's 1,000 come on the 1st; top-up
/// packages never expire.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn ai_engine_standard_credits_expire_at_month_end(c: &Client) -> Result<(), String> {
    c.require_time_travel()?;
    c.start_at(instant("2026-01-20T15:00:00Z")?).await;
    let a = "ai-standard";
    let created = c
        .put_account(a, &json!({ "plan": "ai-engine/standard" }))
        .await?;
    eq(
        "granted",
        &text(&created, "/balance/credit")?,
        &"1000.00".to_owned(),
    )?;
    let balance = c.balance(a).await?;
    eq(
        "allocation",
        &bucket_list(&balance, "credit")?,
        &pairs(&[("allocation", "1000.00")]),
    )?;
    eq(
        "expires at the end of the calendar month",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-02-01T00:00:00Z")?),
    )?;
    let package = c
        .top_up_ok(a, &json!({ "id": "pkg-1", "package": "standard" }))
        .await?;
    eq(
        "standard package",
        &text(&package, "/credited/credit")?,
        &"1000.00".to_owned(),
    )?;
    eq(
        "never expires",
        &instant_at(&package, "/buckets/0/expires_at")?,
        &None,
    )?;
    let charge = c
        .charge_ok(a, None, &training("tr-1", "1h", "10 GB", "gpu"))
        .await?;
    eq(
        "60 min × 4 + 10 GB × 0.5",
        &text(&charge, "/charged/credit")?,
        &"245.00".to_owned(),
    )?;
    eq(
        "allocation first",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "245.00")]),
    )?;

    c.travel_to(instant("2026-01-31T23:59:59Z")?).await?;
    eq(
        "on the last second of January",
        &c.buckets(a, "credit").await?,
        &pairs(&[("allocation", "755.00"), ("top_up", "1000.00")]),
    )?;
    c.travel_to(instant("2026-02-01T00:00:00Z")?).await?;
    let balance = c.balance(a).await?;
    eq(
        "on 1 February",
        &bucket_list(&balance, "credit")?,
        &pairs(&[("allocation", "1000.00"), ("top_up", "1000.00")]),
    )?;
    eq(
        "February's expire on 1 March",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-03-01T00:00:00Z")?),
    )?;
    let charge = c
        .charge_ok(
            a,
            None,
            &json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "50 GB" } }),
        )
        .await?;
    eq(
        "50 GB × 0.2",
        &text(&charge, "/charged/credit")?,
        &"10.00".to_owned(),
    )?;
    let bucket = text(&charge, "/paid_from/0/bucket")?;
    check::ensure(bucket.contains("2026-02-01"), || {
        format!("paid from February's grant, not `{bucket}`")
    })?;
    eq(
        "January's remainder expired at the month's end",
        &amounts_and_instants(&c.entries(a, "type=expiry").await?)?,
        &vec![("-755.00".to_owned(), Some(instant("2026-02-01T00:00:00Z")?))],
    )?;
    eq(
        "one grant a month",
        &amounts_and_instants(&c.entries(a, "type=grant").await?)?,
        &vec![
            ("1000.00".to_owned(), Some(instant("2026-01-20T15:00:00Z")?)),
            ("1000.00".to_owned(), Some(instant("2026-02-01T00:00:00Z")?)),
        ],
    )?;
    Ok(())
}

/// January's statement (issued on 1 February) counts what expired at the month's end, so
/// its closing balance is February's opening: the statement of a calendar month.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn ai_engine_statement_of_a_month_counts_its_expiry(c: &Client) -> Result<(), String> {
    c.require_time_travel()?;
    c.start_at(instant("2026-01-20T15:00:00Z")?).await;
    let a = "ai-statement";
    c.put_account(a, &json!({ "plan": "ai-engine/standard" }))
        .await?;
    c.top_up_ok(a, &json!({ "id": "pkg-1", "package": "standard" }))
        .await?;
    c.charge_ok(a, None, &training("tr-1", "1h", "10 GB", "gpu"))
        .await?;
    c.travel_to(instant("2026-02-01T00:00:00Z")?).await?;
    c.charge_ok(
        a,
        None,
        &json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "50 GB" } }),
    )
    .await?;
    eq(
        "January's remainder expired at the month's end",
        &amounts_and_instants(&c.entries(a, "type=expiry").await?)?,
        &vec![("-755.00".to_owned(), Some(instant("2026-02-01T00:00:00Z")?))],
    )?;

    let statement = c
        .admin("GET", &format!("/v1/accounts/{a}/statements/2026-01"), None)
        .await?;
    let statement = statement.expect(200, "January's statement")?;
    eq(
        "January is the calendar month",
        &(
            instant_at(statement, "/starts_at")?,
            instant_at(statement, "/ends_at")?,
        ),
        &(
            Some(instant("2026-01-01T00:00:00Z")?),
            Some(instant("2026-02-01T00:00:00Z")?),
        ),
    )?;
    let line = |field: &str| text(statement, &format!("/units/credit/{field}"));
    let lines: Vec<String> = [
        "opening", "grants", "top_ups", "usage", "expired", "closing",
    ]
    .iter()
    .map(|field| line(field))
    .collect::<Result<_, _>>()?;
    eq(
        "opening, grants, top-ups, usage, expired, closing",
        &lines,
        &["0.00", "1000.00", "1000.00", "245.00", "755.00", "1000.00"]
            .iter()
            .map(|amount| (*amount).to_owned())
            .collect::<Vec<_>>(),
    )?;
    eq(
        "usage by feature",
        &text(statement, "/units/credit/usage_by_feature/training")?,
        &"245.00".to_owned(),
    )?;

    let february = c
        .admin("GET", &format!("/v1/accounts/{a}/statements/2026-02"), None)
        .await?;
    let february = february.expect(200, "February's statement")?;
    eq(
        "February opens with January's closing",
        &text(february, "/units/credit/opening")?,
        &"1000.00".to_owned(),
    )?;
    Ok(())
}

/// Professional: 5,000 a month, each month's credits usable for 3 more cycles: January's
/// are there on 30 April and gone on 1 May (an `expiry` entry); the soonest-expiring
/// allocation is spent first.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn ai_engine_professional_credits_roll_over_three_cycles(
    c: &Client,
) -> Result<(), String> {
    c.require_time_travel()?;
    c.start_at(instant("2026-01-20T15:00:00Z")?).await;
    let a = "ai-professional";
    c.put_account(a, &json!({ "plan": "ai-engine/professional" }))
        .await?;
    let balance = c.balance(a).await?;
    eq(
        "allocation",
        &bucket_list(&balance, "credit")?,
        &pairs(&[("allocation", "5000.00")]),
    )?;
    eq(
        "January's credits last 3 more cycles",
        &instant_at(&balance, "/units/credit/buckets/0/expires_at")?,
        &Some(instant("2026-05-01T00:00:00Z")?),
    )?;
    let charge = c
        .charge_ok(a, None, &training("tr-1", "1000m", "0 GB", "cpu"))
        .await?;
    eq(
        "1,000 minutes of CPU",
        &text(&charge, "/charged/credit")?,
        &"1000.00".to_owned(),
    )?;

    c.travel_to(instant("2026-03-05T00:00:00Z")?).await?;
    eq(
        "three allocations in March",
        &lefts(&c.buckets(a, "credit").await?),
        &vec![
            "4000.00".to_owned(),
            "5000.00".to_owned(),
            "5000.00".to_owned(),
        ],
    )?;
    let charge = c.charge_ok(a, None, &inference("in-1", 100)).await?;
    eq(
        "100 requests",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "1.00")]),
    )?;
    let bucket = text(&charge, "/paid_from/0/bucket")?;
    check::ensure(bucket.contains("2026-01-01"), || {
        format!("the soonest-expiring (January's) allocation pays first, not `{bucket}`")
    })?;

    c.travel_to(instant("2026-04-30T23:59:59Z")?).await?;
    eq(
        "January's still there on 30 April",
        &lefts(&c.buckets(a, "credit").await?),
        &vec![
            "3999.00".to_owned(),
            "5000.00".to_owned(),
            "5000.00".to_owned(),
            "5000.00".to_owned(),
        ],
    )?;
    c.travel_to(instant("2026-05-01T00:00:00Z")?).await?;
    eq(
        "January's gone on 1 May, May's granted",
        &lefts(&c.buckets(a, "credit").await?),
        &vec![
            "5000.00".to_owned(),
            "5000.00".to_owned(),
            "5000.00".to_owned(),
            "5000.00".to_owned(),
        ],
    )?;
    eq(
        "available on 1 May",
        &c.available(a, "credit").await?,
        &"20000.00".to_owned(),
    )?;
    c.charge_ok(a, None, &inference("in-2", 100)).await?;
    eq(
        "January's remainder expired after 3 cycles",
        &amounts_and_instants(&c.entries(a, "type=expiry").await?)?,
        &vec![(
            "-3999.00".to_owned(),
            Some(instant("2026-05-01T00:00:00Z")?),
        )],
    )?;
    eq(
        "five monthly grants",
        &c.entries(a, "type=grant").await?.len(),
        &5,
    )?;
    Ok(())
}

/// Packages of 1,000 and 5,000 (an unknown package is 400); Enterprise overdraws down to
/// −5,000 (the last draw is the overdraft) and no further (402, nothing written); a top-up
/// repays the debt first.
///
/// # Errors
/// The first difference from the seed's policy.
pub async fn ai_engine_packages_and_enterprise_credit_line(c: &Client) -> Result<(), String> {
    c.start_at(instant("2026-01-20T15:00:00Z")?).await;
    let s = "ai-packages";
    c.put_account(s, &json!({ "plan": "ai-engine/standard" }))
        .await?;
    let standard = c
        .top_up_ok(s, &json!({ "id": "pkg-1", "package": "standard" }))
        .await?;
    eq(
        "standard package",
        &text(&standard, "/credited/credit")?,
        &"1000.00".to_owned(),
    )?;
    let professional = c
        .top_up_ok(s, &json!({ "id": "pkg-2", "package": "professional" }))
        .await?;
    eq(
        "professional package",
        &text(&professional, "/credited/credit")?,
        &"5000.00".to_owned(),
    )?;
    eq(
        "balance",
        &text(&professional, "/balance/credit")?,
        &"7000.00".to_owned(),
    )?;
    let unknown = c
        .top_up(s, &json!({ "id": "pkg-3", "package": "enormous" }))
        .await?;
    unknown.problem(400, "invalid-input", "an unknown package")?;

    let e = "ai-enterprise";
    let created = c
        .put_account(e, &json!({ "plan": "ai-engine/enterprise" }))
        .await?;
    eq(
        "enterprise allocation",
        &text(&created, "/balance/credit")?,
        &"20000.00".to_owned(),
    )?;
    let balance = c.balance(e).await?;
    eq(
        "credit line",
        &text(&balance, "/units/credit/credit_line_left")?,
        &"5000.00".to_owned(),
    )?;
    let charge = c
        .charge_ok(e, None, &training("tr-1", "1500m", "0 GB", "multi_gpu"))
        .await?;
    eq(
        "1,500 min × 12",
        &text(&charge, "/charged/credit")?,
        &"18000.00".to_owned(),
    )?;
    eq(
        "balance",
        &text(&charge, "/balance/credit")?,
        &"2000.00".to_owned(),
    )?;

    let before = c.entry_count(e).await?;
    let refused = c
        .charge(e, None, &training("tr-2", "1751m", "0 GB", "gpu"))
        .await?;
    let problem = refused.problem(
        402,
        "insufficient-credits",
        "7,004 with 2,000 and a 5,000 line",
    )?;
    eq("needed", &text(problem, "/needed")?, &"7004.00".to_owned())?;
    eq("nothing written", &c.entry_count(e).await?, &before)?;
    eq(
        "balance unchanged",
        &c.available(e, "credit").await?,
        &"2000.00".to_owned(),
    )?;

    let charge = c
        .charge_ok(e, None, &training("tr-3", "1750m", "0 GB", "gpu"))
        .await?;
    eq(
        "the allocation, then the credit line",
        &draws(&charge, "/paid_from")?,
        &pairs(&[("allocation", "2000.00"), ("overdraft", "5000.00")]),
    )?;
    eq(
        "down to −5,000",
        &text(&charge, "/balance/credit")?,
        &"-5000.00".to_owned(),
    )?;
    let balance = c.balance(e).await?;
    eq(
        "no line left",
        &text(&balance, "/units/credit/credit_line_left")?,
        &"0.00".to_owned(),
    )?;
    let before = c.entry_count(e).await?;
    let refused = c
        .charge(
            e,
            None,
            &json!({ "id": "dp-1", "feature": "data_processing", "inputs": { "data": "1 GB" } }),
        )
        .await?;
    refused.problem(402, "insufficient-credits", "one more credit past the line")?;
    eq("nothing written", &c.entry_count(e).await?, &before)?;

    let repaid = c
        .top_up_ok(e, &json!({ "id": "pkg-1", "package": "professional" }))
        .await?;
    eq(
        "the package repays the debt",
        &text(&repaid, "/balance/credit")?,
        &"0.00".to_owned(),
    )?;
    let balance = c.balance(e).await?;
    eq(
        "the line is back",
        &text(&balance, "/units/credit/credit_line_left")?,
        &"5000.00".to_owned(),
    )?;
    Ok(())
}
