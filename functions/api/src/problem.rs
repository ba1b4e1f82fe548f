//! Errors as `application/problem+json` (RFC 9457) with a stable `type`.
//!
//! Every error the API answers goes through [`Problem`]: handler errors, extractor
//! rejections (bad JSON, wrong content type, oversized body), unknown routes and wrong
//! methods. `type` is a short, stable slug clients match on; `detail` is a human sentence in
//! the Cedar style (lowercase, user input in backticks) that never names a Rust type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable problem types. Clients match on [`ProblemType::slug`]; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    InsufficientCredits,
    IdempotencyConflict,
    InvalidInput,
    FeatureNotAllowed,
    NotFound,
    Unauthorized,
    Forbidden,
    RefundNotAllowed,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    /// The account is closed: nothing more can happen on it.
    AccountClosed,
    /// The plan refuses this top-up (e.g. it needs an active subscription).
    TopUpNotAllowed,
    /// The request is well formed but conflicts with the account's state.
    Conflict,
    /// The request would make the account outgrow one of its limits (open holds, buckets of
    /// credits...): members `limit` (its stable name) and `max`. 409 like `conflict`: the
    /// request is valid and the same request can succeed once the account's state changes
    /// (a hold released, credits spent or expired); retrying it unchanged at once cannot.
    /// `docs/ledger-limits.md` lists the limits.
    LimitReached,
    /// A capture or release of a hold that is no longer open: members `hold`, `hold_status`
    /// (`captured`, `released` or `expired`) and `closed_at`. 409: the hold's state, not the
    /// request, decides; `GET /v1/accounts/{account}/holds/{hold}` shows it.
    HoldClosed,
    /// The store could not be reached or kept conflicting; the request may be retried with
    /// the same id.
    Unavailable,
    Internal,
    /// The charge or hold would spend more than the plan lets the account spend in the
    /// running day, month or cycle (`limit N UNIT per day`): members `unit`; 429 with
    /// `Retry-After` until that period ends. Nothing was written.
    SpendLimitReached,
    /// The charge or hold costs more than the plan's `limit N UNIT per request`: member
    /// `unit`; 422. Nothing was written.
    RequestCapExceeded,
    /// The top-up would take the balance above the plan's `balance at most`: member `unit`;
    /// 422. Nothing was written.
    BalanceCapExceeded,
    /// This deployment does not serve the route (webhook endpoints where nothing delivers:
    /// `credits serve` over DynamoDB, a Lambda not told a webhooks table).
    NotImplemented,
}

impl ProblemType {
    /// Every type, for documentation and tests.
    pub const ALL: [ProblemType; 23] = [
        ProblemType::InsufficientCredits,
        ProblemType::IdempotencyConflict,
        ProblemType::InvalidInput,
        ProblemType::FeatureNotAllowed,
        ProblemType::NotFound,
        ProblemType::Unauthorized,
        ProblemType::Forbidden,
        ProblemType::RefundNotAllowed,
        ProblemType::RateLimited,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::MethodNotAllowed,
        ProblemType::AccountClosed,
        ProblemType::TopUpNotAllowed,
        ProblemType::Conflict,
        ProblemType::LimitReached,
        ProblemType::HoldClosed,
        ProblemType::Unavailable,
        ProblemType::Internal,
        ProblemType::SpendLimitReached,
        ProblemType::RequestCapExceeded,
        ProblemType::BalanceCapExceeded,
        ProblemType::NotImplemented,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::InsufficientCredits => "insufficient-credits",
            ProblemType::IdempotencyConflict => "idempotency-conflict",
            ProblemType::InvalidInput => "invalid-input",
            ProblemType::FeatureNotAllowed => "feature-not-allowed",
            ProblemType::NotFound => "not-found",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::Forbidden => "forbidden",
            ProblemType::RefundNotAllowed => "refund-not-allowed",
            ProblemType::RateLimited => "rate-limited",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::AccountClosed => "account-closed",
            ProblemType::TopUpNotAllowed => "topup-not-allowed",
            ProblemType::Conflict => "conflict",
            ProblemType::LimitReached => "limit-reached",
            ProblemType::HoldClosed => "hold-closed",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Internal => "internal",
            ProblemType::SpendLimitReached => "spend-limit-reached",
            ProblemType::RequestCapExceeded => "request-cap-exceeded",
            ProblemType::BalanceCapExceeded => "balance-cap-exceeded",
            ProblemType::NotImplemented => "not-implemented",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            ProblemType::IdempotencyConflict
            | ProblemType::Conflict
            | ProblemType::LimitReached
            | ProblemType::HoldClosed
            | ProblemType::AccountClosed => StatusCode::CONFLICT,
            ProblemType::InvalidInput => StatusCode::BAD_REQUEST,
            ProblemType::FeatureNotAllowed | ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::RefundNotAllowed | ProblemType::TopUpNotAllowed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::SpendLimitReached => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::RequestCapExceeded | ProblemType::BalanceCapExceeded => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProblemType::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::InsufficientCredits => "insufficient credits",
            ProblemType::IdempotencyConflict => "idempotency conflict",
            ProblemType::InvalidInput => "invalid input",
            ProblemType::FeatureNotAllowed => "feature not allowed",
            ProblemType::NotFound => "not found",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::Forbidden => "forbidden",
            ProblemType::RefundNotAllowed => "refund not allowed",
            ProblemType::RateLimited => "rate limited",
            ProblemType::PayloadTooLarge => "payload too large",
            ProblemType::UnsupportedMediaType => "unsupported media type",
            ProblemType::MethodNotAllowed => "method not allowed",
            ProblemType::AccountClosed => "account closed",
            ProblemType::TopUpNotAllowed => "top-up not allowed",
            ProblemType::Conflict => "conflict",
            ProblemType::LimitReached => "limit reached",
            ProblemType::HoldClosed => "hold closed",
            ProblemType::Unavailable => "service unavailable",
            ProblemType::Internal => "internal error",
            ProblemType::SpendLimitReached => "spend limit reached",
            ProblemType::RequestCapExceeded => "request cap exceeded",
            ProblemType::BalanceCapExceeded => "balance cap exceeded",
            ProblemType::NotImplemented => "not implemented",
        }
    }
}

/// An error answer. Build with [`Problem::new`] and the helpers; extra members go in
/// `extensions` and are flattened into the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub problem_type: ProblemType,
    pub detail: String,
    pub extensions: Map<String, Value>,
    /// Seconds for the `Retry-After` header (rate limits, unavailability).
    pub retry_after_seconds: Option<u64>,
}

/// The JSON body of a problem, as documented in the OpenAPI document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "insufficient-credits",
    "title": "insufficient credits",
    "status": 402,
    "detail": "the charge needs 90 credit but only 12.5 credit is available"
}))]
pub struct ProblemBody {
    /// Stable problem type, e.g. `insufficient-credits`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Problem-specific members (`unit`, `needed`, `available`, `field`, ...).
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    pub fn new(problem_type: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem_type,
            detail: detail.into(),
            extensions: Map::new(),
            retry_after_seconds: None,
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::InvalidInput, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::NotFound, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Forbidden, detail)
    }

    /// An internal failure: the cause is logged, never shown.
    pub fn internal() -> Self {
        Self::new(
            ProblemType::Internal,
            "the request failed on our side; retry it with the same id",
        )
    }

    /// Add a member to the body.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.problem_type.status()
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            problem_type: self.problem_type.slug().to_owned(),
            title: self.problem_type.title().to_owned(),
            status: self.status().as_u16(),
            detail: self.detail.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.problem_type.slug(), self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turn a serde_json error into a sentence without Rust type names.
///
/// serde's messages are mostly good (`missing field `feature``, `unknown field `x`,
/// expected one of ...`); what they can leak is the name of a struct or enum (`expected
/// struct ChargeRequest`), which the request types avoid with `#[serde(expecting)]`, and
/// which this function strips again as a second line of defence.
pub fn json_error_detail(error: &serde_json::Error) -> String {
    let message = error.to_string();
    // serde_json appends " at line L column C"; keep the position, it helps with big bodies.
    let cleaned = strip_type_names(&message);
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("the body is not valid JSON: {cleaned}")
        }
        serde_json::error::Category::Data | serde_json::error::Category::Io => {
            format!("the body does not match the request schema: {cleaned}")
        }
    }
}

/// Remove Rust type names from a deserializer's message (also used for query strings).
pub fn strip_type_names(message: &str) -> String {
    let mut out = message.to_owned();
    for marker in [
        "expected struct ",
        "expected enum ",
        "expected tuple struct ",
    ] {
        while let Some(start) = out.find(marker) {
            let name_start = start + marker.len();
            let rest = out.get(name_start..).unwrap_or_default();
            let name_len = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let before = out.get(..start).unwrap_or_default();
            let after = out.get(name_start + name_len..).unwrap_or_default();
            out = format!("{before}expected a JSON object{after}");
        }
    }
    // A number field's Rust type (`expected u32`) says "a whole number" to a client.
    for (rust, json) in [
        ("expected u8", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
    ] {
        out = out.replace(rust, json);
    }
    if out.contains("untagged enum") {
        return "a value has the wrong type".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_struct_names() {
        assert_eq!(
            strip_type_names(
                "invalid type: string \"x\", expected struct ChargeRequest at line 1 column 3"
            ),
            "invalid type: string \"x\", expected a JSON object at line 1 column 3"
        );
    }

    #[test]
    fn every_type_has_a_distinct_slug() {
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|t| t.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
    }
}
