//! The cycle-rollover walk: materialise idle accounts (expiries, grants, cycle statements,
//! alerts) that nobody has touched since something fell due.
//!
//! Correctness never depends on it: every API operation brings its account up to `now`
//! first. The walk only makes the entries of idle accounts appear on time; which instants
//! make an account due is the ledger's rule (`docs/rollover.md`).
//!
//! One run walks one or several segments of the due accounts (`Store::due_accounts`, paged)
//! and brings each account up to now with the API's own catch-up
//! (`credits_api::service::advance_idle`: the one load → decide → commit → retry shell),
//! committed like any other decision (conditional on the version read). It is idempotent
//! per account and period: an advanced account's snapshot says how far it got
//! (`advanced_to`), its lazy entries have deterministic ids, and its `due_at` moves past
//! `now` so later pages and later runs no longer list it. Running it twice over the same
//! cycle, or overlapping two runs, writes each period's entries once.
//!
//! Splitting: `segments` comes from the event (an EventBridge rule's `detail`, or the top
//! level of an EventBridge Scheduler input), else `CREDITS_ROLLOVER_SEGMENTS`, else 1. A
//! request naming a `segment` (or `CREDITS_ROLLOVER_SEGMENT`) walks just that one; otherwise
//! the run walks every segment, at most `concurrency` at a time, all under the run's one
//! deadline and one `max_accounts` budget. Resuming: each walker stops before the Lambda
//! deadline (or when the budget is spent) and reports its `next_cursor`; a run given those
//! cursors (`cursor` for one segment, `cursors` for several) continues there, and a fresh run
//! loses nothing either (what was advanced is no longer due).
//!
//! Failures: an account the walk cannot advance is counted (the report, and the
//! `RolloverFailures` metric of one CloudWatch Embedded Metric Format line per run) and
//! handed to a [`FailureSink`]: the dead-letter queue in the Lambda, the log in
//! `credits serve`, memory in tests.
//!
//! One implementation for every host: the Lambda (`credits_lambda::rollover::handle`, which
//! adds the event, the deadline and the SQS sink) and `credits serve`'s timer
//! ([`run_all`] over the server's own state).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use crate::AppState;
use chrono::{DateTime, SecondsFormat, Utc};
use credits_store::StoreError;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Segment this function walks when the event names none (unset: every segment).
pub const SEGMENT_ENV: &str = "CREDITS_ROLLOVER_SEGMENT";
/// Number of segments when the event names none.
pub const SEGMENTS_ENV: &str = "CREDITS_ROLLOVER_SEGMENTS";
/// Segments walked at once when the event names no `concurrency`.
pub const CONCURRENCY_ENV: &str = "CREDITS_ROLLOVER_CONCURRENCY";

/// Accounts asked for per `due_accounts` page.
const PAGE_ACCOUNTS: u32 = 100;
/// Accounts one run advances at most, unless the event says otherwise.
pub const DEFAULT_MAX_ACCOUNTS: u32 = 10_000;
/// The most accounts an event may ask one run to advance.
pub const MAX_ACCOUNTS: u32 = 1_000_000;
/// The most segments a walk may be split into.
pub const MAX_SEGMENTS: u32 = 1024;
/// Segments walked at once unless the event says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// The most segments walked at once: each walker keeps about one commit in flight, and the
/// function's memory (CPU share) and the table's write capacity bound how many pay off.
pub const MAX_CONCURRENCY: u32 = 32;
/// Time kept in hand before the Lambda deadline: one account's advance (a few commits) must
/// finish and the report must be written before the function is cut off.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);
/// Failures listed in a report (all are counted, logged and sent to the sink).
const MAX_FAILURES_LISTED: usize = 20;
/// Bytes of a failure's reason kept in its dead-letter message (SQS takes 256 KiB).
const MAX_REASON_BYTES: usize = 2048;
/// The metric namespace of the Embedded Metric Format line.
pub const METRIC_NAMESPACE: &str = crate::emf::NAMESPACE;

/// What a scheduled event may ask for; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RolloverRequest {
    /// Walk only this segment.
    pub segment: Option<u32>,
    pub segments: Option<u32>,
    /// A `next_cursor` of an earlier report, to continue the one `segment` named.
    pub cursor: Option<String>,
    /// `next_cursors` of an earlier report, to continue those segments (and only those); a
    /// `null` cursor walks its segment from the start.
    pub cursors: Option<BTreeMap<u32, Option<String>>>,
    /// Accounts the whole run handles at most, over all its segments.
    pub max_accounts: Option<u32>,
    /// Segments walked at once.
    pub concurrency: Option<u32>,
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

/// One segment's walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub segment: u32,
    pub segments: u32,
    pub cursor: Option<String>,
    /// Accounts handled at most when walked alone ([`run`]); a fan-out ([`run_all`]) shares
    /// its own budget instead.
    pub max_accounts: u32,
}

/// A resolved run: the segments to walk, how many at once, and the accounts budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub segments: u32,
    /// One per segment, in segment order.
    pub walks: Vec<Walk>,
    pub concurrency: u32,
    pub max_accounts: u32,
}

impl Run {
    /// The request, completed from `lookup` (the environment) and the defaults.
    ///
    /// # Errors
    ///
    /// A sentence when a segment does not exist, a bound is exceeded, a variable is not a
    /// number, or a cursor names no segment.
    pub fn resolve(
        request: RolloverRequest,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Run, String> {
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
            Some(segment) => Some(segment),
            None => from_env(SEGMENT_ENV)?,
        };
        let segments = match request.segments {
            Some(segments) => segments,
            None => from_env(SEGMENTS_ENV)?.unwrap_or(1),
        };
        let concurrency = match request.concurrency {
            Some(concurrency) => concurrency,
            None => from_env(CONCURRENCY_ENV)?.unwrap_or(DEFAULT_CONCURRENCY),
        };
        let max_accounts = request.max_accounts.unwrap_or(DEFAULT_MAX_ACCOUNTS);
        let exists = |segment: u32| segments > 0 && segments <= MAX_SEGMENTS && segment < segments;
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "`concurrency` must be 1 to {MAX_CONCURRENCY}, not {concurrency}"
            ));
        }
        if max_accounts == 0 || max_accounts > MAX_ACCOUNTS {
            return Err(format!(
                "`max_accounts` must be 1 to {MAX_ACCOUNTS}, not {max_accounts}"
            ));
        }
        let missing = |segment: u32| {
            format!(
                "segment {segment} of {segments} does not exist (segments: 1 to {MAX_SEGMENTS}, segment below it)"
            )
        };
        if !exists(0) {
            return Err(missing(segment.unwrap_or(0)));
        }
        let walk = |segment: u32, cursor: Option<String>| Walk {
            segment,
            segments,
            cursor,
            max_accounts,
        };
        let mut cursors = request.cursors.unwrap_or_default();
        let walks = match segment {
            Some(segment) => {
                if !exists(segment) {
                    return Err(missing(segment));
                }
                let cursor = request
                    .cursor
                    .or_else(|| cursors.remove(&segment).flatten());
                vec![walk(segment, cursor)]
            }
            None if request.cursor.is_some() => {
                return Err(
                    "a `cursor` continues one segment: name it with `segment`, or give `cursors`"
                        .to_string(),
                );
            }
            None if !cursors.is_empty() => {
                let mut walks = Vec::with_capacity(cursors.len());
                for (segment, cursor) in cursors {
                    if !exists(segment) {
                        return Err(missing(segment));
                    }
                    walks.push(walk(segment, cursor));
                }
                walks
            }
            None => (0..segments).map(|segment| walk(segment, None)).collect(),
        };
        Ok(Run {
            segments,
            walks,
            concurrency,
            max_accounts,
        })
    }
}

/// What a run did over one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SegmentReport {
    pub segment: u32,
    pub listed: u32,
    pub advanced: u32,
    pub unchanged: u32,
    pub entries: u64,
    pub failed: u32,
    /// Where to continue when the walker stopped early (deadline, budget, listing error).
    pub next_cursor: Option<String>,
    pub complete: bool,
    /// Why listing the due accounts failed, if it did.
    pub error: Option<String>,
}

/// What a run did; the function's result, and logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RolloverReport {
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
    /// Failures the sink (the dead-letter queue) did not take; they are logged.
    pub unreported: u32,
    /// The first failures, `account: reason`.
    pub failures: Vec<String>,
    /// Each segment walked, in segment order.
    pub walked: Vec<SegmentReport>,
    /// Where to continue, when the run walked one segment and stopped early.
    pub next_cursor: Option<String>,
    /// Where to continue each segment the run did not finish (an event's `cursors`; `null`:
    /// stopped before its first page).
    pub next_cursors: BTreeMap<u32, Option<String>>,
    /// Every segment walked was walked to its end.
    pub complete: bool,
}

impl RolloverReport {
    fn of(segments: u32, mut walked: Vec<SegmentReport>, tally: Tally) -> RolloverReport {
        walked.sort_by_key(|walk| walk.segment);
        let mut report = RolloverReport {
            segments,
            failures: tally.failures,
            unreported: tally.unreported,
            complete: walked.iter().all(|walk| walk.complete),
            ..RolloverReport::default()
        };
        for walk in &walked {
            report.listed = report.listed.saturating_add(walk.listed);
            report.advanced = report.advanced.saturating_add(walk.advanced);
            report.unchanged = report.unchanged.saturating_add(walk.unchanged);
            report.entries = report.entries.saturating_add(walk.entries);
            report.failed = report.failed.saturating_add(walk.failed);
            if !walk.complete {
                report
                    .next_cursors
                    .insert(walk.segment, walk.next_cursor.clone());
            }
        }
        if let [only] = walked.as_slice() {
            report.next_cursor.clone_from(&only.next_cursor);
        }
        report.walked = walked;
        report
    }

    /// Why listing failed, per segment: a run with any is an error for Lambda to retry.
    #[must_use]
    pub fn listing_errors(&self) -> Vec<String> {
        self.walked
            .iter()
            .filter_map(|walk| {
                walk.error
                    .as_ref()
                    .map(|error| format!("segment {}: {error}", walk.segment))
            })
            .collect()
    }
}

/// An account the walk could not advance: one dead-letter message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Always `rollover-account-failed`: tells these messages from the whole events Lambda
    /// and the scheduler dead-letter into the same queue.
    pub kind: String,
    pub account: String,
    pub segment: u32,
    pub segments: u32,
    pub reason: String,
    /// When the walk gave up on the account (RFC 3339, UTC).
    pub at: String,
}

/// Where failed accounts go besides the log: a queue an operator looks at and redrives.
#[async_trait::async_trait]
pub trait FailureSink: Send + Sync {
    /// Takes one failure.
    ///
    /// # Errors
    ///
    /// A sentence when the failure could not be delivered (it is then logged and counted as
    /// unreported).
    async fn report(&self, failure: &Failure) -> Result<(), String>;
}

/// No queue configured: failures are only logged and counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOnly;

#[async_trait::async_trait]
impl FailureSink for LogOnly {
    async fn report(&self, _failure: &Failure) -> Result<(), String> {
        Ok(())
    }
}

/// Keeps failures in memory (tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    failures: Mutex<Vec<Failure>>,
}

impl MemorySink {
    /// Every failure taken so far.
    #[must_use]
    pub fn failures(&self) -> Vec<Failure> {
        self.failures
            .lock()
            .map(|failures| failures.clone())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl FailureSink for MemorySink {
    async fn report(&self, failure: &Failure) -> Result<(), String> {
        self.failures
            .lock()
            .map_err(|_| "the failure list is poisoned".to_string())?
            .push(failure.clone());
        Ok(())
    }
}

/// One CloudWatch Embedded Metric Format line: CloudWatch turns it into metrics without an
/// API call. Namespace `credits`, dimension `function`.
#[must_use]
pub fn metrics_line(report: &RolloverReport, function: &str, timestamp_ms: i64) -> String {
    use crate::emf::{Document, Unit};
    Document::new(METRIC_NAMESPACE, timestamp_ms)
        .dimension("function", function)
        .dimension_set(&["function"])
        .metric("RolloverFailures", Unit::Count, u64::from(report.failed))
        .metric(
            "RolloverFailuresUnreported",
            Unit::Count,
            u64::from(report.unreported),
        )
        .metric("RolloverAdvanced", Unit::Count, u64::from(report.advanced))
        .metric("RolloverListed", Unit::Count, u64::from(report.listed))
        .line()
}

/// Walks every segment of `run`, at most `run.concurrency` at once, each until its segment
/// is done, `deadline` (minus a margin) nears, or the run's `max_accounts` are spent.
/// A segment whose listing fails reports it (`SegmentReport::error`); one account's failure
/// is counted and sent to `sink`, never returned.
pub async fn run_all(
    state: &AppState,
    run: Run,
    deadline: Option<SystemTime>,
    sink: &dyn FailureSink,
) -> RolloverReport {
    let budget = Budget(AtomicU32::new(run.max_accounts));
    let tally = Mutex::new(Tally::default());
    // One instant for every walker: an account due later than the run's start waits for
    // the next run, whichever segment it is in.
    let listed_at = state.clock.now();
    let concurrency = usize::try_from(run.concurrency.clamp(1, MAX_CONCURRENCY)).unwrap_or(1);
    let walked: Vec<SegmentReport> = stream::iter(run.walks)
        .map(|walk| {
            walk_segment(
                state,
                walk,
                Bounds {
                    deadline,
                    budget: &budget,
                    listed_at,
                },
                sink,
                &tally,
            )
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let tally = tally.into_inner().unwrap_or_default();
    RolloverReport::of(run.segments, walked, tally)
}

/// Walks one segment alone, until it is done, `deadline` (minus a margin) nears, or
/// `walk.max_accounts` were handled.
///
/// # Errors
///
/// When listing due accounts fails. One account's failure is counted and sent to `sink`.
pub async fn run(
    state: &AppState,
    walk: Walk,
    deadline: Option<SystemTime>,
    sink: &dyn FailureSink,
) -> Result<RolloverReport, StoreError> {
    let segments = walk.segments;
    let budget = Budget(AtomicU32::new(walk.max_accounts));
    let tally = Mutex::new(Tally::default());
    let bounds = Bounds {
        deadline,
        budget: &budget,
        listed_at: state.clock.now(),
    };
    let walked = walk_segment(state, walk, bounds, sink, &tally).await;
    if let Some(error) = &walked.error {
        return Err(StoreError::Unavailable(error.clone()));
    }
    let tally = tally.into_inner().unwrap_or_default();
    Ok(RolloverReport::of(segments, vec![walked], tally))
}

/// What every walker of a run shares.
#[derive(Clone, Copy)]
struct Bounds<'a> {
    deadline: Option<SystemTime>,
    budget: &'a Budget,
    listed_at: DateTime<Utc>,
}

impl Bounds<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|deadline| {
            deadline
                .duration_since(SystemTime::now())
                .map_or(true, |left| left < DEADLINE_MARGIN)
        })
    }
}

/// Accounts the run may still list, shared by its walkers.
struct Budget(AtomicU32);

impl Budget {
    /// Takes up to `want` accounts; what it returns is spent until given back.
    fn take(&self, want: u32) -> u32 {
        let previous = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(want))
            })
            .unwrap_or(0);
        previous.min(want)
    }

    fn give_back(&self, unused: u32) {
        if unused > 0 {
            self.0.fetch_add(unused, Ordering::SeqCst);
        }
    }
}

/// Failures of the whole run: the first few listed, and those the sink did not take.
#[derive(Default)]
struct Tally {
    failures: Vec<String>,
    unreported: u32,
}

impl Tally {
    fn note(tally: &Mutex<Tally>, account: &str, reason: &str, unreported: bool) {
        if let Ok(mut tally) = tally.lock() {
            if tally.failures.len() < MAX_FAILURES_LISTED {
                tally.failures.push(format!("{account}: {reason}"));
            }
            if unreported {
                tally.unreported = tally.unreported.saturating_add(1);
            }
        }
    }
}

async fn walk_segment(
    state: &AppState,
    walk: Walk,
    bounds: Bounds<'_>,
    sink: &dyn FailureSink,
    tally: &Mutex<Tally>,
) -> SegmentReport {
    let mut report = SegmentReport {
        segment: walk.segment,
        ..SegmentReport::default()
    };
    let mut cursor = walk.cursor.clone();
    loop {
        if bounds.out_of_time() {
            report.next_cursor = cursor;
            return report;
        }
        let limit = bounds.budget.take(PAGE_ACCOUNTS);
        if limit == 0 {
            report.next_cursor = cursor;
            return report;
        }
        let page = match state
            .store
            .due_accounts(
                bounds.listed_at,
                walk.segment,
                walk.segments,
                cursor.clone(),
                limit,
            )
            .await
        {
            Ok(page) => page,
            Err(error) => {
                bounds.budget.give_back(limit);
                tracing::error!(segment = walk.segment, %error, "due accounts not listed");
                report.error = Some(error.to_string());
                report.next_cursor = cursor;
                return report;
            }
        };
        // The page holds at most `limit` accounts: what it did not fill goes back at once,
        // what the deadline leaves unwalked goes back below.
        let mut unwalked = u32::try_from(page.accounts.len())
            .unwrap_or(limit)
            .min(limit);
        bounds.budget.give_back(limit - unwalked);
        for account in &page.accounts {
            if bounds.out_of_time() {
                bounds.budget.give_back(unwalked);
                // Restart at this page: what was advanced is no longer due, so re-listing
                // it costs a key read at most.
                report.next_cursor = cursor;
                return report;
            }
            unwalked = unwalked.saturating_sub(1);
            report.listed += 1;
            match advance_account(state, account).await {
                Ok(Advanced::Committed { entries, .. }) => {
                    report.advanced += 1;
                    report.entries = report.entries.saturating_add(entries);
                }
                Ok(Advanced::Unchanged) => report.unchanged += 1,
                Err(reason) => {
                    report.failed += 1;
                    fail(state, &walk, account, &reason, sink, tally).await;
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                report.complete = true;
                return report;
            }
        }
    }
}

/// Counts, logs and hands one failed account to the sink.
async fn fail(
    state: &AppState,
    walk: &Walk,
    account: &str,
    reason: &str,
    sink: &dyn FailureSink,
    tally: &Mutex<Tally>,
) {
    tracing::warn!(%account, segment = walk.segment, %reason, "account not advanced");
    let failure = Failure {
        kind: "rollover-account-failed".to_string(),
        account: account.to_string(),
        segment: walk.segment,
        segments: walk.segments,
        reason: truncated(reason, MAX_REASON_BYTES),
        at: stamp(state.clock.now()),
    };
    let unreported = match sink.report(&failure).await {
        Ok(()) => false,
        Err(error) => {
            tracing::error!(%account, %error, "failed account not sent to the dead-letter queue");
            true
        }
    };
    Tally::note(tally, account, reason, unreported);
}

/// At most `max_bytes` of `text`, cut on a character boundary.
fn truncated(text: &str, max_bytes: usize) -> String {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

pub use crate::service::Advanced;

/// Brings one account up to now with the API's own catch-up (`service::advance_idle`): load,
/// `Advance`, commit; on a lost race, again from the snapshot the conflict returned.
///
/// # Errors
///
/// A sentence: the store failed, the snapshot is unreadable, the ledger refused, or the
/// account stayed busy.
pub async fn advance_account(state: &AppState, account: &str) -> Result<Advanced, String> {
    let trigger = format!("rollover:{}", stamp(state.clock.now()));
    crate::service::advance_idle(state, account, &trigger)
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

    fn segments_of(run: &Run) -> Vec<(u32, Option<&str>)> {
        run.walks
            .iter()
            .map(|walk| (walk.segment, walk.cursor.as_deref()))
            .collect()
    }

    #[test]
    fn runs_fill_in_from_the_environment() {
        let env = |name: &str| match name {
            SEGMENT_ENV => Some("2".to_string()),
            SEGMENTS_ENV => Some("3".to_string()),
            CONCURRENCY_ENV => Some("2".to_string()),
            _ => None,
        };
        let run = Run::resolve(RolloverRequest::default(), env).unwrap();
        assert_eq!((run.segments, run.concurrency), (3, 2));
        assert_eq!(segments_of(&run), vec![(2, None)]);
        let run = Run::resolve(
            RolloverRequest {
                segment: Some(0),
                ..RolloverRequest::default()
            },
            env,
        )
        .unwrap();
        assert_eq!(segments_of(&run), vec![(0, None)]);
        let run = Run::resolve(RolloverRequest::default(), |_| None).unwrap();
        assert_eq!(
            (run.segments, run.concurrency, run.max_accounts),
            (1, DEFAULT_CONCURRENCY, DEFAULT_MAX_ACCOUNTS)
        );
        assert_eq!(segments_of(&run), vec![(0, None)]);
        let error = Run::resolve(
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
        let error = Run::resolve(RolloverRequest::default(), |name| {
            (name == SEGMENTS_ENV).then(|| "many".to_string())
        })
        .unwrap_err();
        assert_eq!(
            error,
            "`CREDITS_ROLLOVER_SEGMENTS` must be a whole number, not `many`"
        );
    }

    #[test]
    fn a_run_without_a_segment_fans_out_over_every_segment_within_bounds() {
        let request = |payload: Value| RolloverRequest::from_event(&payload).unwrap();
        let run =
            Run::resolve(request(json!({"segments": 4, "concurrency": 3})), |_| None).unwrap();
        assert_eq!(
            segments_of(&run),
            vec![(0, None), (1, None), (2, None), (3, None)]
        );
        assert_eq!(run.concurrency, 3);
        // Resuming: only the segments an earlier report left unfinished.
        let run = Run::resolve(
            request(json!({"segments": 4, "cursors": {"1": "c1", "2": null, "3": "c3"}})),
            |_| None,
        )
        .unwrap();
        assert_eq!(
            segments_of(&run),
            vec![(1, Some("c1")), (2, None), (3, Some("c3"))]
        );
        // One segment named: its own cursor, from either field.
        let run = Run::resolve(
            request(json!({"segment": 3, "segments": 4, "cursors": {"3": "c3"}})),
            |_| None,
        )
        .unwrap();
        assert_eq!(segments_of(&run), vec![(3, Some("c3"))]);
        for (payload, error) in [
            (
                json!({"segments": 2, "cursor": "c"}),
                "a `cursor` continues one segment: name it with `segment`, or give `cursors`",
            ),
            (
                json!({"segments": 2, "cursors": {"5": "c"}}),
                "segment 5 of 2 does not exist (segments: 1 to 1024, segment below it)",
            ),
            (
                json!({"concurrency": 0}),
                "`concurrency` must be 1 to 32, not 0",
            ),
            (
                json!({"concurrency": 33}),
                "`concurrency` must be 1 to 32, not 33",
            ),
            (
                json!({"max_accounts": 0}),
                "`max_accounts` must be 1 to 1000000, not 0",
            ),
            (
                json!({"segments": 2000}),
                "segment 0 of 2000 does not exist (segments: 1 to 1024, segment below it)",
            ),
        ] {
            assert_eq!(Run::resolve(request(payload), |_| None).unwrap_err(), error);
        }
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = Budget(AtomicU32::new(150));
        assert_eq!(budget.take(100), 100);
        assert_eq!(budget.take(100), 50);
        assert_eq!(budget.take(100), 0);
        budget.give_back(30);
        assert_eq!(budget.take(100), 30);
    }

    #[test]
    fn the_metrics_line_is_embedded_metric_format() {
        let report = RolloverReport {
            listed: 5,
            advanced: 3,
            failed: 2,
            unreported: 1,
            ..RolloverReport::default()
        };
        let line: Value =
            serde_json::from_str(&metrics_line(&report, "credits-prod-cycle-rollover", 42))
                .unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 42);
        assert_eq!(directive["Namespace"], "credits");
        assert_eq!(directive["Dimensions"], json!([["function"]]));
        // Every metric the directive names is a number at the top level.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} in {line}");
        }
        assert_eq!(line["RolloverFailures"], 2);
        assert_eq!(line["RolloverFailuresUnreported"], 1);
        assert_eq!(line["function"], "credits-prod-cycle-rollover");
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("abc", 2), "ab");
        assert_eq!(truncated("é", 1), "");
        assert_eq!(truncated("ok", 10), "ok");
    }
}
