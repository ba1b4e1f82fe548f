//! Per-account serialisation, the snapshot cache, and pipelined commits.
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
//! commits of different accounts instead.
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

/// The slot of one account.
pub type Slot = Arc<tokio::sync::Mutex<SlotState>>;

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
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(SlotState::default()));
        if slots.len() < self.capacity {
            slots.insert(account.to_owned(), Arc::clone(&slot));
        }
        slot
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
