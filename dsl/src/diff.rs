//! What changes between two versions of a rate book: features, inputs, rules and plans, and
//! — what a product manager really asks — which prices change, shown on the examples.
//!
//! Every `expect` of either book that both books can rate is rated by both; those whose
//! amounts differ are listed with old and new amounts.

use std::fmt;

use rust_decimal::Decimal;

use crate::book::{
    Expect, ExpectTerm, Feature, Input, InputKind, InputValue, Plan, RateBook, UnitDef, Usage,
};
use crate::describe;
use crate::expect::{describe as describe_expect, totals};
use crate::literal;

mod pricing;

/// Something named that was added, removed, or changed in the listed ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Removed(String),
    Changed { name: String, details: Vec<String> },
}

/// An example whose price differs between the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChange {
    /// The example's usage, `660 × image(model: standard)`.
    pub example: String,
    /// Totals per unit (sorted by unit, zero totals left out).
    pub old: Vec<(String, Decimal)>,
    pub new: Vec<(String, Decimal)>,
}

/// An example one of the books cannot rate (its feature, input or choice is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotComparable {
    pub example: String,
    pub reason: String,
}

/// A request whose refusal differs between the books (refused with another code, or no
/// longer refused, or newly refused): `expect … refused` examples of either book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalChange {
    /// The request, `video(duration: 5h)`.
    pub example: String,
    /// `refused above-maximum`, `charged 40 credit`.
    pub old: String,
    pub new: String,
}

/// The differences between two versions of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookDiff {
    pub old_version: String,
    pub new_version: String,
    /// Header changes: name, title, effective date, time zone, channels.
    pub header: Vec<String>,
    pub units: Vec<Change>,
    pub features: Vec<Change>,
    pub plans: Vec<Change>,
    /// Examples whose amounts change, in the order met (old book's first).
    pub prices: Vec<PriceChange>,
    /// Examples rated by both books with the same result.
    pub unchanged_examples: usize,
    pub not_comparable: Vec<NotComparable>,
    /// Refused examples whose outcome changes, in the order met (old book's first).
    pub refusals: Vec<RefusalChange>,
}

impl BookDiff {
    /// Whether nothing at all differs (the version hashes aside).
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
            && self.units.is_empty()
            && self.features.is_empty()
            && self.plans.is_empty()
            && self.prices.is_empty()
            && self.not_comparable.is_empty()
            && self.refusals.is_empty()
    }
}

/// Compares two versions of a book.
pub fn diff(old: &RateBook, new: &RateBook) -> BookDiff {
    let mut header = Vec::new();
    if old.name != new.name {
        header.push(format!("book `{}` → `{}`", old.name, new.name));
    }
    if old.title != new.title {
        header.push(format!(
            "title {} → {}",
            quoted(old.title.as_deref()),
            quoted(new.title.as_deref())
        ));
    }
    if old.effective != new.effective {
        header.push(format!("effective {} → {}", old.effective, new.effective));
    }
    if old.time_zone != new.time_zone {
        header.push(format!(
            "time zone `{}` → `{}`",
            old.time_zone, new.time_zone
        ));
    }
    if old.channels != new.channels {
        let show = |book: &RateBook| match &book.channels {
            Some(channels) => format!(
                "{} (default `{}`)",
                list(channels.names.iter()),
                channels.default
            ),
            None => "none".to_owned(),
        };
        header.push(format!("channels {} → {}", show(old), show(new)));
    }

    let units = compare_named(&old.units, &new.units, |unit| &unit.name, unit_details);
    let features = compare_named(&old.features, &new.features, |f| &f.name, feature_details);
    let plans = compare_named(
        &old.plans,
        &new.plans,
        |plan| &plan.name,
        |before, after| plan_details(old, new, before, after),
    );

    let mut prices = Vec::new();
    let mut not_comparable = Vec::new();
    let mut unchanged_examples = 0usize;
    let mut seen: Vec<String> = Vec::new();
    let examples = old
        .expects
        .iter()
        .map(|expect| (expect, old))
        .chain(new.expects.iter().map(|expect| (expect, new)));
    for (expect, from) in examples {
        let example = describe_terms(from, &expect.terms);
        // An example written the same way in both books is compared once.
        if seen.contains(&example) {
            continue;
        }
        seen.push(example.clone());
        match compare_example(old, new, expect) {
            Ok((before, after)) if before == after => unchanged_examples += 1,
            Ok((before, after)) => prices.push(PriceChange {
                example,
                old: before,
                new: after,
            }),
            Err(reason) => not_comparable.push(NotComparable { example, reason }),
        }
    }

    let refusals = refusal_changes(old, new);

    BookDiff {
        refusals,
        old_version: old.rates_version.clone(),
        new_version: new.rates_version.clone(),
        header,
        units,
        features,
        plans,
        prices,
        unchanged_examples,
        not_comparable,
    }
}

/// Each refused example of either book, sent to both: those whose outcome differs.
fn refusal_changes(old: &RateBook, new: &RateBook) -> Vec<RefusalChange> {
    let mut changes = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for refusal in old.refusals.iter().chain(new.refusals.iter()) {
        let example = refusal.source.trim_start_matches("expect ");
        let example = example
            .rsplit_once(" refused ")
            .map_or(example, |(request, _)| request);
        if seen.contains(&example) {
            continue;
        }
        seen.push(example);
        let before = crate::scenario::refusal_outcome(old, &refusal.request).describe();
        let after = crate::scenario::refusal_outcome(new, &refusal.request).describe();
        if before != after {
            changes.push(RefusalChange {
                example: example.to_owned(),
                old: before,
                new: after,
            });
        }
    }
    changes
}

/// Totals per unit, sorted by unit.
type Totals = Vec<(String, Decimal)>;

fn compare_example(
    old: &RateBook,
    new: &RateBook,
    expect: &Expect,
) -> Result<(Totals, Totals), String> {
    for term in &expect.terms {
        rateable(old, &term.usage).map_err(|reason| format!("old book: {reason}"))?;
        rateable(new, &term.usage).map_err(|reason| format!("new book: {reason}"))?;
        if let Some(plan) = &term.plan {
            for (which, book) in [("old", old), ("new", new)] {
                if book.plan(plan).is_none() {
                    return Err(format!("{which} book: no plan `{plan}`"));
                }
            }
        }
    }
    let before = totals(old, expect).map_err(|reason| format!("old book: {reason}"))?;
    let after = totals(new, expect).map_err(|reason| format!("new book: {reason}"))?;
    Ok((before, after))
}

/// Whether `book` understands every part of `usage`: rating alone would quietly ignore an
/// input the book no longer has, and report a price for a different usage.
fn rateable(book: &RateBook, usage: &Usage) -> Result<(), String> {
    let feature = book
        .feature(&usage.feature)
        .ok_or_else(|| format!("no feature `{}`", usage.feature))?;
    if let Some(channel) = &usage.channel {
        let known = book
            .channels
            .as_ref()
            .is_some_and(|channels| channels.names.contains(channel));
        if !known {
            return Err(format!("no channel `{channel}`"));
        }
    }
    for (name, value) in &usage.inputs {
        let input = feature
            .inputs
            .iter()
            .find(|input| input.name == *name)
            .ok_or_else(|| format!("`{}` has no input `{name}`", feature.name))?;
        let fits = match (&input.kind, value) {
            (InputKind::Choice(names), InputValue::Choice(choice)) => names.contains(choice),
            (InputKind::Flag, InputValue::Flag(_)) => true,
            (InputKind::Choice(_) | InputKind::Flag, _) => false,
            (_, InputValue::Quantity(quantity)) => {
                !crate::usage::is_below_minimum(input, *quantity)
                    && input.max.is_none_or(|max| *quantity <= max)
                    && (input.allowed.is_empty() || input.allowed.contains(quantity))
            }
            (_, _) => false,
        };
        if !fits {
            return Err(format!(
                "`{}` of `{}` does not accept this value",
                name, feature.name
            ));
        }
    }
    for input in &feature.inputs {
        if input.default.is_none() && !usage.inputs.contains_key(&input.name) {
            return Err(format!("`{}` needs input `{}`", feature.name, input.name));
        }
    }
    Ok(())
}

/// `660 × image(model: standard) + 220 × video(model: standard)`.
pub fn describe_terms(book: &RateBook, terms: &[ExpectTerm]) -> String {
    let parts: Vec<String> = terms
        .iter()
        .map(|term| {
            let mut text = String::new();
            if term.count != 1 {
                text.push_str(&format!("{} × ", term.count));
            }
            if term.first_request {
                text.push_str("first ");
            }
            text.push_str(&describe_term_usage(book, term));
            text
        })
        .collect();
    parts.join(" + ")
}

/// `generative_video(duration: 3m30s, model: pro)`.
pub fn describe_usage(book: &RateBook, usage: &Usage) -> String {
    let feature = book.feature(&usage.feature);
    let mut arguments: Vec<String> = usage
        .inputs
        .iter()
        .map(|(name, value)| {
            let kind = feature
                .and_then(|feature| feature.inputs.iter().find(|input| input.name == *name))
                .map(|input| &input.kind);
            format!("{name}: {}", describe_value(kind, value))
        })
        .collect();
    if let Some(channel) = &usage.channel {
        arguments.push(format!("channel: {channel}"));
    }
    format!("{}({})", usage.feature, arguments.join(", "))
}

/// [`describe_usage`] with the plan an example names (`video(duration: 1h, plan: business)`).
fn describe_term_usage(book: &RateBook, term: &ExpectTerm) -> String {
    let text = describe_usage(book, &term.usage);
    match (&term.plan, text.strip_suffix(')')) {
        (Some(plan), Some(open)) if open.ends_with('(') => format!("{open}plan: {plan})"),
        (Some(plan), Some(open)) => format!("{open}, plan: {plan})"),
        _ => text,
    }
}

fn describe_value(kind: Option<&InputKind>, value: &InputValue) -> String {
    match value {
        // Durations and data read best as literals (`3m30s`, `2 GB`); counted things as the
        // bare number, as examples write them (`words: 250`).
        InputValue::Quantity(quantity) => match kind {
            Some(kind @ (InputKind::Duration | InputKind::Data)) => {
                literal::format_quantity(kind, *quantity)
            }
            _ => quantity.normalize().to_string(),
        },
        InputValue::Choice(choice) => choice.clone(),
        InputValue::Flag(true) => "yes".to_owned(),
        InputValue::Flag(false) => "no".to_owned(),
    }
}

fn compare_named<T>(
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
    details: impl Fn(&T, &T) -> Vec<String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for before in old {
        match new.iter().find(|after| name(after) == name(before)) {
            None => changes.push(Change::Removed(name(before).clone())),
            // Compared by meaning: a rule that only moved to another line is no change.
            Some(after) => {
                let found = details(before, after);
                if !found.is_empty() {
                    changes.push(Change::Changed {
                        name: name(before).clone(),
                        details: found,
                    });
                }
            }
        }
    }
    for after in new {
        if !old.iter().any(|before| name(before) == name(after)) {
            changes.push(Change::Added(name(after).clone()));
        }
    }
    changes
}

fn unit_details(old: &UnitDef, new: &UnitDef) -> Vec<String> {
    let mut details = Vec::new();
    if old.scale != new.scale {
        details.push(format!("scale {} → {}", old.scale, new.scale));
    }
    if old.rounding != new.rounding {
        details.push(format!(
            "rounding {} → {}",
            rounding_word(old.rounding),
            rounding_word(new.rounding)
        ));
    }
    details
}

fn rounding_word(mode: Option<crate::book::RoundingMode>) -> &'static str {
    use crate::book::RoundingMode;
    match mode {
        None => "not stated",
        Some(RoundingMode::Up) => "up",
        Some(RoundingMode::Down) => "down",
        Some(RoundingMode::HalfUp) => "half-up",
        Some(RoundingMode::HalfEven) => "half-even",
        Some(RoundingMode::HalfDown) => "half-down",
    }
}

fn feature_details(old: &Feature, new: &Feature) -> Vec<String> {
    let mut details = Vec::new();
    if old.title != new.title {
        details.push(format!(
            "title {} → {}",
            quoted(old.title.as_deref()),
            quoted(new.title.as_deref())
        ));
    }
    for change in compare_named(&old.inputs, &new.inputs, |input| &input.name, input_details) {
        details.push(match change {
            Change::Added(name) => format!("input added: `{name}`"),
            Change::Removed(name) => format!("input removed: `{name}`"),
            Change::Changed { name, details } => {
                format!("input `{name}` changed: {}", details.join(", "))
            }
        });
    }
    details.extend(pricing::rule_changes(&old.rules, &new.rules));
    details.extend(pricing::factor_changes(&old.factors, &new.factors));
    let mut note = |changed: bool, what: &str, show: fn(&Feature) -> String| {
        if changed {
            details.push(format!("{what} {} → {}", show(old), show(new)));
        }
    };
    note(
        old.minimum_quantities != new.minimum_quantities,
        "minimum quantities",
        describe::minimum_quantities,
    );
    note(
        old.quantity_rounding != new.quantity_rounding,
        "quantity rounding",
        describe::quantity_rounding,
    );
    note(
        old.multipliers != new.multipliers,
        "`multiply by`",
        |feature| describe::names(&feature.multipliers),
    );
    note(
        old.amount_rounding != new.amount_rounding,
        "amount rounding",
        describe::amount_rounding,
    );
    note(
        old.minimum_amounts != new.minimum_amounts,
        "minimum charge",
        describe::minimum_amounts,
    );
    note(
        old.requires_prior != new.requires_prior,
        "required prior analysis",
        |feature| describe::names(&feature.requires_prior),
    );
    note(
        old.derived != new.derived,
        "derived quantities",
        describe::derived_quantities,
    );
    note(
        old.maximum_quantities != new.maximum_quantities,
        "maximum quantities",
        describe::maximum_quantities,
    );
    note(old.refusals != new.refusals, "refusals", describe::refusals);
    if old.first_request_free != new.first_request_free {
        details.push(if new.first_request_free {
            "first request now free".to_owned()
        } else {
            "first request no longer free".to_owned()
        });
    }
    let (old_outcomes, new_outcomes) = (describe::outcomes(old), describe::outcomes(new));
    if old_outcomes != new_outcomes {
        details.push(format!("outcomes {old_outcomes} → {new_outcomes}"));
    }
    details
}

fn input_details(old: &Input, new: &Input) -> Vec<String> {
    let mut details = Vec::new();
    if old.kind != new.kind {
        details.push(format!(
            "kind {} → {}",
            describe_kind(&old.kind),
            describe_kind(&new.kind)
        ));
    }
    if old.default != new.default {
        let show = |input: &Input| match &input.default {
            Some(value) => describe_value(Some(&input.kind), value),
            None => "none".to_owned(),
        };
        details.push(format!("default {} → {}", show(old), show(new)));
    }
    if old.min != new.min {
        // No `min` means "above zero", which is how the change reads to a reviewer.
        let show = |input: &Input| match input.min {
            Some(min) => literal::format_quantity(&input.kind, min),
            None => "none (above zero)".to_owned(),
        };
        details.push(format!("min {} → {}", show(old), show(new)));
    }
    if old.max != new.max {
        let show = |input: &Input| match input.max {
            Some(max) => literal::format_quantity(&input.kind, max),
            None => "none".to_owned(),
        };
        details.push(format!("max {} → {}", show(old), show(new)));
    }
    if old.allowed != new.allowed {
        details.push(format!(
            "allowed values {} → {}",
            describe::allowed(old),
            describe::allowed(new)
        ));
    }
    details
}

fn describe_kind(kind: &InputKind) -> String {
    match kind {
        InputKind::Choice(names) => format!("choice({})", names.join(", ")),
        other => literal::kind_name(other).to_owned(),
    }
}

/// Every changed value of a plan as old → new, in the language's words; `old_book` and
/// `new_book` give the units' scales.
fn plan_details(old_book: &RateBook, new_book: &RateBook, old: &Plan, new: &Plan) -> Vec<String> {
    let mut details = Vec::new();
    let mut note = |changed: bool, what: &str, show: &dyn Fn(&RateBook, &Plan) -> String| {
        if changed {
            details.push(format!(
                "{what} {} → {}",
                show(old_book, old),
                show(new_book, new)
            ));
        }
    };
    note(old.title != new.title, "title", &|_, plan| {
        quoted(plan.title.as_deref())
    });
    note(old.cycle != new.cycle, "cycle", &|_, plan| {
        describe::cycle(plan.cycle)
    });
    note(old.periods != new.periods, "periods", &|_, plan| {
        describe::periods(&plan.periods)
    });
    note(old.order != new.order, "consumption order", &|_, plan| {
        describe::names(&plan.order)
    });
    note(old.topup != new.topup, "top-up policy", &|_, plan| {
        describe::topup(plan.topup.as_ref())
    });
    note(old.packages != new.packages, "packages", &|book, plan| {
        describe::packages(book, &plan.packages)
    });
    note(old.gates != new.gates, "subscription gates", &|_, plan| {
        describe::gates(&plan.gates)
    });
    note(
        old.credit_line_minor != new.credit_line_minor,
        "credit line",
        &|book, plan| {
            describe::per_unit(
                book,
                plan.credit_line_minor
                    .iter()
                    .map(|(unit, minor)| (unit, std::slice::from_ref(minor))),
            )
        },
    );
    note(
        old.alerts_minor != new.alerts_minor,
        "alerts",
        &|book, plan| {
            describe::per_unit(
                book,
                plan.alerts_minor
                    .iter()
                    .map(|(unit, minors)| (unit, minors.as_slice())),
            )
        },
    );
    note(old.refund != new.refund, "refund policy", &|_, plan| {
        describe::refund(plan.refund.as_ref())
    });
    note(old.limits != new.limits, "limits", &|_, plan| {
        describe::limits(&plan.limits)
    });
    note(old.caps != new.caps, "caps", &|book, plan| {
        describe::caps(book, &plan.caps)
    });
    note(
        old.late_usage_seconds != new.late_usage_seconds,
        "late usage window",
        &|_, plan| window_words(plan.late_usage_seconds),
    );
    note(
        old.topup_rules != new.topup_rules,
        "top-up rules",
        &|book, plan| describe::topup_rules(book, &plan.topup_rules),
    );
    note(
        old.expiry_warning_seconds != new.expiry_warning_seconds,
        "expiry warning",
        &|_, plan| window_words(plan.expiry_warning_seconds),
    );
    note(
        old.auto_topup != new.auto_topup,
        "auto topup",
        &|book, plan| {
            if plan.auto_topup.is_empty() {
                return "none".to_owned();
            }
            plan.auto_topup
                .iter()
                .map(|(unit, rule)| {
                    format!(
                        "below {} package {}",
                        describe::amount(book, unit, rule.below_minor),
                        rule.package
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    details.extend(grant_details(old_book, new_book, old, new));
    details
}

/// A plan's window in the words the book wrote it (`3 days`, `12 hours`), or `none`: both
/// windows (`late usage within`, `warn before expiry`) are whole days or whole hours.
fn window_words(seconds: Option<u32>) -> String {
    match seconds {
        None => "none".to_owned(),
        Some(seconds) if seconds % 86_400 == 0 => format!("{} days", seconds / 86_400),
        Some(seconds) => format!("{} hours", seconds / 3_600),
    }
}

/// Grants compare by their key (kind, unit and frequency): a changed amount, expiry or
/// rollover reads as one grant old → new.
fn grant_details(old_book: &RateBook, new_book: &RateBook, old: &Plan, new: &Plan) -> Vec<String> {
    let mut details = Vec::new();
    for before in &old.grants {
        match new.grants.iter().find(|after| after.key == before.key) {
            None => details.push(format!(
                "grant removed: {}",
                describe::grant(old_book, before)
            )),
            Some(after) if after != before => details.push(format!(
                "grant {} → {}",
                describe::grant(old_book, before),
                describe::grant(new_book, after)
            )),
            Some(_) => {}
        }
    }
    for after in &new.grants {
        if !old.grants.iter().any(|before| before.key == after.key) {
            details.push(format!("grant added: {}", describe::grant(new_book, after)));
        }
    }
    details
}

fn quoted(text: Option<&str>) -> String {
    match text {
        Some(text) => format!("\"{text}\""),
        None => "none".to_owned(),
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let parts: Vec<String> = names.map(|name| format!("`{name}`")).collect();
    parts.join(", ")
}

fn write_changes(f: &mut fmt::Formatter<'_>, title: &str, changes: &[Change]) -> fmt::Result {
    if changes.is_empty() {
        return Ok(());
    }
    writeln!(f, "{title}:")?;
    for change in changes {
        match change {
            Change::Added(name) => writeln!(f, "  + {name}")?,
            Change::Removed(name) => writeln!(f, "  - {name}")?,
            Change::Changed { name, details } => {
                writeln!(f, "  ~ {name}")?;
                for detail in details {
                    writeln!(f, "      {detail}")?;
                }
            }
        }
    }
    Ok(())
}

impl fmt::Display for BookDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} → {}", self.old_version, self.new_version)?;
        for line in &self.header {
            writeln!(f, "  {line}")?;
        }
        write_changes(f, "units", &self.units)?;
        write_changes(f, "features", &self.features)?;
        write_changes(f, "plans", &self.plans)?;
        let compared = self.prices.len() + self.unchanged_examples;
        if self.prices.is_empty() {
            writeln!(f, "prices: no example changes price ({compared} compared)")?;
        } else {
            writeln!(
                f,
                "prices that change ({} of {compared} examples):",
                self.prices.len()
            )?;
            for change in &self.prices {
                writeln!(
                    f,
                    "  {}: {} → {}",
                    change.example,
                    describe_expect(&change.old),
                    describe_expect(&change.new)
                )?;
            }
        }
        if !self.refusals.is_empty() {
            writeln!(f, "refusals that change:")?;
            for change in &self.refusals {
                writeln!(f, "  {}: {} → {}", change.example, change.old, change.new)?;
            }
        }
        if !self.not_comparable.is_empty() {
            writeln!(f, "examples only one book can rate:")?;
            for example in &self.not_comparable {
                writeln!(f, "  {}: {}", example.example, example.reason)?;
            }
        }
        Ok(())
    }
}
