//! What a store did for one request, counted for that request's metrics line.
//!
//! A store retries some requests itself (the DynamoDB store resends a commit cancelled by a
//! transaction conflict or throttling): the caller sees one call, the metrics should see
//! every attempt. [`counting`] runs a request's future with fresh counters; a store adds to
//! them with [`commit_retried`]. Outside [`counting`] (tests, `credits serve`'s group
//! commits, which run in the leader's task) the counters are simply not kept.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

tokio::task_local! {
    static COUNTS: Arc<Counters>;
}

#[derive(Debug, Default)]
struct Counters {
    commit_retries: AtomicU32,
}

/// The counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Commit attempts sent again after a transient failure (nothing was decided by it).
    pub commit_retries: u32,
}

/// Runs `request` with fresh counters and returns its output with what they counted.
pub async fn counting<F: Future>(request: F) -> (F::Output, StoreCounts) {
    let counters = Arc::new(Counters::default());
    let output = COUNTS.scope(Arc::clone(&counters), request).await;
    let counts = StoreCounts {
        commit_retries: counters.commit_retries.load(Ordering::Relaxed),
    };
    (output, counts)
}

/// A commit attempt is being sent again.
pub fn commit_retried() {
    // Outside `counting` there is nothing to add to.
    let _ = COUNTS.try_with(|counters| counters.commit_retries.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_are_counted_per_request_and_ignored_outside_one() {
        commit_retried();
        let ((), counts) = counting(async {
            commit_retried();
            commit_retried();
        })
        .await;
        assert_eq!(counts.commit_retries, 2);
        let ((), counts) = counting(async {}).await;
        assert_eq!(counts, StoreCounts::default());
    }
}
