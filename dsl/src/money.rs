//! Money attached to credits: package prices in a currency, and what a top-up must be.
//!
//! A price is exact: integer minor units of its currency (two for `USD`, none for `JPY`,
//! three for `KWD`, as ISO 4217 states), never a float. The currencies the language knows
//! are [`CURRENCIES`]; a book naming another is refused at check time.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// ISO 4217 codes the language accepts, with their minor units (digits after the point).
pub const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// The minor units of an ISO 4217 currency the language knows.
pub fn currency_minor_units(code: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, digits)| *digits)
}

/// An exact amount of money: `amount_minor` minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code (`USD`).
    pub currency: String,
    /// In the currency's minor units (cents for `USD`).
    pub amount_minor: i64,
}

impl Money {
    /// The amount as a decimal with the currency's minor digits (`10.00`); `None` for a
    /// currency the language does not know.
    pub fn decimal(&self) -> Option<Decimal> {
        let digits = currency_minor_units(&self.currency)?;
        Some(Decimal::new(self.amount_minor, digits))
    }

    /// `10.00 USD`.
    pub fn display(&self) -> String {
        match self.decimal() {
            Some(amount) => format!("{amount} {}", self.currency),
            None => format!("{} minor {}", self.amount_minor, self.currency),
        }
    }
}

/// An amount of one unit, in its minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAmount {
    pub unit: String,
    pub amount_minor: i64,
}

/// `topup minimum …, step …, packages only`: what a top-up of the plan must be. The
/// default (nothing stated) accepts any positive amount and any package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpRules {
    /// A free amount of this unit below it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<UnitAmount>,
    /// A free amount of this unit must be a whole multiple of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<UnitAmount>,
    /// A top-up must name a package; free amounts are refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub packages_only: bool,
}

impl TopUpRules {
    pub fn is_default(&self) -> bool {
        *self == TopUpRules::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_keep_their_currency_digits() {
        let cases = [
            ("USD", 1000, "10.00 USD"),
            ("JPY", 1500, "1500 JPY"),
            ("KWD", 1250, "1.250 KWD"),
        ];
        for (currency, amount_minor, shown) in cases {
            let money = Money {
                currency: currency.to_owned(),
                amount_minor,
            };
            assert_eq!(money.display(), shown);
        }
    }

    #[test]
    fn the_currency_list_is_sorted_and_unique() {
        let codes: Vec<&str> = CURRENCIES.iter().map(|(code, _)| *code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }
}
