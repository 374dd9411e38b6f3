//! The page table: which page backs each user address of one `Mm`.
//!
//! Linux: mm/memory.c (`handle_pte_fault`, `zap_pte_range`,
//! `set_pte_at`), mm/mremap.c (`move_ptes`).
//!
//! One word per page, in a [`Radix`] indexed by `addr >> PAGE_SHIFT`:
//!
//! | word        | meaning                                                   |
//! |-------------|-----------------------------------------------------------|
//! | `NONE` (0)  | `pte_none`: nothing mapped                                |
//! | `ZERO`      | the shared zero page (reads as zeroes, not in RSS)        |
//! | `FILE`      | the page of the VMA's file (or shmem object) at this     |
//! |             | address's offset, found in the file's page cache          |
//! | `ANON_ZERO` | an anonymous page of zeroes, allocated on first store     |
//! | `GUARD`     | a guard marker (`PTE_MARKER_GUARD`, `MADV_GUARD_INSTALL`):|
//! |             | no page; any access faults with `SIGSEGV`                 |
//! | pointer     | an anonymous page: `Arc::<Page>::into_raw`, owning one    |
//! |             | strong count                                              |
//!
//! Beside each entry that maps a subpage of a transparent huge page, a
//! second radix tree holds which folio and which of its subpages
//! ([`FolioPage`](thp::FolioPage)): an entry that `mremap` moves keeps mapping the same
//! subpage of the same folio at its new address, as in Linux, where the
//! entry keeps its page frame and the folio's rmap still finds it.
//!
//! A `FILE` entry names no page: the VMA and the address say which page of
//! which file it is (`linear_page_index`), and the page cache holds it, so
//! a shared mapping sees every store to the file. `ANON_ZERO` is what
//! populating writable private memory installs: resident and anonymous, as
//! in Linux, but without 4 KiB of zeroes per page until something is
//! stored.
//!
//! # Invariants
//!
//! - An entry changes only by a single atomic operation: a fault installs
//!   one with compare-and-swap against the value it decided on (so two
//!   faults on one page agree on the winner, as `pte_same` under the PTE
//!   lock does in Linux), and unmapping swaps it out.
//! - A page whose entry was swapped out is released through RCU
//!   ([`RetireBatch`]), so a reader inside an RCU read section that loaded
//!   the entry may still copy to or from it. (Linux: the TLB flush before
//!   the page is freed.)
//! - Whoever changes entries for a range holds what keeps faults off it:
//!   faults run under the VMA's read lock (or `mmap_lock`), and `munmap`,
//!   `mremap` and `mprotect` hold `mmap_lock` for write with the VMAs
//!   write-locked. Only `MADV_DONTNEED` zaps under faults' feet, as in
//!   Linux, where it needs only `mmap_lock` for read.
//!
//! Entries take no lock: faults on different pages never contend, and
//! faults on the same page contend on its word only. Lock order:
//! `mmap_lock` -> VMA lock -> page-table entry (never held, so nothing
//! below it).

mod thp;

use super::page::{Page, PAGE_PTR_TAG_BITS};
use super::radix::Radix;
use crate::flags::PAGE_SHIFT;
use crate::sync::prim::{fence, AtomicU64, Ordering};
use crate::sync::rcu::{RcuGuard, RetireBatch};
use alloc::sync::Arc;
use core::marker::PhantomData;
use core::ptr;

const NONE: usize = 0;
const ZERO: usize = 1;
const FILE: usize = 2;
const ANON_ZERO: usize = 3;
/// `ANON_ZERO` for a subpage of a transparent huge page.
const ANON_ZERO_THP: usize = 4;
/// A guard marker (`make_pte_marker(PTE_MARKER_GUARD)`).
const GUARD: usize = 5;
/// Tag bit of a pointer word: the page is a subpage of a transparent huge
/// page that has not been split (`folio_test_large`).
const THP: usize = 1;

// Markers are below the alignment of `Page`, so no page pointer is one.
const _: () = assert!(ANON_ZERO_THP <= PAGE_PTR_TAG_BITS && GUARD <= PAGE_PTR_TAG_BITS);

/// What an entry holds, as seen by a reader.
#[derive(Clone, Copy)]
pub(crate) struct Pte<'g> {
    word: *mut (),
    _rcu: PhantomData<&'g Page>,
}

/// The kind of page an entry maps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PteKind {
    /// `pte_none`.
    None,
    /// The zero page.
    Zero,
    /// A page-cache page (file or shmem).
    File,
    /// An anonymous page (allocated or not).
    Anon,
    /// A guard marker: no page, and every access is `SIGSEGV`
    /// (`is_guard_pte_marker`).
    Guard,
}

impl<'g> Pte<'g> {
    const NONE: Pte<'static> = Pte {
        word: ptr::null_mut(),
        _rcu: PhantomData,
    };

    pub(crate) fn kind(&self) -> PteKind {
        match self.word as usize {
            NONE => PteKind::None,
            ZERO => PteKind::Zero,
            FILE => PteKind::File,
            GUARD => PteKind::Guard,
            _ => PteKind::Anon,
        }
    }

    /// Whether the entry maps a subpage of a transparent huge page that
    /// has not been split.
    pub(crate) fn is_thp(&self) -> bool {
        let w = self.word as usize;
        w == ANON_ZERO_THP || (w > PAGE_PTR_TAG_BITS && w & THP != 0)
    }

    /// How many page tables map the anonymous page this entry holds
    /// (`folio_mapcount`): 2 or more once `fork` shared it, until a store
    /// in all but one of them copied it (`do_wp_page`). It is the page's
    /// strong count, which for a grace period also counts an entry that
    /// another table just unmapped: that makes a store copy a page it
    /// could have reused, which nobody can tell. 1 for every other entry.
    pub(crate) fn anon_mapcount(&self) -> usize {
        let Some(p) = page_ptr(self.word) else {
            return 1;
        };
        // SAFETY: a pointer word holds a strong count of a live `Page`,
        // alive for `'g` (as in `anon_page`); the `ManuallyDrop` gives
        // no count back.
        let page = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
        let count = Arc::strong_count(&page);
        // Acquire: a count of 1 read here must happen after the other
        // table's last access to the page (its release of the count is a
        // Release decrement), before this thread stores into it in place.
        fence(Ordering::Acquire);
        count
    }

    /// The anonymous page, if the entry holds an allocated one.
    pub(crate) fn anon_page(&self) -> Option<&'g Page> {
        page_ptr(self.word).map(|p| {
            // SAFETY: a pointer word holds a strong count of a live `Page`,
            // and `'g` is an RCU read section (or exclusive access) that
            // began before the entry could be swapped out, so the page
            // outlives `'g` (invariants).
            unsafe { &*p }
        })
    }
}

/// An entry about to be installed; it owns its page's strong count.
pub(crate) enum NewPte {
    /// The zero page.
    Zero,
    /// The file page at this address.
    File,
    /// An anonymous page of zeroes, not allocated yet.
    AnonZero,
    /// An anonymous page.
    Anon(Arc<Page>),
    /// `AnonZero` as a subpage of a transparent huge page.
    AnonZeroThp,
    /// `Anon` as a subpage of a transparent huge page.
    AnonThp(Arc<Page>),
}

impl NewPte {
    fn into_word(self) -> *mut () {
        let w = match self {
            NewPte::Zero => ZERO,
            NewPte::File => FILE,
            NewPte::AnonZero => ANON_ZERO,
            NewPte::AnonZeroThp => ANON_ZERO_THP,
            NewPte::Anon(page) => Arc::into_raw(page) as usize,
            NewPte::AnonThp(page) => Arc::into_raw(page) as usize | THP,
        };
        w as *mut ()
    }
}

/// Gives back the strong count an entry word owns, now.
///
/// # Safety
///
/// `word` was made by `NewPte::into_word`, is in no table any more, and no
/// reader can still be using its page.
unsafe fn release_now(word: *mut ()) {
    if let Some(p) = page_ptr(word) {
        // SAFETY: the word owned this strong count (contract).
        drop(unsafe { Arc::from_raw(p) });
    }
}

/// Hands the strong count an entry word owns to `batch`, for release after
/// a grace period.
///
/// # Safety
///
/// `word` was made by `NewPte::into_word` and is in no table any more.
unsafe fn release_later(word: *mut (), batch: &mut RetireBatch) {
    if let Some(p) = page_ptr(word) {
        // SAFETY: the word owned this strong count; readers that loaded it
        // are inside RCU read sections that the batch's grace period waits
        // for.
        unsafe { batch.push_arc(p) };
    }
}

fn page_ptr(word: *mut ()) -> Option<*const Page> {
    let w = word as usize;
    (w > PAGE_PTR_TAG_BITS).then_some((w & !THP) as *const Page)
}

/// Resident pages in a range, as `smaps` counts them
/// (`smaps_pte_entry`).
///
/// A `FILE` entry counts whether or not the cache has allocated its page
/// yet: it is mapped.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct PteCounts {
    /// Pages mapped (`Rss`); the zero page does not count.
    pub(crate) resident: u64,
    /// Of those, anonymous pages (`Anonymous`).
    pub(crate) anon: u64,
}

/// [`PageTable::split_folios`] would split a THP mapped where the caller
/// cannot see the VMA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct VmaNotLocked;

/// What a THP split runs its remapping in: `(page ranges, remap)`, to
/// bracket the remap with the MMU notifiers of every range it changes.
pub(crate) type AroundRemap<'a> = &'a dyn Fn(&[(u64, u64)], &mut dyn FnMut());

/// What a page-middle-directory entry (one per aligned 2 MiB block) holds,
/// as far as the model needs it: whether a fault there may still map a
/// transparent huge page (`pmd_none`), and the huge zero page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PmdKind {
    /// `pmd_none`: no page table below it; a fault in a THP-eligible VMA
    /// maps a huge page (or the huge zero page) here.
    None,
    /// A page table (`pte_alloc`), or a THP: faults are PTE-level faults
    /// from now on, even where every entry is empty, until the table is
    /// freed (`free_pgtables`, `MADV_DONTNEED` of the whole block) or moved
    /// away whole (`move_normal_pmd`).
    Table,
    /// The huge zero page (a read fault's THP): a store here allocates a THP
    /// (`do_huge_zero_wp_pmd`); a split makes it a `Table` of zero pages.
    HugeZero,
}

const PMD_SHIFT: u32 = 21;
const PMD_BLOCK: u64 = 1 << PMD_SHIFT;
/// `HPAGE_PMD_NR`: subpages in a transparent huge page.
const HPAGE_PMD_NR: u64 = PMD_BLOCK >> PAGE_SHIFT;

/// The page table of one `Mm`.
pub(crate) struct PageTable {
    radix: Radix,
    /// One word per 2 MiB block: `PmdKind as usize`.
    pmds: Radix,
    /// One word per page, beside `radix`: for an entry that maps a THP
    /// subpage, its [`FolioPage`](thp::FolioPage); meaningless (stale or empty) for other
    /// entries. Plain numbers: nothing to release when dropped.
    folios: Radix,
    /// The number of the next THP allocated (0 is no folio).
    next_folio: AtomicU64,
}

impl PageTable {
    /// A table for user addresses below `task_size`.
    pub(crate) fn new(task_size: u64) -> Self {
        let pages = task_size.div_ceil(1 << PAGE_SHIFT);
        let bits = u64::BITS - pages.leading_zeros();
        PageTable {
            radix: Radix::new(bits),
            pmds: Radix::new(bits.saturating_sub(PMD_SHIFT - PAGE_SHIFT).max(1)),
            folios: Radix::new(bits),
            next_folio: AtomicU64::new(1),
        }
    }

    /// `copy_page_range` of `[start, end)` into `child`, the page table of
    /// the `Mm` that `fork` is making: every entry is copied, anonymous
    /// pages shared copy-on-write (each table owns a strong count of the
    /// page, and a store through either copies it first: see
    /// [`Pte::anon_mapcount`]), THP subpages with their folio, and the PMD
    /// entries of the blocks the range meets (a table, or the huge zero
    /// page), as `copy_pmd_range` allocates a table in the child wherever
    /// the parent has one. With `materialize`, anonymous pages not
    /// allocated yet (lazily zeroed) are allocated first, in both tables,
    /// so that the two share one page as Linux's do; without (a backend
    /// holds the bytes) they stay lazily zeroed in each.
    ///
    /// The caller holds the parent's `mmap_lock` for write with every VMA
    /// write-locked, so no fault or user copy changes or reads an entry of
    /// the range, and nothing else uses `child` yet.
    pub(crate) fn fork_range(&self, child: &PageTable, start: u64, end: u64, materialize: bool) {
        if start >= end {
            return;
        }
        child
            .next_folio
            .store(self.next_folio.load(Ordering::Relaxed), Ordering::Relaxed);
        let mut block = start & !(PMD_BLOCK - 1);
        while block < end {
            let kind = self.pmd(block);
            if kind != PmdKind::None {
                child.set_pmd(block, kind);
            }
            match block.checked_add(PMD_BLOCK) {
                Some(next) => block = next,
                None => break,
            }
        }
        self.radix.for_each(
            start >> PAGE_SHIFT,
            (end - 1) >> PAGE_SHIFT,
            |index, leaf| {
                let mut word = leaf.load(Ordering::Acquire);
                if word.is_null() {
                    return;
                }
                let thp = Pte {
                    word,
                    _rcu: PhantomData,
                }
                .is_thp();
                if materialize && matches!(word as usize, ANON_ZERO | ANON_ZERO_THP) {
                    let page = Arc::new(Page::zeroed());
                    let new = if thp {
                        NewPte::AnonThp(page)
                    } else {
                        NewPte::Anon(page)
                    };
                    let new = new.into_word();
                    // No race: faults and copies are locked out (contract).
                    // The old word owns no page.
                    leaf.store(new, Ordering::Release);
                    word = new;
                }
                if let Some(p) = page_ptr(word) {
                    // SAFETY: the word owns a strong count of a live page
                    // (no one can unmap it meanwhile: contract); the child's
                    // copy of the word owns the new one.
                    unsafe { Arc::increment_strong_count(p) };
                }
                if thp {
                    let folio = self.folios.leaf(index).map(|s| s.load(Ordering::Relaxed));
                    if let (Some(folio), Some(dst)) = (folio, child.folios.leaf_or_alloc(index)) {
                        dst.store(folio, Ordering::Relaxed);
                    }
                }
                match child.radix.leaf_or_alloc(index) {
                    Some(dst) => dst.store(word, Ordering::Release),
                    // SAFETY: the count taken above was never published.
                    None => unsafe { release_now(word) },
                }
            },
        );
    }

    /// The entry for the page holding `addr`.
    pub(crate) fn get<'g>(&self, addr: u64, _rcu: &'g RcuGuard) -> Pte<'g> {
        match self.radix.leaf(addr >> PAGE_SHIFT) {
            // Acquire: pairs with the Release in `install`, so the page's
            // contents (zeroed or copied) are visible before its address.
            Some(leaf) => Pte {
                word: leaf.load(Ordering::Acquire),
                _rcu: PhantomData,
            },
            None => Pte::NONE,
        }
    }

    /// Replaces the entry for `addr` with `new` if it still holds `old`
    /// (`pte_same` + `set_pte_at`). On failure, `new` is dropped and the
    /// caller looks again. The replaced entry's page is released after a
    /// grace period.
    pub(crate) fn install(&self, addr: u64, old: Pte<'_>, new: NewPte, rcu: &RcuGuard) -> bool {
        self.pte_alloc(addr);
        let Some(leaf) = self.radix.leaf_or_alloc(addr >> PAGE_SHIFT) else {
            return false;
        };
        let word = new.into_word();
        match leaf.compare_exchange(old.word, word, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(replaced) => {
                let mut batch = RetireBatch::new();
                // SAFETY: `replaced` was just unlinked by the CAS.
                unsafe { release_later(replaced, &mut batch) };
                rcu.retire(batch);
                true
            }
            Err(_) => {
                // SAFETY: `word` was never published.
                unsafe { release_now(word) };
                false
            }
        }
    }

    /// Empties every entry in `[start, end)` (`zap_page_range` for an
    /// unmap: guard markers go too, `ZAP_FLAG_DROP_MARKER`), handing their
    /// pages to `batch`.
    pub(crate) fn zap(&self, start: u64, end: u64, batch: &mut RetireBatch) {
        self.zap_entries(start, end, false, batch);
    }

    /// [`PageTable::zap`] that keeps guard markers, as `MADV_DONTNEED`
    /// (`zap_page_range_single`) and `MADV_REMOVE`'s unmapping do: a guard
    /// region survives them.
    pub(crate) fn zap_keep_guards(&self, start: u64, end: u64, batch: &mut RetireBatch) {
        self.zap_entries(start, end, true, batch);
    }

    fn zap_entries(&self, start: u64, end: u64, keep_guards: bool, batch: &mut RetireBatch) {
        if start >= end {
            return;
        }
        self.radix
            .for_each(start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT, |_, leaf| {
                if keep_guards && leaf.load(Ordering::Acquire) as usize == GUARD {
                    return;
                }
                let old = leaf.swap(ptr::null_mut(), Ordering::AcqRel);
                // SAFETY: `old` was just unlinked by the swap.
                unsafe { release_later(old, batch) };
            });
    }

    /// Removes the guard markers of `[start, end)`
    /// (`guard_remove_pte_entry`); other entries stay.
    pub(crate) fn remove_guards(&self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let guard = GUARD as *mut ();
        self.radix
            .for_each(start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT, |_, leaf| {
                let _ = leaf.compare_exchange(
                    guard,
                    ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            });
    }

    /// Puts a guard marker in every entry of `[start, end)` that is empty
    /// (`guard_install_set_pte`; the caller zapped the range), allocating
    /// page tables; a huge zero page in a block of the range is split.
    pub(crate) fn install_guards(&self, start: u64, end: u64) {
        let page = 1 << PAGE_SHIFT;
        let mut addr = start;
        while addr < end {
            if self.pmd(addr) == PmdKind::HugeZero {
                self.set_pmd(addr, PmdKind::Table);
            }
            self.pte_alloc(addr);
            if let Some(leaf) = self.radix.leaf_or_alloc(addr >> PAGE_SHIFT) {
                let _ = leaf.compare_exchange(
                    ptr::null_mut(),
                    GUARD as *mut (),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            addr += page;
        }
    }

    /// Empties the entries of `[start, end)` that map file pages
    /// (`unmap_mapping_range` with `even_cows == false`: private copies,
    /// the zero page and guard markers stay).
    pub(crate) fn zap_file_entries(&self, start: u64, end: u64, batch: &mut RetireBatch) {
        if start >= end {
            return;
        }
        let file = FILE as *mut ();
        self.radix
            .for_each(start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT, |_, leaf| {
                if leaf
                    .compare_exchange(file, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    // SAFETY: unlinked by the CAS (a `FILE` word owns nothing).
                    unsafe { release_later(file, batch) };
                }
            });
    }

    /// Whether some entry of `[start, end)` is not empty (a page, the zero
    /// page or a guard marker).
    fn any_entry(&self, start: u64, end: u64) -> bool {
        let mut any = false;
        if start < end {
            self.radix
                .for_each(start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT, |_, leaf| {
                    any |= !leaf.load(Ordering::Acquire).is_null();
                });
        }
        any
    }

    /// Moves the entries of `[from, from + len)` to `[to, to + len)`
    /// (`move_page_tables`); entries already at the destination are zapped
    /// into `batch` first.
    ///
    /// The caller holds `mmap_lock` for write with both ranges' VMAs
    /// write-locked, so no fault runs on either range.
    pub(crate) fn move_range(&self, from: u64, to: u64, len: u64, batch: &mut RetireBatch) {
        if len == 0 || from == to {
            return;
        }
        self.zap(to, to + len, batch);
        let mut moved = alloc::vec::Vec::new();
        self.radix.for_each(
            from >> PAGE_SHIFT,
            (from + len - 1) >> PAGE_SHIFT,
            |index, leaf| {
                moved.push((index, leaf.swap(ptr::null_mut(), Ordering::AcqRel)));
            },
        );
        let shift = (to >> PAGE_SHIFT).wrapping_sub(from >> PAGE_SHIFT);
        for (index, word) in moved {
            let thp = Pte {
                word,
                _rcu: PhantomData,
            };
            // A THP subpage stays one wherever it moves (the folio's rmap
            // follows the entry).
            if thp.is_thp() {
                let folio = self.folios.leaf(index).map(|s| s.load(Ordering::Relaxed));
                let dst = self.folios.leaf_or_alloc(index.wrapping_add(shift));
                if let (Some(folio), Some(dst)) = (folio, dst) {
                    dst.store(folio, Ordering::Relaxed);
                }
            }
            match self.radix.leaf_or_alloc(index.wrapping_add(shift)) {
                Some(leaf) => leaf.store(word, Ordering::Release),
                // SAFETY: unlinked by the swap above.
                None => unsafe { release_later(word, batch) },
            }
        }
    }

    /// Calls `f(addr, pte)` for every entry of `[start, end)` that has
    /// a page table, lowest first, inside one RCU read section (which the
    /// entries borrow).
    fn for_each_pte(&self, start: u64, end: u64, mut f: impl FnMut(u64, Pte<'_>)) {
        if start >= end {
            return;
        }
        let rcu = crate::sync::rcu::rcu_read_lock();
        self.radix.for_each(
            start >> PAGE_SHIFT,
            (end - 1) >> PAGE_SHIFT,
            |index, leaf| {
                // Acquire: as in `get`.
                let pte = Pte {
                    word: leaf.load(Ordering::Acquire),
                    _rcu: PhantomData,
                };
                f(index << PAGE_SHIFT, pte);
            },
        );
        drop(rcu);
    }

    /// Calls `f(addr, kind)` for every entry of `[start, end)` that is not
    /// `NONE`, lowest first.
    pub(crate) fn for_each_present(&self, start: u64, end: u64, mut f: impl FnMut(u64, PteKind)) {
        self.for_each_pte(start, end, |addr, pte| {
            if pte.kind() != PteKind::None {
                f(addr, pte.kind());
            }
        });
    }

    /// Calls `f(mapcount)` for every anonymous entry of `[start, end)`
    /// ([`Pte::anon_mapcount`]: 1 unless `fork` shared its page).
    pub(crate) fn for_each_anon_mapcount(&self, start: u64, end: u64, mut f: impl FnMut(usize)) {
        self.for_each_pte(start, end, |_, pte| {
            if pte.kind() == PteKind::Anon {
                f(pte.anon_mapcount());
            }
        });
    }

    /// Counts the resident pages of `[start, end)`.
    pub(crate) fn count(&self, start: u64, end: u64) -> PteCounts {
        let mut counts = PteCounts::default();
        self.for_each_pte(start, end, |_, pte| match pte.kind() {
            PteKind::None | PteKind::Zero | PteKind::Guard => {}
            PteKind::File => counts.resident += 1,
            PteKind::Anon => {
                counts.resident += 1;
                counts.anon += 1;
            }
        });
        counts
    }
}

impl Drop for PageTable {
    fn drop(&mut self) {
        self.radix.for_each(0, u64::MAX, |_, leaf| {
            let word = leaf.swap(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: `&mut self`: no reader; the word is unlinked.
            unsafe { release_now(word) };
        });
    }
}
