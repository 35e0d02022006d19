//! The one owner of a client's inbox subscription (`{inbox}.>`): it hands every message
//! to the channel of the call it belongs to, by call token and channel suffix.
//!
//! Calls and their channels register through commands; the loop prefers commands over
//! messages, so a channel registered before its subject is handed out never misses a
//! message. Messages for a registered call whose channel nobody listens to yet are kept
//! until someone does (up to [`MAX_EARLY_FRAMES`] per call).

use std::collections::{HashMap, VecDeque};

use async_nats::{StatusCode, Subject};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use crate::subjects::{Channel, Inbox};

/// Messages kept per call for channels nobody listens to yet.
pub(crate) const MAX_EARLY_FRAMES: usize = 4096;

/// One message on an inbox subject.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) payload: Bytes,
    pub(crate) reply: Option<Subject>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) description: Option<String>,
    /// The [`FAILURE`](crate::headers::FAILURE) header of a closing message.
    pub(crate) failure: Option<String>,
}

pub(crate) type FrameSender = mpsc::UnboundedSender<Frame>;
pub(crate) type FrameReceiver = mpsc::UnboundedReceiver<Frame>;

enum Command {
    Open {
        token: String,
        channels: Vec<(Channel, FrameSender)>,
    },
    Listen {
        token: String,
        channel: Channel,
        tx: FrameSender,
    },
    Close {
        token: String,
    },
}

/// A cheap handle to the router task.
#[derive(Clone, Debug)]
pub(crate) struct RouterHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Open { token, .. } => write!(f, "Open({token})"),
            Command::Listen { token, channel, .. } => write!(f, "Listen({token}, {channel:?})"),
            Command::Close { token } => write!(f, "Close({token})"),
        }
    }
}

impl RouterHandle {
    /// Starts the router on `subscription` (which must be `inbox.wildcard()`).
    pub(crate) fn spawn(inbox: Inbox, subscription: async_nats::Subscriber) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(inbox, subscription, rx));
        RouterHandle { commands }
    }

    /// Registers a call with the channels it listens to from the start. Returns whether
    /// the router still runs.
    pub(crate) fn open(&self, token: &str, channels: Vec<(Channel, FrameSender)>) -> bool {
        self.commands
            .send(Command::Open {
                token: token.to_owned(),
                channels,
            })
            .is_ok()
    }

    /// A receiver for one more channel of a registered call; it ends at once when the
    /// call is gone.
    pub(crate) fn listen(&self, token: &str, channel: Channel) -> FrameReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        // A stopped router drops `tx`, which ends `rx`: the reader sees the end.
        let _ = self.commands.send(Command::Listen {
            token: token.to_owned(),
            channel,
            tx,
        });
        rx
    }

    fn close(&self, token: &str) {
        let _ = self.commands.send(Command::Close {
            token: token.to_owned(),
        });
    }
}

/// Keeps a call registered while any of its handles lives.
#[derive(Debug)]
pub(crate) struct CallGuard {
    pub(crate) token: String,
    pub(crate) router: RouterHandle,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.router.close(&self.token);
    }
}

#[derive(Default)]
struct Call {
    /// `None`: the listener went away; its frames are dropped.
    listeners: HashMap<Channel, Option<FrameSender>>,
    early: HashMap<Channel, VecDeque<Frame>>,
    early_count: usize,
}

async fn run(
    inbox: Inbox,
    mut subscription: async_nats::Subscriber,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut calls: HashMap<String, Call> = HashMap::new();
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(command) => handle_command(&mut calls, command),
                // Every client handle and call is gone.
                None => break,
            },
            message = subscription.next() => match message {
                Some(message) => route(&inbox, &mut calls, message),
                None => {
                    debug!("inbox subscription ended");
                    break;
                }
            },
        }
    }
    // Dropping `calls` ends every listener.
}

fn handle_command(calls: &mut HashMap<String, Call>, command: Command) {
    trace!(?command, "router command");
    match command {
        Command::Open { token, channels } => {
            let call = calls.entry(token).or_default();
            for (channel, tx) in channels {
                call.listeners.insert(channel, Some(tx));
            }
        }
        Command::Listen { token, channel, tx } => {
            let Some(call) = calls.get_mut(&token) else {
                return;
            };
            if let Some(frames) = call.early.remove(&channel) {
                call.early_count -= frames.len();
                for frame in frames {
                    let _ = tx.send(frame);
                }
            }
            call.listeners.insert(channel, Some(tx));
        }
        Command::Close { token } => {
            calls.remove(&token);
        }
    }
}

fn route(inbox: &Inbox, calls: &mut HashMap<String, Call>, message: async_nats::Message) {
    let Some((token, channel)) = inbox.parse(message.subject.as_str()) else {
        debug!(subject = %message.subject, "dropping a message on an unknown inbox subject");
        return;
    };
    let Some(call) = calls.get_mut(token) else {
        debug!(subject = %message.subject, "dropping a message for a finished call");
        return;
    };
    let failure = message
        .headers
        .as_ref()
        .and_then(|h| h.get(crate::headers::FAILURE))
        .map(|v| v.as_str().to_string());
    let frame = Frame {
        payload: message.payload,
        reply: message.reply,
        status: message.status,
        description: message.description,
        failure,
    };
    match call.listeners.get_mut(&channel) {
        Some(Some(tx)) => {
            if tx.send(frame).is_err() {
                call.listeners.insert(channel, None);
            }
        }
        Some(None) => {}
        None if call.early_count < MAX_EARLY_FRAMES => {
            call.early_count += 1;
            call.early.entry(channel).or_default().push_back(frame);
        }
        None => {
            warn!(subject = %message.subject, "dropping a message: too many unread messages for this call")
        }
    }
}
