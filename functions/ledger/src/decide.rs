//! One decision: validate, bring the account up to `now`, apply the command, raise alerts,
//! check the invariants.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use credits_dsl::BookVersions;

use crate::account::Account;
use crate::advance;
use crate::calendar::Cycles;
use crate::command::{Attribution, Command};
use crate::configure;
use crate::due;
use crate::entry::Entry;
use crate::grants::cycles_or_calendar;
use crate::keep::Keeper;
use crate::limits::{
    MAX_CLOCK_SKEW_MS, MAX_DECISION_ENTRIES, MAX_ID_BYTES, MAX_KIND_BYTES, MAX_MEMO_BYTES,
    MAX_SNAPSHOT_BYTES,
};
use crate::outcome::Outcome;
use crate::statement::ClosedStatement;
use crate::work::Work;
use crate::{
    Balance, Decision, Facts, LedgerError, LedgerResult, adjust, alerts, auto_topup, balance,
    buckets, charge, events, expiring, holds, invariants, lifecycle, refund, topup,
};

pub(crate) fn decide(
    account: Option<&Account>,
    command: &Command,
    facts: &Facts,
    versions: &BookVersions<'_>,
    now: DateTime<Utc>,
) -> LedgerResult<Decision> {
    validate(command)?;
    let (start, creating) = match (account, command) {
        (None, Command::Configure(configure)) => (
            configure::new_account(configure, versions.at(now), now)?,
            true,
        ),
        (None, _) => {
            return Err(LedgerError::NotFound {
                what: "account",
                id: String::new(),
            });
        }
        (Some(account), Command::Configure(configure)) if configure.account != account.id => {
            return Err(LedgerError::invalid(format!(
                "command names account `{}` but the snapshot is `{}`",
                configure.account, account.id
            )));
        }
        (Some(account), _) => {
            check_clock(account, now)?;
            (account.clone(), false)
        }
    };
    let before = if creating {
        BTreeMap::new()
    } else {
        invariants::unit_totals(&start)?
    };
    let status_before = (!creating).then_some(start.status);
    let mut work = Work::new(start, *versions, command.id(), now)?;
    if creating {
        work.settled_to = None;
    }
    let cycles_before = cycles_or_calendar(&work);
    let target = work.now;
    let caught_up = advance::advance(&mut work, target, true)?;
    if !caught_up && !matches!(command, Command::Advance { .. }) {
        return Err(LedgerError::CatchUpRequired {
            account: work.account.id.clone(),
            advanced_to: work.account.advanced_to,
            now: target,
        });
    }
    if caught_up {
        // The command itself is decided with the version in force at `now`.
        work.switch_to(target)?;
    }
    let lazy_entries = work.entries.len();
    let book = work.book;
    let mut outcome = match command {
        Command::Configure(request) => configure::configure(&mut work, request, book)?,
        Command::Charge(spend) => charge::charge(&mut work, spend, facts)?,
        Command::Hold(request) => holds::hold(&mut work, request, facts)?,
        Command::Capture(request) => holds::capture(&mut work, request)?,
        Command::Release(request) => holds::release(&mut work, request)?,
        Command::TopUp(request) => topup::top_up(&mut work, request)?,
        Command::Refund(request) => refund::refund(&mut work, request, facts)?,
        Command::Adjust(request) => adjust::adjust(&mut work, request)?,
        Command::Void(request) => adjust::void(&mut work, request)?,
        Command::Chargeback(request) => adjust::chargeback(&mut work, request, facts)?,
        Command::Suspend { .. } => {
            lifecycle::set_status(&mut work, crate::AccountStatus::Suspended)?
        }
        Command::Resume { .. } => lifecycle::set_status(&mut work, crate::AccountStatus::Active)?,
        Command::Close { id } => lifecycle::close(&mut work, id)?,
        Command::Advance { .. } => Outcome::default(),
    };
    outcome.caught_up = caught_up;
    if work.account.status == crate::AccountStatus::Closed {
        buckets::prune_all(&mut work);
    } else {
        buckets::prune(&mut work);
    }
    if work.account.status != crate::AccountStatus::Closed {
        let now = work.now;
        expiring::warn(&mut work, now)?;
    }
    expiring::forget_gone(&mut work);
    alerts::evaluate(&mut work, &mut outcome, creating)?;
    auto_topup::evaluate(&mut work, creating)?;
    let closed_statements = keep_statement(&mut work, &cycles_before, lazy_entries, &before)?;
    let events = events::publish(&mut work, status_before, &closed_statements)?;
    // Closed statements are committed with the entries, one write each, and events too.
    let written = work
        .entries
        .len()
        .saturating_add(closed_statements.len())
        .saturating_add(events.len());
    if written > MAX_DECISION_ENTRIES {
        return Err(if lazy_entries > 0 {
            LedgerError::CatchUpRequired {
                account: work.account.id.clone(),
                advanced_to: account.map_or(target, |account| account.advanced_to),
                now: target,
            }
        } else {
            LedgerError::invariant(format!("a decision wrote {} entries", work.entries.len()))
        });
    }
    invariants::check(&before, &work)?;
    record_balances(&before, &mut work.entries)?;
    check_snapshot_bytes(account, &work.account)?;
    outcome.balance = balance::of(&work)?;
    let due_at = due_after(&work, work.account.advanced_to)?;
    Ok(Decision {
        account: work.account,
        entries: work.entries,
        outcome,
        due_at,
        closed_statements,
        events,
    })
}

/// Stamps every entry with the account's balance per unit once it is written
/// (`balance_minor`: everything owned, held included; the sum of the unit's entries so far),
/// so a balance as of an instant is one keyed read of the last entry before it
/// (`docs/charges.md`), never a fold of history.
fn record_balances(before: &BTreeMap<String, i64>, entries: &mut [Entry]) -> LedgerResult<()> {
    let mut running = before.clone();
    for entry in entries {
        if let Some(unit) = &entry.unit {
            let total = running.entry(unit.clone()).or_default();
            *total = total
                .checked_add(entry.amount_minor)
                .ok_or(LedgerError::Overflow("amount"))?;
        }
        if entry.body.is_null() {
            entry.body = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(fields) = entry.body.as_object_mut() {
            fields.insert(
                BALANCE_FIELD.to_owned(),
                serde_json::to_value(&running)
                    .map_err(|error| LedgerError::invariant(error.to_string()))?,
            );
        }
    }
    Ok(())
}

/// The field of an entry's body that holds the balance after it, per unit in minor units.
pub const BALANCE_FIELD: &str = "balance_minor";

/// When the account is next due for the schedule: the next event under the version now in
/// force, or the start of the next version when that version changes the account's plan or
/// zone (it may give what the current one does not, such as a new daily grant), whichever
/// is first. A version that only changes prices makes no account due.
fn due_after(work: &Work<'_>, after: DateTime<Utc>) -> LedgerResult<Option<DateTime<Utc>>> {
    if work.account.status == crate::AccountStatus::Closed {
        return Ok(None);
    }
    let due = due::due_at(work, after)?;
    let Some(starts_at) = work.versions.next_start_after(after) else {
        return Ok(due);
    };
    if due.is_some_and(|due| due <= starts_at) {
        return Ok(due);
    }
    let later = work.versions.at(starts_at);
    let changes_plan = later
        .plan(&work.account.plan.plan)
        .is_none_or(|plan| plan != work.plan);
    let changes_zone = work.account.time_zone.is_none() && later.time_zone != work.book.time_zone;
    Ok(if changes_plan || changes_zone {
        Some(starts_at)
    } else {
        due
    })
}

/// Folds the decision's entries into the open statement: those of catching up under the
/// calendar the decision started with (and, from each instant where it moved to a later
/// version of the book, under that version's calendar), then, after any change of calendar
/// the command made, the command's own under the new one.
fn keep_statement(
    work: &mut Work<'_>,
    cycles_before: &Cycles,
    lazy_entries: usize,
    before: &BTreeMap<String, i64>,
) -> LedgerResult<Vec<ClosedStatement>> {
    let mut keeper = Keeper::new(work.account.statement.take());
    let cycles_after = cycles_or_calendar(work);
    let (lazy, own) = work.entries.split_at(lazy_entries.min(work.entries.len()));
    let mut cycles = *cycles_before;
    let mut folded = 0_usize;
    for switch in &work.switches {
        let upto = switch.entries.clamp(folded, lazy.len());
        keeper.fold_then_realign(
            lazy.get(folded..upto).unwrap_or_default(),
            &cycles,
            before,
            &switch.cycles,
            switch.at,
        )?;
        cycles = switch.cycles;
        folded = upto;
    }
    keeper.fold_then_realign(
        lazy.get(folded..).unwrap_or_default(),
        &cycles,
        before,
        &cycles_after,
        work.now,
    )?;
    // Still nothing open only when catching up wrote no movement: `before` still holds.
    keeper.fold(own, &cycles_after, before)?;
    work.account.statement = keeper.open;
    Ok(keeper.closed)
}

pub(crate) fn view(
    account: &Account,
    versions: &BookVersions<'_>,
    now: DateTime<Utc>,
) -> LedgerResult<Balance> {
    let mut work = Work::new(account.clone(), *versions, "view", now)?;
    let target = work.now;
    if !advance::advance(&mut work, target, false)? {
        return Err(LedgerError::CatchUpRequired {
            account: account.id.clone(),
            advanced_to: work.account.advanced_to,
            now: target,
        });
    }
    work.switch_to(target)?;
    balance::of(&work)
}

/// A `now` at most [`MAX_CLOCK_SKEW_MS`] behind the account's last decision is decided at
/// that last instant (`Work::new`): clocks of instances differ a little, and the ledger never
/// moves back. Further behind, the caller's clock is wrong (or another's was far ahead and
/// moved the account forward): deciding at the account's instant would apply grants, expiries
/// and rate limits at a time this caller does not believe in, so the decision is refused.
///
/// # Errors
/// `clock-behind`.
fn check_clock(account: &Account, now: DateTime<Utc>) -> LedgerResult<()> {
    let tolerated = now
        .checked_add_signed(TimeDelta::milliseconds(MAX_CLOCK_SKEW_MS))
        .ok_or(LedgerError::Overflow("time"))?;
    if tolerated < account.advanced_to {
        return Err(LedgerError::ClockBehind {
            now,
            advanced_to: account.advanced_to,
        });
    }
    Ok(())
}

/// The backstop behind the limits of every collection: a decision never grows a snapshot
/// past [`MAX_SNAPSHOT_BYTES`], far under what the store accepts. A snapshot already past it
/// (written before the limits) may still shrink or stay as it is.
fn check_snapshot_bytes(before: Option<&Account>, account: &Account) -> LedgerResult<()> {
    let size = |account: &Account| {
        serde_json::to_vec(account)
            .map(|bytes| bytes.len())
            .map_err(|error| LedgerError::invariant(format!("unserialisable account: {error}")))
    };
    let bytes = size(account)?;
    if bytes > MAX_SNAPSHOT_BYTES && before.map_or(Ok(0), size)? < bytes {
        return Err(LedgerError::limit(
            "snapshot_bytes",
            MAX_SNAPSHOT_BYTES,
            format!("account `{}` would take {bytes} bytes to store", account.id),
        ));
    }
    Ok(())
}

/// Ids and tags are non-empty and bounded.
fn validate(command: &Command) -> LedgerResult<()> {
    check_id("id", command.id())?;
    match command {
        Command::Configure(configure) => check_id("account", &configure.account),
        Command::Charge(spend) => check_attribution(&spend.attribution),
        Command::Hold(request) => check_attribution(&request.attribution),
        Command::Capture(request) => check_id("hold", &request.hold),
        Command::Release(request) => check_id("hold", &request.hold),
        Command::Refund(request) => {
            check_id("charge", &request.charge)?;
            check_id("reason", &request.reason)
        }
        Command::TopUp(request) => check_kind(request.kind.as_deref()),
        Command::Adjust(request) => {
            check_kind(request.kind.as_deref())?;
            if let Some(bucket) = &request.bucket {
                check_id("bucket", bucket)?;
            }
            check_memo(request.memo.as_deref())
        }
        Command::Void(request) => {
            check_id("bucket", &request.bucket)?;
            check_memo(request.memo.as_deref())
        }
        Command::Chargeback(request) => {
            check_id("purchase", &request.purchase)?;
            check_memo(request.memo.as_deref())
        }
        Command::Suspend { .. }
        | Command::Resume { .. }
        | Command::Close { .. }
        | Command::Advance { .. } => Ok(()),
    }
}

fn check_kind(kind: Option<&str>) -> LedgerResult<()> {
    match kind {
        Some(kind) if kind.len() > MAX_KIND_BYTES => Err(LedgerError::invalid(format!(
            "`kind` must be at most {MAX_KIND_BYTES} bytes"
        ))),
        Some(kind) => check_id("kind", kind),
        None => Ok(()),
    }
}

/// A memo is free text for people: any characters but control characters other than line
/// breaks and tabs, at most [`MAX_MEMO_BYTES`].
fn check_memo(memo: Option<&str>) -> LedgerResult<()> {
    let Some(memo) = memo else {
        return Ok(());
    };
    if memo.len() > MAX_MEMO_BYTES
        || memo
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(LedgerError::invalid(format!(
            "`memo` must be at most {MAX_MEMO_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_id(name: &str, value: &str) -> LedgerResult<()> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.chars().any(char::is_control) {
        return Err(LedgerError::invalid(format!(
            "`{name}` must be 1 to {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_attribution(attribution: &Attribution) -> LedgerResult<()> {
    for (name, value) in [
        ("project", &attribution.project),
        ("member", &attribution.member),
        ("content", &attribution.content),
    ] {
        if let Some(value) = value {
            check_id(name, value)?;
        }
    }
    Ok(())
}
