//! The whole file: header, declarations in order, and what spans several statements.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn file(mut self, file_name: &str, file: &ast::File<'a>) -> Checked {
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        let mut book_name: Option<Token<'a>> = None;
        let mut title = None;
        let mut effective: Option<(NaiveDate, Span)> = None;
        let mut effective_seen = false;
        let mut time_zone = "UTC".to_owned();
        let mut channels_seen = false;
        let mut features = Vec::new();
        let mut plans = Vec::new();
        let mut expects = Vec::new();

        for top in &file.statements {
            let keyword = top.kind.keyword();
            if !matches!(
                top.kind,
                ast::TopKind::Unit(_)
                    | ast::TopKind::Feature(_)
                    | ast::TopKind::Plan(_)
                    | ast::TopKind::Expect(_)
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
                    continue;
                }
                seen.push((keyword, top.span));
            }
            match &top.kind {
                ast::TopKind::Book(name) => {
                    if is_book_name(name.text) {
                        if self.name_length("book", *name) {
                            book_name = Some(*name);
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
                ast::TopKind::Title(text) => title = Some(text.unquoted().to_owned()),
                ast::TopKind::Effective(date) => {
                    effective_seen = true;
                    match NaiveDate::parse_from_str(date.text, "%Y-%m-%d") {
                        Ok(parsed) => effective = Some((parsed, date.span)),
                        Err(_) => self.push(BookError::InvalidDate {
                            text: date.text.to_owned(),
                            span: date.span.into(),
                        }),
                    }
                }
                ast::TopKind::TimeZone(zone) => {
                    let name = zone.unquoted();
                    if chrono_tz::Tz::from_str(name).is_ok() {
                        name.clone_into(&mut time_zone);
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
                    channels_seen = true;
                    self.channels_decl(channels, top.span);
                }
                ast::TopKind::Feature(block) => features.push((block, top.span)),
                ast::TopKind::Plan(block) => plans.push((block, top.span)),
                ast::TopKind::Expect(expect) => expects.push((expect, top.span)),
            }
        }

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
        if !channels_seen {
            self.channels = None;
        }

        // Features: names first, so that `requires` may name a later feature.
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
            lowered_plans.push(self.plan(block, &scopes));
        }
        self.kinds_never_held();

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
            if let Some(lowered) = self.expect(expect, *span, &scopes) {
                lowered_expects.push(lowered);
                expect_spans.push(*span);
            }
        }

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
        };
        Checked {
            book,
            expect_spans,
            effective_span: effective.map_or(file_start, |(_, span)| span),
            errors: self.errors,
        }
    }
}
