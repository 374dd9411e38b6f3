//! `smaps`: what a VMA's memory amounts to (`Rss`, `Anonymous`,
//! `Locked`), in two flavours that say what they need:
//!
//! - [`Mm::vma_resident`]: resident pages, read from the page table under
//!   whatever lock keeps the VMA (a VMA read lock will do); `Locked` is the
//!   resident memory of a `VM_LOCKED` VMA.
//! - [`MmapLocked::vma_smaps`]: exactly what `/proc/self/smaps` prints,
//!   which needs `mmap_lock` (read) because `Locked` is a PSS (below).
//!
//! The two agree on `Rss` and `Anonymous` always, and on `Locked` while
//! every page is mapped once.
//!
//! Linux: fs/proc/task_mmu.c (`smaps_pte_entry`, `smaps_account`,
//! `smaps_page_accumulate`, `__show_smap`).
//!
//! `Locked` is not the resident memory of a `VM_LOCKED` VMA but its PSS:
//! each page counts `PAGE_SIZE / mapcount`, in fixed point with
//! `PSS_SHIFT` fraction bits, and the sum is printed as
//! `(sum >> PSS_SHIFT) >> 10` kB. Without `fork`, anonymous pages are
//! mapped once; a page-cache page is mapped once per page-table entry that
//! maps it, so a file page mapped at two addresses of one process counts
//! half in each (the differential smaps test caught `Locked = Rss`
//! there). The mapcount needs every VMA of the file, hence `mmap_lock`.

#![deny(unsafe_code)]

use super::pte::PteKind;
use crate::flags::{VmFlags, PAGE_SIZE};
use crate::mm::{Mm, MmapLocked};
use crate::vma::Vma;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

/// What `smaps` reports about one VMA's memory, in bytes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct VmaMemory {
    /// `Rss`: resident pages (the zero page does not count).
    pub rss: u64,
    /// `Anonymous`: resident anonymous pages.
    pub anonymous: u64,
    /// `Locked`: the PSS of a `VM_LOCKED` VMA. [`Mm::vma_resident`] gives
    /// its resident pages, which is the same while every page is mapped
    /// once; [`MmapLocked::vma_smaps`] gives Linux's figure.
    pub locked: u64,
}

impl<T> Mm<T> {
    /// The resident memory of `vma`: `Rss` and `Anonymous` as `smaps`
    /// gives them, and `Locked` as the resident memory of a `VM_LOCKED`
    /// VMA (not a PSS: see [`MmapLocked::vma_smaps`]), from the page table.
    /// Needs only the caller's lock on `vma` (the `&Vma` comes from a
    /// guard), which keeps faults from racing only where Linux's
    /// `smaps_pte_range` would also race: the figures are a snapshot.
    pub fn vma_resident(&self, vma: &Vma<T>) -> VmaMemory {
        let counts = self.page_table.count(vma.start(), vma.end());
        let rss = counts.resident * PAGE_SIZE;
        VmaMemory {
            rss,
            anonymous: counts.anon * PAGE_SIZE,
            locked: if vma.flags().contains(VmFlags::LOCKED) {
                rss
            } else {
                0
            },
        }
    }
}

/// `PSS_SHIFT`: fraction bits of the PSS sums.
const PSS_SHIFT: u32 = 12;

impl<T> MmapLocked<'_, T> {
    /// The `Rss`, `Anonymous` and `Locked` figures of `/proc/self/smaps`
    /// for `vma` (a VMA of this `Mm`), exactly as Linux computes them:
    /// like [`Mm::vma_resident`], but `Locked` is the PSS of a locked VMA,
    /// which needs the mapcount of its file pages in every VMA.
    #[doc(alias = "show_smap")]
    pub fn vma_smaps(&self, vma: &Vma<T>) -> VmaMemory {
        let mm = self.mm();
        let mut memory = mm.vma_resident(vma);
        if !vma.flags().contains(VmFlags::LOCKED) {
            return memory;
        }
        // The mapcount of every file page that `vma` maps: the entries
        // mapping the same page of the same file, in any VMA.
        let mut mapcount: BTreeMap<u64, u64> = BTreeMap::new();
        let mut anon_pages = 0;
        mm.page_table
            .for_each_present(vma.start(), vma.end(), |addr, kind| match kind {
                PteKind::File => {
                    mapcount.insert(vma.linear_page_index(addr), 0);
                }
                PteKind::Anon => anon_pages += 1,
                PteKind::None | PteKind::Zero | PteKind::Guard => {}
            });
        if let Some(file) = vma.file() {
            for other in self.vmas() {
                if !other.file().is_some_and(|f| Arc::ptr_eq(f, file)) {
                    continue;
                }
                mm.page_table
                    .for_each_present(other.start(), other.end(), |addr, kind| {
                        if kind == PteKind::File {
                            if let Some(n) = mapcount.get_mut(&other.linear_page_index(addr)) {
                                *n += 1;
                            }
                        }
                    });
            }
        }
        // smaps_account: PAGE_SIZE << PSS_SHIFT, divided by the mapcount
        // if it is 2 or more.
        let full = PAGE_SIZE << PSS_SHIFT;
        let pss: u64 = anon_pages * full + mapcount.values().map(|&n| full / n.max(1)).sum::<u64>();
        memory.locked = pss >> PSS_SHIFT;
        memory
    }
}
