//! Counting the requests a client sends, per operation, to hold the "one request per charge"
//! promise to account in tests and, if wanted, in production metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::config::{Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

/// An SDK interceptor counting every HTTP request (every attempt, retries included) by
/// operation name (`GetItem`, `TransactWriteItems`, ...). Clones share one tally.
///
/// ```no_run
/// # async fn f(client: aws_sdk_dynamodb::Client) {
/// let counter = credits_store_dynamodb::RequestCounter::default();
/// let client = credits_store_dynamodb::with_interceptor(&client, counter.clone());
/// // ... use `client` ...
/// assert_eq!(counter.count("TransactWriteItems"), 1);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Bytes of response bodies, by operation: what reads cost in read units is proportional
    /// to the items' bytes they return.
    response_bytes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    /// Requests sent for one operation since the last [`RequestCounter::take`].
    pub fn count(&self, operation: &str) -> u64 {
        self.lock().get(operation).copied().unwrap_or(0)
    }

    /// Requests sent for every operation.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// The tally so far, by operation name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// The tally so far; resets it to zero (the byte tally too).
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *tally(&self.response_bytes));
        std::mem::take(&mut *self.lock())
    }

    /// Bytes of response bodies since the last [`RequestCounter::take`] or
    /// [`RequestCounter::take_bytes`], by operation.
    pub fn take_bytes(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *tally(&self.response_bytes))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        tally(&self.counts)
    }
}

fn tally(counts: &Mutex<BTreeMap<String, u64>>) -> MutexGuard<'_, BTreeMap<String, u64>> {
    // A panic while holding this lock cannot leave the map half-updated (one insert), so a
    // poisoned lock is still a correct tally.
    counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn operation_name(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "unknown".to_string(), |m| m.name().to_string())
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.lock().entry(operation_name(cfg)).or_insert(0) += 1;
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bytes = context
            .response()
            .body()
            .bytes()
            .map_or(0, |body| u64::try_from(body.len()).unwrap_or(u64::MAX));
        *tally(&self.response_bytes)
            .entry(operation_name(cfg))
            .or_insert(0) += bytes;
        Ok(())
    }
}

/// A client like `client` (same endpoint, credentials, region, timeouts) with `interceptor`
/// added.
pub fn with_interceptor(
    client: &aws_sdk_dynamodb::Client,
    interceptor: impl Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(interceptor)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
