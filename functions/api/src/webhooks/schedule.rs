//! When a failed delivery is tried again: a pure function of the attempts made, when the
//! first was made, now and a jitter drawn by the caller (so tests run a whole schedule
//! without waiting, and the same inputs always give the same answer).
//!
//! The delay before attempt `n + 1` is `min(base · 2^(n−1), cap)`, of which the jitter keeps
//! between half and all ("equal jitter": receivers coming back are not hit by every retry at
//! once, and no retry comes sooner than half its delay). Retries stop once the next attempt
//! would fall more than `give_up_after` after the first: the delivery is then failed.

use chrono::{DateTime, TimeDelta, Utc};

/// The largest jitter, in thousandths of the delay's upper half.
pub const MAX_JITTER_PERMILLE: u16 = 1000;

/// The retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failure, in milliseconds.
    pub base_ms: u64,
    /// The longest delay between two attempts, in milliseconds.
    pub cap_ms: u64,
    /// How long after the first attempt retries stop, in milliseconds.
    pub give_up_after_ms: u64,
}

impl Default for RetryPolicy {
    /// 10 s, doubling, at most an hour apart, for 3 days (about 80 attempts).
    fn default() -> Self {
        Self {
            base_ms: 10_000,
            cap_ms: 60 * 60 * 1000,
            give_up_after_ms: 3 * 24 * 60 * 60 * 1000,
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `attempts` failed ones, before jitter.
    #[must_use]
    pub fn delay_ms(&self, attempts: u32) -> u64 {
        let doublings = attempts.saturating_sub(1).min(63);
        let factor = 1_u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }
}

/// When to make the next attempt after `attempts` (≥ 1) failed ones, the first at
/// `first_attempt_at`, the last failing at `now`; `None` to give up. `jitter_permille`
/// (0..=1000, larger values count as 1000) picks the delay between half and all of
/// [`RetryPolicy::delay_ms`].
#[must_use]
pub fn next_attempt(
    policy: &RetryPolicy,
    attempts: u32,
    first_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
    jitter_permille: u16,
) -> Option<DateTime<Utc>> {
    let delay = policy.delay_ms(attempts.max(1));
    let half = delay / 2;
    let jitter = u64::from(jitter_permille.min(MAX_JITTER_PERMILLE));
    let jittered = half.saturating_add(
        (delay.saturating_sub(half))
            .saturating_mul(jitter)
            .checked_div(u64::from(MAX_JITTER_PERMILLE))
            .unwrap_or(0),
    );
    let at = now.checked_add_signed(TimeDelta::milliseconds(i64::try_from(jittered).ok()?))?;
    let deadline = first_attempt_at.checked_add_signed(TimeDelta::milliseconds(
        i64::try_from(policy.give_up_after_ms).ok()?,
    ))?;
    (at <= deadline).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn next_attempt_table() {
        let policy = RetryPolicy::default();
        // (attempts, first attempt, now, jitter ‰) → seconds after the first attempt, or give up.
        let cases: &[(u32, i64, i64, u16, Option<i64>)] = &[
            (1, 0, 0, 1000, Some(10)),
            (1, 0, 0, 0, Some(5)),
            (1, 0, 0, 600, Some(8)),
            (2, 0, 10, 1000, Some(30)),
            (3, 0, 30, 1000, Some(70)),
            (3, 0, 30, 0, Some(50)),
            // The cap: an hour at most, from the 10th attempt on.
            (10, 0, 10_000, 1000, Some(13_600)),
            (11, 0, 10_000, 1000, Some(13_600)),
            (200, 0, 10_000, 1000, Some(13_600)),
            (10, 0, 10_000, 0, Some(11_800)),
            // Jitter beyond 1000 counts as 1000.
            (1, 0, 0, 60_000, Some(10)),
            // 3 days: an attempt that would land past them is not made.
            (80, 0, 255_600, 1000, Some(259_200)),
            (80, 0, 255_601, 1000, None),
            (80, 0, 257_401, 0, None),
            (80, 0, 257_400, 0, Some(259_200)),
            // Zero attempts counts as one.
            (0, 0, 0, 1000, Some(10)),
        ];
        for (attempts, first, now, jitter, expected) in cases {
            assert_eq!(
                next_attempt(&policy, *attempts, at(*first), at(*now), *jitter),
                expected.map(at),
                "attempts {attempts}, now {now}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn a_receiver_down_for_good_is_given_up_on_after_3_days() {
        let policy = RetryPolicy::default();
        let mut now = at(0);
        let mut attempts = 1;
        while let Some(next) = next_attempt(&policy, attempts, at(0), now, 1000) {
            assert!(next > now);
            now = next;
            attempts += 1;
        }
        assert!(now <= at(259_200) && now > at(259_200 - 3600), "{now}");
        assert!((75..=85).contains(&attempts), "{attempts} attempts");
    }
}
