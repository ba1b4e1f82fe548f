//! Holds you can look at: the fact record `hold:<id>` each hold keeps, the lookup
//! `GET /v1/accounts/{account}/holds/{hold}`, and the problem a capture or release of a hold
//! that is no longer open answers. `docs/holds.md` states the rules.
//!
//! The record is written with the hold (status `open`) and rewritten, in the same commit, by
//! its capture (`captured`) or release (`released`). Expiry writes nothing: a catch-up can
//! expire up to 128 holds at once, and one commit carries at most 98 entries and facts
//! together. An `open` record whose `expires_at` has passed is therefore read as `expired`
//! (the ledger expires a hold at exactly that instant, whenever the account is next brought
//! up to date). Closing an account releases its holds without rewriting their records
//! either, so a lookup of an `open` record also reads the snapshot (one more keyed read).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use credits_dsl::RateBook;
use credits_ledger::{Account, AccountStatus, Command, Decision, Hold};
use credits_store::FactRecord;

use crate::AppState;
use crate::model::HoldView;
use crate::money::format_minor;
use crate::problem::{Problem, ProblemType};
use crate::service::store_problem;
use crate::validate::display_id;

/// A hold's state as its record keeps it (`expired` is derived, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Open,
    Captured,
    Released,
    Expired,
}

impl HoldStatus {
    fn name(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Captured => "captured",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }
}

/// The fact record of one hold. Amounts are decimals in their unit, rendered with the book
/// the decision used, so a lookup needs no book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    pub hold: String,
    pub feature: String,
    pub status: HoldStatus,
    /// Per unit: what the hold reserved.
    pub reserved: BTreeMap<String, String>,
    /// Per reserved unit: what its capture spent (zero when nothing).
    #[serde(default)]
    pub captured: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// The capture's or release's operation id.
    #[serde(default)]
    pub closed_by: Option<String>,
}

fn key(hold: &str) -> String {
    format!("hold:{hold}")
}

/// Per unit, what a hold reserved (its draws summed).
fn reserved_minor(hold: &Hold) -> BTreeMap<String, i64> {
    let mut per_unit: BTreeMap<String, i64> = BTreeMap::new();
    for draw in &hold.draws {
        let slot = per_unit.entry(draw.unit.clone()).or_default();
        *slot = slot.saturating_add(draw.amount_minor);
    }
    per_unit
}

fn rendered(book: &RateBook, amounts: &BTreeMap<String, i64>) -> BTreeMap<String, String> {
    amounts
        .iter()
        .map(|(unit, minor)| (unit.clone(), format_minor(book, unit, *minor)))
        .collect()
}

/// Per reserved unit (and any unit the capture spent), what a capture of `hold` spent:
/// zero amounts included, so a client reads the same units it reserved.
pub fn captured(
    book: &RateBook,
    hold: &Hold,
    spent: &[credits_ledger::Amount],
) -> BTreeMap<String, String> {
    let mut per_unit: BTreeMap<String, i64> = reserved_minor(hold)
        .into_keys()
        .map(|unit| (unit, 0))
        .collect();
    for amount in spent {
        per_unit.insert(amount.unit.clone(), amount.amount_minor);
    }
    rendered(book, &per_unit)
}

fn record(book: &RateBook, hold: &Hold, status: HoldStatus) -> HoldRecord {
    HoldRecord {
        hold: hold.id.clone(),
        feature: hold.feature.clone(),
        status,
        reserved: rendered(book, &reserved_minor(hold)),
        captured: BTreeMap::new(),
        created_at: hold.created_at,
        expires_at: hold.expires_at,
        closed_at: None,
        closed_by: None,
    }
}

/// The hold record `decision` writes: a new hold's, or the captured or released hold's.
/// `before` is the account the decision was made on.
///
/// # Errors
/// `internal` when the record does not serialise (a bug).
pub fn written_by(
    account_id: &str,
    book: &RateBook,
    before: Option<&Account>,
    command: &Command,
    decision: &Decision,
) -> Result<Option<FactRecord>, Problem> {
    let prior =
        |id: &str| before.and_then(|account| account.holds.iter().find(|hold| hold.id == id));
    let record = match command {
        Command::Hold(request) => decision
            .account
            .holds
            .iter()
            .find(|hold| hold.id == request.id)
            .map(|hold| record(book, hold, HoldStatus::Open)),
        Command::Capture(capture) => prior(&capture.hold).map(|hold| HoldRecord {
            captured: captured(book, hold, &decision.outcome.amounts),
            closed_at: Some(decision.account.advanced_to),
            closed_by: Some(capture.id.clone()),
            ..record(book, hold, HoldStatus::Captured)
        }),
        Command::Release(release) => prior(&release.hold).map(|hold| HoldRecord {
            closed_at: Some(decision.account.advanced_to),
            closed_by: Some(release.id.clone()),
            ..record(book, hold, HoldStatus::Released)
        }),
        _ => None,
    };
    record
        .map(|record| {
            let value = serde_json::to_value(&record).map_err(|error| {
                tracing::error!(%error, "a hold record does not serialise");
                Problem::internal()
            })?;
            Ok(FactRecord {
                account: account_id.to_owned(),
                key: key(&record.hold),
                value,
            })
        })
        .transpose()
}

/// The hold's record, one keyed read; `None` when no record names it.
async fn read(state: &AppState, account: &str, hold: &str) -> Result<Option<HoldRecord>, Problem> {
    let key = key(hold);
    let found = state
        .store
        .facts(account, std::slice::from_ref(&key))
        .await
        .map_err(|error| store_problem(&error))?;
    found
        .into_iter()
        .find(|fact| fact.key == key)
        .map(|fact| {
            serde_json::from_value(fact.value).map_err(|error| {
                tracing::error!(%error, fact = %key, "stored hold record is unreadable");
                Problem::internal()
            })
        })
        .transpose()
}

/// An `open` record whose hold expired by `now` is `expired` at its `expires_at`.
fn as_of(mut record: HoldRecord, now: DateTime<Utc>) -> HoldRecord {
    if record.status == HoldStatus::Open && record.expires_at <= now {
        record.status = HoldStatus::Expired;
        record.closed_at = Some(record.expires_at);
    }
    record
}

/// An instant as the API writes it everywhere (`2026-01-15T10:00:30Z`).
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn no_hold(account: &str, hold: &str) -> Problem {
    Problem::not_found(format!(
        "no hold `{}` on account `{}`",
        display_id(hold),
        display_id(account)
    ))
    .with("hold", display_id(hold))
}

/// `GET /v1/accounts/{account}/holds/{hold}`: one keyed read, and a snapshot read only for
/// a hold that is `open` by its record (closing an account releases its holds).
///
/// # Errors
/// `not-found` when no record names the hold; the store's failure.
pub async fn lookup(state: &AppState, account: &str, hold: &str) -> Result<HoldView, Problem> {
    let now = state.clock.now();
    let Some(stored) = read(state, account, hold).await? else {
        return Err(no_hold(account, hold));
    };
    let record = if stored.status == HoldStatus::Open {
        let current = crate::service::load_account(state, account).await?;
        let closed_at = current.account.advanced_to;
        let still_open = current.account.holds.iter().any(|open| open.id == hold);
        if !still_open
            && current.account.status == AccountStatus::Closed
            && closed_at < stored.expires_at
        {
            HoldRecord {
                status: HoldStatus::Released,
                closed_at: Some(closed_at),
                ..stored
            }
        } else {
            as_of(stored, now)
        }
    } else {
        stored
    };
    let captured = if record.status == HoldStatus::Captured {
        record.captured
    } else {
        BTreeMap::new()
    };
    Ok(HoldView {
        id: record.hold,
        account: account.to_owned(),
        feature: record.feature,
        status: record.status.name().to_owned(),
        reserved: record.reserved,
        captured,
        created_at: record.created_at,
        expires_at: record.expires_at,
        closed_at: record.closed_at,
    })
}

/// Before a capture or release of `hold`: the problem to answer when it is not open (no such
/// hold, or captured, released or expired, with the instant), else `None`. Reads only when
/// the snapshot has no open hold of that id.
///
/// # Errors
/// The store's failure.
pub async fn not_open(
    state: &AppState,
    account: &Account,
    hold: &str,
    now: DateTime<Utc>,
) -> Result<Option<Problem>, Problem> {
    if account.status == AccountStatus::Closed {
        // The ledger answers `account-closed`.
        return Ok(None);
    }
    let open = account.holds.iter().find(|open| open.id == hold);
    if open.is_some_and(|open| open.expires_at > now) {
        return Ok(None);
    }
    let record = match read(state, &account.id, hold).await? {
        Some(record) => as_of(record, now),
        // A hold from before records were kept: the ledger decides.
        None if open.is_some() => return Ok(None),
        None => return Ok(Some(no_hold(&account.id, hold))),
    };
    let at = record
        .closed_at
        .map_or_else(String::new, |at| format!(" at {}", stamp(at)));
    let detail = match record.status {
        HoldStatus::Open => return Ok(None),
        HoldStatus::Captured => format!("hold `{}` was already captured{at}", display_id(hold)),
        HoldStatus::Released => format!("hold `{}` was already released{at}", display_id(hold)),
        HoldStatus::Expired => format!("hold `{}` expired{at}", display_id(hold)),
    };
    let mut problem = Problem::new(ProblemType::HoldClosed, detail)
        .with("hold", display_id(hold))
        .with("hold_status", record.status.name());
    if let Some(closed_at) = record.closed_at {
        problem = problem.with("closed_at", stamp(closed_at));
    }
    Ok(Some(problem))
}
