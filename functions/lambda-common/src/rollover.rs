//! The cycle-rollover walk: materialise idle accounts (expiries, grants, cycle statements,
//! alerts) that nobody has touched since something fell due.
//!
//! Correctness never depends on it: every API operation brings its account up to `now`
//! first. The walk only makes the entries of idle accounts appear on time.
//!
//! One run walks one segment of the due accounts (`Store::due_accounts`, paged) and brings
//! each up to now with the API's own catch-up (`credits_api::service::advance_idle`: the one
//! load → decide → commit → retry shell), committed like any other decision (conditional on
//! the version read). It is idempotent per account and period: an advanced account's snapshot says how
//! far it got (`advanced_to`), its lazy entries have deterministic ids, and its `due_at`
//! moves past `now` so later pages and later runs no longer list it. Running it twice over
//! the same cycle, or overlapping two runs, writes each period's entries once.
//!
//! Splitting: `segment`/`segments` come from the event (an EventBridge rule's `detail`, or
//! the top level of an EventBridge Scheduler input), else from `CREDITS_ROLLOVER_SEGMENT` /
//! `CREDITS_ROLLOVER_SEGMENTS`, else 0 of 1. Resuming: a run stops before its Lambda deadline
//! (or after `max_accounts`) and reports `next_cursor`; a run given that `cursor` continues
//! there, and a fresh run loses nothing either (what was advanced is no longer due).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use credits_api::AppState;
use credits_store::StoreError;
use lambda_http::lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Segment this function walks when the event names none.
pub const SEGMENT_ENV: &str = "CREDITS_ROLLOVER_SEGMENT";
/// Number of segments when the event names none.
pub const SEGMENTS_ENV: &str = "CREDITS_ROLLOVER_SEGMENTS";

/// Accounts asked for per `due_accounts` page.
const PAGE_ACCOUNTS: u32 = 100;
/// Accounts one run advances at most, unless the event says otherwise.
pub const DEFAULT_MAX_ACCOUNTS: u32 = 10_000;
/// The most segments a walk may be split into.
pub const MAX_SEGMENTS: u32 = 1024;
/// Time kept in hand before the Lambda deadline: one account's advance (a few commits) must
/// finish and the report must be written before the function is cut off.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);
/// Failures listed in a report (all are counted and logged).
const MAX_FAILURES_LISTED: usize = 20;

/// What a scheduled event may ask for; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RolloverRequest {
    pub segment: Option<u32>,
    pub segments: Option<u32>,
    /// A `next_cursor` of an earlier report, to continue a walk.
    pub cursor: Option<String>,
    pub max_accounts: Option<u32>,
}

impl RolloverRequest {
    /// From an event: an EventBridge rule's event (the request is its `detail`), a Scheduler
    /// input (the request is the payload itself), or nothing (`null`, `{}`).
    ///
    /// # Errors
    ///
    /// A sentence naming the field that has the wrong type.
    pub fn from_event(payload: &Value) -> Result<RolloverRequest, String> {
        let request = match payload.get("detail") {
            Some(detail) if detail.is_object() => detail,
            _ => payload,
        };
        if request.is_null() {
            return Ok(RolloverRequest::default());
        }
        serde_json::from_value(request.clone())
            .map_err(|e| format!("the rollover event is not understood: {e}"))
    }
}

/// A resolved walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub segment: u32,
    pub segments: u32,
    pub cursor: Option<String>,
    pub max_accounts: u32,
}

impl Walk {
    /// The request, completed from `lookup` (the environment) and the defaults.
    ///
    /// # Errors
    ///
    /// A sentence when the segment does not exist or a variable is not a number.
    pub fn resolve(
        request: RolloverRequest,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Walk, String> {
        let from_env = |name: &str| -> Result<Option<u32>, String> {
            match lookup(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(text) => text
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("`{name}` must be a whole number, not `{text}`")),
            }
        };
        let segment = match request.segment {
            Some(segment) => segment,
            None => from_env(SEGMENT_ENV)?.unwrap_or(0),
        };
        let segments = match request.segments {
            Some(segments) => segments,
            None => from_env(SEGMENTS_ENV)?.unwrap_or(1),
        };
        if segments == 0 || segments > MAX_SEGMENTS || segment >= segments {
            return Err(format!(
                "segment {segment} of {segments} does not exist (segments: 1 to {MAX_SEGMENTS}, segment below it)"
            ));
        }
        Ok(Walk {
            segment,
            segments,
            cursor: request.cursor,
            max_accounts: request.max_accounts.unwrap_or(DEFAULT_MAX_ACCOUNTS),
        })
    }
}

/// What a run did; the function's result, and logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RolloverReport {
    pub segment: u32,
    pub segments: u32,
    /// Accounts the due index listed.
    pub listed: u32,
    /// Accounts advanced (at least one commit).
    pub advanced: u32,
    /// Accounts found already up to date (another writer got there first).
    pub unchanged: u32,
    /// Entries written (grants, expiries, statements, alerts...).
    pub entries: u64,
    pub failed: u32,
    /// The first failures, `account: reason`.
    pub failures: Vec<String>,
    /// Where to continue when the run stopped early (deadline, `max_accounts`).
    pub next_cursor: Option<String>,
    /// The whole segment was walked.
    pub complete: bool,
}

/// The function's handler: one scheduled event, one walk.
///
/// # Errors
///
/// When the event is not understood or the store cannot list due accounts; Lambda then
/// retries the event, which is harmless (see the module documentation).
pub async fn handle(
    event: LambdaEvent<Value>,
    state: &AppState,
) -> Result<RolloverReport, lambda_http::Error> {
    let request = RolloverRequest::from_event(&event.payload)?;
    let walk = Walk::resolve(request, |name| std::env::var(name).ok())?;
    // A zero deadline is an invocation without one (tests, `Context::default()`).
    let deadline = (event.context.deadline > 0).then(|| event.context.deadline());
    let report = run(state, walk, deadline).await?;
    tracing::info!(
        segment = report.segment,
        segments = report.segments,
        listed = report.listed,
        advanced = report.advanced,
        unchanged = report.unchanged,
        entries = report.entries,
        failed = report.failed,
        complete = report.complete,
        "rollover walk done"
    );
    Ok(report)
}

/// Walks one segment, advancing every due account, until the segment is done, `deadline`
/// (minus a margin) nears, or `walk.max_accounts` were handled.
///
/// # Errors
///
/// When listing due accounts fails. One account's failure is counted, not returned.
pub async fn run(
    state: &AppState,
    walk: Walk,
    deadline: Option<SystemTime>,
) -> Result<RolloverReport, StoreError> {
    let mut report = RolloverReport {
        segment: walk.segment,
        segments: walk.segments,
        ..RolloverReport::default()
    };
    let out_of_time = || {
        deadline.is_some_and(|deadline| {
            deadline
                .duration_since(SystemTime::now())
                .map_or(true, |left| left < DEADLINE_MARGIN)
        })
    };
    let listed_at = state.clock.now();
    let mut cursor = walk.cursor;
    loop {
        if out_of_time() || report.listed >= walk.max_accounts {
            report.next_cursor = cursor;
            return Ok(report);
        }
        let limit = PAGE_ACCOUNTS.min(walk.max_accounts - report.listed);
        let page = state
            .store
            .due_accounts(
                listed_at,
                walk.segment,
                walk.segments,
                cursor.clone(),
                limit,
            )
            .await?;
        for account in &page.accounts {
            if out_of_time() {
                // Restart at this page: what was advanced is no longer due, so re-listing
                // it costs a key read at most.
                report.next_cursor = cursor;
                return Ok(report);
            }
            report.listed += 1;
            match advance_account(state, account).await {
                Ok(Advanced::Committed { entries, .. }) => {
                    report.advanced += 1;
                    report.entries += entries;
                }
                Ok(Advanced::Unchanged) => report.unchanged += 1,
                Err(reason) => {
                    tracing::warn!(%account, %reason, "account not advanced");
                    report.failed += 1;
                    if report.failures.len() < MAX_FAILURES_LISTED {
                        report.failures.push(format!("{account}: {reason}"));
                    }
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                report.complete = true;
                return Ok(report);
            }
        }
    }
}

pub use credits_api::service::Advanced;

/// Brings one account up to now with the API's own catch-up (`service::advance_idle`): load,
/// `Advance`, commit; on a lost race, again from the snapshot the conflict returned.
///
/// # Errors
///
/// A sentence: the store failed, the snapshot is unreadable, the ledger refused, or the
/// account stayed busy.
pub async fn advance_account(state: &AppState, account: &str) -> Result<Advanced, String> {
    let trigger = format!("rollover:{}", stamp(state.clock.now()));
    credits_api::service::advance_idle(state, account, &trigger)
        .await
        .map_err(|problem| problem.detail)
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_come_from_the_detail_or_the_payload() {
        let rule =
            json!({"detail-type": "Scheduled Event", "detail": {"segment": 1, "segments": 4}});
        let request = RolloverRequest::from_event(&rule).unwrap();
        assert_eq!((request.segment, request.segments), (Some(1), Some(4)));
        let scheduler = json!({"segments": 2, "cursor": "c"});
        let request = RolloverRequest::from_event(&scheduler).unwrap();
        assert_eq!(request.cursor.as_deref(), Some("c"));
        assert_eq!(
            RolloverRequest::from_event(&Value::Null).unwrap(),
            RolloverRequest::default()
        );
        assert_eq!(
            RolloverRequest::from_event(&json!({})).unwrap(),
            RolloverRequest::default()
        );
        assert!(RolloverRequest::from_event(&json!({"segment": "one"})).is_err());
    }

    #[test]
    fn walks_fill_in_from_the_environment() {
        let env = |name: &str| match name {
            SEGMENT_ENV => Some("2".to_string()),
            SEGMENTS_ENV => Some("3".to_string()),
            _ => None,
        };
        let walk = Walk::resolve(RolloverRequest::default(), env).unwrap();
        assert_eq!((walk.segment, walk.segments), (2, 3));
        let walk = Walk::resolve(
            RolloverRequest {
                segment: Some(0),
                ..RolloverRequest::default()
            },
            env,
        )
        .unwrap();
        assert_eq!((walk.segment, walk.segments), (0, 3));
        let walk = Walk::resolve(RolloverRequest::default(), |_| None).unwrap();
        assert_eq!(
            (walk.segment, walk.segments, walk.max_accounts),
            (0, 1, DEFAULT_MAX_ACCOUNTS)
        );
        let error = Walk::resolve(
            RolloverRequest {
                segment: Some(3),
                segments: Some(3),
                ..RolloverRequest::default()
            },
            |_| None,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "segment 3 of 3 does not exist (segments: 1 to 1024, segment below it)"
        );
        let error = Walk::resolve(RolloverRequest::default(), |name| {
            (name == SEGMENTS_ENV).then(|| "many".to_string())
        })
        .unwrap_err();
        assert_eq!(
            error,
            "`CREDITS_ROLLOVER_SEGMENTS` must be a whole number, not `many`"
        );
    }
}
