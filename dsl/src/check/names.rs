//! Names: their spelling, and resolving units, inputs and features by name.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn name(&mut self, what: &'static str, token: Token<'_>) -> bool {
        if is_name(token.text) {
            return self.name_length(what, token);
        }
        self.push(BookError::InvalidName {
            what,
            name: token.text.to_owned(),
            span: token.span.into(),
            help: NAME_HELP.to_owned(),
        });
        false
    }

    /// Whether a name fits [`MAX_NAME_CHARS`]; reports it when not.
    pub(super) fn name_length(&mut self, what: &'static str, token: Token<'_>) -> bool {
        let length = token.text.chars().count();
        if length <= MAX_NAME_CHARS {
            return true;
        }
        self.push(BookError::NameTooLong {
            what,
            name: token.text.to_owned(),
            length,
            limit: MAX_NAME_CHARS,
            span: token.span.into(),
            help: format!(
                "shorten it to {MAX_NAME_CHARS} characters or fewer: requests name it, and the API refuses longer names"
            ),
        });
        false
    }

    pub(super) fn unit(&mut self, token: Token<'_>) -> Option<UnitRef<'a>> {
        if let Some(unit) = self.units.iter().find(|unit| unit.name == token.text) {
            return Some(*unit);
        }
        let names: Vec<&str> = self.units.iter().map(|unit| unit.name).collect();
        let help = if matches!(token.text, "percent" | "percents" | "percentage" | "pct") {
            "a percentage is a statement of its own on the feature's amount: `add 50%` (or `add -20%` for a discount), with `when` for a case".to_owned()
        } else if unit_word(token.text).is_some() {
            format!(
                "`{}` measures a quantity, not an amount; a price is written `20 credit per {}`, a minimum quantity `minimum 30s of duration`",
                token.text, token.text
            )
        } else {
            did_you_mean(token.text, names.iter().copied(), || {
                if names.is_empty() {
                    format!(
                        "declare it at the top of the file, such as `unit {} scale 2 round half-up`",
                        token.text
                    )
                } else {
                    format!(
                        "the units are {}; declare new ones at the top of the file, such as `unit {} scale 2 round half-up`",
                        backticked_and(&names),
                        token.text
                    )
                }
            })
        };
        self.push(BookError::UnknownUnit {
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
        None
    }

    pub(super) fn input<'s>(
        &mut self,
        scope: &'s Scope<'_>,
        token: Token<'_>,
    ) -> Option<&'s ScopeInput<'s>> {
        if let Some(input) = scope
            .inputs
            .iter()
            .find(|input| input.input.name == token.text)
        {
            return Some(input);
        }
        if scope.broken.contains(&token.text) {
            return None;
        }
        let names: Vec<&str> = scope
            .inputs
            .iter()
            .map(|input| input.input.name.as_str())
            .collect();
        let help = if token.text == "channel" {
            "`channel` is not an input: declare the channels at the top of the file, such as `channels web, api default web`".to_owned()
        } else if token.text == "plan" && names.iter().all(|name| *name != "plan") {
            "the account's plan is tested with `is` in a feature's own conditions, such as `base 8 credit per minute when plan is business`; inside a `plan { }` block the plan is already known".to_owned()
        } else {
            did_you_mean(token.text, names.iter().copied(), || {
                if names.is_empty() {
                    format!(
                        "declare it in the feature, such as `input {}: duration max 1h`",
                        token.text
                    )
                } else {
                    format!(
                        "the inputs of `{}` are {}; declare new ones with `input`",
                        scope.name.text,
                        backticked_and(&names)
                    )
                }
            })
        };
        self.push(BookError::UnknownInput {
            name: token.text.to_owned(),
            feature: scope.name.text.to_owned(),
            span: token.span.into(),
            help,
        });
        None
    }

    pub(super) fn feature_scope<'s>(
        &mut self,
        scopes: &'s [Scope<'_>],
        token: Token<'_>,
    ) -> Option<&'s Scope<'s>> {
        if let Some(scope) = scopes.iter().find(|scope| scope.name.text == token.text) {
            return Some(scope);
        }
        self.unknown_feature(scopes, token);
        None
    }

    pub(super) fn unknown_feature(&mut self, scopes: &[Scope<'_>], token: Token<'_>) {
        let names: Vec<&str> = scopes.iter().map(|scope| scope.name.text).collect();
        let help = did_you_mean(token.text, names.iter().copied(), || {
            if names.is_empty() {
                "the book declares no features".to_owned()
            } else {
                format!("the features are {}", backticked_and(&names))
            }
        });
        self.push(BookError::UnknownFeature {
            name: token.text.to_owned(),
            span: token.span.into(),
            help,
        });
    }

    // ---- File -----------------------------------------------------------------------------
}
