//! The HTTP API `infra/template.yaml` deploys is the API the code serves.
//!
//! * Every operation of the generated OpenAPI document (`openapi.json`, which credits-api
//!   keeps equal to its router) has a route in the template, and every route in the template
//!   is an operation of the document.
//! * Each route goes to the function the deployment design gives it (see infra/README.md,
//!   "Functions and routes"), and each function is built from its own Lambda crate.
//!
//! `cargo test -p credits-tests --test template_routes`

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use credits_tests::template::{Route, Template, list, openapi_routes, workspace_root};

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_template_routes_are_exactly_the_openapi_operations() {
    let documented = openapi_routes().unwrap_or_else(|e| panic!("{e}"));
    let deployed: BTreeSet<Route> = template()
        .http_routes()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_keys()
        .collect();
    let undeployed: Vec<&Route> = documented.difference(&deployed).collect();
    let undocumented: Vec<&Route> = deployed.difference(&documented).collect();
    assert!(
        undeployed.is_empty() && undocumented.is_empty(),
        "infra/template.yaml and openapi.json disagree on the routes.\n  \
         in openapi.json but not in the template (the API would answer 404 for them): {}\n  \
         in the template but not in openapi.json (routed to a function that does not serve \
         them): {}\nAdd or remove `HttpApi` events on the right function in the template.",
        list(&undeployed),
        list(&undocumented)
    );
}

/// The split of routes over functions (infra/README.md, "Functions and routes").
fn designed_function(route: &Route) -> &'static str {
    let segments: Vec<&str> = route.path.split('/').collect();
    match (route.method.as_str(), segments.as_slice()) {
        ("POST", ["", "v1", "accounts", _, "quotes" | "charges" | "holds", ..]) => "ChargeFunction",
        ("POST", ["", "v1", "accounts", _, "topups"]) => "TopupFunction",
        ("POST", ["", "v1", "accounts", _, "refunds"]) => "RefundFunction",
        _ => "AccountFunction",
    }
}

#[test]
fn each_route_goes_to_its_designed_function() {
    let routes = template().http_routes().unwrap_or_else(|e| panic!("{e}"));
    let misrouted: Vec<String> = routes
        .iter()
        .filter(|(route, function)| designed_function(route) != function.as_str())
        .map(|(route, function)| {
            format!(
                "{route} goes to {function}, designed for {}",
                designed_function(route)
            )
        })
        .collect();
    assert!(misrouted.is_empty(), "{}", misrouted.join("\n"));
    let serving: BTreeSet<&str> = routes.values().map(String::as_str).collect();
    assert_eq!(
        serving,
        BTreeSet::from([
            "AccountFunction",
            "ChargeFunction",
            "RefundFunction",
            "TopupFunction"
        ]),
        "every HTTP function serves at least one route"
    );
}

/// `[package] name` of a Cargo.toml, read without a TOML parser (the manifests are simple).
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// Workspace crates under functions/ that are Lambda functions (a binary, `src/main.rs`,
/// depending on the Lambda runtime): directory → package name.
fn lambda_crates() -> BTreeMap<String, String> {
    let functions = workspace_root().join("functions");
    let mut crates = BTreeMap::new();
    for entry in std::fs::read_dir(&functions).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let is_lambda = dir.join("src").join("main.rs").is_file()
            && manifest.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("lambda_http") || l.starts_with("lambda_runtime")
            });
        if is_lambda {
            let name = package_name(&manifest).expect("a package name");
            crates.insert(
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                name,
            );
        }
    }
    crates
}

#[test]
fn each_function_is_built_from_its_own_lambda_crate() {
    let functions = template().functions().unwrap_or_else(|e| panic!("{e}"));
    let infra = workspace_root().join("infra");
    let mut built = BTreeMap::new();
    for (id, build) in &functions {
        assert_eq!(build.build_method, "rust-cargolambda", "{id}: BuildMethod");
        let dir = infra.join(&build.code_uri);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{id}: CodeUri {} has no Cargo.toml: {e}", build.code_uri));
        assert!(
            !manifest.contains("[[bin]]"),
            "{id}: {} declares [[bin]] targets; the template assumes one binary named after \
             the package",
            build.code_uri
        );
        let package = package_name(&manifest).expect("a package name");
        assert_eq!(
            package, build.binary,
            "{id}: Binary `{}` is not the binary of {} (package `{package}`)",
            build.binary, build.code_uri
        );
        let dir_name = Path::new(&build.code_uri)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if let Some(other) = built.insert(dir_name.clone(), id.clone()) {
            panic!("{other} and {id} are both built from functions/{dir_name}");
        }
    }
    let crates = lambda_crates();
    let deployed: BTreeSet<&String> = built.keys().collect();
    let lambdas: BTreeSet<&String> = crates.keys().collect();
    assert_eq!(
        deployed, lambdas,
        "the template's functions must be exactly the Lambda crates under functions/ \
         (crates depending on lambda_http or lambda_runtime)"
    );
}

#[test]
fn only_the_rollover_and_the_webhook_sender_are_scheduled_and_nothing_routes_to_them() {
    let template = template();
    assert_eq!(
        template.scheduled_functions(),
        BTreeSet::from([
            "RolloverFunction".to_string(),
            "WebhookSenderFunction".to_string()
        ])
    );
    let routes = template.http_routes().unwrap();
    for scheduled in ["RolloverFunction", "WebhookSenderFunction"] {
        assert!(
            !routes.values().any(|f| f == scheduled),
            "{scheduled} is invoked by its schedule (and stream) only"
        );
    }
}

#[test]
fn route_paths_are_well_formed() {
    for route in template().http_routes().unwrap().keys() {
        assert!(
            route.path.starts_with("/v1/"),
            "{route}: every route is under /v1/"
        );
        assert!(
            !route.path.ends_with('/') && !route.path.contains("//"),
            "{route}: malformed path"
        );
        for segment in route.path.split('/') {
            if segment.starts_with('{') {
                assert!(
                    segment.ends_with('}') && !segment.contains('+'),
                    "{route}: path parameters are single segments `{{name}}`"
                );
            }
        }
    }
}
