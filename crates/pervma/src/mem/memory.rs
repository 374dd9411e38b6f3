//! Page-level faults and copies: what happens to the page table when a
//! VMA's page is touched.
//!
//! Linux: mm/memory.c (`handle_pte_fault`, `do_anonymous_page`,
//! `do_read_fault`, `do_cow_fault`, `do_shared_fault`, `do_wp_page`),
//! mm/huge_memory.c (`do_huge_pmd_anonymous_page`).
//!
//! These functions know pages, not locks. Their callers hold what keeps
//! the VMA stable (its read lock, or `mmap_lock`) and have checked the
//! access against the VMA's flags; what they need from the caller beyond
//! that, an `anon_vma`, they ask for by returning
//! [`PteFault::NeedsAnonVma`]. With a [`Backend`], each entry the record
//! gains is mapped in the backend first ([`Backend::install`]), and
//! copies read and write the backend's bytes.

#![deny(unsafe_code)]

use super::page::{Chunk, Page};
use super::pte::{NewPte, PageTable, PmdKind, Pte, PteKind};
use crate::backend::{Backend, Install, Mapping};
use crate::flags::Access;
use crate::flags::{VmFlags, PAGE_SIZE, PMD_SIZE};
use crate::sync::rcu::RcuGuard;
use crate::vma::Vma;
use alloc::sync::Arc;

/// Why [`handle_pte_fault`] did not map the page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PteFault {
    /// The fault would give the VMA anonymous memory and it has no
    /// `anon_vma` yet: the caller prepares one (`vmf_anon_prepare`) and
    /// runs the fault again.
    NeedsAnonVma,
    /// The backend had no memory for the page (`VM_FAULT_OOM`).
    Oom,
    /// `VM_FAULT_SIGBUS`: the file page could not be read
    /// (`filemap_fault` after `read_folio` failed). Nothing was cached;
    /// a later fault reads again.
    Sigbus,
    /// `VM_FAULT_SIGSEGV`: the entry is a guard marker
    /// (`handle_pte_marker`, `MADV_GUARD_INSTALL`).
    Guard,
}

/// The memory of one `Mm`: pervma's record of the page table, and the
/// backend that holds the bytes, if the user plugged one in (else the
/// record's pages and the files' page caches hold them).
#[derive(Clone, Copy)]
pub(crate) struct Memory<'a> {
    pub(crate) pt: &'a PageTable,
    pub(crate) backend: Option<&'a dyn Backend>,
}

impl Memory<'_> {
    /// Tells the backend what the fault maps (`set_pte_at`), before the
    /// record shows it.
    fn install<T>(
        &self,
        vma: &Vma<T>,
        addr: u64,
        access: Access,
        what: Install,
    ) -> Result<(), PteFault> {
        let Some(backend) = self.backend else {
            return Ok(());
        };
        let m = Mapping::of(vma, vma.start(), vma.end());
        backend
            .install(&m, addr, access, what)
            .map_err(|_| PteFault::Oom)
    }
}

/// A copy stopped at a page that needs a fault first (`Access` is the
/// kind of fault).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PageMiss;

/// `handle_pte_fault` for the page holding `addr` in `vma`, for an access
/// the VMA permits: after `Ok`, [`copy_from_page`] (for `Read`) or
/// [`copy_to_page`] (for `Write`) succeeds unless the entry is zapped in
/// between.
pub(crate) fn handle_pte_fault<T>(
    mem: Memory<'_>,
    vma: &Vma<T>,
    addr: u64,
    access: Access,
    rcu: &RcuGuard,
) -> Result<(), PteFault> {
    let pt = mem.pt;
    if access == Access::Read {
        read_fault_around(mem, vma, addr, rcu);
    }
    loop {
        let pte = pt.get(addr, rcu);
        let Some(new) = fault_entry(mem, vma, addr, access, pte, rcu)? else {
            return Ok(());
        };
        if pt.install(addr, pte, new, rcu) {
            return Ok(());
        }
        // Another fault (or a zap) changed the entry: look again.
    }
}

/// `do_read_fault`'s first step: for an empty entry, `->map_pages()`
/// (see [`fault_around`]). It comes before `->fault()`, so a read past the
/// end of the file, which then fails with `SIGBUS`, maps the cached pages
/// around it all the same.
///
/// With a backend, the backend's own faults map what they like around a
/// page; pervma's record keeps the page cache out of it (it holds no
/// bytes then).
pub(crate) fn read_fault_around<T>(mem: Memory<'_>, vma: &Vma<T>, addr: u64, rcu: &RcuGuard) {
    if mem.backend.is_none() && mem.pt.get(addr, rcu).kind() == PteKind::None {
        fault_around(mem.pt, vma, addr, rcu);
    }
}

/// `fault_around_bytes`: 64 KiB, as `fault_around_pages` pages.
const FAULT_AROUND_PAGES: u64 = 16;

/// `do_fault_around` with `filemap_map_pages` (which shmem uses too): a
/// read fault on an empty entry of a file (or shmem) mapping first maps
/// every page around it that the page cache already holds, into entries
/// that are empty, without faulting anything in. The window is the
/// 64 KiB-aligned block holding `addr`, moved up to start at the VMA if
/// the VMA starts inside it (`from_pte`), then cut at the VMA's end, the
/// page table's end (2 MiB) and the end of the file.
///
/// This is where a page that one mapping faulted in shows up in the `Rss`
/// of another mapping of the same file that only read a neighbour: Linux
/// counts it (the differential smaps test caught the model without it).
fn fault_around<T>(pt: &PageTable, vma: &Vma<T>, addr: u64, rcu: &RcuGuard) {
    let Some(file) = vma.file() else {
        return; // no ->map_pages for anonymous memory
    };
    let window = FAULT_AROUND_PAGES * PAGE_SIZE;
    let pmd = addr & !(PMD_SIZE - 1);
    let from = (addr & !(window - 1)).max(vma.start()).max(pmd);
    let eof_pages = file.size().div_ceil(PAGE_SIZE);
    let to = (from + window).min(pmd + PMD_SIZE).min(vma.end());
    for a in (from..to).step_by(PAGE_SIZE as usize) {
        let index = vma.linear_page_index(a);
        if index >= eof_pages {
            break; // filemap_map_pages stops at the end of the file
        }
        let pte = pt.get(a, rcu);
        if pte.kind() == PteKind::None && file.cache().peek(index).is_some() {
            // Lost races leave the entry to whoever won it.
            pt.install(a, pte, NewPte::File, rcu);
        }
    }
}

/// What the entry `pte` for `addr` must become for `access`, or `None` if
/// it serves the access already. The backend, if any, has mapped it
/// before this returns `Some`.
fn fault_entry<T>(
    mem: Memory<'_>,
    vma: &Vma<T>,
    addr: u64,
    access: Access,
    pte: Pte<'_>,
    rcu: &RcuGuard,
) -> Result<Option<NewPte>, PteFault> {
    let pt = mem.pt;
    let flags = vma.flags();
    let kind = pte.kind();
    if kind == PteKind::Guard {
        return Err(PteFault::Guard);
    }
    // do_shared_fault / do_read_fault of a shared mapping: the file page.
    if flags.contains(VmFlags::SHARED) {
        // A store to a shared page dirties it (fault_dirty_shared_page,
        // or the PTE's dirty bit that reclaim would find).
        let written = |vma: &Vma<T>| {
            if let (Access::Write, Some(file)) = (access, vma.file()) {
                file.cache().mark_written(vma.linear_page_index(addr));
            }
        };
        if kind != PteKind::None {
            written(vma);
            return Ok(None);
        }
        read_in(mem, vma, addr)?;
        written(vma);
        mem.install(vma, addr, access, Install::FilePage)?;
        return Ok(Some(NewPte::File));
    }
    match (access, kind) {
        (_, PteKind::Guard) => Err(PteFault::Guard),
        // do_wp_page of an anonymous page that fork shared: a copy of its
        // own for the table that stores (wp_can_reuse_anon_folio says no
        // while another table maps it).
        (Access::Write, PteKind::Anon) if pte.anon_mapcount() > 1 => match pte.anon_page() {
            Some(page) => {
                let copy = Arc::new(Page::copy_of(page));
                mem.install(vma, addr, access, Install::CowPage)?;
                Ok(Some(NewPte::Anon(copy)))
            }
            None => Ok(None),
        },
        (_, PteKind::Anon) | (Access::Read, PteKind::File | PteKind::Zero) => Ok(None),
        (Access::Read, PteKind::None) => {
            if vma.file().is_some() {
                // do_read_fault: the page-cache page, read-only.
                read_in(mem, vma, addr)?;
                mem.install(vma, addr, access, Install::FilePage)?;
                return Ok(Some(NewPte::File));
            }
            // do_anonymous_page: the zero page; the huge zero page needs an
            // anon_vma first (do_huge_pmd_anonymous_page).
            let huge = thp_block(pt, vma, addr);
            if huge.is_some() && vma.anon_vma().is_none() {
                return Err(PteFault::NeedsAnonVma);
            }
            mem.install(vma, addr, access, Install::ZeroPage)?;
            if let Some(block) = huge {
                pt.set_pmd(block, PmdKind::HugeZero);
            }
            Ok(Some(NewPte::Zero))
        }
        // do_cow_fault / do_wp_page / do_anonymous_page for a store.
        (Access::Write, PteKind::None | PteKind::Zero | PteKind::File) => {
            if vma.anon_vma().is_none() {
                return Err(PteFault::NeedsAnonVma);
            }
            if vma.file().is_none() {
                let block = addr & !(PMD_SIZE - 1);
                let huge_zero = pt.pmd(addr) == PmdKind::HugeZero
                    && vma.start() <= block
                    && block.checked_add(PMD_SIZE).is_some_and(|e| e <= vma.end());
                let huge = thp_block(pt, vma, addr).is_some() || huge_zero;
                mem.install(vma, addr, access, Install::Anon { huge })?;
                if huge {
                    // A THP: the whole aligned 2 MiB block at once, where
                    // the PMD entry is empty or holds the huge zero page
                    // (do_huge_zero_wp_pmd).
                    fill_huge_block(pt, block, rcu);
                }
                return Ok(Some(NewPte::AnonZero));
            }
            let copy = cow_copy(mem, vma, addr)?;
            mem.install(vma, addr, access, Install::CowPage)?;
            Ok(Some(copy))
        }
    }
}

/// The aligned 2 MiB block holding `addr`, if a fault there gets a
/// transparent huge page: private anonymous, `MADV_HUGEPAGE` with THP in
/// `madvise` mode, block inside the VMA (`thp_vma_suitable_order`), and
/// `pmd_none` (`__handle_mm_fault`): a page table there, even an empty one
/// (left by an earlier fault in the block, or brought by `mremap`), makes
/// the fault a PTE-level one, which maps the (small) zero page for a read
/// without an `anon_vma`.
fn thp_block<T>(pt: &PageTable, vma: &Vma<T>, addr: u64) -> Option<u64> {
    (read_fault_maps_huge_zero_page(vma, addr, addr + 1) && pt.pmd(addr) == PmdKind::None)
        .then_some(addr & !(PMD_SIZE - 1))
}

/// Whether a read fault somewhere in `[start, end)` (inside `vma`) is
/// served with the huge zero page, which needs an `anon_vma`: a private
/// anonymous `MADV_HUGEPAGE` VMA (THP mode `madvise`) covering an aligned
/// 2 MiB block that the range touches (`thp_vma_suitable_order`).
fn read_fault_maps_huge_zero_page<T>(vma: &Vma<T>, start: u64, end: u64) -> bool {
    let flags = vma.flags();
    if !vma.is_anonymous()
        || flags.contains(VmFlags::SHARED)
        || !flags.contains(VmFlags::HUGEPAGE)
        || flags.contains(VmFlags::NOHUGEPAGE)
    {
        return false;
    }
    // The lowest block inside the VMA that the range reaches.
    let Some(first_in_vma) = vma.start().checked_next_multiple_of(PMD_SIZE) else {
        return false;
    };
    let block = first_in_vma.max(start & !(PMD_SIZE - 1));
    block < end && block.checked_add(PMD_SIZE).is_some_and(|e| e <= vma.end())
}

/// Whether a read fault somewhere in `[start, end)` of `vma` maps the
/// huge zero page (and so needs an `anon_vma`): [`thp_block`] for some
/// block the range reaches.
pub(crate) fn read_maps_huge_zero_page<T>(
    pt: &PageTable,
    vma: &Vma<T>,
    start: u64,
    end: u64,
) -> bool {
    let mut block = start & !(PMD_SIZE - 1);
    while block < end {
        let addr = block.max(start);
        if thp_block(pt, vma, addr).is_some() {
            return true;
        }
        match block.checked_add(PMD_SIZE) {
            Some(next) => block = next,
            None => break,
        }
    }
    false
}

/// Installs anonymous zeroes across the THP block at `block` (whose PMD
/// entry is empty or the huge zero page); the block's entry becomes a
/// table from then on.
fn fill_huge_block(pt: &PageTable, block: u64, rcu: &RcuGuard) {
    let pages = block..block + PMD_SIZE;
    pt.set_pmd(block, PmdKind::Table);
    let folio = pt.alloc_thp();
    for (index, a) in pages.step_by(PAGE_SIZE as usize).enumerate() {
        let pte = pt.get(a, rcu);
        if matches!(pte.kind(), PteKind::None | PteKind::Zero) {
            // A racing fault may win a page; then it is anonymous anyway.
            pt.install_thp_subpage(a, pte, folio, index as u64, rcu);
        }
    }
}

/// `__do_fault` -> `filemap_fault`/`shmem_fault`: brings the file page
/// that `addr` maps into the page cache (read from the file's contents,
/// or as zeroes for a file without), where a later fault-around of any
/// mapping of the file finds it. Every fault that maps or copies a file
/// page goes through it, before the backend maps anything
/// (`finish_fault` comes after `__do_fault`); a read error is
/// `VM_FAULT_SIGBUS`. With a backend the file's bytes are the backend's
/// business, and the page cache stays empty.
fn read_in<'v, T>(
    mem: Memory<'_>,
    vma: &'v Vma<T>,
    addr: u64,
) -> Result<Option<&'v Page>, PteFault> {
    if mem.backend.is_some() {
        return Ok(None);
    }
    let Some(file) = vma.file() else {
        return Ok(None);
    };
    let index = vma.linear_page_index(addr);
    file.cache().get(index).map_err(|_| PteFault::Sigbus)
}

/// The private copy a store to a private file mapping gets
/// (`do_cow_fault`): the file page's contents, read into the page cache
/// first (`__do_fault`), or zeroes lazily with a backend. The copy is
/// anonymous: it never reaches the file.
fn cow_copy<T>(mem: Memory<'_>, vma: &Vma<T>, addr: u64) -> Result<NewPte, PteFault> {
    Ok(match read_in(mem, vma, addr)? {
        Some(page) => NewPte::Anon(Arc::new(Page::copy_of(page))),
        None => NewPte::AnonZero,
    })
}

/// Copies one page's part of a read out of `vma`'s memory without
/// faulting: `Err(PageMiss)` if the page is not mapped.
pub(crate) fn copy_from_page<T>(
    mem: Memory<'_>,
    vma: &Vma<T>,
    chunk: Chunk,
    buf: &mut [u8],
    rcu: &RcuGuard,
) -> Result<(), PageMiss> {
    let out = &mut buf[chunk.done..chunk.done + chunk.len];
    let pte = mem.pt.get(chunk.addr, rcu);
    if matches!(pte.kind(), PteKind::None | PteKind::Guard) {
        return Err(PageMiss);
    }
    if let Some(backend) = mem.backend {
        return backend
            .read(&Mapping::of(vma, vma.start(), vma.end()), chunk.addr, out)
            .map_err(|_| PageMiss);
    }
    match pte.kind() {
        PteKind::None | PteKind::Guard => return Err(PageMiss),
        PteKind::Zero => out.fill(0),
        PteKind::Anon => match pte.anon_page() {
            Some(page) => page.read(chunk.in_page, out),
            None => out.fill(0),
        },
        PteKind::File => match file_page(vma, chunk.addr) {
            Some(page) => page.read(chunk.in_page, out),
            None => out.fill(0),
        },
    }
    Ok(())
}

/// Copies one page's part of a store into `vma`'s memory without
/// faulting: `Err(PageMiss)` if the page is not mapped writably (absent,
/// the zero page, or a file page of a private mapping). An anonymous page
/// that `fork` shared with another table is copied first (copy-on-write).
pub(crate) fn copy_to_page<T>(
    mem: Memory<'_>,
    vma: &Vma<T>,
    chunk: Chunk,
    data: &[u8],
    rcu: &RcuGuard,
) -> Result<(), PageMiss> {
    let data = &data[chunk.done..chunk.done + chunk.len];
    loop {
        let pte = mem.pt.get(chunk.addr, rcu);
        let writable = match pte.kind() {
            PteKind::None | PteKind::Zero | PteKind::Guard => false,
            PteKind::File => vma.flags().contains(VmFlags::SHARED),
            PteKind::Anon => true,
        };
        if !writable {
            return Err(PageMiss);
        }
        if let Some(backend) = mem.backend {
            let m = Mapping::of(vma, vma.start(), vma.end());
            return backend.write(&m, chunk.addr, data).map_err(|_| PageMiss);
        }
        let page = match pte.kind() {
            PteKind::File => return file_store(vma, chunk, data),
            _ => match pte.anon_page() {
                // Shared with another table since a fork (which may have
                // come between the fault and this copy): copy it first, as
                // the write fault would have (`do_wp_page`), then store.
                Some(page) if pte.anon_mapcount() > 1 => {
                    let copy = Arc::new(Page::copy_of(page));
                    mem.pt.install(chunk.addr, pte, NewPte::Anon(copy), rcu);
                    continue;
                }
                Some(page) => page,
                None => {
                    // First store to lazily zeroed anonymous memory: give
                    // it a page, then store (if the entry changed
                    // meanwhile, look again anyway).
                    let page = Arc::new(Page::zeroed());
                    let new = if pte.is_thp() {
                        NewPte::AnonThp(page)
                    } else {
                        NewPte::Anon(page)
                    };
                    mem.pt.install(chunk.addr, pte, new, rcu);
                    continue;
                }
            },
        };
        page.write(chunk.in_page, data);
        return Ok(());
    }
}

/// The page-cache page that `addr` maps in `vma`, or `None` when the
/// cache does not hold it (it reads as zeroes).
fn file_page<T>(vma: &Vma<T>, addr: u64) -> Option<&Page> {
    vma.file()?.cache().peek(vma.linear_page_index(addr))
}

/// A store through a shared mapping to the file page `chunk.addr` maps:
/// into the page cache, dirtying the page (`do_shared_fault`'s
/// `fault_dirty_shared_page`, at every store rather than at the fault,
/// as pervma's entries are never write-protected again).
fn file_store<T>(vma: &Vma<T>, chunk: Chunk, data: &[u8]) -> Result<(), PageMiss> {
    let file = vma.file().ok_or(PageMiss)?;
    let index = vma.linear_page_index(chunk.addr);
    // The entry maps the page, so the cache holds it and this reads
    // nothing in; should it fail, the fault path reports why.
    match file.cache().write(index, chunk.in_page, data) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(PageMiss),
    }
}
