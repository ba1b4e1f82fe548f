//! Facts from history that a decision depends on, read from the store after the snapshot
//! was loaded (so the commit's version check covers them too).

use credits_dsl::RateBook;
use credits_ledger::{ChargeFacts, Entry, EntryType};
use credits_store::{EntryQuery, EntryRecord};

use crate::AppState;
use crate::problem::{Problem, ProblemType};
use crate::service::store_problem;

/// Pages one fact-finding read may walk. A decision never rests on part of the history:
/// when the walk is cut short the request is refused (503) rather than decided on what was
/// read so far.
const MAX_FACT_PAGES: usize = 20;

fn store_failure(error: &credits_store::StoreError) -> Problem {
    store_problem(error)
}

fn history_too_long() -> Problem {
    tracing::warn!("a fact-finding read of history ran out of pages");
    Problem::new(
        ProblemType::Unavailable,
        "the history this request depends on is too long to read in one request; retry with the same id",
    )
    .retry_after(1)
}

/// Whether an earlier charge or capture of a feature that `feature` requires analysed the
/// same `content`. `false` (and no read) when the feature requires nothing or no content is
/// named; the ledger then refuses a feature that needs one.
///
/// # Errors
/// When the store fails.
pub async fn prior_analysis(
    state: &AppState,
    account: &str,
    book: &RateBook,
    feature: &str,
    content: Option<&str>,
) -> Result<bool, Problem> {
    let Some(definition) = book.feature(feature) else {
        return Ok(false);
    };
    if definition.requires_prior.is_empty() {
        return Ok(false);
    }
    let Some(content) = content else {
        return Ok(false);
    };
    let mut query = EntryQuery {
        account: account.to_owned(),
        content: Some(content.to_owned()),
        types: vec!["charge".to_owned(), "capture".to_owned()],
        ..EntryQuery::default()
    };
    for _ in 0..MAX_FACT_PAGES {
        let page = state
            .store
            .entries(&query)
            .await
            .map_err(|error| store_failure(&error))?;
        let found = page.entries.iter().any(|entry| {
            entry
                .feature
                .as_ref()
                .is_some_and(|done| definition.requires_prior.contains(done))
        });
        if found {
            return Ok(true);
        }
        match page.next_after_seq {
            Some(after) => query.after_seq = Some(after),
            None => return Ok(false),
        }
    }
    Err(history_too_long())
}

/// Every entry matching `query`, or `unavailable` when more than [`MAX_FACT_PAGES`] pages.
pub async fn all_entries(
    state: &AppState,
    mut query: EntryQuery,
) -> Result<Vec<EntryRecord>, Problem> {
    let mut entries = Vec::new();
    for _ in 0..MAX_FACT_PAGES {
        let page = state
            .store
            .entries(&query)
            .await
            .map_err(|error| store_failure(&error))?;
        entries.extend(page.entries);
        match page.next_after_seq {
            Some(after) => query.after_seq = Some(after),
            None => return Ok(entries),
        }
    }
    Err(history_too_long())
}

/// A stored entry as the ledger's entry; `None` (logged) for a type this build does not know.
pub fn ledger_entry(record: EntryRecord) -> Option<Entry> {
    let Some(entry_type) = EntryType::parse(&record.entry_type) else {
        tracing::warn!(entry = %record.id, entry_type = %record.entry_type, "unknown entry type skipped");
        return None;
    };
    Some(Entry {
        id: record.id,
        seq: record.seq,
        at: record.at,
        entry_type,
        operation: record.operation,
        unit: record.unit,
        amount_minor: record.amount_minor,
        feature: record.feature,
        model: record.model,
        project: record.project,
        member: record.member,
        content: record.content,
        body: record.body,
    })
}

/// The refunded charge: its entries and those of earlier refunds of it (refund entries name
/// their charge in their body, so every refund entry of the account is read, bounded).
///
/// # Errors
/// When the store fails or the stored charge is unreadable.
pub async fn charge(
    state: &AppState,
    account: &str,
    charge_id: &str,
) -> Result<Option<ChargeFacts>, Problem> {
    let mut entries = all_entries(
        state,
        EntryQuery {
            account: account.to_owned(),
            operation: Some(charge_id.to_owned()),
            types: vec!["charge".to_owned(), "capture".to_owned()],
            ..EntryQuery::default()
        },
    )
    .await?;
    let Some(last_seq) = entries.iter().map(|entry| entry.seq).max() else {
        return Ok(None);
    };
    // Refunds of the charge come after it and carry its feature: only those are read.
    let feature = entries.iter().find_map(|entry| entry.feature.clone());
    entries.extend(
        all_entries(
            state,
            EntryQuery {
                account: account.to_owned(),
                types: vec!["refund".to_owned()],
                feature,
                after_seq: Some(last_seq),
                ..EntryQuery::default()
            },
        )
        .await?,
    );
    let entries: Vec<Entry> = entries.into_iter().filter_map(ledger_entry).collect();
    ChargeFacts::from_entries(charge_id, &entries).map_err(|error| {
        tracing::error!(%error, charge = %charge_id, "stored charge is unreadable");
        Problem::internal()
    })
}
