//! The compiled rate book: immutable, checked, plain data.
//!
//! A [`RateBook`] is what `compile` produces from a `.rates` file after every check has
//! passed; nothing in it can be inconsistent (every unit named exists, every rule is
//! reachable, every rounding is stated). The ledger reads plans from it and rates usage with
//! [`RateBook::rate`]. Types here are the contract between the rate language and the ledger.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One compiled version of one book (one `.rates` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateBook {
    /// The book's name (`imentiv`), equal to the file stem before any `@`.
    pub name: String,
    pub title: Option<String>,
    /// First day this version applies, in `time_zone`.
    pub effective: NaiveDate,
    /// IANA time zone name (`UTC` when the file states none).
    pub time_zone: String,
    /// `<book>@<effective>#<first 12 hex of sha256(file bytes)>`.
    pub rates_version: String,
    pub units: Vec<UnitDef>,
    pub channels: Option<Channels>,
    pub features: Vec<Feature>,
    pub plans: Vec<Plan>,
    pub expects: Vec<Expect>,
    /// `expect … refused CODE` examples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<crate::scenario::RefusedExpect>,
    /// `scenario` blocks, run outside the language (`credits rates test`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<crate::scenario::Scenario>,
}

/// A unit of account (`credit`, `video_minute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitDef {
    pub name: String,
    /// Amounts are stored as integers of 10^-scale (`scale 2` → minor unit 0.01).
    pub scale: u32,
    /// The unit's default amount rounding, if the file states one.
    pub rounding: Option<RoundingMode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub names: Vec<String>,
    pub default: String,
}

/// Explicit rounding modes; there is no implicit default anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundingMode {
    /// Away from zero.
    Up,
    /// Toward zero.
    Down,
    HalfUp,
    HalfEven,
    HalfDown,
}

/// The kind of a feature input, which fixes its base unit and literal syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "choices")]
pub enum InputKind {
    /// Base unit: second. Fractional.
    Duration,
    /// Base unit: word. Whole.
    Words,
    /// Base unit: character. Whole.
    Characters,
    /// Base unit: image. Whole.
    Images,
    /// Base unit: token. Whole.
    Tokens,
    /// Base unit: request. Whole.
    Requests,
    /// Base unit: megabyte (decimal). Fractional.
    Data,
    /// Plain whole number (outputs, variants).
    Count,
    Choice(Vec<String>),
    Flag,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub name: String,
    pub kind: InputKind,
    /// Default value when a request omits the input; `None` means required.
    pub default: Option<InputValue>,
    /// Smallest accepted quantity, in the base unit (measured kinds and counts). `None`: any
    /// quantity above zero, because a quantity of nothing is not usage; `min 0` accepts zero.
    pub min: Option<Decimal>,
    /// Largest accepted quantity, in the base unit (measured kinds and counts).
    pub max: Option<Decimal>,
    /// `one of 5s, 10s`: the only quantities a request may give, in the base unit, sorted;
    /// empty = any quantity between `min` and `max`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<Decimal>,
}

/// A validated input value, quantities in the input's base unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputValue {
    Quantity(Decimal),
    Choice(String),
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub title: Option<String>,
    pub inputs: Vec<Input>,
    /// Minimum quantities, applied before rounding.
    pub minimum_quantities: Vec<MinimumQuantity>,
    /// Quantity rounding per input, applied after minimums and before any rule.
    pub quantity_rounding: Vec<QuantityRounding>,
    pub rules: Vec<Rule>,
    /// `multiply by INPUT`: count inputs every line is multiplied by.
    pub multipliers: Vec<String>,
    /// `multiply by NUMBER` and `add NUMBER%`, in the order written: each that holds
    /// multiplies every unit's summed amount, before its rounding and minimum charge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<Factor>,
    /// Amount rounding per unit charged (resolved: feature's statement or the unit's default).
    pub amount_rounding: Vec<AmountRounding>,
    /// Minimum charge per job, per unit (in that unit, exact).
    pub minimum_amounts: Vec<MinimumAmount>,
    pub first_request_free: bool,
    /// `requires A or B on same content`: empty when the feature needs no prior analysis.
    pub requires_prior: Vec<String>,
    /// Units this feature can charge (sorted), for reports and validation.
    pub units: Vec<String>,
    /// `outcome …` statements: what a job ending other than completed costs; an ending not
    /// listed costs its default (`outcomes.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<crate::outcomes::OutcomeRule>,
    /// `quantity NAME = ...`: quantities computed from inputs, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedQuantity>,
    /// `maximum QUANTITY of INPUT`: bill at most this quantity (applied after minimums,
    /// before rounding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maximum_quantities: Vec<MaximumQuantity>,
    /// `refuse "MESSAGE" when COND`: usages the book refuses, in order; the first that
    /// holds refuses with its message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// `quantity NAME = A + B + 500 tokens` or `quantity NAME = A * B`: one operator per
/// quantity, so there is no precedence to get wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedQuantity {
    /// Its name and kind as an input's (a sum keeps its terms' kind; a product of counts is
    /// a count, and a count times a measure is that measure), with `max` the largest
    /// quantity it can reach (every term at its `max`); never given by a request.
    pub input: Input,
    pub op: DerivedOperator,
    pub terms: Vec<DerivedTerm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedOperator {
    Sum,
    Product,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "term", content = "value")]
pub enum DerivedTerm {
    /// An input (or an earlier derived quantity), after its own minimum, maximum and round.
    Input(String),
    /// A constant in the quantity's base unit (`500 tokens` → 500).
    Constant(Decimal),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaximumQuantity {
    pub input: String,
    pub quantity: Decimal,
    pub when: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The book's message, as written between the quotes.
    pub message: String,
    pub when: Condition,
    /// 1-based line of the statement in its file.
    pub line: u32,
}

/// A modifier on a feature's amount: `multiply by 0.5 when batch` (factor 0.5) or
/// `add 30% when hd` (factor 1.3). Factors compound: two that hold multiply together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    /// Above zero and at most [`crate::limits::MAX_FACTOR`].
    pub factor: Decimal,
    pub when: Condition,
    /// The statement as written, for explanations (`add 30% when hd`).
    pub source: String,
    /// 1-based line of the statement in its file.
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimumQuantity {
    pub input: String,
    pub quantity: Decimal,
    pub when: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantityRounding {
    pub input: String,
    pub direction: QuantityDirection,
    /// Round to a multiple of this, in the input's base unit.
    pub step: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityDirection {
    Up,
    Down,
    /// Nearest multiple; halves go up.
    Nearest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountRounding {
    pub unit: String,
    /// Precision as a decimal step (`0.01`); never finer than the unit's scale.
    pub precision: Decimal,
    pub mode: RoundingMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimumAmount {
    pub unit: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleRole {
    /// At most one base rule per unit matches any combination of choices.
    Base,
    /// Add-ons stack.
    Add,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub role: RuleRole,
    pub unit: String,
    pub price: Price,
    pub when: Condition,
    /// `times INPUT` on this line.
    pub times: Option<String>,
    /// The rule as written, for explanations (`base 20 credit per minute when model is pro`).
    pub source: String,
    /// 1-based line of the rule in its file.
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Price {
    /// `AMOUNT UNIT each`.
    Each { amount: Decimal },
    /// `AMOUNT UNIT per PER of INPUT [rounded DIRECTION]`: amount × quantity ÷ per.
    Per {
        amount: Decimal,
        input: String,
        /// In the input's base unit.
        per: Decimal,
        rounded: Option<QuantityDirection>,
    },
    Tiers {
        mode: TierMode,
        input: String,
        tiers: Vec<Tier>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMode {
    /// Each slice of the quantity at its tier's rate.
    Graduated,
    /// The whole quantity at the rate of the tier it falls in.
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Inclusive upper bound in the input's base unit; `None` for `above`.
    pub up_to: Option<Decimal>,
    pub amount: Decimal,
    /// In the input's base unit.
    pub per: Decimal,
}

/// A conjunction of tests on choice/flag inputs and the channel; empty = always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub all: Vec<Test>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "test")]
pub enum Test {
    /// `INPUT is a or b` (`channel` included).
    OneOf { input: String, values: Vec<String> },
    /// `FLAG` (`expected: true`) or `not FLAG`.
    Flag { input: String, expected: bool },
    /// `QUANTITY above|below|at least|at most LITERAL`: on an input's (or a derived)
    /// quantity after its minimum, maximum and round; `quantity` in its base unit.
    Compare {
        input: String,
        op: crate::ast::CompareOp,
        quantity: Decimal,
    },
}

/// A usage to rate: a feature with validated inputs (every input present, defaults filled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub feature: String,
    pub channel: Option<String>,
    pub inputs: BTreeMap<String, InputValue>,
}

/// Facts about the account that rating depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingContext {
    /// This is the account's first request of a `first request free` feature.
    pub first_request: bool,
}

/// The result of rating one usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub feature: String,
    pub rates_version: String,
    /// Per unit charged, sorted by unit name; zero amounts are left out.
    pub amounts: Vec<RatedAmount>,
    /// Which rules applied and what each contributed, in order; for explanations.
    pub lines: Vec<RatingLine>,
    pub free: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedAmount {
    pub unit: String,
    /// Rounded per the book; exactly representable in `amount_minor`.
    pub amount: Decimal,
    /// `amount` × 10^scale.
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingLine {
    /// Human explanation: `duration 210 s → 210 s; base 20 credit per minute when model is pro = 70 credit`.
    pub text: String,
    pub unit: Option<String>,
    pub amount: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub title: Option<String>,
    pub cycle: Option<Cycle>,
    /// Subscription periods sold (`monthly`, `quarterly`, `yearly`); credits assigned monthly.
    pub periods: Vec<SubscriptionPeriod>,
    pub grants: Vec<Grant>,
    /// Consumption order of credit kinds; every kind the plan uses appears here.
    pub order: Vec<String>,
    pub topup: Option<TopUpPolicy>,
    pub packages: Vec<Package>,
    pub gates: Vec<Gate>,
    /// Overdraft allowed per unit, in minor units (positive numbers).
    pub credit_line_minor: BTreeMap<String, i64>,
    /// Low-balance thresholds per unit, in minor units, sorted descending.
    pub alerts_minor: BTreeMap<String, Vec<i64>>,
    pub refund: Option<RefundPolicy>,
    pub limits: Limits,
    /// `late usage within`: how long after it happened a usage may still be charged with
    /// its `occurred_at`, in seconds; `None` = only usage of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_usage_seconds: Option<u32>,
    /// `topup minimum …, step …, packages only` (`docs/topups.md`).
    #[serde(default, skip_serializing_if = "crate::money::TopUpRules::is_default")]
    pub topup_rules: crate::money::TopUpRules,
    /// `warn before expiry`: how long before a bucket expires its `credits.expiring` event
    /// is published, in seconds; `None` = no warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warning_seconds: Option<u32>,
    /// `auto topup below`: per unit, the available balance under which the ledger asks the
    /// platform (an `auto_topup.requested` event) to sell the named package.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auto_topup: BTreeMap<String, AutoTopup>,
    /// Caps on the balance, on the spend of a period and on one request
    /// (`docs/plan-lifecycle.md`); empty when the plan states none.
    #[serde(default, skip_serializing_if = "Caps::is_empty")]
    pub caps: Caps,
}

/// A plan's `auto topup below AMOUNT package NAME` for one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTopup {
    /// Asked for when the available balance falls below this, in minor units.
    pub below_minor: i64,
    /// A package of the plan, in the same unit.
    pub package: String,
}

/// `balance at most`, `limit N UNIT per day|month|cycle` and `limit N UNIT per request`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Per unit: the most the balance may hold, in minor units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub balance_max_minor: BTreeMap<String, i64>,
    /// The most charges may spend per period, at most one per (unit, period).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<SpendLimit>,
    /// Per unit: the most one charge (or hold) may cost, in minor units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_request_minor: BTreeMap<String, i64>,
}

impl Caps {
    pub fn is_empty(&self) -> bool {
        self.balance_max_minor.is_empty()
            && self.spend.is_empty()
            && self.per_request_minor.is_empty()
    }
}

/// `limit 100 credit per day`: what charges may spend in one period of the account's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendLimit {
    pub unit: String,
    pub period: SpendPeriod,
    pub amount_minor: i64,
}

/// The period a spend limit counts over, in the account's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpendPeriod {
    /// The local calendar day.
    Day,
    /// The local calendar month.
    Month,
    /// The account's billing cycle.
    Cycle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cycle {
    /// 1st to last day of the month, in the account's time zone.
    MonthlyCalendar,
    /// Anchored on the purchase date: anchor + n months (31st → last day of shorter months).
    MonthlyFromPurchase,
    /// 1 January to 31 December, in the account's time zone.
    YearlyCalendar,
    /// Anchored on the purchase date: anchor + n years (29 February → 28 February).
    YearlyFromPurchase,
}

impl Cycle {
    /// Months between two boundaries of the cycle.
    pub fn months(self) -> u32 {
        match self {
            Self::MonthlyCalendar | Self::MonthlyFromPurchase => 1,
            Self::YearlyCalendar | Self::YearlyFromPurchase => 12,
        }
    }

    /// Whether the cycle is anchored on the purchase (else on the calendar).
    pub fn from_purchase(self) -> bool {
        matches!(self, Self::MonthlyFromPurchase | Self::YearlyFromPurchase)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionPeriod {
    Monthly,
    Quarterly,
    Yearly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Stable key of this grant rule within the plan (`allocation:credit:every_cycle`), used
    /// to make each period's grant idempotent.
    pub key: String,
    pub unit: String,
    pub amount_minor: i64,
    pub every: GrantEvery,
    pub kind: String,
    pub expires: Expiry,
    pub rollover: Option<Rollover>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantEvery {
    /// Each calendar day in the account's time zone.
    Day,
    /// Each billing cycle (monthly assignment).
    Cycle,
    /// Once, when the account starts on the plan.
    Once,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "n")]
pub enum Expiry {
    Never,
    EndOfDay,
    EndOfCycle,
    AfterDays(u32),
    AfterCycles(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Rollover {
    /// Kept while the subscription is active; forfeited at the end of a cancelled period.
    WhileSubscribed,
    /// Usable this many cycles after its own.
    Cycles { cycles: u32 },
    /// At each cycle end what is left above the cap expires; the rest rolls over.
    UpTo { amount_minor: i64 },
    /// Both: capped at each cycle end, and forfeited at the end of a cancelled period.
    UpToWhileSubscribed { amount_minor: i64 },
}

impl Rollover {
    /// Forfeited when the subscription is no longer in effect.
    pub fn while_subscribed(&self) -> bool {
        matches!(
            self,
            Self::WhileSubscribed | Self::UpToWhileSubscribed { .. }
        )
    }

    /// The cap on what rolls over, in minor units.
    pub fn cap_minor(&self) -> Option<i64> {
        match self {
            Self::UpTo { amount_minor } | Self::UpToWhileSubscribed { amount_minor } => {
                Some(*amount_minor)
            }
            Self::WhileSubscribed | Self::Cycles { .. } => None,
        }
    }

    /// Kept by its rule alone: no fixed expiry instant.
    pub fn open_ended(&self) -> bool {
        !matches!(self, Self::Cycles { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpPolicy {
    pub kind: String,
    pub expires: Expiry,
    pub requires_subscription: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub unit: String,
    pub amount_minor: i64,
    /// `for PRICE CURRENCY`: what the package sells for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::money::Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub feature: String,
    pub when: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPolicy {
    pub window_days: u32,
    pub reasons: Vec<String>,
    pub expired: ExpiredRefund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ExpiredRefund {
    Forfeit,
    Restore { kind: String, expires: Expiry },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub requests: Option<RequestLimit>,
    pub concurrent_holds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

/// An `expect` example: a sum of `count × feature(inputs)` must rate to `amounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    pub terms: Vec<ExpectTerm>,
    /// Expected total per unit (units not listed must total zero).
    pub amounts: Vec<(String, Decimal)>,
    pub line: u32,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectTerm {
    pub count: u64,
    pub usage: Usage,
    pub first_request: bool,
    /// `plan: NAME`: the account's plan, for books whose prices depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}
