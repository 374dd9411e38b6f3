//! Page faults: what an access to an address does, under the per-VMA lock.
//!
//! Linux: arch/x86/mm/fault.c (`do_user_addr_fault`, `access_error`),
//! mm/memory.c (`handle_mm_fault`, `vmf_anon_prepare`, `do_anonymous_page`,
//! `do_cow_fault`, `do_shared_fault`), mm/huge_memory.c
//! (`do_huge_pmd_anonymous_page`: the huge zero page).
//!
//! The fault looks its VMA up with [`Mm::lock_vma`] (the RCU fast path,
//! `mmap_lock` only on contention), checks the access against the VMA's
//! flags, raises `SIGBUS` past the end of a file, and makes sure the VMA has
//! the `anon_vma` its anonymous pages will need. Pages themselves come with
//! the software page table; this module decides what Linux decides about
//! VMAs, which is what `mmscript`'s `touch` observes.
//!
//! Creating an `anon_vma` changes the VMA, which pervma allows only under
//! `mmap_lock` for write with the VMA write-locked. Linux's
//! `vmf_anon_prepare` cannot do it under a VMA lock either: it returns
//! `VM_FAULT_RETRY` and the fault runs again under `mmap_lock`. pervma does
//! the same: it drops the VMA lock (never waiting for `mmap_lock` while
//! holding it), prepares the `anon_vma` under the write lock, counts a
//! `VMA_LOCK_RETRY` and runs the fault again.

#![deny(unsafe_code)]

use crate::flags::{VmFlags, PAGE_SIZE};
use crate::mm::{Mm, VmaChange};
use crate::sync::percpu::this_cpu;
use crate::vma::Vma;

/// The kind of access that faulted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// A fault that the process gets a signal for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultError {
    /// `SIGSEGV` with `SEGV_MAPERR`: no VMA covers the address.
    MapErr,
    /// `SIGSEGV` with `SEGV_ACCERR`: the VMA does not allow the access.
    AccErr,
    /// `SIGBUS`: the address is past the end of the mapped file.
    Bus,
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Mm<T> {
    /// `handle_mm_fault` for a user access to `addr`: `Ok` if the access
    /// may proceed (after Linux's side effects on the VMA), or the signal
    /// the process would get.
    ///
    /// Follows the deadlock rule: call it without holding any lock of this
    /// `Mm` (it may wait for `mmap_lock`).
    pub fn handle_fault(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        loop {
            let vma = self.lock_vma(addr).ok_or(FaultError::MapErr)?;
            if access_error(&vma, access) {
                return Err(FaultError::AccErr);
            }
            if beyond_eof(&vma, addr) {
                return Err(FaultError::Bus);
            }
            if vma.anon_vma().is_some() || !needs_anon_vma(&vma, addr, access) {
                return Ok(());
            }
            // vmf_anon_prepare under a VMA lock: VM_FAULT_RETRY.
            drop(vma);
            self.events().retry.inc(this_cpu());
            let mut mmap = self.mmap_write_lock();
            let mut change = VmaChange::new(&mut mmap);
            if let Some(vma) = change.find(addr).filter(|&v| change.vma(v).start() <= addr) {
                if change.vma(vma).anon_vma().is_none() {
                    crate::ops::anon_vma_prepare(&mut change, vma);
                }
            }
            change.commit();
        }
    }
}

/// `access_error` on x86-64 without protection keys: a write needs
/// `VM_WRITE`; a read is allowed by any of `VM_READ`, `VM_WRITE` and
/// `VM_EXEC` (the page tables cannot express write-only or execute-only).
fn access_error<T>(vma: &Vma<T>, access: Access) -> bool {
    let flags = vma.flags();
    match access {
        Access::Write => !flags.contains(VmFlags::WRITE),
        Access::Read => !flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC),
    }
}

/// Whether `addr` maps a page at or past the end of the VMA's file.
fn beyond_eof<T>(vma: &Vma<T>, addr: u64) -> bool {
    vma.file().is_some_and(|file| {
        let pages = file.size().div_ceil(PAGE_SIZE);
        vma.linear_page_index(addr) >= pages
    })
}

/// Whether serving this fault gives the VMA anonymous memory: a write to a
/// private mapping (a new anonymous page, or a copy of a file page), or a
/// read that Linux serves with the huge zero page.
fn needs_anon_vma<T>(vma: &Vma<T>, addr: u64, access: Access) -> bool {
    match access {
        Access::Write => !vma.flags().contains(VmFlags::SHARED),
        Access::Read => crate::ops::read_fault_maps_huge_zero_page(vma, addr, addr + 1),
    }
}
