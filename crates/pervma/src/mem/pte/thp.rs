//! Transparent huge pages in the page table: the PMD level (which 2 MiB
//! blocks have a page table, the huge zero page), THP folios and their
//! subpages, splitting (`MADV_FREE`, `cold`, partial unmaps) and
//! collapsing (`MADV_COLLAPSE`), moving whole blocks (`mremap`).
//!
//! Linux: mm/huge_memory.c, mm/khugepaged.c, mm/mremap.c
//! (`move_pgt_entry`), mm/memory.c (`free_pgtables`).
//!
//! The same `PageTable` as the entries of the parent module, whose
//! invariants hold here too; split off to keep each file readable.

use super::*;

/// Which subpage of which transparent huge page (folio) an entry maps
/// (`folio_page`), as one nonzero word of the side tree: the folio's number
/// above the subpage index.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct FolioPage(u64);

impl FolioPage {
    pub(super) fn new(folio: u64, index: u64) -> Self {
        debug_assert!(folio != 0 && index < HPAGE_PMD_NR);
        FolioPage(folio << (PMD_SHIFT - PAGE_SHIFT) | index)
    }

    pub(super) fn folio(self) -> u64 {
        self.0 >> (PMD_SHIFT - PAGE_SHIFT)
    }

    /// The next subpage of the same folio (not past its end).
    pub(super) fn next(self) -> Option<Self> {
        (self.0 % HPAGE_PMD_NR + 1 < HPAGE_PMD_NR).then_some(FolioPage(self.0 + 1))
    }

    pub(super) fn into_word(self) -> *mut () {
        self.0 as usize as *mut ()
    }

    pub(super) fn from_word(word: *mut ()) -> Self {
        FolioPage(word as usize as u64)
    }
}

impl PageTable {
    /// A new transparent huge page (`vma_alloc_anon_folio_pmd`): a folio
    /// number for [`PageTable::install_thp_subpage`].
    pub(crate) fn alloc_thp(&self) -> u64 {
        self.next_folio.fetch_add(1, Ordering::Relaxed)
    }

    /// [`PageTable::install`] of subpage `index` of the THP `folio` (from
    /// [`PageTable::alloc_thp`]), as anonymous zeroes.
    pub(crate) fn install_thp_subpage(
        &self,
        addr: u64,
        old: Pte<'_>,
        folio: u64,
        index: u64,
        rcu: &RcuGuard,
    ) -> bool {
        let Some(side) = self.folios.leaf_or_alloc(addr >> PAGE_SHIFT) else {
            return false;
        };
        // Written before the entry is published (Release in `install`):
        // whoever sees the tagged entry sees its folio. (Two faults filling
        // one block at once, which Linux serialises on the PMD lock, may
        // leave a winner's entry with the loser's number: a race the model
        // does not resolve, as it does not make one THP of the two.)
        side.store(FolioPage::new(folio, index).into_word(), Ordering::Relaxed);
        self.install(addr, old, NewPte::AnonZeroThp, rcu)
    }

    /// The folio and subpage that `pte`, the entry at `addr`, maps, if it
    /// maps a THP subpage.
    pub(super) fn folio_page(&self, addr: u64, pte: Pte<'_>) -> Option<FolioPage> {
        if !pte.is_thp() {
            return None;
        }
        let side = self.folios.leaf(addr >> PAGE_SHIFT)?;
        Some(FolioPage::from_word(side.load(Ordering::Acquire)))
    }

    /// `MADV_FREE` of `[start, end)` at the folio level
    /// (`madvise_free_pte_range`, and `madvise_free_huge_pmd` for a THP
    /// still mapped by its PMD): a THP that the range does not map whole
    /// is split (`split_folio`). "Whole" is `madvise_folio_pte_batch`: the
    /// entries from the first one in the range that maps the folio must map
    /// all of it, subpage after subpage, without leaving the range or the
    /// page table (2 MiB block). So a THP that `mremap` moved in part, or
    /// that was partly unmapped or replaced, is split by `MADV_FREE` of
    /// any part of what is left of it.
    ///
    /// `vm_locked(addr)` says whether the VMA mapping `addr` is
    /// `VM_LOCKED`, or `None` if the caller cannot see that VMA (it holds
    /// only another VMA's lock): then the split that needed it has not
    /// begun, and the caller tries again under `mmap_lock`. Folios split
    /// before stay split; Linux too drops the page-table lock to split.
    ///
    /// `around_remap(runs, remap)` must run `remap`, which changes the
    /// entries of the page ranges `runs` (every mapping of a folio being
    /// split, inside the range or not: Linux's `try_to_migrate_one`
    /// invalidates each), inside whatever brackets the caller needs (MMU
    /// notifiers).
    ///
    /// Pages the range covers are then only marked lazily freeable, which
    /// pervma does not model: they stay until memory runs short.
    ///
    /// `MADV_COLD` splits the same folios (`madvise_cold_or_pageout_pte_range`);
    /// `MADV_PAGEOUT` (`whole_too`) also splits the folios it covers whole,
    /// when reclaim fails to swap them out whole (`shrink_folio_list`:
    /// `add_to_swap` fails without swap space, `split_folio_to_list`).
    pub(crate) fn split_folios(
        &self,
        start: u64,
        end: u64,
        whole_too: bool,
        vm_locked: &dyn Fn(u64) -> Option<bool>,
        around_remap: AroundRemap<'_>,
        rcu: &RcuGuard,
    ) -> Result<(), VmaNotLocked> {
        let page = 1 << PAGE_SHIFT;
        let mut addr = start;
        while addr < end {
            let Some(first) = self.folio_page(addr, self.get(addr, rcu)) else {
                addr += page;
                continue;
            };
            let table_end = (addr | (PMD_BLOCK - 1)).saturating_add(1).min(end);
            let mut nr = 1;
            let mut expect = first.next();
            while let Some(next) = expect {
                let a = addr + nr * page;
                if a >= table_end || self.folio_page(a, self.get(a, rcu)) != Some(next) {
                    break;
                }
                nr += 1;
                expect = next.next();
            }
            if nr < HPAGE_PMD_NR || whole_too {
                // After the split the entry maps a small page (or the zero
                // page): look at it again, as Linux does (`nr = 0`).
                self.split_folio(first.folio(), vm_locked, around_remap, rcu)?;
                continue;
            }
            addr += nr * page;
        }
        Ok(())
    }

    /// `split_folio` of the THP `folio`, wherever it is mapped: `unmap_folio`
    /// replaces every entry that maps one of its subpages, found through
    /// the rmap (here, a walk of the whole table), with a migration entry,
    /// and `remap_page` (`remove_migration_ptes` with
    /// `RMP_USE_SHARED_ZEROPAGE`, since Linux 6.12) puts back each as a
    /// page of its own, or the zero page if the subpage holds only zeroes
    /// and the VMA there is not `VM_LOCKED` (`try_to_map_unused_to_zeropage`),
    /// so it leaves `Rss`. That includes subpages that `mremap` moved away
    /// from the block where the folio was allocated.
    pub(super) fn split_folio(
        &self,
        folio: u64,
        vm_locked: &dyn Fn(u64) -> Option<bool>,
        around_remap: AroundRemap<'_>,
        rcu: &RcuGuard,
    ) -> Result<(), VmaNotLocked> {
        let mut mapped = alloc::vec::Vec::new();
        let mut unseen = false;
        self.radix.for_each(0, u64::MAX, |index, leaf| {
            let pte = Pte {
                word: leaf.load(Ordering::Acquire),
                _rcu: PhantomData,
            };
            let addr = index << PAGE_SHIFT;
            if self
                .folio_page(addr, pte)
                .is_some_and(|p| p.folio() == folio)
            {
                match vm_locked(addr) {
                    Some(locked) => mapped.push((addr, pte, locked)),
                    None => unseen = true,
                }
            }
        });
        if unseen {
            return Err(VmaNotLocked);
        }
        // The page ranges the folio is mapped at, for the notifiers.
        let mut runs: alloc::vec::Vec<(u64, u64)> = alloc::vec::Vec::new();
        for &(addr, _, _) in &mapped {
            match runs.last_mut() {
                Some(run) if run.1 == addr => run.1 += 1 << PAGE_SHIFT,
                _ => runs.push((addr, addr + (1 << PAGE_SHIFT))),
            }
        }
        around_remap(&runs, &mut || {
            for &(addr, pte, locked) in &mapped {
                // A racing store wins (its page is not zero); the split then
                // leaves that entry alone.
                if !locked && pte.anon_page().is_none_or(|page| page.is_zero()) {
                    self.install(addr, pte, NewPte::Zero, rcu);
                } else if let Some(leaf) = self.radix.leaf(addr >> PAGE_SHIFT) {
                    let word = match pte.word as usize {
                        // A subpage never stored to, kept: lazily zeroed.
                        ANON_ZERO_THP => ANON_ZERO as *mut (),
                        w => (w & !THP) as *mut (),
                    };
                    let _ =
                        leaf.compare_exchange(pte.word, word, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
        });
        Ok(())
    }

    /// The PMD entry of the 2 MiB block holding `addr`.
    pub(crate) fn pmd(&self, addr: u64) -> PmdKind {
        match self.pmds.leaf(addr >> PMD_SHIFT) {
            Some(leaf) => match leaf.load(Ordering::Acquire) as usize {
                0 => PmdKind::None,
                1 => PmdKind::Table,
                _ => PmdKind::HugeZero,
            },
            None => PmdKind::None,
        }
    }

    /// Sets the PMD entry of the block holding `addr`.
    pub(crate) fn set_pmd(&self, addr: u64, kind: PmdKind) {
        if let Some(leaf) = self.pmds.leaf_or_alloc(addr >> PMD_SHIFT) {
            leaf.store(kind as usize as *mut (), Ordering::Release);
        }
    }

    /// `pte_alloc`: a page table for the block holding `addr`, unless
    /// its PMD entry holds one (or a huge page) already.
    pub(super) fn pte_alloc(&self, addr: u64) {
        if let Some(leaf) = self.pmds.leaf_or_alloc(addr >> PMD_SHIFT) {
            let none = PmdKind::None as usize as *mut ();
            let table = PmdKind::Table as usize as *mut ();
            let _ = leaf.compare_exchange(none, table, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// `split_huge_pmd` of the huge zero page at the block holding `addr`
    /// (a range edge that is not 2 MiB-aligned): a table of zero pages.
    pub(crate) fn split_huge_zero(&self, addr: u64) {
        if addr % PMD_BLOCK != 0 && self.pmd(addr) == PmdKind::HugeZero {
            self.set_pmd(addr, PmdKind::Table);
        }
    }

    /// What zapping `[start, end)` does to the PMD entries: a huge zero
    /// page only partly covered is split; with `reclaim`
    /// (`MADV_DONTNEED`: `zap_huge_pmd`, and the `CONFIG_PT_RECLAIM` freeing
    /// of a page table left empty), whole blocks become `pmd_none`.
    pub(crate) fn zap_pmds(&self, start: u64, end: u64, reclaim: bool) {
        if start >= end {
            return;
        }
        self.split_huge_zero(start);
        self.split_huge_zero(end);
        if reclaim {
            let mut block = start.next_multiple_of(PMD_BLOCK);
            while block.checked_add(PMD_BLOCK).is_some_and(|e| e <= end) {
                if !self.any_entry(block, block + PMD_BLOCK) {
                    self.set_pmd(block, PmdKind::None);
                }
                block += PMD_BLOCK;
            }
        }
    }

    /// `free_pgtables` after an unmap: frees the page tables of the blocks
    /// that meet one of the unmapped `ranges` and lie inside `[floor,
    /// ceiling)` (the end of the VMA below, the start of the VMA above;
    /// `None` for no VMA above), as `free_pgd_range` does.
    pub(crate) fn free_tables(&self, ranges: &[(u64, u64)], floor: u64, ceiling: Option<u64>) {
        for &(start, end) in ranges {
            let mut block = start & !(PMD_BLOCK - 1);
            while block < end {
                let Some(block_end) = block.checked_add(PMD_BLOCK) else {
                    break;
                };
                if block >= floor && ceiling.is_none_or(|c| block_end <= c) {
                    self.set_pmd(block, PmdKind::None);
                }
                block = block_end;
            }
        }
    }

    /// `move_page_tables` at the PMD level, for a move of `len` bytes from
    /// `old` to `new`, aligned down to 2 MiB first if `realign`
    /// (`try_realign_addr`): a block moved whole onto an empty PMD entry
    /// takes its table (or huge page) along (`move_normal_pmd`,
    /// `move_huge_pmd`); otherwise a huge page is split and the destination
    /// gets a table (`pte_alloc`) whenever the source has one. The entries
    /// themselves move with [`PageTable::move_range`].
    pub(crate) fn move_pmds(&self, mut old: u64, mut new: u64, len: u64, realign: bool) {
        let old_end = old + len;
        if realign {
            old &= !(PMD_BLOCK - 1);
            new &= !(PMD_BLOCK - 1);
        }
        while old < old_end {
            let extent = (PMD_BLOCK - old % PMD_BLOCK)
                .min(old_end - old)
                .min(PMD_BLOCK - new % PMD_BLOCK);
            let kind = self.pmd(old);
            if kind != PmdKind::None {
                if extent == PMD_BLOCK && self.pmd(new) == PmdKind::None {
                    self.set_pmd(new, kind);
                    self.set_pmd(old, PmdKind::None);
                } else {
                    if kind == PmdKind::HugeZero {
                        self.set_pmd(old, PmdKind::Table);
                    }
                    self.pte_alloc(new);
                }
            }
            old += extent;
            new += extent;
        }
    }
    /// `MADV_COLLAPSE` of the aligned 2 MiB block at `block`
    /// (`collapse_scan_pmd`, `collapse_huge_page` with `max_ptes_none`
    /// 512): every entry becomes a subpage of one new THP, keeping the
    /// bytes of the pages it had (the zero page and empty entries read as
    /// zeroes). `false` if the block has no page table (`SCAN_PMD_NULL`)
    /// or a guard marker (`SCAN_PTE_NON_PRESENT`); a block mapped by one
    /// THP already is left alone.
    pub(crate) fn collapse_block(&self, block: u64, rcu: &RcuGuard) -> bool {
        let page = 1 << PAGE_SHIFT;
        match self.pmd(block) {
            PmdKind::None => return false,
            PmdKind::HugeZero => self.set_pmd(block, PmdKind::Table),
            PmdKind::Table => {}
        }
        let ptes: alloc::vec::Vec<Pte<'_>> = (0..HPAGE_PMD_NR)
            .map(|i| self.get(block + i * page, rcu))
            .collect();
        if ptes.iter().any(|p| p.kind() == PteKind::Guard) {
            return false;
        }
        if let Some(first) = self.folio_page(block, ptes[0]) {
            let whole = (0..HPAGE_PMD_NR).all(|i| {
                self.folio_page(block + i * page, ptes[i as usize])
                    == Some(FolioPage::new(first.folio(), i))
            });
            if whole {
                return true;
            }
        }
        let folio = self.alloc_thp();
        for (i, pte) in ptes.into_iter().enumerate() {
            let addr = block + i as u64 * page;
            let data = pte.anon_page().filter(|p| !p.is_zero());
            match data {
                Some(old) => {
                    let copy = Arc::new(Page::copy_of(old));
                    if let Some(side) = self.folios.leaf_or_alloc(addr >> PAGE_SHIFT) {
                        side.store(
                            FolioPage::new(folio, i as u64).into_word(),
                            Ordering::Relaxed,
                        );
                    }
                    self.install(addr, pte, NewPte::AnonThp(copy), rcu);
                }
                None => {
                    self.install_thp_subpage(addr, pte, folio, i as u64, rcu);
                }
            }
        }
        true
    }
}
