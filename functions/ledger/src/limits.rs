//! Limits on everything a decision does and on everything the account snapshot holds, so
//! that no input makes it unbounded.
//!
//! The snapshot is stored as one JSON item (DynamoDB refuses items over 400 KB, the store
//! refuses them over 390 KB). Every collection of [`crate::Account`] that grows has a limit
//! here, enforced where it grows, with `limit-reached` naming it; the sizes are chosen so
//! that the largest snapshot they all allow, every client string at [`MAX_ID_BYTES`] and
//! every rate-book name at [`ASSUMED_BOOK_NAME_BYTES`], stays under [`MAX_SNAPSHOT_BYTES`]
//! (`tests/snapshot_size.rs` builds it). `docs/ledger-limits.md` lists them for clients.

/// Most entries one decision writes: the store commits at most 98 per transaction.
pub const MAX_DECISION_ENTRIES: usize = 98;
/// Entries lazy catch-up may write before the command's own entries; beyond it the
/// decision is refused with `catch-up-required` (or an `Advance` stops part way).
pub const MAX_CATCH_UP_ENTRIES: usize = 80;
/// Most lazy events (period boundaries, expiries) one decision walks through; ten years of
/// days, in microseconds of work. Beyond it, as for entries.
pub const MAX_CATCH_UP_EVENTS: usize = 4_000;
/// Longest entry id a decision writes: the stores' id limit. Longer ids are shortened with a
/// digest (`ids::fit`), so no client id can make a commit too long to store.
pub const MAX_ENTRY_ID_BYTES: usize = 512;
/// Longest id of a new bucket; entry ids embed bucket ids, so these are kept well under
/// `MAX_ENTRY_ID_BYTES`.
pub const MAX_BUCKET_ID_BYTES: usize = 192;
/// How far `now` may be behind the account's last decision (another instance's clock ran
/// ahead) and still be decided, at that last instant; further behind, `clock-behind`.
pub const MAX_CLOCK_SKEW_MS: i64 = 5_000;
/// Most live buckets an account holds, whatever happens.
///
/// A bucket is at most about 2.3 KB of JSON (a refund bucket: an id of a 256-byte client id
/// percent-encoded, the refund's and the charge's ids); 40 of them are about 92 KB, under
/// half of the snapshot budget. Buckets of one kind, unit, expiry and rule merge (see
/// `buckets.rs`), so an account needs one per distinct expiry: 40 covers monthly top-ups
/// that each expire after two years (25 live at once), plus a plan's grants. The overdraft buckets
/// (one per unit with a credit line) are not counted: a book has at most 64 units.
pub const MAX_BUCKETS: usize = 40;
/// Most live buckets one plan's grants may keep at once, as [`grant_buckets_bound`] counts
/// them. A plan beyond it (a daily grant that expires after 30 days keeps 30) is refused
/// when an account is put on it; a plan change is refused when the buckets already live
/// plus the new plan's bound exceed [`MAX_BUCKETS`]. Lazy grants are therefore never
/// refused: time cannot be.
pub const MAX_GRANT_BUCKETS: usize = 12;
/// Top-ups and refunds may create a bucket only while the account has fewer than this
/// many: the rest of [`MAX_BUCKETS`] is kept for the grants of the plan.
pub const MAX_COMMAND_BUCKETS: usize = MAX_BUCKETS - MAX_GRANT_BUCKETS;
/// Most open holds on one account, whatever the plan says (a plan's own `limit N
/// concurrent holds` below it answers `rate-limited`). The seed plans allow at most 64.
pub const MAX_HOLDS: usize = 128;
/// Most bytes of JSON all open holds together may take. A hold stores its usage (inputs),
/// attribution and one draw per bucket it reserved in; an ordinary one is about 450 bytes,
/// so [`MAX_HOLDS`] of them fit, while long ids or many draws use the budget up sooner.
pub const MAX_HOLDS_BYTES: usize = 48 * 1024;
/// Most features whose free first request the account has used (a book has at most 256
/// features; a `first request free` is a handful of them).
pub const MAX_FREE_USED: usize = 48;
/// Most grant marks (`<plan>/<grant>`: the last period granted) an account keeps. Marks of
/// earlier plans stay (a `once` grant is once per account and plan), so this bounds the
/// plans an account can go through times their grants; checked when the plan changes.
pub const MAX_GRANT_MARKS: usize = 32;
/// Most low-balance thresholds a plan may alert on (all units together): the account
/// records those it is below.
pub const MAX_ALERT_THRESHOLDS: usize = 32;
/// Most units with an account-specific credit line.
pub const MAX_CREDIT_LINES: usize = 16;
/// Spend counters of an account: one per (unit, period) of its plan's spend limits
/// (`caps.rs`).
pub const MAX_SPEND_COUNTERS: usize = 16;
/// Longest hold: seven days.
pub const MAX_HOLD_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;
/// Largest single top-up or refund, in minor units (10^15).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;
/// Longest client id, account id, content or tag.
pub const MAX_ID_BYTES: usize = 256;
/// Longest memo of an adjustment, void or chargeback. Memos are kept in entries only, never
/// in the snapshot.
pub const MAX_MEMO_BYTES: usize = 512;
/// Longest credit kind a client may name in a top-up (kinds are words like `top_up`).
pub const MAX_KIND_BYTES: usize = 64;
/// Names taken from the rate book (units, kinds, features, plans, grant keys) are not
/// bounded by the rate language beyond the size of the file; the worst case of the limits
/// above is computed with names this long, and [`MAX_SNAPSHOT_BYTES`] stops the rest.
pub const ASSUMED_BOOK_NAME_BYTES: usize = 64;
/// The open cycle's statement keeps a usage line per (unit, feature) charged in the cycle:
/// the worst case above is computed with this many lines. A book's units times features
/// used in one cycle may exceed it only for books far beyond any seed policy's (the
/// largest charges 6 features in 1 unit); [`MAX_SNAPSHOT_BYTES`] stops the rest.
pub const ASSUMED_STATEMENT_LINES: usize = 64;
/// Largest snapshot a decision may produce, in bytes of JSON: a backstop that the limits
/// above keep out of reach (their worst case is under 200 KB). At 256 KiB it is far from
/// the 390 KB the DynamoDB store accepts, so both stores always accept what the ledger
/// decides.
pub const MAX_SNAPSHOT_BYTES: usize = 256 * 1024;

/// How many buckets the grants of `plan` can keep live at once, counted generously: one
/// more per grant than its expiries allow (the newest period's bucket is merged into its
/// elders only at the next instant). Cycles are months (at least 28 days).
pub fn grant_buckets_bound(plan: &credits_dsl::Plan) -> usize {
    use credits_dsl::{Expiry, GrantEvery, Rollover};
    let mut total: usize = 0;
    for grant in &plan.grants {
        let live: usize = match (grant.every, grant.expires, &grant.rollover) {
            (GrantEvery::Once, _, _) => 1,
            (_, Expiry::Never | Expiry::EndOfDay, _) => 1,
            (_, Expiry::EndOfCycle, Some(Rollover::Cycles { cycles })) => usize::try_from(*cycles)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
            (_, Expiry::EndOfCycle, _) => 1,
            (GrantEvery::Day, Expiry::AfterDays(days), _) => {
                usize::try_from(days).unwrap_or(usize::MAX)
            }
            (GrantEvery::Cycle, Expiry::AfterDays(days), _) => usize::try_from(days / 28)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
            (_, Expiry::AfterCycles(cycles), _) => usize::try_from(cycles)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        };
        total = total.saturating_add(live.saturating_add(1));
    }
    total
}
