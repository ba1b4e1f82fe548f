//! Every version of every book, and the choice of the version in force at a time.
//!
//! Several files may hold one book with different `effective` dates (`imini.rates`,
//! `imini@2026-12-01.rates`); a charge at time `t` is rated by the version with the latest
//! `effective` ≤ `t`, the effective day starting at midnight in the book's time zone.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::book::RateBook;
use crate::compile::{CompileOptions, compile_with_spans};
use crate::diagnostics::{BookError, Diagnostics};

/// One version of a book and the instant it takes effect.
#[derive(Debug, Clone)]
struct Version {
    starts_at: DateTime<Utc>,
    book: RateBook,
}

/// All compiled books, by name, each with its versions sorted by `effective`.
#[derive(Debug, Clone, Default)]
pub struct RateLibrary {
    books: BTreeMap<String, Vec<Version>>,
}

impl RateLibrary {
    /// Compiles every file (`(file name, source)`) and gathers the books.
    ///
    /// # Errors
    /// The diagnostics of every file that does not compile, and of every file holding a
    /// version of a book whose `effective` date another file already holds.
    pub fn from_sources(files: Vec<(String, String)>) -> Result<RateLibrary, Vec<Diagnostics>> {
        let mut failures = Vec::new();
        let mut books: BTreeMap<String, Vec<(Version, String)>> = BTreeMap::new();
        for (file_name, source) in &files {
            match compile_with_spans(file_name, source, CompileOptions::default()) {
                Err(errors) => failures.push(Diagnostics::new(file_name, source, errors)),
                Ok((book, effective_span)) => {
                    let versions = books.entry(book.name.clone()).or_default();
                    if let Some((_, other_file)) = versions
                        .iter()
                        .find(|(version, _)| version.book.effective == book.effective)
                    {
                        let error = BookError::SameEffective {
                            book: book.name.clone(),
                            effective: book.effective.to_string(),
                            other_file: other_file.clone(),
                            span: effective_span.into(),
                        };
                        failures.push(Diagnostics::new(file_name, source, vec![error]));
                        continue;
                    }
                    let starts_at = starts_at(book.effective, &book.time_zone);
                    versions.push((Version { starts_at, book }, file_name.clone()));
                }
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        let books = books
            .into_iter()
            .map(|(name, versions)| {
                let mut versions: Vec<Version> =
                    versions.into_iter().map(|(version, _)| version).collect();
                versions.sort_by_key(|version| (version.book.effective, version.starts_at));
                (name, versions)
            })
            .collect();
        Ok(RateLibrary { books })
    }

    /// The version of `name` in force at `at`: the latest whose effective day has begun.
    pub fn book_at(&self, name: &str, at: DateTime<Utc>) -> Option<&RateBook> {
        let versions = self.books.get(name)?;
        let started = versions.partition_point(|version| version.starts_at <= at);
        started
            .checked_sub(1)
            .and_then(|index| versions.get(index))
            .map(|version| &version.book)
    }

    /// The version of `name` with the latest `effective` date.
    pub fn latest(&self, name: &str) -> Option<&RateBook> {
        self.books
            .get(name)?
            .last()
            .map(|version| &version.book)
    }

    /// The book with this `rates_version`, for explaining or refunding a past charge.
    pub fn by_version(&self, rates_version: &str) -> Option<&RateBook> {
        self.books
            .values()
            .flatten()
            .map(|version| &version.book)
            .find(|book| book.rates_version == rates_version)
    }

    /// Book names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.books.keys().map(String::as_str).collect()
    }

    /// Every version of `name`, oldest `effective` first; empty for an unknown book.
    pub fn versions(&self, name: &str) -> Vec<&RateBook> {
        self.books
            .get(name)
            .map(|versions| versions.iter().map(|version| &version.book).collect())
            .unwrap_or_default()
    }
}

/// Midnight starting `date` in the IANA zone `time_zone` (UTC if unknown), as an instant.
/// When midnight does not exist (a DST gap), the day starts at the first instant after it.
fn starts_at(date: NaiveDate, time_zone: &str) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    let Ok(zone) = chrono_tz::Tz::from_str(time_zone) else {
        return Utc.from_utc_datetime(&midnight);
    };
    let mut local = midnight;
    // A gap lasts at most a few hours; step through it by minutes, bounded.
    for _ in 0..(24 * 60) {
        if let Some(instant) = zone.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(1);
    }
    Utc.from_utc_datetime(&midnight)
}
