//! What a provider prints: kept per provider entry in a bounded ring (the last lines
//! survive restarts, so a crash loop's output can be read). Followers get new lines
//! over NATS (see `process::OutputSink`).

use std::collections::VecDeque;
use std::sync::Mutex;

use lattice_proto::ctl::LogLine;

/// The last lines of one provider entry. The lock is held only to push or copy lines.
pub(crate) struct LogBuffer {
    ring: Mutex<Ring>,
}

struct Ring {
    lines: VecDeque<LogLine>,
    capacity: usize,
    next_seq: u64,
}

impl LogBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        LogBuffer {
            ring: Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                next_seq: 1,
            }),
        }
    }

    /// Appends a line read from `stream`.
    pub(crate) fn push(&self, stream: &str, line: String) -> LogLine {
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();

        {
            let mut ring = self.ring.lock().expect("log ring lock is never poisoned");
            let entry = LogLine {
                seq: ring.next_seq,
                stream: stream.to_string(),
                time,
                line,
            };
            ring.next_seq += 1;
            if ring.capacity > 0 {
                if ring.lines.len() == ring.capacity {
                    ring.lines.pop_front();
                }
                ring.lines.push_back(entry.clone());
            }
            entry
        }
    }

    /// The last `n` kept lines (all when `None`), oldest first.
    pub(crate) fn tail(&self, n: Option<usize>) -> Vec<LogLine> {
        let ring = self.ring.lock().expect("log ring lock is never poisoned");
        let skip = n.map_or(0, |n| ring.lines.len().saturating_sub(n));
        ring.lines.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_with_sequence_numbers() {
        let logs = LogBuffer::new(3);
        for i in 1..=5 {
            logs.push("stdout", format!("line {i}"));
        }
        let tail = logs.tail(None);
        assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(logs.tail(Some(1))[0].line, "line 5");
        assert_eq!(logs.tail(Some(10)).len(), 3);
    }
}
