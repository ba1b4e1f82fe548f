//! The `credits` rate language: parse → check → compile `.rates` files into an immutable
//! [`RateBook`], and rate usages with it.
//!
//! Architecture invariant: this crate does no I/O (no files, clock, network or randomness).
//! Callers hand it source text and a name; it hands back a book or diagnostics. See
//! `LANGUAGE.md` for the language itself.

pub mod ast;
pub mod book;
pub mod check;
pub mod compatibility;
pub mod compile;
mod describe;
pub mod diagnostics;
pub mod diff;
mod exact;
pub mod expect;
pub mod fmt;
pub mod library;
pub mod limits;
pub mod literal;
pub mod localtime;
pub mod money;
pub mod outcomes;
pub mod parse;
pub mod rate;
pub mod scenario;
pub mod usage;

pub use book::*;

pub use compile::{CompileOptions, compile_source, compile_source_with};
pub use diagnostics::{BookError, Diagnostics};
pub use fmt::format_source;
pub use library::{BookVersions, RateLibrary};
pub use money::{Money, TopUpRules, UnitAmount, currency_minor_units};
pub use outcomes::{JobOutcome, OutcomeCharge, OutcomeRule};
