//! Lanes: queueing, attempts and re-deliveries, each a change of one (endpoint, account)
//! lane made in ONE transaction with the lane item's conditional update, so that a lane has
//! at most one due row and never waiting rows without a due one.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use credits_store::webhooks::{AttemptResult, DeliveryRecord, DeliveryState, Redeliver};
use credits_store::{EventRecord, StoreError, StoreResult};
use futures_util::StreamExt;

use super::expression::Expression;
use super::item::{
    ATTEMPTS, DELIVERY_SK_PREFIX, DUE, DUE_SEQ, EVENT_ID, FAILED, FIRST_ATTEMPT_AT, HELD_BACK,
    LAST_ERROR, LAST_SEQ, LAST_STATUS, Lane, STATE, VERSION, WAITING, check_event, delivery_item,
    delivery_key, delivery_record, due_shard, failing_values, lane_key, lane_of, lane_pk,
    seq_of_sk,
};
use super::table::{
    WEBHOOK_DUE_AT_ATTRIBUTE, WEBHOOK_DUE_SHARD_ATTRIBUTE, WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE,
    WEBHOOK_FAILING_KEY_ATTRIBUTE,
};
use super::{
    DynamoWebhookStore, LANES_IN_PARALLEL, MAX_LANE_ATTEMPTS, ROWS_PER_TRANSACTION, Written,
};
use crate::item::{Item, n, s, string, timestamp};
use crate::retry::backoff;

/// What a lane change does to the lane's due row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DueChange {
    Keep,
    Set(u64),
    Clear,
}

fn lost_race(what: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{what}: the webhook lane kept changing under {MAX_LANE_ATTEMPTS} attempts"
    ))
}

/// The condition "the row is in `state`".
fn in_state(expression: &mut Expression, state: &str) {
    let condition = expression.equals(STATE, AttributeValue::S(state.to_owned()));
    expression.condition(condition);
}

impl DynamoWebhookStore {
    async fn read_lane(&self, endpoint: &str, account: &str) -> StoreResult<Lane> {
        lane_of(self.get(lane_key(endpoint, account)).await?.as_ref())
    }

    /// The lane item's update from `lane` (conditioned on its version: any other change of
    /// the lane in between cancels the transaction).
    fn lane_action(
        &self,
        endpoint: &str,
        account: &str,
        lane: &Lane,
        last_seq: Option<u64>,
        due: DueChange,
    ) -> StoreResult<TransactWriteItem> {
        let mut update = Expression::new();
        update
            .set(VERSION, n(lane.version.saturating_add(1)))
            .set("endpoint", s(endpoint))
            .set("account", s(account));
        if let Some(last) = last_seq {
            update.set(LAST_SEQ, n(last));
        }
        match due {
            DueChange::Keep => {}
            DueChange::Set(seq) => {
                update.set(DUE_SEQ, n(seq));
            }
            DueChange::Clear => {
                update.remove(DUE_SEQ);
            }
        }
        let condition = if lane.version == 0 {
            let pk = update.name(crate::PARTITION_KEY);
            format!("attribute_not_exists({pk})")
        } else {
            update.equals(VERSION, n(lane.version))
        };
        update.condition(condition);
        update.update_action(&self.table, lane_key(endpoint, account))
    }

    /// Makes the waiting row `seq` due at `at`.
    fn promote_action(
        &self,
        endpoint: &str,
        account: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        let mut update = Expression::new();
        update
            .set(STATE, s(DUE))
            .set(WEBHOOK_DUE_SHARD_ATTRIBUTE, n(due_shard(endpoint, account)))
            .set(WEBHOOK_DUE_AT_ATTRIBUTE, s(timestamp(&at)?));
        in_state(&mut update, WAITING);
        update.update_action(&self.table, delivery_key(endpoint, account, seq))
    }

    /// The lowest seq of the lane's waiting rows (a strongly consistent `Query`, read until
    /// the first waiting row).
    async fn lowest_waiting(&self, endpoint: &str, account: &str) -> StoreResult<Option<u64>> {
        let rows = self
            .query_partition(
                &lane_pk(endpoint, account),
                DELIVERY_SK_PREFIX,
                Some(WAITING),
                1,
            )
            .await?;
        rows.first()
            .map(|row| seq_of_sk(&string(row, crate::SORT_KEY)?))
            .transpose()
    }

    /// One conditional `UpdateItem`; `false` when its condition failed.
    pub(crate) async fn update_if(&self, key: Item, update: &Expression) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.update_text())
            .set_condition_expression(update.condition_text())
            .set_expression_attribute_names(update.names())
            .set_expression_attribute_values(update.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(crate::unavailable("UpdateItem", error)),
        }
    }

    pub(crate) async fn queue_events(
        &self,
        events: &[EventRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        for event in events {
            check_event(event)?;
        }
        timestamp(&now)?;
        if events.is_empty() {
            return Ok(0);
        }
        let endpoints = self.all_endpoints().await?;
        let mut lanes: BTreeMap<(&str, &str), Vec<&EventRecord>> = BTreeMap::new();
        for event in events {
            for endpoint in endpoints.iter().filter(|e| e.wants(&event.event_type)) {
                lanes
                    .entry((endpoint.id.as_str(), event.account.as_str()))
                    .or_default()
                    .push(event);
            }
        }
        for queue in lanes.values_mut() {
            queue.sort_by_key(|event| event.seq);
            queue.dedup_by_key(|event| event.seq);
        }
        // Boxed one by one (not mapped by a closure): the trait's future must be `Send`,
        // which a closure over borrowed lanes does not let the compiler prove.
        let mut tasks: Vec<Pin<Box<dyn Future<Output = StoreResult<u64>> + Send + '_>>> =
            Vec::with_capacity(lanes.len());
        for ((endpoint, account), queue) in &lanes {
            tasks.push(Box::pin(self.queue_lane(endpoint, account, queue, now)));
        }
        let results: Vec<StoreResult<u64>> = futures_util::stream::iter(tasks)
            .buffer_unordered(LANES_IN_PARALLEL)
            .collect()
            .await;
        results
            .into_iter()
            .try_fold(0_u64, |sum, queued| Ok(sum.saturating_add(queued?)))
    }

    /// Queues `events` (one account's, ascending seq) for `endpoint`, skipping those at or
    /// below the lane's last seq.
    async fn queue_lane(
        &self,
        endpoint: &str,
        account: &str,
        events: &[&EventRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut queued = 0_u64;
        let mut lost = 0;
        let mut lane = self.read_lane(endpoint, account).await?;
        loop {
            let fresh: Vec<&EventRecord> = events
                .iter()
                .copied()
                .filter(|event| lane.last_seq.is_none_or(|last| event.seq > last))
                .take(ROWS_PER_TRANSACTION)
                .collect();
            let Some(last) = fresh.last().map(|event| event.seq) else {
                return Ok(queued);
            };
            let due = match lane.due_seq {
                Some(_) => None,
                None => fresh.first().map(|event| event.seq),
            };
            let mut actions = vec![self.lane_action(
                endpoint,
                account,
                &lane,
                Some(last),
                due.map_or(DueChange::Keep, DueChange::Set),
            )?];
            for event in &fresh {
                let due_at = (Some(event.seq) == due).then_some(now);
                let mut put = Expression::new();
                let pk = put.name(crate::PARTITION_KEY);
                put.condition(format!("attribute_not_exists({pk})"));
                actions.push(put.put_action(&self.table, delivery_item(endpoint, event, due_at)?)?);
            }
            match self.transact(actions).await? {
                Written::Done => {
                    queued = queued.saturating_add(u64::try_from(fresh.len()).unwrap_or(u64::MAX));
                    // The lane as this transaction left it: no read for the next chunk.
                    lane = Lane {
                        version: lane.version.saturating_add(1),
                        last_seq: Some(last),
                        due_seq: lane.due_seq.or(due),
                    };
                }
                Written::Cancelled(_) => {
                    lost += 1;
                    if lost >= MAX_LANE_ATTEMPTS {
                        return Err(lost_race("queueing webhook deliveries"));
                    }
                    tokio::time::sleep(backoff(lost)).await;
                    lane = self.read_lane(endpoint, account).await?;
                }
            }
        }
    }

    pub(crate) async fn record(
        &self,
        delivery: &DeliveryRecord,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> StoreResult<()> {
        let endpoint = delivery.endpoint.as_str();
        let account = delivery.event.account.as_str();
        let seq = delivery.event.seq;
        if check_event(&delivery.event).is_err() || endpoint.is_empty() {
            // No row can be named so: nothing to record.
            return Ok(());
        }
        let at = timestamp(&attempted_at)?;
        match result {
            AttemptResult::Retry {
                at: next,
                status,
                error,
            } => {
                let mut update = Expression::new();
                update
                    .add(ATTEMPTS, 1)
                    .set_if_missing(FIRST_ATTEMPT_AT, s(at))
                    .set(WEBHOOK_DUE_AT_ATTRIBUTE, s(timestamp(&next)?))
                    .set_or_remove(LAST_STATUS, status.map(n))
                    .set(LAST_ERROR, s(error));
                for (name, value) in failing_values(endpoint, account, seq) {
                    update.set(&name, value);
                }
                in_state(&mut update, DUE);
                self.update_if(delivery_key(endpoint, account, seq), &update)
                    .await
                    .map(|_| ())
            }
            AttemptResult::Delivered => self.delivered(endpoint, account, seq, attempted_at).await,
            AttemptResult::GiveUp { status, error } => {
                self.give_up(endpoint, account, seq, &at, status, error)
                    .await
            }
        }
    }

    /// The row goes; the lane's lowest waiting row becomes due at `at`.
    async fn delivered(
        &self,
        endpoint: &str,
        account: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        for attempt in 1..=MAX_LANE_ATTEMPTS {
            let lane = self.read_lane(endpoint, account).await?;
            if lane.due_seq != Some(seq) {
                return Ok(());
            }
            let next = self.lowest_waiting(endpoint, account).await?;
            let mut delete = Expression::new();
            in_state(&mut delete, DUE);
            let mut actions = vec![
                delete.delete_action(&self.table, delivery_key(endpoint, account, seq))?,
                self.lane_action(
                    endpoint,
                    account,
                    &lane,
                    None,
                    next.map_or(DueChange::Clear, DueChange::Set),
                )?,
            ];
            if let Some(next) = next {
                actions.push(self.promote_action(endpoint, account, next, at)?);
            }
            let written = self.transact(actions).await?;
            if matches!(written, Written::Done) || written.failed_condition(0) {
                return Ok(());
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(lost_race("recording a delivered webhook"))
    }

    /// The row fails, and the lane's waiting rows with it (first, while the row still holds
    /// the lane, so the lane never shows waiting rows without a due one); then the lane is
    /// free: the account's next event is due at once.
    async fn give_up(
        &self,
        endpoint: &str,
        account: &str,
        seq: u64,
        at: &str,
        status: Option<u16>,
        error: String,
    ) -> StoreResult<()> {
        let pk = lane_pk(endpoint, account);
        for attempt in 1..=MAX_LANE_ATTEMPTS {
            let lane = self.read_lane(endpoint, account).await?;
            if lane.due_seq != Some(seq) {
                return Ok(());
            }
            let waiting = self
                .query_partition(&pk, DELIVERY_SK_PREFIX, Some(WAITING), usize::MAX)
                .await?;
            let mut held = true;
            for rows in waiting.chunks(ROWS_PER_TRANSACTION) {
                let mut actions = Vec::with_capacity(rows.len());
                for row in rows {
                    let row_seq = seq_of_sk(&string(row, crate::SORT_KEY)?)?;
                    let mut update = Expression::new();
                    update.set(STATE, s(FAILED)).set(LAST_ERROR, s(HELD_BACK));
                    for (name, value) in failing_values(endpoint, account, row_seq) {
                        update.set(&name, value);
                    }
                    in_state(&mut update, WAITING);
                    actions.push(
                        update
                            .update_action(&self.table, delivery_key(endpoint, account, row_seq))?,
                    );
                }
                if !matches!(self.transact(actions).await?, Written::Done) {
                    held = false;
                    break;
                }
            }
            if held {
                let mut update = Expression::new();
                update
                    .set(STATE, s(FAILED))
                    .add(ATTEMPTS, 1)
                    .set_if_missing(FIRST_ATTEMPT_AT, s(at))
                    .remove(WEBHOOK_DUE_SHARD_ATTRIBUTE)
                    .remove(WEBHOOK_DUE_AT_ATTRIBUTE)
                    .set_or_remove(LAST_STATUS, status.map(n))
                    .set(LAST_ERROR, s(error.clone()));
                for (name, value) in failing_values(endpoint, account, seq) {
                    update.set(&name, value);
                }
                in_state(&mut update, DUE);
                // Every waiting row is held back, and the lane's version says none came since.
                let actions = vec![
                    update.update_action(&self.table, delivery_key(endpoint, account, seq))?,
                    self.lane_action(endpoint, account, &lane, None, DueChange::Clear)?,
                ];
                let written = self.transact(actions).await?;
                if matches!(written, Written::Done) || written.failed_condition(0) {
                    return Ok(());
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(lost_race("giving up on a webhook delivery"))
    }

    pub(crate) async fn requeue(
        &self,
        endpoint: &str,
        which: Redeliver,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        timestamp(&now)?;
        if self.one_endpoint(endpoint).await?.is_none() {
            return Ok(0);
        }
        let filter = match &which {
            Redeliver::Event(id) => (EVENT_ID, id.as_str()),
            Redeliver::AllFailed => (STATE, FAILED),
        };
        let rows = self.failing_rows(endpoint, filter).await?;
        let mut requeued = 0_u64;
        let mut failed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for row in &rows {
            let record = delivery_record(row)?;
            match record.state {
                DeliveryState::Due => {
                    if self
                        .fresh_schedule(endpoint, &record.event.account, record.event.seq, now)
                        .await?
                    {
                        requeued = requeued.saturating_add(1);
                    }
                }
                DeliveryState::Failed => failed
                    .entry(record.event.account)
                    .or_default()
                    .push(record.event.seq),
                DeliveryState::Waiting => {}
            }
        }
        for (account, mut seqs) in failed {
            seqs.sort_unstable();
            seqs.dedup();
            let count = self.requeue_lane(endpoint, &account, &seqs, now).await?;
            requeued = requeued.saturating_add(count);
        }
        Ok(requeued)
    }

    /// A due row (failing, not given up) starts a fresh schedule: attempts 0, due now.
    async fn fresh_schedule(
        &self,
        endpoint: &str,
        account: &str,
        seq: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut update = Expression::new();
        update
            .set(ATTEMPTS, n(0))
            .set(WEBHOOK_DUE_AT_ATTRIBUTE, s(timestamp(&now)?))
            .remove(FIRST_ATTEMPT_AT)
            .remove(WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE)
            .remove(WEBHOOK_FAILING_KEY_ATTRIBUTE);
        in_state(&mut update, DUE);
        self.update_if(delivery_key(endpoint, account, seq), &update)
            .await
    }

    /// Failed rows `seqs` (ascending) of one lane wait again, attempts reset; the lowest is
    /// due at `now` when the lane has no due row.
    async fn requeue_lane(
        &self,
        endpoint: &str,
        account: &str,
        seqs: &[u64],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let now_text = timestamp(&now)?;
        let mut requeued = 0_u64;
        for chunk in seqs.chunks(ROWS_PER_TRANSACTION) {
            let mut remaining = chunk.to_vec();
            let mut attempt = 0;
            while !remaining.is_empty() {
                let lane = self.read_lane(endpoint, account).await?;
                let promoted = match lane.due_seq {
                    Some(_) => None,
                    None => remaining.first().copied(),
                };
                let mut actions = vec![self.lane_action(
                    endpoint,
                    account,
                    &lane,
                    None,
                    promoted.map_or(DueChange::Keep, DueChange::Set),
                )?];
                for &seq in &remaining {
                    let mut update = Expression::new();
                    update
                        .set(ATTEMPTS, n(0))
                        .remove(FIRST_ATTEMPT_AT)
                        .remove(WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE)
                        .remove(WEBHOOK_FAILING_KEY_ATTRIBUTE);
                    if promoted == Some(seq) {
                        update
                            .set(STATE, s(DUE))
                            .set(WEBHOOK_DUE_SHARD_ATTRIBUTE, n(due_shard(endpoint, account)))
                            .set(WEBHOOK_DUE_AT_ATTRIBUTE, s(now_text.clone()));
                    } else {
                        update.set(STATE, s(WAITING));
                    }
                    in_state(&mut update, FAILED);
                    actions.push(
                        update.update_action(&self.table, delivery_key(endpoint, account, seq))?,
                    );
                }
                let written = self.transact(actions).await?;
                if matches!(written, Written::Done) {
                    requeued =
                        requeued.saturating_add(u64::try_from(remaining.len()).unwrap_or(u64::MAX));
                    break;
                }
                // Rows no longer failed (re-queued by another call) drop out; a moved lane
                // is read again.
                let before = remaining.len();
                remaining = remaining
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| !written.failed_condition(index + 1))
                    .map(|(_, seq)| *seq)
                    .collect();
                attempt += 1;
                if attempt >= MAX_LANE_ATTEMPTS {
                    return Err(lost_race("re-queueing webhook deliveries"));
                }
                if remaining.len() == before {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(requeued)
    }
}
