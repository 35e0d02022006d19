//! wRPC over NATS (spec §16.3): invocation transport and the component-model value codec,
//! without wasmtime.
//!
//! * [`value`]: [`Type`](value::Type), [`Value`](value::Value), [`encode`](value::encode)
//!   and the incremental [`decode`](value::decode), byte-compatible with `wrpc-transport`
//!   0.28 and `wrpc-runtime-wasmtime`.
//! * [`WrpcClient`]: one endpoint per NATS connection. [`WrpcClient::invoke`] calls a
//!   function and returns an [`Invocation`]; [`WrpcClient::serve`] queue-subscribes a
//!   function and yields [`IncomingInvocation`]s. All calls of a client share one inbox
//!   subscription.
//!
//! Subjects (built in [`subjects`]):
//!
//! | subject | meaning |
//! |---|---|
//! | `{lattice}.{target_id}.wrpc.0.0.1.{instance}.{func}` | the call (queue group `{lattice}.{target_id}`) |
//! | `R_c` = `{client inbox}.{token}` | the server's empty accept, reply `R_s` |
//! | `R_s.params`, `R_s.params.{i}…` | parameters that did not fit, pending async parameters |
//! | `R_c.results`, `R_c.results.{i}…` | results, pending async results |
//!
//! Every channel ends with an empty message. Headers `source-id`, `link-name` and the W3C
//! trace context pass through ([`InvocationHeaders`]).

mod channel;
mod client;
mod error;
mod headers;
mod router;
mod server;
pub mod subjects;
pub mod value;

pub use channel::{IncomingChannel, OutgoingChannel};
pub use client::{Invocation, WrpcClient};
pub use error::{
    ChannelError, ChannelErrorKind, InvokeError, InvokeErrorKind, ServeError, ServeErrorKind,
};
pub use headers::{FAILURE, InvocationHeaders, LINK_NAME, SOURCE_ID, TRACEPARENT, TRACESTATE};
pub use server::{Acceptor, IncomingInvocation, Invocations};
pub use subjects::{InvocationSubject, SubjectPrefix};
