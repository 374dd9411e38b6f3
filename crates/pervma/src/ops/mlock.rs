//! `mlock` and `munlock`: `VM_LOCKED` on a range.
//!
//! Linux: mm/mlock.c (`do_mlock`, `apply_vma_lock_flags`, `mlock_fixup`,
//! `sys_munlock`), mm/gup.c (`__mm_populate`).
//!
//! pervma models a process allowed to lock memory (`CAP_IPC_LOCK`, as the
//! corpus was recorded as root): `RLIMIT_MEMLOCK` is not checked.

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use super::populate::populate;
use crate::errno::Errno;
use crate::flags::{offset_in_page, VmFlags, PAGE_SIZE};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::Mm;

/// `VM_LOCKED_MASK`.
pub(super) const VM_LOCKED_MASK: VmFlags = VmFlags::LOCKED.union(VmFlags::LOCKONFAULT);

/// The page-aligned range of an `mlock`-family call: the start rounded
/// down, the length rounded up to cover it (`PAGE_ALIGN(len +
/// offset_in_page(start))`, which wraps to 0 for lengths near 2^64).
fn lock_range(start: u64, len: u64) -> (u64, u64) {
    let len = len
        .wrapping_add(offset_in_page(start))
        .wrapping_add(PAGE_SIZE - 1)
        & !(PAGE_SIZE - 1);
    (start & !(PAGE_SIZE - 1), len)
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `mlock(start, len)`: locks every page of the range: sets
    /// `VM_LOCKED` (splitting and merging VMAs as needed), then populates
    /// the range, which gives writable private VMAs an `anon_vma`.
    ///
    /// `start` need not be page-aligned: the range is widened to pages. A
    /// length that wraps to zero once widened (such as `u64::MAX`) locks
    /// nothing and succeeds, as in Linux.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: the range wraps around the address space;
    /// - `ENOMEM`: the range is not fully mapped (VMAs before the hole are
    ///   locked by then), a split would exceed `max_map_count`, or a VMA
    ///   in the range cannot be populated (`PROT_NONE`; it stays
    ///   `VM_LOCKED`, as in Linux).
    pub fn mlock(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        let (start, len) = lock_range(start, len);
        apply_vma_lock_flags(self, start, len, VmFlags::LOCKED)?;
        let mut change = VmaChange::new(self);
        // __mlock_posix_error_return: EFAULT becomes ENOMEM.
        let result = populate(&mut change, start, start + len, false).map_err(|e| match e {
            e if e == Errno::EFAULT => Errno::ENOMEM.because("a VMA in the range cannot be faulted in (no access, or its protection key forbids it); it stays locked"),
            e => e,
        });
        change.commit();
        result
    }

    /// `munlock(start, len)`: clears `VM_LOCKED` on every page of the
    /// range, splitting and merging VMAs as needed. The range is widened
    /// to pages as for [`mlock`](Self::mlock).
    ///
    /// # Errors
    ///
    /// As [`mlock`](Self::mlock), but never for populating.
    pub fn munlock(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        let (start, len) = lock_range(start, len);
        apply_vma_lock_flags(self, start, len, VmFlags::empty())
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::mlock`] under its own write lock.
    pub fn mlock(&self, start: u64, len: u64) -> Result<(), Errno> {
        self.mmap_write_lock().mlock(start, len)
    }

    /// [`MmapWriteGuard::munlock`] under its own write lock.
    pub fn munlock(&self, start: u64, len: u64) -> Result<(), Errno> {
        self.mmap_write_lock().munlock(start, len)
    }
}

/// `apply_vma_lock_flags`: sets the `VM_LOCKED_MASK` bits of every VMA
/// part in `[start, start + len)` to `flags`.
fn apply_vma_lock_flags<T: Payload>(
    guard: &mut MmapWriteGuard<'_, T>,
    start: u64,
    len: u64,
    flags: VmFlags,
) -> Result<(), Errno> {
    let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
    if end == start {
        return Ok(());
    }
    let mut change = VmaChange::new(guard);
    // vma_iter_load: a VMA must contain `start`.
    if change
        .find(start)
        .is_none_or(|v| change.vma(v).start() > start)
    {
        return Err(Errno::ENOMEM);
    }
    let result = change_range_flags(
        &mut change,
        start,
        end,
        Holes::Stop,
        // mlock_fixup: a VM_DROPPABLE VMA is never locked (its pages may
        // go away at any time); it is left as it is, without an error.
        |vma| {
            if vma.flags().contains(VmFlags::DROPPABLE) {
                return Ok(vma.flags());
            }
            Ok((vma.flags() - VM_LOCKED_MASK) | flags)
        },
        |_, _, _, _, _| {},
    );
    change.commit();
    result
}
