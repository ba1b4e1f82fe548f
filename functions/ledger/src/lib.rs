//! credits-ledger: the pure decision core of the credits ledger.
//!
//! `decide(account, command, facts, versions, now) -> Decision { account, entries, outcome }`.
//! The shell (the HTTP API, the Lambdas) loads the account snapshot, reads the [`Facts`]
//! the command needs, calls [`decide`] with the versions of the account's rate book, and
//! commits the new snapshot with the entries atomically.
//!
//! Architecture invariants:
//! - no I/O, no clock (`now` is an argument), no randomness, no async: the same
//!   `(account, command, facts, versions, now)` always gives the same decision;
//! - amounts are `i64` minor units with checked arithmetic; `rust_decimal` only appears in
//!   rating (done by `credits-dsl`) and in response amounts;
//! - the balance of every unit (bucket `left + held`) equals the sum of its entries, and no
//!   bucket is below zero except the per-unit overdraft bucket, within the credit line;
//! - recurring grants, expiries, rollovers, subscription ends and expired holds are applied
//!   lazily, instant by instant, at the start of every decision and read, each instant
//!   with the version of the book in force then (a version's start is an instant of the
//!   walk); walking to an instant in several steps gives the same account as one step;
//! - entry ids are deterministic, never repeat within an account and fit the store's
//!   512-byte limit, by construction (`ids` says how); a decision's ids are checked distinct
//!   and bounded before it is returned;
//! - every collection of the account snapshot is bounded (`limits`), so that it fits one
//!   store item: a command that would outgrow one is refused with `limit-reached`, and
//!   buckets that every rule treats alike merge (`buckets.rs`, `docs/ledger-limits.md`);
//!
//! Decisions the product rules leave open:
//! - a capture above its hold is CAPPED at what the hold reserved per unit (the estimate is
//!   the most the client agreed to pay); the rest is reported as `uncaptured`;
//! - holds reserve the paid price even for a free-first-request feature; the capture decides
//!   whether it was the free one; captures and releases still complete on a suspended
//!   account (spending was accepted before the suspension), new charges and holds do not;
//! - a credit line is an `overdraft` bucket per unit, drawn last; every credit (grant,
//!   top-up, refund, release) first repays the debt; credit line reserved by an open hold
//!   is not a debt until captured; an account with a debt cannot be closed;
//! - a grant whose credits would already have expired by the instant the decision catches up
//!   to, in a unit without debt, could never be spent: it is marked granted but writes no
//!   entries; `due_at` leaves out the day boundaries of such grants, so the schedule writes
//!   no grant/expiry pairs for idle days either (`docs/rollover.md`);
//! - catching up is bounded (`limits`): beyond ~80 lazy entries or 4,000 instants a command
//!   is refused with `catch-up-required` and the shell commits `Advance` decisions (each a
//!   partial, consistent step) until `Outcome::caught_up`, then retries;
//! - per-cycle grants of a plan sold with subscription periods need a subscription in effect
//!   (active, or cancelled until its end); plans without periods allocate to every account;
//!   a cancellation without `ends_at` ends with the subscription period running then;
//! - a grant is given at most once per period: a new period only starts after the last one
//!   granted ended, whatever happens to the cycle anchor or the time zone;
//! - adjustments, voids and chargebacks are admin operations outside the plan's rules: a
//!   debit draws like a charge (credit line included), or from one named bucket only; a
//!   credit adds its own bucket; credits held by open holds are never voided
//!   (`docs/adjustments.md`);
//! - a plan change stays within the account's rate book, keeps every bucket with its rules
//!   and starts the new plan's grants at `now`; `once` grants are once per account and plan;
//! - the rate limit counts accepted charges and holds in fixed windows aligned on the epoch;
//!   too many open holds is also `rate-limited` (retry when the soonest hold expires);
//! - every decision publishes the events of what it did (`events`): numbered per account
//!   from 1 without gaps, ids derived from the account and number, committed with the
//!   decision; catching up lazily publishes the same events at the same instants as a
//!   schedule visiting the account at each `due_at`;
//! - low-balance alerts compare the available balance (not counting held credits) with each
//!   threshold; a new account starting below a threshold is not a crossing;
//! - a refunded share whose bucket is gone is restored into a recreated bucket when the
//!   bucket was only emptied, by the plan's `refund expired` rule when it expired or was
//!   forfeited, and, for a debt already repaid, into a new bucket of the rule's kind (or the
//!   plan's top-up kind); refund windows count whole days of 24 hours from the charge;
//! - a `now` at most `limits::MAX_CLOCK_SKEW_MS` earlier than the account's last decision
//!   (clock skew between callers) is taken as that instant: the ledger never moves back; a
//!   `now` further behind is refused with `clock-behind` by `decide` (a read, `view`, still
//!   shows the account at its last instant). `docs/clocks.md` states the rule.

pub mod account;
mod adjust;
mod admission;
mod advance;
mod alerts;
mod auto_topup;
mod balance;
mod buckets;
pub mod calendar;
pub mod caps;
mod charge;
pub mod command;
mod configure;
mod decide;
mod due;
pub mod entry;
pub mod error;
pub mod events;
pub mod expiring;
mod grants;
mod holds;
mod ids;
mod invariants;
mod job_outcome;
mod keep;
mod lifecycle;
pub mod limits;
pub mod outcome;
mod refund;
mod release;
pub mod statement;
mod topup;
mod work;

pub use account::{
    Account, AccountStatus, Bucket, Draw, GrantMark, Hold, OVERDRAFT_KIND, Origin, PlanRef,
    RequestWindow, Subscription, SubscriptionStatus,
};
pub use caps::SpendCounter;
pub use command::{
    Adjustment, AdjustmentReason, Attribution, Capture, ChargeFacts, Chargeback, Collect, Command,
    Configure, Direction, Facts, HoldRequest, PaidDraw, PurchaseFacts, Refund, RefundAmount,
    Release, Spend, SubscriptionRequest, TopUp, TopUpAmount, Void,
};
pub use decide::BALANCE_FIELD;
pub use entry::{Entry, EntryType};
pub use error::{LedgerError, LedgerResult};
pub use events::{EVENT_VERSION, Event, EventType, event_id};
pub use outcome::{Alert, Amount, Balance, BucketView, Decision, Outcome, SpendView, UnitBalance};
pub use statement::{
    ClosedStatement, CyclePeriod, OpenStatement, STATEMENT_FACT_PREFIX, Statement, UnitStatement,
    cycle_containing, statement, statement_fact_key, statement_of,
};

use chrono::{DateTime, Utc};
use credits_dsl::BookVersions;

/// Decides one command on one account at `now`.
///
/// `account` is `None` only for the first [`Command::Configure`] of an account. `versions`
/// are the versions of the account's rate book (`RateLibrary::book_versions`;
/// [`BookVersions::single`] for a book with one). The account is first brought up to `now`
/// (grants, expiries, rollovers, expired holds), each instant with the version in force
/// then, then the command is applied with the version in force at `now`; both land in one
/// decision.
///
/// # Errors
/// A [`LedgerError`] whose [`LedgerError::code`] is the problem type to answer; when it is
/// returned nothing must be written (in particular `insufficient-credits` leaves the account
/// unchanged).
pub fn decide(
    account: Option<&Account>,
    command: &Command,
    facts: &Facts,
    versions: &BookVersions<'_>,
    now: DateTime<Utc>,
) -> LedgerResult<Decision> {
    decide::decide(account, command, facts, versions, now)
}

/// The balance at `now`, as a read sees it: the account is advanced in memory (expired
/// holds show released, expired buckets gone, due grants present); nothing is persisted.
///
/// # Errors
/// When the account's plan is not in a version of the book it needs, its time zone is
/// invalid, or catching up overflows.
pub fn view(
    account: &Account,
    versions: &BookVersions<'_>,
    now: DateTime<Utc>,
) -> LedgerResult<Balance> {
    decide::view(account, versions, now)
}
