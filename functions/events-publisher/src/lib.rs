//! `credits-events-publisher`: the ledger's events, from the table's stream to EventBridge.
//!
//! A commit writes its events as items of the ledger table (`pk = A#<account>`,
//! `sk = V#<seq, 20 digits>`) in the same transaction as its entries (the transactional
//! outbox, `docs/dynamodb.md`). The table's stream carries each insert; the event source
//! mapping (infra/template.yaml) keeps only inserts of `V#` items ([`STREAM_FILTER_PATTERN`])
//! and hands them here in batches. [`handle`] turns each into one EventBridge entry
//! ([`EVENT_SOURCE`], detail type = the event's type, detail = [`EventDetail`]) and sends
//! them in order, at most [`MAX_ENTRIES_PER_PUT`] a request, through a [`Publisher`].
//!
//! Delivery is at least once: a record whose entry EventBridge did not take is reported in
//! `batchItemFailures` together with every record after it, so Lambda retries from there
//! (ReportBatchItemFailures) and nothing after a failure is skipped; receivers de-duplicate
//! by the event's `id`. Records of one account reach the function in commit order (a
//! stream keeps the order of one partition key's changes), and are put in that order, one
//! event of an account per request, so a partial failure never lets a later event of an
//! account out before an earlier one. (EventBridge does not promise to deliver in the order
//! it was given: receivers order an account's events by `seq`.)
//! Design: `docs/events-aws.md`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The `Source` of every entry this function puts.
pub const EVENT_SOURCE: &str = "credits";
/// EventBridge's limit of entries in one `PutEvents` request.
pub const MAX_ENTRIES_PER_PUT: usize = 10;
/// EventBridge's limit of one `PutEvents` request is 256 KiB (source, detail type and detail
/// of every entry, and more); a request is closed below it with a margin.
pub const MAX_PUT_BYTES: usize = 240 * 1024;
/// The sort key prefix of an event item (`credits_store_dynamodb::EVENT_SK_PREFIX`; a test
/// keeps them equal).
pub const EVENT_SK_PREFIX: &str = "V#";
/// The event source mapping's filter (infra/template.yaml keeps exactly this pattern; a test
/// compares them): inserts of event items only. Nothing else of the table reaches the
/// function, and it is billed for none of it.
pub const STREAM_FILTER_PATTERN: &str =
    r#"{"eventName":["INSERT"],"dynamodb":{"Keys":{"sk":{"S":[{"prefix":"V#"}]}}}}"#;
/// The environment variable naming the event bus (its name or ARN).
pub const EVENT_BUS_ENV: &str = "CREDITS_EVENT_BUS_NAME";

/// The Lambda event of a DynamoDB stream batch (the parts this function reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One stream record.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    #[serde(default)]
    pub dynamodb: StreamData,
}

/// The record's change: keys, new image (the table streams `NEW_IMAGE`), sequence number.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamData {
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, Json>,
    #[serde(rename = "NewImage", default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<HashMap<String, Json>>,
    /// What `batchItemFailures` names a record by.
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
}

/// The function's answer: the records Lambda must retry (ReportBatchItemFailures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One record to retry, by its stream sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// What an entry's `Detail` holds: the stored event, its body as JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EventDetail {
    /// Unique and stable forever: receivers de-duplicate by it.
    pub id: String,
    pub account: String,
    /// The account's event sequence (from 1, gapless): receivers order one account's events
    /// by it.
    pub seq: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When what it reports happened (fixed-width UTC, microseconds).
    pub at: String,
    /// The versioned payload the ledger wrote.
    pub body: Json,
}

/// One `PutEvents` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub source: String,
    pub detail_type: String,
    /// [`EventDetail`] as JSON text.
    pub detail: String,
    /// The event's own id, for logs and de-duplication in tests.
    pub event_id: String,
    /// Its account: one request holds at most one event of each account.
    pub account: String,
}

impl Entry {
    /// What the entry counts toward a request's size limit.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len()
    }
}

/// What became of one entry of a `PutEvents` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Published,
    /// EventBridge refused this entry (`ErrorCode`, `ErrorMessage`); it may be retried.
    Failed {
        code: String,
        message: String,
    },
}

/// Sends entries to the bus: one `PutEvents` request per call, answering one outcome per
/// entry in order, or an error when the request as a whole failed (nothing known published).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    async fn put_events(&self, entries: &[Entry]) -> Result<Vec<EntryOutcome>, String>;
}

/// Why a record cannot become an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// An attribute is missing or of the wrong type.
    Malformed(String),
}

impl std::error::Error for RecordError {}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Malformed(why) => write!(f, "the stream record is not an event: {why}"),
        }
    }
}

/// Whether the record is one this function publishes: an insert of an event item. The
/// mapping's filter already keeps only those; anything else that arrives (a filter changed
/// by hand) is skipped, not failed.
#[must_use]
pub fn is_event_insert(record: &StreamRecord) -> bool {
    record.event_name == "INSERT"
        && attribute(&record.dynamodb.keys, "sk", "S")
            .is_some_and(|sk| sk.starts_with(EVENT_SK_PREFIX))
}

/// The event an event insert carries, as stored (its body parsed as JSON): what the webhook
/// sender queues, and what an entry's detail holds.
///
/// # Errors
/// [`RecordError::Malformed`] when the new image lacks an attribute of an event item.
pub fn event_of(record: &StreamRecord) -> Result<EventDetail, RecordError> {
    let image = record
        .dynamodb
        .new_image
        .as_ref()
        .ok_or_else(|| RecordError::Malformed("no new image".to_owned()))?;
    let text = |name: &str| {
        attribute(image, name, "S")
            .map(str::to_owned)
            .ok_or_else(|| RecordError::Malformed(format!("no string attribute `{name}`")))
    };
    let seq = attribute(image, "seq", "N")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| RecordError::Malformed("no number attribute `seq`".to_owned()))?;
    let body = serde_json::from_str::<Json>(&text("body")?)
        .map_err(|e| RecordError::Malformed(format!("`body` is not JSON: {e}")))?;
    Ok(EventDetail {
        id: text("id")?,
        account: text("account")?,
        seq,
        event_type: text("event_type")?,
        at: text("at")?,
        body,
    })
}

/// The entry of an event insert.
///
/// # Errors
/// [`RecordError::Malformed`] when the new image lacks an attribute of an event item.
pub fn entry_of(record: &StreamRecord) -> Result<Entry, RecordError> {
    let detail = event_of(record)?;
    let detail_text = serde_json::to_string(&detail)
        .map_err(|e| RecordError::Malformed(format!("the detail cannot be written: {e}")))?;
    Ok(Entry {
        source: EVENT_SOURCE.to_owned(),
        detail_type: detail.event_type.clone(),
        detail: detail_text,
        event_id: detail.id,
        account: detail.account,
    })
}

/// `{"<kind>": "<value>"}`, DynamoDB's JSON for one attribute, as its text.
fn attribute<'a>(image: &'a HashMap<String, Json>, name: &str, kind: &str) -> Option<&'a str> {
    image.get(name)?.get(kind)?.as_str()
}

/// Publishes a stream batch, in order, and answers which records Lambda must retry.
///
/// Records that are not event inserts are skipped. The others are sent in order, in runs of
/// at most [`MAX_ENTRIES_PER_PUT`] entries and [`MAX_PUT_BYTES`], each run holding at most
/// ONE event per account. At the first record that fails (a malformed item, a request that
/// failed, an entry EventBridge refused) the batch stops: that record and every record after
/// it are reported, so the retry starts there. Entries after it in the same request that
/// EventBridge took are of other accounts, and are sent again by the retry (at least once,
/// de-duplicated by the event id): no account's event is ever put after a later event of the
/// same account was taken.
pub async fn handle(batch: &StreamBatch, publisher: &dyn Publisher) -> BatchResponse {
    let records = &batch.records;
    let mut run: Vec<(usize, Entry)> = Vec::new();
    let mut run_bytes = 0_usize;
    let mut failed_from: Option<usize> = None;
    for (position, record) in records.iter().enumerate() {
        if !is_event_insert(record) {
            tracing::warn!(
                sequence_number = %record.dynamodb.sequence_number,
                event_name = %record.event_name,
                "a stream record that is not an event insert was skipped"
            );
            continue;
        }
        let entry = match entry_of(record) {
            Ok(entry) => entry,
            Err(error) => {
                tracing::error!(
                    sequence_number = %record.dynamodb.sequence_number,
                    %error,
                    "an event record cannot be published"
                );
                // What came before it is sent first: only it and what follows are retried.
                failed_from = Some(put_run(&run, publisher).await.unwrap_or(position));
                run.clear();
                break;
            }
        };
        if run.len() == MAX_ENTRIES_PER_PUT
            || (!run.is_empty() && run_bytes + entry.size_bytes() > MAX_PUT_BYTES)
            || run
                .iter()
                .any(|(_, queued)| queued.account == entry.account)
        {
            if let Some(failed) = put_run(&run, publisher).await {
                failed_from = Some(failed);
                break;
            }
            run.clear();
            run_bytes = 0;
        }
        run_bytes += entry.size_bytes();
        run.push((position, entry));
    }
    if failed_from.is_none()
        && let Some(failed) = put_run(&run, publisher).await
    {
        failed_from = Some(failed);
    }
    let batch_item_failures = match failed_from {
        None => Vec::new(),
        Some(first) => records
            .iter()
            .skip(first)
            .map(|record| ItemFailure {
                item_identifier: record.dynamodb.sequence_number.clone(),
            })
            .collect(),
    };
    BatchResponse {
        batch_item_failures,
    }
}

/// Sends one run; the position (in the batch) of its first record not published, if any.
async fn put_run(run: &[(usize, Entry)], publisher: &dyn Publisher) -> Option<usize> {
    let first = run.first().map(|(position, _)| *position)?;
    let entries: Vec<Entry> = run.iter().map(|(_, entry)| entry.clone()).collect();
    match publisher.put_events(&entries).await {
        Err(error) => {
            tracing::error!(%error, entries = entries.len(), "PutEvents failed");
            Some(first)
        }
        Ok(outcomes) => {
            for (index, (position, entry)) in run.iter().enumerate() {
                match outcomes.get(index) {
                    Some(EntryOutcome::Published) => {}
                    Some(EntryOutcome::Failed { code, message }) => {
                        tracing::warn!(
                            event_id = %entry.event_id,
                            %code,
                            %message,
                            "EventBridge did not take an event; it is retried"
                        );
                        return Some(*position);
                    }
                    None => {
                        tracing::error!(
                            answered = outcomes.len(),
                            sent = entries.len(),
                            "PutEvents answered fewer outcomes than entries"
                        );
                        return Some(*position);
                    }
                }
            }
            None
        }
    }
}

/// The [`Publisher`] of the deployed function: `PutEvents` on one bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgePublisher {
    /// Build once per container and keep.
    #[must_use]
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> EventBridgePublisher {
        EventBridgePublisher { client, bus }
    }
}

#[async_trait::async_trait]
impl Publisher for EventBridgePublisher {
    async fn put_events(&self, entries: &[Entry]) -> Result<Vec<EntryOutcome>, String> {
        let request = entries
            .iter()
            .map(|entry| {
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(&entry.source)
                    .detail_type(&entry.detail_type)
                    .detail(&entry.detail)
                    .build()
            })
            .collect::<Vec<_>>();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| format!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))?;
        Ok(output
            .entries()
            .iter()
            .map(|result| match result.error_code() {
                None => EntryOutcome::Published,
                Some(code) => EntryOutcome::Failed {
                    code: code.to_owned(),
                    message: result.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }
}

/// JSON log lines on stdout, as the other functions log (`credits_lambda::init_tracing`,
/// not shared to keep this function's dependencies small): level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "" => LevelFilter::INFO,
        // Lambda's FATAL has no tracing level: errors are the most severe there are.
        "fatal" => LevelFilter::ERROR,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    };
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        // Fails only when a subscriber is set already (a second call): that one stays.
        .try_init();
}
