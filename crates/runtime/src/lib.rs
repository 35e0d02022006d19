//! The wasmtime engine of a lattice host. Knows nothing of NATS or processes.
//!
//! - [`Runtime::new`] builds one engine from a [`RuntimeConfig`] (the official
//!   component limits: execution time, linear memory, component size, component
//!   count, core instances per component), with the pooling allocator sized from
//!   them and an epoch ticker thread for execution deadlines.
//! - [`Runtime::load`] turns wasm bytes (a component, or a WASI preview 1 core module,
//!   wrapped with the reactor adapter) into a [`wasmtime::component::Component`],
//!   through a verified on-disk compile cache ([`CacheOutcome`] says what happened).
//! - [`Runtime::prepare`] pre-links a component against a [`Linker`](wasmtime::component::Linker)
//!   the caller set up ([`Runtime::linker_with_wasi`] gives one with WASI 0.2); the
//!   [`Prepared`] component runs each invocation in a fresh store with the component's
//!   limits, at most `count` at a time.
//! - [`http`]: `wasi:http` imports, and [`Prepared::handle_http`] serving a request
//!   with a component's `wasi:http/incoming-handler`.
//! - [`ComponentSignatures`] lists a component's imports and exports with their types.

mod cache;
mod config;
mod engine;
mod error;
pub mod http;
mod introspect;
mod limits;
mod load;
mod prepared;
mod runtime;

pub use cache::CacheOutcome;
pub use config::{ComponentLimits, PoolFallback, RuntimeConfig};
pub use engine::{AllocatorChoice, PoolLimits};
pub use error::{CacheDirProblem, InvokeError, LoadError, PrepareError, RuntimeError};
pub use introspect::{ComponentSignatures, ItemSignature};
pub use load::{LoadedComponent, WasmKind};
pub use prepared::{Invocation, PrepareOptions, Prepared, StoreState};
pub use runtime::Runtime;

/// The wasmtime this crate is built on, for callers that name its types
/// ([`Val`](wasmtime::component::Val), [`Linker`](wasmtime::component::Linker), …).
pub use wasmtime;
/// WASI 0.2 for wasmtime, for callers that build a [`WasiCtx`](wasmtime_wasi::WasiCtx).
pub use wasmtime_wasi;
