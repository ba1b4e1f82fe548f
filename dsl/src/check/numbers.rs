//! Numbers, amounts, whole counts, quantities and minor units read from tokens.

use super::*;

impl<'a> Checker<'a> {
    /// Reads a plain number (`12000`, `0.25`, `1_000_000`) within the digit limits.
    pub(super) fn number(&mut self, token: Token<'_>) -> Option<Decimal> {
        let text = token.text;
        let invalid = |reason: &'static str, help: &str| BookError::InvalidNumber {
            text: text.to_owned(),
            reason,
            span: token.span.into(),
            help: help.to_owned(),
        };
        let digits_help = crate::literal::DIGITS_HELP;
        if text.contains(['e', 'E']) {
            self.push(invalid(
                "numbers are written without exponents",
                "write the number out in full, such as `150000` instead of `1.5e5`",
            ));
            return None;
        }
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let count = |part: &str| part.chars().filter(char::is_ascii_digit).count();
        if count(integer) > MAX_INTEGER_DIGITS {
            self.push(invalid("too many digits before the point", digits_help));
            return None;
        }
        if count(fraction) > MAX_DECIMAL_DIGITS {
            self.push(invalid("too many digits after the point", digits_help));
            return None;
        }
        if count(integer.trim_start_matches(['0', '_'])) + count(fraction)
            > crate::limits::MAX_SIGNIFICANT_DIGITS
        {
            self.push(invalid("more than 28 digits in all", digits_help));
            return None;
        }
        let value = if text.contains('_') {
            Decimal::from_str_exact(&text.replace('_', ""))
        } else {
            Decimal::from_str_exact(text)
        };
        match value {
            Ok(value) => Some(value.normalize()),
            Err(_) => {
                self.push(invalid("too many significant digits", digits_help));
                None
            }
        }
    }

    /// A number that must not be negative (and, if `positive`, not zero either).
    pub(super) fn amount(
        &mut self,
        token: Token<'_>,
        positive: bool,
        what: &str,
    ) -> Option<Decimal> {
        let value = self.number(token)?;
        if value.is_sign_negative() && !value.is_zero() {
            self.push(BookError::OutOfRange {
                text: token.text.to_owned(),
                reason: format!("{what} cannot be negative"),
                span: token.span.into(),
                help: format!("write {what} as zero or more"),
            });
            return None;
        }
        if positive && value.is_zero() {
            self.push(BookError::OutOfRange {
                text: token.text.to_owned(),
                reason: format!("{what} must be more than zero"),
                span: token.span.into(),
                help: format!("write {what} as a number above zero"),
            });
            return None;
        }
        Some(value)
    }

    /// A whole number within `min..=max`.
    pub(super) fn whole(
        &mut self,
        token: Token<'_>,
        min: u64,
        max: u64,
        what: &str,
    ) -> Option<u64> {
        let value = self.number(token)?;
        let whole = if value.fract().is_zero() {
            u64::try_from(value.mantissa()).ok().and_then(|mantissa| {
                10u64
                    .checked_pow(value.scale())
                    .map(|divisor| mantissa / divisor)
            })
        } else {
            None
        };
        match whole {
            Some(whole) if (min..=max).contains(&whole) => Some(whole),
            _ => {
                self.push(BookError::OutOfRange {
                    text: token.text.to_owned(),
                    reason: format!("{what} is a whole number from {min} to {max}"),
                    span: token.span.into(),
                    help: format!("write {what} as a whole number from {min} to {max}"),
                });
                None
            }
        }
    }

    /// Reads a quantity literal of an input kind, in its base unit.
    pub(super) fn quantity(
        &mut self,
        kind: &InputKind,
        token: Token<'_>,
        label: &str,
    ) -> Option<Decimal> {
        match parse_quantity(kind, token.text) {
            Ok(value) => Some(value),
            Err(error) => {
                let help = miette::Diagnostic::help(&error).map(|help| help.to_string());
                self.push(BookError::InvalidQuantity {
                    message: error.to_string(),
                    span: token.span.into(),
                    label: label.to_owned(),
                    help,
                });
                None
            }
        }
    }

    /// An amount in a unit's minor units (`12000 credit` → 1_200_000 at scale 2).
    pub(super) fn minor(
        &mut self,
        amount: &ast::Amount<'_>,
        unit: UnitRef<'_>,
        positive: bool,
    ) -> Option<i64> {
        let value = self.amount(amount.number, positive, "the amount")?;
        match to_minor(value, unit.scale) {
            Some(minor) => Some(minor),
            None if value.normalize().scale() > unit.scale => {
                let step = Decimal::new(1, unit.scale);
                self.push(BookError::AmountTooFine {
                    text: format!("{} {}", amount.number.text, amount.unit.text),
                    unit: unit.name.to_owned(),
                    span: amount.span.into(),
                    scale: unit.scale,
                    help: format!(
                        "`{}` is kept to {} decimals: write a multiple of `{step}`, or raise the unit's `scale`",
                        unit.name, unit.scale
                    ),
                });
                None
            }
            None => {
                self.push(BookError::OutOfRange {
                    text: format!("{} {}", amount.number.text, amount.unit.text),
                    reason: "it is too large to store".to_owned(),
                    span: amount.span.into(),
                    help: "write a smaller amount".to_owned(),
                });
                None
            }
        }
    }

    // ---- Names ----------------------------------------------------------------------------
}
