//! The accounts a simulation runs, one per shipped policy shape, and the random requests
//! each can make: usages of its rate book's features, top-ups in its units and packages,
//! refund reasons its plan allows (and one it does not).

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// One simulated account and what its plan offers.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub account: &'static str,
    /// `<book>/<plan>`.
    pub plan: &'static str,
    /// Whether to give it an active monthly subscription (anchored at the start).
    pub subscribed: bool,
    /// `(unit, scale)` of every unit of its book.
    pub units: &'static [(&'static str, u32)],
    pub packages: &'static [&'static str],
    /// Refund reasons the plan allows.
    pub reasons: &'static [&'static str],
    /// A reason it refuses.
    pub refused_reason: &'static str,
    /// `(unit, amount)` of the plan's credit line.
    pub credit_line: Option<(&'static str, &'static str)>,
    /// Largest random top-up, in whole units.
    pub max_top_up: u64,
    usage: fn(&mut StdRng) -> (&'static str, Value),
}

impl Profile {
    /// A random usage: `(feature, inputs)`.
    pub fn usage(&self, rng: &mut StdRng) -> (&'static str, Value) {
        (self.usage)(rng)
    }

    /// A random usage of `feature` (for captures with actual inputs).
    pub fn usage_of(&self, rng: &mut StdRng, feature: &str) -> Option<Value> {
        for _ in 0..64 {
            let (candidate, inputs) = (self.usage)(rng);
            if candidate == feature {
                return Some(inputs);
            }
        }
        None
    }
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items
        .get(rng.random_range(0..items.len().max(1)))
        .copied()
        .unwrap_or_default()
}

fn imini_usage(rng: &mut StdRng) -> (&'static str, Value) {
    match rng.random_range(0..3) {
        0 => (
            "image_generation",
            json!({
                "model": pick(rng, &["flux_schnell", "flux_pro", "seedream", "imagen"]),
                "outputs": rng.random_range(1..=4),
            }),
        ),
        1 => (
            "video_generation",
            json!({
                "model": pick(rng, &["kling", "hailuo", "veo"]),
                "duration": format!("{}s", rng.random_range(1..=20)),
                "resolution": pick(rng, &["sd", "hd"]),
            }),
        ),
        _ => (
            "chat_completion",
            json!({
                "model": pick(rng, &["small", "large"]),
                "tokens": rng.random_range(1..=200_000),
            }),
        ),
    }
}

fn imagineart_usage(rng: &mut StdRng) -> (&'static str, Value) {
    if rng.random_bool(0.7) {
        (
            "image",
            json!({
                "model": pick(rng, &["standard", "standard", "pro"]),
                "quality": pick(rng, &["standard", "hd"]),
                "outputs": rng.random_range(1..=3),
            }),
        )
    } else {
        let duration = if rng.random_bool(0.5) {
            json!(rng.random_range(1..=10))
        } else {
            json!(format!("{}s", rng.random_range(1..=10)))
        };
        (
            "video",
            json!({ "model": pick(rng, &["standard", "standard", "pro"]), "duration": duration }),
        )
    }
}

fn invideo_usage(rng: &mut StdRng) -> (&'static str, Value) {
    match rng.random_range(0..4) {
        0 => (
            "generative_video",
            json!({
                "duration": format!("{}s", rng.random_range(5..=300)),
                "model": pick(rng, &["pro", "ultra"]),
                "actor": rng.random_bool(0.3),
                "ad": rng.random_bool(0.2),
            }),
        ),
        1 => {
            // At least one second: `0m0s` is not usage and would be refused at the edge.
            let minutes = rng.random_range(0..=6);
            let seconds = rng.random_range(u32::from(minutes == 0)..=59);
            (
                "stock_video",
                json!({
                    "duration": format!("{minutes}m{seconds}s"),
                    "actor": rng.random_bool(0.5),
                }),
            )
        }
        2 => ("remix_image", json!({ "images": rng.random_range(1..=20) })),
        _ => (
            "remix_clip",
            json!({ "duration": format!("{}s", rng.random_range(1..=120)) }),
        ),
    }
}

fn ai_engine_usage(rng: &mut StdRng) -> (&'static str, Value) {
    match rng.random_range(0..3) {
        0 => (
            "training",
            json!({
                "time": format!("{}m", rng.random_range(1..=90)),
                "data": format!("{} GB", rng.random_range(0..=40)),
                "compute": pick(rng, &["cpu", "gpu", "multi_gpu"]),
            }),
        ),
        1 => (
            "inference",
            json!({
                "requests": rng.random_range(1..=20_000),
                "compute": pick(rng, &["cpu", "gpu"]),
            }),
        ),
        _ => (
            "data_processing",
            json!({ "data": format!("{} GB", rng.random_range(1..=400)) }),
        ),
    }
}

/// The four accounts of the simulation: a credit line without grants (imini), daily and
/// monthly grants with a subscription (imagineart), two units per charge (invideo), and
/// allocations that roll over for three cycles (ai-engine).
pub const PROFILES: [Profile; 4] = [
    FALLBACK,
    Profile {
        account: "sim-daily",
        plan: "imagineart/subscription",
        subscribed: true,
        units: &[("credit", 0)],
        packages: &["tokens_1000", "tokens_5000"],
        reasons: &["duplicate", "internal_error"],
        refused_reason: "legal",
        credit_line: None,
        max_top_up: 250,
        usage: imagineart_usage,
    },
    Profile {
        account: "sim-units",
        plan: "invideo/plus",
        subscribed: true,
        units: &[("credit", 2), ("video_minute", 0)],
        packages: &["credits_500", "minutes_20"],
        reasons: &["duplicate", "internal_error"],
        refused_reason: "legal",
        credit_line: None,
        max_top_up: 40,
        usage: invideo_usage,
    },
    Profile {
        account: "sim-rollover",
        plan: "ai-engine/professional",
        subscribed: false,
        units: &[("credit", 2)],
        packages: &["standard", "professional"],
        reasons: &["duplicate", "internal_error"],
        refused_reason: "legal",
        credit_line: None,
        max_top_up: 200,
        usage: ai_engine_usage,
    },
];

/// A profile to fall back on (the first of [`PROFILES`]).
pub const FALLBACK: Profile = Profile {
    account: "sim-line",
    plan: "imini/credit_line",
    subscribed: false,
    units: &[("credit", 2)],
    packages: &[],
    reasons: &["dispute", "internal_error", "legal"],
    refused_reason: "duplicate",
    credit_line: Some(("credit", "10000")),
    max_top_up: 60,
    usage: imini_usage,
};

/// A decimal string of `minor` at `scale` (e.g. 1234 at scale 2 is `"12.34"`).
pub fn format_minor(minor: u64, scale: u32) -> String {
    if scale == 0 {
        return minor.to_string();
    }
    let factor = 10_u64.pow(scale);
    format!(
        "{}.{:0width$}",
        minor / factor,
        minor % factor,
        width = scale as usize
    )
}
