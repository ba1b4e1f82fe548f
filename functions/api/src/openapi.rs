//! The OpenAPI document, generated from the handlers' annotations and committed as
//! `openapi.json` at the workspace root (a test fails when they differ; regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p credits-api --test openapi`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::model;
use crate::problem::ProblemBody;
use crate::routes;
use crate::statements;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "credits",
        description = "A credits ledger for AI platforms: quote, charge, hold, top up and refund \
credits rated by rate books, and read balances, history and statements.\n\n\
Authenticate with `Authorization: Bearer <key>`. Account keys see and spend only their own \
account; admin keys do everything, and only they may create accounts, top up, refund and \
manage keys.\n\n\
Amounts are decimal strings. Every mutation carries a client `id`, its idempotency key: the \
same id with the same body answers the original response; with another body, 409 \
`idempotency-conflict`.\n\n\
Errors are `application/problem+json` with a stable `type`: `insufficient-credits`, \
`idempotency-conflict`, `invalid-input`, `feature-not-allowed`, `not-found`, `unauthorized`, \
`forbidden`, `refund-not-allowed`, `topup-not-allowed`, `account-closed`, `conflict`, \
`limit-reached` (with `limit` and `max`: the account would outgrow one of its limits), \
`rate-limited` (with `Retry-After`), `payload-too-large`, `unsupported-media-type`, \
`method-not-allowed`, `unavailable`, `internal`, and the plan's caps (with `unit`; nothing \
written): `spend-limit-reached` (429 with `Retry-After`: the spend of the day, month or cycle \
is used up), `request-cap-exceeded` (422: one request costs more than the plan allows), \
`balance-cap-exceeded` (422: a top-up would take the balance above the plan's cap), \
`not-implemented` (501: webhook routes where the deployment does not deliver webhooks).",
        version = "1",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::health,
        routes::openapi_document,
        routes::put_account,
        routes::close_account,
        routes::quote,
        routes::charge,
        routes::hold,
        routes::get_hold,
        routes::capture,
        routes::release,
        routes::top_up,
        routes::refund,
        routes::adjust,
        routes::void,
        routes::chargeback,
        routes::balance,
        routes::entries,
        routes::statement,
        crate::events::account_events,
        routes::get_account,
        routes::list_accounts,
        routes::create_key,
        routes::revoke_key,
    ),
    components(schemas(
        ProblemBody,
        crate::events::EventsResponse,
        model::AccountRequest,
        model::SubscriptionBody,
        model::CloseRequest,
        model::QuoteRequest,
        model::ChargeRequest,
        model::CollectMode,
        model::HoldRequest,
        model::CaptureRequest,
        model::ReleaseRequest,
        model::TopUpRequest,
        model::RefundRequest,
        model::AdjustmentRequest,
        model::VoidRequest,
        model::ChargebackRequest,
        model::KeyRequest,
        model::DrawView,
        model::BucketBody,
        model::UnitBalanceBody,
        model::SpendLimitBody,
        model::BalanceResponse,
        model::BalanceAtResponse,
        model::BalanceAnswer,
        model::AccountsResponse,
        model::AlertBody,
        model::AccountResponse,
        model::QuoteResponse,
        model::ChargeResponse,
        model::HoldResponse,
        model::HoldView,
        model::CaptureResponse,
        model::ReleaseResponse,
        model::TopUpResponse,
        model::RefundResponse,
        model::AdjustmentResponse,
        model::VoidResponse,
        model::ChargebackResponse,
        model::CloseResponse,
        model::EntryBody,
        model::EntriesResponse,
        model::KeyResponse,
        model::RevokedKeyResponse,
        model::HealthResponse,
        statements::UnitStatement,
        statements::StatementResponse,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "accounts and their plans (admin)"),
        (name = "charges", description = "quotes and charges"),
        (name = "holds", description = "two-phase charges"),
        (name = "credits", description = "top-ups and refunds (admin)"),
        (name = "reports", description = "balance, history, statements"),
        (name = "keys", description = "API keys (admin)"),
        (name = "meta", description = "health and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ck_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The committed document (`openapi.json`), which `GET /v1/openapi.json` serves: the
/// `openapi` test keeps it equal to [`document_json`], so the servers need not link the
/// generator (a few hundred KB of every Lambda).
pub const COMMITTED_JSON: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"));

/// The document as pretty JSON with a final newline, exactly as committed.
pub fn document_json() -> String {
    let mut document = ApiDoc::openapi();
    document.merge(crate::webhooks::routes::WebhooksDoc::openapi());
    let mut text = document
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
