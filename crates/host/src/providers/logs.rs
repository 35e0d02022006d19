//! What a provider prints: kept per provider entry in a ring bounded in lines and in
//! bytes (the last lines survive restarts, so a crash loop's output can be read).
//! Followers get new lines over NATS (see `process::OutputSink`).

use std::collections::VecDeque;
use std::sync::Mutex;

use lattice_proto::ctl::LogLine;

/// Most bytes of line text a ring keeps, whatever its line capacity: with lines capped
/// at `process::MAX_LINE_BYTES`, a full ring still fits a `provider.logs` reply in the
/// default 1 MiB NATS payload.
pub(crate) const RING_MAX_BYTES: usize = 512 * 1024;

/// The last lines of one provider entry. The lock is held only to push or copy lines.
pub(crate) struct LogBuffer {
    ring: Mutex<Ring>,
}

struct Ring {
    lines: VecDeque<LogLine>,
    capacity: usize,
    /// Bytes of line text in `lines`.
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
}

impl LogBuffer {
    /// A ring of at most `capacity` lines and [`RING_MAX_BYTES`].
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_max_bytes(capacity, RING_MAX_BYTES)
    }

    fn with_max_bytes(capacity: usize, max_bytes: usize) -> Self {
        LogBuffer {
            ring: Mutex::new(Ring {
                // Grown as lines come: most providers print a few lines, and a ring
                // allocated whole (80 bytes a line) would cost every provider as much.
                lines: VecDeque::new(),
                capacity,
                bytes: 0,
                max_bytes,
                next_seq: 1,
            }),
        }
    }

    /// Appends a line read from `stream` and hands it to `then` while the ring is still
    /// locked, so what `then` sees comes in sequence order across streams. `then` must
    /// not block.
    pub(crate) fn push_then(&self, stream: &str, line: String, then: impl FnOnce(&LogLine)) {
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        let mut ring = self.ring.lock().expect("log ring lock is never poisoned");
        let entry = LogLine {
            seq: ring.next_seq,
            stream: stream.to_string(),
            time,
            line,
        };
        ring.next_seq += 1;
        then(&entry);
        if ring.capacity == 0 {
            return;
        }
        ring.bytes += entry.line.len();
        ring.lines.push_back(entry);
        // The newest line always stays.
        while ring.lines.len() > 1
            && (ring.lines.len() > ring.capacity || ring.bytes > ring.max_bytes)
        {
            let oldest = ring.lines.pop_front().expect("more than one line");
            ring.bytes -= oldest.line.len();
        }
    }

    /// Appends a line read from `stream`.
    #[cfg(test)]
    pub(crate) fn push(&self, stream: &str, line: String) {
        self.push_then(stream, line, |_| {});
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

    #[test]
    fn the_ring_is_bounded_in_bytes_and_keeps_the_newest_line() {
        let logs = LogBuffer::with_max_bytes(1000, 10);
        for line in ["aaaa", "bbbb", "cccc"] {
            logs.push("stdout", line.to_string());
        }
        let kept: Vec<_> = logs.tail(None).into_iter().map(|l| l.line).collect();
        assert_eq!(kept, ["bbbb", "cccc"]);
        logs.push("stderr", "x".repeat(50));
        let tail = logs.tail(None);
        assert_eq!((tail.len(), tail[0].seq), (1, 4));
    }

    #[test]
    fn lines_are_handed_on_in_sequence_order_even_when_not_kept() {
        let logs = LogBuffer::new(0);
        let mut seen = Vec::new();
        for i in 0..3 {
            logs.push_then("stdout", format!("{i}"), |l| seen.push(l.seq));
        }
        assert_eq!(seen, [1, 2, 3]);
        assert!(logs.tail(None).is_empty());
    }
}
