//! The cycle-rollover Lambda's side of the walk: the event, the deadline, the dead-letter
//! queue and the metrics line. The walk itself is `credits_api::rollover` (one
//! implementation, which `credits serve` runs on a timer too); everything it exports is
//! re-exported here.

use lambda_http::lambda_runtime::LambdaEvent;
use serde_json::Value;

pub use credits_api::rollover::*;

/// The SQS queue URL each account the walk fails on is sent to (unset: logged and counted).
pub const DEAD_LETTER_URL_ENV: &str = "CREDITS_ROLLOVER_DEAD_LETTER_URL";
/// The metric dimension's value when the function name is unknown (outside Lambda).
const FUNCTION_NAME_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME";

use credits_api::AppState;

/// Sends each failure to an SQS queue, one message each. The client is built once, at init.
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSink {
    #[must_use]
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> SqsSink {
        SqsSink { client, queue_url }
    }
}

#[async_trait::async_trait]
impl FailureSink for SqsSink {
    async fn report(&self, failure: &Failure) -> Result<(), String> {
        let body = serde_json::to_string(failure)
            .map_err(|e| format!("the failure does not serialise: {e}"))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the dead-letter queue refused the message: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }
}

/// The function's handler: one scheduled event, one run over its segments.
///
/// # Errors
///
/// When the event is not understood or a segment's due accounts could not be listed (after
/// the other segments were walked and the report logged); Lambda then retries the event,
/// which is harmless (see the module documentation).
pub async fn handle(
    event: LambdaEvent<Value>,
    state: &AppState,
    sink: &dyn FailureSink,
) -> Result<RolloverReport, lambda_http::Error> {
    let request = RolloverRequest::from_event(&event.payload)?;
    let run = Run::resolve(request, |name| std::env::var(name).ok())?;
    // A zero deadline is an invocation without one (tests, `Context::default()`).
    let deadline = (event.context.deadline > 0).then(|| event.context.deadline());
    let report = run_all(state, run, deadline, sink).await;
    let function = std::env::var(FUNCTION_NAME_ENV).unwrap_or_else(|_| "cycle-rollover".into());
    crate::emit(&metrics_line(
        &report,
        &function,
        state.clock.now().timestamp_millis(),
    ));
    tracing::info!(
        segments = report.segments,
        walked = report.walked.len(),
        listed = report.listed,
        advanced = report.advanced,
        unchanged = report.unchanged,
        entries = report.entries,
        failed = report.failed,
        unreported = report.unreported,
        complete = report.complete,
        "rollover run done"
    );
    let errors = report.listing_errors();
    if !errors.is_empty() {
        return Err(format!("due accounts could not be listed: {}", errors.join("; ")).into());
    }
    Ok(report)
}
