//! The flag sets of the memory-map API, with Linux's values.
//!
//! Linux: include/linux/mm.h (`VM_*`), include/uapi/asm-generic/mman*.h
//! (`PROT_*`, `MAP_*`).

#![deny(unsafe_code)]

use bitflags::bitflags;

/// `PAGE_SIZE`: pervma models 4 KiB pages.
pub const PAGE_SIZE: u64 = 4096;
/// `PAGE_SHIFT`.
pub const PAGE_SHIFT: u32 = 12;
/// `PMD_SIZE`: the size of a transparent huge page.
pub(crate) const PMD_SIZE: u64 = 2 << 20;

/// `VM_ACCESS_FLAGS`.
pub(crate) const VM_ACCESS_FLAGS: VmFlags =
    VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::EXEC);

bitflags! {
    /// `vm_flags`: what a VMA allows and how it behaves.
    ///
    /// The `MAY*` bits say what `mprotect` may later grant; `ACCOUNT` marks
    /// memory charged against the commit limit; the rest are the advice and
    /// locking state that `madvise` and `mlock` set.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct VmFlags: u64 {
        /// `VM_READ`.
        const READ = 0x1;
        /// `VM_WRITE`.
        const WRITE = 0x2;
        /// `VM_EXEC`.
        const EXEC = 0x4;
        /// `VM_SHARED`.
        const SHARED = 0x8;
        /// `VM_MAYREAD`.
        const MAYREAD = 0x10;
        /// `VM_MAYWRITE`.
        const MAYWRITE = 0x20;
        /// `VM_MAYEXEC`.
        const MAYEXEC = 0x40;
        /// `VM_MAYSHARE`.
        const MAYSHARE = 0x80;
        /// `VM_GROWSDOWN`.
        const GROWSDOWN = 0x100;
        /// `VM_UFFD_MISSING`.
        const UFFD_MISSING = 0x200;
        /// `VM_PFNMAP`.
        const PFNMAP = 0x400;
        /// `VM_UFFD_WP`.
        const UFFD_WP = 0x1000;
        /// `VM_LOCKED`.
        const LOCKED = 0x2000;
        /// `VM_IO`.
        const IO = 0x4000;
        /// `VM_SEQ_READ`.
        const SEQ_READ = 0x8000;
        /// `VM_RAND_READ`.
        const RAND_READ = 0x10000;
        /// `VM_DONTCOPY`.
        const DONTCOPY = 0x20000;
        /// `VM_DONTEXPAND`.
        const DONTEXPAND = 0x40000;
        /// `VM_LOCKONFAULT`.
        const LOCKONFAULT = 0x80000;
        /// `VM_ACCOUNT`.
        const ACCOUNT = 0x100000;
        /// `VM_NORESERVE`.
        const NORESERVE = 0x200000;
        /// `VM_HUGETLB`.
        const HUGETLB = 0x400000;
        /// `VM_WIPEONFORK`.
        const WIPEONFORK = 0x2000000;
        /// `VM_DONTDUMP`.
        const DONTDUMP = 0x4000000;
        /// `VM_SOFTDIRTY`.
        const SOFTDIRTY = 0x8000000;
        /// `VM_HUGEPAGE`.
        const HUGEPAGE = 0x20000000;
        /// `VM_NOHUGEPAGE`.
        const NOHUGEPAGE = 0x40000000;
        /// `VM_MERGEABLE`: KSM may merge the VMA's pages (`MADV_MERGEABLE`).
        const MERGEABLE = 0x80000000;
        /// `VM_PKEY_BIT0` (`VM_HIGH_ARCH_0`): the VMA's protection key is
        /// the four `VM_PKEY_BIT*` bits (x86-64 with protection keys).
        const PKEY_BIT0 = 1 << 32;
        /// `VM_PKEY_BIT1`.
        const PKEY_BIT1 = 1 << 33;
        /// `VM_PKEY_BIT2`.
        const PKEY_BIT2 = 1 << 34;
        /// `VM_PKEY_BIT3`.
        const PKEY_BIT3 = 1 << 35;
        /// `VM_DROPPABLE` (64-bit only): pages the kernel may drop
        /// instead of swapping them (`MAP_DROPPABLE`).
        const DROPPABLE = 1 << 40;
        /// `VM_SEALED` (64-bit only, `VM_SEALED_BIT` 42): `mseal` has
        /// sealed the VMA; it cannot be unmapped, moved, reprotected or
        /// have its read-only anonymous memory discarded (Linux:
        /// mm/mseal.c, `vma_is_sealed`).
        const SEALED = 1 << 42;
    }
}

impl VmFlags {
    /// `ARCH_VM_PKEY_FLAGS`: the bits that hold the protection key.
    pub const PKEY_MASK: VmFlags = VmFlags::PKEY_BIT0
        .union(VmFlags::PKEY_BIT1)
        .union(VmFlags::PKEY_BIT2)
        .union(VmFlags::PKEY_BIT3);

    /// The `VM_READ | VM_WRITE | VM_EXEC` bits for `prot` (`calc_vm_prot_bits`).
    pub const fn from_prot(prot: Prot) -> VmFlags {
        VmFlags::from_bits_truncate(prot.bits() as u64)
    }

    /// The access bits as a protection: `VM_READ | VM_WRITE | VM_EXEC` to
    /// `PROT_READ | PROT_WRITE | PROT_EXEC`.
    ///
    /// ```
    /// use pervma::{Prot, VmFlags};
    /// let flags = VmFlags::READ | VmFlags::EXEC | VmFlags::MAYREAD;
    /// assert_eq!(flags.prot(), Prot::READ | Prot::EXEC);
    /// ```
    pub const fn prot(self) -> Prot {
        Prot::from_bits_truncate((self.bits() & 0x7) as u32)
    }

    /// The protection key (`vma_pkey`): 0 unless the address space has
    /// protection keys and a key was given to the VMA.
    #[doc(alias = "vma_pkey")]
    pub const fn pkey(self) -> u32 {
        ((self.bits() & VmFlags::PKEY_MASK.bits()) >> 32) as u32
    }

    /// These flags with protection key `pkey` (0 to 15) in place of their
    /// own (`arch_calc_vm_prot_bits`).
    pub(crate) const fn with_pkey(self, pkey: u32) -> VmFlags {
        let key = VmFlags::from_bits_truncate(((pkey & 0xf) as u64) << 32);
        self.difference(VmFlags::PKEY_MASK).union(key)
    }

    /// The two-letter names that `/proc/pid/smaps` prints on its
    /// `VmFlags:` line for these flags, lowest bit first
    /// (`show_smap_vma_flags` in fs/proc/task_mmu.c).
    ///
    /// ```
    /// use pervma::VmFlags;
    /// let f = VmFlags::READ | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::ACCOUNT;
    /// assert_eq!(f.smaps_mnemonics().collect::<Vec<_>>(), ["rd", "mr", "mw", "ac"]);
    /// ```
    pub fn smaps_mnemonics(self) -> impl Iterator<Item = &'static str> {
        SMAPS_MNEMONICS
            .iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|&(_, name)| name)
    }
}

/// `show_smap_vma_flags`' table, for the flags pervma models, by bit.
const SMAPS_MNEMONICS: [(VmFlags, &str); 30] = [
    (VmFlags::READ, "rd"),
    (VmFlags::WRITE, "wr"),
    (VmFlags::EXEC, "ex"),
    (VmFlags::SHARED, "sh"),
    (VmFlags::MAYREAD, "mr"),
    (VmFlags::MAYWRITE, "mw"),
    (VmFlags::MAYEXEC, "me"),
    (VmFlags::MAYSHARE, "ms"),
    (VmFlags::GROWSDOWN, "gd"),
    (VmFlags::UFFD_MISSING, "um"),
    (VmFlags::PFNMAP, "pf"),
    (VmFlags::UFFD_WP, "uw"),
    (VmFlags::LOCKED, "lo"),
    (VmFlags::IO, "io"),
    (VmFlags::SEQ_READ, "sr"),
    (VmFlags::RAND_READ, "rr"),
    (VmFlags::DONTCOPY, "dc"),
    (VmFlags::DONTEXPAND, "de"),
    (VmFlags::LOCKONFAULT, "lf"),
    (VmFlags::ACCOUNT, "ac"),
    (VmFlags::NORESERVE, "nr"),
    (VmFlags::HUGETLB, "ht"),
    (VmFlags::WIPEONFORK, "wf"),
    (VmFlags::DONTDUMP, "dd"),
    (VmFlags::SOFTDIRTY, "sd"),
    (VmFlags::HUGEPAGE, "hg"),
    (VmFlags::NOHUGEPAGE, "nh"),
    (VmFlags::MERGEABLE, "mg"),
    (VmFlags::DROPPABLE, "dp"),
    (VmFlags::SEALED, "sl"),
];

bitflags! {
    /// `PROT_*`: the access a mapping grants.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct Prot: u32 {
        /// `PROT_READ`.
        const READ = 0x1;
        /// `PROT_WRITE`.
        const WRITE = 0x2;
        /// `PROT_EXEC`.
        const EXEC = 0x4;
    }
}

impl Prot {
    /// `PROT_NONE`.
    pub const NONE: Prot = Prot::empty();
    /// `PROT_GROWSDOWN`: [`mprotect`](crate::MmapWriteGuard::mprotect)
    /// extends the range down to the start of the `VM_GROWSDOWN` VMA it
    /// starts in (`EINVAL` if that VMA does not grow down). Not a
    /// protection: outside [`Prot::all`].
    pub const GROWSDOWN: Prot = Prot::from_bits_retain(0x0100_0000);
    /// `PROT_GROWSUP`: `EINVAL` on x86-64, which has no VMAs that grow up.
    pub const GROWSUP: Prot = Prot::from_bits_retain(0x0200_0000);
}

bitflags! {
    /// `MAP_*`: how `mmap` places and backs a mapping.
    ///
    /// The mapping type, `flags & MAP_TYPE` ([`MapFlags::TYPE`], 0x0f), is
    /// one value, not a set of bits: `SHARED`, `SHARED_VALIDATE`
    /// (`SHARED` that refuses unknown flags), `PRIVATE`, or, for
    /// anonymous memory only, `DROPPABLE`; anything else is `EINVAL`, as
    /// for Linux. Whether the mapping is anonymous is said by the `file`
    /// argument of [`mmap`](crate::MmapWriteGuard::mmap), so `ANONYMOUS`
    /// is accepted but not needed. Bits pervma does not name are kept
    /// (`from_bits_retain`) and ignored, except by `SHARED_VALIDATE`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct MapFlags: u32 {
        /// `MAP_SHARED`.
        const SHARED = 0x01;
        /// `MAP_PRIVATE`.
        const PRIVATE = 0x02;
        /// `MAP_SHARED_VALIDATE`: `MAP_SHARED`, but flags outside
        /// `LEGACY_MAP_MASK` fail with `EOPNOTSUPP` instead of being
        /// ignored.
        const SHARED_VALIDATE = 0x03;
        /// `MAP_DROPPABLE`: private anonymous memory whose pages may be
        /// dropped (`VM_DROPPABLE`), never reserved, wiped on fork and
        /// left out of core dumps.
        const DROPPABLE = 0x08;
        /// `MAP_FIXED`: place at `addr`, replacing what is there.
        const FIXED = 0x10;
        /// `MAP_ANONYMOUS`.
        const ANONYMOUS = 0x20;
        /// `MAP_GROWSDOWN`: a stack (`VM_GROWSDOWN`), which grows down
        /// to a faulting address below it.
        const GROWSDOWN = 0x100;
        /// `MAP_LOCKED`: `VM_LOCKED`.
        const LOCKED = 0x2000;
        /// `MAP_NORESERVE`: no `VM_ACCOUNT`, `VM_NORESERVE`.
        const NORESERVE = 0x4000;
        /// `MAP_POPULATE`: fault the range in.
        const POPULATE = 0x8000;
        /// `MAP_STACK`: a thread stack; since Linux 6.7 `VM_NOHUGEPAGE`.
        const STACK = 0x20000;
        /// `MAP_FIXED_NOREPLACE`: place at `addr`, or fail with `EEXIST`.
        const FIXED_NOREPLACE = 0x100000;
    }
}

bitflags! {
    /// `MLOCK_*`: the flags of [`mlock2`](crate::MmapWriteGuard::mlock2).
    ///
    /// Unknown bits are kept (`from_bits_retain`) so that `mlock2` can
    /// refuse them with `EINVAL`, as Linux does.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct MlockFlags: u32 {
        /// `MLOCK_ONFAULT`: lock pages as they are faulted in
        /// (`VM_LOCKONFAULT`), populate nothing now.
        const ONFAULT = 0x1;
    }
}

bitflags! {
    /// `MCL_*`: the flags of [`mlockall`](crate::MmapWriteGuard::mlockall).
    ///
    /// Unknown bits are kept (`from_bits_retain`) so that `mlockall` can
    /// refuse them with `EINVAL`, as Linux does.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct MlockallFlags: u32 {
        /// `MCL_CURRENT`: lock every mapping there is.
        const CURRENT = 0x1;
        /// `MCL_FUTURE`: lock every mapping made from now on
        /// (`mm->def_flags`).
        const FUTURE = 0x2;
        /// `MCL_ONFAULT`: with either, lock on fault (`VM_LOCKONFAULT`).
        const ONFAULT = 0x4;
    }
}

bitflags! {
    /// `MREMAP_*`: whether and where [`mremap`](crate::MmapWriteGuard::mremap)
    /// may move a mapping.
    ///
    /// Unknown bits are kept (`from_bits_retain`) so that `mremap` can
    /// refuse them with `EINVAL`, as Linux does.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct MremapFlags: u32 {
        /// `MREMAP_MAYMOVE`: move the mapping if it cannot grow in place.
        const MAYMOVE = 0x1;
        /// `MREMAP_FIXED`: move it to the given address, replacing what is
        /// there (needs `MAYMOVE`).
        const FIXED = 0x2;
        /// `MREMAP_DONTUNMAP`: move it but leave the old range mapped,
        /// empty (needs `MAYMOVE` and equal lengths).
        const DONTUNMAP = 0x4;
    }
}

impl MapFlags {
    /// `MAP_TYPE` (0x0f): the mask of the mapping type, a value among
    /// `SHARED`, `PRIVATE`, `SHARED_VALIDATE` and `DROPPABLE`.
    pub const TYPE: MapFlags = MapFlags::from_bits_retain(0x0f);
}

/// The kind of a data access to user memory: what faults, user copies,
/// populating and protection keys check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// `PAGE_ALIGN`: `len` rounded up to a page, or `None` on overflow.
pub(crate) const fn page_align(len: u64) -> Option<u64> {
    match len.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// `offset_in_page`.
pub(crate) const fn offset_in_page(addr: u64) -> u64 {
    addr & (PAGE_SIZE - 1)
}
