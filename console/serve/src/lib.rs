//! The browser console served by `credits serve` at `/console`: its pages, scripts, the
//! `.rates` highlighting grammar and the rate language compiled to WebAssembly, all embedded
//! in the binary (no CDN, nothing fetched at run time), and the rate books the server loaded.
//!
//! Routes (no key: what they show is the console itself and the server's price lists; the
//! account explorer calls the ordinary API with the key typed into it):
//! - `GET /console` and `/console/` → the playground page;
//! - `GET /console/{asset}` → one of [`ASSETS`];
//! - `GET /console/books` → `[{"name", "file", "source"}]`, the latest version of each book
//!   the server loaded, which the playground compares the edited file with.
//!
//! `scripts/console-build.sh` writes the same assets as a static site (`target/console/`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// One embedded file: name under `/console/`, content type, bytes.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every file of the console, as the static site holds them.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../web/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../web/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../web/console.js"),
    },
    Asset {
        name: "rates.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../web/rates.js"),
    },
    Asset {
        name: "highlight.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../web/highlight.js"),
    },
    Asset {
        name: "explorer.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../web/explorer.html"),
    },
    Asset {
        name: "explorer.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../web/explorer.js"),
    },
    Asset {
        name: "rates.tmLanguage.json",
        content_type: "application/json",
        bytes: include_bytes!("../../../editors/rates.tmLanguage.json"),
    },
    Asset {
        name: "rates.wasm",
        content_type: "application/wasm",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/console.wasm")),
    },
];

/// Only the console's own files run (WebAssembly compiled from them: `wasm-unsafe-eval`); the
/// explorer may call an API on another origin when the console is hosted as a static site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data: blob:; connect-src *; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Most rate books listed (the server loads at most 256 files).
const MAX_BOOKS: usize = 256;

/// The `/console` routes over the rate files the server loaded (`(file name, source)`).
pub fn router(rate_files: Vec<(String, String)>) -> Router {
    let books = Arc::new(latest_versions(rate_files));
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(|| async { asset_response("index.html") }))
        .route("/console/books", get(list_books))
        .route("/console/{asset}", get(serve_asset))
        .with_state(books)
}

/// The file of the latest version of each book (files named `book.rates` or
/// `book@date.rates`; the latest date wins, an undated file counts as the earliest).
fn latest_versions(rate_files: Vec<(String, String)>) -> Value {
    let mut latest: Vec<(String, String, String)> = Vec::new();
    for (file, source) in rate_files.into_iter().take(MAX_BOOKS) {
        let stem = file.strip_suffix(".rates").unwrap_or(&file);
        let (name, date) = stem.split_once('@').unwrap_or((stem, ""));
        let name = name.to_owned();
        match latest.iter_mut().find(|(book, _, _)| *book == name) {
            Some(entry) => {
                let known_date = entry.1.strip_suffix(".rates").unwrap_or(&entry.1);
                let known_date = known_date.split_once('@').map_or("", |(_, date)| date);
                if date > known_date {
                    *entry = (name, file, source);
                }
            }
            None => latest.push((name, file, source)),
        }
    }
    Value::Array(
        latest
            .into_iter()
            .map(|(name, file, source)| json!({"name": name, "file": file, "source": source}))
            .collect(),
    )
}

async fn list_books(State(books): State<Arc<Value>>) -> Response {
    axum::Json(books.as_ref().clone()).into_response()
}

async fn serve_asset(Path(name): Path<String>) -> Response {
    asset_response(&name)
}

fn asset_response(name: &str) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                // The assets change only with the binary; a reload after an upgrade must not
                // mix old scripts with a new wasm.
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such console file",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_path(router: &Router, path: &str) -> (StatusCode, Vec<u8>) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    #[tokio::test]
    async fn every_asset_is_served_and_the_wasm_is_a_module() {
        let router = router(Vec::new());
        for asset in ASSETS {
            let (status, body) = get_path(&router, &format!("/console/{}", asset.name)).await;
            assert_eq!(status, StatusCode::OK, "{}", asset.name);
            assert!(!body.is_empty(), "{}", asset.name);
        }
        let (_, wasm) = get_path(&router, "/console/rates.wasm").await;
        assert_eq!(&wasm[..4], b"\0asm");
        assert_eq!(get_path(&router, "/console/").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&router, "/console/nope.js").await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_static_site_holds_every_asset() {
        let script = include_str!("../../../scripts/console-build.sh");
        for asset in ASSETS {
            let name = match asset.name {
                "rates.wasm" => "credits_console_wasm.wasm",
                name => name,
            };
            assert!(
                script.contains(name),
                "scripts/console-build.sh leaves out `{name}`"
            );
        }
    }

    #[tokio::test]
    async fn the_books_are_the_latest_version_of_each() {
        let router = router(vec![
            ("a.rates".into(), "one".into()),
            ("a@2026-01-01.rates".into(), "two".into()),
            ("b.rates".into(), "three".into()),
        ]);
        let (_, body) = get_path(&router, "/console/books").await;
        let books: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(books.as_array().unwrap().len(), 2);
        assert_eq!(books[0]["source"], "two");
        assert_eq!(books[0]["file"], "a@2026-01-01.rates");
        assert_eq!(books[1]["name"], "b");
    }
}
