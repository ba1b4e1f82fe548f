//! One Embedded Metric Format line per invocation (namespace `credits`, dimension `service`
//! like the API's request metrics): `WebhooksDelivered`, `WebhookAttemptsFailed` (retried or
//! given up) and `WebhooksGivenUp`, each a count of that invocation's drain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use credits_api::emf::{Document, NAMESPACE, Unit};
use credits_api::webhooks::deliver::DrainReport;

/// Where the lines go, and the `service` dimension's value.
#[derive(Clone)]
pub struct Metrics {
    /// The stack (`<service>-<stage>`, from `CREDITS_METRICS_SERVICE`).
    pub service: String,
    /// Writes one line (stdout in the function, where Lambda's log capture reads EMF).
    pub emit: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Writes the drain's line.
    pub fn emit(&self, report: &DrainReport, now: DateTime<Utc>) {
        (self.emit)(&document(&self.service, report, now.timestamp_millis()).line());
    }
}

/// The EMF document of one drain.
#[must_use]
pub fn document(service: &str, report: &DrainReport, timestamp_ms: i64) -> Document {
    Document::new(NAMESPACE, timestamp_ms)
        .dimension("service", service)
        .dimension_set(&["service"])
        .metric("WebhooksDelivered", Unit::Count, report.delivered)
        .metric(
            "WebhookAttemptsFailed",
            Unit::Count,
            report.attempts_failed(),
        )
        .metric("WebhooksGivenUp", Unit::Count, report.given_up)
}

/// One whole line on stdout.
pub fn stdout(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A log line that cannot be written has nowhere else to go.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_drain_is_one_line_of_three_counts_under_the_service_dimension() {
        let report = DrainReport {
            attempted: 7,
            delivered: 4,
            retried: 2,
            given_up: 1,
            store_failures: 0,
        };
        let line: serde_json::Value =
            serde_json::from_str(&document("credits-prod", &report, 42).line()).unwrap_or_default();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "credits");
        assert_eq!(directive["Dimensions"], json!([["service"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "WebhooksDelivered", "Unit": "Count"},
                {"Name": "WebhookAttemptsFailed", "Unit": "Count"},
                {"Name": "WebhooksGivenUp", "Unit": "Count"},
            ])
        );
        assert_eq!(line["service"], "credits-prod");
        assert_eq!(line["WebhooksDelivered"], 4);
        assert_eq!(line["WebhookAttemptsFailed"], 3);
        assert_eq!(line["WebhooksGivenUp"], 1);
    }
}
