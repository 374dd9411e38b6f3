//! The done list: retired memory whose grace period has passed, waiting
//! for the next writer to free it.
//!
//! Linux: kernel/rcu/rcu_segcblist.h (the `RCU_DONE_TAIL` segment),
//! kernel/rcu/tree.c (`rcu_do_batch`).
//!
//! Linux invokes RCU callbacks on the CPU that queued them: `call_rcu`
//! appends to this CPU's segmented list, and once the grace period ends
//! `rcu_do_batch` runs the done segment there. So a `munmap`'s memory goes
//! back to the allocator cache it came from, and a page fault on another
//! CPU never runs it. crossbeam-epoch instead runs a deferred function on
//! whichever thread next collects garbage, and every participant collects
//! once every 128 pins: mostly readers, since they pin most. Under churn a
//! reader then spends its time freeing the writer's tree nodes and VMAs,
//! into the writer's allocator arena, against the writer's own
//! allocations: `perf record` of a reader at random among 1,000 VMAs
//! while another thread `mprotect`s elsewhere put 12% of its samples in
//! glibc's `free` and 10% in futex waits for the arena's lock.
//!
//! So a retired batch's deferred function does not free it: it pushes the
//! batch here, one compare-and-swap on a list head that is idle most of
//! the time, and the next [`retire`](super::rcu::RcuGuard::retire) (a
//! writer: `munmap`, `mprotect`, a zap) or
//! [`rcu_barrier`](super::rcu::rcu_barrier) frees everything on the list
//! ([`DoneList::take`]). The memory then goes back where it came from, as
//! in Linux, and a reader that collects pays one push per batch.
//!
//! The list is a Treiber stack that is only ever emptied whole: `push`
//! links a node in with a compare-and-swap, `take` swaps the head for
//! null. Without a pop of single nodes there is no ABA hazard: a push
//! that read a head which has since been taken (and even freed and
//! reused) only links its node in front of whatever the head is now.
//!
//! # Invariants
//!
//! - A node on the list is owned by the list: `push` hands a node over
//!   (after which the pusher does not touch it) and `take` hands the
//!   whole chain to one caller.
//! - `next` of a node is written only by its pusher, before the `Release`
//!   compare-and-swap that publishes it; `take`'s `Acquire` swap makes the
//!   chain, and each item's contents, visible to the taker.

// Under loom the RCU model runs deferred frees itself, when the execution
// ends; only this module's own loom test uses the list.
#![cfg_attr(loom, allow(dead_code))]

use super::prim::{AtomicPtr, Ordering};
use alloc::boxed::Box;
use core::ptr;

/// A list of items that any thread may push and that is taken whole.
pub(crate) struct DoneList<T> {
    head: AtomicPtr<Node<T>>,
}

struct Node<T> {
    next: *mut Node<T>,
    item: T,
}

/// An item in its list node, ready to [`push`](DoneList::push).
pub(crate) struct Pending<T>(Box<Node<T>>);

impl<T> Pending<T> {
    pub(crate) fn new(item: T) -> Self {
        Pending(Box::new(Node {
            next: ptr::null_mut(),
            item,
        }))
    }
}

// SAFETY: a `Pending` owns its node, whose `next` is null until pushed:
// moving it moves a `T`.
unsafe impl<T: Send> Send for Pending<T> {}

// SAFETY: the list owns its items (invariants) and hands them to whichever
// thread takes it, so sharing the list moves `T`s between threads.
unsafe impl<T: Send> Sync for DoneList<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for DoneList<T> {}

impl<T> DoneList<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        DoneList {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        DoneList {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Adds the item of `pending` (one compare-and-swap; the node was
    /// allocated by [`Pending::new`], on the thread that will likely free
    /// it).
    pub(crate) fn push(&self, pending: Pending<T>) {
        let node = Box::into_raw(pending.0);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the exchange below publishes it
            // (invariants: only its pusher writes `next`).
            unsafe { (*node).next = head };
            // Release: the node's `next` and item happen-before the
            // `Acquire` swap in `take` that finds it.
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every item on the list and hands each to `f`, oldest push
    /// last. Nearly free when the list is empty (one load).
    pub(crate) fn take(&self, mut f: impl FnMut(T)) {
        if self.head.load(Ordering::Relaxed).is_null() {
            return;
        }
        // Acquire: pairs with each push's Release, so the chain and its
        // items are visible here.
        let mut node = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        while !node.is_null() {
            // SAFETY: the swap made this thread the chain's only owner
            // (invariants); each node came from `Box::into_raw` in `push`
            // and is freed once, here.
            let boxed = unsafe { Box::from_raw(node) };
            node = boxed.next;
            f(boxed.item);
        }
    }
}

impl<T> Drop for DoneList<T> {
    fn drop(&mut self) {
        self.take(drop);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use crate::sync::rcu::{rcu_barrier, rcu_read_lock, RetireBatch};
    use alloc::boxed::Box;
    use std::sync::{Arc, Mutex};
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    /// Records the thread that drops it.
    struct Recorder(Arc<Mutex<Option<ThreadId>>>);

    impl Drop for Recorder {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(thread::current().id());
        }
    }

    /// The point of the done list: a reader that collects garbage (every
    /// 128 pins) moves a writer's retired batch along but never frees it;
    /// a thread that retires or calls `rcu_barrier` does. Fails without
    /// the list: crossbeam runs the free in the reader's pin.
    #[test]
    fn a_reader_that_collects_never_frees_a_writers_batch() {
        let dropped_by = Arc::new(Mutex::new(None));
        let mut batch = RetireBatch::new();
        let item = Box::into_raw(Box::new(Recorder(dropped_by.clone())));
        // SAFETY: a fresh box, never shared, freed only by the batch; a
        // `Recorder` may drop on any thread.
        unsafe { batch.push(item) };
        {
            let rcu = rcu_read_lock();
            rcu.retire(batch);
            rcu.flush();
        }
        let reader = thread::spawn(|| {
            for _ in 0..100_000 {
                drop(rcu_read_lock());
            }
            thread::current().id()
        })
        .join()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while dropped_by.lock().unwrap().is_none() && Instant::now() < deadline {
            rcu_barrier();
            thread::sleep(Duration::from_millis(1));
        }
        let by = dropped_by.lock().unwrap().expect("never freed");
        assert_ne!(by, reader, "the reader freed the writer's batch");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::{DoneList, Pending};
    use alloc::vec::Vec;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    type Item = Arc<UnsafeCell<u32>>;

    /// Reads each taken item's cell (loom checks that the pusher's write
    /// happens-before the read) and returns the values.
    fn take_all(list: &DoneList<Item>) -> Vec<u32> {
        let mut seen = Vec::new();
        // SAFETY (test): the take made this thread the item's only user.
        list.take(|c| seen.push(c.with(|p| unsafe { *p })));
        seen
    }

    /// Two pushers and a taker racing them: every item is taken exactly
    /// once (by the racing take or the final one), and the taker sees
    /// what a pusher wrote before its push. Checked by mutation: a
    /// `Relaxed` exchange in `push` fails with a causality violation.
    #[test]
    fn loom_done_list_pushes_are_taken_once_and_visible() {
        loom::model(|| {
            let list = Arc::new(DoneList::<Item>::new());
            let pushers: Vec<_> = (0..2u32)
                .map(|i| {
                    let list = list.clone();
                    loom::thread::spawn(move || {
                        let cell = Arc::new(UnsafeCell::new(0));
                        // SAFETY (test): not shared until pushed.
                        cell.with_mut(|p| unsafe { *p = i + 1 });
                        list.push(Pending::new(cell));
                    })
                })
                .collect();
            let taker = {
                let list = list.clone();
                loom::thread::spawn(move || take_all(&list))
            };
            let mut seen = taker.join().unwrap();
            for p in pushers {
                p.join().unwrap();
            }
            seen.extend(take_all(&list));
            seen.sort_unstable();
            assert_eq!(seen, [1, 2]);
        });
    }
}
