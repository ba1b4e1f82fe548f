//! Facts a decision depends on, read by key after the snapshot was loaded (so the commit's
//! version check covers them too), and the fact records each decision writes for later
//! ones. No decision reads history: every read here is one store request, whatever the
//! account's age.
//!
//! | fact key | written by | read by |
//! |---|---|---|
//! | `charge:<operation id>` | a charge or capture (its draws and amounts); each refund of it (refunded so far) | a refund of it |
//! | `analysed:<feature>:<content digest>` | a charge or capture of `<feature>` naming a content, when some feature of the book requires `<feature>` on the same content | a charge or hold of a feature that requires it |
//! | `hold:<hold id>` | a hold (`open`), its capture or release (`crate::holds`) | a hold lookup; a capture or release of a hold that is not open |
//! | `topup:<top-up id>` | a top-up (what it credited); each void of its bucket (voided so far); its chargeback (`reversed_by`) | a chargeback of it; a void of its bucket |
//! | `statement:<cycle start, fixed-width UTC>` | the decision that closed the cycle (`Decision::closed_statements`), once | a statement of an ended cycle (`statements`) |

use sha2::{Digest, Sha256};

use credits_dsl::RateBook;
use credits_ledger::{
    Account, ChargeFacts, Command, Decision, Entry, EntryType, Facts, PurchaseFacts,
};
use credits_store::{EntryRecord, FactRecord};

use crate::AppState;
use crate::problem::Problem;
use crate::service::store_problem;

fn charge_key(operation: &str) -> String {
    format!("charge:{operation}")
}

fn purchase_key(operation: &str) -> String {
    format!("topup:{operation}")
}

/// The content is hashed: its digest bounds the key, whatever the client's content id.
fn analysed_key(feature: &str, content: &str) -> String {
    format!(
        "analysed:{feature}:{}",
        hex::encode(Sha256::digest(content.as_bytes()))
    )
}

fn unreadable(key: &str, error: &serde_json::Error) -> Problem {
    tracing::error!(%error, fact = %key, "stored fact is unreadable");
    Problem::internal()
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
    let Some(content) = content else {
        return Ok(false);
    };
    if definition.requires_prior.is_empty() {
        return Ok(false);
    }
    let keys: Vec<String> = definition
        .requires_prior
        .iter()
        .take(credits_store::MAX_FACT_KEYS)
        .map(|required| analysed_key(required, content))
        .collect();
    let found = state
        .store
        .facts(account, &keys)
        .await
        .map_err(|error| store_problem(&error))?;
    Ok(!found.is_empty())
}

/// The refunded charge's facts (its draws, amounts and what earlier refunds returned): one
/// keyed read.
///
/// # Errors
/// When the store fails or the stored fact is unreadable.
pub async fn charge(
    state: &AppState,
    account: &str,
    charge_id: &str,
) -> Result<Option<ChargeFacts>, Problem> {
    read_one(state, account, charge_key(charge_id)).await
}

/// A purchase's facts (what its top-up credited, what voids removed, whether it was
/// reversed): one keyed read. `None` for a top-up made before purchases were recorded.
///
/// # Errors
/// When the store fails or the stored fact is unreadable.
pub async fn purchase(
    state: &AppState,
    account: &str,
    purchase_id: &str,
) -> Result<Option<PurchaseFacts>, Problem> {
    read_one(state, account, purchase_key(purchase_id)).await
}

/// The fact `key` of `account`, read as `T`: one keyed read.
async fn read_one<T: serde::de::DeserializeOwned>(
    state: &AppState,
    account: &str,
    key: String,
) -> Result<Option<T>, Problem> {
    let found = state
        .store
        .facts(account, std::slice::from_ref(&key))
        .await
        .map_err(|error| store_problem(&error))?;
    found
        .into_iter()
        .find(|fact| fact.key == key)
        .map(|fact| serde_json::from_value(fact.value).map_err(|error| unreadable(&key, &error)))
        .transpose()
}

/// The facts `decision` leaves for later decisions: each charge or capture it made (and the
/// refunded charge, with this refund added), the contents it analysed that some feature
/// requires, the statements it closed, and the record of the hold it made, captured or
/// released (`holds::written_by`), and the record of each purchase it made, voided or
/// reversed. `before` is the account the decision was made on; `read` are the facts the
/// decision was made with (the refunded charge, the purchase).
///
/// # Errors
/// A decision whose entries the ledger cannot fold (a broken invariant).
pub fn written_by(
    account: &str,
    book: &RateBook,
    before: Option<&Account>,
    command: &Command,
    read: &Facts,
    decision: &Decision,
) -> Result<Vec<FactRecord>, Problem> {
    let fold_failed = |error: credits_ledger::LedgerError| {
        tracing::error!(%error, "a decision's entries do not fold into charge facts");
        Problem::internal()
    };
    let mut charges: Vec<ChargeFacts> = Vec::new();
    let mut analysed: Vec<String> = Vec::new();
    for entry in &decision.entries {
        if !matches!(entry.entry_type, EntryType::Charge | EntryType::Capture) {
            continue;
        }
        if !charges.iter().any(|facts| facts.id == entry.operation)
            && let Some(facts) = ChargeFacts::from_entries(&entry.operation, &decision.entries)
                .map_err(fold_failed)?
        {
            charges.push(facts);
        }
        if let (Some(feature), Some(content)) = (&entry.feature, &entry.content)
            && is_required(book, feature)
        {
            let key = analysed_key(feature, content);
            if !analysed.contains(&key) {
                analysed.push(key);
            }
        }
    }
    if let (Command::Refund(refund), Some(refunded)) = (command, read.charge.as_ref()) {
        let folded = ChargeFacts::fold(Some(refunded.clone()), &refund.charge, &decision.entries)
            .map_err(fold_failed)?;
        charges.extend(folded);
    }
    let mut purchases: Vec<PurchaseFacts> = Vec::new();
    for entry in &decision.entries {
        if entry.entry_type == EntryType::TopUp
            && let Some(made) = PurchaseFacts::fold(None, &entry.operation, &decision.entries)
                .map_err(fold_failed)?
        {
            purchases.push(made);
        }
    }
    if matches!(command, Command::Void(_) | Command::Chargeback(_))
        && let Some(known) = &read.purchase
    {
        let id = known.id.clone();
        purchases.extend(
            PurchaseFacts::fold(Some(known.clone()), &id, &decision.entries)
                .map_err(fold_failed)?,
        );
    }
    let mut facts = Vec::with_capacity(charges.len() + analysed.len() + purchases.len());
    for purchase in purchases {
        let value = serde_json::to_value(&purchase).map_err(|error| {
            tracing::error!(%error, "purchase facts do not serialise");
            Problem::internal()
        })?;
        facts.push(FactRecord {
            account: account.to_owned(),
            key: purchase_key(&purchase.id),
            value,
        });
    }
    for charge in charges {
        let value = serde_json::to_value(&charge).map_err(|error| {
            tracing::error!(%error, "charge facts do not serialise");
            Problem::internal()
        })?;
        facts.push(FactRecord {
            account: account.to_owned(),
            key: charge_key(&charge.id),
            value,
        });
    }
    facts.extend(analysed.into_iter().map(|key| FactRecord {
        account: account.to_owned(),
        key,
        value: serde_json::Value::Bool(true),
    }));
    facts.extend(statement_facts(account, decision)?);
    facts.extend(crate::holds::written_by(
        account, book, before, command, decision,
    )?);
    Ok(facts)
}

/// The fact records of the statements `decision` closed: every commit of a decision must
/// carry them (catching up closes cycles too), or those cycles' statements are lost.
///
/// # Errors
/// `internal` when a statement does not serialise (a bug).
pub fn statement_facts(account: &str, decision: &Decision) -> Result<Vec<FactRecord>, Problem> {
    decision
        .closed_statements
        .iter()
        .map(|closed| {
            let value = serde_json::to_value(closed).map_err(|error| {
                tracing::error!(%error, "a closed statement does not serialise");
                Problem::internal()
            })?;
            Ok(FactRecord {
                account: account.to_owned(),
                key: closed.fact_key(),
                value,
            })
        })
        .collect()
}

/// Whether some feature of `book` requires `feature` on the same content.
fn is_required(book: &RateBook, feature: &str) -> bool {
    book.features.iter().any(|other| {
        other
            .requires_prior
            .iter()
            .any(|required| required == feature)
    })
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
