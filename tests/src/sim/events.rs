//! The events a run committed, checked against its history at the end: every event the
//! ledger derives from an entry (a grant, an expiry or forfeit, a low-balance crossing, an
//! expired hold) was published exactly once, with the entry's instant, unit and amount; no
//! such event exists without its entry (none for a refused or lost commit, none invented);
//! every account's events are numbered 1, 2, 3… with the ids the ledger derives; and the
//! other events (statements, changes of status) are of the kinds the run can cause.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use credits_store::{EntryQuery, EntryRecord, EventRecord, Store, StoreError};
use serde_json::Value;

/// What an entry-derived event says: (type, at, unit, amount in minor units).
type Said = (String, DateTime<Utc>, String, i64);

/// Checks the events of `accounts` (read from `store` directly, faults off); how many there
/// were. A store that cannot read events (`Invalid`: it does not keep them yet) is not
/// checked, and 0 events are reported.
pub async fn check(store: &dyn Store, accounts: &[&str]) -> Result<usize, String> {
    let mut ids = BTreeSet::new();
    if let Some(first) = accounts.first()
        && let Err(StoreError::Invalid(_)) = store.account_events(first, 0, 1).await
    {
        return Ok(0);
    }
    for account in accounts {
        let events = all_events(store, account).await?;
        for (expected, event) in (1..).zip(&events) {
            if event.seq != expected {
                return Err(format!(
                    "events of `{account}`: seq {} where {expected} was next",
                    event.seq
                ));
            }
            if event.id != credits_ledger::event_id(account, event.seq)
                || !ids.insert(event.id.clone())
            {
                return Err(format!(
                    "event {} of `{account}` has id `{}`",
                    event.seq, event.id
                ));
            }
            if event.body.get("type").and_then(Value::as_str) != Some(event.event_type.as_str()) {
                return Err(format!(
                    "event {} of `{account}`: body {}",
                    event.seq, event.body
                ));
            }
        }
        let entries = all_entries(store, account).await?;
        let mut expected: BTreeMap<Said, usize> = BTreeMap::new();
        for entry in &entries {
            if let Some(said) = said_by_entry(entry) {
                *expected.entry(said).or_default() += 1;
            }
        }
        let mut published: BTreeMap<Said, usize> = BTreeMap::new();
        for event in &events {
            match event.event_type.as_str() {
                "credits.granted" | "credits.expired" | "balance.low" | "hold.expired" => {
                    *published.entry(said_by_event(event)?).or_default() += 1;
                }
                "statement.ready" | "account.suspended" | "account.resumed" | "account.closed" => {}
                other => {
                    return Err(format!(
                        "`{account}` published `{other}`, which nothing in this run causes"
                    ));
                }
            }
        }
        if expected != published {
            let missing: Vec<_> = expected
                .iter()
                .filter(|(said, count)| published.get(*said) != Some(count))
                .collect();
            let invented: Vec<_> = published
                .iter()
                .filter(|(said, count)| expected.get(*said) != Some(count))
                .collect();
            return Err(format!(
                "the events of `{account}` disagree with its entries: expected but not \
                 published (or not once) {missing:?}; published without an entry {invented:?}"
            ));
        }
        check_status(account, &events)?;
    }
    Ok(ids.len())
}

/// Suspensions and resumptions alternate; a close is the last change of status.
fn check_status(account: &str, events: &[EventRecord]) -> Result<(), String> {
    let mut suspended = false;
    let mut closed = false;
    for event in events {
        let kind = event.event_type.as_str();
        if closed && kind.starts_with("account.") {
            return Err(format!(
                "`{account}` published `{kind}` after it was closed"
            ));
        }
        match kind {
            "account.suspended" if suspended => {
                return Err(format!("`{account}` was suspended twice in a row"));
            }
            "account.resumed" if !suspended => {
                return Err(format!("`{account}` was resumed while active"));
            }
            "account.suspended" => suspended = true,
            "account.resumed" => suspended = false,
            "account.closed" => closed = true,
            _ => {}
        }
    }
    Ok(())
}

fn said_by_entry(entry: &EntryRecord) -> Option<Said> {
    let unit = entry.unit.clone()?;
    let number = |name: &str| entry.body.get(name).and_then(Value::as_i64);
    let (kind, amount_minor) = match entry.entry_type.as_str() {
        "grant" => ("credits.granted", entry.amount_minor),
        "expiry" | "forfeit" => ("credits.expired", entry.amount_minor.checked_neg()?),
        "alert" => ("balance.low", number("threshold_minor")?),
        "release" if entry.body.get("reason").and_then(Value::as_str) == Some("expired") => {
            ("hold.expired", number("released_minor")?)
        }
        _ => return None,
    };
    Some((kind.to_owned(), entry.at, unit, amount_minor))
}

fn said_by_event(event: &EventRecord) -> Result<Said, String> {
    let data = event.body.get("data").unwrap_or(&Value::Null);
    let field = match event.event_type.as_str() {
        "balance.low" => "threshold_minor",
        "hold.expired" => "released_minor",
        _ => "amount_minor",
    };
    let amount_minor = data
        .get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("event {} has no `{field}`: {}", event.id, event.body))?;
    let unit = data
        .get("unit")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("event {} has no unit: {}", event.id, event.body))?;
    Ok((
        event.event_type.clone(),
        event.at,
        unit.to_owned(),
        amount_minor,
    ))
}

pub(crate) async fn all_events(
    store: &dyn Store,
    account: &str,
) -> Result<Vec<EventRecord>, String> {
    let mut all: Vec<EventRecord> = Vec::new();
    for _ in 0..10_000 {
        let after = all.last().map_or(0, |event| event.seq);
        let page = store
            .account_events(account, after, 0)
            .await
            .map_err(|error| format!("events of `{account}`: {error}"))?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
    Err(format!("the events of `{account}` never end"))
}

async fn all_entries(store: &dyn Store, account: &str) -> Result<Vec<EntryRecord>, String> {
    let mut query = EntryQuery {
        account: account.to_owned(),
        ..EntryQuery::default()
    };
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = store
            .entries(&query)
            .await
            .map_err(|error| format!("entries of `{account}`: {error}"))?;
        all.extend(page.entries);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(all),
        }
    }
    Err(format!("the entries of `{account}` never end"))
}
