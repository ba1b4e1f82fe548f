//! The one thing scenarios talk to: HTTP requests over some transport, and the clock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound, Utc};
use credits_api::FixedClock;
use serde_json::{Value, json};

use super::check::{self, compact, text};

/// The static admin key every transport configures (`CREDITS_ADMIN_KEY` for `credits serve`).
pub const ADMIN_KEY: &str = "scenario-admin-key-0123456789abcdef";

/// The longest real wait [`Client::travel_to`] accepts on the system clock.
pub const MAX_REAL_WAIT: StdDuration = StdDuration::from_secs(15);

/// An HTTP answer: status, `Content-Type`, body as JSON (`Null` when not JSON) and as text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub json: Value,
    pub text: String,
}

impl Reply {
    /// The body, when the status is `status`.
    ///
    /// # Errors
    /// Any other status, with the body.
    pub fn expect(&self, status: u16, what: &str) -> Result<&Value, String> {
        if self.status == status {
            Ok(&self.json)
        } else {
            Err(format!(
                "{what}: expected status {status}, got {} with {}",
                self.status,
                self.body_for_message()
            ))
        }
    }

    /// The problem body, when this is an `application/problem+json` of `problem_type` with
    /// `status` (and a matching `status` member).
    ///
    /// # Errors
    /// Anything else.
    pub fn problem(&self, status: u16, problem_type: &str, what: &str) -> Result<&Value, String> {
        let body = self.expect(status, what)?;
        check::eq(
            &format!("{what}: content type"),
            &self.content_type.as_deref(),
            &Some("application/problem+json"),
        )?;
        check::eq(
            &format!("{what}: problem type"),
            &text(body, "/type")?,
            &problem_type.to_owned(),
        )?;
        check::eq(
            &format!("{what}: problem status"),
            &body.get("status").and_then(Value::as_u64),
            &Some(u64::from(status)),
        )?;
        check::ensure(body.get("detail").is_some_and(Value::is_string), || {
            format!("{what}: the problem has no `detail`: {}", compact(body))
        })?;
        Ok(body)
    }

    fn body_for_message(&self) -> String {
        if self.json.is_null() {
            self.text.chars().take(2000).collect()
        } else {
            compact(&self.json)
        }
    }
}

/// How a request reaches the API.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Send `method path` with an optional bearer key and JSON body.
    ///
    /// # Errors
    /// When no HTTP answer came back (connection refused, I/O); never for an HTTP status.
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String>;

    /// Recent server output, for failure messages (empty for in-process transports).
    fn diagnostics(&self) -> String {
        String::new()
    }
}

/// The clock the server under test reads.
#[derive(Debug, Clone)]
pub enum TimeSource {
    /// The test moves it (in-process router).
    Fixed(Arc<FixedClock>),
    /// The machine's clock (a real `credits serve` process).
    System,
}

/// A transport, its clock, and the requests scenarios make.
pub struct Client {
    name: String,
    transport: Box<dyn Transport>,
    time: TimeSource,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(name: impl Into<String>, transport: Box<dyn Transport>, time: TimeSource) -> Self {
        Self {
            name: name.into(),
            transport,
            time,
        }
    }

    /// The transport's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Recent server output, for failure messages.
    pub fn diagnostics(&self) -> String {
        self.transport.diagnostics()
    }

    // -- time -------------------------------------------------------------------------------

    /// The server's "now".
    pub fn now(&self) -> DateTime<Utc> {
        match &self.time {
            TimeSource::Fixed(clock) => credits_api::Clock::now(clock.as_ref()),
            TimeSource::System => Utc::now(),
        }
    }

    /// Whether the clock can be moved freely.
    pub fn can_travel(&self) -> bool {
        matches!(self.time, TimeSource::Fixed(_))
    }

    /// # Errors
    /// On a system-clock transport.
    pub fn require_time_travel(&self) -> Result<(), String> {
        if self.can_travel() {
            Ok(())
        } else {
            Err(format!(
                "this scenario moves the clock across days or cycles; transport `{}` runs on the system clock",
                self.name
            ))
        }
    }

    /// Begin a scenario: a fixed clock goes to `preferred`; the system clock stays, but a
    /// scenario never starts within two minutes of a UTC midnight (daily grants would move
    /// under it). Returns the start instant, whole seconds.
    pub async fn start_at(&self, preferred: DateTime<Utc>) -> DateTime<Utc> {
        match &self.time {
            TimeSource::Fixed(clock) => {
                clock.set(preferred);
                preferred
            }
            TimeSource::System => {
                let now = Utc::now();
                let next_midnight = now
                    .duration_trunc(Duration::days(1))
                    .map(|midnight| midnight + Duration::days(1))
                    .unwrap_or(now);
                let left = next_midnight - now;
                if left < Duration::minutes(2) {
                    let wait = left + Duration::seconds(1);
                    tokio::time::sleep(wait.to_std().unwrap_or(StdDuration::ZERO)).await;
                }
                whole_seconds(Utc::now())
            }
        }
    }

    /// Move to `at`: a fixed clock is set; on the system clock, waits when `at` is at most
    /// [`MAX_REAL_WAIT`] ahead.
    ///
    /// # Errors
    /// Moving a fixed clock back, or a jump the system clock cannot make.
    pub async fn travel_to(&self, at: DateTime<Utc>) -> Result<(), String> {
        match &self.time {
            TimeSource::Fixed(clock) => {
                let now = credits_api::Clock::now(clock.as_ref());
                if at < now {
                    return Err(format!("cannot move the clock back from {now} to {at}"));
                }
                clock.set(at);
                Ok(())
            }
            TimeSource::System => {
                let ahead = at - Utc::now();
                if ahead <= Duration::zero() {
                    return Ok(());
                }
                let wait = ahead
                    .to_std()
                    .map_err(|error| format!("cannot wait until {at}: {error}"))?;
                if wait > MAX_REAL_WAIT {
                    return Err(format!(
                        "transport `{}` runs on the system clock and cannot move to {at}",
                        self.name
                    ));
                }
                tokio::time::sleep(wait + StdDuration::from_millis(50)).await;
                Ok(())
            }
        }
    }

    // -- raw requests -----------------------------------------------------------------------

    /// # Errors
    /// When no HTTP answer came back.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        self.transport
            .send(method, path, key, body)
            .await
            .map_err(|error| format!("{method} {path}: {error}"))
    }

    /// A request with the admin key.
    ///
    /// # Errors
    /// When no HTTP answer came back.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        self.send(method, path, Some(ADMIN_KEY), body).await
    }

    // -- the API ----------------------------------------------------------------------------

    /// `PUT /v1/accounts/{account}`; 200 or 201.
    ///
    /// # Errors
    /// Another status.
    pub async fn put_account(&self, account: &str, body: &Value) -> Result<Value, String> {
        let reply = self
            .admin("PUT", &format!("/v1/accounts/{account}"), Some(body))
            .await?;
        if reply.status == 200 || reply.status == 201 {
            Ok(reply.json)
        } else {
            reply
                .expect(201, &format!("PUT account `{account}`"))
                .cloned()
        }
    }

    /// `POST /v1/keys` for `account`; the key.
    ///
    /// # Errors
    /// Another status than 201.
    pub async fn account_key(&self, account: &str) -> Result<String, String> {
        let reply = self
            .admin("POST", "/v1/keys", Some(&json!({ "account": account })))
            .await?;
        text(reply.expect(201, "create an account key")?, "/key")
    }

    /// `POST /v1/accounts/{account}/charges` with `key` (the admin key when `None`).
    ///
    /// # Errors
    /// When no HTTP answer came back.
    pub async fn charge(
        &self,
        account: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Result<Reply, String> {
        self.send(
            "POST",
            &format!("/v1/accounts/{account}/charges"),
            Some(key.unwrap_or(ADMIN_KEY)),
            Some(body),
        )
        .await
    }

    /// A charge that must succeed (201); its body.
    ///
    /// # Errors
    /// Another status.
    pub async fn charge_ok(
        &self,
        account: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Result<Value, String> {
        let id = body.get("id").and_then(Value::as_str).unwrap_or("?");
        self.charge(account, key, body)
            .await?
            .expect(201, &format!("charge `{id}` on `{account}`"))
            .cloned()
    }

    /// `POST /v1/accounts/{account}/topups` (admin).
    ///
    /// # Errors
    /// When no HTTP answer came back.
    pub async fn top_up(&self, account: &str, body: &Value) -> Result<Reply, String> {
        self.admin(
            "POST",
            &format!("/v1/accounts/{account}/topups"),
            Some(body),
        )
        .await
    }

    /// A top-up that must succeed (201); its body.
    ///
    /// # Errors
    /// Another status.
    pub async fn top_up_ok(&self, account: &str, body: &Value) -> Result<Value, String> {
        let id = body.get("id").and_then(Value::as_str).unwrap_or("?");
        self.top_up(account, body)
            .await?
            .expect(201, &format!("top-up `{id}` on `{account}`"))
            .cloned()
    }

    /// `POST /v1/accounts/{account}/refunds` (admin).
    ///
    /// # Errors
    /// When no HTTP answer came back.
    pub async fn refund(&self, account: &str, body: &Value) -> Result<Reply, String> {
        self.admin(
            "POST",
            &format!("/v1/accounts/{account}/refunds"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/accounts/{account}/balance` (admin).
    ///
    /// # Errors
    /// Another status than 200.
    pub async fn balance(&self, account: &str) -> Result<Value, String> {
        self.admin("GET", &format!("/v1/accounts/{account}/balance"), None)
            .await?
            .expect(200, &format!("balance of `{account}`"))
            .cloned()
    }

    /// Available `unit` now.
    ///
    /// # Errors
    /// When the balance cannot be read or has no such unit.
    pub async fn available(&self, account: &str, unit: &str) -> Result<String, String> {
        text(
            &self.balance(account).await?,
            &format!("/units/{unit}/available"),
        )
    }

    /// `(kind, left)` of the live buckets of `unit`, in consumption order.
    ///
    /// # Errors
    /// When the balance cannot be read.
    pub async fn buckets(
        &self,
        account: &str,
        unit: &str,
    ) -> Result<Vec<(String, String)>, String> {
        let balance = self.balance(account).await?;
        bucket_list(&balance, unit)
    }

    /// Every entry matching `query` (`type=expiry`, ...; empty for all), walking the pages.
    ///
    /// # Errors
    /// Another status than 200.
    pub async fn entries(&self, account: &str, query: &str) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/v1/accounts/{account}/entries?limit=1000");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(cursor) = &cursor {
                path.push_str("&cursor=");
                path.push_str(cursor);
            }
            let reply = self.admin("GET", &path, None).await?;
            let page = reply.expect(200, &format!("entries of `{account}` ({query})"))?;
            all.extend(check::array(page, "/entries")?.iter().cloned());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(all),
            }
        }
        Err(format!("entries of `{account}`: more than 1000 pages"))
    }

    /// How many entries the account has.
    ///
    /// # Errors
    /// When they cannot be read.
    pub async fn entry_count(&self, account: &str) -> Result<usize, String> {
        Ok(self.entries(account, "").await?.len())
    }
}

/// `(kind, left)` of the buckets of `unit` in a balance body.
///
/// # Errors
/// When the unit or a field is missing.
pub fn bucket_list(balance: &Value, unit: &str) -> Result<Vec<(String, String)>, String> {
    check::array(balance, &format!("/units/{unit}/buckets"))?
        .iter()
        .map(|bucket| Ok((text(bucket, "/kind")?, text(bucket, "/left")?)))
        .collect()
}

/// `at` without its fraction of a second.
pub fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::seconds(1)).unwrap_or(at)
}

/// A purchase instant whose monthly periods (`anchor + n months`) have a boundary exactly at
/// `end`: `end - k months` for the smallest `k` that maps back onto `end` (a 30 March end
/// needs a 30 January anchor: 30 January + 1 month is 28 February). A subscription bought
/// then is in its last period until `end`, so a cancellation ends it at `end`.
///
/// # Errors
/// Never for instants of this era.
pub fn anchor_ending_at(end: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    for months in 1..=12 {
        let anchor = end
            .checked_sub_months(chrono::Months::new(months))
            .ok_or_else(|| format!("{end} minus {months} months"))?;
        if anchor.checked_add_months(chrono::Months::new(months)) == Some(end) {
            return Ok(anchor);
        }
    }
    Err(format!("no monthly anchor has a boundary at {end}"))
}
