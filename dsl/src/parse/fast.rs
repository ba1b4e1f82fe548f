//! A hand-written parser for the grammar in `grammar.pest`, building the very same tree.
//!
//! Why: pest pays for tracking and stack guarding on every rule call, which made parsing the
//! rate books about three times the whole compile budget (BRIEF §6: well under 1 ms for all of
//! `rates/`). This parser mirrors the grammar rule by rule — ordered choices, greedy optional
//! and repeated parts that give back what they consumed when they fail, whitespace and
//! comments skipped before every token — and builds the tree with the spans pest gives.
//!
//! It is only a fast path: when it fails, `parse` runs the pest grammar, which remains the
//! definition of the language and the source of every syntax error. So this parser may be
//! stricter than the grammar, never looser or different; `tests/fuzz.rs` checks that on
//! arbitrary and mutated input the two build equal trees.

use crate::ast::*;

/// Parses `source`, or `None` when it does not (pest then decides and explains).
pub(super) fn parse(source: &str) -> Option<Vec<Top<'_>>> {
    let mut parser = Parser {
        source,
        bytes: source.as_bytes(),
        position: 0,
        last_end: 0,
    };
    let mut statements = Vec::new();
    loop {
        parser.skip();
        if parser.position >= parser.bytes.len() {
            return Some(statements);
        }
        statements.push(parser.top()?);
        parser.optional(|p| p.punctuation(b';'));
    }
}

/// Words that start a statement (`statement_keyword` in the grammar).
const STATEMENT_KEYWORDS: &[&str] = &[
    "book",
    "title",
    "effective",
    "time_zone",
    "source",
    "unit",
    "channels",
    "feature",
    "plan",
    "expect",
    "input",
    "round",
    "minimum",
    "base",
    "add",
    "multiply",
    "first",
    "requires",
    "cycle",
    "periods",
    "grant",
    "order",
    "topup",
    "package",
    "alert",
    "refund",
    "limit",
    "late",
];

/// Words that can follow a quantity (`reserved` in the grammar, besides statement keywords).
const RESERVED: &[&str] = &[
    "of",
    "when",
    "rounded",
    "times",
    "max",
    "default",
    "up",
    "down",
    "nearest",
    "half-up",
    "half-even",
    "half-down",
    "above",
    "and",
    "or",
    "is",
    "not",
    "to",
    "every",
    "daily",
    "once",
    "as",
    "expires",
    "rolls",
    "for",
    "on",
];

#[derive(Clone, Copy)]
struct Mark {
    position: usize,
    last_end: usize,
}

struct Parser<'a> {
    source: &'a str,
    bytes: &'a [u8],
    position: usize,
    /// End of the last token matched: where the current rule's span ends.
    last_end: usize,
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

impl<'a> Parser<'a> {
    // ---- Machinery ----------------------------------------------------------------------------

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn mark(&self) -> Mark {
        Mark {
            position: self.position,
            last_end: self.last_end,
        }
    }

    fn reset(&mut self, mark: Mark) {
        self.position = mark.position;
        self.last_end = mark.last_end;
    }

    /// Runs `part`; when it fails, gives back what it consumed (a PEG `?`).
    fn optional<T>(&mut self, part: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let mark = self.mark();
        let result = part(self);
        if result.is_none() {
            self.reset(mark);
        }
        result
    }

    /// Runs `part` as long as it succeeds (a PEG `*`).
    fn repeat<T>(&mut self, mut part: impl FnMut(&mut Self) -> Option<T>) -> Vec<T> {
        let mut items = Vec::new();
        while let Some(item) = self.optional(&mut part) {
            items.push(item);
        }
        items
    }

    /// Whitespace and `#` comments (pest's implicit `WHITESPACE` and `COMMENT`).
    fn skip(&mut self) {
        while let Some(byte) = self.byte(self.position) {
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' => self.position += 1,
                b'#' => {
                    while self.byte(self.position).is_some_and(|byte| byte != b'\n') {
                        self.position += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn token(&mut self, start: usize, end: usize) -> Option<Token<'a>> {
        let text = self.source.get(start..end)?;
        self.position = end;
        self.last_end = end;
        Some(Token {
            text,
            span: Span::new(start, end),
        })
    }

    /// The end of `word_body` starting at `at`: a letter, then letters, digits, `_`, and `-`
    /// followed by a letter or digit.
    fn word_end(&self, at: usize) -> Option<usize> {
        if !self.byte(at).is_some_and(|byte| byte.is_ascii_alphabetic()) {
            return None;
        }
        let mut end = at + 1;
        loop {
            match self.byte(end) {
                Some(byte) if is_word_byte(byte) => end += 1,
                Some(b'-')
                    if self
                        .byte(end + 1)
                        .is_some_and(|byte| byte.is_ascii_alphanumeric()) =>
                {
                    end += 1;
                }
                _ => return Some(end),
            }
        }
    }

    fn word_at(&self, at: usize) -> Option<&'a str> {
        let end = self.word_end(at)?;
        self.source.get(at..end)
    }

    /// `statement_keyword` at `at`.
    fn statement_keyword_at(&self, at: usize) -> bool {
        let Some(word) = self.word_at(at) else {
            return false;
        };
        if STATEMENT_KEYWORDS.contains(&word) {
            return true;
        }
        if word != "credit" {
            return false;
        }
        let mut after = at + word.len();
        let spaces_start = after;
        while matches!(self.byte(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        after > spaces_start && self.word_at(after) == Some("line")
    }

    // ---- Tokens -------------------------------------------------------------------------------

    /// A keyword: the word at the position is exactly `keyword`.
    fn keyword(&mut self, keyword: &str) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        if self.word_at(start)? != keyword {
            return None;
        }
        self.token(start, start + keyword.len())
    }

    fn is_keyword(&mut self, keyword: &str) -> bool {
        self.skip();
        self.word_at(self.position) == Some(keyword)
    }

    fn name(&mut self) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        let end = self.word_end(start)?;
        self.token(start, end)
    }

    /// `free_word` and `rounding_mode`: a word that does not start a statement.
    fn free_word(&mut self) -> Option<Token<'a>> {
        self.skip();
        if self.statement_keyword_at(self.position) {
            return None;
        }
        self.name()
    }

    fn punctuation(&mut self, byte: u8) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        if self.byte(start)? != byte {
            return None;
        }
        self.token(start, start + 1)
    }

    fn digits_start(&self, at: usize) -> Option<usize> {
        let at = if self.byte(at) == Some(b'-') {
            at + 1
        } else {
            at
        };
        self.byte(at)?.is_ascii_digit().then_some(at + 1)
    }

    fn number(&mut self) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        let mut end = self.digits_start(start)?;
        let digit_at =
            |parser: &Self, at: usize| parser.byte(at).is_some_and(|byte| byte.is_ascii_digit());
        loop {
            match self.byte(end) {
                Some(byte) if byte.is_ascii_digit() || byte == b'_' => end += 1,
                Some(b'.') if digit_at(self, end + 1) => end += 1,
                Some(b'e' | b'E') => {
                    let sign = matches!(self.byte(end + 1), Some(b'+' | b'-'));
                    let after = end + 1 + usize::from(sign);
                    if digit_at(self, after) {
                        end = after;
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.token(start, end)
    }

    fn quantity(&mut self) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        let mut end = self.digits_start(start)?;
        let digit_at =
            |parser: &Self, at: usize| parser.byte(at).is_some_and(|byte| byte.is_ascii_digit());
        loop {
            match self.byte(end) {
                Some(byte) if is_word_byte(byte) => end += 1,
                Some(b'.' | b'+' | b'-') if digit_at(self, end + 1) => end += 1,
                _ => break,
            }
        }
        // A unit word after spaces on the same line, unless it is a keyword.
        let mut after = end;
        while matches!(self.byte(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        if after > end
            && !self.reserved_at(after)
            && let Some(word_end) = self.word_end(after)
        {
            end = word_end;
        }
        self.token(start, end)
    }

    fn reserved_at(&self, at: usize) -> bool {
        self.statement_keyword_at(at)
            || self.word_at(at).is_some_and(|word| {
                RESERVED.contains(&word) || (word == "min" && self.number_follows(at + word.len()))
            })
    }

    /// Whether a number starts after `at` on the same line: `min` is the keyword in
    /// `default 0 min 0` but the unit in `max 5 min`.
    fn number_follows(&self, mut at: usize) -> bool {
        while matches!(self.byte(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if self.byte(at) == Some(b'-') {
            at += 1;
        }
        self.byte(at).is_some_and(|byte| byte.is_ascii_digit())
    }

    fn date(&mut self) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        let mut end = start;
        for part in 0..3 {
            if part > 0 {
                if self.byte(end) != Some(b'-') {
                    return None;
                }
                end += 1;
            }
            let digits = end;
            while self.byte(end).is_some_and(|byte| byte.is_ascii_digit()) {
                end += 1;
            }
            if end == digits {
                return None;
            }
        }
        self.token(start, end)
    }

    fn string(&mut self) -> Option<Token<'a>> {
        self.skip();
        let start = self.position;
        if self.byte(start)? != b'"' {
            return None;
        }
        let mut end = start + 1;
        loop {
            match self.byte(end)? {
                b'"' => return self.token(start, end + 1),
                b'\n' => return None,
                _ => end += 1,
            }
        }
    }

    /// `quantity | name` (`value`).
    fn value(&mut self) -> Option<Token<'a>> {
        self.optional(Self::quantity).or_else(|| self.name())
    }

    /// Runs a statement rule, giving its span from its first token to its last.
    fn spanned<T>(&mut self, rule: impl FnOnce(&mut Self) -> Option<T>) -> Option<(T, Span)> {
        self.skip();
        let start = self.position;
        let value = rule(self)?;
        Some((value, Span::new(start, self.last_end)))
    }

    // ---- File ---------------------------------------------------------------------------------

    fn top(&mut self) -> Option<Top<'a>> {
        self.skip();
        let start = self.position;
        let keyword = self.word_at(start)?;
        let keyword_span = Span::new(start, start + keyword.len());
        let kind = match keyword {
            "expect" => {
                self.keyword("expect")?;
                TopKind::Expect(self.expect()?)
            }
            "feature" => TopKind::Feature(self.block("feature")?),
            "plan" => TopKind::Plan(self.block("plan")?),
            "unit" => {
                self.keyword("unit")?;
                let name = self.name()?;
                let mut scales = Vec::new();
                let mut rounds = Vec::new();
                loop {
                    if let Some(scale) = self.optional(|p| {
                        p.keyword("scale")?;
                        p.number()
                    }) {
                        scales.push(scale);
                    } else if let Some(round) = self.optional(|p| {
                        p.keyword("round")?;
                        p.free_word()
                    }) {
                        rounds.push(round);
                    } else {
                        break;
                    }
                }
                TopKind::Unit(UnitDecl {
                    name,
                    scales,
                    rounds,
                })
            }
            "book" => {
                self.keyword("book")?;
                TopKind::Book(self.name()?)
            }
            "title" => {
                self.keyword("title")?;
                TopKind::Title(self.string()?)
            }
            "effective" => {
                self.keyword("effective")?;
                TopKind::Effective(self.date()?)
            }
            "time_zone" => {
                self.keyword("time_zone")?;
                TopKind::TimeZone(self.optional(Self::string).or_else(|| self.name())?)
            }
            "source" => {
                self.keyword("source")?;
                TopKind::Source(self.string()?)
            }
            "channels" => {
                self.keyword("channels")?;
                let mut names = vec![self.name()?];
                names.extend(self.repeat(|p| {
                    p.punctuation(b',')?;
                    p.name()
                }));
                let default = self.optional(|p| {
                    p.keyword("default")?;
                    p.name()
                });
                TopKind::Channels(ChannelsDecl { names, default })
            }
            _ => return None,
        };
        Some(Top {
            kind,
            span: Span::new(start, self.last_end),
            keyword: keyword_span,
        })
    }

    fn block(&mut self, keyword: &str) -> Option<Block<'a>> {
        self.keyword(keyword)?;
        let name = self.name()?;
        let title = self.optional(Self::string);
        let open = self.punctuation(b'{')?.span;
        let mut body = Vec::new();
        while let Some(statement) = self.optional(Self::statement) {
            body.push(statement);
            self.optional(|p| p.punctuation(b';'));
        }
        let close = self.punctuation(b'}')?.span;
        Some(Block {
            name,
            title,
            body,
            open,
            close,
        })
    }

    // ---- Block statements ---------------------------------------------------------------------

    fn statement(&mut self) -> Option<Statement<'a>> {
        self.skip();
        let start = self.position;
        let keyword = self.word_at(start)?;
        let keyword_span = Span::new(start, start + keyword.len());
        let kind = match keyword {
            "base" | "add" => StatementKind::Rule(self.rule()?),
            "input" => StatementKind::Input(self.input()?),
            "round" => {
                self.keyword("round")?;
                let target = self.name()?;
                let direction = self.optional(Self::direction);
                self.keyword("to")?;
                let to = self.quantity()?;
                let mode = self.optional(|p| {
                    let mode = p.name()?;
                    matches!(
                        mode.text,
                        "half-up" | "half-even" | "half-down" | "up" | "down"
                    )
                    .then_some(mode)
                });
                StatementKind::Round(RoundDecl {
                    target,
                    direction,
                    to,
                    mode,
                })
            }
            "minimum" => {
                self.keyword("minimum")?;
                let value = self.quantity()?;
                let of = self.optional(|p| {
                    p.keyword("of")?;
                    p.name()
                });
                let when = self.optional(Self::when);
                StatementKind::Minimum(MinimumDecl { value, of, when })
            }
            "limit" => {
                self.keyword("limit")?;
                let number = self.number()?;
                let words = self.repeat(Self::free_word);
                StatementKind::Limit { number, words }
            }
            "grant" => StatementKind::Grant(self.grant()?),
            "package" => {
                self.keyword("package")?;
                let name = self.name()?;
                let amount = self.amount()?;
                StatementKind::Package { name, amount }
            }
            "refund" => {
                self.keyword("refund")?;
                if self.is_keyword("within") {
                    self.keyword("within")?;
                    let days = self.number()?;
                    let unit = self.name()?;
                    let reasons = self
                        .optional(|p| {
                            p.keyword("for")?;
                            p.comma_names()
                        })
                        .unwrap_or_default();
                    StatementKind::RefundWindow {
                        days,
                        unit,
                        reasons,
                    }
                } else {
                    self.keyword("expired")?;
                    if self.optional(|p| p.keyword("forfeit")).is_some() {
                        StatementKind::RefundExpired(RefundExpired::Forfeit)
                    } else {
                        self.keyword("as")?;
                        let kind = self.name()?;
                        let expires = self.optional(|p| {
                            p.optional(|p| p.punctuation(b','));
                            p.expires()
                        });
                        StatementKind::RefundExpired(RefundExpired::Restore { kind, expires })
                    }
                }
            }
            "order" => {
                self.keyword("order")?;
                StatementKind::Order(self.comma_names()?)
            }
            "topup" => {
                self.keyword("topup")?;
                let kind = self.optional(|p| {
                    p.keyword("as")?;
                    p.name()
                });
                let mut expires = Vec::new();
                let mut requires_subscription = Vec::new();
                loop {
                    let clause = self.optional(|p| {
                        p.optional(|p| p.punctuation(b','));
                        if let Some(expiry) = p.optional(Self::expires) {
                            return Some(Ok(expiry));
                        }
                        let (_, span) = p.spanned(|p| {
                            p.keyword("requires")?;
                            p.keyword("subscription")
                        })?;
                        if p.is_keyword("for") {
                            return None;
                        }
                        Some(Err(span))
                    });
                    match clause {
                        Some(Ok(expiry)) => expires.push(expiry),
                        Some(Err(span)) => requires_subscription.push(span),
                        None => break,
                    }
                }
                StatementKind::Topup(TopupDecl {
                    kind,
                    expires,
                    requires_subscription,
                })
            }
            "alert" => {
                self.keyword("alert")?;
                self.keyword("below")?;
                let mut amounts = vec![self.amount()?];
                amounts.extend(self.repeat(|p| {
                    p.punctuation(b',')?;
                    p.amount()
                }));
                StatementKind::Alert(amounts)
            }
            "cycle" => {
                self.keyword("cycle")?;
                StatementKind::Cycle(self.repeat(Self::free_word))
            }
            "periods" => {
                self.keyword("periods")?;
                StatementKind::Periods(self.comma_names()?)
            }
            "multiply" => {
                self.keyword("multiply")?;
                self.keyword("by")?;
                StatementKind::Multiply(self.name()?)
            }
            "first" => {
                self.keyword("first")?;
                self.keyword("request")?;
                self.keyword("free")?;
                StatementKind::FirstRequestFree
            }
            "requires" => {
                let gate = self.optional(|p| {
                    p.keyword("requires")?;
                    p.keyword("subscription")?;
                    p.keyword("for")?;
                    let feature = p.name()?;
                    let when = p.optional(Self::when);
                    Some(StatementKind::Gate { feature, when })
                });
                match gate {
                    Some(gate) => gate,
                    None => {
                        self.keyword("requires")?;
                        let mut features = vec![self.name()?];
                        features.extend(self.repeat(|p| {
                            p.keyword("or")?;
                            p.name()
                        }));
                        self.keyword("on")?;
                        self.keyword("same")?;
                        self.keyword("content")?;
                        StatementKind::RequiresPrior(features)
                    }
                }
            }
            "credit" => {
                self.keyword("credit")?;
                self.keyword("line")?;
                StatementKind::CreditLine(self.amount()?)
            }
            "late" => {
                self.keyword("late")?;
                self.keyword("usage")?;
                self.keyword("within")?;
                let number = self.number()?;
                let unit = self.name()?;
                StatementKind::LateUsage { number, unit }
            }
            _ => return None,
        };
        Some(Statement {
            kind,
            span: Span::new(start, self.last_end),
            keyword: keyword_span,
        })
    }

    /// `name ~ (comma ~ name)*`.
    fn comma_names(&mut self) -> Option<Vec<Token<'a>>> {
        let mut names = vec![self.name()?];
        names.extend(self.repeat(|p| {
            p.punctuation(b',')?;
            p.name()
        }));
        Some(names)
    }

    fn direction(&mut self) -> Option<Token<'a>> {
        let word = self.name()?;
        matches!(word.text, "up" | "down" | "nearest").then_some(word)
    }

    fn amount(&mut self) -> Option<Amount<'a>> {
        let (amount, span) = self.spanned(|p| {
            let number = p.number()?;
            let unit = p.name()?;
            Some((number, unit))
        })?;
        Some(Amount {
            number: amount.0,
            unit: amount.1,
            span,
        })
    }

    fn input(&mut self) -> Option<InputDecl<'a>> {
        self.keyword("input")?;
        let name = self.name()?;
        self.optional(|p| p.punctuation(b':'));
        let kind = self.name()?;
        let choices = self.optional(|p| {
            p.punctuation(b'(')?;
            let names = p
                .optional(|p| {
                    let names = p.comma_names()?;
                    p.optional(|p| p.punctuation(b','));
                    Some(names)
                })
                .unwrap_or_default();
            p.punctuation(b')')?;
            Some(names)
        });
        let mut defaults = Vec::new();
        let mut mins = Vec::new();
        let mut maxes = Vec::new();
        loop {
            if let Some(default) = self.optional(|p| {
                p.keyword("default")?;
                p.value()
            }) {
                defaults.push(default);
            } else if let Some(min) = self.optional(|p| {
                p.keyword("min")?;
                p.quantity()
            }) {
                mins.push(min);
            } else if let Some(max) = self.optional(|p| {
                p.keyword("max")?;
                p.quantity()
            }) {
                maxes.push(max);
            } else {
                break;
            }
        }
        Some(InputDecl {
            name,
            kind,
            choices,
            defaults,
            mins,
            maxes,
        })
    }

    fn per(&mut self) -> Option<Per<'a>> {
        if let Some(each) = self.optional(|p| p.keyword("each")) {
            return Some(Per::Each(each.span));
        }
        self.keyword("per")?;
        Some(Per::Per(self.value()?))
    }

    fn rule(&mut self) -> Option<RuleDecl<'a>> {
        let role = match self.name()?.text {
            "base" => Role::Base,
            "add" => Role::Add,
            _ => return None,
        };
        let tiers_price = self.optional(|p| {
            let mode = p.optional(|p| {
                let mode = p.name()?;
                matches!(mode.text, "graduated" | "volume").then_some(mode)
            });
            let keyword = p.keyword("tiers")?.span;
            let of = p.optional(|p| {
                p.keyword("of")?;
                p.name()
            });
            Some(PriceDecl::Tiers { mode, keyword, of })
        });
        if let Some(price) = tiers_price {
            let when = self.optional(Self::when);
            let tiers = self.optional(Self::tiers_block);
            return Some(RuleDecl {
                role,
                price,
                when,
                tiers,
            });
        }
        let amount = self.amount()?;
        let per = self.optional(Self::per);
        let modifiers = self.repeat(|p| {
            let keyword = p.name()?;
            match keyword.text {
                "of" => p.name().map(Modifier::Of),
                "rounded" => p.direction().map(Modifier::Rounded),
                "times" => p.name().map(Modifier::Times),
                _ => None,
            }
        });
        let when = self.optional(Self::when);
        Some(RuleDecl {
            role,
            price: PriceDecl::Simple {
                amount,
                per,
                modifiers,
            },
            when,
            tiers: None,
        })
    }

    fn tiers_block(&mut self) -> Option<TiersBlock<'a>> {
        let open = self.punctuation(b'{')?.span;
        let mut tiers = Vec::new();
        loop {
            let tier = self.optional(|p| {
                let (tier, span) = p.spanned(|p| {
                    let up_to = if p.optional(|p| p.keyword("above")).is_some() {
                        None
                    } else {
                        p.keyword("up")?;
                        p.keyword("to")?;
                        Some(p.quantity()?)
                    };
                    p.punctuation(b':')?;
                    let amount = p.amount()?;
                    let per = p.optional(Self::per);
                    Some((up_to, amount, per))
                })?;
                Some(TierDecl {
                    up_to: tier.0,
                    amount: tier.1,
                    per: tier.2,
                    span,
                })
            });
            match tier {
                Some(tier) => {
                    tiers.push(tier);
                    self.optional(|p| p.punctuation(b';'));
                }
                None => break,
            }
        }
        let close = self.punctuation(b'}')?.span;
        Some(TiersBlock { tiers, open, close })
    }

    fn when(&mut self) -> Option<Condition<'a>> {
        self.keyword("when")?;
        let (tests, span) = self.spanned(|p| {
            let mut tests = vec![p.test()?];
            tests.extend(p.repeat(|p| {
                p.keyword("and")?;
                p.test()
            }));
            Some(tests)
        })?;
        Some(Condition { tests, span })
    }

    fn test(&mut self) -> Option<TestDecl<'a>> {
        let not = self.optional(|p| {
            p.spanned(|p| {
                p.keyword("not")?;
                p.name()
            })
        });
        if let Some((name, span)) = not {
            return Some(TestDecl {
                kind: TestKind::NotFlag(name),
                span,
            });
        }
        let is = self.optional(|p| {
            p.spanned(|p| {
                let input = p.name()?;
                p.keyword("is")?;
                let mut values = vec![p.name()?];
                values.extend(p.repeat(|p| {
                    p.keyword("or")?;
                    p.name()
                }));
                Some(TestKind::Is { input, values })
            })
        });
        if let Some((kind, span)) = is {
            return Some(TestDecl { kind, span });
        }
        let name = self.name()?;
        Some(TestDecl {
            kind: TestKind::Flag(name),
            span: name.span,
        })
    }

    fn expires(&mut self) -> Option<Expiry<'a>> {
        let (kind, span) = self.spanned(|p| {
            p.keyword("expires")?;
            if p.optional(|p| p.keyword("never")).is_some() {
                return Some(ExpiryKind::Never);
            }
            if let Some(end) = p.optional(|p| {
                p.keyword("end")?;
                p.keyword("of")?;
                p.name()
            }) {
                return Some(ExpiryKind::EndOf(end));
            }
            p.keyword("after")?;
            let number = p.number()?;
            let unit = p.name()?;
            Some(ExpiryKind::After { number, unit })
        })?;
        Some(Expiry { kind, span })
    }

    fn grant(&mut self) -> Option<GrantDecl<'a>> {
        self.keyword("grant")?;
        let amount = self.amount()?;
        let every = self.optional(|p| {
            p.skip();
            let start = p.position;
            let word = p.name()?;
            match word.text {
                "daily" => Some(Every::Daily(word.span)),
                "once" => Some(Every::Once(word.span)),
                "every" => {
                    let name = p.name()?;
                    Some(Every::Every {
                        word: name,
                        span: Span::new(start, name.span.end),
                    })
                }
                _ => None,
            }
        });
        let kind = self.optional(|p| {
            p.keyword("as")?;
            p.name()
        });
        let mut expires = Vec::new();
        let mut rollovers = Vec::new();
        loop {
            let clause = self.optional(|p| {
                p.optional(|p| p.punctuation(b','));
                if let Some(expiry) = p.optional(Self::expires) {
                    return Some(Ok(expiry));
                }
                p.rollover().map(Err)
            });
            match clause {
                Some(Ok(expiry)) => expires.push(expiry),
                Some(Err(rollover)) => rollovers.push(rollover),
                None => break,
            }
        }
        Some(GrantDecl {
            amount,
            every,
            kind,
            expires,
            rollovers,
        })
    }

    fn rollover(&mut self) -> Option<RolloverDecl<'a>> {
        let (kind, span) = self.spanned(|p| {
            p.keyword("rolls")?;
            p.keyword("over")?;
            if p.optional(|p| {
                p.keyword("while")?;
                p.keyword("subscribed")
            })
            .is_some()
            {
                return Some(RolloverKind::WhileSubscribed);
            }
            if let Some(amount) = p.optional(|p| {
                p.keyword("up")?;
                p.keyword("to")?;
                p.amount()
            }) {
                return Some(RolloverKind::UpTo(amount));
            }
            let number = p.number()?;
            let unit = p.name()?;
            Some(RolloverKind::Cycles { number, unit })
        })?;
        Some(RolloverDecl { kind, span })
    }

    fn expect(&mut self) -> Option<ExpectDecl<'a>> {
        let mut terms = vec![self.expect_term()?];
        terms.extend(self.repeat(|p| {
            p.punctuation(b'+')?;
            p.expect_term()
        }));
        self.punctuation(b'=')?;
        let mut amounts = vec![self.amount()?];
        amounts.extend(self.repeat(|p| {
            p.punctuation(b',')?;
            p.amount()
        }));
        Some(ExpectDecl { terms, amounts })
    }

    fn expect_term(&mut self) -> Option<ExpectTermDecl<'a>> {
        let (term, span) = self.spanned(|p| {
            let count = p.optional(|p| {
                let number = p.number()?;
                p.punctuation(b'*')?;
                Some(number)
            });
            let first = p.optional(|p| p.keyword("first")).map(|first| first.span);
            let feature = p.name()?;
            p.punctuation(b'(')?;
            let args = p
                .optional(|p| {
                    let mut args = vec![p.expect_arg()?];
                    args.extend(p.repeat(|p| {
                        p.punctuation(b',')?;
                        p.expect_arg()
                    }));
                    p.optional(|p| p.punctuation(b','));
                    Some(args)
                })
                .unwrap_or_default();
            p.punctuation(b')')?;
            Some((count, first, feature, args))
        })?;
        let (count, first, feature, args) = term;
        Some(ExpectTermDecl {
            count,
            first,
            feature,
            args,
            span,
        })
    }

    fn expect_arg(&mut self) -> Option<ExpectArg<'a>> {
        let ((name, value), span) = self.spanned(|p| {
            let name = p.name()?;
            p.punctuation(b':')?;
            let value = p.value()?;
            Some((name, value))
        })?;
        Some(ExpectArg { name, value, span })
    }
}
