//! `mseal`: sealing VMAs against changes.
//!
//! Linux: mm/mseal.c (`do_mseal`, `range_contains_unmapped`,
//! `mseal_apply`), and the checks of `vma_is_sealed` where the sealed
//! operations are: `vms_gather_munmap_vmas` (`munmap`, `mmap(MAP_FIXED)`,
//! `mremap`'s unmapping), `mprotect_fixup`, `check_prep_vma` (`mremap`),
//! `can_madvise_modify` (`madvise`).
//!
//! A sealed VMA carries `VM_SEALED`, a flag like the others: sealing part
//! of a VMA splits it, and sealed neighbours with equal flags merge. From
//! then on `munmap`, `mmap(MAP_FIXED)` over it, `mremap` of it or onto it,
//! `mprotect`/`pkey_mprotect` of it and the `madvise` advice that discards
//! data of read-only anonymous memory fail with `EPERM`. Each of those
//! checks VMA by VMA where Linux 6.18 does: an `mprotect` or `madvise`
//! over an unsealed VMA and then a sealed one changes the first and fails
//! at the second; `munmap` and `mmap(MAP_FIXED)` unmap nothing but keep
//! the split of an unsealed first VMA at the range's start. Nothing
//! unseals.

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use crate::errno::Errno;
use crate::flags::{offset_in_page, page_align, VmFlags};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::Mm;

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `mseal(start, len, flags)`: seals every VMA part in `[start, start
    /// + PAGE_ALIGN(len))` (see the module docs for what that refuses).
    /// Sealing sealed memory again succeeds; `len == 0` succeeds.
    ///
    /// # Errors
    ///
    /// In Linux's order, all before anything changes:
    /// - `EINVAL`: `flags` is not 0, `start` is not page-aligned, or the
    ///   range wraps around;
    /// - `ENOMEM`: part of the range is not mapped (nothing is sealed);
    /// - `ENOMEM`: a split would exceed `max_map_count` (the VMAs before
    ///   it are sealed).
    pub fn mseal(&mut self, start: u64, len: u64, flags: u64) -> Result<(), Errno> {
        if flags != 0 {
            return Err(Errno::EINVAL.because("mseal takes no flags"));
        }
        if offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_align(len)
            .and_then(|len| start.checked_add(len))
            .ok_or(Errno::EINVAL.because("the range wraps around"))?;
        if end == start {
            return Ok(());
        }
        // range_contains_unmapped.
        let mut at = start;
        for vma in self.vmas_from(start) {
            if vma.start() >= end {
                break;
            }
            if vma.start() > at {
                break;
            }
            at = vma.end();
        }
        if at < end {
            return Err(Errno::ENOMEM.because("a hole in the range"));
        }
        let mut change = VmaChange::new(self);
        let result = change_range_flags(
            &mut change,
            start,
            end,
            Holes::Stop,
            |vma| Ok(vma.flags() | VmFlags::SEALED),
            |_, _, _, _, _| {},
        );
        change.commit();
        result
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::mseal`] under its own write lock.
    pub fn mseal(&self, start: u64, len: u64, flags: u64) -> Result<(), Errno> {
        self.mmap_write_lock().mseal(start, len, flags)
    }
}
