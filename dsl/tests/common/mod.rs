//! What the rate language's diagnostic tests share: rendering a diagnostic as the snapshots
//! show it, and compiling a source that must be refused.
//!
//! Each test binary uses part of it, so unused items are allowed here.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use credits_dsl::{Diagnostics, compile_source};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// A case's source: `raw` after `head` when it starts with `+`, else `raw` whole.
pub fn source_of(head: &str, raw: &str) -> String {
    match raw.strip_prefix('+') {
        Some(rest) => format!("{head}{rest}"),
        None => raw.to_owned(),
    }
}

/// The diagnostic as a user's terminal shows it, without colours, 100 columns wide.
pub fn render(diagnostic: &dyn Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, diagnostic)
        .unwrap();
    out
}

/// What compiling `source` as `test.rates` reports; the test fails if it compiles.
pub fn diagnostics(source: &str) -> Diagnostics {
    diagnostics_of("test.rates", source)
}

/// What compiling `source` as `file_name` reports; the test fails if it compiles.
pub fn diagnostics_of(file_name: &str, source: &str) -> Diagnostics {
    match compile_source(file_name, source) {
        Ok(_) => panic!("{file_name} compiled but should not:\n{source}"),
        Err(diagnostics) => diagnostics,
    }
}
