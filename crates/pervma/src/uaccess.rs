//! Copying to and from user memory: `copy_from_user`, `copy_to_user`, the
//! no-fault variants for use under a VMA lock, and the helper that
//! packages the safe way to combine them.
//!
//! Linux: include/linux/uaccess.h, mm/maccess.c
//! (`copy_from_user_nofault`), and the callers the per-VMA lock series
//! converts (binder's page installer, x86 shadow-stack tokens).
//!
//! # Touching user memory while holding mm locks
//!
//! A fault may need `mmap_lock` (for an `anon_vma`, or because the fast
//! path met contention). A thread that holds a VMA read lock and waits for
//! `mmap_lock` can deadlock: a writer holding `mmap_lock` may be waiting in
//! `vma_start_write` for that very VMA. So:
//!
//! - [`Mm::access_read`] / [`Mm::access_write`] fault pages in as needed
//!   and must be called with no lock of the `Mm` held (debug builds with
//!   `std` panic with an explanation otherwise).
//! - [`VmaReadGuard::read_nofault`] / [`VmaReadGuard::write_nofault`] run
//!   under a VMA read lock and never fault or wait: they copy what is
//!   mapped and report the page that is not ([`NoFault`]).
//! - [`Mm::access_vma`] is the pattern that joins the two: lock the VMA,
//!   try the no-fault copy, and on a miss drop the lock, fault the page
//!   in, and try again.

#![deny(unsafe_code)]

use crate::errno::Errno;
use crate::fault::{access_error, FaultError};
use crate::flags::Access;
use crate::mem::memory::{copy_from_page, copy_to_page, PageMiss};
use crate::mem::page::page_chunks;
use crate::mm::{Mm, VmaReadGuard};
use crate::payload::Payload;
use crate::sync::lockdep;
use crate::sync::rcu::rcu_read_lock;
use core::fmt;

/// Where a faulting copy ([`Mm::access_read`], [`Mm::access_write`],
/// [`Mm::access_vma`]) stopped: `copy_{from,to}_user` returning the bytes
/// not copied, and the signal the access would have raised.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UserCopyError {
    /// Bytes copied before the failure.
    pub copied: usize,
    /// The address that could not be accessed.
    pub addr: u64,
    /// What a user access there gets.
    pub fault: FaultError,
}

impl UserCopyError {
    /// The errno a system call returns for it: always `EFAULT`.
    pub fn errno(&self) -> Errno {
        Errno::EFAULT
    }
}

impl fmt::Display for UserCopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EFAULT: user access at {:#x} failed ({}) after {} bytes",
            self.addr, self.fault, self.copied
        )
    }
}

impl core::error::Error for UserCopyError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.fault)
    }
}

/// Why a no-fault copy stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoFaultKind {
    /// The page at `addr` is not mapped for this access (absent, or
    /// copy-on-write pending, or not permitted): fault it in, after
    /// dropping the VMA lock, and try again.
    NotMapped,
    /// `addr` is outside the locked VMA: this VMA lock cannot cover it.
    OutsideVma,
}

/// Where a no-fault copy stopped (`copy_{from,to}_user_nofault` returning
/// non-zero).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NoFault {
    /// Bytes copied before the stop.
    pub copied: usize,
    /// The first address not copied.
    pub addr: u64,
    /// The access that needs a fault there.
    pub access: Access,
    /// Why it stopped.
    pub kind: NoFaultKind,
}

impl fmt::Display for NoFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        match self.kind {
            NoFaultKind::NotMapped => write!(
                f,
                "no-fault {access} stopped at {:#x} after {} bytes: the page needs a fault \
                 (drop the VMA lock, fault it in, retry)",
                self.addr, self.copied
            ),
            NoFaultKind::OutsideVma => write!(
                f,
                "no-fault {access} stopped at {:#x} after {} bytes: outside the locked VMA",
                self.addr, self.copied
            ),
        }
    }
}

impl core::error::Error for NoFault {}

impl<T> VmaReadGuard<'_, T> {
    /// Copies `buf.len()` bytes at `addr` (inside this VMA) out of user
    /// memory without faulting and without waiting for any lock.
    ///
    /// # Errors
    ///
    /// [`NoFault`] at the first page that is not mapped (or not readable),
    /// or at the end of the VMA.
    #[doc(alias = "copy_from_user_nofault")]
    pub fn read_nofault(&self, addr: u64, buf: &mut [u8]) -> Result<(), NoFault> {
        let mm = self.mm();
        self.copy_nofault(addr, buf.len(), Access::Read, |chunk, rcu| {
            copy_from_page(mm.memory(), self, chunk, buf, rcu)
        })
    }

    /// Copies `data` to user memory at `addr` (inside this VMA) without
    /// faulting and without waiting for any lock.
    ///
    /// # Errors
    ///
    /// [`NoFault`] at the first page that is not mapped writably, or at
    /// the end of the VMA.
    #[doc(alias = "copy_to_user_nofault")]
    pub fn write_nofault(&self, addr: u64, data: &[u8]) -> Result<(), NoFault> {
        let mm = self.mm();
        self.copy_nofault(addr, data.len(), Access::Write, |chunk, rcu| {
            copy_to_page(mm.memory(), self, chunk, data, rcu)
        })
    }

    /// Runs `copy` on each page's part of `[addr, addr + len)` while the
    /// pages are mapped, the access permitted and the range in this VMA.
    fn copy_nofault(
        &self,
        addr: u64,
        len: usize,
        access: Access,
        mut copy: impl FnMut(
            crate::mem::page::Chunk,
            &crate::sync::rcu::RcuGuard,
        ) -> Result<(), PageMiss>,
    ) -> Result<(), NoFault> {
        let stop = |copied: usize, kind| NoFault {
            copied,
            addr: addr.wrapping_add(copied as u64),
            access,
            kind,
        };
        if addr < self.start() || addr >= self.end() {
            return Err(stop(0, NoFaultKind::OutsideVma));
        }
        let in_vma = usize::try_from(self.end() - addr).unwrap_or(usize::MAX);
        let (len, clipped) = (len.min(in_vma), len > in_vma);
        if access_error(self.mm(), self, access).is_some() {
            return Err(stop(0, NoFaultKind::NotMapped));
        }
        let rcu = rcu_read_lock();
        for chunk in page_chunks(addr, len) {
            if copy(chunk, &rcu).is_err() {
                return Err(stop(chunk.done, NoFaultKind::NotMapped));
            }
        }
        if clipped {
            return Err(stop(len, NoFaultKind::OutsideVma));
        }
        Ok(())
    }
}

impl<T: Payload> Mm<T> {
    /// `copy_from_user`: copies `buf.len()` bytes of user memory at `addr`
    /// into `buf`, faulting pages in and crossing VMA boundaries.
    ///
    /// Call it without holding any lock of this `Mm`.
    ///
    /// # Errors
    ///
    /// Where the copy stopped (an unmapped or unreadable address, or past
    /// the end of a file) and how much was copied before.
    ///
    /// # Panics
    ///
    /// In debug builds with `std`, if this thread holds a lock of this
    /// `Mm` (the deadlock rule; see the module docs).
    #[doc(alias = "copy_from_user")]
    pub fn access_read(&self, addr: u64, buf: &mut [u8]) -> Result<(), UserCopyError> {
        self.access_user(addr, buf.len(), |vma, at, range| {
            vma.read_nofault(at, &mut buf[range])
        })
    }

    /// `copy_to_user`: copies `data` to user memory at `addr`, faulting
    /// pages in (and breaking copy-on-write) and crossing VMA boundaries.
    ///
    /// Call it without holding any lock of this `Mm`.
    ///
    /// # Errors
    ///
    /// As for [`Mm::access_read`].
    ///
    /// # Panics
    ///
    /// As for [`Mm::access_read`].
    #[doc(alias = "copy_to_user")]
    pub fn access_write(&self, addr: u64, data: &[u8]) -> Result<(), UserCopyError> {
        self.access_user(addr, data.len(), |vma, at, range| {
            vma.write_nofault(at, &data[range])
        })
    }

    /// The safe pattern for touching user memory under a VMA lock: takes
    /// the VMA covering `addr` with [`Mm::lock_vma`], runs `f` on it, and
    /// if `f` stops at a page that needs a fault ([`NoFaultKind::NotMapped`]),
    /// drops the VMA lock, faults that page in with [`Mm::handle_fault`],
    /// and runs `f` again on a freshly locked VMA. `f` may thus run more
    /// than once and should only copy (as the kernel's retry loops do).
    ///
    /// Call it without holding any lock of this `Mm`.
    ///
    /// # Errors
    ///
    /// The signal the fault raised (with `copied` from `f`'s last stop),
    /// `MapErr` if no VMA covers `addr`, and `MapErr` if `f` stops outside
    /// the VMA (the VMA changed under it, or `f` reached past its end).
    ///
    /// # Panics
    ///
    /// As for [`Mm::access_read`].
    pub fn access_vma<R>(
        &self,
        addr: u64,
        mut f: impl FnMut(&VmaReadGuard<'_, T>) -> Result<R, NoFault>,
    ) -> Result<R, UserCopyError> {
        lockdep::check_may_wait(self.lockdep_id(), "access_vma");
        let fail = |copied, addr, fault| UserCopyError {
            copied,
            addr,
            fault,
        };
        loop {
            let vma = self
                .lock_vma(addr)
                .ok_or(fail(0, addr, FaultError::MapErr))?;
            let stop = match f(&vma) {
                Ok(r) => return Ok(r),
                Err(stop) => stop,
            };
            drop(vma);
            if stop.kind == NoFaultKind::OutsideVma {
                return Err(fail(stop.copied, stop.addr, FaultError::MapErr));
            }
            self.handle_fault(stop.addr, stop.access)
                .map_err(|fault| fail(stop.copied, stop.addr, fault))?;
        }
    }

    /// Runs `copy(vma, at, range of the buffer)` for each VMA's part of
    /// `[addr, addr + len)` through [`Mm::access_vma`].
    fn access_user(
        &self,
        addr: u64,
        len: usize,
        mut copy: impl FnMut(&VmaReadGuard<'_, T>, u64, core::ops::Range<usize>) -> Result<(), NoFault>,
    ) -> Result<(), UserCopyError> {
        // access_ok: the whole range must be user addresses.
        let end = addr
            .checked_add(len as u64)
            .filter(|&e| e <= self.config.task_size);
        let Some(end) = end else {
            lockdep::check_may_wait(self.lockdep_id(), "access_user");
            return Err(UserCopyError {
                copied: 0,
                addr,
                fault: FaultError::MapErr,
            });
        };
        let mut at = addr;
        while at < end {
            let done = (at - addr) as usize;
            let step = self
                .access_vma(at, |vma| {
                    let stop = vma.end().min(end);
                    let n = (stop - at) as usize;
                    copy(vma, at, done..done + n).map(|()| n)
                })
                .map_err(|e| UserCopyError {
                    copied: done + e.copied,
                    ..e
                })?;
            at += step as u64;
        }
        Ok(())
    }
}
