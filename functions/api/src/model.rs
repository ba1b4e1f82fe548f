//! Request and response bodies of the HTTP API, as documented in the OpenAPI document.
//!
//! Amounts are decimal strings in both directions (`"12.50"`), rendered at the unit's scale.
//! Requests reject unknown fields; feature inputs keep their JSON text verbatim (a number is
//! never read through a float), and are validated by the rate book.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// Feature inputs in the order given, duplicates kept (the rate book rejects them).
#[derive(Debug, Default)]
pub struct Inputs(pub Vec<(String, Box<RawValue>)>);

/// Most inputs one request may name.
pub const MAX_INPUTS: usize = 64;

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputsVisitor;
        impl<'de> Visitor<'de> for InputsVisitor {
            type Value = Inputs;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of inputs, e.g. {\"duration\": \"3m30s\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inputs, A::Error> {
                let mut inputs = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    if inputs.len() >= MAX_INPUTS {
                        return Err(serde::de::Error::custom(format!(
                            "at most {MAX_INPUTS} inputs may be given"
                        )));
                    }
                    inputs.push((name, value));
                }
                Ok(Inputs(inputs))
            }
        }
        deserializer.deserialize_map(InputsVisitor)
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// `PUT /v1/accounts/{account}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "an account object")]
#[schema(example = json!({"plan": "imentiv/professional", "subscription": {"status": "active", "period": "monthly", "anchor": "2026-01-31T00:00:00Z"}}))]
pub struct AccountRequest {
    /// The plan, `<book>/<plan>`: the rate book's file stem and a plan in it.
    pub plan: String,
    /// Left as it is when absent (none on creation).
    pub subscription: Option<SubscriptionBody>,
    /// IANA time zone of the account's days and cycles; the rate book's when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub time_zone: Option<String>,
    /// Overdraft allowed, replacing the plan's credit line: a decimal string for the book's
    /// only unit, or an object by unit (`{"credit": "500"}`). Optional: absent leaves the
    /// account's override as it is (none on creation: the plan's credit line applies); `{}`
    /// removes the override, so the plan's credit line applies again.
    #[schema(value_type = Option<CreditLine>, required = false, example = json!({"credit": "500"}))]
    pub credit_line: Option<Box<RawValue>>,
    /// `active` or `suspended` (suspension freezes spending). Close with
    /// `POST /v1/accounts/{account}/close`.
    pub status: Option<String>,
}

/// A credit line: a decimal string for the book's only unit, or decimal strings by unit.
// Only documents the shape: the server reads `credit_line` raw, with the book's units.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum CreditLine {
    /// For the book's only unit.
    Total(String),
    /// By unit.
    PerUnit(BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a subscription object")]
pub struct SubscriptionBody {
    /// `active`, `cancelled` or `ended`.
    pub status: String,
    /// `monthly`, `quarterly` or `yearly`.
    pub period: String,
    /// Purchase instant (RFC 3339), or a date (`2026-12-06`): midnight of that day in the
    /// account's time zone. Cycles `from purchase` are anchor + n months.
    #[schema(value_type = String, example = "2026-01-31T00:00:00Z")]
    pub anchor: Anchor,
    pub ends_at: Option<DateTime<Utc>>,
}

/// A subscription's anchor as the client wrote it: an instant, or a date that the account's
/// time zone turns into its first instant (`service::configure`). Answers always give the
/// instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Serialize for Anchor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Anchor::At(at) => at.serialize(serializer),
            Anchor::Day(day) => day.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Anchor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnchorVisitor;
        impl Visitor<'_> for AnchorVisitor {
            type Value = Anchor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 instant (`2026-12-06T00:00:00Z`) or a date (`2026-12-06`)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Anchor, E> {
                if let Ok(at) = text.parse::<DateTime<Utc>>() {
                    return Ok(Anchor::At(at));
                }
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(Anchor::Day)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_str(AnchorVisitor)
    }
}

/// `POST /v1/accounts/{account}/close`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "an object with an `id`")]
pub struct CloseRequest {
    /// Client id of the operation (its idempotency key).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
}

/// `POST /v1/accounts/{account}/quotes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a quote object")]
#[schema(example = json!({"feature": "video_emotion", "inputs": {"duration": "3m30s"}, "channel": "api"}))]
pub struct QuoteRequest {
    /// A feature of the account's rate book.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub feature: String,
    /// Input values: JSON numbers or strings in the input's base unit (`210`), or
    /// unit-suffixed literals (`"3m30s"`, `"250 words"`); choices as strings; flags as
    /// booleans or `"yes"`/`"no"`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"duration": "3m30s"}))]
    pub inputs: Inputs,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub channel: Option<String>,
    /// The content analysed, for features that need a prior analysis of the same content.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub content: Option<String>,
    /// How the job ended: `completed` (the default), `failed`, `moderated` or `cancelled`;
    /// the rate book says what each costs (`docs/charges.md`).
    #[schema(example = "completed")]
    pub outcome: Option<String>,
}

/// `POST /v1/accounts/{account}/charges`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a charge object")]
#[schema(example = json!({"id": "job-4711", "feature": "video_emotion", "inputs": {"duration": 210}, "channel": "web", "project": "onboarding", "content": "video-93"}))]
pub struct ChargeRequest {
    /// Client id of the charge: its idempotency key, forever.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// A feature of the account's rate book.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub feature: String,
    /// Input values: JSON numbers or strings in the input's base unit (`210`), or
    /// unit-suffixed literals (`"3m30s"`, `"250 words"`); choices as strings; flags as
    /// booleans or `"yes"`/`"no"`. Numbers are read from their JSON text, never as floats.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"duration": "3m30s"}))]
    pub inputs: Inputs,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub channel: Option<String>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub project: Option<String>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub member: Option<String>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub content: Option<String>,
    /// When the usage happened, if before now: accepted within the plan's `late usage
    /// within` window, priced by the rate-book version in force then, paid from what the
    /// account holds now (`docs/charges.md`). Absent: the usage is of now.
    pub occurred_at: Option<DateTime<Utc>>,
    /// `all` (the default): the whole price or `402 insufficient-credits`. `available`: spend
    /// what the account can pay (credits and credit line) and report the rest as `shortfall`.
    pub collect: Option<CollectMode>,
    /// How the job ended: `completed` (the default), `failed`, `moderated` or `cancelled`;
    /// the rate book says what each costs (`docs/charges.md`).
    #[schema(example = "completed")]
    pub outcome: Option<String>,
}

/// How much of a charge must be collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectMode {
    All,
    Available,
}

/// `POST /v1/accounts/{account}/holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a hold object")]
#[schema(example = json!({"id": "job-4712", "feature": "video_emotion", "inputs": {"duration": "10m"}, "ttl_seconds": 900}))]
pub struct HoldRequest {
    /// Client id of the hold; also names it in `.../holds/{id}/capture` and `/release`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// A feature of the account's rate book.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub feature: String,
    /// The estimate, as the inputs of a charge.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"duration": "10m"}))]
    pub inputs: Inputs,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub channel: Option<String>,
    /// How long the reservation lasts (default 900, at most 604800); an expired hold is
    /// released on the next read or write.
    pub ttl_seconds: Option<u32>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub project: Option<String>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub member: Option<String>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub content: Option<String>,
}

/// `POST /v1/accounts/{account}/holds/{hold}/capture`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a capture object")]
pub struct CaptureRequest {
    /// Client id of the capture; default `capture:<hold>` (a hold is captured once).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: Option<String>,
    /// The actual usage, rated with the hold's feature and channel; absent captures the
    /// estimate as held. Never more than the hold reserved is charged.
    #[schema(value_type = Option<Object>, example = json!({"duration": "8m"}))]
    pub inputs: Option<Inputs>,
    /// How the job ended: `completed` (the default), `failed`, `moderated` or `cancelled`.
    /// An ending the book charges `by usage` needs `inputs`: the usage so far
    /// (`docs/holds.md`).
    #[schema(example = "completed")]
    pub outcome: Option<String>,
}

/// `POST /v1/accounts/{account}/holds/{hold}/release`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a release object")]
pub struct ReleaseRequest {
    /// Client id of the release; default `release:<hold>`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: Option<String>,
}

/// `POST /v1/accounts/{account}/topups` (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a top-up object")]
#[schema(example = json!({"id": "invoice-2026-0042", "amount": "5000"}))]
pub struct TopUpRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// The unit of `amount`; the book's only unit when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub unit: Option<String>,
    /// A decimal string, at most the unit's scale. Exactly one of `amount` and `package`.
    #[schema(value_type = Option<String>, example = "5000")]
    pub amount: Option<Box<RawValue>>,
    /// A package of the plan (`package NAME AMOUNT UNIT`).
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub package: Option<String>,
    /// Credit kind; the plan's top-up kind when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub kind: Option<String>,
    /// Expiry; the plan's top-up expiry when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/accounts/{account}/refunds` (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a refund object")]
#[schema(example = json!({"id": "refund-77", "charge": "job-4711", "reason": "duplicate"}))]
pub struct RefundRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// The client id of the refunded charge (or capture).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub charge: String,
    /// One of the plan's refund reasons (`duplicate`, `internal_error`, `legal`, ...).
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub reason: String,
    /// A decimal string; everything not yet refunded when absent.
    #[schema(value_type = Option<String>, example = "10.5")]
    pub amount: Option<Box<RawValue>>,
    /// The unit of `amount`; the charge's only unit when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub unit: Option<String>,
}

/// `POST /v1/accounts/{account}/adjustments` (admin): a manual credit or debit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "an adjustment object")]
#[schema(example = json!({"id": "adj-2026-001", "direction": "credit", "amount": "250", "reason": "goodwill", "memo": "sorry for the outage"}))]
pub struct AdjustmentRequest {
    /// Client id of the adjustment: its idempotency key, forever.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// `credit` (adds a bucket of its own) or `debit` (draws like a charge, or from `bucket`).
    #[schema(example = "credit")]
    pub direction: String,
    /// A positive decimal string, at most the unit's scale.
    #[schema(value_type = String, example = "250")]
    pub amount: Box<RawValue>,
    /// The unit of `amount`; the book's only unit (or the named bucket's) when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub unit: Option<String>,
    /// `goodwill`, `correction`, `migration` or `other`.
    #[schema(example = "goodwill")]
    pub reason: String,
    /// Free text for the record, at most 512 bytes (line breaks and tabs allowed).
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub memo: Option<String>,
    /// Credit only: the new bucket's kind, one of the plan's `order`; the plan's top-up
    /// kind when absent (else the last kind of its order).
    #[schema(min_length = 1, max_length = 64, pattern = r"^[!-~]+$")]
    pub kind: Option<String>,
    /// Credit only: when the credited bucket expires; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// Debit only: the id of the one bucket to draw from (as the balance lists it); by the
    /// plan's order when absent.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[!-~]+$")]
    pub bucket: Option<String>,
}

/// `POST /v1/accounts/{account}/voids` (admin): remove what is left of one bucket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a void object")]
#[schema(example = json!({"id": "void-17", "bucket": "top_up:invoice-2026-0042", "memo": "issued by mistake"}))]
pub struct VoidRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// The id of a live bucket, as the balance lists it.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[!-~]+$")]
    pub bucket: String,
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub memo: Option<String>,
}

/// `POST /v1/accounts/{account}/chargebacks` (admin): reverse a purchase (a top-up).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a chargeback object")]
#[schema(example = json!({"id": "cb-9", "purchase": "invoice-2026-0042", "memo": "card dispute"}))]
pub struct ChargebackRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub id: String,
    /// The client id of the top-up reversed.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub purchase: String,
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub memo: Option<String>,
}

/// `POST /v1/keys` (admin).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a key object")]
pub struct KeyRequest {
    /// The account the key may act on; an admin key when absent.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    pub account: Option<String>,
}

/// `GET /v1/accounts/{account}/entries` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// Inclusive start: RFC 3339 instant or a date (`2026-01-01`, midnight UTC).
    pub from: Option<String>,
    /// Exclusive end, as `from`.
    pub to: Option<String>,
    /// Entry types, comma separated (`charge,refund`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub entry_type: Option<String>,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `json` (default) or `csv` (all matching entries, up to 100000, no paging).
    pub format: Option<String>,
}

/// `GET /v1/accounts/{account}/balance` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    /// The balance as of this instant (RFC 3339, or a date: midnight UTC), from history: what
    /// the account owned per unit after its last entry at or before it. Absent: now, with
    /// buckets.
    pub at: Option<String>,
}

/// `GET /v1/accounts` query (admin).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// Only accounts on this plan: `book/plan`, or a plan name of any book.
    pub plan: Option<String>,
    /// Only accounts with this status: `active`, `suspended` or `closed`.
    pub status: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Most accounts in a page, 1 to 100 (default 50). A page may hold fewer while more
    /// follow; walk until `next_cursor` is absent.
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------------------
// Responses

/// An amount taken from, reserved in, or credited to one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrawView {
    pub bucket: String,
    pub kind: String,
    pub unit: String,
    /// Decimal string.
    pub amount: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One live bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BucketBody {
    pub id: String,
    pub kind: String,
    /// Spendable now.
    pub left: String,
    /// Reserved by open holds.
    pub held: String,
    pub granted: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The purchase (the top-up's client id) whose credits it holds; absent for other
    /// buckets. Each top-up is its own bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<String>,
}

/// The balance of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitBalanceBody {
    /// Spendable now (negative when overdrawn within the credit line).
    pub available: String,
    /// Reserved by open holds.
    pub held: String,
    /// Credit line still unused.
    pub credit_line_left: String,
    /// Live buckets in consumption order.
    pub buckets: Vec<BucketBody>,
    /// The plan's `balance at most` for this unit: top-ups above it are refused
    /// (`balance-cap-exceeded`), grants trimmed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_max: Option<String>,
    /// The plan's spend limits of this unit and what the running period spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend_limits: Vec<SpendLimitBody>,
}

/// A spend limit of the plan (`limit 100 credit per day`) as it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpendLimitBody {
    /// `day`, `month` or `cycle` (local to the account's time zone).
    pub period: String,
    pub limit: String,
    pub spent: String,
    /// What may still be spent before `resets_at`.
    pub left: String,
    /// When the running period ends and the spend counts from zero.
    pub resets_at: DateTime<Utc>,
}

/// `GET /v1/accounts/{account}/balance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    pub account: String,
    pub at: DateTime<Utc>,
    /// By unit name.
    pub units: BTreeMap<String, UnitBalanceBody>,
}

/// A low-balance alert raised by an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertBody {
    pub unit: String,
    pub threshold: String,
    pub available: String,
}

/// `PUT /v1/accounts/{account}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    pub account: String,
    pub plan: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    pub subscription: Option<SubscriptionBody>,
    pub time_zone: Option<String>,
    /// Per unit, when the account overrides its plan's credit line.
    pub credit_line: Option<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
    /// Available per unit.
    pub balance: BTreeMap<String, String>,
}

/// `GET /v1/accounts` (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountsResponse {
    /// In no promised order.
    pub accounts: Vec<AccountResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/accounts/{account}/balance?at=…`: the balance as of an instant, from history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceAtResponse {
    pub account: String,
    /// The instant asked for.
    pub at: DateTime<Utc>,
    /// Per unit: everything the account owned then (held credits included; negative when
    /// overdrawn), as of its last entry at or before `at`.
    pub owned: BTreeMap<String, String>,
    /// The `seq` of that entry.
    pub as_of_seq: u64,
}

/// The balance now, or as of an instant with `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BalanceAnswer {
    Now(BalanceResponse),
    At(BalanceAtResponse),
}

/// `POST /v1/accounts/{account}/quotes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuoteResponse {
    pub feature: String,
    pub rates_version: String,
    /// Per unit: what the usage would cost now.
    pub amounts: BTreeMap<String, String>,
    /// The rule lines that applied.
    pub lines: Vec<String>,
    /// It would be the feature's free first request.
    pub free: bool,
    /// Whether the account could pay it now.
    pub sufficient: bool,
    /// The buckets it would draw, in order (empty when it could not be paid).
    pub paid_from: Vec<DrawView>,
    /// Why it could not be charged now, when it could not (a problem `type`).
    pub refusal: Option<String>,
    /// The outcome quoted: `completed` unless the request stated another.
    #[serde(default)]
    pub outcome: String,
    /// The packages the account's plan sells, with their prices when the book states them
    /// (`docs/topups.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageView>,
}

/// A package a plan sells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PackageView {
    pub name: String,
    pub unit: String,
    /// Credits it adds, a decimal string.
    pub amount: String,
    /// What it sells for, when the book prices it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<MoneyView>,
}

/// An exact amount of money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MoneyView {
    /// ISO 4217 code.
    #[schema(example = "USD")]
    pub currency: String,
    /// A decimal string with the currency's minor digits (`10.00`, `1500` for `JPY`).
    #[schema(example = "10.00")]
    pub amount: String,
}

/// `POST /v1/accounts/{account}/charges` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargeResponse {
    pub id: String,
    pub feature: String,
    /// Per unit charged.
    pub charged: BTreeMap<String, String>,
    /// The buckets that paid, in order.
    pub paid_from: Vec<DrawView>,
    /// Available per unit after the charge.
    pub balance: BTreeMap<String, String>,
    /// The rate book version (`<book>@<effective>#<hash>`) the charge was rated with.
    pub rates_version: String,
    pub free: bool,
    pub lines: Vec<String>,
    pub alerts: Vec<AlertBody>,
    /// When the usage happened, when the charge said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// With `collect: available`: per unit, the part of `charged` the account could not pay
    /// (zero when it paid all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<BTreeMap<String, String>>,
    /// How the job ended (`completed` unless the request said otherwise).
    #[serde(default)]
    pub outcome: String,
}

/// `POST /v1/accounts/{account}/holds` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HoldResponse {
    pub id: String,
    pub feature: String,
    /// Per unit reserved.
    pub held: BTreeMap<String, String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The buckets reserved, in order.
    pub paid_from: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
    pub rates_version: String,
    pub lines: Vec<String>,
}

/// `GET /v1/accounts/{account}/holds/{hold}`: a hold in any state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub account: String,
    pub feature: String,
    /// `open`, `captured`, `released` or `expired`.
    pub status: String,
    /// Per unit reserved when the hold was made.
    pub reserved: BTreeMap<String, String>,
    /// Per reserved unit, what the capture spent (`0` included); empty unless `captured`.
    pub captured: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was captured, released or expired; absent while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// `POST .../holds/{hold}/capture` (200: it changes an existing hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaptureResponse {
    pub id: String,
    pub hold: String,
    /// Per unit charged, every unit the hold reserved listed (`0` when nothing was spent
    /// of it).
    pub charged: BTreeMap<String, String>,
    /// Per unit asked beyond the reservation and not charged.
    pub uncaptured: BTreeMap<String, String>,
    pub paid_from: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
    pub rates_version: Option<String>,
    pub lines: Vec<String>,
    pub alerts: Vec<AlertBody>,
    /// How the job ended (`completed` unless the request said otherwise).
    #[serde(default)]
    pub outcome: String,
}

/// `POST .../holds/{hold}/release` (200: it changes an existing hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseResponse {
    pub id: String,
    pub hold: String,
    /// Per unit returned.
    pub released: BTreeMap<String, String>,
    pub balance: BTreeMap<String, String>,
}

/// `POST /v1/accounts/{account}/topups` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopUpResponse {
    pub id: String,
    /// Per unit credited.
    pub credited: BTreeMap<String, String>,
    /// The bucket(s) credited.
    pub buckets: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
    /// The package bought, for a top-up by package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// What the package sells for, when the book prices it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<MoneyView>,
}

/// `POST /v1/accounts/{account}/refunds` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    pub id: String,
    pub charge: String,
    /// Per unit returned.
    pub refunded: BTreeMap<String, String>,
    /// The buckets credited back, in order.
    pub restored_to: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
}

/// `POST /v1/accounts/{account}/adjustments` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentResponse {
    pub id: String,
    /// `credit` or `debit`.
    pub direction: String,
    pub reason: String,
    /// Per unit credited or debited (positive).
    pub adjusted: BTreeMap<String, String>,
    /// The bucket credited, or the buckets a debit drew, in order.
    pub buckets: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
}

/// `POST /v1/accounts/{account}/voids` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VoidResponse {
    pub id: String,
    pub bucket: String,
    /// Per unit removed.
    pub voided: BTreeMap<String, String>,
    pub balance: BTreeMap<String, String>,
}

/// `POST /v1/accounts/{account}/chargebacks` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargebackResponse {
    pub id: String,
    pub purchase: String,
    /// Per unit: what was left of the purchase and is now removed.
    pub removed: BTreeMap<String, String>,
    /// Per unit: how much of the purchase had been used before (spent, repaid a debt, or
    /// expired; not what a void removed).
    pub spent: BTreeMap<String, String>,
    /// The buckets emptied.
    pub buckets: Vec<DrawView>,
    pub balance: BTreeMap<String, String>,
}

/// `POST /v1/accounts/{account}/close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CloseResponse {
    pub id: String,
    pub account: String,
    pub status: String,
    /// Per unit forfeited.
    pub forfeited: BTreeMap<String, String>,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntryBody {
    pub id: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// A charge of late usage: when the usage happened (`at` is when it was committed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// `grant`, `top_up`, `charge`, `hold`, `capture`, `release`, `refund`, `expiry`,
    /// `forfeit`, `rollover`, `adjustment`, `void`, `chargeback`, `alert`, `statement`.
    #[serde(rename = "type")]
    pub entry_type: String,
    /// The operation (client id) that wrote it.
    pub operation: String,
    pub unit: Option<String>,
    /// Signed decimal string: credits added are positive, spent negative.
    pub amount: String,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub member: Option<String>,
    pub content: Option<String>,
    /// Buckets drawn, rates version, rating lines...
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// `GET /v1/accounts/{account}/entries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntriesResponse {
    pub account: String,
    /// Ascending by `seq`.
    pub entries: Vec<EntryBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/keys` (201): the key is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyResponse {
    pub id: String,
    /// `ck_<id>_<secret>`: send as `Authorization: Bearer <key>`. Shown once, never again.
    pub key: String,
    pub account: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `DELETE /v1/keys/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevokedKeyResponse {
    pub id: String,
    pub revoked_at: DateTime<Utc>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`.
    pub status: String,
    /// The rate book versions loaded.
    pub rates: Vec<String>,
}
