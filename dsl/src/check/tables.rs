//! Price tables: `base table by CHOICE[, CHOICE]... [when COND] { columns: ...; rows }`.
//!
//! A table is lowered to ordinary rules, one per row and column, each with its row's
//! condition (`when model is pro`), so that the analyses of conflicting and missing prices,
//! the storage bound and rating see table rows as they see `base` lines. In a `base` table the
//! first column of each unit is the row's `base` line and the others stack on it as add-ons:
//! exactly one row matches a usage, and all its prices apply.

use super::*;

fn table_error(message: String, span: Span, label: &str, help: String) -> BookError {
    BookError::InvalidTable {
        message,
        span: span.into(),
        label: label.to_owned(),
        help,
    }
}

/// `1 price`, `2 prices`.
fn counted(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// What one column's prices are for, resolved once for every row.
struct Column {
    /// `None` for `each`; else the input, the quantity per price and the rounding.
    per: Option<(String, Decimal, Option<QuantityDirection>)>,
    times: Option<String>,
    /// The column as written canonically (`per 1000000 tokens of input_tokens`).
    text: String,
}

/// A key of the table: its dimension in the scope.
struct Key {
    dim: usize,
}

impl<'a> Checker<'a> {
    /// The rules a price table lowers to; `None` when the table is wrong (reported), so that
    /// a price it would have given is not also reported missing.
    pub(super) fn table_decl(
        &mut self,
        scope: &Scope<'_>,
        decl: &ast::RuleDecl<'_>,
        span: Span,
    ) -> Option<Vec<RuleInfo>> {
        let ast::PriceDecl::Table { by, .. } = &decl.price else {
            return None;
        };
        let resolved = self.condition(scope, decl.when.as_ref());
        let keys = self.table_keys(scope, by, decl.when.as_ref())?;
        let Some(block) = &decl.table else {
            self.push(table_error(
                "the table's rows are missing".to_owned(),
                span,
                "no `{ }`",
                "write them in `{ }`: a `columns: per minute of duration` line, then one row per value, such as `pro: 20 credit`".to_owned(),
            ));
            return None;
        };
        let columns = self.table_columns(scope, block)?;
        let rows = self.table_rows(scope, &keys, block, columns.len())?;
        let resolved = resolved?;
        let role = match decl.role {
            ast::Role::Base => RuleRole::Base,
            ast::Role::Add => RuleRole::Add,
        };
        let when_text = decl.when.as_ref().map(crate::fmt::condition_text);
        let mut lowered = Vec::new();
        let mut ok = true;
        for (row, values) in &rows {
            let mut masks = resolved.masks.clone();
            let mut tests = resolved.condition.all.clone();
            let mut key_text = Vec::new();
            for (key, value) in keys.iter().zip(values) {
                let Some(dim) = scope.dims.get(key.dim) else {
                    continue;
                };
                if let Some(mask) = masks.get_mut(key.dim) {
                    *mask &= 1u64 << value;
                }
                let name = dim.values.get(*value).cloned().unwrap_or_default();
                key_text.push(if dim.flag {
                    if name == "yes" {
                        dim.input.clone()
                    } else {
                        format!("not {}", dim.input)
                    }
                } else {
                    format!("{} is {name}", dim.input)
                });
                tests.push(if dim.flag {
                    Test::Flag {
                        input: dim.input.clone(),
                        expected: name == "yes",
                    }
                } else {
                    Test::OneOf {
                        input: dim.input.clone(),
                        values: vec![name],
                    }
                });
            }
            let mut units_priced: Vec<&str> = Vec::new();
            for (column, cell) in columns.iter().zip(&row.cells) {
                let unit = self.unit(cell.unit);
                let amount = self.amount(cell.number, false, "a price");
                let (Some(unit), Some(amount)) = (unit, amount) else {
                    ok = false;
                    continue;
                };
                // The first price of a unit in the row is its `base`; the next add to it.
                let role = if role == RuleRole::Base && !units_priced.contains(&unit.name) {
                    RuleRole::Base
                } else {
                    RuleRole::Add
                };
                units_priced.push(unit.name);
                let price = match &column.per {
                    None => Price::Each { amount },
                    Some((input, per, rounded)) => Price::Per {
                        amount,
                        input: input.clone(),
                        per: *per,
                        rounded: *rounded,
                    },
                };
                // The row's lines as they act: the first price of a unit is its `base`, the
                // next are add-ons.
                let role_word = match role {
                    RuleRole::Base => "base",
                    RuleRole::Add => "add",
                };
                let mut source = format!(
                    "{role_word} {} {} {}",
                    cell.number.text, cell.unit.text, column.text
                );
                source.push_str(" when ");
                source.push_str(&key_text.join(" and "));
                if let Some(when) = &when_text {
                    source.push_str(" and ");
                    source.push_str(when);
                }
                lowered.push(RuleInfo {
                    rule: Rule {
                        role,
                        unit: unit.name.to_owned(),
                        price,
                        when: Condition { all: tests.clone() },
                        times: column.times.clone(),
                        source,
                        line: u32::try_from(self.line(row.span.start)).unwrap_or(u32::MAX),
                    },
                    masks: masks.clone(),
                    reachable: resolved.reachable,
                    span: row.span,
                });
            }
        }
        ok.then_some(lowered)
    }

    /// The dimensions the rows are keyed by: choices, flags or the channel, each once and not
    /// tested by the table's own `when`.
    fn table_keys(
        &mut self,
        scope: &Scope<'_>,
        by: &[Token<'_>],
        when: Option<&ast::Condition<'_>>,
    ) -> Option<Vec<Key>> {
        let mut keys: Vec<Key> = Vec::new();
        let mut ok = true;
        for (index, name) in by.iter().enumerate() {
            if let Some(first) = by.iter().take(index).find(|first| first.text == name.text) {
                self.repeated(
                    format!("the table is keyed by `{}` twice", name.text),
                    first.span,
                    name.span,
                    "name each choice once after `table by`".to_owned(),
                );
                ok = false;
                continue;
            }
            let Some(dim) = self.dim(scope, *name) else {
                ok = false;
                continue;
            };
            let tested = when.into_iter().flat_map(|when| &when.tests).find(|test| {
                matches!(&test.kind, ast::TestKind::Is { input, .. } | ast::TestKind::Flag(input) | ast::TestKind::NotFlag(input) if input.text == name.text)
            });
            if let Some(test) = tested {
                self.push(table_error(
                    format!(
                        "the table's `when` tests `{}`, which its rows are keyed by",
                        name.text
                    ),
                    test.span,
                    "tested here",
                    format!(
                        "give each value of `{}` its row, and keep `when` for what the rows do not say (such as `when channel is api`)",
                        name.text
                    ),
                ));
                ok = false;
                continue;
            }
            keys.push(Key { dim });
        }
        ok.then_some(keys)
    }

    /// The `columns:` line, resolved.
    fn table_columns(
        &mut self,
        scope: &Scope<'_>,
        block: &ast::TableBlock<'_>,
    ) -> Option<Vec<Column>> {
        if block.columns.is_empty() {
            self.push(table_error(
                "the table does not say what its prices are for".to_owned(),
                block.open,
                "no `columns:` line",
                "start the table with its columns, such as `columns: per minute of duration` or, for an LLM, `columns: per 1000000 tokens of input_tokens, per 1000000 tokens of output_tokens`".to_owned(),
            ));
            return None;
        }
        if let Some(extra) = block.columns.get(MAX_TABLE_COLUMNS) {
            self.push(BookError::TooMany {
                what: "price table",
                items: "columns",
                limit: MAX_TABLE_COLUMNS,
                span: extra.span.into(),
            });
            return None;
        }
        let mut columns: Vec<Column> = Vec::new();
        let mut ok = true;
        for (index, column) in block.columns.iter().enumerate() {
            let Some(resolved) = self.table_column(scope, column) else {
                ok = false;
                continue;
            };
            // Two columns pricing the same thing would stack one price twice in every row.
            let twice = block
                .columns
                .iter()
                .take(index)
                .find(|earlier| crate::fmt::table_column_text(earlier) == resolved.text);
            if let Some(earlier) = twice {
                self.repeated(
                    format!("the table has the column `{}` twice", resolved.text),
                    earlier.span,
                    column.span,
                    "give each column its own quantity or input; a row's prices for one thing are one price".to_owned(),
                );
                ok = false;
                continue;
            }
            columns.push(resolved);
        }
        ok.then_some(columns)
    }

    fn table_column(&mut self, scope: &Scope<'_>, column: &ast::TableColumn<'_>) -> Option<Column> {
        let mut of = None;
        let mut rounded = None;
        let mut times = None;
        for modifier in &column.modifiers {
            let (slot, token, keyword) = match modifier {
                ast::Modifier::Of(token) => (&mut of, *token, "of"),
                ast::Modifier::Rounded(token) => (&mut rounded, *token, "rounded"),
                ast::Modifier::Times(token) => (&mut times, *token, "times"),
            };
            if let Some(first) = slot.replace(token) {
                self.push(BookError::DuplicateStatement {
                    keyword: keyword.to_owned(),
                    first: first.span.into(),
                    second: token.span.into(),
                });
                return None;
            }
        }
        let times = match times {
            Some(token) => {
                let input = self.input(scope, token)?;
                if input.input.kind != InputKind::Count {
                    self.not_a_count("times", token, &input.input.kind);
                    return None;
                }
                Some(token.text.to_owned())
            }
            None => None,
        };
        let per = match &column.per {
            ast::Per::Each(_) => {
                if let Some(token) = of.or(rounded) {
                    self.push(BookError::InvalidPrice {
                        message: "a column `each` is flat per job and measures no quantity"
                            .to_owned(),
                        span: token.span.into(),
                        label: "applies to `per` only".to_owned(),
                        help: "write `per QUANTITY of INPUT` to price a quantity, or remove this"
                            .to_owned(),
                    });
                    return None;
                }
                None
            }
            ast::Per::Per(quantity) => {
                let (input, per) = self.per(scope, *quantity, of, None)?;
                let direction = rounded.map(|direction| match direction.text {
                    "down" => QuantityDirection::Down,
                    "nearest" => QuantityDirection::Nearest,
                    _ => QuantityDirection::Up,
                });
                Some((input, per, direction))
            }
        };
        Some(Column {
            per,
            times,
            text: crate::fmt::table_column_text(column),
        })
    }

    /// The rows with the index of each key value, once every row is right: each names a
    /// value of every key, no combination twice, every combination once, and a price per
    /// column.
    fn table_rows<'r, 't>(
        &mut self,
        scope: &Scope<'_>,
        keys: &[Key],
        block: &'r ast::TableBlock<'t>,
        column_count: usize,
    ) -> Option<Vec<(&'r ast::TableRow<'t>, Vec<usize>)>> {
        let key_names: Vec<&str> = keys
            .iter()
            .filter_map(|key| scope.dims.get(key.dim))
            .map(|dim| dim.input.as_str())
            .collect();
        let mut rows: Vec<(&ast::TableRow<'_>, Vec<usize>)> = Vec::new();
        let mut ok = true;
        for (index, row) in block.rows.iter().enumerate() {
            if index == MAX_TABLE_ROWS {
                self.push(BookError::TooMany {
                    what: "price table",
                    items: "rows",
                    limit: MAX_TABLE_ROWS,
                    span: row.span.into(),
                });
                return None;
            }
            if row.key.len() != keys.len() {
                let example: Vec<String> = keys
                    .iter()
                    .filter_map(|key| scope.dims.get(key.dim))
                    .map(|dim| dim.values.first().cloned().unwrap_or_default())
                    .collect();
                self.push(table_error(
                    format!(
                        "this row names {}, but the table is by {}",
                        counted(row.key.len(), "value", "values"),
                        backticked_and(&key_names)
                    ),
                    row.key
                        .first()
                        .zip(row.key.last())
                        .map_or(row.span, |(first, last)| first.span.to(last.span)),
                    "the row's key",
                    format!(
                        "start each row with one value of each, in that order, such as `{}: ...`",
                        example.join(", ")
                    ),
                ));
                ok = false;
                continue;
            }
            let mut values = Vec::new();
            for (key, value) in keys.iter().zip(&row.key) {
                let Some(dim) = scope.dims.get(key.dim) else {
                    continue;
                };
                match dim.values.iter().position(|known| known == value.text) {
                    Some(position) => values.push(position),
                    None => {
                        let known: Vec<&str> = dim.values.iter().map(String::as_str).collect();
                        self.push(BookError::UnknownChoice {
                            value: value.text.to_owned(),
                            input: dim.input.clone(),
                            span: value.span.into(),
                            help: did_you_mean(value.text, known.iter().copied(), || {
                                format!(
                                    "`{}` is one of {}; a row is keyed by one of them",
                                    dim.input,
                                    backticked(&known)
                                )
                            }),
                        });
                        ok = false;
                    }
                }
            }
            if values.len() != keys.len() {
                continue;
            }
            if let Some((first, _)) = rows.iter().find(|(_, known)| *known == values) {
                self.repeated(
                    format!(
                        "the table has two rows for `{}`",
                        row.key
                            .iter()
                            .map(|token| token.text)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    first.span,
                    row.span,
                    "keep one row per value: delete one, or change its key".to_owned(),
                );
                ok = false;
                continue;
            }
            if row.cells.len() != column_count {
                let span = row
                    .cells
                    .first()
                    .zip(row.cells.last())
                    .map_or(row.span, |(first, last)| first.span.to(last.span));
                self.push(table_error(
                    format!(
                        "this row has {}, but the table has {}",
                        counted(row.cells.len(), "price", "prices"),
                        counted(column_count, "column", "columns")
                    ),
                    span,
                    "the row's prices",
                    "write one price per column, in the order of the `columns:` line; a column that costs nothing in this row is `0 credit`".to_owned(),
                ));
                ok = false;
                continue;
            }
            rows.push((row, values));
        }
        if !ok {
            return None;
        }
        self.table_rows_complete(scope, keys, block, &rows)?;
        Some(rows)
    }

    /// Every combination of the keys' values has a row; the first missing one is reported.
    fn table_rows_complete(
        &mut self,
        scope: &Scope<'_>,
        keys: &[Key],
        block: &ast::TableBlock<'_>,
        rows: &[(&ast::TableRow<'_>, Vec<usize>)],
    ) -> Option<()> {
        let sizes: Vec<usize> = keys
            .iter()
            .map(|key| scope.dims.get(key.dim).map_or(1, |dim| dim.values.len()))
            .collect();
        let combinations = sizes
            .iter()
            .try_fold(1usize, |product, size| product.checked_mul(*size))
            .unwrap_or(usize::MAX);
        if combinations > MAX_TABLE_ROWS {
            self.push(BookError::TooMany {
                what: "price table",
                items: "rows (combinations of its keys)",
                limit: MAX_TABLE_ROWS,
                span: block.open.into(),
            });
            return None;
        }
        let mut digits = vec![0usize; keys.len()];
        let mut missing: Vec<Vec<usize>> = Vec::new();
        for _ in 0..combinations {
            if !rows.iter().any(|(_, values)| *values == digits) {
                missing.push(digits.clone());
            }
            for (digit, size) in digits.iter_mut().zip(&sizes) {
                *digit += 1;
                if *digit < *size {
                    break;
                }
                *digit = 0;
            }
        }
        let Some(first) = missing.first() else {
            return Some(());
        };
        let names: Vec<String> = keys
            .iter()
            .zip(first)
            .filter_map(|(key, value)| scope.dims.get(key.dim)?.values.get(*value).cloned())
            .collect();
        let more = match missing.len() {
            1 => String::new(),
            2 => " (1 other row is missing too)".to_owned(),
            count => format!(" ({} other rows are missing too)", count - 1),
        };
        self.push(table_error(
            format!("the table has no row for `{}`{more}", names.join(", ")),
            block.close,
            "the rows end here",
            format!(
                "add a row `{}: ...` with its prices: a table prices every value of its keys, like `base` lines must",
                names.join(", ")
            ),
        ));
        None
    }
}
