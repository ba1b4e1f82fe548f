//! The hostile corpus (`tests/hostile/corpus.json`, described in its README): every case is
//! answered a well-formed `application/problem+json` 4xx, and nothing is written (entries,
//! snapshot versions, keys, accounts a hostile `PUT` tried to create) — on SQLite and on
//! DynamoDB Local.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};

use credits_store::Store;
use credits_store::sqlite::SqliteStore;
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::sim::env::{ADMIN_KEY, Deployment, entry_count, start_time};
use credits_tests::sim::http::{ApiRequest, Reply, send};
use credits_tests::template::workspace_root;

const VICTIM: &str = "victim";
const BYSTANDER: &str = "bystander";
const GHOSTS: [&str; 2] = ["ghost", "ghost\u{202e}"];

/// Generic bodies that a route legitimately accepts, with the finding that explains it.
/// Empty since F6 was fixed (an empty `POST /v1/keys` minted an admin key; its body is now
/// required like the document says).
const KNOWN_GENERIC: [(&str, &str, &str); 0] = [];

/// `{{C*N}}` → `C` repeated `N` times.
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        match inner
            .rsplit_once('*')
            .and_then(|(c, n)| Some((c, n.parse::<usize>().ok()?)))
        {
            Some((c, n)) => {
                out.push_str(&rest[..start]);
                out.push_str(&c.repeat(n));
            }
            None => out.push_str(&rest[..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn expand_json(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(expand(text)),
        Value::Array(items) => Value::Array(items.iter().map(expand_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (expand(k), expand_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn generate(spec: &Value) -> Vec<u8> {
    let text = |name: &str| {
        spec.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = text("prefix");
    if let Some(depth) = spec.get("depth").and_then(Value::as_u64) {
        let depth = depth as usize;
        out.push_str(&text("open").repeat(depth));
        out.push_str(&text("inner"));
        out.push_str(&text("close").repeat(depth));
    }
    let times = spec.get("times").and_then(Value::as_u64).unwrap_or(0) as usize;
    if let Some(repeat) = spec.get("repeat").and_then(Value::as_str) {
        out.push_str(&repeat.repeat(times));
    }
    if let Some(pattern) = spec.get("repeat_indexed").and_then(Value::as_str) {
        for i in 0..times {
            out.push_str(&pattern.replace("{i}", &i.to_string()));
        }
    }
    out.push_str(&text("suffix"));
    out.into_bytes()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The body bytes and content type a case describes.
fn body_of(case: &Value) -> (Option<Vec<u8>>, Option<String>) {
    let content_type = match case.get("content_type") {
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        _ => Some("application/json".to_owned()),
    };
    let body = if let Some(json) = case.get("json") {
        Some(expand_json(json).to_string().into_bytes())
    } else if let Some(text) = case.get("body").and_then(Value::as_str) {
        Some(expand(text).into_bytes())
    } else if let Some(text) = case.get("body_hex").and_then(Value::as_str) {
        Some(hex(text))
    } else {
        case.get("generate").map(generate)
    };
    (body, content_type)
}

fn path_of(template: &str) -> String {
    expand(template)
        .replace("{account}", VICTIM)
        .replace("{hold}", "victim-hold")
        .replace("{cycle}", "2026-01")
        .replace("{id}", "no-such-key")
}

async fn admin(deployment: &Deployment, method: Method, path: &str, body: Value) {
    let reply = send(
        deployment.router().unwrap(),
        &ApiRequest::new(method, path, Some(ADMIN_KEY)).json(&body),
    )
    .await
    .unwrap();
    assert!(reply.status.is_success(), "{path}: {}", reply.short());
}

async fn footprint(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    for account in [VICTIM, BYSTANDER].into_iter().chain(GHOSTS) {
        let version = store
            .load(account)
            .await
            .unwrap()
            .map(|record| record.version);
        let entries = entry_count(store, account).await.unwrap();
        out.push(format!("{account}: v{version:?} {entries} entries"));
    }
    out
}

async fn run_corpus(store: Arc<dyn Store>, label: &str) {
    let deployment = Deployment::new(Arc::clone(&store), 1, start_time().unwrap()).unwrap();
    for account in [VICTIM, BYSTANDER] {
        admin(
            &deployment,
            Method::PUT,
            &format!("/v1/accounts/{account}"),
            json!({"plan": "imini/prepaid"}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/topups"),
            json!({"id": format!("{account}-topup"), "amount": "1000"}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/charges"),
            json!({"id": format!("{account}-charge"), "feature": "image_generation", "inputs": {"model": "flux_pro"}}),
        )
        .await;
        admin(
            &deployment,
            Method::POST,
            &format!("/v1/accounts/{account}/holds"),
            json!({"id": format!("{account}-hold"), "feature": "image_generation", "inputs": {"model": "flux_schnell", "outputs": 4}, "ttl_seconds": 604800}),
        )
        .await;
    }
    let corpus: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("tests/hostile/corpus.json")).unwrap(),
    )
    .unwrap();
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("openapi.json")).unwrap(),
    )
    .unwrap();

    // Every route that takes a body gets every generic body.
    let mut requests: Vec<(String, ApiRequest, Option<String>)> = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                continue;
            }
            let optional = operation["requestBody"].get("required") != Some(&Value::Bool(true));
            let method: Method = method.to_uppercase().parse().unwrap();
            let route = format!("{method} {template}");
            for case in corpus["generic_bodies"].as_array().unwrap() {
                let name = case["name"].as_str().unwrap();
                if optional && name == "empty body" {
                    continue; // an optional body may be empty: that is a valid request
                }
                let known = KNOWN_GENERIC
                    .iter()
                    .find(|(r, c, _)| *r == route && *c == name)
                    .map(|(_, _, finding)| (*finding).to_owned());
                let (body, content_type) = body_of(case);
                let mut request =
                    ApiRequest::new(method.clone(), path_of(template), Some(ADMIN_KEY));
                request.content_type = content_type;
                request.body = Some(body.unwrap_or_default());
                requests.push((format!("{route}: {name}"), request, known));
            }
        }
    }
    for (index, case) in corpus["cases"].as_array().unwrap().iter().enumerate() {
        let method: Method = case["method"].as_str().unwrap().parse().unwrap();
        // A fresh client id per case: a case must be refused for its own fault, not because
        // an earlier case used the id.
        let mut case = case.clone();
        if let Some(id) = case
            .pointer("/json/id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with("hostile-"))
        {
            case["json"]["id"] = json!(format!("{id}-{index}"));
        }
        let case = &case;
        let (body, content_type) = body_of(case);
        let mut request = ApiRequest::new(
            method,
            path_of(case["path"].as_str().unwrap()),
            Some(ADMIN_KEY),
        );
        if body.is_some() {
            request.content_type = content_type;
            request.body = body;
        }
        let known = case.get("known").and_then(Value::as_str).map(str::to_owned);
        requests.push((case["name"].as_str().unwrap().to_owned(), request, known));
    }

    let mut failures = Vec::new();
    let mut known_findings = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (name, request, known) in &requests {
        let before = footprint(store.as_ref()).await;
        let reply: Reply = send(deployment.router().unwrap(), request).await.unwrap();
        let after = footprint(store.as_ref()).await;
        *statuses.entry(reply.status.as_u16()).or_default() += 1;
        let problem = if !reply.status.is_client_error() {
            Some(format!("answered {}", reply.short()))
        } else if let Err(malformed) = reply.check_problem() {
            Some(malformed)
        } else if before != after {
            Some(format!("wrote something: {before:?} → {after:?}"))
        } else {
            None
        };
        match (problem, known) {
            (Some(problem), Some(finding)) => {
                known_findings.push(format!("{name}: {problem} [{finding}]"))
            }
            (Some(problem), None) => failures.push(format!("{name}: {problem}")),
            (None, Some(finding)) => {
                known_findings.push(format!("{name}: now refused — drop `known` ({finding})"))
            }
            (None, None) => {}
        }
    }
    println!(
        "[{label}] {} hostile requests; statuses {statuses:?}",
        requests.len()
    );
    for finding in &known_findings {
        println!("[{label}] known finding: {finding}");
    }
    assert!(
        failures.is_empty(),
        "[{label}] {} hostile requests misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_hostile_corpus_is_refused_and_writes_nothing_on_sqlite() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    run_corpus(store, "sqlite").await;
}

#[tokio::test]
async fn the_hostile_corpus_is_refused_and_writes_nothing_on_dynamodb_local() {
    let local =
        DynamoDbLocal::shared().unwrap_or_else(|e| panic!("DynamoDB Local did not start: {e}"));
    let client = local.client().await;
    let table = unique_table_name("hostile");
    credits_store_dynamodb::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create `{table}`: {e}\n{}", local.recent_output()));
    let store: Arc<dyn Store> = Arc::new(credits_store_dynamodb::DynamoStore::new(client, table));
    run_corpus(store, "dynamodb").await;
}
