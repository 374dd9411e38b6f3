//! `brk`: the heap, one anonymous VMA that grows and shrinks at its end.
//!
//! Linux: mm/mmap.c (`sys_brk`, `check_brk_limits`), mm/vma.c
//! (`do_brk_flags`).
//!
//! The heap lies between `start_brk` and the break (`mm->brk`), which
//! `brk(addr)` moves; the call returns the new break, or the old one when
//! it refuses (it never fails with an errno). The rules, in Linux's order:
//!
//! 1. Below `start_brk`: refused (so `brk(0)` asks for the break).
//! 2. The same page-aligned end: only the break moves, nothing is mapped.
//! 3. Shrinking is always allowed if some VMA lies in
//!    `[PAGE_ALIGN(addr), PAGE_ALIGN(brk))`: that range is unmapped
//!    (whatever is there), as `munmap` would. Otherwise it is refused.
//! 4. Growing to `[old, new)`: refused if the range is not one `mmap`
//!    could place there with `MAP_FIXED` (past `TASK_SIZE`, below
//!    `mmap_min_addr`), or if the next VMA starts less than a page above
//!    the new end (its `stack_guard_gap` below it for a `VM_GROWSDOWN`
//!    one), or if a VMA is in the way.
//! 5. Then `do_brk_flags`: the pages are charged to overcommit
//!    (`VM_ACCOUNT`), and the VMA just below extends over them if it is
//!    the heap's (it ends at the old break above `start_brk`) and could
//!    merge with an anonymous `rw-p` accounted mapping there (same flags,
//!    continuous pgoff, no `anon_vma` made by `fork`); else a new VMA
//!    `rw-p` with `VM_ACCOUNT` and pgoff `addr >> PAGE_SHIFT`. Refusals
//!    here (overcommit, `max_map_count`) return the old break too.
//!
//! Not modelled: `RLIMIT_DATA` and `RLIMIT_AS` (`check_data_rlimit`,
//! `may_expand_vm`: pervma models a process without limits, as for
//! `RLIMIT_MEMLOCK`), `CONFIG_COMPAT_BRK` (whose lower bound is the end
//! of the data segment rather than `start_brk`), and `mlockall(MCL_FUTURE)`
//! populating the new heap.

#![deny(unsafe_code)]

use super::merge::{merge_new_range, Proposal};
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::flags::{VmFlags, PAGE_SHIFT, PAGE_SIZE};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::sync::prim::Ordering;
use crate::vma::VmaFields;
use crate::Mm;

/// `stack_guard_gap`: 256 pages below a `VM_GROWSDOWN` VMA.
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// `PAGE_ALIGN`, wrapping to 0 past the top as Linux's does.
fn page_align(addr: u64) -> u64 {
    addr.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl<T> Mm<T> {
    /// `(start_brk, brk)`: where the heap starts and the current break.
    pub fn brk_bounds(&self) -> (u64, u64) {
        (
            self.start_brk.load(Ordering::Relaxed),
            self.brk.load(Ordering::Relaxed),
        )
    }
}

impl<T> MmapWriteGuard<'_, T> {
    /// Sets where the heap starts and the break, as `exec` does
    /// (`mm->start_brk = mm->brk`), without mapping or unmapping anything.
    pub fn set_brk(&mut self, start_brk: u64) {
        let mm = self.mm();
        mm.start_brk.store(start_brk, Ordering::Relaxed);
        mm.brk.store(start_brk, Ordering::Relaxed);
    }
}

impl<T: Payload + Default> MmapWriteGuard<'_, T> {
    /// `brk(addr)`: moves the break to `addr` by Linux's rules (see the
    /// module docs of `ops/brk.rs`, mirrored here): below `start_brk`
    /// refused; shrinking unmaps `[PAGE_ALIGN(addr), PAGE_ALIGN(brk))`
    /// if a VMA is there; growing maps `rw-p` accounted memory, extending
    /// the heap VMA when it can merge, unless a VMA is in the way or less
    /// than a page above the new end, or the range is not mappable, or
    /// overcommit refuses. Returns the new break, or the old one when the
    /// call is refused (`brk` reports no errno). New heap VMAs carry
    /// `T::default()`.
    ///
    /// `RLIMIT_DATA` is not modelled (no limit).
    #[doc(alias = "sys_brk")]
    #[doc(alias = "do_brk_flags")]
    pub fn brk(&mut self, addr: u64) -> u64 {
        let mm = self.mm();
        let (start_brk, origbrk) = mm.brk_bounds();
        if addr < start_brk {
            return origbrk;
        }
        let newbrk = page_align(addr);
        let oldbrk = page_align(origbrk);
        if newbrk == oldbrk {
            mm.brk.store(addr, Ordering::Relaxed);
            return addr;
        }
        if addr <= origbrk {
            // Shrinking: a VMA must lie in [newbrk, oldbrk).
            if self.find_vma(newbrk).is_none_or(|v| v.start() >= oldbrk) {
                return origbrk;
            }
            return match self.munmap(newbrk, oldbrk - newbrk) {
                Ok(()) => {
                    mm.brk.store(addr, Ordering::Relaxed);
                    addr
                }
                Err(_) => origbrk,
            };
        }
        match self.brk_grow(start_brk, oldbrk, newbrk) {
            Ok(()) => {
                mm.brk.store(addr, Ordering::Relaxed);
                addr
            }
            Err(_) => origbrk,
        }
    }

    /// `check_brk_limits`, the gap to the next VMA, and `do_brk_flags`
    /// for `[oldbrk, newbrk)`.
    fn brk_grow(&mut self, start_brk: u64, oldbrk: u64, newbrk: u64) -> Result<(), Errno> {
        let config = self.mm().config;
        let len = newbrk.wrapping_sub(oldbrk);
        // check_brk_limits: get_unmapped_area(MAP_FIXED).
        if newbrk < oldbrk || len > config.task_size || oldbrk > config.task_size - len {
            return Err(Errno::ENOMEM.because("the heap would end past TASK_SIZE"));
        }
        if oldbrk < config.mmap_min_addr {
            return Err(Errno::EPERM.because("the heap is below mmap_min_addr"));
        }
        // The next VMA must start a page above the new end (its guard gap
        // below it for a stack), and nothing may be in the way.
        if let Some(next) = self.find_vma(oldbrk) {
            let gap = if next.flags().contains(VmFlags::GROWSDOWN) {
                STACK_GUARD_GAP
            } else {
                0
            };
            let start_gap = next.start().saturating_sub(gap);
            if newbrk + PAGE_SIZE > start_gap {
                return Err(Errno::ENOMEM.because("the heap would reach the next VMA"));
            }
        }
        // do_brk_flags.
        let flags = VmFlags::READ
            | VmFlags::WRITE
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC
            | VmFlags::ACCOUNT;
        if self.map_count() > config.max_map_count {
            return Err(Errno::ENOMEM.because("max_map_count VMAs already"));
        }
        config.overcommit.vm_enough_memory(len >> PAGE_SHIFT)?;
        let mut change = VmaChange::new(self);
        let payload = T::default();
        let proposal = Proposal {
            start: oldbrk,
            end: newbrk,
            pgoff: oldbrk >> PAGE_SHIFT,
            flags,
            file: None,
            anon_vma: None,
            payload: &payload,
        };
        let mapping = Mapping {
            start: oldbrk,
            end: newbrk,
            flags,
            pgoff: oldbrk >> PAGE_SHIFT,
            file: None,
        };
        // vma_prev_limit(start_brk): only a VMA reaching above start_brk
        // is the heap's, which the new range may extend (just_expand).
        if let Some(backend) = change.guard().mm().backend.as_deref() {
            backend.map(&mapping)?;
        }
        let heap_below = oldbrk > start_brk;
        if heap_below && merge_new_range(&mut change, &proposal).is_some() {
            change.commit();
            return Ok(());
        }
        change.insert(
            VmaFields {
                vm_start: oldbrk,
                vm_end: newbrk,
                vm_pgoff: oldbrk >> PAGE_SHIFT,
                vm_flags: flags,
                vm_file: None,
                anon_vma: None,
            },
            payload,
        );
        change.commit();
        Ok(())
    }
}

impl<T: Payload + Default> Mm<T> {
    /// [`MmapWriteGuard::brk`] under its own write lock.
    ///
    /// ```
    /// use pervma::{Mm, MmConfig};
    /// let heap = 0x60_0000;
    /// let mm: Mm<()> = Mm::with_config(MmConfig::default().with_start_brk(heap));
    /// assert_eq!(mm.brk(0), heap); // below start_brk: the break as it is
    /// assert_eq!(mm.brk(heap + 0x1800), heap + 0x1800); // two pages
    /// assert_eq!(mm.brk(heap + 0x3000), heap + 0x3000); // the same VMA grows
    /// assert_eq!(mm.map_count(), 1);
    /// assert_eq!(mm.brk(heap + 0x1000), heap + 0x1000); // shrinking unmaps
    /// let mmap = mm.mmap_read_lock();
    /// let vma = mmap.vma_lookup(heap).unwrap();
    /// assert_eq!((vma.start(), vma.end()), (heap, heap + 0x1000));
    /// ```
    #[doc(alias = "sys_brk")]
    pub fn brk(&self, addr: u64) -> u64 {
        self.mmap_write_lock().brk(addr)
    }
}
