//! Running a book's `scenario` blocks through the HTTP API, as a client would.
//!
//! Each scenario gets its own account on a fresh in-memory SQLite store, behind the same
//! router `credits serve` and the Lambdas serve (`credits_api::router`), with a clock the
//! runner moves (`at DATE`). Every step is one request (or a few: `3 * image(…)`), so a
//! scenario exercises the edge validation, the service layer, the ledger's `decide` and the
//! store's commit exactly as production does; nothing listens on a port. `docs/scenarios.md`
//! describes each step's request.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request as HttpRequest, StatusCode, header};
use chrono::{DateTime, NaiveDate, Utc};
use http_body_util::BodyExt;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use credits_api::{ApiConfig, AppState, FixedClock, RateLibrary};
use credits_dsl::RateBook;
use credits_dsl::scenario::{Action, BalanceExpectation, Request, Scenario, Step};
use credits_store::Store;
use credits_store::sqlite::SqliteStore;

/// The admin key of the runner's private router; it never leaves the process.
const RUNNER_KEY: &str = "scenario-runner-admin-key-0123456789";
/// The one account a scenario acts on.
const ACCOUNT: &str = "scenario";

/// A step that did not do what the book says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub line: u32,
    /// The step as written (`expect balance allocation 12000 credit`).
    pub step: String,
    pub expected: String,
    pub actual: String,
}

/// The outcome of one scenario: every failing step, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOutcome {
    pub name: String,
    pub line: u32,
    pub steps: usize,
    pub failures: Vec<StepFailure>,
}

/// Runs every scenario of `book`, whose versions `library` holds.
pub fn run_scenarios(library: &Arc<RateLibrary>, book: &RateBook) -> Vec<ScenarioOutcome> {
    if book.scenarios.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return book
                .scenarios
                .iter()
                .map(|scenario| broken(scenario, format!("cannot start a runtime: {error}")))
                .collect();
        }
    };
    book.scenarios
        .iter()
        .map(|scenario| runtime.block_on(run_scenario(library, book, scenario)))
        .collect()
}

fn broken(scenario: &Scenario, reason: String) -> ScenarioOutcome {
    ScenarioOutcome {
        name: scenario.name.clone(),
        line: scenario.line,
        steps: scenario.steps.len(),
        failures: vec![StepFailure {
            line: scenario.line,
            step: format!("scenario \"{}\" on {}", scenario.name, scenario.plan),
            expected: "an account on the plan".to_owned(),
            actual: reason,
        }],
    }
}

/// One scenario's private API and what its steps named.
struct Run {
    router: Router,
    clock: Arc<FixedClock>,
    book: String,
    plan: String,
    time_zone: chrono_tz::Tz,
    /// The subscription's period and anchor once subscribed.
    subscription: Option<(String, DateTime<Utc>)>,
    /// Label → the client id of the charge or hold it names.
    labels: BTreeMap<String, String>,
    /// Requests sent, for their client ids.
    sent: usize,
}

async fn run_scenario(
    library: &Arc<RateLibrary>,
    book: &RateBook,
    scenario: &Scenario,
) -> ScenarioOutcome {
    let time_zone = chrono_tz::Tz::from_str(&book.time_zone).unwrap_or(chrono_tz::UTC);
    let Some(start) = midnight(scenario.start, time_zone) else {
        return broken(scenario, format!("{} has no midnight", scenario.start));
    };
    let store: Arc<dyn Store> = match SqliteStore::in_memory() {
        Ok(store) => Arc::new(store),
        Err(error) => return broken(scenario, format!("cannot open a store: {error}")),
    };
    let config = match ApiConfig::default().with_static_admin_key(RUNNER_KEY) {
        Ok(config) => config,
        Err(error) => return broken(scenario, error),
    };
    let clock = Arc::new(FixedClock::new(start));
    let state = AppState::new(store, Arc::clone(library))
        .with_clock(clock.clone())
        .with_config(config);
    let mut run = Run {
        router: credits_api::router(state),
        clock,
        book: book.name.clone(),
        plan: scenario.plan.clone(),
        time_zone,
        subscription: None,
        labels: BTreeMap::new(),
        sent: 0,
    };
    let created = run
        .send(
            Method::PUT,
            &format!("/v1/accounts/{ACCOUNT}"),
            Some(json!({ "plan": format!("{}/{}", run.book, run.plan) })),
        )
        .await;
    if !created.0.is_success() {
        return broken(scenario, refusal_text(&created.1));
    }
    let mut failures = Vec::new();
    for step in &scenario.steps {
        if let Some(failure) = run.step(step).await {
            failures.push(StepFailure {
                line: step.line,
                step: step.source.clone(),
                expected: failure.0,
                actual: failure.1,
            });
        }
    }
    ScenarioOutcome {
        name: scenario.name.clone(),
        line: scenario.line,
        steps: scenario.steps.len(),
        failures,
    }
}

fn midnight(date: NaiveDate, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    credits_dsl::localtime::local_start_of_day(date, zone)
}

/// (expected, actual) when a step fails.
type Failed = Option<(String, String)>;

impl Run {
    async fn step(&mut self, step: &Step) -> Failed {
        let account = format!("/v1/accounts/{ACCOUNT}");
        let reply = match &step.action {
            Action::At { date } => {
                let Some(at) = midnight(*date, self.time_zone) else {
                    return Some(("a midnight".to_owned(), format!("{date} has none")));
                };
                self.clock.set(at);
                return None;
            }
            Action::Balance { expected } => return self.balances(expected).await,
            Action::Subscribe { period } => {
                let anchor = self.clock_now();
                self.subscription = Some((period.clone(), anchor));
                self.subscription_request("active").await
            }
            Action::Cancel => {
                if self.subscription.is_none() {
                    return Some((
                        "a subscription to cancel".to_owned(),
                        "no `subscribe` step came before".to_owned(),
                    ));
                }
                self.subscription_request("cancelled").await
            }
            Action::TopUp { amount, unit, kind } => {
                let mut body = json!({
                    "id": self.next_id(),
                    "amount": amount.normalize().to_string(),
                    "unit": unit,
                });
                if let (Some(kind), Some(object)) = (kind, body.as_object_mut()) {
                    object.insert("kind".to_owned(), json!(kind));
                }
                self.send(Method::POST, &format!("{account}/topups"), Some(body))
                    .await
            }
            Action::TopUpPackage { package } => {
                let body = json!({ "id": self.next_id(), "package": package });
                self.send(Method::POST, &format!("{account}/topups"), Some(body))
                    .await
            }
            Action::Charge {
                request,
                count,
                label,
                charged,
            } => {
                let mut last = (StatusCode::OK, Value::Null);
                for _ in 0..*count {
                    let id = self.next_id();
                    if let Some(label) = label {
                        self.labels.insert(label.clone(), id.clone());
                    }
                    last = self
                        .send(
                            Method::POST,
                            &format!("{account}/charges"),
                            Some(request_body(&id, request)),
                        )
                        .await;
                    if !last.0.is_success() {
                        break;
                    }
                    if !charged.is_empty()
                        && let Some(failure) = charged_as_stated(charged, &last.1)
                    {
                        return Some(failure);
                    }
                }
                last
            }
            Action::Hold { request, label } => {
                let id = self.next_id();
                if let Some(label) = label {
                    self.labels.insert(label.clone(), id.clone());
                }
                self.send(
                    Method::POST,
                    &format!("{account}/holds"),
                    Some(request_body(&id, request)),
                )
                .await
            }
            Action::Capture { hold } | Action::Release { hold } => {
                let verb = if matches!(step.action, Action::Capture { .. }) {
                    "capture"
                } else {
                    "release"
                };
                let hold_id = self
                    .labels
                    .get(hold)
                    .cloned()
                    .unwrap_or_else(|| hold.clone());
                let body = json!({ "id": self.next_id() });
                self.send(
                    Method::POST,
                    &format!("{account}/holds/{hold_id}/{verb}"),
                    Some(body),
                )
                .await
            }
            Action::Refund { charge, reason } => {
                let charge_id = self
                    .labels
                    .get(charge)
                    .cloned()
                    .unwrap_or_else(|| charge.clone());
                let body = json!({ "id": self.next_id(), "charge": charge_id, "reason": reason });
                self.send(Method::POST, &format!("{account}/refunds"), Some(body))
                    .await
            }
        };
        judge(step.refused.as_deref(), &reply)
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use credits_api::Clock as _;
        self.clock.now()
    }

    fn next_id(&mut self) -> String {
        self.sent += 1;
        format!("scenario-{}", self.sent)
    }

    async fn subscription_request(&mut self, status: &str) -> (StatusCode, Value) {
        let Some((period, anchor)) = self.subscription.clone() else {
            return (StatusCode::OK, Value::Null);
        };
        let body = json!({
            "plan": format!("{}/{}", self.book, self.plan),
            "subscription": {
                "status": status,
                "period": period,
                "anchor": anchor.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        });
        self.send(Method::PUT, &format!("/v1/accounts/{ACCOUNT}"), Some(body))
            .await
    }

    /// Every stated balance, read from `GET …/balance`.
    async fn balances(&mut self, expected: &[BalanceExpectation]) -> Failed {
        let (status, reply) = self
            .send(
                Method::GET,
                &format!("/v1/accounts/{ACCOUNT}/balance"),
                None,
            )
            .await;
        if !status.is_success() {
            return Some(("the account's balance".to_owned(), refusal_text(&reply)));
        }
        let mut wrong_expected = Vec::new();
        let mut wrong_actual = Vec::new();
        for balance in expected {
            let actual = balance_of(&reply, balance);
            if actual != Some(balance.amount) {
                wrong_expected.push(balance.describe());
                wrong_actual.push(match actual {
                    Some(amount) => BalanceExpectation {
                        amount,
                        ..balance.clone()
                    }
                    .describe(),
                    None => format!("no reading of {}", balance.describe()),
                });
            }
        }
        if wrong_expected.is_empty() {
            None
        } else {
            Some((wrong_expected.join(", "), wrong_actual.join(", ")))
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = HttpRequest::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {RUNNER_KEY}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let Ok(request) = request.body(body) else {
            return (StatusCode::BAD_REQUEST, json!({ "type": "invalid-input" }));
        };
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "type": "internal", "detail": error.to_string() }),
                );
            }
        };
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// (expected, actual) when a charge's answer did not charge what the step states: every
/// listed unit exactly, every other unit nothing.
fn charged_as_stated(expected: &[(String, Decimal)], reply: &Value) -> Failed {
    let mut actual: Vec<(String, Decimal)> = reply
        .get("charged")
        .and_then(Value::as_object)
        .map(|units| {
            units
                .iter()
                .filter_map(|(unit, amount)| Some((unit.clone(), decimal(amount)?)))
                .filter(|(_, amount)| !amount.is_zero())
                .collect()
        })
        .unwrap_or_default();
    actual.sort_by(|left, right| left.0.cmp(&right.0));
    let mut stated: Vec<(String, Decimal)> = expected
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .cloned()
        .collect();
    stated.sort_by(|left, right| left.0.cmp(&right.0));
    if stated == actual {
        return None;
    }
    let describe = credits_dsl::expect::describe;
    Some((
        format!("charged {}", describe(expected)),
        format!("charged {}", describe(&actual)),
    ))
}

/// A charge's or hold's body: the inputs as strings, read as the API reads a client's.
fn request_body(id: &str, request: &Request) -> Value {
    let inputs: Map<String, Value> = request
        .inputs
        .iter()
        .map(|(name, text)| (name.clone(), Value::String(text.clone())))
        .collect();
    let mut body = json!({ "id": id, "feature": request.feature, "inputs": inputs });
    if let (Some(channel), Some(object)) = (&request.channel, body.as_object_mut()) {
        object.insert("channel".to_owned(), json!(channel));
    }
    body
}

/// What `kind` (or the whole unit, available) holds in a balance answer.
fn balance_of(reply: &Value, balance: &BalanceExpectation) -> Option<Decimal> {
    let unit = reply.get("units")?.get(&balance.unit);
    let Some(kind) = &balance.kind else {
        // A unit the account never held is not listed: nothing is available.
        return match unit {
            Some(unit) => decimal(unit.get("available")?),
            None => Some(Decimal::ZERO),
        };
    };
    let Some(unit) = unit else {
        return Some(Decimal::ZERO);
    };
    let mut sum = Decimal::ZERO;
    for bucket in unit.get("buckets")?.as_array()? {
        if bucket.get("kind").and_then(Value::as_str) == Some(kind.as_str()) {
            sum = sum.checked_add(decimal(bucket.get("left")?)?)?;
        }
    }
    Some(sum)
}

fn decimal(value: &Value) -> Option<Decimal> {
    value.as_str().and_then(|text| Decimal::from_str(text).ok())
}

/// The stable code of a refusal: the edge validation's `code` when the problem has one,
/// else the problem's `type`.
pub fn refusal_code(problem: &Value) -> String {
    problem
        .get("code")
        .or_else(|| problem.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

fn refusal_text(problem: &Value) -> String {
    let detail = problem
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("refused {}: {detail}", refusal_code(problem))
}

/// `accepted`, with what was charged or held when the answer says.
fn accepted_text(reply: &Value) -> String {
    for (member, verb) in [("charged", "charged"), ("held", "held")] {
        if let Some(units) = reply.get(member).and_then(Value::as_object) {
            let amounts: Vec<String> = units
                .iter()
                .filter_map(|(unit, amount)| Some(format!("{} {unit}", amount.as_str()?)))
                .collect();
            return format!("accepted ({verb} {})", amounts.join(", "));
        }
    }
    "accepted".to_owned()
}

/// Whether an answer is what the step says: accepted, or refused with `refused`.
fn judge(refused: Option<&str>, (status, reply): &(StatusCode, Value)) -> Failed {
    match (refused, status.is_success()) {
        (None, true) => None,
        (None, false) => Some(("accepted".to_owned(), refusal_text(reply))),
        (Some(code), true) => Some((format!("refused {code}"), accepted_text(reply))),
        (Some(code), false) if refusal_code(reply) == code => None,
        (Some(code), false) => Some((format!("refused {code}"), refusal_text(reply))),
    }
}

// ---- Reporting (`credits rates test`) --------------------------------------------------------

/// Runs `book`'s refused examples and scenarios and prints each result under the file's
/// name; (passed, failed).
pub fn report(file: &str, book: &RateBook, sources: &[(String, String)]) -> (usize, usize) {
    let mut passed = 0usize;
    let mut failed = 0usize;
    let refusals = credits_dsl::scenario::run_refusals(book);
    if !refusals.is_empty() {
        let file_failed = refusals.iter().filter(|result| !result.passed).count();
        println!(
            "{file}: {} of {} refused {} pass",
            refusals.len() - file_failed,
            refusals.len(),
            if refusals.len() == 1 {
                "example"
            } else {
                "examples"
            }
        );
        for result in &refusals {
            let Some(refusal) = book.refusals.get(result.index) else {
                continue;
            };
            let example = refusal.source.trim_start_matches("expect ");
            if result.passed {
                println!("  ok    line {}: {example}", refusal.line);
            } else {
                println!(
                    "  FAIL  line {}: {example}\n          expected refused {}\n          actual   {}",
                    refusal.line,
                    refusal.code,
                    result.actual.describe()
                );
            }
        }
        passed += refusals.len() - file_failed;
        failed += file_failed;
    }
    if book.scenarios.is_empty() {
        return (passed, failed);
    }
    let outcomes = match library_of(book, sources) {
        Ok(library) => run_scenarios(&Arc::new(library), book),
        Err(reason) => book
            .scenarios
            .iter()
            .map(|scenario| broken(scenario, reason.clone()))
            .collect(),
    };
    let file_failed = outcomes
        .iter()
        .filter(|outcome| !outcome.failures.is_empty())
        .count();
    println!(
        "{file}: {} of {} {} pass",
        outcomes.len() - file_failed,
        outcomes.len(),
        if outcomes.len() == 1 {
            "scenario"
        } else {
            "scenarios"
        }
    );
    for outcome in &outcomes {
        print!("{}", describe_scenario(outcome));
    }
    (passed + outcomes.len() - file_failed, failed + file_failed)
}

/// One scenario's result as `credits rates test` prints it.
pub fn describe_scenario(outcome: &ScenarioOutcome) -> String {
    let mut text = String::new();
    if outcome.failures.is_empty() {
        text.push_str(&format!(
            "  ok    line {}: scenario \"{}\" ({} {})\n",
            outcome.line,
            outcome.name,
            outcome.steps,
            if outcome.steps == 1 { "step" } else { "steps" }
        ));
        return text;
    }
    text.push_str(&format!(
        "  FAIL  line {}: scenario \"{}\": {} of {} {} failed\n",
        outcome.line,
        outcome.name,
        outcome.failures.len(),
        outcome.steps,
        if outcome.steps == 1 { "step" } else { "steps" }
    ));
    for failure in &outcome.failures {
        text.push_str(&format!(
            "          line {}: {}\n            expected {}\n            actual   {}\n",
            failure.line, failure.step, failure.expected, failure.actual
        ));
    }
    text
}

/// Every version of `book` among `sources` (files named `<book>.rates` or
/// `<book>@<date>.rates`), as the server would load them.
fn library_of(book: &RateBook, sources: &[(String, String)]) -> Result<RateLibrary, String> {
    let versions: Vec<(String, String)> = sources
        .iter()
        .filter(|(name, _)| book_of_file(name) == Some(book.name.as_str()))
        .cloned()
        .collect();
    let options = credits_dsl::CompileOptions { run_expects: false };
    RateLibrary::from_sources_with(versions, options).map_err(|all| {
        let errors: usize = all.iter().map(credits_dsl::Diagnostics::len).sum();
        format!("the versions of `{}` do not load together ({errors} errors; run `credits rates check`)", book.name)
    })
}

/// `imini` for `rates/imini@2026-12-01.rates`.
fn book_of_file(path: &str) -> Option<&str> {
    let file = std::path::Path::new(path).file_stem()?.to_str()?;
    Some(file.split('@').next().unwrap_or(file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::Path;

    /// `credits serve` loads the books at the top of its directory: the example books of
    /// `rates/examples/` are never served as production books.
    #[test]
    fn serve_does_not_load_the_example_books() {
        let rates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rates");
        assert!(rates.join("examples/deepseek.rates").is_file());
        let Ok((library, files)) = crate::serve::load_rates(&rates) else {
            panic!("the seed books do not load");
        };
        for example in ["deepseek", "runway", "fish-audio"] {
            assert!(!library.names().contains(&example), "{example} is served");
        }
        assert!(files.iter().all(|(name, _)| !name.contains("examples")));
        assert!(library.names().contains(&"imentiv"));
    }
}
