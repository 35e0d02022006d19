//! When to restart a provider that exited on its own: a pure policy, no I/O.
//!
//! Like Kubernetes' CrashLoopBackOff: the first restart is immediate; each further
//! consecutive one waits twice as long (from `initial_backoff` up to `max_backoff`,
//! default 5 minutes), and a process that ran for `stable_after` resets the backoff. A
//! provider is retried for as long as it keeps exiting, so it heals once whatever it
//! depends on comes back; only when the user sets `max_starts` does the `max_starts`-th
//! start within `window` give up. (With long backoffs, fewer than `max_starts` fit in
//! the window, and the provider keeps being retried slowly.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restart settings. The defaults: immediate, then 100 ms doubling to 5 min; reset after
/// 30 s of running; never give up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the second consecutive restart (the first is immediate).
    pub initial_backoff: Duration,
    /// Longest delay between restarts.
    pub max_backoff: Duration,
    /// A process that ran this long resets the backoff.
    pub stable_after: Duration,
    /// With `Some(n)`: after `n` starts within `window`, the next exit gives up. `None`
    /// (the default) keeps restarting.
    pub max_starts: Option<u32>,
    /// The window `max_starts` counts in.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(300),
            stable_after: Duration::from_secs(30),
            max_starts: None,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do after an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start again after this delay.
    Restart {
        /// Delay before the next start.
        delay: Duration,
    },
    /// Too many starts in the window (only with a `max_starts` limit): stop trying.
    GiveUp,
}

/// Applies a [`RestartPolicy`] to one provider's history of starts.
#[derive(Clone, Debug)]
pub(crate) struct RestartTracker {
    policy: RestartPolicy,
    starts: VecDeque<Instant>,
    consecutive: u32,
}

impl RestartTracker {
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        RestartTracker {
            policy,
            starts: VecDeque::new(),
            consecutive: 0,
        }
    }

    /// Records that a process was started at `at`.
    pub(crate) fn record_start(&mut self, at: Instant) {
        self.starts.push_back(at);
    }

    /// Decides what follows a process that exited at `now` after running `ran_for`.
    pub(crate) fn next(&mut self, now: Instant, ran_for: Duration) -> RestartDecision {
        if ran_for >= self.policy.stable_after {
            self.consecutive = 0;
        }
        while let Some(&oldest) = self.starts.front() {
            if now.saturating_duration_since(oldest) > self.policy.window {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        if let Some(max) = self.policy.max_starts
            && self.starts.len() >= max as usize
        {
            return RestartDecision::GiveUp;
        }
        let delay = match self.consecutive {
            0 => Duration::ZERO,
            n => {
                let factor = 2u32.saturating_pow(n - 1);
                self.policy
                    .initial_backoff
                    .saturating_mul(factor)
                    .min(self.policy.max_backoff)
            }
        };
        self.consecutive += 1;
        RestartDecision::Restart { delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs a crash loop: every process lives `life`; returns the delays until give-up.
    fn crash_loop(
        policy: RestartPolicy,
        life: Duration,
        max_iterations: usize,
    ) -> (Vec<Duration>, bool) {
        let mut tracker = RestartTracker::new(policy);
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..max_iterations {
            tracker.record_start(now);
            now += life;
            match tracker.next(now, life) {
                RestartDecision::Restart { delay } => {
                    delays.push(delay);
                    now += delay;
                }
                RestartDecision::GiveUp => return (delays, true),
            }
        }
        (delays, false)
    }

    fn limited(max_starts: u32) -> RestartPolicy {
        RestartPolicy {
            max_starts: Some(max_starts),
            ..RestartPolicy::default()
        }
    }

    #[test]
    fn first_restart_is_immediate_then_backoff_doubles() {
        let (delays, gave_up) = crash_loop(limited(5), ms(10), 100);
        assert!(gave_up);
        assert_eq!(delays, [ms(0), ms(100), ms(200), ms(400)]);
    }

    #[test]
    fn by_default_a_crash_loop_never_gives_up_and_backs_off_to_five_minutes() {
        let (delays, gave_up) = crash_loop(RestartPolicy::default(), ms(10), 1000);
        assert!(!gave_up);
        assert_eq!(delays[9], Duration::from_millis(25_600), "{delays:?}");
        assert_eq!(delays[12], Duration::from_millis(204_800), "{delays:?}");
        assert_eq!(delays[13], Duration::from_secs(300), "{delays:?}");
        assert_eq!(delays[999], Duration::from_secs(300));
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RestartPolicy {
            max_backoff: Duration::from_secs(30),
            ..RestartPolicy::default()
        };
        let (delays, gave_up) = crash_loop(policy, ms(10), 12);
        assert!(!gave_up);
        assert_eq!(delays[9], Duration::from_millis(25_600), "{delays:?}");
        assert_eq!(delays[10], Duration::from_secs(30), "{delays:?}");
        assert_eq!(delays[11], Duration::from_secs(30));
    }

    #[test]
    fn a_stable_run_resets_the_backoff() {
        let mut tracker = RestartTracker::new(RestartPolicy::default());
        let t0 = Instant::now();
        tracker.record_start(t0);
        assert_eq!(
            tracker.next(t0 + ms(5), ms(5)),
            RestartDecision::Restart { delay: ms(0) }
        );
        tracker.record_start(t0 + ms(5));
        assert_eq!(
            tracker.next(t0 + ms(10), ms(5)),
            RestartDecision::Restart { delay: ms(100) }
        );
        tracker.record_start(t0 + ms(110));
        let later = t0 + Duration::from_secs(100);
        assert_eq!(
            tracker.next(later, Duration::from_secs(99)),
            RestartDecision::Restart { delay: ms(0) },
            "a long run starts the backoff over"
        );
    }

    #[test]
    fn old_starts_leave_the_window() {
        let policy = RestartPolicy {
            window: Duration::from_secs(10),
            ..limited(2)
        };
        let mut tracker = RestartTracker::new(policy);
        let t0 = Instant::now();
        tracker.record_start(t0);
        tracker.record_start(t0 + Duration::from_secs(1));
        assert_eq!(
            tracker.next(t0 + Duration::from_secs(2), ms(1)),
            RestartDecision::GiveUp
        );
        let mut tracker = RestartTracker::new(RestartPolicy {
            window: Duration::from_secs(10),
            ..limited(2)
        });
        tracker.record_start(t0);
        tracker.record_start(t0 + Duration::from_secs(1));
        assert!(matches!(
            tracker.next(t0 + Duration::from_secs(20), ms(1)),
            RestartDecision::Restart { .. }
        ));
    }

    #[test]
    fn slow_backoff_keeps_retrying() {
        let policy = RestartPolicy {
            initial_backoff: Duration::from_secs(20),
            max_backoff: Duration::from_secs(40),
            ..limited(5)
        };
        let (_, gave_up) = crash_loop(policy, ms(10), 50);
        assert!(!gave_up, "fewer than max_starts fit in the window");
    }
}
