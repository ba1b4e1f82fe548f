//! Response bodies built from ledger decisions and views. Every amount is rendered from
//! minor units at its unit's scale.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use credits_dsl::RateBook;
use credits_ledger::{Account, Alert, Amount, Balance, Decision, Draw};
use credits_store::EntryRecord;

use crate::model::{
    AccountResponse, AdjustmentResponse, AlertBody, BalanceResponse, BucketBody, CaptureResponse,
    ChargeResponse, ChargebackResponse, CloseResponse, DrawView, EntryBody, HoldResponse,
    RefundResponse, ReleaseResponse, SubscriptionBody, TopUpResponse, UnitBalanceBody,
    VoidResponse,
};
use crate::money::format_minor;
use crate::service::{Answer, Operation};

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Per unit amounts as decimal strings.
pub fn amounts(book: &RateBook, amounts: &[Amount]) -> BTreeMap<String, String> {
    amounts
        .iter()
        .map(|amount| {
            (
                amount.unit.clone(),
                format_minor(book, &amount.unit, amount.amount_minor),
            )
        })
        .collect()
}

pub fn draws(book: &RateBook, draws: &[Draw]) -> Vec<DrawView> {
    draws
        .iter()
        .map(|draw| DrawView {
            bucket: draw.bucket.clone(),
            kind: draw.kind.clone(),
            unit: draw.unit.clone(),
            amount: format_minor(book, &draw.unit, draw.amount_minor),
            expires_at: draw.expires_at,
        })
        .collect()
}

/// Available per unit.
pub fn available(book: &RateBook, balance: &Balance) -> BTreeMap<String, String> {
    balance
        .units
        .iter()
        .map(|(unit, unit_balance)| {
            (
                unit.clone(),
                format_minor(book, unit, unit_balance.available_minor),
            )
        })
        .collect()
}

fn alerts(book: &RateBook, alerts: &[Alert]) -> Vec<AlertBody> {
    alerts
        .iter()
        .map(|alert| AlertBody {
            unit: alert.unit.clone(),
            threshold: format_minor(book, &alert.unit, alert.threshold_minor),
            available: format_minor(book, &alert.unit, alert.available_minor),
        })
        .collect()
}

/// The full balance of an account.
pub fn balance(
    book: &RateBook,
    account: &str,
    at: DateTime<Utc>,
    balance: &Balance,
) -> BalanceResponse {
    let units = balance
        .units
        .iter()
        .map(|(unit, unit_balance)| {
            let buckets = unit_balance
                .buckets
                .iter()
                .map(|bucket| BucketBody {
                    id: bucket.id.clone(),
                    kind: bucket.kind.clone(),
                    left: format_minor(book, unit, bucket.left_minor),
                    held: format_minor(book, unit, bucket.held_minor),
                    granted: format_minor(book, unit, bucket.granted_minor),
                    expires_at: bucket.expires_at,
                    purchase: bucket.purchase.clone(),
                })
                .collect();
            (
                unit.clone(),
                UnitBalanceBody {
                    available: format_minor(book, unit, unit_balance.available_minor),
                    held: format_minor(book, unit, unit_balance.held_minor),
                    credit_line_left: format_minor(book, unit, unit_balance.credit_line_left_minor),
                    buckets,
                    balance_max: unit_balance
                        .balance_max_minor
                        .map(|minor| format_minor(book, unit, minor)),
                    spend_limits: unit_balance
                        .spend_limits
                        .iter()
                        .map(|limit| crate::model::SpendLimitBody {
                            period: enum_name(&limit.period),
                            limit: format_minor(book, unit, limit.limit_minor),
                            spent: format_minor(book, unit, limit.spent_minor),
                            left: format_minor(
                                book,
                                unit,
                                limit.limit_minor.saturating_sub(limit.spent_minor).max(0),
                            ),
                            resets_at: limit.resets_at,
                        })
                        .collect(),
                },
            )
        })
        .collect();
    BalanceResponse {
        account: account.to_owned(),
        at: balance.at.unwrap_or(at),
        units,
    }
}

pub fn account(book: &RateBook, account: &Account, balance: &Balance) -> AccountResponse {
    AccountResponse {
        account: account.id.clone(),
        plan: account.plan.to_string(),
        status: enum_name(&account.status),
        subscription: account
            .subscription
            .as_ref()
            .map(|subscription| SubscriptionBody {
                status: enum_name(&subscription.status),
                period: enum_name(&subscription.period),
                anchor: crate::model::Anchor::At(subscription.anchor),
                ends_at: subscription.ends_at,
            }),
        time_zone: account.time_zone.clone(),
        credit_line: account.credit_line_minor.as_ref().map(|lines| {
            lines
                .iter()
                .map(|(unit, minor)| (unit.clone(), format_minor(book, unit, *minor)))
                .collect()
        }),
        created_at: account.created_at,
        balance: available(book, balance),
    }
}

/// The serde name of a unit-like enum value (`active`, `monthly`).
fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The answer to a successful mutation.
pub fn answer(
    operation: &Operation,
    operation_id: &str,
    account_id: &str,
    before: Option<&Account>,
    decision: &Decision,
    book: &RateBook,
) -> Answer {
    let created = before.is_none();
    let outcome = &decision.outcome;
    let balance = available(book, &outcome.balance);
    let (status, body) = match operation {
        Operation::Configure(_) => (
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            to_json(&account(book, &decision.account, &outcome.balance)),
        ),
        Operation::Charge(body) => (
            StatusCode::CREATED,
            to_json(&ChargeResponse {
                id: operation_id.to_owned(),
                feature: body.feature.clone(),
                charged: amounts(book, &outcome.amounts),
                paid_from: draws(book, &outcome.paid_from),
                balance,
                rates_version: outcome.rates_version.clone().unwrap_or_default(),
                free: outcome.free,
                lines: outcome.lines.clone(),
                alerts: alerts(book, &outcome.alerts),
                occurred_at: outcome.occurred_at,
                shortfall: (body.collect == Some(crate::model::CollectMode::Available))
                    .then(|| amounts(book, &outcome.shortfall)),
                outcome: crate::outcome_field::shown(body.outcome.as_deref()),
            }),
        ),
        Operation::Hold(body) => (
            StatusCode::CREATED,
            to_json(&HoldResponse {
                id: operation_id.to_owned(),
                feature: body.feature.clone(),
                held: amounts(book, &outcome.amounts),
                expires_at: decision
                    .account
                    .holds
                    .iter()
                    .find(|hold| hold.id == operation_id)
                    .map(|hold| hold.expires_at),
                paid_from: draws(book, &outcome.paid_from),
                balance,
                rates_version: outcome.rates_version.clone().unwrap_or_default(),
                lines: outcome.lines.clone(),
            }),
        ),
        Operation::Capture { hold, body } => (
            StatusCode::OK,
            to_json(&CaptureResponse {
                id: operation_id.to_owned(),
                hold: hold.clone(),
                charged: before
                    .and_then(|account| account.holds.iter().find(|open| open.id == *hold))
                    .map_or_else(
                        || amounts(book, &outcome.amounts),
                        |open| crate::holds::captured(book, open, &outcome.amounts),
                    ),
                uncaptured: amounts(book, &outcome.uncaptured),
                paid_from: draws(book, &outcome.paid_from),
                balance,
                rates_version: outcome.rates_version.clone(),
                lines: outcome.lines.clone(),
                alerts: alerts(book, &outcome.alerts),
                outcome: crate::outcome_field::shown(body.outcome.as_deref()),
            }),
        ),
        Operation::Release { hold, .. } => (
            StatusCode::OK,
            to_json(&ReleaseResponse {
                id: operation_id.to_owned(),
                hold: hold.clone(),
                released: amounts(book, &outcome.amounts),
                balance,
            }),
        ),
        Operation::TopUp(body) => (
            StatusCode::CREATED,
            to_json(&TopUpResponse {
                id: operation_id.to_owned(),
                credited: amounts(book, &outcome.amounts),
                buckets: draws(book, &outcome.paid_from),
                balance,
                package: body.package.clone(),
                price: body.package.as_deref().and_then(|name| {
                    book.plan(&decision.account.plan.plan)
                        .and_then(|plan| plan.packages.iter().find(|known| known.name == name))
                        .and_then(|package| package.price.as_ref())
                        .map(money_view)
                }),
            }),
        ),
        Operation::Refund(body) => (
            StatusCode::CREATED,
            to_json(&RefundResponse {
                id: operation_id.to_owned(),
                charge: body.charge.clone(),
                refunded: amounts(book, &outcome.amounts),
                restored_to: draws(book, &outcome.paid_from),
                balance,
            }),
        ),
        Operation::Adjust(body) => (
            StatusCode::CREATED,
            to_json(&AdjustmentResponse {
                id: operation_id.to_owned(),
                direction: body.direction.clone(),
                reason: body.reason.clone(),
                adjusted: amounts(book, &outcome.amounts),
                buckets: draws(book, &outcome.paid_from),
                balance,
            }),
        ),
        Operation::Void(body) => (
            StatusCode::CREATED,
            to_json(&VoidResponse {
                id: operation_id.to_owned(),
                bucket: body.bucket.clone(),
                voided: amounts(book, &outcome.amounts),
                balance,
            }),
        ),
        Operation::Chargeback(body) => (
            StatusCode::CREATED,
            to_json(&ChargebackResponse {
                id: operation_id.to_owned(),
                purchase: body.purchase.clone(),
                removed: amounts(book, &outcome.amounts),
                spent: amounts(book, &outcome.spent),
                buckets: draws(book, &outcome.paid_from),
                balance,
            }),
        ),
        Operation::Close(_) => (
            StatusCode::OK,
            to_json(&CloseResponse {
                id: operation_id.to_owned(),
                account: account_id.to_owned(),
                status: enum_name(&decision.account.status),
                forfeited: amounts(book, &outcome.amounts),
            }),
        ),
    };
    Answer { status, body }
}

/// One stored entry as the API shows it.
pub fn entry(book: &RateBook, entry: EntryRecord) -> EntryBody {
    let amount = entry.unit.as_deref().map_or_else(
        || entry.amount_minor.to_string(),
        |unit| format_minor(book, unit, entry.amount_minor),
    );
    EntryBody {
        id: entry.id,
        seq: entry.seq,
        at: entry.at,
        occurred_at: entry
            .body
            .get("occurred_at")
            .and_then(|value| serde_json::from_value(value.clone()).ok()),
        entry_type: entry.entry_type,
        operation: entry.operation,
        unit: entry.unit,
        amount,
        feature: entry.feature,
        model: entry.model,
        project: entry.project,
        member: entry.member,
        content: entry.content,
        details: entry.body,
    }
}

/// An exact amount of money as the API shows it: `10.00 USD` → `{"currency": "USD",
/// "amount": "10.00"}`.
pub fn money_view(money: &credits_dsl::Money) -> crate::model::MoneyView {
    crate::model::MoneyView {
        currency: money.currency.clone(),
        amount: money.decimal().map_or_else(
            || money.amount_minor.to_string(),
            |amount| amount.to_string(),
        ),
    }
}

/// The packages a plan sells, with their prices.
pub fn packages(book: &RateBook, plan: &credits_dsl::Plan) -> Vec<crate::model::PackageView> {
    plan.packages
        .iter()
        .map(|package| crate::model::PackageView {
            name: package.name.clone(),
            unit: package.unit.clone(),
            amount: crate::money::format_minor(book, &package.unit, package.amount_minor),
            price: package.price.as_ref().map(money_view),
        })
        .collect()
}
