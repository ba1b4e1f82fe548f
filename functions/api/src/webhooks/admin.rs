//! What the webhook routes do: register, list, show, delete endpoints; list and re-queue
//! failed deliveries. Handlers in `routes` call these; they call the [`WebhookStore`].

use std::sync::Arc;

use credits_store::StoreError;
use credits_store::webhooks::{
    DeliveryRecord, DeliveryState, EndpointRecord, MAX_DELIVERY_CURSOR_BYTES,
    MAX_ENDPOINT_EVENT_TYPES, MAX_ENDPOINTS, MAX_EVENT_TYPE_BYTES, Redeliver,
};
use rand::RngCore;

use super::Webhooks;
use super::model::{
    CreatedWebhookResponse, DeletedWebhookResponse, FailedDeliveriesResponse, FailedDeliveryView,
    FailedQuery, RedeliverRequest, RedeliverResponse, WebhookRequest, WebhookView,
    WebhooksResponse,
};
use super::urls::check_url;
use crate::AppState;
use crate::problem::{Problem, ProblemType};
use crate::service::store_problem;
use crate::validate::display_id;

/// Random bytes of an endpoint id (`wh_` and their hex).
const ID_BYTES: usize = 8;
/// Random bytes of a signing secret (`whsec_` and their hex).
const SECRET_BYTES: usize = 32;
/// Attempts at a fresh random id (a collision of 64 random bits is not expected).
const MAX_ID_ATTEMPTS: u32 = 4;
/// The default and largest page of failed deliveries.
const DEFAULT_FAILED_PAGE: u32 = 50;
const MAX_FAILED_PAGE: u32 = 100;

/// The deployment's webhooks, or `not-implemented` where it has none.
fn webhooks(state: &AppState) -> Result<&Arc<Webhooks>, Problem> {
    state.webhooks.as_ref().ok_or_else(|| {
        Problem::new(
            ProblemType::NotImplemented,
            "this deployment does not deliver webhooks (`credits serve` delivers over SQLite; \
             on AWS, the stack's account function serves these routes: see `docs/webhooks.md`)",
        )
    })
}

/// An event type name: `*` alone, or 1 to 64 of `a-z`, `0-9`, `_`, `.` with at least one
/// dot, not starting or ending with one.
fn check_event_types(types: &[String]) -> Result<(), Problem> {
    let invalid = |detail: String| Problem::invalid(detail).with("field", "event_types");
    if types.is_empty() {
        return Err(invalid(
            "`event_types` is empty; name the types to deliver, or `[\"*\"]` for all".to_owned(),
        ));
    }
    if types.len() > MAX_ENDPOINT_EVENT_TYPES {
        return Err(invalid(format!(
            "`event_types` names {} types; at most {MAX_ENDPOINT_EVENT_TYPES}",
            types.len()
        )));
    }
    if types.iter().any(|name| name == "*") {
        return if types.len() == 1 {
            Ok(())
        } else {
            Err(invalid("`*` stands alone in `event_types`".to_owned()))
        };
    }
    let mut seen = std::collections::HashSet::new();
    for name in types {
        let well_formed = !name.is_empty()
            && name.len() <= MAX_EVENT_TYPE_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
            && name.contains('.')
            && !name.starts_with('.')
            && !name.ends_with('.');
        if !well_formed {
            return Err(invalid(format!(
                "`{}` is not an event type name (such as `balance.low`: lowercase words \
                 joined by dots, at most {MAX_EVENT_TYPE_BYTES} bytes)",
                display_id(name)
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(invalid(format!("`{name}` is named twice in `event_types`")));
        }
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0_u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn view(endpoint: EndpointRecord) -> WebhookView {
    WebhookView {
        id: endpoint.id,
        url: endpoint.url,
        event_types: endpoint.event_types,
        created_at: endpoint.created_at,
    }
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("webhook `{}` not found", display_id(id)))
}

/// Register an endpoint; its secret is answered once.
///
/// # Errors
/// `invalid-input`, `limit-reached` past [`MAX_ENDPOINTS`], `not-implemented`.
pub async fn create(
    state: &AppState,
    body: WebhookRequest,
) -> Result<CreatedWebhookResponse, Problem> {
    let webhooks = webhooks(state)?;
    check_url(&body.url, webhooks.allow_loopback)
        .map_err(|detail| Problem::invalid(detail).with("field", "url"))?;
    check_event_types(&body.event_types)?;
    for _ in 0..MAX_ID_ATTEMPTS {
        let endpoint = EndpointRecord {
            id: format!("wh_{}", random_hex(ID_BYTES)),
            url: body.url.clone(),
            event_types: body.event_types.clone(),
            secret: format!("whsec_{}", random_hex(SECRET_BYTES)),
            created_at: state.clock.now(),
        };
        match webhooks.store.put_endpoint(&endpoint).await {
            Ok(true) => {
                // The secret is never logged.
                tracing::info!(webhook = %endpoint.id, url = %endpoint.url, "webhook registered");
                return Ok(CreatedWebhookResponse {
                    id: endpoint.id,
                    url: endpoint.url,
                    event_types: endpoint.event_types,
                    created_at: endpoint.created_at,
                    secret: endpoint.secret,
                });
            }
            Ok(false) => {
                return Err(Problem::new(
                    ProblemType::LimitReached,
                    format!(
                        "{MAX_ENDPOINTS} webhooks are registered, the most there may be; \
                         delete one first"
                    ),
                )
                .with("limit", "webhook_endpoints")
                .with("max", MAX_ENDPOINTS));
            }
            Err(StoreError::KeyExists(_)) => {}
            Err(error) => return Err(store_problem(&error)),
        }
    }
    Err(Problem::internal())
}

/// Every endpoint.
///
/// # Errors
/// `not-implemented`, a store failure.
pub async fn list(state: &AppState) -> Result<WebhooksResponse, Problem> {
    let endpoints = webhooks(state)?
        .store
        .endpoints()
        .await
        .map_err(|error| store_problem(&error))?;
    Ok(WebhooksResponse {
        webhooks: endpoints.into_iter().map(view).collect(),
    })
}

async fn load(state: &AppState, id: &str) -> Result<EndpointRecord, Problem> {
    webhooks(state)?
        .store
        .endpoint(id)
        .await
        .map_err(|error| store_problem(&error))?
        .ok_or_else(|| not_found(id))
}

/// One endpoint.
///
/// # Errors
/// `not-found`, `not-implemented`.
pub async fn show(state: &AppState, id: &str) -> Result<WebhookView, Problem> {
    load(state, id).await.map(view)
}

/// Remove an endpoint and its queued deliveries.
///
/// # Errors
/// `not-found`, `not-implemented`.
pub async fn delete(state: &AppState, id: &str) -> Result<DeletedWebhookResponse, Problem> {
    let deleted = webhooks(state)?
        .store
        .delete_endpoint(id)
        .await
        .map_err(|error| store_problem(&error))?;
    if !deleted {
        return Err(not_found(id));
    }
    tracing::info!(webhook = %id, "webhook deleted");
    Ok(DeletedWebhookResponse {
        id: id.to_owned(),
        deleted: true,
    })
}

fn failed_view(delivery: DeliveryRecord) -> FailedDeliveryView {
    FailedDeliveryView {
        event_id: delivery.event.id,
        event_type: delivery.event.event_type,
        account: delivery.event.account,
        seq: delivery.event.seq,
        status: match delivery.state {
            DeliveryState::Failed => "failed",
            DeliveryState::Due | DeliveryState::Waiting => "retrying",
        }
        .to_owned(),
        attempts: delivery.attempts,
        first_attempt_at: delivery.first_attempt_at,
        next_attempt_at: match delivery.state {
            DeliveryState::Failed => None,
            DeliveryState::Due | DeliveryState::Waiting => delivery.next_attempt_at,
        },
        last_status: delivery.last_status,
        last_error: delivery.last_error,
    }
}

/// The endpoint's deliveries that gave up or are failing, oldest event first.
///
/// # Errors
/// `invalid-input` (cursor, limit), `not-found`, `not-implemented`.
pub async fn failed(
    state: &AppState,
    id: &str,
    query: FailedQuery,
) -> Result<FailedDeliveriesResponse, Problem> {
    let limit = query.limit.unwrap_or(DEFAULT_FAILED_PAGE);
    if !(1..=MAX_FAILED_PAGE).contains(&limit) {
        return Err(
            Problem::invalid(format!("`limit` is 1 to {MAX_FAILED_PAGE}")).with("field", "limit"),
        );
    }
    let bad_cursor = |cursor: &str| {
        Problem::invalid(format!(
            "`cursor` `{}` is not one this listing gave",
            display_id(cursor)
        ))
        .with("field", "cursor")
    };
    if let Some(cursor) = &query.cursor
        && (cursor.is_empty()
            || cursor.len() > MAX_DELIVERY_CURSOR_BYTES
            || !cursor.bytes().all(|byte| byte.is_ascii_graphic()))
    {
        return Err(bad_cursor(cursor));
    }
    load(state, id).await?;
    let page = webhooks(state)?
        .store
        .failed_deliveries(id, query.cursor.as_deref(), limit)
        .await
        .map_err(|error| match error {
            StoreError::Invalid(_) => bad_cursor(query.cursor.as_deref().unwrap_or_default()),
            other => store_problem(&other),
        })?;
    let deliveries = page.deliveries;
    let next_cursor = page.next;
    Ok(FailedDeliveriesResponse {
        deliveries: deliveries.into_iter().map(failed_view).collect(),
        next_cursor,
    })
}

/// Queue one event, or every failed delivery, again.
///
/// # Errors
/// `invalid-input`, `not-found` (endpoint, or no delivery of that event to re-queue),
/// `not-implemented`.
pub async fn redeliver(
    state: &AppState,
    id: &str,
    body: RedeliverRequest,
) -> Result<RedeliverResponse, Problem> {
    let which = match (body.event_id, body.all_failed) {
        (Some(event), None | Some(false)) => {
            crate::validate::id("event_id", &event)?;
            Redeliver::Event(event)
        }
        (None, Some(true)) => Redeliver::AllFailed,
        _ => {
            return Err(Problem::invalid(
                "name one `event_id`, or `\"all_failed\": true`, to deliver again",
            ));
        }
    };
    load(state, id).await?;
    let event = match &which {
        Redeliver::Event(event) => Some(event.clone()),
        Redeliver::AllFailed => None,
    };
    let requeued = webhooks(state)?
        .store
        .redeliver(id, which, state.clock.now())
        .await
        .map_err(|error| store_problem(&error))?;
    if let Some(event) = event
        && requeued == 0
    {
        return Err(Problem::not_found(format!(
            "webhook `{}` has no failed or retrying delivery of event `{}`",
            display_id(id),
            display_id(&event)
        )));
    }
    tracing::info!(webhook = %id, requeued, "webhook deliveries queued again");
    Ok(RedeliverResponse { requeued })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_rules() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let many: Vec<String> = (0..33).map(|n| format!("type.n{n}")).collect();
        let cases: Vec<(Vec<String>, bool)> = vec![
            (names(&["*"]), true),
            (names(&["balance.low", "credits.expiring"]), true),
            (names(&["statement.ready"]), true),
            (names(&[]), false),
            (names(&["*", "balance.low"]), false),
            (names(&["Balance.Low"]), false),
            (names(&["balance"]), false),
            (names(&[".low"]), false),
            (names(&["balance.low."]), false),
            (names(&["balance low"]), false),
            (names(&["balance.low", "balance.low"]), false),
            (many, false),
        ];
        for (types, accepted) in cases {
            assert_eq!(check_event_types(&types).is_ok(), accepted, "{types:?}");
        }
    }
}
