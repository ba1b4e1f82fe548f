//! Modifiers on a feature's amount: `multiply by NUMBER [when COND]` and
//! `add NUMBER% [when COND]`, lowered to one factor each.

use super::*;

fn factor_error(message: String, span: Span, label: &str, help: String) -> BookError {
    BookError::InvalidFactor {
        message,
        span: span.into(),
        label: label.to_owned(),
        help,
    }
}

impl<'a> Checker<'a> {
    /// The factor of a modifier and the masks of its condition; `None` when it is wrong
    /// (reported).
    pub(super) fn factor_decl(
        &mut self,
        scope: &Scope<'_>,
        decl: &ast::FactorDecl<'_>,
        span: Span,
    ) -> Option<(Factor, Vec<u64>)> {
        let resolved = self.condition(scope, decl.when.as_ref());
        let (token, percent) = match decl.value {
            ast::FactorValue::Times(token) => (token, false),
            ast::FactorValue::Percent(token) => (token, true),
        };
        let number = self.number(token)?;
        let factor = if percent {
            number
                .checked_div(Decimal::ONE_HUNDRED)
                .and_then(|share| share.checked_add(Decimal::ONE))?
        } else {
            number
        };
        let limit = Decimal::from(MAX_FACTOR);
        if factor <= Decimal::ZERO {
            let (message, help) = if percent {
                (
                    format!("`add {}%` leaves nothing to charge", token.text),
                    "a discount leaves something to pay, such as `add -20% when annual`; a free case is a `base 0 credit each` line with its `when`".to_owned(),
                )
            } else if factor.is_zero() {
                (
                    "a factor of zero charges nothing".to_owned(),
                    "a factor is above zero, such as `multiply by 0.5 when batch`; a free case is a `base 0 credit each` line with its `when`".to_owned(),
                )
            } else {
                (
                    format!("the factor `{}` is negative", token.text),
                    "a factor is above zero, such as `multiply by 0.5 when batch` or `multiply by 2 when priority`; a discount is `add -20% when annual`".to_owned(),
                )
            };
            self.push(factor_error(message, token.span, "not above zero", help));
            return None;
        }
        if factor > limit {
            let shown = if percent {
                format!("`add {}%` multiplies by {}", token.text, factor.normalize())
            } else {
                format!("the factor `{}`", token.text)
            };
            self.push(factor_error(
                format!("{shown} is more than {MAX_FACTOR}"),
                token.span,
                "too large",
                format!(
                    "a factor is at most {MAX_FACTOR} (`add {}%`); a case that costs that much more is a price of its own: write a `base` line or a table row for it",
                    (MAX_FACTOR - 1) * 100
                ),
            ));
            return None;
        }
        let resolved = resolved?;
        Some((
            Factor {
                factor: factor.normalize(),
                when: resolved.condition,
                source: crate::fmt::factor_text(decl),
                line: u32::try_from(self.line(span.start)).unwrap_or(u32::MAX),
            },
            resolved.masks,
        ))
    }
}
