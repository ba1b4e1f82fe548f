//! The metrics of each answered request, as Embedded Metric Format lines.
//!
//! While a request runs ([`observe`]), the service layer notes what it did: the credits a
//! committed charge or capture spent (per book, feature and unit), the commits it sent and
//! how long they took, the version conflicts it lost, store failures a retry cannot fix,
//! and a handler panic (the router's panic layer answers 500; without this count nothing
//! would show it); the DynamoDB store adds the commit attempts it resent
//! (`credits_store::observe`). [`request_metrics`] turns the answer's status and those facts
//! into metric values — a pure function — and [`documents`] into EMF documents.
//! [`with_request_metrics`] wires both around a router; the Lambdas write the lines to stdout,
//! where CloudWatch Logs makes them metrics (namespace `credits`).
//!
//! Dimensions are kept few so that the series (each a custom metric, billed) stay few:
//! `service` (the stack) for the request metrics, with the route's template as a property of
//! the line (for Logs Insights, not a dimension); `service`, `book`, `feature` and `unit` for
//! the charges, whose values are bounded by the rate books (an unknown feature or unit is
//! refused at the edge, before anything is charged).
//!
//! Group commits (`credits serve`) run in a leader's task, outside the request's: their
//! commits and charges are not counted here. The Lambdas commit one request at a time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

pub use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::emf::{Document, NAMESPACE, Unit};

/// Charged (book, feature, unit) series one request reports at most; a charge spends one
/// feature's units, so a handful at most.
const MAX_CHARGED_SERIES: usize = 8;
/// A dimension value's length at most (CloudWatch allows 1024; ids here are far shorter).
const MAX_DIMENSION_CHARS: usize = 128;

/// Credits spent by a committed charge or capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charged {
    pub book: String,
    pub feature: String,
    pub unit: String,
    pub amount_minor: u64,
}

/// What one request did, as noted while it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    pub charged: Vec<Charged>,
    /// Commits sent (each with the store's own retries).
    pub commits: u32,
    /// Their time, summed.
    pub commit_ms: u64,
    /// Commits that found the account moved on (another writer won); decided again.
    pub commit_conflicts: u32,
    /// Commit attempts the store resent after a transient failure.
    pub commit_retries: u32,
    /// Store failures a retry cannot fix (no permission, no such table, corrupt data).
    pub store_failures: u32,
    /// Handler panics the router's panic layer answered.
    pub panics: u32,
}

tokio::task_local! {
    static FACTS: Arc<Mutex<RequestFacts>>;
}

/// Runs `request` and returns its output with what it noted.
pub async fn observe<F: Future>(request: F) -> (F::Output, RequestFacts) {
    let cell = Arc::new(Mutex::new(RequestFacts::default()));
    let (output, counts) = FACTS
        .scope(Arc::clone(&cell), credits_store::observe::counting(request))
        .await;
    let mut facts = std::mem::take(&mut *cell.lock().unwrap_or_else(PoisonError::into_inner));
    facts.commit_retries = facts.commit_retries.saturating_add(counts.commit_retries);
    (output, facts)
}

/// Notes something about the current request (nothing outside [`observe`]).
pub(crate) fn note(change: impl FnOnce(&mut RequestFacts)) {
    let _ = FACTS.try_with(|cell| change(&mut cell.lock().unwrap_or_else(PoisonError::into_inner)));
}

/// The credits one (book, feature, unit) series was charged by a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargedSeries {
    pub book: String,
    pub feature: String,
    pub unit: String,
    /// Charges and captures committed.
    pub charges: u64,
    /// Credits they spent, in minor units of `unit`.
    pub amount_minor: u64,
}

/// The metric values of one answered request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMetrics {
    /// 1: every request counts, so the answers below divide by it.
    pub requests: u64,
    /// 402 (not enough credits), 409 (an id reused with another body, a conflict), 429
    /// (a rate limit of the book), any 5xx: each 1 or 0.
    pub answered_402: u64,
    pub answered_409: u64,
    pub answered_429: u64,
    pub answered_5xx: u64,
    pub panics: u64,
    pub store_failures: u64,
    pub commit_conflicts: u64,
    pub commit_retries: u64,
    /// When the request committed.
    pub commit_latency_ms: Option<u64>,
    pub charged: Vec<ChargedSeries>,
}

/// The metrics a request answered `status` produces, given what it did.
#[must_use]
pub fn request_metrics(status: u16, facts: &RequestFacts) -> RequestMetrics {
    let mut charged: BTreeMap<(&str, &str, &str), (u64, u64)> = BTreeMap::new();
    for charge in &facts.charged {
        let key = (
            charge.book.as_str(),
            charge.feature.as_str(),
            charge.unit.as_str(),
        );
        if !charged.contains_key(&key) && charged.len() >= MAX_CHARGED_SERIES {
            continue;
        }
        let series = charged.entry(key).or_default();
        series.0 = series.0.saturating_add(1);
        series.1 = series.1.saturating_add(charge.amount_minor);
    }
    RequestMetrics {
        requests: 1,
        answered_402: u64::from(status == 402),
        answered_409: u64::from(status == 409),
        answered_429: u64::from(status == 429),
        answered_5xx: u64::from((500..600).contains(&status)),
        panics: u64::from(facts.panics),
        store_failures: u64::from(facts.store_failures),
        commit_conflicts: u64::from(facts.commit_conflicts),
        commit_retries: u64::from(facts.commit_retries),
        commit_latency_ms: (facts.commits > 0).then_some(facts.commit_ms),
        charged: charged
            .into_iter()
            .map(
                |((book, feature, unit), (charges, amount_minor))| ChargedSeries {
                    book: book.to_owned(),
                    feature: feature.to_owned(),
                    unit: unit.to_owned(),
                    charges,
                    amount_minor,
                },
            )
            .collect(),
    }
}

/// The EMF documents of one request: its answer's metrics under `service` (the route a
/// property of the line), then one document per charged series under
/// `service`+`book`+`feature`+`unit`.
#[must_use]
pub fn documents(
    service: &str,
    route: &str,
    metrics: &RequestMetrics,
    timestamp_ms: i64,
) -> Vec<Document> {
    let service = clipped(service);
    let mut request = Document::new(NAMESPACE, timestamp_ms)
        .dimension("service", &service)
        // A property, not a dimension: one series per route would multiply the metrics'
        // cost by the routes; Logs Insights reads it from the line when needed.
        .dimension("route", &clipped(route))
        .dimension_set(&["service"])
        .metric("Requests", Unit::Count, metrics.requests)
        .metric("Answered402", Unit::Count, metrics.answered_402)
        .metric("Answered409", Unit::Count, metrics.answered_409)
        .metric("Answered429", Unit::Count, metrics.answered_429)
        .metric("Answered5xx", Unit::Count, metrics.answered_5xx)
        .metric("Panics", Unit::Count, metrics.panics)
        .metric("StoreFailures", Unit::Count, metrics.store_failures)
        .metric("CommitConflicts", Unit::Count, metrics.commit_conflicts)
        .metric("CommitRetries", Unit::Count, metrics.commit_retries);
    if let Some(latency_ms) = metrics.commit_latency_ms {
        request = request.metric("CommitLatency", Unit::Milliseconds, latency_ms);
    }
    let mut all = vec![request];
    for series in &metrics.charged {
        all.push(
            Document::new(NAMESPACE, timestamp_ms)
                .dimension("service", &service)
                .dimension("book", &clipped(&series.book))
                .dimension("feature", &clipped(&series.feature))
                .dimension("unit", &clipped(&series.unit))
                .dimension_set(&["service", "book", "feature", "unit"])
                .metric("Charges", Unit::Count, series.charges)
                .metric("ChargedMinor", Unit::Count, series.amount_minor),
        );
    }
    all
}

fn clipped(value: &str) -> String {
    value.chars().take(MAX_DIMENSION_CHARS).collect()
}

/// The route a request matched, as `METHOD /template`, or `unmatched`.
#[must_use]
pub fn route_label(method: &http::Method, matched: Option<&str>) -> String {
    match matched {
        Some(path) => format!("{method} {path}"),
        None => "unmatched".to_owned(),
    }
}

/// Where metric lines go (a Lambda: stdout).
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// `router` with each request observed and its EMF lines handed to `sink`, dimension
/// `service` = `service`.
pub fn with_request_metrics(router: Router, service: String, sink: Sink) -> Router {
    let service: Arc<str> = Arc::from(service);
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let (service, sink) = (Arc::clone(&service), Arc::clone(&sink));
            async move {
                let route = route_label(
                    request.method(),
                    request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str),
                );
                let (response, facts): (Response, RequestFacts) = observe(next.run(request)).await;
                let metrics = request_metrics(response.status().as_u16(), &facts);
                let now_ms = chrono::Utc::now().timestamp_millis();
                for document in documents(&service, &route, &metrics, now_ms) {
                    sink(&document.line());
                }
                response
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charged(feature: &str, amount_minor: u64) -> Charged {
        Charged {
            book: "imentiv".into(),
            feature: feature.into(),
            unit: "credit".into(),
            amount_minor,
        }
    }

    #[test]
    fn answers_are_counted_by_status() {
        let facts = RequestFacts::default();
        for (status, answered) in [
            (200, [0, 0, 0, 0]),
            (402, [1, 0, 0, 0]),
            (409, [0, 1, 0, 0]),
            (429, [0, 0, 1, 0]),
            (500, [0, 0, 0, 1]),
            (503, [0, 0, 0, 1]),
            (404, [0, 0, 0, 0]),
        ] {
            let metrics = request_metrics(status, &facts);
            assert_eq!(
                [
                    metrics.answered_402,
                    metrics.answered_409,
                    metrics.answered_429,
                    metrics.answered_5xx
                ],
                answered,
                "{status}"
            );
            assert_eq!(metrics.requests, 1);
            assert_eq!(metrics.commit_latency_ms, None);
        }
    }

    #[test]
    fn a_charge_is_counted_per_book_feature_and_unit() {
        let facts = RequestFacts {
            charged: vec![
                charged("emotion", 250),
                charged("emotion", 50),
                charged("video", 7),
            ],
            commits: 1,
            commit_ms: 14,
            commit_conflicts: 1,
            commit_retries: 2,
            ..RequestFacts::default()
        };
        let metrics = request_metrics(200, &facts);
        assert_eq!(metrics.commit_latency_ms, Some(14));
        assert_eq!((metrics.commit_conflicts, metrics.commit_retries), (1, 2));
        assert_eq!(
            metrics.charged,
            vec![
                ChargedSeries {
                    book: "imentiv".into(),
                    feature: "emotion".into(),
                    unit: "credit".into(),
                    charges: 2,
                    amount_minor: 300,
                },
                ChargedSeries {
                    book: "imentiv".into(),
                    feature: "video".into(),
                    unit: "credit".into(),
                    charges: 1,
                    amount_minor: 7,
                },
            ]
        );
        let documents = documents(
            "credits-prod",
            "POST /v1/accounts/{account}/charges",
            &metrics,
            1,
        );
        assert_eq!(documents.len(), 3);
        let request = documents[0].to_json();
        assert_eq!(request["route"], "POST /v1/accounts/{account}/charges");
        assert_eq!(request["CommitLatency"], 14);
        assert_eq!(request["Answered5xx"], 0);
        let emotion = documents[1].to_json();
        assert_eq!(emotion["feature"], "emotion");
        assert_eq!(emotion["ChargedMinor"], 300);
        assert_eq!(emotion["Charges"], 2);
        assert_eq!(
            emotion["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["service", "book", "feature", "unit"]])
        );
    }

    #[test]
    fn charged_series_are_bounded() {
        let facts = RequestFacts {
            charged: (0..50).map(|n| charged(&format!("f{n}"), 1)).collect(),
            ..RequestFacts::default()
        };
        assert_eq!(
            request_metrics(200, &facts).charged.len(),
            MAX_CHARGED_SERIES
        );
    }

    #[test]
    fn a_panic_and_a_store_failure_are_counted() {
        let facts = RequestFacts {
            panics: 1,
            store_failures: 1,
            ..RequestFacts::default()
        };
        let metrics = request_metrics(500, &facts);
        assert_eq!(
            (metrics.panics, metrics.store_failures, metrics.answered_5xx),
            (1, 1, 1)
        );
        let line = documents("s", "unmatched", &metrics, 0)[0].to_json();
        assert_eq!(line["Panics"], 1);
        assert_eq!(line["StoreFailures"], 1);
    }

    #[tokio::test]
    async fn notes_reach_only_the_observed_request() {
        note(|facts| facts.panics += 1);
        let ((), facts) = observe(async {
            note(|facts| facts.commit_conflicts += 1);
            credits_store::observe::commit_retried();
        })
        .await;
        assert_eq!(facts.commit_conflicts, 1);
        assert_eq!(facts.commit_retries, 1);
        assert_eq!(facts.panics, 0);
    }

    /// A panic the router's panic layer answers reaches the request's line (and so its
    /// alarm), though the function itself does not fail.
    #[tokio::test]
    #[allow(clippy::panic)]
    async fn a_caught_panic_is_counted() {
        use tower::ServiceExt;
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&lines);
        let router = Router::new()
            .route(
                "/v1/boom",
                axum::routing::get(|| async {
                    panic!("a bug");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                crate::routes::panic_response,
            ));
        let router = with_request_metrics(
            router,
            "svc".into(),
            Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())),
        );
        let request = http::Request::builder()
            .uri("/v1/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["Panics"], 1, "{line}");
        assert_eq!(line["Answered5xx"], 1);
        assert_eq!(line["route"], "GET /v1/boom");
    }

    #[test]
    fn routes_are_labelled_by_template() {
        assert_eq!(
            route_label(&http::Method::POST, Some("/v1/accounts/{account}/charges")),
            "POST /v1/accounts/{account}/charges"
        );
        assert_eq!(route_label(&http::Method::GET, None), "unmatched");
    }
}
