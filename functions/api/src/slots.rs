//! Per-account serialisation and the snapshot cache.
//!
//! Within one process, mutations of one account take turns on the account's slot (a tokio
//! mutex), so they never race each other into version conflicts; the slot also keeps the
//! last snapshot this process committed or loaded, so a warm mutation skips the load and
//! costs one store request, the commit. Another process (another Lambda instance) may have
//! written since: the commit's version check catches that, and the caller reloads. The map
//! is bounded; slots not in use are dropped first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use credits_ledger::Account;

/// A snapshot as this process last saw it.
#[derive(Debug, Clone)]
pub struct Cached {
    pub version: u64,
    pub account: Account,
}

/// The slot of one account: `None` when nothing is cached.
pub type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

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
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(None));
        if slots.len() < self.capacity {
            slots.insert(account.to_owned(), Arc::clone(&slot));
        }
        slot
    }

    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
