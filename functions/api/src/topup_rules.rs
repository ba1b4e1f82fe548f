//! What a plan's top-up rules (`topup minimum …, step …, packages only`) let a top-up be,
//! checked before anything is decided or written (`docs/topups.md`).

use credits_dsl::{Plan, RateBook};
use credits_ledger::TopUpAmount;

use crate::money::format_minor;
use crate::problem::Problem;

/// `code` of a free amount below the plan's `topup minimum`.
pub const BELOW_MINIMUM: &str = "topup-below-minimum";
/// `code` of a free amount that is not a whole number of the plan's `step`.
pub const OFF_STEP: &str = "topup-off-step";
/// `code` of a free amount on a plan that sells top-ups by package only.
pub const PACKAGES_ONLY: &str = "topup-packages-only";

/// Checks a top-up against its plan's rules. A package is always allowed (the book sells
/// it); a free amount must meet `packages only`, the minimum and the step of its unit.
///
/// # Errors
/// `invalid-input` (400) with `field` `amount` and `code` [`PACKAGES_ONLY`],
/// [`BELOW_MINIMUM`] or [`OFF_STEP`].
pub fn check(book: &RateBook, plan: &Plan, amount: &TopUpAmount) -> Result<(), Problem> {
    let TopUpAmount::Amount { unit, amount_minor } = amount else {
        return Ok(());
    };
    let rules = &plan.topup_rules;
    let refuse = |code: &str, detail: String| {
        Err(Problem::invalid(detail)
            .with("field", "amount")
            .with("code", code))
    };
    if rules.packages_only {
        let names: Vec<String> = plan
            .packages
            .iter()
            .map(|package| format!("`{}`", package.name))
            .collect();
        return refuse(
            PACKAGES_ONLY,
            format!(
                "plan `{}` sells top-ups by package only: give a `package` ({}) instead of an `amount`",
                plan.name,
                names.join(", ")
            ),
        );
    }
    let unit = unit.as_deref().unwrap_or_default();
    if let Some(minimum) = &rules.minimum
        && minimum.unit == unit
        && *amount_minor < minimum.amount_minor
    {
        return refuse(
            BELOW_MINIMUM,
            format!(
                "a top-up of plan `{}` is at least {} {unit}, not {}",
                plan.name,
                format_minor(book, unit, minimum.amount_minor),
                format_minor(book, unit, *amount_minor)
            ),
        );
    }
    if let Some(step) = &rules.step
        && step.unit == unit
        && step.amount_minor > 0
        && amount_minor.checked_rem(step.amount_minor) != Some(0)
    {
        return refuse(
            OFF_STEP,
            format!(
                "a top-up of plan `{}` is a whole number of {} {unit}, not {}",
                plan.name,
                format_minor(book, unit, step.amount_minor),
                format_minor(book, unit, *amount_minor)
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = "book t\neffective 2025-01-01\nunit credit scale 2 round half-up\n\
        plan pro {\n  order top_up\n  topup as top_up, expires never\n  \
        package small 1000 credit for 10 USD\n  topup minimum 500 credit, step 100 credit\n}\n\
        plan shop {\n  order top_up\n  topup as top_up, expires never\n  \
        package small 1000 credit for 10 USD\n  topup packages only\n}\n\
        plan open {\n  order top_up\n  topup as top_up, expires never\n}\n";

    fn code(plan: &str, amount: &TopUpAmount) -> Option<String> {
        let book = credits_dsl::compile_source("t.rates", BOOK).unwrap();
        let plan = book.plan(plan).unwrap();
        check(&book, plan, amount).err().map(|problem| {
            problem.body().extensions["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
    }

    fn credits(amount: i64) -> TopUpAmount {
        TopUpAmount::Amount {
            unit: Some("credit".to_owned()),
            amount_minor: amount * 100,
        }
    }

    #[test]
    fn each_rule_refuses_with_its_code() {
        let package = TopUpAmount::Package {
            name: "small".to_owned(),
        };
        let table: &[(&str, &TopUpAmount, Option<&str>)] = &[
            ("pro", &credits(400), Some(BELOW_MINIMUM)),
            ("pro", &credits(499), Some(BELOW_MINIMUM)),
            ("pro", &credits(550), Some(OFF_STEP)),
            ("pro", &credits(500), None),
            ("pro", &credits(1200), None),
            ("pro", &package, None),
            ("shop", &credits(1000), Some(PACKAGES_ONLY)),
            ("shop", &package, None),
            ("open", &credits(1), None),
        ];
        for (plan, amount, expected) in table {
            assert_eq!(
                code(plan, amount).as_deref(),
                *expected,
                "{plan} {amount:?}"
            );
        }
    }
}
