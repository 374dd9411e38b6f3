//! Backends: the real memory behind an address space.
//!
//! Linux: the architecture's page-table operations that mm/ drives
//! (`set_pte_at`, `change_protection`, `move_page_tables`,
//! `zap_page_range`, `flush_tlb_range`), and the frames they point at.
//!
//! pervma decides what Linux would do with an address space; a
//! [`Backend`] is where those decisions land. Plug one in with
//! [`Mm::with_backend`] and every operation applies what it changed to it,
//! under the operation's own locks, between the MMU notifiers'
//! `invalidate_range_start` and `_end`:
//!
//! | what pervma did | the backend is called | lock held |
//! |---|---|---|
//! | `mmap` placed a new mapping | [`map`](Backend::map) | `mmap_lock` for write |
//! | `mremap` grew a mapping in place | [`grow`](Backend::grow) | `mmap_lock` for write |
//! | `munmap`, `mmap(MAP_FIXED)` or `mremap` replaced a range, `mremap` shrank one | [`unmap`](Backend::unmap) | `mmap_lock` for write |
//! | `mprotect`, `pkey_mprotect`, `mlock`, `madvise` changed a range's VMA flags | [`change_flags`](Backend::change_flags) | `mmap_lock` for write |
//! | `mremap` moved a range's pages | [`move_range`](Backend::move_range) | `mmap_lock` for write |
//! | `MADV_DONTNEED`, `MADV_FREE` dropped pages | [`discard`](Backend::discard) | the VMA lock, or `mmap_lock` for read |
//! | a fault (or `MAP_POPULATE`, `mlock`) decided what page an address gets | [`install`](Backend::install) | the VMA lock, or `mmap_lock` |
//! | a user copy ([`Mm::access_read`], ...) reached a page the fault path mapped | [`read`](Backend::read), [`write`](Backend::write) (which must not wait for anything that waits for the `Mm`'s locks) | the VMA lock |
//! | [`Mm::fork`] copies the space | [`fork`](Backend::fork) (refused by default), then `unmap`, `discard`, `change_flags` on the child's | `mmap_lock` for write, every VMA write-locked |
//!
//! Every method but `read` and `write` has a default that does nothing,
//! so a backend implements what its memory needs: a kernel's page tables
//! want `install`, `unmap`, `change_flags` and `move_range` (each call is
//! one batch, after which the backend flushes its TLB for the range); a
//! host reservation wants `map` too (it maps whole ranges up front and
//! lets the host fault pages in); a pager wants `unmap` and `discard`.
//!
//! # pervma's own record, and where the bytes are
//!
//! pervma keeps a software page table in every `Mm` (`mm/` in Linux
//! terms, the entries' kinds: absent, zero page, anonymous, file, part of
//! a THP), which is what its answers that depend on page-table state come
//! from: whether a fault maps the huge zero page (and needs an
//! `anon_vma`), `smaps`' `Rss`, whether a user copy must fault first.
//! Without a backend it also holds the pages' bytes (anonymous pages, and
//! the files' page caches): that is the default memory, and what every
//! `Mm::new` gets. With a backend the record keeps only the kinds, and
//! bytes live in the backend alone: faults install their pages there,
//! and user copies read and write there.
//!
//! # Failures
//!
//! A backend method that fails returns an [`Errno`], which the operation
//! returns to its caller after undoing what it had done for that range,
//! so pervma's VMAs and the backend agree: a refused `map` leaves the
//! range unmapped (as Linux's `mmap_region` unmaps when `->mmap()`
//! fails), a refused `change_flags` leaves the range's flags as they were
//! (and the parts before it changed, as an `mprotect` that meets a hole
//! does), a refused `move_range` leaves the source where it was, and a
//! refused `install` fails the fault with [`FaultError::Oom`]
//! (`VM_FAULT_OOM`). `unmap` and `discard` cannot fail: Linux cannot
//! refuse to drop memory either.
//!
//! # Contract
//!
//! - Calls for one range are ordered as the operations were; calls for
//!   different VMAs may come from different threads at once (faults
//!   under VMA locks), so a backend is `Send + Sync`.
//! - `install` may come twice with the same [`Install`] for one address
//!   (two racing faults); the second must keep the first's page.
//! - A backend must not call back into the `Mm` that calls it (the
//!   operation holds its locks), as an MMU notifier must not.
//!
//! # Example: a kernel's page tables
//!
//! A kernel gives pervma its frame allocator and page tables; pervma
//! decides what each fault maps and when translations go, and the kernel
//! never re-derives a VMA rule. The other two kinds of users have crates
//! of their own, each with a complete example: an emulator backs the
//! guest with a host reservation (`pervma-host`'s `HostMemory`, and its
//! `examples/emulator.rs` with vCPUs whose software TLBs an MMU notifier
//! keeps true), and a userfaultfd pager serves the faults of real memory
//! under `lock_vma` (`pervma-uffd`'s `Pager`, whose `OwnMemory` backend
//! carries `munmap`, `mprotect` and `MADV_DONTNEED` to that memory).
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use pervma::{Access, Backend, Errno, Install, MapFlags, Mapping, Mm, MmConfig, PageGone, Prot};
//!
//! const PAGE: u64 = 4096;
//! type Frame = Box<[u8; PAGE as usize]>;
//!
//! /// Frames (index = PFN, 0 is the zero page), PTEs (virtual page ->
//! /// PFN, writable), and a count of TLB flushes.
//! struct Tables { frames: Vec<Option<Frame>>, ptes: HashMap<u64, (usize, bool)>, flushes: u32 }
//! struct PageTables(Mutex<Tables>);
//!
//! impl Tables {
//!     fn alloc(&mut self, bytes: Frame) -> Result<usize, Errno> {
//!         if self.frames.iter().flatten().count() >= 64 {
//!             return Err(Errno::ENOMEM.because("out of frames"));
//!         }
//!         self.frames.push(Some(bytes));
//!         Ok(self.frames.len() - 1)
//!     }
//!     fn zap(&mut self, start: u64, end: u64) {
//!         let gone: Vec<u64> = self.ptes.keys().copied().filter(|&v| start <= v && v < end).collect();
//!         for vpage in gone {
//!             let (pfn, _) = self.ptes.remove(&vpage).unwrap();
//!             if pfn != 0 {
//!                 self.frames[pfn] = None; // freed
//!             }
//!         }
//!         self.flushes += 1; // flush_tlb_range
//!     }
//! }
//!
//! impl Backend for PageTables {
//!     fn unmap(&self, start: u64, end: u64) {
//!         self.0.lock().unwrap().zap(start, end);
//!     }
//!     fn discard(&self, m: &Mapping<'_>, _lazy: bool) {
//!         self.0.lock().unwrap().zap(m.start, m.end);
//!     }
//!     fn change_flags(&self, m: &Mapping<'_>, _old: pervma::VmFlags) -> Result<(), Errno> {
//!         let mut t = self.0.lock().unwrap();
//!         let writable = m.prot().contains(Prot::WRITE);
//!         for (_, pte) in t.ptes.iter_mut().filter(|(&v, _)| m.start <= v && v < m.end) {
//!             pte.1 &= writable; // a store faults again and gets a fresh answer
//!         }
//!         t.flushes += 1;
//!         Ok(())
//!     }
//!     fn move_range(&self, from: u64, len: u64, to: &Mapping<'_>, _keep: bool) -> Result<(), Errno> {
//!         let mut t = self.0.lock().unwrap();
//!         let moving: Vec<u64> = t.ptes.keys().copied().filter(|&v| from <= v && v < from + len).collect();
//!         for vpage in moving {
//!             let pte = t.ptes.remove(&vpage).unwrap();
//!             t.ptes.insert(to.start + (vpage - from), pte);
//!         }
//!         t.flushes += 1;
//!         Ok(())
//!     }
//!     fn install(&self, m: &Mapping<'_>, addr: u64, _: Access, what: Install) -> Result<(), Errno> {
//!         let mut t = self.0.lock().unwrap();
//!         let vpage = addr & !(PAGE - 1);
//!         let pages = match what {
//!             // A THP: this kernel maps the block with small pages.
//!             Install::Anon { huge: true } => {
//!                 let block = addr & !((2 << 20) - 1);
//!                 (block.max(m.start)..(block + (2 << 20)).min(m.end)).step_by(PAGE as usize).collect()
//!             }
//!             _ => vec![vpage],
//!         };
//!         for vpage in pages {
//!             let writable_there = t.ptes.get(&vpage).is_some_and(|pte| pte.1);
//!             match what {
//!                 // This kernel has no files: their pages read as zeroes.
//!                 Install::ZeroPage | Install::FilePage if !t.ptes.contains_key(&vpage) => {
//!                     t.ptes.insert(vpage, (0, false));
//!                 }
//!                 Install::Anon { .. } | Install::CowPage if !writable_there => {
//!                     let pfn = t.alloc(Box::new([0; PAGE as usize]))?;
//!                     t.ptes.insert(vpage, (pfn, true));
//!                 }
//!                 _ => {} // a racing fault mapped it already
//!             }
//!         }
//!         Ok(())
//!     }
//!     fn read(&self, _: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone> {
//!         let t = self.0.lock().unwrap();
//!         let (pfn, _) = t.ptes[&(addr & !(PAGE - 1))];
//!         let off = (addr % PAGE) as usize;
//!         match &t.frames[pfn] {
//!             Some(frame) => buf.copy_from_slice(&frame[off..off + buf.len()]),
//!             None => buf.fill(0),
//!         }
//!         Ok(())
//!     }
//!     fn write(&self, _: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone> {
//!         let mut t = self.0.lock().unwrap();
//!         let (pfn, writable) = t.ptes[&(addr & !(PAGE - 1))];
//!         assert!(writable, "pervma stores only where a write fault mapped");
//!         let off = (addr % PAGE) as usize;
//!         t.frames[pfn].as_mut().unwrap()[off..off + data.len()].copy_from_slice(data);
//!         Ok(())
//!     }
//! }
//!
//! let tables = Arc::new(PageTables(Mutex::new(Tables {
//!     frames: vec![Some(Box::new([0; PAGE as usize]))], // PFN 0: the zero page
//!     ptes: HashMap::new(),
//!     flushes: 0,
//! })));
//! let mm: Mm<()> = Mm::with_backend(MmConfig::default(), tables.clone());
//! let heap = mm
//!     .mmap(0, 8 * PAGE, Prot::READ | Prot::WRITE, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, ())
//!     .unwrap();
//!
//! // copy_to_user faults the pages in (pervma decides: anonymous pages)
//! // and stores through the kernel's page tables.
//! mm.access_write(heap + PAGE - 2, b"hello").unwrap();
//! let mut buf = [0; 5];
//! mm.access_read(heap + PAGE - 2, &mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! assert_eq!(tables.0.lock().unwrap().ptes.len(), 2);
//!
//! // mremap moves the PTEs; mprotect makes them read-only; munmap frees.
//! let moved = mm.mremap(heap, 8 * PAGE, 16 * PAGE, pervma::MremapFlags::MAYMOVE, 0).unwrap();
//! mm.access_read(moved + PAGE - 2, &mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! mm.mprotect(moved, 16 * PAGE, Prot::READ).unwrap();
//! assert!(mm.access_write(moved, b"x").is_err()); // SEGV_ACCERR, decided by pervma
//! mm.munmap(moved, 16 * PAGE).unwrap();
//! let t = tables.0.lock().unwrap();
//! assert!(t.ptes.is_empty());
//! assert_eq!(t.frames.iter().flatten().count(), 1); // the zero page alone
//! ```
//!
//! [`Mm::with_backend`]: crate::Mm::with_backend
//! [`Mm::access_read`]: crate::Mm::access_read
//! [`Mm::fork`]: crate::Mm::fork
//! [`FaultError::Oom`]: crate::FaultError::Oom

#![deny(unsafe_code)]

use crate::errno::Errno;
use crate::file::File;
use crate::flags::{Access, Prot, VmFlags, PAGE_SHIFT};
use crate::vma::Vma;
use alloc::sync::Arc;

/// A range of one VMA as a backend sees it: where, with which flags, and
/// backed by what.
#[derive(Clone, Copy, Debug)]
pub struct Mapping<'a> {
    /// The first address of the range (page aligned).
    pub start: u64,
    /// The address after the range (page aligned).
    pub end: u64,
    /// The VMA's flags (`vm_flags`): permissions
    /// ([`VmFlags::prot`](crate::VmFlags::prot)), `SHARED`, `LOCKED`,
    /// the protection key ([`VmFlags::pkey`](crate::VmFlags::pkey)), ...
    pub flags: VmFlags,
    /// The file page that `start` maps (`vm_pgoff` at `start`);
    /// meaningless for anonymous memory.
    pub pgoff: u64,
    /// The file, for file mappings and shared anonymous memory (whose
    /// shmem object is a [`File`] too, [`File::is_shmem`]).
    pub file: Option<&'a Arc<File>>,
}

impl<'a> Mapping<'a> {
    /// The part `[start, end)` of `vma`.
    pub(crate) fn of<T>(vma: &'a Vma<T>, start: u64, end: u64) -> Self {
        debug_assert!(vma.start() <= start && start <= end && end <= vma.end());
        Mapping {
            start,
            end,
            flags: vma.flags(),
            pgoff: vma.linear_page_index(start),
            file: vma.file(),
        }
    }

    /// The file page that `addr` (inside the range) maps.
    pub fn page_index(&self, addr: u64) -> u64 {
        self.pgoff + ((addr - self.start) >> PAGE_SHIFT)
    }

    /// The range's permissions.
    pub fn prot(&self) -> Prot {
        self.flags.prot()
    }

    /// Whether stores reach the file (`VM_SHARED`) rather than private
    /// copies.
    pub fn is_shared(&self) -> bool {
        self.flags.contains(VmFlags::SHARED)
    }
}

/// What a fault maps at an address, as Linux's `handle_pte_fault` chose
/// it ([`Backend::install`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Install {
    /// The shared zero page, read-only: a read of private anonymous
    /// memory (`do_anonymous_page`).
    ZeroPage,
    /// A new page of zeroes, writable: a store to private anonymous
    /// memory (`do_anonymous_page`, `do_wp_page` of the zero page).
    /// `huge`: the whole aligned 2 MiB block around the address gets one
    /// (a transparent huge page, `do_huge_pmd_anonymous_page`).
    Anon {
        /// A THP: the 2 MiB block holding the address, all at once.
        huge: bool,
    },
    /// The file's page at [`Mapping::page_index`] (`do_read_fault`,
    /// `do_shared_fault`): writable if the mapping is shared and the
    /// access a store, read-only otherwise.
    FilePage,
    /// A private copy of the file's page, writable (`do_cow_fault`,
    /// `do_wp_page`): a store to a private file mapping.
    CowPage,
}

/// The real memory behind an [`Mm`](crate::Mm): a kernel's page tables, an
/// emulator's host reservation, a userfaultfd region. See the [module
/// docs](self) for when each method is called and what it may refuse.
pub trait Backend: Send + Sync {
    /// `[m.start, m.end)` now maps `m` (it mapped nothing before, or the
    /// backend was told to [`unmap`](Backend::unmap) it). Linux's page
    /// tables learn of a new mapping only when it faults; a backend that
    /// maps ranges up front (a host reservation) does it here.
    ///
    /// # Errors
    ///
    /// What the backend could not do (`ENOMEM` for a refused host
    /// `mmap`); the operation then unmaps the range again and fails.
    fn map(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        let _ = m;
        Ok(())
    }

    /// `[m.start, m.end)` now maps `m` as the end of the VMA just before
    /// it, which `mremap` grew in place (`vma_merge_extend`): the same
    /// VMA, its pgoff continued. Defaults to [`map`](Backend::map); a
    /// backend whose own mappings merge by rules of their own (a host
    /// reservation, where a new anonymous mapping would not merge with a
    /// moved one) grows the existing one instead.
    ///
    /// # Errors
    ///
    /// As [`map`](Backend::map); the growth is then undone and `mremap`
    /// fails.
    fn grow(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        self.map(m)
    }

    /// `[m.start, m.end)` now maps `m` as the new bottom of the stack
    /// (`VM_GROWSDOWN` VMA) just above it, which a fault below it grew
    /// down (`expand_downwards`): the same VMA, its pgoff continued
    /// downwards, nothing in it yet. Defaults to [`map`](Backend::map).
    ///
    /// # Errors
    ///
    /// As [`map`](Backend::map); the stack then does not grow and the
    /// fault is `SIGSEGV`.
    fn grow_down(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        self.map(m)
    }

    /// `[start, end)` maps nothing any more (`unmap_region`:
    /// `zap_page_range` and `free_pgtables`): drop its pages and
    /// translations, then flush the TLB for it.
    fn unmap(&self, start: u64, end: u64) {
        let _ = (start, end);
    }

    /// The VMA flags over `[m.start, m.end)` changed from `old` to
    /// `m.flags` (`vma_modify_flags`): permissions or protection key
    /// (`change_protection`, after which the TLB is flushed), `LOCKED`,
    /// or an advice that Linux keeps in `vm_flags`.
    ///
    /// # Errors
    ///
    /// What the backend could not do; the range keeps `old`.
    fn change_flags(&self, m: &Mapping<'_>, old: VmFlags) -> Result<(), Errno> {
        let _ = (m, old);
        Ok(())
    }

    /// The pages of `[from, from + len)` move to `to.start`
    /// (`move_page_tables`), replacing what was there; the destination maps
    /// `to` from now on, which may be longer than `len` (an `mremap` that
    /// grows as it moves: the rest is new, as after [`map`](Backend::map)).
    /// The source maps nothing afterwards unless `keep_source`
    /// (`MREMAP_DONTUNMAP`: it stays mapped, empty, and unlocked); pervma
    /// also calls [`unmap`](Backend::unmap) for it after the move. `len`
    /// is 0 when `mremap` duplicates a shared mapping (its old length 0):
    /// then nothing moves and the source stays.
    ///
    /// # Errors
    ///
    /// What the backend could not do, having moved nothing; `mremap` then
    /// unmaps the destination and fails with it, the source untouched (as
    /// Linux does when `move_page_tables` falls short).
    fn move_range(
        &self,
        from: u64,
        len: u64,
        to: &Mapping<'_>,
        keep_source: bool,
    ) -> Result<(), Errno> {
        let _ = (from, len, to, keep_source);
        Ok(())
    }

    /// `MADV_DONTNEED` (`lazy == false`) or `MADV_FREE` (`lazy`) over
    /// `m`: its pages are dropped (now, or when memory is short if they
    /// stay clean), the mapping stays.
    fn discard(&self, m: &Mapping<'_>, lazy: bool) {
        let _ = (m, lazy);
    }

    /// `file`, which this space may map, is now `size` bytes long
    /// ([`File::truncate`]). If it shrank, every page of it past the new
    /// end has already been [`discard`](Backend::discard)ed from this
    /// space's mappings (private copies included), which stay mapped; a
    /// fault there is `SIGBUS` from now on, decided by pervma. A backend
    /// that keeps the file's bytes itself (a host memfd) drops what lies
    /// past `size` and reads zeroes there if the file grows again.
    fn truncate(&self, file: &File, size: u64) {
        let _ = (file, size);
    }

    /// `MADV_GUARD_INSTALL` (`install`) or `MADV_GUARD_REMOVE` over `m`:
    /// with `install`, the pages of `m` were dropped (as by
    /// [`discard`](Backend::discard)) and every access there must now fault
    /// (pervma answers such faults with `SIGSEGV` itself, without asking the
    /// backend); without, those pages are empty again and fault in as
    /// usual. A guard region is no VMA flag: no split, no merge. The
    /// default does nothing (pervma's record keeps the markers).
    fn guard(&self, m: &Mapping<'_>, install: bool) {
        let _ = (m, install);
    }

    /// A fault for `access` at `addr` (inside `m`, which is the whole
    /// VMA) maps `what` there (`set_pte_at`), replacing what a read fault
    /// mapped before (the zero page, or the file page that a store now
    /// copies). Racing faults may install the same kind twice for one
    /// address: the second must keep the first's page (its bytes may have
    /// been written already).
    ///
    /// # Errors
    ///
    /// No memory for the page: the fault fails with
    /// [`FaultError::Oom`](crate::FaultError::Oom) and nothing is mapped.
    fn install(
        &self,
        m: &Mapping<'_>,
        addr: u64,
        access: Access,
        what: Install,
    ) -> Result<(), Errno> {
        let _ = (m, addr, access, what);
        Ok(())
    }

    /// `fork` ([`Mm::fork`](crate::Mm::fork)): a backend for the child
    /// address space holding what this one holds, private memory shared
    /// copy-on-write (a store on either side must not be seen by the
    /// other: pervma's record does not know which of the backend's pages
    /// are shared, so the backend's own [`write`](Backend::write) and
    /// faults copy, as a kernel's write-protected entries do) and shared
    /// mappings shared. pervma then tells the child's backend what `fork`
    /// does differently there, with the child's locks held: [`unmap`]
    /// for each `VM_DONTCOPY` VMA, [`discard`] for each `VM_WIPEONFORK`
    /// one, and [`change_flags`] for each VMA whose `VM_LOCKED` the child
    /// loses.
    ///
    /// Called with the parent's `mmap_lock` held for write and every VMA
    /// write-locked, so nothing changes the parent's memory meanwhile.
    ///
    /// # Errors
    ///
    /// The default refuses with `EOPNOTSUPP`: a backend that cannot copy
    /// its memory (a host reservation, a userfaultfd region) cannot
    /// fork, and neither can the `Mm` it backs. A refusal fails the fork
    /// with that errno, and nothing changed.
    ///
    /// [`unmap`]: Backend::unmap
    /// [`discard`]: Backend::discard
    /// [`change_flags`]: Backend::change_flags
    fn fork(&self) -> Result<Arc<dyn Backend>, Errno> {
        Err(Errno::EOPNOTSUPP.because("this backend cannot fork (Backend::fork)"))
    }

    /// Copies the bytes at `[addr, addr + buf.len())` into `buf`: a user
    /// copy ([`Mm::access_read`](crate::Mm::access_read),
    /// [`VmaReadGuard::read_nofault`](crate::VmaReadGuard::read_nofault)).
    ///
    /// What the backend may assume: the range is inside one page of `m`
    /// (the whole VMA, as for [`install`](Backend::install)), which
    /// permits reading, and pervma's record shows that page mapped (an
    /// [`install`](Backend::install) for it returned `Ok` and no
    /// [`unmap`](Backend::unmap) or [`discard`](Backend::discard) has been
    /// recorded since). The VMA's read lock (or `mmap_lock`) is held and
    /// an RCU read section is open, so `m`, and the VMA's `unmap`,
    /// `change_flags` and `move_range`, stay away until this returns.
    /// What it may not assume: that its own page is still there.
    /// `MADV_DONTNEED` and `MADV_FREE` do not write-lock the VMA (faults
    /// race with them, as in Linux), so a [`discard`](Backend::discard) of
    /// this page may run just before or during the call, in which case
    /// pervma zaps its record right after; so may `MADV_GUARD_INSTALL`
    /// ([`guard`](Backend::guard)), after which the page is a guard
    /// region.
    ///
    /// What it must guarantee: it fills `buf` (with the page's bytes, or
    /// those of the page a racing fault maps in its place), and it returns
    /// without waiting for anything that may wait for an `Mm` lock: no
    /// call into the `Mm` (not even [`Mm::lock_vma`](crate::Mm::lock_vma)
    /// from another thread it waits for), no real page fault that a
    /// handler thread resolves under the VMA lock. Such a wait deadlocks
    /// when a writer (`munmap`, `mprotect`, `mremap` of this VMA) queues in
    /// `vma_start_write` behind the caller's read lock; the kernel forbids
    /// touching user memory under mm locks for the same reason. A backend
    /// whose memory a discard can take away makes the page present again
    /// itself, from `m`, as its `install` would.
    ///
    /// # Errors
    ///
    /// [`PageGone`]: the page is not there and must not be made present
    /// (a racing guard install made it a guard region). pervma then drops
    /// its locks, faults again (which sees what its record says by then:
    /// `SIGSEGV` for a guard) and retries, as the kernel's
    /// `copy_from_user_nofault` callers do.
    fn read(&self, m: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone>;

    /// Stores `data` at `[addr, addr + data.len())`: a user copy
    /// ([`Mm::access_write`](crate::Mm::access_write),
    /// [`VmaReadGuard::write_nofault`](crate::VmaReadGuard::write_nofault)).
    /// The same assumptions and guarantees as [`read`](Backend::read), for
    /// a page of `m` that permits writing and that a write fault mapped
    /// (a private anonymous page or copy, or a file page of a shared
    /// mapping). Racing a [`discard`](Backend::discard), the store may
    /// land in a page that the discard then drops: a store racing
    /// `MADV_DONTNEED` in Linux may be lost the same way.
    ///
    /// # Errors
    ///
    /// As for [`read`](Backend::read).
    fn write(&self, m: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone>;
}

/// What [`Backend::read`] and [`Backend::write`] answer when the page
/// pervma's record shows mapped is not there and may not be made present:
/// a racing guard install (or another change the backend saw before
/// pervma's record shows it). pervma faults again and retries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageGone;

impl core::fmt::Display for PageGone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the page went away under the copy")
    }
}

impl core::error::Error for PageGone {}
