//! A small lockdep: which `mmap_lock`s and VMA read locks this thread
//! holds, so that debug builds panic with an explanation where the lock
//! order would otherwise deadlock.
//!
//! Linux: kernel/locking/lockdep.c (the part that matters here: recursive
//! acquisition of `mmap_lock` and of VMA locks).
//!
//! The rules it checks (see the crate docs, "The deadlock rule"):
//!
//! 1. `lock_vma` and `mmap_read_lock`/`mmap_write_lock` must not be called
//!    while this thread holds `mmap_lock` (any mode) of the same `Mm`: the
//!    rwsem prefers writers, so a second read acquisition queues behind a
//!    waiting writer that waits for our first one.
//! 2. `lock_vma` must not be called, and `mmap_lock` must not be taken,
//!    while this thread holds a VMA read lock of the same `Mm`: a writer
//!    that holds `mmap_lock` and waits in `vma_start_write` for our VMA
//!    would wait for us while we wait for it.
//!
//! Tracking is per thread and needs thread-locals, so it exists in `std`
//! debug builds only; elsewhere every function here is empty.
//! `lock_vma_under_rcu` never waits, so it is always allowed.

#![deny(unsafe_code)]

/// What a thread holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Held {
    MmapRead,
    MmapWrite,
    VmaRead,
}

#[cfg(all(feature = "std", debug_assertions, not(loom)))]
mod imp {
    use super::Held;
    use core::cell::RefCell;
    use std::vec::Vec;

    std::thread_local! {
        static HELD: RefCell<Vec<(usize, Held)>> = const { RefCell::new(Vec::new()) };
    }

    // `try_with` throughout: a guard kept in a thread-local may be taken or
    // dropped while the thread's locals are torn down, after `HELD`'s, and
    // bookkeeping must not turn that into an abort ("thread local panicked
    // on drop"). Such a guard goes unrecorded.

    pub(crate) fn acquire(mm: usize, what: Held) {
        let _ = HELD.try_with(|h| h.borrow_mut().push((mm, what)));
    }

    pub(crate) fn release(mm: usize, what: Held) {
        // Guards may be dropped in any order (and a VMA read guard may be
        // dropped on... this thread only: guards are !Send), so remove the
        // most recent matching entry.
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|&e| e == (mm, what)) {
                h.remove(i);
            }
        });
    }

    pub(crate) fn check_may_wait(mm: usize, call: &str) {
        let held = HELD
            .try_with(|h| h.borrow().iter().find(|e| e.0 == mm).map(|e| e.1))
            .ok()
            .flatten();
        if let Some(what) = held {
            let holding = match what {
                Held::MmapRead => "mmap_lock for read",
                Held::MmapWrite => "mmap_lock for write",
                Held::VmaRead => "a VMA read lock",
            };
            panic!(
                "pervma: deadlock: {call} called while this thread holds {holding} of the same Mm.\n\
                 {call} may wait for mmap_lock, and a writer waiting for mmap_lock (or holding it \
                 and waiting in vma_start_write for a VMA this thread has read-locked) would then \
                 wait for this thread while this thread waits for it.\n\
                 Drop the guard first, or use lock_vma_under_rcu / the no-wait variant, which \
                 never waits."
            );
        }
    }
}

#[cfg(not(all(feature = "std", debug_assertions, not(loom))))]
mod imp {
    use super::Held;

    #[inline(always)]
    pub(crate) fn acquire(_mm: usize, _what: Held) {}
    #[inline(always)]
    pub(crate) fn release(_mm: usize, _what: Held) {}
    #[inline(always)]
    pub(crate) fn check_may_wait(_mm: usize, _call: &str) {}
}

pub(crate) use imp::{acquire, check_may_wait, release};
