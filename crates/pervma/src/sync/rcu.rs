//! RCU: read-side critical sections and deferred freeing.
//!
//! Linux: include/linux/rcupdate.h, kernel/rcu/.
//!
//! Lock-free readers ([`rcu_read_lock`]) may be looking at a tree node or a
//! VMA at the moment a writer unlinks it, so a writer never frees what it
//! unlinks: it hands the memory to [`RcuGuard::defer_drop`], which frees it
//! once every reader that could have seen it has left its read section.
//! The backend is crossbeam-epoch; nothing outside this module knows.
//!
//! # How readers register
//!
//! An epoch reader needs a registered participant (`LocalHandle`).
//!
//! - **`std`**: crossbeam-epoch's default collector, whose handle lives in a
//!   thread-local. Entering a read section is one `pin()`, 3-5 ns.
//! - **`no_std`**: there are no thread-locals, so one global collector keeps
//!   a table of `READER_SLOTS` registered handles, each on its own cache
//!   line. A reader claims a free slot with a compare-and-swap, starting at
//!   the index returned by the hook installed with
//!   [`set_cpu_hint`](crate::set_cpu_hint) (a CPU or thread number:
//!   readers that pass distinct numbers never share a line) and
//!   probing onwards; it gives the slot back when the section ends. If
//!   every slot is taken, the reader spins until one is free: read sections
//!   are short and never block.
//! - **`--cfg loom`**: a model with the same interface in which deferred
//!   frees run when the loom execution ends. Loom then checks the lock
//!   protocols built on top without exploring crossbeam's own internals,
//!   which crossbeam's loom suite covers.
//!
//! The public API is the same in every build: the hook exists in `std`
//! builds too, where it is optional (threads number themselves).

use core::marker::PhantomData;
#[cfg(not(loom))]
use core::mem::ManuallyDrop;

/// A read-side critical section (`rcu_read_lock` .. `rcu_read_unlock`).
///
/// While it lives, no memory passed to [`RcuGuard::defer_drop`] after the
/// section began *or while it is running* is freed. It is not `Send`: a
/// section begins and ends on one thread.
#[must_use]
pub(crate) struct RcuGuard {
    /// Dropped by hand, before the slot is given back.
    #[cfg(not(loom))]
    inner: ManuallyDrop<crossbeam_epoch::Guard>,
    #[cfg(all(not(loom), not(feature = "std")))]
    slot: &'static nostd::Slot,
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
        let slot = nostd::claim();
        RcuGuard {
            inner: ManuallyDrop::new(slot.pin()),
            slot,
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
    /// Drops the `Box<T>` behind `ptr` after a grace period.
    ///
    /// # Safety
    ///
    /// - `ptr` came from `Box::into_raw` and is not freed or deferred
    ///   elsewhere.
    /// - `ptr` is no longer reachable for readers that start after this
    ///   call (it has been unlinked), so only readers already inside a read
    ///   section can still see it.
    /// - Dropping `T` on another thread is sound (the closure that frees it
    ///   may run on any thread that later enters a read section).
    pub(crate) unsafe fn defer_drop<T>(&self, ptr: *mut T) {
        // Raw pointers are not `Send`; the contract above makes moving the
        // pointer to whichever thread collects the garbage sound.
        struct SendPtr<T>(*mut T);
        // SAFETY: the caller promises that dropping `T` on another thread
        // is sound and that nobody else frees `ptr`.
        unsafe impl<T> Send for SendPtr<T> {}
        let ptr = SendPtr(ptr);
        let free = move || {
            let ptr = ptr;
            // SAFETY: `ptr` came from `Box::into_raw` (contract), and the
            // grace period has passed, so no reader holds it.
            drop(unsafe { alloc::boxed::Box::from_raw(ptr.0) });
        };
        #[cfg(not(loom))]
        // SAFETY: `free` touches only `ptr`, which stays valid until it
        // runs, and the caller guarantees it is unlinked, so running it
        // after the current epoch's readers are gone is what RCU allows.
        unsafe {
            self.inner.defer_unchecked(free)
        };
        #[cfg(loom)]
        {
            let free: alloc::boxed::Box<dyn FnOnce() + Send + '_> = alloc::boxed::Box::new(free);
            // SAFETY: the closure only frees `ptr`, which the caller
            // guarantees stays valid (and unfreed) until the closure runs;
            // it captures no other borrow, so extending its lifetime to
            // the end of the loom execution is sound.
            let free: alloc::boxed::Box<dyn FnOnce() + Send + 'static> =
                unsafe { core::mem::transmute(free) };
            loom_model::defer(free);
        }
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
        // Unpinned: the slot's handle is idle and may pass to another reader.
        #[cfg(not(feature = "std"))]
        self.slot.release();
    }
}

/// Memory to free after one grace period, handed to RCU as a single
/// callback (a batched `kfree_rcu`): one operation retires a few tree nodes
/// and maybe some VMAs, and one callback per operation instead of one per
/// object keeps the collector's queues short.
pub(crate) struct RetireBatch {
    items: alloc::vec::Vec<Retiree>,
}

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
            items: alloc::vec::Vec::new(),
        }
    }

    /// Adds the `Box<T>` behind `ptr` to the batch.
    ///
    /// # Safety
    ///
    /// As for [`RcuGuard::defer_drop`], by the time the batch is retired.
    pub(crate) unsafe fn push<T>(&mut self, ptr: *mut T) {
        self.items.push((ptr.cast(), drop_box::<T>));
    }

    /// Adds one strong count of the `Arc<T>` behind `ptr` to the batch.
    ///
    /// # Safety
    ///
    /// `ptr` came from `Arc::<T>::into_raw`, the count is given back nowhere
    /// else, and otherwise as for [`RcuGuard::defer_drop`] (dropping the
    /// last count may free `T` on another thread).
    pub(crate) unsafe fn push_arc<T>(&mut self, ptr: *const T) {
        self.items.push((ptr.cast_mut().cast(), drop_arc::<T>));
    }
}

impl RcuGuard {
    /// Frees everything in `batch` after a grace period, with one callback.
    pub(crate) fn retire(&self, batch: RetireBatch) {
        if batch.items.is_empty() {
            return;
        }
        let items = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(batch));
        // SAFETY: `items` is a fresh box; its drop runs each item's free
        // function (below), whose contracts `push` recorded. Dropping the
        // batch on another thread is what `push`'s contract allows.
        unsafe { self.defer_drop(items) };
    }
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
}

#[cfg(all(not(loom), not(feature = "std")))]
mod nostd {
    //! The `no_std` reader table.
    //!
    //! # Invariants
    //!
    //! A slot's `handle` is used only by the thread that set `claimed` from
    //! `false` to `true` (with `Acquire`), until it stores `false` again
    //! (with `Release`). So the `!Send`/`!Sync` handle is used by one thread
    //! at a time, and the claim/release pair orders its uses.

    use super::super::percpu::this_cpu;
    use super::super::prim::spin_hint;
    // The table is a static, and only exists outside loom: core atomics.
    use core::sync::atomic::{AtomicBool, Ordering};
    use crossbeam_epoch::{Collector, Guard, LocalHandle};
    use crossbeam_utils::CachePadded;
    use once_cell::race::OnceBox;

    /// How many readers can be inside a read section at once.
    pub(super) const READER_SLOTS: usize = 64;

    pub(in super::super) struct Slot {
        claimed: AtomicBool,
        handle: OnceBox<Handle>,
    }

    struct Handle(LocalHandle);
    // SAFETY: a `Handle` is only used by the thread that claimed its slot
    // (module invariant), so it is never used from two threads at once;
    // moving it between claims is ordered by the claim/release pair.
    unsafe impl Send for Handle {}
    // SAFETY: as above: shared references exist on several threads, but
    // only the claimer calls into the handle.
    unsafe impl Sync for Handle {}

    static COLLECTOR: OnceBox<Collector> = OnceBox::new();
    static SLOTS: [CachePadded<Slot>; READER_SLOTS] = [const {
        CachePadded::new(Slot {
            claimed: AtomicBool::new(false),
            handle: OnceBox::new(),
        })
    }; READER_SLOTS];

    pub(super) fn claim() -> &'static Slot {
        let start = this_cpu();
        loop {
            for i in 0..READER_SLOTS {
                let slot = &SLOTS[(start + i) % READER_SLOTS];
                if !slot.claimed.load(Ordering::Relaxed)
                    && slot
                        .claimed
                        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return slot;
                }
            }
            spin_hint();
        }
    }

    /// Flushes the deferred frees of every slot no reader holds now.
    pub(super) fn flush_idle_slots() {
        for slot in SLOTS.iter() {
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
        /// Pins the slot's participant. Only the claimer calls this.
        pub(super) fn pin(&self) -> Guard {
            let collector = COLLECTOR.get_or_init(|| alloc::boxed::Box::new(Collector::new()));
            self.handle
                .get_or_init(|| alloc::boxed::Box::new(Handle(collector.register())))
                .0
                .pin()
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
