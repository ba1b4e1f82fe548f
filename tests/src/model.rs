//! The reference model of the simulation: a deliberately simple account of what the system
//! promised, checked against what it stored.
//!
//! It does not rate, draw buckets or grant anything. It knows only what a careful client
//! knows: which requests it sent, which definitive answers it got, and what those answers
//! said (charged, credited, refunded, held). From that alone it demands:
//!
//! - **each client id is applied at most once**: a success is answered again, identically,
//!   for the same request; another request under that id is `409 idempotency-conflict`;
//! - **nothing is lost**: every success has exactly its entries in the history (a charge's
//!   `charge` entries sum to minus what it said it charged, a top-up's `top_up` entries to
//!   what it credited...), and a refusal has none;
//! - **nothing is doubled**: no `(type, operation, unit)` entry appears twice, entry ids are
//!   unique, and `seq` runs 1, 2, 3... without a gap;
//! - **balances add up**: per unit, available + held equals the sum of every entry (whenever
//!   the account is materialised up to now), what is held equals what the open holds the
//!   model knows reserved, and no bucket is below zero except the overdraft, within the line;
//! - **refunds never exceed charges**, per charge and unit;
//! - holds: an expired, captured or released hold can be neither captured nor released, a
//!   capture never charges more than the hold reserved, and releasing an open hold succeeds.
//!
//! Lazy entries (grants, expiries, forfeits, rollovers, statements, alerts) are not
//! predicted: they are taken from the history as they appear and only enter the sums.
//! Every check returns `Err(sentence)` on a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// Amounts per unit.
pub type Amounts = BTreeMap<String, Decimal>;

/// The mutating routes the simulation drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Configure,
    Charge,
    Hold,
    Capture,
    Release,
    TopUp,
    Refund,
    Close,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Configure => "configure",
            Route::Charge => "charge",
            Route::Hold => "hold",
            Route::Capture => "capture",
            Route::Release => "release",
            Route::TopUp => "top_up",
            Route::Refund => "refund",
            Route::Close => "close",
        }
    }
}

/// One mutation as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub route: Route,
    pub account: String,
    /// The client id (for captures and releases without one, `capture:<hold>` and
    /// `release:<hold>`, as the API defaults them). `None` for `PUT` of an account.
    pub id: Option<String>,
    pub path: String,
    /// The JSON body sent; a replay sends exactly this again.
    pub body: Value,
    /// Captures and releases: the hold.
    pub hold: Option<String>,
    /// Refunds: the refunded charge (or capture).
    pub charge: Option<String>,
}

/// A definitive answer (never a 5xx: the client retries those).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn problem_type(&self) -> Option<&str> {
        self.body.get("type").and_then(Value::as_str)
    }
}

/// How the model classified an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new success: the system applied it now.
    Applied,
    /// The original answer of an id already applied.
    Replayed,
    /// `409 idempotency-conflict` for another request under an applied id.
    Conflict,
    /// A refusal: nothing may have been written.
    Refused,
}

#[derive(Debug, Clone)]
struct Success {
    route: Route,
    path: String,
    body: Value,
    answer: Answer,
}

#[derive(Debug, Clone)]
struct HoldModel {
    held: Amounts,
    expires_at: DateTime<Utc>,
    closed: bool,
}

#[derive(Debug, Clone, Default)]
struct ChargeModel {
    charged: Amounts,
    refunded: Amounts,
}

/// What one account's history must contain for one operation and entry type.
#[derive(Debug, Clone, Default)]
struct Expected {
    amounts: Amounts,
    seen: BTreeSet<String>,
}

/// The model of one account.
#[derive(Debug, Clone, Default)]
pub struct AccountModel {
    pub id: String,
    successes: BTreeMap<String, Success>,
    /// Ids whose last answer was a refusal and which never succeeded.
    refused: BTreeSet<String>,
    holds: BTreeMap<String, HoldModel>,
    charges: BTreeMap<String, ChargeModel>,
    /// `(operation, entry type)` → the entries it must have.
    expected: BTreeMap<(String, String), Expected>,
    /// Σ of every entry, per unit.
    entry_totals: Amounts,
    /// Σ of the entries of operations (charges, captures, top-ups, refunds), per unit.
    operation_totals: Amounts,
    /// Σ of what answers said was charged, captured, credited and refunded, per unit.
    answered_totals: Amounts,
    last_seq: u64,
    /// The entries route's cursor after the last entry seen (`<seq>.<microseconds>`).
    last_cursor: Option<String>,
    entry_ids: BTreeSet<String>,
    /// Entries seen: id → (seq, type, operation, unit, amount), to check they never change.
    fingerprints: BTreeMap<String, String>,
    pub closed: bool,
    /// The credit line per unit (overdraft allowed); none when absent.
    credit_line: Amounts,
    /// Counts, for the report.
    pub applied: u64,
    pub refusals: u64,
    pub replays: u64,
}

/// The model of every account of a run.
#[derive(Debug, Clone, Default)]
pub struct Model {
    accounts: BTreeMap<String, AccountModel>,
}

/// A decimal string of an answer, e.g. `"12.50"`.
///
/// # Errors
/// When `value` is not a decimal string.
pub fn decimal(value: &Value) -> Result<Decimal, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("amount {value} is not a string"))?;
    Decimal::from_str(text).map_err(|e| format!("amount `{text}` is not a decimal: {e}"))
}

/// `{unit: "decimal"}` of an answer (absent or null: empty).
///
/// # Errors
/// When a value is not a decimal string.
pub fn amounts(value: Option<&Value>) -> Result<Amounts, String> {
    let mut out = Amounts::new();
    let Some(map) = value.and_then(Value::as_object) else {
        return Ok(out);
    };
    for (unit, amount) in map {
        out.insert(unit.clone(), decimal(amount)?);
    }
    Ok(out)
}

fn add_to(totals: &mut Amounts, unit: &str, amount: Decimal) {
    let slot = totals.entry(unit.to_owned()).or_insert(Decimal::ZERO);
    *slot += amount;
}

fn get(totals: &Amounts, unit: &str) -> Decimal {
    totals.get(unit).copied().unwrap_or(Decimal::ZERO)
}

fn timestamp(value: Option<&Value>) -> Result<DateTime<Utc>, String> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| format!("instant {value:?} is not a string"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("instant `{text}`: {e}"))
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    pub fn add_account(&mut self, id: &str) {
        self.accounts
            .entry(id.to_owned())
            .or_insert_with(|| AccountModel {
                id: id.to_owned(),
                ..AccountModel::default()
            });
    }

    /// Forgets an account whose life is over (keeps a long run's memory bounded).
    pub fn remove_account(&mut self, id: &str) {
        self.accounts.remove(id);
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountModel> {
        self.accounts.values()
    }

    /// Sets the credit line the account's plan grants in `unit`.
    ///
    /// # Errors
    /// When the account was never added.
    pub fn set_credit_line(
        &mut self,
        account: &str,
        unit: &str,
        line: Decimal,
    ) -> Result<(), String> {
        self.account_mut(account)?
            .credit_line
            .insert(unit.to_owned(), line);
        Ok(())
    }

    /// # Errors
    /// When the account was never added.
    pub fn account(&self, id: &str) -> Result<&AccountModel, String> {
        self.accounts
            .get(id)
            .ok_or_else(|| format!("the model has no account `{id}`"))
    }

    fn account_mut(&mut self, id: &str) -> Result<&mut AccountModel, String> {
        self.accounts
            .get_mut(id)
            .ok_or_else(|| format!("the model has no account `{id}`"))
    }

    /// Records the definitive answer to `mutation` at `now`, checking it against what the
    /// model knows.
    ///
    /// # Errors
    /// A sentence naming the violated rule.
    pub fn record(
        &mut self,
        mutation: &Mutation,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<Recorded, String> {
        if answer.status >= 500 {
            return Err(format!(
                "a definitive answer was {}: {}",
                answer.status, answer.body
            ));
        }
        let account = self.account_mut(&mutation.account)?;
        account.record(mutation, answer, now)
    }

    /// Takes the account's entries that follow the last one seen (in `seq` order, as the
    /// entries route returns them) and checks each.
    ///
    /// # Errors
    /// A sentence naming the violated rule.
    pub fn ingest_entries(&mut self, account: &str, entries: &[Value]) -> Result<(), String> {
        self.account_mut(account)?.ingest(entries)
    }

    /// Checks a `GET .../balance` answer. `up_to_date`: the account is materialised up to
    /// `now` (its last decision was at `now`), so its entries must add up to its balance.
    ///
    /// # Errors
    /// A sentence naming the violated rule.
    pub fn check_balance(
        &self,
        account: &str,
        balance: &Value,
        now: DateTime<Utc>,
        up_to_date: bool,
    ) -> Result<(), String> {
        self.account(account)?
            .check_balance(balance, now, up_to_date)
    }

    /// Checks that the entries re-read from the start are exactly those seen so far.
    ///
    /// # Errors
    /// A sentence naming the entry that changed, appeared or vanished.
    pub fn audit_history(&self, account: &str, entries: &[Value]) -> Result<(), String> {
        self.account(account)?.audit(entries)
    }
}

impl AccountModel {
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The cursor to read the entries after the last one seen (`None`: from the start).
    pub fn last_cursor(&self) -> Option<String> {
        self.last_cursor.clone()
    }

    pub fn entry_count(&self) -> usize {
        self.entry_ids.len()
    }

    /// Ids of applied charges and captures (refundable), in id order.
    pub fn charge_ids(&self) -> Vec<String> {
        self.charges.keys().cloned().collect()
    }

    /// What is left to refund of a charge, per unit.
    pub fn refundable(&self, charge: &str) -> Amounts {
        let mut left = Amounts::new();
        if let Some(model) = self.charges.get(charge) {
            for (unit, charged) in &model.charged {
                left.insert(unit.clone(), *charged - get(&model.refunded, unit));
            }
        }
        left
    }

    /// Holds the model believes open at `now` (not captured, released or expired).
    pub fn open_holds(&self, now: DateTime<Utc>) -> Vec<String> {
        self.holds
            .iter()
            .filter(|(_, hold)| !hold.closed && hold.expires_at > now)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every hold ever created, open or not.
    pub fn all_holds(&self) -> Vec<String> {
        self.holds.keys().cloned().collect()
    }

    /// The applied mutations, for replays: (route, path, body) by id.
    pub fn applied_requests(&self) -> Vec<(String, Route, String, Value)> {
        self.successes
            .iter()
            .map(|(id, success)| {
                (
                    id.clone(),
                    success.route,
                    success.path.clone(),
                    success.body.clone(),
                )
            })
            .collect()
    }

    fn record(
        &mut self,
        mutation: &Mutation,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<Recorded, String> {
        let Some(id) = mutation.id.clone() else {
            // `PUT` of an account: no idempotency record; it changes no balance by itself.
            if answer.success() {
                self.applied += 1;
            } else {
                self.refusals += 1;
            }
            return Ok(if answer.success() {
                Recorded::Applied
            } else {
                Recorded::Refused
            });
        };
        if let Some(original) = self.successes.get(&id) {
            let same = original.route == mutation.route
                && original.path == mutation.path
                && same_body(&original.body, &mutation.body);
            if same {
                if original.answer.status != answer.status || original.answer.body != answer.body {
                    return Err(format!(
                        "replay of `{id}` answered {} {} but the original answer was {} {}",
                        answer.status, answer.body, original.answer.status, original.answer.body
                    ));
                }
                self.replays += 1;
                return Ok(Recorded::Replayed);
            }
            if answer.status != 409 || answer.problem_type() != Some("idempotency-conflict") {
                return Err(format!(
                    "`{id}` was applied by another request, yet this one was answered {} {}",
                    answer.status, answer.body
                ));
            }
            return Ok(Recorded::Conflict);
        }
        if !answer.success() {
            if answer.problem_type() == Some("idempotency-conflict") {
                return Err(format!(
                    "`{id}` was refused as already used, but no request under it ever succeeded: \
                     a success was lost ({})",
                    answer.body
                ));
            }
            if answer.status == 429 && answer.retry_after.is_none() {
                return Err(format!("429 for `{id}` without `Retry-After`"));
            }
            self.check_refusal(mutation, answer, now)?;
            self.refused.insert(id);
            self.refusals += 1;
            return Ok(Recorded::Refused);
        }
        self.apply(mutation, &id, answer, now)?;
        self.refused.remove(&id);
        self.successes.insert(
            id,
            Success {
                route: mutation.route,
                path: mutation.path.clone(),
                body: mutation.body.clone(),
                answer: answer.clone(),
            },
        );
        self.applied += 1;
        Ok(Recorded::Applied)
    }

    /// Refusals the model can tell are wrong.
    fn check_refusal(
        &self,
        mutation: &Mutation,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        if mutation.route == Route::Release
            && !self.closed
            && let Some(hold_id) = &mutation.hold
            && let Some(hold) = self.holds.get(hold_id)
            && !hold.closed
            && hold.expires_at > now
        {
            return Err(format!(
                "releasing open hold `{hold_id}` (expires {}) was refused: {} {}",
                hold.expires_at, answer.status, answer.body
            ));
        }
        Ok(())
    }

    fn expect(&mut self, operation: &str, entry_type: &str, amounts: Amounts) {
        self.expected.insert(
            (operation.to_owned(), entry_type.to_owned()),
            Expected {
                amounts,
                seen: BTreeSet::new(),
            },
        );
    }

    fn apply(
        &mut self,
        mutation: &Mutation,
        id: &str,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let body = &answer.body;
        if self.closed && mutation.route != Route::Configure {
            return Err(format!("`{id}` succeeded on a closed account: {body}"));
        }
        match mutation.route {
            Route::Configure => {}
            Route::Charge => {
                let charged = amounts(body.get("charged"))?;
                if charged.values().any(Decimal::is_sign_negative) {
                    return Err(format!("charge `{id}` charged a negative amount: {body}"));
                }
                for (unit, amount) in &charged {
                    add_to(&mut self.answered_totals, unit, -*amount);
                }
                self.expect(
                    id,
                    "charge",
                    charged.iter().map(|(u, a)| (u.clone(), -*a)).collect(),
                );
                self.charges.insert(
                    id.to_owned(),
                    ChargeModel {
                        charged,
                        refunded: Amounts::new(),
                    },
                );
            }
            Route::Hold => {
                let held = amounts(body.get("held"))?;
                let expires_at = timestamp(body.get("expires_at"))?;
                if expires_at <= now {
                    return Err(format!(
                        "hold `{id}` expires at {expires_at}, not after now {now}"
                    ));
                }
                self.expect(
                    id,
                    "hold",
                    held.keys().map(|u| (u.clone(), Decimal::ZERO)).collect(),
                );
                self.holds.insert(
                    id.to_owned(),
                    HoldModel {
                        held,
                        expires_at,
                        closed: false,
                    },
                );
            }
            Route::Capture | Route::Release => {
                let hold_id = mutation.hold.clone().unwrap_or_default();
                let Some(hold) = self.holds.get_mut(&hold_id) else {
                    return Err(format!(
                        "`{id}` settled hold `{hold_id}`, which never existed: {body}"
                    ));
                };
                if hold.closed {
                    return Err(format!(
                        "`{id}` settled hold `{hold_id}`, which was already settled: {body}"
                    ));
                }
                if hold.expires_at <= now {
                    return Err(format!(
                        "`{id}` settled hold `{hold_id}`, which expired at {} (now {now}): {body}",
                        hold.expires_at
                    ));
                }
                hold.closed = true;
                let held = hold.held.clone();
                if mutation.route == Route::Capture {
                    let charged = amounts(body.get("charged"))?;
                    for (unit, amount) in &charged {
                        if *amount > get(&held, unit) || amount.is_sign_negative() {
                            return Err(format!(
                                "capture `{id}` charged {amount} {unit} of hold `{hold_id}`, which reserved {held:?}"
                            ));
                        }
                        add_to(&mut self.answered_totals, unit, -*amount);
                    }
                    self.expect(
                        id,
                        "capture",
                        charged.iter().map(|(u, a)| (u.clone(), -*a)).collect(),
                    );
                    self.charges.insert(
                        id.to_owned(),
                        ChargeModel {
                            charged,
                            refunded: Amounts::new(),
                        },
                    );
                }
            }
            Route::TopUp => {
                let credited = amounts(body.get("credited"))?;
                if credited
                    .values()
                    .any(|amount| amount.is_sign_negative() || amount.is_zero())
                {
                    return Err(format!("top-up `{id}` credited nothing or less: {body}"));
                }
                for (unit, amount) in &credited {
                    add_to(&mut self.answered_totals, unit, *amount);
                }
                self.expect(id, "top_up", credited);
            }
            Route::Refund => {
                let charge_id = mutation.charge.clone().unwrap_or_default();
                let refunded = amounts(body.get("refunded"))?;
                let Some(charge) = self.charges.get_mut(&charge_id) else {
                    return Err(format!(
                        "refund `{id}` of `{charge_id}`, which was never charged: {body}"
                    ));
                };
                for (unit, amount) in &refunded {
                    if amount.is_sign_negative() {
                        return Err(format!("refund `{id}` refunded a negative amount: {body}"));
                    }
                    let total = get(&charge.refunded, unit) + *amount;
                    let charged = get(&charge.charged, unit);
                    if total > charged {
                        return Err(format!(
                            "refunds of `{charge_id}` reach {total} {unit} but it charged {charged} {unit} (refund `{id}`)"
                        ));
                    }
                    charge.refunded.insert(unit.clone(), total);
                    add_to(&mut self.answered_totals, unit, *amount);
                }
                self.expect(id, "refund", refunded);
            }
            Route::Close => {
                // Closing forfeits everything, what open holds reserved included.
                self.closed = true;
                for hold in self.holds.values_mut() {
                    hold.closed = true;
                }
            }
        }
        Ok(())
    }

    fn ingest(&mut self, entries: &[Value]) -> Result<(), String> {
        for entry in entries {
            self.ingest_one(entry)?;
        }
        // Nothing lost: every applied operation has all its entries by now.
        for ((operation, entry_type), expected) in &self.expected {
            for (unit, amount) in &expected.amounts {
                if !amount.is_zero() && !expected.seen.contains(unit) {
                    return Err(format!(
                        "`{operation}` was answered as applied, but its `{entry_type}` entry of {amount} {unit} is missing"
                    ));
                }
            }
        }
        // Entries seen are forgotten once complete, so the map stays small.
        self.expected.retain(|_, expected| {
            expected
                .amounts
                .iter()
                .any(|(unit, amount)| !amount.is_zero() && !expected.seen.contains(unit))
        });
        Ok(())
    }

    fn ingest_one(&mut self, entry: &Value) -> Result<(), String> {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let id = field("id");
        let entry_type = field("type");
        let operation = field("operation");
        let unit = entry.get("unit").and_then(Value::as_str).map(str::to_owned);
        let amount = decimal(entry.get("amount").unwrap_or(&Value::Null))?;
        let seq = entry
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("entry `{id}` has no seq"))?;
        if seq != self.last_seq + 1 {
            return Err(format!(
                "entry `{id}` has seq {seq} after seq {}: the history has a gap or a repeat",
                self.last_seq
            ));
        }
        self.last_seq = seq;
        let at = timestamp(entry.get("at"))?;
        self.last_cursor = Some(format!("{seq}.{}", at.timestamp_micros()));
        if !self.entry_ids.insert(id.clone()) {
            return Err(format!("entry id `{id}` appears twice"));
        }
        self.fingerprints.insert(id.clone(), fingerprint(entry));
        if let Some(unit) = &unit {
            add_to(&mut self.entry_totals, unit, amount);
        } else if !amount.is_zero() {
            return Err(format!("entry `{id}` moves {amount} without a unit"));
        }
        match entry_type.as_str() {
            "charge" | "capture" | "top_up" | "refund" | "hold" => {
                let unit =
                    unit.ok_or_else(|| format!("`{entry_type}` entry `{id}` has no unit"))?;
                if self.refused.contains(&operation) {
                    return Err(format!(
                        "`{operation}` was refused, yet it wrote `{entry_type}` entry `{id}`"
                    ));
                }
                let key = (operation.clone(), entry_type.clone());
                let Some(expected) = self.expected.get_mut(&key) else {
                    return Err(format!(
                        "`{entry_type}` entry `{id}` of `{operation}`: no answered success explains it \
                         (applied twice, or applied and answered as refused)"
                    ));
                };
                let want = expected
                    .amounts
                    .get(&unit)
                    .copied()
                    .unwrap_or(Decimal::ZERO);
                if want != amount {
                    return Err(format!(
                        "`{entry_type}` entry `{id}` of `{operation}` moves {amount} {unit}, but the answer said {want}"
                    ));
                }
                if !expected.seen.insert(unit.clone()) {
                    return Err(format!(
                        "`{operation}` wrote a second `{entry_type}` entry in {unit} (`{id}`): applied twice"
                    ));
                }
                if entry_type != "hold" {
                    add_to(&mut self.operation_totals, &unit, amount);
                }
            }
            "grant" | "adjustment" => {}
            "expiry" | "forfeit" => {
                if amount.is_sign_positive() && !amount.is_zero() {
                    return Err(format!("`{entry_type}` entry `{id}` adds {amount}"));
                }
            }
            "release" | "rollover" | "alert" | "statement" => {
                if !amount.is_zero() {
                    return Err(format!(
                        "`{entry_type}` entry `{id}` moves {amount}; it must move nothing"
                    ));
                }
            }
            other => return Err(format!("entry `{id}` has unknown type `{other}`")),
        }
        Ok(())
    }

    fn check_balance(
        &self,
        balance: &Value,
        now: DateTime<Utc>,
        up_to_date: bool,
    ) -> Result<(), String> {
        let units = balance
            .get("units")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("balance without units: {balance}"))?;
        // The answered amounts and the entries of operations agree (nothing lost, nothing
        // doubled, in total too).
        let all_units: BTreeSet<&String> = self
            .answered_totals
            .keys()
            .chain(self.operation_totals.keys())
            .collect();
        for unit in all_units {
            let answered = get(&self.answered_totals, unit);
            let written = get(&self.operation_totals, unit);
            if answered != written {
                return Err(format!(
                    "answers moved {answered} {unit} but the operations' entries sum to {written} {unit}"
                ));
            }
        }
        let mut held_by_model = Amounts::new();
        for hold in self
            .holds
            .values()
            .filter(|hold| !hold.closed && hold.expires_at > now)
        {
            for (unit, amount) in &hold.held {
                add_to(&mut held_by_model, unit, *amount);
            }
        }
        for (unit, view) in units {
            let available = decimal(view.get("available").unwrap_or(&Value::Null))?;
            let held = decimal(view.get("held").unwrap_or(&Value::Null))?;
            let line_left = decimal(view.get("credit_line_left").unwrap_or(&Value::Null))?;
            if held.is_sign_negative() || line_left.is_sign_negative() {
                return Err(format!(
                    "`{unit}`: held {held} or credit line left {line_left} below zero"
                ));
            }
            if held != get(&held_by_model, unit) {
                return Err(format!(
                    "`{unit}`: {held} is held but the open holds reserved {}",
                    get(&held_by_model, unit)
                ));
            }
            let buckets = view
                .get("buckets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut bucket_sum = Decimal::ZERO;
            for bucket in &buckets {
                let kind = bucket
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let left = decimal(bucket.get("left").unwrap_or(&Value::Null))?;
                let bucket_held = decimal(bucket.get("held").unwrap_or(&Value::Null))?;
                bucket_sum += left;
                // Only the overdraft goes below zero (and never above it); nothing holds less
                // than nothing.
                let in_bounds = if kind == "overdraft" {
                    left <= Decimal::ZERO && left + bucket_held >= -get(&self.credit_line, unit)
                } else {
                    left >= Decimal::ZERO
                };
                if !in_bounds || bucket_held < Decimal::ZERO {
                    return Err(format!("`{unit}`: bucket {bucket} is out of bounds"));
                }
            }
            if available < -get(&self.credit_line, unit) {
                return Err(format!(
                    "`{unit}`: available {available} is beyond the credit line of {}",
                    get(&self.credit_line, unit)
                ));
            }
            if bucket_sum != available {
                return Err(format!(
                    "`{unit}`: buckets sum to {bucket_sum} but available is {available}"
                ));
            }
            if self.closed && up_to_date && (!available.is_zero() || !held.is_zero()) {
                return Err(format!(
                    "`{unit}`: the account is closed but holds {available} + {held}"
                ));
            }
            if up_to_date {
                let total = get(&self.entry_totals, unit);
                if available + held != total {
                    return Err(format!(
                        "`{unit}`: available {available} + held {held} = {} but the entries sum to {total}",
                        available + held
                    ));
                }
            }
        }
        if up_to_date {
            for (unit, total) in &self.entry_totals {
                if !units.contains_key(unit) && !total.is_zero() {
                    return Err(format!(
                        "the entries of `{unit}` sum to {total} but the balance lacks `{unit}`"
                    ));
                }
            }
        }
        Ok(())
    }

    fn audit(&self, entries: &[Value]) -> Result<(), String> {
        let mut seen = 0_usize;
        for entry in entries {
            let id = entry.get("id").and_then(Value::as_str).unwrap_or_default();
            match self.fingerprints.get(id) {
                Some(known) if *known == fingerprint(entry) => seen += 1,
                Some(known) => {
                    return Err(format!(
                        "entry `{id}` changed: was {known}, now {}",
                        fingerprint(entry)
                    ));
                }
                None => {
                    return Err(format!(
                        "entry `{id}` appeared behind the model's back: {entry}"
                    ));
                }
            }
        }
        if seen != self.fingerprints.len() {
            return Err(format!(
                "{} entries were seen but the history now holds {seen}",
                self.fingerprints.len()
            ));
        }
        Ok(())
    }
}

/// Whether two bodies are the same request: equal JSON values (key order does not matter),
/// where no body and an empty object are the same (captures and releases take either).
fn same_body(left: &Value, right: &Value) -> bool {
    let empty =
        |value: &Value| value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty);
    left == right || (empty(left) && empty(right))
}

fn fingerprint(entry: &Value) -> String {
    let field = |name: &str| entry.get(name).map(Value::to_string).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}",
        field("seq"),
        field("type"),
        field("operation"),
        field("unit"),
        field("amount"),
        field("at")
    )
}
