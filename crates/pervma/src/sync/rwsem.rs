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

#[cfg(all(test, not(loom), feature = "std"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Duration;

    #[test]
    fn readers_share_writers_exclude() {
        let l = RawRwSem::new();
        assert!(l.try_read() && l.try_read());
        assert!(l.is_locked() && !l.is_write_locked());
        assert!(!l.try_write());
        // SAFETY: two read holds taken above.
        unsafe { l.read_unlock() };
        // SAFETY: as above.
        unsafe { l.read_unlock() };
        assert!(!l.is_locked());
        assert!(l.try_write());
        assert!(l.is_write_locked() && !l.try_read() && !l.try_write());
        // SAFETY: the write hold taken above.
        unsafe { l.write_unlock() };
        assert!(!l.is_locked());
    }

    /// Like Linux's rwsem: once a writer waits, new readers queue behind
    /// it (or a stream of readers would starve it).
    #[test]
    fn a_waiting_writer_stops_new_readers() {
        let l = RawRwSem::new();
        l.read();
        let writer_done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                l.write();
                writer_done.store(true, SeqCst);
                // SAFETY: the write hold taken just above.
                unsafe { l.write_unlock() };
            });
            // Wait until the writer has announced itself.
            while l.state.load(Ordering::Relaxed) & WRITER_WAITING == 0 {
                std::thread::yield_now();
            }
            assert!(!l.try_read(), "a reader overtook a waiting writer");
            assert!(!writer_done.load(SeqCst));
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: our read hold from the start.
            unsafe { l.read_unlock() };
        });
        assert!(writer_done.load(SeqCst));
        assert!(l.try_read());
    }

    #[test]
    fn downgrade_admits_readers_not_writers() {
        let l = RawRwSem::new();
        l.write();
        // SAFETY: we hold it for write.
        unsafe { l.downgrade() };
        assert!(!l.is_write_locked() && l.is_locked());
        assert!(l.try_read(), "readers may join after a downgrade");
        assert!(!l.try_write());
        // SAFETY: the downgraded hold and the one taken above.
        unsafe {
            l.read_unlock();
            l.read_unlock();
        }
        assert!(!l.is_locked());
    }

    /// Sleepers are woken: many threads contend long enough to park.
    #[test]
    fn contended_lock_hands_over_without_lost_wakeups() {
        let l = RawRwSem::new();
        let inside = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (l, inside) = (&l, &inside);
                s.spawn(move || {
                    for i in 0..300 {
                        if (t + i) % 3 == 0 {
                            l.write();
                            assert_eq!(inside.fetch_add(100, SeqCst), 0);
                            std::thread::sleep(Duration::from_micros(50));
                            inside.fetch_sub(100, SeqCst);
                            // SAFETY: taken above.
                            unsafe { l.write_unlock() };
                        } else {
                            l.read();
                            assert!(inside.fetch_add(1, SeqCst) < 100);
                            inside.fetch_sub(1, SeqCst);
                            // SAFETY: taken above.
                            unsafe { l.read_unlock() };
                        }
                    }
                });
            }
        });
        assert!(!l.is_locked());
    }
}
