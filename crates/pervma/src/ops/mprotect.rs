//! `mprotect`: changing the access a range allows.
//!
//! Linux: mm/mprotect.c (`do_mprotect_pkey`, `mprotect_fixup`),
//! arch/x86/mm/pkeys.c (`__arch_override_mprotect_pkey`).

#![deny(unsafe_code)]

use super::merge::{change_range_flags, Holes};
use super::populate::populate;
use crate::errno::Errno;
use crate::flags::{offset_in_page, page_align, Prot, VmFlags, PAGE_SHIFT};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::Mm;

/// `PROT_SEM`: accepted and ignored (`arch_validate_prot`).
const PROT_SEM: u32 = 0x8;
/// `PROT_GROWSDOWN`.
const PROT_GROWSDOWN: u32 = 0x0100_0000;
/// `PROT_GROWSUP`.
const PROT_GROWSUP: u32 = 0x0200_0000;

use crate::flags::VM_ACCESS_FLAGS as ACCESS;

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `mprotect(start, len, prot)`: sets the access of every page in
    /// `[start, start + PAGE_ALIGN(len))`, splitting VMAs at the ends of
    /// the range and merging the result with compatible neighbours.
    ///
    /// A private mapping made writable becomes accounted (`VM_ACCOUNT`)
    /// unless it is `VM_NORESERVE` or was writable already; a private
    /// anonymous mapping without anonymous pages yet (no `anon_vma`) made
    /// read-only stops being accounted. A locked private mapping made
    /// writable is populated (and so gets an `anon_vma`). `len == 0`
    /// succeeds without looking at `prot`.
    ///
    /// # Errors
    ///
    /// As Linux, in its order:
    /// - `EINVAL`: both `PROT_GROWSDOWN` and `PROT_GROWSUP`, `start` not
    ///   page-aligned, or unknown `prot` bits;
    /// - `ENOMEM`: the range wraps around, or is not fully mapped. VMAs
    ///   below the first hole have been changed by then, as in Linux.
    /// - `EACCES`: `prot` asks for more than a VMA's `VM_MAY*` bits allow
    ///   (e.g. `PROT_WRITE` on a shared mapping of a read-only file);
    ///   VMAs before it have been changed.
    /// - `EINVAL`: `PROT_GROWSDOWN` on a VMA that does not grow down, or
    ///   `PROT_GROWSUP` (x86-64 has no VMAs that grow up).
    /// - `ENOMEM`: the overcommit policy
    ///   ([`MmConfig::overcommit`](crate::MmConfig)) refuses the charge of
    ///   a VMA piece made writable (`mprotect_fixup`); VMAs before it have
    ///   been changed.
    /// - `EPERM`: a VMA in the range is sealed ([`mseal`](Self::mseal));
    ///   VMAs before it have been changed, as in Linux.
    /// - `ENOMEM`: a split would exceed `max_map_count`.
    pub fn mprotect(&mut self, start: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.pkey_mprotect(start, len, prot, -1)
    }

    /// `pkey_mprotect(start, len, prot, pkey)`: [`mprotect`](Self::mprotect)
    /// that also gives every page of the range protection key `pkey` (one
    /// that [`pkey_alloc`](Self::pkey_alloc) returned, or 0); `pkey == -1`
    /// is plain `mprotect`. A VMA's key is part of its flags: VMAs with
    /// different keys never merge, and splits keep the key.
    ///
    /// Plain `mprotect` keeps each VMA's key, except that exactly
    /// `PROT_EXEC` takes the execute-only key (so that the memory cannot
    /// be read) and leaving `PROT_EXEC`-only returns the execute-only
    /// key to key 0 (`__arch_override_mprotect_pkey`).
    ///
    /// # Errors
    ///
    /// As [`mprotect`](Self::mprotect), and `EINVAL` for a key that is not
    /// allocated (checked after the arguments, before any VMA: a zero
    /// `len` succeeds with any key). Without protection keys every key
    /// but -1 is `EINVAL`.
    #[doc(alias = "do_mprotect_pkey")]
    pub fn pkey_mprotect(
        &mut self,
        start: u64,
        len: u64,
        prot: Prot,
        pkey: i32,
    ) -> Result<(), Errno> {
        let bits = prot.bits();
        let grows = bits & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = bits & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP || offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_align(len)
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end > start)
            .ok_or(Errno::ENOMEM.because("the range wraps around"))?;
        if prot & !(Prot::all().bits() | PROT_SEM) != 0 {
            return Err(Errno::EINVAL.because("unknown PROT_* bits"));
        }
        // Under mmap_lock: a key userspace did not allocate is refused.
        let pkeys = &self.mm().pkeys;
        if pkey != -1 && !pkeys.is_allocated(pkey) {
            return Err(Errno::EINVAL.because("the protection key is not allocated"));
        }
        let mut change = VmaChange::new(self);
        // The first VMA must start at or below `start`. With
        // PROT_GROWSDOWN it must grow down, and the range extends down to
        // its start; with PROT_GROWSUP it must grow up, which none does
        // (x86-64 has no VM_GROWSUP).
        let Some(first) = change.find(start).filter(|&v| change.vma(v).start() < end) else {
            return Err(Errno::ENOMEM.because("nothing mapped in the range"));
        };
        let mut start = start;
        if grows == PROT_GROWSDOWN {
            let vma = change.vma(first);
            if !vma.flags().contains(VmFlags::GROWSDOWN) {
                return Err(
                    Errno::EINVAL.because("PROT_GROWSDOWN on a VMA that does not grow down")
                );
            }
            start = vma.start();
        }
        if change.vma(first).start() > start {
            return Err(Errno::ENOMEM.because("the range starts in a hole"));
        }
        if grows == PROT_GROWSUP {
            return Err(Errno::EINVAL.because("PROT_GROWSUP: x86-64 has no VMAs that grow up"));
        }
        let new_access = VmFlags::from_prot(Prot::from_bits_truncate(prot));
        let overcommit = change.guard().mm().config.overcommit;
        let result = change_range_flags(
            &mut change,
            start,
            end,
            Holes::Stop,
            |vma| {
                let old = vma.flags();
                let key = pkeys.override_mprotect_pkey(old, prot, pkey);
                let mut new = (new_access | (old - ACCESS)).with_pkey(key);
                // newflags >> 4 moves VM_MAY* onto VM_*.
                let may = VmFlags::from_bits_truncate(new.bits() >> 4);
                if (new - may).intersects(ACCESS) {
                    return Err(Errno::EACCES.because("more than the VMA's VM_MAY* bits allow"));
                }
                // mprotect_fixup: a sealed VMA refuses, even an mprotect
                // that would change nothing.
                if old.contains(VmFlags::SEALED) {
                    return Err(Errno::EPERM.because("the VMA is sealed (mseal)"));
                }
                if new == old {
                    return Ok(new);
                }
                // mprotect_fixup: VM_ACCOUNT follows write permission.
                if new.contains(VmFlags::WRITE) {
                    let charged = VmFlags::ACCOUNT
                        | VmFlags::WRITE
                        | VmFlags::HUGETLB
                        | VmFlags::SHARED
                        | VmFlags::NORESERVE;
                    if !old.intersects(charged) {
                        // Charged per VMA piece: the part in range.
                        let piece = vma.end().min(end) - vma.start().max(start);
                        overcommit.vm_enough_memory(piece >> PAGE_SHIFT)?;
                        new |= VmFlags::ACCOUNT;
                    }
                } else if old.contains(VmFlags::ACCOUNT)
                    && vma.is_anonymous()
                    && vma.anon_vma().is_none()
                {
                    new -= VmFlags::ACCOUNT;
                }
                Ok(new)
            },
            |change, _, old, new, (from, to)| {
                // A locked private read-only range made writable is
                // write-faulted now (populate_vma_page_range): the part
                // that was read-only only, not a writable neighbour it
                // merged with.
                let locked_ro = VmFlags::WRITE | VmFlags::SHARED | VmFlags::LOCKED;
                if old & locked_ro == VmFlags::LOCKED && new.contains(VmFlags::WRITE) {
                    // Errors are ignored, as mprotect_fixup ignores them.
                    let _ = populate(change, from, to, true);
                }
            },
        );
        change.commit();
        result
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::mprotect`] under its own write lock.
    pub fn mprotect(&self, start: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.mmap_write_lock().mprotect(start, len, prot)
    }

    /// [`MmapWriteGuard::pkey_mprotect`] under its own write lock.
    pub fn pkey_mprotect(&self, start: u64, len: u64, prot: Prot, pkey: i32) -> Result<(), Errno> {
        self.mmap_write_lock().pkey_mprotect(start, len, prot, pkey)
    }
}
