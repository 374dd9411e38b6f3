//! VMA lock event counters (`count_vm_vma_lock_event`).
//!
//! Linux: include/linux/vm_event_item.h (`VMA_LOCK_SUCCESS`, `VMA_LOCK_ABORT`,
//! `VMA_LOCK_RETRY`, `VMA_LOCK_MISS`), visible in /proc/vmstat.

#![deny(unsafe_code)]

use crate::sync::percpu::PerCpuCounter;

/// A snapshot of an `Mm`'s lock events, from [`Mm::stats`](crate::Mm::stats).
///
/// The counters are sharded per CPU, so counting costs no shared cache
/// line; a snapshot sums the shards one after another and is not atomic.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct VmaLockStats {
    /// `VMA_LOCK_SUCCESS`: the RCU fast path locked a VMA.
    pub success: u64,
    /// `VMA_LOCK_ABORT`: the fast path gave up (no VMA at the address, the
    /// VMA was write-locked, or it changed under us).
    pub abort: u64,
    /// `VMA_LOCK_RETRY`: a fault under a VMA lock had to be retried under
    /// `mmap_lock`.
    pub retry: u64,
    /// `VMA_LOCK_MISS`: the VMA found was detached; the walk was repeated.
    pub miss: u64,
    /// `lock_vma` or `lock_next_vma` fell back to `mmap_read_lock` (not a
    /// Linux counter: the number the series' helper adds).
    pub wait: u64,
}

/// The live counters of one `Mm`.
pub(crate) struct LockEvents {
    pub(crate) success: PerCpuCounter,
    pub(crate) abort: PerCpuCounter,
    pub(crate) retry: PerCpuCounter,
    pub(crate) miss: PerCpuCounter,
    pub(crate) wait: PerCpuCounter,
}

impl LockEvents {
    pub(crate) fn new() -> Self {
        LockEvents {
            success: PerCpuCounter::new(),
            abort: PerCpuCounter::new(),
            retry: PerCpuCounter::new(),
            miss: PerCpuCounter::new(),
            wait: PerCpuCounter::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> VmaLockStats {
        VmaLockStats {
            success: self.success.sum(),
            abort: self.abort.sum(),
            retry: self.retry.sum(),
            miss: self.miss.sum(),
            wait: self.wait.sum(),
        }
    }
}
