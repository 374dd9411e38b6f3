//! The one concurrency facade: every atomic, cell, spin hint and thread
//! yield in pervma comes from here.
//!
//! Normally these are `core`'s types; under `--cfg loom` they are loom's, so
//! the model checker sees every access and no call site mentions loom (the
//! pattern of crossbeam-epoch's `primitive` module and tokio's `src/loom`).

#![deny(unsafe_code)]

// `AtomicBool` and `AtomicUsize` serve only the reader slots of `std` builds.
#[cfg(not(loom))]
#[cfg_attr(not(feature = "std"), allow(unused_imports))]
pub(crate) use core::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

/// A hint that the caller is busy-waiting.
///
/// Under loom a spinning thread must yield, or the model never schedules
/// the thread it waits for.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// A cell whose accesses loom tracks for data races (loom's own cell under
/// `--cfg loom`). `with` is a shared access, `with_mut` an exclusive one;
/// loom reports any two that are not ordered by happens-before.
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
