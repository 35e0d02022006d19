//! Health-check bookkeeping: the 1.x edge rules for events, plus counting probes in a
//! row that got no answer, so a provider that stops answering can be restarted. Pure;
//! the probing itself is in the supervisor.
//!
//! A provider that answers `healthy: false` is alive: it is reported
//! (`health_check_failed`), not restarted. A probe that goes unanswered while the host's
//! own NATS connection is down says nothing about the provider and is not counted.

use lattice_proto::provider::HealthCheckResponse;

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A decodable answer.
    Answer(HealthCheckResponse),
    /// Timeout, no responders or an undecodable reply, with the host's NATS connection up.
    NoAnswer(String),
    /// No answer, but the host's own NATS connection was not connected: an outage of
    /// NATS, not a hung provider.
    Disconnected,
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
    unanswered: u32,
    /// The last probe was answered, and nothing since suggests the provider could have
    /// missed a message (a probe without answer, the host's connection lost).
    in_contact: bool,
}

impl HealthTracker {
    /// Applies a probe; returns the event to publish, if any.
    ///
    /// 1.x edge rules: healthy after not-healthy ⇒ passed; unhealthy after healthy ⇒
    /// failed; any other decodable answer ⇒ status; no answer ⇒ no event. Only probes
    /// left unanswered while the host was connected count toward a restart.
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
                self.unanswered = 0;
                self.in_contact = true;
                Some(event)
            }
            Probe::NoAnswer(_) => {
                self.unanswered += 1;
                self.in_contact = false;
                None
            }
            Probe::Disconnected => {
                self.in_contact = false;
                None
            }
        }
    }

    /// Whether the provider answered the last probe and nothing since suggests it
    /// missed a message: after a loss of contact, the next answer means the links and
    /// config it holds are worth sending again.
    pub(crate) fn in_contact(&self) -> bool {
        self.in_contact
    }

    /// The host's own connection came back: what was published meanwhile may be lost.
    pub(crate) fn lose_contact(&mut self) {
        self.in_contact = false;
    }

    /// Whether the process has answered at least once.
    pub(crate) fn answered(&self) -> bool {
        self.answered
    }

    /// Probes in a row left unanswered while the host was connected.
    pub(crate) fn unanswered(&self) -> u32 {
        self.unanswered
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
    fn only_unanswered_probes_while_connected_count() {
        let mut h = HealthTracker::default();
        h.observe(&answer(true));
        h.observe(&Probe::NoAnswer("t".into()));
        h.observe(&Probe::Disconnected);
        h.observe(&Probe::NoAnswer("t".into()));
        assert_eq!(h.unanswered(), 2, "an outage of NATS is not counted");
        h.observe(&answer(false));
        assert_eq!(h.unanswered(), 0, "an unhealthy answer is an answer");
        assert_eq!(h.healthy(), Some(false));
        h.observe(&answer(true));
        assert_eq!(h.unanswered(), 0);
    }

    #[test]
    fn contact_is_lost_by_silence_or_a_reconnect_and_regained_by_an_answer() {
        let mut h = HealthTracker::default();
        assert!(!h.in_contact());
        h.observe(&answer(true));
        assert!(h.in_contact());
        h.observe(&Probe::NoAnswer("t".into()));
        assert!(!h.in_contact());
        h.observe(&answer(false));
        assert!(h.in_contact(), "an unhealthy answer is contact");
        h.observe(&Probe::Disconnected);
        assert!(!h.in_contact());
        h.observe(&answer(true));
        h.lose_contact();
        assert!(!h.in_contact());
        assert_eq!(
            h.healthy(),
            Some(true),
            "the verdict stays until the next answer"
        );
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
