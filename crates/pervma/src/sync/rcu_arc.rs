//! An `Option<Arc<T>>` that readers take without locks and one writer at a
//! time replaces (`rcu_assign_pointer` + `kfree_rcu` of a reference).
//!
//! Linux keeps an mm's MMU notifier subscriptions on an RCU list; pervma
//! keeps the list as one immutable `Arc` and swaps it. A reader enters an
//! RCU read section only long enough to take its own strong reference, so
//! it may then hold the value as long as it likes (call into user code,
//! block) without holding up grace periods, which `no_std` read sections
//! must never do.
//!
//! # Invariants
//!
//! - `ptr` is null or came from `Arc::into_raw`, and owns one strong count
//!   of that `Arc` while it is stored there.
//! - A pointer swapped out gives its count back only after a grace period,
//!   so a reader that loaded it inside a read section can still add a
//!   count of its own.

use super::prim::{AtomicPtr, Ordering};
use super::rcu::{rcu_read_lock, RetireBatch};
use alloc::sync::Arc;
use core::ptr;

/// See the module docs.
pub(crate) struct RcuArc<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: an `RcuArc<T>` is an `Option<Arc<T>>` shared between threads:
// the same bounds as `Arc<T>`'s.
unsafe impl<T: Send + Sync> Send for RcuArc<T> {}
// SAFETY: as above; readers clone the `Arc`, writers replace it.
unsafe impl<T: Send + Sync> Sync for RcuArc<T> {}

impl<T: Send + Sync> RcuArc<T> {
    /// Empty.
    pub(crate) fn new() -> Self {
        RcuArc {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Whether it holds nothing: exact for a caller that excludes
    /// writers (holds the lock that serialises them).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ptr.load(Ordering::Relaxed).is_null()
    }

    /// The current value. Costs one relaxed load while empty.
    ///
    /// A `None` read concurrently with a `replace` may be stale; callers
    /// that need the newest value order themselves after the writer (with
    /// the lock that serialises writers).
    #[inline]
    pub(crate) fn load(&self) -> Option<Arc<T>> {
        if self.ptr.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let _rcu = rcu_read_lock();
        // Acquire: pairs with the AcqRel swap that published the `Arc`, so
        // its contents are visible.
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` (invariant) and its stored
        // count is given back only after a grace period, which cannot end
        // while `_rcu` lives: the count is at least 1, so adding one and
        // taking it as our own `Arc` is sound.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }

    /// Stores `value` and gives back the old value's count after a grace
    /// period. Callers serialise their calls (one writer at a time); readers
    /// may run concurrently.
    pub(crate) fn replace(&self, value: Option<Arc<T>>) {
        let new = value.map_or(ptr::null_mut(), |a| Arc::into_raw(a).cast_mut());
        // Release: readers that see `new` see the `Arc`'s contents.
        // Acquire: we retire what a previous writer published.
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            let rcu = rcu_read_lock();
            let mut batch = RetireBatch::new();
            // SAFETY: `old` came from `Arc::into_raw` and owned one count
            // (invariant), which nobody else gives back: it is unlinked now,
            // so only readers already in a read section can still see it.
            // `T: Send + Sync`, so dropping it on another thread is sound.
            unsafe { batch.push_arc(old.cast_const()) };
            rcu.retire(batch);
        }
    }
}

impl<T> Drop for RcuArc<T> {
    fn drop(&mut self) {
        let p = self.ptr.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: `&mut self`: no reader can be loading it; the stored
            // count is ours to give back (invariant).
            drop(unsafe { Arc::from_raw(p.cast_const()) });
        }
    }
}
