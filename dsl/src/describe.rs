//! Parts of a compiled book written back in the language's own words (`100 credit daily as
//! free, expires end of day`), so that `diff` can show every changed value as old → new.

use rust_decimal::Decimal;

use crate::book::{
    Caps, Condition, Cycle, DerivedOperator, DerivedTerm, ExpiredRefund, Expiry, Feature, Gate,
    Grant, GrantEvery, Input, InputKind, Limits, Package, QuantityDirection, RateBook,
    RefundPolicy, Rollover, RoundingMode, SubscriptionPeriod, Test, TopUpPolicy,
};
use crate::literal;

/// `100 credit`: an amount in minor units at its unit's scale (the raw minor units when the
/// book does not know the unit).
pub(crate) fn amount(book: &RateBook, unit: &str, amount_minor: i64) -> String {
    let scale = book.unit(unit).map_or(0, |unit| unit.scale);
    let value = Decimal::try_new(amount_minor, scale).unwrap_or(Decimal::from(amount_minor));
    format!("{} {unit}", value.normalize())
}

/// `model is pro or ultra and not hd`; `always` for no condition.
pub(crate) fn condition(condition: &Condition) -> String {
    if condition.all.is_empty() {
        return "always".to_owned();
    }
    let tests: Vec<String> = condition
        .all
        .iter()
        .map(|test| match test {
            Test::OneOf { input, values } => format!("{input} is {}", values.join(" or ")),
            Test::Flag {
                input,
                expected: true,
            } => input.clone(),
            Test::Flag {
                input,
                expected: false,
            } => format!("not {input}"),
            Test::Compare {
                input,
                op,
                quantity,
            } => format!("{input} {} {quantity}", op.words()),
        })
        .collect();
    tests.join(" and ")
}

pub(crate) fn expiry(expiry: Expiry) -> String {
    match expiry {
        Expiry::Never => "never".to_owned(),
        Expiry::EndOfDay => "end of day".to_owned(),
        Expiry::EndOfCycle => "end of cycle".to_owned(),
        Expiry::AfterDays(days) => format!("after {days} days"),
        Expiry::AfterCycles(cycles) => format!("after {cycles} cycles"),
    }
}

pub(crate) fn cycle(cycle: Option<Cycle>) -> String {
    match cycle {
        None => "none".to_owned(),
        Some(Cycle::MonthlyCalendar) => "monthly calendar".to_owned(),
        Some(Cycle::MonthlyFromPurchase) => "monthly from purchase".to_owned(),
        Some(Cycle::YearlyCalendar) => "yearly calendar".to_owned(),
        Some(Cycle::YearlyFromPurchase) => "yearly from purchase".to_owned(),
    }
}

pub(crate) fn periods(periods: &[SubscriptionPeriod]) -> String {
    let words: Vec<&str> = periods
        .iter()
        .map(|period| match period {
            SubscriptionPeriod::Monthly => "monthly",
            SubscriptionPeriod::Quarterly => "quarterly",
            SubscriptionPeriod::Yearly => "yearly",
        })
        .collect();
    or_none(words.join(", "))
}

/// `100 credit daily as free, expires end of day`, as a `grant` line reads.
pub(crate) fn grant(book: &RateBook, grant: &Grant) -> String {
    let every = match grant.every {
        GrantEvery::Day => "daily",
        GrantEvery::Cycle => "every cycle",
        GrantEvery::Once => "once",
    };
    let mut text = format!(
        "{} {every} as {}, expires {}",
        amount(book, &grant.unit, grant.amount_minor),
        grant.kind,
        expiry(grant.expires)
    );
    match &grant.rollover {
        None => {}
        Some(Rollover::WhileSubscribed) => text.push_str(", rolls over while subscribed"),
        Some(Rollover::Cycles { cycles }) => {
            text.push_str(&format!(", rolls over {cycles} cycles"));
        }
        Some(Rollover::UpTo { amount_minor }) => text.push_str(&format!(
            ", rolls over up to {}",
            amount(book, &grant.unit, *amount_minor)
        )),
        Some(Rollover::UpToWhileSubscribed { amount_minor }) => text.push_str(&format!(
            ", rolls over up to {} while subscribed",
            amount(book, &grant.unit, *amount_minor)
        )),
    }
    text
}

pub(crate) fn topup(topup: Option<&TopUpPolicy>) -> String {
    match topup {
        None => "none".to_owned(),
        Some(topup) => format!(
            "as {}, expires {}{}",
            topup.kind,
            expiry(topup.expires),
            if topup.requires_subscription {
                ", requires subscription"
            } else {
                ""
            }
        ),
    }
}

pub(crate) fn packages(book: &RateBook, packages: &[Package]) -> String {
    let parts: Vec<String> = packages
        .iter()
        .map(|package| {
            let price = package
                .price
                .as_ref()
                .map(|price| format!(" for {}", price.display()))
                .unwrap_or_default();
            format!(
                "{} {}{price}",
                package.name,
                amount(book, &package.unit, package.amount_minor)
            )
        })
        .collect();
    or_none(parts.join(", "))
}

pub(crate) fn gates(gates: &[Gate]) -> String {
    let parts: Vec<String> = gates
        .iter()
        .map(|gate| {
            if gate.when.all.is_empty() {
                gate.feature.clone()
            } else {
                format!("{} when {}", gate.feature, condition(&gate.when))
            }
        })
        .collect();
    or_none(parts.join(", "))
}

/// Per-unit amounts (a credit line, alert thresholds), `none` when empty.
pub(crate) fn per_unit<'a>(
    book: &RateBook,
    amounts: impl Iterator<Item = (&'a String, &'a [i64])>,
) -> String {
    let parts: Vec<String> = amounts
        .flat_map(|(unit, minors)| minors.iter().map(move |minor| amount(book, unit, *minor)))
        .collect();
    or_none(parts.join(", "))
}

pub(crate) fn refund(refund: Option<&RefundPolicy>) -> String {
    let Some(refund) = refund else {
        return "none".to_owned();
    };
    let expired = match &refund.expired {
        ExpiredRefund::Forfeit => "forfeit".to_owned(),
        ExpiredRefund::Restore { kind, expires } => {
            format!("as {kind}, expires {}", expiry(*expires))
        }
    };
    format!(
        "within {} days for {}; expired {expired}",
        refund.window_days,
        refund.reasons.join(", ")
    )
}

pub(crate) fn limits(limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(requests) = limits.requests {
        let per = match requests.per_seconds {
            1 => "second".to_owned(),
            60 => "minute".to_owned(),
            3600 => "hour".to_owned(),
            seconds => format!("{seconds} seconds"),
        };
        parts.push(format!("{} requests per {per}", requests.requests));
    }
    if let Some(holds) = limits.concurrent_holds {
        parts.push(format!("{holds} concurrent holds"));
    }
    or_none(parts.join(", "))
}

/// `balance at most 50000 credit, 100 credit per day, 20 credit per request`: a plan's caps
/// as its statements read.
pub(crate) fn caps(book: &RateBook, caps: &Caps) -> String {
    let mut parts = Vec::new();
    for (unit, minor) in &caps.balance_max_minor {
        parts.push(format!("balance at most {}", amount(book, unit, *minor)));
    }
    for limit in &caps.spend {
        parts.push(format!(
            "{} per {}",
            amount(book, &limit.unit, limit.amount_minor),
            crate::check::spend_period_word(limit.period)
        ));
    }
    for (unit, minor) in &caps.per_request_minor {
        parts.push(format!("{} per request", amount(book, unit, *minor)));
    }
    or_none(parts.join(", "))
}

/// `30s of duration when ad`, each `minimum` quantity of a feature.
pub(crate) fn minimum_quantities(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .minimum_quantities
        .iter()
        .map(|minimum| {
            let mut text = format!(
                "{} of {}",
                quantity(feature, &minimum.input, minimum.quantity),
                minimum.input
            );
            if !minimum.when.all.is_empty() {
                text.push_str(&format!(" when {}", condition(&minimum.when)));
            }
            text
        })
        .collect();
    or_none(parts.join(", "))
}

/// `duration up to 1s`, each quantity `round` of a feature.
pub(crate) fn quantity_rounding(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .quantity_rounding
        .iter()
        .map(|rounding| {
            let direction = match rounding.direction {
                QuantityDirection::Up => "up",
                QuantityDirection::Down => "down",
                QuantityDirection::Nearest => "nearest",
            };
            format!(
                "{} {direction} to {}",
                rounding.input,
                quantity(feature, &rounding.input, rounding.step)
            )
        })
        .collect();
    or_none(parts.join(", "))
}

/// `credit to 0.01 half-up`, each unit's amount rounding.
pub(crate) fn amount_rounding(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .amount_rounding
        .iter()
        .map(|rounding| {
            format!(
                "{} to {} {}",
                rounding.unit,
                rounding.precision.normalize(),
                mode(rounding.mode)
            )
        })
        .collect();
    or_none(parts.join(", "))
}

/// `1 credit`, each unit's minimum charge.
pub(crate) fn minimum_amounts(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .minimum_amounts
        .iter()
        .map(|minimum| format!("{} {}", minimum.amount.normalize(), minimum.unit))
        .collect();
    or_none(parts.join(", "))
}

/// Names as a list (`outputs, variants`), `none` when empty.
pub(crate) fn names(names: &[String]) -> String {
    or_none(names.join(", "))
}

fn quantity(feature: &Feature, input: &str, value: Decimal) -> String {
    let kind = feature
        .inputs
        .iter()
        .chain(feature.derived.iter().map(|derived| &derived.input))
        .find(|known| known.name == input)
        .map_or(&InputKind::Count, |known| &known.kind);
    literal::format_quantity(kind, value)
}

fn mode(mode: RoundingMode) -> &'static str {
    match mode {
        RoundingMode::Up => "up",
        RoundingMode::Down => "down",
        RoundingMode::HalfUp => "half-up",
        RoundingMode::HalfEven => "half-even",
        RoundingMode::HalfDown => "half-down",
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "none".to_owned()
    } else {
        text
    }
}

/// What each ending other than `completed` costs, stated or by default:
/// `failed free, moderated full, cancelled by usage`.
pub(crate) fn outcomes(feature: &Feature) -> String {
    let parts: Vec<String> = crate::outcomes::JobOutcome::ALL
        .into_iter()
        .filter(|outcome| !outcome.is_completed())
        .map(|outcome| {
            format!(
                "{} {}",
                outcome.as_str(),
                feature.outcome_charge(outcome).as_words()
            )
        })
        .collect();
    parts.join(", ")
}

/// `minimum 500 credit, step 100 credit, packages only`, or `none`.
pub(crate) fn topup_rules(book: &RateBook, rules: &crate::money::TopUpRules) -> String {
    let mut parts = Vec::new();
    if let Some(minimum) = &rules.minimum {
        parts.push(format!(
            "minimum {}",
            amount(book, &minimum.unit, minimum.amount_minor)
        ));
    }
    if let Some(step) = &rules.step {
        parts.push(format!(
            "step {}",
            amount(book, &step.unit, step.amount_minor)
        ));
    }
    if rules.packages_only {
        parts.push("packages only".to_owned());
    }
    or_none(parts.join(", "))
}

/// `context = prompt + history + 500`, each `quantity` of a feature (constants in the base
/// unit).
pub(crate) fn derived_quantities(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .derived
        .iter()
        .map(|derived| {
            let op = match derived.op {
                DerivedOperator::Sum => " + ",
                DerivedOperator::Product => " * ",
            };
            let terms: Vec<String> = derived
                .terms
                .iter()
                .map(|term| match term {
                    DerivedTerm::Input(name) => name.clone(),
                    DerivedTerm::Constant(value) => match derived.op {
                        DerivedOperator::Sum => {
                            literal::format_quantity(&derived.input.kind, *value)
                        }
                        DerivedOperator::Product => value.normalize().to_string(),
                    },
                })
                .collect();
            format!("{} = {}", derived.input.name, terms.join(op))
        })
        .collect();
    or_none(parts.join(", "))
}

/// `3h of session when tier is basic`, each `maximum` quantity of a feature.
pub(crate) fn maximum_quantities(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .maximum_quantities
        .iter()
        .map(|maximum| {
            let mut text = format!(
                "{} of {}",
                quantity(feature, &maximum.input, maximum.quantity),
                maximum.input
            );
            if !maximum.when.all.is_empty() {
                text.push_str(&format!(" when {}", condition_in(feature, &maximum.when)));
            }
            text
        })
        .collect();
    or_none(parts.join(", "))
}

/// `"fast mode is not available with batch" when fast and batch`, each `refuse`.
pub(crate) fn refusals(feature: &Feature) -> String {
    let parts: Vec<String> = feature
        .refusals
        .iter()
        .map(|refusal| {
            format!(
                "\"{}\" when {}",
                refusal.message,
                condition_in(feature, &refusal.when)
            )
        })
        .collect();
    or_none(parts.join(", "))
}

/// `5s, 10s`, an input's `one of` list; `any` when it has none.
pub(crate) fn allowed(input: &Input) -> String {
    if input.allowed.is_empty() {
        return "any".to_owned();
    }
    let parts: Vec<String> = input
        .allowed
        .iter()
        .map(|value| literal::format_quantity(&input.kind, *value))
        .collect();
    parts.join(", ")
}

/// [`condition`] with each quantity test in its input's unit (`duration above 1h`, not
/// `3600`).
fn condition_in(feature: &Feature, when: &Condition) -> String {
    let tests: Vec<String> = when
        .all
        .iter()
        .map(|test| match test {
            Test::Compare {
                input,
                op,
                quantity: value,
            } => format!(
                "{input} {} {}",
                op.words(),
                quantity(feature, input, *value)
            ),
            other => condition(&Condition {
                all: vec![other.clone()],
            }),
        })
        .collect();
    if tests.is_empty() {
        "always".to_owned()
    } else {
        tests.join(" and ")
    }
}
