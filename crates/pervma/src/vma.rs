//! VMAs and the per-VMA lock.
//!
//! Linux: include/linux/mm_types.h (`struct vm_area_struct`),
//! include/linux/mmap_lock.h and mm/mmap_lock.c (the VMA lock, 6.15+).
//!
//! # The per-VMA lock
//!
//! Each VMA has two lock words:
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
//! ([`Vma::start_write`]) but all released at once, when `mmap_write_unlock`
//! makes `mm_lock_seq` even.
//!
//! A reader ([`Vma::start_read`]) increments `vm_refcnt` only if it is
//! non-zero and below `VMA_REF_LIMIT` (so never while `VMA_LOCK_OFFSET` is
//! added), and then checks `vm_lock_seq` again: a writer may have locked
//! the VMA between the first check and the increment, in which case the
//! reader backs out. A writer adds `VMA_LOCK_OFFSET`, waits until only its
//! own contribution is left, stores `vm_lock_seq`, and subtracts the
//! offset; from then until the end of the write cycle readers fail.
//!
//! # Invariants
//!
//! - The fields other than the two lock words (range, flags, pgoff, file,
//!   anon_vma, payload) are written only by a thread that holds the `Mm`'s
//!   `mmap_lock` for write *and* has write-locked this VMA (or by the thread
//!   creating it, before it is published). The one exception is the
//!   `anon_vma` that a fault prepares (`__anon_vma_prepare`), which Linux
//!   sets under `mmap_lock` for *read* and `page_table_lock`: pervma keeps
//!   it in a separate atomic slot, set once by compare-and-swap while the
//!   VMA is read-locked or `mmap_lock` is held, and folded into the fields
//!   by the next writer. Readers read them only while
//!   holding a VMA read lock or `mmap_lock`, both of which exclude such a
//!   writer. Lock-free (RCU) readers touch only the two lock words until
//!   their read lock is confirmed.
//! - A VMA with `vm_refcnt == 0` is never read-locked again; it is freed
//!   after an RCU grace period, so RCU readers that still see it in an old
//!   tree snapshot find memory that is valid and a refcount that refuses.
//! - A VMA is owned by one `Mm` for its whole life and its memory is never
//!   reused while a reader could see it (deferred freeing, not
//!   `SLAB_TYPESAFE_BY_RCU`), so Linux's `vma->vm_mm != mm` re-check after
//!   taking the reference is not needed here.

use crate::anon_vma::AnonVma;
use crate::file::File;
use crate::flags::{VmFlags, PAGE_SHIFT};
use crate::sync::prim::{AtomicPtr, AtomicU32, Ordering, UnsafeCell};
use crate::sync::seq::MmLockSeq;
use crate::sync::wait::{wait_until, wake_all};
use alloc::sync::Arc;
use core::fmt;

/// Added to `vm_refcnt` while a writer excludes readers.
pub(crate) const VMA_LOCK_OFFSET: u32 = 0x4000_0000;
/// The most `vm_refcnt` may reach through readers.
pub(crate) const VMA_REF_LIMIT: u32 = VMA_LOCK_OFFSET - 1;

/// The part of a VMA that the lock protects.
#[derive(Clone)]
pub(crate) struct VmaFields {
    pub(crate) vm_start: u64,
    pub(crate) vm_end: u64,
    pub(crate) vm_pgoff: u64,
    pub(crate) vm_flags: VmFlags,
    pub(crate) vm_file: Option<Arc<File>>,
    pub(crate) anon_vma: Option<Arc<AnonVma>>,
}

/// A virtual memory area: one mapping `[start, end)` of an address space
/// (`struct vm_area_struct`), with the user's payload `T`.
///
/// A `&Vma` is only ever handed out under a lock that keeps it stable: a
/// [`VmaReadGuard`](crate::VmaReadGuard), or `mmap_lock` through an
/// [`MmapReadGuard`](crate::MmapReadGuard) or
/// [`MmapWriteGuard`](crate::MmapWriteGuard).
#[doc(alias = "vm_area_struct")]
pub struct Vma<T> {
    vm_refcnt: AtomicU32,
    vm_lock_seq: AtomicU32,
    fields: UnsafeCell<VmaFields>,
    /// The `anon_vma` a fault set under read locks: null, or
    /// `Box::<Arc<AnonVma>>::into_raw`. Set at most once between two
    /// writers; the next writer moves it into the fields (`fields_mut`).
    /// Only meaningful while `fields.anon_vma` is `None`.
    prepared_anon_vma: AtomicPtr<Arc<AnonVma>>,
    payload: UnsafeCell<T>,
}

// SAFETY: a `Vma` moves between threads only as part of its `Mm`; its
// fields are `Send` when `T` is.
unsafe impl<T: Send> Send for Vma<T> {}
// SAFETY: shared access to the fields is synchronised by the VMA lock
// protocol (type invariants above): writers mutate only while no reader can
// read. Readers on several threads may hold `&T` at once, hence `T: Sync`.
unsafe impl<T: Send + Sync> Sync for Vma<T> {}

/// Why [`Vma::start_read`] failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReadFail {
    /// Write-locked, or too many readers: fall back to `mmap_lock`.
    Locked,
    /// Detached: it was removed from the tree; look again.
    Detached,
}

impl<T> Vma<T> {
    /// A new, detached VMA, write-locked in the current write cycle
    /// (`seq` is the odd `mm_lock_seq` of the caller's cycle).
    pub(crate) fn new(fields: VmaFields, payload: T, seq: u32) -> Self {
        Vma {
            vm_refcnt: AtomicU32::new(0),
            vm_lock_seq: AtomicU32::new(seq),
            fields: UnsafeCell::new(fields),
            prepared_anon_vma: AtomicPtr::new(core::ptr::null_mut()),
            payload: UnsafeCell::new(payload),
        }
    }

    #[inline]
    fn fields(&self) -> &VmaFields {
        // SAFETY: whoever holds `&self` outside this module holds a lock
        // that excludes writers to the fields (type invariant); inside the
        // crate, lock-free readers call this only after their read lock is
        // confirmed. (Under loom the access is checked at this point.)
        self.fields.with(|p| unsafe { &*p })
    }

    /// Mutable access to the locked fields.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write and this VMA is write-locked
    /// (or not yet published), and no other reference to the fields, the
    /// `anon_vma` or the payload is live.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn fields_mut(&self) -> &mut VmaFields {
        // SAFETY: by the caller's contract nobody else reads or writes the
        // fields while this reference lives.
        let fields = self.fields.with_mut(|p| unsafe { &mut *p });
        // Fold the anon_vma a fault prepared into the fields, emptying the
        // slot, so that the writer may also clear it (a whole-VMA
        // `MREMAP_DONTUNMAP` does).
        let prepared = self
            .prepared_anon_vma
            .swap(core::ptr::null_mut(), Ordering::Acquire);
        if !prepared.is_null() {
            // SAFETY: the slot held a box from `prepare_anon_vma`; the
            // caller's exclusive access means no `&Arc` borrowed from it is
            // live (the contract covers every reference into the VMA).
            let anon = *unsafe { alloc::boxed::Box::from_raw(prepared) };
            fields.anon_vma.get_or_insert(anon);
        }
        fields
    }

    /// The `anon_vma` a fault prepared, if any.
    fn prepared(&self) -> Option<&Arc<AnonVma>> {
        // Acquire: pairs with the Release in `prepare_anon_vma`.
        let p = self.prepared_anon_vma.load(Ordering::Acquire);
        // SAFETY: a non-null slot is a live box, freed only by a writer with
        // exclusive access (`fields_mut`, which no `&` borrow outlives by
        // its contract) or when the VMA is dropped.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// `__anon_vma_prepare`'s store: gives the VMA `anon` unless it has an
    /// `anon_vma` already (a racing fault's, which wins, as the one that
    /// took `page_table_lock` first wins in Linux). Returns the VMA's.
    ///
    /// The caller holds a VMA read lock or `mmap_lock`, which keeps writers
    /// of the fields away; concurrent faults on the VMA are fine.
    pub(crate) fn prepare_anon_vma(&self, anon: Arc<AnonVma>) -> &Arc<AnonVma> {
        if let Some(current) = self.anon_vma() {
            return current;
        }
        let new = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(anon));
        // Release publishes the box's contents; Acquire on failure reads
        // the winner's.
        match self.prepared_anon_vma.compare_exchange(
            core::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: published above; freed only by an exclusive writer,
            // which our read lock excludes, or with the VMA.
            Ok(_) => unsafe { &*new },
            Err(winner) => {
                // SAFETY: `new` was never published; `winner` is a live box,
                // freed as above.
                unsafe {
                    drop(alloc::boxed::Box::from_raw(new));
                    &*winner
                }
            }
        }
    }

    /// Mutable access to the payload; same contract as [`Vma::fields_mut`].
    ///
    /// # Safety
    ///
    /// As for [`Vma::fields_mut`].
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn payload_mut(&self) -> &mut T {
        // SAFETY: by the caller's contract nobody else reads or writes the
        // payload while this reference lives.
        self.payload.with_mut(|p| unsafe { &mut *p })
    }

    pub(crate) fn clone_fields(&self) -> VmaFields {
        let mut fields = self.fields().clone();
        if fields.anon_vma.is_none() {
            fields.anon_vma = self.prepared().cloned();
        }
        fields
    }

    /// The first address (`vm_start`).
    #[inline]
    pub fn start(&self) -> u64 {
        self.fields().vm_start
    }

    /// One past the last address (`vm_end`).
    #[inline]
    pub fn end(&self) -> u64 {
        self.fields().vm_end
    }

    /// The length in bytes (never zero: a VMA is never empty).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.end() - self.start()
    }

    /// Whether `addr` is inside `[start, end)`.
    #[inline]
    pub fn contains(&self, addr: u64) -> bool {
        let f = self.fields();
        f.vm_start <= addr && addr < f.vm_end
    }

    /// The offset of `start` in pages (`vm_pgoff`): in the file for file
    /// mappings, in the shmem object for shared anonymous ones, and
    /// `start >> PAGE_SHIFT` at creation for private anonymous ones.
    #[inline]
    pub fn pgoff(&self) -> u64 {
        self.fields().vm_pgoff
    }

    /// The page offset that `addr` (inside the VMA) has in the backing
    /// object (`linear_page_index`).
    #[inline]
    pub fn linear_page_index(&self, addr: u64) -> u64 {
        let f = self.fields();
        ((addr - f.vm_start) >> PAGE_SHIFT) + f.vm_pgoff
    }

    /// The flags (`vm_flags`).
    #[inline]
    pub fn flags(&self) -> VmFlags {
        self.fields().vm_flags
    }

    /// The mapped file (`vm_file`); `None` for private anonymous memory.
    #[inline]
    pub fn file(&self) -> Option<&Arc<File>> {
        self.fields().vm_file.as_ref()
    }

    /// Whether this is private anonymous memory (`vma_is_anonymous`).
    #[inline]
    pub fn is_anonymous(&self) -> bool {
        self.fields().vm_file.is_none()
    }

    /// The `anon_vma`, once anonymous pages have been needed.
    #[inline]
    pub fn anon_vma(&self) -> Option<&Arc<AnonVma>> {
        self.fields().anon_vma.as_ref().or_else(|| self.prepared())
    }

    /// The user's payload.
    #[inline]
    #[doc(alias = "vm_private_data")]
    pub fn payload(&self) -> &T {
        // SAFETY: as for `fields`: the holder of `&self` excludes writers.
        self.payload.with(|p| unsafe { &*p })
    }

    // ---- the lock protocol -------------------------------------------

    /// `vma_start_read`: takes a read reference without `mmap_lock`.
    ///
    /// On success the caller must later call [`Vma::end_read`]. The caller
    /// must be inside an RCU read section (or otherwise know the memory is
    /// valid) and must re-check that the VMA covers the address it wanted.
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
    /// time, so only the reader limit can make it fail.
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
    #[inline]
    pub(crate) fn end_read(&self, writer_wait: &AtomicU32) {
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

    /// `vma_mark_attached`: publishes a new VMA's refcount.
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

impl<T> Drop for Vma<T> {
    fn drop(&mut self) {
        let p = self.prepared_anon_vma.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: `&mut self`: nobody borrows the slot; it came from
            // `Box::into_raw` in `prepare_anon_vma`.
            drop(unsafe { alloc::boxed::Box::from_raw(p) });
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Vma<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.fields();
        f.debug_struct("Vma")
            .field("start", &format_args!("{:#x}", v.vm_start))
            .field("end", &format_args!("{:#x}", v.vm_end))
            .field("pgoff", &format_args!("{:#x}", v.vm_pgoff))
            .field("flags", &v.vm_flags)
            .field("file", &v.vm_file.as_ref().map(|f| f.name()))
            .field("anon_vma", &self.anon_vma().map(|a| a.id()))
            .field("payload", self.payload())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::flags::VmFlags;

    fn vma(seq: u32) -> Vma<()> {
        let fields = VmaFields {
            vm_start: 0x1000,
            vm_end: 0x3000,
            vm_pgoff: 1,
            vm_flags: VmFlags::READ,
            vm_file: None,
            anon_vma: None,
        };
        Vma::new(fields, (), seq)
    }

    fn refcnt(v: &Vma<()>) -> u32 {
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
        v.end_read(&wait);
        v.end_read(&wait);
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
            v.end_read(&wait);
        });
        assert!(locked.load(SeqCst));
        assert_eq!(refcnt(&v), 1);
    }
}
