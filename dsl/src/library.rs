//! Every version of every book, and the choice of the version in force at a time.
//!
//! Several files may hold one book with different `effective` dates (`imini.rates`,
//! `imini@2026-12-01.rates`); a charge at time `t` is rated by the version with the latest
//! `effective` ≤ `t`, the effective day starting at midnight in the book's time zone.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::book::RateBook;
pub use crate::compatibility::{Incompatibility, VersionFile, compatibility};
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
    /// Compiles every file (`(file name, source)`), gathers the books, and checks each
    /// version of a book against the one before it ([`compatibility`]). This is the only way
    /// to build a library, so nothing serves a version that accounts cannot follow.
    ///
    /// # Errors
    /// The diagnostics of every file that does not compile, of every file holding a version
    /// of a book whose `effective` date another file already holds, and of every version that
    /// changes what the version before it stored (over the later file).
    pub fn from_sources(files: Vec<(String, String)>) -> Result<RateLibrary, Vec<Diagnostics>> {
        Self::from_sources_with(files, CompileOptions::default())
    }

    /// As [`RateLibrary::from_sources`], compiling with `options`: `credits rates test`
    /// runs a book's scenarios on a library that does not hold its examples against it
    /// (each failing example is reported on its own).
    ///
    /// # Errors
    /// As [`RateLibrary::from_sources`].
    pub fn from_sources_with(
        files: Vec<(String, String)>,
        options: CompileOptions,
    ) -> Result<RateLibrary, Vec<Diagnostics>> {
        let mut failures = Vec::new();
        let mut books: BTreeMap<String, Vec<(Version, usize)>> = BTreeMap::new();
        for (index, (file_name, source)) in files.iter().enumerate() {
            match compile_with_spans(file_name, source, options) {
                Err(errors) => failures.push(Diagnostics::new(file_name, source, errors)),
                Ok((book, effective_span)) => {
                    let versions = books.entry(book.name.clone()).or_default();
                    let same = versions
                        .iter()
                        .find(|(version, _)| version.book.effective == book.effective);
                    if let Some((_, other)) = same {
                        let error = BookError::SameEffective {
                            book: book.name.clone(),
                            effective: book.effective.to_string(),
                            other_file: files
                                .get(*other)
                                .map(|(name, _)| name.clone())
                                .unwrap_or_default(),
                            span: effective_span.into(),
                        };
                        failures.push(Diagnostics::new(file_name, source, vec![error]));
                        continue;
                    }
                    let starts_at = starts_at(book.effective, &book.time_zone);
                    versions.push((Version { starts_at, book }, index));
                }
            }
        }
        let mut library = BTreeMap::new();
        for (name, mut versions) in books {
            versions.sort_by_key(|(version, _)| (version.book.effective, version.starts_at));
            failures.extend(incompatible_versions(&files, &versions));
            let versions = versions.into_iter().map(|(version, _)| version).collect();
            library.insert(name, versions);
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        Ok(RateLibrary { books: library })
    }

    /// The version of `name` in force at `at`: the latest whose effective day has begun.
    pub fn book_at(&self, name: &str, at: DateTime<Utc>) -> Option<&RateBook> {
        self.book_versions(name)?.in_force(at)
    }

    /// Every version of `name` with the instant each takes effect, for the ledger to bring
    /// an account through them; `None` for an unknown book.
    pub fn book_versions(&self, name: &str) -> Option<BookVersions<'_>> {
        let all = self.books.get(name)?;
        let first = all.first()?;
        Some(BookVersions(Versions::Library { first, all }))
    }

    /// The version of `name` with the latest `effective` date.
    pub fn latest(&self, name: &str) -> Option<&RateBook> {
        self.books.get(name)?.last().map(|version| &version.book)
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

/// The versions of one book, oldest first, each in force from the first instant of its
/// `effective` day (in the book's time zone) until the next one starts. The ledger reads
/// them to materialise every instant of an idle account with the version in force then,
/// and decides the command itself with the version in force at `now`. Never empty.
#[derive(Debug, Clone, Copy)]
pub struct BookVersions<'a>(Versions<'a>);

#[derive(Debug, Clone, Copy)]
enum Versions<'a> {
    /// A library's versions of one book, sorted by start; `first` is the first of `all`.
    Library {
        first: &'a Version,
        all: &'a [Version],
    },
    /// One book in force at every instant.
    Single(&'a RateBook),
}

impl<'a> BookVersions<'a> {
    /// `book` alone, in force at every instant: a book with one version.
    pub fn single(book: &'a RateBook) -> Self {
        BookVersions(Versions::Single(book))
    }

    /// The version in force at `at`, as [`RateLibrary::book_at`] chooses it: `None` before
    /// the first version's effective day.
    pub fn in_force(&self, at: DateTime<Utc>) -> Option<&'a RateBook> {
        match self.0 {
            Versions::Single(book) => Some(book),
            Versions::Library { all, .. } => {
                let started = all.partition_point(|version| version.starts_at <= at);
                started
                    .checked_sub(1)
                    .and_then(|index| all.get(index))
                    .map(|version| &version.book)
            }
        }
    }

    /// The version in force at `at`, or the first version before any is in force (an
    /// instant earlier than every `effective` day can only come from clock skew).
    pub fn at(&self, at: DateTime<Utc>) -> &'a RateBook {
        match self.0 {
            Versions::Single(book) => book,
            Versions::Library { first, .. } => self.in_force(at).unwrap_or(&first.book),
        }
    }

    /// The first instant after `after` at which another version takes effect, if any.
    pub fn next_start_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.0 {
            Versions::Single(_) => None,
            Versions::Library { all, .. } => {
                let started = all.partition_point(|version| version.starts_at <= after);
                all.get(started).map(|version| version.starts_at)
            }
        }
    }

    /// The book's name (every version has the same).
    pub fn name(&self) -> &'a str {
        match self.0 {
            Versions::Single(book) => &book.name,
            Versions::Library { first, .. } => &first.book.name,
        }
    }
}

/// The diagnostics of each version (sorted by `effective`) that the version before it
/// cannot be followed by, one [`Diagnostics`] per refused file.
fn incompatible_versions(
    files: &[(String, String)],
    versions: &[(Version, usize)],
) -> Vec<Diagnostics> {
    fn file<'a>(
        files: &'a [(String, String)],
        (version, index): &'a (Version, usize),
    ) -> Option<VersionFile<'a>> {
        files.get(*index).map(|(file_name, source)| VersionFile {
            file_name,
            source,
            book: &version.book,
        })
    }
    let mut failures = Vec::new();
    for pair in versions.windows(2) {
        let (Some(earlier), Some(later)) = (
            pair.first().and_then(|version| file(files, version)),
            pair.get(1).and_then(|version| file(files, version)),
        ) else {
            continue;
        };
        let errors: Vec<BookError> = compatibility(&earlier, &later)
            .into_iter()
            .map(|incompatibility| BookError::Incompatible(Box::new(incompatibility)))
            .collect();
        if !errors.is_empty() {
            failures.push(Diagnostics::new(later.file_name, later.source, errors));
        }
    }
    failures
}

/// The first instant of `date` in the IANA zone `time_zone` (UTC if unknown), resolved as
/// everywhere else (`localtime`): a day whose midnight does not exist starts when the clock
/// resumes.
fn starts_at(date: NaiveDate, time_zone: &str) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    chrono_tz::Tz::from_str(time_zone)
        .ok()
        .and_then(|zone| crate::localtime::local_start_of_day(date, zone))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            // Files only: `rates/examples/` holds example books, not versions of these.
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "rates")
            })
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_rates_directory_loads() {
        let library = RateLibrary::from_sources(rates()).unwrap();
        assert_eq!(
            library.names(),
            ["ai-engine", "imagineart", "imentiv", "imini", "invideo"]
        );
        let versions = library.versions("imini");
        assert_eq!(versions.len(), 2);
        assert!(versions[0].effective < versions[1].effective);
        assert!(library.versions("nope").is_empty());
    }

    #[test]
    fn a_charge_is_rated_by_the_version_in_force() {
        let library = RateLibrary::from_sources(rates()).unwrap();
        let version = |time: &str| {
            library
                .book_at("imini", at(time))
                .map(|book| book.effective.to_string())
        };
        assert_eq!(version("2024-12-31T23:59:59Z"), None);
        assert_eq!(
            version("2025-01-01T00:00:00Z").as_deref(),
            Some("2025-01-01")
        );
        assert_eq!(
            version("2026-11-30T23:59:59Z").as_deref(),
            Some("2025-01-01")
        );
        assert_eq!(
            version("2026-12-01T00:00:00Z").as_deref(),
            Some("2026-12-01")
        );
        assert_eq!(
            version("2030-01-01T00:00:00Z").as_deref(),
            Some("2026-12-01")
        );
        let latest = library.latest("imini").unwrap();
        assert_eq!(latest.effective.to_string(), "2026-12-01");
        assert_eq!(library.by_version(&latest.rates_version), Some(latest));
        assert!(
            library
                .book_at("nope", at("2030-01-01T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn the_versions_of_a_book_choose_as_book_at_does() {
        let library = RateLibrary::from_sources(rates()).unwrap();
        let versions = library.book_versions("imini").unwrap();
        assert_eq!(versions.name(), "imini");
        for time in [
            "2024-12-31T23:59:59Z",
            "2025-01-01T00:00:00Z",
            "2026-11-30T23:59:59Z",
            "2026-12-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ] {
            assert_eq!(
                versions.in_force(at(time)),
                library.book_at("imini", at(time))
            );
        }
        // Before the first version, the first (only clock skew can ask).
        let first = versions.at(at("2024-12-31T23:59:59Z"));
        assert_eq!(first.effective.to_string(), "2025-01-01");
        assert_eq!(
            versions.next_start_after(at("2025-06-01T00:00:00Z")),
            Some(at("2026-12-01T00:00:00Z"))
        );
        assert_eq!(versions.next_start_after(at("2026-12-01T00:00:00Z")), None);
        assert!(library.book_versions("nope").is_none());
        let single = BookVersions::single(first);
        assert_eq!(single.at(at("2030-01-01T00:00:00Z")), first);
        assert_eq!(single.next_start_after(at("2000-01-01T00:00:00Z")), None);
    }

    #[test]
    fn a_version_starts_at_midnight_in_the_books_time_zone() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(starts_at(date, "UTC"), at("2026-12-01T00:00:00Z"));
        assert_eq!(starts_at(date, "Europe/Paris"), at("2026-11-30T23:00:00Z"));
        assert_eq!(
            starts_at(date, "America/New_York"),
            at("2026-12-01T05:00:00Z")
        );
        // São Paulo skipped midnight on 2018-11-04 (clocks went from 00:00 to 01:00).
        let gap = NaiveDate::from_ymd_opt(2018, 11, 4).unwrap();
        assert_eq!(
            starts_at(gap, "America/Sao_Paulo"),
            at("2018-11-04T03:00:00Z")
        );
    }

    #[test]
    fn two_files_of_one_book_need_different_dates() {
        let mut files = rates();
        let (_, source) = files
            .iter()
            .find(|(name, _)| name == "imini.rates")
            .unwrap()
            .clone();
        files.push(("imini@2025-01-01.rates".to_owned(), source));
        let errors = RateLibrary::from_sources(files).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file_name(), "imini@2025-01-01.rates");
        assert!(matches!(
            errors[0].errors(),
            [BookError::SameEffective { .. }]
        ));
    }
}
