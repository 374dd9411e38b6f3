//! `munmap`, and the unmapping step that `mmap(MAP_FIXED)` shares.
//!
//! Linux: mm/vma.c (`do_vmi_munmap`, `vms_gather_munmap_vmas`,
//! `__split_vma`).

#![deny(unsafe_code)]

use crate::errno::Errno;
use crate::flags::{offset_in_page, page_align, VmFlags, PAGE_SHIFT};
use crate::mm::{MmapWriteGuard, VmaChange, VmaPtr};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::vma::VmaFields;
use crate::Mm;
use alloc::vec::Vec;

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `munmap(start, len)`: removes every mapping in
    /// `[start, start + PAGE_ALIGN(len))`, splitting the VMAs that straddle
    /// its ends. Unmapping a range with nothing in it succeeds.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `start` not page-aligned, `len` zero, or the range not
    ///   inside the user address space.
    /// - `ENOMEM`: the range lies strictly inside one VMA and the space
    ///   already has `max_map_count` VMAs (the split would exceed it).
    /// - `EPERM`: a VMA in the range is sealed ([`mseal`](Self::mseal)).
    ///   Nothing is unmapped, but an unsealed VMA straddling `start` has
    ///   been split there, as in Linux (`vms_gather_munmap_vmas` splits
    ///   the first VMA before it meets the sealed one).
    pub fn munmap(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        let mut change = VmaChange::new(self);
        let result = do_munmap(&mut change, start, len);
        change.commit();
        result
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::munmap`] under its own write lock.
    pub fn munmap(&self, start: u64, len: u64) -> Result<(), Errno> {
        self.mmap_write_lock().munmap(start, len)
    }
}

/// `do_vmi_munmap`'s argument checks: the end of the range.
fn munmap_range(task_size: u64, start: u64, len: u64) -> Result<u64, Errno> {
    if offset_in_page(start) != 0 || start > task_size || len > task_size - start {
        return Err(Errno::EINVAL);
    }
    let end = start + page_align(len).ok_or(Errno::EINVAL)?;
    if end == start {
        return Err(Errno::EINVAL);
    }
    Ok(end)
}

/// `do_munmap`: checks the arguments of an unmap of `[start, start +
/// PAGE_ALIGN(len))`, then unmaps it within `change` (`munmap`, and the
/// unmapping steps of `mremap`).
///
/// # Errors
///
/// As [`MmapWriteGuard::munmap`]; nothing has changed when it fails.
pub(super) fn do_munmap<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    len: u64,
) -> Result<(), Errno> {
    let end = munmap_range(change.guard().mm().config.task_size, start, len)?;
    unmap_range(change, start, end)
}

/// Unmaps `[start, end)` (page-aligned, non-empty) within `change`.
///
/// Fails before editing anything, or not at all, except for a sealed
/// VMA in the range (see [`gather_sealed`]): the caller commits the
/// split that leaves.
pub(super) fn unmap_range<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    gather_sealed(change, start, end)?;
    let vmas = change.overlapping(start, end);
    let Some(first) = vmas.first() else {
        return Ok(());
    };
    let first_vma = change.vma(first);
    // From here on nothing fails.
    // free_pgtables' limits: the end of the VMA below and the start of the
    // one above what is unmapped; and the unmapped VMA parts.
    let floor = if first_vma.start() < start {
        start
    } else {
        change.vma_prev(start).map_or(0, |p| change.vma(p).end())
    };
    let last_end = change.vma(vmas.last().unwrap_or(first)).end();
    let ceiling = if end < last_end {
        Some(end)
    } else {
        change.find(end).map(|n| change.vma(n).start())
    };
    let detached: Vec<(u64, u64)> = vmas
        .iter()
        .map(|v| {
            let v = change.vma(v);
            (v.start().max(start), v.end().min(end))
        })
        .collect();
    for vma in vmas {
        let (vs, ve) = {
            let v = change.vma(vma);
            (v.start(), v.end())
        };
        match (vs < start, end < ve) {
            // Strictly inside: keep the head in place, split off the tail.
            (true, true) => {
                let (tail, payload) = split_off_tail(change, vma, end);
                change.update(vma, |f, _| f.vm_end = start);
                change.insert(tail, payload);
            }
            // Straddles the start: keep the head.
            (true, false) => change.update(vma, |f, _| f.vm_end = start),
            // Straddles the end: keep the tail.
            (false, true) => change.update(vma, |f, _| {
                f.vm_pgoff += (end - f.vm_start) >> PAGE_SHIFT;
                f.vm_start = end;
            }),
            (false, false) => change.remove(vma),
        }
    }
    // unmap_region: the pages go with the VMAs (all write-locked above).
    let notifiers = &change.guard().mm().notifiers;
    let _invalidate = notifiers.invalidate(start, end, MmuNotifierEvent::Unmap);
    change.zap_pages(start, end);
    let pt = &change.guard().mm().page_table;
    pt.zap_pmds(start, end, false);
    pt.free_tables(&detached, floor, ceiling);
    if let Some(backend) = change.guard().mm().backend.as_deref() {
        backend.unmap(start, end);
    }
    Ok(())
}

/// `vms_gather_munmap_vmas`' check: a split in the middle of one VMA adds
/// one, which `max_map_count` may not allow (`ENOMEM`). `first` is the
/// first VMA overlapping `[start, end)`.
fn check_gather<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    first: VmaPtr<T>,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    let first = change.vma(first);
    let max = change.guard().mm().config.max_map_count;
    if first.start() < start && end < first.end() && change.map_count() >= max {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// `vms_gather_munmap_vmas`' checks, in its order, for an unmap of
/// `[start, end)`: the `max_map_count` check of a split in the middle of
/// one VMA (`ENOMEM`), then `EPERM` for a sealed VMA. The first VMA is
/// checked before it is split at `start`, the others after: a sealed VMA
/// further on leaves the first split there (the caller commits it), as
/// Linux's `reattach_vmas` leaves it.
pub(super) fn gather_sealed<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    let vmas = change.overlapping(start, end);
    let Some(first) = vmas.first() else {
        return Ok(());
    };
    check_gather(change, first, start, end)?;
    let sealed = |v| change.vma(v).flags().contains(VmFlags::SEALED);
    let Some(index) = vmas.iter().position(sealed) else {
        return Ok(());
    };
    let why = "a sealed VMA in the range (mseal)";
    if index > 0 && change.vma(first).start() < start {
        let (tail, payload) = split_off_tail(change, first, start);
        change.split(first, |f, _| f.vm_end = start, tail, payload);
    }
    Err(Errno::EPERM.because(why))
}

/// What `mmap(MAP_FIXED)` leaves when it fails after gathering the VMAs it
/// replaces (`vms_abort_munmap_vmas`, e.g. its overcommit charge refused):
/// the VMAs straddling `start` and `end` split there (`vms_gather_munmap_vmas`
/// split them before the failure), nothing unmapped, no page lost.
///
/// # Errors
///
/// `ENOMEM` as [`unmap_range`], before anything changes: gathering failed
/// first, and nothing was split.
pub(super) fn gather_and_abort<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    if let Some(first) = change.overlapping(start, end).first() {
        check_gather(change, first, start, end)?;
    }
    for at in [start, end] {
        let Some(vma) = change.find(at) else {
            continue;
        };
        if change.vma(vma).start() < at {
            let (tail, payload) = split_off_tail(change, vma, at);
            change.split(vma, |f, _| f.vm_end = at, tail, payload);
        }
    }
    Ok(())
}

/// The fields and payload of the part of `vma` from `at` on: a copy of
/// `vma` with its pgoff moved along (`__split_vma` with `new_below == 0`).
/// The caller shrinks `vma` first and then inserts the copy, so that the
/// shrink does not clear the copy's range.
pub(super) fn split_off_tail<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
    at: u64,
) -> (VmaFields, T) {
    let v = change.vma(vma);
    let mut fields = v.clone_fields();
    fields.vm_pgoff += (at - fields.vm_start) >> PAGE_SHIFT;
    fields.vm_start = at;
    (fields, v.payload().clone())
}
