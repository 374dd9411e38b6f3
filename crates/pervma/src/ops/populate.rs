//! Populating ranges (`MAP_POPULATE`, `MAP_LOCKED`, `mlock`).
//!
//! Linux: mm/gup.c (`__mm_populate`, `populate_vma_page_range`).
//!
//! Populating a range faults its pages in (read faults, or write faults in
//! writable private memory). A write fault in a private mapping needs
//! anonymous memory, so the VMA gets an `anon_vma` first
//! ([`anon_vma_prepare_mmap_write`]); a read fault does not (private
//! anonymous memory reads the zero page), except where Linux maps the huge
//! zero page, which needs one too.

#![deny(unsafe_code)]

use crate::anon_vma::anon_vma_prepare_mmap_write;
use crate::errno::Errno;
use crate::flags::Access;
use crate::flags::{VmFlags, PAGE_SIZE};
use crate::mem::memory::{self, PteFault};
use crate::mm::{Mm, VmaChange};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::sync::rcu::rcu_read_lock;
use crate::vma::Vma;

/// Faults in every page of `[from, to)` of `vma` (`populate_vma_page_range`
/// through GUP): the caller has checked the access and prepared the
/// `anon_vma` it needs. `ENOMEM` if the backend had no memory for a page
/// (GUP's `-ENOMEM` for `VM_FAULT_OOM`), `EFAULT` at a page whose file
/// contents could not be read (`VM_FAULT_SIGBUS`); the pages before it
/// stay.
fn fault_in<T>(mm: &Mm<T>, vma: &Vma<T>, from: u64, to: u64, access: Access) -> Result<(), Errno> {
    let rcu = rcu_read_lock();
    for addr in (from..to).step_by(PAGE_SIZE as usize) {
        match memory::handle_pte_fault(mm.memory(), vma, addr, access, &rcu) {
            Ok(()) => {}
            Err(PteFault::Oom) => {
                return Err(Errno::ENOMEM.because("the backend had no memory for a page"))
            }
            Err(PteFault::Sigbus) => {
                return Err(Errno::EFAULT.because("a page of the file could not be read"))
            }
            Err(PteFault::Guard) => return Err(Errno::EFAULT.because("a guard region")),
            Err(PteFault::NeedsAnonVma) => debug_assert!(false, "populate without an anon_vma"),
        }
    }
    Ok(())
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
/// memory), or reaching past the end of its file or a page of it that
/// could not be read (where a fault is `SIGBUS`); `ENOMEM` when the
/// backend had no memory for a page. Without `ignore_errors` the walk
/// stops there, with it the walk carries on and succeeds (as
/// `mm_populate` after `mmap` does).
pub(super) fn populate<T: Payload>(
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
            anon_vma_prepare_mmap_write(change, vma);
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
            let faulted = fault_in(mm, v, from, to.min(eof), access);
            if faulted.is_err() && !ignore_errors {
                return faulted;
            }
        }
        if eof < to && !ignore_errors {
            return Err(Errno::EFAULT);
        }
    }
    Ok(())
}

/// `madvise_populate` (`MADV_POPULATE_READ`, `MADV_POPULATE_WRITE`):
/// `faultin_page_range` over `[start, end)`, VMA after VMA, with read or
/// write faults as asked (not as the VMA would like: a read of private
/// writable memory maps the zero page).
///
/// # Errors
///
/// `ENOMEM` at a hole (pages before it stay); `EINVAL` for a VMA that
/// does not allow the access (`check_vma_flags`: `VM_WRITE` for a write,
/// `VM_READ` for a read, the protection key, no `VM_IO`/`VM_PFNMAP`);
/// `EFAULT` for a fault that would be a signal (past the end of a file,
/// a guard region).
pub(super) fn populate_madvise<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    end: u64,
    write: bool,
) -> Result<(), Errno> {
    let access = if write { Access::Write } else { Access::Read };
    let mut at = start;
    while at < end {
        let vma = change
            .find(at)
            .filter(|&v| change.vma(v).start() <= at)
            .ok_or(Errno::ENOMEM.because("a hole in the range"))?;
        let (ve, flags) = {
            let v = change.vma(vma);
            (v.end(), v.flags())
        };
        let needed = if write { VmFlags::WRITE } else { VmFlags::READ };
        if !flags.contains(needed)
            || flags.intersects(VmFlags::IO | VmFlags::PFNMAP)
            || !change.guard().mm().pkeys.access_permitted(flags, access)
        {
            return Err(Errno::EINVAL.because("the VMA does not allow the access"));
        }
        let to = ve.min(end);
        let private_write = write && !flags.contains(VmFlags::SHARED);
        let pt = &change.guard().mm().page_table;
        if private_write || memory::read_maps_huge_zero_page(pt, change.vma(vma), at, to) {
            anon_vma_prepare_mmap_write(change, vma);
        }
        let v = change.vma(vma);
        let eof = v.file().map_or(to, |file| {
            let pages = file.size().div_ceil(PAGE_SIZE).saturating_sub(v.pgoff());
            v.start().saturating_add(pages.saturating_mul(PAGE_SIZE))
        });
        let mm = change.guard().mm();
        if at < to.min(eof) {
            let _told = mm
                .notifiers
                .invalidate(at, to.min(eof), MmuNotifierEvent::Populate);
            fault_in(mm, v, at, to.min(eof), access)?;
        }
        if eof < to {
            return Err(Errno::EFAULT.because("past the end of the file"));
        }
        at = to;
    }
    Ok(())
}
