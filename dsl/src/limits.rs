//! Limits on everything a rate file may hold, so that checking and rating a book is bounded
//! in time and memory whatever the input (and parsing can never overflow the stack).
//!
//! Units come last in names. The limits a product manager can meet are listed in
//! `LANGUAGE.md`; the others are far above any real book.

/// Longest name a book may give (book, feature, input, choice, unit, channel, plan, credit
/// kind, package), in characters: the HTTP API refuses longer names in requests, so a book
/// that used one would load and then refuse every request naming it.
pub const MAX_NAME_CHARS: usize = 64;
/// Largest rate file, in bytes (256 KiB).
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Deepest `{ }` nesting: a feature holding a tiers block.
pub const MAX_NESTING_DEPTH: usize = 2;
/// Most features in one book.
pub const MAX_FEATURES: usize = 256;
/// Most plans in one book.
pub const MAX_PLANS: usize = 64;
/// Most units in one book.
pub const MAX_UNITS: usize = 64;
/// Most request channels in one book.
pub const MAX_CHANNELS: usize = 64;
/// Most inputs of one feature.
pub const MAX_INPUTS_PER_FEATURE: usize = 64;
/// Most names in one `choice(...)`.
pub const MAX_CHOICES_PER_INPUT: usize = 64;
/// Most statements (rules, roundings, minimums...) in one feature.
pub const MAX_RULES_PER_FEATURE: usize = 256;
/// Largest factor on a feature's amount (`multiply by 100`, `add 9900%`): a price a hundred
/// times another is a different price, written as a `base` line or a table row.
pub const MAX_FACTOR: u32 = 100;
/// Most rows of one price table.
pub const MAX_TABLE_ROWS: usize = 256;
/// Most price columns of one price table.
pub const MAX_TABLE_COLUMNS: usize = 8;
/// Most prices of one feature once its tables are lowered: rules and table cells together
/// (every one is tried on every rating).
pub const MAX_LINES_PER_FEATURE: usize = 2048;
/// Most tiers in one tiers block.
pub const MAX_TIERS_PER_RULE: usize = 64;
/// Most combinations of choices, flags and channel one feature's conditions can tell apart.
pub const MAX_COMBINATIONS_PER_FEATURE: usize = 4096;
/// Most statements in one plan.
pub const MAX_STATEMENTS_PER_PLAN: usize = 256;
/// Spend limits (`limit N UNIT per day|month|cycle`) per plan: the ledger keeps a counter for
/// each in the account's snapshot (`MAX_SPEND_COUNTERS` there).
pub const MAX_SPEND_LIMITS_PER_PLAN: usize = 16;
/// Most `expect` examples in one book.
pub const MAX_EXPECTS: usize = 1024;
/// Most terms (`N * feature(...)`) summed in one example.
pub const MAX_TERMS_PER_EXPECT: usize = 64;
/// Largest `N` in `N * feature(...)`.
pub const MAX_EXPECT_COUNT: u64 = 1_000_000;
/// Most digits before the decimal point of a number.
pub const MAX_INTEGER_DIGITS: usize = 18;
/// Most digits after the decimal point of a number.
pub const MAX_DECIMAL_DIGITS: usize = 12;
/// Most digits of a number in all, leading zeros not counted: any number of 28 digits is held
/// exactly (rust_decimal holds 28 to 29), so 18 + 12 digits cannot all be used at once.
pub const MAX_SIGNIFICANT_DIGITS: usize = 28;
/// Largest `scale` of a unit (decimal places kept).
pub const MAX_UNIT_SCALE: u32 = 12;
/// Largest number of days or cycles in an expiry, rollover or refund window (about 27 years).
pub const MAX_PERIOD_COUNT: u32 = 10_000;
/// Longest `late usage within` window, in days (usage older than this is history, not a charge).
pub const MAX_LATE_USAGE_DAYS: u32 = 90;
/// The longest `warn before expiry` window, in days.
pub const MAX_EXPIRY_WARNING_DAYS: u32 = 365;
/// Largest `limit N requests` or `limit N concurrent holds`.
pub const MAX_RATE_LIMIT: u32 = 1_000_000_000;

/// Most currencies one book prices its packages in (statements keep top-up money per
/// currency, in the bounded snapshot).
pub const MAX_CURRENCIES_PER_BOOK: usize = 4;
