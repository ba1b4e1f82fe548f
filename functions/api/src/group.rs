//! Group commit: several mutations of ONE account decided in turn and committed as one write.
//!
//! Without it, one account commits once per store round trip: its slot is held until each
//! commit has settled (see `slots` for why pipelining was removed), so a hot account gets at
//! most one decision per write + fsync. With it (`ApiConfig::group_commit`, on for `credits
//! serve`, off for the Lambdas, and only over a store that
//! [supports](credits_store::Store::supports_group_commit) it):
//!
//! 1. a mutation that may join a group ([`groupable`]) is validated and hashed on its own task,
//!    then queued on its account's slot (`slots::Queue`, at most `slots::MAX_QUEUED`; a full
//!    queue sends it down the one-at-a-time path). When the slot is idle (no leader, nothing
//!    queued, nobody holding it) the request's own task takes it and runs the steps below as a
//!    group of one, with no task hop: an account that never groups pays nothing for grouping;
//! 2. one task per busy slot *leads*: it takes the slot, lets the clients its last group
//!    answered come back (bounded: [`gather`]), takes up to [`MAX_GROUP_DECISIONS`] queued
//!    mutations, and decides them in turn on the evolving snapshot (version `v`, the first
//!    decision's account, the second's...), each at its own `decision_time`;
//! 3. it commits them ALL with [`credits_store::Store::commit_group`]: the last decision's
//!    snapshot once (version `v + n`), each decision's entries, facts and operation record,
//!    all or nothing, under the one condition that the account is still at `v`;
//! 4. only then is each member answered: 201 (or its status) after `Committed`; on a version
//!    conflict every member is decided again (the snapshot the store returned, then a later
//!    group, with back-off); when a member's id exists, that member answers its original
//!    response and the others are decided again; a store failure answers each member what
//!    the one-at-a-time path would (503 `unavailable`, retry with the same id). A member is
//!    never answered 201 unless the group holding it committed.
//!
//! No decision is ever built on a commit whose outcome is unknown: a group is decided only
//! once the previous group (or single commit) of this slot has settled, and all of its
//! decisions land together or not at all. So another instance writing the account in between
//! makes the whole group conflict, never lands half of it on a version it did not see.
//!
//! What stays out of groups, and runs alone (`service::mutate_alone`, after the group it was
//! taken with has settled, so it sees that group's writes): decisions that read facts an
//! earlier member may have written — refunds (`charge:<id>`) and charges or holds of a
//! feature that `requires … on same content` (`analysed:` markers) — rather than overlaying
//! a group's unwritten facts on reads; account updates and closes; replays of ids this
//! process committed recently and an id already in the group; and any member the ledger
//! refuses or asks to catch up (`CatchUpRequired`), clock guard (`clock-behind`) included,
//! so that refusals, catch-up and replays keep the one path that answers them today.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use credits_ledger::Account;
use credits_store::{
    AccountRecord, CommitOutcome, GroupCommit, GroupMember, MAX_COMMIT_ENTRIES, MAX_GROUP_COMMITS,
};

use crate::AppState;
use crate::facts;
use crate::problem::{Problem, ProblemType};
use crate::respond;
use crate::service::{self, Answer, MAX_ATTEMPTS, Operation};
use crate::slots::{Cached, MAX_QUEUED, Slot, SlotCell, SlotState};
use crate::validate;

/// Decisions one group commits at most (the store's bound).
pub const MAX_GROUP_DECISIONS: usize = MAX_GROUP_COMMITS;

/// Whether mutations are grouped: configured, and the store commits groups atomically.
pub fn enabled(state: &AppState) -> bool {
    state.config.group_commit && state.store.supports_group_commit()
}

/// Whether `operation` may join a group: charges, holds, captures, releases and top-ups
/// (which read no fact, or only the `analysed:` markers this module checks per member).
/// Refunds read the refunded charge's fact, which an earlier member may be writing; account
/// updates and closes are rare and change what every later decision sees.
pub fn groupable(operation: &Operation) -> bool {
    matches!(
        operation,
        Operation::Charge(_)
            | Operation::Hold(_)
            | Operation::Capture { .. }
            | Operation::Release { .. }
            | Operation::TopUp(_)
    )
}

/// A mutation waiting in its slot's queue.
pub struct Pending {
    operation: Operation,
    operation_id: String,
    request_hash: String,
    reply: oneshot::Sender<Handback>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("operation_id", &self.operation_id)
            .finish_non_exhaustive()
    }
}

/// What the leader tells a queued mutation.
enum Handback {
    /// The answer: the group holding it settled (or the store failed).
    Settled(Result<Answer, Problem>),
    /// The group did not commit: queue again (after a back-off when another writer moved
    /// the account).
    Again {
        operation: Operation,
        back_off: bool,
    },
    /// Not for a group: run on the one-at-a-time path.
    Alone(Operation),
}

impl Pending {
    // A member whose request was dropped (its client went away) needs no answer.
    fn settle(self, result: Result<Answer, Problem>) {
        drop(self.reply.send(Handback::Settled(result)));
    }

    fn again(self, back_off: bool) {
        drop(self.reply.send(Handback::Again {
            operation: self.operation,
            back_off,
        }));
    }

    fn alone(self) {
        drop(self.reply.send(Handback::Alone(self.operation)));
    }
}

/// Run one groupable mutation: queue it on its account's slot and wait for its group.
///
/// # Errors
/// A problem to answer; nothing of it was written.
pub(crate) async fn mutate(
    state: &AppState,
    account_id: &str,
    operation: Operation,
) -> Result<Answer, Problem> {
    operation.validate()?;
    let request_hash = service::request_hash(account_id, &operation);
    let operation_id = operation.client_id(state.clock.now());
    validate::id("id", &operation_id)?;

    let slot = state.slots.slot(account_id);
    let mut operation = operation;
    let mut back_off = false;
    for attempt in 0..MAX_ATTEMPTS {
        if std::mem::take(&mut back_off) {
            tokio::time::sleep(service::jitter_backoff(attempt)).await;
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            operation,
            operation_id: operation_id.clone(),
            request_hash: request_hash.clone(),
            reply,
        };
        match enqueue(state, account_id, &slot, pending) {
            Enqueued::Queued => {}
            Enqueued::Full(pending) => {
                return service::mutate_alone(state, account_id, pending.operation).await;
            }
            Enqueued::Idle(mut guard, pending) => {
                // Nothing to group with: decide it here, a group of one, without a task hop.
                // Only this request's own group can be stopped by its client going away.
                run_group(state, account_id, &mut guard, vec![pending]).await;
                drop(guard);
            }
        }
        match answer.await {
            Ok(Handback::Settled(result)) => return result,
            Ok(Handback::Alone(alone)) => {
                return service::mutate_alone(state, account_id, alone).await;
            }
            Ok(Handback::Again {
                operation: again,
                back_off: wait,
            }) => {
                operation = again;
                back_off = wait;
            }
            Err(_) => {
                // The leader stopped without answering (it cannot, short of a panic): the
                // outcome is unknown, and a retry under the same id is safe.
                tracing::error!(account = %account_id, "a group leader stopped without answering");
                return Err(Problem::new(
                    ProblemType::Unavailable,
                    "the request could not be completed; retry with the same id",
                )
                .retry_after(1));
            }
        }
    }
    Err(Problem::new(
        ProblemType::Unavailable,
        "the account is busy with concurrent requests; retry with the same id",
    )
    .retry_after(1))
}

/// Where [`enqueue`] put a mutation.
enum Enqueued<'a> {
    /// In the slot's queue; a leader will answer it.
    Queued,
    /// The queue is full: it goes down the one-at-a-time path.
    Full(Pending),
    /// The slot was idle (no leader, nothing queued, not held): the caller holds it now and
    /// decides the mutation itself.
    Idle(tokio::sync::MutexGuard<'a, SlotState>, Pending),
}

/// Queue `pending` on `slot`, starting a leader when none runs; or hand the slot itself
/// back when it is idle.
fn enqueue<'a>(
    state: &AppState,
    account_id: &str,
    slot: &'a Slot,
    pending: Pending,
) -> Enqueued<'a> {
    let mut queue = slot.queue();
    if !queue.leading
        && queue.waiting.is_empty()
        && let Some(guard) = slot.try_lock()
    {
        return Enqueued::Idle(guard, pending);
    }
    if queue.waiting.len() >= MAX_QUEUED {
        return Enqueued::Full(pending);
    }
    queue.waiting.push_back(pending);
    if queue.leading {
        drop(queue);
        slot.notify_arrival();
    } else {
        queue.leading = true;
        drop(queue);
        // A task of its own, so that no client going away can stop a group mid-commit.
        tokio::spawn(lead(state.clone(), account_id.to_owned(), Arc::clone(slot)));
    }
    Enqueued::Queued
}

/// Clears the slot's leader flag if the leader stops abnormally (dropping the waiting
/// mutations, which then answer 503), so that later mutations start a new one.
struct Leading<'a>(&'a SlotCell);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.queue();
        if queue.leading {
            queue.leading = false;
            queue.waiting.clear();
        }
    }
}

/// Lead groups on `slot` until its queue is empty.
async fn lead(state: AppState, account_id: String, slot: Slot) {
    let _leading = Leading(&slot);
    let mut last_group = 0_usize;
    loop {
        let mut guard = slot.lock().await;
        if last_group > 1 {
            gather(&slot, last_group).await;
        }
        let batch: Vec<Pending> = {
            let mut queue = slot.queue();
            if queue.waiting.is_empty() {
                // Under the queue's lock: a mutation queued after this starts a new leader.
                queue.leading = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_GROUP_DECISIONS);
            queue.waiting.drain(..take).collect()
        };
        last_group = batch.len();
        run_group(&state, &account_id, &mut guard, batch).await;
    }
}

/// How long a leader waits at most for a crowd to come back before deciding (see
/// [`gather`]). Tokio's timers tick in milliseconds, so this is the finest bound there is; the
/// wait ends as soon as the crowd is back, and costs no CPU meanwhile.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// Before deciding the next group, give the clients the last group answered a moment to
/// send their next request, so that they join this group rather than the one after (else,
/// under a steady crowd, groups alternate between the half that came back during the
/// commit and the half that comes back just after it). Waits, asleep, until `last_group`
/// more are queued than now, or [`GATHER`] passed. Only a leader that just committed a
/// group of several waits: a lone client is never held back.
async fn gather(slot: &SlotCell, last_group: usize) {
    let queued = slot.queue().waiting.len();
    let wanted = queued.saturating_add(last_group).min(MAX_GROUP_DECISIONS);
    let deadline = tokio::time::Instant::now() + GATHER;
    while slot.queue().waiting.len() < wanted {
        if tokio::time::timeout_at(deadline, slot.arrival())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A member decided in a group, waiting for the group's commit.
struct Decided {
    pending: Pending,
    answer: Answer,
}

/// Decide `batch` in turn on the slot's snapshot and commit the decisions as one write.
async fn run_group(state: &AppState, account_id: &str, slot: &mut SlotState, batch: Vec<Pending>) {
    if slot.cached.is_none() {
        let loaded = state
            .store
            .load(account_id)
            .await
            .map_err(|error| service::store_problem(&error))
            .and_then(|loaded| loaded.map(service::decode_account).transpose());
        match loaded {
            Ok(cached) => slot.cached = cached,
            Err(problem) => {
                batch
                    .into_iter()
                    .for_each(|pending| pending.settle(Err(problem.clone())));
                return;
            }
        }
    }
    let Some(base) = slot.cached.take() else {
        // No such account: the one-at-a-time path answers that.
        batch.into_iter().for_each(Pending::alone);
        return;
    };
    let base_version = base.version;
    let mut account = base.account;
    let mut due_at = None;
    let mut decided: Vec<Decided> = Vec::with_capacity(batch.len());
    let mut records: Vec<GroupMember> = Vec::with_capacity(batch.len());
    let mut alone: Vec<Pending> = Vec::new();
    let mut ids: HashSet<String> = HashSet::with_capacity(batch.len());
    for pending in batch {
        let replayed = pending.operation.records_operation()
            && (slot.recent.contains(&pending.operation_id)
                || !ids.insert(pending.operation_id.clone()));
        if replayed {
            alone.push(pending);
            continue;
        }
        match decide(state, account_id, &account, &pending).await {
            Some(member) => {
                account = member.account;
                due_at = member.due_at;
                records.push(member.record);
                decided.push(Decided {
                    pending,
                    answer: member.answer,
                });
            }
            None => alone.push(pending),
        }
    }
    if decided.is_empty() {
        slot.cached = Some(Cached {
            version: base_version,
            account,
        });
        alone.into_iter().for_each(Pending::alone);
        return;
    }

    let steps = u64::try_from(decided.len()).unwrap_or(u64::MAX);
    let version = base_version.saturating_add(steps);
    let outcome = match service::snapshot_value(&account) {
        Ok(snapshot) => {
            let group = GroupCommit {
                expected_version: base_version,
                account: AccountRecord {
                    account: account_id.to_owned(),
                    version,
                    due_at,
                    state: snapshot,
                },
                members: records,
            };
            tracing::debug!(account = %account_id, decisions = decided.len(), "group commit");
            state
                .store
                .commit_group(group)
                .await
                .map_err(|error| service::store_problem(&error))
        }
        Err(problem) => Err(problem),
    };
    settle(
        slot,
        account_id,
        decided,
        outcome,
        Cached { version, account },
    );
    // After the group settled: what it wrote is visible to these.
    alone.into_iter().for_each(Pending::alone);
}

/// Answer the members of a group by its commit's outcome, and keep the snapshot it left.
fn settle(
    slot: &mut SlotState,
    account_id: &str,
    decided: Vec<Decided>,
    outcome: Result<CommitOutcome, Problem>,
    after: Cached,
) {
    match outcome {
        Ok(CommitOutcome::Committed) => {
            slot.cached = Some(after);
            for member in decided {
                if member.pending.operation.records_operation() {
                    slot.recent.insert(&member.pending.operation_id);
                }
                member.pending.settle(Ok(member.answer));
            }
        }
        Ok(CommitOutcome::VersionConflict { current }) => {
            tracing::debug!(account = %account_id, "version conflict on a group; deciding again");
            slot.cached = current
                .map(service::decode_account)
                .transpose()
                .unwrap_or_default();
            decided
                .into_iter()
                .for_each(|member| member.pending.again(true));
        }
        Ok(CommitOutcome::OperationExists(record)) => {
            slot.cached = None;
            for member in decided {
                if member.pending.operation_id == record.id {
                    slot.recent.insert(&record.id);
                    let replayed = service::replay(&record, &member.pending.request_hash);
                    member.pending.settle(replayed);
                } else {
                    member.pending.again(false);
                }
            }
        }
        Ok(CommitOutcome::EntryExists { seq }) => {
            tracing::error!(account = %account_id, seq, "entry seq exists; the snapshot's next seq is behind its history");
            slot.cached = None;
            decided
                .into_iter()
                .for_each(|member| member.pending.settle(Err(Problem::internal())));
        }
        Err(problem) => {
            slot.cached = None;
            decided
                .into_iter()
                .for_each(|member| member.pending.settle(Err(problem.clone())));
        }
    }
}

/// One member's decision, ready for the group's commit.
struct Member {
    record: GroupMember,
    answer: Answer,
    account: Account,
    due_at: Option<DateTime<Utc>>,
}

/// Decide `pending` on `account`; `None` when it must run alone (it reads facts an earlier
/// member may write, the ledger refused it or asks to catch up, or it is too large).
async fn decide(
    state: &AppState,
    account_id: &str,
    account: &Account,
    pending: &Pending,
) -> Option<Member> {
    let operation = &pending.operation;
    let now = service::decision_time(state.clock.now(), Some(account));
    if reads_facts(state, account, operation, now) {
        return None;
    }
    let (command, read, book) = service::prepare(
        state,
        account_id,
        operation,
        &pending.operation_id,
        Some(account),
        now,
    )
    .await
    .ok()?;
    let versions = state.versions_of(book);
    let decision = credits_ledger::decide(Some(account), &command, &read, &versions, now).ok()?;
    let answer = respond::answer(
        operation,
        &pending.operation_id,
        account_id,
        Some(account),
        &decision,
        book,
    );
    let written =
        facts::written_by(account_id, book, Some(account), &command, &read, &decision).ok()?;
    let entries = service::entry_records(account_id, &decision);
    let events = crate::events::event_records(account_id, &decision);
    if entries
        .len()
        .saturating_add(written.len())
        .saturating_add(events.len())
        > MAX_COMMIT_ENTRIES
    {
        return None;
    }
    let operation_record = operation.records_operation().then(|| {
        service::operation_record(
            account_id,
            &pending.operation_id,
            &command,
            &pending.request_hash,
            &answer,
            now,
        )
    });
    Some(Member {
        record: GroupMember {
            events,
            entries,
            facts: written,
            operation: operation_record,
        },
        answer,
        due_at: decision.due_at,
        account: decision.account,
    })
}

/// Whether deciding `operation` reads a fact: a charge or hold naming a content, of a feature
/// that requires an earlier analysis of it (or that the book does not know by that name,
/// to be safe). Groupable operations read no other fact.
fn reads_facts(
    state: &AppState,
    account: &Account,
    operation: &Operation,
    now: DateTime<Utc>,
) -> bool {
    let (feature, content) = match operation {
        Operation::Charge(body) => (&body.feature, &body.content),
        Operation::Hold(body) => (&body.feature, &body.content),
        Operation::Capture { .. } | Operation::Release { .. } | Operation::TopUp(_) => {
            return false;
        }
        _ => return true,
    };
    if content.is_none() {
        return false;
    }
    state
        .book_at(&account.plan.book, now)
        .and_then(|book| book.feature(feature))
        .is_none_or(|definition| !definition.requires_prior.is_empty())
}
