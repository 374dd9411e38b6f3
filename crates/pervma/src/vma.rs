//! VMAs and the per-VMA lock.
//!
//! Linux: include/linux/mm_types.h (`struct vm_area_struct`),
//! include/linux/mmap_lock.h and mm/mmap_lock.c (the VMA lock, 6.15+).
//!
//! # The per-VMA lock
//!
//! Each VMA carries a [`RawVmaLock`] (`vm_refcnt`, `vm_lock_seq`), whose
//! words and protocol are laid out in `sync/vma_lock.rs`. Read locks are taken
//! without `mmap_lock`, through the count or, on a biased VMA, through a
//! slot of the reading thread's (`sync/read_bias.rs`); write locks only
//! under `mmap_lock` for write, and all of one write cycle's are released
//! at once when it ends.
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

//!
//! # Layout: why `vm_refcnt` does not get a cache line of its own
//!
//! Linux 6.15+ puts `vm_refcnt` on its own line (`____cacheline_aligned_in_smp`)
//! so that readers' increments do not invalidate the fields other readers
//! read. Tried here (`#[repr(C, align(64))]` lock words, then the fields):
//! `Vma<()>` grows from 64 to 128 bytes (the `tests/sizes.rs` budget, so it
//! would have fitted), and it measured worse. `pervma bench --workload
//! lookup --vmas 1000`, the two builds interleaved, two runs each, quiet
//! (cpu% 95-100 at 2 threads; AMD EPYC, 2 vCPUs), per-thread cost at 2
//! threads over 1 thread:
//!
//! | pattern | today | own line | `btreemap-unlocked` |
//! |---|---|---|---|
//! | random | 1.08, 1.17 | 1.86, 1.25 | 0.87-1.03 |
//! | neighbours | 1.56, 1.50 | 1.78, 1.57 | 0.95-1.14 |
//! | same VMA | 1.24, 1.12 | 1.74, 1.64 | 1.02-1.50 |
//! | apart | 0.83, 0.87 | 1.04, 1.21 | |
//!
//! (pervma over `btreemap-unlocked` at 2 threads, random: 1.35, 1.42
//! today against 1.58, 1.67.) Why it cannot help much: the VMAs of one
//! `Mm` are not neighbours in memory (1,000 VMAs mapped one after another
//! sit 18-19 KB apart, tree nodes and pages allocated between them), so
//! "neighbouring" VMAs share no line to begin with; the doubled footprint
//! costs more cache than the padding saves. What the readers' refcount
//! costs: with its two atomic read-modify-writes removed altogether (an
//! unsound measuring build, loaded host), a 1-thread lookup went from
//! 41.6-49.7 ns to 35.9-37.3 ns. On a quiet host two threads bouncing one
//! word pay 21-26 ns per increment+decrement pair against 4.4-5 ns alone
//! (`cargo run --release -p pervma --example sharing_probe`).

use crate::anon_vma::AnonVma;
use crate::file::File;
use crate::flags::{VmFlags, PAGE_SHIFT};
use crate::sync::prim::{AtomicPtr, Ordering, UnsafeCell};
use crate::sync::vma_lock::RawVmaLock;
use alloc::sync::Arc;
use core::fmt;

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
///
/// Aligned to a cache line, as Linux's `vm_area_struct` slab is
/// (`SLAB_HWCACHE_ALIGN`), so that no two VMAs share one: a reader's
/// increment of `vm_refcnt` then never takes the line of a VMA another
/// CPU reads. Unaligned, two threads locking disjoint, neighbouring VMAs
/// (allocated one after the other, 72-byte `Vma<u64>`s sharing lines) cost
/// 1.4-1.9x per lookup of one thread alone; aligned, 1.06-1.15x in four
/// runs of five (1.76x in one)
/// (`lookup-sharing` and `examples/sharing_probe.rs`, AMD EPYC 2 vCPUs).
/// The price is the rounding: `Vma<()>` stays 64 bytes, a `Vma<u64>` is
/// 128 instead of 72.
#[doc(alias = "vm_area_struct")]
#[repr(align(64))]
pub struct Vma<T> {
    /// The per-VMA lock (`vm_refcnt`, `vm_lock_seq`).
    lock: RawVmaLock,
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

impl<T> Vma<T> {
    /// A new, detached VMA, write-locked in the current write cycle
    /// (`seq` is the odd `mm_lock_seq` of the caller's cycle).
    pub(crate) fn new(fields: VmaFields, payload: T, seq: u32) -> Self {
        Vma {
            lock: RawVmaLock::new(seq),
            fields: UnsafeCell::new(fields),
            prepared_anon_vma: AtomicPtr::new(core::ptr::null_mut()),
            payload: UnsafeCell::new(payload),
        }
    }

    /// The VMA's lock words.
    #[inline]
    pub(crate) fn lock(&self) -> &RawVmaLock {
        &self.lock
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

    #[inline]
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
