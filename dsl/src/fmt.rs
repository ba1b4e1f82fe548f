//! The canonical layout of a rate file (`credits rates fmt`).
//!
//! One statement per line, two spaces of indent per block, single spaces between words,
//! clauses in the order LANGUAGE.md writes them, no `;`. Comments stay where they were: a
//! comment after a statement stays on its line (trailing comments of consecutive lines are
//! aligned), other comments stay above the statement they precede. Runs of blank lines become
//! one; blank lines right inside `{` and `}` go. A price table's rows are aligned: keys padded
//! to the longest, each price column to its widest. Formatting is idempotent, and formatting a
//! file never changes the book it compiles to (only its `rates_version`).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::ast::*;
use crate::diagnostics::Diagnostics;

/// Formats a rate file.
///
/// # Errors
/// The file does not parse (a syntax error, or too large, or nested too deeply); semantic
/// errors do not stop formatting.
pub fn format_source(file_name: &str, source: &str) -> Result<String, Diagnostics> {
    let file = crate::parse::parse(source)
        .map_err(|error| Diagnostics::new(file_name, source, vec![error]))?;
    Ok(format_file(source, &file))
}

/// One output line before comments are placed, anchored to its source range.
struct Line {
    depth: usize,
    text: String,
    start: usize,
    end: usize,
    /// Ends with `{`: no blank line after it.
    opens: bool,
    /// Is a `}`: no blank line before it; comments above it are indented one level deeper.
    closes: bool,
}

/// One row of output.
struct Row<'a> {
    depth: usize,
    text: Cow<'a, str>,
    trailing: Option<&'a str>,
    blank: bool,
}

fn format_file(source: &str, file: &File<'_>) -> String {
    let mut lines = Vec::new();
    for statement in &file.statements {
        push_top(&mut lines, statement);
    }
    let line_starts = line_starts(source);
    let line_of = |offset: usize| line_starts.partition_point(|start| *start <= offset);

    // Place each comment: trailing when it sits on the line a statement ends on (or inside
    // a statement), else leading, above the next line.
    let mut leading: Vec<Vec<&Comment<'_>>> = (0..=lines.len()).map(|_| Vec::new()).collect();
    let mut trailing: Vec<Option<&Comment<'_>>> = (0..lines.len()).map(|_| None).collect();
    for comment in &file.comments {
        let next = lines.partition_point(|line| line.start < comment.span.start);
        let previous = next.checked_sub(1);
        let placed_trailing = previous.is_some_and(|index| {
            let Some(line) = lines.get(index) else {
                return false;
            };
            let inside = comment.span.start < line.end;
            let same_line = line_of(line.end.saturating_sub(1)) == line_of(comment.span.start);
            if (inside || same_line) && trailing.get(index).is_some_and(Option::is_none) {
                if let Some(slot) = trailing.get_mut(index) {
                    *slot = Some(comment);
                }
                return true;
            }
            false
        });
        if !placed_trailing && let Some(slot) = leading.get_mut(next) {
            slot.push(comment);
        }
    }

    let mut rows: Vec<Row<'_>> = Vec::new();
    // Source line of the end of the last thing written, and whether it opened a block.
    let mut previous_end: Option<usize> = None;
    let mut previous_opens = false;
    let blank_before = |rows: &mut Vec<Row<'_>>,
                        start_line: usize,
                        closes: bool,
                        previous_end: Option<usize>,
                        previous_opens: bool| {
        if let Some(end) = previous_end
            && start_line > end + 1
            && !previous_opens
            && !closes
        {
            rows.push(Row {
                depth: 0,
                text: Cow::Borrowed(""),
                trailing: None,
                blank: true,
            });
        }
    };
    for (index, line) in lines.iter().enumerate() {
        for comment in leading.get(index).into_iter().flatten() {
            let start_line = line_of(comment.span.start);
            blank_before(&mut rows, start_line, false, previous_end, previous_opens);
            rows.push(Row {
                depth: if line.closes {
                    line.depth + 1
                } else {
                    line.depth
                },
                text: Cow::Borrowed(comment.text),
                trailing: None,
                blank: false,
            });
            previous_end = Some(start_line);
            previous_opens = false;
        }
        blank_before(
            &mut rows,
            line_of(line.start),
            line.closes,
            previous_end,
            previous_opens,
        );
        rows.push(Row {
            depth: line.depth,
            text: Cow::Borrowed(line.text.as_str()),
            trailing: trailing
                .get(index)
                .copied()
                .flatten()
                .map(|comment| comment.text),
            blank: false,
        });
        previous_end = Some(line_of(line.end.saturating_sub(1).max(line.start)));
        previous_opens = line.opens;
    }
    for comment in leading.get(lines.len()).into_iter().flatten() {
        let start_line = line_of(comment.span.start);
        blank_before(&mut rows, start_line, false, previous_end, previous_opens);
        rows.push(Row {
            depth: 0,
            text: Cow::Borrowed(comment.text),
            trailing: None,
            blank: false,
        });
        previous_end = Some(start_line);
        previous_opens = false;
    }
    render_rows(&rows)
}

/// Writes rows, aligning the trailing comments of consecutive rows at the same depth.
fn render_rows(rows: &[Row<'_>]) -> String {
    let width = |row: &Row<'_>| row.depth * 2 + row.text.chars().count();
    let mut columns = vec![0usize; rows.len()];
    let mut start = 0usize;
    while start < rows.len() {
        let Some(first) = rows.get(start) else { break };
        if first.trailing.is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        let mut column = 0usize;
        while let Some(row) = rows.get(end) {
            if row.trailing.is_none() || row.blank || row.depth != first.depth {
                break;
            }
            column = column.max(width(row) + 2);
            end += 1;
        }
        for slot in columns.iter_mut().take(end).skip(start) {
            *slot = column;
        }
        start = end.max(start + 1);
    }

    let mut out = String::new();
    for (row, column) in rows.iter().zip(columns) {
        if row.blank {
            out.push('\n');
            continue;
        }
        for _ in 0..row.depth {
            out.push_str("  ");
        }
        out.push_str(&row.text);
        if let Some(comment) = row.trailing {
            let padding = column.saturating_sub(width(row)).max(1);
            for _ in 0..padding {
                out.push(' ');
            }
            out.push_str(comment);
        }
        out.push('\n');
    }
    out
}

fn line_starts(source: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(source.match_indices('\n').map(|(offset, _)| offset + 1))
        .collect()
}

fn push_top(lines: &mut Vec<Line>, statement: &Top<'_>) {
    let plain = |text: String| Line {
        depth: 0,
        text,
        start: statement.span.start,
        end: statement.span.end,
        opens: false,
        closes: false,
    };
    match &statement.kind {
        TopKind::Book(name) => lines.push(plain(format!("book {}", name.text))),
        TopKind::Title(text) => lines.push(plain(format!("title {}", text.text))),
        TopKind::Effective(date) => lines.push(plain(format!("effective {}", date.text))),
        TopKind::TimeZone(zone) => lines.push(plain(format!("time_zone \"{}\"", zone.unquoted()))),
        TopKind::Source(text) => lines.push(plain(format!("source {}", text.text))),
        TopKind::Unit(unit) => {
            let mut text = format!("unit {}", unit.name.text);
            for scale in &unit.scales {
                let _ = write!(text, " scale {}", scale.text);
            }
            for mode in &unit.rounds {
                let _ = write!(text, " round {}", mode.text);
            }
            lines.push(plain(text));
        }
        TopKind::Channels(channels) => {
            let mut text = format!("channels {}", join_tokens(&channels.names, ", "));
            if let Some(default) = &channels.default {
                let _ = write!(text, " default {}", default.text);
            }
            lines.push(plain(text));
        }
        TopKind::Feature(block) => push_block(lines, "feature", block, statement.span),
        TopKind::Plan(block) => push_block(lines, "plan", block, statement.span),
        TopKind::Expect(expect) => lines.push(plain(expect_text(expect))),
        TopKind::Scenario(scenario) => push_scenario(lines, scenario, statement.span),
    }
}

fn push_scenario(lines: &mut Vec<Line>, scenario: &ScenarioDecl<'_>, span: Span) {
    let mut header = format!(
        "scenario \"{}\" on {}",
        scenario.name.text, scenario.plan.text
    );
    if let Some(start) = &scenario.start {
        let _ = write!(header, " starting {}", start.text);
    }
    header.push_str(" {");
    lines.push(Line {
        depth: 0,
        text: header,
        start: span.start,
        end: scenario.open.end,
        opens: true,
        closes: false,
    });
    for step in &scenario.steps {
        lines.push(Line {
            depth: 1,
            text: step_text(step),
            start: step.span.start,
            end: step.span.end,
            opens: false,
            closes: false,
        });
    }
    lines.push(Line {
        depth: 0,
        text: "}".to_owned(),
        start: scenario.close.start,
        end: scenario.close.end,
        opens: false,
        closes: true,
    });
}

/// A scenario step as its canonical one-line text. Used for `Step::source`.
pub(crate) fn step_text(step: &StepDecl<'_>) -> String {
    let mut text = match &step.kind {
        StepKind::Subscribe(period) => format!("subscribe {}", period.text),
        StepKind::TopUp { amount, kind } => {
            let mut text = format!("top up {}", amount_text(amount));
            if let Some(kind) = kind {
                let _ = write!(text, " as {}", kind.text);
            }
            text
        }
        StepKind::TopUpPackage(package) => format!("top up package {}", package.text),
        StepKind::Charge {
            term,
            label,
            amounts,
        } => {
            let mut text = format!("charge {}", term_text(term));
            if let Some(label) = label {
                let _ = write!(text, " as {}", label.text);
            }
            if !amounts.is_empty() {
                let amounts: Vec<String> = amounts.iter().map(amount_text).collect();
                let _ = write!(text, " = {}", amounts.join(", "));
            }
            text
        }
        StepKind::Hold { term, label } => {
            let mut text = format!("hold {}", term_text(term));
            if let Some(label) = label {
                let _ = write!(text, " as {}", label.text);
            }
            text
        }
        StepKind::Capture(label) => format!("capture {}", label.text),
        StepKind::Release(label) => format!("release {}", label.text),
        StepKind::Refund { charge, reason } => {
            format!("refund {} for {}", charge.text, reason.text)
        }
        StepKind::Cancel => "cancel".to_owned(),
        StepKind::At(date) => format!("at {}", date.text),
        StepKind::Balance(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match &item.kind {
                    Some(kind) => format!("{} {}", kind.text, amount_text(&item.amount)),
                    None => amount_text(&item.amount),
                })
                .collect();
            format!("expect balance {}", items.join(", "))
        }
    };
    if let Some(code) = &step.refused {
        let _ = write!(text, " refused {}", code.text);
    }
    text
}

fn push_block(lines: &mut Vec<Line>, keyword: &str, block: &Block<'_>, span: Span) {
    let mut header = format!("{keyword} {}", block.name.text);
    if let Some(title) = &block.title {
        let _ = write!(header, " {}", title.text);
    }
    header.push_str(" {");
    lines.push(Line {
        depth: 0,
        text: header,
        start: span.start,
        end: block.open.end,
        opens: true,
        closes: false,
    });
    for statement in &block.body {
        match &statement.kind {
            StatementKind::Rule(rule) if rule.tiers.is_some() => {
                let tiers = rule.tiers.as_ref();
                lines.push(Line {
                    depth: 1,
                    text: format!("{} {{", rule_text(rule)),
                    start: statement.span.start,
                    end: tiers.map_or(statement.span.end, |tiers| tiers.open.end),
                    opens: true,
                    closes: false,
                });
                for tier in tiers
                    .map(|tiers| tiers.tiers.as_slice())
                    .unwrap_or_default()
                {
                    lines.push(Line {
                        depth: 2,
                        text: tier_text(tier),
                        start: tier.span.start,
                        end: tier.span.end,
                        opens: false,
                        closes: false,
                    });
                }
                let close = tiers.map_or(statement.span, |tiers| tiers.close);
                lines.push(Line {
                    depth: 1,
                    text: "}".to_owned(),
                    start: close.start,
                    end: close.end,
                    opens: false,
                    closes: true,
                });
            }
            StatementKind::Rule(rule) if rule.table.is_some() => {
                let table = rule.table.as_ref();
                lines.push(Line {
                    depth: 1,
                    text: format!("{} {{", rule_text(rule)),
                    start: statement.span.start,
                    end: table.map_or(statement.span.end, |table| table.open.end),
                    opens: true,
                    closes: false,
                });
                if let Some(table) = table {
                    if let (Some(keyword), Some(last)) =
                        (table.columns_keyword, table.columns.last())
                    {
                        let columns: Vec<String> =
                            table.columns.iter().map(table_column_text).collect();
                        lines.push(Line {
                            depth: 2,
                            text: format!("columns: {}", columns.join(", ")),
                            start: keyword.start,
                            end: last.span.end,
                            opens: false,
                            closes: false,
                        });
                    }
                    for (row, text) in table.rows.iter().zip(table_rows_text(table)) {
                        lines.push(Line {
                            depth: 2,
                            text,
                            start: row.span.start,
                            end: row.span.end,
                            opens: false,
                            closes: false,
                        });
                    }
                }
                let close = table.map_or(statement.span, |table| table.close);
                lines.push(Line {
                    depth: 1,
                    text: "}".to_owned(),
                    start: close.start,
                    end: close.end,
                    opens: false,
                    closes: true,
                });
            }
            kind => lines.push(Line {
                depth: 1,
                text: statement_text(kind),
                start: statement.span.start,
                end: statement.span.end,
                opens: false,
                closes: false,
            }),
        }
    }
    lines.push(Line {
        depth: 0,
        text: "}".to_owned(),
        start: block.close.start,
        end: block.close.end,
        opens: false,
        closes: true,
    });
}

fn join_tokens(tokens: &[Token<'_>], separator: &str) -> String {
    let mut text = String::new();
    for (index, token) in tokens.iter().enumerate() {
        if index > 0 {
            text.push_str(separator);
        }
        text.push_str(token.text);
    }
    text
}

/// A quantity with single spaces (`10  TB` → `10 TB`).
fn quantity<'a>(token: &Token<'a>) -> Cow<'a, str> {
    if !token.text.contains(['\t', ' ']) {
        return Cow::Borrowed(token.text);
    }
    Cow::Owned(token.text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn amount_text(amount: &Amount<'_>) -> String {
    format!("{} {}", amount.number.text, amount.unit.text)
}

pub(crate) fn condition_text(condition: &Condition<'_>) -> String {
    let mut text = String::new();
    for (index, test) in condition.tests.iter().enumerate() {
        if index > 0 {
            text.push_str(" and ");
        }
        match &test.kind {
            TestKind::Is { input, values } => {
                let _ = write!(text, "{} is {}", input.text, join_tokens(values, " or "));
            }
            TestKind::Flag(flag) => text.push_str(flag.text),
            TestKind::NotFlag(flag) => {
                let _ = write!(text, "not {}", flag.text);
            }
            TestKind::Compare {
                input, op, value, ..
            } => {
                let _ = write!(text, "{} {} {}", input.text, op.words(), quantity(value));
            }
        }
    }
    text
}

fn push_when(text: &mut String, when: Option<&Condition<'_>>) {
    if let Some(when) = when {
        let _ = write!(text, " when {}", condition_text(when));
    }
}

fn per_text(per: &Per<'_>) -> String {
    match per {
        Per::Each(_) => "each".to_owned(),
        Per::Per(quantity_token) => format!("per {}", quantity(quantity_token)),
    }
}

fn expiry_text(expiry: &Expiry<'_>) -> String {
    match &expiry.kind {
        ExpiryKind::Never => "expires never".to_owned(),
        ExpiryKind::EndOf(word) => format!("expires end of {}", word.text),
        ExpiryKind::After { number, unit } => {
            format!("expires after {} {}", number.text, unit.text)
        }
    }
}

/// A rule as its canonical one-line text, without a tiers block (`base 20 credit per minute
/// when model is pro`). Used for `Rule::source`.
pub(crate) fn rule_text(rule: &RuleDecl<'_>) -> String {
    let mut text = String::from(match rule.role {
        Role::Base => "base",
        Role::Add => "add",
    });
    match &rule.price {
        PriceDecl::Simple {
            amount,
            per,
            modifiers,
        } => {
            let _ = write!(text, " {}", amount_text(amount));
            if let Some(per) = per {
                let _ = write!(text, " {}", per_text(per));
            }
            push_modifiers(&mut text, modifiers);
        }
        PriceDecl::Table { by, .. } => {
            let _ = write!(text, " table by {}", join_tokens(by, ", "));
        }
        PriceDecl::Tiers { mode, of, .. } => {
            if let Some(mode) = mode {
                let _ = write!(text, " {}", mode.text);
            }
            text.push_str(" tiers");
            if let Some(of) = of {
                let _ = write!(text, " of {}", of.text);
            }
        }
    }
    push_when(&mut text, rule.when.as_ref());
    text
}

/// The clauses after a `per`, in the canonical order: of, rounded, times.
fn push_modifiers(text: &mut String, modifiers: &[Modifier<'_>]) {
    for modifier in modifiers {
        if let Modifier::Of(input) = modifier {
            let _ = write!(text, " of {}", input.text);
        }
    }
    for modifier in modifiers {
        if let Modifier::Rounded(direction) = modifier {
            let _ = write!(text, " rounded {}", direction.text);
        }
    }
    for modifier in modifiers {
        if let Modifier::Times(input) = modifier {
            let _ = write!(text, " times {}", input.text);
        }
    }
}

/// A table column as its canonical text (`per 1000000 tokens of input_tokens`).
pub(crate) fn table_column_text(column: &TableColumn<'_>) -> String {
    let mut text = per_text(&column.per);
    push_modifiers(&mut text, &column.modifiers);
    text
}

/// A modifier on the feature's amount as its canonical text (`add 30% when hd`). Used for
/// `Factor::source`.
pub(crate) fn factor_text(factor: &FactorDecl<'_>) -> String {
    let mut text = match factor.value {
        FactorValue::Times(number) => format!("multiply by {}", number.text),
        FactorValue::Percent(number) => format!("add {}%", number.text),
    };
    push_when(&mut text, factor.when.as_ref());
    text
}

/// The rows of a price table, their keys and each column's prices aligned.
fn table_rows_text(table: &TableBlock<'_>) -> Vec<String> {
    let keys: Vec<String> = table
        .rows
        .iter()
        .map(|row| format!("{}:", join_tokens(&row.key, ", ")))
        .collect();
    let key_width = keys.iter().map(String::len).max().unwrap_or(0);
    let columns = table
        .rows
        .iter()
        .map(|row| row.cells.len())
        .max()
        .unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &table.rows {
        for (width, cell) in widths.iter_mut().zip(&row.cells) {
            *width = (*width).max(amount_text(cell).len() + 1);
        }
    }
    table
        .rows
        .iter()
        .zip(&keys)
        .map(|(row, key)| {
            let mut text = format!("{key:key_width$}");
            let count = row.cells.len();
            for (index, (cell, width)) in row.cells.iter().zip(&widths).enumerate() {
                let mut cell = amount_text(cell);
                if index + 1 < count {
                    cell.push(',');
                    let _ = write!(text, " {cell:width$}");
                } else {
                    let _ = write!(text, " {cell}");
                }
            }
            text
        })
        .collect()
}

/// `rolls over while subscribed`, `rolls over 3 cycles`, `rolls over up to 500 credit`.
pub(crate) fn rollover_text(rollover: &RolloverDecl<'_>) -> String {
    match &rollover.kind {
        RolloverKind::WhileSubscribed => "rolls over while subscribed".to_owned(),
        RolloverKind::UpTo(amount) => format!("rolls over up to {}", amount_text(amount)),
        RolloverKind::UpToWhileSubscribed(amount) => {
            format!("rolls over up to {} while subscribed", amount_text(amount))
        }
        RolloverKind::Cycles { number, unit } => {
            format!("rolls over {} {}", number.text, unit.text)
        }
    }
}

fn tier_text(tier: &TierDecl<'_>) -> String {
    let mut text = match &tier.up_to {
        Some(bound) => format!("up to {}: ", quantity(bound)),
        None => "above: ".to_owned(),
    };
    text.push_str(&amount_text(&tier.amount));
    if let Some(per) = &tier.per {
        let _ = write!(text, " {}", per_text(per));
    }
    text
}

/// An example as its canonical one-line text. Used for `Expect::source`.
pub(crate) fn expect_text(expect: &ExpectDecl<'_>) -> String {
    let mut text = String::from("expect ");
    for (index, term) in expect.terms.iter().enumerate() {
        if index > 0 {
            text.push_str(" + ");
        }
        text.push_str(&term_text(term));
    }
    if let Some(code) = &expect.refused {
        let _ = write!(text, " refused {}", code.text);
        return text;
    }
    text.push_str(" = ");
    for (index, amount) in expect.amounts.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push_str(&amount_text(amount));
    }
    text
}

/// `[N * ][first ]feature(name: value, ...)`.
fn term_text(term: &ExpectTermDecl<'_>) -> String {
    let mut text = String::new();
    if let Some(count) = &term.count {
        let _ = write!(text, "{} * ", count.text);
    }
    if term.first.is_some() {
        text.push_str("first ");
    }
    let _ = write!(text, "{}(", term.feature.text);
    for (arg_index, arg) in term.args.iter().enumerate() {
        if arg_index > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{}: {}", arg.name.text, quantity(&arg.value));
    }
    text.push(')');
    text
}

fn statement_text(kind: &StatementKind<'_>) -> String {
    match kind {
        StatementKind::Input(input) => {
            let mut text = format!("input {}: {}", input.name.text, input.kind.text);
            if let Some(choices) = &input.choices {
                let _ = write!(text, "({})", join_tokens(choices, ", "));
            }
            for default in &input.defaults {
                let _ = write!(text, " default {}", quantity(default));
            }
            for min in &input.mins {
                let _ = write!(text, " min {}", quantity(min));
            }
            for max in &input.maxes {
                let _ = write!(text, " max {}", quantity(max));
            }
            for (values, _) in &input.allowed {
                let values: Vec<Cow<'_, str>> = values.iter().map(quantity).collect();
                let _ = write!(text, " one of {}", values.join(", "));
            }
            text
        }
        StatementKind::Refuse { message, when } => {
            let mut text = format!("refuse {}", message.text);
            push_when(&mut text, when.as_ref());
            text
        }
        StatementKind::Maximum(maximum) => {
            let mut text = format!("maximum {}", quantity(&maximum.value));
            if let Some(of) = &maximum.of {
                let _ = write!(text, " of {}", of.text);
            }
            push_when(&mut text, maximum.when.as_ref());
            text
        }
        StatementKind::Derived(derived) => {
            let mut text = format!(
                "quantity {} = {}",
                derived.name.text,
                quantity(&derived.first)
            );
            for (op, term) in &derived.rest {
                let op = match op {
                    DerivedOp::Plus => '+',
                    DerivedOp::Times => '*',
                };
                let _ = write!(text, " {op} {}", quantity(term));
            }
            text
        }
        StatementKind::Round(round) => {
            let mut text = format!("round {}", round.target.text);
            if let Some(direction) = &round.direction {
                let _ = write!(text, " {}", direction.text);
            }
            let _ = write!(text, " to {}", quantity(&round.to));
            if let Some(mode) = &round.mode {
                let _ = write!(text, " {}", mode.text);
            }
            text
        }
        StatementKind::Minimum(minimum) => {
            let mut text = format!("minimum {}", quantity(&minimum.value));
            if let Some(of) = &minimum.of {
                let _ = write!(text, " of {}", of.text);
            }
            push_when(&mut text, minimum.when.as_ref());
            text
        }
        StatementKind::Rule(rule) => rule_text(rule),
        StatementKind::Multiply(input) => format!("multiply by {}", input.text),
        StatementKind::Factor(factor) => factor_text(factor),
        StatementKind::FirstRequestFree => "first request free".to_owned(),
        StatementKind::RequiresPrior(features) => {
            format!("requires {} on same content", join_tokens(features, " or "))
        }
        StatementKind::Gate { feature, when } => {
            let mut text = format!("requires subscription for {}", feature.text);
            push_when(&mut text, when.as_ref());
            text
        }
        StatementKind::Cycle(words) => {
            let mut text = String::from("cycle");
            for word in words {
                let _ = write!(text, " {}", word.text);
            }
            text
        }
        StatementKind::Periods(periods) => format!("periods {}", join_tokens(periods, ", ")),
        StatementKind::Grant(grant) => {
            let mut text = format!("grant {}", amount_text(&grant.amount));
            match &grant.every {
                Some(Every::Daily(_)) => text.push_str(" daily"),
                Some(Every::Once(_)) => text.push_str(" once"),
                Some(Every::Every { word, .. }) => {
                    let _ = write!(text, " every {}", word.text);
                }
                None => {}
            }
            if let Some(kind) = &grant.kind {
                let _ = write!(text, " as {}", kind.text);
            }
            for expiry in &grant.expires {
                let _ = write!(text, ", {}", expiry_text(expiry));
            }
            for rollover in &grant.rollovers {
                let _ = write!(text, ", {}", rollover_text(rollover));
            }
            text
        }
        StatementKind::Order(kinds) => format!("order {}", join_tokens(kinds, ", ")),
        StatementKind::Topup(topup) => {
            let mut text = String::from("topup");
            if let Some(kind) = &topup.kind {
                let _ = write!(text, " as {}", kind.text);
            }
            for expiry in &topup.expires {
                let _ = write!(text, ", {}", expiry_text(expiry));
            }
            for _ in &topup.requires_subscription {
                text.push_str(", requires subscription");
            }
            text
        }
        StatementKind::Package {
            name,
            amount,
            price,
        } => {
            let mut text = format!("package {} {}", name.text, amount_text(amount));
            if let Some(price) = price {
                let _ = write!(text, " for {}", amount_text(price));
            }
            text
        }
        StatementKind::TopupRules(clauses) => {
            let parts: Vec<String> = clauses
                .iter()
                .map(|clause| match &clause.kind {
                    TopupRuleKind::Minimum(amount) => format!("minimum {}", amount_text(amount)),
                    TopupRuleKind::Step(amount) => format!("step {}", amount_text(amount)),
                    TopupRuleKind::PackagesOnly => "packages only".to_owned(),
                })
                .collect();
            format!("topup {}", parts.join(", "))
        }
        StatementKind::Outcome { outcome, charge } => {
            let words: Vec<&str> = charge.text.split_whitespace().collect();
            format!("outcome {} {}", outcome.text, words.join(" "))
        }
        StatementKind::CreditLine(amount) => format!("credit line {}", amount_text(amount)),
        StatementKind::BalanceCap(amount) => format!("balance at most {}", amount_text(amount)),
        StatementKind::LateUsage { number, unit } => {
            format!("late usage within {} {}", number.text, unit.text)
        }
        StatementKind::WarnExpiry { number, unit } => {
            format!("warn before expiry {} {}", number.text, unit.text)
        }
        StatementKind::AutoTopup { below, package } => {
            format!(
                "auto topup below {} package {}",
                amount_text(below),
                package.text
            )
        }
        StatementKind::Alert(amounts) => {
            let parts: Vec<String> = amounts.iter().map(amount_text).collect();
            format!("alert below {}", parts.join(", "))
        }
        StatementKind::RefundWindow {
            days,
            unit,
            reasons,
        } => {
            let mut text = format!("refund within {} {}", days.text, unit.text);
            if !reasons.is_empty() {
                let _ = write!(text, " for {}", join_tokens(reasons, ", "));
            }
            text
        }
        StatementKind::RefundExpired(RefundExpired::Forfeit) => "refund expired forfeit".to_owned(),
        StatementKind::RefundExpired(RefundExpired::Restore { kind, expires }) => {
            let mut text = format!("refund expired as {}", kind.text);
            if let Some(expiry) = expires {
                let _ = write!(text, ", {}", expiry_text(expiry));
            }
            text
        }
        StatementKind::Limit { number, words } => {
            let mut text = format!("limit {}", number.text);
            for word in words {
                let _ = write!(text, " {}", word.text);
            }
            text
        }
    }
}
