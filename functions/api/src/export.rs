//! CSV export of history, in bounded memory whatever the account's age.
//!
//! A store page (at most [`MAX_PAGE_ENTRIES`] entries) is read, rendered and handed on before
//! the next is read. How the rows leave the process depends on where it runs
//! ([`CsvExport`]): `credits serve` streams every matching row in one response; a Lambda,
//! whose response is buffered and capped (6 MB), answers at most [`MAX_CSV_PAGE_BYTES`] of
//! rows and names where the next part starts in the `credits-next-cursor` header (pass it as
//! `cursor`, with the same filters).

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use credits_dsl::RateBook;
use credits_store::{EntryQuery, EntryRecord, MAX_PAGE_ENTRIES};

use crate::AppState;
use crate::problem::Problem;
use crate::reads::book_for;
use crate::{respond, service};

/// The most CSV one buffered (paged) response carries, under the 6 MB a Lambda may answer.
pub const MAX_CSV_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The response header naming where the next part of a paged export starts.
pub const NEXT_CURSOR_HEADER: &str = "credits-next-cursor";

/// How a CSV export leaves the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvExport {
    /// At most [`MAX_CSV_PAGE_BYTES`] a response, with a cursor to the rest: for a runtime
    /// that buffers responses (a Lambda behind API Gateway).
    #[default]
    Paged,
    /// Every matching row in one streamed response (`credits serve`).
    Streamed,
}

const HEADER_ROW: [&str; 12] = [
    "seq",
    "id",
    "at",
    "type",
    "operation",
    "unit",
    "amount",
    "feature",
    "model",
    "project",
    "member",
    "content",
];

fn csv_failure(error: &csv::Error) -> Problem {
    tracing::error!(%error, "writing CSV failed");
    Problem::internal()
}

/// Appends `record` as one CSV row.
fn write_row(
    writer: &mut csv::Writer<Vec<u8>>,
    book: &RateBook,
    record: EntryRecord,
) -> Result<(), Problem> {
    let entry = respond::entry(book, record);
    let at = entry
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    writer
        .write_record([
            entry.seq.to_string().as_str(),
            &entry.id,
            &at,
            &entry.entry_type,
            &entry.operation,
            entry.unit.as_deref().unwrap_or(""),
            &entry.amount,
            entry.feature.as_deref().unwrap_or(""),
            entry.model.as_deref().unwrap_or(""),
            entry.project.as_deref().unwrap_or(""),
            entry.member.as_deref().unwrap_or(""),
            entry.content.as_deref().unwrap_or(""),
        ])
        .map_err(|error| csv_failure(&error))
}

/// The bytes written so far.
fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, Problem> {
    writer.into_inner().map_err(|error| {
        tracing::error!(%error, "finishing CSV failed");
        Problem::internal()
    })
}

/// The CSV rows of `entries` (no header).
fn rows(book: &RateBook, entries: Vec<EntryRecord>) -> Result<Vec<u8>, Problem> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in entries {
        write_row(&mut writer, book, record)?;
    }
    finish(writer)
}

fn header_row() -> Result<Vec<u8>, Problem> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(HEADER_ROW)
        .map_err(|error| csv_failure(&error))?;
    finish(writer)
}

/// `GET …/entries?format=csv`: the entries `query` matches, from its cursor on.
///
/// # Errors
/// A store failure before the first byte; a failure after it ends the stream early.
pub async fn csv(
    state: &AppState,
    account_id: &str,
    book_name: &str,
    now: DateTime<Utc>,
    mut query: EntryQuery,
) -> Result<Response, Problem> {
    query.limit = MAX_PAGE_ENTRIES;
    let mut response = match state.config.csv_export {
        CsvExport::Paged => paged(state, book_for(state, book_name, now)?, query).await?,
        CsvExport::Streamed => {
            // The first page is read here, so that a store failure is still a problem
            // response rather than a cut stream.
            book_for(state, book_name, now)?;
            let first = state
                .store
                .entries(&query)
                .await
                .map_err(|error| service::store_problem(&error))?;
            let stream = streamed(state.clone(), book_name.to_owned(), now, query, first);
            (StatusCode::OK, Body::from_stream(stream)).into_response()
        }
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"entries-{}.csv\"",
        account_id.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_"
        )
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// Rows until the byte budget, then the cursor of the next part in a header.
async fn paged(
    state: &AppState,
    book: &RateBook,
    mut query: EntryQuery,
) -> Result<Response, Problem> {
    let mut writer = csv::Writer::from_writer(header_row()?);
    let mut next = None;
    loop {
        let page = state
            .store
            .entries(&query)
            .await
            .map_err(|error| service::store_problem(&error))?;
        let mut entries = page.entries.into_iter();
        // Row by row, so that the part ends on a row and its cursor names the next one.
        let mut stopped = None;
        for entry in entries.by_ref() {
            let cursor = credits_store::EntryCursor::after(&entry);
            write_row(&mut writer, book, entry)?;
            // The writer buffers: flushed, its vector holds every byte of the part so far.
            writer.flush().map_err(|error| {
                tracing::error!(%error, "writing CSV failed");
                Problem::internal()
            })?;
            if writer.get_ref().len() >= MAX_CSV_PAGE_BYTES {
                stopped = Some(cursor);
                break;
            }
        }
        if let Some(cursor) = stopped {
            // More follow when this page had entries left or another page follows.
            if entries.next().is_some() || page.next.is_some() {
                next = Some(cursor);
            }
            break;
        }
        match page.next {
            Some(after) => query.after = Some(after),
            None => break,
        }
    }
    let mut response = (StatusCode::OK, finish(writer)?).into_response();
    if let Some(cursor) = next
        && let Ok(value) = HeaderValue::from_str(&cursor.render())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static(NEXT_CURSOR_HEADER), value);
    }
    Ok(response)
}

/// The header and every page's rows, one store page at a time.
fn streamed(
    state: AppState,
    book_name: String,
    now: DateTime<Utc>,
    query: EntryQuery,
    first: credits_store::EntryPage,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    enum Next {
        Header(credits_store::EntryPage),
        Page(credits_store::EntryPage),
        Read,
        Done,
    }
    let failed = |what: &str| std::io::Error::other(format!("the CSV export stopped: {what}"));
    futures_util::stream::unfold((Next::Header(first), query), move |(next, mut query)| {
        let state = state.clone();
        let book_name = book_name.clone();
        async move {
            let page = match next {
                Next::Done => return None,
                Next::Header(first) => {
                    return Some(match header_row() {
                        Ok(bytes) => (Ok(Bytes::from(bytes)), (Next::Page(first), query)),
                        Err(_) => (Err(failed("header")), (Next::Done, query)),
                    });
                }
                Next::Page(page) => page,
                Next::Read => match state.store.entries(&query).await {
                    Ok(page) => page,
                    Err(error) => {
                        tracing::error!(%error, "a streamed CSV export lost the store");
                        return Some((Err(failed("the store failed")), (Next::Done, query)));
                    }
                },
            };
            let Some(book) = state.book_at(&book_name, now) else {
                return Some((Err(failed("the rate book is gone")), (Next::Done, query)));
            };
            let after = match page.next {
                Some(cursor) => {
                    query.after = Some(cursor);
                    Next::Read
                }
                None => Next::Done,
            };
            Some(match rows(book, page.entries) {
                Ok(bytes) => (Ok(Bytes::from(bytes)), (after, query)),
                Err(_) => (Err(failed("a row")), (Next::Done, query)),
            })
        }
    })
}
