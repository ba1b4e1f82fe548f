//! TEMPORARY stand-in for `credits_dsl::library::RateLibrary` until it lands; same shape.

use chrono::{DateTime, Utc};
use credits_dsl::RateBook;

#[derive(Debug, Clone, Default)]
pub struct RateLibrary {
    books: Vec<RateBook>,
}

impl RateLibrary {
    pub fn from_books(mut books: Vec<RateBook>) -> Self {
        books.sort_by(|a, b| (a.name.as_str(), a.effective).cmp(&(b.name.as_str(), b.effective)));
        Self { books }
    }

    pub fn book_at(&self, name: &str, at: DateTime<Utc>) -> Option<&RateBook> {
        let day = at.date_naive();
        self.books
            .iter()
            .filter(|book| book.name == name && book.effective <= day)
            .last()
    }

    pub fn latest(&self, name: &str) -> Option<&RateBook> {
        self.books.iter().filter(|book| book.name == name).last()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.books.iter().map(|book| book.name.as_str()).collect();
        names.dedup();
        names.into_iter()
    }
}
