//! The one concurrency facade: every atomic, cell, spin hint and thread
//! yield in pervma comes from here.
//!
//! Normally these are `core`'s types; under `--cfg loom` they are loom's, so
//! the model checker sees every access and no call site mentions loom (the
//! pattern of crossbeam-epoch's `primitive` module and tokio's `src/loom`).

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

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
