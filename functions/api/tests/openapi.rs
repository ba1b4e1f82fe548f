//! The committed `openapi.json` is the one the code generates. Regenerate it with
//! `UPDATE_OPENAPI=1 cargo test -p credits-api --test openapi` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
}

#[test]
fn committed_openapi_document_is_current() {
    let generated = credits_api::openapi::document_json();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p credits-api --test openapi` and commit the result"
    );
}

#[test]
fn document_names_every_route_of_the_contract() {
    let document: serde_json::Value =
        serde_json::from_str(&credits_api::openapi::document_json()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/accounts/{account}", "put"),
        ("/v1/accounts/{account}/quotes", "post"),
        ("/v1/accounts/{account}/charges", "post"),
        ("/v1/accounts/{account}/holds", "post"),
        ("/v1/accounts/{account}/holds/{hold}/capture", "post"),
        ("/v1/accounts/{account}/holds/{hold}/release", "post"),
        ("/v1/accounts/{account}/topups", "post"),
        ("/v1/accounts/{account}/refunds", "post"),
        ("/v1/accounts/{account}/balance", "get"),
        ("/v1/accounts/{account}/entries", "get"),
        ("/v1/accounts/{account}/statements/{cycle}", "get"),
        ("/v1/keys", "post"),
        ("/v1/keys/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path} is missing"
        );
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    let charge = &paths["/v1/accounts/{account}/charges"]["post"]["responses"];
    assert!(charge.get("201").is_some() && charge.get("402").is_some());
}

/// Every route that decides on an account may answer `limit-reached` (at least the snapshot's
/// byte backstop applies to every decision), and its 409 says so.
#[test]
fn every_route_that_decides_names_limit_reached_among_its_409s() {
    let document: serde_json::Value =
        serde_json::from_str(&credits_api::openapi::document_json()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/accounts/{account}", "put"),
        ("/v1/accounts/{account}/close", "post"),
        ("/v1/accounts/{account}/charges", "post"),
        ("/v1/accounts/{account}/holds", "post"),
        ("/v1/accounts/{account}/holds/{hold}/capture", "post"),
        ("/v1/accounts/{account}/holds/{hold}/release", "post"),
        ("/v1/accounts/{account}/topups", "post"),
        ("/v1/accounts/{account}/refunds", "post"),
    ] {
        let description = paths[path][method]["responses"]["409"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains("limit-reached"),
            "{method} {path}: 409 is `{description}`"
        );
    }
}
