//! OpenTelemetry for lattice.
//!
//! - [`settings`]: which signals an `OtelConfig` (the flags of `lattice up`, HostData's
//!   `otel_config`) turns on and where each goes, resolved as wasmCloud 1.9.2 does.
//! - [`Telemetry`]: the host's own OTLP exporters (traces, metrics, logs) and the
//!   tracing layer that feeds them.
//! - [`propagation`]: W3C trace context in NATS headers, so a control request, a link
//!   pushed to a provider or a wRPC call continues the sender's trace.

mod export;
pub mod propagation;
pub mod settings;

pub use export::{BoxedLayer, Telemetry, TelemetryError};
