//! `plan` blocks: cycles, gates, limits and expiries.

use super::*;
use std::collections::BTreeMap;

/// The names a plan's statements are checked against.
pub(super) struct PlanContext<'a> {
    plan_name: &'a str,
    /// Whether the plan states a `cycle` (what needs one is reported once otherwise).
    has_cycle: bool,
}

/// What a plan's statements lower to, gathered statement by statement.
#[derive(Default)]
pub(super) struct PlanParts<'a> {
    periods: Vec<SubscriptionPeriod>,
    grants: Vec<Grant>,
    grant_keys: Vec<(String, Span)>,
    order: Option<(Vec<Token<'a>>, Span)>,
    topup: Option<TopUpPolicy>,
    packages: Vec<Package>,
    package_names: Vec<Token<'a>>,
    gates: Vec<Gate>,
    credit_lines: Vec<(String, Span)>,
    credit_line_minor: BTreeMap<String, i64>,
    alerts_minor: BTreeMap<String, Vec<i64>>,
    window: Option<(u32, Vec<String>, Span)>,
    expired: Option<(ExpiredRefund, Span)>,
    limits: Limits,
    late_usage_seconds: Option<u32>,
    topup_rules: super::money::TopupRulesParts,
    expiry_warning_seconds: Option<u32>,
    /// Per unit: the rule, and where its package was named (checked once packages are known).
    auto_topup: BTreeMap<String, (AutoTopup, Token<'a>)>,
    /// `balance at most` and the spend and per-request limits.
    caps: super::lifecycle::CapParts,
    /// Kinds granted, sold or restored, with where and how, for the `order` check.
    used_kinds: Vec<(Token<'a>, &'static str)>,
}

impl<'a> Checker<'a> {
    /// Reports a statement that needs the plan's `cycle`, once per plan.
    pub(super) fn cycle_missing(&mut self, what: &str, plan: &str, span: Span) {
        if self.cycle_reported {
            return;
        }
        self.cycle_reported = true;
        self.push(BookError::CycleMissing {
            what: what.to_owned(),
            plan: plan.to_owned(),
            span: span.into(),
        });
    }

    pub(super) fn plan(&mut self, block: &ast::Block<'a>, scopes: &[Scope<'a>]) -> Plan {
        let plan_name = block.name.text;
        self.cycle_reported = false;
        let (cycle, has_cycle) = self.plan_cycle(block);
        let context = PlanContext {
            plan_name,
            has_cycle,
        };
        let mut parts = PlanParts::default();
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for (index, statement) in block.body.iter().enumerate() {
            if index == MAX_STATEMENTS_PER_PLAN {
                self.push(BookError::TooMany {
                    what: "plan",
                    items: "statements",
                    limit: MAX_STATEMENTS_PER_PLAN,
                    span: statement.keyword.into(),
                });
                break;
            }
            if self.plan_statement_placed(statement, plan_name, &mut seen) {
                self.plan_statement(statement, &context, scopes, &mut parts);
            }
        }
        self.topup_rules_fit(
            &parts.topup_rules,
            parts.topup.is_some(),
            !parts.packages.is_empty(),
            plan_name,
        );
        self.lifecycle_checks(
            &super::lifecycle::LifecycleView {
                block,
                cycle,
                grants: &parts.grants,
                grant_spans: &parts.grant_keys,
                packages: &parts.packages,
            },
            &parts.caps,
        );
        self.record_kinds(block, &parts);
        self.order_covers_kinds(&parts, plan_name);
        let refund = self.refund_policy(parts.window.take(), parts.expired.take());
        let auto_topup = self.auto_topup_packages(&parts);
        for thresholds in parts.alerts_minor.values_mut() {
            thresholds.sort_unstable_by(|a, b| b.cmp(a));
        }
        Plan {
            name: plan_name.to_owned(),
            title: block.title.map(|title| title.unquoted().to_owned()),
            cycle: cycle.map(|(cycle, _)| cycle),
            periods: parts.periods,
            grants: parts.grants,
            order: parts
                .order
                .map(|(listed, _)| listed.iter().map(|kind| kind.text.to_owned()).collect())
                .unwrap_or_default(),
            topup: parts.topup,
            packages: parts.packages,
            gates: parts.gates,
            credit_line_minor: parts.credit_line_minor,
            alerts_minor: parts.alerts_minor,
            refund,
            limits: parts.limits,
            late_usage_seconds: parts.late_usage_seconds,
            topup_rules: parts.topup_rules.rules,
            expiry_warning_seconds: parts.expiry_warning_seconds,
            auto_topup,
            caps: std::mem::take(&mut parts.caps.caps),
        }
    }

    /// The plan's `cycle`, and whether it states one (even a wrong one: what needs a cycle is
    /// then not reported again).
    fn plan_cycle(&mut self, block: &ast::Block<'a>) -> (Option<(Cycle, Span)>, bool) {
        let mut cycle: Option<(Cycle, Span)> = None;
        let mut cycle_seen = false;
        for statement in &block.body {
            if let ast::StatementKind::Cycle(words) = &statement.kind {
                if cycle_seen {
                    continue;
                }
                cycle_seen = true;
                let text: Vec<&str> = words.iter().map(|word| word.text).collect();
                match text.as_slice() {
                    ["monthly", "calendar"] => cycle = Some((Cycle::MonthlyCalendar, statement.span)),
                    ["monthly", "from", "purchase"] => cycle = Some((Cycle::MonthlyFromPurchase, statement.span)),
                    words if Self::yearly_cycle(words).is_some() => cycle = Self::yearly_cycle(words).map(|kind| (kind, statement.span)),
                    _ => self.invalid_statement(
                        statement.span,
                        if text.is_empty() {
                            "the cycle is not stated".to_owned()
                        } else {
                            format!("unknown cycle `{}`", text.join(" "))
                        },
                        "unknown cycle",
                        "write `cycle monthly calendar` (1st to last day of the month) or `cycle monthly from purchase` (anchored on the purchase date); `cycle yearly calendar` or `cycle yearly from purchase` for yearly cycles".to_owned(),
                    ),
                }
            }
        }
        (cycle, cycle_seen)
    }

    /// Whether a statement belongs in a plan and is not a repeated once-only statement;
    /// reports it when not.
    fn plan_statement_placed(
        &mut self,
        statement: &ast::Statement<'a>,
        plan_name: &str,
        seen: &mut Vec<(&'static str, Span)>,
    ) -> bool {
        if statement.kind.is_feature_statement() {
            self.push(BookError::Misplaced {
                statement: statement.kind.describe(),
                expected: "feature",
                found: "plan",
                span: statement.keyword.into(),
                block: plan_name.to_owned(),
                help: "move it into the `feature` it prices: features say what usage costs, plans how credits are granted and spent".to_owned(),
            });
            return false;
        }
        let once_keyword = match &statement.kind {
            ast::StatementKind::Cycle(_) => Some("cycle"),
            ast::StatementKind::Periods(_) => Some("periods"),
            ast::StatementKind::Order(_) => Some("order"),
            ast::StatementKind::Topup(_) => Some("topup"),
            ast::StatementKind::RefundWindow { .. } => Some("refund within"),
            ast::StatementKind::RefundExpired(_) => Some("refund expired"),
            ast::StatementKind::LateUsage { .. } => Some("late usage within"),
            ast::StatementKind::TopupRules(_) => Some("topup minimum, step or packages only"),
            ast::StatementKind::WarnExpiry { .. } => Some("warn before expiry"),
            _ => None,
        };
        if let Some(keyword) = once_keyword {
            if let Some((_, first)) = seen
                .iter()
                .find(|(seen_keyword, _)| *seen_keyword == keyword)
            {
                let first = *first;
                self.push(BookError::DuplicateStatement {
                    keyword: keyword.to_owned(),
                    first: first.into(),
                    second: statement.span.into(),
                });
                return false;
            }
            seen.push((keyword, statement.span));
        }
        true
    }

    fn plan_statement(
        &mut self,
        statement: &ast::Statement<'a>,
        context: &PlanContext<'a>,
        scopes: &[Scope<'a>],
        parts: &mut PlanParts<'a>,
    ) {
        let PlanContext {
            plan_name,
            has_cycle,
        } = *context;
        match &statement.kind {
            ast::StatementKind::Periods(names) => {
                self.periods_decl(names, statement, context, &mut parts.periods);
            }
            ast::StatementKind::Grant(grant) => self.plan_grant(grant, statement, context, parts),
            ast::StatementKind::Order(kinds) => self.order_decl(kinds, statement, &mut parts.order),
            ast::StatementKind::Topup(decl) => {
                parts.topup = self.topup(
                    decl,
                    statement.span,
                    plan_name,
                    has_cycle,
                    &mut parts.used_kinds,
                );
            }
            ast::StatementKind::Package {
                name,
                amount,
                price,
            } => self.package_decl(*name, amount, price.as_ref(), parts),
            ast::StatementKind::TopupRules(clauses) => {
                self.topup_rules_decl(clauses, statement.span, &mut parts.topup_rules);
            }
            ast::StatementKind::Gate { feature, when } => {
                if let Some(scope) = self.feature_scope(scopes, *feature)
                    && let Some(resolved) = self.condition(scope, when.as_ref())
                {
                    parts.gates.push(Gate {
                        feature: feature.text.to_owned(),
                        when: resolved.condition,
                    });
                }
            }
            ast::StatementKind::CreditLine(amount) => {
                self.credit_line_decl(amount, statement, parts)
            }
            ast::StatementKind::BalanceCap(amount) => {
                self.balance_cap_decl(amount, statement, &mut parts.caps);
            }
            ast::StatementKind::Alert(amounts) => self.alert_decl(amounts, &mut parts.alerts_minor),
            ast::StatementKind::RefundWindow {
                days,
                unit,
                reasons,
            } => self.refund_window(*days, *unit, reasons, statement, &mut parts.window),
            ast::StatementKind::RefundExpired(decl) => {
                self.refund_expired(decl, statement, context, parts);
            }
            // A cap on spending, else a request or hold limit.
            ast::StatementKind::Limit { number, words }
                if !self.cap_limit_decl(
                    *number,
                    words,
                    statement,
                    has_cycle,
                    plan_name,
                    &mut parts.caps,
                ) =>
            {
                self.limit_decl(*number, words, statement, &mut parts.limits);
            }
            ast::StatementKind::LateUsage { number, unit } => {
                parts.late_usage_seconds = self.late_usage(*number, *unit);
            }
            ast::StatementKind::WarnExpiry { number, unit } => {
                parts.expiry_warning_seconds = self.expiry_warning(*number, *unit);
            }
            ast::StatementKind::AutoTopup { below, package } => {
                self.auto_topup_decl(below, *package, &mut parts.auto_topup);
            }
            _ => {}
        }
    }

    /// `warn before expiry N days|hours`, in seconds.
    fn expiry_warning(&mut self, number: Token<'_>, unit: Token<'_>) -> Option<u32> {
        let (seconds_per, what): (u32, &str) = match unit.text {
            "day" | "days" => (86_400, "an expiry warning in days"),
            "hour" | "hours" => (3_600, "an expiry warning in hours"),
            _ => {
                self.push(BookError::UnknownWord {
                    what: "expiry warning unit",
                    name: unit.text.to_owned(),
                    span: unit.span.into(),
                    help: format!(
                        "write the warning in days or hours, such as `warn before expiry {} days`",
                        number.text
                    ),
                });
                return None;
            }
        };
        let most = u64::from(crate::limits::MAX_EXPIRY_WARNING_DAYS)
            .saturating_mul(86_400)
            .checked_div(u64::from(seconds_per))
            .unwrap_or(0);
        let count = self.whole(number, 1, most, what)?;
        u32::try_from(count).ok()?.checked_mul(seconds_per)
    }

    /// `auto topup below AMOUNT package NAME`: one per unit; the package is checked once
    /// every package of the plan is known ([`Self::auto_topup_packages`]).
    fn auto_topup_decl(
        &mut self,
        below: &ast::Amount<'a>,
        package: Token<'a>,
        rules: &mut BTreeMap<String, (AutoTopup, Token<'a>)>,
    ) {
        let Some(unit) = self.unit(below.unit) else {
            return;
        };
        let Some(below_minor) = self.minor(below, unit, true) else {
            return;
        };
        if rules.contains_key(unit.name) {
            self.invalid_statement(
                below.span,
                format!("`{}` has an auto topup already", unit.name),
                "repeated",
                "state one `auto topup below` per unit".to_owned(),
            );
            return;
        }
        rules.insert(
            unit.name.to_owned(),
            (
                AutoTopup {
                    below_minor,
                    package: package.text.to_owned(),
                },
                package,
            ),
        );
    }

    /// The auto topups whose package is one of the plan's, in the rule's unit.
    fn auto_topup_packages(&mut self, parts: &PlanParts<'a>) -> BTreeMap<String, AutoTopup> {
        let mut rules = BTreeMap::new();
        for (unit, (rule, token)) in &parts.auto_topup {
            match parts
                .packages
                .iter()
                .find(|known| known.name == rule.package)
            {
                None => self.push(BookError::UnknownWord {
                    what: "package",
                    name: token.text.to_owned(),
                    span: token.span.into(),
                    help: "name a `package` of this plan, which the platform sells when the \
                           balance runs low"
                        .to_owned(),
                }),
                Some(package) if package.unit != *unit => self.invalid_statement(
                    token.span,
                    format!(
                        "package `{}` sells `{}`, not `{unit}`",
                        package.name, package.unit
                    ),
                    "another unit",
                    format!("name a package of `{unit}`"),
                ),
                Some(_) => {
                    rules.insert(unit.clone(), rule.clone());
                }
            }
        }
        rules
    }

    /// `late usage within N days|hours`, in seconds.
    fn late_usage(&mut self, number: Token<'_>, unit: Token<'_>) -> Option<u32> {
        let (seconds_per, what): (u32, &str) = match unit.text {
            "day" | "days" => (86_400, "a late usage window in days"),
            "hour" | "hours" => (3_600, "a late usage window in hours"),
            _ => {
                self.push(BookError::UnknownWord {
                    what: "late usage window unit",
                    name: unit.text.to_owned(),
                    span: unit.span.into(),
                    help: format!(
                        "write the window in days or hours, such as `late usage within {} days`",
                        number.text
                    ),
                });
                return None;
            }
        };
        let most = u64::from(MAX_LATE_USAGE_DAYS)
            .saturating_mul(86_400)
            .checked_div(u64::from(seconds_per))
            .unwrap_or(0);
        let count = self.whole(number, 1, most, what)?;
        u32::try_from(count).ok()?.checked_mul(seconds_per)
    }

    fn periods_decl(
        &mut self,
        names: &[Token<'a>],
        statement: &ast::Statement<'a>,
        context: &PlanContext<'a>,
        periods: &mut Vec<SubscriptionPeriod>,
    ) {
        let PlanContext {
            plan_name,
            has_cycle,
        } = *context;

        if !has_cycle {
            self.cycle_missing("periods", plan_name, statement.keyword);
        }
        for name in names {
            let period = match name.text {
                "monthly" => SubscriptionPeriod::Monthly,
                "quarterly" => SubscriptionPeriod::Quarterly,
                "yearly" => SubscriptionPeriod::Yearly,
                other => {
                    let help = did_you_mean(
                        other,
                        ["monthly", "quarterly", "yearly"].into_iter(),
                        || "the periods are `monthly`, `quarterly` and `yearly`".to_owned(),
                    );
                    self.push(BookError::UnknownWord {
                        what: "subscription period",
                        name: other.to_owned(),
                        span: name.span.into(),
                        help,
                    });
                    continue;
                }
            };
            if periods.contains(&period) {
                let first = names
                    .iter()
                    .find(|first| first.text == name.text)
                    .map_or(name.span, |first| first.span);
                self.repeated(
                    format!("`periods` names `{}` twice", name.text),
                    first,
                    name.span,
                    "list each period once".to_owned(),
                );
            } else {
                periods.push(period);
            }
        }
    }

    fn plan_grant(
        &mut self,
        grant: &ast::GrantDecl<'a>,
        statement: &ast::Statement<'a>,
        context: &PlanContext<'a>,
        parts: &mut PlanParts<'a>,
    ) {
        let PlanContext {
            plan_name,
            has_cycle,
        } = *context;
        let PlanParts {
            grants,
            grant_keys,
            used_kinds,
            ..
        } = parts;

        if grants.len() + grant_keys.len() > 2 * MAX_STATEMENTS_PER_PLAN {
            return;
        }
        if let Some(lowered) = self.grant(grant, statement.span, plan_name, has_cycle, used_kinds) {
            if let Some((_, first)) = grant_keys.iter().find(|(key, _)| *key == lowered.key) {
                let first = *first;
                let every = match lowered.every {
                    GrantEvery::Day => "daily",
                    GrantEvery::Cycle => "every cycle",
                    GrantEvery::Once => "once",
                };
                self.repeated(
                    format!(
                        "two grants give `{}` credits in `{}` {every}",
                        lowered.kind, lowered.unit
                    ),
                    first,
                    statement.span,
                    "merge them into one grant of the total, or give one another credit kind"
                        .to_owned(),
                );
            } else {
                grant_keys.push((lowered.key.clone(), statement.span));
                grants.push(lowered);
            }
        }
    }

    fn order_decl(
        &mut self,
        kinds: &[Token<'a>],
        statement: &ast::Statement<'a>,
        order: &mut Option<(Vec<Token<'a>>, Span)>,
    ) {
        let mut listed: Vec<Token<'a>> = Vec::new();
        for kind in kinds {
            self.name("credit kind", *kind);
            if let Some(first) = listed.iter().find(|known| known.text == kind.text) {
                let first = first.span;
                self.repeated(
                    format!("`order` names `{}` twice", kind.text),
                    first,
                    kind.span,
                    "list each credit kind once, in the order they are spent".to_owned(),
                );
            } else {
                listed.push(*kind);
            }
        }
        *order = Some((listed, statement.span));
    }

    fn package_decl(
        &mut self,
        name: Token<'a>,
        amount: &ast::Amount<'a>,
        price: Option<&ast::Amount<'a>>,
        parts: &mut PlanParts<'a>,
    ) {
        let price = price.and_then(|price| self.package_price(price));
        let PlanParts {
            packages,
            package_names,
            ..
        } = parts;

        self.name("package", name);
        if let Some(first) = package_names.iter().find(|known| known.text == name.text) {
            let first = first.span;
            self.duplicate("package", name.text, first, name.span);
            return;
        }
        package_names.push(name);
        if let Some(unit) = self.unit(amount.unit)
            && let Some(amount_minor) = self.minor(amount, unit, true)
        {
            packages.push(Package {
                name: name.text.to_owned(),
                unit: unit.name.to_owned(),
                amount_minor,
                price,
            });
        }
    }

    fn credit_line_decl(
        &mut self,
        amount: &ast::Amount<'a>,
        statement: &ast::Statement<'a>,
        parts: &mut PlanParts<'a>,
    ) {
        let PlanParts {
            credit_lines,
            credit_line_minor,
            ..
        } = parts;

        let Some(unit) = self.unit(amount.unit) else {
            return;
        };
        if let Some((_, first)) = credit_lines.iter().find(|(known, _)| known == unit.name) {
            let first = *first;
            self.push(BookError::DuplicateStatement {
                keyword: format!("credit line … {}", unit.name),
                first: first.into(),
                second: statement.span.into(),
            });
            return;
        }
        credit_lines.push((unit.name.to_owned(), statement.span));
        if let Some(minor) = self.minor(amount, unit, true) {
            credit_line_minor.insert(unit.name.to_owned(), minor);
        }
    }

    fn alert_decl(
        &mut self,
        amounts: &[ast::Amount<'a>],
        alerts_minor: &mut BTreeMap<String, Vec<i64>>,
    ) {
        for amount in amounts {
            let Some(unit) = self.unit(amount.unit) else {
                continue;
            };
            let Some(minor) = self.minor(amount, unit, false) else {
                continue;
            };
            let thresholds = alerts_minor.entry(unit.name.to_owned()).or_default();
            if thresholds.contains(&minor) {
                self.invalid_statement(
                    amount.span,
                    format!(
                        "the alert below `{} {}` is listed twice",
                        amount.number.text, amount.unit.text
                    ),
                    "repeated",
                    "list each threshold once".to_owned(),
                );
            } else {
                thresholds.push(minor);
            }
        }
    }

    fn refund_window(
        &mut self,
        days: Token<'a>,
        unit: Token<'a>,
        reasons: &[Token<'a>],
        statement: &ast::Statement<'a>,
        window: &mut Option<(u32, Vec<String>, Span)>,
    ) {
        let count = self.whole(days, 1, u64::from(MAX_PERIOD_COUNT), "a number of days");
        if !matches!(unit.text, "day" | "days") {
            self.push(BookError::UnknownWord {
                what: "refund window unit",
                name: unit.text.to_owned(),
                span: unit.span.into(),
                help: format!(
                    "write the window in days, such as `refund within {} days`",
                    days.text
                ),
            });
        }
        let mut listed: Vec<Token<'a>> = Vec::new();
        for reason in reasons {
            if !REFUND_REASONS.contains(&reason.text) {
                let help = did_you_mean(reason.text, REFUND_REASONS.iter().copied(), || {
                    format!("the refund reasons are {}", backticked(REFUND_REASONS))
                });
                self.push(BookError::UnknownWord {
                    what: "refund reason",
                    name: reason.text.to_owned(),
                    span: reason.span.into(),
                    help,
                });
            } else if let Some(first) = listed.iter().find(|known| known.text == reason.text) {
                let first = first.span;
                self.repeated(
                    format!("the refund reasons name `{}` twice", reason.text),
                    first,
                    reason.span,
                    "list each reason once".to_owned(),
                );
            } else {
                listed.push(*reason);
            }
        }
        if reasons.is_empty() {
            self.invalid_statement(
                statement.span,
                "the refund window lists no reasons".to_owned(),
                "for which reasons?",
                format!(
                    "list them, such as `refund within {} days for duplicate, internal_error`",
                    days.text
                ),
            );
        }
        if let Some(count) = count.and_then(|count| u32::try_from(count).ok()) {
            *window = Some((
                count,
                listed.iter().map(|reason| reason.text.to_owned()).collect(),
                statement.span,
            ));
        }
    }

    fn refund_expired(
        &mut self,
        decl: &ast::RefundExpired<'a>,
        statement: &ast::Statement<'a>,
        context: &PlanContext<'a>,
        parts: &mut PlanParts<'a>,
    ) {
        let PlanContext {
            plan_name,
            has_cycle,
        } = *context;
        let PlanParts {
            expired,
            used_kinds,
            ..
        } = parts;

        match decl {
            ast::RefundExpired::Forfeit => {
                *expired = Some((ExpiredRefund::Forfeit, statement.span))
            }
            ast::RefundExpired::Restore { kind, expires } => {
                self.name("credit kind", *kind);
                used_kinds.push((*kind, "restored as this kind"));
                match expires {
                    Some(expiry) => {
                        if let Some(expires) = self.expiry(expiry, plan_name, has_cycle) {
                            *expired = Some((
                                ExpiredRefund::Restore {
                                    kind: kind.text.to_owned(),
                                    expires,
                                },
                                statement.span,
                            ));
                        }
                    }
                    None => self.invalid_statement(
                        statement.span,
                        "restored credits do not say when they expire".to_owned(),
                        "no `expires`",
                        format!(
                            "add an expiry, such as `refund expired as {}, expires end of cycle`",
                            kind.text
                        ),
                    ),
                }
            }
        }
    }

    fn limit_decl(
        &mut self,
        number: Token<'a>,
        words: &[Token<'a>],
        statement: &ast::Statement<'a>,
        limits: &mut Limits,
    ) {
        let text: Vec<&str> = words.iter().map(|word| word.text).collect();
        let span = statement.span;
        match text.as_slice() {
            ["requests", "per", period] => {
                let per_seconds = match *period {
                    "second" => Some(1),
                    "minute" => Some(60),
                    "hour" => Some(3600),
                    _ => None,
                };
                let requests = self.whole(number, 1, u64::from(MAX_RATE_LIMIT), "a limit");
                match per_seconds {
                    None => self.invalid_statement(
                        span,
                        format!("unknown period `{period}`"),
                        "per what?",
                        "limit requests `per second`, `per minute` or `per hour`".to_owned(),
                    ),
                    Some(per_seconds) => {
                        if limits.requests.is_some() {
                            self.invalid_statement(span, "the request limit is stated twice".to_owned(), "again", "keep one request limit".to_owned());
                        } else if let Some(requests) = requests.and_then(|value| u32::try_from(value).ok()) {
                            limits.requests = Some(RequestLimit { requests, per_seconds });
                        }
                    }
                }
            }
            ["concurrent", "holds"] => {
                let holds = self.whole(number, 1, u64::from(MAX_RATE_LIMIT), "a limit");
                if limits.concurrent_holds.is_some() {
                    self.invalid_statement(span, "the hold limit is stated twice".to_owned(), "again", "keep one hold limit".to_owned());
                } else {
                    limits.concurrent_holds = holds.and_then(|value| u32::try_from(value).ok());
                }
            }
            _ => self.invalid_statement(
                span,
                if text.is_empty() {
                    "the limit does not say what it limits".to_owned()
                } else {
                    format!("unknown limit `{}`", text.join(" "))
                },
                "unknown limit",
                format!("write `limit {} requests per minute` (or `per second`, `per hour`), `limit {} concurrent holds`, or a cap on spending such as `limit {} credit per day` (or `per month`, `per cycle`, `per request`)", number.text, number.text, number.text),
            ),
        }
    }

    /// Remembers the kinds this plan holds and orders, for the book-wide check.
    fn record_kinds(&mut self, block: &ast::Block<'a>, parts: &PlanParts<'a>) {
        self.held_kinds
            .extend(parts.used_kinds.iter().map(|(kind, _)| kind.text));
        if let Some((listed, _)) = &parts.order {
            let takes_topups = block
                .body
                .iter()
                .any(|statement| matches!(statement.kind, ast::StatementKind::Topup(_)));
            self.ordered_kinds
                .extend(listed.iter().map(|kind| (*kind, takes_topups)));
        }
    }

    fn order_covers_kinds(&mut self, parts: &PlanParts<'a>, plan_name: &str) {
        let PlanParts {
            order, used_kinds, ..
        } = parts;

        // Every kind the plan grants, sells or restores is spent in a stated order.
        match order {
            Some((listed, order_span)) => {
                for (kind, used) in used_kinds {
                    if !listed.iter().any(|known| known.text == kind.text) {
                        self.push(BookError::KindNotInOrder {
                            kind: kind.text.to_owned(),
                            span: kind.span.into(),
                            used,
                            order: Some((*order_span).into()),
                            help: format!(
                                "add `{}` to the plan's `order`, where it is spent",
                                kind.text
                            ),
                        });
                    }
                }
            }
            None => {
                let mut kinds: Vec<&str> = Vec::new();
                for (kind, _) in used_kinds {
                    if !kinds.contains(&kind.text) {
                        kinds.push(kind.text);
                    }
                }
                if let Some((kind, used)) = used_kinds.first() {
                    self.push(BookError::KindNotInOrder {
                        kind: kind.text.to_owned(),
                        span: kind.span.into(),
                        used,
                        order: None,
                        help: format!(
                            "plan `{plan_name}` has no `order`: add one listing every credit kind it grants, sells or restores, in the order they are spent, such as `order {}`",
                            kinds.join(", ")
                        ),
                    });
                }
            }
        }
    }

    fn refund_policy(
        &mut self,
        window: Option<(u32, Vec<String>, Span)>,
        expired: Option<(ExpiredRefund, Span)>,
    ) -> Option<RefundPolicy> {
        match (window, expired) {
            (Some((window_days, reasons, _)), Some((expired, _))) => Some(RefundPolicy {
                window_days,
                reasons,
                expired,
            }),
            (Some((_, _, span)), None) => {
                self.invalid_statement(
                span,
                "the refund policy does not say what happens to expired credits".to_owned(),
                "no `refund expired`",
                "add `refund expired forfeit`, or `refund expired as refund, expires end of cycle` to restore them as a new kind".to_owned(),
            );
                None
            }
            (None, Some((_, span))) => {
                self.invalid_statement(
                span,
                "`refund expired` without a refund window".to_owned(),
                "no `refund within`",
                "add the window and reasons, such as `refund within 30 days for duplicate, internal_error`".to_owned(),
            );
                None
            }
            (None, None) => None,
        }
    }

    pub(super) fn expiry(
        &mut self,
        expiry: &ast::Expiry<'_>,
        plan: &str,
        has_cycle: bool,
    ) -> Option<Expiry> {
        let needs_cycle = |this: &mut Self, what: String| {
            if !has_cycle {
                this.cycle_missing(&what, plan, expiry.span);
            }
        };
        match &expiry.kind {
            ast::ExpiryKind::Never => Some(Expiry::Never),
            ast::ExpiryKind::EndOf(word) => match word.text {
                "day" => Some(Expiry::EndOfDay),
                "cycle" => {
                    needs_cycle(self, "expires end of cycle".to_owned());
                    Some(Expiry::EndOfCycle)
                }
                other => {
                    self.push(BookError::UnknownWord {
                        what: "expiry",
                        name: format!("end of {other}"),
                        span: word.span.into(),
                        help: "write `expires end of day` or `expires end of cycle`".to_owned(),
                    });
                    None
                }
            },
            ast::ExpiryKind::After { number, unit } => {
                let count = self
                    .whole(*number, 1, u64::from(MAX_PERIOD_COUNT), "an expiry")
                    .and_then(|count| u32::try_from(count).ok());
                match unit.text {
                    "day" | "days" => count.map(Expiry::AfterDays),
                    "cycle" | "cycles" => {
                        needs_cycle(self, format!("expires after {} {}", number.text, unit.text));
                        count.map(Expiry::AfterCycles)
                    }
                    other => {
                        self.push(BookError::UnknownWord {
                            what: "expiry unit",
                            name: other.to_owned(),
                            span: unit.span.into(),
                            help: format!(
                                "write `expires after {} days` or `expires after {} cycles`",
                                number.text, number.text
                            ),
                        });
                        None
                    }
                }
            }
        }
    }
}
