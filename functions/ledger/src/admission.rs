//! Whether a spend may happen at all: account status, gates, prior analysis, request rate.

use chrono::{DateTime, Utc};
use credits_dsl::{Condition, Feature, InputValue, RateBook, Test, Usage};

use crate::account::{AccountStatus, RequestWindow};
use crate::command::{Attribution, Facts};
use crate::work::Work;
use crate::{LedgerError, LedgerResult};

/// Spending needs an active account.
///
/// # Errors
/// `account-closed`, or `feature-not-allowed` when suspended.
pub(crate) fn check_can_spend(work: &Work<'_>) -> LedgerResult<()> {
    match work.account.status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Suspended => Err(LedgerError::Suspended {
            account: work.account.id.clone(),
        }),
        AccountStatus::Closed => Err(closed(work)),
    }
}

pub(crate) fn closed(work: &Work<'_>) -> LedgerError {
    LedgerError::AccountClosed {
        account: work.account.id.clone(),
    }
}

/// The feature a usage names.
///
/// # Errors
/// `not-found` when the book has no such feature.
pub(crate) fn feature<'b>(book: &'b RateBook, name: &str) -> LedgerResult<&'b Feature> {
    book.features
        .iter()
        .find(|feature| feature.name == name)
        .ok_or_else(|| LedgerError::NotFound {
            what: "feature",
            id: name.to_owned(),
        })
}

/// Subscription gates of the plan that match this usage.
///
/// # Errors
/// `feature-not-allowed` when a gate matches and no subscription is in effect.
pub(crate) fn check_gates(work: &Work<'_>, usage: &Usage) -> LedgerResult<()> {
    if work.subscribed(work.now) {
        return Ok(());
    }
    let gated = work.plan.gates.iter().find(|gate| {
        gate.feature == usage.feature && condition_holds(work.book, &gate.when, usage)
    });
    match gated {
        None => Ok(()),
        Some(gate) => {
            let when = describe(&gate.when);
            Err(LedgerError::FeatureNotAllowed {
                feature: usage.feature.clone(),
                reason: format!(
                    "`{}`{when} needs an active subscription on plan `{}`",
                    usage.feature, work.account.plan
                ),
            })
        }
    }
}

fn describe(condition: &Condition) -> String {
    let tests: Vec<String> = condition
        .all
        .iter()
        .map(|test| match test {
            Test::OneOf { input, values } => format!("{input} `{}`", values.join("` or `")),
            Test::Flag {
                input,
                expected: true,
            } => format!("`{input}`"),
            Test::Flag {
                input,
                expected: false,
            } => format!("no `{input}`"),
            Test::Compare {
                input,
                op,
                quantity,
            } => format!("`{input}` {} {quantity}", op.words()),
        })
        .collect();
    if tests.is_empty() {
        String::new()
    } else {
        format!(" with {}", tests.join(" and "))
    }
}

/// Whether a usage satisfies a condition (a conjunction of tests on choices and flags).
pub(crate) fn condition_holds(book: &RateBook, condition: &Condition, usage: &Usage) -> bool {
    condition.all.iter().all(|test| match test {
        Test::OneOf { input, values } if input == "channel" => {
            let channel = usage.channel.as_deref().or_else(|| {
                book.channels
                    .as_ref()
                    .map(|channels| channels.default.as_str())
            });
            channel.is_some_and(|channel| values.iter().any(|value| value == channel))
        }
        Test::OneOf { input, values } => matches!(
            usage.inputs.get(input),
            Some(InputValue::Choice(choice)) if values.contains(choice)
        ),
        Test::Flag { input, expected } => matches!(
            usage.inputs.get(input),
            Some(InputValue::Flag(flag)) if flag == expected
        ),
        // `check` keeps quantity tests to a feature's own statements; the book reads them.
        Test::Compare { .. } => book.condition_holds(
            &Condition {
                all: vec![test.clone()],
            },
            usage,
        ),
    })
}

/// `requires A or B on same content`.
///
/// # Errors
/// `invalid-input` without a `content`; `feature-not-allowed` when the shell found no prior
/// analysis of it.
pub(crate) fn check_prior(
    feature: &Feature,
    attribution: &Attribution,
    facts: &Facts,
) -> LedgerResult<()> {
    if feature.requires_prior.is_empty() {
        return Ok(());
    }
    let required = feature.requires_prior.join("` or `");
    let Some(content) = &attribution.content else {
        return Err(LedgerError::invalid(format!(
            "`{}` needs a `content`: it requires a prior `{required}` of the same content",
            feature.name
        )));
    };
    if facts.prior_analysis {
        Ok(())
    } else {
        Err(LedgerError::FeatureNotAllowed {
            feature: feature.name.clone(),
            reason: format!(
                "`{}` requires a prior `{required}` of content `{content}`",
                feature.name
            ),
        })
    }
}

/// Counts one request against the plan's rate limit (fixed windows aligned on the epoch).
/// Only accepted operations count: a refused decision is never committed.
///
/// # Errors
/// `rate-limited` with the seconds until the window ends.
pub(crate) fn admit_request(work: &mut Work<'_>) -> LedgerResult<()> {
    let Some(limit) = work.plan.limits.requests else {
        return Ok(());
    };
    let window = i64::from(limit.per_seconds.max(1));
    let now = work.now;
    let start_seconds = now.timestamp().div_euclid(window).saturating_mul(window);
    let start =
        DateTime::<Utc>::from_timestamp(start_seconds, 0).ok_or(LedgerError::Overflow("time"))?;
    let current = work.account.requests;
    let count = if current.window_start == Some(start) {
        current.count
    } else {
        0
    };
    if count >= limit.requests {
        let end_seconds = start_seconds.saturating_add(window);
        let wait = (end_seconds.saturating_sub(now.timestamp())).max(1);
        return Err(LedgerError::RateLimited {
            reason: format!(
                "account `{}` made {} requests in {} s, the plan's limit",
                work.account.id, limit.requests, limit.per_seconds
            ),
            retry_after_seconds: u64::try_from(wait).unwrap_or(1),
        });
    }
    work.account.requests = RequestWindow {
        window_start: Some(start),
        count: count.saturating_add(1),
    };
    Ok(())
}

/// The `model` choice of a usage, recorded on entries for reports.
pub(crate) fn model_of(usage: &Usage) -> Option<String> {
    match usage.inputs.get("model") {
        Some(InputValue::Choice(model)) => Some(model.clone()),
        _ => None,
    }
}

/// Seconds from `now` until `at`, rounded up, at least one.
pub(crate) fn seconds_until(now: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    let millis = at.signed_duration_since(now).num_milliseconds().max(0);
    u64::try_from(millis.saturating_add(999) / 1000)
        .unwrap_or(1)
        .max(1)
}
