//! `PROCMAP_QUERY`: the ioctl on `/proc/pid/maps` that answers "which VMA
//! covers (or follows) this address", without text.
//!
//! Linux: fs/proc/task_mmu.c (`query_matching_vma`, `do_procmap_query`),
//! include/uapi/linux/fs.h (`struct procmap_query`, `enum
//! procmap_query_flags`). Since 6.17 it runs under per-VMA locks
//! (`query_vma_find_by_addr` uses `lock_next_vma`), and so does pervma's.

#![deny(unsafe_code)]

use super::maps::MapsLine;
use crate::errno::Errno;
use crate::flags::{VmFlags, PAGE_SIZE};
use crate::mm::Mm;
use alloc::string::String;
use bitflags::bitflags;

bitflags! {
    /// `enum procmap_query_flags`: what to look for (`query_flags`), and
    /// the permissions of what was found (`vma_flags`, `VMA_*` only).
    ///
    /// Unknown bits can be made with `from_bits_retain`;
    /// [`Mm::procmap_query`] rejects them with `EINVAL`, as the ioctl does.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct ProcmapQueryFlags: u64 {
        /// `PROCMAP_QUERY_VMA_READABLE`: `VM_READ`.
        const VMA_READABLE = 0x01;
        /// `PROCMAP_QUERY_VMA_WRITABLE`: `VM_WRITE`.
        const VMA_WRITABLE = 0x02;
        /// `PROCMAP_QUERY_VMA_EXECUTABLE`: `VM_EXEC`.
        const VMA_EXECUTABLE = 0x04;
        /// `PROCMAP_QUERY_VMA_SHARED`: `VM_MAYSHARE`.
        const VMA_SHARED = 0x08;
        /// `PROCMAP_QUERY_COVERING_OR_NEXT_VMA`: if no matching VMA covers
        /// the address, the first matching one above it.
        const COVERING_OR_NEXT_VMA = 0x10;
        /// `PROCMAP_QUERY_FILE_BACKED_VMA`: only VMAs with a file
        /// (shared anonymous memory counts: it has a shmem file).
        const FILE_BACKED_VMA = 0x20;
    }
}

impl ProcmapQueryFlags {
    /// The `VMA_*` permission bits.
    const VMA_PERMS: ProcmapQueryFlags = ProcmapQueryFlags::VMA_READABLE
        .union(ProcmapQueryFlags::VMA_WRITABLE)
        .union(ProcmapQueryFlags::VMA_EXECUTABLE)
        .union(ProcmapQueryFlags::VMA_SHARED);

    /// The `VMA_*` bits of `flags`.
    fn of_vm_flags(flags: VmFlags) -> ProcmapQueryFlags {
        let mut out = ProcmapQueryFlags::empty();
        out.set(Self::VMA_READABLE, flags.contains(VmFlags::READ));
        out.set(Self::VMA_WRITABLE, flags.contains(VmFlags::WRITE));
        out.set(Self::VMA_EXECUTABLE, flags.contains(VmFlags::EXEC));
        out.set(Self::VMA_SHARED, flags.contains(VmFlags::MAYSHARE));
        out
    }
}

/// The answer of [`Mm::procmap_query`]: the output fields of `struct
/// procmap_query` (the build ID is not modelled).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ProcmapQuery {
    /// `vma_start`.
    pub vma_start: u64,
    /// `vma_end`.
    pub vma_end: u64,
    /// `vma_flags`: the `VMA_*` bits.
    pub vma_flags: ProcmapQueryFlags,
    /// `vma_page_size`: `PAGE_SIZE` (no hugetlb).
    pub vma_page_size: u64,
    /// `vma_offset`: `vm_pgoff << PAGE_SHIFT` for file mappings, else 0.
    pub vma_offset: u64,
    /// `inode`; 0 when anonymous.
    pub inode: u64,
    /// `dev_major`.
    pub dev_major: u32,
    /// `dev_minor`.
    pub dev_minor: u32,
    /// The name `vma_name_addr` would receive (`get_vma_name`), if any.
    pub vma_name: Option<String>,
}

impl ProcmapQuery {
    fn of(line: &MapsLine) -> ProcmapQuery {
        let (dev_major, dev_minor) = line.dev();
        ProcmapQuery {
            vma_start: line.start(),
            vma_end: line.end(),
            vma_flags: ProcmapQueryFlags::of_vm_flags(line.flags()),
            vma_page_size: PAGE_SIZE,
            vma_offset: line.offset(),
            inode: line.inode(),
            dev_major,
            dev_minor,
            vma_name: line.name().map(String::from),
        }
    }
}

impl<T> Mm<T> {
    /// `ioctl(PROCMAP_QUERY)`: the VMA covering `addr` that matches
    /// `flags`, or with [`ProcmapQueryFlags::COVERING_OR_NEXT_VMA`] the
    /// first matching one above it.
    ///
    /// Runs under per-VMA locks, one VMA at a time
    /// ([`Mm::lock_next_vma`]), not `mmap_lock` (which only its fallback
    /// takes).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `flags` has a bit the ioctl does not know.
    /// - `ENOENT`: no VMA matches.
    ///
    /// ```
    /// use pervma::{Errno, MapFlags, Mm, ProcmapQueryFlags as Q, Prot};
    /// let mm: Mm<()> = Mm::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    /// mm.mmap(0x10_0000, 0x2000, Prot::READ, fixed, None, ()).unwrap();
    /// let q = mm.procmap_query(0x10_1000, Q::empty()).unwrap();
    /// assert_eq!((q.vma_start, q.vma_end, q.vma_flags), (0x10_0000, 0x10_2000, Q::VMA_READABLE));
    /// assert_eq!(mm.procmap_query(0x10_1000, Q::VMA_WRITABLE), Err(Errno::ENOENT));
    /// assert_eq!(mm.procmap_query(0, Q::COVERING_OR_NEXT_VMA).unwrap().vma_start, 0x10_0000);
    /// assert_eq!(mm.procmap_query(0, Q::from_bits_retain(0x40)), Err(Errno::EINVAL));
    /// ```
    #[doc(alias = "PROCMAP_QUERY")]
    #[doc(alias = "do_procmap_query")]
    pub fn procmap_query(
        &self,
        addr: u64,
        flags: ProcmapQueryFlags,
    ) -> Result<ProcmapQuery, Errno> {
        if !ProcmapQueryFlags::all().contains(flags) {
            return Err(Errno::EINVAL);
        }
        let or_next = flags.contains(ProcmapQueryFlags::COVERING_OR_NEXT_VMA);
        let perms = flags.intersection(ProcmapQueryFlags::VMA_PERMS);
        let mut addr = addr;
        loop {
            // query_matching_vma, one locked VMA at a time.
            let vma = self.lock_next_vma(addr).ok_or(Errno::ENOENT)?;
            let backed =
                !flags.contains(ProcmapQueryFlags::FILE_BACKED_VMA) || vma.file().is_some();
            let permitted = ProcmapQueryFlags::of_vm_flags(vma.flags()).contains(perms);
            if backed && permitted && (or_next || vma.start() <= addr) {
                return Ok(ProcmapQuery::of(&MapsLine::of(&vma)));
            }
            if !or_next {
                return Err(Errno::ENOENT);
            }
            addr = vma.end();
        }
    }
}
