//! Cycle statements: opening, grants, top-ups, usage by feature, refunds, expiry, closing,
//! kept by the ledger as it commits (`docs/statements.md`): the open cycle's statement is in
//! the account snapshot, every ended cycle's is a fact record written once when the cycle
//! closed. A statement costs the snapshot and at most two keyed reads, whatever the
//! account's age, and an ended cycle's statement never changes.
//!
//! `{cycle}` names a billing cycle in the account's time zone:
//! - `YYYY-MM`: the cycle that starts in that month (every month has exactly one start,
//!   also for cycles anchored on the 29th-31st);
//! - `YYYY-MM-DD`: the cycle in force at the end of that day, so a cycle's start date names
//!   that cycle and any other day names the cycle containing it.
//!
//! Plans without a cycle use calendar months.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use credits_dsl::RateBook;
use credits_ledger::calendar::{Tz, local_start_of_day, parse_zone};
use credits_ledger::{
    Account, ClosedStatement, CyclePeriod, STATEMENT_FACT_PREFIX, Statement, statement_fact_key,
    statement_of,
};
use credits_store::FactRecord;

use crate::AppState;
use crate::money::format_minor;
use crate::problem::Problem;
use crate::service;
use crate::validate::display_id;

/// One unit's movements over a cycle; every amount a decimal string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitStatement {
    /// Balance (available plus held) at the start.
    pub opening: String,
    pub grants: String,
    pub top_ups: String,
    /// Charged and captured, by feature (positive amounts).
    pub usage_by_feature: BTreeMap<String, String>,
    /// Charged and captured in all (positive).
    pub usage: String,
    pub refunds: String,
    /// Expired unspent (positive).
    pub expired: String,
    /// Forfeited (positive).
    pub forfeited: String,
    /// Adjustments: credits minus debits (signed).
    pub adjustments: String,
    /// Removed by voids and chargebacks (positive).
    pub voided: String,
    /// opening + grants + top-ups − usage + refunds − expired − forfeited + adjustments −
    /// voided.
    pub closing: String,
    /// Of `usage`, what jobs that ended `failed`, `moderated` or `cancelled` were charged,
    /// by outcome (absent when none did).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_by_outcome: BTreeMap<String, String>,
    /// What top-ups by a priced package were sold for, by currency, as decimal strings with
    /// the currency's minor digits (absent when none was).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub top_ups_paid: BTreeMap<String, String>,
}

/// `GET /v1/accounts/{account}/statements/{cycle}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementResponse {
    pub account: String,
    /// `YYYY-MM` of the cycle's first day, in the account's time zone.
    pub cycle: String,
    pub starts_at: DateTime<Utc>,
    /// Exclusive.
    pub ends_at: DateTime<Utc>,
    /// The cycle has ended: the statement will not change.
    pub closed: bool,
    /// By unit.
    pub units: BTreeMap<String, UnitStatement>,
}

fn bad_cycle(cycle: &str) -> Problem {
    Problem::invalid(format!(
        "cycle `{}` must read `YYYY-MM` (the cycle starting that month) or `YYYY-MM-DD` (the cycle in force that day)",
        display_id(cycle)
    ))
    .with("field", "cycle")
}

/// The instant whose containing cycle `cycle` names, in `zone`.
fn probe_instant(cycle: &str, zone: Tz) -> Result<DateTime<Utc>, Problem> {
    let day = match cycle.len() {
        7 => NaiveDate::parse_from_str(&format!("{cycle}-01"), "%Y-%m-%d")
            .ok()
            // The month's last day: the cycle starting in the month holds its end.
            .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
            .and_then(|next| next.pred_opt()),
        10 => NaiveDate::parse_from_str(cycle, "%Y-%m-%d").ok(),
        _ => None,
    }
    .ok_or_else(|| bad_cycle(cycle))?;
    if !(1970..=9998).contains(&day.year()) {
        return Err(bad_cycle(cycle));
    }
    // The end of that day in the zone: the start of the next day, less a microsecond. The
    // next day may have no midnight (DST starting at midnight): it starts when the clock
    // resumes, as everywhere else.
    let next = day.succ_opt().ok_or_else(|| bad_cycle(cycle))?;
    let start_of_next = local_start_of_day(next, zone).map_err(|_| bad_cycle(cycle))?;
    Ok(start_of_next - Duration::microseconds(1))
}

fn period_for(
    account: &Account,
    book: &RateBook,
    cycle: &str,
) -> Result<(CyclePeriod, String), Problem> {
    let zone_name = account.time_zone.as_deref().unwrap_or(&book.time_zone);
    let zone = parse_zone(zone_name).map_err(|error| service::ledger_problem(&error, book))?;
    let at = probe_instant(cycle, zone)?;
    let period = credits_ledger::cycle_containing(account, book, at)
        .map_err(|error| service::ledger_problem(&error, book))?;
    let label = period
        .start
        .with_timezone(&zone)
        .format("%Y-%m")
        .to_string();
    Ok((period, label))
}

/// The statement of one cycle.
///
/// # Errors
/// `invalid-input` for a malformed cycle, `not-found` for an unknown account.
pub async fn statement(
    state: &AppState,
    account_id: &str,
    cycle: &str,
) -> Result<StatementResponse, Problem> {
    // An ended cycle's statement is final once what is due is committed (`docs/reads.md`).
    let cached = service::load_for_history(state, account_id).await?;
    let account = &cached.account;
    let now = state.clock.now().max(account.advanced_to);
    let book = state.book_at(&account.plan.book, now).ok_or_else(|| {
        tracing::error!(book = %account.plan.book, "the account's rate book is not loaded");
        Problem::internal()
    })?;
    let (period, label) = period_for(account, book, cycle)?;
    let statement = kept_statement(state, account_id, account, period).await?;
    let units = statement
        .units
        .iter()
        .map(|(unit, line)| {
            let amount = |minor: i64| format_minor(book, unit, minor);
            (
                unit.clone(),
                UnitStatement {
                    opening: amount(line.opening_minor),
                    grants: amount(line.grants_minor),
                    top_ups: amount(line.top_ups_minor),
                    usage_by_feature: line
                        .usage_by_feature_minor
                        .iter()
                        .map(|(feature, minor)| (feature.clone(), amount(*minor)))
                        .collect(),
                    usage: amount(line.usage_minor),
                    refunds: amount(line.refunds_minor),
                    expired: amount(line.expired_minor),
                    forfeited: amount(line.forfeited_minor),
                    adjustments: amount(line.adjustments_minor),
                    voided: amount(line.voided_minor),
                    closing: amount(line.closing_minor),
                    usage_by_outcome: line
                        .usage_by_outcome_minor
                        .iter()
                        .map(|(outcome, minor)| (outcome.clone(), amount(*minor)))
                        .collect(),
                    top_ups_paid: line
                        .top_ups_paid_minor
                        .iter()
                        .map(|(currency, minor)| {
                            let money = credits_dsl::Money {
                                currency: currency.clone(),
                                amount_minor: *minor,
                            };
                            (currency.clone(), crate::respond::money_view(&money).amount)
                        })
                        .collect(),
                },
            )
        })
        .collect();
    Ok(StatementResponse {
        account: account_id.to_owned(),
        cycle: label,
        starts_at: statement.period.start,
        ends_at: statement.period.end,
        closed: statement.period.end <= now,
        units,
    })
}

/// The statement of `period` from the snapshot's open statement and, for a cycle before
/// it, the cycle's closed record or else the latest one before the cycle's end: at most
/// two keyed reads.
async fn kept_statement(
    state: &AppState,
    account_id: &str,
    account: &Account,
    period: CyclePeriod,
) -> Result<Statement, Problem> {
    let open = account.statement.as_ref();
    // The open statement answers the cycles it overlaps and every later one.
    if open.is_some_and(|open| open.starts_at < period.end) {
        return Ok(statement_of(period, open, None, None));
    }
    let key = statement_fact_key(period.start);
    let found = state
        .store
        .facts(account_id, std::slice::from_ref(&key))
        .await
        .map_err(|error| service::store_problem(&error))?;
    let record = found
        .into_iter()
        .find(|fact| fact.key == key)
        .map(closed_statement)
        .transpose()?;
    if record.is_some() {
        return Ok(statement_of(period, open, record.as_ref(), None));
    }
    let before = state
        .store
        .last_fact_before(
            account_id,
            STATEMENT_FACT_PREFIX,
            &statement_fact_key(period.end),
        )
        .await
        .map_err(|error| service::store_problem(&error))?
        .map(closed_statement)
        .transpose()?;
    Ok(statement_of(period, open, None, before.as_ref()))
}

fn closed_statement(fact: FactRecord) -> Result<ClosedStatement, Problem> {
    serde_json::from_value(fact.value).map_err(|error| {
        tracing::error!(%error, key = %fact.key, "a statement fact does not read back");
        Problem::internal()
    })
}
