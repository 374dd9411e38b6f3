//! "Which CPU am I on": the index that spreads per-thread state over
//! cache lines, and sharded event counters built on it.
//!
//! Linux: include/linux/percpu.h, include/linux/vm_event_item.h.
//!
//! Counters bumped on every VMA lock would bounce one cache line between
//! cores if they were a single word, which is exactly the cost per-VMA
//! locks exist to avoid. So each counter is [`SHARDS`] words on separate
//! cache lines and a thread adds to the one [`this_shard`] picks; reading
//! sums the shards.
//!
//! - `std`: the first time a thread counts, it claims one of the shards
//!   `1..SHARDS` for itself (a thread-local, given back when the thread
//!   exits). Only its owner writes an owned shard, so the owner adds with
//!   a plain load and store, no atomic read-modify-write: Linux's
//!   `this_cpu_inc`, which is one non-atomic add on the CPU's own copy.
//!   Threads beyond `SHARDS - 1` live ones share shard 0 with
//!   `fetch_add`. (The hook below is not consulted for counters: a CPU
//!   number names no shard that one thread owns.)
//! - `no_std`: the number comes from the hook installed with
//!   [`set_cpu_hint`] (a kernel's CPU number, say), or 0 without one, and
//!   every add is a `fetch_add` on that shard: two threads may report one
//!   number. With a kernel's CPU hooks (`set_rcu_cpu_hooks`), the counts
//!   of the lookup fast path are made inside the read section, on its
//!   CPU with preemption disabled: a plain add on that CPU's shard, as
//!   `this_cpu_inc` (when the kernel has at most [`SHARDS`] CPUs; beyond,
//!   CPUs share shards and add atomically). Every other count then goes
//!   through the hooks too (preemption disabled around the add), so no
//!   atomic add can land between an owner's load and store. Install the
//!   hooks before the first count, as the first read section.
//!
//! Two threads never share a shard's line: each shard is a
//! `CachePadded` word (128 bytes on x86-64), and in `std` each live
//! thread owns a different shard (checked by the tests below).
//!
//! In `no_std` builds `this_cpu` (the raw number) also spreads the RCU
//! reader slots.

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

#[cfg(any(not(feature = "std"), loom))]
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

/// This thread's CPU number (`raw_smp_processor_id`), not reduced: the
/// hook's answer, or 0 without one. (`std` builds need no number: see
/// [`this_shard`].)
#[cfg(any(not(feature = "std"), loom))]
#[inline]
pub(crate) fn this_cpu() -> usize {
    hint().unwrap_or(0)
}

#[cfg(all(not(feature = "std"), not(loom)))]
pub(crate) use cpu_hooks::{enter_cpu, set_cpu_hooks, OnCpu};

/// A kernel's "this CPU, preemption disabled" hooks (`no_std`), from
/// [`set_rcu_cpu_hooks`](crate::set_rcu_cpu_hooks).
///
/// # Invariants
///
/// - `HOOKS` is null or points to a `CpuHooks` that was leaked (never
///   freed, never changed) and fully built before its `Release` store: a
///   reader that loads it with `Acquire` sees every field, and a
///   `&'static` to it is sound.
/// - `slots.len() >= cpus` in every `CpuHooks`.
/// - `owned_shards` is `cpus <= SHARDS`.
///
/// A later install stores a new `CpuHooks` (the old one stays leaked):
/// a section that began under the old one ends with the old one's
/// `exit`, and every install shares the same RCU slots (made by the
/// first; [`crate::sync::rcu`]).
#[cfg(all(not(feature = "std"), not(loom)))]
mod cpu_hooks {
    use super::{Shard, SHARDS};
    use crate::sync::rcu::CpuSlot;
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// Everything a read section on a CPU needs, behind one pointer: one
    /// `Acquire` load per section.
    pub(crate) struct CpuHooks {
        enter: fn() -> usize,
        exit: fn(),
        cpus: usize,
        /// CPUs own their counter shards: no two CPUs map to one shard.
        owned_shards: bool,
        /// RCU's reader slot of each CPU, at least `cpus` of them.
        slots: &'static [CpuSlot],
    }

    static HOOKS: AtomicPtr<CpuHooks> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs the hooks, with the RCU slots of the CPUs (at least
    /// `cpus` of them).
    pub(crate) fn set_cpu_hooks(
        cpus: usize,
        enter: fn() -> usize,
        exit: fn(),
        slots: &'static [CpuSlot],
    ) {
        assert!(slots.len() >= cpus, "fewer RCU slots than CPUs");
        // INVARIANT: leaked, built here, published with Release below;
        // `slots.len() >= cpus` was checked; `owned_shards` as stated.
        let hooks = alloc::boxed::Box::leak(alloc::boxed::Box::new(CpuHooks {
            enter,
            exit,
            cpus,
            owned_shards: cpus <= SHARDS,
            slots,
        }));
        HOOKS.store(hooks, Ordering::Release);
    }

    /// The installed hooks, if any.
    #[inline]
    fn current() -> Option<&'static CpuHooks> {
        // SAFETY: `HOOKS` is null or points to a leaked `CpuHooks`,
        // published with Release after it was built (module invariants).
        unsafe { HOOKS.load(Ordering::Acquire).as_ref() }
    }

    /// Whether CPUs own their counter shards: hooks are installed and no
    /// two CPUs map to one shard.
    #[inline]
    pub(crate) fn owned_shards() -> bool {
        current().is_some_and(|h| h.owned_shards)
    }

    /// On a CPU with preemption disabled, until [`OnCpu::leave`].
    pub(crate) struct OnCpu {
        /// Below `hooks.cpus` (checked by [`enter_cpu`]).
        cpu: usize,
        /// The hooks whose `enter` named `cpu`: their `exit` ends it.
        hooks: &'static CpuHooks,
    }

    impl OnCpu {
        /// The CPU's number.
        #[inline]
        pub(crate) fn cpu(&self) -> usize {
            self.cpu
        }

        /// Re-enables preemption.
        #[inline]
        pub(crate) fn leave(&self) {
            (self.hooks.exit)()
        }

        /// This CPU's RCU reader slot, which only this section may use
        /// until [`OnCpu::leave`] (the hooks' contract).
        #[inline]
        pub(crate) fn rcu_slot(&self) -> &'static CpuSlot {
            // SAFETY: `cpu < hooks.cpus` (checked in `enter_cpu`) and
            // `hooks.slots.len() >= hooks.cpus` (module invariants).
            unsafe { self.hooks.slots.get_unchecked(self.cpu) }
        }

        /// This CPU's counter shard, while preemption stays disabled:
        /// owned (plain adds) if no other CPU maps to it.
        #[inline]
        pub(crate) fn shard(&self) -> Shard {
            Shard {
                index: self.cpu % SHARDS,
                owned: self.hooks.owned_shards,
                via_hooks: false,
            }
        }
    }

    /// Disables preemption through the hook and names the CPU, or `None`
    /// without hooks.
    #[inline]
    pub(crate) fn enter_cpu() -> Option<OnCpu> {
        let hooks = current()?;
        let cpu = (hooks.enter)();
        if cpu >= hooks.cpus {
            bad_cpu(hooks, cpu);
        }
        Some(OnCpu { cpu, hooks })
    }

    #[cold]
    #[inline(never)]
    fn bad_cpu(hooks: &CpuHooks, cpu: usize) -> ! {
        (hooks.exit)();
        panic!(
            "the CPU hook named CPU {cpu}, not below the {} given",
            hooks.cpus
        );
    }
}

/// The shard this thread counts on, from [`this_shard`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shard {
    index: usize,
    /// Only this thread writes the shard while it lives.
    owned: bool,
    /// Count through the kernel's CPU hooks (`no_std`): preemption
    /// disabled around a plain add on that CPU's shard.
    #[cfg_attr(any(feature = "std", loom), allow(dead_code))]
    via_hooks: bool,
}

/// The shard this thread counts on (see the module docs).
#[inline]
pub(crate) fn this_shard() -> Shard {
    #[cfg(all(feature = "std", not(loom)))]
    {
        owned::this_shard()
    }
    #[cfg(any(not(feature = "std"), loom))]
    {
        Shard {
            index: this_cpu() % SHARDS,
            owned: false,
            // Once CPUs own their shards (plain adds, under the hooks),
            // every other add to them must go through the hooks too, or
            // it could land between an owner's load and store.
            #[cfg(not(loom))]
            via_hooks: cpu_hooks::owned_shards(),
            #[cfg(loom)]
            via_hooks: false,
        }
    }
}

#[cfg(all(feature = "std", not(loom)))]
mod owned {
    //! Shard ownership in `std` builds.
    //!
    //! # Invariants
    //!
    //! Bit `i` of `CLAIMED` is set while a live thread owns shard `i`
    //! (`1 <= i < SHARDS`), and only that thread writes shard `i` of any
    //! counter. A thread sets the bit with `Acquire` and clears it on exit
    //! with `Release`, so the previous owner's last store happens before
    //! the next owner's first load: no add is lost across owners.

    use super::{Shard, SHARDS};
    use core::cell::Cell;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The shard everyone without one of their own adds to, atomically.
    const SHARED: usize = 0;
    /// Not yet claimed.
    const UNSET: usize = usize::MAX;

    static CLAIMED: AtomicUsize = AtomicUsize::new(0);

    struct Claim(Cell<usize>);

    impl Drop for Claim {
        fn drop(&mut self) {
            let i = self.0.get();
            if i != UNSET && i != SHARED {
                // INVARIANT: the thread stops writing shard `i` here.
                CLAIMED.fetch_and(!(1 << i), Ordering::Release);
            }
        }
    }

    std::thread_local! {
        static CLAIM: Claim = const { Claim(Cell::new(UNSET)) };
    }

    #[cold]
    fn claim() -> usize {
        let mut bits = CLAIMED.load(Ordering::Relaxed);
        loop {
            // Lowest free shard in 1..SHARDS.
            let free = !bits & ((1 << SHARDS) - 2);
            if free == 0 {
                return SHARED;
            }
            let i = free.trailing_zeros() as usize;
            match CLAIMED.compare_exchange_weak(
                bits,
                bits | (1 << i),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return i,
                Err(now) => bits = now,
            }
        }
    }

    #[inline]
    pub(super) fn this_shard() -> Shard {
        // During thread-local teardown (a guard dropped by another
        // thread-local's destructor) count on the shared shard.
        let index = CLAIM
            .try_with(|c| {
                if c.0.get() == UNSET {
                    c.0.set(claim());
                }
                c.0.get()
            })
            .unwrap_or(SHARED);
        Shard {
            index,
            owned: index != SHARED,
            via_hooks: false,
        }
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

    /// Adds one on this thread's shard. Relaxed: counters order nothing.
    #[inline]
    pub(crate) fn inc(&self, shard: Shard) {
        #[cfg(all(not(feature = "std"), not(loom)))]
        if shard.via_hooks {
            if let Some(on) = enter_cpu() {
                // Preemption is off: this CPU's shard is ours alone
                // (`owned_shards`), as in `OnCpu::shard`.
                let s = &self.shards[on.cpu() % SHARDS];
                s.store(s.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
                on.leave();
                return;
            }
        }
        let s = &self.shards[shard.index % SHARDS];
        if shard.owned {
            // Only this thread writes the shard (`owned` invariants), so
            // a load and a store add exactly; readers summing may see the
            // old or the new value, as with `fetch_add`.
            s.store(s.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        } else {
            s.fetch_add(1, Ordering::Relaxed);
        }
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
                    let shard = this_shard();
                    assert_eq!(shard.index, this_shard().index, "a thread keeps its shard");
                    for _ in 0..1000 {
                        c.inc(this_shard());
                    }
                });
            }
        });
        assert_eq!(c.sum(), 4000);
    }

    /// More threads than owned shards, starting and exiting in waves: the
    /// plain adds of owners and the shared shard's `fetch_add` lose
    /// nothing, and exited owners hand their shards on.
    #[test]
    fn more_threads_than_shards_lose_no_counts() {
        let c = PerCpuCounter::new();
        for _ in 0..3 {
            std::thread::scope(|s| {
                for _ in 0..(2 * SHARDS) {
                    s.spawn(|| {
                        for _ in 0..10_000 {
                            c.inc(this_shard());
                        }
                    });
                }
            });
        }
        assert_eq!(c.sum(), 3 * 2 * SHARDS as u64 * 10_000);
    }
}
