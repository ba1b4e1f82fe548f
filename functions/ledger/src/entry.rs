//! Immutable, typed ledger entries. The shell stores each as one `EntryRecord` (same fields,
//! plus the account id). The balance of a unit is always the sum of its entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// A plan grant (daily, per cycle, once): positive.
    Grant,
    /// Purchased credits: positive.
    TopUp,
    /// A usage spent at once: negative (zero for a free first request).
    Charge,
    /// A reservation: zero amount (reserved credits stay the account's until captured);
    /// the body says what was reserved from which bucket.
    Hold,
    /// The spent part of a hold: negative.
    Capture,
    /// The unspent part of a hold returned to its buckets: zero amount.
    Release,
    /// Credits returned for a charge: positive.
    Refund,
    /// Credits that reached their expiry unspent: negative.
    Expiry,
    /// Credits lost by rule (subscription ended, account closed, refund to an expired
    /// bucket under `refund expired forfeit`): negative.
    Forfeit,
    /// An allocation carried into the next cycle: zero amount, for the record.
    Rollover,
    /// An admin's credit (positive) or debit (negative) with a reason.
    Adjustment,
    /// What was left of one bucket, removed by an admin: negative (zero never written).
    Void,
    /// What was left of a reversed purchase, removed: negative or zero.
    Chargeback,
    /// The available balance fell below a threshold: zero amount.
    Alert,
    /// A cycle statement marker: zero amount.
    Statement,
}

impl EntryType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::TopUp => "top_up",
            Self::Charge => "charge",
            Self::Hold => "hold",
            Self::Capture => "capture",
            Self::Release => "release",
            Self::Refund => "refund",
            Self::Expiry => "expiry",
            Self::Forfeit => "forfeit",
            Self::Rollover => "rollover",
            Self::Adjustment => "adjustment",
            Self::Void => "void",
            Self::Chargeback => "chargeback",
            Self::Alert => "alert",
            Self::Statement => "statement",
        }
    }

    /// Parses the store's `entry_type` text.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "grant" => Self::Grant,
            "top_up" => Self::TopUp,
            "charge" => Self::Charge,
            "hold" => Self::Hold,
            "capture" => Self::Capture,
            "release" => Self::Release,
            "refund" => Self::Refund,
            "expiry" => Self::Expiry,
            "forfeit" => Self::Forfeit,
            "rollover" => Self::Rollover,
            "adjustment" => Self::Adjustment,
            "void" => Self::Void,
            "chargeback" => Self::Chargeback,
            "alert" => Self::Alert,
            "statement" => Self::Statement,
            _ => return None,
        })
    }
}

/// One ledger entry; maps 1:1 onto the store's `EntryRecord` (which adds the account id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique within the account and deterministic: derived from the operation id, or from
    /// the period/bucket a lazy entry belongs to (`grant:<plan>:<key>:<period start>`,
    /// `expiry:<bucket id>`), so a retried or racing commit cannot write it twice.
    pub id: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub entry_type: EntryType,
    /// The operation that wrote it; lazy entries name the operation that triggered them.
    pub operation: String,
    pub unit: Option<String>,
    /// Signed: credits added are positive, spent or lost negative.
    pub amount_minor: i64,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
    /// Everything else: buckets drawn, rates version, rating lines, thresholds...
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_types_read_back_from_their_store_names() {
        let all = [
            EntryType::Grant,
            EntryType::TopUp,
            EntryType::Charge,
            EntryType::Hold,
            EntryType::Capture,
            EntryType::Release,
            EntryType::Refund,
            EntryType::Expiry,
            EntryType::Forfeit,
            EntryType::Rollover,
            EntryType::Adjustment,
            EntryType::Void,
            EntryType::Chargeback,
            EntryType::Alert,
            EntryType::Statement,
        ];
        for entry_type in all {
            assert_eq!(EntryType::parse(entry_type.as_str()), Some(entry_type));
            let json = serde_json::to_value(entry_type).unwrap_or_default();
            assert_eq!(json.as_str(), Some(entry_type.as_str()));
        }
        assert_eq!(EntryType::parse("payment"), None);
    }
}
