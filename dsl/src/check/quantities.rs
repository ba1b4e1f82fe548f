//! Derived quantities (`quantity NAME = ...`), clamps (`maximum Q of INPUT`), conditions on
//! quantities (`when context above 200000 tokens`) and on the plan (`when plan is business`),
//! refusals (`refuse "MESSAGE" when COND`) and allowed values (`input d: duration one of 5s,
//! 10s`): their checks and lowering.

use super::*;
use crate::ast::CompareOp;
use crate::rate::PLAN;

/// Most distinct thresholds conditions may name on one quantity: each splits the quantity's
/// range in two regions and a point, and a dimension holds at most 64 values.
const MAX_THRESHOLDS_PER_QUANTITY: usize = 31;

/// Most allowed values one input may list.
const MAX_ALLOWED_VALUES: usize = 64;

/// Most terms of one derived quantity.
const MAX_DERIVED_TERMS: usize = 16;

/// What a feature's `maximum` and `refuse` statements lower to.
#[derive(Default)]
pub(in crate::check) struct ExtraParts {
    pub(super) maximum_quantities: Vec<MaximumQuantity>,
    pub(super) refusals: Vec<Refusal>,
}

impl Scope<'_> {
    pub(super) fn is_derived(&self, name: &str) -> bool {
        self.derived
            .iter()
            .any(|derived| derived.input.name == name)
    }
}

/// Every `when` condition a feature block states.
fn block_conditions<'b, 'a>(
    block: &'b ast::Block<'a>,
) -> impl Iterator<Item = &'b ast::Condition<'a>> {
    block
        .body
        .iter()
        .filter_map(|statement| match &statement.kind {
            ast::StatementKind::Rule(rule) => rule.when.as_ref(),
            ast::StatementKind::Minimum(minimum) | ast::StatementKind::Maximum(minimum) => {
                minimum.when.as_ref()
            }
            ast::StatementKind::Refuse { when, .. } => when.as_ref(),
            ast::StatementKind::Factor(factor) => factor.when.as_ref(),
            _ => None,
        })
}

impl<'a> Checker<'a> {
    /// The book's plan names, read before the features so that a condition may name a plan
    /// declared after it.
    pub(super) fn collect_plan_names(&mut self, plans: &[(&ast::Block<'a>, Span)]) {
        for (block, _) in plans.iter().take(MAX_PLANS) {
            if !self.plan_names.iter().any(|name| name == block.name.text) {
                self.plan_names.push(block.name.text.to_owned());
            }
        }
    }

    pub(super) fn reserved_plan(&mut self, name: Token<'_>) {
        self.push(BookError::InvalidInput {
            message: "`plan` is reserved and cannot be an input".to_owned(),
            span: name.span.into(),
            label: "reserved name".to_owned(),
            help: "conditions read the account's plan as `plan` (`when plan is business`); name the input otherwise, such as `tier`".to_owned(),
        });
    }

    /// `one of Q, Q...`: the allowed quantities, sorted, in the input's base unit.
    pub(super) fn input_allowed(
        &mut self,
        decl: &ast::InputDecl<'a>,
        kind: &InputKind,
    ) -> Vec<Decimal> {
        let Some((values, span)) = decl.allowed.first() else {
            return Vec::new();
        };
        if let Some((_, second)) = decl.allowed.get(1) {
            self.push(BookError::DuplicateStatement {
                keyword: "one of".to_owned(),
                first: (*span).into(),
                second: (*second).into(),
            });
        }
        if !is_quantity(kind) {
            self.push(BookError::InvalidInput {
                message: format!("{} has no `one of`", kind_phrase(kind)),
                span: (*span).into(),
                label: "not a quantity".to_owned(),
                help: "`one of` lists the quantities a measured input or a count accepts; a choice lists its names in parentheses".to_owned(),
            });
            return Vec::new();
        }
        if values.len() > MAX_ALLOWED_VALUES {
            self.push(BookError::TooMany {
                what: "`one of` list",
                items: "values",
                limit: MAX_ALLOWED_VALUES,
                span: (*span).into(),
            });
            return Vec::new();
        }
        let mut allowed: Vec<(Decimal, Span)> = Vec::new();
        for value in values {
            let Some(quantity) = self.quantity(kind, *value, "an allowed value") else {
                continue;
            };
            if let Some((_, first)) = allowed.iter().find(|(known, _)| *known == quantity) {
                let first = *first;
                self.repeated(
                    format!("`{}` lists `{}` twice", decl.name.text, value.text),
                    first,
                    value.span,
                    "list each allowed value once".to_owned(),
                );
                continue;
            }
            allowed.push((quantity, value.span));
        }
        let mut sorted: Vec<Decimal> = allowed.into_iter().map(|(value, _)| value).collect();
        sorted.sort();
        sorted
    }

    /// Every allowed value is one a request may give (within `min`/`max`, above zero
    /// without `min`), and a default is one of them.
    pub(super) fn allowed_fit(
        &mut self,
        decl: &ast::InputDecl<'a>,
        kind: &InputKind,
        allowed: &[Decimal],
        min: Option<Decimal>,
        max: Option<Decimal>,
        default: Option<&InputValue>,
    ) {
        let Some((tokens, _)) = decl.allowed.first() else {
            return;
        };
        for token in tokens {
            let Ok(value) = parse_quantity(kind, token.text) else {
                continue;
            };
            let outside = match min {
                Some(min) => value < min,
                None => value.is_zero(),
            } || max.is_some_and(|max| value > max);
            if outside {
                self.push(BookError::InvalidInput {
                    message: format!(
                        "`{}` is outside the `min` and `max` of `{}`",
                        token.text, decl.name.text
                    ),
                    span: token.span.into(),
                    label: "never accepted".to_owned(),
                    help: "every value of `one of` must be one a request may give: within `min` and `max`, and above zero unless `min 0`".to_owned(),
                });
            }
        }
        if let (Some(InputValue::Quantity(value)), Some(token)) = (default, decl.defaults.first())
            && !allowed.is_empty()
            && !allowed.contains(value)
        {
            self.push(BookError::InvalidInput {
                message: format!(
                    "the default of `{}` is not one of its allowed values",
                    decl.name.text
                ),
                span: token.span.into(),
                label: "not allowed".to_owned(),
                help: "make the default one of the values `one of` lists".to_owned(),
            });
        }
    }

    /// `quantity NAME = ...`, in order: each may use inputs and earlier derived quantities.
    pub(super) fn derived_quantities(&mut self, block: &ast::Block<'a>, scope: &mut Scope<'a>) {
        for statement in &block.body {
            let ast::StatementKind::Derived(decl) = &statement.kind else {
                continue;
            };
            self.name("quantity", decl.name);
            if decl.name.text == "channel" || decl.name.text == PLAN {
                self.reserved_plan(decl.name);
                scope.broken.push(decl.name.text);
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
            if scope.inputs.len() == MAX_INPUTS_PER_FEATURE {
                self.push(BookError::TooMany {
                    what: "feature",
                    items: "inputs",
                    limit: MAX_INPUTS_PER_FEATURE,
                    span: decl.name.span.into(),
                });
                continue;
            }
            match self.derived_decl(decl, statement.span, scope) {
                Some(derived) => {
                    scope.inputs.push(ScopeInput {
                        token: decl.name,
                        input: derived.input.clone(),
                    });
                    scope.derived.push(derived);
                }
                None => scope.broken.push(decl.name.text),
            }
        }
    }

    fn derived_decl(
        &mut self,
        decl: &ast::DerivedDecl<'a>,
        span: Span,
        scope: &Scope<'a>,
    ) -> Option<DerivedQuantity> {
        let op = match decl.rest.first() {
            Some((ast::DerivedOp::Times, _)) => DerivedOperator::Product,
            _ => DerivedOperator::Sum,
        };
        if let Some((_, mixed)) = decl.rest.iter().find(|(other, _)| {
            (*other == ast::DerivedOp::Times) != (op == DerivedOperator::Product)
        }) {
            self.push(BookError::InvalidInput {
                message: format!("`{}` mixes `+` and `*`", decl.name.text),
                span: mixed.span.to(span).into(),
                label: "one operator per quantity".to_owned(),
                help: "a quantity either adds or multiplies its terms; define the product as its own `quantity` and add that".to_owned(),
            });
            return None;
        }
        let terms: Vec<Token<'a>> = std::iter::once(decl.first)
            .chain(decl.rest.iter().map(|(_, term)| *term))
            .collect();
        if terms.len() > MAX_DERIVED_TERMS {
            self.push(BookError::TooMany {
                what: "quantity",
                items: "terms",
                limit: MAX_DERIVED_TERMS,
                span: span.into(),
            });
            return None;
        }
        // The kind: a sum's inputs share one; a product has at most one measured input.
        let mut kind: Option<(InputKind, Token<'a>)> = None;
        let mut ok = true;
        for term in &terms {
            if starts_with_digit(term.text) {
                continue;
            }
            let found = self.input(scope, *term)?;
            let term_kind = found.input.kind.clone();
            if !is_quantity(&term_kind) {
                self.push(BookError::InvalidInput {
                    message: format!(
                        "`{}` is {}, not a quantity",
                        term.text,
                        kind_phrase(&term_kind)
                    ),
                    span: term.span.into(),
                    label: "not a quantity".to_owned(),
                    help: "a quantity is computed from measured inputs, counts and constants such as `500 tokens`".to_owned(),
                });
                ok = false;
                continue;
            }
            let keep = match (&kind, op) {
                (None, _) => true,
                (Some((known, _)), DerivedOperator::Sum) => {
                    if *known != term_kind {
                        self.mixed_kinds(decl, *term, &term_kind, known);
                        ok = false;
                    }
                    false
                }
                (Some((known, first)), DerivedOperator::Product) => {
                    if is_measured(known) && is_measured(&term_kind) {
                        let first = *first;
                        self.push(BookError::InvalidInput {
                            message: format!(
                                "`{}` multiplies two measures, `{}` and `{}`",
                                decl.name.text, first.text, term.text
                            ),
                            span: term.span.into(),
                            label: kind_phrase(&term_kind),
                            help: "a product may multiply one measured input by counts (`duration * outputs`); declare the dimensions as counts, such as `input width: count max 4096`".to_owned(),
                        });
                        ok = false;
                    }
                    *known == InputKind::Count
                }
            };
            if keep {
                kind = Some((term_kind, *term));
            }
        }
        if !ok {
            return None;
        }
        let kind = kind.map_or(InputKind::Count, |(kind, _)| kind);
        let mut lowered = Vec::new();
        let mut max = match op {
            DerivedOperator::Sum => Decimal::ZERO,
            DerivedOperator::Product => Decimal::ONE,
        };
        let mut min = max;
        let mut unbounded = false;
        for term in &terms {
            let (term, term_min, term_max) = if starts_with_digit(term.text) {
                let constant_kind = match op {
                    DerivedOperator::Sum => &kind,
                    DerivedOperator::Product => &InputKind::Count,
                };
                let value = self.quantity(constant_kind, *term, "a constant")?;
                (DerivedTerm::Constant(value), value, value)
            } else {
                let found = self.input(scope, *term)?;
                let low = found.input.min.unwrap_or(Decimal::ZERO);
                // A term without a `max` (a count may state none) leaves the quantity
                // without one, as an input without `max` is.
                let Some(high) = found.input.max else {
                    unbounded = true;
                    lowered.push(DerivedTerm::Input(term.text.to_owned()));
                    continue;
                };
                (DerivedTerm::Input(term.text.to_owned()), low, high)
            };
            let combine = |left: Decimal, right: Decimal| match op {
                DerivedOperator::Sum => left.checked_add(right),
                DerivedOperator::Product => left.checked_mul(right),
            };
            let (Some(next_max), Some(next_min)) = (combine(max, term_max), combine(min, term_min))
            else {
                self.push(BookError::InvalidInput {
                    message: format!("`{}` can be larger than rating can hold", decl.name.text),
                    span: span.into(),
                    label: "too large".to_owned(),
                    help: "lower the `max` of its inputs".to_owned(),
                });
                return None;
            };
            max = next_max;
            min = next_min;
            lowered.push(term);
        }
        Some(DerivedQuantity {
            input: Input {
                name: decl.name.text.to_owned(),
                kind,
                default: None,
                min: (!unbounded).then_some(min),
                max: (!unbounded).then_some(max),
                allowed: Vec::new(),
            },
            op,
            terms: lowered,
        })
    }

    fn mixed_kinds(
        &mut self,
        decl: &ast::DerivedDecl<'_>,
        term: Token<'_>,
        kind: &InputKind,
        expected: &InputKind,
    ) {
        self.push(BookError::InvalidInput {
            message: format!(
                "`{}` adds {} to {}",
                decl.name.text,
                kind_phrase(kind),
                kind_phrase(expected)
            ),
            span: term.span.into(),
            label: kind_phrase(kind),
            help: "a sum adds quantities of one kind (tokens to tokens, seconds to seconds); price the other one with its own rule".to_owned(),
        });
    }

    /// The plan (when a condition names it) and each quantity conditions compare, as
    /// dimensions of the feature's choice space.
    pub(super) fn plan_and_quantity_dims(&mut self, block: &ast::Block<'a>, scope: &mut Scope<'a>) {
        let mut plan_named = false;
        let mut thresholds: Vec<(String, Vec<Decimal>, Span)> = Vec::new();
        for condition in block_conditions(block) {
            for test in &condition.tests {
                match &test.kind {
                    ast::TestKind::Is { input, .. } if input.text == PLAN => plan_named = true,
                    ast::TestKind::Compare { input, value, .. } => {
                        let Some(found) = scope
                            .inputs
                            .iter()
                            .find(|known| known.input.name == input.text)
                        else {
                            continue;
                        };
                        if !is_quantity(&found.input.kind) {
                            continue;
                        }
                        let Ok(bound) = parse_quantity(&found.input.kind, value.text) else {
                            continue;
                        };
                        match thresholds
                            .iter_mut()
                            .find(|(name, _, _)| name == input.text)
                        {
                            Some((_, bounds, _)) => {
                                if !bounds.contains(&bound) {
                                    bounds.push(bound);
                                }
                            }
                            None => {
                                thresholds.push((input.text.to_owned(), vec![bound], test.span))
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if plan_named {
            scope.dims.push(Dim {
                input: PLAN.to_owned(),
                values: self.plan_names.clone(),
                flag: false,
                thresholds: Vec::new(),
            });
        }
        for (name, mut bounds, span) in thresholds {
            if bounds.len() > MAX_THRESHOLDS_PER_QUANTITY {
                self.push(BookError::TooMany {
                    what: "quantity's conditions",
                    items: "distinct thresholds",
                    limit: MAX_THRESHOLDS_PER_QUANTITY,
                    span: span.into(),
                });
                bounds.truncate(MAX_THRESHOLDS_PER_QUANTITY);
            }
            bounds.sort();
            let kind = scope
                .inputs
                .iter()
                .find(|known| known.input.name == name)
                .map_or(InputKind::Count, |known| known.input.kind.clone());
            let shown = |bound: &Decimal| crate::literal::format_quantity(&kind, *bound);
            let mut values = Vec::with_capacity(bounds.len() * 2 + 1);
            for (index, bound) in bounds.iter().enumerate() {
                values.push(
                    match index.checked_sub(1).and_then(|below| bounds.get(below)) {
                        Some(lower) => format!("between {} and {}", shown(lower), shown(bound)),
                        None => format!("below {}", shown(bound)),
                    },
                );
                values.push(format!("exactly {}", shown(bound)));
            }
            if let Some(last) = bounds.last() {
                values.push(format!("above {}", shown(last)));
            }
            scope.dims.push(Dim {
                input: name,
                values,
                flag: false,
                thresholds: bounds,
            });
        }
    }

    /// `QUANTITY above|below|at least|at most LITERAL`: its dimension, mask and lowered test.
    pub(super) fn compare_test(
        &mut self,
        scope: &Scope<'_>,
        input: Token<'_>,
        op: CompareOp,
        value: Token<'_>,
    ) -> Option<(usize, u64, Option<Test>)> {
        let found = self.input(scope, input)?;
        let kind = found.input.kind.clone();
        if !is_quantity(&kind) {
            self.push(BookError::InvalidCondition {
                message: format!(
                    "`{}` is {}, not a quantity to compare",
                    input.text,
                    kind_phrase(&kind)
                ),
                span: input.span.into(),
                label: "not a quantity".to_owned(),
                help: format!(
                    "`{}` compares quantities; test a choice with `is` or a flag by its name",
                    op.words()
                ),
            });
            return None;
        }
        let bound = self.quantity(&kind, value, "the threshold")?;
        let Some(dim_index) = scope.dims.iter().position(|dim| dim.input == input.text) else {
            // Only a feature's own statements are gathered into its quantity dimensions.
            self.push(BookError::InvalidCondition {
                message: format!("`{}` can be compared only inside its feature", input.text),
                span: input.span.to(value.span).into(),
                label: "a quantity test".to_owned(),
                help: "move the test into a `refuse` or a rule of the feature; a plan's `requires subscription for` tests choices, flags and `channel`".to_owned(),
            });
            return None;
        };
        let dim = scope.dims.get(dim_index)?;
        let position = dim.thresholds.iter().position(|known| *known == bound)?;
        // Region 2i is below threshold i, 2i + 1 is exactly it.
        let point = position.checked_mul(2)?.checked_add(1)?;
        let mut mask = 0u64;
        for region in 0..dim.values.len() {
            let inside = match op {
                CompareOp::Above => region > point,
                CompareOp::AtLeast => region >= point,
                CompareOp::Below => region < point,
                CompareOp::AtMost => region <= point,
            };
            if inside && region < 64 {
                mask |= 1u64 << region;
            }
        }
        Some((
            dim_index,
            mask,
            Some(Test::Compare {
                input: input.text.to_owned(),
                op,
                quantity: bound,
            }),
        ))
    }

    /// A `plan is NAME` naming no plan of the book.
    pub(super) fn unknown_plan(&mut self, value: Token<'_>) {
        let known: Vec<&str> = self.plan_names.iter().map(String::as_str).collect();
        let help = if known.is_empty() {
            "the book declares no plans: add a `plan NAME { ... }` block, or remove the test"
                .to_owned()
        } else {
            did_you_mean(value.text, known.iter().copied(), || {
                format!("the plans are {}", backticked(&known))
            })
        };
        self.push(BookError::InvalidCondition {
            message: format!("`{}` is not a plan of this book", value.text),
            span: value.span.into(),
            label: "unknown plan".to_owned(),
            help,
        });
    }

    /// A condition of a `minimum` or `maximum` may not compare quantities: the quantity it
    /// would compare is the one the clamp is computing.
    pub(super) fn no_quantity_tests(
        &mut self,
        condition: Option<&ast::Condition<'_>>,
        statement: &str,
    ) -> bool {
        let Some(condition) = condition else {
            return true;
        };
        let mut ok = true;
        for test in &condition.tests {
            if let ast::TestKind::Compare { op_span, .. } = &test.kind {
                self.push(BookError::InvalidCondition {
                    message: format!("a `{statement}` cannot depend on a quantity"),
                    span: test.span.to(*op_span).into(),
                    label: "a quantity test".to_owned(),
                    help: format!(
                        "`{statement}` changes the quantity conditions compare; test choices, flags, `channel` or `plan` here"
                    ),
                });
                ok = false;
            }
        }
        ok
    }

    /// `maximum QUANTITY of INPUT [when COND]`: the condition's masks.
    pub(super) fn maximum_decl(
        &mut self,
        scope: &Scope<'_>,
        maximum: &ast::MinimumDecl<'_>,
        parts: &mut ExtraParts,
    ) -> Option<Vec<u64>> {
        let Some(of) = maximum.of else {
            self.push(BookError::InvalidInput {
                message: "`maximum` needs the quantity it bounds".to_owned(),
                span: maximum.value.span.into(),
                label: "of which input?".to_owned(),
                help: format!(
                    "write `maximum {} of INPUT`; a maximum charge is not a statement: price the feature lower",
                    maximum.value.text
                ),
            });
            return None;
        };
        if !self.no_quantity_tests(maximum.when.as_ref(), "maximum") {
            return None;
        }
        let input = self.input(scope, of)?;
        let kind = input.input.kind.clone();
        if !is_quantity(&kind) {
            self.push(BookError::InvalidInput {
                message: format!("`{}` is {} and has no maximum", of.text, kind_phrase(&kind)),
                span: of.span.into(),
                label: "not a quantity".to_owned(),
                help: "a maximum quantity bounds a quantity input, such as `maximum 3h of session`"
                    .to_owned(),
            });
            return None;
        }
        let quantity = self.quantity(&kind, maximum.value, "the maximum")?;
        if quantity.is_zero() {
            self.push(BookError::InvalidInput {
                message: format!("the maximum of `{}` is zero", of.text),
                span: maximum.value.span.into(),
                label: "zero".to_owned(),
                help: "a maximum of nothing bills nothing: write `base 0 credit each` for a free feature".to_owned(),
            });
            return None;
        }
        let resolved = self.condition(scope, maximum.when.as_ref())?;
        if !resolved.reachable {
            return None;
        }
        parts.maximum_quantities.push(MaximumQuantity {
            input: of.text.to_owned(),
            quantity,
            when: resolved.condition,
        });
        Some(resolved.masks)
    }

    /// `refuse "MESSAGE" [when COND]`.
    pub(super) fn refuse_decl(
        &mut self,
        scope: &Scope<'_>,
        message: Token<'_>,
        when: Option<&ast::Condition<'_>>,
        statement: &ast::Statement<'_>,
        parts: &mut ExtraParts,
    ) {
        let text = message.unquoted();
        if text.trim().is_empty() {
            self.push(BookError::InvalidStatement {
                message: "a refusal needs a message".to_owned(),
                span: message.span.into(),
                label: "empty".to_owned(),
                help: "say why, in the words a client will read, such as `refuse \"fast mode is not available with batch\" when fast and batch`".to_owned(),
            });
            return;
        }
        if text.chars().count() > MAX_REFUSAL_CHARS {
            self.push(BookError::InvalidStatement {
                message: format!("a refusal's message is at most {MAX_REFUSAL_CHARS} characters"),
                span: message.span.into(),
                label: "too long".to_owned(),
                help: "shorten the message: it is answered to clients as is".to_owned(),
            });
            return;
        }
        if when.is_none() {
            self.push(BookError::InvalidStatement {
                message: "a refusal without `when` refuses every usage".to_owned(),
                span: statement.span.into(),
                label: "no condition".to_owned(),
                help: "add the case it refuses, such as `when fast and batch`; to retire a feature, remove it".to_owned(),
            });
            return;
        }
        let Some(resolved) = self.condition(scope, when) else {
            return;
        };
        if !resolved.reachable {
            return;
        }
        self.refused_masks.push(resolved.masks);
        parts.refusals.push(Refusal {
            message: text.to_owned(),
            when: resolved.condition,
            line: u32::try_from(self.line(statement.span.start)).unwrap_or(u32::MAX),
        });
    }
}

/// Most characters of a refusal's message (it is answered to clients as is).
const MAX_REFUSAL_CHARS: usize = 200;

fn starts_with_digit(text: &str) -> bool {
    text.bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_digit() || byte == b'-')
}

impl Checker<'_> {
    /// The plan an example names (`plan: business`): one the book declares.
    pub(super) fn example_plan(&mut self, arg: &ast::ExpectArg<'_>) -> Option<String> {
        if self.plan_names.iter().any(|name| name == arg.value.text) {
            Some(arg.value.text.to_owned())
        } else {
            self.unknown_plan(arg.value);
            None
        }
    }

    /// An example giving a derived quantity, which rating computes.
    pub(super) fn derived_in_example(&mut self, arg: &ast::ExpectArg<'_>) {
        self.push(BookError::InvalidExample {
            message: format!("`{}` is computed, not given", arg.name.text),
            span: arg.span.into(),
            label: "a derived quantity".to_owned(),
            help: format!(
                "give the inputs `{}` is computed from; a request cannot give it either",
                arg.name.text
            ),
        });
    }
}
