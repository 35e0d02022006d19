//! The transport's floor without any client library or async runtime: a minimal NATS
//! client on a blocking `TcpStream` (one OS thread per connection), for a bare request →
//! reply and for a wRPC call of `math.add`; and under that the machine's own floor, a TCP
//! round trip between two threads with no NATS at all (a NATS request → reply makes two:
//! caller → server → responder and back). What the async client adds on top (its
//! connection task, channels and wake-ups) then shows as the difference between the two
//! floors, and the host's own share of a hop as the difference between a raw hop and the
//! raw floor.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

/// One message received.
struct Message {
    subject: String,
    reply: Option<String>,
    payload: Vec<u8>,
}

/// A connection speaking just enough of the NATS protocol: `SUB`, `PUB`, `MSG`/`HMSG`.
struct RawNats {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawNats {
    /// Connects to `url` (`nats://host:port`) and waits for the server's `PONG`.
    fn connect(url: &str) -> io::Result<Self> {
        let address = url.trim_start_matches("nats://");
        let writer = TcpStream::connect(address)?;
        writer.set_nodelay(true)?;
        let mut reader = BufReader::new(writer.try_clone()?);
        let mut info = String::new();
        reader.read_line(&mut info)?;
        let mut conn = Self { writer, reader };
        conn.writer.write_all(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n",
        )?;
        conn.sync()?;
        Ok(conn)
    }

    /// `PING`, then reads up to the `PONG`: what was sent before has been applied.
    fn sync(&mut self) -> io::Result<()> {
        self.writer.write_all(b"PING\r\n")?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line.starts_with("PONG") {
                return Ok(());
            }
        }
    }

    fn subscribe(&mut self, subject: &str, sid: u32) -> io::Result<()> {
        write!(self.writer, "SUB {subject} {sid}\r\n")?;
        self.sync()
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) -> io::Result<()> {
        let mut frame = match reply {
            Some(reply) => format!("PUB {subject} {reply} {}\r\n", payload.len()).into_bytes(),
            None => format!("PUB {subject} {}\r\n", payload.len()).into_bytes(),
        };
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.writer.write_all(&frame)
    }

    /// The next `MSG` or `HMSG` (headers dropped); answers the server's `PING`s.
    fn next_message(&mut self) -> io::Result<Message> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let bad = || io::Error::new(io::ErrorKind::InvalidData, line.clone());
            let size = |s: &str| s.parse::<usize>().map_err(|_| bad());
            let (subject, reply, header_len, total) = match parts.as_slice() {
                ["PING"] => {
                    self.writer.write_all(b"PONG\r\n")?;
                    continue;
                }
                ["MSG", subject, _sid, n] => (*subject, None, 0, size(n)?),
                ["MSG", subject, _sid, reply, n] => (*subject, Some(*reply), 0, size(n)?),
                ["HMSG", subject, _sid, h, n] => (*subject, None, size(h)?, size(n)?),
                ["HMSG", subject, _sid, reply, h, n] => {
                    (*subject, Some(*reply), size(h)?, size(n)?)
                }
                [first, ..] if first.starts_with('-') => return Err(bad()),
                _ => continue,
            };
            let (subject, reply) = (subject.to_string(), reply.map(str::to_string));
            let mut body = vec![0; total + 2];
            self.reader.read_exact(&mut body)?;
            body.truncate(total);
            let payload = body.split_off(header_len.min(total));
            return Ok(Message {
                subject,
                reply,
                payload,
            });
        }
    }
}

/// What the raw client measured, in milliseconds per call.
pub(crate) struct RawFigures {
    /// A few bytes to an echo thread and back over loopback TCP, no NATS.
    pub(crate) tcp_round_trip: Vec<f64>,
    /// A bare request → reply: a responder thread echoes on its own connection.
    pub(crate) round_trip: Vec<f64>,
    /// A wRPC call of `add` on `target`: the request, then the accept, the results and
    /// the empty message that closes them.
    pub(crate) one_hop: Vec<f64>,
}

/// `calls` sequential round trips to an echo thread over loopback TCP, after a few
/// unmeasured ones.
fn tcp_round_trip(calls: usize, warm_up: usize) -> io::Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut buffer = [0; 64];
        loop {
            match stream.read(&mut buffer)? {
                0 => return Ok(()),
                n => stream.write_all(&buffer[..n])?,
            }
        }
    });
    let mut stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut samples = Vec::with_capacity(calls);
    let mut answer = [0; 4];
    for i in 0..warm_up + calls {
        let sent = Instant::now();
        stream.write_all(b"ping")?;
        stream.read_exact(&mut answer)?;
        if i >= warm_up {
            samples.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
    drop(stream);
    echo.join()
        .map_err(|_| io::Error::other("the TCP echo thread panicked"))??;
    Ok(samples)
}

/// Measures `calls` sequential requests of each kind through the server at `url` (and
/// TCP round trips without it), after a few unmeasured ones. Blocking: run it on a thread
/// of its own.
pub(crate) fn measure(
    url: &str,
    lattice: &str,
    target: &str,
    instance: &str,
    calls: usize,
) -> io::Result<RawFigures> {
    let warm_up = 20;
    let tcp_round_trip = tcp_round_trip(calls, warm_up)?;
    let mut responder = RawNats::connect(url)?;
    responder.subscribe("bench.raw.echo", 1)?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        loop {
            let message = responder.next_message()?;
            if message.payload == b"stop" {
                return Ok(());
            }
            if let Some(reply) = message.reply {
                responder.publish(&reply, None, &message.payload)?;
            }
        }
    });
    let mut caller = RawNats::connect(url)?;
    caller.subscribe("_RAW.>", 1)?;
    let mut round_trip = Vec::with_capacity(calls);
    for i in 0..warm_up + calls {
        let sent = Instant::now();
        caller.publish("bench.raw.echo", Some(&format!("_RAW.{i}")), b"ping")?;
        caller.next_message()?;
        if i >= warm_up {
            round_trip.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
    caller.publish("bench.raw.echo", None, b"stop")?;
    echo.join()
        .map_err(|_| io::Error::other("the echo thread panicked"))??;

    let subject = format!("{lattice}.{target}.wrpc.0.0.1.{instance}.add");
    let mut one_hop = Vec::with_capacity(calls);
    for i in 0..warm_up + calls {
        let (a, b) = (i as u8 % 100, 7u8);
        let inbox = format!("_RAW.hop.{i}");
        let results = format!("{inbox}.results");
        let sent = Instant::now();
        caller.publish(&subject, Some(&inbox), &[a, b])?;
        // The accept (it may come with the results), the results, then their close.
        let mut sum = None;
        loop {
            let message = caller.next_message()?;
            if message.subject != results {
                continue;
            }
            match message.payload.as_slice() {
                [] => break,
                [n] => sum = Some(*n),
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("add({a}, {b}) answered {other:?}"),
                    ));
                }
            }
        }
        if sum != Some(a + b) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("add({a}, {b}) returned {sum:?}"),
            ));
        }
        if i >= warm_up {
            one_hop.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(RawFigures {
        tcp_round_trip,
        round_trip,
        one_hop,
    })
}
