//! Merging VMAs with their neighbours, and splitting them.
//!
//! Linux: mm/vma.c (`is_mergeable_vma`, `is_mergeable_anon_vma`,
//! `can_vma_merge_before`, `can_vma_merge_after`, `can_vma_merge_left`,
//! `can_vma_merge_right`, `vma_merge_new_range`,
//! `vma_merge_existing_range`, `vma_modify`, `vma_modify_flags`,
//! `__split_vma`, `dup_anon_vma`).
//!
//! Two VMAs next to each other become one when nothing could tell them
//! apart: the same flags (but `VM_SOFTDIRTY`, which Linux ignores here),
//! the same file (`Arc::ptr_eq`) at contiguous page offsets, equal
//! payloads (pervma's `vm_ops`/`vm_private_data`), and compatible
//! `anon_vma`s (the same one, or one side without any). pgoff continuity
//! matters for private anonymous memory too: its pgoff is `addr >> 12`
//! when it is created, and a moved VMA that had anonymous pages keeps its
//! old one.
//!
//! - A new range (`mmap`) is merged by [`merge_new_range`]: it extends the
//!   previous VMA, the next one, or both into one.
//! - A range whose flags change (`mprotect`, `madvise`, `mlock`) goes
//!   through [`modify_flags`]: merged into a neighbour when it starts or
//!   ends where its VMA does, otherwise the VMA is split at the range's
//!   ends.
//!
//! Each edit write-locks the VMAs it changes (through `VmaChange`).

#![deny(unsafe_code)]

use super::munmap::split_off_tail;
use crate::anon_vma::AnonVma;
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::file::{same_file, File};
use crate::flags::{VmFlags, PAGE_SHIFT, VM_ACCESS_FLAGS as ACCESS};
use crate::mm::{VmaChange, VmaPtr};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::vma::{Vma, VmaFields};
use alloc::sync::Arc;

/// `VM_IGNORE_MERGE`: flags that do not keep two VMAs apart.
const VM_IGNORE_MERGE: VmFlags = VmFlags::SOFTDIRTY;

/// What a range would be after the operation: the proposal that
/// neighbours are compared with (Linux's `struct vma_merge_struct`).
pub(super) struct Proposal<'a, T> {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) pgoff: u64,
    pub(super) flags: VmFlags,
    pub(super) file: Option<&'a Arc<File>>,
    pub(super) anon_vma: Option<&'a Arc<AnonVma>>,
    pub(super) payload: &'a T,
}

impl<T> Proposal<'_, T> {
    fn pages(&self) -> u64 {
        (self.end - self.start) >> PAGE_SHIFT
    }
}

fn pages<T>(vma: &Vma<T>) -> u64 {
    vma.len() >> PAGE_SHIFT
}

/// Whether two `anon_vma`s can become one: the same, or at least one
/// absent (the merged VMA takes the other, `dup_anon_vma`).
fn anon_vmas_compatible(a: Option<&Arc<AnonVma>>, b: Option<&Arc<AnonVma>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => true,
    }
}

/// `is_mergeable_vma`: flags (but `VM_IGNORE_MERGE`), file and payload.
fn is_mergeable_vma<T: PartialEq>(vma: &Vma<T>, p: &Proposal<'_, T>) -> bool {
    (vma.flags() ^ p.flags) - VM_IGNORE_MERGE == VmFlags::empty()
        && same_file(vma.file(), p.file)
        && vma.payload() == p.payload
}

/// `is_mergeable_anon_vma` with `vma` the target and the proposal the
/// source: both have the same `anon_vma`, or neither has one, or one side
/// has none and will take the other's (`dup_anon_vma`), unless the
/// other's was made by `fork` (`vma_is_fork_child`: for the source that
/// covers the middle VMA of an existing range and the VMA that `mremap`
/// copies from, whose `anon_vma` the proposal carries).
fn is_mergeable_anon_vma<T>(vma: &Vma<T>, p: &Proposal<'_, T>) -> bool {
    match (vma.anon_vma(), p.anon_vma) {
        (Some(tgt), Some(src)) => Arc::ptr_eq(tgt, src),
        (None, Some(src)) => !src.is_fork_child(),
        (Some(tgt), None) => !tgt.is_fork_child(),
        (None, None) => true,
    }
}

/// `can_vma_merge_left`: `prev` ends where the proposal starts and could
/// be extended over it (`can_vma_merge_after`).
fn can_merge_left<T: PartialEq>(prev: &Vma<T>, p: &Proposal<'_, T>) -> bool {
    prev.end() == p.start
        && is_mergeable_vma(prev, p)
        && is_mergeable_anon_vma(prev, p)
        && prev.pgoff() + pages(prev) == p.pgoff
}

/// `can_vma_merge_right`: `next` starts where the proposal ends and could
/// be extended over it (`can_vma_merge_before`); when `prev` merges too,
/// `prev` and `next` must also agree on their `anon_vma`s.
fn can_merge_right<T: PartialEq>(
    prev: Option<&Vma<T>>,
    next: &Vma<T>,
    p: &Proposal<'_, T>,
) -> bool {
    next.start() == p.end
        && is_mergeable_vma(next, p)
        && is_mergeable_anon_vma(next, p)
        && p.pgoff + p.pages() == next.pgoff()
        && prev.is_none_or(|prev| anon_vmas_compatible(prev.anon_vma(), next.anon_vma()))
}

/// `vma_merge_new_range`: merges the new range `p` (not in the tree yet;
/// the range is free) with its neighbours. Returns the VMA that now covers
/// it, or `None` when it merged with nothing and the caller must insert a
/// VMA of its own.
///
/// A range copied from a VMA with anonymous pages (`mremap`'s `copy_vma`,
/// `vma_merge_copied_range`) carries that `anon_vma`: a neighbour without
/// one that takes the range takes it too (`dup_anon_vma` from
/// `copied_from`), so the moved pages stay reachable.
pub(super) fn merge_new_range<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    p: &Proposal<'_, T>,
) -> Option<VmaPtr<T>> {
    let (prev, next) = change.neighbours(p.start, p.end);
    let left = prev.filter(|&v| can_merge_left(change.vma(v), p));
    let right = next.filter(|&v| can_merge_right(left.map(|l| change.vma(l)), change.vma(v), p));
    match (left, right) {
        (Some(prev), Some(next)) => {
            // prev takes everything; next goes. dup_anon_vma: prev takes
            // next's anon_vma when it has none, else the copied range's.
            let (end, anon) = {
                let n = change.vma(next);
                (n.end(), n.anon_vma().or(p.anon_vma).cloned())
            };
            change.merge(prev, &[next], |f, _| {
                f.vm_end = end;
                if f.anon_vma.is_none() {
                    f.anon_vma = anon;
                }
            });
            Some(prev)
        }
        (Some(prev), None) => {
            change.update(prev, |f, _| {
                f.vm_end = p.end;
                if f.anon_vma.is_none() {
                    f.anon_vma = p.anon_vma.cloned();
                }
            });
            Some(prev)
        }
        (None, Some(next)) => {
            change.update(next, |f, _| {
                f.vm_start = p.start;
                f.vm_pgoff = p.pgoff;
                if f.anon_vma.is_none() {
                    f.anon_vma = p.anon_vma.cloned();
                }
            });
            Some(next)
        }
        (None, None) => None,
    }
}

/// `vma_modify_flags`: gives `[start, end)` (inside `vma`, page-aligned,
/// non-empty) the flags `flags`, by merging it into a neighbour where
/// possible (`vma_merge_existing_range`), else by splitting `vma` at the
/// ends of the range (`vma_modify`). `prev` is the VMA just below `vma`
/// (or `None`). Returns the VMA that now covers the range.
///
/// # Errors
///
/// `ENOMEM` when a split would exceed `max_map_count`. As in Linux, the
/// split at `start` may already have happened when the one at `end`
/// fails: the caller commits what was done and returns the error.
pub(super) fn modify_flags<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    prev: Option<VmaPtr<T>>,
    vma: VmaPtr<T>,
    start: u64,
    end: u64,
    flags: VmFlags,
) -> Result<VmaPtr<T>, Errno> {
    if let Some(merged) = merge_existing_range(change, prev, vma, start, end, flags) {
        return Ok(merged);
    }
    let max = change.guard().mm().config.max_map_count;
    let (vs, ve) = {
        let v = change.vma(vma);
        (v.start(), v.end())
    };
    // split_vma(new_below = 1): the head becomes a new VMA, `vma` keeps
    // the rest.
    if vs < start {
        if change.map_count() >= max {
            return Err(Errno::ENOMEM.because("a split would exceed max_map_count"));
        }
        let (mut head, payload) = split_off_tail(change, vma, vs);
        head.vm_end = start;
        let edit = |f: &mut VmaFields, _: &mut T| {
            f.vm_pgoff += (start - f.vm_start) >> PAGE_SHIFT;
            f.vm_start = start;
        };
        change.split(vma, edit, head, payload);
    }
    // split_vma(new_below = 0): the tail becomes a new VMA.
    if end < ve {
        if change.map_count() >= max {
            return Err(Errno::ENOMEM.because("a split would exceed max_map_count"));
        }
        let (tail, payload) = split_off_tail(change, vma, end);
        change.split(vma, |f, _| f.vm_end = end, tail, payload);
    }
    change.update(vma, |f, _| f.vm_flags = flags);
    Ok(vma)
}

/// `vma_merge_existing_range`: merges `[start, end)` of `vma`, with its
/// flags changed to `flags`, into `prev` (when the range starts at
/// `vma`'s start) and/or the next VMA (when it ends at `vma`'s end).
/// Returns the merged VMA, or `None` having changed nothing.
fn merge_existing_range<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    prev: Option<VmaPtr<T>>,
    vma: VmaPtr<T>,
    start: u64,
    end: u64,
    flags: VmFlags,
) -> Option<VmaPtr<T>> {
    let (merge_left, merge_right, middle) = {
        let m = change.vma(vma);
        let left_side = start == m.start();
        let right_side = end == m.end();
        if !left_side && !right_side {
            return None;
        }
        let p = Proposal {
            start,
            end,
            pgoff: m.linear_page_index(start),
            flags,
            file: m.file(),
            anon_vma: m.anon_vma(),
            payload: m.payload(),
        };
        let left = prev.filter(|&v| left_side && can_merge_left(change.vma(v), &p));
        let right = if right_side {
            change
                .find(end)
                .filter(|&n| can_merge_right(left.map(|l| change.vma(l)), change.vma(n), &p))
        } else {
            None
        };
        (left, right, (m.start(), m.end(), m.anon_vma().cloned()))
    };
    let (m_start, m_end, m_anon) = middle;
    let remove_middle = start == m_start && end == m_end;
    match (merge_left, merge_right) {
        (Some(prev), Some(next)) => {
            // prev extends over middle and next, which both go; prev takes
            // next's anon_vma, or else middle's, if it has none.
            let (n_end, n_anon) = {
                let n = change.vma(next);
                (n.end(), n.anon_vma().cloned())
            };
            change.merge(prev, &[vma, next], |f, _| {
                f.vm_end = n_end;
                if f.anon_vma.is_none() {
                    f.anon_vma = n_anon.or(m_anon);
                }
            });
            Some(prev)
        }
        (Some(prev), None) => {
            let gone: &[VmaPtr<T>] = if remove_middle {
                &[vma]
            } else {
                change.update(vma, |f, _| {
                    f.vm_pgoff += (end - f.vm_start) >> PAGE_SHIFT;
                    f.vm_start = end;
                });
                &[]
            };
            change.merge(prev, gone, |f, _| {
                f.vm_end = end;
                if f.anon_vma.is_none() {
                    f.anon_vma = m_anon;
                }
            });
            Some(prev)
        }
        (None, Some(next)) => {
            let pglen = (end - start) >> PAGE_SHIFT;
            let gone: &[VmaPtr<T>] = if remove_middle {
                &[vma]
            } else {
                change.update(vma, |f, _| f.vm_end = start);
                &[]
            };
            change.merge(next, gone, |f, _| {
                f.vm_start = start;
                f.vm_pgoff -= pglen;
                if f.anon_vma.is_none() {
                    f.anon_vma = m_anon;
                }
            });
            Some(next)
        }
        (None, None) => None,
    }
}

/// What to do about a hole inside the range of a flags-changing call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Holes {
    /// Stop at the hole with `ENOMEM`, keeping what was done before it
    /// (`mprotect`, `mlock`, `munlock`).
    Stop,
    /// Carry on past it, and return `ENOMEM` at the end (`madvise`).
    Skip,
}

/// The loop that `do_mprotect_pkey`, `apply_vma_lock_flags` and
/// `madvise_walk_vmas` share: for each VMA in `[start, end)` (page-aligned,
/// `start < end`), `new_flags` says what its flags become for the part in
/// the range (or fails, which stops the walk); the part is then merged or
/// split off by [`modify_flags`], unless its flags stay the same. After
/// each part, `after` runs on the VMA that now covers it, with the old
/// and new flags.
///
/// Changes made before a failure stay: the caller commits them and
/// returns the error, as Linux does.
///
/// # Errors
///
/// `ENOMEM` for a hole (see [`Holes`]) or a failed split, and whatever
/// `new_flags` returns.
pub(super) fn change_range_flags<T, F, A>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
    holes: Holes,
    mut new_flags: F,
    mut after: A,
) -> Result<(), Errno>
where
    T: Payload,
    F: FnMut(&Vma<T>) -> Result<VmFlags, Errno>,
    A: FnMut(&mut VmaChange<'_, '_, T>, VmaPtr<T>, VmFlags, VmFlags, (u64, u64)),
{
    let mut unmapped = Ok(());
    let mut nstart = start;
    let Some(first) = change.find(start) else {
        return Err(Errno::ENOMEM.because("nothing mapped in the range"));
    };
    let mut prev = if change.vma(first).start() < start {
        Some(first)
    } else {
        change.vma_prev(start)
    };
    while nstart < end {
        let Some(vma) = change.find(nstart) else {
            return Err(Errno::ENOMEM.because("a hole in the range (the parts before it changed)"));
        };
        let vs = change.vma(vma).start();
        if vs > nstart {
            match holes {
                Holes::Stop => {
                    return Err(
                        Errno::ENOMEM.because("a hole in the range (the parts before it changed)")
                    )
                }
                Holes::Skip => {
                    unmapped =
                        Err(Errno::ENOMEM
                            .because("a hole in the range (the parts before it changed)"));
                    if vs >= end {
                        break;
                    }
                    nstart = vs;
                }
            }
        }
        let (old, part_end) = {
            let v = change.vma(vma);
            (v.flags(), v.end().min(end))
        };
        let flags = new_flags(change.vma(vma))?;
        let covering = if flags == old {
            vma
        } else {
            let merged = apply_flags(change, prev, vma, (nstart, part_end), old, flags)?;
            after(change, merged, old, flags, (nstart, part_end));
            merged
        };
        prev = Some(covering);
        nstart = change.vma(covering).end();
    }
    unmapped
}

/// `vma_modify_flags` on `[start, end)` of `vma` (flags `old`), with
/// what it changes applied to the real memory: the VMA write-locked
/// first (no fault maps with the old flags meanwhile), then, between the
/// MMU notifiers' start and end (`MMU_NOTIFY_PROTECTION_VMA` when access
/// or the key changes), the backend's `change_flags` and pervma's
/// split/merge. A backend refusal leaves the VMA as it was; a refused
/// split puts the backend back.
fn apply_flags<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    prev: Option<VmaPtr<T>>,
    vma: VmaPtr<T>,
    (start, end): (u64, u64),
    old: VmFlags,
    new: VmFlags,
) -> Result<VmaPtr<T>, Errno> {
    let mm = change.guard().mm();
    if mm.backend.is_none() && mm.notifiers.is_empty() {
        // Nobody to tell: modify_flags write-locks what it changes.
        return modify_flags(change, prev, vma, start, end, new);
    }
    change.update(vma, |_, _| {});
    let _invalidate = (old ^ new)
        .intersects(ACCESS | VmFlags::PKEY_MASK)
        .then(|| {
            let event = MmuNotifierEvent::Protection {
                prot: new.prot(),
                pkey: new.pkey(),
            };
            mm.notifiers.invalidate(start, end, event)
        })
        .flatten();
    let Some(backend) = mm.backend.as_deref() else {
        return modify_flags(change, prev, vma, start, end, new);
    };
    let v = change.vma(vma);
    let (pgoff, file) = (v.linear_page_index(start), v.file().cloned());
    let part = |flags| Mapping {
        start,
        end,
        flags,
        pgoff,
        file: file.as_ref(),
    };
    backend.change_flags(&part(new), old)?;
    modify_flags(change, prev, vma, start, end, new).inspect_err(|_| {
        // Should this fail too, the backend keeps `new` while the VMA
        // keeps `old`: nothing better can be done with a backend that
        // refuses to undo what it just did.
        let _ = backend.change_flags(&part(old), new);
    })
}
