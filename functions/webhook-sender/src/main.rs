//! `credits-webhook-sender`: triggered by the ledger table's stream (inserts of event items
//! only) and by a schedule (`{"deliver_due": true}`), sends the ledger's events as signed
//! webhooks. See the library's docs and `docs/webhooks.md`, "Webhooks on AWS: the sender".

use std::sync::Arc;

use chrono::Utc;
use credits_api::webhooks::deliver::{Deliverer, DeliveryConfig};
use credits_api::webhooks::http::HttpTransport;
use credits_api::{Clock, SystemClock};
use credits_store::webhooks::WebhookStore;
use credits_store_dynamodb::{DynamoWebhookStore, sdk_timeouts};
use credits_webhook_sender::settings::Settings;
use credits_webhook_sender::{Metrics, Sender, deadline_at, handle, metrics};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits_events_publisher::init_tracing();
    // Once per container, never per invocation: the settings, the AWS config, the DynamoDB
    // client, the queue, the HTTP client (its connection pool) and the engine.
    let settings = Settings::from_env()?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .load()
        .await;
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&config);
    if let Some(endpoint) = &settings.dynamodb_endpoint {
        dynamodb = dynamodb.endpoint_url(endpoint);
    }
    let client = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
    let webhooks: Arc<dyn WebhookStore> = Arc::new(DynamoWebhookStore::new(
        client,
        settings.webhooks_table.clone(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let deliverer = Deliverer::without_feed(
        webhooks.clone(),
        Arc::new(HttpTransport::new()?),
        clock.clone(),
        DeliveryConfig {
            timeout: settings.webhook_timeout,
            ..DeliveryConfig::default()
        },
    );
    tracing::info!(
        table = %settings.webhooks_table,
        timeout_ms = settings.webhook_timeout.as_millis(),
        "initialised"
    );
    let sender = Sender {
        webhooks,
        deliverer,
        clock,
        metrics: Metrics {
            service: settings.metrics_service,
            emit: Arc::new(metrics::stdout),
        },
    };
    let sender = &sender;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let until = deadline_at(event.context.deadline, Utc::now());
        handle(event.payload, sender, until)
            .await
            .map_err(Error::from)
    }))
    .await
}
