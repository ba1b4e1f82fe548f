//! The outbox in the shell: each decision's events go into its commit (`Commit.events`,
//! `GroupMember.events`), so an event exists exactly when the write that made it true
//! landed — none for a refused or replayed request — and `GET /v1/accounts/{account}/events`
//! reads an account's events back by their gapless `seq` (`docs/events.md`).

use axum::Json;
use axum::extract::State;
use credits_ledger::Decision;
use credits_store::{EventRecord, MAX_PAGE_ENTRIES};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::extract::{AccountAccess, QueryParams};
use crate::problem::{Problem, ProblemBody};
use crate::service;

/// A page's size when the query names none.
const DEFAULT_EVENTS_PAGE: u32 = 100;

/// The events of `decision` as the store keeps them.
pub(crate) fn event_records(account_id: &str, decision: &Decision) -> Vec<EventRecord> {
    decision
        .events
        .iter()
        .map(|event| EventRecord {
            account: account_id.to_owned(),
            seq: event.seq,
            id: event.id.clone(),
            event_type: event.event_type.as_str().to_owned(),
            at: event.at,
            body: event.body.clone(),
        })
        .collect()
}

/// `GET /v1/accounts/{account}/events` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a greater `seq` (default 0: from the first).
    pub after: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// `GET /v1/accounts/{account}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventsResponse {
    pub account: String,
    /// Ascending by `seq`; each is the event's payload:
    /// `{"id", "type", "version", "account", "seq", "at", "data"}` (`docs/events.md`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// Pass as `after` for the next page; absent when this page was the last one so far
    /// (poll again with the last `seq` seen).
    pub next_after: Option<u64>,
}

/// The account's events (balance low, credits granted, expiring and expired, statement
/// ready, hold expired, account suspended, resumed or closed, auto top-up requested), by
/// `seq`, from the first or after `after`. Up to date: whatever fell due up to now is
/// committed before the read, with the events it publishes.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/events",
    tag = "reports",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"), EventsQuery),
    responses(
        (status = 200, description = "a page of events", body = EventsResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: what fell due could not be committed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn account_events(
    State(state): State<AppState>,
    access: AccountAccess,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<EventsResponse>, Problem> {
    let limit = match query.limit {
        None => DEFAULT_EVENTS_PAGE,
        Some(limit) if (1..=MAX_PAGE_ENTRIES).contains(&limit) => limit,
        Some(_) => {
            return Err(
                Problem::invalid(format!("`limit` must be 1 to {MAX_PAGE_ENTRIES}"))
                    .with("field", "limit"),
            );
        }
    };
    let after = query.after.unwrap_or(0);
    // Events are what is committed: commit what is due first (`docs/reads.md`).
    service::load_for_history(&state, &access.account).await?;
    let events = state
        .store
        .account_events(&access.account, after, limit)
        .await
        .map_err(|error| service::store_problem(&error))?;
    let full = events.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
    let next_after = events.last().filter(|_| full).map(|event| event.seq);
    Ok(Json(EventsResponse {
        account: access.account,
        events: events.into_iter().map(|event| event.body).collect(),
        next_after,
    }))
}
