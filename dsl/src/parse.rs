//! Source text → syntax tree ([`crate::ast`]).
//!
//! Before any parsing, the text's size and `{ }` nesting are capped (the grammar is not
//! recursive either), so no input can exhaust memory or the stack. `grammar.pest` defines the
//! language and is its only parser: the tree is built from its pairs below. A syntax error is
//! reported in words (`expected a rounding mode`), never with a grammar rule name, and a
//! character that cannot be seen (a byte-order mark, a non-breaking space) is named.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::*;
use crate::diagnostics::BookError;
use crate::limits::{MAX_NESTING_DEPTH, MAX_SOURCE_BYTES};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct RatesParser;

/// The grammar's text: the keywords are read from its `kw_` rules, so that the language spells
/// each keyword once.
const GRAMMAR: &str = include_str!("grammar.pest");

/// Parses a whole rate file.
///
/// # Errors
/// The file is larger than [`MAX_SOURCE_BYTES`], nests `{ }` deeper than
/// [`MAX_NESTING_DEPTH`], or has a syntax error (only the first is reported: the grammar is
/// lenient so that most mistakes reach `check`, which reports them all).
pub fn parse(source: &str) -> Result<File<'_>, BookError> {
    check_size_and_depth(source)?;
    let mut pairs =
        RatesParser::parse(Rule::file, source).map_err(|error| syntax_error(source, &error))?;
    Ok(File {
        statements: pairs.next().map(build_file).unwrap_or_default(),
        comments: collect_comments(source),
    })
}

fn check_size_and_depth(source: &str) -> Result<(), BookError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(BookError::TooLarge {
            size_kib: source.len().div_ceil(1024),
            span: Span::new(MAX_SOURCE_BYTES, MAX_SOURCE_BYTES).into(),
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut in_comment = false;
    for (offset, byte) in source.bytes().enumerate() {
        match byte {
            b'\n' => {
                in_string = false;
                in_comment = false;
            }
            _ if in_comment => {}
            b'"' => in_string = !in_string,
            _ if in_string => {}
            b'#' => in_comment = true,
            b'{' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(BookError::TooDeep {
                        span: Span::new(offset, offset + 1).into(),
                    });
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Every `#` comment outside quoted text, in source order.
fn collect_comments(source: &str) -> Vec<Comment<'_>> {
    let mut comments = Vec::new();
    let bytes = source.as_bytes();
    let mut in_string = false;
    let mut offset = 0usize;
    while let Some(&byte) = bytes.get(offset) {
        match byte {
            b'\n' => in_string = false,
            b'"' => in_string = !in_string,
            b'#' if !in_string => {
                let end = source
                    .get(offset..)
                    .and_then(|rest| rest.find('\n'))
                    .map_or(source.len(), |length| offset + length);
                let text = source.get(offset..end).unwrap_or("").trim_end();
                comments.push(Comment {
                    text,
                    span: Span::new(offset, offset + text.len()),
                });
                offset = end;
                continue;
            }
            _ => {}
        }
        offset += 1;
    }
    comments
}

// ---- Syntax errors ---------------------------------------------------------------------------

fn syntax_error(source: &str, error: &pest::error::Error<Rule>) -> BookError {
    let position = match error.location {
        InputLocation::Pos(position) => position,
        InputLocation::Span((start, _)) => start,
    };
    if let Some(error) = unexpected_character(source, position) {
        return error;
    }
    let (found, mut span) = found_at(source, position);
    let positives: &[Rule] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    let (mut expected, mut help) = describe_expected(positives, &found);
    if let Some((construct_expected, construct_help)) = missing_construct(source, position, &found)
    {
        expected = construct_expected;
        help = construct_help;
    }
    if span.is_empty() {
        // At the end of the file: point at the last character written, which the renderer
        // can show, and say the expected text comes after it.
        let end = source.trim_end().len();
        let start = source
            .get(..end)
            .and_then(|text| text.char_indices().last())
            .map_or(0, |(index, _)| index);
        span = Span::new(start, end);
        expected = format!("{expected} after this");
    }
    BookError::Syntax {
        found,
        span: span.into(),
        expected,
        help,
    }
}

/// A character a product manager cannot see or did not mean to type (a byte-order mark, a
/// non-breaking space, a curly quote pasted from a document), named with its code point:
/// printed raw, it would read as "unexpected ` `".
fn unexpected_character(source: &str, position: usize) -> Option<BookError> {
    // The character may be inside the token pest stopped at (`2025–01–01`): look to the end
    // of that token.
    let (offset, character) = source
        .get(position..)?
        .char_indices()
        .take(40)
        .take_while(|(_, c)| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .find(|(_, c)| !c.is_ascii() || (c.is_control() && !matches!(c, '\t' | '\n' | '\r')))?;
    let position = position + offset;
    let code = format!("U+{:04X}", u32::from(character));
    let space_help = "replace it with a normal space (it often comes from copying text out of a document or a web page)";
    let (found, label, help) = match character {
        '\u{feff}' => (
            format!("byte-order mark ({code})"),
            "an invisible byte-order mark is here",
            "remove it: save the file as UTF-8 without a byte-order mark (in most editors, encoding `UTF-8` rather than `UTF-8 with BOM`)".to_owned(),
        ),
        '\u{a0}' | '\u{202f}' => (
            format!("non-breaking space ({code})"),
            "a non-breaking space is here",
            space_help.to_owned(),
        ),
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{ad}' => (
            format!("invisible character ({code})"),
            "an invisible character is here",
            "remove it (it often comes from copying text out of a document or a web page)"
                .to_owned(),
        ),
        c if c.is_whitespace() && !c.is_ascii() => (
            format!("unusual space ({code})"),
            "an unusual space is here",
            space_help.to_owned(),
        ),
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{ab}' | '\u{bb}' => (
            format!("curly quote `{character}` ({code})"),
            "a curly quote is here",
            "write a straight quote `\"` around quoted text".to_owned(),
        ),
        '\u{2013}' | '\u{2014}' | '\u{2212}' => (
            format!("dash `{character}` ({code})"),
            "a dash is here",
            "write a hyphen `-` instead".to_owned(),
        ),
        '\u{d7}' => (
            format!("multiplication sign `{character}` ({code})"),
            "a multiplication sign is here",
            "write a factor on the feature's amount as `multiply by 2` (with `when` for a case, such as `multiply by 2 when priority`), or a percentage as `add 30% when hd`".to_owned(),
        ),
        c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => (
            format!("control character ({code})"),
            "an invisible control character is here",
            "remove it".to_owned(),
        ),
        c if !c.is_ascii() => (
            format!("character `{c}` ({code})"),
            "this character",
            "outside quoted text and `#` comments a rate file is written with the letters a to z, digits and `_ - . , : ; ( ) { } = + * \"`".to_owned(),
        ),
        _ => return None,
    };
    Some(BookError::Character {
        found,
        span: Span::new(position, position + character.len_utf8()).into(),
        label: label.to_owned(),
        help,
    })
}

/// A construct a product manager reaches for, spelt the way the language does not read it
/// (a percentage on a price, a number after `times`): the label and help name the construct
/// that says it (`add 50% when hd`, `multiply by 0.5 when batch`).
fn missing_construct(source: &str, position: usize, found: &str) -> Option<(String, String)> {
    let before = source.get(..position)?.trim_end();
    let mut words = before.rsplit(|c: char| c.is_whitespace());
    let last_word = words.next().unwrap_or("");
    let word_before = words.next().unwrap_or("");
    let found_word = found.trim_matches('`');
    let found_number = found_word.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    let is_number = |word: &str| {
        !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    };
    if found_word.starts_with('%') || found_word.ends_with('%') {
        if word_before == "by" && is_number(last_word) {
            return Some((
                "a new statement".to_owned(),
                format!(
                    "`multiply by` takes a factor, not a percentage (`multiply by 1.5` is 50 % more, `multiply by 0.5` half); a percentage is written `add {last_word}%` ({last_word} % more) or `add -{last_word}%` ({last_word} % less)"
                ),
            ));
        }
        return Some((
            "a unit such as `credit`".to_owned(),
            "a percentage changes what the whole feature costs, so it is a statement of its own, not a price: write `add 50% when priority` (or `add -20% when annual` for a discount) beside the `base` lines".to_owned(),
        ));
    }
    let statement_start = before
        .rfind(['\n', '{', ';'])
        .map_or(before, |start| before.get(start + 1..).unwrap_or(""))
        .trim_start();
    if statement_start.starts_with("add") && last_word.ends_with('%') {
        return Some((
            "`when` or a new statement".to_owned(),
            format!(
                "a percentage applies to the feature's whole amount, so it takes no `{found_word}`; a price per quantity is an add-on with its unit, such as `add 1 credit per image when hd`"
            ),
        ));
    }
    if statement_start.starts_with("multiply by") && found_word == "when" && !is_number(last_word) {
        return Some((
            "`}` or a new statement".to_owned(),
            format!(
                "`multiply by {last_word}` multiplies every line by a `count` input and takes no `when`; a factor for a case is a number (`multiply by 2 when priority`), and a count for some lines only is `times {last_word}` on those lines"
            ),
        ));
    }
    if statement_start.starts_with("multiply by")
        && is_number(last_word)
        && found_word.starts_with(['x', 'X'])
        && source
            .get(..position)
            .is_some_and(|text| text.ends_with(|c: char| c.is_ascii_digit()))
    {
        return Some((
            "`when` or a new statement".to_owned(),
            format!("write the factor as a plain number: `multiply by {last_word}`"),
        ));
    }
    if (statement_start.starts_with("add") || statement_start.starts_with("base"))
        && last_word == "when"
        && is_number(word_before)
    {
        return Some((
            "a price's unit before `when`".to_owned(),
            format!(
                "`{word_before} when` reads `when` as the unit: a price is a number and its unit, such as `{word_before} credit each when ...`, and a percentage of the feature's amount is `add {word_before}% when ...`"
            ),
        ));
    }
    if found_word == ":" && table_row_context(before) {
        return Some((
            "an amount with its unit, such as `1 credit`".to_owned(),
            "each price of a row is a number and its unit (`a: 1 credit, 2 credit`): the price before this row has no unit, so its next word was read as one".to_owned(),
        ));
    }
    if last_word == "multiply" && found_number {
        return Some((
            "`by`".to_owned(),
            format!("write `multiply by {found_word}`, a factor on the feature's amount"),
        ));
    }
    if last_word == "times" && found_number {
        return Some((
            "the name of a `count` input, such as `outputs`".to_owned(),
            format!(
                "`times` multiplies one line by a `count` input (`times outputs`); a fixed factor applies to the feature's amount and is a statement of its own: `multiply by {found_word}` (with `when` for a case, such as `multiply by {found_word} when mode is batch`)"
            ),
        ));
    }
    None
}

/// Whether `before` ends inside the `{ }` of a price table (`base table by ... {`).
fn table_row_context(before: &str) -> bool {
    let Some(open) = before.rfind('{') else {
        return false;
    };
    if before
        .get(open..)
        .is_some_and(|inside| inside.contains('}'))
    {
        return false;
    }
    let header = before.get(..open).unwrap_or("");
    let line = header.rsplit('\n').next().unwrap_or("");
    line.contains("table")
}

/// The token at `position`, in backticks, and its span.
fn found_at(source: &str, position: usize) -> (String, Span) {
    let rest = source.get(position..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_owned(), Span::new(position, position));
    };
    let length = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(rest.len())
    } else if first == '"' {
        rest.get(1..)
            .and_then(|after| after.find(['"', '\n']))
            .map_or(rest.len(), |end| end + 2)
    } else {
        first.len_utf8()
    };
    let length = length.min(40);
    let text = rest
        .get(..length)
        .or_else(|| rest.get(..first.len_utf8()))
        .unwrap_or("");
    let shown = text.trim_end_matches('\n');
    let found = if first == '\n' || first == '\r' {
        "end of line".to_owned()
    } else {
        format!("`{shown}`")
    };
    (found, Span::new(position, position + text.len()))
}

/// What a rule stands for, in words a product manager knows (one or more alternatives).
fn rule_words(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::EOI => &["the end of the file"],
        Rule::name => &["a name"],
        Rule::number => &["a number"],
        Rule::quantity => &["a quantity such as `90s` or `100 words`"],
        Rule::date => &["a date such as `2025-01-01`"],
        Rule::string | Rule::string_text => &["a quoted text such as `\"Video generation\"`"],
        Rule::free_word => &["a word"],
        Rule::amount | Rule::simple_price => &["an amount such as `20 credit`"],
        Rule::open_brace | Rule::tiers_block => &["`{`"],
        Rule::close_brace => &["`}`"],
        Rule::colon => &["`:`"],
        Rule::comma => &["`,`"],
        Rule::semicolon => &["`;`"],
        Rule::open_paren | Rule::choice_list => &["`(`"],
        Rule::close_paren => &["`)`"],
        Rule::equals => &["`=`"],
        Rule::plus => &["`+`"],
        Rule::star => &["`*`"],
        Rule::percent => &["`%`"],
        Rule::table_price | Rule::kw_table => &["`table`"],
        Rule::table_block => &["`{`"],
        Rule::table_columns | Rule::kw_columns => &["`columns:`"],
        Rule::table_column => &["`per`", "`each`"],
        Rule::table_row | Rule::table_key => {
            &["a row such as `pro: 20 credit` (the choice's value, `:`, then its prices)"]
        }
        Rule::unit_scale | Rule::kw_scale => &["`scale`"],
        Rule::unit_round | Rule::kw_round => &["`round`"],
        Rule::rounding_mode | Rule::round_mode | Rule::rounding_mode_word => {
            &["a rounding mode (`up`, `down`, `half-up`, `half-even` or `half-down`)"]
        }
        Rule::quantity_direction => &["`up`", "`down`", "`nearest`"],
        Rule::channels_default | Rule::input_default | Rule::kw_default => &["`default`"],
        Rule::input_kind => {
            &["an input kind such as `duration`, `words`, `count` or `choice(a, b)`"]
        }
        Rule::input_min | Rule::kw_min => &["`min`"],
        Rule::input_max | Rule::kw_max => &["`max`"],
        Rule::value => &["a value such as `90s`, `250 words`, `pro` or `yes`"],
        Rule::minimum_of | Rule::per_of | Rule::kw_of => &["`of`"],
        Rule::rule_role => &["`base`", "`add`"],
        Rule::tiers_price | Rule::kw_tiers => &["`tiers`"],
        Rule::tier_mode => &["`graduated`", "`volume`"],
        Rule::kw_graduated => &["`graduated`"],
        Rule::kw_volume => &["`volume`"],
        Rule::per_part => &["`per`", "`each`"],
        Rule::per_modifier => &["`of`", "`rounded`", "`times`"],
        Rule::per_rounded | Rule::kw_rounded => &["`rounded`"],
        Rule::per_times | Rule::kw_times => &["`times`"],
        Rule::tier => {
            &["a tier such as `up to 100 GB: 0.2 credit per GB` or `above: 0.1 credit per GB`"]
        }
        Rule::tier_up_to | Rule::rollover_up_to => &["`up to`"],
        Rule::when_clause | Rule::kw_when => &["`when`"],
        Rule::condition | Rule::test | Rule::is_test | Rule::flag_test => {
            &["a condition such as `model is pro` or `actor`"]
        }
        Rule::not_test | Rule::kw_not => &["`not`"],
        Rule::grant_every => &["`daily`", "`every cycle`", "`once`"],
        Rule::grant_kind | Rule::refund_restore | Rule::kw_as => &["`as`"],
        Rule::expires_clause | Rule::kw_expires => &["`expires`"],
        Rule::expiry => {
            &["an expiry such as `never`, `end of day`, `end of cycle` or `after 30 days`"]
        }
        Rule::expiry_end | Rule::kw_end => &["`end`"],
        Rule::expiry_after | Rule::kw_after => &["`after`"],
        Rule::rollover_clause | Rule::kw_rolls => &["`rolls`"],
        Rule::rollover_while | Rule::kw_while => &["`while`"],
        Rule::rollover_count => &["a number of cycles"],
        Rule::topup_requires | Rule::kw_requires => &["`requires`"],
        Rule::refund_reasons | Rule::kw_for => &["`for`"],
        Rule::expect_term => &["an example such as `video(duration: 1m)`"],
        Rule::expect_count => &["a number of times"],
        Rule::expect_arg => &["an input such as `duration: 1m`"],
        Rule::kw_above => &["`above`"],
        Rule::kw_add => &["`add`"],
        Rule::kw_alert => &["`alert`"],
        Rule::kw_and => &["`and`"],
        Rule::kw_base => &["`base`"],
        Rule::balance_cap_statement | Rule::kw_balance => &["`balance`"],
        Rule::kw_at => &["`at`"],
        Rule::kw_most => &["`most`"],
        Rule::kw_below => &["`below`"],
        Rule::kw_book => &["`book`"],
        Rule::kw_by => &["`by`"],
        Rule::kw_channels => &["`channels`"],
        Rule::kw_content => &["`content`"],
        Rule::kw_credit => &["`credit`"],
        Rule::kw_cycle => &["`cycle`"],
        Rule::kw_daily => &["`daily`"],
        Rule::kw_down => &["`down`"],
        Rule::kw_each => &["`each`"],
        Rule::kw_effective => &["`effective`"],
        Rule::kw_every => &["`every`"],
        Rule::kw_expect => &["`expect`"],
        Rule::kw_expired => &["`expired`"],
        Rule::kw_feature => &["`feature`"],
        Rule::kw_first => &["`first`"],
        Rule::kw_forfeit => &["`forfeit`"],
        Rule::kw_free => &["`free`"],
        Rule::kw_grant => &["`grant`"],
        Rule::kw_input => &["`input`"],
        Rule::kw_is => &["`is`"],
        Rule::kw_limit => &["`limit`"],
        Rule::kw_line => &["`line`"],
        Rule::kw_minimum => &["`minimum`"],
        Rule::kw_multiply => &["`multiply`"],
        Rule::kw_nearest => &["`nearest`"],
        Rule::kw_never => &["`never`"],
        Rule::kw_on => &["`on`"],
        Rule::kw_once => &["`once`"],
        Rule::kw_or => &["`or`"],
        Rule::kw_order => &["`order`"],
        Rule::kw_over => &["`over`"],
        Rule::kw_package => &["`package`"],
        Rule::kw_per => &["`per`"],
        Rule::kw_periods => &["`periods`"],
        Rule::kw_plan => &["`plan`"],
        Rule::kw_refund => &["`refund`"],
        Rule::kw_request => &["`request`"],
        Rule::kw_same => &["`same`"],
        Rule::kw_source => &["`source`"],
        Rule::kw_subscribed => &["`subscribed`"],
        Rule::kw_subscription => &["`subscription`"],
        Rule::kw_time_zone => &["`time_zone`"],
        Rule::kw_title => &["`title`"],
        Rule::kw_to => &["`to`"],
        Rule::kw_topup => &["`topup`"],
        Rule::kw_unit => &["`unit`"],
        Rule::kw_up => &["`up`"],
        Rule::kw_within => &["`within`"],
        Rule::kw_late => &["`late`"],
        Rule::kw_warn => &["`warn`"],
        Rule::kw_auto => &["`auto`"],
        Rule::kw_before => &["`before`"],
        Rule::kw_expiry => &["`expiry`"],
        Rule::kw_usage => &["`usage`"],
        Rule::kw_outcome => &["`outcome`"],
        Rule::kw_full => &["`full`"],
        Rule::kw_step => &["`step`"],
        Rule::kw_packages => &["`packages`"],
        Rule::kw_only => &["`only`"],
        Rule::outcome_charge => &["`free`", "`full`", "`by usage`"],
        Rule::package_price => &["`for`"],
        Rule::refuse_statement | Rule::kw_refuse => &["`refuse`"],
        Rule::maximum_statement | Rule::kw_maximum => &["`maximum`"],
        Rule::derived_statement | Rule::kw_quantity => &["`quantity`"],
        Rule::input_allowed | Rule::kw_one => &["`one of`"],
        Rule::compare_test | Rule::compare_op => &["`above`", "`below`", "`at least`", "`at most`"],
        Rule::kw_least => &["`least`"],
        Rule::derived_term => &["an input or a quantity such as `500 tokens`"],
        Rule::derived_op => &["`+`", "`*`"],
        Rule::kw_scenario => &["`scenario`"],
        Rule::kw_refused | Rule::refused_clause => &["`refused`"],
        Rule::scenario_start | Rule::kw_starting => &["`starting`"],
        Rule::step_at => &["`at`"],
        Rule::kw_cancel | Rule::step_cancel => &["`cancel`"],
        Rule::kw_capture | Rule::step_capture => &["`capture`"],
        Rule::kw_charge | Rule::step_charge => &["`charge`"],
        Rule::kw_hold | Rule::step_hold => &["`hold`"],
        Rule::kw_release | Rule::step_release => &["`release`"],
        Rule::kw_subscribe | Rule::step_subscribe => &["`subscribe`"],
        Rule::kw_top | Rule::step_top_up => &["`top up`"],
        Rule::step_refund => &["`refund`"],
        Rule::step_balance => &["`expect balance`"],
        Rule::step_label => &["`as`"],
        Rule::step_charged => &["`=`"],
        Rule::balance_item | Rule::balance_kind => &["a balance such as `allocation 12000 credit`"],
        Rule::top_up_package => &["`package`"],
        _ => &[],
    }
}

/// Keywords that start a statement of the file.
fn is_top_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_book
            | Rule::kw_title
            | Rule::kw_effective
            | Rule::kw_time_zone
            | Rule::kw_source
            | Rule::kw_unit
            | Rule::kw_channels
            | Rule::kw_feature
            | Rule::kw_plan
            | Rule::kw_expect
            | Rule::kw_scenario
    )
}

/// Keywords that start a statement inside a `feature` or `plan` block.
fn is_block_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_input
            | Rule::kw_add
            | Rule::kw_round
            | Rule::kw_minimum
            | Rule::rule_role
            | Rule::kw_multiply
            | Rule::kw_first
            | Rule::kw_requires
            | Rule::kw_cycle
            | Rule::kw_periods
            | Rule::kw_grant
            | Rule::kw_order
            | Rule::kw_topup
            | Rule::kw_package
            | Rule::kw_credit
            | Rule::kw_alert
            | Rule::kw_refund
            | Rule::kw_limit
            | Rule::kw_late
            | Rule::kw_outcome
            | Rule::kw_warn
            | Rule::kw_auto
            | Rule::kw_refuse
            | Rule::kw_maximum
            | Rule::kw_quantity
            | Rule::kw_balance
    )
}

/// Every keyword of the language, for "did you mean" suggestions: the word of each
/// `kw_name = @{ "word" ~ !word_char }` rule of the grammar.
pub(crate) fn keywords() -> impl Iterator<Item = &'static str> {
    GRAMMAR.lines().filter_map(|line| {
        let rule = line.strip_prefix("kw_")?;
        let (_, body) = rule.split_once("@{")?;
        let (_, quoted) = body.split_once('"')?;
        let (word, _) = quoted.split_once('"')?;
        Some(word)
    })
}

/// `expected ...` words for the label, and a help line.
fn describe_expected(positives: &[Rule], found: &str) -> (String, String) {
    let top = positives
        .iter()
        .filter(|rule| is_top_keyword(**rule))
        .count()
        >= 3;
    let block = positives
        .iter()
        .filter(|rule| is_block_keyword(**rule))
        .count()
        >= 5;
    let mut words: Vec<&'static str> = Vec::new();
    let mut end_of_file = false;
    for rule in positives {
        if (top && is_top_keyword(*rule)) || (block && is_block_keyword(*rule)) {
            continue;
        }
        match rule {
            Rule::semicolon => {}
            Rule::EOI => end_of_file = true,
            // After `add 50`, the word may be a unit or `%`.
            Rule::name if positives.contains(&Rule::percent) => {
                if !words.contains(&"a unit such as `credit`") {
                    words.push("a unit such as `credit`");
                }
            }
            _ => {
                for word in rule_words(*rule) {
                    if !words.contains(word) {
                        words.push(word);
                    }
                }
            }
        }
    }
    // Statements go last: the words before say how the current statement could continue.
    if block || top {
        words.push("a new statement");
    }
    if end_of_file {
        words.push("the end of the file");
    }
    let expected = if words.is_empty() {
        "something else".to_owned()
    } else {
        join_or(&words)
    };

    // A misspelt keyword is the most common syntax error: name the keyword it resembles,
    // preferring the ones that fit here.
    let found_word = found.trim_matches('`');
    let fitting: Vec<&str> = positives
        .iter()
        .flat_map(|rule| rule_words(*rule).iter())
        .filter_map(|word| {
            let inner = word.strip_prefix('`')?.strip_suffix('`')?;
            (!inner.contains('`')).then_some(inner)
        })
        .collect();
    let suggestion = crate::diagnostics::closest(found_word, fitting.iter().copied())
        .or_else(|| crate::diagnostics::closest(found_word, keywords()));
    let is_word = found_word.starts_with(|c: char| c.is_ascii_alphabetic());
    let help = if let Some(keyword) = suggestion.filter(|keyword| is_word && *keyword != found_word)
    {
        format!("did you mean `{keyword}`?")
    } else if found == "end of file" && positives.contains(&Rule::close_brace) {
        "the file ends inside a `{ }` block: is a `}` missing?".to_owned()
    } else if found == "end of file" {
        "the file ends before the statement is complete".to_owned()
    } else if block {
        "a statement starts with a keyword: in a feature `input`, `round`, `minimum`, `base`, `add`, `multiply by`, `first request free` or `requires`; in a plan `cycle`, `periods`, `grant`, `order`, `topup`, `package`, `credit line`, `balance at most`, `alert below`, `refund` or `limit`".to_owned()
    } else if top {
        "the file holds `book`, `title`, `effective`, `time_zone`, `source`, `unit`, `channels`, `feature`, `plan`, `expect` and `scenario` statements; what belongs to a feature or plan goes inside its `{ }`".to_owned()
    } else {
        format!("write {expected} here")
    };
    (expected, help)
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

// ---- Building the tree -----------------------------------------------------------------------

type P<'a> = Pair<'a, Rule>;

/// The pair's span, ending at its last token: pest's implicit whitespace and comments after
/// the last token (consumed while trying optional parts) are not part of it.
fn span_of(pair: &P<'_>) -> Span {
    let span = pair.as_span();
    Span::new(span.start(), last_token_end(pair).unwrap_or(span.end()))
}

fn last_token_end(pair: &P<'_>) -> Option<usize> {
    if pair.as_rule() == Rule::string {
        return None;
    }
    let mut current = pair.clone().into_inner().last()?;
    // Grammar depth is bounded (it is not recursive), so this loop is too. A quoted text is
    // a token: its inner text ends before the closing quote.
    while current.as_rule() != Rule::string {
        let Some(last) = current.clone().into_inner().last() else {
            break;
        };
        current = last;
    }
    Some(current.as_span().end())
}

fn token<'a>(pair: &P<'a>) -> Token<'a> {
    Token {
        text: pair.as_str(),
        span: span_of(pair),
    }
}

/// A token standing in for one the grammar guarantees but the tree lacks (never expected).
fn missing<'a>(span: Span) -> Token<'a> {
    Token {
        text: "",
        span: Span::new(span.end, span.end),
    }
}

/// The first child with this rule, as a token.
fn child_token<'a>(pair: &P<'a>, rule: Rule) -> Option<Token<'a>> {
    pair.clone()
        .into_inner()
        .find(|child| child.as_rule() == rule)
        .map(|child| token(&child))
}

fn child<'a>(pair: &P<'a>, rule: Rule) -> Option<P<'a>> {
    pair.clone()
        .into_inner()
        .find(|child| child.as_rule() == rule)
}

fn children_tokens<'a>(pair: &P<'a>, rule: Rule) -> Vec<Token<'a>> {
    pair.clone()
        .into_inner()
        .filter(|child| child.as_rule() == rule)
        .map(|child| token(&child))
        .collect()
}

fn first_keyword(pair: &P<'_>) -> Span {
    pair.clone()
        .into_inner()
        .next()
        .map_or_else(|| span_of(pair), |first| span_of(&first))
}

fn build_file(pair: P<'_>) -> Vec<Top<'_>> {
    pair.into_inner()
        .filter_map(|pair| build_top(&pair))
        .collect()
}

fn build_top<'a>(pair: &P<'a>) -> Option<Top<'a>> {
    let span = span_of(pair);
    let name = || child_token(pair, Rule::name).unwrap_or_else(|| missing(span));
    let kind = match pair.as_rule() {
        Rule::book_statement => TopKind::Book(name()),
        Rule::title_statement => {
            TopKind::Title(child_token(pair, Rule::string).unwrap_or_else(|| missing(span)))
        }
        Rule::effective_statement => {
            TopKind::Effective(child_token(pair, Rule::date).unwrap_or_else(|| missing(span)))
        }
        Rule::time_zone_statement => TopKind::TimeZone(
            child_token(pair, Rule::string)
                .or_else(|| child_token(pair, Rule::name))
                .unwrap_or_else(|| missing(span)),
        ),
        Rule::source_statement => {
            TopKind::Source(child_token(pair, Rule::string).unwrap_or_else(|| missing(span)))
        }
        Rule::unit_statement => {
            let mut scales = Vec::new();
            let mut rounds = Vec::new();
            for clause in pair.clone().into_inner() {
                match clause.as_rule() {
                    Rule::unit_scale => scales.extend(child_token(&clause, Rule::number)),
                    Rule::unit_round => rounds.extend(child_token(&clause, Rule::rounding_mode)),
                    _ => {}
                }
            }
            TopKind::Unit(UnitDecl {
                name: name(),
                scales,
                rounds,
            })
        }
        Rule::channels_statement => TopKind::Channels(ChannelsDecl {
            names: children_tokens(pair, Rule::name),
            default: child(pair, Rule::channels_default).and_then(|d| child_token(&d, Rule::name)),
        }),
        Rule::feature_statement => TopKind::Feature(build_block(pair)),
        Rule::plan_statement => TopKind::Plan(build_block(pair)),
        Rule::expect_statement => TopKind::Expect(build_expect(pair)),
        Rule::scenario_statement => TopKind::Scenario(build_scenario(pair)),
        _ => return None,
    };
    Some(Top {
        kind,
        span,
        keyword: first_keyword(pair),
    })
}

fn build_block<'a>(pair: &P<'a>) -> Block<'a> {
    let span = span_of(pair);
    let mut body = Vec::new();
    for statement in pair.clone().into_inner() {
        if let Some(statement) = build_statement(&statement) {
            body.push(statement);
        }
    }
    Block {
        name: child_token(pair, Rule::name).unwrap_or_else(|| missing(span)),
        title: child_token(pair, Rule::string),
        body,
        open: child_token(pair, Rule::open_brace).map_or(span, |brace| brace.span),
        close: child_token(pair, Rule::close_brace).map_or(span, |brace| brace.span),
    }
}

fn build_statement<'a>(pair: &P<'a>) -> Option<Statement<'a>> {
    let span = span_of(pair);
    let name = || child_token(pair, Rule::name).unwrap_or_else(|| missing(span));
    let names = || children_tokens(pair, Rule::name);
    let kind = match pair.as_rule() {
        Rule::input_statement => StatementKind::Input(build_input(pair)),
        Rule::round_statement => StatementKind::Round(RoundDecl {
            target: name(),
            direction: child_token(pair, Rule::quantity_direction),
            to: child_token(pair, Rule::quantity).unwrap_or_else(|| missing(span)),
            mode: child_token(pair, Rule::round_mode),
        }),
        Rule::minimum_statement => StatementKind::Minimum(MinimumDecl {
            value: child_token(pair, Rule::quantity).unwrap_or_else(|| missing(span)),
            of: child(pair, Rule::minimum_of).and_then(|of| child_token(&of, Rule::name)),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        }),
        Rule::rule_statement => StatementKind::Rule(build_rule(pair)),
        Rule::refuse_statement => StatementKind::Refuse {
            message: child_token(pair, Rule::string).unwrap_or_else(|| missing(span)),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        },
        Rule::maximum_statement => StatementKind::Maximum(MinimumDecl {
            value: child_token(pair, Rule::quantity).unwrap_or_else(|| missing(span)),
            of: child(pair, Rule::minimum_of).and_then(|of| child_token(&of, Rule::name)),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        }),
        Rule::derived_statement => StatementKind::Derived(build_derived(pair)),
        Rule::multiply_statement => StatementKind::Multiply(name()),
        Rule::factor_statement => StatementKind::Factor(FactorDecl {
            value: FactorValue::Times(
                child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            ),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        }),
        Rule::percent_statement => StatementKind::Factor(FactorDecl {
            value: FactorValue::Percent(
                child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            ),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        }),
        Rule::first_free_statement => StatementKind::FirstRequestFree,
        Rule::gate_statement => StatementKind::Gate {
            feature: name(),
            when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        },
        Rule::prior_statement => StatementKind::RequiresPrior(names()),
        Rule::cycle_statement => StatementKind::Cycle(children_tokens(pair, Rule::free_word)),
        Rule::periods_statement => StatementKind::Periods(names()),
        Rule::grant_statement => StatementKind::Grant(build_grant(pair)),
        Rule::order_statement => StatementKind::Order(names()),
        Rule::topup_statement => StatementKind::Topup(build_topup(pair)),
        Rule::package_statement => StatementKind::Package {
            name: name(),
            amount: child(pair, Rule::amount)
                .map_or_else(|| missing_amount(span), |a| build_amount(&a)),
            price: child(pair, Rule::package_price)
                .and_then(|price| child(&price, Rule::amount))
                .map(|a| build_amount(&a)),
        },
        Rule::topup_rules_statement => StatementKind::TopupRules(build_topup_rules(pair)),
        Rule::outcome_statement => StatementKind::Outcome {
            outcome: name(),
            charge: child_token(pair, Rule::outcome_charge).unwrap_or_else(|| missing(span)),
        },
        Rule::credit_line_statement => StatementKind::CreditLine(
            child(pair, Rule::amount).map_or_else(|| missing_amount(span), |a| build_amount(&a)),
        ),
        Rule::balance_cap_statement => StatementKind::BalanceCap(
            child(pair, Rule::amount).map_or_else(|| missing_amount(span), |a| build_amount(&a)),
        ),
        Rule::alert_statement => StatementKind::Alert(
            pair.clone()
                .into_inner()
                .filter(|child| child.as_rule() == Rule::amount)
                .map(|amount| build_amount(&amount))
                .collect(),
        ),
        Rule::refund_window_statement => StatementKind::RefundWindow {
            days: child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            unit: name(),
            reasons: child(pair, Rule::refund_reasons)
                .map(|reasons| children_tokens(&reasons, Rule::name))
                .unwrap_or_default(),
        },
        Rule::refund_expired_statement => {
            StatementKind::RefundExpired(match child(pair, Rule::refund_restore) {
                Some(restore) => RefundExpired::Restore {
                    kind: child(&restore, Rule::grant_kind)
                        .and_then(|kind| child_token(&kind, Rule::name))
                        .unwrap_or_else(|| missing(span)),
                    expires: child(&restore, Rule::expires_clause)
                        .map(|clause| build_expiry(&clause)),
                },
                None => RefundExpired::Forfeit,
            })
        }
        Rule::late_usage_statement => StatementKind::LateUsage {
            number: child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            unit: name(),
        },
        Rule::warn_expiry_statement => StatementKind::WarnExpiry {
            number: child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            unit: name(),
        },
        Rule::auto_topup_statement => StatementKind::AutoTopup {
            below: child(pair, Rule::amount)
                .map_or_else(|| missing_amount(span), |a| build_amount(&a)),
            package: name(),
        },
        Rule::limit_statement => StatementKind::Limit {
            number: child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
            words: limit_words(pair),
        },
        _ => return None,
    };
    Some(Statement {
        kind,
        span,
        keyword: first_keyword(pair),
    })
}

/// The words after `limit N`, `per cycle` read as its two words.
fn limit_words<'a>(pair: &P<'a>) -> Vec<Token<'a>> {
    let mut words = Vec::new();
    for child in pair.clone().into_inner() {
        match child.as_rule() {
            Rule::free_word => words.push(token(&child)),
            Rule::limit_per_cycle => words.extend(child.into_inner().map(|word| token(&word))),
            _ => {}
        }
    }
    words
}

fn build_input<'a>(pair: &P<'a>) -> InputDecl<'a> {
    let span = span_of(pair);
    let kind_pair = child(pair, Rule::input_kind);
    let kind = kind_pair
        .as_ref()
        .and_then(|kind| child_token(kind, Rule::name))
        .unwrap_or_else(|| missing(span));
    let choices = kind_pair
        .as_ref()
        .and_then(|kind| child(kind, Rule::choice_list))
        .map(|list| children_tokens(&list, Rule::name));
    let mut defaults = Vec::new();
    let mut mins = Vec::new();
    let mut maxes = Vec::new();
    let mut allowed = Vec::new();
    for clause in pair.clone().into_inner() {
        match clause.as_rule() {
            Rule::input_default => {
                defaults.extend(
                    child(&clause, Rule::value)
                        .and_then(|value| value.into_inner().next())
                        .map(|v| token(&v)),
                );
            }
            Rule::input_min => mins.extend(child_token(&clause, Rule::quantity)),
            Rule::input_max => maxes.extend(child_token(&clause, Rule::quantity)),
            Rule::input_allowed => {
                allowed.push((children_tokens(&clause, Rule::quantity), span_of(&clause)));
            }
            _ => {}
        }
    }
    InputDecl {
        name: child_token(pair, Rule::name).unwrap_or_else(|| missing(span)),
        kind,
        choices,
        defaults,
        mins,
        maxes,
        allowed,
    }
}

fn build_derived<'a>(pair: &P<'a>) -> DerivedDecl<'a> {
    let span = span_of(pair);
    let mut first = None;
    let mut rest = Vec::new();
    let mut op = DerivedOp::Plus;
    for part in pair.clone().into_inner() {
        match part.as_rule() {
            Rule::derived_op => {
                op = if part.as_str() == "*" {
                    DerivedOp::Times
                } else {
                    DerivedOp::Plus
                };
            }
            Rule::derived_term => {
                let Some(inner) = part.into_inner().next() else {
                    continue;
                };
                let term = token(&inner);
                if first.is_none() {
                    first = Some(term);
                } else {
                    rest.push((op, term));
                }
            }
            _ => {}
        }
    }
    DerivedDecl {
        name: child_token(pair, Rule::name).unwrap_or_else(|| missing(span)),
        first: first.unwrap_or_else(|| missing(span)),
        rest,
    }
}

fn missing_amount<'a>(span: Span) -> Amount<'a> {
    Amount {
        number: missing(span),
        unit: missing(span),
        span: Span::new(span.end, span.end),
    }
}

fn build_amount<'a>(pair: &P<'a>) -> Amount<'a> {
    let span = span_of(pair);
    Amount {
        number: child_token(pair, Rule::number).unwrap_or_else(|| missing(span)),
        unit: child_token(pair, Rule::name).unwrap_or_else(|| missing(span)),
        span,
    }
}

fn build_per<'a>(pair: &P<'a>) -> Per<'a> {
    let span = span_of(pair);
    match child_token(pair, Rule::kw_each) {
        Some(each) => Per::Each(each.span),
        None => Per::Per(
            child_token(pair, Rule::quantity)
                .or_else(|| child_token(pair, Rule::name))
                .unwrap_or_else(|| missing(span)),
        ),
    }
}

fn build_rule<'a>(pair: &P<'a>) -> RuleDecl<'a> {
    let span = span_of(pair);
    let role = match child(pair, Rule::rule_role).and_then(|role| role.into_inner().next()) {
        Some(role) if role.as_rule() == Rule::kw_add => Role::Add,
        _ => Role::Base,
    };
    let price = if let Some(table) = child(pair, Rule::table_price) {
        PriceDecl::Table {
            keyword: child_token(&table, Rule::kw_table).map_or(span_of(&table), |kw| kw.span),
            by: children_tokens(&table, Rule::name),
        }
    } else if let Some(tiers) = child(pair, Rule::tiers_price) {
        PriceDecl::Tiers {
            mode: child_token(&tiers, Rule::tier_mode),
            keyword: child_token(&tiers, Rule::kw_tiers).map_or(span_of(&tiers), |kw| kw.span),
            of: child(&tiers, Rule::per_of).and_then(|of| child_token(&of, Rule::name)),
        }
    } else {
        let simple = child(pair, Rule::simple_price);
        let amount = simple
            .as_ref()
            .and_then(|simple| child(simple, Rule::amount))
            .map_or_else(|| missing_amount(span), |amount| build_amount(&amount));
        let per = simple
            .as_ref()
            .and_then(|simple| child(simple, Rule::per_part))
            .map(|per| build_per(&per));
        let modifiers = simple.as_ref().map(build_modifiers).unwrap_or_default();
        PriceDecl::Simple {
            amount,
            per,
            modifiers,
        }
    };
    let tiers = child(pair, Rule::tiers_block).map(|block| {
        let block_span = span_of(&block);
        TiersBlock {
            tiers: block
                .clone()
                .into_inner()
                .filter(|child| child.as_rule() == Rule::tier)
                .map(|tier| {
                    let tier_span = span_of(&tier);
                    TierDecl {
                        up_to: child(&tier, Rule::tier_up_to)
                            .and_then(|up_to| child_token(&up_to, Rule::quantity)),
                        amount: child(&tier, Rule::amount).map_or_else(
                            || missing_amount(tier_span),
                            |amount| build_amount(&amount),
                        ),
                        per: child(&tier, Rule::per_part).map(|per| build_per(&per)),
                        span: tier_span,
                    }
                })
                .collect(),
            open: child_token(&block, Rule::open_brace).map_or(block_span, |brace| brace.span),
            close: child_token(&block, Rule::close_brace).map_or(block_span, |brace| brace.span),
        }
    });
    RuleDecl {
        role,
        price,
        when: child(pair, Rule::when_clause).map(|when| build_when(&when)),
        tiers,
        table: child(pair, Rule::table_block).map(|block| build_table(&block)),
    }
}

/// The `of`, `rounded` and `times` clauses after a `per` (of a price or a table column).
fn build_modifiers<'a>(pair: &P<'a>) -> Vec<Modifier<'a>> {
    let mut modifiers = Vec::new();
    for modifier in pair
        .clone()
        .into_inner()
        .filter(|c| c.as_rule() == Rule::per_modifier)
    {
        for inner in modifier.into_inner() {
            match inner.as_rule() {
                Rule::per_of => modifiers.extend(child_token(&inner, Rule::name).map(Modifier::Of)),
                Rule::per_rounded => modifiers
                    .extend(child_token(&inner, Rule::quantity_direction).map(Modifier::Rounded)),
                Rule::per_times => {
                    modifiers.extend(child_token(&inner, Rule::name).map(Modifier::Times))
                }
                _ => {}
            }
        }
    }
    modifiers
}

fn build_table<'a>(block: &P<'a>) -> TableBlock<'a> {
    let block_span = span_of(block);
    let header = child(block, Rule::table_columns);
    let columns = header
        .as_ref()
        .map(|header| {
            header
                .clone()
                .into_inner()
                .filter(|child| child.as_rule() == Rule::table_column)
                .map(|column| {
                    let column_span = span_of(&column);
                    TableColumn {
                        per: child(&column, Rule::per_part)
                            .map_or_else(|| Per::Per(missing(column_span)), |per| build_per(&per)),
                        modifiers: build_modifiers(&column),
                        span: column_span,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = block
        .clone()
        .into_inner()
        .filter(|child| child.as_rule() == Rule::table_row)
        .map(|row| TableRow {
            key: child(&row, Rule::table_key)
                .map(|key| children_tokens(&key, Rule::name))
                .unwrap_or_default(),
            cells: row
                .clone()
                .into_inner()
                .filter(|child| child.as_rule() == Rule::amount)
                .map(|amount| build_amount(&amount))
                .collect(),
            span: span_of(&row),
        })
        .collect();
    TableBlock {
        columns,
        columns_keyword: header
            .as_ref()
            .and_then(|header| child_token(header, Rule::kw_columns))
            .map(|keyword| keyword.span),
        rows,
        open: child_token(block, Rule::open_brace).map_or(block_span, |brace| brace.span),
        close: child_token(block, Rule::close_brace).map_or(block_span, |brace| brace.span),
    }
}

fn build_when<'a>(pair: &P<'a>) -> Condition<'a> {
    let condition = child(pair, Rule::condition);
    let span = condition.as_ref().map_or_else(|| span_of(pair), span_of);
    let tests = condition
        .map(|condition| {
            condition
                .into_inner()
                .filter(|child| child.as_rule() == Rule::test)
                .filter_map(|test| {
                    let test_span = span_of(&test);
                    let inner = test.into_inner().next()?;
                    let kind = match inner.as_rule() {
                        Rule::not_test => TestKind::NotFlag(child_token(&inner, Rule::name)?),
                        Rule::compare_test => {
                            let op_pair = child(&inner, Rule::compare_op)?;
                            let words = op_pair.as_str();
                            let op = if words.starts_with("above") {
                                CompareOp::Above
                            } else if words.starts_with("below") {
                                CompareOp::Below
                            } else if words.ends_with("least") {
                                CompareOp::AtLeast
                            } else {
                                CompareOp::AtMost
                            };
                            TestKind::Compare {
                                input: child_token(&inner, Rule::name)?,
                                op,
                                op_span: span_of(&op_pair),
                                value: child_token(&inner, Rule::quantity)?,
                            }
                        }
                        Rule::is_test => {
                            let mut names = children_tokens(&inner, Rule::name).into_iter();
                            let input = names.next()?;
                            TestKind::Is {
                                input,
                                values: names.collect(),
                            }
                        }
                        _ => TestKind::Flag(child_token(&inner, Rule::name)?),
                    };
                    Some(TestDecl {
                        kind,
                        span: test_span,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Condition { tests, span }
}

fn build_expiry<'a>(clause: &P<'a>) -> Expiry<'a> {
    let span = span_of(clause);
    let kind = match child(clause, Rule::expiry).and_then(|expiry| expiry.into_inner().next()) {
        Some(inner) if inner.as_rule() == Rule::expiry_end => {
            ExpiryKind::EndOf(child_token(&inner, Rule::name).unwrap_or_else(|| missing(span)))
        }
        Some(inner) if inner.as_rule() == Rule::expiry_after => ExpiryKind::After {
            number: child_token(&inner, Rule::number).unwrap_or_else(|| missing(span)),
            unit: child_token(&inner, Rule::name).unwrap_or_else(|| missing(span)),
        },
        _ => ExpiryKind::Never,
    };
    Expiry { kind, span }
}

fn build_grant<'a>(pair: &P<'a>) -> GrantDecl<'a> {
    let span = span_of(pair);
    let mut expires = Vec::new();
    let mut rollovers = Vec::new();
    for clause in pair.clone().into_inner() {
        match clause.as_rule() {
            Rule::expires_clause => expires.push(build_expiry(&clause)),
            Rule::rollover_clause => {
                let clause_span = span_of(&clause);
                let kind = match clause.clone().into_inner().last() {
                    Some(inner) if inner.as_rule() == Rule::rollover_up_to => {
                        let cap = child(&inner, Rule::amount).map_or_else(
                            || missing_amount(clause_span),
                            |amount| build_amount(&amount),
                        );
                        if child(&inner, Rule::rollover_while).is_some() {
                            RolloverKind::UpToWhileSubscribed(cap)
                        } else {
                            RolloverKind::UpTo(cap)
                        }
                    }
                    Some(inner) if inner.as_rule() == Rule::rollover_count => {
                        RolloverKind::Cycles {
                            number: child_token(&inner, Rule::number)
                                .unwrap_or_else(|| missing(clause_span)),
                            unit: child_token(&inner, Rule::name)
                                .unwrap_or_else(|| missing(clause_span)),
                        }
                    }
                    _ => RolloverKind::WhileSubscribed,
                };
                rollovers.push(RolloverDecl {
                    kind,
                    span: clause_span,
                });
            }
            _ => {}
        }
    }
    let every = child(pair, Rule::grant_every).and_then(|every| {
        let every_span = span_of(&every);
        let first = every.clone().into_inner().next()?;
        Some(match first.as_rule() {
            Rule::kw_daily => Every::Daily(every_span),
            Rule::kw_once => Every::Once(every_span),
            _ => Every::Every {
                word: child_token(&every, Rule::name).unwrap_or_else(|| missing(every_span)),
                span: every_span,
            },
        })
    });
    GrantDecl {
        amount: child(pair, Rule::amount)
            .map_or_else(|| missing_amount(span), |amount| build_amount(&amount)),
        every,
        kind: child(pair, Rule::grant_kind).and_then(|kind| child_token(&kind, Rule::name)),
        expires,
        rollovers,
    }
}

fn build_topup<'a>(pair: &P<'a>) -> TopupDecl<'a> {
    let mut expires = Vec::new();
    let mut requires_subscription = Vec::new();
    for clause in pair.clone().into_inner() {
        match clause.as_rule() {
            Rule::expires_clause => expires.push(build_expiry(&clause)),
            Rule::topup_requires => requires_subscription.push(span_of(&clause)),
            _ => {}
        }
    }
    TopupDecl {
        kind: child(pair, Rule::grant_kind).and_then(|kind| child_token(&kind, Rule::name)),
        expires,
        requires_subscription,
    }
}

fn build_topup_rules<'a>(pair: &P<'a>) -> Vec<TopupRuleDecl<'a>> {
    let mut rules = Vec::new();
    for clause in pair.clone().into_inner() {
        let span = span_of(&clause);
        let amount = || {
            child(&clause, Rule::amount).map_or_else(|| missing_amount(span), |a| build_amount(&a))
        };
        let kind = match clause.as_rule() {
            Rule::topup_minimum => TopupRuleKind::Minimum(amount()),
            Rule::topup_step => TopupRuleKind::Step(amount()),
            Rule::topup_packages_only => TopupRuleKind::PackagesOnly,
            _ => continue,
        };
        rules.push(TopupRuleDecl { kind, span });
    }
    rules
}

fn build_expect<'a>(pair: &P<'a>) -> ExpectDecl<'a> {
    let mut terms = Vec::new();
    let mut amounts = Vec::new();
    for part in pair.clone().into_inner() {
        match part.as_rule() {
            Rule::expect_term => terms.push(build_expect_term(&part)),
            Rule::amount => amounts.push(build_amount(&part)),
            _ => {}
        }
    }
    ExpectDecl {
        terms,
        amounts,
        refused: refused_code(pair),
    }
}

fn build_expect_term<'a>(part: &P<'a>) -> ExpectTermDecl<'a> {
    let span = span_of(part);
    ExpectTermDecl {
        count: child(part, Rule::expect_count).and_then(|count| child_token(&count, Rule::number)),
        first: child_token(part, Rule::kw_first).map(|first| first.span),
        feature: child_token(part, Rule::name).unwrap_or_else(|| missing(span)),
        args: part
            .clone()
            .into_inner()
            .filter(|child| child.as_rule() == Rule::expect_arg)
            .map(|arg| {
                let arg_span = span_of(&arg);
                ExpectArg {
                    name: child_token(&arg, Rule::name).unwrap_or_else(|| missing(arg_span)),
                    value: child(&arg, Rule::value)
                        .and_then(|value| value.into_inner().next())
                        .map_or_else(|| missing(arg_span), |value| token(&value)),
                    span: arg_span,
                }
            })
            .collect(),
        span,
    }
}

/// The code of a `refused CODE` clause among `pair`'s children.
fn refused_code<'a>(pair: &P<'a>) -> Option<Token<'a>> {
    child(pair, Rule::refused_clause).and_then(|clause| child_token(&clause, Rule::name))
}

fn build_scenario<'a>(pair: &P<'a>) -> ScenarioDecl<'a> {
    let span = span_of(pair);
    let steps = pair
        .clone()
        .into_inner()
        .filter_map(|step| build_step(&step))
        .collect();
    ScenarioDecl {
        name: child(pair, Rule::string)
            .and_then(|string| child_token(&string, Rule::string_text))
            .unwrap_or_else(|| missing(span)),
        plan: child_token(pair, Rule::name).unwrap_or_else(|| missing(span)),
        start: child(pair, Rule::scenario_start).and_then(|start| child_token(&start, Rule::date)),
        steps,
        open: child_token(pair, Rule::open_brace).map_or(span, |brace| brace.span),
        close: child_token(pair, Rule::close_brace).map_or(span, |brace| brace.span),
    }
}

fn build_step<'a>(pair: &P<'a>) -> Option<StepDecl<'a>> {
    let span = span_of(pair);
    let name = || child_token(pair, Rule::name).unwrap_or_else(|| missing(span));
    let label = || child(pair, Rule::step_label).and_then(|label| child_token(&label, Rule::name));
    let term = || child(pair, Rule::expect_term).map(|term| build_expect_term(&term));
    let kind = match pair.as_rule() {
        Rule::step_subscribe => StepKind::Subscribe(name()),
        Rule::step_top_up => match child(pair, Rule::top_up_package) {
            Some(package) => StepKind::TopUpPackage(
                child_token(&package, Rule::name).unwrap_or_else(|| missing(span)),
            ),
            None => StepKind::TopUp {
                amount: child(pair, Rule::amount).map_or_else(
                    || Amount {
                        number: missing(span),
                        unit: missing(span),
                        span,
                    },
                    |amount| build_amount(&amount),
                ),
                kind: child(pair, Rule::grant_kind).and_then(|kind| child_token(&kind, Rule::name)),
            },
        },
        Rule::step_charge => StepKind::Charge {
            term: term()?,
            label: label(),
            amounts: child(pair, Rule::step_charged)
                .map(|charged| {
                    charged
                        .into_inner()
                        .filter(|amount| amount.as_rule() == Rule::amount)
                        .map(|amount| build_amount(&amount))
                        .collect()
                })
                .unwrap_or_default(),
        },
        Rule::step_hold => StepKind::Hold {
            term: term()?,
            label: label(),
        },
        Rule::step_capture => StepKind::Capture(name()),
        Rule::step_release => StepKind::Release(name()),
        Rule::step_refund => {
            let names = children_tokens(pair, Rule::name);
            StepKind::Refund {
                charge: names.first().copied().unwrap_or_else(|| missing(span)),
                reason: names.get(1).copied().unwrap_or_else(|| missing(span)),
            }
        }
        Rule::step_cancel => StepKind::Cancel,
        Rule::step_at => {
            StepKind::At(child_token(pair, Rule::date).unwrap_or_else(|| missing(span)))
        }
        Rule::step_balance => StepKind::Balance(
            pair.clone()
                .into_inner()
                .filter(|item| item.as_rule() == Rule::balance_item)
                .map(|item| {
                    let item_span = span_of(&item);
                    BalanceDecl {
                        kind: child(&item, Rule::balance_kind)
                            .and_then(|kind| child_token(&kind, Rule::name)),
                        amount: child(&item, Rule::amount).map_or_else(
                            || Amount {
                                number: missing(item_span),
                                unit: missing(item_span),
                                span: item_span,
                            },
                            |amount| build_amount(&amount),
                        ),
                        span: item_span,
                    }
                })
                .collect(),
        ),
        _ => return None,
    };
    Some(StepDecl {
        kind,
        refused: refused_code(pair),
        span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyword list read from the grammar is complete: every rule `kw_x` is read, and
    /// each word parses as its own rule.
    #[test]
    fn keywords_are_read_from_the_grammar() {
        let words: Vec<&str> = keywords().collect();
        let rules = GRAMMAR
            .lines()
            .filter(|line| line.starts_with("kw_"))
            .count();
        assert_eq!(words.len(), rules);
        assert!(words.len() > 70, "{words:?}");
        for word in [
            "above",
            "time_zone",
            "graduated",
            "volume",
            "subscription",
            "within",
        ] {
            assert!(words.contains(&word), "{word} is missing from {words:?}");
        }
        for word in &words {
            let rule = GRAMMAR
                .lines()
                .find(|line| line.split_whitespace().next() == Some(&format!("kw_{word}")))
                .map(|_| ());
            assert!(
                rule.is_some(),
                "the rule of `{word}` is not named `kw_{word}`"
            );
        }
    }
}
