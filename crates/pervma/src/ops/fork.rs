//! `fork`: a copy of an address space, its private memory shared
//! copy-on-write.
//!
//! Linux: kernel/fork.c (`dup_mm`), mm/mmap.c (`dup_mmap`), mm/rmap.c
//! (`anon_vma_fork`), mm/memory.c (`copy_page_range`, `vma_needs_copy`,
//! `copy_present_ptes`, `do_wp_page`).
//!
//! `dup_mmap` runs under the parent's `mmap_lock` for write and
//! write-locks every VMA (`vma_start_write`) before copying it, so no
//! fault, user copy or `lock_vma` reader is inside the parent while the
//! child is made: the child is the parent at one instant. For each VMA,
//! in address order:
//!
//! - `VM_DONTCOPY` (`MADV_DONTFORK`): not copied.
//! - Otherwise the child gets a VMA with the same range, flags, file and
//!   payload, but without `VM_LOCKED`/`VM_LOCKONFAULT` (locks are not
//!   inherited), and no merging happens in the child.
//! - `anon_vma`: none if the parent's VMA has none or is
//!   `VM_WIPEONFORK`; else a new one whose parent is the parent VMA's
//!   (`anon_vma_fork`), which keeps the child's VMA from merging with
//!   neighbours that do not share it (see `anon_vma.rs`).
//! - Pages (`copy_page_range`): only for a VMA with an `anon_vma`
//!   (`vma_needs_copy`: elsewhere the child's faults find the same pages
//!   again, so shared and read-only file mappings start with no entries
//!   in the child, and no `Rss`), and never for `VM_WIPEONFORK`, which is
//!   empty in the child. Anonymous pages are shared by both tables
//!   until a store through either copies it (`Pte::anon_mapcount`).
//! - Accounting: each `VM_ACCOUNT` VMA copied is charged again to the
//!   child (`security_vm_enough_memory_mm`); a refusal fails the fork
//!   with `ENOMEM`.
//!
//! The child also gets the parent's protection keys (allocation map,
//! execute-only key, PKRU) and configuration; not its MMU notifiers
//! (a notifier watches one `mm`), nor its lock statistics. With a
//! backend, the backend copies itself ([`Backend::fork`]), and refuses by
//! default.
//!
//! [`Backend::fork`]: crate::Backend::fork

#![deny(unsafe_code)]

use super::mlock::VM_LOCKED_MASK;
use crate::anon_vma::AnonVma;
use crate::backend::{Backend, Mapping};
use crate::errno::Errno;
use crate::flags::{VmFlags, PAGE_SHIFT};
use crate::mm::{MmapWriteGuard, VmaChange};
use crate::payload::Payload;
use crate::vma::VmaFields;
use crate::Mm;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// One parent VMA as the child gets it.
struct Copied<T> {
    fields: VmaFields,
    payload: T,
    /// The parent's flags (the child's may have lost `VM_LOCKED`).
    old_flags: VmFlags,
    /// Whether its pages are copied (`vma_needs_copy`, not wipe-on-fork).
    copy_pages: bool,
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `fork`'s copy of the address space (`dup_mmap`): a new [`Mm`] with
    /// this one's VMAs, as Linux makes a child's:
    ///
    /// - `MADV_DONTFORK` VMAs are not copied; nothing merges in the child;
    /// - `VM_LOCKED` and `VM_LOCKONFAULT` are cleared;
    /// - private memory is shared copy-on-write (a store on either side
    ///   copies the page first); shared mappings stay shared (the same
    ///   [`File`](crate::File));
    /// - `MADV_WIPEONFORK` VMAs are empty and have no `anon_vma`;
    /// - page-table entries are copied only for VMAs with an `anon_vma`
    ///   (`vma_needs_copy`): elsewhere faults find the same pages again;
    /// - each VMA with an `anon_vma` gets a new one forked from it
    ///   (`anon_vma_fork`, [`AnonVma::is_fork_child`]), which keeps it
    ///   from merging with neighbours that do not share it;
    /// - `VM_ACCOUNT` VMAs are charged again, to the child;
    /// - protection keys (allocated keys, PKRU) are inherited; MMU
    ///   notifiers are not.
    ///
    /// This space's VMAs are all write-locked until the guard is released,
    /// as Linux's `dup_mmap` leaves them, so the child is a snapshot of
    /// one instant even with readers and writers active.
    ///
    /// # Errors
    ///
    /// - `ENOMEM`: the overcommit policy refuses the charge of a
    ///   `VM_ACCOUNT` VMA for the child;
    /// - whatever [`Backend::fork`] refuses with (`EOPNOTSUPP` by default),
    ///   or the child's backend refuses for a VMA whose lock the child
    ///   loses.
    ///
    /// Nothing changes in this space either way.
    #[doc(alias = "dup_mmap")]
    #[doc(alias = "dup_mm")]
    pub fn fork(&mut self) -> Result<Mm<T>, Errno> {
        let mm = self.mm();
        // dup_mmap: vma_start_write() of every VMA before copying it.
        self.vma_start_write_all();
        let mut copies = Vec::new();
        for vma in self.vmas() {
            let flags = vma.flags();
            if flags.contains(VmFlags::DONTCOPY) {
                copies.push(None);
                continue;
            }
            if flags.contains(VmFlags::ACCOUNT) {
                mm.config
                    .overcommit
                    .vm_enough_memory(vma.len() >> PAGE_SHIFT)?;
            }
            let mut fields = vma.clone_fields();
            fields.vm_flags -= VM_LOCKED_MASK;
            let wipe = flags.contains(VmFlags::WIPEONFORK);
            fields.anon_vma = match vma.anon_vma() {
                Some(anon) if !wipe => Some(AnonVma::fork_of(anon)),
                _ => None,
            };
            copies.push(Some(Copied {
                copy_pages: fields.anon_vma.is_some(),
                fields,
                payload: vma.payload().clone(),
                old_flags: flags,
            }));
        }
        let backend: Option<Arc<dyn Backend>> = match mm.backend.as_deref() {
            Some(backend) => Some(backend.fork()?),
            None => None,
        };
        let mut child = Mm::with_config(mm.config);
        child.pkeys = mm.pkeys.fork();
        // The heap's bounds too (dup_mm copies the whole mm_struct).
        let brk = mm.brk_bounds();
        child.start_brk = crate::sync::prim::AtomicU64::new(brk.0);
        child.brk = crate::sync::prim::AtomicU64::new(brk.1);
        child.backend = backend.clone();
        {
            let mut guard = child.mmap_write_lock();
            let mut change = VmaChange::new(&mut guard);
            let dropped: Vec<(u64, u64)> = self
                .vmas()
                .zip(&copies)
                .filter(|(_, c)| c.is_none())
                .map(|(v, _)| (v.start(), v.end()))
                .collect();
            for copy in copies.into_iter().flatten() {
                let (start, end) = (copy.fields.vm_start, copy.fields.vm_end);
                let new_flags = copy.fields.vm_flags;
                if copy.copy_pages {
                    mm.page_table.fork_range(
                        &change.guard().mm().page_table,
                        start,
                        end,
                        mm.backend.is_none(),
                    );
                }
                let vma = change.insert(copy.fields, copy.payload);
                if let Some(backend) = backend.as_deref() {
                    let v = change.vma(vma);
                    let m = Mapping::of(v, start, end);
                    if copy.old_flags.contains(VmFlags::WIPEONFORK) {
                        backend.discard(&m, false);
                    }
                    if new_flags != copy.old_flags {
                        if let Err(errno) = backend.change_flags(&m, copy.old_flags) {
                            change.commit();
                            return Err(errno);
                        }
                    }
                }
            }
            if let Some(backend) = backend.as_deref() {
                for (start, end) in dropped {
                    backend.unmap(start, end);
                }
            }
            change.commit();
        }
        Ok(child)
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::fork`] under its own write lock: the child
    /// address space of a `fork(2)`.
    ///
    /// ```
    /// use pervma::{MapFlags, Mm, Prot};
    /// let parent: Mm<()> = Mm::new();
    /// let rw = Prot::READ | Prot::WRITE;
    /// let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// let a = parent.mmap(0x10_0000, 0x2000, rw, flags, None, ()).unwrap();
    /// parent.access_write(a, b"before").unwrap();
    ///
    /// let child = parent.fork().unwrap();
    /// // Copy-on-write: a store on either side is its own.
    /// child.access_write(a, b"child!").unwrap();
    /// let (mut p, mut c) = ([0; 6], [0; 6]);
    /// parent.access_read(a, &mut p).unwrap();
    /// child.access_read(a, &mut c).unwrap();
    /// assert_eq!((&p, &c), (b"before", b"child!"));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MmapWriteGuard::fork`].
    #[doc(alias = "dup_mmap")]
    pub fn fork(&self) -> Result<Mm<T>, Errno> {
        self.mmap_write_lock().fork()
    }
}
