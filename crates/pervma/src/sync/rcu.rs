//! RCU: read-side critical sections and deferred freeing.
//!
//! Linux: include/linux/rcupdate.h, kernel/rcu/.
//!
//! Lock-free readers ([`rcu_read_lock`]) may be looking at a tree node or a
//! VMA at the moment a writer unlinks it, so a writer never frees what it
//! unlinks: it collects the memory in a [`RetireBatch`] and hands the batch
//! to [`RcuGuard::retire`], which frees it once every reader that could
//! have seen it has left its read section. The backend is crossbeam-epoch;
//! nothing outside this module knows. Retired batches come back to the
//! writers to be freed, as Linux runs RCU callbacks on the CPU that queued
//! them ([`rcu_done`](super::rcu_done)).
//!
//! # How readers register
//!
//! An epoch reader needs a registered participant (`LocalHandle`).
//!
//! - **`std`**: crossbeam-epoch's default collector, whose handle lives in a
//!   thread-local. Entering a read section is one `pin()`, 3-5 ns.
//! - **`no_std`**, no hooks: there are no thread-locals, so one global
//!   collector keeps a table of `READER_SLOTS` registered handles, each on
//!   its own cache line. A reader claims a free slot with a
//!   compare-and-swap, starting at the index returned by the hook
//!   installed with [`set_cpu_hint`](crate::set_cpu_hint) (a CPU or thread
//!   number: readers that pass distinct numbers never share a line) and
//!   probing onwards; it gives the slot back when the section ends. If
//!   every slot is taken, the reader takes an overflow slot from a list
//!   that grows by one allocation when all of those are taken too: a claim
//!   never waits, so a reader that holds a slot while it claims another
//!   (a nested section), or a thousand readers, cannot hang. (Before,
//!   readers spun until a slot came free: 64 threads that each held one
//!   and wanted a second would have spun forever.)
//! - **`no_std` with a kernel's hooks** ([`set_rcu_cpu_hooks`](crate::set_rcu_cpu_hooks)):
//!   the enter hook disables preemption and names the CPU, and the section
//!   pins that CPU's slot, which nobody else can use until the exit hook:
//!   no claim, no atomic read-modify-write of ours. While the section
//!   lasts its CPU's counter shard is the reader's alone
//!   ([`RcuGuard::shard`]), so the lock counters add without one either.
//!   Sections must not sleep then: pervma's own waits happen outside them
//!   (`VmaChange::commit` detaches removed VMAs between two sections for
//!   that reason), but a fault or user copy reads the page table inside
//!   one, and so calls the [`Backend`](crate::Backend) and a file's
//!   contents there: with these hooks those must not sleep either.
//! - **`--cfg loom`**: a model with the same interface in which deferred
//!   frees run when the loom execution ends. Loom then checks the lock
//!   protocols built on top without exploring crossbeam's own internals,
//!   which crossbeam's loom suite covers.
//!
//! The public API is the same in every build: the hooks exist in `std`
//! builds too, where they are optional (threads number themselves) or
//! ignored (the CPU hooks: a thread-local handle costs no more).
//!
//! # What a read section costs (measured)
//!
//! One thread, `lock_vma` + payload read at random among 1,000 VMAs
//! (`cargo run --release -p pervma --example lookup_modes
//! [--no-default-features] -- [hooks]`; the before and after binaries of
//! both builds interleaved, 20 rounds each best of 7; AMD EPYC 2 vCPU KVM
//! guest shared with other work, load average 1-2), median (min) ns, and
//! callgrind's instructions per lookup (`valgrind --tool=callgrind`,
//! 11,468,800 lookups):
//!
//! | build | before | now | instructions |
//! |-------|--------|-----|--------------|
//! | `std` | 33.8 (31.7) | 33.6 (31.6) | 180 → 179 |
//! | `no_std` with the CPU hooks | 46.5 (43.3) | 36.0 (34.0) | 259 → 191 |
//! | `no_std` claiming slots | 54.6 (53.1) | 51.0 (48.1) | 256 → 231 |
//!
//! (Earlier: `no_std` before the overflow slots 56.5 (54.8) ns.) The
//! hooks' 1.3-1.5x of `std` was bookkeeping around the pin, not the tree
//! walk: `lock_vma` asked for the thread's counter shard before every
//! section (the [`set_cpu_hint`](crate::set_cpu_hint) hook and the CPU
//! count, unused when the section lends its CPU's shard: 13 instructions);
//! entering loaded the enter hook, the exit hook and the CPU count
//! separately, then the CPU slot table and the slot's lazily registered
//! handle, each with its check; and `Reader::shard`/`leave`/`slot` were
//! out-of-line calls from `lock_vma`, which is instantiated in the
//! caller's crate (23 instructions for the `#[inline]`s alone). Now one
//! `Acquire` load finds the hooks, the count and the registered slots
//! (`percpu`'s `CpuHooks`), and the fallback shard is computed only where
//! it is used. What remains over `std` (1.07x) is the two hook calls and
//! the check of the CPU number, against `std`'s thread-local lookups.
//! `crossbeam_epoch::pin` + unpin alone is 3.8-6.8 ns here, 5.6-11.1 ns
//! per thread when two threads pin at once (`--example sharing_probe`).
//!
//! Two readers at random among 64 VMAs while a writer mprotects them
//! (`--example contention_modes`): three threads on two vCPUs, and the
//! rate is bimodal with the scheduling (`std` 12-20 M lookups/s in some
//! rounds, 31-50 M in others), so 15 interleaved rounds compare before
//! and after pairwise: after/before median `std` 1.03, `no_std` spinning
//! 1.05, `no_std` with the wait hooks (a futex) and the CPU hooks 1.73
//! (median 13.6 → 21.6 M lookups/s; `std` 20.4 → 17.1, spinning 7.4 →
//! 15.6, which is the bimodality: their pairwise ratios are the ones
//! above). Earlier, three quiet rounds: `std` 14.3-16.4 M, `no_std`
//! spinning 6.3-8.4 M, with the hooks 11.9-14.5 M.

use super::percpu::{this_shard, Shard};
#[cfg(not(loom))]
use super::rcu_done::{DoneList, Pending};
use core::marker::PhantomData;
#[cfg(not(loom))]
use core::mem::ManuallyDrop;
use smallvec::SmallVec;

/// A read-side critical section (`rcu_read_lock` .. `rcu_read_unlock`).
///
/// While it lives, no memory retired ([`RcuGuard::retire`]) after the
/// section began *or while it is running* is freed. It is not `Send`: a
/// section begins and ends on one thread.
#[must_use]
pub(crate) struct RcuGuard {
    /// Dropped by hand, before the slot is given back.
    #[cfg(not(loom))]
    inner: ManuallyDrop<crossbeam_epoch::Guard>,
    #[cfg(all(not(loom), not(feature = "std")))]
    reader: nostd::Reader,
    _not_send: PhantomData<*mut ()>,
}

/// Enters a read-side critical section.
#[inline]
pub(crate) fn rcu_read_lock() -> RcuGuard {
    #[cfg(all(not(loom), feature = "std"))]
    {
        RcuGuard {
            inner: ManuallyDrop::new(crossbeam_epoch::pin()),
            _not_send: PhantomData,
        }
    }
    #[cfg(all(not(loom), not(feature = "std")))]
    {
        let reader = nostd::enter();
        RcuGuard {
            inner: ManuallyDrop::new(reader.pin()),
            reader,
            _not_send: PhantomData,
        }
    }
    #[cfg(loom)]
    {
        RcuGuard {
            _not_send: PhantomData,
        }
    }
}

impl RcuGuard {
    /// The counter shard to count on while this section lasts: this CPU's,
    /// with plain adds, when a kernel's hooks put the section on a CPU
    /// with preemption disabled (no hook is called again for it);
    /// otherwise the thread's ([`this_shard`]).
    #[inline]
    pub(crate) fn shard(&self) -> Shard {
        #[cfg(all(not(loom), not(feature = "std")))]
        if let Some(shard) = self.reader.shard() {
            return shard;
        }
        this_shard()
    }

    /// Pushes this thread's deferred frees to where other threads can run
    /// them, and tries to advance the epoch.
    pub(crate) fn flush(&self) {
        #[cfg(not(loom))]
        self.inner.flush();
    }
}

#[cfg(not(loom))]
impl Drop for RcuGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `inner` is dropped exactly once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        // Unpinned: the slot's handle is idle and may pass to another reader
        // (or, on a CPU slot, preemption may resume).
        #[cfg(not(feature = "std"))]
        self.reader.leave();
    }
}

/// Memory to free after one grace period, handed to RCU as a single
/// callback (a batched `kfree_rcu`): one operation retires a few tree nodes
/// and maybe some VMAs, and one callback per operation instead of one per
/// object keeps the collector's queues short.
pub(crate) struct RetireBatch {
    items: SmallVec<[Retiree; INLINE_RETIREES]>,
}

/// How many retired objects a batch holds without allocating: a typical
/// `mmap`, `munmap` or `mprotect` retires one to four (a leaf and its
/// copied ancestors, a VMA or two, a page).
const INLINE_RETIREES: usize = 6;

/// An object to free, and the function that frees it.
type Retiree = (*mut (), unsafe fn(*mut ()));

/// Drops the `Box<T>` behind `ptr`.
///
/// # Safety
///
/// `ptr` came from `Box::<T>::into_raw` and is freed nowhere else.
unsafe fn drop_box<T>(ptr: *mut ()) {
    // SAFETY: forwarded contract.
    drop(unsafe { alloc::boxed::Box::from_raw(ptr.cast::<T>()) });
}

/// Gives back the strong count of the `Arc<T>` behind `ptr`.
///
/// # Safety
///
/// `ptr` came from `Arc::<T>::into_raw` and its count is given back
/// nowhere else.
unsafe fn drop_arc<T>(ptr: *mut ()) {
    // SAFETY: forwarded contract.
    drop(unsafe { alloc::sync::Arc::from_raw(ptr.cast::<T>().cast_const()) });
}

impl RetireBatch {
    pub(crate) const fn new() -> Self {
        RetireBatch {
            items: SmallVec::new_const(),
        }
    }

    /// Whether the batch holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds the `Box<T>` behind `ptr` to the batch.
    ///
    /// # Safety
    ///
    /// By the time the batch is retired:
    /// - `ptr` came from `Box::into_raw` and is not freed or retired
    ///   elsewhere.
    /// - `ptr` is no longer reachable for readers that start after the
    ///   retirement (it has been unlinked), so only readers already inside
    ///   a read section can still see it.
    /// - Dropping `T` on another thread is sound (the batch is freed by
    ///   whichever thread next retires a batch, or by `rcu_barrier`).
    pub(crate) unsafe fn push<T>(&mut self, ptr: *mut T) {
        self.items.push((ptr.cast(), drop_box::<T>));
    }

    /// Adds one strong count of the `Arc<T>` behind `ptr` to the batch.
    ///
    /// # Safety
    ///
    /// `ptr` came from `Arc::<T>::into_raw`, the count is given back nowhere
    /// else, and otherwise as for [`push`](Self::push) (dropping the
    /// last count may free `T` on another thread).
    pub(crate) unsafe fn push_arc<T>(&mut self, ptr: *const T) {
        self.items.push((ptr.cast_mut().cast(), drop_arc::<T>));
    }
}

// SAFETY: every item was pushed under a contract that makes freeing it on
// another thread sound (`push`, `push_arc`).
unsafe impl Send for RetireBatch {}

/// Batches whose grace period has passed, for the next writer to free
/// (`rcu_done`'s module docs say why).
#[cfg(not(loom))]
static DONE: DoneList<RetireBatch> = DoneList::new();

/// A batch with this many items is big: an operation that zapped more
/// than a few pages. It is freed where its grace period ends, and sent on
/// its way at once (see [`RcuGuard::retire`]).
#[cfg(not(loom))]
const BIG_BATCH: usize = 16;

impl RcuGuard {
    /// Frees everything in `batch` after a grace period, with one callback,
    /// and first frees the batches whose grace period has passed
    /// ([`rcu_do_batch`]): on this thread, which retires memory and so is a
    /// writer, and not on the reader that happened to collect.
    ///
    /// What waits where: a batch sits in this thread's crossbeam bag until
    /// the bag is full (64 callbacks) or flushed (`VmaChange::commit`
    /// flushes every few changes), then in the collector's queue until
    /// its grace period has passed and some thread collects, then on the
    /// done list until the next `retire` anywhere. A small batch may so
    /// wait for long in a process that stops changing its address spaces,
    /// as crossbeam's own garbage does: per writer thread at most a bag of
    /// 64 batches of fewer than `BIG_BATCH` items (tree nodes, VMAs, 4 KiB
    /// pages), so under 4 MiB, and a few KiB for changes that zap nothing.
    /// A big batch (a `munmap` of many pages) must not wait: it is flushed
    /// to the collector at once and freed
    /// by whichever thread finds its grace period over, as crossbeam
    /// would free it, since a reader paying for one large unmap now and
    /// then costs less than holding its memory.
    pub(crate) fn retire(&self, batch: RetireBatch) {
        rcu_do_batch();
        if batch.items.is_empty() {
            return;
        }
        #[cfg(not(loom))]
        if batch.items.len() >= BIG_BATCH {
            // SAFETY: the callback frees the batch after the grace period,
            // which is what its items' contracts (`push`) allow; it
            // borrows nothing and `RetireBatch` is `Send`.
            unsafe { self.inner.defer_unchecked(move || drop(batch)) };
            self.inner.flush();
        } else {
            // Allocated here, where `rcu_do_batch` will likely free it.
            let pending = Pending::new(batch);
            // SAFETY: the callback only moves the batch to `DONE`, which
            // frees it later still; it borrows nothing (`DONE` is a static)
            // and `Pending<RetireBatch>` is `Send`.
            unsafe { self.inner.defer_unchecked(move || DONE.push(pending)) };
        }
        #[cfg(loom)]
        loom_model::defer(alloc::boxed::Box::new(move || drop(batch)));
    }
}

/// `rcu_do_batch`: frees every retired batch whose grace period has
/// passed, on this thread.
fn rcu_do_batch() {
    #[cfg(not(loom))]
    DONE.take(drop);
}

impl Drop for RetireBatch {
    fn drop(&mut self) {
        for (ptr, free) in self.items.drain(..) {
            // SAFETY: each item was pushed under `push`'s contract, and a
            // batch is dropped only once its grace period has passed (it is
            // freed through `RcuGuard::retire`).
            unsafe { free(ptr) };
        }
    }
}

/// Installs a kernel's per-CPU read-section hooks (see
/// [`set_rcu_cpu_hooks`](crate::set_rcu_cpu_hooks)). `no_std` builds only;
/// elsewhere threads register through a thread-local (or loom's model).
pub(crate) fn set_cpu_hooks(cpus: usize, enter: fn() -> usize, exit: fn()) {
    #[cfg(all(not(loom), not(feature = "std")))]
    nostd::set_cpu_hooks(cpus, enter, exit);
    #[cfg(any(loom, feature = "std"))]
    let _ = (cpus, enter, exit);
}

/// Runs every deferred free that no reader can still need, as far as a few
/// epoch advances allow (`rcu_barrier`, roughly). For tests and teardown:
/// when it returns, memory deferred before the call by threads that have
/// since left their read sections has been freed or is about to be.
pub(crate) fn rcu_barrier() {
    #[cfg(not(loom))]
    for _ in 0..64 {
        // A participant's deferred frees sit in its own bag until it
        // flushes; without thread-locals, visit every idle reader slot.
        #[cfg(not(feature = "std"))]
        nostd::flush_idle_slots();
        rcu_read_lock().flush();
    }
    rcu_do_batch();
}

#[cfg(all(not(loom), not(feature = "std")))]
pub(crate) use nostd::CpuSlot;

#[cfg(all(not(loom), not(feature = "std")))]
mod nostd {
    //! The `no_std` reader table.
    //!
    //! Two ways in, chosen per read section when it begins:
    //!
    //! - **CPU slots** (a kernel installed [`set_rcu_cpu_hooks`]): the
    //!   hook disables preemption and names this CPU; the section pins
    //!   that CPU's slot. Nothing else can use the slot until the exit
    //!   hook re-enables preemption, so no claim is needed: no atomic
    //!   read-modify-write beyond crossbeam's own pin. Nested sections on
    //!   one CPU pin the same handle again, as crossbeam allows. The
    //!   hooks, the CPU count and the slots sit behind one pointer
    //!   (`percpu`'s `CpuHooks`), read with one `Acquire` load per
    //!   section; the slots' handles are registered when the hooks are
    //!   installed, so a section finds its handle with no further check.
    //! - **Claimed slots** (no hooks): `READER_SLOTS` slots in a static
    //!   table, then a list of overflow slots that only grows. A reader
    //!   claims a free one with a compare-and-swap, starting at
    //!   [`this_cpu`]; if every slot is taken it allocates a new overflow
    //!   slot (already claimed) and pushes it on the list. So a claim never
    //!   waits: a thread that holds a slot and claims another (a nested
    //!   section), or more readers than slots, cost an allocation, never a
    //!   hang.
    //!
    //! # Invariants
    //!
    //! - A claimed slot's `handle` is used only by the thread that set
    //!   `claimed` from `false` to `true` (with `Acquire`), until it stores
    //!   `false` again (with `Release`). So the `!Send`/`!Sync` handle is
    //!   used by one thread at a time, and the claim/release pair orders
    //!   its uses.
    //! - CPU slot `i` is used only between the enter hook returning `i` and
    //!   the matching exit hook, on CPU `i` with preemption disabled (the
    //!   hooks' contract): by one thread at a time, and the scheduler's own
    //!   switch orders one thread's uses before the next's.
    //! - The CPU slots are made once, by the first install, each with its
    //!   handle already registered (by the installing thread, before the
    //!   `Release` store that publishes the hooks and which a section's
    //!   `Acquire` load sees), and never freed (`CPU_SLOTS`, a static,
    //!   owns them): every install shares them, and a section that began
    //!   under an earlier install ends on the same slot.
    //! - Overflow nodes are leaked: never freed, so `&'static` to them is
    //!   sound, and the list is only pushed to.

    use super::super::percpu::{self, this_cpu, OnCpu, Shard};
    use alloc::boxed::Box;
    // The table is a static, and only exists outside loom: core atomics.
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use crossbeam_epoch::{Collector, Guard, LocalHandle};
    use crossbeam_utils::CachePadded;
    use once_cell::race::OnceBox;

    /// How many slots the static table has (more readers overflow).
    pub(super) const READER_SLOTS: usize = 64;

    pub(in super::super) struct Slot {
        claimed: AtomicBool,
        handle: OnceBox<Handle>,
    }

    struct Handle(LocalHandle);
    // SAFETY: a `Handle` is only used by the thread that claimed its slot,
    // or that runs on its CPU with preemption disabled (module
    // invariants), so never from two threads at once; moving it between
    // users is ordered by the claim/release pair or the context switch
    // (and, for a CPU slot's first user, by the hooks' publication).
    unsafe impl Send for Handle {}
    // SAFETY: as above: shared references exist on several threads, but
    // only the current user calls into the handle.
    unsafe impl Sync for Handle {}

    static COLLECTOR: OnceBox<Collector> = OnceBox::new();
    static SLOTS: [CachePadded<Slot>; READER_SLOTS] =
        [const { CachePadded::new(Slot::new()) }; READER_SLOTS];

    /// An overflow slot, leaked (module invariants).
    struct Overflow {
        slot: CachePadded<Slot>,
        next: *const Overflow,
    }
    static OVERFLOW: AtomicPtr<Overflow> = AtomicPtr::new(core::ptr::null_mut());

    /// A CPU's reader slot: a handle registered when the hooks were
    /// installed. Only read (never written) once made, so the slots of
    /// several CPUs may share a cache line; each handle's own state is a
    /// separate allocation of crossbeam's.
    pub(crate) struct CpuSlot(Handle);

    /// The CPU slots, made by the first install (module invariants).
    static CPU_SLOTS: OnceBox<Box<[CpuSlot]>> = OnceBox::new();

    fn collector() -> &'static Collector {
        COLLECTOR.get_or_init(|| Box::new(Collector::new()))
    }

    pub(super) fn set_cpu_hooks(cpus: usize, enter: fn() -> usize, exit: fn()) {
        assert!(cpus > 0, "set_rcu_cpu_hooks: no CPUs");
        let slots = CPU_SLOTS.get_or_init(|| {
            let collector = collector();
            // INVARIANT: every handle registered before the slots are
            // published (a racing install's losing table is dropped, its
            // handles unregistered, before any reader saw it).
            Box::new(
                (0..cpus)
                    .map(|_| CpuSlot(Handle(collector.register())))
                    .collect(),
            )
        });
        assert!(
            slots.len() >= cpus,
            "set_rcu_cpu_hooks: CPU count grew from {} to {cpus}",
            slots.len()
        );
        // The slots exist, registered, before any reader can enter on one.
        percpu::set_cpu_hooks(cpus, enter, exit, slots);
    }

    /// Which slot a read section uses, and how it gives it back.
    pub(super) enum Reader {
        Claimed(&'static Slot),
        /// On a CPU, preemption disabled until `leave`: its slot.
        Cpu(OnCpu),
    }

    /// Begins a read section: the slot to pin.
    #[inline]
    pub(super) fn enter() -> Reader {
        match percpu::enter_cpu() {
            None => Reader::Claimed(claim()),
            Some(on) => Reader::Cpu(on),
        }
    }

    impl Reader {
        /// Pins the section's slot (its user is this section: module
        /// invariants).
        #[inline]
        pub(super) fn pin(&self) -> Guard {
            match self {
                Reader::Claimed(slot) => slot.pin(),
                Reader::Cpu(on) => on.rcu_slot().0 .0.pin(),
            }
        }

        /// Ends the section (after its guard is dropped).
        #[inline]
        pub(super) fn leave(&self) {
            match self {
                Reader::Claimed(slot) => slot.release(),
                Reader::Cpu(on) => on.leave(),
            }
        }

        /// The shard of this CPU, while the section lasts.
        #[inline]
        pub(super) fn shard(&self) -> Option<Shard> {
            match self {
                Reader::Claimed(_) => None,
                Reader::Cpu(on) => Some(on.shard()),
            }
        }
    }

    fn try_claim(slot: &'static Slot) -> bool {
        !slot.claimed.load(Ordering::Relaxed)
            && slot
                .claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    fn overflow_slots() -> impl Iterator<Item = &'static Slot> {
        let mut node = OVERFLOW.load(Ordering::Acquire).cast_const();
        core::iter::from_fn(move || {
            // SAFETY: overflow nodes are leaked and fully built before
            // they are published with Release (module invariants).
            let n = unsafe { node.as_ref()? };
            node = n.next;
            Some(&*n.slot)
        })
    }

    /// Claims a slot; never waits (module docs).
    #[inline]
    pub(super) fn claim() -> &'static Slot {
        let start = this_cpu();
        for i in 0..READER_SLOTS {
            let slot = &SLOTS[(start + i) % READER_SLOTS];
            if try_claim(slot) {
                return slot;
            }
        }
        claim_overflow()
    }

    #[cold]
    fn claim_overflow() -> &'static Slot {
        if let Some(slot) = overflow_slots().find(|&slot| try_claim(slot)) {
            return slot;
        }
        let node = alloc::boxed::Box::leak(alloc::boxed::Box::new(Overflow {
            slot: CachePadded::new(Slot::new()),
            next: core::ptr::null(),
        }));
        // INVARIANT: born claimed by us, never freed.
        node.slot.claimed.store(true, Ordering::Relaxed);
        let mut head = OVERFLOW.load(Ordering::Relaxed);
        loop {
            node.next = head;
            // Release: the node's contents before its publication.
            match OVERFLOW.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return &node.slot,
                Err(now) => head = now,
            }
        }
    }

    /// How many overflow slots exist (for tests).
    #[cfg(test)]
    pub(super) fn overflow_len() -> usize {
        overflow_slots().count()
    }

    /// Flushes the deferred frees of every claimable slot no reader holds
    /// now. A CPU slot's bag only its own CPU can flush: at most one bag
    /// (crossbeam pushes a full one to the global queue), and writers
    /// flush every few changes (`FLUSH_EVERY` in `mm/change.rs`) and a big
    /// batch when they retire it (`RcuGuard::retire`).
    pub(super) fn flush_idle_slots() {
        for slot in SLOTS.iter().map(|s| &**s).chain(overflow_slots()) {
            if slot
                .claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                if slot.handle.get().is_some() {
                    slot.pin().flush();
                }
                slot.release();
            }
        }
    }

    impl Slot {
        const fn new() -> Self {
            Slot {
                claimed: AtomicBool::new(false),
                handle: OnceBox::new(),
            }
        }

        /// Pins the slot's participant. Only its current user calls this.
        #[inline]
        fn pin(&self) -> Guard {
            match self.handle.get() {
                Some(h) => h.0.pin(),
                None => self.register().0.pin(),
            }
        }

        #[cold]
        fn register(&self) -> &Handle {
            let collector = collector();
            self.handle
                .get_or_init(|| Box::new(Handle(collector.register())))
        }

        pub(super) fn release(&self) {
            self.claimed.store(false, Ordering::Release);
        }
    }
}

#[cfg(loom)]
mod loom_model {
    //! Deferred frees run when the loom execution ends, when loom drops its
    //! lazy statics: never early, and nothing leaks across executions.
    extern crate std;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    type Deferred = Box<dyn FnOnce() + Send>;

    pub(super) struct Pending(std::sync::Mutex<Vec<Deferred>>);

    impl Drop for Pending {
        fn drop(&mut self) {
            let list = core::mem::take(&mut *self.0.lock().unwrap());
            for free in list {
                free();
            }
        }
    }

    loom::lazy_static! {
        static ref PENDING: Pending = Pending(std::sync::Mutex::new(Vec::new()));
    }

    pub(super) fn defer(free: Deferred) {
        PENDING.0.lock().unwrap().push(free);
    }
}

#[cfg(all(test, not(loom), not(feature = "std")))]
mod nostd_tests {
    extern crate std;
    use super::*;

    /// The overflow list is global: these tests count it one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The slot-exhaustion hang: one thread that holds a slot and claims
    /// another (as `lock_next_vmas_fast` once did for its re-check walk),
    /// here more times than the table has slots. Each claim beyond the
    /// table takes an overflow slot instead of spinning forever, and the
    /// overflow slots come back for the next readers.
    #[test]
    fn nested_sections_beyond_the_table_never_spin() {
        let _serial = SERIAL.lock().unwrap();
        let n = 2 * nostd::READER_SLOTS + 3;
        let guards: alloc::vec::Vec<RcuGuard> = (0..n).map(|_| rcu_read_lock()).collect();
        let overflow = nostd::overflow_len();
        assert!(
            overflow >= n - nostd::READER_SLOTS,
            "{overflow} overflow slots"
        );
        drop(guards);
        let again: alloc::vec::Vec<RcuGuard> = (0..n).map(|_| rcu_read_lock()).collect();
        assert_eq!(nostd::overflow_len(), overflow, "freed slots are reused");
        drop(again);
        rcu_barrier();
    }

    /// The hang itself: more threads than slots, every one holding a slot
    /// while it claims a second (a barrier makes them all hold the first
    /// before any claims the second). Before overflow slots, each spun for
    /// a free slot that none would ever give back.
    #[test]
    fn more_threads_than_slots_each_claiming_a_second_never_hang() {
        let _serial = SERIAL.lock().unwrap();
        let threads = nostd::READER_SLOTS + 36;
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let first = rcu_read_lock();
                    barrier.wait();
                    let second = rcu_read_lock();
                    drop(second);
                    drop(first);
                });
            }
        });
        rcu_barrier();
    }
}
