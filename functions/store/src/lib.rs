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
//!
//! Rules every implementation keeps, besides what each item says:
//! - **Timestamps are kept to the microsecond**: sub-microsecond digits are dropped (truncated
//!   toward the past) on write, and query bounds (`from`, `to`, `now`) are truncated the same
//!   way. Supported range: years 1970 to 9999; outside it a store may answer
//!   [`StoreError::Invalid`].
//! - **Ids** (account, entry, operation, key) are non-empty and at most [`MAX_ID_BYTES`]
//!   UTF-8 bytes, any Unicode; **versions and seqs** are at most `i64::MAX`. Anything else is
//!   [`StoreError::Invalid`] and nothing is written.
//! - JSON values (`state`, `body`, `response`) round-trip as values; integers exactly. Floats
//!   are not promised to round-trip bit for bit (the ledger stores none).

pub mod conformance;
pub mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The largest page any read returns, whatever the caller asks.
pub const MAX_PAGE_ENTRIES: u32 = 1000;
/// The most entries one commit may carry (DynamoDB allows 100 actions per transaction:
/// the account update and the operation record take two).
pub const MAX_COMMIT_ENTRIES: usize = 98;
/// The longest id (account, entry, operation, key) a store accepts, in UTF-8 bytes. DynamoDB
/// caps a sort key at 1024 bytes and the store prefixes ids there, so keep well under it.
pub const MAX_ID_BYTES: usize = 512;

/// The segment in `0..segments` that `account` belongs to in [`Store::due_accounts`]: the
/// 32-bit FNV-1a hash of the account id's UTF-8 bytes (offset basis `0x811c9dc5`, prime
/// `0x01000193`), modulo `segments`. Every store uses this one function, so a worker walking
/// segment `s` of `n` sees the same accounts whatever the backend. `segments` of 0 counts as 1.
#[must_use]
pub fn segment_of(account: &str, segments: u32) -> u32 {
    account_hash(account).checked_rem(segments).unwrap_or(0)
}

/// 32-bit FNV-1a of the account id; [`segment_of`] is this modulo the segment count. Kept
/// private: stores that index it (SQLite keeps it in a column) reach it from inside the crate.
fn account_hash(account: &str) -> u32 {
    account.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// One account's snapshot as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub account: String,
    /// 1 after the first commit; +1 on every commit. At most `i64::MAX`.
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
    /// Position in the account's history, strictly increasing, assigned by the ledger. Its
    /// uniqueness is the ledger's job (it assigns seqs from the snapshot it commits against);
    /// a store may reject a seq the account already holds with [`StoreError::Invalid`] (SQLite
    /// does) but need not check.
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
///
/// A commit that breaks these rules (version arithmetic, more than [`MAX_COMMIT_ENTRIES`],
/// an entry or operation of another account, two entries with the same id or seq, an id
/// that is empty or longer than [`MAX_ID_BYTES`]) fails with [`StoreError::Invalid`] and
/// writes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The version read; 0 when the account must not exist yet.
    pub expected_version: u64,
    /// The new snapshot; its `version` must be `expected_version + 1`.
    pub account: AccountRecord,
    /// At most [`MAX_COMMIT_ENTRIES`], all of `account.account`, with distinct ids and seqs.
    pub entries: Vec<EntryRecord>,
    /// Of `account.account`.
    pub operation: Option<OperationRecord>,
}

/// What a commit did. When several refusals apply at once, the store reports the first of
/// `OperationExists`, `VersionConflict`, `EntryExists`: a replayed request learns its original
/// answer, and a lost race is retried rather than mistaken for a duplicate entry.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    Committed,
    /// The account's version is no longer `expected_version` (or it exists when 0 was
    /// expected). Nothing was written. `current` is the snapshot now stored, when the store
    /// can return it without another read (DynamoDB's ALL_OLD), else `None`.
    VersionConflict {
        current: Option<AccountRecord>,
    },
    /// The operation id was already used. Nothing was written.
    OperationExists(OperationRecord),
    /// An entry id already exists. Nothing was written.
    EntryExists {
        id: String,
    },
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

/// One page of history. A page may hold fewer than `limit` entries (even none) while more
/// follow — DynamoDB filters after it reads — so walk until `next_after_seq` is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryPage {
    /// Ascending by `seq`.
    pub entries: Vec<EntryRecord>,
    /// Pass as `after_seq` for the next page; `None` on the last page.
    pub next_after_seq: Option<u64>,
}

/// A page of accounts due for materialisation. Like [`EntryPage`], a page may be short (even
/// empty) while more follow; only `next: None` means the segment is done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DuePage {
    /// In no promised order; each due account of the segment appears once in the walk.
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
    /// workers can walk them in parallel), paged by an opaque cursor. An account is in segment
    /// [`segment_of`]`(account, segments)`. `limit` is capped at [`MAX_PAGE_ENTRIES`]; 0 means
    /// the cap. `segments` of 0 or `segment >= segments` is [`StoreError::Invalid`]. An account
    /// committed with `due_at` in the future (or `None`) drops out of later pages. The listing
    /// may lag commits briefly (DynamoDB reads it from an eventually consistent index); that
    /// is harmless, since materialising an account is itself a conditional commit.
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
    /// Mark a key revoked; `false` if no such key. Revoking a revoked key answers `true` and
    /// keeps the first `revoked_at`.
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
}
