//! What a decision answers: the new snapshot, its entries, and the response data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::{Account, Draw};
use crate::entry::Entry;

/// The result of [`crate::decide`]: commit `account` and `entries` together, atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub account: Account,
    /// In `seq` order; at most [`crate::limits::MAX_DECISION_ENTRIES`] together with
    /// `closed_statements`.
    pub entries: Vec<Entry>,
    pub outcome: Outcome,
    /// When the account next has something to materialise (the store's `due_at`).
    pub due_at: Option<DateTime<Utc>>,
    /// Statements of cycles this decision ended, in order: the shell writes each as the
    /// fact record [`crate::ClosedStatement::fact_key`] with the entries. Never changed after.
    pub closed_statements: Vec<crate::statement::ClosedStatement>,
    /// The events this decision publishes, numbered after the account's last (the
    /// snapshot's `events_published` counts them): the shell commits them with the entries.
    pub events: Vec<crate::events::Event>,
}

/// Response data of a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Per unit charged, captured, topped up or refunded, as decimals and minor units.
    pub amounts: Vec<Amount>,
    /// The buckets that paid (charge, capture), were reserved (hold) or were credited
    /// (top-up, refund), in order.
    pub paid_from: Vec<Draw>,
    /// The balance after the decision.
    pub balance: Balance,
    /// The rate book version a charge, hold or capture was rated with.
    pub rates_version: Option<String>,
    /// The usage was the feature's free first request.
    pub free: bool,
    /// A capture asked for more than its hold reserved and was capped; per unit, the part
    /// not charged.
    pub uncaptured: Vec<Amount>,
    /// Low-balance alerts raised by this decision.
    pub alerts: Vec<Alert>,
    /// The rating's explanation lines (charge, hold, capture).
    pub lines: Vec<String>,
    /// The account is up to `now`; `false` only for a partial [`crate::Command::Advance`].
    pub caught_up: bool,
    /// A chargeback: per unit, how much of the purchase had been used (spent, repaid a
    /// debt, or expired) before it was reversed.
    #[serde(default)]
    pub spent: Vec<Amount>,
    /// A charge with `collect: available`: per unit rated, the part the account could not
    /// pay (zero when it paid all).
    #[serde(default)]
    pub shortfall: Vec<Amount>,
    /// A charge of late usage: when it happened.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub unit: String,
    pub amount: Decimal,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub unit: String,
    pub threshold_minor: i64,
    pub available_minor: i64,
}

/// The account's balance per unit, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub at: Option<DateTime<Utc>>,
    /// By unit name.
    pub units: BTreeMap<String, UnitBalance>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitBalance {
    /// Spendable now (negative when overdrawn within the credit line).
    pub available: Decimal,
    pub available_minor: i64,
    /// Reserved by open holds.
    pub held: Decimal,
    pub held_minor: i64,
    /// The credit line still unused (how far below `available` spending may go).
    pub credit_line_left_minor: i64,
    /// Live buckets in consumption order.
    pub buckets: Vec<BucketView>,
    /// The plan's `balance at most` for this unit, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_max_minor: Option<i64>,
    /// The plan's spend limits of this unit, with what the running period spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend_limits: Vec<SpendView>,
}

/// One spend limit as a read shows it (`docs/plan-lifecycle.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendView {
    pub period: credits_dsl::SpendPeriod,
    pub limit_minor: i64,
    pub spent_minor: i64,
    /// When the running period ends and the spend counts from zero.
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketView {
    pub id: String,
    pub kind: String,
    pub left: Decimal,
    pub left_minor: i64,
    pub held_minor: i64,
    pub granted_minor: i64,
    pub expires_at: Option<DateTime<Utc>>,
    /// The purchase (top-up client id) whose credits it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<String>,
}
