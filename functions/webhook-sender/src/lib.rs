//! `credits-webhook-sender`: the ledger's events as signed webhooks on AWS, with the engine
//! `credits serve` runs (`credits_api::webhooks::deliver`), over the webhooks table.
//!
//! Two inputs ([`handle`]):
//!
//! - **A stream batch** of the ledger table (`{"Records": [...]}`, filtered like the events
//!   publisher's: inserts of event items only). A stream hands each account's events over in
//!   commit order, so its records are queued in that order
//!   ([`WebhookStore::enqueue_events`], which skips an event queued already: a retried batch
//!   queues nothing twice), then what is due is delivered at once, within the invocation's
//!   deadline ([`Deliverer::deliver_due`]). A record that cannot be queued (malformed, or
//!   the store failed) is reported in `batchItemFailures` with every record after it, so
//!   Lambda retries from there and no account's later event is queued before an earlier one.
//! - **The schedule's tick**, exactly `{"deliver_due": true}`: delivers what is due (retries,
//!   and attempts whose lease ended with a process that died mid-attempt).
//!
//! Anything else is refused with an error that says what was expected. Each invocation
//! writes one Embedded Metric Format line ([`metrics`]). Design: `docs/webhooks.md`,
//! "Webhooks on AWS: the sender".

pub mod metrics;
pub mod settings;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use credits_api::Clock;
use credits_api::webhooks::deliver::{Deliverer, DrainReport};
use credits_events_publisher::{
    BatchResponse, ItemFailure, RecordError, StreamBatch, StreamRecord, event_of, is_event_insert,
};
use credits_store::EventRecord;
use credits_store::webhooks::WebhookStore;
use serde_json::{Value as Json, json};

pub use metrics::Metrics;

/// The most events one [`WebhookStore::enqueue_events`] call queues: a failure reports the
/// records from the first of its call, so a smaller call retries less.
pub const MAX_EVENTS_PER_ENQUEUE: usize = 25;
/// The most bytes of an unexpected input quoted in the error.
const MAX_QUOTED_INPUT_BYTES: usize = 200;

/// What an invocation works with, built once per container.
pub struct Sender {
    /// The queue (the webhooks table).
    pub webhooks: Arc<dyn WebhookStore>,
    /// The engine, over the same queue, without a feed.
    pub deliverer: Deliverer,
    /// What "now" is when events are queued.
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("deliverer", &self.deliverer)
            .finish_non_exhaustive()
    }
}

/// What the function was invoked with.
#[derive(Debug, Clone)]
pub enum Input {
    /// A batch of the ledger table's stream.
    Stream(StreamBatch),
    /// The schedule's `{"deliver_due": true}`.
    DeliverDue,
}

/// Why an input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum InputError {
    #[error("the stream batch cannot be read: {0}")]
    #[diagnostic(help("a DynamoDB stream batch is `{{\"Records\": [...]}}`"))]
    Stream(String),
    #[error("unexpected input `{0}`")]
    #[diagnostic(help(
        "expected a DynamoDB stream batch of the ledger table (`{{\"Records\": [...]}}`) or the schedule's `{{\"deliver_due\": true}}`"
    ))]
    Unexpected(String),
}

impl Input {
    /// Which input `json` is.
    ///
    /// # Errors
    /// [`InputError`] for anything but a stream batch or exactly `{"deliver_due": true}`.
    pub fn parse(json: Json) -> Result<Input, InputError> {
        if json.get("Records").is_some() {
            return serde_json::from_value(json)
                .map(Input::Stream)
                .map_err(|error| InputError::Stream(error.to_string()));
        }
        if json == json!({"deliver_due": true}) {
            return Ok(Input::DeliverDue);
        }
        Err(InputError::Unexpected(quoted(&json)))
    }
}

/// Handles one invocation: queues a stream batch's events then delivers what is due, or
/// delivers what is due on the schedule's tick; no attempt starts that could outlast `until`
/// (the invocation's deadline). Answers `{"batchItemFailures": [...]}` to a stream batch,
/// and what the drain did to a tick.
///
/// # Errors
/// [`InputError`] when `input` is neither (nothing is queued or sent).
pub async fn handle(
    input: Json,
    sender: &Sender,
    until: DateTime<Utc>,
) -> Result<Json, InputError> {
    match Input::parse(input)? {
        Input::Stream(batch) => {
            let response = queue_batch(&batch, sender).await;
            let report = sender.deliverer.deliver_due(until).await;
            sender.metrics.emit(&report, sender.clock.now());
            Ok(
                serde_json::to_value(&response)
                    .unwrap_or_else(|_| json!({"batchItemFailures": []})),
            )
        }
        Input::DeliverDue => {
            let report = sender.deliverer.deliver_due(until).await;
            sender.metrics.emit(&report, sender.clock.now());
            Ok(report_json(&report))
        }
    }
}

/// Queues the batch's events in order, and answers the records Lambda must hand over again:
/// from the first that could not be queued to the end.
pub async fn queue_batch(batch: &StreamBatch, sender: &Sender) -> BatchResponse {
    let records = &batch.records;
    let mut decoded: Vec<(usize, EventRecord)> = Vec::new();
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
        match event_record(record) {
            Ok(event) => decoded.push((position, event)),
            Err(error) => {
                tracing::error!(
                    sequence_number = %record.dynamodb.sequence_number,
                    %error,
                    "an event record cannot be queued for webhooks"
                );
                // What came before it is queued: only it and what follows are retried.
                failed_from = Some(position);
                break;
            }
        }
    }
    let now = sender.clock.now();
    let mut queued = 0_u64;
    for chunk in decoded.chunks(MAX_EVENTS_PER_ENQUEUE) {
        let events: Vec<EventRecord> = chunk.iter().map(|(_, event)| event.clone()).collect();
        match sender.webhooks.enqueue_events(&events, now).await {
            Ok(count) => queued = queued.saturating_add(count),
            Err(error) => {
                tracing::error!(%error, events = events.len(), "queueing webhook deliveries failed; the batch is retried from there");
                // Part of the call may be queued: the retry skips what is (by seq).
                failed_from = chunk.first().map(|(position, _)| *position).or(failed_from);
                break;
            }
        }
    }
    tracing::info!(
        records = records.len(),
        events = decoded.len(),
        queued,
        "stream batch queued for webhooks"
    );
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

/// The stored event an event insert carries.
///
/// # Errors
/// [`RecordError::Malformed`] when an attribute is missing, or `at` is not a time.
pub fn event_record(record: &StreamRecord) -> Result<EventRecord, RecordError> {
    let detail = event_of(record)?;
    let at = DateTime::parse_from_rfc3339(&detail.at)
        .map_err(|error| RecordError::Malformed(format!("`at` is not a time: {error}")))?
        .with_timezone(&Utc);
    Ok(EventRecord {
        account: detail.account,
        seq: detail.seq,
        id: detail.id,
        event_type: detail.event_type,
        at,
        body: detail.body,
    })
}

/// The instant of an invocation's deadline (Lambda's context gives Unix milliseconds); an
/// unreadable one is `now`, which leaves no time for an attempt.
#[must_use]
pub fn deadline_at(deadline_ms: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    i64::try_from(deadline_ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(now)
}

/// A drain's counts, as a tick's answer (seen in the invocation's result and tests).
#[must_use]
pub fn report_json(report: &DrainReport) -> Json {
    json!({
        "attempted": report.attempted,
        "delivered": report.delivered,
        "retried": report.retried,
        "given_up": report.given_up,
        "store_failures": report.store_failures,
    })
}

/// The input as text, cut to [`MAX_QUOTED_INPUT_BYTES`].
fn quoted(json: &Json) -> String {
    let mut text = json.to_string();
    if text.len() > MAX_QUOTED_INPUT_BYTES {
        let mut end = MAX_QUOTED_INPUT_BYTES;
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_a_stream_batch_or_the_tick_and_nothing_else() {
        assert!(matches!(
            Input::parse(json!({"Records": []})),
            Ok(Input::Stream(batch)) if batch.records.is_empty()
        ));
        assert!(matches!(
            Input::parse(json!({"deliver_due": true})),
            Ok(Input::DeliverDue)
        ));
        assert!(matches!(
            Input::parse(json!({"Records": 3})),
            Err(InputError::Stream(_))
        ));
        let refused = [
            json!({"deliver_due": false}),
            json!({"deliver_due": true, "more": 1}),
            json!({}),
            json!(null),
            json!("deliver_due"),
            json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
        ];
        for input in refused {
            let error = Input::parse(input.clone()).err();
            assert_eq!(
                error,
                Some(InputError::Unexpected(input.to_string())),
                "{input}"
            );
        }
        let long = json!({"x": "y".repeat(500)});
        let Err(InputError::Unexpected(quoted)) = Input::parse(long) else {
            panic!("refused");
        };
        assert!(quoted.len() <= MAX_QUOTED_INPUT_BYTES + '…'.len_utf8());
    }

    #[test]
    fn the_deadline_is_lambda_s_unix_milliseconds() {
        let now = DateTime::from_timestamp(1_772_359_200, 0).unwrap_or_default();
        assert_eq!(
            deadline_at(1_772_359_215_250, now),
            DateTime::from_timestamp(1_772_359_215, 250_000_000).unwrap_or_default()
        );
        assert_eq!(deadline_at(u64::MAX, now), now);
    }

    #[test]
    fn the_error_says_what_was_expected() {
        use miette::Diagnostic;
        let error = InputError::Unexpected("{}".to_owned());
        assert_eq!(error.to_string(), "unexpected input `{}`");
        let help = error
            .help()
            .map(|help| help.to_string())
            .unwrap_or_default();
        assert!(help.contains(r#"{"deliver_due": true}"#), "{help}");
        assert!(help.contains(r#"{"Records": [...]}"#), "{help}");
    }
}
