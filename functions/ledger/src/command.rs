//! What a caller asks the ledger to decide, and the facts from history it must supply.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use credits_dsl::{JobOutcome, SubscriptionPeriod, Usage};
use serde::{Deserialize, Serialize};

use crate::account::{AccountStatus, Draw, PlanRef, SubscriptionStatus};

/// One mutation. Every variant carries `id`, the client id of the operation: entries it
/// writes name it as their `operation`, and it is the idempotency key the shell enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Create the account, or change its plan, subscription, zone, line or status.
    Configure(Configure),
    /// Rate a usage and spend it at once.
    Charge(Spend),
    /// Rate an estimate and reserve it for `ttl_seconds`.
    Hold(HoldRequest),
    /// Spend an open hold: the actual usage, rated, capped at what the hold reserved.
    Capture(Capture),
    /// Return an open hold's reservation.
    Release(Release),
    TopUp(TopUp),
    Refund(Refund),
    /// An admin's manual credit or debit of one unit (`docs/adjustments.md`).
    Adjust(Adjustment),
    /// Remove what is left of one bucket (a grant's, a top-up's...).
    Void(Void),
    /// Reverse a purchase (a top-up): remove what is left of its bucket and report how much
    /// of it had been used.
    Chargeback(Chargeback),
    Suspend {
        id: String,
    },
    Resume {
        id: String,
    },
    /// Forfeit every bucket (with entries) and refuse everything afterwards.
    Close {
        id: String,
    },
    /// Only bring the account up to `now` (grants, expiries, rollovers, released holds,
    /// alerts). Used by the cycle-rollover function and by reads that persist.
    Advance {
        id: String,
    },
}

impl Command {
    /// The operation (client) id.
    pub fn id(&self) -> &str {
        match self {
            Self::Configure(configure) => &configure.id,
            Self::Charge(spend) => &spend.id,
            Self::Hold(hold) => &hold.id,
            Self::Capture(capture) => &capture.id,
            Self::Release(release) => &release.id,
            Self::TopUp(top_up) => &top_up.id,
            Self::Refund(refund) => &refund.id,
            Self::Adjust(adjustment) => &adjustment.id,
            Self::Void(void) => &void.id,
            Self::Chargeback(chargeback) => &chargeback.id,
            Self::Suspend { id }
            | Self::Resume { id }
            | Self::Close { id }
            | Self::Advance { id } => id,
        }
    }

    /// The operation kind, as the store's `OperationRecord.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Configure(_) => "account",
            Self::Charge(_) => "charge",
            Self::Hold(_) => "hold",
            Self::Capture(_) => "capture",
            Self::Release(_) => "release",
            Self::TopUp(_) => "top_up",
            Self::Refund(_) => "refund",
            Self::Adjust(_) => "adjustment",
            Self::Void(_) => "void",
            Self::Chargeback(_) => "chargeback",
            Self::Suspend { .. } => "suspend",
            Self::Resume { .. } => "resume",
            Self::Close { .. } => "close",
            Self::Advance { .. } => "advance",
        }
    }
}

/// Create or update an account. On creation `account` names it; on update it must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configure {
    pub id: String,
    pub account: String,
    pub plan: PlanRef,
    /// `None` leaves the subscription as it is (or none on creation).
    pub subscription: Option<SubscriptionRequest>,
    /// `None` leaves the zone as it is (the book's on creation).
    pub time_zone: Option<String>,
    /// `None` leaves the override as it is; `Some(empty)` removes it.
    pub credit_line_minor: Option<BTreeMap<String, i64>>,
    /// `Closed` is refused here: use [`Command::Close`].
    pub status: Option<AccountStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRequest {
    pub status: SubscriptionStatus,
    pub period: SubscriptionPeriod,
    pub anchor: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
}

/// Attribution tags of a spend: projects and members share the account's balance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub project: Option<String>,
    pub member: Option<String>,
    /// The analysed content, for `requires ... on same content`.
    pub content: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub id: String,
    pub usage: Usage,
    #[serde(flatten)]
    pub attribution: Attribution,
    /// When the usage happened, if before now: priced by the version of the book in force
    /// then, accepted within the plan's `late usage within` window (`docs/charges.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// What to do when the account cannot pay it all.
    #[serde(default, skip_serializing_if = "Collect::is_all")]
    pub collect: Collect,
    /// How the job ended; the book says what each ending costs (`docs/charges.md`).
    #[serde(default, skip_serializing_if = "JobOutcome::is_completed")]
    pub outcome: JobOutcome,
}

/// How much of a charge must be collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collect {
    /// All of it, or nothing (`insufficient-credits`).
    #[default]
    All,
    /// What is available (buckets and credit line), recording the rest as a shortfall.
    Available,
}

impl Collect {
    pub fn is_all(&self) -> bool {
        *self == Self::All
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    pub id: String,
    /// The estimate.
    pub usage: Usage,
    pub ttl_seconds: u32,
    #[serde(flatten)]
    pub attribution: Attribution,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub id: String,
    pub hold: String,
    /// The actual usage; `None` captures the estimate as it was held.
    pub usage: Option<Usage>,
    /// How the job ended (`docs/holds.md`).
    #[serde(default, skip_serializing_if = "JobOutcome::is_completed")]
    pub outcome: JobOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub hold: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUp {
    pub id: String,
    pub amount: TopUpAmount,
    /// Credit kind; `None` = the plan's top-up kind.
    pub kind: Option<String>,
    /// `None` = the plan's top-up expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TopUpAmount {
    /// `unit` `None` = the book's only unit.
    Amount {
        unit: Option<String>,
        amount_minor: i64,
    },
    Package {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    /// The client id of the refunded charge (or capture).
    pub charge: String,
    pub reason: String,
    /// `None` refunds everything not yet refunded, in every unit.
    pub amount: Option<RefundAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// `None` = the charge's only unit.
    pub unit: Option<String>,
    pub amount_minor: i64,
}

/// Which way an adjustment moves credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Adds a bucket of its own.
    Credit,
    /// Draws by the plan's order, or from one named bucket.
    Debit,
}

/// Why an adjustment was made: a small fixed set, so statements and audits can group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    /// A gesture to a customer.
    Goodwill,
    /// Fixing a mistake.
    Correction,
    /// Balances carried over from another system.
    Migration,
    /// Anything else; say what in the memo.
    Other,
}

impl AdjustmentReason {
    /// Every reason, as clients write them.
    pub const ALL: [(&'static str, Self); 4] = [
        ("goodwill", Self::Goodwill),
        ("correction", Self::Correction),
        ("migration", Self::Migration),
        ("other", Self::Other),
    ];

    /// The name clients write.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Goodwill => "goodwill",
            Self::Correction => "correction",
            Self::Migration => "migration",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub id: String,
    pub direction: Direction,
    /// `None` = the book's only unit (or, for a debit from a named bucket, its unit).
    pub unit: Option<String>,
    /// Positive.
    pub amount_minor: i64,
    pub reason: AdjustmentReason,
    /// Free text for the record, at most `limits::MAX_MEMO_BYTES`.
    pub memo: Option<String>,
    /// Credit only: the new bucket's kind; `None` = the plan's top-up kind, else the last
    /// kind of its order.
    pub kind: Option<String>,
    /// Credit only: the new bucket's expiry; `None` = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Debit only: draw from this bucket alone; `None` = by the plan's order.
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {
    pub id: String,
    /// The id of a live bucket (as the balance lists it).
    pub bucket: String,
    pub memo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chargeback {
    pub id: String,
    /// The client id of the reversed top-up.
    pub purchase: String,
    pub memo: Option<String>,
}

/// What the store knows about one purchase (a top-up), for reversing it: kept as a fact
/// record written by the top-up and updated by each void of its bucket and its chargeback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseFacts {
    /// The top-up's client id.
    pub id: String,
    pub at: DateTime<Utc>,
    pub unit: String,
    /// What it credited.
    pub amount_minor: i64,
    /// What voids of its bucket removed.
    pub voided_minor: i64,
    /// The chargeback that reversed it, once reversed.
    pub reversed_by: Option<String>,
}

/// Facts from the account's history that a decision depends on, read by the shell from the
/// store. The shell must read them AFTER loading the snapshot it passes to `decide`, so that
/// the snapshot's version check at commit also covers them (a concurrent writer bumps the
/// version and the commit fails).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// For a charge or hold of a feature that `requires ... on same content`: an earlier
    /// charge or capture of one of the required features named the same `content`.
    pub prior_analysis: bool,
    /// For a refund: the refunded charge, from [`ChargeFacts::from_entries`].
    pub charge: Option<ChargeFacts>,
    /// For a chargeback, or a void of a top-up's bucket: the purchase, from
    /// [`PurchaseFacts::fold`].
    #[serde(default)]
    pub purchase: Option<PurchaseFacts>,
}

/// What the store knows about one charge (or capture), for refunding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeFacts {
    /// The charge's client id.
    pub id: String,
    pub at: DateTime<Utc>,
    pub feature: Option<String>,
    /// Per unit: what was charged.
    pub charged_minor: BTreeMap<String, i64>,
    /// The buckets that paid, in the order the charge drew them.
    pub draws: Vec<PaidDraw>,
    /// Per unit: what earlier refunds of this charge already returned.
    pub refunded_minor: BTreeMap<String, i64>,
}

/// A draw as recorded in a charge entry, with enough of the bucket to recreate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidDraw {
    #[serde(flatten)]
    pub draw: Draw,
    pub origin: crate::account::Origin,
    pub rollover: Option<credits_dsl::Rollover>,
    pub created_at: DateTime<Utc>,
}
