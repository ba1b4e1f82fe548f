//! The whole file: header, declarations in order, and what spans several statements.

use super::*;

/// The file's top-level statements, gathered before the blocks are checked.
pub(super) struct Header<'a, 'f> {
    seen: Vec<(&'static str, Span)>,
    book_name: Option<Token<'a>>,
    title: Option<String>,
    effective: Option<(NaiveDate, Span)>,
    effective_seen: bool,
    time_zone: String,
    channels_seen: bool,
    features: Vec<(&'f ast::Block<'a>, Span)>,
    plans: Vec<(&'f ast::Block<'a>, Span)>,
    expects: Vec<(&'f ast::ExpectDecl<'a>, Span)>,
    scenarios: Vec<(&'f ast::ScenarioDecl<'a>, Span)>,
}

impl<'a> Checker<'a> {
    pub(super) fn file(mut self, file_name: &str, file: &ast::File<'a>) -> Checked {
        let mut header = Header {
            seen: Vec::new(),
            book_name: None,
            title: None,
            effective: None,
            effective_seen: false,
            time_zone: "UTC".to_owned(),
            channels_seen: false,
            features: Vec::new(),
            plans: Vec::new(),
            expects: Vec::new(),
            scenarios: Vec::new(),
        };
        for top in &file.statements {
            self.top_statement(top, &mut header);
        }
        let file_start = Span::new(0, 0);
        self.header_complete(file_name, file, &header);
        if !header.channels_seen {
            self.channels = None;
        }
        self.collect_plan_names(&header.plans);
        let (lowered_features, scopes) = self.features(&header.features);
        let lowered_plans = self.plans(&header.plans, &scopes);
        self.kinds_never_held();
        let (lowered_expects, expect_spans) = self.expects(&header.expects, &scopes);
        let (refusals, refusal_spans) = self.refusals(&header.expects, &scopes);
        let scenarios = self.scenarios(
            &header.scenarios,
            &scopes,
            &lowered_plans,
            header.effective.map(|(date, _)| date),
        );
        let Header {
            book_name,
            title,
            effective,
            time_zone,
            ..
        } = header;

        let units = self
            .units
            .iter()
            .map(|unit| UnitDef {
                name: unit.name.to_owned(),
                scale: unit.scale,
                rounding: unit.rounding,
            })
            .collect();
        let book = RateBook {
            name: book_name
                .map(|name| name.text.to_owned())
                .unwrap_or_default(),
            title,
            effective: effective.map(|(date, _)| date).unwrap_or_default(),
            time_zone,
            rates_version: String::new(),
            units,
            channels: self.channels.as_ref().map(|channels| Channels {
                names: channels.names.clone(),
                default: channels.default.clone(),
            }),
            features: lowered_features,
            plans: lowered_plans,
            expects: lowered_expects,
            refusals,
            scenarios,
        };
        Checked {
            book,
            expect_spans,
            refusal_spans,
            effective_span: effective.map_or(file_start, |(_, span)| span),
            errors: self.errors,
        }
    }

    /// One top-level statement: a header line is recorded (once), a block is kept for later.
    fn top_statement<'f>(&mut self, top: &'f ast::Top<'a>, header: &mut Header<'a, 'f>) {
        let Header {
            seen,
            book_name,
            title,
            effective,
            effective_seen,
            time_zone,
            channels_seen,
            features,
            plans,
            expects,
            scenarios,
        } = header;
        let keyword = top.kind.keyword();
        if !matches!(
            top.kind,
            ast::TopKind::Unit(_)
                | ast::TopKind::Feature(_)
                | ast::TopKind::Plan(_)
                | ast::TopKind::Expect(_)
                | ast::TopKind::Scenario(_)
        ) {
            if let Some((_, first)) = seen
                .iter()
                .find(|(seen_keyword, _)| *seen_keyword == keyword)
            {
                let first = *first;
                self.push(BookError::DuplicateStatement {
                    keyword: keyword.to_owned(),
                    first: first.into(),
                    second: top.span.into(),
                });
                return;
            }
            seen.push((keyword, top.span));
        }
        match &top.kind {
            ast::TopKind::Book(name) => {
                if is_book_name(name.text) {
                    if self.name_length("book", *name) {
                        *book_name = Some(*name);
                    }
                } else {
                    self.push(BookError::InvalidName {
                        what: "book",
                        name: name.text.to_owned(),
                        span: name.span.into(),
                        help: "a book's name uses lowercase letters, digits, `_` and `-`, starts with a letter, and is the file's name: `imentiv` for `imentiv.rates`".to_owned(),
                    });
                }
            }
            ast::TopKind::Title(text) => *title = Some(text.unquoted().to_owned()),
            ast::TopKind::Effective(date) => {
                *effective_seen = true;
                match NaiveDate::parse_from_str(date.text, "%Y-%m-%d") {
                    Ok(parsed) => *effective = Some((parsed, date.span)),
                    Err(_) => self.push(BookError::InvalidDate {
                        text: date.text.to_owned(),
                        span: date.span.into(),
                    }),
                }
            }
            ast::TopKind::TimeZone(zone) => {
                let name = zone.unquoted();
                if chrono_tz::Tz::from_str(name).is_ok() {
                    name.clone_into(time_zone);
                } else {
                    self.push(BookError::UnknownTimeZone {
                        name: name.to_owned(),
                        span: zone.span.into(),
                    });
                }
            }
            ast::TopKind::Source(_) => {}
            ast::TopKind::Unit(unit) => self.unit_decl(unit, top.span),
            ast::TopKind::Channels(channels) => {
                *channels_seen = true;
                self.channels_decl(channels, top.span);
            }
            ast::TopKind::Feature(block) => features.push((block, top.span)),
            ast::TopKind::Plan(block) => plans.push((block, top.span)),
            ast::TopKind::Expect(expect) => expects.push((expect, top.span)),
            ast::TopKind::Scenario(scenario) => scenarios.push((scenario, top.span)),
        }
    }

    /// The header's required statements, and the book's name and date against the file's.
    fn header_complete(&mut self, file_name: &str, file: &ast::File<'a>, header: &Header<'a, '_>) {
        let Header {
            seen,
            book_name,
            effective,
            effective_seen,
            ..
        } = header;
        let (book_name, effective, effective_seen) = (*book_name, *effective, *effective_seen);
        let file_start = Span::new(0, 0);
        for (keyword, present, help) in [
            (
                "book",
                seen.iter().any(|(keyword, _)| *keyword == "book"),
                format!("start the file with `book {}`", file_stem(file_name).0),
            ),
            (
                "effective",
                effective_seen,
                "add the first day this version applies, such as `effective 2025-01-01`".to_owned(),
            ),
            (
                "unit",
                !self.units.is_empty() || file.statements.iter().any(|top| matches!(top.kind, ast::TopKind::Unit(_))),
                "declare the units amounts are kept in, such as `unit credit scale 2 round half-up`".to_owned(),
            ),
        ] {
            if !present {
                self.push(BookError::MissingStatement {
                    keyword,
                    span: file_start.into(),
                    help,
                });
            }
        }

        let (stem, file_date) = file_stem(file_name);
        if let Some(name) = book_name
            && name.text != stem
            && !stem.is_empty()
        {
            self.push(BookError::BookName {
                name: name.text.to_owned(),
                file: file_name.rsplit(['/', '\\']).next().unwrap_or(file_name).to_owned(),
                span: name.span.into(),
                help: format!(
                    "a book's name is its file's name before any `@`: write `book {stem}`, or rename the file to `{}.rates`",
                    name.text
                ),
            });
        }
        if let (Some(file_date), Some((date, span))) = (file_date, effective)
            && let Ok(parsed) = NaiveDate::parse_from_str(file_date, "%Y-%m-%d")
            && parsed != date
        {
            self.push(BookError::FileDate {
                book: stem.to_owned(),
                file_date: file_date.to_owned(),
                effective: date.to_string(),
                span: span.into(),
            });
        }
    }

    /// The features: names first, so that `requires` may name a later feature.
    fn features(&mut self, features: &[(&ast::Block<'a>, Span)]) -> (Vec<Feature>, Vec<Scope<'a>>) {
        let mut feature_names: Vec<Token<'a>> = Vec::new();
        for (index, (block, _)) in features.iter().enumerate() {
            if index == MAX_FEATURES {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "features",
                    limit: MAX_FEATURES,
                    span: block.name.span.into(),
                });
            }
            self.name("feature", block.name);
            if let Some(first) = feature_names
                .iter()
                .find(|name| name.text == block.name.text)
            {
                let first = first.span;
                self.duplicate("feature", block.name.text, first, block.name.span);
            } else {
                feature_names.push(block.name);
            }
        }
        let mut lowered_features = Vec::new();
        let mut scopes: Vec<Scope<'a>> = Vec::new();
        for (block, _) in features.iter().take(MAX_FEATURES) {
            let (feature, scope) = self.feature(block, &feature_names);
            lowered_features.push(feature);
            scopes.push(scope);
        }

        (lowered_features, scopes)
    }

    fn plans(&mut self, plans: &[(&ast::Block<'a>, Span)], scopes: &[Scope<'a>]) -> Vec<Plan> {
        let mut plan_names: Vec<Token<'a>> = Vec::new();
        let mut lowered_plans = Vec::new();
        for (index, (block, _)) in plans.iter().enumerate() {
            if index == MAX_PLANS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "plans",
                    limit: MAX_PLANS,
                    span: block.name.span.into(),
                });
                break;
            }
            self.name("plan", block.name);
            if let Some(first) = plan_names.iter().find(|name| name.text == block.name.text) {
                let first = first.span;
                self.duplicate("plan", block.name.text, first, block.name.span);
            } else {
                plan_names.push(block.name);
            }
            lowered_plans.push(self.plan(block, scopes));
        }
        self.currencies_fit(plans.iter().map(|(block, _)| *block));
        lowered_plans
    }

    fn expects(
        &mut self,
        expects: &[(&ast::ExpectDecl<'a>, Span)],
        scopes: &[Scope<'a>],
    ) -> (Vec<Expect>, Vec<Span>) {
        let mut lowered_expects = Vec::new();
        let mut expect_spans = Vec::new();
        for (index, (expect, span)) in expects.iter().enumerate() {
            if index == MAX_EXPECTS {
                self.push(BookError::TooMany {
                    what: "book",
                    items: "examples",
                    limit: MAX_EXPECTS,
                    span: (*span).into(),
                });
                break;
            }
            if expect.refused.is_some() {
                // Lowered by `refusals`.
                continue;
            }
            if let Some(lowered) = self.expect(expect, *span, scopes) {
                lowered_expects.push(lowered);
                expect_spans.push(*span);
            }
        }

        (lowered_expects, expect_spans)
    }
}
