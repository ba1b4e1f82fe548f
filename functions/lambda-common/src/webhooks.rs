//! The webhook admin routes (`/v1/webhooks`…) on the HTTP functions. When the template names
//! the webhooks table ([`crate::WEBHOOKS_TABLE_ENV`], the account function only), they work
//! over it; without it they answer 501 `not-implemented`. The webhook sender delivers
//! (docs/events-aws.md, "Webhooks").

use std::sync::Arc;

use credits_api::AppState;
use credits_api::webhooks::Webhooks;
use credits_store::webhooks::WebhookStore;
use credits_store_dynamodb::DynamoWebhookStore;

use crate::Settings;

/// `state` serving the webhook routes over `store`. Loopback endpoint URLs are refused: on
/// AWS nothing listens on the function's own machine, and an endpoint there would be a way
/// to probe it.
#[must_use]
pub fn serve_over(state: AppState, store: Arc<dyn WebhookStore>) -> AppState {
    state.with_webhooks(Webhooks {
        store,
        allow_loopback: false,
    })
}

/// `state` serving the webhook routes over the webhooks table `settings` names
/// ([`Settings::webhooks_table`]), through `client`; `state` unchanged (the routes answer
/// 501) when it names none.
#[must_use]
pub fn over_table(
    state: AppState,
    client: &aws_sdk_dynamodb::Client,
    settings: &Settings,
) -> AppState {
    match &settings.webhooks_table {
        Some(table) => serve_over(
            state,
            Arc::new(DynamoWebhookStore::new(client.clone(), table.clone())),
        ),
        None => state,
    }
}
