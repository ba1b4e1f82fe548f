//! `credits-events-publisher`: triggered by the ledger table's stream (inserts of event
//! items only), publishes each event to the EventBridge bus. See the library's docs and
//! `docs/events-aws.md`.

use credits_events_publisher::{EVENT_BUS_ENV, EventBridgePublisher, StreamBatch};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits_events_publisher::init_tracing();
    // Once per container, never per batch: the bus's name, the AWS config and the client.
    let bus = std::env::var(EVENT_BUS_ENV)
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| format!("set `{EVENT_BUS_ENV}` to the event bus's name or ARN"))?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(1_000))
                .operation_attempt_timeout(std::time::Duration::from_millis(2_000))
                .operation_timeout(std::time::Duration::from_millis(6_000))
                .build(),
        )
        .load()
        .await;
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let publisher = &publisher;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamBatch>| async move {
            Ok::<_, Error>(credits_events_publisher::handle(&event.payload, publisher).await)
        },
    ))
    .await
}
