//! `anon_vma` creation, and populating ranges (`MAP_POPULATE`,
//! `MAP_LOCKED`, `mlock`).
//!
//! Linux: mm/rmap.c (`__anon_vma_prepare`), mm/vma.c
//! (`find_mergeable_anon_vma`, `reusable_anon_vma`, `anon_vma_compatible`),
//! mm/gup.c (`__mm_populate`, `populate_vma_page_range`),
//! mm/huge_memory.c (`do_huge_pmd_anonymous_page`: the huge zero page).
//!
//! Populating a range faults its pages in (read faults, or write faults in
//! writable private memory). A write fault in a private mapping needs
//! anonymous memory, so the VMA gets an `anon_vma` first; a read fault
//! does not (private anonymous memory reads the zero page), except where
//! Linux maps the huge zero page, which goes through `anon_vma_prepare`
//! too.

use super::merge::{same_file, vma_prev};
use crate::errno::Errno;
use crate::fault::Access;
use crate::file::AnonVma;
use crate::flags::{VmFlags, PAGE_SIZE, PMD_SIZE};
use crate::mem::memory;
use crate::mm::{Mm, VmaChange, VmaPtr};
use crate::notifier::MmuNotifierEvent;
use crate::sync::rcu::rcu_read_lock;
use crate::vma::Vma;
use alloc::sync::Arc;

/// `anon_vma_prepare`: makes sure `vma` has an `anon_vma`, reusing a
/// neighbour's when Linux would (`find_mergeable_anon_vma`: the next VMA
/// first, then the previous one), else creating one. Returns it.
///
/// Linux does this under `mmap_lock` for read and the page-table lock;
/// pervma changes VMA fields only under the VMA's write lock, which
/// `VmaChange::update` takes, so callers (the fault path included) come
/// here with `mmap_lock` held for write.
#[doc(alias = "__anon_vma_prepare")]
pub(crate) fn anon_vma_prepare<T: Clone + PartialEq + Send + Sync + 'static>(
    change: &mut VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
) -> Arc<AnonVma> {
    if let Some(anon) = change.vma(vma).anon_vma() {
        return anon.clone();
    }
    let v = change.vma(vma);
    let next = change.find(v.end()).map(|n| change.vma(n));
    let prev = vma_prev(change, v.start()).map(|p| change.vma(p));
    let anon = find_mergeable_anon_vma(prev, v, next).unwrap_or_else(AnonVma::new);
    let set = anon.clone();
    change.update(vma, |f, _| f.anon_vma = Some(set));
    anon
}

/// `find_mergeable_anon_vma`: the `anon_vma` of a neighbour that `v`
/// could share: the next VMA's, else the previous one's. `next` is the
/// first VMA above `v`, `prev` the last below it (either may not be
/// adjacent, which the compatibility check rejects).
pub(crate) fn find_mergeable_anon_vma<T: PartialEq>(
    prev: Option<&Vma<T>>,
    v: &Vma<T>,
    next: Option<&Vma<T>>,
) -> Option<Arc<AnonVma>> {
    if let Some(anon) = next.and_then(|n| reusable_anon_vma(n, v, n)) {
        return Some(anon);
    }
    prev.and_then(|p| reusable_anon_vma(p, p, v))
}

/// `reusable_anon_vma`: `old`'s `anon_vma`, if `a` and `b` (one of them
/// `old`, `a` below `b`) are compatible. (Linux also wants `old`'s
/// `anon_vma_chain` to be singular, which only `fork` breaks.)
fn reusable_anon_vma<T: PartialEq>(old: &Vma<T>, a: &Vma<T>, b: &Vma<T>) -> Option<Arc<AnonVma>> {
    if anon_vma_compatible(a, b) {
        old.anon_vma().cloned()
    } else {
        None
    }
}

/// `anon_vma_compatible`: `a` ends where `b` starts, same file at
/// contiguous offsets, and the same flags but for access bits and
/// `VM_SOFTDIRTY`. pervma also wants equal payloads, its `vm_ops`.
fn anon_vma_compatible<T: PartialEq>(a: &Vma<T>, b: &Vma<T>) -> bool {
    let ignore = VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC | VmFlags::SOFTDIRTY;
    a.end() == b.start()
        && same_file(a.file(), b.file())
        && (a.flags() ^ b.flags()) - ignore == VmFlags::empty()
        && b.pgoff() == a.linear_page_index(b.start())
        && a.payload() == b.payload()
}

/// Faults in every page of `[from, to)` of `vma` (`populate_vma_page_range`
/// through GUP): the caller has checked the access and prepared the
/// `anon_vma` it needs.
fn fault_in<T>(mm: &Mm<T>, vma: &Vma<T>, from: u64, to: u64, access: Access) {
    let rcu = rcu_read_lock();
    for addr in (from..to).step_by(PAGE_SIZE as usize) {
        let faulted = memory::handle_pte_fault(&mm.page_table, vma, addr, access, &rcu);
        debug_assert!(faulted.is_ok(), "populate without an anon_vma");
    }
}

/// Whether a read fault somewhere in `[start, end)` (inside `vma`) is
/// served with the huge zero page, which needs an `anon_vma`: a private
/// anonymous `MADV_HUGEPAGE` VMA (THP mode `madvise`) covering an aligned
/// 2 MiB block that the range touches (`thp_vma_suitable_order`).
pub(crate) fn read_fault_maps_huge_zero_page<T>(vma: &Vma<T>, start: u64, end: u64) -> bool {
    let flags = vma.flags();
    if !vma.is_anonymous()
        || flags.contains(VmFlags::SHARED)
        || !flags.contains(VmFlags::HUGEPAGE)
        || flags.contains(VmFlags::NOHUGEPAGE)
    {
        return false;
    }
    // The lowest block inside the VMA that the range reaches.
    let Some(first_in_vma) = vma.start().checked_next_multiple_of(PMD_SIZE) else {
        return false;
    };
    let block = first_in_vma.max(start & !(PMD_SIZE - 1));
    block < end && block.checked_add(PMD_SIZE).is_some_and(|e| e <= vma.end())
}

/// `__mm_populate(start, end - start, ignore_errors)`: faults in every VMA
/// part in `[start, end)` as `populate_vma_page_range` would: write faults
/// in writable private VMAs (which need an `anon_vma` first), read faults
/// elsewhere (the huge zero page needs one too). Holes are skipped; `VM_LOCKONFAULT` VMAs are not
/// faulted.
///
/// # Errors
///
/// `EFAULT` for a VMA without any access (`PROT_NONE`), one whose
/// protection key PKRU does not let the access through (execute-only
/// memory), or reaching past the end of its file (where a fault is
/// `SIGBUS`): without
/// `ignore_errors` the walk stops there, with it the walk carries on and
/// succeeds (as `mm_populate` after `mmap` does).
pub(super) fn populate<T: Clone + PartialEq + Send + Sync + 'static>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
    ignore_errors: bool,
) -> Result<(), Errno> {
    let mut nstart = start;
    while nstart < end {
        let Some(vma) = change.find(nstart) else {
            break;
        };
        let (vs, ve, flags) = {
            let v = change.vma(vma);
            (v.start(), v.end(), v.flags())
        };
        if vs >= end {
            break;
        }
        let from = nstart.max(vs);
        let to = ve.min(end);
        nstart = to;
        if flags.intersects(VmFlags::IO | VmFlags::PFNMAP) || flags.contains(VmFlags::LOCKONFAULT) {
            continue;
        }
        // check_vma_flags: GUP refuses a VMA without any access.
        if !flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC) {
            if ignore_errors {
                continue;
            }
            return Err(Errno::EFAULT);
        }
        let write = flags & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE;
        let access = if write { Access::Write } else { Access::Read };
        // ... and GUP's accesses are data accesses, which PKRU may forbid
        // (arch_vma_access_permitted): execute-only memory, or a key
        // without access or write rights.
        if !change.guard().mm().pkeys.access_permitted(flags, access) {
            if ignore_errors {
                continue;
            }
            return Err(Errno::EFAULT);
        }
        let pt = &change.guard().mm().page_table;
        if write || memory::read_maps_huge_zero_page(pt, change.vma(vma), from, to) {
            // A copy-on-write fault prepares the anon_vma before it reads
            // the file page (do_cow_fault), so even past the end of file.
            anon_vma_prepare(change, vma);
        }
        // Fault the pages in, up to the end of the file, past which a
        // fault fails (SIGBUS).
        let v = change.vma(vma);
        let eof = v.file().map_or(to, |file| {
            let pages = file.size().div_ceil(PAGE_SIZE).saturating_sub(v.pgoff());
            vs.saturating_add(pages.saturating_mul(PAGE_SIZE))
        });
        if from < to.min(eof) {
            let mm = change.guard().mm();
            let _told = mm
                .notifiers
                .invalidate(from, to.min(eof), MmuNotifierEvent::Populate);
            fault_in(mm, v, from, to.min(eof), access);
        }
        if eof < to && !ignore_errors {
            return Err(Errno::EFAULT);
        }
    }
    Ok(())
}
