//! The webhook routes (admin only), with their OpenAPI description ([`WebhooksDoc`], merged
//! into the API's document).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use utoipa::OpenApi;

use super::admin;
use super::model::{
    CreatedWebhookResponse, DeletedWebhookResponse, FailedDeliveriesResponse, FailedDeliveryView,
    FailedQuery, RedeliverRequest, RedeliverResponse, WebhookRequest, WebhookView,
    WebhooksResponse,
};
use crate::AppState;
use crate::extract::{Admin, JsonBody, QueryParams, path_id};
use crate::problem::{Problem, ProblemBody};

/// The `{id}` of a webhook path, a valid id.
#[derive(Debug, Clone)]
pub struct WebhookIdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for WebhookIdPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        path_id(parts, "id").await.map(WebhookIdPath)
    }
}

/// Register an endpoint (admin): events of the types named are POSTed to `url`, signed
/// with the secret answered here once.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "registered; the secret is shown once", body = CreatedWebhookResponse),
        (status = 400, description = "invalid-input: the URL or an event type breaks a rule", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-reached: 16 endpoints exist", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented: this deployment does not deliver webhooks (`credits serve` over DynamoDB)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(body): JsonBody<WebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhookResponse>), Problem> {
    admin::create(&state, body)
        .await
        .map(|created| (StatusCode::CREATED, Json(created)))
}

/// Every registered endpoint (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "the endpoints, oldest first", body = WebhooksResponse),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<WebhooksResponse>, Problem> {
    admin::list(&state).await.map(Json)
}

/// One endpoint (admin); never its secret.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 200, description = "the endpoint", body = WebhookView),
        (status = 400, description = "invalid-input: a malformed id in the path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    WebhookIdPath(id): WebhookIdPath,
) -> Result<Json<WebhookView>, Problem> {
    admin::show(&state, &id).await.map(Json)
}

/// Remove an endpoint (admin), with every delivery queued for it.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 200, description = "removed", body = DeletedWebhookResponse),
        (status = 400, description = "invalid-input: a malformed id in the path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    WebhookIdPath(id): WebhookIdPath,
) -> Result<Json<DeletedWebhookResponse>, Problem> {
    admin::delete(&state, &id).await.map(Json)
}

/// The endpoint's deliveries that gave up or are failing (admin), oldest event first, with
/// their attempts, last status or error, and next attempt.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/failed",
    tag = "webhooks",
    params(("id" = String, Path, description = "the endpoint's id"), FailedQuery),
    responses(
        (status = 200, description = "a page of failed and failing deliveries", body = FailedDeliveriesResponse),
        (status = 400, description = "invalid-input: a malformed id, cursor or limit", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn failed_deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    WebhookIdPath(id): WebhookIdPath,
    QueryParams(query): QueryParams<FailedQuery>,
) -> Result<Json<FailedDeliveriesResponse>, Problem> {
    admin::failed(&state, &id, query).await.map(Json)
}

/// Deliver again (admin): one event (`event_id`) or every failed delivery
/// (`"all_failed": true`), each with a fresh schedule.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/redeliver",
    tag = "webhooks",
    params(("id" = String, Path, description = "the endpoint's id")),
    request_body = RedeliverRequest,
    responses(
        (status = 200, description = "queued again", body = RedeliverResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such endpoint, or no failed or retrying delivery of the event", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 501, description = "not-implemented", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn redeliver(
    State(state): State<AppState>,
    _admin: Admin,
    WebhookIdPath(id): WebhookIdPath,
    JsonBody(body): JsonBody<RedeliverRequest>,
) -> Result<Json<RedeliverResponse>, Problem> {
    admin::redeliver(&state, &id, body).await.map(Json)
}

/// The webhook routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_webhook,
        list_webhooks,
        get_webhook,
        delete_webhook,
        failed_deliveries,
        redeliver,
    ),
    components(schemas(
        WebhookRequest,
        WebhookView,
        CreatedWebhookResponse,
        WebhooksResponse,
        DeletedWebhookResponse,
        FailedDeliveryView,
        FailedDeliveriesResponse,
        RedeliverRequest,
        RedeliverResponse,
    )),
    tags((name = "webhooks", description = "signed delivery of events to the platform's endpoints (admin; `credits serve`)"))
)]
pub struct WebhooksDoc;
