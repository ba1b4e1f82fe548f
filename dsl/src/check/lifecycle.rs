//! A plan's lifecycle: yearly cycles, and the caps on the balance, on the spend of a period
//! and on one request (`balance at most`, `limit N UNIT per day|month|cycle|request`).

use super::*;

/// The caps a plan states, with where, for the checks across statements.
#[derive(Default)]
pub(super) struct CapParts {
    pub caps: Caps,
    /// Per unit: the `balance at most` statement.
    balance_spans: Vec<(String, Span)>,
    /// Per (unit, period): the `limit … per …` statement.
    spend_spans: Vec<(String, SpendPeriod, Span)>,
    /// Per unit: the `limit … per request` statement.
    request_spans: Vec<(String, Span)>,
}

/// What one plan's cross-statement checks read.
pub(super) struct LifecycleView<'p, 'a> {
    pub block: &'p ast::Block<'a>,
    pub cycle: Option<(Cycle, Span)>,
    pub grants: &'p [Grant],
    pub grant_spans: &'p [(String, Span)],
    pub packages: &'p [Package],
}

/// The period words of `limit N UNIT per PERIOD`.
const CAP_PERIODS: [&str; 4] = ["day", "month", "cycle", "request"];

impl<'a> Checker<'a> {
    /// The words after `cycle`, when they name a yearly cycle.
    pub(super) fn yearly_cycle(words: &[&str]) -> Option<Cycle> {
        match words {
            ["yearly", "calendar"] => Some(Cycle::YearlyCalendar),
            ["yearly", "from", "purchase"] => Some(Cycle::YearlyFromPurchase),
            _ => None,
        }
    }

    /// `balance at most AMOUNT`.
    pub(super) fn balance_cap_decl(
        &mut self,
        amount: &ast::Amount<'a>,
        statement: &ast::Statement<'a>,
        parts: &mut CapParts,
    ) {
        let Some(unit) = self.unit(amount.unit) else {
            return;
        };
        if let Some((_, first)) = parts
            .balance_spans
            .iter()
            .find(|(known, _)| known == unit.name)
        {
            let first = *first;
            self.repeated(
                format!("the balance of `{}` is capped twice", unit.name),
                first,
                statement.span,
                "keep one `balance at most` per unit".to_owned(),
            );
            return;
        }
        parts
            .balance_spans
            .push((unit.name.to_owned(), statement.span));
        if let Some(minor) = self.minor(amount, unit, true) {
            parts
                .caps
                .balance_max_minor
                .insert(unit.name.to_owned(), minor);
        }
    }

    /// `limit N UNIT per day|month|cycle|request`; `false` when the words are not a cap (the
    /// caller reports them as an unknown limit).
    pub(super) fn cap_limit_decl(
        &mut self,
        number: Token<'a>,
        words: &[Token<'a>],
        statement: &ast::Statement<'a>,
        has_cycle: bool,
        plan_name: &str,
        parts: &mut CapParts,
    ) -> bool {
        let [unit_word, per, period] = words else {
            return false;
        };
        // `limit 60 requests per …` limits the request rate (`plans.rs`).
        if unit_word.text == "requests" {
            return false;
        }
        if per.text != "per" || !CAP_PERIODS.contains(&period.text) {
            if per.text == "per" && self.units.iter().any(|unit| unit.name == unit_word.text) {
                let help = did_you_mean(period.text, CAP_PERIODS.into_iter(), || {
                    format!(
                        "cap the spend `per day`, `per month` or `per cycle`, or one request `per request`, such as `limit {} {} per day`",
                        number.text, unit_word.text
                    )
                });
                self.push(BookError::UnknownWord {
                    what: "spend limit period",
                    name: period.text.to_owned(),
                    span: period.span.into(),
                    help,
                });
                return true;
            }
            return false;
        }
        let Some(unit) = self.unit(*unit_word) else {
            return true;
        };
        let amount = ast::Amount {
            number,
            unit: *unit_word,
            span: number.span.to(unit_word.span),
        };
        let minor = self.minor(&amount, unit, true);
        let span = statement.span;
        if period.text == "request" {
            if let Some((_, first)) = parts
                .request_spans
                .iter()
                .find(|(known, _)| known == unit.name)
            {
                let first = *first;
                self.repeated(
                    format!("one request's `{}` is capped twice", unit.name),
                    first,
                    span,
                    "keep one `limit … per request` per unit".to_owned(),
                );
                return true;
            }
            parts.request_spans.push((unit.name.to_owned(), span));
            if let Some(minor) = minor {
                parts
                    .caps
                    .per_request_minor
                    .insert(unit.name.to_owned(), minor);
            }
            return true;
        }
        let period_kind = match period.text {
            "day" => SpendPeriod::Day,
            "month" => SpendPeriod::Month,
            _ => {
                if !has_cycle {
                    self.cycle_missing("limit … per cycle", plan_name, period.span);
                }
                SpendPeriod::Cycle
            }
        };
        if let Some((_, _, first)) = parts
            .spend_spans
            .iter()
            .find(|(known, known_period, _)| known == unit.name && *known_period == period_kind)
        {
            let first = *first;
            self.repeated(
                format!(
                    "the spend of `{}` per {} is capped twice",
                    unit.name, period.text
                ),
                first,
                span,
                "keep one spend limit per unit and period".to_owned(),
            );
            return true;
        }
        if parts.spend_spans.len() == MAX_SPEND_LIMITS_PER_PLAN {
            self.push(BookError::TooMany {
                what: "plan",
                items: "spend limits",
                limit: MAX_SPEND_LIMITS_PER_PLAN,
                span: span.into(),
            });
            return true;
        }
        parts
            .spend_spans
            .push((unit.name.to_owned(), period_kind, span));
        if let Some(amount_minor) = minor {
            parts.caps.spend.push(SpendLimit {
                unit: unit.name.to_owned(),
                period: period_kind,
                amount_minor,
            });
        }
        true
    }

    /// Checks across a plan's statements: grants and packages above the balance cap, a
    /// per-request cap above a spend limit, yearly grants, a yearly cycle sold for less
    /// than a year.
    pub(super) fn lifecycle_checks(&mut self, view: &LifecycleView<'_, 'a>, parts: &CapParts) {
        self.grants_within_balance_cap(view, parts);
        self.request_cap_within_spend(parts);
        self.yearly_grant_words(view);
        self.yearly_cycle_periods(view);
    }

    fn grants_within_balance_cap(&mut self, view: &LifecycleView<'_, 'a>, parts: &CapParts) {
        for (unit, cap_span) in &parts.balance_spans {
            let Some(&cap_minor) = parts.caps.balance_max_minor.get(unit) else {
                continue;
            };
            for (grant, (_, grant_span)) in view.grants.iter().zip(view.grant_spans) {
                if grant.unit == *unit && grant.amount_minor > cap_minor {
                    self.push(BookError::CapExceededByPlan {
                        message: format!(
                            "a grant of `{} {unit}` is more than the balance may hold",
                            self.shown_minor(unit, grant.amount_minor)
                        ),
                        cap: (*cap_span).into(),
                        cap_label: "the cap",
                        exceeded_by: (*grant_span).into(),
                        label: "grants more than the cap".to_owned(),
                        help: "raise the cap to at least the grant, or grant less: a grant is trimmed to the cap, so this one is never given in full".to_owned(),
                    });
                }
            }
            for package in view.packages {
                if package.unit != *unit || package.amount_minor <= cap_minor {
                    continue;
                }
                let span = view
                    .block
                    .body
                    .iter()
                    .find_map(|statement| match &statement.kind {
                        ast::StatementKind::Package { name, .. } if name.text == package.name => {
                            Some(statement.span)
                        }
                        _ => None,
                    });
                if let Some(span) = span {
                    self.push(BookError::CapExceededByPlan {
                        message: format!(
                            "package `{}` sells more `{unit}` than the balance may hold",
                            package.name
                        ),
                        cap: (*cap_span).into(),
                        cap_label: "the cap",
                        exceeded_by: span.into(),
                        label: "never sold".to_owned(),
                        help: "a top-up above the cap is refused: make the package smaller or raise the cap".to_owned(),
                    });
                }
            }
        }
    }

    fn request_cap_within_spend(&mut self, parts: &CapParts) {
        for (unit, request_span) in &parts.request_spans {
            let Some(&request_minor) = parts.caps.per_request_minor.get(unit) else {
                continue;
            };
            for limit in parts.caps.spend.iter().filter(|limit| limit.unit == *unit) {
                if request_minor <= limit.amount_minor {
                    continue;
                }
                let Some((_, _, spend_span)) = parts
                    .spend_spans
                    .iter()
                    .find(|(known, period, _)| known == unit && *period == limit.period)
                else {
                    continue;
                };
                self.push(BookError::CapExceededByPlan {
                    message: format!(
                        "one request may cost more `{unit}` than the plan lets an account spend in a {}",
                        spend_period_word(limit.period)
                    ),
                    cap: (*spend_span).into(),
                    cap_label: "the spend limit",
                    exceeded_by: (*request_span).into(),
                    label: "larger than the spend limit".to_owned(),
                    help: "lower the per-request cap to at most the spend limit, or raise the spend limit".to_owned(),
                });
            }
        }
    }

    /// `every year` and `every month` are not grant frequencies: a grant is given every
    /// cycle, and the cycle is monthly or yearly.
    fn yearly_grant_words(&mut self, view: &LifecycleView<'_, 'a>) {
        let yearly = view.cycle.is_some_and(|(cycle, _)| cycle.months() == 12);
        for statement in &view.block.body {
            let ast::StatementKind::Grant(grant) = &statement.kind else {
                continue;
            };
            let Some(ast::Every::Every { word, span }) = &grant.every else {
                continue;
            };
            let (message, label, help) = match (word.text, yearly) {
                ("year", false) => (
                    "a yearly grant on a plan whose cycle is not yearly".to_owned(),
                    "needs a yearly cycle",
                    "write `cycle yearly from purchase` (or `cycle yearly calendar`) and grant `every cycle`: the year's credits are then given at once, at the start of each year".to_owned(),
                ),
                ("year", true) => (
                    "on a yearly cycle, a grant every cycle is given every year".to_owned(),
                    "write `every cycle`",
                    "write `every cycle`: the plan's cycle is yearly".to_owned(),
                ),
                ("month", true) => (
                    "a monthly grant on a yearly cycle".to_owned(),
                    "the cycle is yearly",
                    "grants renew with the cycle: to grant monthly within a yearly subscription write `cycle monthly from purchase` with `periods yearly`".to_owned(),
                ),
                ("month", false) => (
                    "a grant every month is a grant every cycle".to_owned(),
                    "write `every cycle`",
                    "write `every cycle` with `cycle monthly from purchase` (or `calendar`)".to_owned(),
                ),
                _ => continue,
            };
            self.invalid_statement(*span, message, label, help);
        }
    }

    /// A yearly cycle grants a year of credits at once: a plan sold monthly or quarterly
    /// would give them for a period paid a fraction of.
    fn yearly_cycle_periods(&mut self, view: &LifecycleView<'_, 'a>) {
        let Some((cycle, _)) = view.cycle else {
            return;
        };
        if cycle.months() != 12 {
            return;
        }
        for statement in &view.block.body {
            let ast::StatementKind::Periods(names) = &statement.kind else {
                continue;
            };
            for name in names {
                if matches!(name.text, "monthly" | "quarterly") {
                    self.invalid_statement(
                        name.span,
                        format!("a yearly cycle sold as a `{}` subscription", name.text),
                        "paid for less than a year",
                        "a yearly cycle grants a year's credits at once: sell it `periods yearly`, or keep `cycle monthly …` to grant monthly within a yearly subscription".to_owned(),
                    );
                }
            }
        }
    }

    /// An amount of minor units in the unit's own words (`50000`, `0.25`).
    fn shown_minor(&self, unit: &str, minor: i64) -> String {
        let scale = self
            .units
            .iter()
            .find(|known| known.name == unit)
            .map_or(0, |known| known.scale);
        Decimal::new(minor, scale).normalize().to_string()
    }
}

/// `day`, `month`, `cycle`.
pub(crate) fn spend_period_word(period: SpendPeriod) -> &'static str {
    match period {
        SpendPeriod::Day => "day",
        SpendPeriod::Month => "month",
        SpendPeriod::Cycle => "cycle",
    }
}
