//! The router of a client's inbox subscription (`{inbox}.>`): it hands every message to
//! the channel of the call it belongs to, by call token and channel suffix.
//!
//! Calls and their channels register in a table shared with the routing task, directly
//! from the caller (no message to that task, no wake-up of it): a channel registered
//! before its subject is handed out never misses a message. Messages for a registered
//! call whose channel nobody listens to yet are kept until someone does (up to
//! [`MAX_EARLY_FRAMES`] per call). The task ends, and the subscription with it, when the
//! last handle is gone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use async_nats::{StatusCode, Subject};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

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

/// The calls of one inbox, shared by the handles and the routing task.
#[derive(Default)]
struct Routes {
    calls: HashMap<String, Call>,
    /// Whether the routing task still runs (it reads the subscription).
    running: bool,
}

/// A cheap handle to the router.
#[derive(Clone)]
pub(crate) struct RouterHandle {
    routes: Arc<Mutex<Routes>>,
    /// Dropped with the last handle: the routing task then ends.
    _alive: Arc<oneshot::Sender<()>>,
}

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterHandle").finish_non_exhaustive()
    }
}

impl RouterHandle {
    /// Starts the router on `subscription` (which must be `inbox.wildcard()`).
    pub(crate) fn spawn(inbox: Inbox, subscription: async_nats::Subscriber) -> Self {
        let routes = Arc::new(Mutex::new(Routes {
            calls: HashMap::new(),
            running: true,
        }));
        let (alive, gone) = oneshot::channel();
        tokio::spawn(run(inbox, subscription, Arc::clone(&routes), gone));
        RouterHandle {
            routes,
            _alive: Arc::new(alive),
        }
    }

    fn routes(&self) -> parking_lot::MutexGuard<'_, Routes> {
        self.routes.lock()
    }

    /// Registers a call with the channels it listens to from the start. Returns whether
    /// the router still runs.
    pub(crate) fn open(&self, token: &str, channels: Vec<(Channel, FrameSender)>) -> bool {
        let mut routes = self.routes();
        if !routes.running {
            return false;
        }
        let call = routes.calls.entry(token.to_owned()).or_default();
        for (channel, tx) in channels {
            call.listeners.insert(channel, Some(tx));
        }
        true
    }

    /// A receiver for one more channel of a registered call, with the messages that came
    /// for it before; it ends at once when the call is gone.
    pub(crate) fn listen(&self, token: &str, channel: Channel) -> FrameReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut routes = self.routes();
        // An unknown call drops `tx`, which ends `rx`: the reader sees the end.
        if let Some(call) = routes.calls.get_mut(token) {
            if let Some(frames) = call.early.remove(&channel) {
                call.early_count -= frames.len();
                for frame in frames {
                    let _ = tx.send(frame);
                }
            }
            call.listeners.insert(channel, Some(tx));
        }
        rx
    }

    fn close(&self, token: &str) {
        self.routes().calls.remove(token);
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
    routes: Arc<Mutex<Routes>>,
    mut gone: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            // Every client handle and call is gone.
            _ = &mut gone => break,
            message = subscription.next() => match message {
                Some(message) => route(&inbox, &routes, message),
                None => {
                    debug!("inbox subscription ended");
                    break;
                }
            },
        }
    }
    let mut routes = routes.lock();
    routes.running = false;
    // Dropping the calls ends every listener.
    routes.calls.clear();
}

/// Hands `message` to its call's channel; the table is locked only for the hand-over.
fn route(inbox: &Inbox, routes: &Mutex<Routes>, message: async_nats::Message) {
    let Some((token, channel)) = inbox.parse(message.subject.as_str()) else {
        debug!(subject = %message.subject, "dropping a message on an unknown inbox subject");
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
    let mut routes = routes.lock();
    let Some(call) = routes.calls.get_mut(token) else {
        debug!(subject = %message.subject, "dropping a message for a finished call");
        return;
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
