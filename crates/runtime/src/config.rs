//! The typed configuration of a [`Runtime`](crate::Runtime) and of one component.
//!
//! Defaults are the official 1.x host's (`--max-execution-time-ms 600000`,
//! `--max-linear-memory-bytes` 256 MiB, `--max-component-size-bytes` 50 MiB,
//! `--max-components 10000`, `--max-core-instances-per-component 30`).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::RuntimeError;

/// One MiB.
const MIB: u64 = 1 << 20;
/// The largest linear memory a 32-bit wasm memory can have (4 GiB).
const MAX_32BIT_MEMORY: u64 = 1 << 32;

/// What to do when the pooling allocator's address space cannot be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolFallback {
    /// Fail with [`RuntimeError::PoolReservation`], naming the limits (the default).
    #[default]
    Refuse,
    /// Build the engine with on-demand allocation instead, and say so in
    /// [`Runtime::allocator`](crate::Runtime::allocator) (1.9.2 does this silently).
    OnDemand,
}

/// How the engine is built: limits, epoch tick, allocator fallback and cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Longest an invocation may run (`--max-execution-time-ms`, 600 000 ms).
    pub max_execution_time: Duration,
    /// Largest linear memory, per memory in the pool and in total per component
    /// instance unless [`ComponentLimits`] say less (`--max-linear-memory-bytes`, 256 MiB).
    pub max_linear_memory_bytes: u64,
    /// Largest component instance metadata (`--max-component-size-bytes`, 50 MiB). As
    /// in 1.9.2 this sizes wasmtime's per-instance `VMComponentContext`; it is not a
    /// limit on the size of the wasm bytes.
    pub max_component_size_bytes: u64,
    /// Component instances alive at once, across all components (`--max-components`,
    /// 10 000): the pool's slots.
    pub max_components: u32,
    /// Core instances (and at most as many memories and tables) per component
    /// instance (`--max-core-instances-per-component`, 30).
    pub max_core_instances_per_component: u32,
    /// How often the ticker thread advances the engine's epoch (100 ms; at most 1 s).
    /// An invocation is stopped between `max_execution_time` and one tick later.
    pub epoch_tick: Duration,
    /// What to do when the pool cannot be reserved.
    pub pool_fallback: PoolFallback,
    /// Bytes of each pooled linear memory kept resident when its instance ends: reset
    /// in place (zeroed, the image restored) instead of returned to the kernel, so the
    /// next instance in the slot takes no page faults for them. Costs up to this much
    /// resident memory per slot that has been used (default 32 MiB: a fresh instance
    /// per request of a componentize-js or -py component serves about twice as many
    /// requests per second as with none).
    pub memory_keep_resident: u64,
    /// As `memory_keep_resident`, for each pooled table (default 1 MiB).
    pub table_keep_resident: u64,
    /// As `memory_keep_resident`, for each pooled async stack (default 512 KiB).
    pub stack_keep_resident: u64,
    /// Directory of the compile cache (created 0700); `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_execution_time: Duration::from_millis(600_000),
            max_linear_memory_bytes: 256 * MIB,
            max_component_size_bytes: 50 * MIB,
            max_components: 10_000,
            max_core_instances_per_component: 30,
            epoch_tick: Duration::from_millis(100),
            pool_fallback: PoolFallback::Refuse,
            memory_keep_resident: 32 * MIB,
            table_keep_resident: MIB,
            stack_keep_resident: MIB / 2,
            cache_dir: None,
        }
    }
}

impl RuntimeConfig {
    /// Checks every value before anything is built.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidConfig`] naming the first value that is out of range.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |what: String| Err(RuntimeError::InvalidConfig(what));
        if self.max_execution_time.is_zero() {
            return invalid("max_execution_time must be more than 0".into());
        }
        if self.max_linear_memory_bytes == 0 || self.max_linear_memory_bytes > MAX_32BIT_MEMORY {
            return invalid(format!(
                "max_linear_memory_bytes must be between 1 and {MAX_32BIT_MEMORY} (4 GiB), not {}",
                self.max_linear_memory_bytes
            ));
        }
        if self.max_component_size_bytes == 0
            || usize::try_from(self.max_component_size_bytes).is_err()
        {
            return invalid(format!(
                "max_component_size_bytes must be more than 0 and fit in memory, not {}",
                self.max_component_size_bytes
            ));
        }
        if self.max_components == 0 {
            return invalid("max_components must be more than 0".into());
        }
        if self.max_core_instances_per_component == 0 {
            return invalid("max_core_instances_per_component must be more than 0".into());
        }
        if self.epoch_tick < Duration::from_millis(1) || self.epoch_tick > Duration::from_secs(1) {
            return invalid(format!(
                "epoch_tick must be between 1 ms and 1 s, not {:?}",
                self.epoch_tick
            ));
        }
        Ok(())
    }

    /// Epoch ticks to allow an invocation running for at most `limit`: rounded up,
    /// plus one because the first tick may come at any moment after the store starts.
    pub(crate) fn deadline_ticks(&self, limit: Duration) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        let ticks = limit.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX - 1) + 1
    }
}

/// Limits of one component (the ctl `component_limits`), each at most the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComponentLimits {
    /// Linear memory of one instance of the component, all its memories together
    /// (`max_memory_limit`); `None` is the engine's `max_linear_memory_bytes`.
    pub max_memory_bytes: Option<u64>,
    /// Longest one invocation may run (`max_execution_time`); `None` is the engine's.
    pub max_execution_time: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_official_limits_and_valid() {
        let config = RuntimeConfig::default();
        assert_eq!(config.max_execution_time, Duration::from_secs(600));
        assert_eq!(config.max_linear_memory_bytes, 268_435_456);
        assert_eq!(config.max_component_size_bytes, 52_428_800);
        assert_eq!(config.max_components, 10_000);
        assert_eq!(config.max_core_instances_per_component, 30);
        config.validate().expect("defaults are valid");
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let config = RuntimeConfig {
            max_linear_memory_bytes: (1 << 32) + 1,
            ..RuntimeConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("max_linear_memory_bytes"), "{err}");
        let config = RuntimeConfig {
            epoch_tick: Duration::from_secs(2),
            ..RuntimeConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("epoch_tick")
        );
    }

    #[test]
    fn deadline_ticks_round_up_and_allow_for_the_first_tick() {
        let config = RuntimeConfig {
            epoch_tick: Duration::from_millis(100),
            ..RuntimeConfig::default()
        };
        assert_eq!(config.deadline_ticks(Duration::from_millis(1000)), 11);
        assert_eq!(config.deadline_ticks(Duration::from_millis(1001)), 12);
        assert_eq!(config.deadline_ticks(Duration::from_millis(1)), 2);
    }
}
