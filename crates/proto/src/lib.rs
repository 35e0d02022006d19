//! Wire types and NATS subjects of the wasmCloud 1.x lattice protocol.
//!
//! This crate does no I/O. It holds every document that crosses the wire between a
//! host, its providers and the tools that drive a lattice, encoded exactly as the
//! wasmCloud 1.x host encodes them (see `shared/spec/wasmbus-protocol.md`), and the one
//! module ([`subjects`]) that builds and parses every NATS subject.
//!
//! - [`claims`]: claims as hosts store them and serve them on `claims.get`.
//! - [`host_data`]: the bootstrap document a host writes to a provider's stdin.
//! - [`link`]: links as the control interface sees them and as providers receive them.
//! - [`ctl`]: control-interface requests, replies and the [`ctl::CtlResponse`] envelope.
//! - [`provider`]: documents a host exchanges with a running provider (health, shutdown).
//! - [`events`]: CloudEvents 1.0 envelope and the payload of every lattice event.
//! - [`reference`]: artifact references as events and inventory report them.
//! - [`wit`]: component function signatures (the lattice extension `component.describe`).
//! - [`subjects`]: typed subject builders and the parsed control operation enum.

pub mod claims;
pub mod ctl;
pub mod events;
pub mod host_data;
pub mod link;
pub mod policy;
pub mod provider;
pub mod reference;
pub mod subjects;
pub mod wit;

pub use ctl::CtlResponse;
pub use host_data::{HostData, Level, OtelConfig, OtelProtocol, SecretValue};
pub use link::{InterfaceLinkDefinition, Link};

/// The version string lattice reports in ping, inventory and events.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The legacy link name every host puts in HostData and events.
pub const DEFAULT_LINK_NAME: &str = "default";

pub(crate) fn default_link_name() -> String {
    DEFAULT_LINK_NAME.to_string()
}
