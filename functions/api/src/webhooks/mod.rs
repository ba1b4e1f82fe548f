//! Webhooks: the platform's HTTP endpoints receive the ledger's events, signed.
//!
//! - `routes`, `admin`, `model`: the admin routes (`/v1/webhooks`…) and what they do;
//! - `urls`: which endpoint URLs are accepted;
//! - `signing`: `Credits-Signature` and [`signing::verify`], what a receiver runs;
//! - `schedule`: when a failed delivery is tried again (pure);
//! - `deliver`: the engine `credits serve` runs (feed → queue → signed POSTs);
//! - `http` (feature `webhook-http`): the `reqwest` transport.
//!
//! Rules and their tests: `docs/webhooks.md`.

pub mod admin;
pub mod deliver;
#[cfg(feature = "webhook-http")]
pub mod http;
pub mod model;
pub mod routes;
pub mod schedule;
pub mod signing;
pub mod urls;

use std::sync::Arc;

use credits_store::webhooks::WebhookStore;

/// A deployment's webhooks: where endpoints and deliveries live, and its URL rule.
#[derive(Clone)]
pub struct Webhooks {
    pub store: Arc<dyn WebhookStore>,
    /// Accept loopback endpoint URLs (tests and trials on one machine).
    pub allow_loopback: bool,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("allow_loopback", &self.allow_loopback)
            .finish_non_exhaustive()
    }
}
