//! HTTP over wRPC (`wrpc:http@0.1.0`, as wasmCloud 1.9.2 speaks it): the wire types
//! ([`wire`]), bodies and trailers as streams ([`body`]) and calls ([`client`]).
//!
//! Used by components' outgoing requests to a non-local http-client, by the builtin
//! http-client serving callers on other hosts, by the builtin http-server reaching a
//! component on another host, and by components serving `wasi:http/incoming-handler`
//! over wRPC.

pub(crate) mod body;
pub(crate) mod client;
mod error_code;
pub(crate) mod wire;
