//! CloudWatch Embedded Metric Format (EMF): a JSON object on one line of a Lambda's log,
//! which CloudWatch Logs turns into metrics — no API call, no agent, no extra latency.
//!
//! A [`Document`] names its namespace, its dimension sets (each set is one metric series
//! per combination of its dimensions' values: keep the values few), the dimension values,
//! and the metrics with their units and values. Dimension values are strings, metric values
//! are integers (no float: counts, minor units and milliseconds are whole).

use serde_json::{Map, Value, json};

/// The namespace of every credits metric.
pub const NAMESPACE: &str = "credits";
/// CloudWatch takes at most 100 metrics per document and 30 dimensions per set.
const MAX_METRICS: usize = 100;
const MAX_DIMENSIONS: usize = 30;

/// The unit of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document. Build it, then write [`Document::line`] to stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    namespace: String,
    timestamp_ms: i64,
    dimension_sets: Vec<Vec<String>>,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, u64)>,
}

impl Document {
    /// An empty document of `namespace`, stamped `timestamp_ms` (Unix milliseconds).
    #[must_use]
    pub fn new(namespace: &str, timestamp_ms: i64) -> Document {
        Document {
            namespace: namespace.to_owned(),
            timestamp_ms,
            dimension_sets: Vec::new(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// A dimension's value (a later value of the same name replaces an earlier one).
    #[must_use]
    pub fn dimension(mut self, name: &str, value: &str) -> Document {
        self.dimensions.retain(|(existing, _)| existing != name);
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A set of dimensions each metric is published under (an empty set: one series for the
    /// whole namespace). Names beyond CloudWatch's limit are left out.
    #[must_use]
    pub fn dimension_set(mut self, names: &[&str]) -> Document {
        self.dimension_sets.push(
            names
                .iter()
                .take(MAX_DIMENSIONS)
                .map(|name| (*name).to_owned())
                .collect(),
        );
        self
    }

    /// A metric. Metrics beyond CloudWatch's limit are left out.
    #[must_use]
    pub fn metric(mut self, name: &str, unit: Unit, value: u64) -> Document {
        if self.metrics.len() < MAX_METRICS {
            self.metrics.push((name.to_owned(), unit, value));
        }
        self
    }

    /// The value of the metric `name`, if the document has it.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<u64> {
        self.metrics
            .iter()
            .find(|(metric, _, _)| metric == name)
            .map(|(_, _, value)| *value)
    }

    /// The document as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": self.dimension_sets,
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            root.insert(name.clone(), Value::from(*value));
        }
        Value::Object(root)
    }

    /// The document on one line, as CloudWatch Logs reads it.
    #[must_use]
    pub fn line(&self) -> String {
        self.to_json().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_embedded_metric_format() {
        let document = Document::new(NAMESPACE, 42)
            .dimension("service", "credits-prod")
            .dimension("route", "POST /v1/accounts/{account}/charges")
            .dimension_set(&["service"])
            .dimension_set(&["service", "route"])
            .metric("Requests", Unit::Count, 1)
            .metric("CommitLatency", Unit::Milliseconds, 12);
        let line: Value = serde_json::from_str(&document.line()).unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 42);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "credits");
        assert_eq!(
            directive["Dimensions"],
            json!([["service"], ["service", "route"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "Requests", "Unit": "Count"},
                {"Name": "CommitLatency", "Unit": "Milliseconds"},
            ])
        );
        // Every dimension named is a string at the top level, every metric a number.
        for set in directive["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                assert!(line[name.as_str().unwrap()].is_string(), "{name}");
            }
        }
        assert_eq!(line["Requests"], 1);
        assert_eq!(line["CommitLatency"], 12);
        assert_eq!(document.value("CommitLatency"), Some(12));
        assert_eq!(document.value("Nothing"), None);
        assert!(!document.line().contains('\n'));
    }

    #[test]
    fn limits_are_kept() {
        let mut document = Document::new(NAMESPACE, 0)
            .dimension("a", "1")
            .dimension("a", "2");
        for n in 0..150 {
            document = document.metric(&format!("m{n}"), Unit::Count, n);
        }
        let line = document.to_json();
        assert_eq!(line["a"], "2");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            100
        );
    }
}
