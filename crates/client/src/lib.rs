//! A typed client for the lattice (wasmCloud 1.x) control interface and event stream,
//! shared by the `lattice` CLI, the test harness and the benchmark.
//!
//! - [`CtlClient`] owns a NATS connection and the control subjects of one lattice:
//!   host pings, inventories, labels, host stops, provider auctions, starts, stops and
//!   logs, links and named config. Every request has a timeout; every failure is a
//!   [`ClientError`].
//! - [`EventStream`] follows `wasmbus.evt.{lattice}.>` from the moment it exists (a
//!   server round trip confirms the subscription), and [`EventStream::wait_for`] waits
//!   for one event: subscribe first, act, then wait.
//! - [`request`] sends one control request on a subject the caller built (tests).
//!
//! ```no_run
//! # async fn run() -> Result<(), lattice_client::ClientError> {
//! use std::time::Duration;
//! use lattice_client::{ClientOptions, CtlClient};
//!
//! let client = CtlClient::connect(ClientOptions::new("nats://127.0.0.1:4222")).await?;
//! for host in client.hosts().await? {
//!     println!("{} ({})", host.id, host.friendly_name);
//! }
//! let mut events = client.events().await?;
//! client.put_config("greeting", &[("lang".to_string(), "en".to_string())].into()).await?;
//! let set = events
//!     .wait_for("config_set", |e| e.data["config_name"] == "greeting", Duration::from_secs(5))
//!     .await?;
//! println!("set by {}", set.source);
//! # Ok(()) }
//! ```

mod ctl;
mod error;
mod events;
mod request;

pub use ctl::{ClientOptions, CtlClient};
pub use error::ClientError;
pub use events::EventStream;
pub use request::request;
