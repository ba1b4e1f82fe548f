//! The embedded store: SQLite (bundled), one file or one in-memory database.
//!
//! # Durability
//! A file store runs in WAL mode with `synchronous=FULL`: when [`Store::commit`] answers
//! `Committed`, the commit is in the synced WAL and survives a process crash or a power cut.
//!
//! # Concurrency
//! - **Writes** (`commit`, `put_key`, `revoke_key`) go to one writer thread that owns the only
//!   write connection and *group-commits*: it takes every job waiting, runs them in one
//!   `BEGIN IMMEDIATE` transaction with a `SAVEPOINT` each (each succeeds or fails alone) and
//!   syncs once for the group; see `writer`. One fsync per group instead of one per commit is
//!   what gives thousands of durable commits per second when many accounts are busy (under
//!   load a group waits at most 2 ms, and at most half the previous group's time, for the
//!   rest of the crowd). A single account's commits each need the previous one's version, so
//!   they cannot share a group; [`Store::commit_group`] instead carries several decisions of
//!   one account as ONE commit (one snapshot, one savepoint, every decision's rows).
//! - **Reads** run on a small pool of read-only connections inside `spawn_blocking`; WAL lets
//!   them read the last committed state while the writer writes.
//! - The caller's task does the CPU work around a write (validation, JSON and timestamp
//!   conversion, parsing rows back) so the single writer thread only runs SQL.
//! - `BEGIN IMMEDIATE` and the version check also make several processes on one file safe:
//!   they queue on SQLite's lock (busy timeout 5 s).
//!
//! # Schema (version 3, in `PRAGMA user_version`; migrations in `schema`)
//! - `accounts(account PK, segment_hash, version, due_at_micros, state)`, index on `due_at_micros`;
//! - `entries((account, seq) PK, id, at_micros, entry_type, operation, unit, amount_minor,
//!   feature, model, project, member, content, body)`, index on `(account, at_micros, seq)`:
//!   a page reads a range of one of the two keys, then filters it;
//! - `facts((account, key) PK, value)`;
//! - `operations((account, id) PK, kind, request_hash, status, response, at_micros)`;
//! - `keys(id PK, secret_hash, account, created_at_micros, revoked_at_micros)`;
//! - `events(position INTEGER PK AUTOINCREMENT, account, seq, id, event_type, at_micros, body)`,
//!   unique on `(account, seq)`: the outbox, written in the commit's transaction;
//!   `account_events` reads a range of `(account, seq)`, `event_feed` a range of `position`.
//!
//! Timestamps are integer microseconds since the Unix epoch (UTC); JSON is text. A row that
//! cannot be read back answers [`StoreError::Corrupt`].

mod rows;
mod schema;
mod webhooks;
mod writer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tokio::sync::Semaphore;

use self::rows::{
    ACCOUNT_COLUMNS, AccountRow, ENTRY_COLUMNS, EntryRow, EventRow, KEY_COLUMNS, KeyRow,
    OPERATION_COLUMNS, OperationRow, micros,
};
pub use self::schema::SCHEMA_VERSION;
use self::schema::{Role, Target};
use self::writer::{
    PreparedCommit, PreparedEntry, PreparedEvent, PreparedFact, PreparedKey, PreparedOperation,
    RawOutcome, Writer,
};
use crate::{
    AccountPage, AccountRecord, Commit, CommitOutcome, DuePage, EntryCursor, EntryPage, EntryQuery,
    EntryRecord, EventFeedPage, EventRecord, FactRecord, GroupCommit, GroupMember, KeyRecord,
    MAX_COMMIT_ENTRIES, MAX_FACT_VALUE_BYTES, MAX_GROUP_COMMITS, MAX_ID_BYTES, MAX_PAGE_ENTRIES,
    OperationRecord, Store, StoreError, StoreResult, check_fact_key, check_fact_keys,
};

/// Read connections kept open; reads beyond this many at once wait for one.
const READERS: usize = 4;

/// The SQLite store. Open it once and share it (`Arc`); dropping it waits for queued writes
/// and closes the database.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
}

#[derive(Debug)]
struct Readers {
    target: Target,
    idle: Mutex<Vec<Connection>>,
    /// Bounds the open read connections (and the blocking threads reading) to [`READERS`].
    permits: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path`, migrating its schema.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the file cannot be opened or set to WAL mode, or was
    /// written by a newer build; [`StoreError::Corrupt`] if it is not a credits database.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::start(Target::File(path.as_ref().to_path_buf()))
    }

    /// A fresh database in memory, private to this store, gone when it is dropped. It holds
    /// at most 1 GiB (SQLite's `memdb` size limit): past it, every write answers
    /// [`StoreError::Unavailable`] ("database or disk is full"), as a file store does on a
    /// full disk. It is for tests and trials; what must grow is kept in a file.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if SQLite cannot create it.
    pub fn in_memory() -> StoreResult<Self> {
        // One name per store: `memdb` databases with the same name are shared process-wide.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("/credits-{}-{number}", std::process::id());
        Self::start(Target::Memory(format!("file:{name}?vfs=memdb")))
    }

    fn start(target: Target) -> StoreResult<Self> {
        let connection = target.connect(Role::Writer)?;
        schema::migrate(&connection)?;
        webhooks::migrate(&connection)?;
        Ok(Self {
            writer: Writer::start(connection)?,
            readers: Arc::new(Readers {
                target,
                idle: Mutex::new(Vec::with_capacity(READERS)),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// Sends a prepared commit to the writer and parses its outcome.
    async fn write(&self, prepared: PreparedCommit) -> StoreResult<CommitOutcome> {
        Ok(match self.writer.commit(prepared).await? {
            RawOutcome::Committed => CommitOutcome::Committed,
            RawOutcome::VersionConflict(current) => CommitOutcome::VersionConflict {
                current: current.map(AccountRow::into_record).transpose()?,
            },
            RawOutcome::OperationExists(row) => CommitOutcome::OperationExists(row.into_record()?),
            RawOutcome::EntryExists(seq) => CommitOutcome::EntryExists { seq },
        })
    }

    /// Runs `read` on a read connection, off the async threads.
    async fn read<T, F>(&self, read: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the sqlite readers are closed".to_owned()))?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            // Held until the read is done, even if the awaiting future is dropped.
            let _permit = permit;
            let connection = readers.take()?;
            let result = read(&connection);
            readers.give_back(connection);
            result
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("a sqlite read failed: {error}")))?
    }
}

impl Readers {
    fn take(&self) -> StoreResult<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.target.connect(Role::Reader),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < READERS {
            idle.push(connection);
        }
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        let account = account.to_owned();
        let row = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account = ?1"
                    ))
                    .and_then(|mut statement| {
                        statement.query_row([&account], AccountRow::read).optional()
                    })
                    .map_err(|error| sql_error("reading an account", error))
            })
            .await?;
        row.map(AccountRow::into_record).transpose()
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        self.write(prepare_commit(commit)?).await
    }

    fn supports_group_commit(&self) -> bool {
        true
    }

    async fn commit_group(&self, group: GroupCommit) -> StoreResult<CommitOutcome> {
        self.write(prepare_group(group)?).await
    }

    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        let (account, id) = (account.to_owned(), id.to_owned());
        let row = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {OPERATION_COLUMNS} FROM operations WHERE account = ?1 AND id = ?2"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_row([&account, &id], OperationRow::read)
                            .optional()
                    })
                    .map_err(|error| sql_error("reading an operation", error))
            })
            .await?;
        row.map(OperationRow::into_record).transpose()
    }

    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        check_fact_keys(keys)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = facts_sql(keys.len());
        let mut values = vec![Value::Text(account.to_owned())];
        values.extend(keys.iter().map(|key| Value::Text(key.clone())));
        let rows = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(&sql)
                    .map_err(|error| sql_error("reading facts", error))?;
                statement
                    .query_map(params_from_iter(values), |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                    })
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("reading facts", error))
            })
            .await?;
        rows.into_iter()
            .map(|(key, value)| fact_record(account, key, &value))
            .collect()
    }

    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        check_fact_keys(&[before.to_owned()])?;
        if !before.starts_with(prefix) && before <= prefix {
            return Ok(None);
        }
        let (owner, prefix, before) = (account.to_owned(), prefix.to_owned(), before.to_owned());
        let row = self
            .read(move |connection| {
                // `key >= prefix` bounds the range scan; the prefix test keeps it exact.
                connection
                    .prepare_cached(LAST_FACT_BEFORE_SQL)
                    .and_then(|mut statement| {
                        statement
                            .query_row(params![owner, prefix, before], |row| {
                                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                            })
                            .optional()
                    })
                    .map_err(|error| sql_error("reading a fact", error))
            })
            .await?;
        row.map(|(key, value)| fact_record(account, key, &value))
            .transpose()
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        let limit = page_limit(query.limit);
        query.check()?;
        let Some((sql, values)) = range_sql(query, limit) else {
            return Ok(EntryPage::default());
        };
        let rows = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(&sql)
                    .map_err(|error| sql_error("reading entries", error))?;
                statement
                    .query_map(params_from_iter(values), EntryRow::read)
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("reading entries", error))
            })
            .await?;
        let mut read = rows
            .into_iter()
            .map(EntryRow::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        // One row beyond the page was asked for: its presence says whether more follow.
        let more = read.len() > limit;
        read.truncate(limit);
        let next = if more {
            read.last().map(EntryCursor::after)
        } else {
            None
        };
        read.retain(|entry| query.admits(entry));
        Ok(EntryPage {
            entries: read,
            next,
        })
    }

    async fn due_accounts(
        &self,
        now: DateTime<Utc>,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<DuePage> {
        if segments == 0 || segment >= segments {
            return Err(StoreError::Invalid(format!(
                "segment {segment} of {segments} does not exist"
            )));
        }
        let limit = page_limit(limit);
        let mut sql = String::from(
            "SELECT account FROM accounts WHERE due_at_micros <= ?1 AND segment_hash % ?2 = ?3",
        );
        let mut values = vec![
            Value::Integer(micros(now)),
            Value::Integer(segments.into()),
            Value::Integer(segment.into()),
        ];
        if let Some(after) = cursor {
            sql.push_str(" AND account > ?4");
            values.push(Value::Text(after));
        }
        sql.push_str(" ORDER BY account LIMIT ?");
        values.push(Value::Integer(fetch_count(limit)));
        let mut accounts = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(&sql)
                    .map_err(|error| sql_error("reading due accounts", error))?;
                statement
                    .query_map(params_from_iter(values), |row| row.get::<_, String>(0))
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("reading due accounts", error))
            })
            .await?;
        let more = accounts.len() > limit;
        accounts.truncate(limit);
        let next = if more { accounts.last().cloned() } else { None };
        Ok(DuePage { accounts, next })
    }

    async fn last_entry_at_or_before(
        &self,
        account: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EntryRecord>> {
        let account = account.to_owned();
        let row = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM entries WHERE account = ?1 AND at_micros <= ?2 \
                         ORDER BY at_micros DESC, seq DESC LIMIT 1"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_row(params![account, micros(at)], EntryRow::read)
                            .optional()
                    })
                    .map_err(|error| sql_error("reading an entry by time", error))
            })
            .await?;
        row.map(EntryRow::into_record).transpose()
    }

    async fn accounts(&self, cursor: Option<String>, limit: u32) -> StoreResult<AccountPage> {
        let limit = page_limit(limit);
        let mut sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts");
        let mut values = Vec::new();
        if let Some(after) = cursor {
            sql.push_str(" WHERE account > ?1");
            values.push(Value::Text(after));
        }
        sql.push_str(" ORDER BY account LIMIT ?");
        values.push(Value::Integer(fetch_count(limit)));
        let rows = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(&sql)
                    .map_err(|error| sql_error("listing accounts", error))?;
                statement
                    .query_map(params_from_iter(values), AccountRow::read)
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("listing accounts", error))
            })
            .await?;
        let more = rows.len() > limit;
        let mut accounts = rows
            .into_iter()
            .map(AccountRow::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        accounts.truncate(limit);
        let next = if more {
            accounts.last().map(|record| record.account.clone())
        } else {
            None
        };
        Ok(AccountPage { accounts, next })
    }

    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        // Stored seqs fit in an i64; after the largest of them nothing follows.
        let Ok(after_seq) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(page_limit(limit)).unwrap_or(i64::MAX);
        let account = account.to_owned();
        let rows = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(ACCOUNT_EVENTS_SQL)
                    .map_err(|error| sql_error("reading events", error))?;
                statement
                    .query_map(params![account, after_seq, limit], EventRow::read)
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("reading events", error))
            })
            .await?;
        rows.into_iter()
            .map(|row| row.into_fed().map(|fed| fed.event))
            .collect()
    }

    async fn event_feed(&self, after: u64, limit: u32) -> StoreResult<EventFeedPage> {
        let Ok(after_position) = i64::try_from(after) else {
            return Ok(EventFeedPage {
                events: Vec::new(),
                next: after,
            });
        };
        let limit = i64::try_from(page_limit(limit)).unwrap_or(i64::MAX);
        let rows = self
            .read(move |connection| {
                let mut statement = connection
                    .prepare_cached(EVENT_FEED_SQL)
                    .map_err(|error| sql_error("reading the event feed", error))?;
                statement
                    .query_map(params![after_position, limit], EventRow::read)
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(|error| sql_error("reading the event feed", error))
            })
            .await?;
        let events = rows
            .into_iter()
            .map(EventRow::into_fed)
            .collect::<StoreResult<Vec<_>>>()?;
        let next = events.last().map_or(after, |fed| fed.position);
        Ok(EventFeedPage { events, next })
    }

    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        check_id("key id", &key.id)?;
        if let Some(account) = &key.account {
            check_id("key account", account)?;
        }
        self.writer
            .put_key(PreparedKey {
                id: key.id.clone(),
                secret_hash: key.secret_hash.clone(),
                account: key.account.clone(),
                created_at_micros: micros(key.created_at),
                revoked_at_micros: key.revoked_at.map(micros),
            })
            .await
    }

    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        let id = id.to_owned();
        let row = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
                    .and_then(|mut statement| statement.query_row([&id], KeyRow::read).optional())
                    .map_err(|error| sql_error("reading a key", error))
            })
            .await?;
        row.map(KeyRow::into_record).transpose()
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.writer.revoke_key(id.to_owned(), micros(at)).await
    }
}

/// Validates a commit against the contract and converts it to SQLite values.
fn prepare_commit(commit: Commit) -> StoreResult<PreparedCommit> {
    let Commit {
        events,
        expected_version,
        account,
        entries,
        facts,
        operation,
    } = commit;
    prepare_write(
        expected_version,
        account,
        vec![GroupMember {
            events,
            entries,
            facts,
            operation,
        }],
    )
}

/// Validates a group commit against the contract and converts it to ONE commit's SQLite
/// values: the snapshot once, the members' entries, facts (in order) and operations.
fn prepare_group(group: GroupCommit) -> StoreResult<PreparedCommit> {
    let GroupCommit {
        expected_version,
        account,
        members,
    } = group;
    if members.is_empty() || members.len() > MAX_GROUP_COMMITS {
        return Err(StoreError::Invalid(format!(
            "a group commit carries 1 to {MAX_GROUP_COMMITS} decisions, not {}",
            members.len()
        )));
    }
    prepare_write(expected_version, account, members)
}

/// The checks every commit and group commit share (see [`Commit`] and [`GroupCommit`]).
fn prepare_write(
    expected_version: u64,
    account: AccountRecord,
    members: Vec<GroupMember>,
) -> StoreResult<PreparedCommit> {
    let name = account.account;
    check_id("account id", &name)?;
    let steps = u64::try_from(members.len()).unwrap_or(u64::MAX);
    if expected_version.checked_add(steps) != Some(account.version) {
        return Err(StoreError::Invalid(format!(
            "account `{name}` version {} does not follow the expected version {expected_version} by {steps}",
            account.version
        )));
    }
    let version = to_sql_integer("account version", account.version)?;
    let mut seqs = HashSet::new();
    let mut operation_ids = HashSet::new();
    let mut prepared_entries = Vec::new();
    let mut prepared_facts = Vec::new();
    let mut operations = Vec::with_capacity(members.len());
    let mut event_seqs = HashSet::new();
    let mut prepared_events = Vec::new();
    for member in members {
        let GroupMember {
            events,
            entries,
            facts,
            operation,
        } = member;
        let items = entries
            .len()
            .saturating_add(facts.len())
            .saturating_add(events.len());
        if items > MAX_COMMIT_ENTRIES {
            return Err(StoreError::Invalid(format!(
                "a commit carries at most {MAX_COMMIT_ENTRIES} entries, facts and events, not {items}"
            )));
        }
        for event in events {
            prepared_events.push(prepare_event(&name, event, &mut event_seqs)?);
        }
        for entry in entries {
            prepared_entries.push(prepare_entry(&name, entry, &mut seqs)?);
        }
        let mut keys = HashSet::with_capacity(facts.len());
        for fact in facts {
            prepared_facts.push(prepare_fact(&name, fact, &mut keys)?);
        }
        if let Some(operation) = operation {
            if !operation_ids.insert(operation.id.clone()) {
                return Err(StoreError::Invalid(format!(
                    "operation `{}` appears twice in one group commit",
                    operation.id
                )));
            }
            operations.push(prepare_operation(&name, operation)?);
        }
    }
    Ok(PreparedCommit {
        segment_hash: crate::account_hash(&name).into(),
        expected_version: to_sql_integer("expected version", expected_version)?,
        version,
        due_at_micros: account.due_at.map(micros),
        state: json_text(&account.state)?,
        entries: prepared_entries,
        facts: prepared_facts,
        operations,
        events: prepared_events,
        account: name,
    })
}

/// An event of the outbox: of the account, seq from 1 and not repeated in the write, an id
/// and type no store would refuse, a body within a fact value's size.
fn prepare_event(
    name: &str,
    event: EventRecord,
    seqs: &mut HashSet<u64>,
) -> StoreResult<PreparedEvent> {
    check_id("event id", &event.id)?;
    check_id("event type", &event.event_type)?;
    if event.account != name {
        return Err(StoreError::Invalid(format!(
            "event `{}` belongs to account `{}`, not `{name}`",
            event.id, event.account
        )));
    }
    if event.seq == 0 {
        return Err(StoreError::Invalid(format!(
            "event `{}` has seq 0; event seqs start at 1",
            event.id
        )));
    }
    if !seqs.insert(event.seq) {
        return Err(StoreError::Invalid(format!(
            "event seq {} appears twice in one commit",
            event.seq
        )));
    }
    let body = json_text(&event.body)?;
    if body.len() > MAX_FACT_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "event `{}` is {} bytes of JSON, more than the {MAX_FACT_VALUE_BYTES} allowed",
            event.id,
            body.len()
        )));
    }
    Ok(PreparedEvent {
        seq: to_sql_integer("event seq", event.seq)?,
        at_micros: micros(event.at),
        body,
        id: event.id,
        event_type: event.event_type,
    })
}

fn prepare_entry(
    name: &str,
    entry: EntryRecord,
    seqs: &mut HashSet<u64>,
) -> StoreResult<PreparedEntry> {
    check_id("entry id", &entry.id)?;
    if entry.account != name {
        return Err(StoreError::Invalid(format!(
            "entry `{}` belongs to account `{}`, not `{name}`",
            entry.id, entry.account
        )));
    }
    if !seqs.insert(entry.seq) {
        return Err(StoreError::Invalid(format!(
            "entry seq {} appears twice in one commit",
            entry.seq
        )));
    }
    Ok(PreparedEntry {
        seq: to_sql_integer("entry seq", entry.seq)?,
        at_micros: micros(entry.at),
        body: json_text(&entry.body)?,
        id: entry.id,
        entry_type: entry.entry_type,
        operation: entry.operation,
        unit: entry.unit,
        amount_minor: entry.amount_minor,
        feature: entry.feature,
        model: entry.model,
        project: entry.project,
        member: entry.member,
        content: entry.content,
    })
}

fn prepare_fact(
    name: &str,
    fact: FactRecord,
    keys: &mut HashSet<String>,
) -> StoreResult<PreparedFact> {
    if fact.account != name {
        return Err(StoreError::Invalid(format!(
            "fact `{}` belongs to account `{}`, not `{name}`",
            fact.key, fact.account
        )));
    }
    check_fact_key(&fact.key)?;
    if !keys.insert(fact.key.clone()) {
        return Err(StoreError::Invalid(format!(
            "fact `{}` appears twice in one commit",
            fact.key
        )));
    }
    let value = json_text(&fact.value)?;
    if value.len() > MAX_FACT_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "fact `{}` is {} bytes of JSON, more than the {MAX_FACT_VALUE_BYTES} allowed",
            fact.key,
            value.len()
        )));
    }
    Ok(PreparedFact {
        key: fact.key,
        value,
    })
}

fn prepare_operation(name: &str, operation: OperationRecord) -> StoreResult<PreparedOperation> {
    check_id("operation id", &operation.id)?;
    if operation.account != name {
        return Err(StoreError::Invalid(format!(
            "operation `{}` belongs to account `{}`, not `{name}`",
            operation.id, operation.account
        )));
    }
    Ok(PreparedOperation {
        status: operation.status.into(),
        response: json_text(&operation.response)?,
        at_micros: micros(operation.at),
        id: operation.id,
        kind: operation.kind,
        request_hash: operation.request_hash,
    })
}

/// The facts of `keys` keys of one account: a primary-key search per key.
fn facts_sql(keys: usize) -> String {
    let marks = vec!["?"; keys].join(", ");
    format!("SELECT key, value FROM facts WHERE account = ? AND key IN ({marks})")
}

/// An account's events after a seq: one range of the `(account, seq)` key.
const ACCOUNT_EVENTS_SQL: &str = concat!(
    "SELECT position, account, seq, id, event_type, at_micros, body FROM events ",
    "WHERE account = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
);

/// Every account's events after a position: one range of the rowid.
const EVENT_FEED_SQL: &str = concat!(
    "SELECT position, account, seq, id, event_type, at_micros, body FROM events ",
    "WHERE position > ?1 ORDER BY position LIMIT ?2"
);

/// The greatest key with a prefix below a bound: one primary-key range, read backwards.
const LAST_FACT_BEFORE_SQL: &str = "SELECT key, value FROM facts WHERE account = ?1 \
    AND key >= ?2 AND key < ?3 AND substr(key, 1, length(?2)) = ?2 ORDER BY key DESC LIMIT 1";

/// The SQL and parameters reading one page of `query`'s key range (one row more than
/// `limit`), or `None` when nothing can follow the cursor. Only keys bound the read: by
/// `(account, seq)` (the primary key), or by `(account, at_micros, seq)` for a time range.
fn range_sql(query: &EntryQuery, limit: usize) -> Option<(String, Vec<Value>)> {
    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE account = ?");
    let mut values = vec![Value::Text(query.account.clone())];
    let by_time = query.by_time();
    if let Some(from) = query.from {
        sql.push_str(" AND at_micros >= ?");
        values.push(Value::Integer(micros(from)));
    }
    if let Some(to) = query.to {
        sql.push_str(" AND at_micros < ?");
        values.push(Value::Integer(micros(to)));
    }
    if let Some(after) = query.after {
        // Stored seqs fit in an i64; after the largest of them nothing follows.
        let seq = i64::try_from(after.seq).ok()?;
        if by_time {
            sql.push_str(" AND (at_micros, seq) > (?, ?)");
            values.push(Value::Integer(micros(after.at)));
        } else {
            sql.push_str(" AND seq > ?");
        }
        values.push(Value::Integer(seq));
    }
    sql.push_str(if by_time {
        " ORDER BY at_micros, seq LIMIT ?"
    } else {
        " ORDER BY seq LIMIT ?"
    });
    values.push(Value::Integer(fetch_count(limit)));
    Some((sql, values))
}

fn fact_record(account: &str, key: String, value: &str) -> StoreResult<FactRecord> {
    let value = serde_json::from_str(value)
        .map_err(|error| StoreError::Corrupt(format!("fact `{key}` is not JSON: {error}")))?;
    Ok(FactRecord {
        account: account.to_owned(),
        key,
        value,
    })
}

/// A caller's page size: 0 means the cap, and nothing exceeds it.
fn page_limit(limit: u32) -> usize {
    let cap = MAX_PAGE_ENTRIES;
    let limit = if limit == 0 { cap } else { limit.min(cap) };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Rows to fetch for a page of `limit`: one more, to learn whether another page follows.
fn fetch_count(limit: usize) -> i64 {
    i64::try_from(limit).map_or(i64::MAX, |limit| limit.saturating_add(1))
}

fn check_id(what: &str, id: &str) -> StoreResult<()> {
    if id.is_empty() {
        return Err(StoreError::Invalid(format!("the {what} is empty")));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(StoreError::Invalid(format!(
            "the {what} is {} bytes long, more than the {MAX_ID_BYTES} allowed",
            id.len()
        )));
    }
    Ok(())
}

fn to_sql_integer(what: &str, value: u64) -> StoreResult<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("the {what} {value} is larger than {}", i64::MAX)))
}

fn json_text(value: &serde_json::Value) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Invalid(format!("a JSON value cannot be written: {error}")))
}

/// Maps a SQLite error: values that cannot be read back are `Corrupt`, the rest (locks, I/O,
/// a full disk) `Unavailable`, which the caller may retry.
pub(crate) fn sql_error(context: &str, error: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    let corrupt = match &error {
        E::InvalidColumnType(..)
        | E::FromSqlConversionFailure(..)
        | E::IntegralValueOutOfRange(..)
        | E::Utf8Error(..) => true,
        E::SqliteFailure(failure, _) => matches!(
            failure.code,
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
        ),
        _ => false,
    };
    if corrupt {
        StoreError::Corrupt(format!("{context}: {error}"))
    } else {
        StoreError::Unavailable(format!("{context}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql`: one line per step.
    fn plan(connection: &Connection, sql: &str, values: Vec<Value>) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        statement
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    /// Every read a money path or a history page makes is a search of a key or an index,
    /// never a scan: its cost does not grow with the account's history.
    #[test]
    fn every_read_of_history_and_facts_searches_a_key() {
        let target = Target::Memory(format!("file:/plans-{}?vfs=memdb", std::process::id()));
        let connection = target.connect(Role::Writer).unwrap();
        schema::migrate(&connection).unwrap();
        let text = |value: &str| Value::Text(value.to_owned());
        let at = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let cursor = EntryCursor { seq: 7, at };
        let queries = [
            EntryQuery {
                account: "a".into(),
                ..EntryQuery::default()
            },
            EntryQuery {
                account: "a".into(),
                after: Some(cursor),
                types: vec!["charge".into()],
                feature: Some("f".into()),
                ..EntryQuery::default()
            },
            EntryQuery {
                account: "a".into(),
                from: Some(at),
                to: Some(at),
                ..EntryQuery::default()
            },
            EntryQuery {
                account: "a".into(),
                from: Some(at),
                after: Some(cursor),
                ..EntryQuery::default()
            },
            EntryQuery {
                account: "a".into(),
                to: Some(at),
                ..EntryQuery::default()
            },
        ];
        let mut reads: Vec<(String, Vec<Value>)> = queries
            .iter()
            .map(|query| range_sql(query, 10).unwrap())
            .collect();
        reads.push((
            facts_sql(3),
            vec![text("a"), text("k1"), text("k2"), text("k3")],
        ));
        reads.push((
            LAST_FACT_BEFORE_SQL.to_owned(),
            vec![text("a"), text("statement:"), text("statement:2026")],
        ));
        reads.push((
            ACCOUNT_EVENTS_SQL.to_owned(),
            vec![text("a"), Value::Integer(3), Value::Integer(10)],
        ));
        reads.push((
            EVENT_FEED_SQL.to_owned(),
            vec![Value::Integer(3), Value::Integer(10)],
        ));
        for (sql, values) in reads {
            let steps = plan(&connection, &sql, values);
            assert!(!steps.is_empty(), "{sql}");
            for step in &steps {
                assert!(
                    step.starts_with("SEARCH") && !step.contains("TEMP B-TREE"),
                    "`{sql}` plans `{step}`: a scan or a sort grows with history"
                );
            }
        }
    }

    #[test]
    fn page_limit_caps_and_zero_means_the_cap() {
        assert_eq!(page_limit(0), 1000);
        assert_eq!(page_limit(7), 7);
        assert_eq!(page_limit(u32::MAX), 1000);
    }
}
