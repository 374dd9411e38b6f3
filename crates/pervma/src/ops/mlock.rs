//! `mlock`, `mlock2`, `munlock`, `mlockall` and `munlockall`:
//! `VM_LOCKED` (and `VM_LOCKONFAULT`) on a range, on every VMA, and on
//! the mappings to come (`mm->def_flags`).
//!
//! Linux: mm/mlock.c (`do_mlock`, `sys_mlock2`, `apply_vma_lock_flags`,
//! `mlock_fixup`, `sys_munlock`, `apply_mlockall_flags`, `sys_mlockall`,
//! `sys_munlockall`), mm/gup.c (`__mm_populate`,
//! `populate_vma_page_range`, which skips `VM_LOCKONFAULT` VMAs).
//!
//! | call | VMAs get | populated |
//! |---|---|---|
//! | `mlock`, `mlock2(0)` | `VM_LOCKED` | the range |
//! | `mlock2(MLOCK_ONFAULT)` | `VM_LOCKED \| VM_LOCKONFAULT` | nothing |
//! | `mlockall(MCL_CURRENT)` | `VM_LOCKED`, every VMA | every VMA, errors ignored |
//! | `mlockall(MCL_CURRENT \| MCL_ONFAULT)` | `VM_LOCKED \| VM_LOCKONFAULT`, every VMA | nothing |
//! | `mlockall(MCL_FUTURE [\| MCL_ONFAULT])` | new mappings, through `def_flags` | as `MAP_LOCKED` (nothing on fault) |
//! | `munlock`, `munlockall` | neither | |
//!
//! Each `mlockall` replaces the `def_flags` of the one before: without
//! `MCL_FUTURE` it clears them, as `munlockall` does.
//!
//! pervma models a process allowed to lock memory (`CAP_IPC_LOCK`, as the
//! corpus was recorded as root): `RLIMIT_MEMLOCK` is not checked.

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use super::populate::populate;
use crate::errno::Errno;
use crate::flags::{offset_in_page, MlockFlags, MlockallFlags, VmFlags, PAGE_SIZE};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::sync::prim::Ordering;
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
        self.mlock2(start, len, MlockFlags::empty())
    }

    /// `mlock2(start, len, flags)`: [`mlock`](Self::mlock), or with
    /// [`MlockFlags::ONFAULT`] `VM_LOCKED | VM_LOCKONFAULT` and nothing
    /// populated: pages are locked as faults bring them in. A range
    /// locked either way and locked again the other way changes its
    /// `VM_LOCKONFAULT` (splitting and merging), and keeps its pages.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a flag other than `MLOCK_ONFAULT` (before anything
    /// else), then as [`mlock`](Self::mlock).
    #[doc(alias = "do_mlock")]
    pub fn mlock2(&mut self, start: u64, len: u64, flags: MlockFlags) -> Result<(), Errno> {
        if !MlockFlags::all().contains(flags) {
            return Err(Errno::EINVAL.because("mlock2 flags other than MLOCK_ONFAULT"));
        }
        let mut vm_flags = VmFlags::LOCKED;
        if flags.contains(MlockFlags::ONFAULT) {
            vm_flags |= VmFlags::LOCKONFAULT;
        }
        let (start, len) = lock_range(start, len);
        apply_vma_lock_flags(self, start, len, vm_flags)?;
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

    /// `mlockall(flags)`: with [`MlockallFlags::CURRENT`], locks every VMA
    /// of the space (`VM_LOCKED`, with `VM_LOCKONFAULT` if
    /// [`MlockallFlags::ONFAULT`]; VMAs that became alike merge) and then
    /// populates every VMA that is not locked on fault, ignoring errors;
    /// with [`MlockallFlags::FUTURE`], every mapping made from now on is
    /// born locked the same way (`mm->def_flags`), until `munlockall` or
    /// an `mlockall` without `MCL_FUTURE`. VMAs that Linux never locks
    /// (`VM_DROPPABLE`) are left as they are.
    ///
    /// # Errors
    ///
    /// `EINVAL` for no flag, an unknown flag, or `MCL_ONFAULT` alone.
    /// (pervma models a process with `CAP_IPC_LOCK`: never `EPERM` or
    /// `ENOMEM` for `RLIMIT_MEMLOCK`.)
    #[doc(alias = "apply_mlockall_flags")]
    pub fn mlockall(&mut self, flags: MlockallFlags) -> Result<(), Errno> {
        if flags.is_empty()
            || !MlockallFlags::all().contains(flags)
            || flags == MlockallFlags::ONFAULT
        {
            return Err(Errno::EINVAL
                .because("mlockall wants MCL_CURRENT or MCL_FUTURE, with MCL_ONFAULT at most"));
        }
        let onfault = flags.contains(MlockallFlags::ONFAULT);
        let lock = if onfault {
            VM_LOCKED_MASK
        } else {
            VmFlags::LOCKED
        };
        let def = if flags.contains(MlockallFlags::FUTURE) {
            lock
        } else {
            VmFlags::empty()
        };
        set_def_flags(self, def);
        if flags.contains(MlockallFlags::CURRENT) {
            apply_to_every_vma(self, lock);
            let task_size = self.mm().config.task_size;
            let mut change = VmaChange::new(self);
            // mm_populate(0, TASK_SIZE): errors ignored.
            let _ = populate(&mut change, 0, task_size, true);
            change.commit();
        }
        Ok(())
    }

    /// `munlockall()`: unlocks every VMA (splitting nothing, merging
    /// what became alike) and ends `mlockall(MCL_FUTURE)`.
    pub fn munlockall(&mut self) -> Result<(), Errno> {
        set_def_flags(self, VmFlags::empty());
        apply_to_every_vma(self, VmFlags::empty());
        Ok(())
    }
}

/// `mm->def_flags = (mm->def_flags & ~VM_LOCKED_MASK) | lock`.
fn set_def_flags<T: Payload>(guard: &mut MmapWriteGuard<'_, T>, lock: VmFlags) {
    let def = &guard.mm().def_flags;
    // Relaxed: written and read under mmap_lock, which orders them.
    let old = VmFlags::from_bits_retain(def.load(Ordering::Relaxed));
    def.store(((old - VM_LOCKED_MASK) | lock).bits(), Ordering::Relaxed);
}

/// `apply_mlockall_flags`' walk: every VMA's `VM_LOCKED_MASK` bits become
/// `lock` (`mlock_fixup` of the whole VMA, which may merge it with the
/// one before), errors ignored.
fn apply_to_every_vma<T: Payload>(guard: &mut MmapWriteGuard<'_, T>, lock: VmFlags) {
    let task_size = guard.mm().config.task_size;
    let mut change = VmaChange::new(guard);
    // Whole VMAs: no split, so nothing fails but a hole, which is skipped.
    let _ = change_range_flags(
        &mut change,
        0,
        task_size,
        Holes::Skip,
        |vma| {
            if vma.flags().contains(VmFlags::DROPPABLE) {
                return Ok(vma.flags());
            }
            Ok((vma.flags() - VM_LOCKED_MASK) | lock)
        },
        |_, _, _, _, _| {},
    );
    change.commit();
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

    /// [`MmapWriteGuard::mlock2`] under its own write lock.
    pub fn mlock2(&self, start: u64, len: u64, flags: MlockFlags) -> Result<(), Errno> {
        self.mmap_write_lock().mlock2(start, len, flags)
    }

    /// [`MmapWriteGuard::mlockall`] under its own write lock.
    pub fn mlockall(&self, flags: MlockallFlags) -> Result<(), Errno> {
        self.mmap_write_lock().mlockall(flags)
    }

    /// [`MmapWriteGuard::munlockall`] under its own write lock.
    pub fn munlockall(&self) -> Result<(), Errno> {
        self.mmap_write_lock().munlockall()
    }

    /// `mm->def_flags`: the `VmFlags` every new mapping gets
    /// (`VM_LOCKED`, perhaps with `VM_LOCKONFAULT`, after
    /// [`mlockall`](Self::mlockall) with `MCL_FUTURE`; empty otherwise).
    pub fn def_flags(&self) -> VmFlags {
        // A snapshot: it changes only under mmap_lock for write.
        VmFlags::from_bits_retain(self.def_flags.load(Ordering::Relaxed))
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
