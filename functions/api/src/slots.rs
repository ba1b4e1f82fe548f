//! Per-account serialisation, the snapshot cache, and the queue of group commit.
//!
//! Within one process, mutations of one account take turns on the account's slot (a tokio
//! mutex) to *decide*, so they never race each other into version conflicts. The slot keeps
//! the last snapshot this process decided, so a warm mutation skips the load and costs one
//! store request, the commit.
//!
//! A commit settles before the slot is released. Pipelining (releasing the slot while the
//! commit syncs and deciding the next request on top of it) was tried and removed: when the
//! predecessor loses a race to another instance, the successor's expected version is the one
//! that instance wrote, so the successor lands on a snapshot it never saw (a lost update;
//! `reliability_regressions` keeps that case). Throughput comes from the store batching
//! commits of different accounts, and, with group commit on (`credits serve`), from the
//! slot's queue: mutations arriving while the slot is busy wait there, and the next holder
//! decides them in turn and commits them as ONE write (`group`), so one account still
//! commits once per fsync but many decisions ride on each commit.
//!
//! Another process (another Lambda instance) may have written since: the commit's version
//! check catches that, and the caller reloads. The map is bounded; slots not in use are
//! dropped first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use credits_ledger::Account;

/// Operation ids a slot remembers as committed by this process, per account.
pub const RECENT_OPERATIONS: usize = 256;

/// A snapshot as this process last decided it.
#[derive(Debug, Clone)]
pub struct Cached {
    pub version: u64,
    pub account: Account,
}

/// Operation ids committed recently by this process (bounded, oldest forgotten first): a
/// replay of one goes straight to its operation record instead of deciding again.
#[derive(Debug, Default)]
pub struct RecentOperations {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl RecentOperations {
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub fn insert(&mut self, id: &str) {
        if self.ids.contains(id) {
            return;
        }
        if self.order.len() >= RECENT_OPERATIONS
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
    }
}

/// What one account's slot holds.
#[derive(Debug, Default)]
pub struct SlotState {
    /// The snapshot to decide on next; `None` when it must be loaded.
    pub cached: Option<Cached>,
    pub recent: RecentOperations,
}

/// Mutations a slot's queue holds at most; beyond it, a mutation takes the one-at-a-time
/// path (it still waits its turn on the slot).
pub const MAX_QUEUED: usize = 1024;

/// The slot of one account: its state behind a tokio mutex, and the mutations waiting to be
/// decided in a group (see `group`).
#[derive(Debug, Default)]
pub struct SlotCell {
    state: tokio::sync::Mutex<SlotState>,
    queue: Mutex<Queue>,
    /// Signalled when a mutation joins the queue while a leader runs (the leader may be
    /// gathering).
    arrived: tokio::sync::Notify,
}

/// Mutations waiting for a group, and whether a task is leading groups for this slot.
#[derive(Debug, Default)]
pub struct Queue {
    pub waiting: VecDeque<crate::group::Pending>,
    pub leading: bool,
}

impl SlotCell {
    /// Take the slot (mutations of one account take turns).
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, SlotState> {
        self.state.lock().await
    }

    /// Take the slot if no one holds it.
    pub fn try_lock(&self) -> Option<tokio::sync::MutexGuard<'_, SlotState>> {
        self.state.try_lock().ok()
    }

    /// Tell a gathering leader that the queue grew.
    pub fn notify_arrival(&self) {
        self.arrived.notify_one();
    }

    /// Until the next [`Self::notify_arrival`] (at once if one came since the last wait).
    pub async fn arrival(&self) {
        self.arrived.notified().await;
    }

    /// The queue of group commit.
    pub fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The slot of one account.
pub type Slot = Arc<SlotCell>;

#[derive(Debug)]
pub struct AccountSlots {
    slots: Mutex<HashMap<String, Slot>>,
    capacity: usize,
}

impl AccountSlots {
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The slot of `account`. When the map is full of slots in use, an unshared slot is
    /// returned: correctness never depends on the slot, only speed.
    pub fn slot(&self, account: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(account) {
            return Arc::clone(slot);
        }
        if slots.len() >= self.capacity {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot: Slot = Arc::new(SlotCell::default());
        if slots.len() < self.capacity {
            slots.insert(account.to_owned(), Arc::clone(&slot));
        }
        slot
    }

    /// Mutations of `account` waiting in its slot's queue (0 when it has no slot).
    pub fn queued(&self, account: &str) -> usize {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.get(account).map(Arc::clone)
        };
        slot.map_or(0, |slot| slot.queue().waiting.len())
    }

    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
