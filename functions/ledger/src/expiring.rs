//! `warn before expiry`: each bucket with credits left is announced once, by a
//! `credits.expiring` event, at the first instant the account is at or past its warning
//! instant (expiry minus the plan's window) and before its expiry. The warning instant is an
//! instant of the walk and of the schedule (`due`), so an idle account hears it on time, and
//! catching up lazily announces at the same instant as a visit would. A bucket created
//! inside the window is announced when it is created.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::account::Bucket;
use crate::events::{self, EventType, Notice};
use crate::work::{Work, stamp};
use crate::{LedgerError, LedgerResult};

/// The plan's warning window, if it has one.
fn window(work: &Work<'_>) -> Option<TimeDelta> {
    work.plan
        .expiry_warning_seconds
        .map(|seconds| TimeDelta::seconds(i64::from(seconds)))
}

/// When `bucket` is to be announced, if it ever is: it expires, is not the overdraft, holds
/// credits and was not announced yet.
pub(crate) fn warning_at(work: &Work<'_>, bucket: &Bucket) -> Option<DateTime<Utc>> {
    let window = window(work)?;
    let expires_at = bucket.expires_at?;
    if bucket.is_overdraft()
        || bucket.left_minor <= 0
        || work.account.expiry_warned.contains(&mark(&bucket.id))
    {
        return None;
    }
    Some(expires_at.checked_sub_signed(window).unwrap_or(expires_at))
}

/// Announces every bucket whose warning instant has come by `at` and which has not expired.
///
/// # Errors
/// An unknown unit or overflow.
pub(crate) fn warn(work: &mut Work<'_>, at: DateTime<Utc>) -> LedgerResult<()> {
    let mut due: Vec<(DateTime<Utc>, String)> = work
        .account
        .buckets
        .iter()
        .filter(|bucket| !bucket.expired_at(at))
        .filter_map(|bucket| {
            warning_at(work, bucket)
                .filter(|warning| *warning <= at)
                .map(|_| (bucket.expires_at.unwrap_or(at), bucket.id.clone()))
        })
        .collect();
    due.sort();
    for (expires_at, id) in due {
        let bucket = work
            .account
            .buckets
            .iter()
            .find(|bucket| bucket.id == id)
            .ok_or_else(|| LedgerError::invariant(format!("bucket `{id}` vanished")))?;
        let data = events::data(
            work,
            &bucket.unit,
            &[("amount", bucket.left_minor)],
            json!({
                "bucket": bucket.id,
                "kind": bucket.kind,
                "expires_at": stamp(expires_at),
            }),
        )?;
        work.account.expiry_warned.insert(mark(&id));
        work.notices.push(Notice {
            event_type: EventType::CreditsExpiring,
            at,
            data,
        });
    }
    Ok(())
}

/// Forgets buckets that are gone (ids never repeat, so none comes back).
pub(crate) fn forget_gone(work: &mut Work<'_>) {
    if work.account.expiry_warned.is_empty() {
        return;
    }
    let live: std::collections::BTreeSet<String> = work
        .account
        .buckets
        .iter()
        .map(|bucket| mark(&bucket.id))
        .collect();
    work.account
        .expiry_warned
        .retain(|marked| live.contains(marked));
}

/// What the snapshot keeps of an announced bucket: 12 hex digits of SHA-256 of its id. Bucket
/// ids run to hundreds of bytes; 48 bits tell the few dozen live buckets of one account apart.
pub fn mark(bucket: &str) -> String {
    Sha256::digest(bucket.as_bytes())
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
