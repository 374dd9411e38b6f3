//! Page faults: what an access to an address does, under the per-VMA lock.
//!
//! Linux: arch/x86/mm/fault.c (`do_user_addr_fault`, `access_error`),
//! mm/memory.c (`handle_mm_fault`, `vmf_anon_prepare`, `do_anonymous_page`,
//! `do_cow_fault`, `do_shared_fault`), mm/huge_memory.c
//! (`do_huge_pmd_anonymous_page`: the huge zero page).
//!
//! The fault runs the way x86's `do_user_addr_fault` runs it:
//!
//! 1. `lock_vma_under_rcu`: the VMA, read-locked without `mmap_lock`.
//! 2. The access is checked against the VMA's flags (`SEGV_ACCERR`), the
//!    address against the end of the file (`SIGBUS`).
//! 3. `handle_mm_fault` fills the page-table entry: the zero page, a file
//!    page (read in from the file's contents if the page cache lacks it;
//!    a read error is `SIGBUS`), a new anonymous page, a copy-on-write
//!    copy, or a whole 2 MiB block for a transparent huge page.
//! 4. Below a `VM_GROWSDOWN` VMA (a stack) no VMA is found in step 1:
//!    under `mmap_lock` (`lock_mm_and_find_vma`) the stack grows down to
//!    the address first
//!    ([`MmapWriteGuard::expand_stack`](crate::MmapWriteGuard::expand_stack)),
//!    then the
//!    fault runs as above.
//! 5. A fault that gives the VMA anonymous memory needs its `anon_vma`.
//!    Under a VMA lock `vmf_anon_prepare` may only *try* to take
//!    `mmap_lock` (waiting for it while holding a VMA lock can deadlock
//!    against a writer waiting for that VMA); if the trylock fails the
//!    fault returns `VM_FAULT_RETRY`, drops the VMA lock, counts a
//!    `VMA_LOCK_RETRY`, and runs again under `mmap_read_lock`
//!    (`lock_mm_and_find_vma`), where it may prepare the `anon_vma`
//!    itself. No fault ever loops back to the fast path.

#![deny(unsafe_code)]

use crate::anon_vma::anon_vma_prepare_mmap_read;
use crate::flags::{Access, VmFlags, PAGE_SIZE};
use crate::mem::memory::{self, PteFault};
use crate::mem::pte::PteKind;
use crate::mm::Mm;
use crate::payload::Payload;
use crate::sync::lockdep;
use crate::sync::percpu::this_shard;
use crate::sync::rcu::rcu_read_lock;
use crate::vma::Vma;
use core::convert::Infallible;

/// A fault that the process gets a signal for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultError {
    /// `SIGSEGV` with `SEGV_MAPERR`: no VMA covers the address.
    MapErr,
    /// `SIGSEGV` with `SEGV_ACCERR`: the VMA does not allow the access.
    AccErr,
    /// `SIGSEGV` with `SEGV_PKUERR`: the VMA's protection key does not
    /// allow the access ([`Mm::pkru`]); execute-only memory read.
    PkuErr,
    /// `SIGBUS`: the address is past the end of the mapped file, or the
    /// file's page could not be read from its
    /// [`FileContents`](crate::FileContents) (`VM_FAULT_SIGBUS`).
    Bus,
    /// `VM_FAULT_OOM`: the [`Backend`](crate::Backend) had no memory for
    /// the page (Linux's fault then runs the OOM killer, or gives
    /// `-EFAULT` to a user copy).
    Oom,
}

impl core::fmt::Display for FaultError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FaultError::MapErr => "SIGSEGV (SEGV_MAPERR): no mapping at the address",
            FaultError::AccErr => "SIGSEGV (SEGV_ACCERR): the mapping does not allow the access",
            FaultError::PkuErr => {
                "SIGSEGV (SEGV_PKUERR): the mapping's protection key does not allow the access"
            }
            FaultError::Bus => {
                "SIGBUS: past the end of the mapped file, or its page could not be read"
            }
            FaultError::Oom => "VM_FAULT_OOM: no memory for the page",
        })
    }
}

impl core::error::Error for FaultError {}

/// `VM_FAULT_RETRY`: run the fault again under `mmap_lock`.
pub(crate) struct Retry;

impl<T: Payload> Mm<T> {
    /// Whether this space's thread may make a data access of this kind to
    /// `vma`: the check [`handle_fault`](Mm::handle_fault) makes before it
    /// maps anything (the VMA's protection, and its protection key
    /// against [`Mm::pkru`]).
    #[doc(alias = "arch_vma_access_permitted")]
    pub fn access_permitted(&self, vma: &Vma<T>, access: Access) -> bool {
        access_error(self, vma, access).is_none()
    }

    /// `handle_mm_fault` for a user access to `addr`: `Ok` once the page is
    /// mapped for the access (after Linux's side effects on the VMA), or
    /// the signal the process would get. With a [`Backend`](crate::Backend)
    /// the page is mapped there ([`Backend::install`](crate::Backend::install)),
    /// and [`FaultError::Oom`] says it had no memory for it.
    ///
    /// Follows the deadlock rule: call it without holding any lock of this
    /// `Mm` (it may wait for `mmap_lock`).
    ///
    /// # Panics
    ///
    /// In debug builds with `std`, if this thread holds `mmap_lock` or a
    /// VMA read lock of this `Mm`: that is the deadlock the per-VMA lock
    /// series' reviewers feared, reported instead of hung.
    #[doc(alias = "handle_mm_fault", alias = "do_user_addr_fault")]
    pub fn handle_fault(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        lockdep::check_may_wait(self.lockdep_id(), "handle_fault");
        if let Some(vma) = self.lock_vma_under_rcu(addr) {
            // FAULT_FLAG_VMA_LOCK: vmf_anon_prepare may only try mmap_lock.
            let prepare = |vma: &Vma<T>| {
                let mmap = self.mmap_read_trylock().ok_or(Retry)?;
                anon_vma_prepare_mmap_read(&mmap, vma);
                Ok(())
            };
            match self.handle_mm_fault(&vma, addr, access, prepare) {
                Ok(result) => return result,
                Err(Retry) => {
                    drop(vma);
                    self.events().retry.inc(this_shard());
                }
            }
        }
        // lock_mm_and_find_vma; under mmap_lock nothing retries.
        let mmap = self.mmap_read_lock();
        if mmap.vma_lookup(addr).is_none() {
            // Below a stack, the stack grows (expand_stack_locked, under
            // mmap_lock for write), and the fault starts again; anywhere
            // else there is nothing to fault.
            let stack = mmap.find_vma(addr);
            if !stack.is_some_and(|v| v.flags().contains(VmFlags::GROWSDOWN)) {
                return Err(FaultError::MapErr);
            }
            drop(mmap);
            self.mmap_write_lock()
                .expand_stack(addr)
                .map_err(|_| FaultError::MapErr)?;
            return self.handle_fault(addr, access);
        }
        let vma = mmap.vma_lookup(addr).ok_or(FaultError::MapErr)?;
        let prepare = |vma: &Vma<T>| {
            anon_vma_prepare_mmap_read(&mmap, vma);
            Ok::<(), Infallible>(())
        };
        match self.handle_mm_fault(vma, addr, access, prepare) {
            Ok(result) => result,
            Err(never) => match never {},
        }
    }

    /// The fault proper, on a VMA the caller holds (its read lock or
    /// `mmap_lock`); `vmf_anon_prepare` is what the caller may do to give
    /// the VMA an `anon_vma` when the fault needs one, or the error that
    /// makes the fault give up (`VM_FAULT_RETRY`).
    pub(crate) fn handle_mm_fault<E>(
        &self,
        vma: &Vma<T>,
        addr: u64,
        access: Access,
        mut vmf_anon_prepare: impl FnMut(&Vma<T>) -> Result<(), E>,
    ) -> Result<Result<(), FaultError>, E> {
        if let Some(error) = access_error(self, vma, access) {
            return Ok(Err(error));
        }
        let rcu = rcu_read_lock();
        if beyond_eof(vma, addr) {
            // A guard marker is found in the page table before the file
            // is asked for the page (handle_pte_marker, before do_fault):
            // past the end of the file too, it is SIGSEGV, not SIGBUS.
            // (Inside the file, handle_pte_fault finds it.)
            if self.page_table.get(addr, &rcu).kind() == PteKind::Guard {
                return Ok(Err(FaultError::MapErr));
            }
            if access == Access::Read {
                memory::read_fault_around(self.memory(), vma, addr, &rcu);
            } else if !vma.flags().contains(VmFlags::SHARED) && vma.anon_vma().is_none() {
                // do_cow_fault: vmf_anon_prepare comes before __do_fault
                // finds no page, so the VMA keeps its new anon_vma (which
                // decides later merges) although the fault is SIGBUS.
                vmf_anon_prepare(vma)?;
            }
            return Ok(Err(FaultError::Bus));
        }
        loop {
            match memory::handle_pte_fault(self.memory(), vma, addr, access, &rcu) {
                Ok(()) => return Ok(Ok(())),
                Err(PteFault::Oom) => return Ok(Err(FaultError::Oom)),
                Err(PteFault::Sigbus) => return Ok(Err(FaultError::Bus)),
                // A guard marker: VM_FAULT_SIGSEGV, SEGV_MAPERR.
                Err(PteFault::Guard) => return Ok(Err(FaultError::MapErr)),
                Err(PteFault::NeedsAnonVma) => vmf_anon_prepare(vma)?,
            }
        }
    }
}

/// `access_error` and `bad_area_access_error` on x86-64: the signal a
/// data access to `vma` by `mm`'s thread gets, if any. PKRU is checked
/// first (`SEGV_PKUERR` whatever the VMA allows); then a write needs
/// `VM_WRITE`, and a read any of `VM_READ`, `VM_WRITE` and `VM_EXEC` (the
/// page tables cannot express write-only or execute-only memory; only
/// the execute-only protection key can).
pub(crate) fn access_error<T>(mm: &Mm<T>, vma: &Vma<T>, access: Access) -> Option<FaultError> {
    let flags = vma.flags();
    if !mm.pkeys.access_permitted(flags, access) {
        return Some(FaultError::PkuErr);
    }
    let denied = match access {
        Access::Write => !flags.contains(VmFlags::WRITE),
        Access::Read => !flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC),
    };
    denied.then_some(FaultError::AccErr)
}

/// Whether `addr` maps a page at or past the end of the VMA's file.
pub(crate) fn beyond_eof<T>(vma: &Vma<T>, addr: u64) -> bool {
    vma.file().is_some_and(|file| {
        let pages = file.size().div_ceil(PAGE_SIZE);
        vma.linear_page_index(addr) >= pages
    })
}
