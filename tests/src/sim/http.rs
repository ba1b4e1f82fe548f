//! Requests to the real router, in process (`tower::ServiceExt::oneshot`), as a client sends
//! them: method, path, `Authorization: Bearer`, content type and raw body bytes.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One request, as bytes on the wire would carry it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// Sent as `Authorization: Bearer <key>`.
    pub key: Option<String>,
    /// Sent as `Content-Type` when there is a body.
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
}

impl ApiRequest {
    /// A request without a body.
    pub fn new(method: Method, path: impl Into<String>, key: Option<&str>) -> ApiRequest {
        ApiRequest {
            method,
            path: path.into(),
            key: key.map(str::to_owned),
            content_type: None,
            body: None,
        }
    }

    /// A JSON body (`application/json`).
    #[must_use]
    pub fn json(mut self, body: &Value) -> ApiRequest {
        self.content_type = Some("application/json".to_owned());
        self.body = Some(body.to_string().into_bytes());
        self
    }

    /// Raw body bytes with a content type (or none).
    #[must_use]
    pub fn raw(mut self, content_type: Option<&str>, body: Vec<u8>) -> ApiRequest {
        self.content_type = content_type.map(str::to_owned);
        self.body = Some(body);
        self
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON, `Value::Null` when it is not JSON.
    pub json: Value,
    pub text: String,
}

impl Reply {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }

    /// A well-formed `application/problem+json` answer: `type`, `title`, `status` equal to
    /// the HTTP status, and a `detail`.
    ///
    /// # Errors
    /// A sentence saying what is missing.
    pub fn check_problem(&self) -> Result<(), String> {
        if self.content_type() != Some("application/problem+json") {
            return Err(format!(
                "content type {:?} is not application/problem+json: {}",
                self.content_type(),
                self.short()
            ));
        }
        let status_ok = self.json.get("status").and_then(Value::as_u64)
            == Some(u64::from(self.status.as_u16()));
        let typed = self.json.get("type").and_then(Value::as_str).is_some();
        let titled = self.json.get("title").and_then(Value::as_str).is_some();
        let detailed = self.json.get("detail").and_then(Value::as_str).is_some();
        if !(status_ok && typed && titled && detailed) {
            return Err(format!("malformed problem: {}", self.short()));
        }
        Ok(())
    }

    /// The problem `type`, if the body has one.
    pub fn problem_type(&self) -> Option<&str> {
        self.json.get("type").and_then(Value::as_str)
    }

    /// Status and the first 300 characters of the body, for messages.
    pub fn short(&self) -> String {
        let text: String = self.text.chars().take(300).collect();
        format!("{} {text}", self.status)
    }
}

/// Sends `request` to `router`.
///
/// # Errors
/// When the request cannot be built or the body cannot be read (never for an HTTP status).
pub async fn send(router: &Router, request: &ApiRequest) -> Result<Reply, String> {
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(request.path.as_str());
    if let Some(key) = &request.key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = match &request.body {
        Some(bytes) => {
            if let Some(content_type) = &request.content_type {
                builder = builder.header(header::CONTENT_TYPE, content_type.as_str());
            }
            Body::from(bytes.clone())
        }
        None => Body::empty(),
    };
    let http_request = builder
        .body(body)
        .map_err(|e| format!("cannot build {} {}: {e}", request.method, request.path))?;
    let response = router
        .clone()
        .oneshot(http_request)
        .await
        .map_err(|e| format!("{} {}: {e}", request.method, request.path))?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            format!(
                "reading the body of {} {}: {e}",
                request.method, request.path
            )
        })?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        json,
        text,
    })
}
