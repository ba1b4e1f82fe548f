//! Unit-aware quantity literals: `3m30s`, `250 words`, `2 GB`, or a bare number in the input's
//! base unit.
//!
//! The same reader serves the rate language (`max 4h`, `up to 100 GB`), the HTTP API and the
//! CLI, so a quantity means the same thing wherever a product manager or a client writes it.
//! Base units: second (duration), word, character, image, token, request, megabyte (data,
//! decimal: 1 GB = 1000 MB), and plain whole numbers for `count`.

use rust_decimal::Decimal;

use crate::book::InputKind;

/// Most digits accepted before the decimal point of one number.
pub const MAX_INTEGER_DIGITS: usize = 18;
/// Most digits accepted after the decimal point of one number.
pub const MAX_DECIMAL_DIGITS: usize = 12;
/// What a number may hold, for every message about too many digits.
pub const DIGITS_HELP: &str = "a number has at most 18 digits before the point, 12 after it and 28 in all (leading zeros not counted)";
/// Most characters in one literal; a longer text is rejected before it is read.
pub const MAX_LITERAL_CHARS: usize = 128;

/// The family a unit word measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitWordKind {
    Duration,
    Words,
    Characters,
    Images,
    Tokens,
    Requests,
    Data,
}

impl UnitWordKind {
    /// Whether quantities in this family can be given to an input of `kind`.
    pub fn matches(self, kind: &InputKind) -> bool {
        matches!(
            (self, kind),
            (UnitWordKind::Duration, InputKind::Duration)
                | (UnitWordKind::Words, InputKind::Words)
                | (UnitWordKind::Characters, InputKind::Characters)
                | (UnitWordKind::Images, InputKind::Images)
                | (UnitWordKind::Tokens, InputKind::Tokens)
                | (UnitWordKind::Requests, InputKind::Requests)
                | (UnitWordKind::Data, InputKind::Data)
        )
    }

    /// The family's name as a product manager says it (`a duration`, `words`).
    pub fn describe(self) -> &'static str {
        match self {
            UnitWordKind::Duration => "a duration",
            UnitWordKind::Words => "a number of words",
            UnitWordKind::Characters => "a number of characters",
            UnitWordKind::Images => "a number of images",
            UnitWordKind::Tokens => "a number of tokens",
            UnitWordKind::Requests => "a number of requests",
            UnitWordKind::Data => "an amount of data",
        }
    }

    /// The unit family of an input kind, if it has one.
    pub fn of(kind: &InputKind) -> Option<UnitWordKind> {
        match kind {
            InputKind::Duration => Some(UnitWordKind::Duration),
            InputKind::Words => Some(UnitWordKind::Words),
            InputKind::Characters => Some(UnitWordKind::Characters),
            InputKind::Images => Some(UnitWordKind::Images),
            InputKind::Tokens => Some(UnitWordKind::Tokens),
            InputKind::Requests => Some(UnitWordKind::Requests),
            InputKind::Data => Some(UnitWordKind::Data),
            InputKind::Count | InputKind::Choice(_) | InputKind::Flag => None,
        }
    }
}

/// A unit word and its size in its family's base unit (`minute` → duration, 60 seconds).
///
/// Singular and plural forms are both accepted. Data units are decimal and upper case
/// (`KB`, `MB`, `GB`, `TB`); a bare `B` is not a unit because the base unit is the megabyte
/// and a fraction of a byte would be meaningless.
pub fn unit_word(word: &str) -> Option<(UnitWordKind, Decimal)> {
    let found = match word {
        "ms" | "millisecond" | "milliseconds" => (UnitWordKind::Duration, Decimal::new(1, 3)),
        "s" | "sec" | "secs" | "second" | "seconds" => (UnitWordKind::Duration, Decimal::ONE),
        "m" | "min" | "mins" | "minute" | "minutes" => (UnitWordKind::Duration, Decimal::from(60)),
        "h" | "hr" | "hrs" | "hour" | "hours" => (UnitWordKind::Duration, Decimal::from(3600)),
        "word" | "words" => (UnitWordKind::Words, Decimal::ONE),
        "character" | "characters" | "char" | "chars" => (UnitWordKind::Characters, Decimal::ONE),
        "image" | "images" => (UnitWordKind::Images, Decimal::ONE),
        "token" | "tokens" => (UnitWordKind::Tokens, Decimal::ONE),
        "request" | "requests" => (UnitWordKind::Requests, Decimal::ONE),
        "KB" => (UnitWordKind::Data, Decimal::new(1, 3)),
        "MB" => (UnitWordKind::Data, Decimal::ONE),
        "GB" => (UnitWordKind::Data, Decimal::from(1000)),
        "TB" => (UnitWordKind::Data, Decimal::from(1_000_000)),
        _ => return None,
    };
    Some(found)
}

/// The name of an input kind in messages (`duration`, `count`, `choice`).
pub fn kind_name(kind: &InputKind) -> &'static str {
    match kind {
        InputKind::Duration => "duration",
        InputKind::Words => "words",
        InputKind::Characters => "characters",
        InputKind::Images => "images",
        InputKind::Tokens => "tokens",
        InputKind::Requests => "requests",
        InputKind::Data => "data",
        InputKind::Count => "count",
        InputKind::Choice(_) => "choice",
        InputKind::Flag => "flag",
    }
}

/// Whether quantities of this kind are whole numbers in their base unit.
pub fn is_whole_kind(kind: &InputKind) -> bool {
    matches!(
        kind,
        InputKind::Words
            | InputKind::Characters
            | InputKind::Images
            | InputKind::Tokens
            | InputKind::Requests
            | InputKind::Count
    )
}

/// Examples of what a quantity of `kind` looks like, for help texts.
pub fn kind_example(kind: &InputKind) -> &'static str {
    match kind {
        InputKind::Duration => "`90s`, `3m30s`, `1h`, `250ms` or a number of seconds",
        InputKind::Words => "`250 words` or a whole number of words",
        InputKind::Characters => "`500 characters` or a whole number of characters",
        InputKind::Images => "`3 images` or a whole number of images",
        InputKind::Tokens => "`1000 tokens` or a whole number of tokens",
        InputKind::Requests => "`10 requests` or a whole number of requests",
        InputKind::Data => "`500 MB`, `2 GB`, `1 TB`, `10 KB` or a number of megabytes",
        InputKind::Count => "a whole number such as `3`",
        InputKind::Choice(_) => "one of the choice's names",
        InputKind::Flag => "`yes` or `no`",
    }
}

/// Why a quantity literal was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum LiteralError {
    #[error("empty quantity")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    Empty { example: &'static str },

    #[error("`{text}` is not a quantity")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    Malformed { text: String, example: &'static str },

    #[error("`{text}` is too long to be a quantity")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    TooLong { text: String, example: &'static str },

    #[error("`{text}` is negative")]
    #[diagnostic(code(quantity::invalid_quantity), help("quantities are zero or more"))]
    Negative { text: String },

    #[error("`{text}` uses an exponent")]
    #[diagnostic(
        code(quantity::invalid_quantity),
        help("write the number out in full, such as `1500` instead of `1.5e3`")
    )]
    Exponent { text: String },

    #[error("`{text}` has too many digits")]
    #[diagnostic(
        code(quantity::invalid_quantity),
        help(
            "a number has at most 18 digits before the point, 12 after it and 28 in all (leading zeros not counted)"
        )
    )]
    TooManyDigits { text: String },

    #[error("`{text}` is not a whole number")]
    #[diagnostic(
        code(quantity::invalid_quantity),
        help("{kind} quantities are whole numbers: write {example}")
    )]
    NotWhole {
        text: String,
        kind: &'static str,
        example: &'static str,
    },

    #[error("`{unit}` in `{text}` is not a unit")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    UnknownUnit {
        text: String,
        unit: String,
        example: &'static str,
    },

    #[error("`{text}` is {found}, not {expected}")]
    #[diagnostic(code(quantity::wrong_unit), help("write {example}"))]
    WrongUnit {
        text: String,
        found: &'static str,
        expected: &'static str,
        example: &'static str,
    },

    #[error("`{text}` has a unit, but a count is a plain number")]
    #[diagnostic(code(quantity::wrong_unit), help("write a whole number such as `3`"))]
    UnitOnCount { text: String },

    #[error("`{text}` repeats or misorders its units")]
    #[diagnostic(
        code(quantity::invalid_quantity),
        help("write the largest unit first, each at most once, such as `1h30m` or `3m30s`")
    )]
    MisorderedUnits { text: String },

    #[error("`{text}` combines several units")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    CompoundNotDuration { text: String, example: &'static str },

    #[error("a {kind} takes a name, not a quantity")]
    #[diagnostic(code(quantity::wrong_unit), help("write {example}"))]
    NotAQuantity {
        kind: &'static str,
        example: &'static str,
    },

    #[error("`{text}` is too large")]
    #[diagnostic(code(quantity::invalid_quantity), help("write {example}"))]
    TooLarge { text: String, example: &'static str },
}

/// The number at the start of `text`: its value and the rest of the text after it.
struct Number<'a> {
    value: Decimal,
    rest: &'a str,
}

enum NumberError {
    NotANumber,
    Exponent,
    TooManyDigits,
}

/// Reads `digits[_digits][.digits[_digits]]` at the start of `text`.
///
/// Underscores may only separate digits (`1_000_000`). The digits are collected into a small
/// stack buffer so that reading allocates nothing.
fn read_number(text: &str) -> Result<Number<'_>, NumberError> {
    let bytes = text.as_bytes();
    // 18 + 12 digits, the point, and room to spare.
    let mut buffer = [0u8; 40];
    let mut length = 0usize;
    let mut integer_digits = 0usize;
    let mut decimal_digits = 0usize;
    let mut significant_digits = 0usize;
    let mut seen_point = false;
    let mut previous_digit = false;
    let mut position = 0usize;
    while let Some(&byte) = bytes.get(position) {
        match byte {
            b'0'..=b'9' => {
                if seen_point {
                    decimal_digits += 1;
                } else {
                    integer_digits += 1;
                }
                if significant_digits > 0 || byte != b'0' || seen_point {
                    significant_digits += 1;
                }
                if integer_digits > MAX_INTEGER_DIGITS
                    || decimal_digits > MAX_DECIMAL_DIGITS
                    || significant_digits > crate::limits::MAX_SIGNIFICANT_DIGITS
                {
                    return Err(NumberError::TooManyDigits);
                }
                let slot = buffer.get_mut(length).ok_or(NumberError::TooManyDigits)?;
                *slot = byte;
                length += 1;
                previous_digit = true;
            }
            b'_' => {
                let next_is_digit = bytes.get(position + 1).is_some_and(u8::is_ascii_digit);
                if !previous_digit || !next_is_digit {
                    return Err(NumberError::NotANumber);
                }
                previous_digit = false;
            }
            b'.' if !seen_point => {
                let next_is_digit = bytes.get(position + 1).is_some_and(u8::is_ascii_digit);
                if !previous_digit || !next_is_digit {
                    return Err(NumberError::NotANumber);
                }
                seen_point = true;
                let slot = buffer.get_mut(length).ok_or(NumberError::TooManyDigits)?;
                *slot = b'.';
                length += 1;
                previous_digit = false;
            }
            _ => break,
        }
        position += 1;
    }
    if integer_digits == 0 {
        return Err(NumberError::NotANumber);
    }
    let rest = text.get(position..).unwrap_or("");
    // `1e3`, `1.5E+2`, `1e-400`: exponents are never accepted, whatever follows them.
    let rest_bytes = rest.as_bytes();
    if let Some(b'e' | b'E') = rest_bytes.first() {
        let after = match rest_bytes.get(1) {
            Some(b'+' | b'-') => rest_bytes.get(2),
            other => other,
        };
        if after.is_some_and(u8::is_ascii_digit) {
            return Err(NumberError::Exponent);
        }
    }
    let digits = buffer.get(..length).unwrap_or(&[]);
    let digits = std::str::from_utf8(digits).map_err(|_| NumberError::NotANumber)?;
    // At most 28 significant digits: a Decimal holds them exactly.
    let value = Decimal::from_str_exact(digits).map_err(|_| NumberError::TooManyDigits)?;
    Ok(Number { value, rest })
}

/// Reads a quantity of `kind` and returns it in the kind's base unit.
///
/// Accepts a bare number (already in the base unit), a number with a unit word (`250 words`,
/// `2 GB`, `90s`), and for durations a sequence of parts from the largest unit down
/// (`1h30m`, `3m30s`, `1m 30.5s`). A space between a number and its unit is optional.
///
/// # Errors
/// Empty or malformed text, a negative number, an exponent, more than 18 integer, 12
/// decimal or 28 digits in all, an unknown unit or one of another kind, a unit on a `count`, a fraction
/// for a whole-number kind, or a `choice`/`flag` kind.
pub fn parse_quantity(kind: &InputKind, text: &str) -> Result<Decimal, LiteralError> {
    let example = kind_example(kind);
    let family = UnitWordKind::of(kind);
    if matches!(kind, InputKind::Choice(_) | InputKind::Flag) {
        return Err(LiteralError::NotAQuantity {
            kind: kind_name(kind),
            example,
        });
    }
    if text.len() > MAX_LITERAL_CHARS {
        let shown: String = text.chars().take(24).chain("…".chars()).collect();
        return Err(LiteralError::TooLong {
            text: shown,
            example,
        });
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(LiteralError::Empty { example });
    }
    let owned = || trimmed.to_owned();
    let malformed = || LiteralError::Malformed {
        text: owned(),
        example,
    };
    if let Some(after_sign) = trimmed.strip_prefix('-') {
        if after_sign
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(LiteralError::Negative { text: owned() });
        }
        return Err(malformed());
    }

    let mut total = Decimal::ZERO;
    let mut rest = trimmed;
    let mut parts = 0usize;
    // Size of the last unit used, so that parts must go from the largest unit down.
    let mut last_size: Option<Decimal> = None;
    loop {
        let number = match read_number(rest) {
            Ok(number) => number,
            Err(NumberError::Exponent) => return Err(LiteralError::Exponent { text: owned() }),
            Err(NumberError::TooManyDigits) => {
                return Err(LiteralError::TooManyDigits { text: owned() });
            }
            Err(NumberError::NotANumber) => return Err(malformed()),
        };
        parts += 1;
        let after_number = number.rest.trim_start();
        let word_length = after_number
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_number.len());
        let (word, after_word) = after_number.split_at(word_length);
        if word.is_empty() {
            // A bare number is in the base unit, and only allowed on its own.
            if parts != 1 || !after_number.is_empty() {
                return Err(malformed());
            }
            total = number.value;
            break;
        }
        let Some((word_kind, size)) = unit_word(word) else {
            return Err(LiteralError::UnknownUnit {
                text: owned(),
                unit: word.to_owned(),
                example,
            });
        };
        if matches!(kind, InputKind::Count) {
            return Err(LiteralError::UnitOnCount { text: owned() });
        }
        if family != Some(word_kind) {
            return Err(LiteralError::WrongUnit {
                text: owned(),
                found: word_kind.describe(),
                expected: family.map_or("a quantity", UnitWordKind::describe),
                example,
            });
        }
        if last_size.is_some_and(|last| size >= last) {
            return Err(LiteralError::MisorderedUnits { text: owned() });
        }
        last_size = Some(size);
        let part = number
            .value
            .checked_mul(size)
            .ok_or_else(|| LiteralError::TooLarge {
                text: owned(),
                example,
            })?;
        total = total
            .checked_add(part)
            .ok_or_else(|| LiteralError::TooLarge {
                text: owned(),
                example,
            })?;
        rest = after_word.trim_start();
        if rest.is_empty() {
            break;
        }
        if word_kind != UnitWordKind::Duration {
            return Err(LiteralError::CompoundNotDuration {
                text: owned(),
                example,
            });
        }
    }

    if is_whole_kind(kind) && !total.fract().is_zero() {
        return Err(LiteralError::NotWhole {
            text: owned(),
            kind: kind_name(kind),
            example,
        });
    }
    Ok(total.normalize())
}

/// Writes a base-unit quantity the way a product manager would: `3m30s`, `300 words`,
/// `2 GB`, `3` for a count.
pub fn format_quantity(kind: &InputKind, base: Decimal) -> String {
    let mut text = String::with_capacity(16);
    push_quantity(&mut text, kind, base);
    text
}

/// [`format_quantity`] into an existing buffer; allocates nothing beyond growing `out`,
/// because rating explains every line with it.
pub fn push_quantity(out: &mut String, kind: &InputKind, base: Decimal) {
    match kind {
        InputKind::Duration => push_duration(out, base),
        InputKind::Words => push_counted(out, base, "word", "words"),
        InputKind::Characters => push_counted(out, base, "character", "characters"),
        InputKind::Images => push_counted(out, base, "image", "images"),
        InputKind::Tokens => push_counted(out, base, "token", "tokens"),
        InputKind::Requests => push_counted(out, base, "request", "requests"),
        InputKind::Data => push_data(out, base),
        InputKind::Count | InputKind::Choice(_) | InputKind::Flag => push_decimal(out, base),
    }
}

/// Writes `value` without trailing zeros (`18.33`, `0.2`, `70`), like `normalize()` then
/// `Display`, but without the intermediate string: the digits of the common case (a
/// mantissa that fits 64 bits) are produced with 64-bit arithmetic.
pub fn push_decimal(out: &mut String, value: Decimal) {
    let value = value.normalize();
    let mut mantissa = value.mantissa().unsigned_abs();
    let scale = usize::try_from(value.scale()).unwrap_or(0);
    if value.is_sign_negative() && mantissa != 0 {
        out.push('-');
    }
    // A Decimal mantissa has at most 29 digits; 29 + 28 zeros of padding fit in 64 bytes.
    let mut digits = [b'0'; 64];
    let mut count = 0usize;
    if let Ok(mut small) = u64::try_from(mantissa) {
        loop {
            if let Some(slot) = digits.get_mut(count) {
                // `small % 10` is below 10, so the cast cannot truncate.
                *slot = b'0' + (small % 10) as u8;
            }
            count += 1;
            small /= 10;
            if small == 0 {
                break;
            }
        }
    } else {
        loop {
            if let Some(slot) = digits.get_mut(count) {
                *slot = b'0' + (mantissa % 10) as u8;
            }
            count += 1;
            mantissa /= 10;
            if mantissa == 0 {
                break;
            }
        }
    }
    // Digits are least significant first; pad with zeros so there is one before the point.
    let width = count.max(scale + 1).min(digits.len());
    for position in (0..width).rev() {
        out.push(char::from(digits.get(position).copied().unwrap_or(b'0')));
        if position == scale && scale > 0 {
            out.push('.');
        }
    }
}

fn push_counted(out: &mut String, value: Decimal, singular: &str, plural: &str) {
    push_decimal(out, value);
    out.push(' ');
    out.push_str(if value == Decimal::ONE {
        singular
    } else {
        plural
    });
}

fn push_duration(out: &mut String, seconds: Decimal) {
    if seconds <= Decimal::ZERO {
        push_decimal(out, seconds);
        out.push('s');
        return;
    }
    if seconds < Decimal::ONE {
        match seconds.checked_mul(Decimal::from(1000)) {
            Some(milliseconds) if milliseconds.fract().is_zero() => {
                push_decimal(out, milliseconds);
                out.push_str("ms");
            }
            _ => {
                push_decimal(out, seconds);
                out.push('s');
            }
        }
        return;
    }
    // Whole seconds in 64 bits (every real duration): hours, minutes and seconds by integer
    // arithmetic. Anything else falls back to the decimal seconds.
    let normalized = seconds.normalize();
    if normalized.scale() == 0
        && let Ok(whole) = u64::try_from(normalized.mantissa())
    {
        push_whole_duration(out, whole);
        return;
    }
    let whole = u64::try_from(seconds.trunc()).ok();
    let Some(whole) = whole else {
        push_decimal(out, seconds);
        out.push('s');
        return;
    };
    let hours = whole / 3600;
    let minutes = (whole % 3600) / 60;
    let secs = Decimal::from(whole % 60)
        .checked_add(seconds.fract())
        .unwrap_or(Decimal::ZERO);
    if hours != 0 {
        push_decimal(out, Decimal::from(hours));
        out.push('h');
    }
    if minutes != 0 {
        push_decimal(out, Decimal::from(minutes));
        out.push('m');
    }
    if !secs.is_zero() {
        push_decimal(out, secs);
        out.push('s');
    }
}

/// `3m30s`, `1h`, `2h5s` for a positive whole number of seconds.
fn push_whole_duration(out: &mut String, seconds: u64) {
    let parts = [
        (seconds / 3600, 'h'),
        ((seconds % 3600) / 60, 'm'),
        (seconds % 60, 's'),
    ];
    for (value, suffix) in parts {
        if value != 0 {
            push_u64(out, value);
            out.push(suffix);
        }
    }
}

fn push_u64(out: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let mut count = 0usize;
    let mut rest = value;
    loop {
        if let Some(slot) = digits.get_mut(count) {
            // `rest % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (rest % 10) as u8;
        }
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for position in (0..count.min(digits.len())).rev() {
        out.push(char::from(digits.get(position).copied().unwrap_or(b'0')));
    }
}

fn push_data(out: &mut String, megabytes: Decimal) {
    let units = [
        (Decimal::from(1_000_000), "TB"),
        (Decimal::from(1000), "GB"),
        (Decimal::ONE, "MB"),
    ];
    for (size, name) in units {
        if megabytes >= size
            && let Some(value) = megabytes.checked_div(size)
        {
            push_decimal(out, value);
            out.push(' ');
            out.push_str(name);
            return;
        }
    }
    match megabytes.checked_mul(Decimal::from(1000)) {
        Some(kilobytes) if !megabytes.is_zero() => {
            push_decimal(out, kilobytes);
            out.push_str(" KB");
        }
        _ => {
            push_decimal(out, megabytes);
            out.push_str(" MB");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap_or_default()
    }

    #[test]
    fn durations() {
        let kind = InputKind::Duration;
        for (text, seconds) in [
            ("3m30s", "210"),
            ("90s", "90"),
            ("1h", "3600"),
            ("1.5m", "90"),
            ("250ms", "0.25"),
            ("1h30m", "5400"),
            ("1m 30.5s", "90.5"),
            ("2 minutes", "120"),
            ("1 second", "1"),
            ("210", "210"),
            ("2.2", "2.2"),
            ("0s", "0"),
        ] {
            assert_eq!(parse_quantity(&kind, text), Ok(dec(seconds)), "{text}");
        }
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            parse_quantity(&InputKind::Words, "250 words"),
            Ok(dec("250"))
        );
        assert_eq!(parse_quantity(&InputKind::Words, "1 word"), Ok(dec("1")));
        assert_eq!(
            parse_quantity(&InputKind::Characters, "500 chars"),
            Ok(dec("500"))
        );
        assert_eq!(
            parse_quantity(&InputKind::Characters, "500 characters"),
            Ok(dec("500"))
        );
        assert_eq!(parse_quantity(&InputKind::Images, "3 images"), Ok(dec("3")));
        assert_eq!(
            parse_quantity(&InputKind::Tokens, "1_000 tokens"),
            Ok(dec("1000"))
        );
        assert_eq!(
            parse_quantity(&InputKind::Requests, "10 requests"),
            Ok(dec("10"))
        );
        assert_eq!(parse_quantity(&InputKind::Data, "2 GB"), Ok(dec("2000")));
        assert_eq!(parse_quantity(&InputKind::Data, "10 KB"), Ok(dec("0.01")));
        assert_eq!(parse_quantity(&InputKind::Data, "1 TB"), Ok(dec("1000000")));
        assert_eq!(parse_quantity(&InputKind::Count, "3"), Ok(dec("3")));
    }

    #[test]
    fn rejections() {
        let duration = InputKind::Duration;
        assert!(matches!(
            parse_quantity(&duration, "-3s"),
            Err(LiteralError::Negative { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "1e400"),
            Err(LiteralError::Exponent { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "1.5E+3"),
            Err(LiteralError::Exponent { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "1234567890123456789"),
            Err(LiteralError::TooManyDigits { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "0.1234567890123"),
            Err(LiteralError::TooManyDigits { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "250 words"),
            Err(LiteralError::WrongUnit { .. })
        ));
        assert!(matches!(
            parse_quantity(&InputKind::Words, "1.5 words"),
            Err(LiteralError::NotWhole { .. })
        ));
        assert!(matches!(
            parse_quantity(&InputKind::Count, "3 images"),
            Err(LiteralError::UnitOnCount { .. })
        ));
        assert!(matches!(
            parse_quantity(&InputKind::Count, "1.5"),
            Err(LiteralError::NotWhole { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "30s3m"),
            Err(LiteralError::MisorderedUnits { .. })
        ));
        assert!(matches!(
            parse_quantity(&duration, "3 parsecs"),
            Err(LiteralError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_quantity(&InputKind::Words, "2 words 3 words"),
            Err(LiteralError::CompoundNotDuration { .. })
        ));
        for text in [
            "", "  ", "NaN", "inf", ".5", "1.", "1__0", "_1", "1 2", "+3",
        ] {
            assert!(parse_quantity(&duration, text).is_err(), "{text:?}");
        }
        assert!(matches!(
            parse_quantity(&InputKind::Flag, "1"),
            Err(LiteralError::NotAQuantity { .. })
        ));
    }

    #[test]
    fn messages_are_lowercase_with_backticks() {
        let error = parse_quantity(&InputKind::Duration, "250 words").err();
        assert_eq!(
            error.map(|error| error.to_string()),
            Some("`250 words` is a number of words, not a duration".to_owned())
        );
    }

    #[test]
    fn decimals_print_without_trailing_zeros() {
        for text in [
            "0",
            "1",
            "10",
            "70",
            "18.33",
            "0.2",
            "0.25",
            "0.001",
            "123.456",
            "1000000",
            "0.000000000001",
            "79228162514264337593543950335",
            "-1.5",
        ] {
            let mut out = String::new();
            push_decimal(&mut out, dec(text));
            assert_eq!(out, dec(text).normalize().to_string(), "{text}");
        }
        let mut out = String::new();
        push_decimal(&mut out, dec("18.3300"));
        assert_eq!(out, "18.33");
    }

    #[test]
    fn formats() {
        assert_eq!(format_quantity(&InputKind::Duration, dec("210")), "3m30s");
        assert_eq!(format_quantity(&InputKind::Duration, dec("3600")), "1h");
        assert_eq!(format_quantity(&InputKind::Duration, dec("0.25")), "250ms");
        assert_eq!(
            format_quantity(&InputKind::Duration, dec("90.5")),
            "1m30.5s"
        );
        assert_eq!(format_quantity(&InputKind::Duration, dec("0")), "0s");
        assert_eq!(format_quantity(&InputKind::Words, dec("300")), "300 words");
        assert_eq!(format_quantity(&InputKind::Words, dec("1")), "1 word");
        assert_eq!(format_quantity(&InputKind::Data, dec("2000")), "2 GB");
        assert_eq!(format_quantity(&InputKind::Data, dec("500")), "500 MB");
        assert_eq!(format_quantity(&InputKind::Data, dec("0.01")), "10 KB");
        assert_eq!(format_quantity(&InputKind::Count, dec("3")), "3");
    }
}
