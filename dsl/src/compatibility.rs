//! What a later version of a book may not change, because accounts store state under the
//! earlier one.
//!
//! An account keeps integer amounts in minor units of each unit's `scale`, its plan by name,
//! one mark per grant keyed by `<plan>/<kind>:<unit>:<every>` (the period it last granted),
//! and buckets whose kind the plan's `order` ranks. A version that changes a scale, drops a
//! unit or a plan, drops or rekeys a grant, or leaves a kind out of an `order` would make
//! that stored state mean something else: balances divided by ten, accounts answered "not
//! found", a cycle granted twice, merged buckets spent in another order. So each version of
//! a book is checked against the one before it; everything else (prices, features, amounts,
//! expiries, rollover, packages, top-up and refund kinds still ranked, limits) may change.
//!
//! Cycles may change between monthly and yearly and caps may change freely: a yearly grant
//! is an `every cycle` grant, keyed like a monthly one, and a period is granted only when it
//! starts after the last one granted, so no key change and no cycle change can give a period
//! twice (`functions/ledger/tests/plan_lifecycle.rs`); caps act on later operations only.
//!
//! Pure: the caller hands in both versions' file names, sources and compiled books.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

use crate::ast::{self, Every, Span, StatementKind, TopKind};
use crate::book::{Grant, GrantEvery, Plan, RateBook};

/// One version of a book as read from its file.
#[derive(Debug, Clone, Copy)]
pub struct VersionFile<'a> {
    pub file_name: &'a str,
    pub source: &'a str,
    pub book: &'a RateBook,
}

/// A change a later version makes that stored accounts cannot follow. Every label points
/// into the later file; the earlier file is named in the message.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
pub enum Incompatibility {
    #[error("unit `{unit}` has scale {new_scale} here but scale {old_scale} in `{earlier_file}`")]
    #[diagnostic(
        code(rates::scale_changed),
        help(
            "balances are stored as whole numbers of the unit's smallest step, so a new scale would change every stored amount tenfold or more; keep `scale {old_scale}`, or add a new unit with the new scale"
        )
    )]
    ScaleChanged {
        unit: String,
        old_scale: u32,
        new_scale: u32,
        earlier_file: String,
        #[label("was `scale {old_scale}`")]
        span: SourceSpan,
    },

    #[error("unit `{unit}` of `{earlier_file}` is missing from this version")]
    #[diagnostic(
        code(rates::unit_removed),
        help(
            "accounts may hold balances and entries in `{unit}`; keep `unit {unit}` (a unit no feature charges costs nothing), and add a new unit for new prices"
        )
    )]
    UnitRemoved {
        unit: String,
        earlier_file: String,
        #[label("from this date `{unit}` would be gone")]
        span: SourceSpan,
    },

    #[error("plan `{plan}` of `{earlier_file}` is missing from this version")]
    #[diagnostic(
        code(rates::plan_removed),
        help(
            "accounts on `{plan}` would be answered not found, close included, and their credits stranded; keep the plan and stop selling it, or add a new plan beside it"
        )
    )]
    PlanRemoved {
        plan: String,
        earlier_file: String,
        #[label("from this date `{plan}` would be gone")]
        span: SourceSpan,
    },

    #[error("plan `{plan}` no longer grants {grant}, which it grants in `{earlier_file}`")]
    #[diagnostic(
        code(rates::grant_removed),
        help(
            "an account remembers the last period each grant gave by the grant's kind, unit and frequency; keep the grant (its amount, expiry and rollover may change), or add a new plan without it"
        )
    )]
    GrantRemoved {
        plan: String,
        /// `12000 credit every cycle as allocation`, as the earlier file wrote it.
        grant: String,
        earlier_file: String,
        #[label("this plan")]
        span: SourceSpan,
    },

    #[error(
        "plan `{plan}` grants {grant} as `{new_kind}` here but as `{old_kind}` in `{earlier_file}`"
    )]
    #[diagnostic(
        code(rates::grant_kind_changed),
        help(
            "an account remembers the last period each grant gave by the grant's kind, unit and frequency, so a new kind would grant the current period again; keep `as {old_kind}`, or add a new plan with the new kind"
        )
    )]
    GrantKindChanged {
        plan: String,
        /// `credit every cycle`.
        grant: String,
        old_kind: String,
        new_kind: String,
        earlier_file: String,
        #[label("was `as {old_kind}`")]
        span: SourceSpan,
    },

    #[error("plan `{plan}` grants {new_grant} where `{earlier_file}` grants {old_grant}")]
    #[diagnostic(
        code(rates::grant_renamed),
        help(
            "an account remembers the last period each grant gave by the grant's kind, unit and frequency, so this grant would give the current period again; keep the earlier grant as it was, or add a new plan with the new grant"
        )
    )]
    GrantRenamed {
        plan: String,
        old_grant: String,
        new_grant: String,
        earlier_file: String,
        #[label("replaces {old_grant}")]
        span: SourceSpan,
    },

    #[error(
        "plan `{plan}` no longer lists kind `{kind}` in its `order`, which `{earlier_file}` does"
    )]
    #[diagnostic(
        code(rates::order_kind_dropped),
        help(
            "accounts may hold `{kind}` credits, and a kind left out of the `order` shares the last rank with every other one left out, which can change how credits already merged are spent; keep `{kind}` in the `order`, last if it should be spent last"
        )
    )]
    OrderKindDropped {
        plan: String,
        kind: String,
        earlier_file: String,
        #[label("`{kind}` is not listed")]
        span: SourceSpan,
    },

    #[error(
        "new plan `{plan}` leaves kinds `{first}` and `{second}` out of its `order`, which no plan of `{earlier_file}` does"
    )]
    #[diagnostic(
        code(rates::order_new_tie),
        help(
            "an account may move to `{plan}` holding credits of both kinds, and kinds left out of the `order` share its last rank, which can change how credits already merged are spent; list `{first}` and `{second}` in the `order`"
        )
    )]
    OrderNewTie {
        plan: String,
        first: String,
        second: String,
        earlier_file: String,
        #[label("the `order` of `{plan}`")]
        span: SourceSpan,
    },
}

/// Every change `later` makes that accounts stored under `earlier` cannot follow, in the
/// order units, plans, grants, kinds. Empty when `later` may follow `earlier`.
pub fn compatibility(earlier: &VersionFile<'_>, later: &VersionFile<'_>) -> Vec<Incompatibility> {
    let locate = Locator::new(later.source);
    let earlier_file = earlier.file_name.to_owned();
    let mut found = Vec::new();
    for unit in &earlier.book.units {
        match later
            .book
            .units
            .iter()
            .find(|other| other.name == unit.name)
        {
            None => found.push(Incompatibility::UnitRemoved {
                unit: unit.name.clone(),
                earlier_file: earlier_file.clone(),
                span: locate.effective().into(),
            }),
            Some(other) if other.scale != unit.scale => {
                found.push(Incompatibility::ScaleChanged {
                    unit: unit.name.clone(),
                    old_scale: unit.scale,
                    new_scale: other.scale,
                    earlier_file: earlier_file.clone(),
                    span: locate.unit_scale(&unit.name).into(),
                });
            }
            Some(_) => {}
        }
    }
    for plan in &earlier.book.plans {
        match later
            .book
            .plans
            .iter()
            .find(|other| other.name == plan.name)
        {
            None => found.push(Incompatibility::PlanRemoved {
                plan: plan.name.clone(),
                earlier_file: earlier_file.clone(),
                span: locate.effective().into(),
            }),
            Some(other) => {
                grants(plan, other, &earlier_file, &locate, &mut found);
                order(plan, other, &earlier_file, &locate, &mut found);
            }
        }
    }
    new_plan_ties(earlier.book, later.book, &earlier_file, &locate, &mut found);
    found
}

/// Grants of a plan kept in `later`: every grant key of `earlier` must still be there.
fn grants(
    earlier: &Plan,
    later: &Plan,
    earlier_file: &str,
    locate: &Locator<'_>,
    found: &mut Vec<Incompatibility>,
) {
    let has = |plan: &Plan, key: &str| plan.grants.iter().any(|grant| grant.key == key);
    let mut added: Vec<&Grant> = later
        .grants
        .iter()
        .filter(|grant| !has(earlier, &grant.key))
        .collect();
    for grant in earlier
        .grants
        .iter()
        .filter(|grant| !has(later, &grant.key))
    {
        // A removed key with an added one of the same unit and frequency is a new kind; of
        // the same unit only, a new frequency. Each added grant explains one removed grant.
        let same_frequency = added
            .iter()
            .position(|other| other.unit == grant.unit && other.every == grant.every);
        let same_unit = added.iter().position(|other| other.unit == grant.unit);
        let incompatibility = match (same_frequency, same_unit) {
            (Some(index), _) => {
                let other = added.remove(index);
                Incompatibility::GrantKindChanged {
                    plan: later.name.clone(),
                    grant: format!("`{}` {}", grant.unit, every_words(grant.every)),
                    old_kind: grant.kind.clone(),
                    new_kind: other.kind.clone(),
                    earlier_file: earlier_file.to_owned(),
                    span: locate.grant_kind(&later.name, other).into(),
                }
            }
            (None, Some(index)) => {
                let other = added.remove(index);
                Incompatibility::GrantRenamed {
                    plan: later.name.clone(),
                    old_grant: describe_grant(grant),
                    new_grant: describe_grant(other),
                    earlier_file: earlier_file.to_owned(),
                    span: locate.grant(&later.name, other).into(),
                }
            }
            (None, None) => Incompatibility::GrantRemoved {
                plan: later.name.clone(),
                grant: describe_grant(grant),
                earlier_file: earlier_file.to_owned(),
                span: locate.plan(&later.name).into(),
            },
        };
        found.push(incompatibility);
    }
}

/// Every kind a kept plan ranked must stay ranked.
fn order(
    earlier: &Plan,
    later: &Plan,
    earlier_file: &str,
    locate: &Locator<'_>,
    found: &mut Vec<Incompatibility>,
) {
    for kind in &earlier.order {
        if !later.order.contains(kind) {
            found.push(Incompatibility::OrderKindDropped {
                plan: later.name.clone(),
                kind: kind.clone(),
                earlier_file: earlier_file.to_owned(),
                span: locate.order(&later.name).into(),
            });
        }
    }
}

/// Buckets merged under `earlier` stay correct only if no two kinds that could never share
/// a rank there share one now (the ledger's merge rule, `buckets.rs`). Kept plans cannot
/// leave out more than before ([`order`]); a new plan may leave out two kinds of the
/// earlier book together only if an earlier plan already did.
fn new_plan_ties(
    earlier: &RateBook,
    later: &RateBook,
    earlier_file: &str,
    locate: &Locator<'_>,
    found: &mut Vec<Incompatibility>,
) {
    let mut kinds: Vec<&String> = earlier.plans.iter().flat_map(|plan| &plan.order).collect();
    kinds.sort();
    kinds.dedup();
    let tied_before = |first: &String, second: &String| {
        earlier
            .plans
            .iter()
            .any(|plan| !plan.order.contains(first) && !plan.order.contains(second))
    };
    let new_plans = later
        .plans
        .iter()
        .filter(|plan| !earlier.plans.iter().any(|other| other.name == plan.name));
    for plan in new_plans {
        let left_out: Vec<&String> = kinds
            .iter()
            .copied()
            .filter(|kind| !plan.order.contains(kind))
            .collect();
        // Reported once per plan, for the first pair: listing both fixes it.
        let pair = left_out.iter().enumerate().find_map(|(index, first)| {
            left_out
                .iter()
                .skip(index.saturating_add(1))
                .find(|second| !tied_before(first, second))
                .map(|second| (*first, *second))
        });
        if let Some((first, second)) = pair {
            found.push(Incompatibility::OrderNewTie {
                plan: plan.name.clone(),
                first: first.clone(),
                second: second.clone(),
                earlier_file: earlier_file.to_owned(),
                span: locate.order(&plan.name).into(),
            });
        }
    }
}

fn every_words(every: GrantEvery) -> &'static str {
    match every {
        GrantEvery::Day => "daily",
        GrantEvery::Cycle => "every cycle",
        GrantEvery::Once => "once",
    }
}

/// `` `credit` every cycle as `allocation` ``.
fn describe_grant(grant: &Grant) -> String {
    format!(
        "`{}` {} as `{}`",
        grant.unit,
        every_words(grant.every),
        grant.kind
    )
}

/// Finds statements of a file that compiled, for labels. Whatever cannot be found (it
/// cannot happen for a compiled book) is labelled at the start of the file.
struct Locator<'a> {
    file: Option<ast::File<'a>>,
}

impl<'a> Locator<'a> {
    fn new(source: &'a str) -> Self {
        Locator {
            file: crate::parse::parse(source).ok(),
        }
    }

    fn tops(&self) -> impl Iterator<Item = &ast::Top<'a>> {
        self.file.iter().flat_map(|file| &file.statements)
    }

    fn effective(&self) -> Span {
        self.tops()
            .find_map(|top| match &top.kind {
                TopKind::Effective(date) => Some(date.span),
                _ => None,
            })
            .unwrap_or_default()
    }

    fn unit_scale(&self, unit: &str) -> Span {
        self.tops()
            .find_map(|top| match &top.kind {
                TopKind::Unit(decl) if decl.name.text == unit => Some(
                    decl.scales
                        .first()
                        .map_or(decl.name.span, |scale| scale.span),
                ),
                _ => None,
            })
            .unwrap_or_else(|| self.effective())
    }

    fn plan_block(&self, plan: &str) -> Option<&ast::Block<'a>> {
        self.tops().find_map(|top| match &top.kind {
            TopKind::Plan(block) if block.name.text == plan => Some(block),
            _ => None,
        })
    }

    fn plan(&self, plan: &str) -> Span {
        self.plan_block(plan)
            .map_or_else(|| self.effective(), |block| block.name.span)
    }

    fn statements(&self, plan: &str) -> impl Iterator<Item = &ast::Statement<'a>> {
        self.plan_block(plan)
            .into_iter()
            .flat_map(|block| &block.body)
    }

    /// A plan's `order` statement, or its name when it has none.
    fn order(&self, plan: &str) -> Span {
        self.statements(plan)
            .find_map(|statement| match statement.kind {
                StatementKind::Order(_) => Some(statement.span),
                _ => None,
            })
            .unwrap_or_else(|| self.plan(plan))
    }

    fn grant_decl(
        &self,
        plan: &str,
        grant: &Grant,
    ) -> Option<(&ast::Statement<'a>, &ast::GrantDecl<'a>)> {
        self.statements(plan)
            .find_map(|statement| match &statement.kind {
                StatementKind::Grant(decl)
                    if decl.amount.unit.text == grant.unit
                        && decl.kind.is_some_and(|kind| kind.text == grant.kind)
                        && decl.every.as_ref().and_then(every_of) == Some(grant.every) =>
                {
                    Some((statement, decl))
                }
                _ => None,
            })
    }

    fn grant(&self, plan: &str, grant: &Grant) -> Span {
        self.grant_decl(plan, grant)
            .map_or_else(|| self.plan(plan), |(statement, _)| statement.span)
    }

    fn grant_kind(&self, plan: &str, grant: &Grant) -> Span {
        self.grant_decl(plan, grant)
            .and_then(|(_, decl)| decl.kind.map(|kind| kind.span))
            .unwrap_or_else(|| self.grant(plan, grant))
    }
}

fn every_of(every: &Every<'_>) -> Option<GrantEvery> {
    match every {
        Every::Daily(_) => Some(GrantEvery::Day),
        Every::Once(_) => Some(GrantEvery::Once),
        Every::Every { word, .. } => match word.text {
            "cycle" => Some(GrantEvery::Cycle),
            "day" => Some(GrantEvery::Day),
            _ => None,
        },
    }
}
