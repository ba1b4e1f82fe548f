//! Rows as SQLite holds them, and their checked conversion to and from records.
//!
//! Reading is two steps on purpose: the writer thread only copies columns out (cheap, so it
//! is free for the next commit sooner), and the caller's task parses JSON and timestamps.
//! Every conversion that can meet a bad value answers [`StoreError::Corrupt`], never panics.

use chrono::{DateTime, Utc};
use rusqlite::Row;

use crate::{
    AccountRecord, EntryRecord, EventRecord, FedEvent, KeyRecord, OperationRecord, StoreError,
    StoreResult,
};

pub(crate) const ACCOUNT_COLUMNS: &str = "account, version, due_at_micros, state";
pub(crate) const ENTRY_COLUMNS: &str = "account, id, seq, at_micros, entry_type, operation, \
     unit, amount_minor, feature, model, project, member, content, body";
pub(crate) const OPERATION_COLUMNS: &str =
    "account, id, kind, request_hash, status, response, at_micros";
pub(crate) const KEY_COLUMNS: &str =
    "id, secret_hash, account, created_at_micros, revoked_at_micros";

#[derive(Debug)]
pub(crate) struct AccountRow {
    pub(crate) account: String,
    pub(crate) version: i64,
    pub(crate) due_at_micros: Option<i64>,
    pub(crate) state: String,
}

impl AccountRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account: row.get(0)?,
            version: row.get(1)?,
            due_at_micros: row.get(2)?,
            state: row.get(3)?,
        })
    }

    pub(crate) fn into_record(self) -> StoreResult<AccountRecord> {
        let what = |field: &str| format!("account `{}` {field}", self.account);
        Ok(AccountRecord {
            version: unsigned(self.version, &what("version"))?,
            due_at: self
                .due_at_micros
                .map(|micros| time(micros, &what("due_at")))
                .transpose()?,
            state: json(&self.state, &what("state"))?,
            account: self.account,
        })
    }
}

/// One row of the outbox (columns `position, account, seq, id, event_type, at_micros, body`).
#[derive(Debug)]
pub(crate) struct EventRow {
    position: i64,
    account: String,
    seq: i64,
    id: String,
    event_type: String,
    at_micros: i64,
    body: String,
}

impl EventRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            position: row.get(0)?,
            account: row.get(1)?,
            seq: row.get(2)?,
            id: row.get(3)?,
            event_type: row.get(4)?,
            at_micros: row.get(5)?,
            body: row.get(6)?,
        })
    }

    pub(crate) fn into_fed(self) -> StoreResult<FedEvent> {
        let what = |field: &str| format!("event {} of `{}` {field}", self.seq, self.account);
        Ok(FedEvent {
            position: unsigned(self.position, &what("position"))?,
            event: EventRecord {
                seq: unsigned(self.seq, &what("seq"))?,
                at: time(self.at_micros, &what("at"))?,
                body: json(&self.body, &what("body"))?,
                account: self.account,
                id: self.id,
                event_type: self.event_type,
            },
        })
    }
}

#[derive(Debug)]
pub(crate) struct EntryRow {
    account: String,
    id: String,
    seq: i64,
    at_micros: i64,
    entry_type: String,
    operation: String,
    unit: Option<String>,
    amount_minor: i64,
    feature: Option<String>,
    model: Option<String>,
    project: Option<String>,
    member: Option<String>,
    content: Option<String>,
    body: String,
}

impl EntryRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account: row.get(0)?,
            id: row.get(1)?,
            seq: row.get(2)?,
            at_micros: row.get(3)?,
            entry_type: row.get(4)?,
            operation: row.get(5)?,
            unit: row.get(6)?,
            amount_minor: row.get(7)?,
            feature: row.get(8)?,
            model: row.get(9)?,
            project: row.get(10)?,
            member: row.get(11)?,
            content: row.get(12)?,
            body: row.get(13)?,
        })
    }

    pub(crate) fn into_record(self) -> StoreResult<EntryRecord> {
        let what = |field: &str| format!("entry `{}` of `{}` {field}", self.id, self.account);
        Ok(EntryRecord {
            seq: unsigned(self.seq, &what("seq"))?,
            at: time(self.at_micros, &what("at"))?,
            body: json(&self.body, &what("body"))?,
            account: self.account,
            id: self.id,
            entry_type: self.entry_type,
            operation: self.operation,
            unit: self.unit,
            amount_minor: self.amount_minor,
            feature: self.feature,
            model: self.model,
            project: self.project,
            member: self.member,
            content: self.content,
        })
    }
}

#[derive(Debug)]
pub(crate) struct OperationRow {
    account: String,
    id: String,
    kind: String,
    request_hash: String,
    status: i64,
    response: String,
    at_micros: i64,
}

impl OperationRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account: row.get(0)?,
            id: row.get(1)?,
            kind: row.get(2)?,
            request_hash: row.get(3)?,
            status: row.get(4)?,
            response: row.get(5)?,
            at_micros: row.get(6)?,
        })
    }

    pub(crate) fn into_record(self) -> StoreResult<OperationRecord> {
        let what = |field: &str| format!("operation `{}` of `{}` {field}", self.id, self.account);
        Ok(OperationRecord {
            status: u16::try_from(self.status).map_err(|_| {
                StoreError::Corrupt(format!(
                    "{} `{}` is not an HTTP status",
                    what("status"),
                    self.status
                ))
            })?,
            response: json(&self.response, &what("response"))?,
            at: time(self.at_micros, &what("at"))?,
            account: self.account,
            id: self.id,
            kind: self.kind,
            request_hash: self.request_hash,
        })
    }
}

#[derive(Debug)]
pub(crate) struct KeyRow {
    id: String,
    secret_hash: String,
    account: Option<String>,
    created_at_micros: i64,
    revoked_at_micros: Option<i64>,
}

impl KeyRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            secret_hash: row.get(1)?,
            account: row.get(2)?,
            created_at_micros: row.get(3)?,
            revoked_at_micros: row.get(4)?,
        })
    }

    pub(crate) fn into_record(self) -> StoreResult<KeyRecord> {
        let what = |field: &str| format!("key `{}` {field}", self.id);
        Ok(KeyRecord {
            created_at: time(self.created_at_micros, &what("created_at"))?,
            revoked_at: self
                .revoked_at_micros
                .map(|micros| time(micros, &what("revoked_at")))
                .transpose()?,
            id: self.id,
            secret_hash: self.secret_hash,
            account: self.account,
        })
    }
}

/// Microseconds since the Unix epoch; sub-microsecond digits are dropped toward the past,
/// as the contract says. Every `DateTime<Utc>` chrono can hold fits in an `i64` of them.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64, what: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        StoreError::Corrupt(format!("{what} `{micros}` is not a time in microseconds"))
    })
}

fn unsigned(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} `{value}` is negative")))
}

fn json(text: &str, what: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("{what} is not JSON: {error}")))
}
