//! The imperative shell: what each request does with the store, the rate books and the
//! ledger. Handlers are thin; everything here is plain async functions over [`AppState`].
//!
//! A mutation:
//! 1. is validated at the edge and hashed (canonical JSON of route, account and body);
//! 2. takes the account's slot (mutations of one account take turns within a process) and
//!    uses the snapshot cached there, or loads it (one store read);
//! 3. reads the facts it needs from history (AFTER the snapshot, so the commit's version
//!    check covers them), picks the rate book version in force at `now`, and calls the pure
//!    `decide` with every version of the book (each past instant is caught up with its own);
//! 4. commits snapshot, entries and the operation record (its id, request hash, status and
//!    response) in one conditional write. A version conflict reloads and retries (bounded,
//!    jittered); an existing operation answers the original response when the request hash
//!    matches, else `idempotency-conflict`.
//!
//! A refusal (`insufficient-credits`...) writes and records nothing. Before answering one,
//! the shell makes sure it was decided on a fresh snapshot, and that the id was not already
//! used by a request that succeeded (that request's response is answered instead).
//!
//! With group commit on (`ApiConfig::group_commit`, `credits serve`), steps 2 to 4 of a
//! charge, hold, capture, release or top-up run in `group` instead: queued on the busy slot,
//! decided in turn with the others queued there, committed with them in one write, answered
//! once that write settled. Whatever a group cannot do the same way (refusals, catch-up,
//! replays, fact reads) comes back here, to `mutate_alone`.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use credits_dsl::RateBook;
use credits_dsl::usage::{RawValue as UsageRaw, UsageError};
use credits_ledger::{
    Account, Attribution, Capture, Command, Configure, Decision, Facts, LedgerError, Refund,
    RefundAmount, Release, Spend, SubscriptionRequest, TopUp, TopUpAmount,
};
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryRecord, FactRecord, OperationRecord, StoreError,
};

use crate::AppState;
use crate::facts;
use crate::model::{
    AccountRequest, AdjustmentRequest, CaptureRequest, ChargeRequest, ChargebackRequest,
    CloseRequest, HoldRequest, Inputs, RefundRequest, ReleaseRequest, TopUpRequest, VoidRequest,
};
use crate::problem::{Problem, ProblemType};
use crate::slots::Cached;
use crate::validate::{self, display_id};
use crate::{money, respond};

/// Attempts of one mutation against version conflicts before answering `unavailable`.
pub const MAX_ATTEMPTS: u32 = 8;
/// Commits of catch-up (`Advance`) one request may make for an account far behind.
const MAX_CATCH_UP_COMMITS: u32 = 64;
/// How far the account's last decision may be ahead of this machine's clock (another
/// instance's clock) before the request is refused rather than decided at that instant: the
/// ledger's rule (`docs/clocks.md`), which `decide` enforces with `clock-behind`.
const MAX_CLOCK_SKEW_MS: i64 = credits_ledger::limits::MAX_CLOCK_SKEW_MS;
/// Default hold reservation time.
pub const DEFAULT_HOLD_TTL_SECONDS: u32 = 900;

/// A successful answer: status and JSON body, exactly what the operation record keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// What a mutation asks for, validated at the edge.
pub enum Operation {
    Configure(AccountRequest),
    Charge(ChargeRequest),
    Hold(HoldRequest),
    Capture { hold: String, body: CaptureRequest },
    Release { hold: String, body: ReleaseRequest },
    TopUp(TopUpRequest),
    Refund(RefundRequest),
    Adjust(AdjustmentRequest),
    Void(VoidRequest),
    Chargeback(ChargebackRequest),
    Close(CloseRequest),
}

impl Operation {
    /// The route name used in the request hash and the operation record.
    fn route(&self) -> &'static str {
        match self {
            Operation::Configure(_) => "account",
            Operation::Charge(_) => "charge",
            Operation::Hold(_) => "hold",
            Operation::Capture { .. } => "capture",
            Operation::Release { .. } => "release",
            Operation::TopUp(_) => "top_up",
            Operation::Refund(_) => "refund",
            Operation::Adjust(_) => "adjustment",
            Operation::Void(_) => "void",
            Operation::Chargeback(_) => "chargeback",
            Operation::Close(_) => "close",
        }
    }

    /// The client id (idempotency key). `PUT` of an account has none: it sets state and is
    /// idempotent by nature, so each one gets a fresh id and no operation record.
    pub(crate) fn client_id(&self, now: DateTime<Utc>) -> String {
        match self {
            Operation::Configure(_) => format!(
                "account:{}:{:08x}",
                now.timestamp_micros(),
                rand::random::<u32>()
            ),
            Operation::Charge(body) => body.id.clone(),
            Operation::Hold(body) => body.id.clone(),
            Operation::Capture { hold, body } => {
                body.id.clone().unwrap_or_else(|| format!("capture:{hold}"))
            }
            Operation::Release { hold, body } => {
                body.id.clone().unwrap_or_else(|| format!("release:{hold}"))
            }
            Operation::TopUp(body) => body.id.clone(),
            Operation::Refund(body) => body.id.clone(),
            Operation::Adjust(body) => body.id.clone(),
            Operation::Void(body) => body.id.clone(),
            Operation::Chargeback(body) => body.id.clone(),
            Operation::Close(body) => body.id.clone(),
        }
    }

    pub(crate) fn records_operation(&self) -> bool {
        !matches!(self, Operation::Configure(_))
    }

    /// Check everything that needs no rate book: ids, shapes, exclusive fields.
    ///
    /// # Errors
    /// `invalid-input`.
    pub fn validate(&self) -> Result<(), Problem> {
        match self {
            Operation::Configure(body) => {
                validate::plan_reference(&body.plan)?;
                if let Some(zone) = &body.time_zone {
                    validate::name("time_zone", zone)?;
                }
                if let Some(status) = &body.status
                    && status != "active"
                    && status != "suspended"
                {
                    return Err(Problem::invalid(format!(
                        "`status` `{}` must be `active` or `suspended`; close an account with `POST /v1/accounts/{{account}}/close`",
                        display_id(status)
                    ))
                    .with("field", "status"));
                }
                Ok(())
            }
            Operation::Charge(body) => {
                validate::id("id", &body.id)?;
                validate::name("feature", &body.feature)?;
                validate::optional_name("channel", body.channel.as_deref())?;
                validate::optional_id("project", body.project.as_deref())?;
                validate::optional_id("member", body.member.as_deref())?;
                validate::optional_id("content", body.content.as_deref())?;
                crate::outcome_field::parse(body.outcome.as_deref()).map(|_| ())
            }
            Operation::Hold(body) => {
                validate::id("id", &body.id)?;
                validate::name("feature", &body.feature)?;
                validate::optional_name("channel", body.channel.as_deref())?;
                validate::optional_id("project", body.project.as_deref())?;
                validate::optional_id("member", body.member.as_deref())?;
                validate::optional_id("content", body.content.as_deref())?;
                if let Some(ttl) = body.ttl_seconds {
                    let max = credits_ledger::limits::MAX_HOLD_TTL_SECONDS;
                    if ttl == 0 || ttl > max {
                        return Err(Problem::invalid(format!(
                            "`ttl_seconds` {ttl} must be between 1 and {max}"
                        ))
                        .with("field", "ttl_seconds"));
                    }
                }
                Ok(())
            }
            Operation::Capture { hold, body } => {
                validate::id("hold", hold)?;
                validate::optional_id("id", body.id.as_deref())?;
                crate::outcome_field::parse(body.outcome.as_deref()).map(|_| ())
            }
            Operation::Release { hold, body } => {
                validate::id("hold", hold)?;
                validate::optional_id("id", body.id.as_deref())
            }
            Operation::TopUp(body) => {
                validate::id("id", &body.id)?;
                validate::optional_name("unit", body.unit.as_deref())?;
                validate::optional_name("package", body.package.as_deref())?;
                validate::optional_name("kind", body.kind.as_deref())?;
                match (&body.amount, &body.package) {
                    (Some(amount), None) => validate::positive_amount("amount", amount).map(|_| ()),
                    (None, Some(_)) => {
                        if body.unit.is_some() {
                            return Err(Problem::invalid(
                                "`unit` goes with `amount`; a `package` has its own unit",
                            )
                            .with("field", "unit"));
                        }
                        Ok(())
                    }
                    (Some(_), Some(_)) => Err(Problem::invalid(
                        "give either `amount` or `package`, not both",
                    )),
                    (None, None) => Err(Problem::invalid("give an `amount` or a `package`")),
                }
            }
            Operation::Refund(body) => {
                validate::id("id", &body.id)?;
                validate::id("charge", &body.charge)?;
                validate::name("reason", &body.reason)?;
                validate::optional_name("unit", body.unit.as_deref())?;
                if let Some(amount) = &body.amount {
                    validate::positive_amount("amount", amount)?;
                } else if body.unit.is_some() {
                    return Err(Problem::invalid("`unit` goes with `amount`").with("field", "unit"));
                }
                Ok(())
            }
            Operation::Adjust(body) => {
                validate::id("id", &body.id)?;
                direction(&body.direction)?;
                adjustment_reason(&body.reason)?;
                validate::positive_amount("amount", &body.amount)?;
                validate::optional_name("unit", body.unit.as_deref())?;
                validate::optional_name("kind", body.kind.as_deref())?;
                validate::memo(body.memo.as_deref())?;
                if let Some(bucket) = &body.bucket {
                    validate::bucket("bucket", bucket)?;
                }
                Ok(())
            }
            Operation::Void(body) => {
                validate::id("id", &body.id)?;
                validate::bucket("bucket", &body.bucket)?;
                validate::memo(body.memo.as_deref())
            }
            Operation::Chargeback(body) => {
                validate::id("id", &body.id)?;
                validate::id("purchase", &body.purchase)?;
                validate::memo(body.memo.as_deref())
            }
            Operation::Close(body) => validate::id("id", &body.id),
        }
    }

    /// Canonical JSON of the request, for the request hash: keys sorted, inputs sorted by
    /// name (a number by its exact value, a string decoded), amounts normalised.
    fn canonical(&self) -> Value {
        match self {
            Operation::Configure(body) => json!({
                "plan": body.plan,
                "subscription": body.subscription,
                "time_zone": body.time_zone,
                "credit_line": body.credit_line.as_ref().map(|raw| raw.get().to_owned()),
                "status": body.status,
            }),
            Operation::Charge(body) => with_outcome(
                json!({
                    "id": body.id,
                    "feature": body.feature,
                    "inputs": canonical_inputs(&body.inputs),
                    "channel": body.channel,
                    "project": body.project,
                    "member": body.member,
                    "content": body.content,
                }),
                body.outcome.as_deref(),
            ),
            Operation::Hold(body) => json!({
                "id": body.id,
                "feature": body.feature,
                "inputs": canonical_inputs(&body.inputs),
                "channel": body.channel,
                "ttl_seconds": body.ttl_seconds,
                "project": body.project,
                "member": body.member,
                "content": body.content,
            }),
            Operation::Capture { hold, body } => with_outcome(
                json!({
                    "hold": hold,
                    "id": body.id,
                    "inputs": body.inputs.as_ref().map(canonical_inputs),
                }),
                body.outcome.as_deref(),
            ),
            Operation::Release { hold, body } => json!({ "hold": hold, "id": body.id }),
            Operation::TopUp(body) => json!({
                "id": body.id,
                "unit": body.unit,
                "amount": body.amount.as_ref().and_then(|raw| validate::positive_amount("amount", raw).ok()).map(|d| d.to_string()),
                "package": body.package,
                "kind": body.kind,
                "expires_at": body.expires_at,
            }),
            Operation::Refund(body) => json!({
                "id": body.id,
                "charge": body.charge,
                "reason": body.reason,
                "amount": body.amount.as_ref().and_then(|raw| validate::positive_amount("amount", raw).ok()).map(|d| d.to_string()),
                "unit": body.unit,
            }),
            Operation::Adjust(body) => json!({
                "id": body.id,
                "direction": body.direction,
                "amount": validate::positive_amount("amount", &body.amount).ok().map(|d| d.to_string()),
                "unit": body.unit,
                "reason": body.reason,
                "memo": body.memo,
                "kind": body.kind,
                "expires_at": body.expires_at,
                "bucket": body.bucket,
            }),
            Operation::Void(body) => json!({
                "id": body.id,
                "bucket": body.bucket,
                "memo": body.memo,
            }),
            Operation::Chargeback(body) => json!({
                "id": body.id,
                "purchase": body.purchase,
                "memo": body.memo,
            }),
            Operation::Close(body) => json!({ "id": body.id }),
        }
    }
}

/// Adds a stated outcome other than `completed` to a request's canonical JSON; without one
/// the JSON (and so the hash) is what it was before outcomes existed.
fn with_outcome(mut canonical: Value, outcome: Option<&str>) -> Value {
    if let (Some(outcome), Some(fields)) = (
        crate::outcome_field::canonical(outcome),
        canonical.as_object_mut(),
    ) {
        fields.insert("outcome".to_owned(), json!(outcome));
    }
    canonical
}

fn canonical_inputs(inputs: &Inputs) -> Value {
    let mut pairs: Vec<(String, String)> = inputs
        .0
        .iter()
        .map(|(name, raw)| (name.clone(), canonical_raw(raw)))
        .collect();
    pairs.sort();
    Value::Array(
        pairs
            .into_iter()
            .map(|(name, value)| json!([name, value]))
            .collect(),
    )
}

/// One input value in the request hash. A number is compared by value: `1`, `1.0`, `10e-1`
/// and `1E0` are one request, `-0` is `0`, so a retry that writes a number another way
/// replays instead of conflicting. A number no decimal holds exactly (`1e400`, 40 digits)
/// keeps its text: the book refuses it anyway, and rounding it could make two different
/// requests one.
fn canonical_raw(raw: &serde_json::value::RawValue) -> String {
    match usage_raw(raw) {
        Some(UsageRaw::Number(text)) => match exact_number(&text) {
            Some(value) => format!("n:{value}"),
            None => format!("n:{text}"),
        },
        Some(UsageRaw::Text(text)) => format!("s:{text}"),
        Some(UsageRaw::Bool(flag)) => format!("b:{flag}"),
        None => format!("j:{}", raw.get().trim()),
    }
}

/// A JSON number's exact value, normalized (no trailing zeros, no negative zero), or `None`
/// when a decimal cannot hold it without losing a digit. The exponent is applied to the
/// mantissa and scale by hand: `Decimal::from_scientific` reads the digits before it with
/// the rounding `from_str`, and rounding is what must not happen here.
fn exact_number(text: &str) -> Option<rust_decimal::Decimal> {
    use rust_decimal::Decimal;
    let (digits, exponent) = match text.find(['e', 'E']) {
        Some(at) => (text.get(..at)?, text.get(at + 1..)?.parse::<i64>().ok()?),
        None => (text, 0),
    };
    let base = Decimal::from_str_exact(digits).ok()?.normalize();
    if base.is_zero() {
        return Some(Decimal::ZERO);
    }
    // value = mantissa × 10^(exponent - scale)
    let scale = i64::from(base.scale()).checked_sub(exponent)?;
    let value = if scale >= 0 {
        Decimal::try_from_i128_with_scale(base.mantissa(), u32::try_from(scale).ok()?).ok()?
    } else {
        let factor = 10i128.checked_pow(u32::try_from(scale.checked_neg()?).ok()?)?;
        Decimal::try_from_i128_with_scale(base.mantissa().checked_mul(factor)?, 0).ok()?
    };
    Some(value.normalize())
}

/// A JSON input value as the rate book's raw value: a number keeps its JSON text verbatim
/// (`1e400` and 40-digit numbers included, which the book then rejects), never a float.
pub fn usage_raw(raw: &serde_json::value::RawValue) -> Option<UsageRaw> {
    let text = raw.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text)
            .ok()
            .map(UsageRaw::Text),
        b't' if text == "true" => Some(UsageRaw::Bool(true)),
        b'f' if text == "false" => Some(UsageRaw::Bool(false)),
        b'-' | b'0'..=b'9' => Some(UsageRaw::Number(text.to_owned())),
        _ => None,
    }
}

/// The hex SHA-256 of the canonical request.
pub fn request_hash(account: &str, operation: &Operation) -> String {
    let canonical = json!({
        "route": operation.route(),
        "account": account,
        "body": operation.canonical(),
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Validated inputs as the rate book's usage.
///
/// # Errors
/// `invalid-input` with the book's message, `code` and `help`.
pub fn usage(
    book: &RateBook,
    feature: &str,
    channel: Option<&str>,
    inputs: &Inputs,
) -> Result<credits_dsl::Usage, Problem> {
    let mut raw_inputs = Vec::with_capacity(inputs.0.len());
    for (name, raw) in &inputs.0 {
        let Some(value) = usage_raw(raw) else {
            return Err(Problem::invalid(format!(
                "input `{}` must be a number, a string or a boolean",
                display_id(name)
            ))
            .with("field", format!("inputs.{}", display_id(name))));
        };
        raw_inputs.push((name.clone(), value));
    }
    book.usage(feature, channel, &raw_inputs)
        .map_err(|error| usage_problem(&error))
}

fn usage_problem(error: &UsageError) -> Problem {
    use miette::Diagnostic;
    let mut problem = Problem::invalid(error.to_string()).with("code", error.code());
    if let Some(help) = error.help() {
        problem = problem.with("help", help.to_string());
    }
    problem
}

/// The problem a ledger refusal is answered with.
pub fn ledger_problem(error: &LedgerError, book: &RateBook) -> Problem {
    match error {
        LedgerError::InsufficientCredits {
            unit,
            needed_minor,
            available_minor,
        } => {
            let needed = money::format_minor(book, unit, *needed_minor);
            let available = money::format_minor(book, unit, *available_minor);
            Problem::new(
                ProblemType::InsufficientCredits,
                format!("this needs {needed} {unit} but only {available} {unit} is available"),
            )
            .with("unit", unit.clone())
            .with("needed", needed)
            .with("available", available)
        }
        LedgerError::FeatureNotAllowed { feature, reason } => {
            Problem::new(ProblemType::FeatureNotAllowed, reason.clone())
                .with("feature", feature.clone())
        }
        LedgerError::Suspended { .. } => {
            Problem::new(ProblemType::FeatureNotAllowed, error.to_string())
        }
        LedgerError::AccountClosed { .. } => {
            Problem::new(ProblemType::AccountClosed, error.to_string())
        }
        LedgerError::RefundNotAllowed { reason } => {
            Problem::new(ProblemType::RefundNotAllowed, reason.clone())
        }
        LedgerError::TopUpNotAllowed { reason } => {
            Problem::new(ProblemType::TopUpNotAllowed, reason.clone())
        }
        LedgerError::InvalidInput(message) | LedgerError::Rating(message) => {
            Problem::invalid(message.clone())
        }
        LedgerError::RefusedByBook {
            feature,
            code,
            message,
        } => Problem::invalid(message.clone())
            .with("code", *code)
            .with("feature", feature.clone()),
        LedgerError::NotFound { .. } => Problem::not_found(error.to_string()),
        LedgerError::Conflict(message) => Problem::new(ProblemType::Conflict, message.clone()),
        LedgerError::LimitReached { limit, max, .. } => {
            Problem::new(ProblemType::LimitReached, error.to_string())
                .with("limit", *limit)
                .with("max", *max)
        }
        LedgerError::RateLimited {
            reason,
            retry_after_seconds,
        } => Problem::new(ProblemType::RateLimited, reason.clone())
            .retry_after((*retry_after_seconds).max(1)),
        LedgerError::SpendLimitReached {
            unit,
            reason,
            retry_after_seconds,
        } => Problem::new(ProblemType::SpendLimitReached, reason.clone())
            .with("unit", unit.clone())
            .retry_after((*retry_after_seconds).max(1)),
        LedgerError::RequestCapExceeded { unit, reason } => {
            Problem::new(ProblemType::RequestCapExceeded, reason.clone()).with("unit", unit.clone())
        }
        LedgerError::BalanceCapExceeded { unit, reason } => {
            Problem::new(ProblemType::BalanceCapExceeded, reason.clone()).with("unit", unit.clone())
        }
        LedgerError::Overflow(_) => {
            Problem::invalid("the amounts involved are too large to handle exactly")
        }
        LedgerError::CatchUpRequired { .. } | LedgerError::ClockBehind { .. } => {
            tracing::warn!(%error, "request refused for clock or catch-up reasons");
            Problem::new(
                ProblemType::Unavailable,
                "the account is being brought up to date; retry with the same id",
            )
            .retry_after(1)
        }
        LedgerError::Invariant(_) => {
            tracing::error!(%error, "ledger invariant broken");
            Problem::internal()
        }
    }
}

/// The problem a store failure is answered with: `unavailable` (503, retry) when the store
/// could not be reached or was busy, else an internal error (500) — a retry would meet the
/// same refusal (no permission, no such table, corrupt data) — counted in the request's
/// `StoreFailures` metric, which has an alarm.
pub fn store_problem(error: &StoreError) -> Problem {
    tracing::error!(%error, "store request failed");
    match error {
        StoreError::Unavailable(_) => Problem::new(
            ProblemType::Unavailable,
            "the store is unavailable; retry with the same id",
        )
        .retry_after(1),
        _ => {
            crate::metrics::note(|facts| {
                facts.store_failures = facts.store_failures.saturating_add(1);
            });
            Problem::internal()
        }
    }
}

/// The credits each charge or capture of a decision spent, for the request's metrics.
fn charged_by(entries: &[credits_ledger::Entry], book: &RateBook) -> Vec<crate::metrics::Charged> {
    entries
        .iter()
        .filter(|entry| {
            matches!(
                entry.entry_type,
                credits_ledger::EntryType::Charge | credits_ledger::EntryType::Capture
            ) && entry.amount_minor < 0
        })
        .map(|entry| crate::metrics::Charged {
            book: book.name.clone(),
            feature: entry.feature.clone().unwrap_or_default(),
            unit: entry.unit.clone().unwrap_or_default(),
            amount_minor: entry.amount_minor.unsigned_abs(),
        })
        .collect()
}

fn account_not_found(account: &str) -> Problem {
    Problem::not_found(format!("account `{}` not found", display_id(account)))
        .with("account", display_id(account))
}

/// The instant a decision is made at: this machine's clock, or the account's last decision
/// when another instance's clock ran slightly ahead (the ledger never moves back). Further
/// ahead, this clock is the one used and the ledger refuses the decision (`clock-behind`,
/// answered 503): deciding in another machine's future would expire and grant early.
pub(crate) fn decision_time(clock_now: DateTime<Utc>, account: Option<&Account>) -> DateTime<Utc> {
    let Some(account) = account else {
        return clock_now;
    };
    let ahead_ms = (account.advanced_to - clock_now).num_milliseconds();
    if ahead_ms <= 0 {
        return clock_now;
    }
    if ahead_ms <= MAX_CLOCK_SKEW_MS {
        return account.advanced_to;
    }
    tracing::warn!(
        account = %account.id,
        skew_ms = ahead_ms,
        max_skew_ms = MAX_CLOCK_SKEW_MS,
        "this machine's clock is behind the account's last decision by more than the allowed skew; refusing writes until it catches up"
    );
    clock_now
}

pub(crate) fn jitter_backoff(attempt: u32) -> Duration {
    let base_ms = 2_u64.saturating_pow(attempt.min(6));
    let jitter_ms = rand::random::<u64>() % (base_ms + 1);
    Duration::from_millis(base_ms + jitter_ms)
}

pub(crate) fn decode_account(record: AccountRecord) -> Result<Cached, Problem> {
    let version = record.version;
    match serde_json::from_value::<Account>(record.state) {
        Ok(account) => Ok(Cached { version, account }),
        Err(error) => {
            tracing::error!(%error, account = %record.account, "stored account snapshot is unreadable");
            Err(Problem::internal())
        }
    }
}

/// Load an account from the store (reads never use the cache: another instance may have
/// written since).
///
/// # Errors
/// `not-found`, or the store's failure.
pub async fn load_account(state: &AppState, account: &str) -> Result<Cached, Problem> {
    let record = state
        .store
        .load(account)
        .await
        .map_err(|error| store_problem(&error))?
        .ok_or_else(|| account_not_found(account))?;
    decode_account(record)
}

/// Replay the original answer of `id`, or refuse a different request under the same id.
pub(crate) fn replay(record: &OperationRecord, request_hash: &str) -> Result<Answer, Problem> {
    if record.request_hash == request_hash {
        let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
        Ok(Answer {
            status,
            body: record.response.clone(),
        })
    } else {
        Err(Problem::new(
            ProblemType::IdempotencyConflict,
            format!(
                "id `{}` was already used for a different request; use a new id for a new operation",
                display_id(&record.id)
            ),
        )
        .with("id", display_id(&record.id)))
    }
}

/// Run one mutation. See the module documentation for the steps.
///
/// # Errors
/// A problem to answer; nothing was written.
pub async fn mutate(
    state: &AppState,
    account_id: &str,
    operation: Operation,
) -> Result<Answer, Problem> {
    if crate::group::enabled(state) && crate::group::groupable(&operation) {
        return crate::group::mutate(state, account_id, operation).await;
    }
    mutate_alone(state, account_id, operation).await
}

/// Run one mutation on its own: decide it, commit it, answer it.
///
/// # Errors
/// A problem to answer; nothing was written.
pub(crate) async fn mutate_alone(
    state: &AppState,
    account_id: &str,
    operation: Operation,
) -> Result<Answer, Problem> {
    operation.validate()?;
    let request_hash = request_hash(account_id, &operation);
    let operation_id = operation.client_id(state.clock.now());
    validate::id("id", &operation_id)?;
    let records = operation.records_operation();

    let slot = state.slots.slot(account_id);
    let mut catch_up_commits = 0_u32;
    let mut back_off = false;
    // A refusal decided on the cached snapshot is decided again on a fresh load at once, in
    // the same turn on the slot: were the slot released, the next mutation would cache its
    // own commit again, and under load the refusal might never be decided fresh.
    let mut reload = None;

    for attempt in 0..MAX_ATTEMPTS {
        if std::mem::take(&mut back_off) {
            tokio::time::sleep(jitter_backoff(attempt)).await;
        }
        let mut guard = match reload.take() {
            Some(guard) => guard,
            None => slot.lock().await,
        };
        // Whether the snapshot decided on was read from the store in this attempt (else it
        // is the cache's, possibly stale if another instance wrote since: a refusal decided on it is checked again).
        let mut fresh = false;

        // A replay of an id this process committed: the record answers, nothing is decided.
        if records && guard.recent.contains(&operation_id) {
            drop(guard);
            let record = state
                .store
                .operation(account_id, &operation_id)
                .await
                .map_err(|error| store_problem(&error))?;
            if let Some(record) = record {
                return replay(&record, &request_hash);
            }
            guard = slot.lock().await;
        }

        if guard.cached.is_none() {
            let loaded = state
                .store
                .load(account_id)
                .await
                .map_err(|error| store_problem(&error))?;
            guard.cached = loaded.map(decode_account).transpose()?;
            fresh = true;
        }
        let current = guard.cached.as_ref();
        let account = current.map(|c| &c.account);
        let version = current.map_or(0, |c| c.version);
        let now = decision_time(state.clock.now(), account);

        let prepared = prepare(state, account_id, &operation, &operation_id, account, now).await;
        let (command, facts, book) = match prepared {
            Ok(prepared) => prepared,
            Err(problem) => {
                if !fresh {
                    guard.cached = None;
                    reload = Some(guard);
                    continue;
                }
                drop(guard);
                return refusal(
                    state,
                    account_id,
                    &operation,
                    &operation_id,
                    &request_hash,
                    problem,
                )
                .await;
            }
        };
        let versions = state.versions_of(book);
        let decision = match credits_ledger::decide(account, &command, &facts, &versions, now) {
            Ok(decision) => decision,
            Err(LedgerError::CatchUpRequired { .. }) if catch_up_commits < MAX_CATCH_UP_COMMITS => {
                let Some(current) = guard.cached.take() else {
                    continue;
                };
                catch_up_commits += 1;
                guard.cached =
                    catch_up(state, account_id, &operation_id, current, book, now).await?;
                continue;
            }
            Err(error) => {
                if !fresh {
                    guard.cached = None;
                    reload = Some(guard);
                    continue;
                }
                drop(guard);
                let problem = ledger_problem(&error, book);
                return refusal(
                    state,
                    account_id,
                    &operation,
                    &operation_id,
                    &request_hash,
                    problem,
                )
                .await;
            }
        };

        let answer = respond::answer(
            &operation,
            &operation_id,
            account_id,
            account,
            &decision,
            book,
        );
        let operation_record = records.then(|| {
            operation_record(
                account_id,
                &operation_id,
                &command,
                &request_hash,
                &answer,
                now,
            )
        });
        let new_version = version + 1;
        let written = facts::written_by(account_id, book, account, &command, &facts, &decision)?;
        let commit = build_commit(account_id, version, &decision, written, operation_record)?;
        let charged = charged_by(&decision.entries, book);
        let decided = Cached {
            version: new_version,
            account: decision.account,
        };

        // The slot stays held until the commit settles: a decision built on a commit whose
        // outcome is unknown could land on a version another instance wrote meanwhile (a
        // lost update). The store still batches commits of different accounts together.
        let started = std::time::Instant::now();
        let outcome = state.store.commit(commit).await;
        let commit_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        crate::metrics::note(|facts| {
            facts.commits = facts.commits.saturating_add(1);
            facts.commit_ms = facts.commit_ms.saturating_add(commit_ms);
        });
        if matches!(outcome, Ok(CommitOutcome::Committed)) {
            guard.cached = Some(decided);
        } else {
            guard.cached = None;
        }
        match outcome.map_err(|error| store_problem(&error))? {
            CommitOutcome::Committed => {
                crate::metrics::note(|facts| facts.charged.extend(charged));
                if records {
                    guard.recent.insert(&operation_id);
                }
                return Ok(answer);
            }
            CommitOutcome::OperationExists(record) => {
                if records {
                    guard.recent.insert(&operation_id);
                }
                return replay(&record, &request_hash);
            }
            CommitOutcome::VersionConflict { current } => {
                tracing::debug!(account = %account_id, attempt, "version conflict; retrying");
                crate::metrics::note(|facts| {
                    facts.commit_conflicts = facts.commit_conflicts.saturating_add(1);
                });
                guard.cached = current.map(decode_account).transpose()?;
                back_off = true;
            }
            CommitOutcome::EntryExists { seq } => {
                // Never a lost race (that fails the version check first): the ledger numbered
                // an entry it had used. Retrying would fail the same way for ever.
                tracing::error!(account = %account_id, seq, "entry seq exists; the snapshot's next seq is behind its history");
                return Err(Problem::internal());
            }
        }
    }
    Err(Problem::new(
        ProblemType::Unavailable,
        "the account is busy with concurrent requests; retry with the same id",
    )
    .retry_after(1))
}

/// The record that answers every later request under `operation_id` as this one was.
pub(crate) fn operation_record(
    account_id: &str,
    operation_id: &str,
    command: &Command,
    request_hash: &str,
    answer: &Answer,
    now: DateTime<Utc>,
) -> OperationRecord {
    OperationRecord {
        account: account_id.to_owned(),
        id: operation_id.to_owned(),
        kind: command.kind().to_owned(),
        request_hash: request_hash.to_owned(),
        status: answer.status.as_u16(),
        response: answer.body.clone(),
        at: now,
    }
}

/// Before answering a refusal: if the id was already used, answer as the first time (or
/// refuse the reuse); `Ok` carries the original answer.
async fn refusal(
    state: &AppState,
    account_id: &str,
    operation: &Operation,
    operation_id: &str,
    request_hash: &str,
    problem: Problem,
) -> Result<Answer, Problem> {
    if !operation.records_operation() {
        return Err(problem);
    }
    match state.store.operation(account_id, operation_id).await {
        Ok(Some(record)) => replay(&record, request_hash),
        Ok(None) => Err(problem),
        Err(error) => Err(store_problem(&error)),
    }
}

/// What bringing an account up to now did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advanced {
    Committed {
        commits: u32,
        entries: u64,
    },
    /// Already up to date, or gone.
    Unchanged,
}

/// One committed `Advance` decision, or the news that another writer moved the account.
enum AdvanceStep {
    Committed {
        next: Box<Cached>,
        caught_up: bool,
        entries: u64,
    },
    /// The version moved on: the snapshot now stored, when the store returned it.
    Moved(Option<AccountRecord>),
}

/// The one `Advance` step every catch-up takes: decide on `current`, commit (with the
/// statements it closed) if the version is still `current`'s.
async fn advance_step(
    state: &AppState,
    account_id: &str,
    command_id: String,
    current: &Cached,
    book: &RateBook,
    now: DateTime<Utc>,
) -> Result<AdvanceStep, Problem> {
    let command = Command::Advance { id: command_id };
    let decision = credits_ledger::decide(
        Some(&current.account),
        &command,
        &Facts::default(),
        &state.versions_of(book),
        now,
    )
    .map_err(|error| ledger_problem(&error, book))?;
    let caught_up = decision.outcome.caught_up;
    let entries = u64::try_from(decision.entries.len()).unwrap_or(u64::MAX);
    let written = facts::statement_facts(account_id, &decision)?;
    let commit = build_commit(account_id, current.version, &decision, written, None)?;
    match state
        .store
        .commit(commit)
        .await
        .map_err(|error| store_problem(&error))?
    {
        CommitOutcome::Committed => Ok(AdvanceStep::Committed {
            next: Box::new(Cached {
                version: current.version + 1,
                account: decision.account,
            }),
            caught_up,
            entries,
        }),
        CommitOutcome::VersionConflict { current } => Ok(AdvanceStep::Moved(current)),
        CommitOutcome::OperationExists(_) => {
            tracing::error!(account = %account_id, "the store reported an operation on a commit without one");
            Err(Problem::internal())
        }
        CommitOutcome::EntryExists { seq } => {
            tracing::error!(account = %account_id, seq, "entry seq exists; the snapshot's next seq is behind its history");
            Err(Problem::internal())
        }
    }
}

/// A command id that names `operation_id` within the ledger's id limit: a long client id is
/// replaced by its digest.
fn advance_id(prefix: &str, operation_id: &str, step: u32) -> String {
    const LONGEST_NAMED_ID_BYTES: usize = 128;
    if operation_id.len() <= LONGEST_NAMED_ID_BYTES {
        format!("{prefix}:{operation_id}:{step}")
    } else {
        let digest = hex::encode(Sha256::digest(operation_id.as_bytes()));
        format!("{prefix}:sha256-{digest}:{step}")
    }
}

/// Commit `Advance` decisions until the account is up to `now`, before a request's own
/// decision; `None` when another writer moved the account (the caller reloads).
async fn catch_up(
    state: &AppState,
    account_id: &str,
    operation_id: &str,
    mut current: Cached,
    book: &RateBook,
    now: DateTime<Utc>,
) -> Result<Option<Cached>, Problem> {
    for step in 0..MAX_CATCH_UP_COMMITS {
        let id = advance_id("advance", operation_id, step);
        match advance_step(state, account_id, id, &current, book, now).await? {
            AdvanceStep::Committed {
                next, caught_up, ..
            } => {
                current = *next;
                if caught_up {
                    return Ok(Some(current));
                }
            }
            AdvanceStep::Moved(_) => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Version conflicts one [`advance_idle`] tolerates (a client is busy on the account: its own
/// requests bring it up to date, so giving up loses nothing).
const MAX_IDLE_CONFLICTS: u32 = 8;

/// Bring an account nobody is touching up to now: the schedule's walk. The same steps as a
/// request's catch-up, in the account's slot (so a process serving requests too keeps one
/// snapshot), committed like any decision; idempotent per period. `trigger` names what ran it
/// in the lazy entries' `operation`.
///
/// # Errors
/// A problem: the store failed, the snapshot is unreadable, the ledger refused (e.g. this
/// machine's clock is behind the account's), or the account stayed busy.
pub async fn advance_idle(
    state: &AppState,
    account_id: &str,
    trigger: &str,
) -> Result<Advanced, Problem> {
    advance_idle_to(state, account_id, trigger)
        .await
        .map(|(advanced, _)| advanced)
}

/// [`advance_idle`], also answering the snapshot it left the account at (`None`: no such
/// account).
async fn advance_idle_to(
    state: &AppState,
    account_id: &str,
    trigger: &str,
) -> Result<(Advanced, Option<Cached>), Problem> {
    let slot = state.slots.slot(account_id);
    let mut guard = slot.lock().await;
    let mut commits = 0_u32;
    let mut entries = 0_u64;
    let mut conflicts = 0_u32;
    let done = |commits: u32, entries: u64| {
        if commits == 0 {
            Advanced::Unchanged
        } else {
            Advanced::Committed { commits, entries }
        }
    };
    loop {
        let current = match guard.cached.take() {
            Some(current) => current,
            None => match state
                .store
                .load(account_id)
                .await
                .map_err(|error| store_problem(&error))?
            {
                Some(record) => decode_account(record)?,
                None => return Ok((done(commits, entries), None)),
            },
        };
        let now = state.clock.now();
        if current.account.advanced_to >= now || commits >= MAX_CATCH_UP_COMMITS {
            guard.cached = Some(current.clone());
            return Ok((done(commits, entries), Some(current)));
        }
        let book = state.book_at(&current.account.plan.book, now).ok_or_else(|| {
            tracing::error!(book = %current.account.plan.book, "the account's rate book is not loaded");
            Problem::internal()
        })?;
        let id = format!("{trigger}:{commits}");
        match advance_step(state, account_id, id, &current, book, now).await? {
            AdvanceStep::Committed {
                next,
                caught_up,
                entries: written,
            } => {
                commits += 1;
                entries = entries.saturating_add(written);
                if caught_up {
                    guard.cached = Some((*next).clone());
                    return Ok((done(commits, entries), Some(*next)));
                }
                guard.cached = Some(*next);
            }
            AdvanceStep::Moved(stored) => {
                conflicts += 1;
                if conflicts > MAX_IDLE_CONFLICTS {
                    return Err(Problem::new(
                        ProblemType::Unavailable,
                        "the account stayed busy; its own requests bring it up to date",
                    ));
                }
                guard.cached = stored.map(decode_account).transpose()?;
            }
        }
    }
}

/// The account's snapshot for a history read (entries, CSV export, statements): what is
/// committed, once everything due up to now is committed (`docs/reads.md`).
///
/// Whether something is due is the ledger's own answer: the `Advance` decision to now,
/// computed in memory, writes entries (expiries, grants, hold expiries, forfeits, alerts) or
/// closes a statement. That covers `due_at` and also the lazy daily grants it leaves out,
/// whose live periods a later catch-up would write with instants already past. Only then is
/// the account brought up to now by [`advance_idle`] (the one catch-up shell), so a read of
/// an account with nothing due costs the snapshot read alone.
///
/// # Errors
/// `not-found` for an unknown account; the store's problem (503 when unavailable) when the
/// catch-up cannot be written; the ledger's refusal.
pub async fn load_for_history(state: &AppState, account_id: &str) -> Result<Cached, Problem> {
    let cached = load_account(state, account_id).await?;
    let now = state.clock.now();
    if cached.account.advanced_to >= now {
        return Ok(cached);
    }
    let book = state.book_at(&cached.account.plan.book, now).ok_or_else(|| {
        tracing::error!(book = %cached.account.plan.book, "the account's rate book is not loaded");
        Problem::internal()
    })?;
    let decision = credits_ledger::decide(
        Some(&cached.account),
        &Command::Advance {
            id: "read:probe".to_owned(),
        },
        &Facts::default(),
        &state.versions_of(book),
        now,
    )
    .map_err(|error| ledger_problem(&error, book))?;
    if decision.entries.is_empty()
        && decision.closed_statements.is_empty()
        && decision.events.is_empty()
    {
        return Ok(cached);
    }
    let trigger = format!(
        "read:{}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    match advance_idle_to(state, account_id, &trigger).await? {
        (_, Some(current)) if current.version >= cached.version => Ok(current),
        // The slot held an older snapshot already up to now: another instance wrote since.
        (_, Some(_)) => load_account(state, account_id).await,
        (_, None) => Err(account_not_found(account_id)),
    }
}

fn build_commit(
    account_id: &str,
    version: u64,
    decision: &Decision,
    facts: Vec<FactRecord>,
    operation: Option<OperationRecord>,
) -> Result<Commit, Problem> {
    let state_value = snapshot_value(&decision.account)?;
    let entries = entry_records(account_id, decision);
    Ok(Commit {
        events: crate::events::event_records(account_id, decision),
        expected_version: version,
        account: AccountRecord {
            account: account_id.to_owned(),
            version: version + 1,
            due_at: decision.due_at,
            state: state_value,
        },
        entries,
        facts,
        operation,
    })
}

/// The account snapshot as the store keeps it.
pub(crate) fn snapshot_value(account: &Account) -> Result<Value, Problem> {
    serde_json::to_value(account).map_err(|error| {
        tracing::error!(%error, "account snapshot does not serialise");
        Problem::internal()
    })
}

/// The entries of `decision` as the store keeps them.
pub(crate) fn entry_records(account_id: &str, decision: &Decision) -> Vec<EntryRecord> {
    decision
        .entries
        .iter()
        .map(|entry| EntryRecord {
            account: account_id.to_owned(),
            id: entry.id.clone(),
            seq: entry.seq,
            at: entry.at,
            entry_type: entry.entry_type.as_str().to_owned(),
            operation: entry.operation.clone(),
            unit: entry.unit.clone(),
            amount_minor: entry.amount_minor,
            feature: entry.feature.clone(),
            model: entry.model.clone(),
            project: entry.project.clone(),
            member: entry.member.clone(),
            content: entry.content.clone(),
            body: entry.body.clone(),
        })
        .collect()
}

/// Build the ledger command and read its facts, with the book in force at `now`.
pub(crate) async fn prepare<'b>(
    state: &'b AppState,
    account_id: &str,
    operation: &Operation,
    operation_id: &str,
    account: Option<&Account>,
    now: DateTime<Utc>,
) -> Result<(Command, Facts, &'b RateBook), Problem> {
    if let Operation::Configure(body) = operation {
        let (book_name, plan_name) = validate::plan_reference(&body.plan)?;
        let book = state.book_at(book_name, now).ok_or_else(|| {
            Problem::invalid(format!(
                "no rate book is called `{book_name}`; the books are: {}",
                state.book_names()
            ))
            .with("field", "plan")
        })?;
        if book.plan(plan_name).is_none() {
            let plans: Vec<String> = book.plans.iter().map(|p| format!("`{}`", p.name)).collect();
            return Err(Problem::invalid(format!(
                "`{book_name}` has no plan `{plan_name}`; its plans are: {}",
                plans.join(", ")
            ))
            .with("field", "plan"));
        }
        let zone = body
            .time_zone
            .as_deref()
            .or_else(|| account.and_then(|account| account.time_zone.as_deref()))
            .unwrap_or(&book.time_zone);
        let command = Command::Configure(configure(body, account_id, operation_id, book, zone)?);
        return Ok((command, Facts::default(), book));
    }

    let Some(account) = account else {
        return Err(account_not_found(account_id));
    };
    let book = state.book_at(&account.plan.book, now).ok_or_else(|| {
        tracing::error!(book = %account.plan.book, "the account's rate book is not loaded");
        Problem::internal()
    })?;
    if let Operation::Capture { hold, .. } | Operation::Release { hold, .. } = operation
        && let Some(problem) = crate::holds::not_open(state, account, hold, now).await?
    {
        return Err(problem);
    }
    let mut facts = Facts::default();
    let command = match operation {
        Operation::Configure(_) => return Err(Problem::internal()),
        Operation::Charge(body) => {
            let usage = usage(book, &body.feature, body.channel.as_deref(), &body.inputs)?;
            facts.prior_analysis = facts::prior_analysis(
                state,
                account_id,
                book,
                &usage.feature,
                body.content.as_deref(),
            )
            .await?;
            Command::Charge(Spend {
                id: body.id.clone(),
                usage,
                attribution: Attribution {
                    project: body.project.clone(),
                    member: body.member.clone(),
                    content: body.content.clone(),
                },
                occurred_at: body.occurred_at,
                collect: match body.collect {
                    Some(crate::model::CollectMode::Available) => {
                        credits_ledger::Collect::Available
                    }
                    Some(crate::model::CollectMode::All) | None => credits_ledger::Collect::All,
                },
                outcome: crate::outcome_field::parse(body.outcome.as_deref())?,
            })
        }
        Operation::Hold(body) => {
            let usage = usage(book, &body.feature, body.channel.as_deref(), &body.inputs)?;
            facts.prior_analysis = facts::prior_analysis(
                state,
                account_id,
                book,
                &usage.feature,
                body.content.as_deref(),
            )
            .await?;
            Command::Hold(credits_ledger::HoldRequest {
                id: body.id.clone(),
                usage,
                ttl_seconds: body.ttl_seconds.unwrap_or(DEFAULT_HOLD_TTL_SECONDS),
                attribution: Attribution {
                    project: body.project.clone(),
                    member: body.member.clone(),
                    content: body.content.clone(),
                },
            })
        }
        Operation::Capture { hold, body } => {
            let usage = match &body.inputs {
                None => None,
                Some(inputs) => {
                    let open = account
                        .holds
                        .iter()
                        .find(|open| open.id == *hold)
                        .ok_or_else(|| {
                            Problem::not_found(format!("hold `{}` not found", display_id(hold)))
                        })?;
                    Some(usage(
                        book,
                        &open.usage.feature,
                        open.usage.channel.as_deref(),
                        inputs,
                    )?)
                }
            };
            Command::Capture(Capture {
                id: operation_id.to_owned(),
                hold: hold.clone(),
                usage,
                outcome: crate::outcome_field::parse(body.outcome.as_deref())?,
            })
        }
        Operation::Release { hold, .. } => Command::Release(Release {
            id: operation_id.to_owned(),
            hold: hold.clone(),
        }),
        Operation::TopUp(body) => {
            let amount = match (&body.amount, &body.package) {
                (Some(raw), _) => {
                    let amount = validate::positive_amount("amount", raw)?;
                    let unit = money::resolve_unit(book, "unit", body.unit.as_deref())?;
                    let amount_minor = money::to_minor(book, "amount", &unit, amount)?;
                    TopUpAmount::Amount {
                        unit: Some(unit),
                        amount_minor,
                    }
                }
                (None, Some(package)) => {
                    let packages = book
                        .plan(&account.plan.plan)
                        .map(|plan| plan.packages.as_slice())
                        .unwrap_or_default();
                    if !packages.iter().any(|known| known.name == *package) {
                        let known: Vec<String> = packages
                            .iter()
                            .map(|known| format!("`{}`", known.name))
                            .collect();
                        let known = if known.is_empty() {
                            "it sells none".to_owned()
                        } else {
                            format!("its packages are: {}", known.join(", "))
                        };
                        return Err(Problem::invalid(format!(
                            "`{}` is not a package of plan `{}`; {known}",
                            display_id(package),
                            account.plan
                        ))
                        .with("field", "package"));
                    }
                    TopUpAmount::Package {
                        name: package.clone(),
                    }
                }
                (None, None) => return Err(Problem::invalid("give an `amount` or a `package`")),
            };
            if let Some(plan) = book.plan(&account.plan.plan) {
                crate::topup_rules::check(book, plan, &amount)?;
            }
            if let Some(kind) = &body.kind {
                ordered_kind(book, account, kind)?;
            }
            Command::TopUp(TopUp {
                id: body.id.clone(),
                amount,
                kind: body.kind.clone(),
                expires_at: body.expires_at,
            })
        }
        Operation::Refund(body) => {
            let charge = facts::charge(state, account_id, &body.charge).await?;
            let amount = match &body.amount {
                None => None,
                Some(raw) => {
                    let amount = validate::positive_amount("amount", raw)?;
                    let unit = match (&body.unit, &charge) {
                        (Some(unit), _) => money::resolve_unit(book, "unit", Some(unit))?,
                        (None, Some(charge)) if charge.charged_minor.len() == 1 => charge
                            .charged_minor
                            .keys()
                            .next()
                            .cloned()
                            .unwrap_or_default(),
                        (None, _) => money::resolve_unit(book, "unit", None)?,
                    };
                    let amount_minor = money::to_minor(book, "amount", &unit, amount)?;
                    Some(RefundAmount {
                        unit: Some(unit),
                        amount_minor,
                    })
                }
            };
            facts.charge = charge;
            Command::Refund(Refund {
                id: body.id.clone(),
                charge: body.charge.clone(),
                reason: body.reason.clone(),
                amount,
            })
        }
        Operation::Adjust(body) => {
            let amount = validate::positive_amount("amount", &body.amount)?;
            let named_unit = body.bucket.as_ref().and_then(|bucket| {
                account
                    .buckets
                    .iter()
                    .find(|live| live.id == *bucket)
                    .map(|live| live.unit.clone())
            });
            let unit = match (&body.unit, named_unit) {
                (None, Some(unit)) => unit,
                (unit, _) => money::resolve_unit(book, "unit", unit.as_deref())?,
            };
            let amount_minor = money::to_minor(book, "amount", &unit, amount)?;
            if let Some(kind) = &body.kind {
                ordered_kind(book, account, kind)?;
            }
            Command::Adjust(credits_ledger::Adjustment {
                id: body.id.clone(),
                direction: direction(&body.direction)?,
                unit: Some(unit),
                amount_minor,
                reason: adjustment_reason(&body.reason)?,
                memo: body.memo.clone(),
                kind: body.kind.clone(),
                expires_at: body.expires_at,
                bucket: body.bucket.clone(),
            })
        }
        Operation::Void(body) => {
            // A top-up's bucket: the purchase's record learns what the void removed.
            let purchase = account
                .buckets
                .iter()
                .find(|live| live.id == body.bucket)
                .and_then(|live| live.purchase());
            if let Some(purchase) = purchase {
                facts.purchase = facts::purchase(state, account_id, purchase).await?;
            }
            Command::Void(credits_ledger::Void {
                id: body.id.clone(),
                bucket: body.bucket.clone(),
                memo: body.memo.clone(),
            })
        }
        Operation::Chargeback(body) => {
            facts.purchase = facts::purchase(state, account_id, &body.purchase).await?;
            Command::Chargeback(credits_ledger::Chargeback {
                id: body.id.clone(),
                purchase: body.purchase.clone(),
                memo: body.memo.clone(),
            })
        }
        Operation::Close(body) => Command::Close {
            id: body.id.clone(),
        },
    };
    Ok((command, facts, book))
}

/// A top-up's `kind` must be one the plan's consumption `order` lists: any other would be
/// drawn after every listed kind, so a typo would silently change the consumption order.
/// (The ledger accepts any kind: a plan change can leave buckets of kinds the new plan does
/// not list, and those are drawn last.)
fn ordered_kind(book: &RateBook, account: &Account, kind: &str) -> Result<(), Problem> {
    let order = book
        .plan(&account.plan.plan)
        .map(|plan| plan.order.as_slice())
        .unwrap_or_default();
    if order.iter().any(|listed| listed == kind) {
        return Ok(());
    }
    let listed: Vec<String> = order.iter().map(|listed| format!("`{listed}`")).collect();
    Err(Problem::invalid(format!(
        "`kind` `{}` is not in the consumption order of plan `{}`; its kinds are: {}",
        display_id(kind),
        account.plan,
        listed.join(", ")
    ))
    .with("field", "kind"))
}

/// An adjustment's `direction`.
fn direction(text: &str) -> Result<credits_ledger::Direction, Problem> {
    match text {
        "credit" => Ok(credits_ledger::Direction::Credit),
        "debit" => Ok(credits_ledger::Direction::Debit),
        _ => Err(Problem::invalid(format!(
            "`direction` `{}` must be `credit` or `debit`",
            display_id(text)
        ))
        .with("field", "direction")),
    }
}

/// An adjustment's `reason`: one of a fixed set (`docs/adjustments.md`).
fn adjustment_reason(text: &str) -> Result<credits_ledger::AdjustmentReason, Problem> {
    credits_ledger::AdjustmentReason::ALL
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, reason)| *reason)
        .ok_or_else(|| {
            let names: Vec<String> = credits_ledger::AdjustmentReason::ALL
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            Problem::invalid(format!(
                "`reason` `{}` must be one of {}",
                display_id(text),
                names.join(", ")
            ))
            .with("field", "reason")
        })
}

fn configure(
    body: &AccountRequest,
    account_id: &str,
    operation_id: &str,
    book: &RateBook,
    zone: &str,
) -> Result<Configure, Problem> {
    let plan = credits_ledger::PlanRef::parse(&body.plan)
        .map_err(|error| Problem::invalid(error.to_string()).with("field", "plan"))?;
    let subscription = body
        .subscription
        .as_ref()
        .map(|subscription| -> Result<SubscriptionRequest, Problem> {
            Ok(SubscriptionRequest {
                status: enum_value(
                    "subscription.status",
                    &subscription.status,
                    "`active`, `cancelled` or `ended`",
                )?,
                period: enum_value(
                    "subscription.period",
                    &subscription.period,
                    "`monthly`, `quarterly` or `yearly`",
                )?,
                anchor: anchor_instant(subscription.anchor, zone)?,
                ends_at: subscription.ends_at,
            })
        })
        .transpose()?;
    let credit_line_minor = body
        .credit_line
        .as_ref()
        .map(|raw| credit_line(book, raw))
        .transpose()?;
    let status = body
        .status
        .as_deref()
        .map(|status| enum_value("status", status, "`active` or `suspended`"))
        .transpose()?;
    Ok(Configure {
        id: operation_id.to_owned(),
        account: account_id.to_owned(),
        plan,
        subscription,
        time_zone: body.time_zone.clone(),
        credit_line_minor,
        status,
    })
}

/// A subscription anchor as an instant: a date is the first instant of that day in `zone`
/// (the account's time zone), by the workspace's one local-time rule.
fn anchor_instant(anchor: crate::model::Anchor, zone: &str) -> Result<DateTime<Utc>, Problem> {
    match anchor {
        crate::model::Anchor::At(at) => Ok(at),
        crate::model::Anchor::Day(day) => {
            let tz = credits_ledger::calendar::parse_zone(zone)
                .map_err(|error| Problem::invalid(error.to_string()).with("field", "time_zone"))?;
            credits_dsl::localtime::local_start_of_day(day, tz).ok_or_else(|| {
                Problem::invalid(format!("`{day}` has no midnight in `{}`", display_id(zone)))
                    .with("field", "subscription.anchor")
            })
        }
    }
}

/// A snake_case enum value of the ledger from its name.
fn enum_value<T: serde::de::DeserializeOwned>(
    field: &str,
    value: &str,
    allowed: &str,
) -> Result<T, Problem> {
    serde_json::from_value(Value::String(value.to_owned())).map_err(|_| {
        Problem::invalid(format!(
            "`{field}` `{}` must be {allowed}",
            display_id(value)
        ))
        .with("field", field)
    })
}

fn credit_line(
    book: &RateBook,
    raw: &serde_json::value::RawValue,
) -> Result<std::collections::BTreeMap<String, i64>, Problem> {
    let mut lines = std::collections::BTreeMap::new();
    if raw.get().trim_start().starts_with('{') {
        let map: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(raw.get()).map_err(|_| {
                Problem::invalid(
                    "`credit_line` must be a decimal string or an object of them by unit",
                )
                .with("field", "credit_line")
            })?;
        for (unit, amount) in map {
            let unit = money::resolve_unit(book, "credit_line", Some(&unit))?;
            let amount = validate::non_negative_amount("credit_line", &amount)?;
            lines.insert(
                unit.clone(),
                money::to_minor(book, "credit_line", &unit, amount)?,
            );
        }
    } else {
        let unit = money::resolve_unit(book, "credit_line", None)?;
        let amount = validate::non_negative_amount("credit_line", raw)?;
        lines.insert(
            unit.clone(),
            money::to_minor(book, "credit_line", &unit, amount)?,
        );
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn json_numbers_keep_their_text() {
        for text in [
            "1e400",
            "12345678901234567890123456789012345678901",
            "-1",
            "0.1",
            "210",
        ] {
            assert_eq!(
                usage_raw(&raw(text)),
                Some(UsageRaw::Number(text.to_owned()))
            );
        }
        assert_eq!(
            usage_raw(&raw("\"NaN\"")),
            Some(UsageRaw::Text("NaN".to_owned()))
        );
        assert_eq!(
            usage_raw(&raw("\"3m\\u0033\"")),
            Some(UsageRaw::Text("3m3".to_owned()))
        );
        assert_eq!(usage_raw(&raw("true")), Some(UsageRaw::Bool(true)));
        assert_eq!(usage_raw(&raw("null")), None);
        assert_eq!(usage_raw(&raw("[1]")), None);
        assert_eq!(usage_raw(&raw("{}")), None);
    }

    #[test]
    fn request_hashes_ignore_key_order_and_whitespace_but_not_values() {
        let charge = |text: &str| Operation::Charge(serde_json::from_str(text).unwrap());
        let a = request_hash(
            "acme",
            &charge(r#"{"id":"c","feature":"f","inputs":{"a":1,"b":"2"}}"#),
        );
        let b = request_hash(
            "acme",
            &charge(r#"{ "inputs": {"b": "2", "a": 1}, "feature": "f", "id": "c" }"#),
        );
        let c = request_hash(
            "acme",
            &charge(r#"{"id":"c","feature":"f","inputs":{"a":1,"b":2}}"#),
        );
        let d = request_hash(
            "other",
            &charge(r#"{"id":"c","feature":"f","inputs":{"a":1,"b":"2"}}"#),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    /// Regression: `1` then `1.0` under one id answered 409 idempotency-conflict.
    #[test]
    fn idempotency_hash_keeps_numbers_text() {
        let hash = |images: &str| {
            let body = format!(r#"{{"id":"c","feature":"f","inputs":{{"images":{images}}}}}"#);
            request_hash(
                "acme",
                &Operation::Charge(serde_json::from_str(&body).unwrap()),
            )
        };
        let one = hash("1");
        for same in ["1.0", "1.00", "10e-1", "1E0", "1e+0", "0.1e1", "100E-2"] {
            assert_eq!(hash(same), one, "{same}");
        }
        assert_eq!(hash("-0"), hash("0"));
        assert_eq!(hash("-0.0e5"), hash("0"));
        assert_eq!(hash("2.50"), hash("25e-1"));
        for other in ["2", "1.01", "-1", "1e1", "\"1\""] {
            assert_ne!(hash(other), one, "{other}");
        }
        // Not held exactly by a decimal: the text is kept, never rounded into another value.
        assert_ne!(hash("1e400"), hash("1e401"));
        let long = "1234567890123456789012345678901234567890";
        assert_ne!(hash(long), hash(&format!("{long}1")));
        assert_ne!(hash("1.00000000000000000000000000001"), one);
    }

    #[test]
    fn exact_numbers_read_exponents_without_rounding() {
        let value = |text: &str| exact_number(text).map(|value| value.to_string());
        assert_eq!(value("10e-1").as_deref(), Some("1"));
        assert_eq!(value("1.5E3").as_deref(), Some("1500"));
        assert_eq!(value("-2.50").as_deref(), Some("-2.5"));
        assert_eq!(value("-0").as_deref(), Some("0"));
        assert_eq!(
            value("1e-28").as_deref(),
            Some("0.0000000000000000000000000001")
        );
        assert_eq!(value("1e-29"), None);
        assert_eq!(value("1e400"), None);
        assert_eq!(value("1e99999999999999999999"), None);
        assert_eq!(value("12345678901234567890123456789012345678901"), None);
        assert_eq!(value("1.00000000000000000000000000001"), None);
    }
}
