//! Reads: quotes, balances, history. A read loads the snapshot from the store (never the
//! mutation cache: another instance may have written since). Quotes and balances bring it
//! up to `now` in memory and write nothing; a history read (entries, CSV) first commits
//! what is due up to now, when anything is (`service::load_for_history`, `docs/reads.md`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};

use credits_dsl::{RateBook, RatingContext};
use credits_ledger::{Attribution, Command, EntryType, Facts, LedgerError, Spend};
use credits_store::{EntryCursor, EntryQuery, MAX_PAGE_ENTRIES};

use crate::AppState;
use crate::facts;
use crate::model::{BalanceResponse, EntriesQuery, EntriesResponse, QuoteRequest, QuoteResponse};
use crate::problem::Problem;
use crate::respond;
use crate::service::{self, load_account};
use crate::validate::{self, display_id};

/// Default page of entries.
pub const DEFAULT_PAGE_ENTRIES: u32 = 100;
pub(crate) fn book_for<'a>(
    state: &'a AppState,
    book: &str,
    now: DateTime<Utc>,
) -> Result<&'a RateBook, Problem> {
    state.book_at(book, now).ok_or_else(|| {
        tracing::error!(%book, "the account's rate book is not loaded");
        Problem::internal()
    })
}

/// Price a usage without charging it: what it costs now, and whether and from which
/// buckets the account could pay it.
///
/// # Errors
/// `not-found` for an unknown account, `invalid-input` for a bad usage.
pub async fn quote(
    state: &AppState,
    account_id: &str,
    body: QuoteRequest,
) -> Result<QuoteResponse, Problem> {
    validate::name("feature", &body.feature)?;
    validate::optional_name("channel", body.channel.as_deref())?;
    validate::optional_id("content", body.content.as_deref())?;
    let cached = load_account(state, account_id).await?;
    let account = &cached.account;
    let now = state.clock.now().max(account.advanced_to);
    let book = book_for(state, &account.plan.book, now)?;
    let usage = service::usage(book, &body.feature, body.channel.as_deref(), &body.inputs)?;
    let first_request = book
        .feature(&usage.feature)
        .is_some_and(|feature| feature.first_request_free)
        && !account.free_used.contains(&usage.feature);
    let rating = book
        .rate(&usage, RatingContext { first_request })
        .map_err(|error| Problem::invalid(error.to_string()))?;

    let facts = Facts {
        prior_analysis: facts::prior_analysis(
            state,
            account_id,
            book,
            &usage.feature,
            body.content.as_deref(),
        )
        .await?,
        charge: None,
        purchase: None,
    };
    let command = Command::Charge(Spend {
        id: format!("quote:{:016x}", rand::random::<u64>()),
        usage,
        attribution: Attribution {
            content: body.content.clone(),
            ..Attribution::default()
        },
    });
    let (sufficient, paid_from, refusal) = match credits_ledger::decide(
        Some(account),
        &command,
        &facts,
        &state.versions_of(book),
        now,
    ) {
        Ok(decision) => (
            true,
            respond::draws(book, &decision.outcome.paid_from),
            None,
        ),
        Err(error) => {
            let refusal = service::ledger_problem(&error, book)
                .problem_type
                .slug()
                .to_owned();
            let sufficient = !matches!(error, LedgerError::InsufficientCredits { .. });
            (sufficient, Vec::new(), Some(refusal))
        }
    };
    Ok(QuoteResponse {
        feature: rating.feature.clone(),
        rates_version: rating.rates_version.clone(),
        amounts: rating
            .amounts
            .iter()
            .map(|amount| {
                (
                    amount.unit.clone(),
                    crate::money::format_minor(book, &amount.unit, amount.amount_minor),
                )
            })
            .collect(),
        lines: rating.lines.iter().map(|line| line.text.clone()).collect(),
        free: rating.free,
        sufficient,
        paid_from,
        refusal,
    })
}

/// The balance at `now`.
///
/// # Errors
/// `not-found` for an unknown account.
pub async fn balance(state: &AppState, account_id: &str) -> Result<BalanceResponse, Problem> {
    let cached = load_account(state, account_id).await?;
    let account = &cached.account;
    let now = state.clock.now().max(account.advanced_to);
    let book = book_for(state, &account.plan.book, now)?;
    let view = credits_ledger::view(account, &state.versions_of(book), now)
        .map_err(|error| service::ledger_problem(&error, book))?;
    Ok(respond::balance(book, account_id, now, &view))
}

/// An instant given as RFC 3339 or a date (midnight UTC).
fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, Problem> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    Err(Problem::invalid(format!(
        "`{field}` `{}` must be an RFC 3339 instant (`2026-01-31T12:00:00Z`) or a date (`2026-01-31`)",
        display_id(text)
    ))
    .with("field", field))
}

fn entry_query(account_id: &str, query: &EntriesQuery) -> Result<EntryQuery, Problem> {
    let from = query
        .from
        .as_deref()
        .map(|text| instant("from", text))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|text| instant("to", text))
        .transpose()?;
    let mut types = Vec::new();
    if let Some(list) = &query.entry_type {
        for name in list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let Some(entry_type) = EntryType::parse(name) else {
                return Err(Problem::invalid(format!(
                    "`type` `{}` is not an entry type; the types are: `grant`, `top_up`, `charge`, `hold`, `capture`, `release`, `refund`, `expiry`, `forfeit`, `rollover`, `adjustment`, `alert`, `statement`",
                    display_id(name)
                ))
                .with("field", "type"));
            };
            if types.len() >= 16 {
                return Err(Problem::invalid("`type` names at most 16 types").with("field", "type"));
            }
            types.push(entry_type.as_str().to_owned());
        }
    }
    validate::optional_name("feature", query.feature.as_deref())?;
    validate::optional_name("model", query.model.as_deref())?;
    validate::optional_id("project", query.project.as_deref())?;
    validate::optional_id("member", query.member.as_deref())?;
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| {
            EntryCursor::parse(cursor).ok_or_else(|| {
                Problem::invalid(format!(
                    "`cursor` `{}` is not a cursor this API gave",
                    display_id(cursor)
                ))
                .with("field", "cursor")
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_ENTRIES);
    if limit == 0 || limit > MAX_PAGE_ENTRIES {
        return Err(Problem::invalid(format!(
            "`limit` {limit} must be between 1 and {MAX_PAGE_ENTRIES}"
        ))
        .with("field", "limit"));
    }
    Ok(EntryQuery {
        account: account_id.to_owned(),
        from,
        to,
        types,
        feature: query.feature.clone(),
        model: query.model.clone(),
        project: query.project.clone(),
        member: query.member.clone(),
        after,
        limit,
    })
}

/// History as JSON (one page) or CSV (everything matching, bounded).
///
/// # Errors
/// `not-found` for an unknown account, `invalid-input` for a bad filter.
pub async fn entries(
    state: &AppState,
    account_id: &str,
    query: EntriesQuery,
) -> Result<Response, Problem> {
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Problem::invalid(format!(
                "`format` `{}` must be `json` or `csv`",
                display_id(other)
            ))
            .with("field", "format"));
        }
    };
    let mut store_query = entry_query(account_id, &query)?;
    // History is what is committed: commit what is due first (`docs/reads.md`).
    let cached = service::load_for_history(state, account_id).await?;
    let now = state.clock.now().max(cached.account.advanced_to);
    let book = book_for(state, &cached.account.plan.book, now)?;
    let store_failure = |error: credits_store::StoreError| service::store_problem(&error);

    if !csv {
        // A store page may be short while more follow: fill the page the client asked for.
        let wanted = store_query.limit as usize;
        let mut entries = Vec::new();
        let mut next = None;
        for _ in 0..64 {
            let page = state
                .store
                .entries(&store_query)
                .await
                .map_err(store_failure)?;
            entries.extend(page.entries);
            next = page.next;
            match next {
                Some(after) if entries.len() < wanted => store_query.after = Some(after),
                _ => break,
            }
        }
        if entries.len() > wanted {
            entries.truncate(wanted);
            next = entries.last().map(EntryCursor::after);
        }
        let body = EntriesResponse {
            account: account_id.to_owned(),
            entries: entries
                .into_iter()
                .map(|entry| respond::entry(book, entry))
                .collect(),
            next_cursor: next.map(|cursor| cursor.render()),
        };
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }

    crate::export::csv(
        state,
        account_id,
        &cached.account.plan.book,
        now,
        store_query,
    )
    .await
}
