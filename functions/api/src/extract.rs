//! Extractors whose every rejection is a [`Problem`].
//!
//! axum's own extractors answer plain text on a bad body or query; these wrap them so a
//! client always gets `application/problem+json`. Authentication extractors run before the
//! body is read, so a caller without a key gets 401 (and a caller with the wrong key 403)
//! whatever the body holds.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::{self, Principal};
use crate::problem::{Problem, ProblemType, json_error_detail};
use crate::validate;

/// A JSON body: `Content-Type: application/json`, within the body limit, matching `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

fn is_json_content_type(parts_headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = parts_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(request.headers()) {
            return Err(Problem::new(
                ProblemType::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        if bytes.is_empty() {
            return Err(Problem::invalid("the body is empty; send a JSON object"));
        }
        let value = from_json(&bytes)?;
        Ok(JsonBody(value))
    }
}

/// A body as `T`; a body that does not match names the field (`subscription.anchor`) in
/// the detail and in the `field` member.
fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let is_schema = matches!(error.inner().classify(), serde_json::error::Category::Data);
        if is_schema && path != "." && !path.is_empty() {
            let field = crate::validate::display_id(&path);
            Problem::invalid(format!(
                "the body does not match the request schema at `{field}`: {}",
                crate::problem::strip_type_names(&error.inner().to_string())
            ))
            .with("field", field)
        } else {
            Problem::invalid(json_error_detail(error.inner()))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| Problem::invalid(json_error_detail(&error)))?;
    Ok(value)
}

fn body_rejection(rejection: BytesRejection) -> Problem {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            ProblemType::PayloadTooLarge,
            format!(
                "the body is larger than the limit of {} bytes",
                crate::MAX_BODY_BYTES
            ),
        )
        .with("limit_bytes", crate::MAX_BODY_BYTES)
    } else {
        Problem::invalid("the body could not be read")
    }
}

/// An optional JSON body: an empty body (with any or no content type) is `T::default()`;
/// otherwise as [`JsonBody`].
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_content_type = request.headers().contains_key(header::CONTENT_TYPE);
        let json = is_json_content_type(request.headers());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(T::default()));
        }
        if !json {
            let detail = if has_content_type {
                "send the body as JSON with `Content-Type: application/json`"
            } else {
                "a body needs `Content-Type: application/json`"
            };
            return Err(Problem::new(ProblemType::UnsupportedMediaType, detail));
        }
        let value = from_json(&bytes)?;
        Ok(OptionalJsonBody(value))
    }
}

/// A query string matching `T`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or("the query string is malformed");
                Err(Problem::invalid(format!(
                    "the query string is invalid: {}",
                    crate::problem::strip_type_names(detail)
                )))
            }
        }
    }
}

/// Path parameters by name.
async fn path_params(parts: &mut Parts) -> Result<HashMap<String, String>, Problem> {
    Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map(|Path(params)| params)
        .map_err(|_| Problem::invalid("the path holds characters that are not valid UTF-8"))
}

/// A named path parameter that must be a valid id.
pub async fn path_id(parts: &mut Parts, name: &str) -> Result<String, Problem> {
    let mut params = path_params(parts).await?;
    let value = params
        .remove(name)
        .ok_or_else(|| Problem::not_found("no such route"))?;
    validate::id(name, &value)?;
    Ok(value)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, Problem> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    auth::authenticate(
        &state.store,
        &state.keys,
        state.config.static_admin_key_sha256.as_ref(),
        header,
    )
    .await
}

/// An admin caller (401 without a valid key, 403 with an account key).
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let principal = authenticate(parts, state).await?;
        principal.require_admin()?;
        Ok(Admin(principal))
    }
}

/// A caller allowed on the `{account}` of the path: an admin, or a key of that account.
#[derive(Debug, Clone)]
pub struct AccountAccess {
    pub principal: Principal,
    pub account: String,
}

impl FromRequestParts<AppState> for AccountAccess {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let principal = authenticate(parts, state).await?;
        let mut params = path_params(parts).await?;
        let account = params
            .remove("account")
            .ok_or_else(|| Problem::not_found("no such route"))?;
        principal.require_account(&account)?;
        validate::id("account", &account)?;
        Ok(AccountAccess { principal, account })
    }
}

/// An admin caller on the `{account}` of the path.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub principal: Principal,
    pub account: String,
}

impl FromRequestParts<AppState> for AdminAccount {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let principal = authenticate(parts, state).await?;
        principal.require_admin()?;
        let account = path_id(parts, "account").await?;
        Ok(AdminAccount { principal, account })
    }
}

macro_rules! path_param {
    ($(#[$doc:meta])* $name:ident, $param:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub String);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = Problem;

            async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
                path_id(parts, $param).await.map($name)
            }
        }
    };
}

path_param!(
    /// The `{hold}` of the path, a valid id.
    HoldPath,
    "hold"
);
path_param!(
    /// The `{cycle}` of the path.
    CyclePath,
    "cycle"
);
path_param!(
    /// The `{id}` of a key path, a valid id.
    KeyIdPath,
    "id"
);
