//! Limits on everything a decision does, so that no input makes it unbounded.

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
/// Most live buckets an account may hold (beyond it, top-ups are refused).
pub const MAX_BUCKETS: usize = 1_000;
/// Most open holds on one account, whatever the plan says.
pub const MAX_HOLDS: usize = 1_000;
/// Longest hold: seven days.
pub const MAX_HOLD_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;
/// Largest single top-up or refund, in minor units (10^15).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;
/// Longest client id, account id, content or tag.
pub const MAX_ID_BYTES: usize = 256;
