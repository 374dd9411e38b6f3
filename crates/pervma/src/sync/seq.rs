//! `mm_lock_seq`: the sequence count of `mmap_lock` write cycles.
//!
//! Linux: include/linux/mmap_lock.h (`mm_lock_seqcount_*`,
//! `mmap_lock_speculate_*`), include/linux/seqlock.h.
//!
//! | value | meaning                                                   |
//! |-------|-----------------------------------------------------------|
//! | even  | no write cycle: `mmap_lock` is free or held for read      |
//! | odd   | a write cycle is running: `mmap_lock` is held for write   |
//!
//! The writer bumps it to odd when it takes `mmap_lock` for write and to
//! even when it releases or downgrades it. A VMA is write-locked while its
//! `vm_lock_seq` equals the current (odd) value, so the bump to even
//! releases every VMA write lock of the cycle at once (`vma_end_write_all`).
//! Only the holder of `mmap_lock` for write stores to it.

use super::prim::{fence, AtomicU32, Ordering};

/// `mm->mm_lock_seq`.
pub(crate) struct MmLockSeq(AtomicU32);

impl MmLockSeq {
    pub(crate) fn new() -> Self {
        MmLockSeq(AtomicU32::new(0))
    }

    /// Starts a write cycle (`mm_lock_seqcount_begin`).
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write and no cycle is running.
    pub(crate) unsafe fn write_begin(&self) {
        let seq = self.0.load(Ordering::Relaxed);
        debug_assert!(
            seq % 2 == 0,
            "mm_lock_seq odd at the start of a write cycle"
        );
        self.0.store(seq.wrapping_add(1), Ordering::Relaxed);
        // The odd value must be visible before anything the cycle writes
        // (smp_wmb in do_raw_write_seqcount_begin): pairs with the acquire
        // fence in `speculate_retry`.
        fence(Ordering::Release);
    }

    /// Ends the write cycle (`mm_lock_seqcount_end`): releases every VMA
    /// write lock taken in it.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write and a cycle is running.
    pub(crate) unsafe fn write_end(&self) {
        let seq = self.0.load(Ordering::Relaxed);
        debug_assert!(seq % 2 == 1, "mm_lock_seq even at the end of a write cycle");
        // Release: a reader that sees the even value (with Acquire, in
        // `vma_start_read`) also sees everything the cycle wrote to the VMAs
        // it had write-locked.
        self.0.store(seq.wrapping_add(1), Ordering::Release);
    }

    /// The current value, for the pessimistic early check of
    /// `vma_start_read` (no ordering needed: a stale value only makes the
    /// check fail where it need not).
    #[inline]
    pub(crate) fn read_relaxed(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// The current value with Acquire (`raw_read_seqcount`): pairs with the
    /// Release in [`MmLockSeq::write_end`].
    #[inline]
    pub(crate) fn read_acquire(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// `mmap_lock_speculate_try_begin`: `Some(seq)` if no write cycle is
    /// running, to be checked later with [`MmLockSeq::speculate_retry`].
    #[inline]
    pub(crate) fn speculate_try_begin(&self) -> Option<u32> {
        let seq = self.read_acquire();
        (seq % 2 == 0).then_some(seq)
    }

    /// `mmap_lock_speculate_retry`: whether a write cycle began since
    /// `seq` was read, so what was read speculatively must be discarded.
    #[inline]
    pub(crate) fn speculate_retry(&self, seq: u32) -> bool {
        // Order the caller's speculative reads before the re-read (smp_rmb
        // in read_seqcount_retry).
        fence(Ordering::Acquire);
        self.0.load(Ordering::Relaxed) != seq
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn odd_during_a_write_cycle_and_speculation_notices_it() {
        let seq = MmLockSeq::new();
        let begin = seq.speculate_try_begin().unwrap();
        assert!(!seq.speculate_retry(begin));
        // SAFETY: single-threaded test standing in for the lock holder.
        unsafe { seq.write_begin() };
        assert_eq!(seq.read_acquire() % 2, 1);
        assert!(seq.speculate_try_begin().is_none());
        assert!(seq.speculate_retry(begin));
        // SAFETY: as above; the cycle is running.
        unsafe { seq.write_end() };
        assert_eq!(seq.read_relaxed(), begin + 2);
        assert!(
            seq.speculate_retry(begin),
            "a whole cycle ran since `begin`"
        );
    }
}
