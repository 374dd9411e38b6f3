//! Stacks: `VM_GROWSDOWN` VMAs that grow down to a faulting address below
//! them, and the guard gap kept below them.
//!
//! Linux: mm/mmap.c (`expand_stack_locked`, `expand_downwards`,
//! `acct_stack_growth`, `stack_guard_gap`), mm/mmap_lock.c
//! (`lock_mm_and_find_vma`), include/linux/mm.h (`vm_start_gap`).
//!
//! A fault below a VMA finds no VMA under the per-VMA lock, so it takes
//! `mmap_lock` (`lock_mm_and_find_vma`): if the first VMA above the
//! address grows down, the fault upgrades to `mmap_lock` for write and
//! [`expand_stack`](MmapWriteGuard::expand_stack) moves that VMA's start
//! down to the address's page, then faults as usual (the access is
//! checked after the growth, so a store below a read-only stack grows it
//! and then gets `SIGSEGV`). The growth is refused (`SIGSEGV`) when the
//! address is below `mmap_min_addr`, within [`STACK_GUARD_GAP`] above an
//! accessible VMA that does not grow down itself, past `RLIMIT_STACK`
//! ([`MmConfig::rlimit_stack`](crate::MmConfig)) in all, or when the
//! overcommit policy refuses the new pages.
//!
//! Placement keeps the gap too: a mapping whose address is chosen
//! (`get_unmapped_area`) never ends within [`STACK_GUARD_GAP`] below a
//! VMA that grows down (`vm_start_gap`); `MAP_FIXED` goes where it is
//! told.

#![deny(unsafe_code)]

use crate::anon_vma::anon_vma_prepare_mmap_write;
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::flags::{VmFlags, PAGE_SHIFT, PAGE_SIZE, VM_ACCESS_FLAGS};
use crate::mm::{MmapWriteGuard, VmaChange, VmaPtr};
use crate::payload::Payload;
use crate::vma::Vma;

/// `stack_guard_gap`: 256 pages (1 MiB), Linux's default (the
/// `stack_guard_gap=` boot parameter changes it there, not here).
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// `vm_start_gap`: where `vma`'s start is for placement, its guard gap
/// below it if it grows down (0 if that would wrap).
pub(super) fn vm_start_gap<T>(vma: &Vma<T>) -> u64 {
    if vma.flags().contains(VmFlags::GROWSDOWN) {
        vma.start().saturating_sub(STACK_GUARD_GAP)
    } else {
        vma.start()
    }
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `expand_stack_locked(vma, addr)`: if the first VMA above `addr`
    /// grows down (`VM_GROWSDOWN`), moves its start down to `addr`'s page,
    /// as a fault at `addr` does ([`Mm::handle_fault`](crate::Mm)). An
    /// `addr` inside a VMA changes nothing. The VMA gets an `anon_vma`
    /// first (once the guard gap allows the growth, even if a later check
    /// refuses it), and its page offset follows its start; the new pages
    /// are empty, and a [`Backend`](crate::Backend) maps them
    /// ([`grow_down`](crate::Backend::grow_down)).
    ///
    /// # Errors
    ///
    /// As `expand_downwards`: `EFAULT` if there is no VMA above, or it
    /// does not grow down; `EPERM` below `mmap_min_addr`; `ENOMEM` within
    /// [`STACK_GUARD_GAP`] above an accessible VMA that does not grow
    /// down, for a VMA larger than `RLIMIT_STACK`
    /// ([`MmConfig::rlimit_stack`](crate::MmConfig)) after the growth,
    /// when the overcommit policy refuses the new pages, or when the
    /// backend cannot map them.
    #[doc(alias = "expand_downwards", alias = "expand_stack_locked")]
    pub fn expand_stack(&mut self, addr: u64) -> Result<(), Errno> {
        let mut change = VmaChange::new(self);
        let Some(vma) = change.find(addr) else {
            return Err(Errno::EFAULT.because("no VMA above the address"));
        };
        if change.vma(vma).start() <= addr {
            return Ok(());
        }
        let result = expand_downwards(&mut change, vma, addr);
        change.commit();
        result
    }
}

/// `expand_downwards(vma, addr)` for `addr` below `vma`.
fn expand_downwards<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
    addr: u64,
) -> Result<(), Errno> {
    let config = change.guard().mm().config;
    if !change.vma(vma).flags().contains(VmFlags::GROWSDOWN) {
        return Err(Errno::EFAULT.because("the VMA above does not grow down"));
    }
    let address = addr & !(PAGE_SIZE - 1);
    if address < config.mmap_min_addr {
        return Err(Errno::EPERM.because("below mmap_min_addr"));
    }
    // Enforce stack_guard_gap: the VMA just below (the highest one that
    // ends within the gap, if any) must not be an accessible non-stack.
    let prev = change
        .overlapping(address.saturating_sub(STACK_GUARD_GAP), address)
        .last();
    if let Some(prev) = prev {
        let flags = change.vma(prev).flags();
        if !flags.contains(VmFlags::GROWSDOWN) && flags.intersects(VM_ACCESS_FLAGS) {
            return Err(Errno::ENOMEM.because("within stack_guard_gap above another mapping"));
        }
    }
    // "We must make sure the anon_vma is allocated."
    anon_vma_prepare_mmap_write(change, vma);
    let (start, end, pgoff, flags) = {
        let v = change.vma(vma);
        (v.start(), v.end(), v.pgoff(), v.flags())
    };
    let size = end - address;
    let grow = (start - address) >> PAGE_SHIFT;
    if grow > pgoff {
        return Err(Errno::ENOMEM.because("the page offset would go below 0"));
    }
    // acct_stack_growth: RLIMIT_AS is not modelled, RLIMIT_MEMLOCK is no
    // limit for a process with CAP_IPC_LOCK.
    if size > config.rlimit_stack {
        return Err(Errno::ENOMEM.because("the stack would exceed RLIMIT_STACK"));
    }
    config.overcommit.vm_enough_memory(grow)?;
    if let Some(backend) = change.guard().mm().backend.as_deref() {
        backend.grow_down(&Mapping {
            start: address,
            end: start,
            flags,
            pgoff: pgoff - grow,
            file: None,
        })?;
    }
    change.update(vma, |f, _| {
        f.vm_start = address;
        f.vm_pgoff -= grow;
    });
    Ok(())
}
