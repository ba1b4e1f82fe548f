//! The events a decision publishes for the platform (the outbox): what happened to the
//! account that someone outside should hear about without polling — the balance fell below
//! a threshold, credits were granted, are about to expire or expired, a cycle's statement is
//! ready, a hold expired, the account was suspended, resumed or closed, a top-up is wanted.
//!
//! Events are derived from the decision itself (its entries, the statements it closed, the
//! change of status) and from notices the walk raised at their instants (expiry warnings,
//! auto top-ups), so catching up lazily publishes the same events, at the same instants, as
//! a schedule visiting the account at every `due_at` (`tests/events.rs`). The shell commits
//! them with the decision, in one write. `docs/events.md` is the catalogue.
//!
//! Each account numbers its events from 1 without gaps (`Account::events_published` is the
//! last number used); an event's id is derived from the account and that number by SHA-256,
//! so it is unique across accounts and the same forever, and receivers de-duplicate by it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::account::AccountStatus;
use crate::entry::{Entry, EntryType};
use crate::statement::ClosedStatement;
use crate::work::{Work, stamp};
use crate::{LedgerError, LedgerResult};

/// The version of every payload's shape; a change that is not an addition gets a new one.
pub const EVENT_VERSION: u32 = 1;

/// An event as the shell commits it (`credits_store::EventRecord` plus the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The account's event number: from 1, gapless, in commit order.
    pub seq: u64,
    /// `evt_` and 32 hex digits of SHA-256 over the account id and `seq`.
    pub id: String,
    pub event_type: EventType,
    /// When what it reports happened (an instant of the walk, or the decision's `now`).
    pub at: DateTime<Utc>,
    /// `{"id", "type", "version", "account", "seq", "at", "data": {…}}`.
    pub body: Value,
}

/// Every event type, by its stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The available balance of a unit fell below one of the plan's `alert below` thresholds.
    #[serde(rename = "balance.low")]
    BalanceLow,
    /// A plan grant added credits (daily, per cycle, once).
    #[serde(rename = "credits.granted")]
    CreditsGranted,
    /// A bucket with credits left reached its plan's `warn before expiry` window.
    #[serde(rename = "credits.expiring")]
    CreditsExpiring,
    /// Credits were removed unspent: expired, cut above a rollover cap, or forfeited.
    #[serde(rename = "credits.expired")]
    CreditsExpired,
    /// A billing cycle ended; its statement is final.
    #[serde(rename = "statement.ready")]
    StatementReady,
    /// A hold reached its expiry uncaptured; what it reserved was released.
    #[serde(rename = "hold.expired")]
    HoldExpired,
    #[serde(rename = "account.suspended")]
    AccountSuspended,
    #[serde(rename = "account.resumed")]
    AccountResumed,
    #[serde(rename = "account.closed")]
    AccountClosed,
    /// The available balance of a unit fell below the plan's `auto topup below`.
    #[serde(rename = "auto_topup.requested")]
    AutoTopupRequested,
}

impl EventType {
    /// Every type, in the catalogue's order.
    pub const ALL: [Self; 10] = [
        Self::BalanceLow,
        Self::CreditsGranted,
        Self::CreditsExpiring,
        Self::CreditsExpired,
        Self::StatementReady,
        Self::HoldExpired,
        Self::AccountSuspended,
        Self::AccountResumed,
        Self::AccountClosed,
        Self::AutoTopupRequested,
    ];

    /// The stable name (`balance.low`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BalanceLow => "balance.low",
            Self::CreditsGranted => "credits.granted",
            Self::CreditsExpiring => "credits.expiring",
            Self::CreditsExpired => "credits.expired",
            Self::StatementReady => "statement.ready",
            Self::HoldExpired => "hold.expired",
            Self::AccountSuspended => "account.suspended",
            Self::AccountResumed => "account.resumed",
            Self::AccountClosed => "account.closed",
            Self::AutoTopupRequested => "auto_topup.requested",
        }
    }

    /// The type named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// An event before it gets its number: raised during the walk or the command.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub event_type: EventType,
    pub at: DateTime<Utc>,
    pub data: Value,
}

/// The id of event `seq` of `account`.
pub fn event_id(account: &str, seq: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"credits/event\n");
    hasher.update(account.as_bytes());
    hasher.update(b"\n");
    hasher.update(seq.to_string().as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("evt_{hex}")
}

/// How many events `entries` and `notices` publish (statements and status aside).
pub(crate) fn count(entries: &[Entry], notices: &[Notice]) -> usize {
    entries
        .iter()
        .filter(|entry| publishes(entry))
        .count()
        .saturating_add(notices.len())
}

/// Whether an entry stands for an event ([`of_entry`] gives it).
fn publishes(entry: &Entry) -> bool {
    entry.unit.is_some()
        && match entry.entry_type {
            EntryType::Alert | EntryType::Grant | EntryType::Expiry | EntryType::Forfeit => true,
            EntryType::Release => entry.body.get("reason") == Some(&json!("expired")),
            _ => false,
        }
}

/// The events of a finished decision, numbered after the account's last: those of its
/// entries, the walk's notices, the statements it closed and its change of status, in time
/// order (ties keep that order).
///
/// # Errors
/// Overflow of the event number or of an amount.
pub(crate) fn publish(
    work: &mut Work<'_>,
    status_before: Option<AccountStatus>,
    closed: &[ClosedStatement],
) -> LedgerResult<Vec<Event>> {
    let mut notices = Vec::new();
    for entry in &work.entries {
        if let Some(notice) = of_entry(work, entry)? {
            notices.push(notice);
        }
    }
    notices.append(&mut work.notices);
    for statement in closed {
        notices.push(Notice {
            event_type: EventType::StatementReady,
            at: statement.ends_at,
            data: json!({
                "starts_at": stamp(statement.starts_at),
                "ends_at": stamp(statement.ends_at),
                "units": statement.units,
            }),
        });
    }
    let status = work.account.status;
    if let Some(before) = status_before
        && before != status
    {
        let event_type = match status {
            AccountStatus::Active => EventType::AccountResumed,
            AccountStatus::Suspended => EventType::AccountSuspended,
            AccountStatus::Closed => EventType::AccountClosed,
        };
        notices.push(Notice {
            event_type,
            at: work.now,
            data: json!({ "operation": work.operation }),
        });
    }
    notices.sort_by_key(|notice| notice.at);
    let account = work.account.id.clone();
    notices
        .into_iter()
        .map(|notice| {
            let seq = work
                .account
                .events_published
                .checked_add(1)
                .ok_or(LedgerError::Overflow("event sequence"))?;
            work.account.events_published = seq;
            let id = event_id(&account, seq);
            let body = json!({
                "id": id,
                "type": notice.event_type.as_str(),
                "version": EVENT_VERSION,
                "account": account,
                "seq": seq,
                "at": stamp(notice.at),
                "data": notice.data,
            });
            Ok(Event {
                seq,
                id,
                event_type: notice.event_type,
                at: notice.at,
                body,
            })
        })
        .collect()
}

/// Data with `unit`, each amount as a decimal string and in minor units (`<name>_minor`),
/// and the fields of `rest`.
pub(crate) fn data(
    work: &Work<'_>,
    unit: &str,
    amounts: &[(&str, i64)],
    rest: Value,
) -> LedgerResult<Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("unit".to_owned(), Value::String(unit.to_owned()));
    for &(name, amount_minor) in amounts {
        let decimal = work.decimal(unit, amount_minor)?;
        fields.insert(name.to_owned(), Value::String(decimal.to_string()));
        fields.insert(format!("{name}_minor"), Value::from(amount_minor));
    }
    if let Value::Object(rest) = rest {
        fields.extend(rest);
    }
    Ok(Value::Object(fields))
}

fn field(entry: &Entry, name: &str) -> Value {
    entry.body.get(name).cloned().unwrap_or(Value::Null)
}

/// The event an entry stands for, if any. Top-ups, refunds and adjustments answer the
/// platform's own requests, so they publish nothing.
fn of_entry(work: &Work<'_>, entry: &Entry) -> LedgerResult<Option<Notice>> {
    let Some(unit) = entry.unit.as_deref() else {
        return Ok(None);
    };
    let positive = || {
        entry
            .amount_minor
            .checked_neg()
            .ok_or(LedgerError::Overflow("amount"))
    };
    let (event_type, data) = match entry.entry_type {
        EntryType::Alert => (
            EventType::BalanceLow,
            data(
                work,
                unit,
                &[
                    (
                        "threshold",
                        field(entry, "threshold_minor").as_i64().unwrap_or(0),
                    ),
                    (
                        "available",
                        field(entry, "available_minor").as_i64().unwrap_or(0),
                    ),
                ],
                json!({}),
            )?,
        ),
        EntryType::Grant => (
            EventType::CreditsGranted,
            data(
                work,
                unit,
                &[("amount", entry.amount_minor)],
                json!({
                    "bucket": field(entry, "bucket"),
                    "kind": field(entry, "kind"),
                    "grant": field(entry, "grant"),
                    "plan": field(entry, "plan"),
                    "period_start": field(entry, "period_start"),
                    "expires_at": field(entry, "expires_at"),
                }),
            )?,
        ),
        EntryType::Expiry | EntryType::Forfeit => {
            let reason = match (entry.entry_type, field(entry, "reason")) {
                (_, Value::String(reason)) => reason,
                (EntryType::Forfeit, _) => "forfeited".to_owned(),
                _ if !field(entry, "hold").is_null() => "expired while held".to_owned(),
                _ => "expired".to_owned(),
            };
            (
                EventType::CreditsExpired,
                data(
                    work,
                    unit,
                    &[("amount", positive()?)],
                    json!({
                        "bucket": field(entry, "bucket"),
                        "kind": field(entry, "kind"),
                        "reason": reason,
                    }),
                )?,
            )
        }
        EntryType::Release if field(entry, "reason") == json!("expired") => (
            EventType::HoldExpired,
            data(
                work,
                unit,
                &[(
                    "released",
                    field(entry, "released_minor").as_i64().unwrap_or(0),
                )],
                json!({ "hold": field(entry, "hold") }),
            )?,
        ),
        _ => return Ok(None),
    };
    Ok(Some(Notice {
        event_type,
        at: entry.at,
        data,
    }))
}
