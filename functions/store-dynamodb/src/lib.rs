//! The DynamoDB implementation of [`credits_store::Store`], the production store.
//!
//! One table (see `docs/dynamodb.md` and [`table_definition`]):
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | account snapshot | `A#<account>` | `ACCOUNT` |
//! | entry | `A#<account>` | `E#<seq, 20 digits>` (and `at_seq` in the global index `time-index`) |
//! | fact | `A#<account>` | `F#<fact key>` |
//! | operation (idempotency record) | `A#<account>` | `O#<operation id>` |
//! | event (the outbox) | `A#<account>` | `V#<event seq, 20 digits>` |
//! | API key | `K#<key id>` | `KEY` |
//!
//! A commit is ONE `TransactWriteItems`: the account put conditioned on its version, then one
//! conditional put per entry, one unconditional put per fact, one conditional put per event,
//! then the operation record. The table's stream carries each event's insert to the
//! publisher (`functions/events-publisher`, `docs/events-aws.md`). When it
//! is cancelled, the cancellation reasons (which line up with the actions by position) and the
//! old items DynamoDB returns (`ReturnValuesOnConditionCheckFailure::ALL_OLD`) answer the caller
//! without a second read.
//!
//! Webhook endpoints and deliveries live in a second table of their own: [`DynamoWebhookStore`]
//! (`webhooks/`, [`webhooks_table_definition`], `docs/webhooks.md`, "Storage on DynamoDB").

mod counter;
mod item;
mod local;
mod retry;
mod table;
mod webhooks;

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use credits_store::{
    AccountPage, AccountRecord, Commit, CommitOutcome, DuePage, EntryCursor, EntryPage, EntryQuery,
    EntryRecord, EventRecord, FactRecord, KeyRecord, MAX_COMMIT_ENTRIES, MAX_FACT_VALUE_BYTES,
    MAX_PAGE_ENTRIES, OperationRecord, Store, StoreError, StoreResult, check_fact_key,
    check_fact_keys,
};
use sha2::{Digest, Sha256};

pub use counter::{RequestCounter, with_interceptor};
pub use item::{ACCOUNT_PK_PREFIX, EVENT_SK_PREFIX, KEY_PK_PREFIX};
pub use local::{LOCAL_REGION, connect_local};
pub use table::{
    AT_SEQ_ATTRIBUTE, DEFAULT_TABLE_NAME, DUE_AT_ATTRIBUTE, DUE_INDEX, DUE_SHARD_ATTRIBUTE,
    DUE_SHARDS, PARTITION_KEY, SORT_KEY, STREAM_VIEW_TYPE, TIME_INDEX, create_table,
    create_table_if_missing, table_definition,
};

pub use webhooks::{
    DynamoWebhookStore, MAX_LANE_ATTEMPTS, WEBHOOK_DUE_AT_ATTRIBUTE, WEBHOOK_DUE_INDEX,
    WEBHOOK_DUE_SHARD_ATTRIBUTE, WEBHOOK_DUE_SHARDS, WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE,
    WEBHOOK_FAILING_INDEX, WEBHOOK_FAILING_KEY_ATTRIBUTE, create_webhooks_table,
    create_webhooks_table_if_missing, webhooks_table_definition,
};

use item::Item;

/// The SDK's time limits for every request this store sends (set on the client's config:
/// `aws_config::ConfigLoader::timeout_config`). A DynamoDB item request takes ~10 ms; these
/// only cut off what is stuck, so that a Lambda (10 s timeout) answers 503 instead of
/// timing out without an answer:
///
/// - connect: [`CONNECT_TIMEOUT_MS`], a TLS connection to the regional endpoint is set up in
///   tens of ms;
/// - one attempt: [`ATTEMPT_TIMEOUT_MS`], after which the SDK (or the commit loop, which
///   resends with the same token) tries again;
/// - one operation, its retries included: [`OPERATION_TIMEOUT_MS`]. A commit sends each
///   attempt as its own operation (the SDK's retries are off for it); its loop stops after
///   five attempts, so a commit that never gets through gives up in about 8 s.
#[must_use]
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(CONNECT_TIMEOUT_MS))
        .operation_attempt_timeout(std::time::Duration::from_millis(ATTEMPT_TIMEOUT_MS))
        .operation_timeout(std::time::Duration::from_millis(OPERATION_TIMEOUT_MS))
        .build()
}

/// See [`sdk_timeouts`].
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// See [`sdk_timeouts`].
pub const ATTEMPT_TIMEOUT_MS: u64 = 1_500;
/// See [`sdk_timeouts`].
pub const OPERATION_TIMEOUT_MS: u64 = 4_000;

/// Query requests one [`Store::due_accounts`] page may send before it returns what it has
/// (with a cursor).
const MAX_QUERY_REQUESTS: u32 = 32;
/// Query requests one [`Store::account_events`] page may send: a page of 1000 events of the
/// largest body (64 KiB) is 64 of DynamoDB's 1 MB pages.
const MAX_EVENT_QUERY_REQUESTS: u32 = 64;
/// `BatchGetItem` attempts for the keys DynamoDB leaves unprocessed (under throttling).
const MAX_BATCH_GET_ATTEMPTS: u32 = 5;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// The DynamoDB store: one client, one table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over `table`. Build it once per process (never per request) and
    /// share it; the client is cheap to clone and pools its connections.
    pub fn new(client: Client, table: String) -> DynamoStore {
        DynamoStore { client, table }
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The client this store sends its requests with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key_of(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(output.item)
    }

    /// One attempt of the commit transaction; the caller retries [`Attempt::Retry`].
    async fn commit_once(&self, plan: &CommitPlan<'_>) -> StoreResult<Attempt> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(plan.actions.clone()))
            .client_request_token(&plan.token)
            .customize()
            // This store's loop owns the retries (see `retry`), so the SDK must not add its
            // own underneath: attempts stay bounded and countable.
            .config_override(
                aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Attempt::Done(CommitOutcome::Committed)),
            Err(error) => error,
        };
        match error {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                match context.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        self.answer_cancellation(plan, cancelled.cancellation_reasons())
                            .await
                    }
                    TransactWriteItemsError::IdempotentParameterMismatchException(e) => {
                        // The token hashes the whole request, so only a hash collision gets
                        // here; nothing was written by this request.
                        Err(StoreError::Unavailable(format!(
                            "commit token reused with another request: {}",
                            e.message().unwrap_or("no detail")
                        )))
                    }
                    other => {
                        let code = other.code().unwrap_or_default().to_string();
                        let detail = other.message().unwrap_or("no detail").to_string();
                        if retry::is_transient_code(&code) || status >= 500 {
                            Ok(Attempt::Retry(format!("{code}: {detail}")))
                        } else if code == "ValidationException" {
                            Err(StoreError::Invalid(format!("commit rejected: {detail}")))
                        } else {
                            Err(StoreError::Refused(format!(
                                "commit refused: {code}: {detail}"
                            )))
                        }
                    }
                }
            }
            // The request may or may not have reached DynamoDB: resending it with the same
            // token is safe either way.
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Ok(Attempt::Retry(format!(
                "{}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&error)
            ))),
            other => Err(StoreError::Refused(format!(
                "commit failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&other)
            ))),
        }
    }

    /// Maps the cancellation reasons, by position, to the caller's answer. A failed
    /// condition decides the outcome (and is never retried); which one wins when several
    /// failed: the operation record (a replay is answered by its original result whatever
    /// the version), then the account version, then the first entry.
    async fn answer_cancellation(
        &self,
        plan: &CommitPlan<'_>,
        reasons: &[CancellationReason],
    ) -> StoreResult<Attempt> {
        if reasons.len() != plan.actions.len() {
            return Err(StoreError::Unavailable(format!(
                "commit cancelled with {} reasons for {} actions",
                reasons.len(),
                plan.actions.len()
            )));
        }
        let failed = |position: usize| {
            reasons
                .get(position)
                .and_then(CancellationReason::code)
                .is_some_and(|code| code == CONDITIONAL_CHECK_FAILED)
        };
        if let Some(position) = plan.operation_position
            && failed(position)
        {
            let old = reasons.get(position).and_then(CancellationReason::item);
            let record = match old {
                Some(old) => item::operation_record(old)?,
                // ALL_OLD always returns the item that failed `attribute_not_exists`; read it
                // should an emulator leave it out.
                None => self.read_operation(plan.commit).await?,
            };
            return Ok(Attempt::Done(CommitOutcome::OperationExists(record)));
        }
        if failed(ACCOUNT_POSITION) {
            let current = reasons
                .get(ACCOUNT_POSITION)
                .and_then(CancellationReason::item)
                .map(item::account_record)
                .transpose()?;
            return Ok(Attempt::Done(CommitOutcome::VersionConflict { current }));
        }
        for (offset, entry) in plan.commit.entries.iter().enumerate() {
            if failed(FIRST_ENTRY_POSITION + offset) {
                return Ok(Attempt::Done(CommitOutcome::EntryExists { seq: entry.seq }));
            }
        }
        for (offset, event) in plan.commit.events.iter().enumerate() {
            if failed(plan.events_start + offset) {
                return Ok(Attempt::Done(CommitOutcome::EntryExists { seq: event.seq }));
            }
        }
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        if codes.iter().any(|code| retry::is_transient_reason(code)) {
            return Ok(Attempt::Retry(format!("cancelled: {}", codes.join(", "))));
        }
        let detail = reasons
            .iter()
            .filter_map(CancellationReason::message)
            .collect::<Vec<_>>()
            .join("; ");
        if codes.contains(&"ValidationError") {
            return Err(StoreError::Invalid(format!("commit rejected: {detail}")));
        }
        Err(StoreError::Unavailable(format!(
            "commit cancelled: {} ({detail})",
            codes.join(", ")
        )))
    }

    async fn read_operation(&self, commit: &Commit) -> StoreResult<OperationRecord> {
        let Some(operation) = &commit.operation else {
            return Err(StoreError::Corrupt(
                "operation condition failed on a commit without an operation".into(),
            ));
        };
        self.operation(&operation.account, &operation.id)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "operation `{}` was reported as existing but cannot be read",
                    operation.id
                ))
            })
    }
}

/// Position of the account put in the transaction.
const ACCOUNT_POSITION: usize = 0;
/// Position of the first entry put; the facts follow the entries, the events follow the
/// facts, the operation record follows the last event.
const FIRST_ENTRY_POSITION: usize = 1;

enum Attempt {
    Done(CommitOutcome),
    /// Nothing was decided (a conflict with another transaction, throttling, a lost
    /// response): send the same request again.
    Retry(String),
}

/// The checked, built transaction of one commit.
struct CommitPlan<'a> {
    commit: &'a Commit,
    actions: Vec<TransactWriteItem>,
    operation_position: Option<usize>,
    /// Position of the first event put.
    events_start: usize,
    token: String,
}

impl<'a> CommitPlan<'a> {
    fn new(table: &str, commit: &'a Commit) -> StoreResult<CommitPlan<'a>> {
        check_commit(commit)?;
        let mut items: Vec<Item> =
            Vec::with_capacity(commit.entries.len() + commit.facts.len() + commit.events.len() + 2);
        items.push(item::account_item(&commit.account)?);
        for entry in &commit.entries {
            items.push(item::entry_item(entry)?);
        }
        for fact in &commit.facts {
            items.push(item::fact_item(fact)?);
        }
        for event in &commit.events {
            items.push(item::event_item(event)?);
        }
        if let Some(operation) = &commit.operation {
            items.push(item::operation_item(operation)?);
        }
        let mut total_bytes = 0_usize;
        for item in &items {
            let size = item::item_size_bytes(item);
            if size > item::MAX_ITEM_BYTES {
                return Err(StoreError::Invalid(format!(
                    "an item of the commit is {size} bytes, more than {}",
                    item::MAX_ITEM_BYTES
                )));
            }
            total_bytes = total_bytes.saturating_add(size);
        }
        if total_bytes > item::MAX_TRANSACTION_BYTES {
            return Err(StoreError::Invalid(format!(
                "the commit is {total_bytes} bytes, more than {}",
                item::MAX_TRANSACTION_BYTES
            )));
        }
        let token = request_token(table, commit.expected_version, &items);
        let mut actions = Vec::with_capacity(items.len());
        let mut items = items.into_iter();
        if let Some(account) = items.next() {
            let put = Put::builder().table_name(table).set_item(Some(account));
            let put = if commit.expected_version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :expected")
                    .expression_attribute_values(
                        ":expected",
                        AttributeValue::N(commit.expected_version.to_string()),
                    )
            };
            actions.push(put_action(put)?);
        }
        let facts_start = FIRST_ENTRY_POSITION + commit.entries.len();
        let facts_end = facts_start + commit.facts.len();
        let events_end = facts_end + commit.events.len();
        for (position, item) in (FIRST_ENTRY_POSITION..).zip(items) {
            let put = Put::builder().table_name(table).set_item(Some(item));
            // Facts are upserts; entries, events and the operation record must be new.
            let put = if (facts_start..facts_end).contains(&position) {
                put
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            actions.push(put_action(put)?);
        }
        Ok(CommitPlan {
            commit,
            operation_position: commit.operation.as_ref().map(|_| events_end),
            events_start: facts_end,
            actions,
            token,
        })
    }
}

fn put_action(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
) -> StoreResult<TransactWriteItem> {
    let put = put
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| StoreError::Invalid(format!("commit: {e}")))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The contract's preconditions, checked before anything is sent.
fn check_commit(commit: &Commit) -> StoreResult<()> {
    let account = &commit.account.account;
    if commit.expected_version.checked_add(1) != Some(commit.account.version) {
        return Err(StoreError::Invalid(format!(
            "new version {} does not follow expected version {}",
            commit.account.version, commit.expected_version
        )));
    }
    let items = commit
        .entries
        .len()
        .saturating_add(commit.facts.len())
        .saturating_add(commit.events.len());
    if items > MAX_COMMIT_ENTRIES {
        return Err(StoreError::Invalid(format!(
            "{items} entries, facts and events in one commit, more than {MAX_COMMIT_ENTRIES}"
        )));
    }
    check_events(account, &commit.events)?;
    let mut seqs = HashSet::with_capacity(commit.entries.len());
    for entry in &commit.entries {
        if !seqs.insert(entry.seq) {
            return Err(StoreError::Invalid(format!(
                "seq {} appears twice in one commit",
                entry.seq
            )));
        }
        if &entry.account != account {
            return Err(StoreError::Invalid(format!(
                "entry `{}` belongs to account `{}`, not `{account}`",
                entry.id, entry.account
            )));
        }
    }
    let mut keys = HashSet::with_capacity(commit.facts.len());
    for fact in &commit.facts {
        if &fact.account != account {
            return Err(StoreError::Invalid(format!(
                "fact `{}` belongs to account `{}`, not `{account}`",
                fact.key, fact.account
            )));
        }
        check_fact_key(&fact.key)?;
        // DynamoDB refuses two actions on one item in a transaction; say why instead.
        if !keys.insert(fact.key.as_str()) {
            return Err(StoreError::Invalid(format!(
                "fact `{}` appears twice in one commit",
                fact.key
            )));
        }
        let bytes = serde_json::to_string(&fact.value).map_or(usize::MAX, |text| text.len());
        if bytes > MAX_FACT_VALUE_BYTES {
            return Err(StoreError::Invalid(format!(
                "fact `{}` is {bytes} bytes of JSON, more than {MAX_FACT_VALUE_BYTES}",
                fact.key
            )));
        }
    }
    if let Some(operation) = &commit.operation
        && &operation.account != account
    {
        return Err(StoreError::Invalid(format!(
            "operation `{}` belongs to account `{}`, not `{account}`",
            operation.id, operation.account
        )));
    }
    Ok(())
}

/// The events' part of the contract: of the commit's account, distinct seqs from 1, a body
/// within [`MAX_FACT_VALUE_BYTES`] of JSON (ids and seqs are checked with the items).
fn check_events(account: &str, events: &[EventRecord]) -> StoreResult<()> {
    let mut seqs = HashSet::with_capacity(events.len());
    for event in events {
        if event.account != account {
            return Err(StoreError::Invalid(format!(
                "event `{}` belongs to account `{}`, not `{account}`",
                event.id, event.account
            )));
        }
        // An account's event sequence starts at 1.
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
        let bytes = serde_json::to_string(&event.body).map_or(usize::MAX, |text| text.len());
        if bytes > MAX_FACT_VALUE_BYTES {
            return Err(StoreError::Invalid(format!(
                "event `{}` is {bytes} bytes of JSON, more than {MAX_FACT_VALUE_BYTES}",
                event.id
            )));
        }
    }
    Ok(())
}

/// The `ClientRequestToken`: a hash of the table, the expected version and every item
/// written, so a resend of the same commit (a retry after a lost response) is recognised by
/// DynamoDB and acknowledged without writing twice, while a different commit (another `now`,
/// another body) never collides with it and is judged by its conditions instead. The table
/// is in it because DynamoDB scopes tokens to the AWS account, not to the table: the same
/// commit to another table (another stage) must not be refused as a reused token.
fn request_token(table: &str, expected_version: u64, items: &[Item]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(table.as_bytes());
    hasher.update([0]);
    hasher.update(expected_version.to_be_bytes());
    for item in items {
        let mut names: Vec<&String> = item.keys().collect();
        names.sort();
        hasher.update([0xff]);
        for name in names {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            match item.get(name) {
                Some(AttributeValue::S(text)) => {
                    hasher.update(b"S");
                    hasher.update(text.as_bytes());
                }
                Some(AttributeValue::N(text)) => {
                    hasher.update(b"N");
                    hasher.update(text.as_bytes());
                }
                other => hasher.update(format!("{other:?}").as_bytes()),
            }
            hasher.update([0]);
        }
    }
    // A token is at most 36 characters: 32 hex digits (128 bits) of the hash.
    hex::encode(hasher.finalize()).chars().take(32).collect()
}

/// The store error an SDK failure (after the SDK's own retries) is: [`StoreError::Unavailable`]
/// (answered 503, "retry") only when a later attempt may succeed — throttling, a DynamoDB 5xx,
/// a timeout, a connection that failed or a response that was lost. A request DynamoDB
/// answered with a 4xx it will answer again (no permission, no such table, a malformed
/// request) is [`StoreError::Refused`] or [`StoreError::Invalid`]: answered 500, counted and
/// alarmed, never a "retry" that cannot succeed.
fn unavailable<E>(
    operation: &str,
    error: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match &error {
        SdkError::ServiceError(context) => {
            let e = context.err();
            let code = e.code().unwrap_or_default();
            let detail = format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no detail")
            );
            if retry::is_transient_code(code) || context.raw().status().as_u16() >= 500 {
                StoreError::Unavailable(format!("{operation} failed: {detail}"))
            } else if code == "ValidationException" {
                StoreError::Invalid(format!("{operation} rejected: {detail}"))
            } else {
                StoreError::Refused(format!("{operation} refused: {detail}"))
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!(
                "{operation} failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&error)
            ))
        }
        // The request could not even be built: a bug or a misconfiguration, not a busy store.
        other => StoreError::Refused(format!(
            "{operation} failed: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(other)
        )),
    }
}

fn limit_of(limit: u32) -> u32 {
    if limit == 0 {
        MAX_PAGE_ENTRIES
    } else {
        limit.min(MAX_PAGE_ENTRIES)
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[async_trait]
impl Store for DynamoStore {
    async fn load(&self, account: &str) -> StoreResult<Option<AccountRecord>> {
        if !item::storable_id(account) {
            return Ok(None);
        }
        self.get(item::account_pk(account), item::ACCOUNT_SK)
            .await?
            .as_ref()
            .map(item::account_record)
            .transpose()
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        let plan = CommitPlan::new(&self.table, &commit)?;
        let mut attempt = 1;
        loop {
            match self.commit_once(&plan).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Retry(reason) if attempt < retry::MAX_ATTEMPTS => {
                    credits_store::observe::commit_retried();
                    tracing::warn!(
                        account = %commit.account.account,
                        attempt,
                        %reason,
                        "commit retried"
                    );
                    tokio::time::sleep(retry::backoff(attempt)).await;
                    attempt += 1;
                }
                Attempt::Retry(reason) => {
                    return Err(StoreError::Unavailable(format!(
                        "commit gave up after {attempt} attempts: {reason}"
                    )));
                }
            }
        }
    }

    async fn operation(&self, account: &str, id: &str) -> StoreResult<Option<OperationRecord>> {
        if !item::storable_id(account) || !item::storable_id(id) {
            return Ok(None);
        }
        self.get(item::account_pk(account), &item::operation_sk(id))
            .await?
            .as_ref()
            .map(item::operation_record)
            .transpose()
    }

    async fn facts(&self, account: &str, keys: &[String]) -> StoreResult<Vec<FactRecord>> {
        check_fact_keys(keys)?;
        if keys.is_empty() || !item::storable_id(account) {
            return Ok(Vec::new());
        }
        let pk = item::account_pk(account);
        let mut pending: Vec<Item> = keys
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|key| item::key_of(pk.clone(), &item::fact_sk(key)))
            .collect();
        let mut found = Vec::new();
        for attempt in 1..=MAX_BATCH_GET_ATTEMPTS {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Invalid(format!("facts: {e}")))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable("BatchGetItem", e))?;
            if let Some(items) = output.responses.as_ref().and_then(|r| r.get(&self.table)) {
                for found_item in items {
                    found.push(item::fact_record(found_item)?);
                }
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .map(|keys| keys.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(retry::backoff(attempt)).await;
        }
        Err(StoreError::Unavailable(format!(
            "{} facts stayed unprocessed after {MAX_BATCH_GET_ATTEMPTS} attempts",
            pending.len()
        )))
    }

    async fn last_fact_before(
        &self,
        account: &str,
        prefix: &str,
        before: &str,
    ) -> StoreResult<Option<FactRecord>> {
        check_fact_keys(&[before.to_owned()])?;
        if !item::storable_id(account) || before <= prefix {
            return Ok(None);
        }
        // Keys with `prefix` sort between `prefix` and `prefix` + the greatest character.
        let ceiling = format!("{prefix}\u{10FFFF}");
        let high = if before < ceiling.as_str() {
            before
        } else {
            ceiling.as_str()
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", AttributeValue::S(item::account_pk(account)))
            .expression_attribute_values(":low", AttributeValue::S(item::fact_sk(prefix)))
            .expression_attribute_values(":high", AttributeValue::S(item::fact_sk(high)))
            .scan_index_forward(false)
            // BETWEEN includes `before` itself: the second item is then the answer.
            .limit(2)
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        for found in output.items() {
            let fact = item::fact_record(found)?;
            if fact.key.as_str() < before && fact.key.starts_with(prefix) {
                return Ok(Some(fact));
            }
        }
        Ok(None)
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<EntryPage> {
        query.check()?;
        if !item::storable_id(&query.account) {
            return Ok(EntryPage::default());
        }
        let limit = usize::try_from(limit_of(query.limit)).unwrap_or(usize::MAX);
        let Some(range) = KeyRange::of(query)? else {
            return Ok(EntryPage::default());
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(KeyRange::CONDITION)
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#range", range.attribute)
            .expression_attribute_values(":pk", AttributeValue::S(item::account_pk(&query.account)))
            // One more than a page, so the page knows whether anything follows it.
            .limit(to_i32(
                u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX),
            ));
        for (name, value) in range.values {
            request = request.expression_attribute_values(name, AttributeValue::S(value));
        }
        request = match range.index {
            // A global index cannot be read consistently: a time range may lag commits.
            Some(index) => request.index_name(index),
            None => request.consistent_read(true),
        };
        let output = request.send().await.map_err(|e| unavailable("Query", e))?;
        let mut read = output
            .items()
            .iter()
            .map(item::entry_record)
            .collect::<StoreResult<Vec<_>>>()?;
        // DynamoDB also stops at 1 MB read: then the page is short, but not the last.
        let more = read.len() > limit || output.last_evaluated_key.is_some();
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
        let limit = limit_of(limit);
        let now_text = item::timestamp(&now)?;
        let shards = shards_of_segment(segment, segments);
        let mut position = match cursor {
            None => DueCursor {
                shard: shards.first().copied().unwrap_or(DUE_SHARDS),
                after: None,
            },
            Some(text) => DueCursor::parse(&text)?,
        };
        let mut accounts = Vec::new();
        let mut requests = 0;
        while shards.contains(&position.shard) {
            let remaining = limit.saturating_sub(u32::try_from(accounts.len()).unwrap_or(u32::MAX));
            if remaining == 0 || requests >= MAX_QUERY_REQUESTS {
                return Ok(DuePage {
                    accounts,
                    next: Some(position.render()),
                });
            }
            requests += 1;
            let start_key = position.after.as_ref().map(|(pk, due_at)| {
                let mut key = item::key_of(pk.clone(), item::ACCOUNT_SK);
                key.insert(
                    DUE_SHARD_ATTRIBUTE.into(),
                    AttributeValue::N(position.shard.to_string()),
                );
                key.insert(DUE_AT_ATTRIBUTE.into(), AttributeValue::S(due_at.clone()));
                key
            });
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("#shard = :shard AND #due <= :now")
                .expression_attribute_names("#shard", DUE_SHARD_ATTRIBUTE)
                .expression_attribute_names("#due", DUE_AT_ATTRIBUTE)
                .expression_attribute_values(
                    ":shard",
                    AttributeValue::N(position.shard.to_string()),
                )
                .expression_attribute_values(":now", AttributeValue::S(now_text.clone()))
                .limit(to_i32(remaining))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for found in output.items() {
                let pk = item::string(found, PARTITION_KEY)?;
                let account = item::account_of_pk(&pk).ok_or_else(|| {
                    StoreError::Corrupt(format!("due index holds a non-account item `{pk}`"))
                })?;
                // A shard may hold accounts of other segments when `segments` does not
                // divide DUE_SHARDS (see `shards_of_segment`).
                if credits_store::segment_of(account, segments) == segment {
                    accounts.push(account.to_string());
                }
            }
            position = match output.last_evaluated_key {
                Some(key) => DueCursor {
                    shard: position.shard,
                    after: Some((
                        item::string(&key, PARTITION_KEY)?,
                        item::string(&key, DUE_AT_ATTRIBUTE)?,
                    )),
                },
                None => DueCursor {
                    shard: shards
                        .iter()
                        .copied()
                        .find(|s| *s > position.shard)
                        .unwrap_or(DUE_SHARDS),
                    after: None,
                },
            };
        }
        Ok(DuePage {
            accounts,
            next: None,
        })
    }

    async fn last_entry_at_or_before(
        &self,
        account: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EntryRecord>> {
        if !item::storable_id(account) {
            return Ok(None);
        }
        // Every `at_seq` of instant `at` sorts before `<at>#` followed by any seq.
        let high = item::at_seq(&at, u64::MAX)?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TIME_INDEX)
            .key_condition_expression("#pk = :pk AND #range <= :high")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#range", AT_SEQ_ATTRIBUTE)
            .expression_attribute_values(":pk", AttributeValue::S(item::account_pk(account)))
            .expression_attribute_values(":high", AttributeValue::S(high))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        output.items().first().map(item::entry_record).transpose()
    }

    async fn account_events(
        &self,
        account: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        if !item::storable_id(account) {
            return Ok(Vec::new());
        }
        let Some(low) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let limit = limit_of(limit);
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        // A consistent Query of the account's `V#` range, by seq: the same cost whatever the
        // account's age. One request, unless DynamoDB stops a page at 1 MB before `limit`
        // events (bodies of up to 64 KiB): then the next page is asked for, at most
        // MAX_EVENT_QUERY_REQUESTS in all, so a page is short only at the end.
        let mut events: Vec<EventRecord> = Vec::new();
        let mut start_key = None;
        for _ in 0..MAX_EVENT_QUERY_REQUESTS {
            let remaining = wanted.saturating_sub(events.len());
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":pk", AttributeValue::S(item::account_pk(account)))
                .expression_attribute_values(":low", AttributeValue::S(item::event_sk(low)))
                .expression_attribute_values(":high", AttributeValue::S(item::event_sk(u64::MAX)))
                .limit(to_i32(u32::try_from(remaining).unwrap_or(limit)))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for found in output.items() {
                events.push(item::event_record(found)?);
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() || events.len() >= wanted {
                break;
            }
        }
        events.truncate(wanted);
        Ok(events)
    }

    async fn accounts(&self, cursor: Option<String>, limit: u32) -> StoreResult<AccountPage> {
        let limit = limit_of(limit);
        let start_key = cursor
            .as_deref()
            .map(|text| {
                scan_cursor(text)
                    .ok_or_else(|| StoreError::Invalid("not a cursor of this listing".to_owned()))
            })
            .transpose()?
            .map(|(pk, sk)| item::key_of(pk, &sk));
        // No index lists accounts alone: a page scans `limit` items of the table and keeps
        // the accounts among them, so its cost is bounded and it may be short.
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("#sk = :account")
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":account", AttributeValue::S(item::ACCOUNT_SK.into()))
            .limit(to_i32(limit))
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|e| unavailable("Scan", e))?;
        let accounts = output
            .items()
            .iter()
            .map(item::account_record)
            .collect::<StoreResult<Vec<_>>>()?;
        let next = match output.last_evaluated_key {
            Some(key) => Some(render_scan_cursor(
                &item::string(&key, PARTITION_KEY)?,
                &item::string(&key, SORT_KEY)?,
            )),
            None => None,
        };
        Ok(AccountPage { accounts, next })
    }

    async fn put_key(&self, key: &KeyRecord) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::key_item(key)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(service) if service.is_conditional_check_failed_exception() => {
                    Err(StoreError::KeyExists(key.id.clone()))
                }
                _ => Err(unavailable("PutItem", e)),
            },
        }
    }

    async fn key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        if !item::storable_id(id) {
            return Ok(None);
        }
        self.get(item::key_pk(id), item::KEY_SK)
            .await?
            .as_ref()
            .map(item::key_record)
            .transpose()
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        if !item::storable_id(id) {
            return Ok(false);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key_of(item::key_pk(id), item::KEY_SK)))
            // The first revocation's time is kept: revoking twice is not a new event.
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", AttributeValue::S(item::timestamp(&at)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(service) if service.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(unavailable("UpdateItem", e)),
            },
        }
    }
}

/// The due-index shards that can hold accounts of `segment` (of `segments`).
///
/// An account's shard is `hash % DUE_SHARDS` and its segment `hash % segments`
/// ([`credits_store::segment_of`]); both are fixed by `hash % g` where
/// `g = gcd(DUE_SHARDS, segments)`, so the segment's accounts live exactly in the shards `k`
/// with `k % g == segment % g`. When `segments` divides [`DUE_SHARDS`] (1, 2, 4, 8, 16
/// workers) those shards hold only this segment's accounts; otherwise they are shared and
/// the walk filters, reading some keys another worker also reads.
fn shards_of_segment(segment: u32, segments: u32) -> Vec<u32> {
    let g = gcd(DUE_SHARDS, segments);
    (0..DUE_SHARDS).filter(|k| k % g == segment % g).collect()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// The key condition of one page of an entries query: a range of the table's sort key (by
/// seq) or of the time index's (by time, then seq).
struct KeyRange {
    index: Option<&'static str>,
    attribute: &'static str,
    values: Vec<(&'static str, String)>,
}

impl KeyRange {
    /// Both ranges are `:low ..= :high` of the range key, within the account.
    const CONDITION: &'static str = "#pk = :pk AND #range BETWEEN :low AND :high";

    /// `None` when nothing can follow the cursor.
    fn of(query: &EntryQuery) -> StoreResult<Option<KeyRange>> {
        let after_seq = |cursor: &EntryCursor| cursor.seq.checked_add(1);
        if !query.by_time() {
            let low = match &query.after {
                None => 0,
                Some(cursor) => match after_seq(cursor) {
                    Some(next) => next,
                    None => return Ok(None),
                },
            };
            return Ok(Some(KeyRange {
                index: None,
                attribute: SORT_KEY,
                values: vec![
                    (":low", item::entry_sk(low)),
                    (":high", item::entry_sk(u64::MAX)),
                ],
            }));
        }
        // `at_seq` is `<fixed-width at>#<20-digit seq>`: every value of an instant `t` sorts
        // after the bare timestamp of `t` and before that of any later instant.
        let mut low = match &query.from {
            Some(from) => item::timestamp(from)?,
            // Below every fixed-width timestamp (a key condition takes no empty string).
            None => "0".to_owned(),
        };
        if let Some(cursor) = &query.after {
            let Some(next) = after_seq(cursor) else {
                return Ok(None);
            };
            let resume = item::at_seq(&cursor.at, next)?;
            if resume > low {
                low = resume;
            }
        }
        let high = match &query.to {
            Some(to) => item::timestamp(to)?,
            // Above every fixed-width timestamp of years 0 to 9999.
            None => "~".to_owned(),
        };
        if low >= high {
            return Ok(None);
        }
        Ok(Some(KeyRange {
            index: Some(TIME_INDEX),
            attribute: AT_SEQ_ATTRIBUTE,
            // `high` is a bare timestamp (or above all), which no `at_seq` equals: BETWEEN
            // then excludes the instant `to`.
            values: vec![(":low", low), (":high", high)],
        }))
    }
}

/// Where a walk of the due index stands: a shard, and the last key read in it.
struct DueCursor {
    shard: u32,
    /// `(pk, due_at)` of the last account returned from `shard`.
    after: Option<(String, String)>,
}

impl DueCursor {
    fn render(&self) -> String {
        match &self.after {
            None => serde_json::json!({ "shard": self.shard }).to_string(),
            Some((pk, due_at)) => {
                serde_json::json!({ "shard": self.shard, "pk": pk, "due_at": due_at }).to_string()
            }
        }
    }

    fn parse(text: &str) -> StoreResult<DueCursor> {
        let invalid =
            || StoreError::Invalid(format!("due cursor `{text}` is not one this store made"));
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
        let shard = value
            .get("shard")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s < DUE_SHARDS)
            .ok_or_else(invalid)?;
        let pk = value.get("pk").and_then(serde_json::Value::as_str);
        let due_at = value.get("due_at").and_then(serde_json::Value::as_str);
        let after = match (pk, due_at) {
            (Some(pk), Some(due_at)) => Some((pk.to_string(), due_at.to_string())),
            (None, None) => None,
            _ => return Err(invalid()),
        };
        Ok(DueCursor { shard, after })
    }
}

/// A scan position as a cursor: the hex of `pk`, a dot, the hex of `sk`.
fn render_scan_cursor(pk: &str, sk: &str) -> String {
    let hex = |text: &str| {
        text.bytes()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    format!("{}.{}", hex(pk), hex(sk))
}

/// The `(pk, sk)` of a cursor [`render_scan_cursor`] gave.
fn scan_cursor(text: &str) -> Option<(String, String)> {
    let unhex = |part: &str| -> Option<String> {
        if part.is_empty() || !part.len().is_multiple_of(2) || part.len() > 4 * 1024 {
            return None;
        }
        let bytes = (0..part.len())
            .step_by(2)
            .map(|index| {
                part.get(index..index.checked_add(2)?)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()?;
        String::from_utf8(bytes).ok()
    };
    let (pk, sk) = text.split_once('.')?;
    Some((unhex(pk)?, unhex(sk)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use credits_store::EntryRecord;

    /// The Lambdas' timeout (infra/template.yaml, Globals).
    const FUNCTION_TIMEOUT_MS: u64 = 10_000;

    #[test]
    fn sdk_timeouts_are_set_and_a_commit_gives_up_inside_the_function_timeout() {
        let timeouts = sdk_timeouts();
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(std::time::Duration::from_millis(ATTEMPT_TIMEOUT_MS))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(std::time::Duration::from_millis(OPERATION_TIMEOUT_MS))
        );
        assert!(timeouts.connect_timeout().is_some());
        const { assert!(ATTEMPT_TIMEOUT_MS < OPERATION_TIMEOUT_MS) };
        // Every attempt timed out, each pause at its ceiling.
        let pauses_ms: u64 = (1..retry::MAX_ATTEMPTS)
            .map(|attempt| (20_u64 << attempt).min(1_000))
            .sum();
        let commit_ms = u64::from(retry::MAX_ATTEMPTS) * ATTEMPT_TIMEOUT_MS + pauses_ms;
        assert!(commit_ms < FUNCTION_TIMEOUT_MS - 1_000, "{commit_ms}");
    }

    fn commit(entries: usize) -> Commit {
        let at = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap();
        Commit {
            events: Vec::new(),
            expected_version: 0,
            account: AccountRecord {
                account: "a".into(),
                version: 1,
                due_at: None,
                state: serde_json::json!({}),
            },
            entries: (0..entries)
                .map(|i| EntryRecord {
                    account: "a".into(),
                    id: format!("e{i}"),
                    seq: i as u64 + 1,
                    at,
                    entry_type: "grant".into(),
                    operation: "o".into(),
                    unit: None,
                    amount_minor: 1,
                    feature: None,
                    model: None,
                    project: None,
                    member: None,
                    content: None,
                    body: serde_json::Value::Null,
                })
                .collect(),
            facts: vec![],
            operation: Some(OperationRecord {
                account: "a".into(),
                id: "o".into(),
                kind: "charge".into(),
                request_hash: "h".into(),
                status: 201,
                response: serde_json::json!({}),
                at,
            }),
        }
    }

    #[test]
    fn a_full_commit_fits_one_transaction() {
        let commit = commit(MAX_COMMIT_ENTRIES);
        let plan = CommitPlan::new("t", &commit).unwrap();
        assert_eq!(plan.actions.len(), 100);
        assert_eq!(plan.operation_position, Some(99));
    }

    #[test]
    fn events_go_between_the_facts_and_the_operation_record() {
        let mut commit = commit(2);
        commit.events = (1..=3)
            .map(|seq| credits_store::EventRecord {
                account: "a".into(),
                seq,
                id: format!("v{seq}"),
                event_type: "balance.low".into(),
                at: Utc.timestamp_opt(1_700_000_000, 0).single().unwrap(),
                body: serde_json::json!({"v": 1}),
            })
            .collect();
        let plan = CommitPlan::new("t", &commit).unwrap();
        assert_eq!(plan.actions.len(), 1 + 2 + 3 + 1);
        assert_eq!(plan.events_start, 3);
        assert_eq!(plan.operation_position, Some(6));
        let sort_key = |position: usize| {
            plan.actions[position]
                .put()
                .and_then(|put| put.item().get(SORT_KEY))
                .and_then(|value| value.as_s().ok())
                .cloned()
                .unwrap()
        };
        assert_eq!(sort_key(3), "V#00000000000000000001");
        assert_eq!(sort_key(5), "V#00000000000000000003");
        let condition = plan.actions[4]
            .put()
            .and_then(|put| put.condition_expression())
            .map(str::to_owned);
        assert_eq!(condition.as_deref(), Some("attribute_not_exists(pk)"));
        // Entries, facts and events share the limit.
        commit
            .events
            .extend((4..=97).map(|seq| credits_store::EventRecord {
                account: "a".into(),
                seq,
                id: format!("v{seq}"),
                event_type: "t".into(),
                at: Utc.timestamp_opt(1_700_000_000, 0).single().unwrap(),
                body: serde_json::Value::Null,
            }));
        assert!(matches!(
            CommitPlan::new("t", &commit),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn the_token_is_deterministic_and_depends_on_the_content() {
        let one = commit(2);
        let mut other = commit(2);
        let first = CommitPlan::new("t", &one).unwrap().token;
        assert_eq!(first, CommitPlan::new("t", &one).unwrap().token);
        assert!(first.len() <= 36);
        if let Some(entry) = other.entries.first_mut() {
            entry.amount_minor = 2;
        }
        assert_ne!(first, CommitPlan::new("t", &other).unwrap().token);
        assert_ne!(first, CommitPlan::new("t2", &one).unwrap().token);
    }

    #[test]
    fn broken_contracts_are_refused_before_sending() {
        let mut wrong_version = commit(1);
        wrong_version.account.version = 3;
        assert!(matches!(
            CommitPlan::new("t", &wrong_version),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            CommitPlan::new("t", &commit(MAX_COMMIT_ENTRIES + 1)),
            Err(StoreError::Invalid(_))
        ));
        let mut twice = commit(2);
        if let Some(entry) = twice.entries.get_mut(1) {
            entry.seq = 1;
        }
        assert!(matches!(
            CommitPlan::new("t", &twice),
            Err(StoreError::Invalid(_))
        ));
        // Entry ids are not keys: the same id twice is the ledger's business.
        let mut same_id = commit(2);
        if let Some(entry) = same_id.entries.get_mut(1) {
            entry.id = "e0".into();
        }
        assert!(CommitPlan::new("t", &same_id).is_ok());
    }

    #[test]
    fn every_account_is_walked_by_exactly_one_segment() {
        for segments in 1..=40 {
            for i in 0..200 {
                let account = format!("acct-{i}");
                let shard = item::due_shard(&account);
                let walkers: Vec<u32> = (0..segments)
                    .filter(|s| {
                        shards_of_segment(*s, segments).contains(&shard)
                            && credits_store::segment_of(&account, segments) == *s
                    })
                    .collect();
                assert_eq!(walkers.len(), 1, "{account} with {segments} segments");
            }
        }
        // Segment counts that divide the shard count never read another segment's shard.
        assert_eq!(shards_of_segment(1, 4), [1, 5, 9, 13]);
        assert_eq!(shards_of_segment(0, 3).len(), 16);
        assert_eq!(shards_of_segment(5, 32), [5]);
    }

    #[test]
    fn due_cursors_round_trip() {
        let cursor = DueCursor {
            shard: 3,
            after: Some(("A#x".into(), "2025-01-01T00:00:00.000000000Z".into())),
        };
        let parsed = DueCursor::parse(&cursor.render()).unwrap();
        assert_eq!(parsed.shard, 3);
        assert_eq!(parsed.after, cursor.after);
        assert!(DueCursor::parse("{\"shard\":99}").is_err());
        assert!(DueCursor::parse("nonsense").is_err());
    }
}
