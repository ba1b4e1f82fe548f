//! Cycle statements: opening, grants, top-ups, usage by feature, refunds, expiry, closing,
//! computed by the ledger from the account's entries.
//!
//! `{cycle}` names a billing cycle in the account's time zone:
//! - `YYYY-MM`: the cycle that starts in that month (every month has exactly one start,
//!   also for cycles anchored on the 29th-31st);
//! - `YYYY-MM-DD`: the cycle in force at the end of that day, so a cycle's start date names
//!   that cycle and any other day names the cycle containing it.
//!
//! Plans without a cycle use calendar months.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use credits_dsl::RateBook;
use credits_ledger::calendar::parse_zone;
use credits_ledger::{Account, CyclePeriod, Entry};
use credits_store::{EntryQuery, MAX_PAGE_ENTRIES};

use crate::AppState;
use crate::facts::ledger_entry;
use crate::money::format_minor;
use crate::problem::{Problem, ProblemType};
use crate::service::{self, load_account};
use crate::validate::display_id;

/// Most entries a statement reads (its opening balance sums all history before the cycle).
pub const MAX_STATEMENT_ENTRIES: usize = 200_000;

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
    /// Manual corrections (signed).
    pub adjustments: String,
    /// opening + grants + top-ups − usage + refunds − expired − forfeited + adjustments.
    pub closing: String,
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
    /// The cycle has ended: the statement will not change (unless late entries land).
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
fn probe_instant<Z: TimeZone>(cycle: &str, zone: &Z) -> Result<DateTime<Utc>, Problem> {
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
    // The end of that day in the zone: the start of the next day, less a microsecond.
    let next = day.succ_opt().ok_or_else(|| bad_cycle(cycle))?;
    let midnight = next.and_hms_opt(0, 0, 0).ok_or_else(|| bad_cycle(cycle))?;
    let start_of_next = zone
        .from_local_datetime(&midnight)
        .earliest()
        .ok_or_else(|| bad_cycle(cycle))?
        .with_timezone(&Utc);
    Ok(start_of_next - Duration::microseconds(1))
}

fn period_for(
    account: &Account,
    book: &RateBook,
    cycle: &str,
) -> Result<(CyclePeriod, String), Problem> {
    let zone_name = account.time_zone.as_deref().unwrap_or(&book.time_zone);
    let zone = parse_zone(zone_name).map_err(|error| service::ledger_problem(&error, book))?;
    let at = probe_instant(cycle, &zone)?;
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
    let cached = load_account(state, account_id).await?;
    let account = &cached.account;
    let now = state.clock.now().max(account.advanced_to);
    let book = state.book_at(&account.plan.book, now).ok_or_else(|| {
        tracing::error!(book = %account.plan.book, "the account's rate book is not loaded");
        Problem::internal()
    })?;
    let (period, label) = period_for(account, book, cycle)?;

    let mut query = EntryQuery {
        account: account_id.to_owned(),
        // `to` is exclusive and the cycle's own end belongs to it (expiry at the end of
        // the cycle is dated exactly `period.end`).
        to: period.end.checked_add_signed(Duration::microseconds(1)),
        limit: MAX_PAGE_ENTRIES,
        ..EntryQuery::default()
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut complete = false;
    let pages_max = MAX_STATEMENT_ENTRIES / MAX_PAGE_ENTRIES as usize * 4;
    for _ in 0..pages_max {
        let page = state
            .store
            .entries(&query)
            .await
            .map_err(|error| service::store_problem(&error))?;
        entries.extend(page.entries.into_iter().filter_map(ledger_entry));
        if entries.len() > MAX_STATEMENT_ENTRIES {
            return Err(Problem::invalid(format!(
                "the account has more than {MAX_STATEMENT_ENTRIES} entries before this cycle's end; export them with `format=csv` instead"
            )));
        }
        match page.next {
            Some(after) => query.after = Some(after),
            None => {
                complete = true;
                break;
            }
        }
    }
    if !complete {
        // Never a statement of part of the history: its opening balance would be wrong.
        return Err(Problem::new(
            ProblemType::Unavailable,
            "reading this cycle's history took too many requests; retry",
        )
        .retry_after(1));
    }
    let statement = credits_ledger::statement(&entries, period)
        .map_err(|error| service::ledger_problem(&error, book))?;
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
                    closing: amount(line.closing_minor),
                },
            )
        })
        .collect();
    Ok(StatementResponse {
        account: account_id.to_owned(),
        cycle: label,
        starts_at: period.start,
        ends_at: period.end,
        closed: period.end <= now,
        units,
    })
}
