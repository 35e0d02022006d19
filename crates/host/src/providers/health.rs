//! Health-check bookkeeping: the 1.x edge rules for events, plus counting consecutive
//! failures so a provider that stops answering can be restarted. Pure; the probing
//! itself is in the supervisor.

use lattice_proto::provider::HealthCheckResponse;

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A decodable answer.
    Answer(HealthCheckResponse),
    /// Timeout, no responders or an undecodable reply.
    NoAnswer(String),
}

/// Which `health_check_*` event a probe produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HealthEvent {
    Passed,
    Failed,
    Status,
}

/// Health state of one provider process.
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthTracker {
    previous_healthy: bool,
    answered: bool,
    consecutive_failures: u32,
}

impl HealthTracker {
    /// Applies a probe; returns the event to publish, if any.
    ///
    /// 1.x edge rules: healthy after not-healthy ⇒ passed; unhealthy after healthy ⇒
    /// failed; any other decodable answer ⇒ status; no answer ⇒ no event. Unhealthy
    /// answers and missing answers count as failures.
    pub(crate) fn observe(&mut self, probe: &Probe) -> Option<HealthEvent> {
        match probe {
            Probe::Answer(answer) => {
                self.answered = true;
                let event = match (answer.healthy, self.previous_healthy) {
                    (true, false) => HealthEvent::Passed,
                    (false, true) => HealthEvent::Failed,
                    _ => HealthEvent::Status,
                };
                self.previous_healthy = answer.healthy;
                self.consecutive_failures = if answer.healthy {
                    0
                } else {
                    self.consecutive_failures + 1
                };
                Some(event)
            }
            Probe::NoAnswer(_) => {
                self.consecutive_failures += 1;
                None
            }
        }
    }

    /// Whether the process has answered at least once.
    pub(crate) fn answered(&self) -> bool {
        self.answered
    }

    /// Failed or missing answers in a row.
    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The last answer's verdict (`None` before any answer).
    pub(crate) fn healthy(&self) -> Option<bool> {
        self.answered.then_some(self.previous_healthy)
    }

    /// The process ended: a provider that was healthy is not any more.
    pub(crate) fn process_ended(&mut self) -> Option<HealthEvent> {
        let was_healthy = self.previous_healthy;
        *self = HealthTracker::default();
        was_healthy.then_some(HealthEvent::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(healthy: bool) -> Probe {
        Probe::Answer(HealthCheckResponse {
            healthy,
            message: None,
        })
    }

    #[test]
    fn edges_follow_the_1x_rules() {
        let mut h = HealthTracker::default();
        assert_eq!(h.healthy(), None);
        assert_eq!(
            h.observe(&answer(false)),
            Some(HealthEvent::Status),
            "first answer unhealthy"
        );
        assert_eq!(h.observe(&answer(true)), Some(HealthEvent::Passed));
        assert_eq!(h.observe(&answer(true)), Some(HealthEvent::Status));
        assert_eq!(h.observe(&Probe::NoAnswer("timeout".into())), None);
        assert_eq!(h.healthy(), Some(true), "no answer leaves the state");
        assert_eq!(h.observe(&answer(false)), Some(HealthEvent::Failed));
        assert_eq!(h.observe(&answer(false)), Some(HealthEvent::Status));
    }

    #[test]
    fn failures_count_until_a_healthy_answer() {
        let mut h = HealthTracker::default();
        h.observe(&answer(true));
        h.observe(&Probe::NoAnswer("t".into()));
        h.observe(&answer(false));
        h.observe(&Probe::NoAnswer("t".into()));
        assert_eq!(h.consecutive_failures(), 3);
        h.observe(&answer(true));
        assert_eq!(h.consecutive_failures(), 0);
    }

    #[test]
    fn a_healthy_process_that_ends_fails_and_starts_over() {
        let mut h = HealthTracker::default();
        h.observe(&answer(true));
        assert_eq!(h.process_ended(), Some(HealthEvent::Failed));
        assert_eq!(h.process_ended(), None);
        assert_eq!(
            h.observe(&answer(true)),
            Some(HealthEvent::Passed),
            "the new process passes again"
        );
    }
}
