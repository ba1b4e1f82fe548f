//! credits-ledger: the pure decision core of the credits ledger.
//!
//! `decide(account, command, facts, book, now) -> Decision { account, entries, outcome }`.
//! The shell (the HTTP API, the Lambdas) loads the account snapshot, reads the [`Facts`]
//! the command needs, calls [`decide`] with the rate book in force at `now`, and commits the
//! new snapshot with the entries atomically.
//!
//! Architecture invariants:
//! - no I/O, no clock (`now` is an argument), no randomness, no async: the same
//!   `(account, command, facts, book, now)` always gives the same decision;
//! - amounts are `i64` minor units with checked arithmetic; `rust_decimal` only appears in
//!   rating (done by `credits-dsl`) and in response amounts;
//! - the balance of every unit equals the sum of its entries, and no bucket is below zero
//!   except the per-unit overdraft bucket, within the credit line;
//! - recurring grants, expiries, rollovers, subscription ends and expired holds are applied
//!   lazily, period by period, at the start of every decision and read.

pub mod account;
mod admission;
mod advance;
mod alerts;
mod balance;
mod buckets;
pub mod calendar;
mod charge;
pub mod command;
mod configure;
mod decide;
pub mod entry;
pub mod error;
mod grants;
mod holds;
mod invariants;
mod lifecycle;
pub mod limits;
pub mod outcome;
mod refund;
mod release;
pub mod statement;
mod topup;
mod work;

pub use account::{
    Account, AccountStatus, Bucket, Draw, GrantMark, Hold, OVERDRAFT_KIND, Origin, PlanRef, RequestWindow,
    Subscription, SubscriptionStatus,
};
pub use command::{
    Attribution, Capture, ChargeFacts, Command, Configure, Facts, HoldRequest, PaidDraw, Refund,
    RefundAmount, Release, Spend, SubscriptionRequest, TopUp, TopUpAmount,
};
pub use entry::{Entry, EntryType};
pub use error::{LedgerError, LedgerResult};
pub use outcome::{Alert, Amount, Balance, BucketView, Decision, Outcome, UnitBalance};
pub use statement::{CyclePeriod, Statement, UnitStatement, cycle_containing, statement};

use chrono::{DateTime, Utc};
use credits_dsl::RateBook;

/// Decides one command on one account at `now`.
///
/// `account` is `None` only for the first [`Command::Configure`] of an account. `book` is
/// the version of the account's rate book in force at `now` (the shell picks it with
/// `RateLibrary::book_at`). The account is first brought up to `now` (grants, expiries,
/// rollovers, expired holds), then the command is applied; both land in one decision.
///
/// # Errors
/// A [`LedgerError`] whose [`LedgerError::code`] is the problem type to answer; when it is
/// returned nothing must be written (in particular `insufficient-credits` leaves the account
/// unchanged).
pub fn decide(
    account: Option<&Account>,
    command: &Command,
    facts: &Facts,
    book: &RateBook,
    now: DateTime<Utc>,
) -> LedgerResult<Decision> {
    decide::decide(account, command, facts, book, now)
}

/// The balance at `now`, as a read sees it: the account is advanced in memory (expired
/// holds show released, expired buckets gone, due grants present); nothing is persisted.
///
/// # Errors
/// When the account's plan is not in `book`, its time zone is invalid, or catching up
/// overflows.
pub fn view(account: &Account, book: &RateBook, now: DateTime<Utc>) -> LedgerResult<Balance> {
    decide::view(account, book, now)
}
