//! The syntax tree of one `.rates` file, as written.
//!
//! Every node keeps its byte span in the source, for diagnostics and for `fmt`; leaves borrow
//! their text from the source, so building the tree allocates only the vectors. Nothing here
//! is interpreted yet: a unit name is any word and a quantity is its text. `check` gives
//! meaning and reports what is wrong, with these spans.

/// A byte range `start..end` in the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        miette::SourceSpan::new(span.start.into(), span.len())
    }
}

/// A leaf: a name, number, quantity, date or quoted text, with its source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub span: Span,
}

impl<'a> Token<'a> {
    /// For a quoted text, the text between the quotes; otherwise the token itself.
    pub fn unquoted(&self) -> &'a str {
        self.text
            .strip_prefix('"')
            .and_then(|text| text.strip_suffix('"'))
            .unwrap_or(self.text)
    }
}

/// A `#` comment, from `#` to the end of its line (newline excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comment<'a> {
    pub text: &'a str,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File<'a> {
    pub statements: Vec<Top<'a>>,
    /// Every comment in source order.
    pub comments: Vec<Comment<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top<'a> {
    pub kind: TopKind<'a>,
    pub span: Span,
    /// The span of the statement's first keyword.
    pub keyword: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopKind<'a> {
    Book(Token<'a>),
    /// The quoted text.
    Title(Token<'a>),
    Effective(Token<'a>),
    /// Quoted text or, leniently, a bare name.
    TimeZone(Token<'a>),
    Source(Token<'a>),
    Unit(UnitDecl<'a>),
    Channels(ChannelsDecl<'a>),
    Feature(Block<'a>),
    Plan(Block<'a>),
    Expect(ExpectDecl<'a>),
    Scenario(ScenarioDecl<'a>),
}

impl TopKind<'_> {
    /// The statement's keyword, for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            TopKind::Book(_) => "book",
            TopKind::Title(_) => "title",
            TopKind::Effective(_) => "effective",
            TopKind::TimeZone(_) => "time_zone",
            TopKind::Source(_) => "source",
            TopKind::Unit(_) => "unit",
            TopKind::Channels(_) => "channels",
            TopKind::Feature(_) => "feature",
            TopKind::Plan(_) => "plan",
            TopKind::Expect(_) => "expect",
            TopKind::Scenario(_) => "scenario",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitDecl<'a> {
    pub name: Token<'a>,
    /// Every `scale N` written (one is expected).
    pub scales: Vec<Token<'a>>,
    /// Every `round MODE` written (at most one is expected).
    pub rounds: Vec<Token<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelsDecl<'a> {
    pub names: Vec<Token<'a>>,
    pub default: Option<Token<'a>>,
}

/// A `feature` or `plan` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block<'a> {
    pub name: Token<'a>,
    pub title: Option<Token<'a>>,
    pub body: Vec<Statement<'a>>,
    pub open: Span,
    pub close: Span,
}

/// A statement inside a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub kind: StatementKind<'a>,
    pub span: Span,
    /// The span of the statement's first keyword.
    pub keyword: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind<'a> {
    // Feature statements.
    Input(InputDecl<'a>),
    Round(RoundDecl<'a>),
    Minimum(MinimumDecl<'a>),
    Rule(RuleDecl<'a>),
    Multiply(Token<'a>),
    /// `multiply by NUMBER [when COND]` or `add NUMBER% [when COND]`: a modifier on the
    /// feature's amount.
    Factor(FactorDecl<'a>),
    FirstRequestFree,
    RequiresPrior(Vec<Token<'a>>),
    /// `refuse "MESSAGE" [when COND]`: the quoted message token.
    Refuse {
        message: Token<'a>,
        when: Option<Condition<'a>>,
    },
    /// `maximum QUANTITY of INPUT [when COND]`: bill at most this quantity.
    Maximum(MinimumDecl<'a>),
    /// `quantity NAME = TERM (+|*) TERM ...`.
    Derived(DerivedDecl<'a>),
    // Plan statements.
    Gate {
        feature: Token<'a>,
        when: Option<Condition<'a>>,
    },
    /// `cycle` and its words as written (`monthly from purchase`).
    Cycle(Vec<Token<'a>>),
    Periods(Vec<Token<'a>>),
    Grant(GrantDecl<'a>),
    Order(Vec<Token<'a>>),
    Topup(TopupDecl<'a>),
    Package {
        name: Token<'a>,
        amount: Amount<'a>,
        /// `for PRICE CURRENCY`: what the package sells for (`for 10 USD`).
        price: Option<Amount<'a>>,
    },
    /// `topup minimum AMOUNT, step AMOUNT, packages only`: what a top-up must be.
    TopupRules(Vec<TopupRuleDecl<'a>>),
    /// `outcome OUTCOME free|full|by usage`: what a job ending that way costs.
    Outcome {
        outcome: Token<'a>,
        /// `free`, `full` or `by usage`, as written.
        charge: Token<'a>,
    },
    CreditLine(Amount<'a>),
    /// `balance at most AMOUNT`: the most the balance of the amount's unit may hold.
    BalanceCap(Amount<'a>),
    Alert(Vec<Amount<'a>>),
    RefundWindow {
        days: Token<'a>,
        /// `days` as written.
        unit: Token<'a>,
        reasons: Vec<Token<'a>>,
    },
    RefundExpired(RefundExpired<'a>),
    /// `late usage within N days|hours`: how long after it happened a usage may be charged.
    LateUsage {
        number: Token<'a>,
        /// `days` or `hours` as written.
        unit: Token<'a>,
    },
    /// `warn before expiry N days|hours`: how long before credits expire the platform hears.
    WarnExpiry {
        number: Token<'a>,
        /// `days` or `hours` as written.
        unit: Token<'a>,
    },
    /// `auto topup below AMOUNT package NAME`: when to ask the platform for a top-up.
    AutoTopup {
        below: Amount<'a>,
        package: Token<'a>,
    },
    /// `limit N` and its words as written (`requests per minute`, `concurrent holds`).
    Limit {
        number: Token<'a>,
        words: Vec<Token<'a>>,
    },
}

impl StatementKind<'_> {
    /// The statement as a product manager names it, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            StatementKind::Input(_) => "input",
            StatementKind::Round(_) => "round",
            StatementKind::Minimum(_) => "minimum",
            StatementKind::Rule(rule) => match rule.role {
                Role::Base => "base",
                Role::Add => "add",
            },
            StatementKind::Multiply(_) => "multiply by",
            StatementKind::Factor(factor) => match factor.value {
                FactorValue::Times(_) => "multiply by",
                FactorValue::Percent(_) => "add %",
            },
            StatementKind::FirstRequestFree => "first request free",
            StatementKind::RequiresPrior(_) => "requires ... on same content",
            StatementKind::Refuse { .. } => "refuse",
            StatementKind::Maximum(_) => "maximum",
            StatementKind::Derived(_) => "quantity",
            StatementKind::Gate { .. } => "requires subscription for",
            StatementKind::Cycle(_) => "cycle",
            StatementKind::Periods(_) => "periods",
            StatementKind::Grant(_) => "grant",
            StatementKind::Order(_) => "order",
            StatementKind::Topup(_) => "topup",
            StatementKind::Package { .. } => "package",
            StatementKind::CreditLine(_) => "credit line",
            StatementKind::BalanceCap(_) => "balance at most",
            StatementKind::Alert(_) => "alert below",
            StatementKind::RefundWindow { .. } => "refund within",
            StatementKind::RefundExpired(_) => "refund expired",
            StatementKind::Limit { .. } => "limit",
            StatementKind::LateUsage { .. } => "late usage within",
            StatementKind::TopupRules(_) => "topup minimum, step or packages only",
            StatementKind::Outcome { .. } => "outcome",
            StatementKind::WarnExpiry { .. } => "warn before expiry",
            StatementKind::AutoTopup { .. } => "auto topup below",
        }
    }

    /// Whether the statement belongs in a `feature` block (else in a `plan`).
    pub fn is_feature_statement(&self) -> bool {
        matches!(
            self,
            StatementKind::Input(_)
                | StatementKind::Round(_)
                | StatementKind::Minimum(_)
                | StatementKind::Rule(_)
                | StatementKind::Multiply(_)
                | StatementKind::Factor(_)
                | StatementKind::FirstRequestFree
                | StatementKind::RequiresPrior(_)
                | StatementKind::Outcome { .. }
                | StatementKind::Refuse { .. }
                | StatementKind::Maximum(_)
                | StatementKind::Derived(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDecl<'a> {
    pub name: Token<'a>,
    /// The kind's name as written (`duration`, `choice`).
    pub kind: Token<'a>,
    /// `choice(a, b)`: the names in parentheses, if any were written.
    pub choices: Option<Vec<Token<'a>>>,
    /// Every `default VALUE` written (at most one is expected).
    pub defaults: Vec<Token<'a>>,
    /// Every `min QUANTITY` written (at most one is expected).
    pub mins: Vec<Token<'a>>,
    /// Every `max QUANTITY` written (at most one is expected).
    pub maxes: Vec<Token<'a>>,
    /// Every `one of Q, Q...` written (at most one is expected), with the clause's span.
    pub allowed: Vec<(Vec<Token<'a>>, Span)>,
}

/// `quantity NAME = TERM (+|*) TERM ...`: a quantity computed from inputs and constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedDecl<'a> {
    pub name: Token<'a>,
    /// The first term, then each operator with the term after it.
    pub first: Token<'a>,
    pub rest: Vec<(DerivedOp, Token<'a>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedOp {
    Plus,
    Times,
}

/// `round TARGET [DIRECTION] to QUANTITY [MODE]`: quantity rounding when TARGET is an input,
/// amount rounding when it is a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundDecl<'a> {
    pub target: Token<'a>,
    pub direction: Option<Token<'a>>,
    pub to: Token<'a>,
    pub mode: Option<Token<'a>>,
}

/// `minimum QUANTITY of INPUT [when COND]` or `minimum AMOUNT UNIT` (then `of` is absent and
/// `value` holds both the amount and the unit, as in `1 credit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinimumDecl<'a> {
    pub value: Token<'a>,
    pub of: Option<Token<'a>>,
    pub when: Option<Condition<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Base,
    Add,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDecl<'a> {
    pub role: Role,
    pub price: PriceDecl<'a>,
    pub when: Option<Condition<'a>>,
    /// A `{ ... }` of tiers; expected only after `tiers`.
    pub tiers: Option<TiersBlock<'a>>,
    /// A `{ ... }` of columns and rows; expected only after `table by`.
    pub table: Option<TableBlock<'a>>,
}

/// A modifier on the feature's amount, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorDecl<'a> {
    pub value: FactorValue<'a>,
    pub when: Option<Condition<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorValue<'a> {
    /// `multiply by NUMBER`.
    Times(Token<'a>),
    /// `add NUMBER%`: the number without its `%`.
    Percent(Token<'a>),
}

/// The `{ ... }` of a price table: `columns: ...` then one row per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableBlock<'a> {
    pub columns: Vec<TableColumn<'a>>,
    /// The span of `columns`, when written.
    pub columns_keyword: Option<Span>,
    pub rows: Vec<TableRow<'a>>,
    pub open: Span,
    pub close: Span,
}

/// What one column's prices are for: `each` or `per QUANTITY [of INPUT] [rounded …] [times …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn<'a> {
    pub per: Per<'a>,
    pub modifiers: Vec<Modifier<'a>>,
    pub span: Span,
}

/// `KEY[, KEY]...: AMOUNT UNIT[, AMOUNT UNIT]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow<'a> {
    pub key: Vec<Token<'a>>,
    pub cells: Vec<Amount<'a>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceDecl<'a> {
    /// `AMOUNT UNIT (each | per QUANTITY) [of INPUT] [rounded DIRECTION] [times INPUT]`.
    Simple {
        amount: Amount<'a>,
        per: Option<Per<'a>>,
        modifiers: Vec<Modifier<'a>>,
    },
    /// `table by CHOICE[, CHOICE]...`.
    Table {
        /// The span of `table`.
        keyword: Span,
        by: Vec<Token<'a>>,
    },
    /// `[graduated | volume] tiers [of INPUT]`.
    Tiers {
        /// `graduated` or `volume`.
        mode: Option<Token<'a>>,
        /// The span of `tiers`.
        keyword: Span,
        of: Option<Token<'a>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Per<'a> {
    /// `each`, with its span.
    Each(Span),
    /// `per QUANTITY`: a quantity (`100 words`, `3s`) or a bare unit word (`minute`).
    Per(Token<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier<'a> {
    Of(Token<'a>),
    Rounded(Token<'a>),
    Times(Token<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiersBlock<'a> {
    pub tiers: Vec<TierDecl<'a>>,
    pub open: Span,
    pub close: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDecl<'a> {
    /// `up to QUANTITY`; `None` for `above`.
    pub up_to: Option<Token<'a>>,
    pub amount: Amount<'a>,
    pub per: Option<Per<'a>>,
    pub span: Span,
}

/// `NUMBER UNIT`, such as `20 credit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount<'a> {
    pub number: Token<'a>,
    pub unit: Token<'a>,
    pub span: Span,
}

/// Tests joined by `and`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition<'a> {
    pub tests: Vec<TestDecl<'a>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDecl<'a> {
    pub kind: TestKind<'a>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestKind<'a> {
    /// `INPUT is A [or B]...`.
    Is {
        input: Token<'a>,
        values: Vec<Token<'a>>,
    },
    /// `FLAG`.
    Flag(Token<'a>),
    /// `not FLAG`.
    NotFlag(Token<'a>),
    /// `QUANTITY_NAME above|below|at least|at most LITERAL`.
    Compare {
        input: Token<'a>,
        op: CompareOp,
        /// The span of the operator's words.
        op_span: Span,
        value: Token<'a>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Above,
    Below,
    AtLeast,
    AtMost,
}

impl CompareOp {
    pub fn words(self) -> &'static str {
        match self {
            CompareOp::Above => "above",
            CompareOp::Below => "below",
            CompareOp::AtLeast => "at least",
            CompareOp::AtMost => "at most",
        }
    }

    /// Whether `quantity` passes the test against `bound`.
    pub fn holds(self, quantity: rust_decimal::Decimal, bound: rust_decimal::Decimal) -> bool {
        match self {
            CompareOp::Above => quantity > bound,
            CompareOp::Below => quantity < bound,
            CompareOp::AtLeast => quantity >= bound,
            CompareOp::AtMost => quantity <= bound,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantDecl<'a> {
    pub amount: Amount<'a>,
    pub every: Option<Every<'a>>,
    pub kind: Option<Token<'a>>,
    pub expires: Vec<Expiry<'a>>,
    pub rollovers: Vec<RolloverDecl<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Every<'a> {
    Daily(Span),
    Once(Span),
    /// `every WORD` (`every cycle`).
    Every {
        word: Token<'a>,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry<'a> {
    pub kind: ExpiryKind<'a>,
    /// From `expires` to the end of the clause.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryKind<'a> {
    Never,
    /// `end of WORD` (`day`, `cycle`).
    EndOf(Token<'a>),
    /// `after N WORD` (`days`, `cycles`).
    After {
        number: Token<'a>,
        unit: Token<'a>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverDecl<'a> {
    pub kind: RolloverKind<'a>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloverKind<'a> {
    WhileSubscribed,
    UpTo(Amount<'a>),
    /// `up to AMOUNT while subscribed`.
    UpToWhileSubscribed(Amount<'a>),
    /// `N cycles`.
    Cycles {
        number: Token<'a>,
        unit: Token<'a>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupDecl<'a> {
    pub kind: Option<Token<'a>>,
    pub expires: Vec<Expiry<'a>>,
    /// Spans of every `requires subscription` written.
    pub requires_subscription: Vec<Span>,
}

/// One clause of `topup minimum …, step …, packages only`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupRuleDecl<'a> {
    pub kind: TopupRuleKind<'a>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopupRuleKind<'a> {
    Minimum(Amount<'a>),
    Step(Amount<'a>),
    PackagesOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundExpired<'a> {
    Forfeit,
    Restore {
        kind: Token<'a>,
        expires: Option<Expiry<'a>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectDecl<'a> {
    pub terms: Vec<ExpectTermDecl<'a>>,
    pub amounts: Vec<Amount<'a>>,
    /// `refused CODE` instead of `= AMOUNT`: the code.
    pub refused: Option<Token<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectTermDecl<'a> {
    /// `N *` before the feature.
    pub count: Option<Token<'a>>,
    /// The span of `first`, if written.
    pub first: Option<Span>,
    pub feature: Token<'a>,
    pub args: Vec<ExpectArg<'a>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectArg<'a> {
    pub name: Token<'a>,
    /// A quantity or a name.
    pub value: Token<'a>,
    pub span: Span,
}

/// `scenario "NAME" on PLAN [starting DATE] { STEP... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioDecl<'a> {
    /// The quoted name.
    pub name: Token<'a>,
    pub plan: Token<'a>,
    pub start: Option<Token<'a>>,
    pub steps: Vec<StepDecl<'a>>,
    pub open: Span,
    pub close: Span,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDecl<'a> {
    pub kind: StepKind<'a>,
    /// `refused CODE` after an action: the code.
    pub refused: Option<Token<'a>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind<'a> {
    /// `subscribe PERIOD`.
    Subscribe(Token<'a>),
    /// `top up AMOUNT [as KIND]`.
    TopUp {
        amount: Amount<'a>,
        kind: Option<Token<'a>>,
    },
    /// `top up package NAME`.
    TopUpPackage(Token<'a>),
    /// `charge TERM [as LABEL] [= AMOUNT, ...]`.
    Charge {
        term: ExpectTermDecl<'a>,
        label: Option<Token<'a>>,
        /// What each charge must charge, when stated.
        amounts: Vec<Amount<'a>>,
    },
    /// `hold TERM [as LABEL]`.
    Hold {
        term: ExpectTermDecl<'a>,
        label: Option<Token<'a>>,
    },
    /// `capture LABEL`.
    Capture(Token<'a>),
    /// `release LABEL`.
    Release(Token<'a>),
    /// `refund LABEL for REASON`.
    Refund {
        charge: Token<'a>,
        reason: Token<'a>,
    },
    /// `cancel`.
    Cancel,
    /// `at DATE`.
    At(Token<'a>),
    /// `expect balance [KIND] AMOUNT, ...`.
    Balance(Vec<BalanceDecl<'a>>),
}

/// `[KIND] AMOUNT UNIT` in a balance expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDecl<'a> {
    pub kind: Option<Token<'a>>,
    pub amount: Amount<'a>,
    pub span: Span,
}
