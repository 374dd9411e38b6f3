//! `smaps` figures with `Locked` as Linux computes it: the proportional
//! set size (PSS) of a locked VMA.
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
use crate::mm::{MmapLocked, VmaMemory};
use crate::vma::Vma;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

/// `PSS_SHIFT`: fraction bits of the PSS sums.
const PSS_SHIFT: u32 = 12;

impl<T> MmapLocked<'_, T> {
    /// The `Rss`, `Anonymous` and `Locked` figures of `/proc/self/smaps`
    /// for `vma` (a VMA of this `Mm`), exactly as Linux computes them:
    /// like [`Mm::vma_memory`](crate::Mm::vma_memory), but `Locked` is the
    /// PSS of a locked VMA, which needs the mapcount of its file pages.
    pub fn vma_memory(&self, vma: &Vma<T>) -> VmaMemory {
        let mm = self.mm();
        let mut memory = mm.vma_memory(vma);
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
                PteKind::None | PteKind::Zero => {}
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
