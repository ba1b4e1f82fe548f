//! `expect … refused CODE` and `scenario` blocks: codes, plans, kinds, units, dates in order
//! and labels defined before they are used.

use super::*;
use crate::scenario::{
    Action, BalanceExpectation, MAX_SCENARIOS, MAX_STEPS_PER_SCENARIO, REFUSAL_CODES,
    RefusedExpect, Request, Scenario, Step, is_refusal_code,
};

/// What a label names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Labelled {
    Charge,
    Hold,
}

impl<'a> Checker<'a> {
    /// The refused examples among `expects`.
    pub(super) fn refusals(
        &mut self,
        expects: &[(&ast::ExpectDecl<'a>, Span)],
        scopes: &[Scope<'a>],
    ) -> (Vec<RefusedExpect>, Vec<Span>) {
        let mut refusals = Vec::new();
        let mut spans = Vec::new();
        for (expect, span) in expects {
            let Some(code) = expect.refused else {
                continue;
            };
            let known = self.refusal_code(code);
            let [term] = expect.terms.as_slice() else {
                let second = expect.terms.get(1).map_or(*span, |term| term.span);
                self.push(BookError::InvalidExample {
                    message: "a refused example names one request".to_owned(),
                    span: second.into(),
                    label: "a second request".to_owned(),
                    help: "write one `expect … refused` per request".to_owned(),
                });
                continue;
            };
            let Some(request) = self.refused_request(term, code, scopes) else {
                continue;
            };
            if known {
                refusals.push(RefusedExpect {
                    request,
                    code: code.text.to_owned(),
                    line: u32::try_from(self.line(span.start)).unwrap_or(u32::MAX),
                    source: crate::fmt::expect_text(expect),
                });
                spans.push(*span);
            }
        }
        (refusals, spans)
    }

    /// Whether `code` is a refusal code; reports it when not.
    fn refusal_code(&mut self, code: Token<'_>) -> bool {
        if is_refusal_code(code.text) {
            return true;
        }
        let help = did_you_mean(code.text, REFUSAL_CODES.iter().copied(), || {
            format!("the codes are {}", backticked_and(REFUSAL_CODES))
        });
        self.push(BookError::UnknownRefusalCode {
            code: code.text.to_owned(),
            span: code.span.into(),
            help,
        });
        false
    }

    /// A request expected to be refused: sent as written, so only its feature is checked
    /// (unless it is expected to be refused as an unknown feature), one time, not `first`.
    fn refused_request(
        &mut self,
        term: &ast::ExpectTermDecl<'_>,
        code: Token<'_>,
        scopes: &[Scope<'a>],
    ) -> Option<Request> {
        if let Some(count) = term.count {
            self.push(BookError::InvalidExample {
                message: "a refused example names one request".to_owned(),
                span: count.span.into(),
                label: "a number of times".to_owned(),
                help: "remove the count: a refused request is refused each time".to_owned(),
            });
            return None;
        }
        if let Some(first) = term.first {
            self.push(BookError::InvalidExample {
                message: "`first` does not apply to a refused example".to_owned(),
                span: first.into(),
                label: "here".to_owned(),
                help: "remove `first`".to_owned(),
            });
            return None;
        }
        if code.text != "unknown-feature" {
            self.feature_scope(scopes, term.feature)?;
        }
        Some(request_of(term))
    }

    pub(super) fn scenarios(
        &mut self,
        scenarios: &[(&ast::ScenarioDecl<'a>, Span)],
        scopes: &[Scope<'a>],
        plans: &[Plan],
        effective: Option<NaiveDate>,
    ) -> Vec<Scenario> {
        let mut lowered = Vec::new();
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for (index, (scenario, span)) in scenarios.iter().enumerate() {
            if index == MAX_SCENARIOS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "scenarios",
                    limit: MAX_SCENARIOS,
                    span: (*span).into(),
                });
                break;
            }
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == scenario.name.text) {
                let first = *first;
                self.repeated(
                    format!("two scenarios are called \"{}\"", scenario.name.text),
                    first,
                    scenario.name.span,
                    "give each scenario its own name".to_owned(),
                );
                continue;
            }
            seen.push((scenario.name.text, scenario.name.span));
            if let Some(scenario) = self.scenario(scenario, *span, scopes, plans, effective) {
                lowered.push(scenario);
            }
        }
        lowered
    }

    fn scenario(
        &mut self,
        decl: &ast::ScenarioDecl<'a>,
        span: Span,
        scopes: &[Scope<'a>],
        plans: &[Plan],
        effective: Option<NaiveDate>,
    ) -> Option<Scenario> {
        let errors_before = self.errors.len();
        let plan = plans.iter().find(|plan| plan.name == decl.plan.text);
        if plan.is_none() {
            let names: Vec<&str> = plans.iter().map(|plan| plan.name.as_str()).collect();
            let help = did_you_mean(decl.plan.text, names.iter().copied(), || {
                if names.is_empty() {
                    "the book declares no plans; a scenario runs on an account of one".to_owned()
                } else {
                    format!("the plans are {}", backticked_and(&names))
                }
            });
            self.scenario_error(
                format!("`{}` is not a plan of this book", decl.plan.text),
                decl.plan.span,
                "unknown plan",
                help,
            );
        }
        let start = match decl.start {
            Some(token) => self.scenario_date(token)?,
            None => effective?,
        };
        let mut now = start;
        let mut now_span = decl.start.map_or(decl.open, |token| token.span);
        let mut labels: Vec<(&str, Labelled, Span)> = Vec::new();
        let mut subscribed = false;
        let mut steps = Vec::new();
        for (index, step) in decl.steps.iter().enumerate() {
            if index == MAX_STEPS_PER_SCENARIO {
                self.push(BookError::TooMany {
                    what: "scenario",
                    items: "steps",
                    limit: MAX_STEPS_PER_SCENARIO,
                    span: step.span.into(),
                });
                return None;
            }
            if let Some(code) = step.refused {
                self.refusal_code(code);
            }
            match &step.kind {
                ast::StepKind::Subscribe(_) => subscribed = true,
                ast::StepKind::Cancel if !subscribed => {
                    self.scenario_error(
                        "`cancel` before any `subscribe`".to_owned(),
                        step.span,
                        "nothing to cancel",
                        "subscribe in an earlier step, such as `subscribe monthly`".to_owned(),
                    );
                    continue;
                }
                _ => {}
            }
            let action = match &step.kind {
                ast::StepKind::At(token) => {
                    let Some(date) = self.scenario_date(*token) else {
                        continue;
                    };
                    if date <= now {
                        self.push(BookError::InvalidScenario {
                            message: format!(
                                "`at {}` does not come after {now}",
                                token.text
                            ),
                            span: token.span.into(),
                            label: format!("not after {now}"),
                            help: format!(
                                "a scenario's dates go forward: write a date after {now} (the date before is at line {})",
                                self.line(now_span.start)
                            ),
                        });
                        continue;
                    }
                    now = date;
                    now_span = token.span;
                    Action::At { date }
                }
                kind => match self.step_action(kind, step, plan, scopes, &mut labels) {
                    Some(action) => action,
                    None => continue,
                },
            };
            steps.push(Step {
                line: u32::try_from(self.line(step.span.start)).unwrap_or(u32::MAX),
                source: crate::fmt::step_text(step),
                action,
                refused: step.refused.map(|code| code.text.to_owned()),
            });
        }
        let plan = plan?;
        (self.errors.len() == errors_before).then(|| Scenario {
            name: decl.name.text.to_owned(),
            plan: plan.name.clone(),
            start,
            line: u32::try_from(self.line(span.start)).unwrap_or(u32::MAX),
            steps,
        })
    }

    fn step_action<'s>(
        &mut self,
        kind: &'s ast::StepKind<'a>,
        step: &ast::StepDecl<'a>,
        plan: Option<&Plan>,
        scopes: &[Scope<'a>],
        labels: &mut Vec<(&'s str, Labelled, Span)>,
    ) -> Option<Action> {
        match kind {
            ast::StepKind::Subscribe(period) => {
                let sold: Vec<String> = plan
                    .map(|plan| {
                        plan.periods
                            .iter()
                            .map(|period| period_name(*period).to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let allowed: Vec<&str> = if sold.is_empty() {
                    vec!["monthly", "quarterly", "yearly"]
                } else {
                    sold.iter().map(String::as_str).collect()
                };
                if !allowed.contains(&period.text) {
                    self.scenario_error(
                        format!("the plan is not sold `{}`", period.text),
                        period.span,
                        "not a period of the plan",
                        format!("subscribe {}", backticked_or(&allowed)),
                    );
                    return None;
                }
                Some(Action::Subscribe {
                    period: period.text.to_owned(),
                })
            }
            ast::StepKind::TopUp { amount, kind } => {
                let unit = self.unit(amount.unit)?;
                let value = self.amount(amount.number, true, "a top-up")?;
                if value.scale() > unit.scale {
                    self.scenario_error(
                        format!(
                            "`{}` is finer than `{}` holds",
                            amount.number.text, unit.name
                        ),
                        amount.number.span,
                        "too many decimals",
                        format!("`{}` keeps {} decimals", unit.name, unit.scale),
                    );
                    return None;
                }
                if let Some(kind) = kind {
                    self.known_kind(plan, *kind)?;
                }
                Some(Action::TopUp {
                    amount: value,
                    unit: unit.name.to_owned(),
                    kind: kind.map(|kind| kind.text.to_owned()),
                })
            }
            ast::StepKind::TopUpPackage(package) => {
                if let Some(plan) = plan
                    && !plan.packages.iter().any(|known| known.name == package.text)
                {
                    let names: Vec<&str> = plan
                        .packages
                        .iter()
                        .map(|known| known.name.as_str())
                        .collect();
                    let help = did_you_mean(package.text, names.iter().copied(), || {
                        if names.is_empty() {
                            "the plan sells no packages".to_owned()
                        } else {
                            format!("the plan's packages are {}", backticked_and(&names))
                        }
                    });
                    self.scenario_error(
                        format!("`{}` is not a package of the plan", package.text),
                        package.span,
                        "unknown package",
                        help,
                    );
                    return None;
                }
                Some(Action::TopUpPackage {
                    package: package.text.to_owned(),
                })
            }
            ast::StepKind::Charge { term, label, .. } | ast::StepKind::Hold { term, label } => {
                let is_charge = matches!(kind, ast::StepKind::Charge { .. });
                let charged = match kind {
                    ast::StepKind::Charge { amounts, .. } => self.charged(amounts)?,
                    _ => Vec::new(),
                };
                let count = self.step_request(term, step, is_charge, label.is_some(), scopes)?;
                if let Some(label) = label {
                    if let Some((_, _, first)) =
                        labels.iter().find(|(name, _, _)| *name == label.text)
                    {
                        let first = *first;
                        self.repeated(
                            format!("the scenario names two requests `{}`", label.text),
                            first,
                            label.span,
                            "give each request its own name".to_owned(),
                        );
                        return None;
                    }
                    let what = if is_charge {
                        Labelled::Charge
                    } else {
                        Labelled::Hold
                    };
                    labels.push((label.text, what, label.span));
                }
                let request = request_of(term);
                let label = label.map(|label| label.text.to_owned());
                Some(if is_charge {
                    Action::Charge {
                        request,
                        count,
                        label,
                        charged,
                    }
                } else {
                    Action::Hold { request, label }
                })
            }
            ast::StepKind::Capture(hold) | ast::StepKind::Release(hold) => {
                self.label_defined(labels, *hold, Labelled::Hold)?;
                Some(if matches!(kind, ast::StepKind::Capture(_)) {
                    Action::Capture {
                        hold: hold.text.to_owned(),
                    }
                } else {
                    Action::Release {
                        hold: hold.text.to_owned(),
                    }
                })
            }
            ast::StepKind::Refund { charge, reason } => {
                self.label_defined(labels, *charge, Labelled::Charge)?;
                if !REFUND_REASONS.contains(&reason.text) {
                    self.scenario_error(
                        format!("`{}` is not a refund reason", reason.text),
                        reason.span,
                        "unknown reason",
                        format!("the reasons are {}", backticked_and(REFUND_REASONS)),
                    );
                    return None;
                }
                Some(Action::Refund {
                    charge: charge.text.to_owned(),
                    reason: reason.text.to_owned(),
                })
            }
            ast::StepKind::Cancel => Some(Action::Cancel),
            ast::StepKind::Balance(items) => {
                let mut expected: Vec<BalanceExpectation> = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.balance_item(item, plan) {
                        Some(balance) => {
                            if expected.iter().any(|known| {
                                known.kind == balance.kind && known.unit == balance.unit
                            }) {
                                self.scenario_error(
                                    format!("the step states `{}` twice", balance.describe()),
                                    item.span,
                                    "stated before",
                                    "state each balance once".to_owned(),
                                );
                                ok = false;
                            }
                            expected.push(balance);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Action::Balance { expected })
            }
            // Handled by the caller, which keeps the scenario's date.
            ast::StepKind::At(_) => None,
        }
    }

    /// Checks a charge's or hold's request; its count.
    fn step_request(
        &mut self,
        term: &ast::ExpectTermDecl<'_>,
        step: &ast::StepDecl<'_>,
        is_charge: bool,
        labelled: bool,
        scopes: &[Scope<'a>],
    ) -> Option<u64> {
        if let Some(first) = term.first {
            self.scenario_error(
                "`first` does not apply to a scenario's request".to_owned(),
                first,
                "here",
                "the account knows which request is its first; remove `first`".to_owned(),
            );
            return None;
        }
        let count = match term.count {
            Some(count) => self.whole(count, 1, MAX_EXPECT_COUNT, "a number of times")?,
            None => 1,
        };
        if count > 1 && (!is_charge || labelled) {
            let message = if is_charge {
                "a named charge is one charge"
            } else {
                "a hold is one request"
            };
            self.scenario_error(
                message.to_owned(),
                term.count.map_or(term.span, |count| count.span),
                "a number of times",
                "remove the count, or write one step per request".to_owned(),
            );
            return None;
        }
        match step.refused {
            // Sent as written: the refusal is the point.
            Some(code) => {
                if code.text != "unknown-feature" {
                    self.feature_scope(scopes, term.feature)?;
                }
            }
            None => {
                self.expect_term(term, scopes)?;
            }
        }
        Some(count)
    }

    fn label_defined(
        &mut self,
        labels: &[(&str, Labelled, Span)],
        token: Token<'_>,
        wanted: Labelled,
    ) -> Option<()> {
        let what = match wanted {
            Labelled::Charge => "charge",
            Labelled::Hold => "hold",
        };
        match labels.iter().find(|(name, _, _)| *name == token.text) {
            Some((_, found, _)) if *found == wanted => Some(()),
            Some(_) => {
                self.scenario_error(
                    format!("`{}` names a request that is not a {what}", token.text),
                    token.span,
                    &format!("not a {what}"),
                    format!("name a {what} of an earlier step"),
                );
                None
            }
            None => {
                let names: Vec<&str> = labels
                    .iter()
                    .filter(|(_, found, _)| *found == wanted)
                    .map(|(name, _, _)| *name)
                    .collect();
                let help = did_you_mean(token.text, names.iter().copied(), || {
                    format!(
                        "name the {what} in an earlier step, such as `{what} image(model: pro) as {}`",
                        token.text
                    )
                });
                self.scenario_error(
                    format!("no earlier step names a {what} `{}`", token.text),
                    token.span,
                    "not defined before",
                    help,
                );
                None
            }
        }
    }

    /// A charge step's `= AMOUNT, ...`: each unit once, not finer than its scale.
    fn charged(&mut self, amounts: &[ast::Amount<'_>]) -> Option<Vec<(String, Decimal)>> {
        let mut charged: Vec<(String, Decimal)> = Vec::new();
        let mut ok = true;
        for amount in amounts {
            let Some(unit) = self.unit(amount.unit) else {
                ok = false;
                continue;
            };
            let Some(value) = self.amount(amount.number, false, "a charged amount") else {
                ok = false;
                continue;
            };
            if value.scale() > unit.scale {
                self.scenario_error(
                    format!(
                        "`{}` is finer than `{}` holds",
                        amount.number.text, unit.name
                    ),
                    amount.number.span,
                    "too many decimals",
                    format!("`{}` keeps {} decimals", unit.name, unit.scale),
                );
                ok = false;
                continue;
            }
            if charged.iter().any(|(known, _)| known == unit.name) {
                self.scenario_error(
                    format!("the step states `{}` twice", unit.name),
                    amount.span,
                    "stated before",
                    format!("give one amount of `{}`", unit.name),
                );
                ok = false;
                continue;
            }
            charged.push((unit.name.to_owned(), value));
        }
        ok.then_some(charged)
    }

    fn balance_item(
        &mut self,
        item: &ast::BalanceDecl<'_>,
        plan: Option<&Plan>,
    ) -> Option<BalanceExpectation> {
        let unit = self.unit(item.amount.unit)?;
        let value = self.amount(item.amount.number, false, "a balance")?;
        if value.scale() > unit.scale {
            self.scenario_error(
                format!(
                    "`{}` is finer than `{}` holds",
                    item.amount.number.text, unit.name
                ),
                item.amount.number.span,
                "too many decimals",
                format!("`{}` keeps {} decimals", unit.name, unit.scale),
            );
            return None;
        }
        if let Some(kind) = item.kind {
            self.known_kind(plan, kind)?;
        }
        Some(BalanceExpectation {
            kind: item.kind.map(|kind| kind.text.to_owned()),
            unit: unit.name.to_owned(),
            amount: value,
        })
    }

    /// A credit kind the plan's `order` lists.
    fn known_kind(&mut self, plan: Option<&Plan>, kind: Token<'_>) -> Option<()> {
        let Some(plan) = plan else {
            return Some(());
        };
        if plan.order.iter().any(|known| known == kind.text) {
            return Some(());
        }
        let names: Vec<&str> = plan.order.iter().map(String::as_str).collect();
        let help = did_you_mean(kind.text, names.iter().copied(), || {
            format!("the plan `{}` holds {}", plan.name, backticked_and(&names))
        });
        self.scenario_error(
            format!(
                "`{}` is not a credit kind of the plan `{}`",
                kind.text, plan.name
            ),
            kind.span,
            "unknown kind",
            help,
        );
        None
    }

    fn scenario_date(&mut self, token: Token<'_>) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(token.text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.push(BookError::InvalidDate {
                    text: token.text.to_owned(),
                    span: token.span.into(),
                });
                None
            }
        }
    }

    fn scenario_error(&mut self, message: String, span: Span, label: &str, help: String) {
        self.push(BookError::InvalidScenario {
            message,
            span: span.into(),
            label: label.to_owned(),
            help,
        });
    }
}

/// A request as written: the channel apart, the other inputs' texts.
fn request_of(term: &ast::ExpectTermDecl<'_>) -> Request {
    let mut channel = None;
    let mut inputs = Vec::new();
    for arg in &term.args {
        if arg.name.text == "channel" {
            channel = Some(arg.value.text.to_owned());
        } else {
            inputs.push((arg.name.text.to_owned(), single_spaced(arg.value.text)));
        }
    }
    Request {
        feature: term.feature.text.to_owned(),
        channel,
        inputs,
    }
}

fn single_spaced(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn period_name(period: SubscriptionPeriod) -> &'static str {
    match period {
        SubscriptionPeriod::Monthly => "monthly",
        SubscriptionPeriod::Quarterly => "quarterly",
        SubscriptionPeriod::Yearly => "yearly",
    }
}

fn backticked_or(values: &[&str]) -> String {
    let parts: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    parts.join(" or ")
}
