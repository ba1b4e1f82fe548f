//! The events decisions publish (`docs/events.md`): one per crossing, grant, warning,
//! expiry, statement, expired hold and change of status; none for a refused command; the
//! same whether an idle account is caught up lazily or visited at every `due_at`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Shell, at, cmd, usage};
use credits_dsl::{RateBook, compile_source};
use credits_ledger::{Command, Event, EventType, event_id};
use serde_json::{Value, json};

const PLAN: &str = "ev/pro";

/// A plan with every event source: a cycle grant, top-ups that expire, a low-balance alert,
/// an expiry warning and an auto top-up.
fn book() -> RateBook {
    compile_source(
        "ev.rates",
        "book ev
effective 2025-01-01
unit credit scale 2 round half-up
feature image {
  base 1 credit each
}
plan pro {
  cycle monthly calendar
  grant 10 credit every cycle as allocation, expires end of cycle
  order allocation, top_up
  topup as top_up, expires after 30 days
  package small 20 credit
  alert below 5 credit
  warn before expiry 7 days
  auto topup below 3 credit package small
}
",
    )
    .unwrap()
}

fn image(id: &str) -> Command {
    cmd::charge(id, usage("image", &[]))
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect()
}

fn since(shell: &Shell, count: usize) -> &[Event] {
    &shell.events[count..]
}

fn data(event: &Event) -> &Value {
    &event.body["data"]
}

#[test]
fn a_month_publishes_each_event_once() {
    month();
}

/// A month of the account, with every kind of event, checked as it goes.
fn month() -> Shell {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", PLAN), at("2025-01-01T00:00:00Z"));
    assert_eq!(types(&shell.events), ["credits.granted"]);
    assert_eq!(data(&shell.events[0])["amount"], json!("10.00"));
    assert_eq!(data(&shell.events[0])["amount_minor"], json!(1000));
    // The schedule comes back when the allocation is to be announced.
    assert_eq!(shell.due_at, Some(at("2025-01-25T00:00:00Z")));

    // Down to 4 credits: below 5, one alert; down to 2: below 3, one top-up asked for.
    let mut seen = shell.events.len();
    for n in 0..9 {
        shell.ok(&image(&format!("c{n}")), at("2025-01-02T10:00:00Z"));
    }
    assert_eq!(
        types(since(&shell, seen)),
        ["balance.low", "auto_topup.requested"]
    );
    let asked = &shell.events[seen + 1];
    assert_eq!(data(asked)["package"], json!("small"));
    assert_eq!(data(asked)["available_minor"], json!(200));
    assert_eq!(data(asked)["package_amount_minor"], json!(2000));
    assert_eq!(asked.at, at("2025-01-02T10:00:00Z"));

    // The walk reaches the warning instant: 1 credit left expires at the cycle end.
    seen = shell.events.len();
    shell.ok(&cmd::advance("w1"), at("2025-01-25T00:00:00Z"));
    assert_eq!(types(since(&shell, seen)), ["credits.expiring"]);
    let warning = &shell.events[seen];
    assert_eq!(warning.at, at("2025-01-25T00:00:00Z"));
    assert_eq!(data(warning)["amount_minor"], json!(100));
    assert_eq!(data(warning)["expires_at"], json!("2025-02-01T00:00:00Z"));
    assert_eq!(shell.due_at, Some(at("2025-02-01T00:00:00Z")));
    // Announced once, however often the account is touched in the window.
    seen = shell.events.len();
    shell.ok(&cmd::advance("w2"), at("2025-01-28T00:00:00Z"));
    assert!(since(&shell, seen).is_empty());

    // The cycle ends: what was left expires, the statement is final, the next grant comes.
    shell.ok(&cmd::advance("w3"), at("2025-02-01T00:00:00Z"));
    assert_eq!(
        types(since(&shell, seen)),
        ["credits.expired", "credits.granted", "statement.ready"]
    );
    let expired = &shell.events[seen];
    assert_eq!(data(expired)["amount_minor"], json!(100));
    assert_eq!(data(expired)["reason"], json!("expired"));
    let statement = &shell.events[seen + 2];
    assert_eq!(data(statement)["starts_at"], json!("2025-01-01T00:00:00Z"));
    assert_eq!(data(statement)["ends_at"], json!("2025-02-01T00:00:00Z"));
    assert_eq!(statement.at, at("2025-02-01T00:00:00Z"));

    // A top-up answers the platform's own request: no event. Its bucket is announced
    // 7 days before its 30 days end.
    seen = shell.events.len();
    shell.ok(&cmd::package("buy1", "small"), at("2025-02-02T00:00:00Z"));
    assert!(since(&shell, seen).is_empty());

    // A hold left to expire.
    shell.ok(
        &cmd::hold("h1", usage("image", &[]), 60),
        at("2025-02-02T00:00:00Z"),
    );
    shell.ok(&cmd::advance("w4"), at("2025-02-02T00:05:00Z"));
    assert_eq!(types(since(&shell, seen)), ["hold.expired"]);
    assert_eq!(data(&shell.events[seen])["hold"], json!("h1"));
    assert_eq!(shell.events[seen].at, at("2025-02-02T00:01:00Z"));

    // Suspended, resumed, closed.
    seen = shell.events.len();
    shell.ok(
        &Command::Suspend { id: "s".into() },
        at("2025-02-03T00:00:00Z"),
    );
    shell.ok(
        &Command::Resume { id: "r".into() },
        at("2025-02-03T00:00:01Z"),
    );
    shell.ok(
        &Command::Close { id: "x".into() },
        at("2025-02-03T00:00:02Z"),
    );
    assert_eq!(
        types(since(&shell, seen)),
        [
            "account.suspended",
            "account.resumed",
            "credits.expired",
            "account.closed"
        ]
    );
    assert_eq!(
        data(&shell.events[seen + 2])["reason"],
        json!("account closed")
    );
    shell
}

/// `docs/events.schema.json` describes every type the ledger knows, and every event of the
/// month matches it.
#[test]
fn every_event_matches_the_schema() {
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/events.schema.json"
    )))
    .unwrap();
    let listed: Vec<&str> = schema["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    let known: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
    assert_eq!(
        listed, known,
        "the schema lists every type, in the catalogue's order"
    );
    let shell = month();
    let mut seen = std::collections::BTreeSet::new();
    for event in &shell.events {
        let mut errors = Vec::new();
        schema::check(&schema, &schema, &event.body, "", &mut errors);
        assert!(errors.is_empty(), "{}: {errors:#?}", event.body);
        let id = event.id.strip_prefix("evt_").unwrap();
        assert!(
            id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        seen.insert(event.event_type);
    }
    assert_eq!(
        seen.len(),
        EventType::ALL.len(),
        "the month publishes every type"
    );
    // And the checker does refuse what does not match.
    let mut broken = shell.events[0].body.clone();
    broken["data"]["amount_minor"] = json!("ten");
    let mut errors = Vec::new();
    schema::check(&schema, &schema, &broken, "", &mut errors);
    assert!(!errors.is_empty());
}

/// The part of JSON Schema the events' schema uses: `type`, `required`, `properties`,
/// `additionalProperties`, `const`, `enum`, `minimum`, `$ref` (to `#/$defs/…`), `allOf` and
/// `if`/`then`. (`pattern` and `format` are checked by the test itself.)
mod schema {
    use serde_json::Value;

    pub fn check(
        root: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/$defs/").unwrap();
            return check(root, &root["$defs"][name], value, path, errors);
        }
        if let Some(kinds) = schema.get("type") {
            let kinds: Vec<&str> = match kinds {
                Value::String(kind) => vec![kind.as_str()],
                Value::Array(kinds) => kinds.iter().map(|kind| kind.as_str().unwrap()).collect(),
                _ => panic!("bad type at {path}"),
            };
            let matches = |kind: &str| match kind {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "object" => value.is_object(),
                "array" => value.is_array(),
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                other => panic!("type {other} at {path}"),
            };
            if !kinds.iter().any(|kind| matches(kind)) {
                errors.push(format!("{path}: {value} is not {kinds:?}"));
                return;
            }
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            errors.push(format!("{path}: {value} is not {constant}"));
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{path}: {value} is not one of {options:?}"));
        }
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_i64)
            && value.as_i64().is_some_and(|number| number < minimum)
        {
            errors.push(format!("{path}: {value} is below {minimum}"));
        }
        if let Some(fields) = value.as_object() {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !fields.contains_key(name.as_str().unwrap()) {
                    errors.push(format!("{path}: `{name}` is missing"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                let inner = format!("{path}/{name}");
                match properties.and_then(|properties| properties.get(name)) {
                    Some(property) => check(root, property, field, &inner, errors),
                    None => {
                        if let Some(additional) = schema.get("additionalProperties") {
                            check(root, additional, field, &inner, errors);
                        }
                    }
                }
            }
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            check(root, part, value, path, errors);
        }
        if let (Some(condition), Some(then)) = (schema.get("if"), schema.get("then")) {
            let mut unmet = Vec::new();
            check(root, condition, value, path, &mut unmet);
            if unmet.is_empty() {
                check(root, then, value, path, errors);
            }
        }
    }
}

#[test]
fn a_crossing_is_published_again_only_after_the_balance_recovered() {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", PLAN), at("2025-01-01T00:00:00Z"));
    for n in 0..6 {
        shell.ok(&image(&format!("c{n}")), at("2025-01-02T10:00:00Z"));
    }
    let lows = |shell: &Shell| {
        shell
            .events
            .iter()
            .filter(|event| event.event_type == EventType::BalanceLow)
            .count()
    };
    assert_eq!(lows(&shell), 1);
    shell.ok(&image("c6"), at("2025-01-02T11:00:00Z"));
    assert_eq!(lows(&shell), 1, "still below: no second alert");
    shell.ok(
        &cmd::top_up("t1", "credit", 1000),
        at("2025-01-02T12:00:00Z"),
    );
    for n in 7..20 {
        shell.ok(&image(&format!("c{n}")), at("2025-01-02T13:00:00Z"));
    }
    assert_eq!(lows(&shell), 2, "back above, then below again");
}

#[test]
fn a_refused_command_publishes_nothing() {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", PLAN), at("2025-01-01T00:00:00Z"));
    let before = shell.events.len();
    // A suspended account refuses charges.
    shell.ok(
        &Command::Suspend { id: "s".into() },
        at("2025-01-01T00:00:01Z"),
    );
    let suspended = shell.events.len();
    shell.refused(&image("c1"), at("2025-01-01T00:00:02Z"));
    assert_eq!(shell.events.len(), suspended);
    assert_eq!(suspended, before + 1);
}

/// What an event says, without what only the path taken can tell (bucket ids: buckets may
/// merge an instant sooner on one path), its number and id.
fn said(event: &Event) -> (DateTime<Utc>, &'static str, String) {
    let mut data = data(event).clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("bucket");
    }
    (event.at, event.event_type.as_str(), data.to_string())
}

/// Events judged on the balance a decision leaves (alerts, auto top-ups) depend on when
/// decisions happen; every other event is published at its own instant.
fn walked(shell: &Shell) -> Vec<(DateTime<Utc>, &'static str, String)> {
    let mut said: Vec<_> = shell
        .events
        .iter()
        .filter(|event| {
            !matches!(
                event.event_type,
                EventType::BalanceLow | EventType::AutoTopupRequested
            )
        })
        .map(said)
        .collect();
    said.sort();
    said
}

/// Runs `commands` at their instants; `visit`: also advance at every `due_at` before each.
fn run(commands: &[(&str, Command)], visit: bool) -> Shell {
    let mut shell = Shell::new(book());
    let mut visits = 0;
    for (when, command) in commands {
        let when = at(when);
        while visit && let Some(due) = shell.due_at.filter(|due| *due < when) {
            shell.ok(&cmd::advance(&format!("visit{visits}")), due);
            visits += 1;
            assert!(visits < 500, "the schedule does not settle");
        }
        shell.ok(command, when);
    }
    shell
}

/// Touched once a cycle at least: a cycle's grant is alive when the account is next
/// touched (a grant that would expire unspent before the next touch is never written, on
/// either path, and so never published: `docs/events.md`).
#[test]
fn lazy_catch_up_publishes_what_the_schedule_does() {
    let commands = [
        ("2025-01-01T00:00:00Z", cmd::create("a", PLAN)),
        ("2025-01-03T00:00:00Z", image("c1")),
        ("2025-01-10T00:00:00Z", cmd::package("buy1", "small")),
        (
            "2025-01-10T00:00:00Z",
            cmd::hold("h1", usage("image", &[]), 3_600),
        ),
        ("2025-02-20T00:00:00Z", image("c2")),
        ("2025-03-15T00:00:00Z", image("c3")),
        ("2025-03-16T00:00:00Z", cmd::package("buy2", "small")),
        (
            "2025-03-16T00:00:00Z",
            cmd::hold("h2", usage("image", &[]), 7_200),
        ),
        ("2025-04-20T00:00:00Z", image("c4")),
        ("2025-05-10T00:00:00Z", cmd::advance("end")),
    ];
    let lazy = run(&commands, false);
    let visited = run(&commands, true);
    assert!(
        visited.events.len() > lazy.events.len() / 2,
        "the schedule visited"
    );
    let (lazy, visited) = (walked(&lazy), walked(&visited));
    assert_eq!(lazy, visited);
    // And it covered each kind the walk publishes.
    for kind in [
        "credits.granted",
        "credits.expiring",
        "credits.expired",
        "statement.ready",
        "hold.expired",
    ] {
        assert!(
            lazy.iter().any(|(_, seen, _)| *seen == kind),
            "no {kind} in {lazy:#?}"
        );
    }
}

#[test]
fn payloads_name_their_event() {
    let commands = [
        ("2025-01-01T00:00:00Z", cmd::create("a", PLAN)),
        ("2025-03-15T00:00:00Z", image("c1")),
    ];
    let shell = run(&commands, false);
    for event in &shell.events {
        let body = &event.body;
        assert_eq!(body["id"], json!(event.id));
        assert_eq!(body["type"], json!(event.event_type.as_str()));
        assert_eq!(body["version"], json!(1));
        assert_eq!(body["account"], json!("a"));
        assert_eq!(body["seq"], json!(event.seq));
        assert!(body["data"].is_object());
        assert_eq!(
            EventType::parse(event.event_type.as_str()),
            Some(event.event_type)
        );
        let at: DateTime<Utc> = body["at"].as_str().unwrap().parse().unwrap();
        assert_eq!(at, event.at);
    }
}

#[test]
fn event_ids_are_unique_across_accounts_and_stable() {
    assert_ne!(event_id("a", 1), event_id("b", 1));
    assert_ne!(event_id("a", 1), event_id("a", 2));
    // Names that would run together in a naive join stay apart.
    assert_ne!(event_id("a1", 1), event_id("a", 11));
    // Pinned: receivers de-duplicate by id, so an id must never change.
    assert_eq!(event_id("acme", 1), PINNED_ID);
    assert_eq!(event_id("acme", 1).len(), 36);
}

const PINNED_ID: &str = "evt_cd3ce884d8e8787066cec7a58604dd2d";

#[test]
fn the_warning_comes_at_creation_inside_the_window() {
    let mut shell = Shell::new(book());
    shell.ok(&cmd::create("a", PLAN), at("2025-01-28T00:00:00Z"));
    // The allocation expires on 2025-02-01: already inside the 7 days.
    assert_eq!(
        types(&shell.events),
        ["credits.granted", "credits.expiring"]
    );
    assert_eq!(shell.events[1].at, at("2025-01-28T00:00:00Z"));
}

/// One step of [`catch_up_publishes_what_visits_do`]: days and hours after the previous one,
/// and what is done then.
#[derive(Debug, Clone)]
enum Step {
    Charge,
    Package,
    Hold(u32),
}

fn step() -> impl proptest::strategy::Strategy<Value = (u32, u32, Step)> {
    use proptest::prelude::*;
    (
        0..20_u32,
        0..24_u32,
        prop_oneof![
            4 => Just(Step::Charge),
            1 => Just(Step::Package),
            1 => (60..7_200_u32).prop_map(Step::Hold),
        ],
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever the commands and their instants (touching the account at least every 20
    /// days, so each cycle's grant is alive when next touched), catching up lazily publishes
    /// the events visits at every `due_at` would.
    #[test]
    fn catch_up_publishes_what_visits_do(steps in proptest::collection::vec(step(), 1..40)) {
        let mut now = at("2025-01-01T00:00:00Z");
        let mut commands = vec![(now, cmd::create("a", PLAN))];
        for (index, (days, hours, step)) in steps.iter().enumerate() {
            now += TimeDelta::days(i64::from(*days)) + TimeDelta::hours(i64::from(*hours));
            let id = format!("s{index}");
            commands.push((now, match step {
                Step::Charge => image(&id),
                Step::Package => cmd::package(&id, "small"),
                Step::Hold(ttl) => cmd::hold(&id, usage("image", &[]), *ttl),
            }));
        }
        commands.push((now + TimeDelta::days(3), cmd::advance("end")));
        let run = |visit: bool| {
            let mut shell = Shell::new(book());
            let mut visits = 0;
            for (when, command) in &commands {
                while visit && let Some(due) = shell.due_at.filter(|due| due < when) {
                    shell.ok(&cmd::advance(&format!("visit{visits}")), due);
                    visits += 1;
                }
                // Both refuse the same commands (a charge the balance cannot pay).
                let _ = shell.run(command, *when);
            }
            shell
        };
        let (lazy, visited) = (run(false), run(true));
        proptest::prop_assert_eq!(walked(&lazy), walked(&visited));
    }
}
