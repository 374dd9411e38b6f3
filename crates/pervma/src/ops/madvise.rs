//! `madvise`: advice about a range, some of which is kept in VMA flags.
//!
//! Linux: mm/madvise.c (`madvise_behavior_valid`, `is_valid_madvise`,
//! `madvise_walk_vmas`, `madvise_vma_behavior`, `madvise_update_vma`,
//! `madvise_dontneed_free_valid_vma`, `madvise_free_single_vma`),
//! mm/khugepaged.c (`hugepage_madvise`).

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::flags::{offset_in_page, page_align, VmFlags};
use crate::mm::{MmapLocked, MmapWriteGuard, VmaChange};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::sync::rcu::{rcu_read_lock, RetireBatch};
use crate::vma::Vma;
use crate::Mm;
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
    /// `MADV_DONTNEED`: drop the pages (anonymous memory then reads as
    /// zeroes, file mappings read the file again); VMAs do not change.
    /// Refused
    /// (`EINVAL`) on `VM_LOCKED` and `VM_PFNMAP` VMAs.
    DontNeed = 4,
    /// `MADV_FREE`: the pages may be freed lazily, when memory runs short;
    /// pervma never runs short, so they stay. VMAs do not change.
    /// Private anonymous memory only, and not `VM_LOCKED` (else `EINVAL`).
    Free = 8,
    /// `MADV_DONTFORK`: `VM_DONTCOPY`.
    DontFork = 10,
    /// `MADV_DOFORK`: clears `VM_DONTCOPY` (`EINVAL` on `VM_IO`).
    DoFork = 11,
    /// `MADV_HUGEPAGE`: `VM_HUGEPAGE` (and not `VM_NOHUGEPAGE`).
    HugePage = 14,
    /// `MADV_NOHUGEPAGE`: `VM_NOHUGEPAGE` (and not `VM_HUGEPAGE`).
    NoHugePage = 15,
    /// `MADV_WIPEONFORK`: `VM_WIPEONFORK`; private anonymous memory only
    /// (else `EINVAL`).
    WipeOnFork = 18,
    /// `MADV_KEEPONFORK`: clears `VM_WIPEONFORK`.
    KeepOnFork = 19,
}

impl Advice {
    /// Every advice, in the order of their values.
    pub const ALL: [Advice; 11] = [
        Advice::Normal,
        Advice::Random,
        Advice::Sequential,
        Advice::DontNeed,
        Advice::Free,
        Advice::DontFork,
        Advice::DoFork,
        Advice::HugePage,
        Advice::NoHugePage,
        Advice::WipeOnFork,
        Advice::KeepOnFork,
    ];

    /// Whether the advice acts on pages only, never on VMAs, so that Linux
    /// takes no more than `mmap_lock` for read (`madvise_need_mmap_write`).
    fn only_pages(self) -> bool {
        matches!(self, Advice::DontNeed | Advice::Free)
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

    /// `vm_flags` of `vma` after the advice, or the errno Linux refuses
    /// it with (`madvise_vma_behavior`, `hugepage_madvise`).
    fn new_flags<T>(self, vma: &Vma<T>) -> Result<VmFlags, Errno> {
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
            Advice::KeepOnFork => f - VmFlags::WIPEONFORK,
            Advice::HugePage => (f - VmFlags::NOHUGEPAGE) | VmFlags::HUGEPAGE,
            Advice::NoHugePage => (f - VmFlags::HUGEPAGE) | VmFlags::NOHUGEPAGE,
            // madvise_dontneed_free_valid_vma, madvise_free_single_vma.
            Advice::DontNeed | Advice::Free => {
                if f.intersects(VmFlags::LOCKED | VmFlags::PFNMAP)
                    || (self == Advice::Free && !vma.is_anonymous())
                {
                    return Err(Errno::EINVAL);
                }
                f
            }
        })
    }
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `madvise(start, len, advice)`: applies `advice` to every VMA part
    /// in `[start, start + PAGE_ALIGN(len))`. Advice kept in `vm_flags`
    /// splits VMAs at the ends of the range and merges the result with
    /// compatible neighbours; `DontNeed` and `Free` change no VMA
    /// (`DontNeed` drops the pages). `len == 0` succeeds.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `start` not page-aligned, or the range wraps around;
    /// - `EINVAL` from a VMA that refuses the advice (see [`Advice`]): the
    ///   walk stops there, VMAs before it have been changed;
    /// - `ENOMEM`: part of the range is not mapped. Linux applies the
    ///   advice to every VMA in the range, on both sides of the holes,
    ///   and then fails;
    /// - `ENOMEM`: a split would exceed `max_map_count`.
    pub fn madvise(&mut self, start: u64, len: u64, advice: Advice) -> Result<(), Errno> {
        // is_valid_madvise.
        let Some(end) = madvise_range(start, len)? else {
            return Ok(());
        };
        if advice.only_pages() {
            return zap_range(self, start, end, advice);
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
    /// flags; for `DontNeed` and `Free`, which change no VMA, the VMA lock
    /// when the range lies in one VMA, else `mmap_lock` for read. So
    /// dropping pages never waits for, or holds up, `mmap`/`munmap`
    /// elsewhere.
    pub fn madvise(&self, start: u64, len: u64, advice: Advice) -> Result<(), Errno> {
        if !advice.only_pages() {
            return self.mmap_write_lock().madvise(start, len, advice);
        }
        let Some(end) = madvise_range(start, len)? else {
            return Ok(());
        };
        if let Some(vma) = self.lock_vma_under_rcu(start) {
            if end <= vma.end() {
                // The VMA lock shows this VMA only: a THP that MADV_FREE
                // splits and that is mapped elsewhere too (moved in part by
                // mremap) needs the other VMAs' flags, under mmap_lock.
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
        zap_range(&self.mmap_read_lock(), start, end, advice)
    }
}

/// `is_valid_madvise`: the end of the page-aligned range, or `None` for an
/// empty one (which succeeds).
fn madvise_range(start: u64, len: u64) -> Result<Option<u64>, Errno> {
    if offset_in_page(start) != 0 {
        return Err(Errno::EINVAL);
    }
    let aligned = page_align(len).ok_or(Errno::EINVAL)?;
    let end = start.checked_add(aligned).ok_or(Errno::EINVAL)?;
    Ok((end != start).then_some(end))
}

/// `madvise_walk_vmas` for the advice that acts on pages only: each VMA
/// part in `[start, end)` in turn, on both sides of holes (then
/// `ENOMEM`), stopping at a VMA that refuses the advice.
fn zap_range<T>(
    locked: &MmapLocked<'_, T>,
    start: u64,
    end: u64,
    advice: Advice,
) -> Result<(), Errno> {
    let mut unmapped = Ok(());
    let mut at = start;
    for vma in locked.vmas_from(start) {
        if vma.start() >= end {
            break;
        }
        if vma.start() > at {
            unmapped =
                Err(Errno::ENOMEM.because("a hole in the range (the advice applies around it)"));
        }
        let vm_locked = |a: u64| {
            Some(
                locked
                    .find_vma(a)
                    .is_some_and(|v| v.start() <= a && v.flags().contains(VmFlags::LOCKED)),
            )
        };
        match zap_vma(
            locked.mm(),
            vma,
            at.max(vma.start()),
            vma.end().min(end),
            advice,
            &vm_locked,
        ) {
            Ok(()) => {}
            Err(ZapError::Errno(e)) => return Err(e),
            Err(ZapError::VmaNotLocked) => unreachable!("mmap_lock shows every VMA"),
        }
        at = vma.end();
    }
    if at < end {
        unmapped = Err(Errno::ENOMEM.because("a hole in the range (the advice applies around it)"));
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

/// `madvise_dontneed_free` on the part `[from, to)` of `vma`: checks the
/// VMA accepts the advice, and for `DontNeed` drops the pages
/// (`zap_page_range_single`), for `Free` splits the THPs it covers in
/// part (`madvise_free_pte_range`). `vm_locked(addr)` tells whether the VMA
/// at `addr` is `VM_LOCKED`, where the caller can see it (the split of a
/// THP reaches all its mappings). Faults may race with it, as in Linux;
/// the pages go after a grace period.
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
            .madvise_free(from, to, vm_locked, &around_remap, &rcu_read_lock())
            .map_err(|_| ZapError::VmaNotLocked)?;
    }
    if advice == Advice::DontNeed {
        let mut batch = RetireBatch::new();
        mm.page_table.zap(from, to, &mut batch);
        // zap_huge_pmd, and CONFIG_PT_RECLAIM's freeing of the page
        // tables MADV_DONTNEED empties.
        mm.page_table.zap_pmds(from, to, true);
        rcu_read_lock().retire(batch);
    }
    Ok(())
}
