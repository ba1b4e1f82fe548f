//! `unit` and `channels` declarations.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn unit_decl(&mut self, unit: &ast::UnitDecl<'a>, span: Span) {
        if self.units.len() == MAX_UNITS {
            self.push(BookError::TooMany {
                what: "book",
                items: "units",
                limit: MAX_UNITS,
                span: unit.name.span.into(),
            });
            return;
        }
        self.name("unit", unit.name);
        if let Some(first) = self.units.iter().find(|known| known.name == unit.name.text) {
            let first = first.span;
            self.duplicate("unit", unit.name.text, first, unit.name.span);
            return;
        }
        let mut scale = None;
        match unit.scales.as_slice() {
            [] => self.invalid_statement(
                span,
                format!("unit `{}` has no `scale`", unit.name.text),
                "no scale",
                format!(
                    "say how many decimals amounts keep, such as `unit {} scale 2` for hundredths",
                    unit.name.text
                ),
            ),
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "scale".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                scale = self
                    .whole(*first, 0, u64::from(MAX_UNIT_SCALE), "a scale")
                    .and_then(|value| u32::try_from(value).ok());
            }
        }
        let mut rounding = None;
        if let Some(first) = unit.rounds.first() {
            if let Some(second) = unit.rounds.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "round".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            rounding = self.rounding_mode(*first);
        }
        self.units.push(UnitRef {
            name: unit.name.text,
            span: unit.name.span,
            scale: scale.unwrap_or(0),
            rounding,
        });
    }

    pub(super) fn rounding_mode(&mut self, token: Token<'_>) -> Option<RoundingMode> {
        let mode = match token.text {
            "up" => RoundingMode::Up,
            "down" => RoundingMode::Down,
            "half-up" => RoundingMode::HalfUp,
            "half-even" => RoundingMode::HalfEven,
            "half-down" => RoundingMode::HalfDown,
            other => {
                let help = if other == "nearest" {
                    "`nearest` rounds quantities; an amount rounds `up`, `down`, `half-up`, `half-even` or `half-down`".to_owned()
                } else {
                    did_you_mean(other, ROUNDING_MODES.iter().copied(), || {
                        "amounts round `up` (away from zero), `down` (toward zero), `half-up`, `half-even` or `half-down`".to_owned()
                    })
                };
                self.push(BookError::UnknownWord {
                    what: "rounding mode",
                    name: other.to_owned(),
                    span: token.span.into(),
                    help,
                });
                return None;
            }
        };
        Some(mode)
    }

    pub(super) fn channels_decl(&mut self, channels: &ast::ChannelsDecl<'a>, span: Span) {
        let mut names: Vec<Token<'a>> = Vec::new();
        for (index, name) in channels.names.iter().enumerate() {
            if index == MAX_CHANNELS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "channels",
                    limit: MAX_CHANNELS,
                    span: name.span.into(),
                });
                break;
            }
            self.name("channel", *name);
            if let Some(first) = names.iter().find(|known| known.text == name.text) {
                let first = first.span;
                self.duplicate("channel", name.text, first, name.span);
            } else {
                names.push(*name);
            }
        }
        let default = match channels.default {
            Some(default) if names.iter().any(|name| name.text == default.text) => {
                default.text.to_owned()
            }
            Some(default) => {
                let listed: Vec<&str> = names.iter().map(|name| name.text).collect();
                self.unknown_channel(default, &listed);
                String::new()
            }
            None => {
                let first = names.first().map_or("web", |name| name.text);
                self.invalid_statement(
                    span,
                    "the channels have no `default`".to_owned(),
                    "no default",
                    format!(
                        "say which channel a request without one uses, such as `default {first}`"
                    ),
                );
                String::new()
            }
        };
        self.channels = Some(ChannelInfo {
            names: names.iter().map(|name| name.text.to_owned()).collect(),
            default,
        });
    }

    // ---- Features -------------------------------------------------------------------------
}
