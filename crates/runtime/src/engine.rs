//! Building the one wasmtime engine: component model, async, epoch interruption,
//! cranelift, and the pooling allocator sized from the limits (or, only when the
//! config allows it, on-demand allocation when the pool cannot be reserved).
//!
//! Bounds checks, guard pages and Spectre mitigations are left at wasmtime's
//! defaults. The epoch ticker is a plain thread, not a tokio task, so that a guest
//! spinning on a single-threaded tokio runtime is still stopped.

use std::fmt;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use crate::config::{PoolFallback, RuntimeConfig};
use crate::error::RuntimeError;

/// Elements of one table. wasmtime's default (20 000) is too small for some real
/// components (a C# debug build has 10 000+); 1.9.2 and Spin use 15 000–30 000.
pub(crate) const TABLE_ELEMENTS: usize = 30_000;

/// The limits the instance pool is sized from, as reported in errors and by
/// [`AllocatorChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Component instance slots (`max_components`).
    pub component_instances: u32,
    /// Core instances per component instance (`max_core_instances_per_component`).
    pub core_instances_per_component: u32,
    /// Linear memory slots (one per component instance, as in 1.9.2).
    pub memories: u32,
    /// Bytes of one linear memory (`max_linear_memory_bytes`).
    pub memory_bytes: u64,
    /// Bytes of one component instance's metadata (`max_component_size_bytes`).
    pub component_instance_bytes: u64,
    /// Elements of one table.
    pub table_elements: usize,
    /// Bytes of a linear memory kept resident between instances.
    pub memory_keep_resident: u64,
    /// Bytes of a table kept resident between instances.
    pub table_keep_resident: u64,
    /// Bytes of an async stack kept resident between instances.
    pub stack_keep_resident: u64,
}

impl PoolLimits {
    fn from_config(config: &RuntimeConfig) -> Self {
        Self {
            component_instances: config.max_components,
            core_instances_per_component: config.max_core_instances_per_component,
            memories: config.max_components,
            memory_bytes: config.max_linear_memory_bytes,
            component_instance_bytes: config.max_component_size_bytes,
            table_elements: TABLE_ELEMENTS,
            memory_keep_resident: config
                .memory_keep_resident
                .min(config.max_linear_memory_bytes),
            table_keep_resident: config.table_keep_resident,
            stack_keep_resident: config.stack_keep_resident,
        }
    }

    fn pooling_config(&self) -> PoolingAllocationConfig {
        let per_component = self.core_instances_per_component;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(self.component_instances)
            .max_component_instance_size(
                usize::try_from(self.component_instance_bytes).unwrap_or(usize::MAX),
            )
            .max_core_instances_per_component(per_component)
            .total_core_instances(self.component_instances.saturating_mul(per_component))
            .max_memories_per_component(per_component)
            .max_tables_per_component(per_component)
            .total_memories(self.memories)
            .total_tables(self.memories)
            .total_stacks(self.component_instances)
            .table_elements(self.table_elements)
            .max_memory_size(usize::try_from(self.memory_bytes).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(bytes(self.memory_keep_resident))
            .table_keep_resident(bytes(self.table_keep_resident))
            .async_stack_keep_resident(bytes(self.stack_keep_resident))
            // PAGEMAP_SCAN (reset only the touched pages) measured slower here: half the
            // requests per second for the componentize-py hello world (docs/benchmarks.md).
            .pagemap_scan(Enabled::No);
        pool
    }
}

fn bytes(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl fmt::Display for PoolLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} component instances (max_components) × {} core instances \
             (max_core_instances_per_component), {} linear memories of {} MiB \
             (max_linear_memory_bytes), {} MiB per component instance \
             (max_component_size_bytes), tables of {} elements",
            self.component_instances,
            self.core_instances_per_component,
            self.memories,
            self.memory_bytes >> 20,
            self.component_instance_bytes >> 20,
            self.table_elements
        )
    }
}

/// How instances are allocated, as chosen when the engine was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocatorChoice {
    /// The pooling allocator, reserved up front with these limits.
    Pooling(PoolLimits),
    /// On-demand allocation, because the pool could not be reserved and the config
    /// allowed the fallback ([`PoolFallback::OnDemand`]). Limits still hold per
    /// component (the store's resource limiter) but not across components.
    OnDemand {
        /// The pool that could not be reserved.
        wanted: PoolLimits,
        /// wasmtime's reason.
        reason: String,
    },
}

/// Everything but the allocator. wasmtime's default memory reservation (4 GiB plus
/// guard) stays, so bounds checks are elided as usual; memories still never grow
/// past the limit (the pool's slot size and the store's limiter).
fn base_config() -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true);
    wasm
}

/// Builds the engine and says which allocator it got.
pub(crate) fn build(config: &RuntimeConfig) -> Result<(Engine, AllocatorChoice), RuntimeError> {
    let limits = PoolLimits::from_config(config);
    let mut wasm = base_config();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(limits.pooling_config()));
    match Engine::new(&wasm) {
        Ok(engine) => Ok((engine, AllocatorChoice::Pooling(limits))),
        Err(err) => {
            let reason = format!("{err:#}");
            match config.pool_fallback {
                PoolFallback::Refuse => Err(RuntimeError::PoolReservation { limits, reason }),
                PoolFallback::OnDemand => {
                    tracing::warn!(
                        %limits, %reason,
                        "cannot reserve the pooling allocator; using on-demand allocation"
                    );
                    let mut wasm = base_config();
                    wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                    let engine = Engine::new(&wasm)
                        .map_err(|err| RuntimeError::Engine(format!("{err:#}")))?;
                    Ok((
                        engine,
                        AllocatorChoice::OnDemand {
                            wanted: limits,
                            reason,
                        },
                    ))
                }
            }
        }
    }
}

/// Advances the engine's epoch every `tick` until dropped (or the engine is gone).
pub(crate) struct EpochTicker {
    // Dropping the sender wakes the thread, which then ends.
    _stop: mpsc::Sender<()>,
}

impl EpochTicker {
    pub(crate) fn start(engine: EngineWeak, tick: Duration) -> Result<Self, RuntimeError> {
        let (stop, stopped) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("lattice-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })
            .map_err(RuntimeError::Ticker)?;
        Ok(Self { _stop: stop })
    }
}
