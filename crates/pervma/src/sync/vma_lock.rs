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
//! | `VMA_READ_BIAS` + 1 + n            | attached, biased: readers may use slots    |
//!
//! and `vm_lock_seq`: the VMA is write-locked while it equals the `Mm`'s
//! current (odd) `mm_lock_seq`. So write locks are taken one by one
//! ([`RawVmaLock::start_write`]) but all released at once, when
//! `mmap_write_unlock` makes `mm_lock_seq` even.
//!
//! # Reading through the count
//!
//! A reader ([`RawVmaLock::start_read`]) increments `vm_refcnt` only if it
//! is non-zero and below `VMA_REF_LIMIT` (so never while `VMA_LOCK_OFFSET`
//! is added), and then checks `vm_lock_seq` again: a writer may have locked
//! the VMA between the first check and the increment, in which case the
//! reader backs out. A writer adds `VMA_LOCK_OFFSET`, waits until only its
//! own contribution is left, stores `vm_lock_seq`, and subtracts the
//! offset; from then until the end of the write cycle readers fail. This
//! is Linux's lock, and it is what `start_read_locked`, `no_std` builds
//! and a thread whose slots are all taken use.
//!
//! # Reading through a slot (the read bias)
//!
//! Every count reader writes `vm_refcnt`, so two CPUs reading one VMA (or
//! VMAs whose lines they take from each other) move its cache line on
//! every read. So a VMA can be *biased* towards its readers, as BRAVO
//! (Dice and Kogan, USENIX ATC 2019) biases a reader-writer lock:
//!
//! - A count reader that got in (so no writer is between adding the
//!   offset and storing `vm_lock_seq`, and it has seen the last write
//!   cycle end) sets `VMA_READ_BIAS`, unless a writer revoked the bias
//!   of a VMA of the same `Mm` recently (BRAVO's inhibition window: nine
//!   times as long as that revocation took, kept in [`MmVmaLock`], which
//!   bounds what revocations cost writers to about a tenth of their
//!   time).
//! - While the bit is set, a reader publishes the VMA's address in a slot
//!   of its own thread ([`read_bias::publish`], a store and a full
//!   fence), and holds the read lock if the bit is still set after the
//!   fence. It writes nothing shared, and reads neither `vm_lock_seq` nor
//!   `mm_lock_seq`: the bit alone says the VMA is attached and not
//!   write-locked.
//! - A writer clears the bit in the same compare-and-swap that adds
//!   `VMA_LOCK_OFFSET`, fences, and waits until no thread's slot holds
//!   the VMA ([`read_bias::revoke`]) before it waits for the count. The
//!   two fences form a store-buffering pair: the reader sees the bit gone
//!   and backs out, or the writer sees the reader's slot and waits.
//! - `vma_mark_detached` needs no scan: its caller has write-locked the
//!   VMA, which revoked the bias.
//!
//! A thread has eight slots; its ninth concurrent read lock takes the
//! count. A [`ReadHold`] records which the reader holds (four bits, which
//! the read guard keeps in its VMA pointer), and [`RawVmaLock::end_read`]
//! gives back that one.
//!
//! # Why slots beside the count: the alternatives, measured
//!
//! `examples/read_protocols.rs` models the candidates side by side
//! over 1,000 128-byte objects inside an epoch pin, with the two threads
//! pinned to the two CPUs. One run (`cargo run --release -p pervma
//! --example read_protocols`, AMD EPYC, 2 vCPUs, no protection keys;
//! on-CPU ns per lock+read+unlock, median of 7 rounds):
//!
//! | protocol | random, 1 / 2 threads | same VMA, 1 / 2 threads | write cycle, readers biased | reader kept beside a writer |
//! |---|---|---|---|---|
//! | reference count (Linux's) | 10.1 / 14.6 (1.46x) | 6.9 / 50.1 (7.2x) | 10 ns | 88% |
//! | BRAVO, one hashed global table | 11.2 / 16.2 (1.44x) | 7.4 / 10.6 (1.43x) | 1,930 ns | 38% |
//! | BRAVO, 8 slots per thread (built) | 8.9 / 9.6 (1.08x) | 6.4 / 9.9 (1.55x) | 69 ns | 84% |
//! | per-thread slots, `membarrier` | 9.2 / 9.1 (0.99x) | 7.4 / 9.4 (1.26x) | 638 ns (10-30 us with a reader running) | 45% |
//! | `crossbeam_epoch::pin` alone (floor) | 5.2 / 8.2 (1.55x) | 6.3 / 7.6 (1.22x) | | |
//!
//! Per-thread slots won: readers of one VMA stay near the pin's own
//! floor, and a writer pays tens of nanoseconds per biased VMA it locks.
//! Asymmetric fences read no faster and make every revocation a system
//! call with IPIs, which on this VM costs microseconds. The global table
//! shares its lines between threads and is no better than the count.
//!
//! Built into this lock and measured through `Mm::lock_vma` (pinned
//! threads, `examples/sharing_probe.rs`, before and after alternating,
//! four runs each): two threads at random among 1,000 VMAs went from
//! 1.13-2.06x of one thread's cost to 1.02-1.23x, two threads on one VMA
//! from 1.35-1.62x to 0.98-1.24x; `pervma bench` then read 1.04x and
//! 1.20x. One thread's lookup got no slower (median 33.9 ns before, 30.5
//! after). BENCHMARKS.md ("Later: the read bias") has the tables and
//! the writers' side.
//!
//! The model left out what the lock itself had to solve, and how it
//! does: guards held long or many per thread overflow to the count; a
//! writer that has spun on a slot sets a waiter bit in it and sleeps, and
//! the reader's release (one swap of its own slot) wakes it; a guard is
//! `!Send`, so it empties its slot on its own thread, and tables outlive
//! threads (a forgotten guard blocks writers forever, as a forgotten
//! count reference always did); a reader sets the bias only while it
//! holds a count reference, so never between a writer's offset and its
//! `vm_lock_seq`. `no_std` builds keep the count alone: a kernel's
//! guards sleep and migrate, which per-CPU slots cannot hold.
//!
//! # Invariants
//!
//! - `vm_refcnt` is 0 exactly while the VMA is detached; once it has gone
//!   back to 0 from attached, it is never raised again (only
//!   `mark_attached` raises a zero count, on a new VMA).
//! - `vm_lock_seq` is stored only by a writer that holds `mmap_lock` for
//!   write, while `VMA_LOCK_OFFSET` excludes readers (or before the VMA is
//!   published).
//! - `VMA_READ_BIAS` is set only by a reader holding a count reference,
//!   with `Release`, while `VMA_LOCK_OFFSET` is absent; it is cleared only
//!   by a writer adding `VMA_LOCK_OFFSET`, in the same atomic step. So
//!   while it is set the VMA is attached and not write-locked, and it is
//!   never set together with the offset.
//! - Once a writer is past [`read_bias::revoke`], no reader holds the
//!   VMA through a slot until the bias is set again, which the writer's
//!   cycle excludes. (A reader may still publish it for a moment, see
//!   the bit gone and back out.)

use super::prim::{AtomicU32, Ordering};
use super::read_bias::{self, SlotIndex};
use super::seq::MmLockSeq;
use super::wait::{wait_until, wake_all};

/// Added to `vm_refcnt` while a writer excludes readers.
pub(crate) const VMA_LOCK_OFFSET: u32 = 0x4000_0000;
/// The most `vm_refcnt` may reach through readers.
pub(crate) const VMA_REF_LIMIT: u32 = VMA_LOCK_OFFSET - 1;
/// Set in `vm_refcnt` while readers may lock the VMA through their own
/// slots ([`read_bias`]) instead of the count.
pub(crate) const VMA_READ_BIAS: u32 = 0x8000_0000;

/// How a reader holds a VMA read lock: a reference in `vm_refcnt` (0),
/// or slot `n - 1` of its thread's table, which holds the VMA's address.
/// At most [`ReadHold::BITS`] bits wide, for the guard to pack.
#[must_use]
pub(crate) struct ReadHold(u8);

impl ReadHold {
    /// A reference in `vm_refcnt`.
    pub(crate) const COUNT: ReadHold = ReadHold(0);
    /// How many low bits a hold needs.
    pub(crate) const BITS: u32 = 4;

    fn slot(i: SlotIndex) -> ReadHold {
        debug_assert!(u32::from(i.0) + 1 < 1 << Self::BITS);
        ReadHold(i.0 + 1)
    }

    /// The hold as a number below `1 << BITS`.
    #[inline(always)]
    pub(crate) fn to_bits(&self) -> usize {
        usize::from(self.0)
    }

    /// # Safety
    ///
    /// `bits` came from [`to_bits`](Self::to_bits) of a hold that the
    /// caller now owns instead (a hold is given back once).
    #[inline(always)]
    pub(crate) unsafe fn from_bits(bits: usize) -> ReadHold {
        debug_assert!(bits < 1 << Self::BITS);
        ReadHold(bits as u8)
    }

    /// Whether the hold is a slot (for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_slot(&self) -> bool {
        self.0 != 0
    }
}

/// The `Mm`'s half of its VMAs' locks, which outlives every VMA: the word
/// writers sleep on and the read bias's inhibition window.
pub(crate) struct MmVmaLock {
    /// `vma_writer_wait`: a writer in `vma_start_write` sleeps on it, and
    /// the reader that leaves last (or empties a slot the writer sleeps
    /// on) bumps it and wakes it.
    pub(crate) writer_wait: AtomicU32,
    /// Until when (in `read_bias::now_ns`) readers must not set
    /// `VMA_READ_BIAS` on this `Mm`'s VMAs: written by each revocation,
    /// [`read_bias`]'s N times its length from its end. One word per
    /// `Mm`, not per VMA, keeps `Vma<()>` at one cache line; it is read
    /// only by count readers and written only by revoking writers.
    /// Bookkeeping that orders nothing, so a plain atomic under loom too.
    /// (Never written in `no_std` builds, which have no bias.)
    bias_inhibit_until: core::sync::atomic::AtomicU64,
}

impl MmVmaLock {
    pub(crate) fn new() -> Self {
        MmVmaLock {
            writer_wait: AtomicU32::new(0),
            bias_inhibit_until: core::sync::atomic::AtomicU64::new(0),
        }
    }
}

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

    /// The address slots publish.
    #[inline(always)]
    fn addr(&self) -> usize {
        self as *const RawVmaLock as usize
    }

    /// `vma_start_read`: takes a read lock without `mmap_lock`.
    ///
    /// On success the caller holds the returned read lock, which it gives
    /// back with [`RawVmaLock::end_read`]. The caller must know the lock's
    /// memory is valid (an RCU read section, for a VMA found in the tree)
    /// and must re-check that the VMA covers the address it wanted.
    #[inline]
    pub(crate) fn start_read(
        &self,
        mm_lock_seq: &MmLockSeq,
        mm: &MmVmaLock,
    ) -> Result<ReadHold, ReadFail> {
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        if old & VMA_READ_BIAS != 0 {
            if let Some(i) = read_bias::publish(self.addr()) {
                // SeqCst: with the publication, the reader's half of the
                // store-buffering pair with `enter_locked` (which clears
                // the bias and then scans). Acquire (implied): pairs with
                // the Release that set the bias, whose setter had seen the
                // last write cycle end. While the bias is set no writer
                // has the VMA write-locked and it is attached (module
                // invariants), so nothing else needs checking.
                old = self.vm_refcnt.load(Ordering::SeqCst);
                if old & VMA_READ_BIAS != 0 {
                    return Ok(ReadHold::slot(i));
                }
                read_bias::release(i, &mm.writer_wait);
            }
        }
        // Pessimistic early check, no ordering needed: a race can only make
        // it report "locked" where a retry would have succeeded.
        if self.vm_lock_seq.load(Ordering::Relaxed) == mm_lock_seq.read_relaxed() {
            return Err(ReadFail::Locked);
        }
        // `__refcount_inc_not_zero_limited_acquire`. Fails while a writer has
        // added VMA_LOCK_OFFSET, since that puts the count above the limit.
        // Acquire: the checks below (and everything the reader then reads)
        // must not move before the increment.
        loop {
            if old == 0 {
                return Err(ReadFail::Detached);
            }
            if old & !VMA_READ_BIAS >= VMA_REF_LIMIT {
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
            self.refcount_put(mm);
            return Err(ReadFail::Locked);
        }
        self.maybe_bias(old + 1, mm);
        Ok(ReadHold::COUNT)
    }

    /// BRAVO's re-bias: a reader that holds a count reference (so no
    /// writer is between adding `VMA_LOCK_OFFSET` and storing
    /// `vm_lock_seq`) and has seen the last write cycle end sets
    /// `VMA_READ_BIAS`, unless a writer revoked it too recently. `count`
    /// is `vm_refcnt` as the reader's increment left it.
    #[cfg(feature = "std")]
    #[inline]
    fn maybe_bias(&self, mut count: u32, mm: &MmVmaLock) {
        if count & (VMA_READ_BIAS | VMA_LOCK_OFFSET) != 0
            || read_bias::inhibited(&mm.bias_inhibit_until)
        {
            return;
        }
        loop {
            if count & (VMA_READ_BIAS | VMA_LOCK_OFFSET) != 0 {
                return;
            }
            // Release: a slot reader that sees the bias (Acquire) sees
            // what this reader saw, the last write cycle's changes.
            match self.vm_refcnt.compare_exchange_weak(
                count,
                count | VMA_READ_BIAS,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => count = now,
            }
        }
    }

    /// Without thread-locals there are no slots to bias towards.
    #[cfg(not(feature = "std"))]
    #[inline(always)]
    fn maybe_bias(&self, _count: u32, _mm: &MmVmaLock) {}

    /// `vma_start_read_locked`: takes a read reference while the caller
    /// holds `mmap_lock` for read, which no VMA writer can hold at the same
    /// time, so only the reader limit can make it fail. On success the
    /// caller gives it back with [`RawVmaLock::end_read`].
    #[inline]
    pub(crate) fn start_read_locked(&self) -> bool {
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            debug_assert!(old != 0, "vma_start_read_locked on a detached VMA");
            if old == 0 || old & !VMA_READ_BIAS >= VMA_REF_LIMIT {
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

    /// `vma_end_read`: drops a read lock and wakes a writer waiting for
    /// it on `mm` (which outlives the VMA; once the lock is dropped the
    /// VMA may be freed).
    ///
    /// # Safety
    ///
    /// The caller holds `hold`, a read lock of this VMA taken by
    /// [`start_read`](Self::start_read) (or a count reference taken by
    /// [`start_read_locked`](Self::start_read_locked)), on this thread,
    /// and gives it up: dropping one it does not hold would let a writer
    /// detach and free the VMA under another reader.
    #[inline]
    pub(crate) unsafe fn end_read(&self, hold: ReadHold, mm: &MmVmaLock) {
        match hold.0 {
            0 => self.refcount_put(mm),
            n => read_bias::release(SlotIndex(n - 1), &mm.writer_wait),
        }
    }

    /// `vma_refcount_put`.
    #[inline]
    fn refcount_put(&self, mm: &MmVmaLock) {
        // Release: the reader's accesses happen before the writer that sees
        // the count drop proceeds.
        let old = self.vm_refcnt.fetch_sub(1, Ordering::Release);
        debug_assert!(old & !VMA_READ_BIAS != 0, "vm_refcnt underflow");
        if is_vma_writer_only(old - 1) {
            // A writer waits for us, its last reader. Not touching `self`
            // any more: it may be freed as soon as the writer runs.
            mm.writer_wait.fetch_add(1, Ordering::Release);
            wake_all(&mm.writer_wait);
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
    /// `mm_lock_seq`, and `mm` is the VMA's `Mm`'s.
    #[inline]
    pub(crate) unsafe fn start_write(&self, seq: u32, mm: &MmVmaLock) {
        if self.is_write_locked(seq) {
            return;
        }
        let locked = self.enter_locked(false, mm);
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
    pub(crate) unsafe fn mark_detached(&self, mm: &MmVmaLock) {
        // Write-locked, so `enter_locked` revoked the bias: slot readers
        // come and back out, holding nothing.
        debug_assert!(self.vm_refcnt.load(Ordering::Relaxed) & VMA_READ_BIAS == 0);
        // AcqRel: on reaching zero we must see the last reader's accesses.
        if self.vm_refcnt.fetch_sub(1, Ordering::AcqRel) != 1 {
            // Transient readers (they will see the lock and back out).
            if self.enter_locked(true, mm) {
                let detached = self.exit_locked();
                debug_assert!(detached, "VMA still referenced after detaching");
            }
        }
    }

    /// `__vma_enter_locked`: adds the offset (unless the count is zero),
    /// revokes the read bias, and waits until only the writer's share is
    /// left. Returns whether the offset was added.
    fn enter_locked(&self, detaching: bool, mm: &MmVmaLock) -> bool {
        let target = VMA_LOCK_OFFSET + u32::from(!detaching);
        // `refcount_add_not_zero`: only `mark_attached` raises a zero count,
        // and it runs under the mmap write lock that we hold. The same step
        // clears the bias, which no reader can set again while the offset
        // is there.
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            // SeqCst: the writer's half of the store-buffering pair with a
            // slot reader's publication (`start_read`). Acquire: the count
            // readers' accesses happen before ours.
            match self.vm_refcnt.compare_exchange_weak(
                old,
                (old & !VMA_READ_BIAS) + VMA_LOCK_OFFSET,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if old & VMA_READ_BIAS != 0 {
            let until = read_bias::revoke(self.addr(), &mm.writer_wait);
            mm.bias_inhibit_until.store(until, Ordering::Relaxed);
        }
        // Acquire: the readers' accesses happen before ours.
        wait_until(&mm.writer_wait, || {
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
        let wait = MmVmaLock::new();
        // SAFETY: this test plays the only mmap_lock writer.
        unsafe { mm_seq.write_begin() };
        let cycle = mm_seq.read_relaxed();
        let v = vma(cycle);
        assert_eq!(refcnt(&v), 0, "born detached");
        assert!(
            matches!(v.start_read(&mm_seq, &wait), Err(ReadFail::Locked)),
            "born write-locked"
        );
        // SAFETY: new and unpublished; we are the writer.
        unsafe { v.mark_attached() };
        assert_eq!(refcnt(&v), 1);
        assert!(matches!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Locked)
        ));
        // SAFETY: as above.
        unsafe { mm_seq.write_end() };
        // vma_end_write_all: the cycle ended, the VMA is unlocked.
        let first = v.start_read(&mm_seq, &wait).expect("unlocked");
        assert!(!first.is_slot(), "not biased before a count reader");
        assert!(v.start_read_locked());
        assert_eq!(refcnt(&v) & !VMA_READ_BIAS, 3);
        // SAFETY: a reference this test took above.
        unsafe { v.end_read(first, &wait) };
        // SAFETY: a reference this test took above.
        unsafe { v.end_read(ReadHold::COUNT, &wait) };
        assert_eq!(refcnt(&v) & !VMA_READ_BIAS, 1);
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
            "the offset and the bias are gone once readers are excluded"
        );
        assert!(matches!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Locked)
        ));
        // SAFETY: write-locked, and (for the test) unlinked.
        unsafe { v.mark_detached(&wait) };
        assert_eq!(refcnt(&v), 0);
        // SAFETY: as above.
        unsafe { mm_seq.write_end() };
        assert!(matches!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Detached)
        ));
    }

    #[test]
    fn readers_stop_at_the_limit_and_while_a_writer_waits() {
        let mm_seq = MmLockSeq::new();
        let wait = MmVmaLock::new();
        let v = vma(u32::MAX);
        // SAFETY: unpublished; single-threaded test.
        unsafe { v.mark_attached() };
        v.vm_refcnt.store(VMA_REF_LIMIT, Ordering::Relaxed);
        assert!(matches!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Locked)
        ));
        assert!(!v.start_read_locked());
        v.vm_refcnt.store(VMA_LOCK_OFFSET + 1, Ordering::Relaxed);
        assert!(matches!(
            v.start_read(&mm_seq, &wait),
            Err(ReadFail::Locked)
        ));
        assert!(is_vma_writer_only(VMA_LOCK_OFFSET + 1));
        assert!(is_vma_writer_only(VMA_LOCK_OFFSET));
        assert!(!is_vma_writer_only(VMA_LOCK_OFFSET + 2));
        assert!(!is_vma_writer_only(1));
    }

    /// A count reader biases an idle VMA; the next readers lock it in
    /// their own slots and leave `vm_refcnt` alone, until their slots run
    /// out and they take the count again.
    #[cfg(feature = "std")]
    #[test]
    fn biased_readers_write_only_their_slots_until_the_slots_run_out() {
        let mm_seq = MmLockSeq::new();
        let wait = MmVmaLock::new();
        let v = vma(u32::MAX);
        // SAFETY: unpublished; single-threaded test.
        unsafe { v.mark_attached() };
        let first = v.start_read(&mm_seq, &wait).expect("unlocked");
        assert!(!first.is_slot());
        assert_eq!(refcnt(&v), 2 | VMA_READ_BIAS, "the count reader biased it");
        assert!(read_bias::has_table());
        let slots: alloc::vec::Vec<ReadHold> = (0..read_bias::SLOTS)
            .map(|_| v.start_read(&mm_seq, &wait).expect("biased"))
            .collect();
        assert!(slots.iter().all(ReadHold::is_slot));
        assert_eq!(
            refcnt(&v),
            2 | VMA_READ_BIAS,
            "slot readers left the count alone"
        );
        let over = v.start_read(&mm_seq, &wait).expect("biased");
        assert!(!over.is_slot(), "no slot left: the count");
        assert_eq!(refcnt(&v), 3 | VMA_READ_BIAS);
        for hold in slots.into_iter().chain([over, first]) {
            // SAFETY: locks this test took above, on this thread.
            unsafe { v.end_read(hold, &wait) };
        }
        assert_eq!(refcnt(&v), 1 | VMA_READ_BIAS);
        // The slots came free.
        let again = v.start_read(&mm_seq, &wait).expect("biased");
        assert!(again.is_slot());
        // SAFETY: as above.
        unsafe { v.end_read(again, &wait) };
    }

    /// Plays a writer on another thread that write-locks `v` in a new
    /// cycle, while this thread holds `hold`: once `arrived(vm_refcnt)`
    /// says the writer is in, and long enough for it to give up spinning
    /// and sleep, checks that it still waits, then drops `hold` and checks
    /// that the writer was woken and got the lock.
    #[cfg(feature = "std")]
    fn writer_waits_for(
        v: &RawVmaLock,
        mm_seq: &MmLockSeq,
        wait: &MmVmaLock,
        hold: ReadHold,
        arrived: impl Fn(u32) -> bool,
    ) {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let locked = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: this thread plays the mmap_lock writer.
                unsafe { mm_seq.write_begin() };
                let cycle = mm_seq.read_relaxed();
                // SAFETY: as above.
                unsafe { v.start_write(cycle, wait) };
                locked.store(true, SeqCst);
                // SAFETY: as above.
                unsafe { mm_seq.write_end() };
            });
            while !arrived(refcnt(v)) {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                !locked.load(SeqCst),
                "the writer did not wait for our read lock"
            );
            // SAFETY: a lock the caller took on this thread and hands over.
            unsafe { v.end_read(hold, wait) };
        });
        assert!(locked.load(SeqCst), "the writer was not woken");
    }

    /// `vma_start_write` on a biased VMA clears the bias, waits (and
    /// sleeps) until the slot reader leaves, is woken by it, and keeps
    /// readers on the count while the revocation's inhibition lasts.
    #[cfg(feature = "std")]
    #[test]
    fn start_write_revokes_the_bias_and_waits_for_slot_readers() {
        let mm_seq = MmLockSeq::new();
        let wait = MmVmaLock::new();
        let v = vma(u32::MAX);
        // SAFETY: unpublished; the test plays the writer.
        unsafe { v.mark_attached() };
        let count = v.start_read(&mm_seq, &wait).expect("unlocked");
        // SAFETY: taken above, on this thread.
        unsafe { v.end_read(count, &wait) };
        let slot = v.start_read(&mm_seq, &wait).expect("biased");
        assert!(slot.is_slot());
        writer_waits_for(&v, &mm_seq, &wait, slot, |c| c & VMA_READ_BIAS == 0);
        assert_eq!(refcnt(&v), 1, "the bias stays revoked after the cycle");
        let until = wait.bias_inhibit_until.load(Ordering::Relaxed);
        assert!(until > 0, "the revocation set an inhibition window");
        let count = v.start_read(&mm_seq, &wait).expect("the cycle ended");
        assert!(!count.is_slot());
        if read_bias::now_ns() < until {
            assert_eq!(refcnt(&v), 2, "re-biased inside the inhibition window");
        }
        // SAFETY: taken above, on this thread.
        unsafe { v.end_read(count, &wait) };
    }

    /// `vma_start_write` waits for the readers inside, and the last one
    /// to leave wakes it.
    #[cfg(feature = "std")]
    #[test]
    fn start_write_waits_for_readers_and_is_woken() {
        let mm_seq = MmLockSeq::new();
        let wait = MmVmaLock::new();
        let v = vma(u32::MAX);
        // SAFETY: unpublished; the test plays the writer.
        unsafe { v.mark_attached() };
        let hold = v.start_read(&mm_seq, &wait).expect("unlocked");
        assert!(!hold.is_slot());
        writer_waits_for(&v, &mm_seq, &wait, hold, |c| c & VMA_LOCK_OFFSET != 0);
        assert_eq!(refcnt(&v), 1);
    }
}
