//! The working state of one decision: the account being changed, the plan and zone it is
//! decided under, and the entries written so far.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use credits_dsl::{BookVersions, Plan, RateBook};
use rust_decimal::Decimal;

use crate::account::Account;
use crate::calendar;
use crate::entry::{Entry, EntryType};
use crate::ids;
use crate::{LedgerError, LedgerResult};

/// An entry before it gets its `seq` and `operation`.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub id: String,
    pub entry_type: EntryType,
    pub at: DateTime<Utc>,
    pub unit: Option<String>,
    pub amount_minor: i64,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
    pub body: serde_json::Value,
    /// The id gets `:<seq>` appended when the entry is pushed (`ids` says why).
    numbered: bool,
}

impl Draft {
    pub fn new(id: String, entry_type: EntryType, at: DateTime<Utc>) -> Self {
        Self {
            id,
            entry_type,
            at,
            unit: None,
            amount_minor: 0,
            feature: None,
            model: None,
            project: None,
            member: None,
            content: None,
            body: serde_json::Value::Null,
            numbered: false,
        }
    }

    /// An entry whose id alone (a bucket, a date) could repeat: it ends with its `seq`.
    pub fn numbered(mut self) -> Self {
        self.numbered = true;
        self
    }

    pub fn unit(mut self, unit: &str, amount_minor: i64) -> Self {
        self.unit = Some(unit.to_owned());
        self.amount_minor = amount_minor;
        self
    }

    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = body;
        self
    }
}

pub(crate) struct Checkpoint<'a> {
    account: Account,
    entries: usize,
    ids: BTreeSet<String>,
    book: &'a RateBook,
    plan: &'a Plan,
    zone: Tz,
    switches: usize,
    notices: usize,
}

/// The book changed to another version at `at`, once `entries` entries were written: the
/// calendar of the entries from there on is `cycles`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Switch {
    pub entries: usize,
    pub at: DateTime<Utc>,
    pub cycles: calendar::Cycles,
}

pub(crate) struct Work<'a> {
    pub account: Account,
    /// Every version of the account's book: each instant is materialised with its own.
    pub versions: BookVersions<'a>,
    /// The version being worked with: the one in force at the instant being processed.
    pub book: &'a RateBook,
    pub plan: &'a Plan,
    pub zone: Tz,
    /// Where catching up moved to a later version, in order.
    pub switches: Vec<Switch>,
    /// The decision's instant (never before the account's `advanced_to`).
    pub now: DateTime<Utc>,
    /// The instant being processed: an event's instant while catching up, else `now`.
    /// Bucket expiry during drawing and debt repayment is judged at this instant.
    pub at: DateTime<Utc>,
    /// The operation that triggered this decision.
    pub operation: String,
    /// The instant earlier decisions brought the account to; `None` for a new account.
    pub settled_to: Option<DateTime<Utc>>,
    pub entries: Vec<Entry>,
    /// Events raised besides the entries' own (expiry warnings, auto top-ups).
    pub notices: Vec<crate::events::Notice>,
    ids: BTreeSet<String>,
}

impl<'a> Work<'a> {
    /// Work on `account` with the version in force at the instant it was brought up to
    /// (catching up moves through the later ones, [`Work::switch_to`]).
    ///
    /// # Errors
    /// When the account's plan is not in the book or its zone is not a zone.
    pub fn new(
        account: Account,
        versions: BookVersions<'a>,
        operation: &str,
        now: DateTime<Utc>,
    ) -> LedgerResult<Self> {
        let book = versions.at(account.advanced_to);
        let plan = find_plan(book, &account.plan)?;
        let zone = zone_of(&account, book)?;
        // Clocks of different callers may disagree by a little (`decide` refuses more than
        // `MAX_CLOCK_SKEW_MS`); the ledger never moves back.
        let now = now.max(account.advanced_to);
        let settled_to = Some(account.advanced_to);
        Ok(Self {
            settled_to,
            account,
            versions,
            book,
            plan,
            zone,
            switches: Vec::new(),
            now,
            at: now,
            operation: operation.to_owned(),
            entries: Vec::new(),
            notices: Vec::new(),
            ids: BTreeSet::new(),
        })
    }

    /// A point to return to if what follows must be undone.
    pub fn checkpoint(&self) -> Checkpoint<'a> {
        Checkpoint {
            account: self.account.clone(),
            entries: self.entries.len(),
            ids: self.ids.clone(),
            book: self.book,
            plan: self.plan,
            zone: self.zone,
            switches: self.switches.len(),
            notices: self.notices.len(),
        }
    }

    /// Undoes everything since `checkpoint`.
    pub fn restore(&mut self, checkpoint: Checkpoint<'a>) {
        self.account = checkpoint.account;
        self.entries.truncate(checkpoint.entries);
        self.ids = checkpoint.ids;
        self.book = checkpoint.book;
        self.plan = checkpoint.plan;
        self.zone = checkpoint.zone;
        self.switches.truncate(checkpoint.switches);
        self.notices.truncate(checkpoint.notices);
    }

    /// Works from `at` on with the version in force at `at`: the account's plan and zone
    /// as that version states them. Versions keep every plan and what accounts store
    /// (`credits_dsl::compatibility`), so the account reads the same under the later one.
    ///
    /// # Errors
    /// When the account's plan is not in that version or its zone is not a zone.
    pub fn switch_to(&mut self, at: DateTime<Utc>) -> LedgerResult<()> {
        let book = self.versions.at(at);
        if std::ptr::eq(book, self.book) {
            return Ok(());
        }
        self.plan = find_plan(book, &self.account.plan)?;
        self.zone = zone_of(&self.account, book)?;
        self.book = book;
        self.switches.push(Switch {
            entries: self.entries.len(),
            at,
            cycles: calendar::billing_cycles(&self.account, self.plan, self.zone),
        });
        Ok(())
    }

    /// Switches to another plan of the same book.
    pub fn set_plan(&mut self, plan: &'a Plan) {
        self.plan = plan;
    }

    /// Appends an entry with the next sequence number.
    ///
    /// # Errors
    /// A duplicate entry id within the decision (a bug), or sequence overflow.
    pub fn push(&mut self, draft: Draft) -> LedgerResult<()> {
        let seq = self.account.next_seq;
        let id = ids::entry(if draft.numbered {
            format!("{}:{seq}", draft.id)
        } else {
            draft.id
        });
        if !self.ids.insert(id.clone()) {
            return Err(LedgerError::invariant(format!(
                "entry `{id}` written twice in one decision"
            )));
        }
        self.account.next_seq = seq
            .checked_add(1)
            .ok_or(LedgerError::Overflow("sequence"))?;
        self.entries.push(Entry {
            id,
            seq,
            at: draft.at,
            entry_type: draft.entry_type,
            operation: self.operation.clone(),
            unit: draft.unit,
            amount_minor: draft.amount_minor,
            feature: draft.feature,
            model: draft.model,
            project: draft.project,
            member: draft.member,
            content: draft.content,
            body: draft.body,
        });
        Ok(())
    }

    /// The subscription is in effect at `at`.
    pub fn subscribed(&self, at: DateTime<Utc>) -> bool {
        self.account
            .subscription
            .as_ref()
            .is_some_and(|subscription| subscription.in_effect(at))
    }

    /// The scale (decimal places of the minor unit) of `unit`.
    ///
    /// # Errors
    /// `invalid-input` when the book has no such unit.
    pub fn scale(&self, unit: &str) -> LedgerResult<u32> {
        unit_scale(self.book, unit)
    }

    /// `amount_minor` of `unit` as a decimal.
    ///
    /// # Errors
    /// An unknown unit.
    pub fn decimal(&self, unit: &str, amount_minor: i64) -> LedgerResult<Decimal> {
        to_decimal(self.book, unit, amount_minor)
    }

    /// The overdraft allowed in `unit`: the account's override, else the plan's, else none.
    pub fn credit_line_minor(&self, unit: &str) -> i64 {
        self.account
            .credit_line_minor
            .as_ref()
            .and_then(|lines| lines.get(unit))
            .or_else(|| self.plan.credit_line_minor.get(unit))
            .copied()
            .unwrap_or(0)
            .max(0)
    }
}

/// The account's own zone, else `book`'s.
///
/// # Errors
/// When it is not a zone.
fn zone_of(account: &Account, book: &RateBook) -> LedgerResult<Tz> {
    calendar::parse_zone(account.time_zone.as_deref().unwrap_or(&book.time_zone))
}

/// The plan an account names, in `book`.
///
/// # Errors
/// `invalid-input` when the book is not the account's, `not-found` when the plan is not in it.
pub(crate) fn find_plan<'b>(
    book: &'b RateBook,
    plan: &crate::account::PlanRef,
) -> LedgerResult<&'b Plan> {
    if book.name != plan.book {
        return Err(LedgerError::invalid(format!(
            "plan `{plan}` is not in rate book `{}`",
            book.name
        )));
    }
    book.plans
        .iter()
        .find(|candidate| candidate.name == plan.plan)
        .ok_or_else(|| LedgerError::NotFound {
            what: "plan",
            id: plan.to_string(),
        })
}

/// # Errors
/// `invalid-input` when the book has no such unit.
pub(crate) fn unit_scale(book: &RateBook, unit: &str) -> LedgerResult<u32> {
    book.units
        .iter()
        .find(|candidate| candidate.name == unit)
        .map(|candidate| candidate.scale)
        .ok_or_else(|| LedgerError::invalid(format!("`{unit}` is not a unit of `{}`", book.name)))
}

/// # Errors
/// An unknown unit, or a scale `rust_decimal` cannot represent.
pub(crate) fn to_decimal(book: &RateBook, unit: &str, amount_minor: i64) -> LedgerResult<Decimal> {
    let scale = unit_scale(book, unit)?;
    Decimal::try_new(amount_minor, scale).map_err(|_| LedgerError::Overflow("decimal"))
}

/// `amount_minor` of `unit` as the API speaks it, a decimal with the unit (`50.00 credit`);
/// for messages, so an unknown unit or an overflow falls back to the minor units.
pub(crate) fn shown(book: &RateBook, unit: &str, amount_minor: i64) -> String {
    to_decimal(book, unit, amount_minor).map_or_else(
        |_| format!("{amount_minor} minor units of `{unit}`"),
        |amount| format!("{amount} {unit}"),
    )
}

/// Checked `a + b`.
pub(crate) fn add(a: i64, b: i64) -> LedgerResult<i64> {
    a.checked_add(b).ok_or(LedgerError::Overflow("amount"))
}

/// Checked `a - b`.
pub(crate) fn sub(a: i64, b: i64) -> LedgerResult<i64> {
    a.checked_sub(b).ok_or(LedgerError::Overflow("amount"))
}

/// A client id as one segment of an entry or bucket id: `%` and `:` are percent-encoded,
/// so every `:` in an id separates segments and ids of different shapes cannot collide
/// (`charge:a:credit` is never both charge `a` in `credit` and free charge `a:credit`).
pub(crate) fn key(client_id: &str) -> String {
    client_id.replace('%', "%25").replace(':', "%3A")
}

/// A compact instant for entry ids: `2025-03-01T00:00:00Z`.
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
