//! Connection settings and the schema, with its migrations.

use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::sql_error;
use crate::{StoreError, StoreResult};

/// The schema version this build writes, kept in SQLite's `PRAGMA user_version` (0 = empty
/// file). `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
pub const SCHEMA_VERSION: u32 = 3;

/// Each step runs inside the same `BEGIN IMMEDIATE` transaction as the version bump, so a
/// crash mid-migration leaves the previous version intact. Append; never edit a shipped step.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema. Timestamps are integer microseconds since the Unix epoch (UTC),
    // so numeric order is time order and they round-trip exactly. JSON is stored as text.
    "
    CREATE TABLE accounts (
        account TEXT NOT NULL PRIMARY KEY,
        -- FNV-1a of the account id: `segment_of` is this modulo the segment count.
        segment_hash INTEGER NOT NULL,
        version INTEGER NOT NULL,
        due_at_micros INTEGER,
        state TEXT NOT NULL
    );
    CREATE INDEX accounts_due ON accounts (due_at_micros) WHERE due_at_micros IS NOT NULL;

    CREATE TABLE entries (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at_micros INTEGER NOT NULL,
        entry_type TEXT NOT NULL,
        operation TEXT NOT NULL,
        unit TEXT,
        amount_minor INTEGER NOT NULL,
        feature TEXT,
        model TEXT,
        project TEXT,
        member TEXT,
        content TEXT,
        body TEXT NOT NULL,
        UNIQUE (account, id),
        UNIQUE (account, seq)
    );
    -- One index per filter, each ending in seq so a filtered page is read in order.
    -- Attribution columns are mostly NULL: partial indexes keep a charge's write cheap.
    CREATE INDEX entries_at ON entries (account, at_micros);
    CREATE INDEX entries_type ON entries (account, entry_type, seq);
    CREATE INDEX entries_operation ON entries (account, operation, seq);
    CREATE INDEX entries_feature ON entries (account, feature, seq) WHERE feature IS NOT NULL;
    CREATE INDEX entries_model ON entries (account, model, seq) WHERE model IS NOT NULL;
    CREATE INDEX entries_project ON entries (account, project, seq) WHERE project IS NOT NULL;
    CREATE INDEX entries_member ON entries (account, member, seq) WHERE member IS NOT NULL;
    CREATE INDEX entries_content ON entries (account, content, seq) WHERE content IS NOT NULL;

    CREATE TABLE operations (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        PRIMARY KEY (account, id)
    );

    CREATE TABLE keys (
        id TEXT NOT NULL PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        account TEXT,
        created_at_micros INTEGER NOT NULL,
        revoked_at_micros INTEGER
    );
    ",
    // 2: entries keyed by (account, seq), read by seq or by (at, seq) and nothing else: a
    // page reads a key range and filters it, so no read's cost grows with history and a
    // charge writes two index entries, not nine. Entry ids are the ledger's to keep unique.
    // Facts: small keyed records the shell reads by key instead of walking history.
    "
    CREATE TABLE entries_by_seq (
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        entry_type TEXT NOT NULL,
        operation TEXT NOT NULL,
        unit TEXT,
        amount_minor INTEGER NOT NULL,
        feature TEXT,
        model TEXT,
        project TEXT,
        member TEXT,
        content TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (account, seq)
    ) WITHOUT ROWID;
    INSERT INTO entries_by_seq (account, seq, id, at_micros, entry_type, operation, unit,
        amount_minor, feature, model, project, member, content, body)
        SELECT account, seq, id, at_micros, entry_type, operation, unit, amount_minor,
            feature, model, project, member, content, body FROM entries;
    DROP TABLE entries;
    ALTER TABLE entries_by_seq RENAME TO entries;
    CREATE INDEX entries_at ON entries (account, at_micros, seq);

    CREATE TABLE facts (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, key)
    ) WITHOUT ROWID;
    ",
    // 3: the outbox. Events are written by the commit that made them true; `position` (the
    // rowid, never reused) numbers them store-wide in commit order, since one transaction
    // writes at a time; (account, seq) is each account's gapless sequence.
    "
    CREATE TABLE events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (account, seq)
    );
    ",
];

/// How long a connection waits for another one's lock (another process on the same file, or
/// a reader of the in-memory database) before answering `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Page cache of the writer, in KiB (SQLite reads a negative `cache_size` as KiB).
const WRITER_CACHE_KIB: i64 = 16 * 1024;
/// Enough for every statement the writer runs and the query shapes readers build.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A file, in WAL mode: readers never block the writer nor each other.
    File(std::path::PathBuf),
    /// A `memdb` database shared by this store's connections (URI `file:/name?vfs=memdb`).
    /// It has no WAL (no shared memory), so it uses an in-memory rollback journal and
    /// readers briefly wait for a commit; it lives while the writer connection is open.
    Memory(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
}

impl Target {
    /// Opens and configures one connection.
    pub(crate) fn connect(&self, role: Role) -> StoreResult<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if role == Role::Writer {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let connection = match self {
            Self::File(path) => Connection::open_with_flags(path, flags),
            Self::Memory(uri) => {
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
            }
        }
        .map_err(|error| sql_error("opening the database", error))?;
        self.configure(&connection, role)?;
        Ok(connection)
    }

    fn configure(&self, connection: &Connection, role: Role) -> StoreResult<()> {
        let pragma = |name: &str, value: &dyn rusqlite::ToSql| {
            connection
                .pragma_update(None, name, value)
                .map_err(|error| sql_error(&format!("setting `{name}`"), error))
        };
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| sql_error("setting the busy timeout", error))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        pragma("temp_store", &"MEMORY")?;
        match (self, role) {
            (Self::File(_), Role::Writer) => {
                // WAL is persistent in the file; switching needs no reader to be open, which
                // holds because the writer is opened first.
                let mode: String = connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                    .map_err(|error| sql_error("setting `journal_mode`", error))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Unavailable(format!(
                        "the database refused WAL mode (journal mode is `{mode}`)"
                    )));
                }
            }
            (Self::Memory(_), _) => {
                // A memdb journal must not go to the disk VFS under the database's name.
                let _mode: String = connection
                    .pragma_update_and_check(None, "journal_mode", "MEMORY", |row| row.get(0))
                    .map_err(|error| sql_error("setting `journal_mode`", error))?;
            }
            (Self::File(_), Role::Reader) => {}
        }
        match role {
            Role::Writer => {
                // FULL: the WAL is synced on every commit, so a committed charge survives a
                // power cut, not only a process crash (NORMAL would risk the last commits).
                pragma("synchronous", &"FULL")?;
                pragma("cache_size", &-WRITER_CACHE_KIB)?;
            }
            Role::Reader => pragma("query_only", &true)?,
        }
        Ok(())
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction.
pub(crate) fn migrate(connection: &Connection) -> StoreResult<()> {
    let step = |sql: &str| {
        connection
            .execute_batch(sql)
            .map_err(|error| sql_error("migrating the schema", error))
    };
    step("BEGIN IMMEDIATE")?;
    let result = migrate_in_transaction(connection);
    match result {
        Ok(()) => step("COMMIT"),
        Err(error) => {
            if !connection.is_autocommit() {
                // The migration error is the one worth reporting.
                let _rollback = connection.execute_batch("ROLLBACK");
            }
            Err(error)
        }
    }
}

fn migrate_in_transaction(connection: &Connection) -> StoreResult<()> {
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|error| sql_error("reading the schema version", error))?;
    let found = u32::try_from(found).map_err(|_| {
        StoreError::Corrupt(format!("the schema version `{found}` is not a version"))
    })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {found}, newer than the {SCHEMA_VERSION} this \
             build knows; upgrade credits"
        )));
    }
    let pending = MIGRATIONS
        .get(usize::try_from(found).unwrap_or(usize::MAX)..)
        .unwrap_or_default();
    for sql in pending {
        connection
            .execute_batch(sql)
            .map_err(|error| sql_error("migrating the schema", error))?;
    }
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(|error| sql_error("writing the schema version", error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_version() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }
}
