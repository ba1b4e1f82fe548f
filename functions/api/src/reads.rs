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
use crate::model::{
    AccountResponse, AccountsQuery, AccountsResponse, BalanceAtResponse, BalanceResponse,
    EntriesQuery, EntriesResponse, QuoteRequest, QuoteResponse,
};
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
    let job_outcome = crate::outcome_field::parse(body.outcome.as_deref())?;
    let cached = load_account(state, account_id).await?;
    let account = &cached.account;
    let now = state.clock.now().max(account.advanced_to);
    let book = book_for(state, &account.plan.book, now)?;
    let usage = service::usage(book, &body.feature, body.channel.as_deref(), &body.inputs)?;
    let first_request = book
        .feature(&usage.feature)
        .is_some_and(|feature| feature.first_request_free)
        && !account.free_used.contains(&usage.feature);
    // Priced by the account's plan (`when plan is NAME` and the book's refusals see it) and
    // by how the job ended; a free ending never reads `first_request`: it rates nothing and
    // keeps the free request.
    let rating = book
        .rate_outcome(
            &usage,
            job_outcome,
            RatingContext { first_request },
            Some(&account.plan.plan),
        )
        .map_err(|error| service::ledger_problem(&LedgerError::from(error), book))?;

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
        occurred_at: None,
        collect: credits_ledger::Collect::All,
        outcome: job_outcome,
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
        outcome: job_outcome.as_str().to_owned(),
        packages: book
            .plan(&account.plan.plan)
            .map(|plan| respond::packages(book, plan))
            .unwrap_or_default(),
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

/// The balance as of `at`, from history: the running balance the last entry at or before
/// it carries (`docs/charges.md`). Costs the snapshot (committing what fell due first, as
/// every history read) and one keyed read, whatever the account's age.
///
/// # Errors
/// `not-found` for an unknown account; `invalid-input` for an instant in the future, before
/// the account's first entry, or before balances were recorded in its entries.
pub async fn balance_at(
    state: &AppState,
    account_id: &str,
    text: &str,
) -> Result<BalanceAtResponse, Problem> {
    let at = instant("at", text)?;
    let cached = service::load_for_history(state, account_id).await?;
    let now = state.clock.now().max(cached.account.advanced_to);
    if at > now {
        return Err(Problem::invalid(format!(
            "`at` `{}` is in the future: ask for the balance now without `at`",
            display_id(text)
        ))
        .with("field", "at"));
    }
    let book = book_for(state, &cached.account.plan.book, now)?;
    let entry = state
        .store
        .last_entry_at_or_before(account_id, at)
        .await
        .map_err(|error| service::store_problem(&error))?
        .ok_or_else(|| {
            Problem::invalid(format!(
                "`at` `{}` is before account `{}` had any entry",
                display_id(text),
                display_id(account_id)
            ))
            .with("field", "at")
        })?;
    let totals: std::collections::BTreeMap<String, i64> = entry
        .body
        .get(credits_ledger::BALANCE_FIELD)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .ok_or_else(|| {
            Problem::invalid(format!(
                "the history of account `{}` at `{}` does not record its balance (entries written before balances were recorded)",
                display_id(account_id),
                display_id(text)
            ))
            .with("field", "at")
        })?;
    Ok(BalanceAtResponse {
        account: account_id.to_owned(),
        at,
        owned: totals
            .iter()
            .map(|(unit, minor)| (unit.clone(), crate::money::format_minor(book, unit, *minor)))
            .collect(),
        as_of_seq: entry.seq,
    })
}

/// The account's configuration (what `PUT` accepts, and its status) with its balance now.
///
/// # Errors
/// `not-found` for an unknown account.
pub async fn account(state: &AppState, account_id: &str) -> Result<AccountResponse, Problem> {
    let cached = load_account(state, account_id).await?;
    described(state, &cached.account)
}

fn described(
    state: &AppState,
    account: &credits_ledger::Account,
) -> Result<AccountResponse, Problem> {
    let now = state.clock.now().max(account.advanced_to);
    let book = book_for(state, &account.plan.book, now)?;
    let view = credits_ledger::view(account, &state.versions_of(book), now)
        .map_err(|error| service::ledger_problem(&error, book))?;
    Ok(respond::account(book, account, &view))
}

/// Default and largest page of accounts.
const DEFAULT_PAGE_ACCOUNTS: u32 = 50;
const MAX_PAGE_ACCOUNTS: u32 = 100;
/// Store pages one listing page reads at most: a filtered page may come back short.
const MAX_STORE_PAGES_PER_LISTING: usize = 8;
/// The longest cursor accepted back.
const MAX_CURSOR_BYTES: usize = 4096;

/// Accounts, filtered by plan and status, paged. A page reads at most
/// [`MAX_STORE_PAGES_PER_LISTING`] store pages of at most `limit` items each, so its cost
/// is bounded whatever the filters; it may hold fewer than `limit` accounts while more follow.
///
/// # Errors
/// `invalid-input` for a bad filter, limit or cursor.
pub async fn accounts(state: &AppState, query: AccountsQuery) -> Result<AccountsResponse, Problem> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_ACCOUNTS);
    if !(1..=MAX_PAGE_ACCOUNTS).contains(&limit) {
        return Err(Problem::invalid(format!(
            "`limit` must be 1 to {MAX_PAGE_ACCOUNTS}, not {limit}"
        ))
        .with("field", "limit"));
    }
    let status = match query.status.as_deref() {
        None => None,
        Some(status @ ("active" | "suspended" | "closed")) => Some(status.to_owned()),
        Some(other) => {
            return Err(Problem::invalid(format!(
                "`status` `{}` must be `active`, `suspended` or `closed`",
                display_id(other)
            ))
            .with("field", "status"));
        }
    };
    if let Some(plan) = &query.plan {
        validate::id("plan", plan)?;
    }
    let mut cursor = query.cursor.clone();
    if cursor
        .as_ref()
        .is_some_and(|text| text.is_empty() || text.len() > MAX_CURSOR_BYTES)
    {
        return Err(bad_cursor());
    }
    let mut accounts = Vec::new();
    for _ in 0..MAX_STORE_PAGES_PER_LISTING {
        let wanted = limit.saturating_sub(u32::try_from(accounts.len()).unwrap_or(u32::MAX));
        let given = cursor.is_some();
        let page =
            state
                .store
                .accounts(cursor.take(), wanted)
                .await
                .map_err(|error| match error {
                    credits_store::StoreError::Invalid(_) if given => bad_cursor(),
                    other => service::store_problem(&other),
                })?;
        for record in page.accounts {
            // One unreadable snapshot (logged by `decode_account`; its own GET answers 500)
            // does not hide every other account from the operator.
            let Ok(cached) = service::decode_account(record) else {
                continue;
            };
            let account = &cached.account;
            let plan_matches = query
                .plan
                .as_deref()
                .is_none_or(|plan| account.plan.to_string() == plan || account.plan.plan == plan);
            let status_matches = status.as_deref().is_none_or(|status| {
                serde_json::to_value(account.status).is_ok_and(|name| name.as_str() == Some(status))
            });
            if plan_matches && status_matches {
                accounts.push(described(state, account)?);
            }
        }
        cursor = page.next;
        if cursor.is_none() || accounts.len() >= limit as usize {
            break;
        }
    }
    Ok(AccountsResponse {
        accounts,
        next_cursor: cursor,
    })
}

fn bad_cursor() -> Problem {
    Problem::invalid("`cursor` is not a `next_cursor` of this listing").with("field", "cursor")
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
