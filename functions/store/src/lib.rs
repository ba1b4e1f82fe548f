//! Storage for the ledger, behind one narrow trait.
//!
//! The store knows nothing of rating or ledger rules: it keeps an account snapshot (opaque
//! JSON owned by the ledger) with a version, immutable entries, idempotency records
//! (operations) and API keys. Its one write is [`Store::commit`]: the new snapshot, its
//! entries and its operation record land together, atomically, only if the account's version
//! is still the one the caller read and none of the entry or operation ids exists yet.
//!
//! Implementations: [`sqlite::SqliteStore`] (embedded default) and the DynamoDB store in
//! `credits-store-dynamodb`. [`conformance`] is the contract, run against both.

pub mod conformance;
pub mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The largest page any read returns, whatever the caller asks.
pub const MAX_PAGE_ENTRIES: u32 = 1000;
/// The most entries one commit may carry (DynamoDB allows 100 actions per transaction:
/// the account update and the operation record take two).
pub const MAX_COMMIT_ENTRIES: usize = 98;

/// One account's snapshot as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub account: String,
    /// 1 after the first commit; +1 on every commit.
    pub version: u64,
    /// When the account next has something to materialise (a grant, an expiry, a cycle end);
    /// `None` when nothing is scheduled. Read by the cycle-rollover function.
    pub due_at: Option<DateTime<Utc>>,
    /// The ledger's account state; opaque to the store.
    pub state: serde_json::Value,
}

/// An immutable ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryRecord {
    pub account: String,
    /// Unique within the account, deterministic (derived from the operation id or from the
    /// period a lazy grant/expiry belongs to), so a retried commit cannot duplicate it.
    pub id: String,
    /// Position in the account's history, strictly increasing, assigned by the ledger.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `grant`, `top_up`, `charge`, `hold`, `capture`, `release`, `refund`, `expiry`,
    /// `forfeit`, `rollover`, `adjustment`, `alert`, `statement`.
    pub entry_type: String,
    /// The operation (client id) that wrote it; lazy entries name the operation that
    /// triggered them.
    pub operation: String,
    pub unit: Option<String>,
    /// Signed: credits added are positive, spent negative.
    pub amount_minor: i64,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
    /// Everything else (buckets drawn, rates version, lines...), owned by the ledger.
    pub body: serde_json::Value,
}

/// The idempotency record of one mutation: its client id, what was asked, what was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub account: String,
    /// The client id: unique per account, forever.
    pub id: String,
    /// `charge`, `hold`, `capture`, `release`, `top_up`, `refund`, `account`...
    pub kind: String,
    /// Hash of the canonical request body; a replay with another hash is a conflict.
    pub request_hash: String,
    /// The HTTP status originally answered.
    pub status: u16,
    pub response: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One atomic write.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The version read; 0 when the account must not exist yet.
    pub expected_version: u64,
    /// The new snapshot; its `version` must be `expected_version + 1`.
    pub account: AccountRecord,
    /// At most [`MAX_COMMIT_ENTRIES`], all of `account.account`.
    pub entries: Vec<EntryRecord>,
    pub operation: Option<OperationRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    Committed,
    /// The account's version is no longer `expected_version` (or it exists when 0 was
    /// expected). Nothing was written. `current` is the snapshot now stored, when the store
    /// can return it without another read (DynamoDB's ALL_OLD), else `None`.
    VersionConflict { current: Option<AccountRecord> },
    /// The operation id was already used. Nothing was written.
    OperationExists(OperationRecord),
    /// An entry id already exists. Nothing was written.
    EntryExists { id: String },
}

/// Filters for reading history; every filter is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryQuery {
    pub account: String,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Empty = every type.
    pub types: Vec<String>,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
    pub operation: Option<String>,
    /// Paging cursor: only entries with `seq` greater than this.
    pub after_seq: Option<u64>,
    /// Capped at [`MAX_PAGE_ENTRIES`]; 0 means the cap.
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryPage {
    /// Ascending by `seq`.
    pub entries: Vec<EntryRecord>,
    /// Pass as `after_seq` for the next page; `None` on the last page.
    pub next_after_seq: Option<u64>,
}

/// A page of accounts due for materialisation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DuePage {
    pub accounts: Vec<String>,
    /// Opaque cursor for the next page of this segment; `None` when the segment is done.
    pub next: Option<String>,
}

/// An API key. The secret is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id (shown in listings, used to revoke).
    pub id: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// `None`: admin scope. `Some(a)`: only account `a`.
    pub account: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store could not be reached or failed; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The caller broke the contract (too many entries, wrong version arithmetic...).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// A key with that id exists already.
    #[error("key `{0}` exists already")]
    KeyExists(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The narrow storage contract. Every method is one logical request; `commit` is atomic.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The account's snapshot and version, if it exists.
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>>;

    /// Write the snapshot, entries and operation record atomically, if the version is
    /// unchanged and no entry or operation id exists yet; otherwise write nothing.
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome>;

    /// The idempotency record of a client id on an account.
    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>>;

    /// History, filtered and paged, ascending by `seq`.
    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage>;

    /// Accounts whose `due_at` ≤ `now`, for one of `segments` disjoint segments (so several
    /// workers can walk them in parallel), paged by an opaque cursor.
    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage>;

    /// Create a key; fails with [`StoreError::KeyExists`] if the id is taken.
    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()>;
    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>>;
    /// Mark a key revoked; `false` if no such key.
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
}
