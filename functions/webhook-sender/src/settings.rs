//! The function's settings, from its environment (the SAM template sets them).

use std::time::Duration;

/// The webhooks table's name.
pub const WEBHOOKS_TABLE_ENV: &str = "CREDITS_WEBHOOKS_TABLE";
/// The longest wait for a receiver's answer, in seconds (default
/// [`DEFAULT_WEBHOOK_TIMEOUT_S`], at most [`MAX_WEBHOOK_TIMEOUT_S`]).
pub const WEBHOOK_TIMEOUT_ENV: &str = "CREDITS_WEBHOOK_TIMEOUT_S";
/// The `service` dimension of the metrics (as the API's: `<service>-<stage>`).
pub const METRICS_SERVICE_ENV: &str = "CREDITS_METRICS_SERVICE";
/// An endpoint to use instead of DynamoDB's (DynamoDB Local under `sam local`).
pub const DYNAMODB_ENDPOINT_ENV: &str = "CREDITS_DYNAMODB_ENDPOINT";

/// `credits serve`'s default (`--webhook-timeout`).
pub const DEFAULT_WEBHOOK_TIMEOUT_S: u64 = 10;
/// An attempt must fit in an invocation with room to record it.
pub const MAX_WEBHOOK_TIMEOUT_S: u64 = 60;

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub webhooks_table: String,
    pub webhook_timeout: Duration,
    pub metrics_service: String,
    pub dynamodb_endpoint: Option<String>,
}

/// Why the function cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum SettingsError {
    #[error("`{0}` is not set")]
    #[diagnostic(help("set it to the webhooks table's name"))]
    Missing(&'static str),
    #[error("`{name}` is `{value}`, not a whole number of seconds from 1 to {max}")]
    #[diagnostic(help("leave it unset for 10 seconds"))]
    Timeout {
        name: &'static str,
        value: String,
        max: u64,
    },
}

impl Settings {
    /// From the process environment.
    ///
    /// # Errors
    /// As [`Settings::from_lookup`].
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (a variable's value, or `None` when unset; blank counts as unset).
    ///
    /// # Errors
    /// [`SettingsError::Missing`] without a table; [`SettingsError::Timeout`] for a timeout
    /// that is not 1 to [`MAX_WEBHOOK_TIMEOUT_S`] seconds.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let set = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let webhooks_table =
            set(WEBHOOKS_TABLE_ENV).ok_or(SettingsError::Missing(WEBHOOKS_TABLE_ENV))?;
        let timeout_s = match set(WEBHOOK_TIMEOUT_ENV) {
            None => DEFAULT_WEBHOOK_TIMEOUT_S,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=MAX_WEBHOOK_TIMEOUT_S).contains(seconds))
                .ok_or(SettingsError::Timeout {
                    name: WEBHOOK_TIMEOUT_ENV,
                    value: text,
                    max: MAX_WEBHOOK_TIMEOUT_S,
                })?,
        };
        Ok(Settings {
            webhooks_table,
            webhook_timeout: Duration::from_secs(timeout_s),
            metrics_service: set(METRICS_SERVICE_ENV).unwrap_or_else(|| "credits".to_owned()),
            dynamodb_endpoint: set(DYNAMODB_ENDPOINT_ENV),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    /// The variables set, and the timeout in seconds they give (or why not).
    type Case<'a> = (&'a [(&'a str, &'a str)], Result<u64, SettingsError>);

    #[test]
    fn settings_table() {
        let table = (WEBHOOKS_TABLE_ENV, "credits-prod-webhooks");
        let cases: [Case; 7] = [
            (&[table], Ok(10)),
            (&[table, (WEBHOOK_TIMEOUT_ENV, " 3 ")], Ok(3)),
            (&[table, (WEBHOOK_TIMEOUT_ENV, "")], Ok(10)),
            (&[table, (WEBHOOK_TIMEOUT_ENV, "60")], Ok(60)),
            (
                &[table, (WEBHOOK_TIMEOUT_ENV, "61")],
                Err(SettingsError::Timeout {
                    name: WEBHOOK_TIMEOUT_ENV,
                    value: "61".to_owned(),
                    max: 60,
                }),
            ),
            (
                &[table, (WEBHOOK_TIMEOUT_ENV, "0")],
                Err(SettingsError::Timeout {
                    name: WEBHOOK_TIMEOUT_ENV,
                    value: "0".to_owned(),
                    max: 60,
                }),
            ),
            (
                &[(WEBHOOKS_TABLE_ENV, "  ")],
                Err(SettingsError::Missing(WEBHOOKS_TABLE_ENV)),
            ),
        ];
        for (vars, expected) in cases {
            let got = settings(vars).map(|s| s.webhook_timeout.as_secs());
            assert_eq!(got, expected, "{vars:?}");
        }
        let full = settings(&[
            table,
            (METRICS_SERVICE_ENV, "credits-prod"),
            (DYNAMODB_ENDPOINT_ENV, "http://127.0.0.1:8000"),
        ]);
        assert_eq!(
            full,
            Ok(Settings {
                webhooks_table: "credits-prod-webhooks".to_owned(),
                webhook_timeout: Duration::from_secs(10),
                metrics_service: "credits-prod".to_owned(),
                dynamodb_endpoint: Some("http://127.0.0.1:8000".to_owned()),
            })
        );
        assert_eq!(
            settings(&[table]).map(|s| s.metrics_service),
            Ok("credits".to_owned())
        );
    }
}
