//! The one writer: a thread that owns the only write connection and group-commits.
//!
//! Callers send jobs over a bounded channel and await a oneshot reply. The thread takes
//! every job waiting (at most [`MAX_GROUP_JOBS`]), runs them in ONE `BEGIN IMMEDIATE`
//! transaction, each inside its own `SAVEPOINT` so that it succeeds or fails alone, then
//! `COMMIT`s once — one WAL fsync for the whole group. Replies are sent only after that
//! `COMMIT` returns, so no caller ever hears `Committed` for a write that is not durable,
//! and a refusal computed against a group-mate's write is only reported once that write is.
//! If the `COMMIT` fails, every job of the group answers `Unavailable` (nothing of it was
//! written, so a retry is safe).
//!
//! While one group syncs, the next one queues up: the busier the store, the larger the
//! groups. Under load a group may wait briefly for the rest of the crowd (see [`gather`]);
//! a lone client never waits.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::rows::{ACCOUNT_COLUMNS, AccountRow, OPERATION_COLUMNS, OperationRow};
use super::sql_error;
use crate::{StoreError, StoreResult};

/// Jobs a caller may queue before `send` waits: back-pressure instead of unbounded memory.
const QUEUE_JOBS: usize = 1024;
/// The most jobs one transaction carries, so one group's latency stays bounded.
const MAX_GROUP_JOBS: usize = 256;
/// The longest a group waits for more jobs before it starts (see [`gather`]).
const MAX_GATHER: Duration = Duration::from_millis(2);
/// How often [`gather`] looks at the queue again.
const GATHER_POLL: Duration = Duration::from_micros(50);

/// A commit with everything already converted to SQLite values by the caller's task.
#[derive(Debug)]
pub(crate) struct PreparedCommit {
    pub(crate) account: String,
    pub(crate) segment_hash: i64,
    pub(crate) expected_version: i64,
    pub(crate) version: i64,
    pub(crate) due_at_micros: Option<i64>,
    pub(crate) state: String,
    pub(crate) entries: Vec<PreparedEntry>,
    /// In order: a later fact of the same key replaces an earlier one (a group's members).
    pub(crate) facts: Vec<PreparedFact>,
    /// One per decision (a group commit carries several), distinct ids.
    pub(crate) operations: Vec<PreparedOperation>,
    /// The outbox rows, in the order they were published (which numbers their positions).
    pub(crate) events: Vec<PreparedEvent>,
}

#[derive(Debug)]
pub(crate) struct PreparedEvent {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) at_micros: i64,
    pub(crate) body: String,
}

#[derive(Debug)]
pub(crate) struct PreparedFact {
    pub(crate) key: String,
    pub(crate) value: String,
}

#[derive(Debug)]
pub(crate) struct PreparedEntry {
    pub(crate) id: String,
    pub(crate) seq: i64,
    pub(crate) at_micros: i64,
    pub(crate) entry_type: String,
    pub(crate) operation: String,
    pub(crate) unit: Option<String>,
    pub(crate) amount_minor: i64,
    pub(crate) feature: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) member: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) body: String,
}

#[derive(Debug)]
pub(crate) struct PreparedOperation {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) request_hash: String,
    pub(crate) status: i64,
    pub(crate) response: String,
    pub(crate) at_micros: i64,
}

#[derive(Debug)]
pub(crate) struct PreparedKey {
    pub(crate) id: String,
    pub(crate) secret_hash: String,
    pub(crate) account: Option<String>,
    pub(crate) created_at_micros: i64,
    pub(crate) revoked_at_micros: Option<i64>,
}

/// A commit's outcome with its rows still raw; the caller's task parses them.
#[derive(Debug)]
pub(crate) enum RawOutcome {
    Committed,
    VersionConflict(Option<AccountRow>),
    OperationExists(OperationRow),
    EntryExists(u64),
}

/// A write to tables beside the ledger's (webhook endpoints and deliveries): it runs in the
/// group's transaction inside its own savepoint like any job, kept when it answers `Ok`.
pub(crate) type OtherWrite = Box<dyn FnOnce(&Connection) -> StoreResult<OtherAnswer> + Send>;
/// What an [`OtherWrite`] answers, for its caller to take apart.
pub(crate) type OtherAnswer = Box<dyn std::any::Any + Send>;

enum Job {
    Commit(PreparedCommit, oneshot::Sender<StoreResult<RawOutcome>>),
    Other(OtherWrite, oneshot::Sender<StoreResult<OtherAnswer>>),
    PutKey(PreparedKey, oneshot::Sender<StoreResult<()>>),
    RevokeKey {
        id: String,
        at_micros: i64,
        reply: oneshot::Sender<StoreResult<bool>>,
    },
}

/// A job that ran, holding its reply until the group's `COMMIT` settles.
enum Done {
    Commit(
        oneshot::Sender<StoreResult<RawOutcome>>,
        StoreResult<RawOutcome>,
    ),
    PutKey(oneshot::Sender<StoreResult<()>>, StoreResult<()>),
    RevokeKey(oneshot::Sender<StoreResult<bool>>, StoreResult<bool>),
    Other(
        oneshot::Sender<StoreResult<OtherAnswer>>,
        StoreResult<OtherAnswer>,
    ),
}

impl Done {
    /// Whether the job changed the database (so its savepoint is kept).
    fn wrote(&self) -> bool {
        match self {
            Self::Commit(_, result) => matches!(result, Ok(RawOutcome::Committed)),
            Self::PutKey(_, result) => result.is_ok(),
            Self::RevokeKey(_, result) => matches!(result, Ok(true)),
            Self::Other(_, result) => result.is_ok(),
        }
    }

    fn deliver(self) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        match self {
            Self::Commit(reply, result) => drop(reply.send(result)),
            Self::PutKey(reply, result) => drop(reply.send(result)),
            Self::RevokeKey(reply, result) => drop(reply.send(result)),
            Self::Other(reply, result) => drop(reply.send(result)),
        }
    }

    /// Replaces a success with `message`: the transaction that held it did not commit.
    /// Refusals go too, since a group-mate's rolled-back write may have caused them.
    fn fail(self, message: &str) {
        let error = || StoreError::Unavailable(message.to_owned());
        match self {
            Self::Commit(reply, result) => drop(reply.send(result.and(Err(error())))),
            Self::PutKey(reply, result) => drop(reply.send(result.and(Err(error())))),
            Self::RevokeKey(reply, result) => drop(reply.send(result.and(Err(error())))),
            Self::Other(reply, result) => drop(reply.send(result.and(Err(error())))),
        }
    }
}

impl Job {
    fn run(self, connection: &Connection) -> Done {
        match self {
            Self::Commit(commit, reply) => Done::Commit(reply, run_commit(connection, &commit)),
            Self::PutKey(key, reply) => Done::PutKey(reply, run_put_key(connection, &key)),
            Self::RevokeKey {
                id,
                at_micros,
                reply,
            } => Done::RevokeKey(reply, run_revoke_key(connection, &id, at_micros)),
            Self::Other(write, reply) => Done::Other(reply, write(connection)),
        }
    }

    fn fail(self, message: &str) {
        let error = || StoreError::Unavailable(message.to_owned());
        match self {
            Self::Commit(_, reply) => drop(reply.send(Err(error()))),
            Self::PutKey(_, reply) => drop(reply.send(Err(error()))),
            Self::RevokeKey { reply, .. } => drop(reply.send(Err(error()))),
            Self::Other(_, reply) => drop(reply.send(Err(error()))),
        }
    }
}

/// The handle callers hold; dropping it lets the thread finish the queue, close the
/// connection (checkpointing the WAL) and exit, and waits for that.
#[derive(Debug)]
pub(crate) struct Writer {
    sender: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(connection: Connection) -> StoreResult<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE_JOBS);
        let thread = std::thread::Builder::new()
            .name("credits-sqlite-writer".to_owned())
            .spawn(move || run(&connection, receiver))
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot start the sqlite writer thread: {error}"))
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    pub(crate) async fn commit(&self, commit: PreparedCommit) -> StoreResult<RawOutcome> {
        self.submit(|reply| Job::Commit(commit, reply)).await
    }

    pub(crate) async fn put_key(&self, key: PreparedKey) -> StoreResult<()> {
        self.submit(|reply| Job::PutKey(key, reply)).await
    }

    pub(crate) async fn revoke_key(&self, id: String, at_micros: i64) -> StoreResult<bool> {
        self.submit(|reply| Job::RevokeKey {
            id,
            at_micros,
            reply,
        })
        .await
    }

    pub(crate) async fn other(&self, write: OtherWrite) -> StoreResult<OtherAnswer> {
        self.submit(|reply| Job::Other(write, reply)).await
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Job,
    ) -> StoreResult<T> {
        let stopped = || StoreError::Unavailable("the sqlite writer has stopped".to_owned());
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        sender.send(job(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once the queue is drained.
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            // The thread never panics by design; if it did, there is nothing left to undo.
            let _joined = thread.join();
        }
    }
}

fn run(connection: &Connection, mut receiver: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP_JOBS);
    let mut last = LastGroup {
        jobs: 0,
        took: Duration::ZERO,
    };
    while let Some(first) = receiver.blocking_recv() {
        group.push(first);
        drain(&mut receiver, &mut group);
        gather(&mut receiver, &mut group, &last);
        let started = Instant::now();
        last.jobs = group.len();
        run_group(connection, group.drain(..));
        last.took = started.elapsed();
    }
}

/// Size and duration of the group before, which predict the next one.
struct LastGroup {
    jobs: usize,
    took: Duration,
}

fn drain(receiver: &mut mpsc::Receiver<Job>, group: &mut Vec<Job>) {
    while group.len() < MAX_GROUP_JOBS {
        match receiver.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
}

/// Waits a little for the rest of a busy crowd before syncing.
///
/// Without this, groups alternate: the replies of a big group go out, the first client back
/// is synced alone, and everyone else queues behind that sync — two syncs per round. When
/// the last group was bigger than what is queued now, wait (polling) until as many jobs are
/// queued again, for at most half the last group's duration (so a fast disk waits little)
/// and never more than [`MAX_GATHER`]. A lone client never waits: its last group was one job.
fn gather(receiver: &mut mpsc::Receiver<Job>, group: &mut Vec<Job>, last: &LastGroup) {
    if group.len() >= last.jobs {
        return;
    }
    let deadline = Instant::now() + (last.took / 2).min(MAX_GATHER);
    while group.len() < last.jobs.min(MAX_GROUP_JOBS) && Instant::now() < deadline {
        std::thread::sleep(GATHER_POLL);
        drain(receiver, group);
    }
}

fn run_group(connection: &Connection, jobs: impl Iterator<Item = Job>) {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let message = format!("cannot start a write transaction: {error}");
        jobs.for_each(|job| job.fail(&message));
        return;
    }
    let mut done = Vec::new();
    // Set when SQLite rolled the whole transaction back under us (disk full, I/O error):
    // then earlier jobs of the group are lost too and every job must fail.
    let mut aborted: Option<String> = None;
    for job in jobs {
        if let Some(message) = &aborted {
            job.fail(message);
            continue;
        }
        if let Err(error) = connection.execute_batch("SAVEPOINT job") {
            let message = format!("cannot start a savepoint: {error}");
            job.fail(&message);
            aborted = Some(message);
            continue;
        }
        let finished = job.run(connection);
        let closed = if finished.wrote() {
            connection.execute_batch("RELEASE job")
        } else {
            connection.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if connection.is_autocommit() {
            let reason = closed
                .err()
                .map_or_else(|| "rolled back".to_owned(), |e| e.to_string());
            let message = format!("the write transaction was aborted: {reason}");
            finished.fail(&message);
            aborted = Some(message);
            continue;
        }
        if let Err(error) = closed {
            let message = format!("cannot close a savepoint: {error}");
            finished.fail(&message);
            aborted = Some(message);
            continue;
        }
        done.push(finished);
    }
    if let Some(message) = aborted {
        if !connection.is_autocommit() {
            // Best effort: the jobs already answer `Unavailable` whatever this does.
            let _rollback = connection.execute_batch("ROLLBACK");
        }
        done.into_iter()
            .for_each(|finished| finished.fail(&message));
        return;
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => done.into_iter().for_each(Done::deliver),
        Err(error) => {
            if !connection.is_autocommit() {
                let _rollback = connection.execute_batch("ROLLBACK");
            }
            let message = format!("the write transaction did not commit: {error}");
            done.into_iter()
                .for_each(|finished| finished.fail(&message));
        }
    }
}

/// The checks, in the contract's order of precedence, then the writes. Runs inside the job's
/// savepoint: a refusal writes nothing, and an error midway is rolled back by the caller.
fn run_commit(connection: &Connection, commit: &PreparedCommit) -> StoreResult<RawOutcome> {
    let account = commit.account.as_str();
    for operation in &commit.operations {
        let found = connection
            .prepare_cached(&format!(
                "SELECT {OPERATION_COLUMNS} FROM operations WHERE account = ?1 AND id = ?2"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![account, operation.id], OperationRow::read)
                    .optional()
            })
            .map_err(|error| sql_error("reading an operation", error))?;
        if let Some(original) = found {
            return Ok(RawOutcome::OperationExists(original));
        }
    }

    let current = connection
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account = ?1"
        ))
        .and_then(|mut statement| statement.query_row([account], AccountRow::read).optional())
        .map_err(|error| sql_error("reading an account", error))?;
    let unchanged = match &current {
        None => commit.expected_version == 0,
        Some(row) => commit.expected_version != 0 && row.version == commit.expected_version,
    };
    if !unchanged {
        return Ok(RawOutcome::VersionConflict(current));
    }

    {
        let mut exists = connection
            .prepare_cached("SELECT 1 FROM entries WHERE account = ?1 AND seq = ?2")
            .map_err(|error| sql_error("checking entry seqs", error))?;
        for entry in &commit.entries {
            let found = exists
                .exists(params![account, entry.seq])
                .map_err(|error| sql_error("checking entry seqs", error))?;
            if found {
                // Seqs were checked to fit an i64 when the commit was prepared.
                return Ok(RawOutcome::EntryExists(entry.seq.unsigned_abs()));
            }
        }
    }

    {
        let mut exists = connection
            .prepare_cached("SELECT 1 FROM events WHERE account = ?1 AND seq = ?2")
            .map_err(|error| sql_error("checking event seqs", error))?;
        for event in &commit.events {
            let found = exists
                .exists(params![account, event.seq])
                .map_err(|error| sql_error("checking event seqs", error))?;
            if found {
                // Seqs were checked to fit an i64 when the commit was prepared.
                return Ok(RawOutcome::EntryExists(event.seq.unsigned_abs()));
            }
        }
    }

    let written = if current.is_none() {
        connection
            .prepare_cached(
                "INSERT INTO accounts (account, segment_hash, version, due_at_micros, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    account,
                    commit.segment_hash,
                    commit.version,
                    commit.due_at_micros,
                    commit.state
                ])
            })
    } else {
        connection
            .prepare_cached(
                "UPDATE accounts SET version = ?2, due_at_micros = ?3, state = ?4 \
                 WHERE account = ?1 AND version = ?5",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    account,
                    commit.version,
                    commit.due_at_micros,
                    commit.state,
                    commit.expected_version
                ])
            })
    }
    .map_err(|error| sql_error("writing an account", error))?;
    if written != 1 {
        // Impossible while this thread is the only writer and the check above holds; if
        // another process wrote the file under us, refuse rather than guess.
        return Err(StoreError::Unavailable(format!(
            "account `{account}` changed during the write; retry"
        )));
    }

    {
        let mut insert = connection
            .prepare_cached(
                "INSERT INTO entries (account, id, seq, at_micros, entry_type, operation, unit, \
                 amount_minor, feature, model, project, member, content, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .map_err(|error| sql_error("writing entries", error))?;
        for entry in &commit.entries {
            insert
                .execute(params![
                    account,
                    entry.id,
                    entry.seq,
                    entry.at_micros,
                    entry.entry_type,
                    entry.operation,
                    entry.unit,
                    entry.amount_minor,
                    entry.feature,
                    entry.model,
                    entry.project,
                    entry.member,
                    entry.content,
                    entry.body
                ])
                .map_err(|error| sql_error("writing entries", error))?;
        }
    }

    if !commit.facts.is_empty() {
        let mut upsert = connection
            .prepare_cached(
                "INSERT INTO facts (account, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
            )
            .map_err(|error| sql_error("writing facts", error))?;
        for fact in &commit.facts {
            upsert
                .execute(params![account, fact.key, fact.value])
                .map_err(|error| sql_error("writing facts", error))?;
        }
    }

    if !commit.operations.is_empty() {
        let mut insert = connection
            .prepare_cached(
                "INSERT INTO operations (account, id, kind, request_hash, status, response, \
                 at_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|error| sql_error("writing an operation", error))?;
        for operation in &commit.operations {
            insert
                .execute(params![
                    account,
                    operation.id,
                    operation.kind,
                    operation.request_hash,
                    operation.status,
                    operation.response,
                    operation.at_micros
                ])
                .map_err(|error| sql_error("writing an operation", error))?;
        }
    }
    if !commit.events.is_empty() {
        // `position` is the rowid: assigned in insertion order, so in commit order.
        let mut insert = connection
            .prepare_cached(
                "INSERT INTO events (account, seq, id, event_type, at_micros, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|error| sql_error("writing events", error))?;
        for event in &commit.events {
            insert
                .execute(params![
                    account,
                    event.seq,
                    event.id,
                    event.event_type,
                    event.at_micros,
                    event.body
                ])
                .map_err(|error| sql_error("writing events", error))?;
        }
    }
    Ok(RawOutcome::Committed)
}

fn run_put_key(connection: &Connection, key: &PreparedKey) -> StoreResult<()> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM keys WHERE id = ?1")
        .and_then(|mut statement| statement.exists([&key.id]))
        .map_err(|error| sql_error("checking a key id", error))?;
    if exists {
        return Err(StoreError::KeyExists(key.id.clone()));
    }
    connection
        .prepare_cached(
            "INSERT INTO keys (id, secret_hash, account, created_at_micros, revoked_at_micros) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                key.id,
                key.secret_hash,
                key.account,
                key.created_at_micros,
                key.revoked_at_micros
            ])
        })
        .map_err(|error| sql_error("writing a key", error))?;
    Ok(())
}

fn run_revoke_key(connection: &Connection, id: &str, at_micros: i64) -> StoreResult<bool> {
    // COALESCE keeps the first revocation time: revoking twice is not a second event.
    let changed = connection
        .prepare_cached(
            "UPDATE keys SET revoked_at_micros = COALESCE(revoked_at_micros, ?2) WHERE id = ?1",
        )
        .and_then(|mut statement| statement.execute(params![id, at_micros]))
        .map_err(|error| sql_error("revoking a key", error))?;
    Ok(changed == 1)
}
