//! The [`Transport`] of `credits serve`: `reqwest`, no redirects followed (a 3xx is a failed
//! attempt: the signature was made for the registered URL), a timeout per request.

use super::deliver::{Outgoing, Transport};

/// POSTs with one shared connection pool.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// # Errors
    /// Why the HTTP client cannot be built.
    pub fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4)
            .build()
            .map(|client| Self { client })
            .map_err(|error| format!("cannot build the webhook HTTP client: {error}"))
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: Outgoing) -> Result<u16, String> {
        let mut builder = self
            .client
            .post(&request.url)
            .timeout(request.timeout)
            .body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) if error.is_timeout() => Err("no answer within the timeout".to_owned()),
            Err(error) if error.is_connect() => Err("the connection failed".to_owned()),
            Err(error) => Err(format!("the request failed: {error}")),
        }
    }
}
