//! The crate's errors, one enum per operation, with kinds a caller can match.
//!
//! wasmtime's own errors are kept as their full text (`{:#}`, with the wasm
//! backtrace where there is one) once they have been classified.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::PoolLimits;
use crate::load::WasmKind;

/// Building a [`Runtime`](crate::Runtime) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A [`RuntimeConfig`](crate::RuntimeConfig) value is out of range.
    #[error("invalid runtime configuration: {0}")]
    InvalidConfig(String),
    /// The pooling allocator could not reserve its address space and the config does
    /// not allow falling back to on-demand allocation.
    #[error(
        "cannot reserve the pooling allocator for {limits}: {reason} (lower these limits, or \
         allow on-demand allocation with PoolFallback::OnDemand)"
    )]
    PoolReservation {
        /// The limits the pool was sized from.
        limits: PoolLimits,
        /// wasmtime's reason.
        reason: String,
    },
    /// wasmtime refused the engine configuration for another reason.
    #[error("cannot build the wasmtime engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker thread")]
    Ticker(#[source] io::Error),
    /// The compile cache directory is not safe to load native code from.
    #[error("refusing compile cache directory {}: {problem}", path.display())]
    UnsafeCacheDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: CacheDirProblem,
    },
    /// The compile cache directory could not be created or inspected.
    #[error("cannot use compile cache directory {}", path.display())]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// WASI could not be added to a linker (a wasmtime bug if it ever happens).
    #[error("cannot add WASI 0.2 to the linker: {0}")]
    Linker(String),
}

/// Why a compile cache directory is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheDirProblem {
    /// The path exists and is not a directory.
    NotADirectory,
    /// Another user owns it.
    NotOwned {
        /// The owner's uid.
        owner: u32,
        /// This process's effective uid.
        user: u32,
    },
    /// Group or others may write into it (and so plant native code).
    Writable {
        /// Its permission bits.
        mode: u32,
    },
}

impl fmt::Display for CacheDirProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADirectory => write!(f, "not a directory"),
            Self::NotOwned { owner, user } => {
                write!(f, "owned by uid {owner}, not by this process's uid {user}")
            }
            Self::Writable { mode } => write!(
                f,
                "mode {mode:04o} lets group or others write into it (chmod go-w, or use a \
                 fresh directory: it is created 0700)"
            ),
        }
    }
}

/// Turning bytes into a component failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary ({len} bytes, starting {prefix:02x?}; expected \\0asm)")]
    NotWasm {
        /// Length of the bytes.
        len: usize,
        /// Their first (up to 8) bytes.
        prefix: Vec<u8>,
    },
    /// A core module could not be wrapped as a component with the WASI preview 1
    /// reactor adapter.
    #[error("cannot wrap the core module as a component with the WASI preview 1 adapter: {0}")]
    Wrap(String),
    /// wasmtime refused to compile the bytes (invalid or unsupported wasm).
    #[error("invalid {kind}: {reason}")]
    Compile {
        /// What the bytes claimed to be.
        kind: WasmKind,
        /// wasmtime's reason.
        reason: String,
    },
    /// The compile task died (panicked or was cancelled).
    #[error("the compile task ended without a result: {0}")]
    Task(String),
}

/// Pre-linking a component failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// An import is missing from the linker or has another type (wasmtime's text
    /// names the import).
    #[error("cannot link the component: {0}")]
    Link(String),
    /// A per-component limit is above what the engine was built for.
    #[error("component limit {what} = {requested} is above the engine's {engine}")]
    LimitAboveEngine {
        /// Which limit.
        what: &'static str,
        /// What the component asked for.
        requested: String,
        /// The engine's limit.
        engine: String,
    },
}

/// One invocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The component exports no such function.
    #[error("the component exports no function {}", export_name(instance.as_deref(), func))]
    NoSuchExport {
        /// The instance (interface) name, e.g. `wasi:http/incoming-handler@0.2.0`.
        instance: Option<String>,
        /// The function name.
        func: String,
    },
    /// The invocation ran past its execution time and was stopped.
    #[error("the invocation ran longer than its limit of {limit:?} and was stopped")]
    DeadlineExceeded {
        /// The execution time limit that applied.
        limit: Duration,
    },
    /// The component asked for more linear memory than its limit and then failed.
    #[error(
        "the component needed {requested_bytes} bytes of linear memory, above its limit of \
         {limit_bytes} bytes: {detail}"
    )]
    MemoryLimit {
        /// The component's limit (all its memories together).
        limit_bytes: u64,
        /// What it had asked for when refused.
        requested_bytes: u64,
        /// What the failure looked like (the trap, or the instantiation error).
        detail: String,
    },
    /// The pool has no free slot for another instance (too many running at once).
    #[error("no free instance slot in the pool: {0}")]
    PoolExhausted(String),
    /// The guest trapped.
    #[error("the component trapped: {detail}")]
    Trap {
        /// wasmtime's trap code.
        trap: wasmtime::Trap,
        /// The trap with its wasm backtrace.
        detail: String,
    },
    /// Instantiation failed for another reason (e.g. a start function failed).
    #[error("cannot instantiate the component: {0}")]
    Instantiate(String),
    /// The call itself failed: wrong parameter count or types, or a host function's error.
    #[error("the call failed: {0}")]
    Call(String),
}

fn export_name(instance: Option<&str>, func: &str) -> String {
    match instance {
        Some(instance) => format!("{instance}#{func}"),
        None => func.to_owned(),
    }
}
