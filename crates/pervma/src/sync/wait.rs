//! Waiting for a 32-bit word to change: how `mmap_lock` and
//! `vma_start_write` wait.
//!
//! Linux: kernel/futex/, include/linux/rcuwait.h.
//!
//! Every waiter follows the futex protocol: read the word, check the
//! condition, and call [`wait`] with the value read; a waker changes the word
//! and then calls [`wake_all`]. [`wait`] may return spuriously, so callers
//! loop. Before blocking, callers spin for a short while with [`Backoff`]:
//! on the 2-vCPU virtual machines pervma is developed on, a cross-CPU futex
//! wake-up costs 20-50 us while a cache-line round trip costs 65-330 ns, so
//! most waits are over long before a sleep would pay for itself.
//!
//! | build        | [`wait`]                              | [`wake_all`]       |
//! |--------------|---------------------------------------|--------------------|
//! | `std`        | futex (`atomic-wait`)                 | futex wake         |
//! | `no_std`     | the kernel's hook, if installed;      | the kernel's hook, |
//! |              | else a bounded spin, then return      | else nothing       |
//! | `--cfg loom` | block on one loom wait queue          | wake it            |

//!
//! The `no_std` hooks come from [`set_wait_hooks`](crate::set_wait_hooks)
//! (a kernel's wait queue keyed by the word's address, as `std` keys the
//! futex). They follow the same protocol, so the callers' loops, which
//! re-check their condition after every return, are unchanged, and no
//! wake-up is lost: a waker changes the word before calling `wake_all`,
//! and the hook's `wait` must not sleep once the word differs from the
//! value passed (it re-checks under its queue lock, as `futex_wait` does).

#![deny(unsafe_code)]

use super::prim::{spin_hint, AtomicU32};

/// The kernel's wait and wake hooks (`no_std`); see the module docs.
#[cfg(all(not(feature = "std"), not(loom)))]
static HOOKS: once_cell::race::OnceBox<WaitHooks> = once_cell::race::OnceBox::new();

#[cfg(all(not(feature = "std"), not(loom)))]
struct WaitHooks {
    wait: fn(&AtomicU32, u32),
    wake_all: fn(&AtomicU32),
}

/// Installs the wait and wake hooks; the first installation wins. `std`
/// builds use futexes and loom its scheduler, and keep nothing.
pub(crate) fn set_wait_hooks(
    wait: fn(&core::sync::atomic::AtomicU32, u32),
    wake_all: fn(&core::sync::atomic::AtomicU32),
) {
    #[cfg(all(not(feature = "std"), not(loom)))]
    let _ = HOOKS.set(alloc::boxed::Box::new(WaitHooks { wait, wake_all }));
    #[cfg(any(feature = "std", loom))]
    let _ = (wait, wake_all);
}

/// Blocks while `*word == expected`, or returns early (spuriously).
#[inline]
pub(crate) fn wait(word: &AtomicU32, expected: u32) {
    #[cfg(all(feature = "std", not(loom)))]
    atomic_wait::wait(word, expected);
    #[cfg(all(not(feature = "std"), not(loom)))]
    if let Some(hooks) = HOOKS.get() {
        (hooks.wait)(word, expected);
    } else {
        // No scheduler to sleep on: spin for a while and let the caller
        // re-check. The bound keeps a lost update from costing more than
        // a few microseconds of extra spinning.
        let _ = expected;
        for _ in 0..(1 << 10) {
            if word.load(super::prim::Ordering::Relaxed) != expected {
                return;
            }
            spin_hint();
        }
    }
    #[cfg(loom)]
    loom_queue::wait(word, expected);
}

/// Under loom, waiting really blocks, as a futex (or a kernel's wait
/// hook) does: one wait queue, whose lock the check of the word is made
/// under. A waiter that misses its wake-up then blocks for good and loom
/// reports the deadlock, so every model of a lock that waits also checks
/// that no wake-up is lost (a writer never misses the reader that leaves
/// last, nor a reader the writer that unlocks).
#[cfg(loom)]
mod loom_queue {
    use super::super::prim::Ordering;
    use super::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        static ref QUEUE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub(super) fn wait(word: &AtomicU32, expected: u32) {
        let queue = QUEUE.0.lock().unwrap();
        // Under the queue lock, as `futex_wait` reads the word: a waker
        // changes the word before it takes the lock to wake.
        if word.load(Ordering::Relaxed) == expected {
            drop(QUEUE.1.wait(queue).unwrap());
        }
    }

    pub(super) fn wake_all() {
        drop(QUEUE.0.lock().unwrap());
        QUEUE.1.notify_all();
    }
}

/// Wakes every thread blocked in [`wait`] on `word`.
///
/// The caller must have changed `*word` first, so that a waiter about to
/// block sees the change and does not sleep.
#[inline]
pub(crate) fn wake_all(word: &AtomicU32) {
    #[cfg(all(feature = "std", not(loom)))]
    atomic_wait::wake_all(word);
    #[cfg(all(not(feature = "std"), not(loom)))]
    if let Some(hooks) = HOOKS.get() {
        (hooks.wake_all)(word);
    }
    #[cfg(loom)]
    {
        let _ = word;
        loom_queue::wake_all();
    }
}

/// Exponential spinning before a thread blocks.
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// How many doublings to spin before [`Backoff::is_completed`]: 2^7 =
    /// 128 pause instructions at the last step, about 1-4 us in all, in
    /// the range of a cache-line round trip times the usual critical
    /// section and well under a futex round trip.
    const SPIN_LIMIT: u32 = 7;

    pub(crate) const fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Spins a little longer each call.
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(loom)]
        spin_hint();
        #[cfg(not(loom))]
        for _ in 0..(1u32 << self.step.min(Self::SPIN_LIMIT)) {
            spin_hint();
        }
        if self.step <= Self::SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// Whether spinning has gone on long enough that the caller should
    /// block instead. Always true under loom, where spinning only adds
    /// states to explore.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        cfg!(loom) || self.step > Self::SPIN_LIMIT
    }
}

/// Waits until `done()` holds, spinning briefly and then blocking on `word`.
///
/// `done` is re-evaluated after every wake-up. The waker must change `word`
/// (after making `done()` true) and call [`wake_all`].
#[inline]
pub(crate) fn wait_until(word: &AtomicU32, done: impl FnMut() -> bool) {
    wait_until_armed(word, done, || true);
}

/// [`wait_until`] for wakers that only wake a sleeper they know of:
/// before each sleep, `arm()` tells them (sets a waiter bit where they
/// will see it), or returns `false` if what it would mark changed, and
/// the caller looks again instead of sleeping.
#[inline]
pub(crate) fn wait_until_armed(
    word: &AtomicU32,
    mut done: impl FnMut() -> bool,
    mut arm: impl FnMut() -> bool,
) {
    let mut backoff = Backoff::new();
    loop {
        // Read the word before checking the condition: a wake-up that
        // comes between the check and the sleep changes the word, so
        // `wait` returns at once instead of missing it.
        let seen = word.load(super::prim::Ordering::Acquire);
        if done() {
            return;
        }
        if !backoff.is_completed() {
            backoff.spin();
        } else if arm() {
            wait(word, seen);
        }
    }
}
