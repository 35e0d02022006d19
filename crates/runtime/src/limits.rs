//! The per-store resource limiter: one component instance's linear memory, all its
//! memories together, plus the per-component counts the pool enforces (so they hold
//! with on-demand allocation too).
//!
//! A refused growth makes `memory.grow` return -1, as the wasm spec says; the
//! limiter remembers it so that the failure that usually follows (a trap after the
//! guest's allocator gives up) is reported as a memory limit, not a bare trap.

use wasmtime::ResourceLimiter;

use crate::engine::TABLE_ELEMENTS;

/// A refused memory growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryDenial {
    /// Total bytes the component would have had.
    pub(crate) requested_bytes: u64,
}

/// Limits one store (one instance of one component).
#[derive(Debug)]
pub(crate) struct ComponentLimiter {
    max_memory_bytes: u64,
    max_core_instances: usize,
    used_memory_bytes: u64,
    denial: Option<MemoryDenial>,
}

impl ComponentLimiter {
    pub(crate) fn new(max_memory_bytes: u64, max_core_instances: u32) -> Self {
        Self {
            max_memory_bytes,
            max_core_instances: usize::try_from(max_core_instances).unwrap_or(usize::MAX),
            used_memory_bytes: 0,
            denial: None,
        }
    }

    pub(crate) fn max_memory_bytes(&self) -> u64 {
        self.max_memory_bytes
    }

    /// Bytes of linear memory the instance has now, all its memories together.
    pub(crate) fn used_memory_bytes(&self) -> u64 {
        self.used_memory_bytes
    }

    /// The last growth this limiter refused, if any.
    pub(crate) fn denial(&self) -> Option<MemoryDenial> {
        self.denial
    }
}

impl ResourceLimiter for ComponentLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let extra = u64::try_from(desired.saturating_sub(current)).unwrap_or(u64::MAX);
        let total = self.used_memory_bytes.saturating_add(extra);
        if total > self.max_memory_bytes {
            self.denial = Some(MemoryDenial {
                requested_bytes: total,
            });
            return Ok(false);
        }
        if maximum.is_some_and(|maximum| desired > maximum) {
            // The memory's own declared maximum: the guest's business, not a limit of
            // ours (the pool's slot size is never below our limit, caught above).
            return Ok(false);
        }
        self.used_memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= maximum.unwrap_or(usize::MAX).min(TABLE_ELEMENTS))
    }

    fn instances(&self) -> usize {
        self.max_core_instances
    }

    fn tables(&self) -> usize {
        self.max_core_instances
    }

    fn memories(&self) -> usize {
        self.max_core_instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 65_536;

    #[test]
    fn memories_count_together_against_the_limit() {
        let mut limiter = ComponentLimiter::new(4 * PAGE as u64, 30);
        assert!(limiter.memory_growing(0, 2 * PAGE, None).unwrap());
        assert!(limiter.memory_growing(0, PAGE, None).unwrap());
        assert!(!limiter.memory_growing(0, 2 * PAGE, None).unwrap());
        assert_eq!(
            limiter.denial(),
            Some(MemoryDenial {
                requested_bytes: 5 * PAGE as u64
            })
        );
        assert!(limiter.memory_growing(PAGE, 2 * PAGE, None).unwrap());
    }

    #[test]
    fn a_growth_past_the_memory_maximum_is_refused_without_counting() {
        let mut limiter = ComponentLimiter::new(4 * PAGE as u64, 30);
        assert!(!limiter.memory_growing(0, 2 * PAGE, Some(PAGE)).unwrap());
        assert_eq!(limiter.denial(), None);
        assert!(limiter.memory_growing(0, 4 * PAGE, None).unwrap());
    }
}
