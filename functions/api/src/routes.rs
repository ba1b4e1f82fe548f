//! Thin handlers: extract (auth first, then path, then body), call the service, answer.
//! Each carries its OpenAPI description.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::extract::{
    AccountAccess, Admin, AdminAccount, CyclePath, HoldPath, JsonBody, KeyIdPath, OptionalJsonBody,
    QueryParams,
};
use crate::model::{
    AccountRequest, AccountResponse, AccountsQuery, AccountsResponse, AdjustmentRequest,
    AdjustmentResponse, BalanceAnswer, BalanceQuery, CaptureRequest, CaptureResponse,
    ChargeRequest, ChargeResponse, ChargebackRequest, ChargebackResponse, CloseRequest,
    CloseResponse, EntriesQuery, EntriesResponse, HealthResponse, HoldRequest, HoldResponse,
    HoldView, KeyRequest, KeyResponse, QuoteRequest, QuoteResponse, RefundRequest, RefundResponse,
    ReleaseRequest, ReleaseResponse, RevokedKeyResponse, TopUpRequest, TopUpResponse, VoidRequest,
    VoidResponse,
};
use crate::problem::{Problem, ProblemBody, ProblemType};
use crate::service::{self, Answer, Operation};
use crate::statements::StatementResponse;
use crate::{holds, keys, reads, statements};

/// `GET /v1/health`: no key needed.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "meta",
    responses((status = 200, description = "the service is up", body = HealthResponse))
)]
pub async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    let rates = state
        .books
        .names()
        .into_iter()
        .filter_map(|name| {
            state
                .books
                .latest(name)
                .map(|book| book.rates_version.clone())
        })
        .collect();
    Json(HealthResponse {
        status: "ok".to_owned(),
        rates,
    })
}

/// `GET /v1/openapi.json`: this document; no key needed.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::COMMITTED_JSON,
    )
        .into_response()
}

/// Create or update an account (admin).
#[utoipa::path(
    put,
    path = "/v1/accounts/{account}",
    tag = "accounts",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = AccountRequest,
    responses(
        (status = 200, description = "the account was updated", body = AccountResponse),
        (status = 201, description = "the account was created", body = AccountResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "account-closed, conflict, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn put_account(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<AccountRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Configure(body)).await
}

/// Close an account (admin): every bucket is forfeited, with entries; nothing more happens
/// on it.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/close",
    tag = "accounts",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "the account is closed", body = CloseResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, account-closed, conflict, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn close_account(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<CloseRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Close(body)).await
}

/// Price a usage without charging: amounts per unit, rule lines, the buckets it would draw.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/quotes",
    tag = "charges",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "the price now", body = QuoteResponse),
        (status = 400, description = "invalid-input: unknown feature or input, wrong unit, negative, non-finite or absurd quantity", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: another account's key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn quote(
    State(state): State<AppState>,
    access: AccountAccess,
    JsonBody(body): JsonBody<QuoteRequest>,
) -> Result<Json<QuoteResponse>, Problem> {
    reads::quote(&state, &access.account, body).await.map(Json)
}

/// Rate a usage and spend it at once. The id is the idempotency key: the same id with the
/// same body answers the original response; with another body, 409.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/charges",
    tag = "charges",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = ChargeRequest,
    responses(
        (status = 201, description = "charged (or the original answer of this id)", body = ChargeResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "insufficient-credits: nothing was written", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, feature-not-allowed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, account-closed, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "payload-too-large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "request-cap-exceeded: the price is above the plan's `limit … per request` (nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "rate-limited, spend-limit-reached: the plan's spend of the day, month or cycle is used up (see `Retry-After`; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn charge(
    State(state): State<AppState>,
    access: AccountAccess,
    JsonBody(body): JsonBody<ChargeRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Charge(body)).await
}

/// Reserve an estimate for `ttl_seconds`; capture or release it later.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/holds",
    tag = "holds",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = HoldRequest,
    responses(
        (status = 201, description = "reserved", body = HoldResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "insufficient-credits", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, feature-not-allowed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, conflict, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "request-cap-exceeded: the estimate is above the plan's `limit … per request` (nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "rate-limited, too many open holds, spend-limit-reached (see `Retry-After`)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn hold(
    State(state): State<AppState>,
    access: AccountAccess,
    JsonBody(body): JsonBody<HoldRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Hold(body)).await
}

/// A hold in any state: `open`, `captured`, `released` or `expired`, what it reserved and what
/// its capture spent, per unit.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/holds/{hold}",
    tag = "holds",
    params(
        ("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"),
        ("hold" = String, Path, description = "the hold's id"),
    ),
    responses(
        (status = 200, description = "the hold", body = HoldView),
        (status = 400, description = "invalid-input: a malformed id in the path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: another account's key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such hold", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_hold(
    State(state): State<AppState>,
    access: AccountAccess,
    HoldPath(hold): HoldPath,
) -> Result<Json<HoldView>, Problem> {
    holds::lookup(&state, &access.account, &hold)
        .await
        .map(Json)
}

/// Spend a hold: the actual usage, rated, never more than reserved. The body is optional.
/// 200, not 201: it changes an existing hold (every call that makes something answers 201);
/// `charged` lists every unit the hold reserved, `0` when nothing of it was spent.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/holds/{hold}/capture",
    tag = "holds",
    params(
        ("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"),
        ("hold" = String, Path, description = "the hold's id"),
    ),
    request_body(content = Option<CaptureRequest>, description = "optional"),
    responses(
        (status = 200, description = "captured", body = CaptureResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such hold", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "hold-closed: the hold was captured, released or expired (`hold_status`, `closed_at`); idempotency-conflict; account-closed; limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn capture(
    State(state): State<AppState>,
    access: AccountAccess,
    HoldPath(hold): HoldPath,
    OptionalJsonBody(body): OptionalJsonBody<CaptureRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Capture { hold, body }).await
}

/// Return a hold's reservation. The body is optional. 200, not 201: it changes an existing
/// hold.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/holds/{hold}/release",
    tag = "holds",
    params(
        ("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"),
        ("hold" = String, Path, description = "the hold's id"),
    ),
    request_body(content = Option<ReleaseRequest>, description = "optional"),
    responses(
        (status = 200, description = "released", body = ReleaseResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such hold", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "hold-closed: the hold was captured, released or expired (`hold_status`, `closed_at`); idempotency-conflict; account-closed; limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn release(
    State(state): State<AppState>,
    access: AccountAccess,
    HoldPath(hold): HoldPath,
    OptionalJsonBody(body): OptionalJsonBody<ReleaseRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Release { hold, body }).await
}

/// Add credits (admin): an amount of a unit, or a package of the plan.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/topups",
    tag = "credits",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = TopUpRequest,
    responses(
        (status = 201, description = "credited", body = TopUpResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, account-closed, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "topup-not-allowed, balance-cap-exceeded: the top-up would take the balance above the plan's `balance at most` (nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn top_up(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<TopUpRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::TopUp(body)).await
}

/// Refund a charge (admin), whole or partly, within the plan's window and reasons.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/refunds",
    tag = "credits",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "refunded", body = RefundResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such account or charge", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "refund-not-allowed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn refund(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<RefundRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Refund(body)).await
}

/// Credit or debit an amount by hand (admin), with a `reason` and a `memo`
/// (`docs/adjustments.md`). A credit adds a bucket of its own; a debit draws like a charge
/// (the plan's order, then the credit line), or from the one `bucket` named. The id is the
/// idempotency key, forever.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/adjustments",
    tag = "credits",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = AdjustmentRequest,
    responses(
        (status = 201, description = "adjusted (or the original answer of this id)", body = AdjustmentResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "insufficient-credits: a debit beyond what the account (or the named bucket) holds; nothing was written", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such account or bucket", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-conflict, account-closed, limit-reached: the account would outgrow one of its limits (`limit` names it, `max` is its value; nothing was written)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn adjust(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<AdjustmentRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Adjust(body)).await
}

/// Remove what is left of one bucket (admin): a grant's, a top-up's, an adjustment's.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/voids",
    tag = "credits",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = VoidRequest,
    responses(
        (status = 201, description = "voided (or the original answer of this id)", body = VoidResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such account, or no live bucket of that id (spent, expired or voided)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "conflict: the bucket has nothing left, or open holds reserve some of it; idempotency-conflict; account-closed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn void(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<VoidRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Void(body)).await
}

/// Reverse a purchase (admin): what is left of the top-up's bucket is removed, and the
/// answer says how much of it had been used.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/chargebacks",
    tag = "credits",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    request_body = ChargebackRequest,
    responses(
        (status = 201, description = "reversed (or the original answer of this id)", body = ChargebackResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such account or purchase", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "conflict: the purchase was already reversed (by another id), or open holds reserve some of it; idempotency-conflict; account-closed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn chargeback(
    State(state): State<AppState>,
    access: AdminAccount,
    JsonBody(body): JsonBody<ChargebackRequest>,
) -> Result<Answer, Problem> {
    service::mutate(&state, &access.account, Operation::Chargeback(body)).await
}

/// The balance now, per unit: available, held, and live buckets with their expiry. Up to
/// date: whatever fell due since the account was last touched is applied. With `at`: what
/// the account owned per unit as of that instant, from history (one keyed read).
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/balance",
    tag = "reports",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"), BalanceQuery),
    responses(
        (status = 200, description = "the balance now (`BalanceResponse`), or as of `at` (`BalanceAtResponse`)", body = BalanceAnswer),
        (status = 400, description = "invalid-input: a malformed id in the path, or an `at` in the future or before the account's history", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn balance(
    State(state): State<AppState>,
    access: AccountAccess,
    QueryParams(query): QueryParams<BalanceQuery>,
) -> Result<Json<BalanceAnswer>, Problem> {
    match query.at {
        None => reads::balance(&state, &access.account)
            .await
            .map(|balance| Json(BalanceAnswer::Now(balance))),
        Some(at) => reads::balance_at(&state, &access.account, &at)
            .await
            .map(|balance| Json(BalanceAnswer::At(balance))),
    }
}

/// An account's configuration (what `PUT` accepts, and its status) with its balance now.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}",
    tag = "accounts",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters")),
    responses(
        (status = 200, description = "the account", body = AccountResponse),
        (status = 400, description = "invalid-input: a malformed id in the path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: another account's key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_account(
    State(state): State<AppState>,
    access: AccountAccess,
) -> Result<Json<AccountResponse>, Problem> {
    reads::account(&state, &access.account).await.map(Json)
}

/// Accounts (admin), filtered by plan and status, paged: a page may hold fewer than `limit`
/// accounts while more follow (its cost is bounded whatever the filters); walk until
/// `next_cursor` is absent.
#[utoipa::path(
    get,
    path = "/v1/accounts",
    tag = "accounts",
    params(AccountsQuery),
    responses(
        (status = 200, description = "a page of accounts", body = AccountsResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_accounts(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(query): QueryParams<AccountsQuery>,
) -> Result<Json<AccountsResponse>, Problem> {
    reads::accounts(&state, query).await.map(Json)
}

/// History, filtered and paged; `format=csv` exports every matching entry (streamed whole by
/// `credits serve`; behind API Gateway in parts of at most 4 MiB, each naming the next in the
/// `credits-next-cursor` header: pass it as `cursor` with the same filters). Up to date:
/// whatever fell due up to now (expiries, grants, hold expiries, forfeits, statements) is
/// committed before the read, so an idle account's history is complete.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/entries",
    tag = "reports",
    params(("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"), EntriesQuery),
    responses(
        (status = 200, description = "a page of entries (or CSV with `format=csv`)",
            content((EntriesResponse = "application/json"), (String = "text/csv")),
            headers(("credits-next-cursor" = String, description = "CSV in parts only: the `cursor` of the next part; absent on the last"))),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: what fell due could not be committed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn entries(
    State(state): State<AppState>,
    access: AccountAccess,
    QueryParams(query): QueryParams<EntriesQuery>,
) -> Result<Response, Problem> {
    reads::entries(&state, &access.account, query).await
}

/// A cycle statement: opening, grants, top-ups, usage by feature, refunds, expiry, closing.
/// `{cycle}` is `YYYY-MM` (the cycle that starts in that month) or `YYYY-MM-DD` (the cycle
/// that contains that day), in the account's time zone. Up to date: whatever fell due up to
/// now is committed before the read, so an ended cycle's statement is final on every read.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/statements/{cycle}",
    tag = "reports",
    params(
        ("account" = String, Path, description = "account id, 1 to 128 printable ASCII characters"),
        ("cycle" = String, Path, description = "`2026-01` (the cycle starting in January 2026) or `2026-01-31` (the cycle containing that day)"),
    ),
    responses(
        (status = 200, description = "the statement", body = StatementResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: what fell due could not be committed", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn statement(
    State(state): State<AppState>,
    access: AccountAccess,
    CyclePath(cycle): CyclePath,
) -> Result<Json<StatementResponse>, Problem> {
    statements::statement(&state, &access.account, &cycle)
        .await
        .map(Json)
}

/// Create an API key (admin). `{}` (no `account`): an admin key. The key is shown once. The
/// body is required: an accidental empty `POST` must not mint an admin key.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = KeyRequest,
    responses(
        (status = 201, description = "the key, shown once", body = KeyResponse),
        (status = 400, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found: no such account", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type: the body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(body): JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<KeyResponse>), Problem> {
    keys::create(&state, body)
        .await
        .map(|key| (StatusCode::CREATED, Json(key)))
}

/// Revoke an API key (admin). Rotation is create + revoke.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "the key's id (the part after `ck_`)")),
    responses(
        (status = 200, description = "revoked", body = RevokedKeyResponse),
        (status = 400, description = "invalid-input: a malformed id in the path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: an account key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    _admin: Admin,
    KeyIdPath(id): KeyIdPath,
) -> Result<Json<RevokedKeyResponse>, Problem> {
    keys::revoke(&state, &id).await.map(Json)
}

/// Any other path.
pub async fn not_found(request: Request) -> Problem {
    Problem::not_found(format!(
        "no route `{}`; see `/v1/openapi.json`",
        crate::validate::display_id(request.uri().path())
    ))
}

/// A known path with the wrong method.
pub async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        ProblemType::MethodNotAllowed,
        format!(
            "`{}` is not allowed on `{}`",
            request.method(),
            crate::validate::display_id(request.uri().path())
        ),
    )
}

/// A handler panicked (a bug): answer a problem rather than dropping the connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    // The panic is answered, so the function does not fail: this count is what alarms.
    crate::metrics::note(|facts| facts.panics = facts.panics.saturating_add(1));
    Problem::internal().into_response()
}
