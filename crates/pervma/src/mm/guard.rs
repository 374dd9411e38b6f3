//! The guards: what a thread holds, as types.
//!
//! | guard              | holds                      | gives                                |
//! |--------------------|----------------------------|--------------------------------------|
//! | [`MmapReadGuard`]  | `mmap_lock` for read       | lookups; `vma_start_read_locked`     |
//! | [`MmapWriteGuard`] | `mmap_lock` for write      | lookups; the operations that change  |
//! | [`VmaReadGuard`]   | one VMA's read lock        | `&Vma<T>` (derefs to it)             |
//!
//! All three are `#[must_use]` and neither `Send` nor `Sync`: a lock is
//! released on the thread that took it, where the debug lock tracker
//! recorded it. A `VmaReadGuard` taken under an `MmapReadGuard` borrows
//! the `Mm`, not the `MmapReadGuard`, so it may outlive it.

use super::{Mm, VmaPtr};
use crate::sync::lockdep::Held;
use crate::sync::rcu::rcu_read_lock;
use crate::sync::vma_lock::ReadHold;
use crate::vma::Vma;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

/// `mmap_lock` held in some mode: the lookups both guards offer.
///
/// Reached through [`MmapReadGuard`] and [`MmapWriteGuard`], which deref
/// to it. While it lives no VMA can be added, removed or changed, so the
/// references it returns stay valid for as long as the guard is borrowed.
pub struct MmapLocked<'mm, T> {
    mm: &'mm Mm<T>,
    _not_send: PhantomData<*const ()>,
}

impl<'mm, T> MmapLocked<'mm, T> {
    /// The address space.
    pub fn mm(&self) -> &'mm Mm<T> {
        self.mm
    }

    /// `vma_lookup`: the VMA that covers `addr`.
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma<T>> {
        let rcu = rcu_read_lock();
        let (_, _, vma) = self.mm.mm_mt.walk(addr, &rcu)?;
        // SAFETY: the tree cannot change while `mmap_lock` is held (module
        // invariant of `mm`), so the VMA stays alive while `self` is borrowed.
        Some(unsafe { vma.as_ref() })
    }

    /// `find_vma`: the first VMA that ends above `addr` (the one covering
    /// it, or the next one).
    pub fn find_vma(&self, addr: u64) -> Option<&Vma<T>> {
        let rcu = rcu_read_lock();
        let (_, _, vma) = self.mm.mm_mt.find(addr, &rcu)?;
        // SAFETY: as in `vma_lookup`.
        Some(unsafe { vma.as_ref() })
    }

    /// `find_vma_prev`: the last VMA that ends at or below `addr`.
    pub fn find_vma_prev(&self, addr: u64) -> Option<&Vma<T>> {
        let rcu = rcu_read_lock();
        let (_, _, vma) = self.mm.mm_mt.prev(addr, &rcu)?;
        // SAFETY: as in `vma_lookup`.
        Some(unsafe { vma.as_ref() })
    }

    /// `find_vma_intersection`: the first VMA that overlaps `[start, end)`.
    pub fn find_vma_intersection(&self, start: u64, end: u64) -> Option<&Vma<T>> {
        self.find_vma(start).filter(|vma| vma.start() < end)
    }

    /// Every VMA, lowest first (`for_each_vma`).
    pub fn vmas(&self) -> Vmas<'_, 'mm, T> {
        self.vmas_from(0)
    }

    /// The VMAs that end above `addr`, lowest first.
    pub fn vmas_from(&self, addr: u64) -> Vmas<'_, 'mm, T> {
        Vmas {
            locked: self,
            next: Some(addr),
        }
    }

    /// The number of VMAs (`mm->map_count`).
    pub fn map_count(&self) -> usize {
        self.mm.map_count()
    }
}

/// An iterator over the VMAs of a locked `Mm`; see [`MmapLocked::vmas`].
pub struct Vmas<'g, 'mm, T> {
    locked: &'g MmapLocked<'mm, T>,
    next: Option<u64>,
}

impl<'g, T> Iterator for Vmas<'g, '_, T> {
    type Item = &'g Vma<T>;

    fn next(&mut self) -> Option<&'g Vma<T>> {
        let vma = self.locked.find_vma(self.next?)?;
        self.next = (vma.end() != 0).then(|| vma.end());
        Some(vma)
    }
}

/// `mmap_lock` held for read.
#[must_use = "dropping the guard releases mmap_lock at once"]
pub struct MmapReadGuard<'mm, T> {
    locked: MmapLocked<'mm, T>,
}

impl<'mm, T> MmapReadGuard<'mm, T> {
    /// Wraps a read hold of `mmap_lock` that the caller just took.
    pub(super) fn new(mm: &'mm Mm<T>) -> Self {
        mm.lockdep_acquire(Held::MmapRead);
        MmapReadGuard {
            locked: MmapLocked {
                mm,
                _not_send: PhantomData,
            },
        }
    }

    /// `vma_start_read_locked`: read-locks `vma` under `mmap_lock`, which
    /// excludes its writers, so it cannot fail for contention. The guard
    /// may outlive this `MmapReadGuard`.
    ///
    /// Returns `None` if `vma` is not a VMA of this `Mm`, or in the
    /// theoretical case of `VMA_REF_LIMIT` (2^30 - 1) readers.
    pub fn vma_start_read_locked(&self, vma: &Vma<T>) -> Option<VmaReadGuard<'mm, T>> {
        let mm = self.locked.mm;
        let rcu = rcu_read_lock();
        let (_, _, ours) = mm.mm_mt.walk(vma.start(), &rcu)?;
        if !core::ptr::eq(ours.as_ptr().cast_const(), vma) {
            return None;
        }
        drop(rcu);
        // SAFETY: `ours` is in the tree and `mmap_lock` is held.
        let vma = unsafe { ours.as_ref() };
        if !vma.lock().start_read_locked() {
            return None;
        }
        // SAFETY: we just took a count reference on `ours`.
        Some(unsafe { VmaReadGuard::new(mm, ours, ReadHold::COUNT) })
    }
}

impl<'mm, T> Deref for MmapReadGuard<'mm, T> {
    type Target = MmapLocked<'mm, T>;
    fn deref(&self) -> &MmapLocked<'mm, T> {
        &self.locked
    }
}

impl<T> Drop for MmapReadGuard<'_, T> {
    fn drop(&mut self) {
        let mm = self.locked.mm;
        mm.lockdep_release(Held::MmapRead);
        // SAFETY: this guard is the read hold.
        unsafe { mm.mmap_read_unlock() };
    }
}

/// `mmap_lock` held for write: a write cycle is running.
///
/// Every VMA the cycle write-locks (every VMA an operation changes) stays
/// write-locked until the guard is dropped or downgraded, when they are
/// all released at once (`vma_end_write_all`).
#[must_use = "dropping the guard releases mmap_lock at once"]
pub struct MmapWriteGuard<'mm, T> {
    locked: MmapLocked<'mm, T>,
}

impl<'mm, T> MmapWriteGuard<'mm, T> {
    /// Wraps a write hold of `mmap_lock` whose cycle the caller started.
    pub(super) fn new(mm: &'mm Mm<T>) -> Self {
        mm.lockdep_acquire(Held::MmapWrite);
        MmapWriteGuard {
            locked: MmapLocked {
                mm,
                _not_send: PhantomData,
            },
        }
    }

    /// The current (odd) `mm_lock_seq` of this write cycle.
    pub(crate) fn seq(&self) -> u32 {
        self.locked.mm.mm_lock_seq.read_relaxed()
    }

    /// `vma_start_write` on every VMA, as `mm_take_all_locks` does: until
    /// the write cycle ends no reader holds or takes any VMA lock, so no
    /// operation of this `Mm` is in flight.
    pub(crate) fn vma_start_write_all(&mut self) {
        let (mm, seq) = (self.locked.mm, self.seq());
        for vma in self.vmas_from(0) {
            // SAFETY: this guard holds `mmap_lock` for write, `seq` is its
            // cycle, and the wait word is this `Mm`'s.
            unsafe { vma.lock().start_write(seq, mm.vma_locks()) };
        }
    }

    /// `mmap_write_downgrade`: ends the write cycle (releasing the VMA
    /// write locks) and keeps `mmap_lock` for read, with no writer able to
    /// get in between.
    pub fn downgrade(self) -> MmapReadGuard<'mm, T> {
        let mm = self.locked.mm;
        core::mem::forget(self);
        mm.lockdep_release(Held::MmapWrite);
        // SAFETY: the forgotten guard was the write hold.
        unsafe { mm.mmap_write_downgrade() };
        MmapReadGuard::new(mm)
    }
}

impl<'mm, T> Deref for MmapWriteGuard<'mm, T> {
    type Target = MmapLocked<'mm, T>;
    fn deref(&self) -> &MmapLocked<'mm, T> {
        &self.locked
    }
}

impl<T> Drop for MmapWriteGuard<'_, T> {
    fn drop(&mut self) {
        let mm = self.locked.mm;
        mm.lockdep_release(Held::MmapWrite);
        // SAFETY: this guard is the write hold.
        unsafe { mm.mmap_write_unlock() };
    }
}

/// A read lock on one VMA (`vma_start_read` .. `vma_end_read`).
///
/// Derefs to the [`Vma`]. While it lives the VMA cannot be changed,
/// split, merged or unmapped: writers wait in `vma_start_write`. It does
/// not hold `mmap_lock`, so other VMAs of the same `Mm` can change freely.
///
/// # Invariants
///
/// The guard owns one read lock on its VMA (a count reference or a slot
/// of this thread's, a `ReadHold` taken by `start_read` or
/// `start_read_locked` of its `RawVmaLock`), which keeps the VMA attached
/// and alive; `Drop` gives it back. The hold rides in the low bits of the
/// VMA pointer (`Vma` is aligned to 64 bytes), which keeps the guard two
/// words, returned in registers: a third word cost every lookup about 19
/// instructions of moves (callgrind). It is `!Send`: a slot belongs to
/// the thread that filled it.
#[must_use = "dropping the guard releases the VMA read lock at once"]
pub struct VmaReadGuard<'mm, T> {
    mm: &'mm Mm<T>,
    /// The VMA's address, or'ed with `ReadHold::to_bits`.
    vma_and_hold: NonNull<Vma<T>>,
    _not_send: PhantomData<*const ()>,
}

const HOLD_MASK: usize = (1 << ReadHold::BITS) - 1;
const _: () = assert!(core::mem::align_of::<Vma<()>>() > HOLD_MASK);

impl<'mm, T> VmaReadGuard<'mm, T> {
    /// # Safety
    ///
    /// The caller holds `hold`, a read lock on `vma` (a VMA of `mm`) taken
    /// on this thread, which this guard takes over.
    #[inline]
    pub(super) unsafe fn new(mm: &'mm Mm<T>, vma: VmaPtr<T>, hold: ReadHold) -> Self {
        mm.lockdep_acquire(Held::VmaRead);
        let bits = hold.to_bits();
        // The low bits of a `Vma`'s address are zero (alignment, checked
        // above), and a non-null address or'ed with anything stays
        // non-null.
        let vma_and_hold = vma.non_null().map_addr(|a| a | bits);
        VmaReadGuard {
            mm,
            vma_and_hold,
            _not_send: PhantomData,
        }
    }

    #[inline(always)]
    fn vma_ptr(&self) -> NonNull<Vma<T>> {
        let addr = self.vma_and_hold.addr().get() & !HOLD_MASK;
        // SAFETY: clearing the hold's bits gives back the VMA's address,
        // which is not null.
        let addr = unsafe { core::num::NonZeroUsize::new_unchecked(addr) };
        self.vma_and_hold.with_addr(addr)
    }

    /// The address space the VMA belongs to.
    pub fn mm(&self) -> &'mm Mm<T> {
        self.mm
    }
}

impl<T> Deref for VmaReadGuard<'_, T> {
    type Target = Vma<T>;
    #[inline]
    fn deref(&self) -> &Vma<T> {
        // SAFETY: our read lock keeps the VMA attached and alive
        // (detaching waits for it) and excludes its writers.
        unsafe { self.vma_ptr().as_ref() }
    }
}

impl<T> Drop for VmaReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mm.lockdep_release(Held::VmaRead);
        // SAFETY: the VMA is alive until our lock is dropped, which
        // `end_read` does last.
        let vma = unsafe { self.vma_ptr().as_ref() };
        // SAFETY: the bits are the guard's hold (type invariant), which
        // `drop`, running once, takes over.
        let hold = unsafe { ReadHold::from_bits(self.vma_and_hold.addr().get() & HOLD_MASK) };
        // SAFETY: a guard holds one read lock, taken on this thread (type
        // invariant; the guard is `!Send`), given up here, once.
        unsafe { vma.lock().end_read(hold, self.mm.vma_locks()) };
    }
}

impl<T: fmt::Debug> fmt::Debug for VmaReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
