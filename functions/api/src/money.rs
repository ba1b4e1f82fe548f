//! Amounts at the edge: decimal strings in, integer minor units inside, decimal strings out
//! (always at the unit's scale, so `12.50` and never `12.5` for a unit of scale 2).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use credits_dsl::RateBook;
use credits_ledger::limits::MAX_AMOUNT_MINOR;

use crate::problem::Problem;
use crate::validate::display_id;

/// The scale of `unit` in `book` (0 for a unit the book does not know, which only happens
/// for entries written under an older book).
pub fn scale(book: &RateBook, unit: &str) -> u32 {
    book.unit(unit).map_or(0, |unit| unit.scale)
}

/// Minor units as a decimal string at the unit's scale.
pub fn format_minor(book: &RateBook, unit: &str, minor: i64) -> String {
    Decimal::try_new(minor, scale(book, unit)).map_or_else(|_| minor.to_string(), |d| d.to_string())
}

/// A unit the book knows, or the book's only unit when none is named.
///
/// # Errors
/// `invalid-input` for an unknown unit, or no unit named in a book of several.
pub fn resolve_unit(book: &RateBook, field: &str, unit: Option<&str>) -> Result<String, Problem> {
    let names = || {
        book.units
            .iter()
            .map(|unit| format!("`{}`", unit.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match unit {
        Some(name) => match book.unit(name) {
            Some(unit) => Ok(unit.name.clone()),
            None => Err(Problem::invalid(format!(
                "`{}` is not a unit of `{}`; its units are: {}",
                display_id(name),
                book.name,
                names()
            ))
            .with("field", field)),
        },
        None => match book.units.as_slice() {
            [only] => Ok(only.name.clone()),
            _ => Err(Problem::invalid(format!(
                "name the `{field}`: `{}` has several units: {}",
                book.name,
                names()
            ))
            .with("field", field)),
        },
    }
}

/// A positive decimal amount of `unit` in minor units.
///
/// # Errors
/// `invalid-input` when it has more decimals than the unit's scale or is too large.
pub fn to_minor(book: &RateBook, field: &str, unit: &str, amount: Decimal) -> Result<i64, Problem> {
    let scale = scale(book, unit);
    let too_large = || {
        Problem::invalid(format!(
            "`{field}` `{amount}` {unit} is too large; the most one operation may move is {}",
            format_minor(book, unit, MAX_AMOUNT_MINOR)
        ))
        .with("field", field)
    };
    let factor = 10_i64.checked_pow(scale).ok_or_else(too_large)?;
    let minor = amount
        .checked_mul(Decimal::from(factor))
        .ok_or_else(too_large)?;
    if !minor.fract().is_zero() {
        return Err(Problem::invalid(format!(
            "`{field}` `{}` has more decimals than `{unit}` keeps ({scale})",
            display_id(&amount.to_string())
        ))
        .with("field", field));
    }
    let minor = minor.to_i64().ok_or_else(too_large)?;
    if minor > MAX_AMOUNT_MINOR {
        return Err(too_large());
    }
    Ok(minor)
}
