//! Storage for the ledger, behind one narrow trait.
//!
//! The store knows nothing of rating or ledger rules: it keeps an account snapshot (opaque
//! JSON owned by the ledger) with a version, immutable entries, idempotency records
//! (operations), fact records (small keyed values the shell reads by key instead of walking
//! history) and API keys. Its one write is [`Store::commit`]: the new snapshot, its entries,
//! its facts and its operation record land together, atomically, only if the account's
//! version is still the one the caller read and neither the operation id nor any entry's
//! `seq` exists yet. [`Store::commit_group`] is the same write for several decisions of one
//! account at once (one snapshot, every decision's entries, facts and operation record), for
//! stores that can make it atomic ([`Store::supports_group_commit`]).
//!
//! # What each call costs
//! Every call is bounded whatever the account's age: no call's cost grows with history. The
//! conformance suite checks the shapes (SQLite: every query uses an index, never a scan of
//! the account's entries; DynamoDB: the request counts in `docs/dynamodb.md`).
//!
//! | call | requests (DynamoDB) | items read |
//! |---|---|---|
//! | `load` | 1 | the snapshot |
//! | `commit` | 1 transaction | — (writes snapshot + entries + facts + operation) |
//! | `commit_group` | 1 transaction (SQLite; unsupported on DynamoDB) | — (one snapshot, ≤ [`MAX_GROUP_COMMITS`] decisions) |
//! | `operation` | 1 | one record |
//! | `facts` | 1 (≤ [`MAX_FACT_KEYS`] keys) | the facts asked for |
//! | `last_fact_before` | 1 | ≤ 1 |
//! | `entries` | ≤ 1 per page | ≤ `limit` |
//! | `due_accounts` | ≤ 32 per page | ≤ `limit` keys |
//! | keys | 1 | one record |
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
pub mod observe;
pub mod sqlite;
pub mod webhooks;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The largest page any read returns, whatever the caller asks.
pub const MAX_PAGE_ENTRIES: u32 = 1000;
/// The most entries and facts, together, one commit may carry (DynamoDB allows 100 actions
/// per transaction: the account update and the operation record take two).
pub const MAX_COMMIT_ENTRIES: usize = 98;
/// The most decisions one [`GroupCommit`] may carry (each within [`MAX_COMMIT_ENTRIES`]).
pub const MAX_GROUP_COMMITS: usize = 64;
/// The most fact keys one [`Store::facts`] read may name.
pub const MAX_FACT_KEYS: usize = 16;
/// The longest fact key, in UTF-8 bytes (a key names an operation id or a content digest).
pub const MAX_FACT_KEY_BYTES: usize = 600;
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
    /// A name for the entry, unique within the account by the ledger's construction (derived
    /// from the operation id, or from the period and seq of a lazy grant/expiry). The store
    /// keys entries by `seq`, not by id, and does not check ids for uniqueness.
    pub id: String,
    /// Position in the account's history, strictly increasing, assigned by the ledger from
    /// the snapshot it commits against. The entry's key: a commit carrying a seq the account
    /// already holds writes nothing and answers [`CommitOutcome::EntryExists`].
    pub seq: u64,
    /// When it happened. The ledger writes entries in time order (`at` never decreases as
    /// `seq` grows), so reads by time range and by seq see the same order.
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

/// A small keyed record of one account, written in commits beside entries and read by key:
/// what a decision needs to know about the past (a charge's refundable facts, whether a
/// content was analysed, an ended cycle's statement) without walking history. Upserted: a
/// commit's fact replaces the stored one of the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactRecord {
    pub account: String,
    /// Non-empty, at most [`MAX_FACT_KEY_BYTES`]; string order is the order
    /// [`Store::last_fact_before`] uses.
    pub key: String,
    /// Owned by the ledger; opaque to the store. At most 64 KiB as JSON.
    pub value: serde_json::Value,
}

/// An event a commit publishes for the platform (balance low, credits granted, a statement
/// ready...): an outbox row written by the same atomic write as the entries and snapshot that
/// made it true, so delivery can never see an event whose commit failed, nor miss one whose
/// commit landed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub account: String,
    /// The account's event sequence: from 1, gapless, in commit order. Delivery keeps this
    /// order per account. A commit carrying a seq the account already holds writes nothing
    /// and answers [`CommitOutcome::EntryExists`] (like an entry's seq: a broken invariant).
    pub seq: u64,
    /// Unique across every account and stable forever: receivers de-duplicate by it.
    pub id: String,
    /// The event's stable name (`balance.low`, `credits.granted`...), owned by the ledger.
    pub event_type: String,
    /// When what it reports happened.
    pub at: DateTime<Utc>,
    /// The versioned JSON payload, owned by the ledger; opaque to the store. At most
    /// [`MAX_FACT_VALUE_BYTES`] as JSON.
    pub body: serde_json::Value,
}

/// One event of [`Store::event_feed`], with its place in the store-wide commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct FedEvent {
    /// Strictly increasing across the whole store in commit order (not gapless).
    pub position: u64,
    pub event: EventRecord,
}

/// A page of [`Store::event_feed`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFeedPage {
    /// Ascending by `position`.
    pub events: Vec<FedEvent>,
    /// Pass as `after` for the next page (the last position read, or the `after` given when
    /// the page is empty).
    pub next: u64,
}

/// The largest fact value, as JSON text.
pub const MAX_FACT_VALUE_BYTES: usize = 64 * 1024;

/// Refuses a fact key no store keeps: empty, or over [`MAX_FACT_KEY_BYTES`].
///
/// # Errors
/// [`StoreError::Invalid`].
pub fn check_fact_key(key: &str) -> StoreResult<()> {
    if key.is_empty() || key.len() > MAX_FACT_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "a fact key is 1 to {MAX_FACT_KEY_BYTES} bytes long, not {}",
            key.len()
        )));
    }
    Ok(())
}

/// Refuses a fact read no store serves: more than [`MAX_FACT_KEYS`] keys, or a bad key.
///
/// # Errors
/// [`StoreError::Invalid`].
pub fn check_fact_keys(keys: &[String]) -> StoreResult<()> {
    if keys.len() > MAX_FACT_KEYS {
        return Err(StoreError::Invalid(format!(
            "a read names at most {MAX_FACT_KEYS} facts, not {}",
            keys.len()
        )));
    }
    keys.iter().try_for_each(|key| check_fact_key(key))
}

/// One atomic write.
///
/// A commit that breaks these rules (version arithmetic, more than [`MAX_COMMIT_ENTRIES`]
/// entries and facts together, an entry, fact or operation of another account, two entries
/// with the same seq, two facts with the same key, an id that is empty or longer than
/// [`MAX_ID_BYTES`], a fact key or value over its limit) fails with [`StoreError::Invalid`]
/// and writes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The version read; 0 when the account must not exist yet.
    pub expected_version: u64,
    /// The new snapshot; its `version` must be `expected_version + 1`.
    pub account: AccountRecord,
    /// All of `account.account`, with distinct seqs.
    pub entries: Vec<EntryRecord>,
    /// Upserts, all of `account.account`, with distinct keys. With `entries`, at most
    /// [`MAX_COMMIT_ENTRIES`].
    pub facts: Vec<FactRecord>,
    /// Of `account.account`.
    pub operation: Option<OperationRecord>,
    /// The events this commit publishes (the transactional outbox), all of `account.account`,
    /// with distinct seqs following the account's last event seq. Written by the same atomic
    /// write: no event without its commit, no commit without its events. With `entries` and
    /// `facts`, at most [`MAX_COMMIT_ENTRIES`]. A seq of 0, an id or type that is empty or
    /// longer than [`MAX_ID_BYTES`], or a body over [`MAX_FACT_VALUE_BYTES`] is
    /// [`StoreError::Invalid`]; a seq the account already holds is
    /// [`CommitOutcome::EntryExists`] with that seq. The contract is
    /// [`conformance::events`].
    pub events: Vec<EventRecord>,
}

/// Several decisions of ONE account, taken in turn on the snapshot `expected_version`, `+1`,
/// … and written as one: the last decision's snapshot, and every decision's entries, facts
/// and operation record, all or nothing.
///
/// The rules of [`Commit`] hold for each member (entries and facts together at most
/// [`MAX_COMMIT_ENTRIES`], distinct fact keys, ids of the account), and for the group: 1 to
/// [`MAX_GROUP_COMMITS`] members, seqs distinct across members, operation ids distinct
/// across members, `account.version` = `expected_version` + the number of members. A fact key
/// written by two members keeps the later member's value (members are applied in order).
/// Breaking a rule is [`StoreError::Invalid`] and writes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCommit {
    /// The version the first member was decided on; 0 when the account must not exist yet.
    pub expected_version: u64,
    /// The snapshot after the last member.
    pub account: AccountRecord,
    /// In decision order.
    pub members: Vec<GroupMember>,
}

/// One decision of a [`GroupCommit`]: what it writes besides the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMember {
    pub entries: Vec<EntryRecord>,
    pub facts: Vec<FactRecord>,
    pub operation: Option<OperationRecord>,
    pub events: Vec<EventRecord>,
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
    /// An entry with one of the commit's seqs already exists (the ledger assigned a seq it
    /// had used: a broken invariant, never a lost race, since a race fails the version
    /// check first). Nothing was written.
    EntryExists {
        seq: u64,
    },
}

/// Filters for reading history; every filter is optional and they combine with AND.
///
/// The range (`after`, `from`, `to`) is served by keys: the account's entries by seq, or by
/// (`at`, seq) when `from` or `to` is given. The attribute filters (`types`, `feature`,
/// `model`, `project`, `member`) apply to the `limit` entries of the range that a page reads:
/// a page costs the same whatever the filters, and may hold fewer entries (even none) while
/// more follow. Nothing on a money path reads history: decisions read facts by key.
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
    /// Paging cursor: only entries after this one in the read's order.
    pub after: Option<EntryCursor>,
    /// Entries of the range one page reads, before filters; capped at [`MAX_PAGE_ENTRIES`];
    /// 0 means the cap.
    pub limit: u32,
}

/// The most distinct entry types one query may name (there are a dozen).
pub const MAX_QUERY_TYPES: usize = 64;

impl EntryQuery {
    /// Whether the range is by time (`from` or `to` given) rather than by seq.
    #[must_use]
    pub fn by_time(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// Refuses a query no store serves: more than [`MAX_QUERY_TYPES`] types.
    ///
    /// # Errors
    /// [`StoreError::Invalid`].
    pub fn check(&self) -> StoreResult<()> {
        let types: std::collections::HashSet<&str> =
            self.types.iter().map(String::as_str).collect();
        if types.len() > MAX_QUERY_TYPES {
            return Err(StoreError::Invalid(format!(
                "a query names at most {MAX_QUERY_TYPES} entry types, not {}",
                types.len()
            )));
        }
        Ok(())
    }

    /// Whether `entry`, read from the query's range, passes its attribute filters.
    #[must_use]
    pub fn admits(&self, entry: &EntryRecord) -> bool {
        let equal = |wanted: &Option<String>, found: &Option<String>| {
            wanted
                .as_ref()
                .is_none_or(|wanted| found.as_ref() == Some(wanted))
        };
        (self.types.is_empty() || self.types.contains(&entry.entry_type))
            && equal(&self.feature, &entry.feature)
            && equal(&self.model, &entry.model)
            && equal(&self.project, &entry.project)
            && equal(&self.member, &entry.member)
    }
}

/// Where a page of history ended: the last entry the page read (matching the filters or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCursor {
    pub seq: u64,
    pub at: DateTime<Utc>,
}

impl EntryCursor {
    /// The cursor as text for clients: `<seq>.<microseconds since the epoch>`.
    #[must_use]
    pub fn render(&self) -> String {
        format!("{}.{}", self.seq, self.at.timestamp_micros())
    }

    /// A cursor [`Self::render`] gave; `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let (seq, micros) = text.split_once('.')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(seq) || !digits(micros.strip_prefix('-').unwrap_or(micros)) {
            return None;
        }
        let seq = seq.parse::<u64>().ok()?;
        let at = DateTime::from_timestamp_micros(micros.parse::<i64>().ok()?)?;
        Some(Self { seq, at })
    }

    /// The cursor after `entry`.
    #[must_use]
    pub fn after(entry: &EntryRecord) -> Self {
        Self {
            seq: entry.seq,
            at: entry.at,
        }
    }
}

/// One page of history. A page may hold fewer than `limit` entries (even none) while more
/// follow, so walk until `next` is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryPage {
    /// Ascending by `seq` (by (`at`, `seq`) for a time range).
    pub entries: Vec<EntryRecord>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<EntryCursor>,
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

/// A page of every account, for listings. Like [`EntryPage`], a page may be short (even
/// empty) while more follow; only `next: None` means the listing is done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountPage {
    /// In no promised order; each account appears once in the walk.
    pub accounts: Vec<AccountRecord>,
    /// Opaque cursor for the next page; `None` when the listing is done.
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
    /// The backing store refused the request for a reason a retry cannot fix (no
    /// permission, no such table or index): a deployment fault, not a busy store.
    #[error("store refused the request: {0}")]
    Refused(String),
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

    /// Whether [`Store::commit_group`] is atomic here. `false` (the default) means it is
    /// unsupported: callers must commit one decision at a time.
    fn supports_group_commit(&self) -> bool {
        false
    }

    /// Write a [`GroupCommit`] atomically, with the checks and outcome of [`Store::commit`]
    /// applied to the whole group: `OperationExists` (with the record of the first member
    /// whose id exists), `VersionConflict` or `EntryExists` for any member, and NOTHING of the
    /// group is written. A store that cannot make it atomic answers [`StoreError::Invalid`]
    /// (the default) and writes nothing.
    async fn commit_group(&self, group: GroupCommit) -> StoreResult<CommitOutcome> {
        let members = group.members.len();
        Err(StoreError::Invalid(format!(
            "this store cannot commit a group of {members} decisions atomically"
        )))
    }

    /// The idempotency record of a client id on an account.
    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>>;

    /// The facts of `keys` that exist (at most [`MAX_FACT_KEYS`] keys; more, or a key over
    /// [`MAX_FACT_KEY_BYTES`], is [`StoreError::Invalid`]), in no promised order. Reads its
    /// own writes.
    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>>;

    /// The fact with the greatest key that starts with `prefix` and is less than `before`
    /// (UTF-8 byte order), if any. Reads its own writes.
    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>>;

    /// History, filtered and paged: ascending by `seq`, or by (`at`, `seq`) when the query
    /// has `from` or `to`. Reads by seq read their own writes; a time-range read may lag the
    /// latest commits briefly on DynamoDB (a global index).
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

    /// The account's last entry at or before `at` (greatest (`at`, `seq`)), if any: one
    /// keyed read whatever the account's age (the time index, read backwards, limit 1). May
    /// lag the latest commits briefly on DynamoDB (a global index), like a time-range read.
    /// A store that cannot (the default, for wrappers in tests) answers [`StoreError::Invalid`].
    async fn last_entry_at_or_before(
        &self,
        account: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EntryRecord>> {
        let _ = (account, at);
        Err(StoreError::Invalid(
            "this store cannot read an entry by time".to_owned(),
        ))
    }

    /// Every account's snapshot, paged by an opaque cursor (for an operator's listing;
    /// nothing on a money path lists accounts). A page reads at most `limit` stored items
    /// (capped at [`MAX_PAGE_ENTRIES`]; 0 means the cap) whatever the store holds: SQLite
    /// reads `limit` accounts by key; DynamoDB scans `limit` items of the table, of which
    /// only the accounts are returned, so its pages may be short (even empty) while more
    /// follow. A cursor this call did not give is [`StoreError::Invalid`]. A store that
    /// cannot list (the default, for wrappers in tests) answers [`StoreError::Invalid`].
    async fn accounts(&self, cursor: Option<String>, limit: u32) -> StoreResult<AccountPage> {
        let _ = (cursor, limit);
        Err(StoreError::Invalid(
            "this store cannot list accounts".to_owned(),
        ))
    }

    /// The account's events with `seq > after_seq`, ascending by seq, at most `limit` (capped
    /// at [`MAX_PAGE_ENTRIES`]; 0 means the cap): one keyed read whatever the account's age.
    /// Reads its own writes. A store that cannot (the default, for wrappers in tests) answers
    /// [`StoreError::Invalid`].
    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        let _ = (account, after_seq, limit);
        Err(StoreError::Invalid(
            "this store cannot read events".to_owned(),
        ))
    }

    /// Every committed event of every account with position `> after`, in commit order, at
    /// most `limit` (capped at [`MAX_PAGE_ENTRIES`]; 0 means the cap): what an in-process
    /// deliverer tails. Stores whose commits reach delivery another way (DynamoDB: the
    /// table's stream) answer [`StoreError::Invalid`] (the default).
    async fn event_feed(&self, after: u64, limit: u32) -> StoreResult<EventFeedPage> {
        let _ = (after, limit);
        Err(StoreError::Invalid(
            "this store has no event feed; its events are published from its stream".to_owned(),
        ))
    }

    /// Create a key; fails with [`StoreError::KeyExists`] if the id is taken.
    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()>;
    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>>;
    /// Mark a key revoked; `false` if no such key. Revoking a revoked key answers `true` and
    /// keeps the first `revoked_at`.
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
}
