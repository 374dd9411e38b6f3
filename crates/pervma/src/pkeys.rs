//! Memory protection keys: an address space's keys, its execute-only key,
//! and the access-rights register (PKRU) that decides what they allow.
//!
//! Linux: arch/x86/mm/pkeys.c (`__execute_only_pkey`,
//! `__arch_override_mprotect_pkey`), arch/x86/include/asm/pkeys.h
//! (`mm_pkey_alloc`, `mm_pkey_free`, `mm_pkey_is_allocated`),
//! arch/x86/include/asm/pkru.h (`__pkru_allows_read`,
//! `__pkru_allows_write`), arch/x86/include/asm/mmu_context.h
//! (`arch_vma_access_permitted`).
//!
//! On a CPU with protection keys every VMA carries one of 16 keys in its
//! flags (`VM_PKEY_BIT0..3`), and each thread has a register, PKRU, with
//! two bits per key: *access disable* and *write disable*. A data access
//! to a VMA is allowed only if PKRU allows it for the VMA's key, whatever
//! the VMA's protection; instruction fetches ignore keys. Linux uses one
//! key for itself: `mmap` or `mprotect` with exactly `PROT_EXEC` gives the
//! VMA the *execute-only* key, allocated on first use and made
//! access-disabled, so that such memory can be executed but not read.
//!
//! pervma keeps the allocation state per [`Mm`](crate::Mm) (as Linux keeps
//! it in `mm->context`) and one PKRU per `Mm`: the rights of the thread
//! that makes the calls ([`Mm::pkru`](crate::Mm::pkru)), which
//! `pkey_alloc` sets and faults, user copies and populating consult.
//! Without protection keys ([`Arch::X86_64`]) there is one key, 0, which
//! nobody can allocate or name, and PKRU allows everything: exactly
//! Linux's behaviour on such CPUs (the first `pkey_alloc` fails with
//! `EINVAL`, every later one with `ENOSPC`).
//!
//! # Invariants
//!
//! - `allocation_map` and `execute_only_pkey` change only under the
//!   `Mm`'s `mmap_lock` held for write; they are atomics only so that
//!   readers under a read lock need no `unsafe`. Relaxed orderings
//!   suffice: `mmap_lock` orders them.
//! - With protection keys, key 0 starts allocated (implicitly, as in
//!   Linux, which nonetheless lets `pkey_free(0)` free it).

#![deny(unsafe_code)]

use crate::arch::Arch;
use crate::errno::Errno;
use crate::flags::Access;
use crate::flags::{Prot, VmFlags};
use crate::sync::prim::{AtomicU32, Ordering};
use bitflags::bitflags;

bitflags! {
    /// `PKEY_DISABLE_*`: the rights `pkey_alloc` gives a new key in PKRU.
    ///
    /// Unknown bits are kept (`from_bits_retain`) so that
    /// [`pkey_alloc`](crate::MmapWriteGuard::pkey_alloc) can refuse them
    /// with `EINVAL`, as Linux does.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct PkeyRights: u32 {
        /// `PKEY_DISABLE_ACCESS`: no loads or stores.
        const DISABLE_ACCESS = 0x1;
        /// `PKEY_DISABLE_WRITE`: no stores.
        const DISABLE_WRITE = 0x2;
    }
}

/// `PKEY_ACCESS_MASK`.
const PKEY_ACCESS_MASK: u32 = PkeyRights::all().bits();

/// A value of the PKRU register: two bits per key, access-disable
/// (`2 * key`) and write-disable (`2 * key + 1`), as the hardware lays
/// them out.
///
/// ```
/// use pervma::{Access, PkeyRights, Pkru};
/// let mut pkru = Pkru::ALLOW_ALL;
/// pkru.set_rights(3, PkeyRights::DISABLE_WRITE);
/// assert!(pkru.allows(3, Access::Read));
/// assert!(!pkru.allows(3, Access::Write));
/// assert_eq!(pkru.bits(), 0b10 << 6);
/// // A new thread's PKRU: every key but 0 access-disabled.
/// assert!(!Pkru::INIT.allows(1, Access::Read) && Pkru::INIT.allows(0, Access::Write));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pkru(u32);

impl Pkru {
    /// `init_pkru_value`: what a new thread starts with, every key but
    /// key 0 access-disabled.
    pub const INIT: Pkru = Pkru(0x5555_5554);

    /// Every key allows everything.
    pub const ALLOW_ALL: Pkru = Pkru(0);

    /// The register value `bits`.
    pub const fn from_bits(bits: u32) -> Pkru {
        Pkru(bits)
    }

    /// The register value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The rights of `pkey` (0 to 15; other keys have none set).
    pub fn rights(self, pkey: u32) -> PkeyRights {
        match pkey {
            0..=15 => PkeyRights::from_bits_truncate(self.0 >> (2 * pkey)),
            _ => PkeyRights::empty(),
        }
    }

    /// Sets the rights of `pkey` (0 to 15; other keys are ignored), as
    /// `arch_set_user_pkey_access` does.
    pub fn set_rights(&mut self, pkey: u32, rights: PkeyRights) {
        if pkey < 16 {
            let shift = 2 * pkey;
            self.0 = (self.0 & !(PKEY_ACCESS_MASK << shift))
                | ((rights.bits() & PKEY_ACCESS_MASK) << shift);
        }
    }

    /// Whether a data access of this kind to memory with key `pkey` is
    /// allowed (`__pkru_allows_pkey`).
    pub fn allows(self, pkey: u32, access: Access) -> bool {
        let denied = match access {
            Access::Read => PkeyRights::DISABLE_ACCESS,
            Access::Write => PkeyRights::all(),
        };
        !self.rights(pkey).intersects(denied)
    }
}

/// `execute_only_pkey == -1`: none allocated yet.
const NO_KEY: u32 = u32::MAX;

/// An address space's protection-key state (`mm->context`'s
/// `pkey_allocation_map` and `execute_only_pkey`) and the PKRU of the
/// thread that makes its calls.
pub(crate) struct Pkeys {
    arch: Arch,
    /// Bit `k` set: key `k` is allocated (the execute-only key included).
    allocation_map: AtomicU32,
    /// The execute-only key, or [`NO_KEY`].
    execute_only_pkey: AtomicU32,
    /// PKRU.
    pkru: AtomicU32,
}

impl Pkeys {
    /// `init_new_context`: with protection keys, key 0 allocated and no
    /// execute-only key. Without them the context stays zeroed: key 0 is
    /// marked neither allocated nor free, and `execute_only_pkey` reads 0,
    /// so no key can ever be named (see the module docs).
    pub(crate) fn new(arch: Arch) -> Self {
        let (map, exec_only) = if arch.protection_keys {
            (1, NO_KEY)
        } else {
            (0, 0)
        };
        Pkeys {
            arch,
            allocation_map: AtomicU32::new(map),
            execute_only_pkey: AtomicU32::new(exec_only),
            pkru: AtomicU32::new(Pkru::INIT.bits()),
        }
    }

    /// The keys of a child made by `fork`: the same allocation map and
    /// execute-only key (`arch_dup_pkeys`, `mm->context.pkey_allocation_map`)
    /// and the same PKRU (the forking thread's register is copied into
    /// the child's only thread). The caller holds `mmap_lock` for write.
    pub(crate) fn fork(&self) -> Self {
        Pkeys {
            arch: self.arch,
            allocation_map: AtomicU32::new(self.allocation_map.load(Ordering::Relaxed)),
            execute_only_pkey: AtomicU32::new(self.execute_only_pkey.load(Ordering::Relaxed)),
            pkru: AtomicU32::new(self.pkru.load(Ordering::Relaxed)),
        }
    }

    /// PKRU: `rdpkru`, or 0 (everything allowed) without protection keys.
    pub(crate) fn pkru(&self) -> Pkru {
        if self.arch.protection_keys {
            Pkru(self.pkru.load(Ordering::Relaxed))
        } else {
            Pkru::ALLOW_ALL
        }
    }

    /// `wrpkru`.
    pub(crate) fn set_pkru(&self, pkru: Pkru) {
        self.pkru.store(pkru.bits(), Ordering::Relaxed);
    }

    /// `arch_vma_access_permitted` for a data access by this `Mm`'s thread
    /// to a VMA with these flags.
    pub(crate) fn access_permitted(&self, flags: VmFlags, access: Access) -> bool {
        self.pkru().allows(flags.pkey(), access)
    }

    fn map(&self) -> u32 {
        self.allocation_map.load(Ordering::Relaxed)
    }

    fn execute_only(&self) -> u32 {
        self.execute_only_pkey.load(Ordering::Relaxed)
    }

    /// `mm_pkey_is_allocated`: a key `pkey_alloc` returned, or key 0; never
    /// the execute-only key, which no user interface may name.
    pub(crate) fn is_allocated(&self, pkey: i32) -> bool {
        match u32::try_from(pkey) {
            Ok(key) if key < self.arch.max_pkey() && key != self.execute_only() => {
                self.map() & (1 << key) != 0
            }
            _ => false,
        }
    }

    /// `mm_pkey_alloc`: the lowest free key, marked allocated; `None` when
    /// all are taken.
    fn mm_pkey_alloc(&self) -> Option<u32> {
        let all = (1u32 << self.arch.max_pkey()) - 1;
        let map = self.map();
        if map & all == all {
            return None;
        }
        let key = (!map).trailing_zeros();
        self.allocation_map
            .store(map | (1 << key), Ordering::Relaxed);
        Some(key)
    }

    /// `mm_set_pkey_free`.
    fn mm_set_pkey_free(&self, key: u32) {
        self.allocation_map
            .store(self.map() & !(1 << key), Ordering::Relaxed);
    }

    /// `arch_set_user_pkey_access`: sets the rights of `key` in PKRU;
    /// `EINVAL` without protection keys.
    fn set_user_pkey_access(&self, key: u32, rights: PkeyRights) -> Result<(), Errno> {
        if !self.arch.protection_keys {
            return Err(Errno::EINVAL.because("this CPU has no protection keys"));
        }
        let mut pkru = self.pkru();
        pkru.set_rights(key, rights);
        self.set_pkru(pkru);
        Ok(())
    }

    /// `sys_pkey_alloc` after its lock: allocates a key and gives it
    /// `rights` in PKRU. The caller holds `mmap_lock` for write.
    pub(crate) fn pkey_alloc(&self, flags: u32, rights: PkeyRights) -> Result<u32, Errno> {
        if flags != 0 || rights.bits() & !PKEY_ACCESS_MASK != 0 {
            return Err(Errno::EINVAL
                .because("pkey_alloc takes no flags and only PKEY_DISABLE_{ACCESS,WRITE}"));
        }
        let key = self
            .mm_pkey_alloc()
            .ok_or(Errno::ENOSPC.because("every protection key is allocated"))?;
        if let Err(errno) = self.set_user_pkey_access(key, rights) {
            // mm_pkey_free, which refuses what is_allocated does not
            // recognise: without protection keys `execute_only_pkey` reads
            // 0, so key 0 stays marked and every later call finds the map
            // full (ENOSPC).
            let _ = self.pkey_free(key as i32);
            return Err(errno);
        }
        Ok(key)
    }

    /// `mm_pkey_free`. The caller holds `mmap_lock` for write. VMAs that
    /// still carry the key keep it, as in Linux.
    pub(crate) fn pkey_free(&self, pkey: i32) -> Result<(), Errno> {
        // Key 0 too, with protection keys: Linux lets it be freed (and a
        // later pkey_alloc return it), whatever its VMAs.
        if !self.is_allocated(pkey) {
            return Err(
                Errno::EINVAL.because("the key is not allocated (or is the execute-only key)")
            );
        }
        self.mm_set_pkey_free(pkey as u32);
        Ok(())
    }

    /// `__execute_only_pkey`: the execute-only key, allocated on first use
    /// and access-disabled in PKRU whenever PKRU lets it be read; `None`
    /// without protection keys or when no key is left. The caller holds
    /// `mmap_lock` for write.
    pub(crate) fn execute_only_pkey(&self) -> Option<u32> {
        if !self.arch.protection_keys {
            return None;
        }
        let key = match self.execute_only() {
            NO_KEY => {
                let key = self.mm_pkey_alloc()?;
                self.execute_only_pkey.store(key, Ordering::Relaxed);
                key
            }
            key if !self.pkru().allows(key, Access::Read) => return Some(key),
            key => key,
        };
        self.set_user_pkey_access(key, PkeyRights::DISABLE_ACCESS)
            .ok()?;
        Some(key)
    }

    /// The key `do_mmap` gives a new mapping: the execute-only key for
    /// exactly `PROT_EXEC` (where there is one), else 0.
    pub(crate) fn mmap_pkey(&self, prot: Prot) -> u32 {
        if prot == Prot::EXEC {
            self.execute_only_pkey().unwrap_or(0)
        } else {
            0
        }
    }

    /// `__arch_override_mprotect_pkey`: the key a VMA with `flags` gets
    /// from `mprotect` to `prot` with `pkey` (-1 for plain `mprotect`).
    /// The caller holds `mmap_lock` for write.
    pub(crate) fn override_mprotect_pkey(&self, flags: VmFlags, prot: u32, pkey: i32) -> u32 {
        // An explicit pkey_mprotect key is never overridden (it was
        // checked with is_allocated, so it is in 0..16).
        if let Ok(key) = u32::try_from(pkey) {
            return key;
        }
        if prot == Prot::EXEC.bits() {
            if let Some(key) = self.execute_only_pkey().filter(|&k| k > 0) {
                return key;
            }
        } else if self.is_pkey_exec_only(flags) {
            // Leaving PROT_EXEC-only: back to the default key.
            return 0;
        }
        flags.pkey()
    }

    /// `vma_is_pkey_exec_only`.
    fn is_pkey_exec_only(&self, flags: VmFlags) -> bool {
        let access = VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC;
        flags & access == VmFlags::EXEC && flags.pkey() == self.execute_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_protection_keys_alloc_fails_einval_then_enospc() {
        let keys = Pkeys::new(Arch::X86_64);
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Err(Errno::EINVAL));
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Err(Errno::ENOSPC));
        for key in [-1, 0, 1, 15, 16] {
            assert!(!keys.is_allocated(key));
            assert_eq!(keys.pkey_free(key), Err(Errno::EINVAL));
        }
        assert_eq!(keys.execute_only_pkey(), None);
        assert!(keys.access_permitted(VmFlags::EXEC, Access::Read));
    }

    #[test]
    fn execute_only_key_comes_from_the_same_allocator() {
        let keys = Pkeys::new(Arch::X86_64_PKU);
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Ok(1));
        assert_eq!(keys.pkey_alloc(0, PkeyRights::DISABLE_WRITE), Ok(2));
        assert_eq!(keys.execute_only_pkey(), Some(3));
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Ok(4));
        // Not nameable by users, and not readable.
        assert!(!keys.is_allocated(3));
        assert_eq!(keys.pkey_free(3), Err(Errno::EINVAL));
        let exec_only = VmFlags::EXEC.with_pkey(3);
        assert!(!keys.access_permitted(exec_only, Access::Read));
        assert_eq!(keys.override_mprotect_pkey(exec_only, 0x1 | 0x4, -1), 0);
        assert_eq!(keys.override_mprotect_pkey(VmFlags::READ, 0x4, -1), 3);
        assert_eq!(
            keys.override_mprotect_pkey(VmFlags::READ.with_pkey(2), 0x1, -1),
            2
        );
        assert_eq!(keys.override_mprotect_pkey(VmFlags::READ, 0x4, 2), 2);
    }

    #[test]
    fn keys_run_out_and_are_reused_lowest_first() {
        let keys = Pkeys::new(Arch::X86_64_PKU);
        for want in 1..16 {
            assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Ok(want));
        }
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Err(Errno::ENOSPC));
        assert_eq!(keys.execute_only_pkey(), None);
        assert_eq!(keys.pkey_free(7), Ok(()));
        assert_eq!(keys.pkey_free(7), Err(Errno::EINVAL));
        assert_eq!(keys.pkey_alloc(0, PkeyRights::DISABLE_ACCESS), Ok(7));
        // Key 0 can be freed, and comes back first.
        assert_eq!(keys.pkey_free(0), Ok(()));
        assert_eq!(keys.pkey_alloc(0, PkeyRights::empty()), Ok(0));
        assert_eq!(keys.pkru().rights(7), PkeyRights::DISABLE_ACCESS);
        assert_eq!(
            keys.pkey_alloc(1, PkeyRights::empty()),
            Err(Errno::EINVAL),
            "flags"
        );
        assert_eq!(
            keys.pkey_alloc(0, PkeyRights::from_bits_retain(4)),
            Err(Errno::EINVAL),
            "rights"
        );
    }
}
