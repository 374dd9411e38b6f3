//! "Which CPU am I on": the index that spreads per-thread state over
//! cache lines, and sharded event counters built on it.
//!
//! Linux: include/linux/percpu.h, include/linux/vm_event_item.h.
//!
//! Counters bumped on every VMA lock would bounce one cache line between
//! cores if they were a single word, which is exactly the cost per-VMA
//! locks exist to avoid. So each counter is [`SHARDS`] words on separate
//! cache lines and a thread adds to the one its [`this_cpu`] index picks;
//! reading sums the shards.
//!
//! - `std`: each thread gets a distinct number the first time it asks
//!   (a thread-local), so up to [`SHARDS`] threads never share a line.
//! - `no_std`: the number comes from the hook installed with
//!   [`set_cpu_hint`] (a kernel's CPU number, say), or 0 without one.

// Counters and the hook are bookkeeping, not protocol: they order nothing,
// so they are plain core atomics even under loom, where modelling them
// would only multiply the interleavings to explore (and loom's atomics
// cannot live in statics).
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// How many shards a per-CPU counter has.
pub(crate) const SHARDS: usize = 8;

static HINT: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the function that tells a thread its CPU (or thread) number.
pub(crate) fn set_cpu_hint(hint: fn() -> usize) {
    HINT.store(hint as *mut (), Ordering::Release);
}

fn hint() -> Option<usize> {
    let f = HINT.load(Ordering::Acquire);
    if f.is_null() {
        return None;
    }
    // SAFETY: the only non-null value ever stored in `HINT` is a
    // `fn() -> usize` cast to a pointer, in `set_cpu_hint`.
    let f: fn() -> usize = unsafe { core::mem::transmute::<*mut (), fn() -> usize>(f) };
    Some(f())
}

/// This thread's CPU number (`raw_smp_processor_id`), not reduced.
#[inline]
pub(crate) fn this_cpu() -> usize {
    #[cfg(all(feature = "std", not(loom)))]
    {
        use core::cell::Cell;
        std::thread_local! {
            static CPU: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
        CPU.with(|cpu| {
            if cpu.get() == usize::MAX {
                let id = hint()
                    .unwrap_or_else(|| NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed));
                cpu.set(id);
            }
            cpu.get()
        })
    }
    #[cfg(any(not(feature = "std"), loom))]
    {
        hint().unwrap_or(0)
    }
}

/// A sharded event counter (`count_vm_vma_lock_event`).
pub(crate) struct PerCpuCounter {
    shards: [CachePadded<AtomicU64>; SHARDS],
}

impl PerCpuCounter {
    pub(crate) fn new() -> Self {
        PerCpuCounter {
            shards: core::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }

    /// Adds one on this CPU's shard. Relaxed: counters order nothing.
    #[inline]
    pub(crate) fn inc(&self, cpu: usize) {
        self.shards[cpu % SHARDS].fetch_add(1, Ordering::Relaxed);
    }

    /// The sum over all shards (not a snapshot of one instant).
    pub(crate) fn sum(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(all(test, not(loom), feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn threads_count_on_their_own_shards_and_the_sum_adds_up() {
        let c = PerCpuCounter::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let cpu = this_cpu();
                    assert_eq!(cpu, this_cpu(), "a thread keeps its number");
                    for _ in 0..1000 {
                        c.inc(cpu);
                    }
                });
            }
        });
        assert_eq!(c.sum(), 4000);
    }
}
