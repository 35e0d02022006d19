//! One way to open a NATS connection for every part of lattice: the host's ctl and rpc
//! connections, providers built with the SDK, the CLI, tests and the benchmark.
//!
//! - [`NatsConnectConfig`] names a server URL (credentials in it are sent, `tls://`
//!   requires TLS) and [`NatsAuth`] credentials; [`NatsConnectConfig::display_url`] is
//!   the form to show anyone.
//! - [`connect`] opens a host connection; [`connect_with`] does the same with the
//!   caller's [`async_nats::ConnectOptions`] (client name, timeouts).
//! - [`server_round_trip`] returns once the server has processed everything sent before
//!   it, such as subscriptions.
//! - [`reconnects`] is a watch that moves when a connection is back after a loss.
//! - [`provider_credentials`] turns credentials into the JWT and seed HostData carries.
//!
//! ```no_run
//! # async fn run() -> Result<(), lattice_nats::NatsError> {
//! use lattice_nats::{NatsConnectConfig, connect, server_round_trip};
//! let config = NatsConnectConfig::anonymous("nats://user:secret@127.0.0.1:4222");
//! let client = connect("ctl", &config, None, &[]).await?;
//! let _events = client.subscribe("wasmbus.evt.default.>").await;
//! server_round_trip(&client).await?; // the subscription is in place
//! # Ok(()) }
//! ```

mod config;
mod connect;
mod error;
mod reconnects;
#[cfg(test)]
mod test_server;

pub use config::{NatsAuth, NatsConnectConfig, UrlCredentials, redact_url};
pub use connect::{
    CLIENT_NAME, connect, connect_with, provider_credentials, reconnect_delay, server_round_trip,
    with_url_credentials,
};
pub use error::{NatsError, UrlError};
pub use reconnects::reconnects;
