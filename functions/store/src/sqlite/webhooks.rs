//! [`WebhookStore`] for the SQLite store: endpoints, the feed cursor and deliveries in three
//! tables of the same database file, written through the one writer thread (so a delivery's
//! bookkeeping joins the charges' group commits instead of contending for SQLite's lock).
//!
//! The tables have their own schema steps (kept in `webhook_schema`), apart from the
//! ledger's `user_version`, so the two evolve without renumbering each other:
//! - `webhook_endpoints(id PK, url, event_types, secret, created_at_micros)`;
//! - `webhook_cursor(id = 1 PK, position)`;
//! - `webhook_deliveries((endpoint, position) PK, account, seq, event_id, event_type,
//!   at_micros, body, state, attempts, first_attempt_micros, next_attempt_micros,
//!   last_status, last_error)`, indexed by the due time of `due` rows, by (endpoint,
//!   account, state, position) and by (endpoint, event id).
//!
//! The secret is stored as written: signing needs the secret itself. The database file is
//! the ledger's, with the same access rules (`docs/webhooks.md`, "Secrets").

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::micros;
use super::{SqliteStore, json_text, sql_error, to_sql_integer};
use crate::webhooks::{
    AttemptResult, DeliveryPage, DeliveryRecord, DeliveryState, EndpointRecord, MAX_DELIVERY_PAGE,
    MAX_ENDPOINTS, Redeliver, WebhookStore,
};
use crate::{EventRecord, FedEvent, StoreError, StoreResult};

/// Steps taking the webhook tables from version `n` to `n + 1`. Append; never edit a
/// shipped step.
const STEPS: &[&str] = &["
    CREATE TABLE webhook_endpoints (
        id TEXT NOT NULL PRIMARY KEY,
        url TEXT NOT NULL,
        event_types TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at_micros INTEGER NOT NULL
    );
    CREATE TABLE webhook_cursor (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        position INTEGER NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        endpoint TEXT NOT NULL,
        position INTEGER NOT NULL,
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        body TEXT NOT NULL,
        -- `due`, `waiting` or `failed`.
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_attempt_micros INTEGER,
        next_attempt_micros INTEGER,
        last_status INTEGER,
        last_error TEXT,
        PRIMARY KEY (endpoint, position)
    ) WITHOUT ROWID;
    -- Only each account's oldest delivery per endpoint is due: the claim reads this index.
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_micros)
        WHERE state = 'due';
    CREATE INDEX webhook_deliveries_account
        ON webhook_deliveries (endpoint, account, state, position);
    CREATE INDEX webhook_deliveries_event ON webhook_deliveries (endpoint, event_id);
"];

const DELIVERY_COLUMNS: &str = "endpoint, position, account, seq, event_id, event_type, \
    at_micros, body, state, attempts, first_attempt_micros, next_attempt_micros, last_status, \
    last_error";
const ENDPOINT_COLUMNS: &str = "id, url, event_types, secret, created_at_micros";

/// Brings the webhook tables to the last step; runs on the writer connection at open, in
/// its own transaction.
pub(crate) fn migrate(connection: &Connection) -> StoreResult<()> {
    let step = |sql: &str| {
        connection
            .execute_batch(sql)
            .map_err(|error| sql_error("migrating the webhook tables", error))
    };
    step("BEGIN IMMEDIATE")?;
    let result = migrate_in_transaction(connection);
    match result {
        Ok(()) => step("COMMIT"),
        Err(error) => {
            if !connection.is_autocommit() {
                let _rollback = connection.execute_batch("ROLLBACK");
            }
            Err(error)
        }
    }
}

fn migrate_in_transaction(connection: &Connection) -> StoreResult<()> {
    let error = |error| sql_error("migrating the webhook tables", error);
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS webhook_schema (version INTEGER NOT NULL)")
        .map_err(error)?;
    let found: i64 = connection
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM webhook_schema",
            [],
            |row| row.get(0),
        )
        .map_err(error)?;
    let found = usize::try_from(found).map_err(|_| {
        StoreError::Corrupt(format!(
            "the webhook schema version `{found}` is not a version"
        ))
    })?;
    if found > STEPS.len() {
        return Err(StoreError::Unavailable(format!(
            "the webhook tables have version {found}, newer than the {} this build knows; \
             upgrade credits",
            STEPS.len()
        )));
    }
    for sql in STEPS.get(found..).unwrap_or_default() {
        connection.execute_batch(sql).map_err(error)?;
    }
    connection
        .execute("DELETE FROM webhook_schema", [])
        .map_err(error)?;
    connection
        .execute(
            "INSERT INTO webhook_schema (version) VALUES (?1)",
            [i64::try_from(STEPS.len()).unwrap_or(i64::MAX)],
        )
        .map_err(error)?;
    Ok(())
}

struct DeliveryRow {
    endpoint: String,
    position: i64,
    account: String,
    seq: i64,
    event_id: String,
    event_type: String,
    at_micros: i64,
    body: String,
    state: String,
    attempts: i64,
    first_attempt_micros: Option<i64>,
    next_attempt_micros: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
}

impl DeliveryRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            endpoint: row.get(0)?,
            position: row.get(1)?,
            account: row.get(2)?,
            seq: row.get(3)?,
            event_id: row.get(4)?,
            event_type: row.get(5)?,
            at_micros: row.get(6)?,
            body: row.get(7)?,
            state: row.get(8)?,
            attempts: row.get(9)?,
            first_attempt_micros: row.get(10)?,
            next_attempt_micros: row.get(11)?,
            last_status: row.get(12)?,
            last_error: row.get(13)?,
        })
    }

    fn into_record(self) -> StoreResult<DeliveryRecord> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("a webhook delivery's {what}"));
        let state = match self.state.as_str() {
            "due" => DeliveryState::Due,
            "waiting" => DeliveryState::Waiting,
            "failed" => DeliveryState::Failed,
            _ => return Err(corrupt("state")),
        };
        let time = |micros: i64| {
            DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("timestamp"))
        };
        Ok(DeliveryRecord {
            endpoint: self.endpoint,
            position: u64::try_from(self.position).map_err(|_| corrupt("position"))?,
            event: EventRecord {
                account: self.account,
                seq: u64::try_from(self.seq).map_err(|_| corrupt("seq"))?,
                id: self.event_id,
                event_type: self.event_type,
                at: time(self.at_micros)?,
                body: serde_json::from_str(&self.body).map_err(|_| corrupt("body"))?,
            },
            state,
            attempts: u32::try_from(self.attempts).map_err(|_| corrupt("attempts"))?,
            first_attempt_at: self.first_attempt_micros.map(time).transpose()?,
            next_attempt_at: self.next_attempt_micros.map(time).transpose()?,
            last_status: self
                .last_status
                .map(|status| u16::try_from(status).map_err(|_| corrupt("status")))
                .transpose()?,
            last_error: self.last_error,
        })
    }
}

fn read_endpoint(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn endpoint_record(
    (id, url, event_types, secret, created_at_micros): (String, String, String, String, i64),
) -> StoreResult<EndpointRecord> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("webhook endpoint `{id}`'s {what}"));
    Ok(EndpointRecord {
        event_types: serde_json::from_str(&event_types).map_err(|_| corrupt("event types"))?,
        created_at: DateTime::from_timestamp_micros(created_at_micros)
            .ok_or_else(|| corrupt("creation time"))?,
        id: id.clone(),
        url,
        secret,
    })
}

fn all_endpoints(connection: &Connection) -> StoreResult<Vec<EndpointRecord>> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             ORDER BY created_at_micros, id LIMIT {MAX_ENDPOINTS}"
        ))
        .map_err(|error| sql_error("reading webhook endpoints", error))?;
    let rows = statement
        .query_map([], read_endpoint)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(|error| sql_error("reading webhook endpoints", error))?;
    rows.into_iter().map(endpoint_record).collect()
}

fn read_cursor(connection: &Connection) -> StoreResult<u64> {
    let position: Option<i64> = connection
        .query_row(
            "SELECT position FROM webhook_cursor WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(|error| sql_error("reading the webhook cursor", error))?;
    u64::try_from(position.unwrap_or(0))
        .map_err(|_| StoreError::Corrupt("the webhook cursor is negative".to_owned()))
}

/// Makes the account's oldest waiting delivery due at `now`, unless one is due already.
fn promote(connection: &Connection, endpoint: &str, account: &str, now: i64) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = 'due', next_attempt_micros = ?3 \
             WHERE endpoint = ?1 AND position = ( \
                 SELECT position FROM webhook_deliveries \
                 WHERE endpoint = ?1 AND account = ?2 AND state = 'waiting' \
                 ORDER BY position LIMIT 1) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries \
                 WHERE endpoint = ?1 AND account = ?2 AND state = 'due')",
        )
        .and_then(|mut statement| statement.execute(params![endpoint, account, now]))
        .map_err(|error| sql_error("promoting a webhook delivery", error))?;
    Ok(())
}

fn page(limit: u32) -> i64 {
    i64::from(if limit == 0 {
        MAX_DELIVERY_PAGE
    } else {
        limit.min(MAX_DELIVERY_PAGE)
    })
}

/// One event queued for one endpoint, converted on the caller's task.
struct Queued {
    position: i64,
    account: String,
    seq: i64,
    id: String,
    event_type: String,
    at_micros: i64,
    body: String,
}

impl SqliteStore {
    /// Runs `write` on the writer thread in its own savepoint and takes its answer back.
    async fn write_other<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let answer = self
            .writer
            .other(Box::new(move |connection| {
                write(connection).map(|value| Box::new(value) as super::writer::OtherAnswer)
            }))
            .await?;
        answer
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| StoreError::Unavailable("a webhook write answered oddly".to_owned()))
    }
}

#[async_trait::async_trait]
impl WebhookStore for SqliteStore {
    async fn put_endpoint(&self, endpoint: &EndpointRecord) -> StoreResult<bool> {
        let event_types = serde_json::to_string(&endpoint.event_types)
            .map_err(|error| StoreError::Invalid(format!("event types: {error}")))?;
        let row = (
            endpoint.id.clone(),
            endpoint.url.clone(),
            event_types,
            endpoint.secret.clone(),
            micros(endpoint.created_at),
        );
        self.write_other(move |connection| {
            let count: i64 = connection
                .query_row("SELECT COUNT(*) FROM webhook_endpoints", [], |row| {
                    row.get(0)
                })
                .map_err(|error| sql_error("counting webhook endpoints", error))?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_ENDPOINTS {
                return Ok(false);
            }
            let (id, url, event_types, secret, created_at) = row;
            match connection.execute(
                "INSERT INTO webhook_endpoints (id, url, event_types, secret, created_at_micros) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, url, event_types, secret, created_at],
            ) {
                Ok(_) => Ok(true),
                Err(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::KeyExists(id))
                }
                Err(error) => Err(sql_error("writing a webhook endpoint", error)),
            }
        })
        .await
    }

    async fn endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        self.read(all_endpoints).await
    }

    async fn endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        let id = id.to_owned();
        let row = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
                    ))
                    .and_then(|mut statement| statement.query_row([&id], read_endpoint).optional())
                    .map_err(|error| sql_error("reading a webhook endpoint", error))
            })
            .await?;
        row.map(endpoint_record).transpose()
    }

    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write_other(move |connection| {
            let error = |error| sql_error("deleting a webhook endpoint", error);
            connection
                .execute("DELETE FROM webhook_deliveries WHERE endpoint = ?1", [&id])
                .map_err(error)?;
            let deleted = connection
                .execute("DELETE FROM webhook_endpoints WHERE id = ?1", [&id])
                .map_err(error)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delivery_cursor(&self) -> StoreResult<u64> {
        self.read(read_cursor).await
    }

    async fn enqueue(
        &self,
        expected_cursor: u64,
        events: &[FedEvent],
        next: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        let expected = to_sql_integer("cursor", expected_cursor)?;
        let next = to_sql_integer("cursor", next)?;
        let now = micros(now);
        let queued = events
            .iter()
            .map(|fed| {
                Ok(Queued {
                    position: to_sql_integer("position", fed.position)?,
                    account: fed.event.account.clone(),
                    seq: to_sql_integer("seq", fed.event.seq)?,
                    id: fed.event.id.clone(),
                    event_type: fed.event.event_type.clone(),
                    at_micros: micros(fed.event.at),
                    body: json_text(&fed.event.body)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write_other(move |connection| {
            let error = |error| sql_error("queueing webhook deliveries", error);
            let current = read_cursor(connection)?;
            if i64::try_from(current).ok() != Some(expected) {
                return Ok(None);
            }
            let endpoints = all_endpoints(connection)?;
            let mut count = 0_u64;
            for event in &queued {
                for endpoint in endpoints.iter().filter(|e| e.wants(&event.event_type)) {
                    let busy: bool = connection
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries \
                             WHERE endpoint = ?1 AND account = ?2 AND state IN ('due', 'waiting'))",
                        )
                        .and_then(|mut statement| {
                            statement
                                .query_row(params![endpoint.id, event.account], |row| row.get(0))
                        })
                        .map_err(error)?;
                    let (state, next_attempt) = if busy {
                        ("waiting", None)
                    } else {
                        ("due", Some(now))
                    };
                    let inserted = connection
                        .prepare_cached(
                            "INSERT OR IGNORE INTO webhook_deliveries (endpoint, position, \
                             account, seq, event_id, event_type, at_micros, body, state, \
                             attempts, next_attempt_micros) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10)",
                        )
                        .and_then(|mut statement| {
                            statement.execute(params![
                                endpoint.id,
                                event.position,
                                event.account,
                                event.seq,
                                event.id,
                                event.event_type,
                                event.at_micros,
                                event.body,
                                state,
                                next_attempt
                            ])
                        })
                        .map_err(error)?;
                    count = count.saturating_add(u64::try_from(inserted).unwrap_or(0));
                }
            }
            connection
                .execute(
                    "INSERT INTO webhook_cursor (id, position) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                    [next],
                )
                .map_err(error)?;
            Ok(Some(count))
        })
        .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let (now, lease_until, limit) = (micros(now), micros(lease_until), page(limit));
        let rows = self
            .write_other(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "UPDATE webhook_deliveries SET next_attempt_micros = ?2 \
                         WHERE (endpoint, position) IN ( \
                             SELECT endpoint, position FROM webhook_deliveries \
                             WHERE state = 'due' AND next_attempt_micros <= ?1 \
                             ORDER BY next_attempt_micros LIMIT ?3) \
                         RETURNING {DELIVERY_COLUMNS}"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map(params![now, lease_until, limit], DeliveryRow::read)
                            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    })
                    .map_err(|error| sql_error("claiming webhook deliveries", error))
            })
            .await?;
        let mut records = rows
            .into_iter()
            .map(DeliveryRow::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        records.sort_by_key(|record| record.position);
        Ok(records)
    }

    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> StoreResult<()> {
        let endpoint = delivery.endpoint.clone();
        let position = to_sql_integer("position", delivery.position)?;
        let at = micros(attempted_at);
        self.write_other(move |connection| {
            let error = |error| sql_error("recording a webhook attempt", error);
            let account: Option<String> = connection
                .query_row(
                    "SELECT account FROM webhook_deliveries \
                     WHERE endpoint = ?1 AND position = ?2 AND state = 'due'",
                    params![endpoint, position],
                    |row| row.get(0),
                )
                .optional()
                .map_err(error)?;
            let Some(account) = account else {
                return Ok(());
            };
            match result {
                AttemptResult::Delivered => {
                    connection
                        .execute(
                            "DELETE FROM webhook_deliveries WHERE endpoint = ?1 AND position = ?2",
                            params![endpoint, position],
                        )
                        .map_err(error)?;
                    promote(connection, &endpoint, &account, at)?;
                }
                AttemptResult::Retry {
                    at: next,
                    status,
                    error: message,
                } => {
                    connection
                        .execute(
                            "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                             first_attempt_micros = COALESCE(first_attempt_micros, ?3), \
                             next_attempt_micros = ?4, last_status = ?5, last_error = ?6 \
                             WHERE endpoint = ?1 AND position = ?2",
                            params![endpoint, position, at, micros(next), status, message],
                        )
                        .map_err(error)?;
                }
                AttemptResult::GiveUp {
                    status,
                    error: message,
                } => {
                    connection
                        .execute(
                            "UPDATE webhook_deliveries SET state = 'failed', \
                             attempts = attempts + 1, \
                             first_attempt_micros = COALESCE(first_attempt_micros, ?3), \
                             next_attempt_micros = NULL, last_status = ?4, last_error = ?5 \
                             WHERE endpoint = ?1 AND position = ?2",
                            params![endpoint, position, at, status, message],
                        )
                        .map_err(error)?;
                    // The account's later events wait on this one: they fail with it, and a
                    // re-delivery sends them again in order.
                    connection
                        .execute(
                            "UPDATE webhook_deliveries SET state = 'failed', \
                             last_error = 'held back by an earlier event that failed' \
                             WHERE endpoint = ?1 AND account = ?2 AND state = 'waiting'",
                            params![endpoint, account],
                        )
                        .map_err(error)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn failed_deliveries(
        &self,
        endpoint: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<DeliveryPage> {
        let endpoint = endpoint.to_owned();
        // The cursor is the last position of the page before.
        let after = match after {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|position| *position >= 0)
                .ok_or_else(|| {
                    StoreError::Invalid("a cursor this listing never gave".to_owned())
                })?,
        };
        let limit = page(limit);
        let rows = self
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                         WHERE endpoint = ?1 AND position > ?2 \
                         AND (state = 'failed' OR attempts > 0) \
                         ORDER BY position LIMIT ?3"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map(params![endpoint, after, limit], DeliveryRow::read)
                            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    })
                    .map_err(|error| sql_error("reading failed webhook deliveries", error))
            })
            .await?;
        let deliveries = rows
            .into_iter()
            .map(DeliveryRow::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        let full = i64::try_from(deliveries.len()).unwrap_or(i64::MAX) >= limit;
        let next = deliveries
            .last()
            .filter(|_| full)
            .map(|last| last.position.to_string());
        Ok(DeliveryPage { deliveries, next })
    }

    async fn redeliver(
        &self,
        endpoint: &str,
        which: Redeliver,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let endpoint = endpoint.to_owned();
        let now = micros(now);
        self.write_other(move |connection| {
            let error = |error| sql_error("re-queueing webhook deliveries", error);
            // A due one (failing, not given up) starts a fresh schedule now; failed ones
            // wait their turn behind the account's due one, if any.
            let (due, accounts) = match which {
                Redeliver::Event(id) => {
                    let due = connection
                        .execute(
                            "UPDATE webhook_deliveries SET attempts = 0, \
                             first_attempt_micros = NULL, next_attempt_micros = ?3 \
                             WHERE endpoint = ?1 AND event_id = ?2 AND state = 'due' \
                             AND attempts > 0",
                            params![endpoint, id, now],
                        )
                        .map_err(error)?;
                    let accounts = connection
                        .prepare(
                            "UPDATE webhook_deliveries SET state = 'waiting', attempts = 0, \
                             first_attempt_micros = NULL, next_attempt_micros = NULL \
                             WHERE endpoint = ?1 AND event_id = ?2 AND state = 'failed' \
                             RETURNING account",
                        )
                        .and_then(|mut statement| {
                            statement
                                .query_map(params![endpoint, id], |row| row.get::<_, String>(0))
                                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                        })
                        .map_err(error)?;
                    (due, accounts)
                }
                Redeliver::AllFailed => {
                    let accounts = connection
                        .prepare(
                            "UPDATE webhook_deliveries SET state = 'waiting', attempts = 0, \
                             first_attempt_micros = NULL, next_attempt_micros = NULL \
                             WHERE endpoint = ?1 AND state = 'failed' RETURNING account",
                        )
                        .and_then(|mut statement| {
                            statement
                                .query_map(params![endpoint], |row| row.get::<_, String>(0))
                                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                        })
                        .map_err(error)?;
                    (0, accounts)
                }
            };
            let requeued = u64::try_from(due.saturating_add(accounts.len())).unwrap_or(u64::MAX);
            let distinct: std::collections::BTreeSet<String> = accounts.into_iter().collect();
            for account in &distinct {
                promote(connection, &endpoint, account, now)?;
            }
            Ok(requeued)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn plan(connection: &Connection, sql: &str) -> String {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let count = statement.parameter_count();
        let values: Vec<i64> = vec![0; count];
        statement
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ")
    }

    /// The claim, the promotion and the fan-out's check search indexes: none walks a
    /// backlog of waiting deliveries.
    #[test]
    fn the_delivery_queries_search_indexes() {
        let connection = Connection::open_in_memory().unwrap();
        migrate(&connection).unwrap();
        let claim = plan(
            &connection,
            "SELECT endpoint, position FROM webhook_deliveries \
             WHERE state = 'due' AND next_attempt_micros <= ?1 \
             ORDER BY next_attempt_micros LIMIT ?2",
        );
        assert!(claim.contains("webhook_deliveries_due"), "{claim}");
        let oldest = plan(
            &connection,
            "SELECT position FROM webhook_deliveries \
             WHERE endpoint = ?1 AND account = ?2 AND state = 'waiting' \
             ORDER BY position LIMIT 1",
        );
        assert!(oldest.contains("webhook_deliveries_account"), "{oldest}");
        let busy = plan(
            &connection,
            "SELECT 1 FROM webhook_deliveries \
             WHERE endpoint = ?1 AND account = ?2 AND state IN ('due', 'waiting')",
        );
        assert!(busy.contains("webhook_deliveries_account"), "{busy}");
        let event = plan(
            &connection,
            "SELECT 1 FROM webhook_deliveries WHERE endpoint = ?1 AND event_id = ?2",
        );
        assert!(event.contains("webhook_deliveries_event"), "{event}");
    }

    #[test]
    fn migrating_twice_keeps_the_tables() {
        let connection = Connection::open_in_memory().unwrap();
        migrate(&connection).unwrap();
        connection
            .execute(
                "INSERT INTO webhook_cursor (id, position) VALUES (1, 7)",
                [],
            )
            .unwrap();
        migrate(&connection).unwrap();
        assert_eq!(read_cursor(&connection).unwrap(), 7);
    }
}
