//! Edge validation: raw request inputs (JSON values, CLI `key=value`) into a [`Usage`] that
//! rating can trust.
//!
//! Everything a client can get wrong is caught here, before anything is rated or written:
//! an unknown feature, input, channel or choice, a missing or repeated input, a quantity in
//! the wrong unit, negative, written with an exponent, with too many digits, not whole,
//! below the input's `min` (zero when it states none) or above its `max`, and a flag that is
//! not `true`/`false`/`yes`/`no`.

use std::collections::BTreeMap;

use crate::book::{Feature, Input, InputKind, InputValue, RateBook, Usage};
use crate::literal::{self, LiteralError};
use miette::Diagnostic;
use rust_decimal::Decimal;

/// A raw input value as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A JSON number, as its text verbatim (never through a float): read in the base unit.
    Number(String),
    /// A JSON string: a unit literal (`"3m30s"`), a bare number, a choice or a flag word.
    Text(String),
    Bool(bool),
}

/// Longest piece of client text repeated back in a message.
const MAX_ECHO_CHARS: usize = 64;

/// Why a request's inputs were rejected. Every variant names the feature and, where there is
/// one, the input, and has a stable [`UsageError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
pub enum UsageError {
    #[error("`{feature}` is not a feature of `{book}`")]
    #[diagnostic(code(usage::unknown_feature), help("the features are: {known}"))]
    UnknownFeature {
        book: String,
        feature: String,
        known: String,
    },

    #[error("`{input}` is not an input of `{feature}`")]
    #[diagnostic(code(usage::unknown_input), help("{known}"))]
    UnknownInput {
        feature: String,
        input: String,
        known: String,
    },

    #[error("input `{input}` of `{feature}` is missing")]
    #[diagnostic(
        code(usage::missing_input),
        help("`{input}` has no default: give {example}")
    )]
    MissingInput {
        feature: String,
        input: String,
        example: &'static str,
    },

    #[error("input `{input}` of `{feature}` is given twice")]
    #[diagnostic(code(usage::duplicate_input), help("give each input once"))]
    DuplicateInput { feature: String, input: String },

    #[error("`{channel}` is not a channel of `{book}`")]
    #[diagnostic(code(usage::unknown_channel), help("{known}"))]
    UnknownChannel {
        book: String,
        channel: String,
        known: String,
    },

    #[error("`{value}` is not a choice of `{input}` in `{feature}`")]
    #[diagnostic(code(usage::unknown_choice), help("the choices are: {known}"))]
    UnknownChoice {
        feature: String,
        input: String,
        value: String,
        known: String,
    },

    #[error("input `{input}` of `{feature}`: {reason}")]
    #[diagnostic(code(usage::invalid_quantity), help("{help}"))]
    InvalidQuantity {
        feature: String,
        input: String,
        reason: Box<LiteralError>,
        help: String,
    },

    #[error("input `{input}` of `{feature}`: {reason}")]
    #[diagnostic(code(usage::wrong_unit), help("{help}"))]
    WrongUnit {
        feature: String,
        input: String,
        reason: Box<LiteralError>,
        help: String,
    },

    #[error("`{value}` for `{input}` of `{feature}` is above its maximum of {max}")]
    #[diagnostic(
        code(usage::above_maximum),
        help("split the work into requests of at most {max}")
    )]
    AboveMaximum {
        feature: String,
        input: String,
        value: String,
        max: String,
    },

    #[error("`{value}` for `{input}` of `{feature}` is below its minimum of {min}")]
    #[diagnostic(code(usage::below_minimum), help("give at least {min}"))]
    BelowMinimum {
        feature: String,
        input: String,
        value: String,
        min: String,
    },

    /// Zero for an input that states no `min`: the implicit minimum is "above zero".
    #[error("`{value}` for `{input}` of `{feature}` is zero: a quantity of nothing is not usage")]
    #[diagnostic(
        code(usage::below_minimum),
        help("send a quantity above zero, or write `min 0` on the input to accept zero")
    )]
    ZeroQuantity {
        feature: String,
        input: String,
        value: String,
    },

    #[error("`{value}` is not a flag value for `{input}` of `{feature}`")]
    #[diagnostic(
        code(usage::invalid_flag),
        help("write `true`, `false`, `yes` or `no`")
    )]
    InvalidFlag {
        feature: String,
        input: String,
        value: String,
    },

    #[error("input `{input}` of `{feature}` needs {expected}, not {found}")]
    #[diagnostic(code(usage::wrong_type), help("write {example}"))]
    WrongType {
        feature: String,
        input: String,
        expected: &'static str,
        found: &'static str,
        example: &'static str,
    },

    /// A quantity outside an input's `one of` list.
    #[error("`{value}` for `{input}` of `{feature}` is not one of the allowed values: {allowed}")]
    #[diagnostic(code(usage::value_not_allowed), help("give one of {allowed}"))]
    NotAllowed {
        feature: String,
        input: String,
        value: String,
        allowed: String,
    },

    #[error("`channel` is given beside the inputs of `{feature}`, not as one of them")]
    #[diagnostic(code(usage::unknown_input), help("pass the channel separately"))]
    ChannelAsInput { feature: String },
}

impl UsageError {
    /// A stable, kebab-case code for APIs and scripts (`unknown-feature`, `invalid-quantity`).
    pub fn code(&self) -> &'static str {
        match self {
            UsageError::UnknownFeature { .. } => "unknown-feature",
            UsageError::UnknownInput { .. } | UsageError::ChannelAsInput { .. } => "unknown-input",
            UsageError::MissingInput { .. } => "missing-input",
            UsageError::DuplicateInput { .. } => "duplicate-input",
            UsageError::UnknownChannel { .. } => "unknown-channel",
            UsageError::UnknownChoice { .. } => "unknown-choice",
            UsageError::InvalidQuantity { .. } => "invalid-quantity",
            UsageError::WrongUnit { .. } => "wrong-unit",
            UsageError::BelowMinimum { .. } | UsageError::ZeroQuantity { .. } => "below-minimum",
            UsageError::AboveMaximum { .. } => "above-maximum",
            UsageError::InvalidFlag { .. } => "invalid-flag",
            UsageError::WrongType { .. } => "wrong-type",
            UsageError::NotAllowed { .. } => "value-not-allowed",
        }
    }
}

/// Client text, shortened so a hostile request cannot make a huge error message.
fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_owned()
    } else {
        let mut shown: String = text.chars().take(MAX_ECHO_CHARS).collect();
        shown.push('…');
        shown
    }
}

fn backticked(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let parts: Vec<String> = names.map(|name| format!("`{}`", name.as_ref())).collect();
    parts.join(", ")
}

impl RateBook {
    /// Validates raw inputs for `feature` into a [`Usage`]: every input present (defaults
    /// filled), quantities in base units, the channel resolved (the book's default when
    /// none is given and the book has channels).
    ///
    /// # Errors
    /// See [`UsageError`]; the first problem found, inputs in the order given.
    pub fn usage(
        &self,
        feature: &str,
        channel: Option<&str>,
        inputs: &[(String, RawValue)],
    ) -> Result<Usage, UsageError> {
        let definition = self
            .feature(feature)
            .ok_or_else(|| UsageError::UnknownFeature {
                book: self.name.clone(),
                feature: echo(feature),
                known: backticked(self.features.iter().map(|feature| &feature.name)),
            })?;
        let channel = self.resolve_channel(channel)?;

        let mut values: BTreeMap<String, InputValue> = BTreeMap::new();
        for (name, raw) in inputs {
            let Some(input) = definition.inputs.iter().find(|input| input.name == *name) else {
                if name == "channel" {
                    return Err(UsageError::ChannelAsInput {
                        feature: definition.name.clone(),
                    });
                }
                return Err(UsageError::UnknownInput {
                    feature: definition.name.clone(),
                    input: echo(name),
                    known: known_inputs(definition),
                });
            };
            if values.contains_key(name) {
                return Err(UsageError::DuplicateInput {
                    feature: definition.name.clone(),
                    input: input.name.clone(),
                });
            }
            let value = validate(definition, input, raw)?;
            values.insert(input.name.clone(), value);
        }
        for input in &definition.inputs {
            if values.contains_key(&input.name) {
                continue;
            }
            match &input.default {
                Some(default) => {
                    values.insert(input.name.clone(), default.clone());
                }
                None => {
                    return Err(UsageError::MissingInput {
                        feature: definition.name.clone(),
                        input: input.name.clone(),
                        example: literal::kind_example(&input.kind),
                    });
                }
            }
        }
        Ok(Usage {
            feature: definition.name.clone(),
            channel,
            inputs: values,
        })
    }

    fn resolve_channel(&self, channel: Option<&str>) -> Result<Option<String>, UsageError> {
        match (channel, &self.channels) {
            (None, None) => Ok(None),
            (None, Some(channels)) => Ok(Some(channels.default.clone())),
            (Some(given), Some(channels)) => {
                if channels.names.iter().any(|name| name == given) {
                    Ok(Some(given.to_owned()))
                } else {
                    Err(UsageError::UnknownChannel {
                        book: self.name.clone(),
                        channel: echo(given),
                        known: format!("the channels are: {}", backticked(channels.names.iter())),
                    })
                }
            }
            (Some(given), None) => Err(UsageError::UnknownChannel {
                book: self.name.clone(),
                channel: echo(given),
                known: "this book has no channels: leave the channel out".to_owned(),
            }),
        }
    }
}

fn known_inputs(feature: &Feature) -> String {
    if feature.inputs.is_empty() {
        return format!("`{}` takes no inputs", feature.name);
    }
    format!(
        "the inputs are: {}",
        backticked(feature.inputs.iter().map(|input| &input.name))
    )
}

fn raw_kind(raw: &RawValue) -> &'static str {
    match raw {
        RawValue::Number(_) => "a number",
        RawValue::Text(_) => "a text",
        RawValue::Bool(_) => "true or false",
    }
}

fn validate(feature: &Feature, input: &Input, raw: &RawValue) -> Result<InputValue, UsageError> {
    let wrong_type = |expected: &'static str| UsageError::WrongType {
        feature: feature.name.clone(),
        input: input.name.clone(),
        expected,
        found: raw_kind(raw),
        example: literal::kind_example(&input.kind),
    };
    match &input.kind {
        InputKind::Choice(names) => {
            let RawValue::Text(text) = raw else {
                return Err(wrong_type("one of its choices"));
            };
            if names.iter().any(|name| name == text) {
                Ok(InputValue::Choice(text.clone()))
            } else {
                Err(UsageError::UnknownChoice {
                    feature: feature.name.clone(),
                    input: input.name.clone(),
                    value: echo(text),
                    known: backticked(names.iter()),
                })
            }
        }
        InputKind::Flag => match raw {
            RawValue::Bool(flag) => Ok(InputValue::Flag(*flag)),
            RawValue::Text(text) => match text.as_str() {
                "true" | "yes" => Ok(InputValue::Flag(true)),
                "false" | "no" => Ok(InputValue::Flag(false)),
                _ => Err(UsageError::InvalidFlag {
                    feature: feature.name.clone(),
                    input: input.name.clone(),
                    value: echo(text),
                }),
            },
            RawValue::Number(text) => Err(UsageError::InvalidFlag {
                feature: feature.name.clone(),
                input: input.name.clone(),
                value: echo(text),
            }),
        },
        kind => {
            let text = match raw {
                RawValue::Number(text) | RawValue::Text(text) => text,
                RawValue::Bool(_) => return Err(wrong_type("a quantity")),
            };
            let quantity = literal::parse_quantity(kind, text).map_err(|reason| {
                let help = reason
                    .help()
                    .map(|help| help.to_string())
                    .unwrap_or_else(|| format!("write {}", literal::kind_example(kind)));
                let feature = feature.name.clone();
                let input = input.name.clone();
                match reason {
                    LiteralError::WrongUnit { .. }
                    | LiteralError::UnitOnCount { .. }
                    | LiteralError::NotAQuantity { .. } => UsageError::WrongUnit {
                        feature,
                        input,
                        reason: Box::new(reason),
                        help,
                    },
                    _ => UsageError::InvalidQuantity {
                        feature,
                        input,
                        reason: Box::new(reason),
                        help,
                    },
                }
            })?;
            if is_below_minimum(input, quantity) {
                let feature = feature.name.clone();
                let input_name = input.name.clone();
                let value = echo(text.trim());
                return Err(match input.min {
                    Some(min) => UsageError::BelowMinimum {
                        feature,
                        input: input_name,
                        value,
                        min: literal::format_quantity(kind, min),
                    },
                    None => UsageError::ZeroQuantity {
                        feature,
                        input: input_name,
                        value,
                    },
                });
            }
            if let Some(max) = input.max
                && quantity > max
            {
                return Err(UsageError::AboveMaximum {
                    feature: feature.name.clone(),
                    input: input.name.clone(),
                    value: echo(text.trim()),
                    max: literal::format_quantity(kind, max),
                });
            }
            if !input.allowed.is_empty() && !input.allowed.contains(&quantity) {
                let allowed: Vec<String> = input
                    .allowed
                    .iter()
                    .map(|allowed| literal::format_quantity(kind, *allowed))
                    .collect();
                return Err(UsageError::NotAllowed {
                    feature: feature.name.clone(),
                    input: input.name.clone(),
                    value: echo(text.trim()),
                    allowed: allowed.join(", "),
                });
            }
            Ok(InputValue::Quantity(quantity))
        }
    }
}

/// Whether `input` refuses `quantity` as too small: below its `min`, or zero when it states
/// none (a quantity of nothing is not usage; `min 0` accepts it). Shared with `check` and
/// `diff`, so an example is held to what a request is.
pub(crate) fn is_below_minimum(input: &Input, quantity: Decimal) -> bool {
    match input.min {
        Some(min) => quantity < min,
        None => quantity.is_zero(),
    }
}

impl RawValue {
    /// A JSON value as a raw input: numbers keep their JSON text (with serde_json's
    /// `arbitrary_precision` exactly as sent; without it as serde_json prints them, where a
    /// huge float shows an exponent and is then rejected), strings and booleans as they are.
    /// `None` for `null`, arrays and objects.
    pub fn from_json(value: &serde_json::Value) -> Option<RawValue> {
        match value {
            serde_json::Value::Number(number) => Some(RawValue::Number(number.to_string())),
            serde_json::Value::String(text) => Some(RawValue::Text(text.clone())),
            serde_json::Value::Bool(flag) => Some(RawValue::Bool(*flag)),
            serde_json::Value::Null
            | serde_json::Value::Array(_)
            | serde_json::Value::Object(_) => None,
        }
    }
}
