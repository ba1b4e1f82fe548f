//! Exact fractions for rating: an amount is carried as `numerator / denominator` in `i128`
//! from the first price to the one rounding the book states.
//!
//! A `rust_decimal` quotient keeps 28 digits: `1/3` becomes `0.333…3` and `2/3` becomes
//! `0.666…7`, and a later `× 3` turns them into `0.999…9` and `2.000…1`, which `round down`
//! and `round up` then move by a whole minor unit. A fraction divides nothing until the end,
//! where one integer division with its remainder decides the rounding exactly. Every
//! operation is checked: a value too large for `i128` is `None` (an overflow), never a
//! rounded result.

use rust_decimal::Decimal;

use crate::book::RoundingMode;
use crate::rate::strategy;

/// `numerator / denominator`, with `denominator > 0`. Not kept reduced: reducing costs a
/// greatest common divisor, so it is done only when a product would not fit otherwise.
/// No `PartialEq`: `1/2` and `2/4` are the same value but not the same fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fraction {
    numerator: i128,
    denominator: i128,
}

impl Fraction {
    pub(crate) const ZERO: Fraction = Fraction {
        numerator: 0,
        denominator: 1,
    };

    /// The decimal's exact value: its mantissa over 10^scale (the scale is at most 28, and
    /// 10^28 fits in `i128`).
    #[inline]
    pub(crate) fn from_decimal(value: Decimal) -> Option<Fraction> {
        Some(Fraction {
            numerator: value.mantissa(),
            denominator: power_of_ten(value.scale())?,
        })
    }

    pub(crate) fn whole(value: i128) -> Fraction {
        Fraction {
            numerator: value,
            denominator: 1,
        }
    }

    #[inline]
    pub(crate) fn checked_mul(self, other: Fraction) -> Option<Fraction> {
        if let (Some(numerator), Some(denominator)) = (
            multiply(self.numerator, other.numerator),
            multiply(self.denominator, other.denominator),
        ) {
            return Some(Fraction {
                numerator,
                denominator,
            });
        }
        // Cross-reducing first leaves the product in lowest terms: it fits whenever the
        // exact result does.
        let left = self.reduced();
        let right = other.reduced();
        let first = gcd(left.numerator, right.denominator);
        let second = gcd(right.numerator, left.denominator);
        Some(Fraction {
            numerator: multiply(left.numerator / first, right.numerator / second)?,
            denominator: multiply(left.denominator / second, right.denominator / first)?,
        })
    }

    /// `self ÷ other`; `None` when `other` is zero.
    pub(crate) fn checked_div(self, other: Fraction) -> Option<Fraction> {
        if other.numerator == 0 {
            return None;
        }
        let reciprocal = if other.numerator < 0 {
            Fraction {
                numerator: other.denominator.checked_neg()?,
                denominator: other.numerator.checked_neg()?,
            }
        } else {
            Fraction {
                numerator: other.denominator,
                denominator: other.numerator,
            }
        };
        self.checked_mul(reciprocal)
    }

    pub(crate) fn checked_add(self, other: Fraction) -> Option<Fraction> {
        // Amounts of one feature mostly share a denominator (a power of ten, or `per`), and
        // a total starts at zero.
        if self.denominator == other.denominator {
            return Some(Fraction {
                numerator: self.numerator.checked_add(other.numerator)?,
                denominator: self.denominator,
            });
        }
        if self.numerator == 0 {
            return Some(other);
        }
        let cross = |left: Fraction, right: Fraction| {
            Some(Fraction {
                numerator: multiply(left.numerator, right.denominator)?
                    .checked_add(multiply(right.numerator, left.denominator)?)?,
                denominator: multiply(left.denominator, right.denominator)?,
            })
        };
        if let Some(sum) = cross(self, other) {
            return Some(sum);
        }
        let left = self.reduced();
        let right = other.reduced();
        let common = gcd(left.denominator, right.denominator);
        let left_factor = right.denominator / common;
        let right_factor = left.denominator / common;
        let sum = Fraction {
            numerator: left
                .numerator
                .checked_mul(left_factor)?
                .checked_add(right.numerator.checked_mul(right_factor)?)?,
            denominator: left.denominator.checked_mul(left_factor)?,
        };
        Some(sum.reduced())
    }

    /// The nearest multiple of `precision` in `mode`, exactly, and whether that is the value
    /// itself (nothing was rounded away). `None` on overflow or a precision not above zero.
    pub(crate) fn round_to(
        self,
        precision: Decimal,
        mode: RoundingMode,
    ) -> Option<(Decimal, bool)> {
        // Two bit tests, not a decimal comparison: this runs once per unit per rating.
        if precision.is_sign_negative() || precision.is_zero() {
            return None;
        }
        // The common case, a decimal value rounded to decimal places, is exact in
        // `rust_decimal` itself and needs no division.
        if let Some(value) = self.as_decimal() {
            let places = if precision.mantissa() == 1 {
                Some(precision.scale())
            } else {
                let normalized = precision.normalize();
                (normalized.mantissa() == 1).then(|| normalized.scale())
            };
            if let Some(places) = places {
                let rounded = value.round_dp_with_strategy(places, strategy(mode));
                // Few enough places is untouched; comparing decimals costs a rescale.
                let exact = value.scale() <= places || rounded == value;
                return Some((rounded, exact));
            }
        }
        let step = Fraction::from_decimal(precision)?;
        let (steps, exact) = self.checked_div(step)?.round_whole(mode)?;
        // steps × precision as mantissa and scale: a product, so exact or an overflow.
        let mantissa = steps.checked_mul(precision.mantissa())?;
        let rounded = Decimal::try_from_i128_with_scale(mantissa, precision.scale()).ok()?;
        Some((rounded, exact))
    }

    /// The value as a decimal when it is one exactly: a denominator of 10^k (what every
    /// product of decimals has) and a numerator that fits a decimal's mantissa.
    fn as_decimal(self) -> Option<Decimal> {
        let denominator = u64::try_from(self.denominator).ok()?;
        // 10^k is 2^k × 5^k: k is its number of trailing zero bits.
        let places = denominator.trailing_zeros();
        if power_of_ten(places)? != i128::from(denominator) {
            return None;
        }
        Decimal::try_from_i128_with_scale(self.numerator, places).ok()
    }

    /// The whole number nearest to the fraction in `mode`, and whether it is the fraction.
    pub(crate) fn round_whole(self, mode: RoundingMode) -> Option<(i128, bool)> {
        if self.denominator == 1 {
            return Some((self.numerator, true));
        }
        // A 128-bit division is a library call; most amounts fit the machine's 64 bits.
        let (quotient, remainder) = match (
            i64::try_from(self.numerator),
            i64::try_from(self.denominator),
        ) {
            (Ok(numerator), Ok(denominator)) => (
                i128::from(numerator / denominator),
                i128::from(numerator % denominator),
            ),
            _ => (
                self.numerator / self.denominator,
                self.numerator % self.denominator,
            ),
        };
        if remainder == 0 {
            return Some((quotient, true));
        }
        // The remainder has the numerator's sign; the denominator is positive.
        let away = quotient.checked_add(self.numerator.signum())?;
        let rest = remainder.unsigned_abs();
        let other_side = self.denominator.unsigned_abs() - rest;
        let half = rest.cmp(&other_side);
        let rounded = match mode {
            RoundingMode::Up => away,
            RoundingMode::Down => quotient,
            RoundingMode::HalfUp | RoundingMode::HalfDown | RoundingMode::HalfEven => match half {
                std::cmp::Ordering::Less => quotient,
                std::cmp::Ordering::Greater => away,
                std::cmp::Ordering::Equal => match mode {
                    RoundingMode::HalfDown => quotient,
                    RoundingMode::HalfEven if quotient % 2 == 0 => quotient,
                    _ => away,
                },
            },
        };
        Some((rounded, false))
    }

    /// The value as a decimal, for explanations only: exact when it has at most 28 decimals
    /// and fits, else cut to what a decimal holds. `None` when its whole part does not fit.
    pub(crate) fn to_decimal(self) -> Option<Decimal> {
        if let Some(exact) = self.as_decimal() {
            return Some(exact);
        }
        let reduced = self.reduced();
        let whole =
            Decimal::try_from_i128_with_scale(reduced.numerator / reduced.denominator, 0).ok()?;
        let mut rest = reduced.numerator % reduced.denominator;
        if rest == 0 {
            return Some(whole);
        }
        let mut denominator = reduced.denominator;
        // Both must fit a decimal's 96-bit mantissa; halving both keeps the shown digits.
        while denominator >= 1i128 << 96 {
            rest /= 2;
            denominator /= 2;
        }
        let rest = Decimal::try_from_i128_with_scale(rest, 0).ok()?;
        let denominator = Decimal::try_from_i128_with_scale(denominator, 0).ok()?;
        whole.checked_add(rest.checked_div(denominator)?)
    }

    fn reduced(self) -> Fraction {
        let divisor = gcd(self.numerator, self.denominator);
        if divisor <= 1 {
            return self;
        }
        Fraction {
            numerator: self.numerator / divisor,
            denominator: self.denominator / divisor,
        }
    }
}

/// 10^0 to 10^19: every scale a book or a usage writes, looked up rather than computed on
/// each amount.
const SMALL_POWERS_OF_TEN: [u64; 20] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
];

/// 10^exponent.
#[inline]
fn power_of_ten(exponent: u32) -> Option<i128> {
    let small = usize::try_from(exponent)
        .ok()
        .and_then(|index| SMALL_POWERS_OF_TEN.get(index));
    match small {
        Some(power) => Some(i128::from(*power)),
        None => 10i128.checked_pow(exponent),
    }
}

/// `a × b`, checked. Two factors that fit 64 bits cannot overflow 128 bits (|a × b| ≤
/// 2^126), so their product needs one machine multiplication, not the library's
/// overflow-checking 128-bit routine that `checked_mul` (and `*` with overflow checks) calls.
#[inline]
fn multiply(a: i128, b: i128) -> Option<i128> {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) => Some(i128::from(a).wrapping_mul(i128::from(b))),
        _ => a.checked_mul(b),
    }
}

/// The greatest common divisor of `|a|` and `|b|`, at least 1 when `b` is not zero (every
/// denominator), so dividing by it is safe. Euclid's steps are bounded by the digits of `b`.
fn gcd(a: i128, b: i128) -> i128 {
    let mut a = a.unsigned_abs();
    let mut b = b.unsigned_abs();
    while b != 0 {
        let rest = a % b;
        a = b;
        b = rest;
    }
    // Both were at most i128::MAX in magnitude except i128::MIN, whose gcd with a
    // denominator is a power of two that fits.
    i128::try_from(a).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::str::FromStr;

    fn fraction(text: &str) -> Fraction {
        Fraction::from_decimal(Decimal::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn thirds_stay_exact() {
        let third = fraction("1").checked_div(fraction("3")).unwrap();
        let one = third.checked_mul(fraction("3")).unwrap();
        assert_eq!(one.round_whole(RoundingMode::Down), Some((1, true)));
        let sum = third
            .checked_add(third)
            .unwrap()
            .checked_add(third)
            .unwrap();
        assert_eq!(sum.round_whole(RoundingMode::Up), Some((1, true)));
        assert_eq!(
            third.to_decimal().unwrap().round_dp(4),
            Decimal::new(3333, 4)
        );
    }

    #[test]
    fn every_mode_rounds_halves_and_signs() {
        let cases = [
            ("2.5", [3, 2, 3, 2, 2]),
            ("3.5", [4, 3, 4, 3, 4]),
            ("-2.5", [-3, -2, -3, -2, -2]),
            ("2.4", [3, 2, 2, 2, 2]),
            ("-2.6", [-3, -2, -3, -3, -3]),
        ];
        let modes = [
            RoundingMode::Up,
            RoundingMode::Down,
            RoundingMode::HalfUp,
            RoundingMode::HalfDown,
            RoundingMode::HalfEven,
        ];
        for (text, expected) in cases {
            for (mode, expected) in modes.iter().zip(expected) {
                let (whole, exact) = fraction(text).round_whole(*mode).unwrap();
                assert_eq!(whole, expected, "{text} {mode:?}");
                assert!(!exact);
            }
        }
    }

    #[test]
    fn rounds_to_a_precision() {
        let value = fraction("18.3333");
        let cent = Decimal::from_str("0.01").unwrap();
        let nickel = Decimal::from_str("0.05").unwrap();
        assert_eq!(
            value.round_to(cent, RoundingMode::HalfUp),
            Some((Decimal::from_str("18.33").unwrap(), false))
        );
        assert_eq!(
            value.round_to(nickel, RoundingMode::Up),
            Some((Decimal::from_str("18.35").unwrap(), false))
        );
        assert_eq!(
            fraction("70").round_to(cent, RoundingMode::Down),
            Some((Decimal::from(70), true))
        );
        assert_eq!(
            fraction("1").round_to(Decimal::ZERO, RoundingMode::Up),
            None
        );
    }

    #[test]
    fn powers_of_ten_are_powers_of_ten() {
        for exponent in 0..=30u32 {
            assert_eq!(power_of_ten(exponent), Some(10i128.pow(exponent)));
        }
        assert_eq!(power_of_ten(39), None);
    }

    #[test]
    fn overflow_is_none_not_a_wrap() {
        let huge = Fraction {
            numerator: i128::MAX,
            denominator: 1,
        };
        assert!(huge.checked_mul(fraction("2")).is_none());
        assert!(huge.checked_add(fraction("1")).is_none());
        assert!(fraction("1").checked_div(Fraction::ZERO).is_none());
    }
}
