//! The console's requests to the rate language, as JSON in and JSON out.
//!
//! Every request names an `op` and carries the file's `name` (`invideo.rates`: the book's
//! name is checked against it, as `credits rates check` does) and `source`:
//!
//! - `analyse`: the diagnostics `credits rates check` reports (message, help, label and
//!   position of each), the book's features with their inputs (to build the quote form),
//!   its plans and channels, and every `expect` with pass or fail.
//! - `quote`: one feature's inputs (`{"duration": "3m30s", "model": "pro"}`, as
//!   `credits rates quote` takes them) → the amounts and the explanation lines.
//! - `compare`: this source against `base_name`/`base_source` (the version the server has
//!   loaded) → which examples change price, from what to what, and the full diff text of
//!   `credits rates diff`.
//!
//! Positions are given twice: `line`/`column` (1-based, columns in characters) for people,
//! and `start`/`end` in UTF-16 code units for the browser's text APIs.

use credits_dsl::book::{InputKind, InputValue, RateBook};
use credits_dsl::compile::{CompileOptions, compile_source_with};
use credits_dsl::diagnostics::BookError;
use credits_dsl::expect::{describe, run_expects};
use credits_dsl::usage::RawValue;
use credits_dsl::{RatingContext, diff, literal};
use miette::Diagnostic;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

/// Largest request: a rate file may hold 256 KiB; the rest is room for the JSON around it
/// and a second (base) source.
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;
/// Most diagnostics answered (each costs a walk over the source to place it); the rest are
/// counted in `more_diagnostics`.
const MAX_DIAGNOSTICS: usize = 100;
/// Most inputs a quote accepts (a feature has at most 64 inputs).
const MAX_QUOTE_INPUTS: usize = 64;

/// The answer to a request longer than [`MAX_REQUEST_BYTES`].
pub fn too_large(len: usize) -> String {
    failure(
        &format!("the request is {len} bytes, more than the {MAX_REQUEST_BYTES} the console takes"),
        "a rate file may hold at most 256 KiB",
    )
}

/// Answers one JSON request with one JSON response (never fails: problems are answered as
/// `{"ok": false, "error": {"message", "help"}}`).
pub fn handle(request: &[u8]) -> String {
    let request: Value = match serde_json::from_slice(request) {
        Ok(request) => request,
        Err(error) => return failure(&format!("the request is not JSON: {error}"), ""),
    };
    let text = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default();
    let (name, source) = (text("name"), text("source"));
    let response = match text("op") {
        "analyse" => analyse(name, source),
        "quote" => quote(name, source, &request),
        "compare" => compare(name, source, text("base_name"), text("base_source")),
        other => {
            return failure(
                &format!("unknown op `{other}`"),
                "the ops are `analyse`, `quote` and `compare`",
            );
        }
    };
    response.to_string()
}

fn failure(message: &str, help: &str) -> String {
    json!({"ok": false, "error": {"message": message, "help": help}}).to_string()
}

fn failure_value(message: impl Into<String>, help: impl Into<String>) -> Value {
    json!({"ok": false, "error": {"message": message.into(), "help": help.into()}})
}

// ---- analyse -------------------------------------------------------------------------------

fn analyse(name: &str, source: &str) -> Value {
    // Exactly what `credits rates check` runs on one file (examples included)...
    let checked = credits_dsl::compile_source(name, source);
    let diagnostics: Vec<Value> = match &checked {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics
            .errors()
            .iter()
            .take(MAX_DIAGNOSTICS)
            .map(|error| diagnostic(source, error))
            .collect(),
    };
    let more_diagnostics = checked.as_ref().err().map_or(0, |diagnostics| {
        diagnostics.len().saturating_sub(MAX_DIAGNOSTICS)
    });
    // ...and the book without its examples, so that failing examples still leave a book to
    // quote and to list the examples of.
    let book = match checked {
        Ok(book) => Some(book),
        Err(_) => compile_source_with(name, source, CompileOptions { run_expects: false }).ok(),
    };
    let mut response = json!({
        "ok": diagnostics.is_empty(),
        "diagnostics": diagnostics,
        "more_diagnostics": more_diagnostics,
    });
    if let (Some(book), Some(object)) = (book, response.as_object_mut()) {
        object.insert("book".to_owned(), describe_book(&book));
        object.insert("expects".to_owned(), expects(&book));
    }
    response
}

/// One diagnostic: the message, the help, and each label with its position.
fn diagnostic(source: &str, error: &BookError) -> Value {
    let labels: Vec<Value> = error
        .labels()
        .into_iter()
        .flatten()
        .map(|label| {
            let start = label.offset().min(source.len());
            let end = start.saturating_add(label.len()).min(source.len());
            span(source, start, end, label.label().unwrap_or_default())
        })
        .collect();
    let first = labels
        .first()
        .cloned()
        .unwrap_or_else(|| span(source, 0, 0, ""));
    let mut value = json!({
        "severity": "error",
        "code": error.code().map(|code| code.to_string()).unwrap_or_default(),
        "message": error.to_string(),
        "help": error.help().map(|help| help.to_string()).unwrap_or_default(),
        "labels": labels,
    });
    if let (Some(object), Some(position)) = (value.as_object_mut(), first.as_object()) {
        for (key, field) in position {
            if key != "text" {
                object.insert(key.clone(), field.clone());
            }
        }
        object.insert(
            "label".to_owned(),
            position.get("text").cloned().unwrap_or_default(),
        );
    }
    value
}

/// A span of `source` (byte offsets, clamped to char boundaries) as lines, columns and
/// UTF-16 offsets.
fn span(source: &str, start: usize, end: usize, text: &str) -> Value {
    let (line, column, start_utf16) = position(source, start);
    let (end_line, end_column, end_utf16) = position(source, end.max(start));
    json!({
        "line": line, "column": column, "end_line": end_line, "end_column": end_column,
        "start": start_utf16, "end": end_utf16, "text": text,
    })
}

/// (line, column, UTF-16 offset) of the byte offset `at`, 1-based line and column.
fn position(source: &str, at: usize) -> (usize, usize, usize) {
    let (mut line, mut column, mut utf16) = (1usize, 1usize, 0usize);
    for (offset, character) in source.char_indices() {
        if offset >= at {
            break;
        }
        utf16 += character.len_utf16();
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column, utf16)
}

/// The book as the console's forms need it.
fn describe_book(book: &RateBook) -> Value {
    let features: Vec<Value> = book
        .features
        .iter()
        .map(|feature| {
            let inputs: Vec<Value> = feature
                .inputs
                .iter()
                .map(|input| {
                    let (kind, choices) = kind_name(&input.kind);
                    let default = input.default.as_ref().map(|value| match value {
                        InputValue::Quantity(quantity) => quantity_text(&input.kind, *quantity),
                        InputValue::Choice(choice) => choice.clone(),
                        InputValue::Flag(flag) => (if *flag { "yes" } else { "no" }).to_owned(),
                    });
                    json!({
                        "name": input.name,
                        "kind": kind,
                        "choices": choices,
                        "default": default,
                        "min": input.min.map(|min| quantity_text(&input.kind, min)),
                        "max": input.max.map(|max| quantity_text(&input.kind, max)),
                    })
                })
                .collect();
            json!({
                "name": feature.name,
                "title": feature.title,
                "inputs": inputs,
                "units": feature.units,
                "first_request_free": feature.first_request_free,
            })
        })
        .collect();
    json!({
        "name": book.name,
        "title": book.title,
        "effective": book.effective.to_string(),
        "rates_version": book.rates_version,
        "units": book.units.iter().map(|unit| unit.name.clone()).collect::<Vec<_>>(),
        "channels": book.channels.as_ref().map(|channels| channels.names.clone()),
        "plans": book.plans.iter().map(|plan| plan.name.clone()).collect::<Vec<_>>(),
        "features": features,
    })
}

fn kind_name(kind: &InputKind) -> (&'static str, Vec<String>) {
    match kind {
        InputKind::Duration => ("duration", Vec::new()),
        InputKind::Words => ("words", Vec::new()),
        InputKind::Characters => ("characters", Vec::new()),
        InputKind::Images => ("images", Vec::new()),
        InputKind::Tokens => ("tokens", Vec::new()),
        InputKind::Requests => ("requests", Vec::new()),
        InputKind::Data => ("data", Vec::new()),
        InputKind::Count => ("count", Vec::new()),
        InputKind::Choice(choices) => ("choice", choices.clone()),
        InputKind::Flag => ("flag", Vec::new()),
    }
}

/// Durations and data as literals (`3m30s`, `2 GB`), counted things as the bare number.
fn quantity_text(kind: &InputKind, quantity: Decimal) -> String {
    match kind {
        InputKind::Duration | InputKind::Data => literal::format_quantity(kind, quantity),
        _ => quantity.normalize().to_string(),
    }
}

/// Every example with pass or fail, expected and actual amounts.
fn expects(book: &RateBook) -> Value {
    let outcomes: Vec<Value> = run_expects(book)
        .iter()
        .map(|outcome| {
            let expect = book.expects.get(outcome.index);
            let (actual, error) = match &outcome.actual {
                Ok(actual) => (Some(describe(actual)), None),
                Err(reason) => (None, Some(reason.clone())),
            };
            json!({
                "line": expect.map_or(0, |expect| expect.line),
                "example": expect.map(|expect| diff::describe_terms(book, &expect.terms)),
                "want": describe(&outcome.expected),
                "got": actual,
                "error": error,
                "passed": outcome.passed,
            })
        })
        .collect();
    Value::Array(outcomes)
}

// ---- quote ---------------------------------------------------------------------------------

fn quote(name: &str, source: &str, request: &Value) -> Value {
    let book = match compile_source_with(name, source, CompileOptions { run_expects: false }) {
        Ok(book) => book,
        Err(diagnostics) => {
            return failure_value(
                format!(
                    "`{name}` does not compile ({} errors)",
                    diagnostics.errors().len()
                ),
                "fix the errors shown in the editor first",
            );
        }
    };
    let feature = request
        .get("feature")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let empty = Map::new();
    let given = request
        .get("inputs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if given.len() > MAX_QUOTE_INPUTS {
        return failure_value(
            format!("at most {MAX_QUOTE_INPUTS} inputs may be given"),
            "",
        );
    }
    let mut inputs = Vec::with_capacity(given.len());
    for (key, value) in given {
        // An empty field is an input left out: its default applies, or the usage says it is
        // missing.
        if value.as_str().is_some_and(|text| text.trim().is_empty()) || value.is_null() {
            continue;
        }
        match value {
            Value::String(text) => {
                inputs.push((key.clone(), RawValue::Text(text.trim().to_owned())))
            }
            other => match RawValue::from_json(other) {
                Some(raw) => inputs.push((key.clone(), raw)),
                None => {
                    return failure_value(
                        format!("`{key}` is neither a number, a text nor true/false"),
                        "",
                    );
                }
            },
        }
    }
    let channel = request
        .get("channel")
        .and_then(Value::as_str)
        .filter(|channel| !channel.is_empty());
    let usage = match book.usage(feature, channel, &inputs) {
        Ok(usage) => usage,
        Err(error) => return problem(&error),
    };
    let plan_name = request
        .get("plan")
        .and_then(Value::as_str)
        .filter(|plan| !plan.is_empty());
    let gate = match plan_name {
        Some(plan_name) => match book.plan(plan_name) {
            Some(plan) if book.requires_subscription(plan, &usage) => {
                Some(format!("plan `{plan_name}`: requires subscription"))
            }
            Some(_) => Some(format!("plan `{plan_name}`: allowed")),
            None => {
                return failure_value(
                    format!("`{plan_name}` is not a plan of `{}`", book.name),
                    "",
                );
            }
        },
        None => None,
    };
    let context = RatingContext {
        first_request: request
            .get("first_request")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let outcome = match request
        .get("outcome")
        .and_then(Value::as_str)
        .filter(|outcome| !outcome.is_empty())
    {
        None => credits_dsl::JobOutcome::Completed,
        Some(word) => match credits_dsl::JobOutcome::from_word(word) {
            Some(outcome) => outcome,
            None => {
                return failure_value(
                    format!(
                        "`{word}` is not an outcome: a job ends {}",
                        credits_dsl::JobOutcome::allowed()
                    ),
                    "",
                );
            }
        },
    };
    let rating = match book.rate_outcome(&usage, outcome, context, plan_name) {
        Ok(rating) => rating,
        Err(error) => return problem(&error),
    };
    let mut amounts = Map::new();
    for amount in &rating.amounts {
        amounts.insert(
            amount.unit.clone(),
            Value::String(amount.amount.normalize().to_string()),
        );
    }
    let totals: Vec<(String, Decimal)> = rating
        .amounts
        .iter()
        .map(|amount| (amount.unit.clone(), amount.amount))
        .collect();
    let mut lines: Vec<String> = rating.lines.iter().map(|line| line.text.clone()).collect();
    lines.extend(gate);
    json!({
        "ok": true,
        "feature": rating.feature,
        "usage": diff::describe_usage(&book, &usage),
        "amounts": amounts,
        "total": describe(&totals),
        "lines": lines,
        "free": rating.free,
        "rates_version": rating.rates_version,
    })
}

/// A usage or rating error as message and help.
fn problem(error: &dyn Diagnostic) -> Value {
    failure_value(
        error.to_string(),
        error
            .help()
            .map(|help| help.to_string())
            .unwrap_or_default(),
    )
}

// ---- compare -------------------------------------------------------------------------------

fn compare(name: &str, source: &str, base_name: &str, base_source: &str) -> Value {
    let options = CompileOptions { run_expects: false };
    let new = match compile_source_with(name, source, options) {
        Ok(book) => book,
        Err(_) => {
            return failure_value(
                format!("`{name}` does not compile"),
                "fix the errors shown in the editor first",
            );
        }
    };
    let old = match compile_source_with(base_name, base_source, options) {
        Ok(book) => book,
        Err(_) => return failure_value(format!("`{base_name}` does not compile"), ""),
    };
    let difference = diff::diff(&old, &new);
    let prices: Vec<Value> = difference
        .prices
        .iter()
        .map(|change| {
            json!({
                "example": change.example,
                "old": describe(&change.old),
                "new": describe(&change.new),
                "change": change_text(&change.old, &change.new),
            })
        })
        .collect();
    let not_comparable: Vec<Value> = difference
        .not_comparable
        .iter()
        .map(|item| json!({"example": item.example, "reason": item.reason}))
        .collect();
    json!({
        "ok": true,
        "old_version": difference.old_version,
        "new_version": difference.new_version,
        "prices": prices,
        "unchanged_examples": difference.unchanged_examples,
        "not_comparable": not_comparable,
        "identical": difference.is_empty(),
        "text": difference.to_string(),
    })
}

/// `+5 credit, -1 video_minute`: new minus old per unit, units that did not change left out.
fn change_text(old: &[(String, Decimal)], new: &[(String, Decimal)]) -> String {
    let mut units: Vec<&String> = old.iter().chain(new).map(|(unit, _)| unit).collect();
    units.sort();
    units.dedup();
    let amount = |totals: &[(String, Decimal)], unit: &String| {
        totals
            .iter()
            .find(|(name, _)| name == unit)
            .map_or(Decimal::ZERO, |(_, amount)| *amount)
    };
    let parts: Vec<String> = units
        .into_iter()
        .filter_map(|unit| {
            let delta = amount(new, unit).checked_sub(amount(old, unit))?;
            if delta.is_zero() {
                return None;
            }
            let sign = if delta.is_sign_positive() { "+" } else { "" };
            Some(format!("{sign}{} {unit}", delta.normalize()))
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = include_str!("../../../rates/invideo.rates");

    fn call(request: Value) -> Value {
        serde_json::from_str(&handle(request.to_string().as_bytes())).unwrap()
    }

    #[test]
    fn a_seed_book_has_no_diagnostics_and_passing_examples() {
        let response = call(json!({"op": "analyse", "name": "invideo.rates", "source": BOOK}));
        assert_eq!(response["ok"], true, "{response}");
        let expects = response["expects"].as_array().unwrap();
        assert!(!expects.is_empty());
        assert!(expects.iter().all(|expect| expect["passed"] == true));
        assert!(!response["book"]["features"].as_array().unwrap().is_empty());
    }

    #[test]
    fn an_error_is_reported_with_the_text_of_rates_check_at_its_line_and_column() {
        let source = BOOK.replacen("\nfeature ", "\nbogus here\nfeature ", 1);
        let response = call(json!({"op": "analyse", "name": "invideo.rates", "source": source}));
        assert_eq!(response["ok"], false);
        let first = &response["diagnostics"][0];
        let want = credits_dsl::compile_source("invideo.rates", &source).unwrap_err();
        let want = &want.errors()[0];
        assert_eq!(first["message"], want.to_string());
        assert_eq!(
            first["help"],
            want.help().map(|help| help.to_string()).unwrap_or_default()
        );
        let line = source
            .lines()
            .position(|line| line == "bogus here")
            .unwrap()
            + 1;
        assert_eq!(first["line"], line, "{first}");
        assert_eq!(first["column"], 1);
    }

    #[test]
    fn a_quote_takes_inputs_as_the_cli_does() {
        let analysed = call(json!({"op": "analyse", "name": "invideo.rates", "source": BOOK}));
        let feature = &analysed["book"]["features"][0];
        let inputs: Map<String, Value> = feature["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|input| input["default"].is_null())
            .map(|input| {
                let value = match input["kind"].as_str().unwrap() {
                    "duration" => "3m30s".to_owned(),
                    "choice" => input["choices"][0].as_str().unwrap().to_owned(),
                    "flag" => "yes".to_owned(),
                    _ => "1".to_owned(),
                };
                (
                    input["name"].as_str().unwrap().to_owned(),
                    Value::String(value),
                )
            })
            .collect();
        let response = call(json!({
            "op": "quote", "name": "invideo.rates", "source": BOOK,
            "feature": feature["name"], "inputs": inputs,
        }));
        assert_eq!(response["ok"], true, "{response}");
        assert!(!response["lines"].as_array().unwrap().is_empty());
    }

    #[test]
    fn a_quote_prices_how_the_job_ended() {
        let source = "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\n\
                      feature image {\n  base 2 credit each\n  outcome moderated free\n}\n";
        let quote = |outcome: &str| {
            call(json!({
                "op": "quote", "name": "test.rates", "source": source,
                "feature": "image", "inputs": {}, "outcome": outcome,
            }))
        };
        assert_eq!(quote("completed")["amounts"]["credit"], "2");
        let moderated = quote("moderated");
        assert_eq!(moderated["amounts"], json!({}), "{moderated}");
        let unknown = quote("aborted");
        assert_eq!(unknown["ok"], false, "{unknown}");
    }

    #[test]
    fn a_quote_rates_with_the_plan_it_names() {
        let source = "book test\neffective 2025-01-01\nunit credit scale 0 round up
feature avatar {
  base 5 credit each when plan is pro
  base 9 credit each when plan is free
  refuse \"no avatars on free at night\" when plan is free and night
  input night: flag default no
}
plan free {
  order top_up
  topup as top_up, expires never
}
plan pro {
  order top_up
  topup as top_up, expires never
}
";
        let quote = |plan: Value, night: bool| {
            call(json!({
                "op": "quote", "name": "test.rates", "source": source,
                "feature": "avatar", "inputs": {"night": night}, "plan": plan,
            }))
        };
        assert_eq!(quote(json!("pro"), false)["amounts"]["credit"], "5");
        assert_eq!(quote(json!("free"), false)["amounts"]["credit"], "9");
        let refused = quote(json!("free"), true);
        assert_eq!(refused["ok"], false, "{refused}");
        assert_eq!(refused["error"]["message"], "no avatars on free at night");
        let no_plan = quote(Value::Null, false);
        assert_eq!(no_plan["ok"], false, "{no_plan}");
    }

    #[test]
    fn a_changed_price_is_listed_with_its_change() {
        let analysed = call(json!({"op": "analyse", "name": "invideo.rates", "source": BOOK}));
        assert_eq!(analysed["ok"], true);
        let changed = BOOK.replace("base 20 credit per minute", "base 25 credit per minute");
        assert_ne!(changed, BOOK);
        let response = call(json!({
            "op": "compare", "name": "invideo.rates", "source": changed,
            "base_name": "invideo.rates", "base_source": BOOK,
        }));
        assert_eq!(response["ok"], true, "{response}");
        let prices = response["prices"].as_array().unwrap();
        assert!(!prices.is_empty(), "{response}");
        assert!(
            prices[0]["change"].as_str().unwrap().starts_with('+'),
            "{response}"
        );
    }

    #[test]
    fn a_bad_request_is_answered_as_an_error() {
        let response: Value = serde_json::from_str(&handle(b"nope")).unwrap();
        assert_eq!(response["ok"], false);
        let response = call(json!({"op": "fly"}));
        assert_eq!(response["ok"], false);
    }
}
