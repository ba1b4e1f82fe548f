//! The largest account snapshot the limits allow fits well under the store's item size.
//!
//! The test builds it by hand: every collection at its limit, every client string at
//! `MAX_ID_BYTES` of the characters that grow most in JSON (`"` doubles when escaped, `:`
//! triples when percent-encoded into a bucket id), every rate-book name at
//! `ASSUMED_BOOK_NAME_BYTES`, every number at its longest. The open holds are bounded in bytes
//! (`MAX_HOLDS_BYTES`), so they count as that budget whatever they hold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use credits_dsl::{InputValue, Rollover, SubscriptionPeriod, Usage};
use credits_ledger::limits::{
    ASSUMED_BOOK_NAME_BYTES, ASSUMED_STATEMENT_LINES, MAX_ALERT_THRESHOLDS, MAX_BUCKETS,
    MAX_CREDIT_LINES, MAX_FREE_USED, MAX_GRANT_MARKS, MAX_HOLDS, MAX_HOLDS_BYTES, MAX_ID_BYTES,
    MAX_SNAPSHOT_BYTES,
};
use credits_ledger::{
    Account, AccountStatus, Bucket, Draw, GrantMark, Hold, OVERDRAFT_KIND, OpenStatement, Origin,
    PlanRef, RequestWindow, Subscription, SubscriptionStatus, UnitStatement,
};

/// What the worst case must stay under: half the 390 KB the DynamoDB store accepts, so
/// that the snapshot never comes near the item limit.
const WORST_CASE_BUDGET_BYTES: usize = 200 * 1024;

/// Most units a rate book may define (`credits_dsl::limits::MAX_UNITS`): at most one
/// overdraft bucket each, outside the bucket limit.
const MAX_UNITS: usize = 64;

fn instant() -> DateTime<Utc> {
    // Nanoseconds make the longest RFC 3339 text.
    "2999-12-31T23:59:59.999999999Z".parse().unwrap()
}

/// A client string that grows most in JSON.
fn client(tag: usize) -> String {
    let head = format!("{tag}");
    format!("{head}{}", "\"".repeat(MAX_ID_BYTES - head.len()))
}

/// A rate-book name.
fn name(tag: usize) -> String {
    let head = format!("n{tag}");
    format!("{head}{}", "x".repeat(ASSUMED_BOOK_NAME_BYTES - head.len()))
}

/// A refund bucket: the longest (its id holds the refund's client id percent-encoded, its
/// origin the refund's and the charge's ids).
fn refund_bucket(index: usize) -> Bucket {
    let operation = format!(
        "{index}{}",
        ":".repeat(MAX_ID_BYTES - index.to_string().len())
    );
    Bucket {
        id: format!("refund:{}:{}", operation.replace(':', "%3A"), name(0)),
        // The kind of a refund bucket is the book's (a top-up's may be the client's, at most
        // `MAX_KIND_BYTES`, but its origin is shorter than a refund's by a whole client id).
        kind: name(9),
        unit: name(0),
        left_minor: i64::MIN,
        held_minor: i64::MIN,
        granted_minor: i64::MIN,
        expires_at: Some(instant()),
        origin: Origin::Refund {
            operation: client(index),
            charge: client(index + 1),
        },
        created_at: instant(),
        rollover: Some(Rollover::UpTo {
            amount_minor: i64::MIN,
        }),
        mergeable: true,
    }
}

fn overdraft_bucket(unit: usize) -> Bucket {
    Bucket {
        id: format!("overdraft:{}", name(unit)),
        kind: OVERDRAFT_KIND.to_owned(),
        unit: name(unit),
        left_minor: i64::MIN,
        held_minor: i64::MIN,
        granted_minor: i64::MIN,
        expires_at: None,
        origin: Origin::Overdraft,
        created_at: instant(),
        rollover: None,
        mergeable: false,
    }
}

/// Holds as large as the byte budget lets them be, as many as fit.
fn holds() -> Vec<Hold> {
    let mut holds = Vec::new();
    for index in 0..MAX_HOLDS {
        let hold = Hold {
            id: client(index),
            feature: name(1),
            model: Some(name(2)),
            usage: Usage {
                feature: name(1),
                channel: Some(name(3)),
                inputs: BTreeMap::from([(name(4), InputValue::Choice(name(5)))]),
            },
            rates_version: "f".repeat(64),
            created_at: instant(),
            expires_at: instant(),
            draws: vec![Draw {
                bucket: refund_bucket(index).id,
                kind: name(6),
                unit: name(0),
                amount_minor: i64::MIN,
                expires_at: Some(instant()),
            }],
            project: Some(client(index)),
            member: Some(client(index)),
            content: Some(client(index)),
        };
        holds.push(hold);
        if serde_json::to_vec(&holds).unwrap().len() > MAX_HOLDS_BYTES {
            holds.pop();
            break;
        }
    }
    holds
}

fn largest_account() -> Account {
    let mut buckets: Vec<Bucket> = (0..MAX_BUCKETS).map(refund_bucket).collect();
    buckets.extend((0..MAX_UNITS).map(overdraft_bucket));
    // Every bucket announced as expiring: the longest way to record warnings.
    let expiry_warned = buckets
        .iter()
        .map(|bucket| credits_ledger::expiring::mark(&bucket.id))
        .collect();
    Account {
        id: client(0),
        plan: PlanRef {
            book: name(7),
            plan: name(8),
        },
        status: AccountStatus::Suspended,
        subscription: Some(Subscription {
            status: SubscriptionStatus::Cancelled,
            period: SubscriptionPeriod::Quarterly,
            anchor: instant(),
            ends_at: Some(instant()),
        }),
        time_zone: Some("America/Argentina/ComodRivadavia".to_owned()),
        credit_line_minor: Some(
            (0..MAX_CREDIT_LINES)
                .map(|unit| (name(unit), i64::MIN))
                .collect(),
        ),
        created_at: instant(),
        plan_since: instant(),
        buckets,
        holds: holds(),
        free_used: (0..MAX_FREE_USED).map(name).collect(),
        grants_applied: (0..MAX_GRANT_MARKS)
            .map(|index| {
                (
                    format!("{}/{}", name(index), name(index + 1)),
                    GrantMark {
                        period_start: instant(),
                        next_due: instant(),
                    },
                )
            })
            .collect(),
        // One threshold per unit is the longest way to record them.
        alerts_fired: (0..MAX_ALERT_THRESHOLDS)
            .map(|unit| (name(unit), BTreeSet::from([i64::MIN])))
            .collect(),
        requests: RequestWindow {
            window_start: Some(instant()),
            count: u32::MAX,
        },
        next_seq: u64::MAX,
        advanced_to: instant(),
        statement: Some(statement()),
        events_published: u64::MAX,
        expiry_warned,
        auto_topup_below: (0..MAX_UNITS).map(name).collect(),
        // One counter per (unit, period) of the plan's spend limits, at the limit.
        spend: (0..credits_ledger::limits::MAX_SPEND_COUNTERS)
            .map(|index| credits_ledger::SpendCounter {
                unit: name(index),
                period: credits_dsl::SpendPeriod::Cycle,
                period_start: instant(),
                spent_minor: i64::MIN,
            })
            .collect(),
    }
}

/// The open cycle's statement with [`ASSUMED_STATEMENT_LINES`] usage lines over 8 units,
/// every amount at its longest.
fn statement() -> OpenStatement {
    let units = 8;
    let unit = |index: usize| UnitStatement {
        opening_minor: i64::MIN,
        grants_minor: i64::MIN,
        top_ups_minor: i64::MIN,
        usage_by_feature_minor: (0..ASSUMED_STATEMENT_LINES / units)
            .map(|feature| (name(index * 100 + feature), i64::MIN))
            .collect(),
        usage_minor: i64::MIN,
        refunds_minor: i64::MIN,
        expired_minor: i64::MIN,
        forfeited_minor: i64::MIN,
        adjustments_minor: i64::MIN,
        voided_minor: i64::MIN,
        closing_minor: i64::MIN,
        usage_by_outcome_minor: ["cancelled", "failed", "moderated"]
            .into_iter()
            .map(|outcome| (outcome.to_owned(), i64::MIN))
            .collect(),
        top_ups_paid_minor: (0..credits_dsl::limits::MAX_CURRENCIES_PER_BOOK)
            .map(|currency| (format!("AA{currency}"), i64::MIN))
            .collect(),
    };
    OpenStatement {
        starts_at: instant(),
        ends_at: instant(),
        units: (0..units).map(|index| (name(index), unit(index))).collect(),
    }
}

#[test]
fn the_largest_snapshot_the_limits_allow_fits_well_under_the_item_limit() {
    let account = largest_account();
    let holds_bytes = serde_json::to_vec(&account.holds).unwrap().len();
    assert!(holds_bytes <= MAX_HOLDS_BYTES);
    let bytes = serde_json::to_vec(&account).unwrap().len();
    // The holds count as their whole budget, whatever this build put in them.
    let worst_bytes = bytes - holds_bytes + MAX_HOLDS_BYTES;
    println!(
        "largest snapshot the limits allow: {worst_bytes} bytes ({} buckets, {} holds in {holds_bytes} bytes)",
        account.buckets.len(),
        account.holds.len()
    );
    assert!(
        worst_bytes < WORST_CASE_BUDGET_BYTES,
        "the largest snapshot is {worst_bytes} bytes"
    );
    assert!(worst_bytes < MAX_SNAPSHOT_BYTES);
    // It reads back as it was written.
    let read_back: Account =
        serde_json::from_slice(&serde_json::to_vec(&account).unwrap()).unwrap();
    assert_eq!(read_back, account);
}
