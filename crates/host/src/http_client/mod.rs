//! Outgoing HTTP: what a component's `wasi:http/outgoing-handler.handle` reaches, and
//! what the builtin http-client provider serves.
//!
//! As in 1.9.2, a component's outgoing request follows its link for
//! `wasi:http/outgoing-handler` (link name `default`): there is no outgoing HTTP without
//! one, and the request fails with `internal-error("no link …")`. The link's target
//! decides the path:
//!
//! - a builtin http-client running on this host: the request is sent in-process by its
//!   [`OutgoingClient`] (no NATS hop; 1.9.2 goes through wRPC even then);
//! - anything else (an http-client provider binary, a builtin on another host):
//!   `wrpc:http/outgoing-handler@0.1.0.handle` over wRPC ([`crate::wrpc_http`]), the body
//!   and trailers streamed both ways.
//!
//! The builtin serves the same function over wRPC for callers elsewhere ([`serve`]).

mod client;
pub(crate) mod serve;

pub(crate) use client::{ClientSettings, OutgoingClient, head_wait};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The builtin http-clients running on this host, by provider ID: where components on
/// this host send their requests in-process. Written by the builtins as they start and
/// stop; read without waiting.
#[derive(Clone, Default)]
pub(crate) struct LocalHttpClients(Arc<RwLock<HashMap<String, Arc<OutgoingClient>>>>);

impl LocalHttpClients {
    /// The client of provider `id`, if it runs here.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<OutgoingClient>> {
        self.0.read().expect("not poisoned").get(id).cloned()
    }

    pub(crate) fn insert(&self, id: &str, client: Arc<OutgoingClient>) {
        self.0
            .write()
            .expect("not poisoned")
            .insert(id.to_string(), client);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.0.write().expect("not poisoned").remove(id);
    }
}
