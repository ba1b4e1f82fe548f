//! What every credits Lambda shares, so that each `main.rs` is wiring only.
//!
//! At init, once per container (never per request): JSON tracing ([`init_tracing`]),
//! the settings from the environment ([`Settings::from_env`]), the rate books embedded at
//! build time and checked here ([`rate_library`]), the AWS config, the DynamoDB client and
//! the store ([`app_state`]). The HTTP functions then hand `credits_api::router(state)` to
//! `lambda_http::run`; the cycle-rollover function hands scheduled events to
//! [`rollover::handle`].
//!
//! Architecture invariant: nothing here decides anything about money; the HTTP functions
//! run the API's router unchanged (the one `credits serve` runs), and the rollover walk only
//! asks the ledger to `Advance` accounts.

pub mod admin_key;
pub mod rollover;
pub mod webhooks;

use std::sync::Arc;

use credits_api::{ApiConfig, AppState, RateLibrary};
use credits_store::Store;
/// The SDK's time limits for every client a function builds (DynamoDB, SQS).
pub use credits_store_dynamodb::sdk_timeouts;
use credits_store_dynamodb::{DEFAULT_TABLE_NAME, DynamoStore};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_rates.rs"));
}

/// The table the store uses (the SAM template sets it).
pub const TABLE_ENV: &str = "CREDITS_TABLE";
/// Hex SHA-256 of a static admin key, if one is configured (the SAM template sets it; empty
/// means none). The key itself never reaches the function.
pub const ADMIN_KEY_SHA256_ENV: &str = "CREDITS_ADMIN_KEY_SHA256";
pub use admin_key::ADMIN_KEY_SECRET_ENV;
/// An endpoint to use instead of DynamoDB's (DynamoDB Local under `sam local`).
pub const DYNAMODB_ENDPOINT_ENV: &str = "CREDITS_DYNAMODB_ENDPOINT";
/// The `service` dimension of the request metrics (the template sets `<service>-<stage>`).
pub const METRICS_SERVICE_ENV: &str = "CREDITS_METRICS_SERVICE";
/// The webhooks table (endpoints and deliveries): the template sets it on the function that
/// serves `/v1/webhooks`; unset, those routes answer 501 `not-implemented`.
pub const WEBHOOKS_TABLE_ENV: &str = "CREDITS_WEBHOOKS_TABLE";

/// Why a function cannot start. Lambda reports it as an init error; nothing is served.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("the embedded rate books do not check:\n{0}")]
    Rates(String),
    #[error("`{name}` is not usable: {reason}")]
    Setting { name: &'static str, reason: String },
}

/// Every `rates/*.rates` file as built into this binary: `(file name, source)`, sorted.
pub fn embedded_rates() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED_RATES
}

/// The embedded rate books, compiled and checked, each version of a book against the one
/// before it included.
///
/// # Errors
///
/// [`InitError::Rates`] with every diagnostic of every file that does not check.
pub fn rate_library() -> Result<RateLibrary, InitError> {
    let sources = embedded_rates()
        .iter()
        .map(|(name, source)| ((*name).to_string(), (*source).to_string()))
        .collect();
    library_from(sources)
}

/// The library of `(file name, source)` files, or why a function cannot start on them.
fn library_from(sources: Vec<(String, String)>) -> Result<RateLibrary, InitError> {
    RateLibrary::from_sources(sources).map_err(|failures| {
        let mut message = String::new();
        for diagnostics in &failures {
            message.push_str(&format!("{diagnostics}\n"));
            for error in diagnostics.errors() {
                message.push_str(&format!("  - {error}\n"));
            }
        }
        InitError::Rates(message)
    })
}

/// A function's settings, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub admin_key_sha256: Option<[u8; 32]>,
    /// The Secrets Manager secret holding the admin key (read at init, in [`app_state`]);
    /// when set, it is the admin key and `admin_key_sha256` is not used.
    pub admin_key_secret: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    /// The webhooks table the webhook routes work over ([`WEBHOOKS_TABLE_ENV`]).
    pub webhooks_table: Option<String>,
}

impl Settings {
    /// From the process environment.
    ///
    /// # Errors
    ///
    /// [`InitError::Setting`] when a variable is set but unusable.
    pub fn from_env() -> Result<Settings, InitError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (a variable's value, or `None` when unset).
    ///
    /// # Errors
    ///
    /// As [`Settings::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, InitError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let table = set(TABLE_ENV).unwrap_or_else(|| DEFAULT_TABLE_NAME.to_string());
        let admin_key_sha256 = set(ADMIN_KEY_SHA256_ENV)
            .map(|text| parse_sha256(text.trim()))
            .transpose()
            .map_err(|reason| InitError::Setting {
                name: ADMIN_KEY_SHA256_ENV,
                reason,
            })?;
        Ok(Settings {
            table,
            admin_key_sha256,
            admin_key_secret: set(ADMIN_KEY_SECRET_ENV).map(|arn| arn.trim().to_string()),
            dynamodb_endpoint: set(DYNAMODB_ENDPOINT_ENV),
            webhooks_table: set(WEBHOOKS_TABLE_ENV).map(|table| table.trim().to_string()),
        })
    }
}

fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let mut digest = [0_u8; 32];
    hex::decode_to_slice(text, &mut digest)
        .map_err(|_| "it must be 64 hexadecimal digits (a SHA-256)".to_string())?;
    Ok(digest)
}

/// JSON logs on stdout, one object per line, each carrying the current span (the runtime's
/// per-invocation span holds the Lambda request id). Level from `AWS_LAMBDA_LOG_LEVEL`
/// (Lambda's logging controls), else `RUST_LOG`, else `info`: a level only (a `RUST_LOG`
/// with per-target directives is read as `info`), which spares the Lambdas the regex engine
/// of per-target filters. No timestamp: CloudWatch adds one. Calling it twice is harmless.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(log_level(&level))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        // Fails only when a subscriber is set already (a second call): that one stays.
        .try_init();
}

/// The level of `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) or of a
/// `RUST_LOG` that is a level (`off` too); anything else is `info`.
fn log_level(text: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match text.trim().to_ascii_lowercase().as_str() {
        // `LevelFilter` reads an empty text as ERROR; unset means the default here.
        "" => LevelFilter::INFO,
        // Lambda's FATAL has no tracing level: errors are the most severe there are.
        "fatal" => LevelFilter::ERROR,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    }
}

/// Everything the router needs, built once: the rate books (checked first, so a bad book
/// fails before any network call), the AWS config, the admin key's hash (from its secret,
/// when [`Settings::admin_key_secret`] names one: one `GetSecretValue` per container), the
/// DynamoDB client and the store, and the webhook store when [`Settings::webhooks_table`]
/// names one ([`webhooks::over_table`]).
///
/// # Errors
///
/// [`InitError::Rates`] when an embedded book does not check; [`InitError::Setting`] when
/// the admin key's secret cannot be read or is not a usable key.
pub async fn app_state(settings: &Settings) -> Result<AppState, InitError> {
    let books = rate_library()?;
    // SDK timeouts bound every call (DynamoDB and Secrets Manager) inside the function's own.
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(credits_store_dynamodb::sdk_timeouts())
        .load()
        .await;
    // The endpoint is DynamoDB's only: the admin key's secret stays at Secrets Manager's.
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk_config);
    if let Some(endpoint) = &settings.dynamodb_endpoint {
        dynamodb = dynamodb.endpoint_url(endpoint);
    }
    let client = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
    let mut settings = settings.clone();
    if let Some(secret) = &settings.admin_key_secret {
        settings.admin_key_sha256 = Some(admin_key::sha256_from_secret(&sdk_config, secret).await?);
    }
    tracing::info!(
        table = %settings.table,
        webhooks_table = settings.webhooks_table.as_deref().unwrap_or_default(),
        books = books.names().len(),
        admin_key = settings.admin_key_sha256.is_some(),
        "initialised"
    );
    let store = DynamoStore::new(client.clone(), settings.table.clone());
    let state = state_over(Arc::new(store), books, &settings);
    Ok(webhooks::over_table(state, &client, &settings))
}

/// The router an HTTP function serves: the API's, with one Embedded Metric Format line per
/// request (and one per charged book/feature/unit) on stdout (`credits_api::metrics`).
pub fn http_router(state: AppState) -> credits_api::metrics::Router {
    let service = std::env::var(METRICS_SERVICE_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "credits".to_owned());
    credits_api::metrics::with_request_metrics(
        credits_api::router(state),
        service,
        std::sync::Arc::new(emit),
    )
}

/// One whole line on stdout, where Lambda's log capture (and so EMF) reads it.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A log line that cannot be written has nowhere else to go.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The state over a given store (tests pass a store over DynamoDB Local).
pub fn state_over(store: Arc<dyn Store>, books: RateLibrary, settings: &Settings) -> AppState {
    // API Gateway buffers a Lambda's response (6 MB at most): CSV exports go in parts.
    let config = ApiConfig {
        static_admin_key_sha256: settings.admin_key_sha256,
        csv_export: credits_api::export::CsvExport::Paged,
        // One request at a time per container: nothing to group (and DynamoDB cannot).
        group_commit: false,
    };
    AppState::new(store, Arc::new(books)).with_config(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_book_is_embedded_and_checks() {
        let names: Vec<&str> = embedded_rates().iter().map(|(name, _)| *name).collect();
        assert!(names.contains(&"imentiv.rates"), "{names:?}");
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rates"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rates"))
            })
            .count();
        assert_eq!(names.len(), on_disk);
        let library = rate_library().unwrap_or_else(|e| panic!("{e}"));
        assert!(library.book_at("imentiv", chrono::Utc::now()).is_some());
    }

    /// A version the accounts stored under the one before it cannot follow is an init
    /// error naming the change: the function serves nothing.
    #[test]
    fn a_later_version_accounts_cannot_follow_stops_the_start() {
        let (_, earlier) = embedded_rates()
            .iter()
            .find(|(name, _)| *name == "imentiv.rates")
            .unwrap();
        let later = earlier
            .replace("effective 2025-01-01", "effective 2027-01-01")
            .replace(
                "grant 12000 credit every cycle as allocation",
                "grant 12000 credit every cycle as subscription",
            )
            .replace("order allocation,", "order subscription, allocation,");
        let error = library_from(vec![
            ("imentiv.rates".to_owned(), (*earlier).to_owned()),
            ("imentiv@2027-01-01.rates".to_owned(), later),
        ])
        .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, InitError::Rates(_)), "{message}");
        assert!(
            message.contains("found 1 error in `imentiv@2027-01-01.rates`"),
            "{message}"
        );
        assert!(
            message.contains(
                "plan `professional` grants `credit` every cycle as `subscription` here but as `allocation` in `imentiv.rates`"
            ),
            "{message}"
        );
    }

    #[test]
    fn log_levels_of_lambda_and_rust_log() {
        use tracing_subscriber::filter::LevelFilter;
        assert_eq!(log_level(""), LevelFilter::INFO);
        assert_eq!(log_level("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(log_level("trace"), LevelFilter::TRACE);
        assert_eq!(log_level("WARN"), LevelFilter::WARN);
        assert_eq!(log_level("FATAL"), LevelFilter::ERROR);
        assert_eq!(log_level("off"), LevelFilter::OFF);
        assert_eq!(log_level("credits=debug,aws=warn"), LevelFilter::INFO);
    }

    #[test]
    fn settings_default_and_parse() {
        let none = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(none.table, "credits");
        assert_eq!(none.admin_key_sha256, None);
        assert_eq!(none.dynamodb_endpoint, None);
        assert_eq!(none.admin_key_secret, None);
        assert_eq!(none.webhooks_table, None);

        let hash = "ab".repeat(32);
        let set = Settings::from_lookup(|name| match name {
            TABLE_ENV => Some("credits-prod".into()),
            ADMIN_KEY_SHA256_ENV => Some(hash.clone()),
            DYNAMODB_ENDPOINT_ENV => Some(String::new()),
            ADMIN_KEY_SECRET_ENV => Some(" arn:aws:secretsmanager:eu-west-1:1:secret:k ".into()),
            WEBHOOKS_TABLE_ENV => Some(" credits-prod-webhooks ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(set.webhooks_table.as_deref(), Some("credits-prod-webhooks"));
        assert_eq!(set.table, "credits-prod");
        assert_eq!(set.admin_key_sha256, Some([0xab; 32]));
        assert_eq!(set.dynamodb_endpoint, None);
        assert_eq!(
            set.admin_key_secret.as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:1:secret:k")
        );

        let blank = Settings::from_lookup(|name| (name == WEBHOOKS_TABLE_ENV).then(|| " ".into()));
        assert_eq!(blank.unwrap().webhooks_table, None, "blank is unset: 501");

        let bad =
            Settings::from_lookup(|name| (name == ADMIN_KEY_SHA256_ENV).then(|| "xyz".into()));
        let message = bad.unwrap_err().to_string();
        assert_eq!(
            message,
            "`CREDITS_ADMIN_KEY_SHA256` is not usable: it must be 64 hexadecimal digits (a SHA-256)"
        );
    }
}
