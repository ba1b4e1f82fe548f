//! Reporting: where a diagnostic goes and the messages several checks share.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn push(&mut self, error: BookError) {
        self.errors.push(error);
    }

    /// 1-based line of a byte offset.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset)
    }

    pub(super) fn duplicate(&mut self, what: &'static str, name: &str, first: Span, second: Span) {
        self.push(BookError::Duplicate {
            what,
            name: name.to_owned(),
            first: first.into(),
            second: second.into(),
        });
    }

    pub(super) fn unknown_channel(&mut self, token: Token<'_>, channels: &[&str]) {
        let help = did_you_mean(token.text, channels.iter().copied(), || {
            format!("the channels are {}", backticked_and(channels))
        });
        self.push(BookError::UnknownWord {
            what: "channel",
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
    }

    pub(super) fn repeated(&mut self, message: String, first: Span, second: Span, help: String) {
        self.push(BookError::Repeated {
            message,
            first: first.into(),
            second: second.into(),
            help,
        });
    }

    pub(super) fn invalid_statement(
        &mut self,
        span: Span,
        message: String,
        label: &str,
        help: String,
    ) {
        self.push(BookError::InvalidStatement {
            message,
            span: span.into(),
            label: label.to_owned(),
            help,
        });
    }

    // ---- Numbers ------------------------------------------------------------------------------
}
