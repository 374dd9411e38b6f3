//! The per-VMA lock: the raw words and their protocol.
//!
//! Linux: include/linux/mmap_lock.h, mm/mmap_lock.c (`vma_start_read`,
//! `vma_start_write`, `__vma_enter_locked`, `vma_mark_detached`; the
//! refcount-based lock of 6.15+).
//!
//! This is the raw layer (as `lock_api::RawRwLock` is under `RwLock`):
//! two atomic words, methods that take and drop references to them, and
//! the contracts under which that is sound. [`Vma`](crate::Vma) holds one
//! and the safe guards of `mm/` use it ([`VmaReadGuard`](crate::VmaReadGuard),
//! `VmaChange`).
//!
//! # The words
//!
//! | `vm_refcnt`                        | meaning                                   |
//! |------------------------------------|-------------------------------------------|
//! | 0                                  | detached: not in any tree, no readers      |
//! | 1                                  | attached, no readers                       |
//! | 1 + n                              | attached, n readers                        |
//! | `VMA_LOCK_OFFSET` + 1 + n          | a writer waits for n readers to leave      |
//! | `VMA_LOCK_OFFSET` + n              | a writer detaching it waits for n readers  |
//!
//! and `vm_lock_seq`: the VMA is write-locked while it equals the `Mm`'s
//! current (odd) `mm_lock_seq`. So write locks are taken one by one
//! ([`RawVmaLock::start_write`]) but all released at once, when
//! `mmap_write_unlock` makes `mm_lock_seq` even.
//!
//! A reader ([`RawVmaLock::start_read`]) increments `vm_refcnt` only if it
//! is non-zero and below `VMA_REF_LIMIT` (so never while `VMA_LOCK_OFFSET`
//! is added), and then checks `vm_lock_seq` again: a writer may have locked
//! the VMA between the first check and the increment, in which case the
//! reader backs out. A writer adds `VMA_LOCK_OFFSET`, waits until only its
//! own contribution is left, stores `vm_lock_seq`, and subtracts the
//! offset; from then until the end of the write cycle readers fail.
//!
//! # Why a reference count: the alternatives, measured
//!
//! Every read writes `vm_refcnt`, so two CPUs reading the same VMA (or
//! VMAs whose lines they take from each other) move its line on every
//! read. `examples/read_protocols.rs` models the candidates side by side
//! over 1,000 128-byte objects inside an epoch pin, with the two threads
//! pinned to the two CPUs. One run (`cargo run --release -p pervma
//! --example read_protocols`, AMD EPYC, 2 vCPUs, no protection keys;
//! on-CPU ns per lock+read+unlock, median of 7 rounds):
//!
//! | protocol | random, 1 / 2 threads | same VMA, 1 / 2 threads | write cycle, readers biased | reader kept beside a writer |
//! |---|---|---|---|---|
//! | reference count (this module) | 10.1 / 14.6 (1.46x) | 6.9 / 50.1 (7.2x) | 10 ns | 88% |
//! | BRAVO, one hashed global table | 11.2 / 16.2 (1.44x) | 7.4 / 10.6 (1.43x) | 1,930 ns | 38% |
//! | BRAVO, 8 slots per thread | 8.9 / 9.6 (1.08x) | 6.4 / 9.9 (1.55x) | 69 ns | 84% |
//! | per-thread slots, `membarrier` | 9.2 / 9.1 (0.99x) | 7.4 / 9.4 (1.26x) | 638 ns (10-30 us with a reader running) | 45% |
//! | `crossbeam_epoch::pin` alone (floor) | 5.2 / 8.2 (1.55x) | 6.3 / 7.6 (1.22x) | | |
//!
//! Per-thread reader slots (BRAVO's reader indicators, with a per-thread
//! table instead of the paper's global one) are the candidate: readers
//! of one VMA stay at the pin's own floor, and a writer pays about 60 ns
//! per biased VMA it locks. Asymmetric fences read no faster and make
//! every revocation a system call with IPIs, which on this VM costs
//! microseconds. The global table shares its lines between threads and
//! is no better than the count. So the count stays until per-thread
//! slots are built into this lock, which has to solve what the model
//! leaves out: a guard held long or many per thread overflows the slots
//! and falls back to the count (the guard must say which it holds); a
//! writer waiting on a slot needs a wake-up the reader checks after
//! clearing it; a guard forgotten or held past its thread's exit must
//! not block writers forever (slots tied to the epoch participant);
//! `vma_mark_detached` must revoke and scan too, once per removed VMA;
//! and `no_std` kernels need per-CPU slots with preemption disabled.
//! Until then, random reads among 1,000 VMAs scale 1.13-1.42x and one
//! VMA read from two CPUs 1.4-1.6x per thread (`pervma bench`).
//!
//! # Invariants
//!
//! - `vm_refcnt` is 0 exactly while the VMA is detached; once it has gone
//!   back to 0 from attached, it is never raised again (only
//!   `mark_attached` raises a zero count, on a new VMA).
//! - `vm_lock_seq` is stored only by a writer that holds `mmap_lock` for
//!   write, while `VMA_LOCK_OFFSET` excludes readers (or before the VMA is
//!   published).

use super::prim::{AtomicU32, Ordering};
use super::seq::MmLockSeq;
use super::wait::{wait_until, wake_all};

/// Added to `vm_refcnt` while a writer excludes readers.
pub(crate) const VMA_LOCK_OFFSET: u32 = 0x4000_0000;
/// The most `vm_refcnt` may reach through readers.
pub(crate) const VMA_REF_LIMIT: u32 = VMA_LOCK_OFFSET - 1;

/// Why [`RawVmaLock::start_read`] failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReadFail {
    /// Write-locked, or too many readers: fall back to `mmap_lock`.
    Locked,
    /// Detached: it was removed from the tree; look again.
    Detached,
}

/// A VMA's lock words (`vm_refcnt`, `vm_lock_seq`); see the module docs.
pub(crate) struct RawVmaLock {
    vm_refcnt: AtomicU32,
    vm_lock_seq: AtomicU32,
}

impl RawVmaLock {
    /// The lock of a new, detached VMA, write-locked in the write cycle
    /// `seq` (the odd `mm_lock_seq` of the creator's cycle).
    pub(crate) fn new(seq: u32) -> Self {
        RawVmaLock {
            vm_refcnt: AtomicU32::new(0),
            vm_lock_seq: AtomicU32::new(seq),
        }
    }

    /// `vma_start_read`: takes a read reference without `mmap_lock`.
    ///
    /// On success the caller holds a read reference, which it gives back
    /// with [`RawVmaLock::end_read`]. The caller must know the lock's
    /// memory is valid (an RCU read section, for a VMA found in the tree)
    /// and must re-check that the VMA covers the address it wanted.
    #[inline]
    pub(crate) fn start_read(
        &self,
        mm_lock_seq: &MmLockSeq,
        writer_wait: &AtomicU32,
    ) -> Result<(), ReadFail> {
        // Pessimistic early check, no ordering needed: a race can only make
        // it report "locked" where a retry would have succeeded.
        if self.vm_lock_seq.load(Ordering::Relaxed) == mm_lock_seq.read_relaxed() {
            return Err(ReadFail::Locked);
        }
        // `__refcount_inc_not_zero_limited_acquire`. Fails while a writer has
        // added VMA_LOCK_OFFSET, since that puts the count above the limit.
        // Acquire: the checks below (and everything the reader then reads)
        // must not move before the increment.
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return Err(ReadFail::Detached);
            }
            if old >= VMA_REF_LIMIT {
                return Err(ReadFail::Locked);
            }
            match self.vm_refcnt.compare_exchange_weak(
                old,
                old + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        // A writer may have locked the VMA between the early check and the
        // increment. Acquire on mm_lock_seq pairs with the Release in
        // `vma_end_write_all`: if we see the cycle ended, we also see what
        // it wrote to this VMA. A false "locked" (sequence wrap) is possible,
        // a false "unlocked" is not: vm_lock_seq is stored while readers are
        // excluded, before the writer drops VMA_LOCK_OFFSET, so our
        // increment, which came after that, sees it.
        if self.vm_lock_seq.load(Ordering::Relaxed) == mm_lock_seq.read_acquire() {
            self.refcount_put(writer_wait);
            return Err(ReadFail::Locked);
        }
        Ok(())
    }

    /// `vma_start_read_locked`: takes a read reference while the caller
    /// holds `mmap_lock` for read, which no VMA writer can hold at the same
    /// time, so only the reader limit can make it fail. On success the
    /// caller gives it back with [`RawVmaLock::end_read`].
    #[inline]
    pub(crate) fn start_read_locked(&self) -> bool {
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            debug_assert!(old != 0, "vma_start_read_locked on a detached VMA");
            if old == 0 || old >= VMA_REF_LIMIT {
                return false;
            }
            match self.vm_refcnt.compare_exchange_weak(
                old,
                old + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// `vma_end_read`: drops a read reference and wakes a writer waiting
    /// for it. `writer_wait` is the `Mm`'s `vma_writer_wait` word (which
    /// outlives the VMA; after the decrement the VMA may be freed).
    ///
    /// # Safety
    ///
    /// The caller holds a read reference, taken by
    /// [`start_read`](Self::start_read) or
    /// [`start_read_locked`](Self::start_read_locked), and gives it up:
    /// dropping one it does not hold would let a writer detach and free
    /// the VMA under another reader.
    #[inline]
    pub(crate) unsafe fn end_read(&self, writer_wait: &AtomicU32) {
        self.refcount_put(writer_wait);
    }

    /// `vma_refcount_put`.
    #[inline]
    fn refcount_put(&self, writer_wait: &AtomicU32) {
        // Release: the reader's accesses happen before the writer that sees
        // the count drop proceeds.
        let old = self.vm_refcnt.fetch_sub(1, Ordering::Release);
        debug_assert!(old != 0, "vm_refcnt underflow");
        if is_vma_writer_only(old - 1) {
            // A writer waits for us, its last reader. Not touching `self`
            // any more: it may be freed as soon as the writer runs.
            writer_wait.fetch_add(1, Ordering::Release);
            wake_all(writer_wait);
        }
    }

    /// Whether the VMA is write-locked in the cycle `seq`
    /// (`__is_vma_write_locked`).
    #[inline]
    pub(crate) fn is_write_locked(&self, seq: u32) -> bool {
        self.vm_lock_seq.load(Ordering::Relaxed) == seq
    }

    /// `vma_start_write`: excludes readers until the write cycle `seq`
    /// ends. Waits for the readers inside to leave.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write, `seq` is the current odd
    /// `mm_lock_seq`, and `writer_wait` is the `Mm`'s wait word.
    #[inline]
    pub(crate) unsafe fn start_write(&self, seq: u32, writer_wait: &AtomicU32) {
        if self.is_write_locked(seq) {
            return;
        }
        let locked = self.enter_locked(false, writer_wait);
        // Readers are excluded (or the VMA is detached): the store cannot
        // be seen by a reader that then succeeds.
        self.vm_lock_seq.store(seq, Ordering::Relaxed);
        if locked {
            let detached = self.exit_locked();
            debug_assert!(!detached, "VMA detached while being write-locked");
        }
    }

    /// `vma_mark_attached`: publishes a new VMA's refcount (the tree's
    /// reference).
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write and the VMA is detached and
    /// not yet reachable by readers.
    pub(crate) unsafe fn mark_attached(&self) {
        debug_assert_eq!(self.vm_refcnt.load(Ordering::Relaxed), 0);
        // Release: the VMA's initialised fields happen before a reader's
        // successful (Acquire) increment.
        self.vm_refcnt.store(1, Ordering::Release);
    }

    /// `vma_mark_detached`: drops the tree's reference and waits for the
    /// readers that slipped in to leave. Afterwards no read lock can be
    /// taken, and once no RCU reader can see the VMA it may be freed.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write, has write-locked the VMA
    /// (so readers only hold it transiently), and has unlinked it from the
    /// tree readers will see from now on (or will, before freeing it).
    pub(crate) unsafe fn mark_detached(&self, writer_wait: &AtomicU32) {
        // AcqRel: on reaching zero we must see the last reader's accesses.
        if self.vm_refcnt.fetch_sub(1, Ordering::AcqRel) != 1 {
            // Transient readers (they will see the lock and back out).
            if self.enter_locked(true, writer_wait) {
                let detached = self.exit_locked();
                debug_assert!(detached, "VMA still referenced after detaching");
            }
        }
    }

    /// `__vma_enter_locked`: adds the offset (unless the count is zero) and
    /// waits until only the writer's share is left. Returns whether the
    /// offset was added.
    fn enter_locked(&self, detaching: bool, writer_wait: &AtomicU32) -> bool {
        let target = VMA_LOCK_OFFSET + u32::from(!detaching);
        // `refcount_add_not_zero`: only `mark_attached` raises a zero count,
        // and it runs under the mmap write lock that we hold.
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            match self.vm_refcnt.compare_exchange_weak(
                old,
                old + VMA_LOCK_OFFSET,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        // Acquire: the readers' accesses happen before ours.
        wait_until(writer_wait, || {
            self.vm_refcnt.load(Ordering::Acquire) == target
        });
        true
    }

    /// `__vma_exit_locked`: removes the offset; returns whether the VMA is
    /// now detached.
    fn exit_locked(&self) -> bool {
        self.vm_refcnt.fetch_sub(VMA_LOCK_OFFSET, Ordering::AcqRel) == VMA_LOCK_OFFSET
    }

    /// Whether the VMA is attached (for assertions and tests).
    pub(crate) fn is_attached(&self) -> bool {
        self.vm_refcnt.load(Ordering::Relaxed) != 0
    }
}

/// Whether a writer waits and no reader is left (`is_vma_writer_only`):
/// `VMA_LOCK_OFFSET` alone (detaching) or plus the tree's reference.
#[inline]
fn is_vma_writer_only(refcnt: u32) -> bool {
    refcnt & VMA_LOCK_OFFSET != 0 && refcnt <= VMA_LOCK_OFFSET + 1
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn vma(seq: u32) -> RawVmaLock {
        RawVmaLock::new(seq)
    }

    fn refcnt(v: &RawVmaLock) -> u32 {
        v.vm_refcnt.load(Ordering::Relaxed)
    }

    /// Every state of the table at the top of the module, in order.
    #[test]
    fn refcount_walks_through_its_states() {
        let mm_seq = MmLockSeq::new();
        let wait = AtomicU32::new(0);
        // SAFETY: this test plays the only mmap_lock writer.
        unsafe { mm_seq.write_begin() };
        let cycle = mm_seq.read_relaxed();
        let v = vma(cycle);
        assert_eq!(refcnt(&v), 0, "born detached");
        assert_eq!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Locked),
            "born write-locked"
        );
        // SAFETY: new and unpublished; we are the writer.
        unsafe { v.mark_attached() };
        assert_eq!(refcnt(&v), 1);
        assert_eq!(v.start_read(&mm_seq, &wait), Err(ReadFail::Locked));
        // SAFETY: as above.
        unsafe { mm_seq.write_end() };
        // vma_end_write_all: the cycle ended, the VMA is unlocked.
        assert_eq!(v.start_read(&mm_seq, &wait), Ok(()));
        assert!(v.start_read_locked());
        assert_eq!(refcnt(&v), 3);
        // SAFETY: a reference this test took above.
        unsafe { v.end_read(&wait) };
        // SAFETY: a reference this test took above.
        unsafe { v.end_read(&wait) };
        assert_eq!(refcnt(&v), 1);
        // A new cycle write-locks it again; readers fail at once.
        // SAFETY: as above.
        unsafe { mm_seq.write_begin() };
        let cycle = mm_seq.read_relaxed();
        // SAFETY: we hold "mmap_lock" for write in this cycle.
        unsafe { v.start_write(cycle, &wait) };
        assert!(v.is_write_locked(cycle));
        assert_eq!(
            refcnt(&v),
            1,
            "the offset is gone once readers are excluded"
        );
        assert_eq!(v.start_read(&mm_seq, &wait), Err(ReadFail::Locked));
        // SAFETY: write-locked, and (for the test) unlinked.
        unsafe { v.mark_detached(&wait) };
        assert_eq!(refcnt(&v), 0);
        // SAFETY: as above.
        unsafe { mm_seq.write_end() };
        assert_eq!(v.start_read(&mm_seq, &wait), Err(ReadFail::Detached));
    }

    #[test]
    fn readers_stop_at_the_limit_and_while_a_writer_waits() {
        let mm_seq = MmLockSeq::new();
        let wait = AtomicU32::new(0);
        let v = vma(u32::MAX);
        // SAFETY: unpublished; single-threaded test.
        unsafe { v.mark_attached() };
        v.vm_refcnt.store(VMA_REF_LIMIT, Ordering::Relaxed);
        assert_eq!(v.start_read(&mm_seq, &wait), Err(ReadFail::Locked));
        assert!(!v.start_read_locked());
        v.vm_refcnt.store(VMA_LOCK_OFFSET + 1, Ordering::Relaxed);
        assert_eq!(v.start_read(&mm_seq, &wait), Err(ReadFail::Locked));
        assert!(is_vma_writer_only(VMA_LOCK_OFFSET + 1));
        assert!(is_vma_writer_only(VMA_LOCK_OFFSET));
        assert!(!is_vma_writer_only(VMA_LOCK_OFFSET + 2));
        assert!(!is_vma_writer_only(1));
    }

    /// `vma_start_write` waits for the readers inside, and the last one
    /// to leave wakes it.
    #[cfg(feature = "std")]
    #[test]
    fn start_write_waits_for_readers_and_is_woken() {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let mm_seq = MmLockSeq::new();
        let wait = AtomicU32::new(0);
        let v = vma(u32::MAX);
        // SAFETY: unpublished; the test plays the writer.
        unsafe { v.mark_attached() };
        assert_eq!(v.start_read(&mm_seq, &wait), Ok(()));
        let locked = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: this thread plays the mmap_lock writer.
                unsafe { mm_seq.write_begin() };
                let cycle = mm_seq.read_relaxed();
                // SAFETY: as above.
                unsafe { v.start_write(cycle, &wait) };
                locked.store(true, SeqCst);
                // SAFETY: as above.
                unsafe { mm_seq.write_end() };
            });
            while refcnt(&v) < VMA_LOCK_OFFSET {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                !locked.load(SeqCst),
                "the writer did not wait for our read lock"
            );
            // SAFETY: a reference this test took above.
            unsafe { v.end_read(&wait) };
        });
        assert!(locked.load(SeqCst));
        assert_eq!(refcnt(&v), 1);
    }
}
