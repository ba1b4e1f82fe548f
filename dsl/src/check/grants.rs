//! Grants and top-up packages of a plan, and the credit kinds they use.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn grant(
        &mut self,
        grant: &ast::GrantDecl<'a>,
        span: Span,
        plan: &str,
        has_cycle: bool,
        used_kinds: &mut Vec<(Token<'a>, &'static str)>,
    ) -> Option<Grant> {
        let unit = self.unit(grant.amount.unit);
        let amount_minor = unit.and_then(|unit| self.minor(&grant.amount, unit, true));
        let every = self.grant_every(grant, span, plan, has_cycle);
        let kind = match grant.kind {
            Some(kind) => {
                self.name("credit kind", kind);
                used_kinds.push((kind, "granted as this kind"));
                Some(kind.text)
            }
            None => {
                self.invalid_statement(
                    span,
                    "the grant does not name its credit kind".to_owned(),
                    "as what kind?",
                    "name the kind after `as`, such as `as allocation`, `as free` or `as promotional`; the plan's `order` says which kind is spent first".to_owned(),
                );
                None
            }
        };
        let expires = match grant.expires.as_slice() {
            [] => {
                self.push(BookError::GrantWithoutExpiry { span: span.into() });
                None
            }
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "expires".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                self.expiry(first, plan, has_cycle)
                    .map(|expires| (expires, first.span))
            }
        };
        let rollover = self.grant_rollover(grant, unit, expires);
        let (unit, amount_minor, every, kind, (expires, _)) =
            (unit?, amount_minor?, every?, kind?, expires?);
        Some(Grant {
            key: grant_key(kind, unit.name, every),
            unit: unit.name.to_owned(),
            amount_minor,
            every,
            kind: kind.to_owned(),
            expires,
            rollover: if grant.rollovers.is_empty() {
                None
            } else {
                Some(rollover?)
            },
        })
    }

    /// How often a grant is given.
    fn grant_every(
        &mut self,
        grant: &ast::GrantDecl<'a>,
        span: Span,
        plan: &str,
        has_cycle: bool,
    ) -> Option<GrantEvery> {
        match &grant.every {
            Some(ast::Every::Daily(_)) => Some(GrantEvery::Day),
            Some(ast::Every::Once(_)) => Some(GrantEvery::Once),
            Some(ast::Every::Every { word, span }) => match word.text {
                "cycle" => {
                    if !has_cycle {
                        self.cycle_missing("every cycle", plan, *span);
                    }
                    Some(GrantEvery::Cycle)
                }
                "day" => Some(GrantEvery::Day),
                // Reported with the plan's cycle in view (`lifecycle.rs`).
                "year" | "month" => None,
                other => {
                    self.push(BookError::UnknownWord {
                        what: "grant period",
                        name: format!("every {other}"),
                        span: (*span).into(),
                        help: "grant `daily`, `every cycle` or `once`".to_owned(),
                    });
                    None
                }
            },
            None => {
                self.invalid_statement(
                    span,
                    "the grant does not say how often it is given".to_owned(),
                    "how often?",
                    format!(
                        "write `daily`, `every cycle` or `once` after the amount, such as `grant {} {} every cycle as allocation`",
                        grant.amount.number.text, grant.amount.unit.text
                    ),
                );
                None
            }
        }
    }

    /// A grant's rollover: only with `expires end of cycle`, a cap in the grant's unit.
    fn grant_rollover(
        &mut self,
        grant: &ast::GrantDecl<'a>,
        unit: Option<UnitRef<'a>>,
        expires: Option<(Expiry, Span)>,
    ) -> Option<Rollover> {
        if let Some(first) = grant.rollovers.first() {
            if let Some(second) = grant.rollovers.get(1) {
                self.push(BookError::DuplicateStatement {
                    keyword: "rolls over".to_owned(),
                    first: first.span.into(),
                    second: second.span.into(),
                });
            }
            if let Some((expires, expires_span)) = expires
                && expires != Expiry::EndOfCycle
            {
                let source = &crate::fmt::rollover_text(first);
                self.push(BookError::RolloverNeedsCycleEnd {
                    rollover: source.clone(),
                    span: first.span.into(),
                    expiry: Some(expires_span.into()),
                });
            }
            match &first.kind {
                ast::RolloverKind::WhileSubscribed => Some(Rollover::WhileSubscribed),
                ast::RolloverKind::Cycles { number, unit: word } => {
                    if !matches!(word.text, "cycle" | "cycles") {
                        self.push(BookError::UnknownWord {
                            what: "rollover unit",
                            name: word.text.to_owned(),
                            span: word.span.into(),
                            help: format!("write `rolls over {} cycles`", number.text),
                        });
                        None
                    } else {
                        self.whole(
                            *number,
                            1,
                            u64::from(MAX_PERIOD_COUNT),
                            "a number of cycles",
                        )
                        .and_then(|cycles| u32::try_from(cycles).ok())
                        .map(|cycles| Rollover::Cycles { cycles })
                    }
                }
                ast::RolloverKind::UpTo(cap) | ast::RolloverKind::UpToWhileSubscribed(cap) => {
                    let while_subscribed =
                        matches!(first.kind, ast::RolloverKind::UpToWhileSubscribed(_));
                    let cap_unit = self.unit(cap.unit);
                    match (cap_unit, unit) {
                        (Some(cap_unit), Some(unit)) if cap_unit.name != unit.name => {
                            self.invalid_statement(
                                cap.unit.span,
                                format!(
                                    "the grant is in `{}` but its rollover cap in `{}`",
                                    unit.name, cap_unit.name
                                ),
                                "another unit",
                                format!("write the cap in `{}`", unit.name),
                            );
                            None
                        }
                        (Some(cap_unit), _) => {
                            self.minor(cap, cap_unit, true).map(|amount_minor| {
                                if while_subscribed {
                                    Rollover::UpToWhileSubscribed { amount_minor }
                                } else {
                                    Rollover::UpTo { amount_minor }
                                }
                            })
                        }
                        _ => None,
                    }
                }
            }
        } else {
            None
        }
    }

    pub(super) fn topup(
        &mut self,
        decl: &ast::TopupDecl<'a>,
        span: Span,
        plan: &str,
        has_cycle: bool,
        used_kinds: &mut Vec<(Token<'a>, &'static str)>,
    ) -> Option<TopUpPolicy> {
        if let Some(second) = decl.requires_subscription.get(1) {
            let first = decl
                .requires_subscription
                .first()
                .copied()
                .unwrap_or(*second);
            self.push(BookError::DuplicateStatement {
                keyword: "requires subscription".to_owned(),
                first: first.into(),
                second: (*second).into(),
            });
        }
        let kind = match decl.kind {
            Some(kind) => {
                self.name("credit kind", kind);
                used_kinds.push((kind, "sold as this kind"));
                Some(kind)
            }
            None => {
                self.invalid_statement(
                    span,
                    "top-ups do not name their credit kind".to_owned(),
                    "as what kind?",
                    "write `topup as top_up, expires never`".to_owned(),
                );
                None
            }
        };
        let expires = match decl.expires.as_slice() {
            [] => {
                self.invalid_statement(
                    span,
                    "top-ups do not say when they expire".to_owned(),
                    "no `expires`",
                    "add an expiry, such as `topup as top_up, expires never`".to_owned(),
                );
                None
            }
            [first, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.push(BookError::DuplicateStatement {
                        keyword: "expires".to_owned(),
                        first: first.span.into(),
                        second: second.span.into(),
                    });
                }
                self.expiry(first, plan, has_cycle)
            }
        };
        Some(TopUpPolicy {
            kind: kind?.text.to_owned(),
            expires: expires?,
            requires_subscription: !decl.requires_subscription.is_empty(),
        })
    }

    // ---- Examples -------------------------------------------------------------------------
}
