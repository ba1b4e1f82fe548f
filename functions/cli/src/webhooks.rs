//! `credits serve`'s webhooks: the admin routes over the SQLite store's webhook tables, and
//! the delivery engine (`credits_api::webhooks::deliver`) in a task of its own beside the
//! server, so no charge ever waits for a receiver. Over DynamoDB there are none (the routes
//! answer `not-implemented`: the table's stream reaches only the AWS stack's webhook sender,
//! `docs/events-aws.md`).

use std::sync::Arc;
use std::time::Duration;

use credits_api::webhooks::Webhooks;
use credits_api::webhooks::deliver::{Deliverer, DeliveryConfig};
use credits_api::webhooks::http::HttpTransport;
use credits_api::{AppState, SystemClock};
use credits_store::Store;
use credits_store::webhooks::WebhookStore;

/// The longest `--webhook-timeout`, in seconds.
const MAX_WEBHOOK_TIMEOUT_S: u64 = 60;
/// The most `--webhook-concurrency`.
const MAX_WEBHOOK_CONCURRENCY: u64 = 64;

#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Accept webhook endpoints on this machine (`localhost`, `127.0.0.1`, `::1`): for tests
    /// and trials on one machine; refused by default.
    #[arg(long, env = "CREDITS_WEBHOOK_ALLOW_LOOPBACK")]
    pub webhook_allow_loopback: bool,
    /// Longest wait for a webhook receiver's answer, in seconds (1 to 60).
    #[arg(
        long,
        default_value_t = 10,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=MAX_WEBHOOK_TIMEOUT_S)
    )]
    pub webhook_timeout: u64,
    /// Webhook deliveries in flight at once (1 to 64).
    #[arg(
        long,
        default_value_t = 8,
        value_parser = clap::value_parser!(u64).range(1..=MAX_WEBHOOK_CONCURRENCY)
    )]
    pub webhook_concurrency: u64,
}

/// `state` serving the webhook routes over `store`.
pub fn serve_routes(state: AppState, store: Arc<dyn WebhookStore>, args: &WebhookArgs) -> AppState {
    state.with_webhooks(Webhooks {
        store,
        allow_loopback: args.webhook_allow_loopback,
    })
}

/// Starts delivering the events of `feed` to the endpoints of `store` until `stopped`.
///
/// # Errors
/// Why the HTTP client cannot be built.
pub fn start(
    feed: Arc<dyn Store>,
    store: Arc<dyn WebhookStore>,
    args: &WebhookArgs,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let config = DeliveryConfig {
        concurrency: usize::try_from(args.webhook_concurrency).unwrap_or(1),
        timeout: Duration::from_secs(args.webhook_timeout),
        ..DeliveryConfig::default()
    };
    let engine = Deliverer::new(
        feed,
        store,
        Arc::new(HttpTransport::new()?),
        Arc::new(SystemClock),
        config,
    );
    Ok(tokio::spawn(Arc::new(engine).run(stopped)))
}
