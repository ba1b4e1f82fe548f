//! Edge validation: ids, amounts, names. Everything a client sends is bounded here before
//! it reaches the ledger.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::problem::Problem;

/// Longest client id (operation, account, project, member, content, key id).
pub const MAX_ID_CHARS: usize = 128;
/// Most characters of client input echoed back in an error message.
const MAX_ECHO_CHARS: usize = 64;
/// Longest decimal amount accepted, in characters.
const MAX_AMOUNT_CHARS: usize = 40;

/// Render client input for an error message: truncated and with anything unprintable
/// escaped, so a 10 KB id or a control character never ends up in a response verbatim.
pub fn display_id(text: &str) -> String {
    let mut out = String::new();
    for (index, c) in text.chars().enumerate() {
        if index >= MAX_ECHO_CHARS {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// An id: 1 to 128 printable ASCII characters, no spaces.
///
/// # Errors
/// `invalid-input` naming `field`.
pub fn id(field: &str, value: &str) -> Result<(), Problem> {
    if value.is_empty() {
        return Err(Problem::invalid(format!("`{field}` must not be empty")).with("field", field));
    }
    if value.len() > MAX_ID_CHARS {
        return Err(Problem::invalid(format!(
            "`{field}` is {} characters long; ids are at most {MAX_ID_CHARS}",
            value.chars().count()
        ))
        .with("field", field));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::invalid(format!(
            "`{field}` `{}` may hold only printable ASCII characters, without spaces",
            display_id(value)
        ))
        .with("field", field));
    }
    Ok(())
}

/// An optional id.
///
/// # Errors
/// As [`id`].
pub fn optional_id(field: &str, value: Option<&str>) -> Result<(), Problem> {
    value.map_or(Ok(()), |value| id(field, value))
}

/// A bucket id as the balance lists it: 1 to 256 printable ASCII characters (bucket ids
/// embed a client id, percent-encoded, so they may be longer than ids).
///
/// # Errors
/// `invalid-input` naming `field`.
pub fn bucket(field: &str, value: &str) -> Result<(), Problem> {
    let max = credits_ledger::limits::MAX_ID_BYTES;
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::invalid(format!(
            "`{field}` must be 1 to {max} printable ASCII characters, as the balance lists bucket ids"
        ))
        .with("field", field));
    }
    Ok(())
}

/// A memo: free text of at most 512 bytes, without control characters but line breaks and
/// tabs.
///
/// # Errors
/// `invalid-input` naming `memo`.
pub fn memo(value: Option<&str>) -> Result<(), Problem> {
    let max = credits_ledger::limits::MAX_MEMO_BYTES;
    if let Some(memo) = value
        && (memo.len() > max
            || memo
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t')))
    {
        return Err(Problem::invalid(format!(
            "`memo` must be at most {max} bytes, without control characters but line breaks and tabs"
        ))
        .with("field", "memo"));
    }
    Ok(())
}

/// Longest name (feature, channel, unit, kind, package, reason, time zone, each half of a
/// plan reference): the rate language's own limit, so a book that checks names only what
/// requests may name.
pub use credits_dsl::limits::MAX_NAME_CHARS;

/// A name: 1 to 64 printable ASCII characters, no spaces.
///
/// # Errors
/// `invalid-input` naming `field`.
pub fn name(field: &str, value: &str) -> Result<(), Problem> {
    if value.len() > MAX_NAME_CHARS {
        return Err(Problem::invalid(format!(
            "`{field}` `{}` is too long; names are at most {MAX_NAME_CHARS} characters",
            display_id(value)
        ))
        .with("field", field));
    }
    id(field, value)
}

/// An optional name.
///
/// # Errors
/// As [`name`].
pub fn optional_name(field: &str, value: Option<&str>) -> Result<(), Problem> {
    value.map_or(Ok(()), |value| name(field, value))
}

/// A decimal amount that may be zero (a credit line), otherwise as [`positive_amount`].
///
/// # Errors
/// `invalid-input` naming `field`.
pub fn non_negative_amount(field: &str, raw: &RawValue) -> Result<Decimal, Problem> {
    match raw_text(raw) {
        Some(text) if is_plain_zero(&text) => Ok(Decimal::ZERO),
        _ => positive_amount(field, raw),
    }
}

/// `0`, `0.00`, `000`: a zero in plain decimal notation.
fn is_plain_zero(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b == b'0')
        && fraction.bytes().all(|b| b == b'0')
}

/// A positive decimal amount given as a JSON string (`"12.5"`) or number (`12.5`), in plain
/// decimal notation: no exponent, no sign, at most 40 characters.
///
/// # Errors
/// `invalid-input` naming `field`.
pub fn positive_amount(field: &str, raw: &RawValue) -> Result<Decimal, Problem> {
    let text = raw_text(raw);
    let bad = |why: &str| {
        Problem::invalid(format!("`{field}` {why}, e.g. `\"12.5\"`")).with("field", field)
    };
    let Some(text) = text else {
        return Err(bad("must be a decimal string"));
    };
    if text.is_empty() || text.len() > MAX_AMOUNT_CHARS {
        return Err(bad("must be a decimal of at most 40 characters"));
    }
    if text.starts_with('-') {
        return Err(Problem::invalid(format!(
            "`{field}` `{}` is negative; amounts must be positive",
            display_id(&text)
        ))
        .with("field", field));
    }
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    if !plain {
        return Err(Problem::invalid(format!(
            "`{field}` `{}` is not a plain decimal number",
            display_id(&text)
        ))
        .with("field", field));
    }
    let amount: Decimal = text.parse().map_err(|_| {
        Problem::invalid(format!(
            "`{field}` `{}` is too large or too precise",
            display_id(&text)
        ))
        .with("field", field)
    })?;
    if amount.is_zero() {
        return Err(
            Problem::invalid(format!("`{field}` must be greater than zero")).with("field", field),
        );
    }
    Ok(amount.normalize())
}

/// The text of a JSON string or number, `None` for anything else.
pub fn raw_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .ok()
            .map(|s| s.trim().to_owned())
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

/// A plan reference `<book>/<plan>`.
///
/// # Errors
/// `invalid-input` when it has not that shape.
pub fn plan_reference(value: &str) -> Result<(&str, &str), Problem> {
    let parts = value.split_once('/');
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= MAX_NAME_CHARS
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    match parts {
        Some((book, plan)) if ok(book) && ok(plan) => Ok((book, plan)),
        _ => Err(Problem::invalid(format!(
            "`plan` `{}` must read `<book>/<plan>`, e.g. `imentiv/professional`",
            display_id(value)
        ))
        .with("field", "plan")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("raw json")
    }

    #[test]
    fn amounts() {
        assert_eq!(
            positive_amount("amount", &raw("\"12.50\""))
                .unwrap()
                .to_string(),
            "12.5"
        );
        assert_eq!(
            positive_amount("amount", &raw("1000")).unwrap().to_string(),
            "1000"
        );
        for bad in [
            "\"-1\"", "-1", "1e400", "\"NaN\"", "\"1e3\"", "0", "\"\"", "true", "null", "\"1.\"",
        ] {
            assert!(positive_amount("amount", &raw(bad)).is_err(), "{bad}");
        }
        let forty = format!("\"{}\"", "9".repeat(40));
        assert!(positive_amount("amount", &raw(&forty)).is_err());
    }

    #[test]
    fn zero_credit_lines() {
        for zero in ["\"0\"", "0", "\"0.00\""] {
            assert!(
                non_negative_amount("credit_line", &raw(zero))
                    .unwrap()
                    .is_zero(),
                "{zero}"
            );
        }
        for bad in ["\"-0\"", "\"0.\"", "\".0\"", "\"\""] {
            assert!(
                non_negative_amount("credit_line", &raw(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids() {
        assert!(id("id", "op-1").is_ok());
        assert!(id("id", "").is_err());
        assert!(id("id", "a b").is_err());
        assert!(id("id", &"x".repeat(129)).is_err());
        assert!(id("id", "é").is_err());
    }

    #[test]
    fn long_input_is_not_echoed_whole() {
        assert!(display_id(&"x".repeat(10_000)).chars().count() <= 65);
        assert_eq!(display_id("a\nb"), "a\\nb");
    }

    /// A name a book may give is a name a request may carry, and one longer is refused by
    /// both: `credits rates check` never accepts a feature every request would be refused for.
    #[test]
    fn the_book_and_the_api_share_one_name_limit() {
        let book = |feature: &str| {
            credits_dsl::compile_source(
                "test.rates",
                &format!(
                    "book test\neffective 2025-01-01\nunit credit scale 2 round half-up\nfeature {feature} {{\n  base 1 credit each\n}}\n"
                ),
            )
        };
        let longest = format!("f{}", "x".repeat(MAX_NAME_CHARS - 1));
        assert!(book(&longest).is_ok());
        assert!(name("feature", &longest).is_ok());
        let longer = format!("{longest}x");
        assert!(book(&longer).is_err());
        assert!(name("feature", &longer).is_err());
        assert!(plan_reference(&format!("{longest}/{longest}")).is_ok());
        assert!(plan_reference(&format!("{longer}/pro")).is_err());
    }
}
