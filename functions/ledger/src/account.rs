//! The account snapshot: everything the ledger needs to decide, stored by the shell as the
//! opaque JSON `AccountRecord.state`. Every collection in it is bounded (see `limits`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use credits_dsl::Rollover;
use serde::{Deserialize, Serialize};

/// One account (an organization or workspace) and its buckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub plan: PlanRef,
    pub status: AccountStatus,
    pub subscription: Option<Subscription>,
    /// IANA time zone of the account's days and cycles; `None` = the rate book's.
    pub time_zone: Option<String>,
    /// Per unit overdraft limits in minor units that replace the plan's credit line.
    pub credit_line_minor: Option<BTreeMap<String, i64>>,
    pub created_at: DateTime<Utc>,
    /// When the account started on its current plan (anchor of calendar cycles and of
    /// `once` grants when there is no subscription).
    pub plan_since: DateTime<Utc>,
    /// Live buckets, in creation order. Empty, expired and forfeited buckets are removed.
    pub buckets: Vec<Bucket>,
    /// Open holds, in creation order.
    pub holds: Vec<Hold>,
    /// Features whose free first request this account has used.
    pub free_used: BTreeSet<String>,
    /// Per `<plan>/<grant key>`: the last period granted.
    pub grants_applied: BTreeMap<String, GrantMark>,
    /// Per unit: low-balance thresholds (minor units) the balance is currently below.
    pub alerts_fired: BTreeMap<String, BTreeSet<i64>>,
    /// The plan's request-rate window.
    pub requests: RequestWindow,
    /// Sequence number of the next entry.
    pub next_seq: u64,
    /// Everything due up to this instant has been materialised.
    pub advanced_to: DateTime<Utc>,
    /// The statement of the cycle of the latest entry, kept as the ledger commits.
    #[serde(default)]
    pub statement: Option<crate::statement::OpenStatement>,
    /// The number of the last event published (0: none yet); see `events`.
    #[serde(default)]
    pub events_published: u64,
    /// Live buckets already announced by a `credits.expiring` event, by a short digest of
    /// their id (`expiring::mark`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub expiry_warned: BTreeSet<String>,
    /// Units whose available balance is below the plan's `auto topup below` (asked once).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub auto_topup_below: BTreeSet<String>,
    /// What charges spent in the running period of each of the plan's spend limits
    /// (`caps.rs`); at most `limits::MAX_SPEND_COUNTERS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<crate::caps::SpendCounter>,
}

/// The last period of one grant that was granted (or skipped as unspendable).
///
/// A new period is granted only from `next_due` on and only if it starts after
/// `period_start`: so moving the cycle anchor (a plan switch, a new subscription anchor) or
/// the time zone can never grant the same stretch of time twice, and grant entry ids, which
/// name the period start, never repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantMark {
    pub period_start: DateTime<Utc>,
    /// End of that period.
    pub next_due: DateTime<Utc>,
}

/// A plan, named by its rate book (the file stem) and its name in that book.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlanRef {
    pub book: String,
    pub plan: String,
}

impl PlanRef {
    /// Parses `<book>/<plan>`.
    ///
    /// # Errors
    /// `invalid-input` when the text is not two non-empty names around one `/`.
    pub fn parse(text: &str) -> crate::LedgerResult<Self> {
        match text.split_once('/') {
            Some((book, plan)) if !book.is_empty() && !plan.is_empty() && !plan.contains('/') => {
                Ok(Self {
                    book: book.to_owned(),
                    plan: plan.to_owned(),
                })
            }
            _ => Err(crate::LedgerError::invalid(format!(
                "plan `{text}` must be written `book/plan`"
            ))),
        }
    }
}

impl std::fmt::Display for PlanRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.book, self.plan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// Spending is frozen; captures and releases of open holds still complete.
    Suspended,
    /// Every bucket was forfeited; nothing more happens on the account.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub status: SubscriptionStatus,
    pub period: credits_dsl::SubscriptionPeriod,
    /// Purchase instant: cycles `from purchase` are `anchor + n months`.
    pub anchor: DateTime<Utc>,
    /// When a cancelled subscription stops (filled in by the ledger at cancellation when
    /// not given: the end of the subscription period running then).
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    /// Paid until `ends_at`, then `Ended`.
    Cancelled,
    Ended,
}

impl Subscription {
    /// The subscription is in effect at `at`: active, or cancelled and not yet ended.
    pub fn in_effect(&self, at: DateTime<Utc>) -> bool {
        match self.status {
            SubscriptionStatus::Active => self.ends_at.is_none_or(|ends_at| at < ends_at),
            SubscriptionStatus::Cancelled => self.ends_at.is_some_and(|ends_at| at < ends_at),
            SubscriptionStatus::Ended => false,
        }
    }
}

/// Credits of one kind and unit with one expiry and one origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Deterministic: derived from the bucket's origin (`grant:<plan>:<key>:<period>`,
    /// `top_up:<operation>`, `refund:<operation>:<unit>`, `adjustment:<operation>`,
    /// `overdraft:<unit>`).
    pub id: String,
    /// Credit kind (`free`, `allocation`, `top_up`...), or [`OVERDRAFT_KIND`].
    pub kind: String,
    pub unit: String,
    /// Spendable now. Never below zero, except the overdraft bucket (down to −credit line).
    pub left_minor: i64,
    /// Reserved by open holds; still the account's until captured.
    pub held_minor: i64,
    pub granted_minor: i64,
    /// `None`: never expires (or expires by its rollover rule only).
    pub expires_at: Option<DateTime<Utc>>,
    pub origin: Origin,
    pub created_at: DateTime<Utc>,
    /// Rule applied at each cycle end (allocations that roll over).
    pub rollover: Option<Rollover>,
    /// Later credits of the same rules may merge into this bucket without anyone seeing
    /// it (see `buckets.rs`); absent (false) in snapshots written before merging existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mergeable: bool,
}

/// The kind of the per-unit bucket that goes below zero within the credit line.
pub const OVERDRAFT_KIND: &str = "overdraft";

impl Bucket {
    pub fn is_overdraft(&self) -> bool {
        self.kind == OVERDRAFT_KIND
    }

    /// The purchase (top-up client id) whose credits the bucket holds, if any.
    pub fn purchase(&self) -> Option<&str> {
        match &self.origin {
            Origin::TopUp { operation, .. } => Some(operation),
            _ => None,
        }
    }

    /// Expired at `at` (an expiry at exactly `at` counts as passed).
    pub fn expired_at(&self, at: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= at)
    }
}

/// Where a bucket's credits came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Origin {
    Grant {
        plan: String,
        key: String,
        period_start: DateTime<Utc>,
    },
    TopUp {
        operation: String,
        package: Option<String>,
    },
    Refund {
        operation: String,
        charge: String,
    },
    /// A credit adjustment (`adjust.rs`).
    Adjustment {
        operation: String,
    },
    Overdraft,
}

/// A reservation made by a hold, drawn from buckets in consumption order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's client id.
    pub id: String,
    pub feature: String,
    pub model: Option<String>,
    pub usage: credits_dsl::Usage,
    pub rates_version: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// What was reserved, per bucket, in drawing order.
    pub draws: Vec<Draw>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
}

/// An amount taken from (or reserved in) one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    pub bucket: String,
    pub kind: String,
    pub unit: String,
    pub amount_minor: i64,
    /// The bucket's expiry when drawn, so a later refund knows whether it has passed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Accepted rate-limited requests in the current fixed window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestWindow {
    /// Start of the window (a multiple of the plan's window length since the Unix epoch).
    pub window_start: Option<DateTime<Utc>>,
    pub count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn plan_refs_are_book_slash_plan() {
        assert_eq!(
            PlanRef::parse("imentiv/professional").ok(),
            Some(PlanRef {
                book: "imentiv".into(),
                plan: "professional".into()
            })
        );
        for bad in ["imentiv", "/x", "x/", "a/b/c", ""] {
            assert_eq!(
                PlanRef::parse(bad).map_err(|error| error.code()),
                Err("invalid-input"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_cancelled_subscription_is_in_effect_until_it_ends() {
        let mut subscription = Subscription {
            status: SubscriptionStatus::Cancelled,
            period: credits_dsl::SubscriptionPeriod::Monthly,
            anchor: instant("2025-01-01T00:00:00Z"),
            ends_at: Some(instant("2025-02-01T00:00:00Z")),
        };
        assert!(subscription.in_effect(instant("2025-01-31T23:59:59Z")));
        assert!(!subscription.in_effect(instant("2025-02-01T00:00:00Z")));
        subscription.status = SubscriptionStatus::Ended;
        assert!(!subscription.in_effect(instant("2025-01-15T00:00:00Z")));
        subscription.status = SubscriptionStatus::Active;
        subscription.ends_at = None;
        assert!(subscription.in_effect(instant("2099-01-01T00:00:00Z")));
    }
}
