//! `feature` blocks: their statements lowered in order, and the feature-wide checks.

use super::*;

/// What a feature's statements lower to, gathered statement by statement.
#[derive(Default)]
pub(super) struct FeatureParts {
    quantity_rounding: Vec<(QuantityRounding, Span)>,
    amount_rounding: Vec<(AmountRounding, Span)>,
    minimum_quantities: Vec<MinimumQuantity>,
    minimum_amounts: Vec<(MinimumAmount, Span)>,
    rules: Vec<RuleInfo>,
    multipliers: Vec<(String, Span)>,
    factors: Vec<Factor>,
    /// The span of each factor's statement, by index in `factors`.
    factor_spans: Vec<Span>,
    /// Rules lowered from price tables (not counted as rule statements), and whether a
    /// table was wrong (reported): then a missing price may be its missing row.
    table_rules: usize,
    table_failed: bool,
    first_free: Option<Span>,
    requires_prior: Option<(Vec<String>, Span)>,
    condition_masks: Vec<Vec<u64>>,
    outcomes: Vec<(crate::outcomes::OutcomeRule, Span)>,
    /// `maximum`, `refuse` and the rest of what `check/quantities.rs` lowers.
    pub(super) extra: quantities::ExtraParts,
}

impl<'a> Checker<'a> {
    pub(super) fn feature(
        &mut self,
        block: &ast::Block<'a>,
        feature_names: &[Token<'a>],
    ) -> (Feature, Scope<'a>) {
        let feature_name = block.name.text;
        let mut scope = Scope {
            name: block.name,
            inputs: Vec::new(),
            dims: Vec::new(),
            broken: Vec::new(),
            derived: Vec::new(),
        };
        let rule_count = self.feature_inputs(block, &mut scope);
        self.derived_quantities(block, &mut scope);
        self.scope_dims(&mut scope);
        self.plan_and_quantity_dims(block, &mut scope);
        let mut parts = FeatureParts::default();
        self.refused_masks.clear();
        for statement in &block.body {
            self.feature_statement(statement, &scope, feature_names, feature_name, &mut parts);
        }
        let FeatureParts {
            rules,
            condition_masks,
            table_rules,
            table_failed,
            ..
        } = &mut parts;
        condition_masks.extend(rules.iter().map(|rule| rule.masks.clone()));
        // A rule that failed to check may be the one pricing a combination: only call a price
        // missing when every rule checked.
        let complete = !*table_failed
            && rules.len().saturating_sub(*table_rules) == rule_count.min(MAX_RULES_PER_FEATURE);
        self.analyse_rules(&scope, &parts.rules, &parts.condition_masks, complete);
        self.quantity_rounding_stated(&scope, &parts, feature_name);
        self.amounts_fit(
            feature_name,
            &parts.rules,
            &storage::Quantities {
                scope: &scope,
                minimums: &parts.minimum_quantities,
                roundings: &parts.quantity_rounding,
                multipliers: &parts.multipliers,
                factors: &parts.factors,
            },
        );
        let (units, resolved_rounding) = self.resolve_amount_rounding(block, &parts);
        self.nothing_unpriced(block, &parts, &units);
        let FeatureParts {
            quantity_rounding,
            minimum_quantities,
            minimum_amounts,
            rules,
            multipliers,
            factors,
            first_free,
            requires_prior,
            outcomes,
            extra,
            ..
        } = parts;

        let feature = Feature {
            name: feature_name.to_owned(),
            title: block.title.map(|title| title.unquoted().to_owned()),
            inputs: scope
                .inputs
                .iter()
                .filter(|input| !scope.is_derived(&input.input.name))
                .map(|input| input.input.clone())
                .collect(),
            minimum_quantities,
            quantity_rounding: quantity_rounding
                .into_iter()
                .map(|(rounding, _)| rounding)
                .collect(),
            rules: rules.into_iter().map(|info| info.rule).collect(),
            multipliers: multipliers.into_iter().map(|(name, _)| name).collect(),
            factors,
            amount_rounding: resolved_rounding,
            minimum_amounts: minimum_amounts
                .into_iter()
                .map(|(minimum, _)| minimum)
                .collect(),
            first_request_free: first_free.is_some(),
            requires_prior: requires_prior.map(|(names, _)| names).unwrap_or_default(),
            units,
            outcomes: outcomes.into_iter().map(|(rule, _)| rule).collect(),
            derived: scope.derived.clone(),
            maximum_quantities: extra.maximum_quantities,
            refusals: extra.refusals,
        };
        (feature, scope)
    }

    /// Pass 1: placement and inputs, so that rules may name inputs declared after them.
    /// Returns how many rules the feature states.
    fn feature_inputs(&mut self, block: &ast::Block<'a>, scope: &mut Scope<'a>) -> usize {
        let feature_name = block.name.text;

        let mut rule_count = 0usize;
        for statement in &block.body {
            if !statement.kind.is_feature_statement() {
                self.push(BookError::Misplaced {
                    statement: statement.kind.describe(),
                    expected: "plan",
                    found: "feature",
                    span: statement.keyword.into(),
                    block: feature_name.to_owned(),
                    help: "move it into a `plan` block: plans say how credits are granted and spent, features what usage costs".to_owned(),
                });
                continue;
            }
            // A table's rows are counted by its own limit.
            if matches!(&statement.kind, ast::StatementKind::Rule(rule) if !matches!(rule.price, ast::PriceDecl::Table { .. }))
            {
                rule_count += 1;
                if rule_count == MAX_RULES_PER_FEATURE + 1 {
                    self.push(BookError::TooMany {
                        what: "feature",
                        items: "rules",
                        limit: MAX_RULES_PER_FEATURE,
                        span: statement.keyword.into(),
                    });
                }
            }
            if let ast::StatementKind::Input(decl) = &statement.kind {
                if scope.inputs.len() == MAX_INPUTS_PER_FEATURE {
                    self.push(BookError::TooMany {
                        what: "feature",
                        items: "inputs",
                        limit: MAX_INPUTS_PER_FEATURE,
                        span: decl.name.span.into(),
                    });
                    continue;
                }
                if let Some(first) = scope
                    .inputs
                    .iter()
                    .find(|input| input.input.name == decl.name.text)
                {
                    let first = first.token.span;
                    self.duplicate("input", decl.name.text, first, decl.name.span);
                    continue;
                }
                match self.input_decl(decl, statement.span) {
                    Some(input) => scope.inputs.push(ScopeInput {
                        token: decl.name,
                        input,
                    }),
                    None => scope.broken.push(decl.name.text),
                }
            }
        }
        rule_count
    }

    /// The dimensions conditions are analysed on: the channel, each choice and each flag.
    fn scope_dims(&self, scope: &mut Scope<'a>) {
        if let Some(channels) = &self.channels {
            scope.dims.push(Dim {
                input: "channel".to_owned(),
                values: channels.names.clone(),
                flag: false,
                thresholds: Vec::new(),
            });
        }
        for input in &scope.inputs {
            match &input.input.kind {
                InputKind::Choice(values) => scope.dims.push(Dim {
                    input: input.input.name.clone(),
                    values: values.clone(),
                    flag: false,
                    thresholds: Vec::new(),
                }),
                InputKind::Flag => scope.dims.push(Dim {
                    input: input.input.name.clone(),
                    values: vec!["no".to_owned(), "yes".to_owned()],
                    flag: true,
                    thresholds: Vec::new(),
                }),
                _ => {}
            }
        }
    }

    /// Pass 2: every statement but inputs.
    fn feature_statement(
        &mut self,
        statement: &ast::Statement<'a>,
        scope: &Scope<'a>,
        feature_names: &[Token<'a>],
        feature_name: &str,
        parts: &mut FeatureParts,
    ) {
        let FeatureParts {
            quantity_rounding,
            amount_rounding,
            minimum_quantities,
            minimum_amounts,
            rules,
            multipliers,
            factors,
            factor_spans,
            table_rules,
            table_failed,
            first_free,
            requires_prior,
            condition_masks,
            outcomes,
            extra,
        } = parts;
        match &statement.kind {
            ast::StatementKind::Round(round) => {
                self.round_decl(
                    scope,
                    round,
                    statement.span,
                    quantity_rounding,
                    amount_rounding,
                );
            }
            ast::StatementKind::Minimum(minimum) => {
                if let Some(resolved) = self.minimum_decl(
                    scope,
                    minimum,
                    statement.span,
                    minimum_quantities,
                    minimum_amounts,
                ) {
                    condition_masks.push(resolved);
                }
            }
            ast::StatementKind::Rule(rule)
                if matches!(rule.price, ast::PriceDecl::Table { .. }) =>
            {
                match self.table_decl(scope, rule, statement.span) {
                    // Every line is tried on every rating: the lines of all tables and rules
                    // together are bounded.
                    Some(lowered) if rules.len() + lowered.len() > MAX_LINES_PER_FEATURE => {
                        self.push(BookError::TooMany {
                            what: "feature",
                            items: "prices (rules and table cells)",
                            limit: MAX_LINES_PER_FEATURE,
                            span: statement.keyword.into(),
                        });
                        *table_failed = true;
                    }
                    Some(lowered) => {
                        *table_rules += lowered.len();
                        rules.extend(lowered);
                    }
                    None => *table_failed = true,
                }
            }
            ast::StatementKind::Factor(factor) => {
                if let Some((factor, masks)) = self.factor_decl(scope, factor, statement.span) {
                    let twice = factors
                        .iter()
                        .zip(factor_spans.iter())
                        .find(|(earlier, _)| {
                            earlier.factor == factor.factor && earlier.when == factor.when
                        });
                    if let Some((_, first)) = twice {
                        let first = *first;
                        self.repeated(
                            format!("the feature states `{}` twice", factor.source),
                            first,
                            statement.span,
                            "factors compound: state each once, or write the product as one factor (`multiply by 0.25` for half of half)".to_owned(),
                        );
                    } else {
                        factors.push(factor);
                        factor_spans.push(statement.span);
                        condition_masks.push(masks);
                    }
                }
            }
            ast::StatementKind::Rule(rule)
                if rules.len().saturating_sub(*table_rules) < MAX_RULES_PER_FEATURE =>
            {
                if let Some(info) = self.rule_decl(scope, rule, statement.span) {
                    rules.push(info);
                }
            }
            ast::StatementKind::Multiply(input) => {
                self.multiply_decl(scope, *input, statement, multipliers);
            }

            ast::StatementKind::FirstRequestFree => {
                if let Some(first) = *first_free {
                    self.push(BookError::DuplicateStatement {
                        keyword: "first request free".to_owned(),
                        first: first.into(),
                        second: statement.span.into(),
                    });
                } else {
                    *first_free = Some(statement.span);
                }
            }
            ast::StatementKind::Maximum(maximum) => {
                if let Some(masks) = self.maximum_decl(scope, maximum, extra) {
                    condition_masks.push(masks);
                }
            }
            ast::StatementKind::Refuse { message, when } => {
                self.refuse_decl(scope, *message, when.as_ref(), statement, extra);
            }
            ast::StatementKind::RequiresPrior(features) => {
                self.requires_prior_decl(
                    features,
                    statement,
                    feature_name,
                    feature_names,
                    requires_prior,
                );
            }
            ast::StatementKind::Outcome { outcome, charge } => {
                self.outcome_decl(*outcome, *charge, statement.span, outcomes);
            }
            _ => {}
        }
    }

    fn multiply_decl(
        &mut self,
        scope: &Scope<'a>,
        input: Token<'a>,
        statement: &ast::Statement<'a>,
        multipliers: &mut Vec<(String, Span)>,
    ) {
        if let Some(found) = self.input(scope, input) {
            if found.input.kind == InputKind::Count {
                if let Some((_, first)) = multipliers.iter().find(|(name, _)| name == input.text) {
                    let first = *first;
                    self.repeated(
                        format!("the feature multiplies by `{}` twice", input.text),
                        first,
                        statement.span,
                        "multiply by each count once".to_owned(),
                    );
                } else {
                    multipliers.push((input.text.to_owned(), statement.span));
                }
            } else {
                self.not_a_count("multiply by", input, &found.input.kind);
            }
        }
    }

    fn requires_prior_decl(
        &mut self,
        features: &[Token<'a>],
        statement: &ast::Statement<'a>,
        feature_name: &str,
        feature_names: &[Token<'a>],
        requires_prior: &mut Option<(Vec<String>, Span)>,
    ) {
        if let Some((_, first)) = requires_prior {
            let first = *first;
            self.push(BookError::DuplicateStatement {
                keyword: "requires".to_owned(),
                first: first.into(),
                second: statement.span.into(),
            });
            return;
        }
        let mut names = Vec::new();
        for feature in features {
            if feature.text == feature_name {
                self.invalid_statement(
                    feature.span,
                    format!("feature `{feature_name}` requires itself"),
                    "this feature",
                    "name the core analyses that must have run on the same content first"
                        .to_owned(),
                );
            } else if !feature_names.iter().any(|name| name.text == feature.text) {
                let known: Vec<&str> = feature_names.iter().map(|name| name.text).collect();
                self.push(BookError::UnknownFeature {
                    name: feature.text.to_owned(),
                    span: feature.span.into(),
                    help: did_you_mean(feature.text, known.iter().copied(), || {
                        format!("the features are {}", backticked_and(&known))
                    }),
                });
            } else if !names.iter().any(|name: &String| name == feature.text) {
                names.push(feature.text.to_owned());
            }
        }
        *requires_prior = Some((names, statement.span));
    }

    /// Every duration or data input a rule measures states its rounding.
    fn quantity_rounding_stated(
        &mut self,
        scope: &Scope<'a>,
        parts: &FeatureParts,
        feature_name: &str,
    ) {
        let FeatureParts {
            rules,
            quantity_rounding,
            ..
        } = parts;

        let mut reported_inputs: Vec<&str> = Vec::new();
        for info in rules {
            let input = match &info.rule.price {
                Price::Per { input, .. } | Price::Tiers { input, .. } => input.as_str(),
                Price::Each { .. } => continue,
            };
            let Some(found) = scope.inputs.iter().find(|known| known.input.name == input) else {
                continue;
            };
            // `one of 5s, 10s` lists every quantity billed: there is nothing to round.
            if !found.input.allowed.is_empty() {
                continue;
            }
            let step = match found.input.kind {
                InputKind::Duration => "1s",
                InputKind::Data => "1 MB",
                _ => continue,
            };
            if quantity_rounding
                .iter()
                .any(|(rounding, _)| rounding.input == input)
                || reported_inputs.contains(&input)
            {
                continue;
            }
            reported_inputs.push(input);
            self.push(BookError::QuantityRoundingMissing {
                input: input.to_owned(),
                span: info.span.into(),
                help: format!(
                    "add `round {input} up to {step}` to feature `{feature_name}` (or `down` or `nearest`, to the step you bill)"
                ),
            });
        }
    }

    /// The units the feature charges (sorted), and the amount rounding of each.
    fn resolve_amount_rounding(
        &mut self,
        block: &ast::Block<'a>,
        parts: &FeatureParts,
    ) -> (Vec<String>, Vec<AmountRounding>) {
        let feature_name = block.name.text;
        let FeatureParts {
            rules,
            amount_rounding,
            ..
        } = parts;

        let mut units: Vec<String> = Vec::new();
        for info in rules {
            if !units.contains(&info.rule.unit) {
                units.push(info.rule.unit.clone());
            }
        }
        units.sort();
        let mut resolved_rounding = Vec::new();
        for unit_name in &units {
            if let Some((rounding, _)) = amount_rounding
                .iter()
                .find(|(rounding, _)| &rounding.unit == unit_name)
            {
                resolved_rounding.push(rounding.clone());
                continue;
            }
            let Some(unit) = self
                .units
                .iter()
                .find(|unit| unit.name == unit_name)
                .copied()
            else {
                continue;
            };
            match unit.rounding {
                Some(mode) => resolved_rounding.push(AmountRounding {
                    unit: unit_name.clone(),
                    precision: Decimal::new(1, unit.scale),
                    mode,
                }),
                None => {
                    let span = rules
                        .iter()
                        .find(|info| &info.rule.unit == unit_name)
                        .map_or(block.name.span, |info| info.span);
                    let step = Decimal::new(1, unit.scale);
                    self.push(BookError::AmountRoundingMissing {
                        unit: unit_name.clone(),
                        span: span.into(),
                        help: format!(
                            "add `round half-up` (or another mode) to `unit {unit_name}`, or `round {unit_name} to {step} half-up` to feature `{feature_name}`"
                        ),
                    });
                }
            }
        }
        (units, resolved_rounding)
    }

    /// Roundings and minimum charges of units no rule charges, and a feature with no price.
    fn nothing_unpriced(&mut self, block: &ast::Block<'a>, parts: &FeatureParts, units: &[String]) {
        let feature_name = block.name.text;
        let FeatureParts {
            rules,
            amount_rounding,
            minimum_amounts,
            ..
        } = parts;

        for (rounding, span) in amount_rounding {
            if !units.contains(&rounding.unit) {
                self.never_charged(*span, &rounding.unit, feature_name, "rounds");
            }
        }
        for (minimum, span) in minimum_amounts {
            if !units.contains(&minimum.unit) {
                self.never_charged(
                    *span,
                    &minimum.unit,
                    feature_name,
                    "sets a minimum charge of",
                );
            }
        }
        if rules.is_empty()
            && !block
                .body
                .iter()
                .any(|statement| matches!(statement.kind, ast::StatementKind::Rule(_)))
        {
            self.push(BookError::InvalidPrice {
                message: format!("feature `{feature_name}` has no price"),
                span: block.name.span.into(),
                label: "no `base` or `add` rule".to_owned(),
                help: "add a rule such as `base 1 credit each` or `base 20 credit per minute`; write `base 0 credit each` for a free feature".to_owned(),
            });
        }
    }

    pub(super) fn never_charged(&mut self, span: Span, unit: &str, feature: &str, verb: &str) {
        self.invalid_statement(
            span,
            format!("feature `{feature}` {verb} `{unit}` but never charges it"),
            "not charged by any rule",
            format!("price `{unit}` with a `base` or `add` rule, or delete this line"),
        );
    }

    pub(super) fn not_a_count(
        &mut self,
        statement: &'static str,
        input: Token<'_>,
        kind: &InputKind,
    ) {
        self.push(BookError::NotACount {
            statement,
            input: input.text.to_owned(),
            kind: kind_phrase(kind),
            span: input.span.into(),
            help: "declare a count input, such as `input outputs: count default 1 max 8`, and name it here".to_owned(),
        });
    }
}
