//! `mmap`: placing and creating a mapping.
//!
//! Linux: mm/mmap.c (`do_mmap`, `__get_unmapped_area`), mm/vma.c
//! (`__mmap_region`), arch/x86/kernel/sys_x86_64.c
//! (`arch_get_unmapped_area_topdown`).

#![deny(unsafe_code)]

use super::merge::{merge_new_range, Proposal};
use super::munmap::{gather_and_abort, gather_sealed, unmap_range};
use super::populate::populate;
use super::stack::vm_start_gap;
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::file::File;
use crate::flags::{
    offset_in_page, page_align, MapFlags, Prot, VmFlags, PAGE_SHIFT, PAGE_SIZE, PMD_SIZE,
};
use crate::mm::{MmapWriteGuard, Overcommit, VmaChange};
use crate::payload::Payload;
use crate::vma::VmaFields;
use crate::Mm;
use alloc::sync::Arc;
use core::fmt;

/// A failed [`mmap`](MmapWriteGuard::mmap): the errno, and the payload it
/// was given, handed back.
pub struct MmapError<T> {
    /// Why it failed.
    pub errno: Errno,
    /// The payload the call took.
    pub payload: T,
}

impl<T> From<MmapError<T>> for Errno {
    fn from(e: MmapError<T>) -> Errno {
        e.errno
    }
}

impl<T> fmt::Debug for MmapError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MmapError({})", self.errno.name())
    }
}

impl<T> fmt::Display for MmapError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mmap: {}", self.errno)
    }
}

impl<T> core::error::Error for MmapError<T> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.errno)
    }
}

/// What `do_mmap` decided, before anything is changed.
struct MmapPlan {
    addr: u64,
    len: u64,
    pgoff: u64,
    vm_flags: VmFlags,
    file: Option<Arc<File>>,
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `mmap(addr, len, prot, flags, file, offset)`: creates a mapping and
    /// returns its address.
    ///
    /// `file` is `None` for anonymous memory, or the file and the byte
    /// offset to map from. `flags & MAP_TYPE` must be
    /// [`MapFlags::PRIVATE`], [`MapFlags::SHARED`],
    /// [`MapFlags::SHARED_VALIDATE`] or, for anonymous memory,
    /// [`MapFlags::DROPPABLE`] (`VM_DROPPABLE | VM_NORESERVE |
    /// VM_WIPEONFORK | VM_DONTDUMP`; pervma never drops its pages); with
    /// [`MapFlags::FIXED`] the mapping goes at `addr`, replacing what is
    /// there (readers see the old mapping or the new one, never a hole);
    /// with [`MapFlags::FIXED_NOREPLACE`] it goes at `addr` or fails with
    /// `EEXIST`; otherwise `addr` is a hint, and the mapping goes there if
    /// it is free or else in the highest gap below `mmap_base` (2 MiB
    /// aligned for anonymous private mappings whose length is a multiple
    /// of 2 MiB, as Linux does for transparent huge pages).
    ///
    /// Flags: `VM_MAY{READ,WRITE,EXEC}` always; `VM_SHARED | VM_MAYSHARE`
    /// for shared mappings (without `VM_SHARED | VM_MAYWRITE` for a file
    /// opened read-only); `VM_ACCOUNT` for private writable mappings
    /// without `MAP_NORESERVE`; `VM_NORESERVE` with it; `VM_LOCKED` with
    /// `MAP_LOCKED`; where there are protection keys
    /// ([`Arch`](crate::Arch)), exactly `PROT_EXEC` gives the execute-only
    /// key, so that the memory cannot be read (and `MAP_POPULATE` or
    /// `MAP_LOCKED` fault none of it in). The new range merges with compatible neighbours
    /// (`vma_merge_new_range`: same flags, file at contiguous offsets,
    /// equal payloads; `payload` is dropped when it merges).
    /// `MAP_POPULATE` and `MAP_LOCKED` then populate the range: a writable
    /// private mapping gets an `anon_vma` (reusing a neighbour's where
    /// Linux would), as its write faults would give it.
    ///
    /// # Errors
    ///
    /// As Linux: `EINVAL` for a zero length, an unaligned file offset or
    /// fixed address, a bad mapping type (`MAP_SHARED_VALIDATE` and
    /// `MAP_DROPPABLE` included for anonymous and file memory
    /// respectively), `MAP_DROPPABLE` with `MAP_LOCKED`, or
    /// `MAP_GROWSDOWN` of a file, of shared memory or with
    /// `MAP_DROPPABLE`; `EOPNOTSUPP` for
    /// `MAP_SHARED_VALIDATE` of a file with a flag outside
    /// `LEGACY_MAP_MASK` (`MAP_FIXED_NOREPLACE` among them); `ENOMEM` for a length or address outside the address
    /// space, no free gap, or too many VMAs; `EOVERFLOW` when the file
    /// offset plus the length overflows; `ENOMEM` when the overcommit
    /// policy ([`MmConfig::overcommit`](crate::MmConfig)) refuses the
    /// charge of private writable memory (less the accounted memory a
    /// `MAP_FIXED` mapping replaces, which then stays) or of shared
    /// anonymous memory (the replaced range is left unmapped, as Linux
    /// leaves it); `EEXIST` for `FIXED_NOREPLACE`
    /// over a mapping; `EPERM` for a fixed address below
    /// `mmap_min_addr`; `EACCES` for a shared writable mapping of a
    /// read-only file. The payload comes back in the error.
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<(Arc<File>, u64)>,
        payload: T,
    ) -> Result<u64, MmapError<T>> {
        let mut change = VmaChange::new(self);
        let anonymous = file.is_none();
        let plan = match do_mmap(&change, addr, len, prot, flags, file) {
            Ok(plan) => plan,
            Err(errno) => return Err(MmapError { errno, payload }),
        };
        let overcommit = change.guard().mm().config.overcommit;
        let (start, end) = (plan.addr, plan.addr + plan.len);
        // Only a fixed mapping can land on others: get_unmapped_area picked
        // a free range otherwise (Linux looks anyway; the answer is known).
        debug_assert!(flags.contains(MapFlags::FIXED) || change.overlapping(start, end).is_empty());
        // __mmap_setup: vms_gather_munmap_vmas refuses sealed VMAs
        // (keeping the split of the first at `start`) before any charge.
        if flags.contains(MapFlags::FIXED) {
            if let Err(errno) = gather_sealed(&mut change, start, end) {
                change.commit();
                return Err(MmapError { errno, payload });
            }
        }
        // __mmap_setup: accountable memory is charged what it adds, after
        // vms_gather_munmap_vmas split the replaced VMAs at the ends of the
        // range. A refusal (vms_abort_munmap_vmas) keeps those splits and
        // every replaced mapping with its pages.
        if plan.vm_flags.contains(VmFlags::ACCOUNT) {
            if let Err(errno) = charge_new_mapping(&change, overcommit, start, end, flags) {
                if flags.contains(MapFlags::FIXED) {
                    if let Err(errno) = gather_and_abort(&mut change, start, end) {
                        return Err(MmapError { errno, payload });
                    }
                    change.commit();
                }
                return Err(MmapError { errno, payload });
            }
        }
        if flags.contains(MapFlags::FIXED) {
            // Fails before editing anything, or not at all.
            if let Err(errno) = unmap_range(&mut change, start, end) {
                return Err(MmapError { errno, payload });
            }
        }
        // shmem_zero_setup (shmem_acct_size) charges shared anonymous
        // memory its whole size, unless VM_NORESERVE. It runs after the
        // replaced range was cleared (vms_clean_up_area), so a failure
        // leaves a hole there, as in Linux.
        let shmem = VmFlags::SHARED | VmFlags::NORESERVE;
        if anonymous && plan.vm_flags & shmem == VmFlags::SHARED {
            if let Err(errno) = overcommit.vm_enough_memory(plan.len >> PAGE_SHIFT) {
                change.commit();
                return Err(MmapError { errno, payload });
            }
        }
        // mmap_region's ->mmap(): the backend maps the range first; if it
        // refuses, the range stays as cleared above, a hole (Linux's
        // unmap_region after a failed ->mmap()).
        if let Some(backend) = change.guard().mm().backend.as_deref() {
            let mapping = Mapping {
                start,
                end,
                flags: plan.vm_flags,
                pgoff: plan.pgoff,
                file: plan.file.as_ref(),
            };
            if let Err(errno) = backend.map(&mapping) {
                change.commit();
                return Err(MmapError { errno, payload });
            }
        }
        let proposal = Proposal {
            start: plan.addr,
            end: plan.addr + plan.len,
            pgoff: plan.pgoff,
            flags: plan.vm_flags,
            file: plan.file.as_ref(),
            anon_vma: None,
            payload: &payload,
        };
        // Shared anonymous memory gets a shmem object of its own, so it
        // never merges; nothing else is special here.
        if merge_new_range(&mut change, &proposal).is_none() {
            change.insert(
                VmaFields {
                    vm_start: plan.addr,
                    vm_end: plan.addr + plan.len,
                    vm_pgoff: plan.pgoff,
                    vm_flags: plan.vm_flags,
                    vm_file: plan.file,
                    anon_vma: None,
                },
                payload,
            );
        }
        change.commit();
        // vm_mmap_pgoff: mm_populate for MAP_LOCKED, and for MAP_POPULATE
        // without MAP_NONBLOCK, ignoring errors.
        if plan.vm_flags.contains(VmFlags::LOCKED) || flags.contains(MapFlags::POPULATE) {
            let mut change = VmaChange::new(self);
            let _ = populate(&mut change, plan.addr, plan.addr + plan.len, true);
            change.commit();
        }
        Ok(plan.addr)
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::mmap`] under its own write lock.
    pub fn mmap(
        &self,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<(Arc<File>, u64)>,
        payload: T,
    ) -> Result<u64, MmapError<T>> {
        self.mmap_write_lock()
            .mmap(addr, len, prot, flags, file, payload)
    }
}

/// `__mmap_setup`'s charge for an accountable mapping of `[start, end)`:
/// its pages, less the accounted pages a `MAP_FIXED` mapping replaces
/// (`vms_gather_munmap_vmas`' `nr_accounted`). Those are counted only when
/// the whole length would be refused: the charge is never more, so the
/// common case costs no walk of the VMAs it replaces.
fn charge_new_mapping<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    overcommit: Overcommit,
    start: u64,
    end: u64,
    flags: MapFlags,
) -> Result<(), Errno> {
    let pages = (end - start) >> PAGE_SHIFT;
    let whole = overcommit.vm_enough_memory(pages);
    if whole.is_ok() || !flags.contains(MapFlags::FIXED) {
        return whole;
    }
    let nr_accounted: u64 = change
        .overlapping(start, end)
        .iter()
        .map(|v| change.vma(v))
        .filter(|v| v.flags().contains(VmFlags::ACCOUNT))
        .map(|v| (v.end().min(end) - v.start().max(start)) >> PAGE_SHIFT)
        .sum();
    overcommit.vm_enough_memory(pages - nr_accounted)
}

/// `round_hint_to_min`.
fn round_hint_to_min(hint: u64, mmap_min_addr: u64) -> u64 {
    let hint = hint & !(PAGE_SIZE - 1);
    if hint != 0 && hint < mmap_min_addr {
        return page_align(mmap_min_addr).unwrap_or(hint);
    }
    hint
}

/// `do_mmap` up to `mmap_region`: every check, in Linux's order.
fn do_mmap<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    addr: u64,
    len: u64,
    prot: Prot,
    mut flags: MapFlags,
    file: Option<(Arc<File>, u64)>,
) -> Result<MmapPlan, Errno> {
    let config = change.guard().mm().config;
    let offset = file.as_ref().map_or(0, |f| f.1);
    // sys_mmap: the offset must be page-aligned.
    if offset_in_page(offset) != 0 {
        return Err(Errno::EINVAL.because("the file offset is not page-aligned"));
    }
    // Force the fixed-address handling of get_unmapped_area.
    if flags.contains(MapFlags::FIXED_NOREPLACE) {
        flags |= MapFlags::FIXED;
    }
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let mut addr = addr;
    if !flags.contains(MapFlags::FIXED) {
        addr = round_hint_to_min(addr, config.mmap_min_addr);
    }
    let len = match page_align(len) {
        Some(len) if len != 0 => len,
        _ => return Err(Errno::ENOMEM.because("the length overflows when rounded up to pages")),
    };
    let mut pgoff = offset >> PAGE_SHIFT;
    if pgoff.checked_add(len >> PAGE_SHIFT).is_none() {
        return Err(Errno::EOVERFLOW.because("pgoff + pages overflows"));
    }
    if change.map_count() > config.max_map_count {
        return Err(Errno::ENOMEM.because("max_map_count VMAs already"));
    }
    // mm->def_flags: VM_LOCKED (and VM_LOCKONFAULT) after
    // mlockall(MCL_FUTURE).
    let mut vm_flags = VmFlags::from_prot(prot)
        | change.guard().mm().def_flags()
        | VmFlags::MAYREAD
        | VmFlags::MAYWRITE
        | VmFlags::MAYEXEC;
    // calc_vm_flag_bits.
    if flags.contains(MapFlags::LOCKED) {
        vm_flags |= VmFlags::LOCKED;
    }
    if flags.contains(MapFlags::GROWSDOWN) {
        vm_flags |= VmFlags::GROWSDOWN;
    }
    if flags.contains(MapFlags::STACK) {
        // Since 6.7 (c4608d1bf7c6): no THP for stacks.
        vm_flags |= VmFlags::NOHUGEPAGE;
    }
    let anon_thp = file.is_none() && len % PMD_SIZE == 0 && addr == 0;
    let addr = get_unmapped_area(
        change,
        addr,
        len,
        flags,
        anon_thp && !flags.contains(MapFlags::SHARED),
    )?;
    if flags.contains(MapFlags::FIXED_NOREPLACE) && !change.overlapping(addr, addr + len).is_empty()
    {
        return Err(Errno::EEXIST.because("MAP_FIXED_NOREPLACE over a mapping"));
    }
    // PROT_EXEC alone takes the execute-only protection key, allocated
    // here even if a later check fails, as in do_mmap.
    vm_flags = vm_flags.with_pkey(change.guard().mm().pkeys.mmap_pkey(prot));
    // MAP_LOCKED's can_do_mlock and mlock_future_ok: pervma has no
    // RLIMIT_MEMLOCK (a process with CAP_IPC_LOCK).
    let grows = flags.contains(MapFlags::GROWSDOWN);
    let file = match file {
        Some((file, _)) => {
            if !file_mmap_ok(pgoff, len) {
                return Err(Errno::EOVERFLOW.because("the mapping would end past MAX_LFS_FILESIZE"));
            }
            match flags & MapFlags::TYPE {
                t if t == MapFlags::SHARED || t == MapFlags::SHARED_VALIDATE => {
                    // MAP_SHARED ignores flags that are not legacy ones;
                    // MAP_SHARED_VALIDATE refuses them. No pervma file has
                    // FOP_MMAP_SYNC, so MAP_SYNC is not among them.
                    if t == MapFlags::SHARED_VALIDATE && flags.bits() & !LEGACY_MAP_MASK != 0 {
                        return Err(Errno::EOPNOTSUPP
                            .because("MAP_SHARED_VALIDATE with a flag it does not know"));
                    }
                    if prot.contains(Prot::WRITE) && !file.is_writable() {
                        return Err(
                            Errno::EACCES.because("a shared writable mapping of a read-only file")
                        );
                    }
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    if !file.is_writable() {
                        vm_flags -= VmFlags::MAYWRITE | VmFlags::SHARED;
                    }
                }
                t if t == MapFlags::PRIVATE => {}
                _ => {
                    return Err(Errno::EINVAL.because("no such mapping type for a file (MAP_TYPE)"))
                }
            }
            // Both cases fall through to MAP_PRIVATE's checks.
            if grows {
                return Err(Errno::EINVAL);
            }
            Some(file)
        }
        None => {
            match flags & MapFlags::TYPE {
                t if t == MapFlags::SHARED => {
                    if grows {
                        return Err(Errno::EINVAL);
                    }
                    // shmem_zero_setup: each shared anonymous mapping is an
                    // object of its own, mapped from its start.
                    pgoff = 0;
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    Some(File::shmem(len))
                }
                t if t == MapFlags::PRIVATE || t == MapFlags::DROPPABLE => {
                    if t == MapFlags::DROPPABLE {
                        // Neither locked nor a stack, nor hugetlb; never
                        // reserved, never copied on fork, never dumped.
                        if flags.contains(MapFlags::LOCKED) || flags.bits() & MAP_HUGETLB != 0 {
                            return Err(Errno::EINVAL
                                .because("MAP_DROPPABLE with MAP_LOCKED or MAP_HUGETLB"));
                        }
                        vm_flags |= VmFlags::DROPPABLE
                            | VmFlags::NORESERVE
                            | VmFlags::WIPEONFORK
                            | VmFlags::DONTDUMP;
                    }
                    // MAP_DROPPABLE: a stack makes no sense there.
                    if grows && t == MapFlags::DROPPABLE {
                        return Err(Errno::EINVAL.because("MAP_DROPPABLE with MAP_GROWSDOWN"));
                    }
                    pgoff = addr >> PAGE_SHIFT;
                    None
                }
                // MAP_SHARED_VALIDATE included: anonymous memory has no
                // case for it.
                _ => {
                    return Err(Errno::EINVAL
                        .because("no such mapping type for anonymous memory (MAP_TYPE)"))
                }
            }
        }
    };
    if flags.contains(MapFlags::NORESERVE) {
        // With vm.overcommit_memory != 2 (never), which pervma models.
        vm_flags |= VmFlags::NORESERVE;
    }
    // accountable_mapping: private writable memory is charged.
    if vm_flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE {
        vm_flags |= VmFlags::ACCOUNT;
    }
    Ok(MmapPlan {
        addr,
        len,
        pgoff,
        vm_flags,
        file,
    })
}

/// `LEGACY_MAP_MASK` (include/linux/mman.h) on x86-64: the flags every
/// file accepts; `MAP_SHARED_VALIDATE` refuses the others (among them
/// `MAP_FIXED_NOREPLACE` and `MAP_SYNC`).
const LEGACY_MAP_MASK: u32 = MapFlags::SHARED_VALIDATE.bits() // MAP_SHARED | MAP_PRIVATE
    | MapFlags::FIXED.bits()
    | MapFlags::ANONYMOUS.bits()
    | 0x0800 // MAP_DENYWRITE
    | 0x1000 // MAP_EXECUTABLE
    | 0x0400_0000 // MAP_UNINITIALIZED
    | MapFlags::GROWSDOWN.bits()
    | MapFlags::LOCKED.bits()
    | MapFlags::NORESERVE.bits()
    | MapFlags::POPULATE.bits()
    | 0x0001_0000 // MAP_NONBLOCK
    | 0x0002_0000 // MAP_STACK
    | MAP_HUGETLB
    | 0x40 // MAP_32BIT
    | (21 << 26) // MAP_HUGE_2MB
    | (30 << 26); // MAP_HUGE_1GB

/// `MAP_HUGETLB`, which pervma does not model (`MAP_DROPPABLE` refuses it).
const MAP_HUGETLB: u32 = 0x0004_0000;

/// `file_mmap_ok`: the mapping must end below `MAX_LFS_FILESIZE`.
fn file_mmap_ok(pgoff: u64, len: u64) -> bool {
    const MAX_LFS_FILESIZE: u64 = i64::MAX as u64;
    len <= MAX_LFS_FILESIZE && pgoff <= (MAX_LFS_FILESIZE - len) >> PAGE_SHIFT
}

/// `__get_unmapped_area` with x86-64's `arch_get_unmapped_area_topdown`:
/// `hint` itself with `MAP_FIXED`, else `hint` if it is free, else the
/// highest free gap below `mmap_base` (2 MiB aligned with `thp_align`).
pub(super) fn get_unmapped_area<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    hint: u64,
    len: u64,
    flags: MapFlags,
    thp_align: bool,
) -> Result<u64, Errno> {
    let config = change.guard().mm().config;
    let task_size = config.task_size;
    if len > task_size {
        return Err(Errno::ENOMEM.because("longer than the address space"));
    }
    let addr = if flags.contains(MapFlags::FIXED) {
        hint
    } else {
        // The VMA above a free range `a`, if it grows down, wants its
        // guard gap free too (vm_start_gap).
        let next_gap = |a: u64| change.find(a).map(|v| vm_start_gap(change.vma(v)));
        let free = |a: u64| task_size - len >= a && next_gap(a).is_none_or(|g| a + len <= g);
        if hint != 0 && free(hint) {
            hint
        } else {
            let low = PAGE_SIZE.max(config.mmap_min_addr);
            let align = if thp_align { PMD_SIZE } else { PAGE_SIZE };
            // unmapped_area_topdown: below a stack's guard gap, retry
            // lower.
            let mut high = config.mmap_base;
            let topdown = loop {
                match change.unmapped_area_topdown(low, high, len, align) {
                    Some(a) => match next_gap(a) {
                        Some(gap) if gap < a + len => high = gap,
                        _ => break Some(a),
                    },
                    None => break None,
                }
            };
            // Fall back to bottom-up from the legacy base
            // (TASK_UNMAPPED_BASE, a third of the space), as Linux does
            // when the space below mmap_base is full.
            let bottom_up = || {
                let legacy_base = (task_size / 3) & !(PAGE_SIZE - 1);
                let mut low = legacy_base.max(low);
                loop {
                    let a = change.unmapped_area(low, task_size, len, align)?;
                    match change.find(a) {
                        Some(v) if vm_start_gap(change.vma(v)) < a + len - 1 => {
                            low = change.vma(v).end();
                        }
                        _ => return Some(a),
                    }
                }
            };
            topdown
                .or_else(bottom_up)
                .ok_or(Errno::ENOMEM.because("no free range is large enough"))?
        }
    };
    if addr > task_size - len {
        return Err(Errno::ENOMEM.because("the range ends past TASK_SIZE"));
    }
    if offset_in_page(addr) != 0 {
        return Err(Errno::EINVAL);
    }
    // security_mmap_addr, for a process without CAP_SYS_RAWIO.
    if addr < config.mmap_min_addr {
        return Err(Errno::EPERM.because("below mmap_min_addr"));
    }
    Ok(addr)
}
