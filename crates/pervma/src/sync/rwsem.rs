//! The raw `mmap_lock`: a writer-preferring read-write semaphore.
//!
//! Linux: kernel/locking/rwsem.c, include/linux/mmap_lock.h.
//!
//! Like Linux's rwsem, a waiting writer stops new readers from entering, so
//! a stream of page-fault readers cannot starve `mmap`. Writers queue among
//! themselves through the `WRITER_WAITING` bit: the writer that sets it is
//! the next to get the lock, the others wait for it to clear.
//!
//! # The lock word
//!
//! | bits   | name             | meaning                                          |
//! |--------|------------------|--------------------------------------------------|
//! | 0..=27 | readers          | number of readers holding the lock               |
//! | 28     | `WRITER_WAITING` | a writer waits for the readers to drain           |
//! | 29     | `WRITER_LOCKED`  | a writer holds the lock                          |
//! | 30     | `PARKED`         | some thread sleeps on the word: wake on release  |
//!
//! `WRITER_LOCKED` and a non-zero reader count never coexist. A thread
//! that wants to sleep sets `PARKED` (with a compare-and-swap against the
//! value it saw) and then sleeps on that value; a thread that releases the
//! lock clears `PARKED` and, if it was set, wakes everyone, who re-check.
//! Uncontended acquire and release are one atomic read-modify-write each
//! and never make a system call.

use super::prim::{AtomicU32, Ordering};
use super::wait::{wait, wake_all, Backoff};

const READER: u32 = 1;
const READERS_MASK: u32 = (1 << 28) - 1;
const WRITER_WAITING: u32 = 1 << 28;
const WRITER_LOCKED: u32 = 1 << 29;
const PARKED: u32 = 1 << 30;

/// A raw reader-writer semaphore without guards.
///
/// The unsafe release methods have the usual contract: the caller holds
/// the lock in the mode it releases.
pub(crate) struct RawRwSem {
    state: AtomicU32,
}

impl RawRwSem {
    pub(crate) fn new() -> Self {
        RawRwSem {
            state: AtomicU32::new(0),
        }
    }

    /// `down_read_trylock`.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        Self::read_grant(s).is_some_and(|new| {
            self.state
                .compare_exchange(s, new, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// `down_read`: blocks while a writer holds or waits for the lock.
    #[inline]
    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.acquire_slow(Self::read_grant);
        }
    }

    /// `down_write_trylock`.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// `down_write`: takes the writer's turn, then waits for readers.
    #[inline]
    pub(crate) fn write(&self) {
        if self.try_write() {
            return;
        }
        // First become the waiting writer: new readers now queue behind us.
        self.acquire_slow(|s| {
            (s & (WRITER_WAITING | WRITER_LOCKED) == 0).then_some(s | WRITER_WAITING)
        });
        // Then wait for the readers already inside to leave.
        self.acquire_slow(|s| {
            (s & READERS_MASK == 0).then_some((s & !WRITER_WAITING) | WRITER_LOCKED)
        });
    }

    /// `up_read`.
    ///
    /// # Safety
    ///
    /// The caller holds the lock for read.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self) {
        // Release: the reader's accesses happen before a later writer's.
        let prev = self.state.fetch_sub(READER, Ordering::Release);
        debug_assert!(prev & READERS_MASK != 0, "up_read without a reader");
        if prev & READERS_MASK == READER && prev & PARKED != 0 {
            self.wake_parked();
        }
    }

    /// `up_write`.
    ///
    /// # Safety
    ///
    /// The caller holds the lock for write.
    #[inline]
    pub(crate) unsafe fn write_unlock(&self) {
        let prev = self
            .state
            .fetch_and(!(WRITER_LOCKED | PARKED), Ordering::Release);
        debug_assert!(prev & WRITER_LOCKED != 0, "up_write without a writer");
        if prev & PARKED != 0 {
            wake_all(&self.state);
        }
    }

    /// `downgrade_write`: turns the write hold into a read hold without
    /// letting another writer in between.
    ///
    /// # Safety
    ///
    /// The caller holds the lock for write.
    pub(crate) unsafe fn downgrade(&self) {
        let prev = self
            .state
            .fetch_add(READER.wrapping_sub(WRITER_LOCKED), Ordering::Release);
        debug_assert!(prev & WRITER_LOCKED != 0, "downgrade without a writer");
        if prev & PARKED != 0 {
            self.wake_parked();
        }
    }

    /// Whether the lock is held for write by someone (for assertions).
    pub(crate) fn is_write_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER_LOCKED != 0
    }

    /// Whether the lock is held in any mode by someone (for assertions).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER_LOCKED | READERS_MASK) != 0
    }

    /// The state a reader moves `s` to, if a reader may enter now.
    #[inline]
    fn read_grant(s: u32) -> Option<u32> {
        (s & (WRITER_WAITING | WRITER_LOCKED) == 0 && s & READERS_MASK != READERS_MASK)
            .then_some(s + READER)
    }

    /// Spins, then sleeps, until `grant` allows a transition and it wins
    /// the compare-and-swap.
    #[cold]
    fn acquire_slow(&self, grant: impl Fn(u32) -> Option<u32>) {
        let mut backoff = Backoff::new();
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if let Some(new) = grant(s) {
                if self
                    .state
                    .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if !backoff.is_completed() {
                backoff.spin();
                continue;
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            wait(&self.state, s | PARKED);
        }
    }

    #[cold]
    fn wake_parked(&self) {
        self.state.fetch_and(!PARKED, Ordering::Relaxed);
        wake_all(&self.state);
    }
}
