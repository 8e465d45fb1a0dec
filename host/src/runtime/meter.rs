//! The store's resource limiter, wrapped to count how much linear memory
//! the instance holds: memories only grow, so the sum of every granted
//! growth is its size. The conformance kit reads it to spot a leak.

use wasmtime::{ResourceLimiter, StoreLimits};

pub struct MeteredLimits {
    inner: StoreLimits,
    /// Bytes of linear memory across the instance's memories.
    pub(crate) memory_bytes: usize,
}

impl MeteredLimits {
    pub fn new(inner: StoreLimits) -> Self {
        MeteredLimits {
            inner,
            memory_bytes: 0,
        }
    }
}

impl ResourceLimiter for MeteredLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes = self
                .memory_bytes
                .saturating_add(desired.saturating_sub(current));
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
