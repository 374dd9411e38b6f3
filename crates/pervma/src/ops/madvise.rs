//! `madvise`: advice about a range, some of which is kept in VMA flags.
//!
//! Linux: mm/madvise.c (`madvise_behavior_valid`, `check_input_range`,
//! `madvise_walk_vmas`, `madvise_vma_behavior`, `madvise_update_vma`,
//! `can_madvise_modify`, `madvise_dontneed_free_valid_vma`,
//! `madvise_free_single_vma`, `madvise_cold`, `madvise_pageout`,
//! `madvise_populate`, `madvise_remove`, `madvise_guard_install`,
//! `madvise_guard_remove`, `madvise_collapse`), mm/khugepaged.c
//! (`hugepage_madvise`), mm/ksm.c (`ksm_madvise`).
//!
//! The advice falls in four groups, as in Linux:
//!
//! | group | advice | lock | what changes |
//! |---|---|---|---|
//! | flags | `NORMAL RANDOM SEQUENTIAL DONTFORK DOFORK WIPEONFORK KEEPONFORK HUGEPAGE NOHUGEPAGE DONTDUMP DODUMP MERGEABLE UNMERGEABLE` | `mmap_lock` for write | `vm_flags`, splitting and merging through `change_range_flags` |
//! | pages, one VMA | `DONTNEED DONTNEED_LOCKED FREE` | the VMA lock, else `mmap_lock` for read | the page table |
//! | pages, walked | `WILLNEED COLD PAGEOUT REMOVE GUARD_INSTALL GUARD_REMOVE COLLAPSE` | `mmap_lock` for read (pervma's own choice for the guards) | the page table, the page cache |
//! | populate | `POPULATE_READ POPULATE_WRITE` | `mmap_lock` (pervma: for write, to give VMAs an `anon_vma`) | pages faulted in |
//!
//! Every walked advice goes VMA by VMA over the range (holes are skipped
//! and reported as `ENOMEM` at the end; a VMA that refuses stops the
//! walk, keeping what was done before it). Sealed VMAs refuse the advice
//! that discards data (`can_madvise_modify`: `DONTNEED`, `DONTNEED_LOCKED`,
//! `FREE`, `REMOVE`, `DONTFORK`, `WIPEONFORK`, `GUARD_INSTALL`) on
//! anonymous memory that is not writable, with `EPERM`. `POPULATE_*`
//! does not walk: it stops at the first hole (`ENOMEM`) or page it cannot
//! fault in.
//!
//! Guard regions (`GUARD_INSTALL`) are entries of the page table, not VMA
//! flags: no split, no merge. An access there is `SIGSEGV`; they survive
//! `DONTNEED`, `FREE` and `REMOVE`, move with `mremap`, and go with
//! `munmap`.
//!
//! This machine-independent model assumes what the live kernel the
//! corpus was recorded on has: KSM built in (`MERGEABLE` sets `VM_MERGEABLE`
//! but KSM never runs, so no page changes), swap configured but empty (so
//! `PAGEOUT` keeps anonymous pages and only splits their THPs), shmem THP
//! `never`.

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use super::populate::populate_madvise;
use crate::anon_vma::anon_vma_prepare_mmap_read;
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::flags::{offset_in_page, page_align, VmFlags, PAGE_SIZE, PMD_SIZE};
use crate::mem::pte::PteKind;
use crate::mm::{MmapLocked, MmapWriteGuard, VmaChange};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::sync::rcu::{rcu_read_lock, RetireBatch};
use crate::vma::Vma;
use crate::Mm;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// The advice `madvise` takes (`MADV_*`, with Linux's values).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(i32)]
pub enum Advice {
    /// `MADV_NORMAL`: clears `VM_SEQ_READ` and `VM_RAND_READ`.
    Normal = 0,
    /// `MADV_RANDOM`: `VM_RAND_READ` (and not `VM_SEQ_READ`).
    Random = 1,
    /// `MADV_SEQUENTIAL`: `VM_SEQ_READ` (and not `VM_RAND_READ`).
    Sequential = 2,
    /// `MADV_WILLNEED`: read ahead. Nothing to read in pervma (no swap,
    /// page cache filled on fault), so it only checks the range.
    WillNeed = 3,
    /// `MADV_DONTNEED`: drop the pages (anonymous memory then reads as
    /// zeroes, file mappings read the file again); VMAs do not change,
    /// guard regions stay. Refused (`EINVAL`) on `VM_LOCKED` and
    /// `VM_PFNMAP` VMAs.
    DontNeed = 4,
    /// `MADV_FREE`: the pages may be freed lazily, when memory runs short;
    /// pervma never runs short, so they stay. VMAs do not change.
    /// Private anonymous memory only, and not `VM_LOCKED` (else `EINVAL`).
    Free = 8,
    /// `MADV_REMOVE`: punch a hole in the file behind a shared mapping
    /// (shmem): its pages leave the page cache and every mapping of them
    /// (private copies stay). `EINVAL` on `VM_LOCKED` or anonymous
    /// memory, `EACCES` unless `VM_SHARED` and `VM_MAYWRITE`.
    Remove = 9,
    /// `MADV_DONTFORK`: `VM_DONTCOPY`.
    DontFork = 10,
    /// `MADV_DOFORK`: clears `VM_DONTCOPY` (`EINVAL` on `VM_IO`).
    DoFork = 11,
    /// `MADV_MERGEABLE`: `VM_MERGEABLE`, where KSM could merge pages
    /// (ignored on shared, `VM_PFNMAP`, `VM_IO`, `VM_DONTEXPAND`,
    /// `VM_HUGETLB` and `VM_DROPPABLE` VMAs: `vma_ksm_compatible`).
    Mergeable = 12,
    /// `MADV_UNMERGEABLE`: clears `VM_MERGEABLE`.
    Unmergeable = 13,
    /// `MADV_HUGEPAGE`: `VM_HUGEPAGE` (and not `VM_NOHUGEPAGE`).
    HugePage = 14,
    /// `MADV_NOHUGEPAGE`: `VM_NOHUGEPAGE` (and not `VM_HUGEPAGE`).
    NoHugePage = 15,
    /// `MADV_DONTDUMP`: `VM_DONTDUMP`.
    DontDump = 16,
    /// `MADV_DODUMP`: clears `VM_DONTDUMP` (`EINVAL` on `VM_IO`,
    /// `VM_DONTEXPAND`, `VM_PFNMAP` and `VM_DROPPABLE` VMAs).
    DoDump = 17,
    /// `MADV_WIPEONFORK`: `VM_WIPEONFORK`; private anonymous memory only
    /// (else `EINVAL`).
    WipeOnFork = 18,
    /// `MADV_KEEPONFORK`: clears `VM_WIPEONFORK` (`EINVAL` on
    /// `VM_DROPPABLE`).
    KeepOnFork = 19,
    /// `MADV_COLD`: deactivate the pages. Anonymous THPs the range does
    /// not cover whole are split. `EINVAL` on `VM_LOCKED`/`VM_PFNMAP`.
    Cold = 20,
    /// `MADV_PAGEOUT`: reclaim the pages now. Without swap anonymous
    /// pages stay, but every anonymous THP reached is split (whole ones
    /// too, when swapping them out fails). `EINVAL` on
    /// `VM_LOCKED`/`VM_PFNMAP`. The page cache's reclaim (file pages
    /// mapped once leave the mapping) is not modelled.
    PageOut = 21,
    /// `MADV_POPULATE_READ`: read-fault every page in (`EINVAL` where a
    /// read is not allowed, `EFAULT` where it faults with a signal,
    /// `ENOMEM` at a hole).
    PopulateRead = 22,
    /// `MADV_POPULATE_WRITE`: write-fault every page in (`EINVAL` where a
    /// write is not allowed).
    PopulateWrite = 23,
    /// `MADV_DONTNEED_LOCKED`: `MADV_DONTNEED`, also on `VM_LOCKED` VMAs.
    DontNeedLocked = 24,
    /// `MADV_COLLAPSE`: make THPs of the aligned 2 MiB blocks in the range
    /// now. Private anonymous memory only in pervma (`EINVAL` elsewhere,
    /// on `VM_NOHUGEPAGE`, and for a block with no page table).
    Collapse = 25,
    /// `MADV_GUARD_INSTALL`: drop the pages and make every access fault
    /// (`SIGSEGV`). `EINVAL` on `VM_LOCKED`, `VM_IO`, `VM_PFNMAP`,
    /// `VM_DONTEXPAND` and `VM_HUGETLB` VMAs; anonymous VMAs get an
    /// `anon_vma`.
    GuardInstall = 102,
    /// `MADV_GUARD_REMOVE`: remove the guard markers (also on `VM_LOCKED`).
    GuardRemove = 103,
}

/// `VM_SPECIAL`.
const VM_SPECIAL: VmFlags = VmFlags::IO
    .union(VmFlags::DONTEXPAND)
    .union(VmFlags::PFNMAP);

impl Advice {
    /// Every advice, in the order of their values.
    pub const ALL: [Advice; 25] = [
        Advice::Normal,
        Advice::Random,
        Advice::Sequential,
        Advice::WillNeed,
        Advice::DontNeed,
        Advice::Free,
        Advice::Remove,
        Advice::DontFork,
        Advice::DoFork,
        Advice::Mergeable,
        Advice::Unmergeable,
        Advice::HugePage,
        Advice::NoHugePage,
        Advice::DontDump,
        Advice::DoDump,
        Advice::WipeOnFork,
        Advice::KeepOnFork,
        Advice::Cold,
        Advice::PageOut,
        Advice::PopulateRead,
        Advice::PopulateWrite,
        Advice::DontNeedLocked,
        Advice::Collapse,
        Advice::GuardInstall,
        Advice::GuardRemove,
    ];

    /// Whether the advice acts on one VMA's pages only, so that Linux
    /// tries the VMA lock first (`get_lock_mode`: `MADVISE_VMA_READ_LOCK`).
    fn vma_lockable(self) -> bool {
        matches!(
            self,
            Advice::DontNeed | Advice::DontNeedLocked | Advice::Free
        )
    }

    /// Whether the advice changes `vm_flags` (`mmap_lock` for write).
    fn changes_flags(self) -> bool {
        matches!(
            self,
            Advice::Normal
                | Advice::Random
                | Advice::Sequential
                | Advice::DontFork
                | Advice::DoFork
                | Advice::WipeOnFork
                | Advice::KeepOnFork
                | Advice::HugePage
                | Advice::NoHugePage
                | Advice::DontDump
                | Advice::DoDump
                | Advice::Mergeable
                | Advice::Unmergeable
        )
    }

    /// `is_madvise_populate`.
    fn populates(self) -> bool {
        matches!(self, Advice::PopulateRead | Advice::PopulateWrite)
    }

    /// `is_discard`: the advice that may discard data, which sealed
    /// read-only anonymous memory refuses.
    fn is_discard(self) -> bool {
        matches!(
            self,
            Advice::Free
                | Advice::DontNeed
                | Advice::DontNeedLocked
                | Advice::Remove
                | Advice::DontFork
                | Advice::WipeOnFork
                | Advice::GuardInstall
        )
    }

    /// The `MADV_*` value.
    pub const fn raw(self) -> i32 {
        self as i32
    }

    /// The advice with this `MADV_*` value, if pervma knows it
    /// (`madvise_behavior_valid` for the advice modelled here).
    pub fn from_raw(raw: i32) -> Option<Advice> {
        Advice::ALL.into_iter().find(|a| a.raw() == raw)
    }

    /// `can_madvise_modify`: `EPERM` for advice that discards data of a
    /// sealed anonymous VMA the user cannot write to.
    fn check_sealed<T>(self, vma: &Vma<T>) -> Result<(), Errno> {
        let f = vma.flags();
        if f.contains(VmFlags::SEALED)
            && self.is_discard()
            && vma.is_anonymous()
            && !f.contains(VmFlags::WRITE)
        {
            return Err(Errno::EPERM.because("discarding read-only sealed anonymous memory"));
        }
        Ok(())
    }

    /// `vm_flags` of `vma` after the advice, or the errno Linux refuses
    /// it with (`madvise_vma_behavior`, `hugepage_madvise`, `ksm_madvise`),
    /// for the advice kept in `vm_flags`; the checks of the others.
    fn new_flags<T>(self, vma: &Vma<T>) -> Result<VmFlags, Errno> {
        self.check_sealed(vma)?;
        let f = vma.flags();
        Ok(match self {
            Advice::Normal => f - VmFlags::RAND_READ - VmFlags::SEQ_READ,
            Advice::Random => (f - VmFlags::SEQ_READ) | VmFlags::RAND_READ,
            Advice::Sequential => (f - VmFlags::RAND_READ) | VmFlags::SEQ_READ,
            Advice::DontFork => f | VmFlags::DONTCOPY,
            Advice::DoFork if f.contains(VmFlags::IO) => return Err(Errno::EINVAL),
            Advice::DoFork => f - VmFlags::DONTCOPY,
            Advice::WipeOnFork if vma.file().is_some() || f.contains(VmFlags::SHARED) => {
                return Err(Errno::EINVAL)
            }
            Advice::WipeOnFork => f | VmFlags::WIPEONFORK,
            Advice::KeepOnFork if f.contains(VmFlags::DROPPABLE) => return Err(Errno::EINVAL),
            Advice::KeepOnFork => f - VmFlags::WIPEONFORK,
            Advice::HugePage => (f - VmFlags::NOHUGEPAGE) | VmFlags::HUGEPAGE,
            Advice::NoHugePage => (f - VmFlags::HUGEPAGE) | VmFlags::NOHUGEPAGE,
            Advice::DontDump => f | VmFlags::DONTDUMP,
            Advice::DoDump if f.intersects(VM_SPECIAL | VmFlags::DROPPABLE) => {
                return Err(Errno::EINVAL)
            }
            Advice::DoDump => f - VmFlags::DONTDUMP,
            // ksm_madvise: KSM is built in; incompatible VMAs ignore it.
            Advice::Mergeable => {
                let incompatible = VmFlags::SHARED
                    | VmFlags::MAYSHARE
                    | VM_SPECIAL
                    | VmFlags::HUGETLB
                    | VmFlags::DROPPABLE;
                if f.intersects(incompatible) {
                    f
                } else {
                    f | VmFlags::MERGEABLE
                }
            }
            Advice::Unmergeable => f - VmFlags::MERGEABLE,
            // madvise_dontneed_free_valid_vma, madvise_free_single_vma.
            Advice::DontNeed | Advice::DontNeedLocked | Advice::Free => {
                let mut forbidden = VmFlags::PFNMAP;
                if self != Advice::DontNeedLocked {
                    forbidden |= VmFlags::LOCKED;
                }
                if f.intersects(forbidden) || (self == Advice::Free && !vma.is_anonymous()) {
                    return Err(Errno::EINVAL);
                }
                f
            }
            // can_madv_lru_vma.
            Advice::Cold | Advice::PageOut => {
                if f.intersects(VmFlags::LOCKED | VmFlags::PFNMAP | VmFlags::HUGETLB) {
                    return Err(Errno::EINVAL);
                }
                f
            }
            // madvise_remove.
            Advice::Remove => {
                if f.contains(VmFlags::LOCKED) || vma.file().is_none() {
                    return Err(Errno::EINVAL);
                }
                if !f.contains(VmFlags::SHARED | VmFlags::MAYWRITE) {
                    return Err(Errno::EACCES);
                }
                f
            }
            // is_valid_guard_vma.
            Advice::GuardInstall | Advice::GuardRemove => {
                let mut forbidden = VM_SPECIAL | VmFlags::HUGETLB;
                if self == Advice::GuardInstall {
                    forbidden |= VmFlags::LOCKED;
                }
                if f.intersects(forbidden) {
                    return Err(Errno::EINVAL);
                }
                f
            }
            // collapse_possible_orders: pervma collapses private
            // anonymous memory only.
            Advice::Collapse => {
                // thp_vma_suitable_order: the VMA must hold an aligned
                // 2 MiB block (its last one, vm_end - PMD_SIZE aligned down).
                let block = vma.end().saturating_sub(PMD_SIZE) & !(PMD_SIZE - 1);
                let suitable = vma.len() >= PMD_SIZE && block >= vma.start();
                if f.intersects(VmFlags::NOHUGEPAGE | VM_SPECIAL | VmFlags::HUGETLB)
                    || !vma.is_anonymous()
                    || f.contains(VmFlags::SHARED)
                    || !suitable
                {
                    return Err(Errno::EINVAL.because("no THP possible here"));
                }
                f
            }
            Advice::WillNeed | Advice::PopulateRead | Advice::PopulateWrite => f,
        })
    }
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `madvise(start, len, advice)`: applies `advice` to every VMA part
    /// in `[start, start + PAGE_ALIGN(len))`. Advice kept in `vm_flags`
    /// splits VMAs at the ends of the range and merges the result with
    /// compatible neighbours; the other advice changes no VMA (see
    /// [`Advice`] and the module docs). `len == 0` succeeds.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `start` not page-aligned, or the range wraps around;
    /// - `EINVAL`, `EACCES` from a VMA that refuses the advice (see
    ///   [`Advice`]): the walk stops there, VMAs before it have been
    ///   changed;
    /// - `EPERM`: advice that discards data (`DontNeed`, `Free`, `Remove`,
    ///   `DontFork`, `WipeOnFork`, `GuardInstall`, ...) on a sealed
    ///   anonymous VMA that is not writable; the walk stops there;
    /// - `ENOMEM`: part of the range is not mapped. Linux applies the
    ///   advice to every VMA in the range, on both sides of the holes,
    ///   and then fails; `PopulateRead`/`PopulateWrite` stop at the hole;
    /// - `EFAULT`: `PopulateRead`/`PopulateWrite` reached a page whose
    ///   fault is a signal (past the end of a file, a guard region);
    /// - `ENOMEM`: a split would exceed `max_map_count`.
    pub fn madvise(&mut self, start: u64, len: u64, advice: Advice) -> Result<(), Errno> {
        // check_input_range.
        let Some(end) = madvise_range(start, len)? else {
            return Ok(());
        };
        if advice.populates() {
            let mut change = VmaChange::new(self);
            let result = populate_madvise(&mut change, start, end, advice == Advice::PopulateWrite);
            change.commit();
            return result;
        }
        if !advice.changes_flags() {
            return walk_range(self, start, end, advice);
        }
        let mut change = VmaChange::new(self);
        let result = change_range_flags(
            &mut change,
            start,
            end,
            Holes::Skip,
            |vma| advice.new_flags(vma),
            |_, _, _, _, _| {},
        );
        change.commit();
        result
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::madvise`], taking the lock Linux takes
    /// (`madvise_lock`): `mmap_lock` for write for the advice kept in VMA
    /// flags (and, in pervma, to populate); for `DontNeed`,
    /// `DontNeedLocked` and `Free`, which change no VMA, the VMA lock when
    /// the range lies in one VMA, else `mmap_lock` for read; for the rest,
    /// `mmap_lock` for read. So dropping pages never waits for, or holds
    /// up, `mmap`/`munmap` elsewhere.
    pub fn madvise(&self, start: u64, len: u64, advice: Advice) -> Result<(), Errno> {
        if advice.changes_flags() || advice.populates() {
            return self.mmap_write_lock().madvise(start, len, advice);
        }
        let Some(end) = madvise_range(start, len)? else {
            return Ok(());
        };
        if advice.vma_lockable() {
            if let Some(vma) = self.lock_vma_under_rcu(start) {
                if end <= vma.end() {
                    // The VMA lock shows this VMA only: a THP that MADV_FREE
                    // splits and that is mapped elsewhere too (moved in part
                    // by mremap) needs the other VMAs' flags, under mmap_lock.
                    let vm_locked = |a: u64| {
                        vma.contains(a)
                            .then(|| vma.flags().contains(VmFlags::LOCKED))
                    };
                    match zap_vma(self, &vma, start, end, advice, &vm_locked) {
                        Err(ZapError::Errno(e)) => return Err(e),
                        Ok(()) => return Ok(()),
                        Err(ZapError::VmaNotLocked) => drop(vma),
                    }
                }
            }
        }
        walk_range(&self.mmap_read_lock(), start, end, advice)
    }
}

/// `check_input_range`: the end of the page-aligned range, or `None` for
/// an empty one (which succeeds).
fn madvise_range(start: u64, len: u64) -> Result<Option<u64>, Errno> {
    if offset_in_page(start) != 0 {
        return Err(Errno::EINVAL);
    }
    let aligned = page_align(len).ok_or(Errno::EINVAL)?;
    let end = start.checked_add(aligned).ok_or(Errno::EINVAL)?;
    Ok((end != start).then_some(end))
}

/// `madvise_walk_vmas` for the advice that changes no VMA: each VMA part
/// in `[start, end)` in turn, on both sides of holes (then `ENOMEM`),
/// stopping at a VMA that refuses the advice.
fn walk_range<T: PartialEq>(
    locked: &MmapLocked<'_, T>,
    start: u64,
    end: u64,
    advice: Advice,
) -> Result<(), Errno> {
    let mut unmapped = Ok(());
    let mut at = start;
    let hole = || Errno::ENOMEM.because("a hole in the range (the advice applies around it)");
    for vma in locked.vmas_from(start) {
        if vma.start() >= end {
            break;
        }
        if vma.start() > at {
            unmapped = Err(hole());
        }
        let vm_locked = |a: u64| {
            Some(
                locked
                    .find_vma(a)
                    .is_some_and(|v| v.start() <= a && v.flags().contains(VmFlags::LOCKED)),
            )
        };
        let (from, to) = (at.max(vma.start()), vma.end().min(end));
        let result = match advice {
            Advice::DontNeed | Advice::DontNeedLocked | Advice::Free => {
                zap_vma(locked.mm(), vma, from, to, advice, &vm_locked)
            }
            Advice::GuardInstall => {
                advice.new_flags(vma)?;
                if vma.is_anonymous() && vma.anon_vma().is_none() {
                    anon_vma_prepare_mmap_read(locked, vma);
                }
                guard_install(locked.mm(), vma, from, to);
                Ok(())
            }
            _ => other_vma(locked, vma, from, to, advice, &vm_locked),
        };
        match result {
            Ok(()) => {}
            Err(ZapError::Errno(e)) => return Err(e),
            Err(ZapError::VmaNotLocked) => unreachable!("mmap_lock shows every VMA"),
        }
        at = vma.end();
    }
    if at < end {
        unmapped = Err(hole());
    }
    unmapped
}

/// Why [`zap_vma`] stopped.
enum ZapError {
    /// The VMA refuses the advice.
    Errno(Errno),
    /// `MADV_FREE` splits a THP mapped outside the VMA the caller holds
    /// (only) the lock of: try again under `mmap_lock`.
    VmaNotLocked,
}

impl From<Errno> for ZapError {
    fn from(e: Errno) -> Self {
        ZapError::Errno(e)
    }
}

/// The THP split of `MADV_FREE`, `MADV_COLD` and `MADV_PAGEOUT` over
/// `[from, to)`, with the MMU notifiers of every range it remaps.
fn split_folios<T>(
    mm: &Mm<T>,
    from: u64,
    to: u64,
    whole_too: bool,
    vm_locked: &dyn Fn(u64) -> Option<bool>,
) -> Result<(), ZapError> {
    // A THP split reaches every mapping of the folio, here or not.
    let around_remap = |runs: &[(u64, u64)], remap: &mut dyn FnMut()| {
        // Empty (no allocation) when nothing is registered.
        let _invalidate: Vec<_> = runs
            .iter()
            .filter_map(|&(s, e)| mm.notifiers.invalidate(s, e, MmuNotifierEvent::Discard))
            .collect();
        remap();
    };
    mm.page_table
        .split_folios(
            from,
            to,
            whole_too,
            vm_locked,
            &around_remap,
            &rcu_read_lock(),
        )
        .map_err(|_| ZapError::VmaNotLocked)
}

/// `madvise_dontneed_free` on the part `[from, to)` of `vma`: checks the
/// VMA accepts the advice, and for `DontNeed` drops the pages
/// (`zap_page_range_single`, which keeps guard markers), for `Free`
/// splits the THPs it covers in part (`madvise_free_pte_range`).
/// `vm_locked(addr)` tells whether the VMA at `addr` is `VM_LOCKED`,
/// where the caller can see it (the split of a THP reaches all its
/// mappings). Faults may race with it, as in Linux; the pages go after a
/// grace period.
fn zap_vma<T>(
    mm: &Mm<T>,
    vma: &Vma<T>,
    from: u64,
    to: u64,
    advice: Advice,
    vm_locked: &dyn Fn(u64) -> Option<bool>,
) -> Result<(), ZapError> {
    advice.new_flags(vma)?;
    // madvise_free_single_vma and zap_page_range_single: MMU_NOTIFY_CLEAR.
    let _invalidate = mm.notifiers.invalidate(from, to, MmuNotifierEvent::Discard);
    if let Some(backend) = mm.backend.as_deref() {
        backend.discard(&Mapping::of(vma, from, to), advice == Advice::Free);
    }
    if advice == Advice::Free {
        split_folios(mm, from, to, false, vm_locked)?;
    } else {
        let mut batch = RetireBatch::new();
        mm.page_table.zap_keep_guards(from, to, &mut batch);
        // zap_huge_pmd, and CONFIG_PT_RECLAIM's freeing of the page
        // tables MADV_DONTNEED empties.
        mm.page_table.zap_pmds(from, to, true);
        rcu_read_lock().retire(batch);
    }
    Ok(())
}

/// `madvise_guard_install` on `[from, to)` of `vma` (checked, with an
/// `anon_vma` if anonymous): the pages there are dropped
/// (`zap_vma_range`, existing markers kept) and a guard marker is put in
/// every entry, with page tables allocated for them (`walk_page_range`'s
/// `install_pte`): a block's huge zero page is split first.
fn guard_install<T>(mm: &Mm<T>, vma: &Vma<T>, from: u64, to: u64) {
    let _invalidate = mm.notifiers.invalidate(from, to, MmuNotifierEvent::Discard);
    if let Some(backend) = mm.backend.as_deref() {
        backend.guard(&Mapping::of(vma, from, to), true);
    }
    let pt = &mm.page_table;
    let mut batch = RetireBatch::new();
    pt.zap_keep_guards(from, to, &mut batch);
    pt.zap_pmds(from, to, false);
    pt.install_guards(from, to);
    rcu_read_lock().retire(batch);
}

/// The walked advice other than the zaps and `GuardInstall`, on
/// `[from, to)` of `vma`.
fn other_vma<T>(
    locked: &MmapLocked<'_, T>,
    vma: &Vma<T>,
    from: u64,
    to: u64,
    advice: Advice,
    vm_locked: &dyn Fn(u64) -> Option<bool>,
) -> Result<(), ZapError> {
    advice.new_flags(vma)?;
    let mm = locked.mm();
    match advice {
        Advice::Cold | Advice::PageOut if vma.is_anonymous() => {
            split_folios(mm, from, to, advice == Advice::PageOut, vm_locked)?;
        }
        Advice::PageOut => pageout_file(locked, vma, from, to),
        Advice::GuardRemove => {
            if let Some(backend) = mm.backend.as_deref() {
                backend.guard(&Mapping::of(vma, from, to), false);
            }
            mm.page_table.remove_guards(from, to);
        }
        Advice::Remove => remove(locked, vma, from, to),
        Advice::Collapse => collapse(mm, vma, from, to)?,
        _ => {}
    }
    Ok(())
}

/// `MADV_PAGEOUT` of the file pages of `[from, to)` of `vma` (no swap):
/// a page mapped only here (`folio_mapcount` 1) is unmapped
/// (`try_to_unmap`) and reclaimed ([`PageCache::reclaim`]); pages mapped
/// more than once are left alone, and anonymous pages stay (no swap).
///
/// [`PageCache::reclaim`]: crate::mem::cache::PageCache::reclaim
fn pageout_file<T>(locked: &MmapLocked<'_, T>, vma: &Vma<T>, from: u64, to: u64) {
    let Some(file) = vma.file() else {
        return;
    };
    let mm = locked.mm();
    let pt = &mm.page_table;
    let mut files = Vec::new();
    pt.for_each_present(from, to, |addr, kind| {
        if kind == PteKind::File {
            files.push(addr);
        }
    });
    let mut batch = RetireBatch::new();
    for addr in files {
        let index = vma.linear_page_index(addr);
        let mut mapcount = 0;
        for other in locked.vmas() {
            if !other.file().is_some_and(|f| Arc::ptr_eq(f, file)) {
                continue;
            }
            let (pgoff, pages) = (other.pgoff(), other.len() / PAGE_SIZE);
            if index < pgoff || index >= pgoff + pages {
                continue;
            }
            let at = other.start() + (index - pgoff) * PAGE_SIZE;
            pt.for_each_present(at, at + PAGE_SIZE, |_, kind| {
                mapcount += u32::from(kind == PteKind::File);
            });
        }
        if mapcount != 1 {
            continue;
        }
        let _invalidate =
            mm.notifiers
                .invalidate(addr, addr + PAGE_SIZE, MmuNotifierEvent::Discard);
        if let Some(backend) = mm.backend.as_deref() {
            backend.discard(&Mapping::of(vma, addr, addr + PAGE_SIZE), false);
        }
        pt.zap_file_entries(addr, addr + PAGE_SIZE, &mut batch);
        file.cache().reclaim(index);
    }
    rcu_read_lock().retire(batch);
}

/// `madvise_remove` on `[from, to)` of the shared file mapping `vma`:
/// `vfs_fallocate(PUNCH_HOLE)` of the file range it maps: every mapping
/// of those file pages loses them (`unmap_mapping_range`, private copies
/// and guard markers kept), and the pages leave the page cache (reads
/// find zeroes).
fn remove<T>(locked: &MmapLocked<'_, T>, vma: &Vma<T>, from: u64, to: u64) {
    let Some(file) = vma.file() else {
        return;
    };
    let mm = locked.mm();
    let first = vma.linear_page_index(from);
    let last = vma.linear_page_index(to);
    let mut batch = RetireBatch::new();
    for other in locked.vmas() {
        if !other.file().is_some_and(|f| Arc::ptr_eq(f, file)) {
            continue;
        }
        // The part of `other` that maps pages [first, last).
        let (pgoff, pages) = (other.pgoff(), other.len() / PAGE_SIZE);
        let lo = first.max(pgoff);
        let hi = last.min(pgoff + pages);
        if lo >= hi {
            continue;
        }
        let start = other.start() + (lo - pgoff) * PAGE_SIZE;
        let end = other.start() + (hi - pgoff) * PAGE_SIZE;
        let _invalidate = mm
            .notifiers
            .invalidate(start, end, MmuNotifierEvent::Discard);
        if let Some(backend) = mm.backend.as_deref() {
            backend.discard(&Mapping::of(other, start, end), false);
        }
        mm.page_table.zap_file_entries(start, end, &mut batch);
    }
    rcu_read_lock().retire(batch);
    file.cache().punch_hole(first, last);
}

/// `madvise_collapse` on `[from, to)` of the private anonymous `vma`:
/// each aligned 2 MiB block of the range becomes a THP. A block with no
/// page table fails (`SCAN_PMD_NULL`, `EINVAL` once every block was
/// tried); a range without a whole block succeeds doing nothing.
fn collapse<T>(mm: &Mm<T>, vma: &Vma<T>, from: u64, to: u64) -> Result<(), Errno> {
    let hstart = from.next_multiple_of(PMD_SIZE);
    let hend = to & !(PMD_SIZE - 1);
    let mut result = Ok(());
    let mut block = hstart;
    while block < hend {
        let _invalidate =
            mm.notifiers
                .invalidate(block, block + PMD_SIZE, MmuNotifierEvent::Discard);
        if !mm.page_table.collapse_block(block, &rcu_read_lock()) {
            result = Err(Errno::EINVAL.because("a block without a page table"));
        }
        block += PMD_SIZE;
    }
    let _ = vma;
    result
}
