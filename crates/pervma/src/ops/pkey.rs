//! `pkey_alloc` and `pkey_free`: the protection keys of an address space.
//! (`pkey_mprotect` is `mprotect`'s, in `mprotect.rs`; the key state and
//! PKRU are `crate::pkeys`.)
//!
//! Linux: mm/mprotect.c (`sys_pkey_alloc`, `sys_pkey_free`).

#![deny(unsafe_code)]

use crate::errno::Errno;
use crate::mm::MmapWriteGuard;
use crate::pkeys::PkeyRights;
use crate::Mm;

impl<T> MmapWriteGuard<'_, T> {
    /// `pkey_alloc(flags, rights)`: allocates the lowest free protection
    /// key and gives it `rights` in this space's PKRU ([`Mm::pkru`]).
    ///
    /// The execute-only key that `mmap` and `mprotect` allocate for
    /// `PROT_EXEC`-only memory comes from the same 16 keys: after two
    /// `pkey_alloc`s it is key 3, and the next `pkey_alloc` returns 4.
    ///
    /// ```
    /// use pervma::{Arch, Errno, Mm, MmConfig, PkeyRights};
    /// let pku: Mm<()> = Mm::with_config(MmConfig::default().with_arch(Arch::X86_64_PKU));
    /// assert_eq!(pku.pkey_alloc(0, PkeyRights::DISABLE_WRITE), Ok(1));
    /// let plain: Mm<()> = Mm::new();
    /// assert_eq!(plain.pkey_alloc(0, PkeyRights::empty()), Err(Errno::EINVAL));
    /// assert_eq!(plain.pkey_alloc(0, PkeyRights::empty()), Err(Errno::ENOSPC));
    /// ```
    ///
    /// # Errors
    ///
    /// `EINVAL` for non-zero `flags` or unknown `rights` bits; `ENOSPC`
    /// when every key is taken. Without protection keys the first call
    /// fails with `EINVAL` and every later one with `ENOSPC`, as Linux's
    /// do on such CPUs (key 0 stays marked after the first attempt).
    pub fn pkey_alloc(&mut self, flags: u32, rights: PkeyRights) -> Result<u32, Errno> {
        self.mm().pkeys.pkey_alloc(flags, rights)
    }

    /// `pkey_free(pkey)`: frees a key that `pkey_alloc` returned. VMAs
    /// that carry it keep it, and PKRU keeps its rights, as in Linux.
    ///
    /// # Errors
    ///
    /// `EINVAL` for the execute-only key or any key that is not allocated.
    /// Key 0 *can* be freed where there are protection keys (Linux has no
    /// check against it, and the next `pkey_alloc` returns 0; in a real
    /// process, restricting key 0 then faults every ordinary access).
    pub fn pkey_free(&mut self, pkey: i32) -> Result<(), Errno> {
        self.mm().pkeys.pkey_free(pkey)
    }
}

impl<T> Mm<T> {
    /// [`MmapWriteGuard::pkey_alloc`] under its own write lock.
    pub fn pkey_alloc(&self, flags: u32, rights: PkeyRights) -> Result<u32, Errno> {
        self.mmap_write_lock().pkey_alloc(flags, rights)
    }

    /// [`MmapWriteGuard::pkey_free`] under its own write lock.
    pub fn pkey_free(&self, pkey: i32) -> Result<(), Errno> {
        self.mmap_write_lock().pkey_free(pkey)
    }
}
