//! Hand-built rate books that mirror `rates/*.rates` (the parts the ledger relies on), for
//! tests that must not wait for the parser.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use credits_dsl::{
    Channels, Condition, Cycle, ExpiredRefund, Expiry, Feature, Gate, Grant, GrantEvery, Input,
    InputKind, InputValue, Limits, MinimumAmount, Package, Plan, Price, QuantityDirection,
    QuantityRounding, RateBook, RefundPolicy, RequestLimit, Rollover, RoundingMode, Rule, RuleRole,
    SubscriptionPeriod, Test, TopUpPolicy, UnitDef,
};
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn unit(name: &str, scale: u32) -> UnitDef {
    UnitDef {
        name: name.to_owned(),
        scale,
        rounding: Some(if scale == 0 {
            RoundingMode::Up
        } else {
            RoundingMode::HalfUp
        }),
    }
}

fn input(name: &str, kind: InputKind, default: Option<InputValue>) -> Input {
    Input {
        name: name.to_owned(),
        kind,
        default,
        min: None,
        max: None,
        allowed: Vec::new(),
    }
}

fn when(tests: &[(&str, &[&str])]) -> Condition {
    Condition {
        all: tests
            .iter()
            .map(|(input, values)| Test::OneOf {
                input: (*input).to_owned(),
                values: values.iter().map(|value| (*value).to_owned()).collect(),
            })
            .collect(),
    }
}

fn rule(role: RuleRole, unit: &str, price: Price, condition: Condition) -> Rule {
    Rule {
        role,
        unit: unit.to_owned(),
        price,
        when: condition,
        times: None,
        source: String::new(),
        line: 1,
    }
}

fn per(amount: &str, input: &str, per: &str, rounded: Option<QuantityDirection>) -> Price {
    Price::Per {
        amount: dec(amount),
        input: input.to_owned(),
        per: dec(per),
        rounded,
    }
}

fn feature(name: &str, inputs: Vec<Input>, rules: Vec<Rule>, units: &[&str]) -> Feature {
    Feature {
        name: name.to_owned(),
        title: None,
        inputs,
        minimum_quantities: Vec::new(),
        quantity_rounding: Vec::new(),
        rules,
        multipliers: Vec::new(),
        factors: Vec::new(),
        amount_rounding: Vec::new(),
        minimum_amounts: Vec::new(),
        first_request_free: false,
        requires_prior: Vec::new(),
        units: units.iter().map(|unit| (*unit).to_owned()).collect(),
        outcomes: Vec::new(),
        derived: Vec::new(),
        maximum_quantities: Vec::new(),
        refusals: Vec::new(),
    }
}

/// `gen(n)`: exactly `n` of `unit` (whole units), for tests that need arbitrary amounts.
pub fn gen_feature(unit: &str) -> Feature {
    feature(
        "gen",
        vec![input("n", InputKind::Count, None)],
        vec![rule(
            RuleRole::Base,
            unit,
            per("1", "n", "1", None),
            Condition::default(),
        )],
        &[unit],
    )
}

fn grant(
    key: &str,
    unit: &str,
    amount_minor: i64,
    every: GrantEvery,
    kind: &str,
    expires: Expiry,
    rollover: Option<Rollover>,
) -> Grant {
    Grant {
        key: key.to_owned(),
        unit: unit.to_owned(),
        amount_minor,
        every,
        kind: kind.to_owned(),
        expires,
        rollover,
    }
}

fn plan(name: &str) -> Plan {
    Plan {
        name: name.to_owned(),
        title: None,
        cycle: None,
        periods: Vec::new(),
        grants: Vec::new(),
        order: Vec::new(),
        topup: None,
        packages: Vec::new(),
        gates: Vec::new(),
        credit_line_minor: BTreeMap::new(),
        alerts_minor: BTreeMap::new(),
        refund: None,
        limits: Limits::default(),
        late_usage_seconds: None,
        topup_rules: credits_dsl::TopUpRules::default(),
        expiry_warning_seconds: None,
        auto_topup: BTreeMap::new(),
        caps: credits_dsl::Caps::default(),
    }
}

fn order(kinds: &[&str]) -> Vec<String> {
    kinds.iter().map(|kind| (*kind).to_owned()).collect()
}

fn refund_policy(reasons: &[&str], expired: ExpiredRefund) -> Option<RefundPolicy> {
    Some(RefundPolicy {
        window_days: 30,
        reasons: reasons.iter().map(|reason| (*reason).to_owned()).collect(),
        expired,
    })
}

fn book(name: &str, units: Vec<UnitDef>, features: Vec<Feature>, plans: Vec<Plan>) -> RateBook {
    RateBook {
        name: name.to_owned(),
        title: None,
        effective: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        time_zone: "UTC".to_owned(),
        rates_version: format!("{name}@2025-01-01#000000000000"),
        units,
        channels: None,
        features,
        plans,
        expects: Vec::new(),
        refusals: Vec::new(),
        scenarios: Vec::new(),
    }
}

/// rates/imagineart.rates: free and subscription plans.
pub fn imagineart() -> RateBook {
    let model = || {
        input(
            "model",
            InputKind::Choice(vec!["standard".into(), "pro".into()]),
            None,
        )
    };
    let image = feature(
        "image",
        vec![model()],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                Price::Each { amount: dec("24") },
                when(&[("model", &["standard"])]),
            ),
            rule(
                RuleRole::Base,
                "credit",
                Price::Each { amount: dec("60") },
                when(&[("model", &["pro"])]),
            ),
        ],
        &["credit"],
    );
    let gates = vec![Gate {
        feature: "image".into(),
        when: when(&[("model", &["pro"])]),
    }];
    let daily = grant(
        "free:credit:daily",
        "credit",
        100,
        GrantEvery::Day,
        "free",
        Expiry::EndOfDay,
        None,
    );
    let topup = Some(TopUpPolicy {
        kind: "top_up".into(),
        expires: Expiry::Never,
        requires_subscription: true,
    });
    let free = Plan {
        grants: vec![daily.clone()],
        order: order(&["free", "subscription", "top_up"]),
        topup: topup.clone(),
        gates: gates.clone(),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 20,
                per_seconds: 60,
            }),
            concurrent_holds: Some(2),
        },
        ..plan("free")
    };
    let subscription = Plan {
        cycle: Some(Cycle::MonthlyFromPurchase),
        periods: vec![
            SubscriptionPeriod::Monthly,
            SubscriptionPeriod::Quarterly,
            SubscriptionPeriod::Yearly,
        ],
        grants: vec![
            daily,
            grant(
                "subscription:credit:every_cycle",
                "credit",
                8000,
                GrantEvery::Cycle,
                "subscription",
                Expiry::EndOfCycle,
                None,
            ),
        ],
        order: order(&["free", "subscription", "top_up"]),
        topup,
        packages: vec![
            Package {
                name: "tokens_1000".into(),
                unit: "credit".into(),
                amount_minor: 1000,
                price: None,
            },
            Package {
                name: "tokens_5000".into(),
                unit: "credit".into(),
                amount_minor: 5000,
                price: None,
            },
        ],
        gates,
        alerts_minor: BTreeMap::from([("credit".to_owned(), vec![500])]),
        refund: refund_policy(&["duplicate", "internal_error"], ExpiredRefund::Forfeit),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 120,
                per_seconds: 60,
            }),
            concurrent_holds: Some(8),
        },
        ..plan("subscription")
    };
    book(
        "imagineart",
        vec![unit("credit", 0)],
        vec![image, gen_feature("credit")],
        vec![free, subscription],
    )
}

/// rates/imentiv.rates: professional and enterprise, the analyses the seed names.
pub fn imentiv() -> RateBook {
    let duration = || input("duration", InputKind::Duration, None);
    let web = || when(&[("channel", &["web"])]);
    let api = || when(&[("channel", &["api"])]);
    let mut video_emotion = feature(
        "video_emotion",
        vec![duration()],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                per("1", "duration", "1", None),
                web(),
            ),
            rule(
                RuleRole::Base,
                "credit",
                per("0.5", "duration", "1", None),
                api(),
            ),
        ],
        &["credit"],
    );
    video_emotion.quantity_rounding = vec![QuantityRounding {
        input: "duration".into(),
        direction: QuantityDirection::Up,
        step: dec("1"),
    }];
    video_emotion.minimum_amounts = vec![MinimumAmount {
        unit: "credit".into(),
        amount: dec("1"),
    }];
    let mut personality = feature(
        "personality_analysis",
        vec![duration()],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                per("25", "duration", "60", None),
                web(),
            ),
            rule(
                RuleRole::Base,
                "credit",
                per("15", "duration", "60", None),
                api(),
            ),
        ],
        &["credit"],
    );
    personality.quantity_rounding = vec![QuantityRounding {
        input: "duration".into(),
        direction: QuantityDirection::Up,
        step: dec("60"),
    }];
    personality.first_request_free = true;
    personality.requires_prior = vec!["video_emotion".into(), "audio_emotion".into()];
    let common = |name: &str, grant_: Grant, expired: ExpiredRefund, alerts: Vec<i64>| Plan {
        cycle: Some(Cycle::MonthlyFromPurchase),
        periods: vec![SubscriptionPeriod::Monthly, SubscriptionPeriod::Yearly],
        grants: vec![grant_],
        order: order(&["allocation", "promotional", "top_up"]),
        topup: Some(TopUpPolicy {
            kind: "top_up".into(),
            expires: Expiry::Never,
            requires_subscription: false,
        }),
        packages: vec![Package {
            name: "starter".into(),
            unit: "credit".into(),
            amount_minor: 500_000,
            price: None,
        }],
        alerts_minor: BTreeMap::from([("credit".to_owned(), alerts)]),
        refund: refund_policy(&["duplicate", "internal_error", "legal"], expired),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 60,
                per_seconds: 60,
            }),
            concurrent_holds: Some(4),
        },
        ..plan(name)
    };
    let professional = common(
        "professional",
        grant(
            "allocation:credit:every_cycle",
            "credit",
            1_200_000,
            GrantEvery::Cycle,
            "allocation",
            Expiry::EndOfCycle,
            Some(Rollover::WhileSubscribed),
        ),
        ExpiredRefund::Restore {
            kind: "promotional".into(),
            expires: Expiry::AfterDays(30),
        },
        vec![100_000, 10_000],
    );
    let enterprise = common(
        "enterprise",
        grant(
            "allocation:credit:every_cycle",
            "credit",
            5_000_000,
            GrantEvery::Cycle,
            "allocation",
            Expiry::EndOfCycle,
            None,
        ),
        ExpiredRefund::Forfeit,
        vec![500_000],
    );
    let mut book = book(
        "imentiv",
        vec![unit("credit", 2)],
        vec![video_emotion, personality, gen_feature("credit")],
        vec![professional, enterprise],
    );
    book.channels = Some(Channels {
        names: vec!["web".into(), "api".into()],
        default: "web".into(),
    });
    book
}

/// rates/ai-engine.rates: calendar months; standard expires, professional rolls 3 cycles,
/// enterprise capped rollover and a credit line.
pub fn ai_engine() -> RateBook {
    let common = |name: &str, grant_: Grant| Plan {
        cycle: Some(Cycle::MonthlyCalendar),
        grants: vec![grant_],
        order: order(&["allocation", "top_up"]),
        topup: Some(TopUpPolicy {
            kind: "top_up".into(),
            expires: Expiry::Never,
            requires_subscription: false,
        }),
        packages: vec![Package {
            name: "standard".into(),
            unit: "credit".into(),
            amount_minor: 100_000,
            price: None,
        }],
        refund: refund_policy(&["duplicate", "internal_error"], ExpiredRefund::Forfeit),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 1200,
                per_seconds: 60,
            }),
            concurrent_holds: Some(16),
        },
        ..plan(name)
    };
    let allocation = |amount_minor, rollover| {
        grant(
            "allocation:credit:every_cycle",
            "credit",
            amount_minor,
            GrantEvery::Cycle,
            "allocation",
            Expiry::EndOfCycle,
            rollover,
        )
    };
    let standard = Plan {
        alerts_minor: BTreeMap::from([("credit".to_owned(), vec![20_000, 5_000])]),
        ..common("standard", allocation(100_000, None))
    };
    let professional = Plan {
        refund: refund_policy(
            &["duplicate", "internal_error"],
            ExpiredRefund::Restore {
                kind: "top_up".into(),
                expires: Expiry::Never,
            },
        ),
        ..common(
            "professional",
            allocation(500_000, Some(Rollover::Cycles { cycles: 3 })),
        )
    };
    let enterprise = Plan {
        credit_line_minor: BTreeMap::from([("credit".to_owned(), 500_000)]),
        alerts_minor: BTreeMap::from([("credit".to_owned(), vec![200_000])]),
        ..common(
            "enterprise",
            allocation(
                2_000_000,
                Some(Rollover::UpTo {
                    amount_minor: 2_000_000,
                }),
            ),
        )
    };
    book(
        "ai-engine",
        vec![unit("credit", 2)],
        vec![gen_feature("credit")],
        vec![standard, professional, enterprise],
    )
}

/// rates/invideo.rates: credits and video minutes.
pub fn invideo() -> RateBook {
    let duration = || input("duration", InputKind::Duration, None);
    let actor = || input("actor", InputKind::Flag, Some(InputValue::Flag(false)));
    let mut stock = feature(
        "stock_video",
        vec![duration(), actor()],
        vec![
            Rule {
                when: Condition {
                    all: vec![Test::Flag {
                        input: "actor".into(),
                        expected: true,
                    }],
                },
                ..rule(
                    RuleRole::Add,
                    "credit",
                    per("5", "duration", "60", Some(QuantityDirection::Up)),
                    Condition::default(),
                )
            },
            rule(
                RuleRole::Base,
                "video_minute",
                per("1", "duration", "60", Some(QuantityDirection::Up)),
                Condition::default(),
            ),
        ],
        &["credit", "video_minute"],
    );
    stock.minimum_amounts = vec![MinimumAmount {
        unit: "video_minute".into(),
        amount: dec("1"),
    }];
    let mut generative = feature(
        "generative_video",
        vec![
            duration(),
            input(
                "model",
                InputKind::Choice(vec!["pro".into(), "ultra".into()]),
                None,
            ),
        ],
        vec![
            rule(
                RuleRole::Base,
                "credit",
                per("20", "duration", "60", None),
                when(&[("model", &["pro"])]),
            ),
            rule(
                RuleRole::Base,
                "credit",
                per("40", "duration", "60", None),
                when(&[("model", &["ultra"])]),
            ),
        ],
        &["credit"],
    );
    generative.quantity_rounding = vec![QuantityRounding {
        input: "duration".into(),
        direction: QuantityDirection::Up,
        step: dec("1"),
    }];
    let plus = Plan {
        cycle: Some(Cycle::MonthlyFromPurchase),
        periods: vec![SubscriptionPeriod::Monthly, SubscriptionPeriod::Yearly],
        grants: vec![
            grant(
                "allocation:credit:every_cycle",
                "credit",
                120_000,
                GrantEvery::Cycle,
                "allocation",
                Expiry::EndOfCycle,
                None,
            ),
            grant(
                "allocation:video_minute:every_cycle",
                "video_minute",
                50,
                GrantEvery::Cycle,
                "allocation",
                Expiry::EndOfCycle,
                None,
            ),
        ],
        order: order(&["allocation", "top_up"]),
        topup: Some(TopUpPolicy {
            kind: "top_up".into(),
            expires: Expiry::Never,
            requires_subscription: true,
        }),
        packages: vec![Package {
            name: "minutes_20".into(),
            unit: "video_minute".into(),
            amount_minor: 20,
            price: None,
        }],
        alerts_minor: BTreeMap::from([
            ("credit".to_owned(), vec![10_000]),
            ("video_minute".to_owned(), vec![5]),
        ]),
        refund: refund_policy(&["duplicate", "internal_error"], ExpiredRefund::Forfeit),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 30,
                per_seconds: 60,
            }),
            concurrent_holds: Some(4),
        },
        ..plan("plus")
    };
    book(
        "invideo",
        vec![unit("credit", 2), unit("video_minute", 0)],
        vec![stock, generative],
        vec![plus],
    )
}

/// A minimal book for property tests: one unit of scale 0, `gen(n)` costs `n`; plan `p` has
/// a daily grant (end of day), a cycle grant of each rollover rule, top-ups, a credit line,
/// refunds and alerts.
pub fn property_book(zone: &str) -> RateBook {
    let p = Plan {
        cycle: Some(Cycle::MonthlyFromPurchase),
        grants: vec![
            grant(
                "daily",
                "credit",
                10,
                GrantEvery::Day,
                "free",
                Expiry::EndOfDay,
                None,
            ),
            grant(
                "plain",
                "credit",
                50,
                GrantEvery::Cycle,
                "allocation",
                Expiry::EndOfCycle,
                None,
            ),
            grant(
                "rolling",
                "credit",
                30,
                GrantEvery::Cycle,
                "rolling",
                Expiry::EndOfCycle,
                Some(Rollover::Cycles { cycles: 2 }),
            ),
            grant(
                "capped",
                "credit",
                40,
                GrantEvery::Cycle,
                "capped",
                Expiry::EndOfCycle,
                Some(Rollover::UpTo { amount_minor: 60 }),
            ),
            grant(
                "welcome",
                "credit",
                25,
                GrantEvery::Once,
                "promotional",
                Expiry::AfterDays(10),
                None,
            ),
        ],
        order: order(&[
            "free",
            "allocation",
            "rolling",
            "capped",
            "promotional",
            "top_up",
            "refund",
        ]),
        topup: Some(TopUpPolicy {
            kind: "top_up".into(),
            expires: Expiry::AfterDays(40),
            requires_subscription: false,
        }),
        credit_line_minor: BTreeMap::from([("credit".to_owned(), 35)]),
        alerts_minor: BTreeMap::from([("credit".to_owned(), vec![40, 5])]),
        refund: refund_policy(
            &["duplicate"],
            ExpiredRefund::Restore {
                kind: "refund".into(),
                expires: Expiry::AfterDays(5),
            },
        ),
        limits: Limits {
            requests: None,
            concurrent_holds: Some(3),
        },
        ..plan("p")
    };
    // `q`: sold as a subscription; its allocation rolls over while subscribed.
    let q = Plan {
        cycle: Some(Cycle::MonthlyCalendar),
        periods: vec![SubscriptionPeriod::Monthly, SubscriptionPeriod::Quarterly],
        grants: vec![
            grant(
                "daily",
                "credit",
                10,
                GrantEvery::Day,
                "free",
                Expiry::EndOfDay,
                None,
            ),
            grant(
                "sub",
                "credit",
                100,
                GrantEvery::Cycle,
                "allocation",
                Expiry::EndOfCycle,
                Some(Rollover::WhileSubscribed),
            ),
        ],
        order: order(&["free", "allocation", "top_up", "refund"]),
        topup: Some(TopUpPolicy {
            kind: "top_up".into(),
            expires: Expiry::Never,
            requires_subscription: true,
        }),
        credit_line_minor: BTreeMap::from([("credit".to_owned(), 35)]),
        alerts_minor: BTreeMap::from([("credit".to_owned(), vec![50])]),
        refund: refund_policy(&["duplicate"], ExpiredRefund::Forfeit),
        limits: Limits {
            requests: Some(RequestLimit {
                requests: 15,
                per_seconds: 3600,
            }),
            concurrent_holds: Some(2),
        },
        ..plan("q")
    };
    let mut book = book(
        "prop",
        vec![unit("credit", 0)],
        vec![gen_feature("credit")],
        vec![p, q],
    );
    book.time_zone = zone.to_owned();
    book
}
